//! `sipauth`: parse, log to standard error, run, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;
use sipauth_cli::opt::{Cli, Command};
use sipauth_server::LogFormat;

/// mimalloc: memory a burst of connections used goes back to the system once they are gone
/// (glibc's allocator keeps it: after 10,000 idle connections `sipauth serve` stayed at 3-4
/// times its idle RSS; bench/hostile, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let serving = matches!(cli.command, Command::Serve(_));
    let json_logs = match &cli.command {
        Command::Serve(opts) => {
            opts.settings.log_format == Some(LogFormat::Json)
                || (opts.settings.log_format.is_none()
                    && sipauth_cli::serve::file_config(&cli.global)
                        .ok()
                        .and_then(|c| c.log_format)
                        == Some(LogFormat::Json))
        }
        _ => false,
    };
    // The service says what it does (info); a command speaks only when something is wrong.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIPAUTH_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if serving { "info" } else { "warn" })
    });
    if json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    } else {
        // Colour only on a terminal, and never with NO_COLOR (https://no-color.org).
        let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_env_filter(filter)
            .init();
    }
    // The service uses every core; a command needs one thread.
    let runtime = if serving {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipauth: cannot start: {e}");
            return ExitCode::from(sipauth_cli::error::EXIT_OTHER);
        }
    };
    match runtime.block_on(sipauth_cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipauth: {}", sipauth_cli::output::sanitize(&e.message));
            ExitCode::from(e.exit_code())
        }
    }
}
