use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, the
/// same in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Keep freed pages instead of handing them back after 10 ms: a training
    // step frees and reallocates the same large tensors, and faulting them
    // in again (zeroed by the kernel) cost about 4% of a step.
    // SAFETY: sets an option before any allocation by another thread; the
    // call has no other precondition.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = repro::cli::Cli::parse();
    if cli.command.ends_on_closed_pipe() {
        // A closed pipe ends the process quietly instead of a panic in the
        // next print. Every file is written atomically and the store lock
        // dies with the process. Not for commands that reach remotes (see
        // `ends_on_closed_pipe`): Rust's default, ignored, gives them EPIPE.
        // SAFETY: restores the default disposition of one signal before any
        // other thread exists; no handler is installed.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // burn-optim loads an optimizer's state (a resumed training) onto burn's
    // default device, which prefers a compiled-in GPU backend: a Vulkan build
    // training on flex would start a Vulkan device for it (Mesa then prints
    // `XDG_RUNTIME_DIR is invalid` where that is unset). On flex make flex
    // the default; elsewhere burn's default is that backend already.
    if cli.backend == repro::compute::BackendKind::Flex {
        // SAFETY: no other thread exists yet to read the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    if let Err(e) = repro::cli::run(cli) {
        // One line with the whole cause chain first; config errors add a hint line.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
