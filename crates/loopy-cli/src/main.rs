//! `loopy`: turn a folder of short seamless loops into long videos that never
//! visibly repeat. This binary only parses arguments, reports progress and formats
//! output; the work happens in `loopy-core` and `loopy-media`.

mod args;
mod commands;
mod exit;
mod output;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    loopy_media::init(cli.global.verbose > 1);
    let result = match &cli.command {
        args::Command::Scan(a) => commands::scan::run(a),
        args::Command::Plan(a) => commands::plan::run(a),
        args::Command::Render(a) => commands::render::run(a),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(exit::code_for(&error));
    }
}

/// Warnings and notes go to stderr through `tracing`; `-v` adds detail, `-q` keeps
/// only errors. `RUST_LOG` overrides both.
fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,loopy=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
