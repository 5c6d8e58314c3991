use clap::Parser;

fn main() {
    let cli = repro::cli::Cli::parse();
    if let Err(e) = repro::cli::run(cli) {
        // One line with the whole cause chain first; config errors add a hint line.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
