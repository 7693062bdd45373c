//! `loopy`: turn a folder of short seamless loops into long videos that never
//! visibly repeat. This binary only parses arguments, reports progress and formats
//! output; the work happens in `loopy-core` and `loopy-media`.

mod args;
mod commands;
mod exit;
mod interrupt;
mod output;
mod progress;

use clap::Parser;

fn main() {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => exit_on_argument_error(error),
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    output::set_quiet(cli.global.quiet);
    progress::set_mode(cli.global.progress);
    loopy_media::init(cli.global.verbose > 1);
    let (result, json) = match &cli.command {
        args::Command::Scan(a) => (commands::scan::run(a), a.json),
        args::Command::Plan(a) => (commands::plan::run(a), a.json),
        args::Command::Render(a) => (commands::render::run(a), a.json),
        args::Command::Conform(a) => (commands::conform::run(a), a.json),
        args::Command::Cache(a) => (commands::cache::run(a), a.json),
        args::Command::Frames(a) => (commands::frames::run(a), a.info),
        args::Command::MakeClip(a) => (commands::make_clip::run(a), a.json),
        args::Command::Serve(a) => (commands::serve::run(a), false),
    };
    if let Err(error) = result {
        // A closed stdout (`loopy plan … | head -1`) is the reader's choice, not a failure.
        if exit::is_broken_pipe(&error) {
            std::process::exit(0);
        }
        let code = exit::code_for(&error);
        eprintln!("error: {error:#}");
        if json {
            // Programs that asked for JSON get the error as JSON too.
            let _ = output::print_json(&serde_json::json!({
                "error": format!("{error:#}"),
                "kind": if code == 2 { "usage" } else { "runtime" },
                "exit_code": code,
            }));
        }
        std::process::exit(code);
    }
}

/// Clap's own report (help, version, or a usage error with exit code 2); a program
/// that asked for JSON (`--json` anywhere on the line) also gets the error as JSON on
/// stdout, as for every other error.
fn exit_on_argument_error(error: clap::Error) -> ! {
    let asked_for_json = std::env::args_os().skip(1).any(|a| a == "--json");
    if asked_for_json && error.use_stderr() {
        let rendered = error.render().to_string();
        let first_line = rendered.lines().next().unwrap_or_default();
        let _ = output::print_json(&serde_json::json!({
            "error": first_line.trim_start_matches("error: "),
            "kind": "usage",
            "exit_code": error.exit_code(),
        }));
    }
    error.exit()
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
