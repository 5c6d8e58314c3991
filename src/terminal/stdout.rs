//! What commands report on stdout, one line at a time, surviving a reader
//! that went away.

use std::sync::atomic::{AtomicBool, Ordering};

/// `println!` for what a command reports, through [`say_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::terminal::say_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Set once stdout could not be written: the rest of the output is dropped.
static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

/// Prints one line. Commands that reach remotes keep SIGPIPE ignored (see
/// [`crate::cli::Command::ends_on_closed_pipe`]), so a reader that went
/// away (`repro build | head -1`) shows here as an error: the command drops
/// the rest of its output and finishes its work instead of panicking.
pub fn say_line(line: std::fmt::Arguments) {
    use std::io::Write;
    if STDOUT_LOST.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        STDOUT_LOST.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: cannot write to stdout ({e}); the rest of the output is dropped");
        }
    }
}
