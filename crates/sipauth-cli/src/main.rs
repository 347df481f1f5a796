//! `sipauth`: parse, log to standard error, run, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;
use sipauth_cli::opt::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIPAUTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipauth: cannot start: {e}");
            return ExitCode::from(sipauth_cli::error::EXIT_OTHER);
        }
    };
    match runtime.block_on(sipauth_cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipauth: {}", e.message);
            ExitCode::from(e.exit_code())
        }
    }
}
