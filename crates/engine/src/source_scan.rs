//! Reads a Rust source file as tokens and lists what it refers to: child
//! modules, paths into the crate, imported names, external crates,
//! `include_str!` files and `env!` variables. Comments and layout are not
//! tokens, so a code version taken over these tokens ignores them.
//!
//! Standard library only: `build.rs` includes this file with `#[path]`.

use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    Punct(char),
    /// String, char, byte and number literals, spelled as written.
    Lit(String),
    Lifetime(String),
}

impl Tok {
    fn is_ident(&self, name: &str) -> bool {
        matches!(self, Tok::Ident(s) if s == name)
    }
    fn is_punct(&self, c: char) -> bool {
        *self == Tok::Punct(c)
    }
}

/// The tokens of `src`, one a line, for hashing: equal for two files that
/// differ only in comments, whitespace, line breaks, trailing commas and
/// braces around a closure's one expression (rustfmt adds or drops both as
/// it breaks lines).
pub fn canonical(tokens: &[Tok]) -> String {
    let mut layout = trailing_commas(tokens);
    layout.extend(closure_braces(tokens));
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if layout.contains(&i) {
            continue;
        }
        match t {
            Tok::Ident(s) => out.push_str(&format!("i {s}\n")),
            Tok::Punct(c) => out.push_str(&format!("p {c}\n")),
            Tok::Lit(s) => out.push_str(&format!("l {}\n", s.replace('\n', "\\n"))),
            Tok::Lifetime(s) => out.push_str(&format!("t {s}\n")),
        }
    }
    out
}

/// Indices of commas that only end a list: before `]` or `}`, and before
/// `)` unless they make a one-element tuple (`(x,)`): a `)` group with
/// another comma, or one that follows a name, call or macro, is a list.
fn trailing_commas(tokens: &[Tok]) -> BTreeSet<usize> {
    const BEFORE_TUPLE: [&str; 12] = ["return", "in", "match", "if", "while", "let", "mut", "ref", "move", "break", "else", "for"];
    let mut layout = BTreeSet::new();
    // Each open group: whether it is a `(` argument list, and its commas.
    let mut groups: Vec<(bool, usize)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| &tokens[p]);
        match t {
            Tok::Punct('(') => {
                let before_prev = i.checked_sub(2).map(|p| &tokens[p]);
                let list = match prev {
                    Some(Tok::Ident(name)) => !BEFORE_TUPLE.contains(&name.as_str()),
                    Some(Tok::Punct(')' | ']' | '!')) => true,
                    Some(Tok::Punct('>')) => !matches!(before_prev, Some(Tok::Punct('-' | '='))),
                    _ => false,
                };
                groups.push((list, 0));
            }
            // Brackets and braces hold lists whatever their length.
            Tok::Punct('[' | '{') => groups.push((true, 0)),
            Tok::Punct(',') => {
                if let Some(top) = groups.last_mut() {
                    top.1 += 1;
                }
            }
            Tok::Punct(')' | ']' | '}') => {
                let (list, commas) = groups.pop().unwrap_or((true, 0));
                if prev.is_some_and(|p| p.is_punct(',')) && (list || commas >= 2) {
                    layout.insert(i - 1);
                }
            }
            _ => {}
        }
    }
    layout
}

/// Indices of the braces of closure bodies that hold one expression
/// (`|x| { x + 1 }` is `|x| x + 1`): a `{` right after `|`, whose block
/// has no statement (`;` or `let`) of its own.
fn closure_braces(tokens: &[Tok]) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    // Open braces: (index, after a `|`, holds a statement).
    let mut open: Vec<(usize, bool, bool)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Tok::Punct('{') => {
                let closure = i > 0 && tokens[i - 1].is_punct('|');
                let starts_let = tokens.get(i + 1).is_some_and(|n| n.is_ident("let") || n.is_punct('}'));
                open.push((i, closure, starts_let));
            }
            Tok::Punct(';') => {
                if let Some(top) = open.last_mut() {
                    top.2 = true;
                }
            }
            Tok::Punct('}') => {
                if let Some((start, closure, statement)) = open.pop()
                    && closure
                    && !statement
                {
                    out.extend([start, i]);
                }
            }
            _ => {}
        }
    }
    out
}

/// Splits Rust source into tokens, dropping comments (doc comments too:
/// they change no stage's output) and whitespace.
pub fn tokenize(src: &str) -> Vec<Tok> {
    spaced_tokens(src).into_iter().map(|(t, _)| t).collect()
}

/// What came before a token: nothing, whitespace or comments, or a blank line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gap {
    None,
    Space,
    BlankLine,
}

/// Each token and the gap before it.
fn spaced_tokens(src: &str) -> Vec<(Tok, Gap)> {
    let chars: Vec<char> = src.chars().collect();
    let mut lexer = Lexer { chars: &chars, pos: 0 };
    let mut out = Vec::new();
    loop {
        let before = lexer.pos;
        lexer.skip_trivia();
        let trivia: String = chars[before..lexer.pos].iter().collect();
        let segments: Vec<&str> = trivia.split('\n').collect();
        let blank = segments.len() > 2 && segments[1..segments.len() - 1].iter().any(|l| l.trim().is_empty());
        let gap = if trivia.is_empty() {
            Gap::None
        } else if blank {
            Gap::BlankLine
        } else {
            Gap::Space
        };
        let Some(tok) = lexer.next_token() else { break };
        out.push((tok, gap));
    }
    out
}

/// The same tokens with every line break and comment gone but the blank
/// lines between paragraphs (which group imports for rustfmt): the worst
/// layout a file can have, for testing that formatting leaves digests alone.
pub fn one_line(src: &str) -> String {
    let mut out = String::new();
    for (tok, gap) in spaced_tokens(src) {
        if !out.is_empty() {
            match gap {
                Gap::None => {}
                Gap::Space => out.push(' '),
                Gap::BlankLine => out.push_str("\n\n"),
            }
        }
        match tok {
            Tok::Ident(s) | Tok::Lit(s) => out.push_str(&s),
            Tok::Punct(c) => out.push(c),
            Tok::Lifetime(s) => out.push_str(&format!("'{s}")),
        }
    }
    out
}

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn next_token(&mut self) -> Option<Tok> {
        self.skip_trivia();
        let c = self.peek(0)?;
        if let Some(lit) = self.string_literal() {
            return Some(Tok::Lit(lit));
        }
        if c == '\'' {
            return Some(self.quote());
        }
        if c.is_alphabetic() || c == '_' {
            return Some(Tok::Ident(self.take_while(|c| c.is_alphanumeric() || c == '_')));
        }
        if c.is_ascii_digit() {
            return Some(Tok::Lit(self.number()));
        }
        self.pos += 1;
        Some(Tok::Punct(c))
    }

    fn skip_trivia(&mut self) {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => self.pos += 1,
                (Some('/'), Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                (Some('/'), Some('*')) => self.block_comment(),
                _ => return,
            }
        }
    }

    fn block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            if c == '/' && self.peek(1) == Some('*') {
                depth += 1;
                self.pos += 2;
            } else if c == '*' && self.peek(1) == Some('/') {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek(0).is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// `"…"`, `b"…"`, `c"…"`, `r#"…"#`, `br"…"` and `cr#"…"#`.
    fn string_literal(&mut self) -> Option<String> {
        let start = self.pos;
        let mut i = self.pos;
        if matches!(self.chars.get(i), Some('b' | 'c')) {
            i += 1;
        }
        let raw = self.chars.get(i) == Some(&'r');
        if raw {
            i += 1;
            let hashes = self.chars[i..].iter().take_while(|c| **c == '#').count();
            i += hashes;
            if self.chars.get(i) != Some(&'"') {
                return None;
            }
            i += 1;
            let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            while i < self.chars.len() && !self.chars[i..].starts_with(&close) {
                i += 1;
            }
            self.pos = (i + close.len()).min(self.chars.len());
        } else {
            if self.chars.get(i) != Some(&'"') {
                return None;
            }
            i += 1;
            while i < self.chars.len() && self.chars[i] != '"' {
                i += if self.chars[i] == '\\' { 2 } else { 1 };
            }
            self.pos = (i + 1).min(self.chars.len());
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    /// A char literal (`'a'`, `'\n'`, `b'x'` is a string_literal miss, so
    /// handled as ident + quote) or a lifetime (`'a`).
    fn quote(&mut self) -> Tok {
        let start = self.pos;
        if self.peek(1) == Some('\\') {
            let mut i = self.pos + 2;
            while i < self.chars.len() && self.chars[i] != '\'' {
                i += 1;
            }
            self.pos = (i + 1).min(self.chars.len());
            return Tok::Lit(self.chars[start..self.pos].iter().collect());
        }
        if self.peek(2) == Some('\'') {
            self.pos += 3;
            return Tok::Lit(self.chars[start..self.pos].iter().collect());
        }
        self.pos += 1;
        let name = self.take_while(|c| c.is_alphanumeric() || c == '_');
        Tok::Lifetime(name)
    }

    /// Digits with suffix, hex, `_`, a fraction and an exponent; `1..2`
    /// stays a range.
    fn number(&mut self) -> String {
        let start = self.pos;
        let hex = self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X'));
        loop {
            match self.peek(0) {
                Some(c) if c.is_alphanumeric() || c == '_' => {
                    self.pos += 1;
                    if !hex && matches!(c, 'e' | 'E') && matches!(self.peek(0), Some('+' | '-')) {
                        self.pos += 1;
                    }
                }
                Some('.') if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.pos += 1,
                _ => break,
            }
        }
        self.chars[start..self.pos].iter().collect()
    }
}

/// What one file refers to. Module paths are absolute (`a::b::Item`, the
/// crate root being the empty path).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileRefs {
    /// Child modules declared with `mod name;` at file level.
    pub mods: Vec<String>,
    /// Paths into the crate, each as its segments.
    pub paths: BTreeSet<Vec<String>>,
    /// `use` bindings: the name a file sees -> the absolute path it names.
    pub bindings: Vec<(String, Vec<String>)>,
    /// External crates named (from `extern_crates`).
    pub crates: BTreeSet<String>,
    /// Files named by `include_str!` / `include_bytes!`, as written.
    pub includes: BTreeSet<String>,
    /// Variables read with `env!` at compile time.
    pub envs: BTreeSet<String>,
}

/// Lists what a file with module path `module` refers to. Names in
/// `extern_crates` (the package's dependencies, `-` as `_`) are crates.
pub fn scan(tokens: &[Tok], module: &[String], extern_crates: &BTreeSet<String>) -> FileRefs {
    let (modules, module_at) = inline_modules(tokens, module);
    let mut scanner = Scanner { toks: tokens, modules, module_at, at_token: 0, externs: extern_crates, refs: FileRefs::default() };
    scanner.file_mods();
    scanner.uses();
    scanner.paths();
    scanner.macros();
    scanner.refs
}

/// The module each token is in: the file's, or an inline `mod x { }`
/// inside it (which `super::` and `self::` are relative to).
fn inline_modules(tokens: &[Tok], file: &[String]) -> (Vec<Vec<String>>, Vec<usize>) {
    let mut modules = vec![file.to_vec()];
    let mut current = 0;
    // Per open brace: the module to return to, when it opened an inline module.
    let mut braces: Vec<Option<usize>> = Vec::new();
    let mut at = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        at.push(current);
        match t {
            Tok::Punct('{') => {
                let name = match (i.checked_sub(2).map(|p| &tokens[p]), i.checked_sub(1).map(|p| &tokens[p])) {
                    (Some(m), Some(Tok::Ident(name))) if m.is_ident("mod") => Some(name.clone()),
                    _ => None,
                };
                braces.push(name.as_ref().map(|_| current));
                if let Some(name) = name {
                    let mut path = modules[current].clone();
                    path.push(name);
                    modules.push(path);
                    current = modules.len() - 1;
                }
            }
            Tok::Punct('}') => {
                if let Some(Some(outer)) = braces.pop() {
                    current = outer;
                }
            }
            _ => {}
        }
    }
    (modules, at)
}

struct Scanner<'a> {
    toks: &'a [Tok],
    modules: Vec<Vec<String>>,
    module_at: Vec<usize>,
    /// The token being resolved, for the module it is in.
    at_token: usize,
    externs: &'a BTreeSet<String>,
    refs: FileRefs,
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<&Tok> {
        self.toks.get(i)
    }

    fn is_path_sep(&self, i: usize) -> bool {
        self.at(i).is_some_and(|t| t.is_punct(':')) && self.at(i + 1).is_some_and(|t| t.is_punct(':'))
    }

    /// `mod name;` outside any braces (inline `mod x { }` is part of the file).
    fn file_mods(&mut self) {
        let mut depth = 0i32;
        for i in 0..self.toks.len() {
            match &self.toks[i] {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                t if depth == 0 && t.is_ident("mod") => {
                    if let (Some(Tok::Ident(name)), Some(Tok::Punct(';'))) = (self.at(i + 1), self.at(i + 2)) {
                        self.refs.mods.push(name.clone());
                    }
                }
                _ => {}
            }
        }
    }

    /// Every `use` tree, expanded into bindings and paths.
    fn uses(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            if self.toks[i].is_ident("use") {
                self.at_token = i;
                let mut leaves = Vec::new();
                i = self.use_tree(i + 1, Vec::new(), &mut leaves);
                for (name, raw) in leaves {
                    if let Some(abs) = self.absolute(&raw) {
                        if name != "*" && name != "_" {
                            self.refs.bindings.push((name, abs.clone()));
                        }
                        self.refs.paths.insert(abs);
                    }
                }
            } else {
                i += 1;
            }
        }
    }

    /// Parses `a::b::{c, d::e as f, *}` from `i`; returns the index after it.
    fn use_tree(&self, mut i: usize, prefix: Vec<String>, leaves: &mut Vec<(String, Vec<String>)>) -> usize {
        let mut path = prefix;
        if self.is_path_sep(i) {
            i += 2;
        }
        loop {
            match self.at(i) {
                Some(Tok::Ident(s)) if s != "as" => {
                    path.push(s.clone());
                    i += 1;
                    if self.is_path_sep(i) {
                        i += 2;
                        continue;
                    }
                    let mut name = if s == "self" { path.get(path.len().wrapping_sub(2)).cloned().unwrap_or_default() } else { s.clone() };
                    if s == "self" {
                        path.pop();
                    }
                    if self.at(i).is_some_and(|t| t.is_ident("as")) {
                        if let Some(Tok::Ident(alias)) = self.at(i + 1) {
                            name = alias.clone();
                        }
                        i += 2;
                    }
                    leaves.push((name, path));
                    return i;
                }
                Some(Tok::Punct('*')) => {
                    leaves.push(("*".into(), path));
                    return i + 1;
                }
                Some(Tok::Punct('{')) => {
                    i += 1;
                    while self.at(i).is_some_and(|t| !t.is_punct('}')) {
                        if self.at(i).is_some_and(|t| t.is_punct(',')) {
                            i += 1;
                            continue;
                        }
                        i = self.use_tree(i, path.clone(), leaves);
                    }
                    return i + 1;
                }
                _ => return i + 1,
            }
        }
    }

    /// Paths in code: `crate::…`, `super::…`, `self::…`, a child module's
    /// or an imported name's `name::…`, and external crates' `name::…`.
    fn paths(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            if self.toks[i].is_ident("use") {
                // Handled by `uses`; a group's prefix is not a reference.
                while self.at(i).is_some_and(|t| !t.is_punct(';')) {
                    i += 1;
                }
                continue;
            }
            let after_sep = i >= 2 && self.is_path_sep(i - 2);
            if let (false, Some(Tok::Ident(first))) = (after_sep, self.at(i))
                && self.is_path_sep(i + 1)
            {
                let mut raw = vec![first.clone()];
                let mut j = i + 1;
                while self.is_path_sep(j) {
                    match self.at(j + 2) {
                        Some(Tok::Ident(s)) => raw.push(s.clone()),
                        _ => break,
                    }
                    j += 3;
                }
                self.at_token = i;
                if let Some(abs) = self.absolute(&raw) {
                    self.refs.paths.insert(abs);
                }
                i = j;
            } else {
                i += 1;
            }
        }
    }

    /// A path as written -> absolute within the crate; `None` for external
    /// crates (recorded) and names that are not the crate's.
    fn absolute(&mut self, raw: &[String]) -> Option<Vec<String>> {
        let first = raw.first()?;
        let rest = &raw[1..];
        let joined = |base: &[String]| -> Vec<String> { base.iter().chain(rest).cloned().collect() };
        let module = self.modules[self.module_at.get(self.at_token).copied().unwrap_or(0)].clone();
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some(joined(&module)),
            "super" => {
                let ups = raw.iter().take_while(|s| *s == "super").count();
                let base = &module[..module.len().saturating_sub(ups)];
                Some(base.iter().chain(&raw[ups..]).cloned().collect())
            }
            name if self.refs.mods.iter().any(|m| m == name) => {
                let mut base = self.modules[0].clone();
                base.push(name.to_string());
                Some(joined(&base))
            }
            name => {
                if let Some((_, target)) = self.refs.bindings.iter().find(|(n, _)| n == name) {
                    return Some(target.iter().chain(rest).cloned().collect());
                }
                if self.externs.contains(name) {
                    self.refs.crates.insert(name.to_string());
                }
                None
            }
        }
    }

    /// `include_str!("…")`, `include_bytes!("…")` and `env!("…")`.
    fn macros(&mut self) {
        for i in 0..self.toks.len() {
            let Tok::Ident(name) = &self.toks[i] else { continue };
            let bang = self.at(i + 1).is_some_and(|t| t.is_punct('!'));
            let Some(Tok::Lit(lit)) = self.at(i + 3) else { continue };
            if !bang || !lit.starts_with('"') {
                continue;
            }
            let text = lit.trim_matches('"').to_string();
            match name.as_str() {
                "include_str" | "include_bytes" => {
                    self.refs.includes.insert(text);
                }
                "env" => {
                    self.refs.envs.insert(text);
                }
                _ => {}
            }
        }
    }
}
