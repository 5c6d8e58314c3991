//! Configuration errors, located at file:line:column with a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration error with its position in the file and a hint.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: an error about the file as a whole (it cannot be read).
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message)?,
            _ => write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?,
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A file and its text: turns byte spans into located errors.
pub(crate) struct Located<'a> {
    file: &'a Path,
    source: &'a str,
}

impl<'a> Located<'a> {
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Located<'a> {
        Located { file, source }
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.source, span.start);
        ConfigError { file: self.file.to_path_buf(), line, column, message: message.into(), hint: hint.into() }
    }
}

/// A parameter error's message on one line: the TOML deserializer ends
/// some with a line break and `in `key``.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1-based line and column of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `known stages: a, b, c`: the hint after an unknown name.
pub(crate) fn known<'a>(what: &str, items: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = items.map(String::as_str).collect();
    format!("known {what}: {}", list.join(", "))
}
