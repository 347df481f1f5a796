//! The `sipauth` command as a library: [`run`] takes the parsed command line and returns the
//! outcome; `main.rs` only parses, sets up logging and turns the outcome into an exit code.
//! Definitions of flags are in [`opt`], settings layering in [`config`], subcommands in
//! [`commands`], printing in [`output`], exit codes in [`error`].

pub mod admin;
pub mod commands;
pub mod config;
pub mod error;
pub mod kamailio;
pub mod loopback;
pub mod opt;
pub mod output;
pub mod register;
pub mod serve;

use error::CliError;
use opt::{Cli, Command};

/// Runs one command. Ctrl-C ends any command at any step (discovery, the browser wait, a slow
/// token exchange): the command's future is dropped, which cancels its requests and runs its
/// clean-up (an abandoned sign-in's pending record is removed). With `--json`, a failure still
/// prints one document on standard output saying what happened.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    // The service shuts down gracefully on Ctrl-C and SIGTERM by itself.
    if let Command::Serve(opts) = &cli.command {
        let result = serve::serve(&cli.global, opts).await;
        if let Err(e) = &result {
            commands::print_failure(&cli.global, e);
        }
        return result;
    }
    let result = tokio::select! {
        result = run_command(&cli) => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::cancelled()),
    };
    if let Err(e) = &result {
        commands::print_failure(&cli.global, e);
    }
    result
}

async fn run_command(cli: &Cli) -> Result<(), CliError> {
    let global = &cli.global;
    match &cli.command {
        Command::Login(opts) => commands::login(global, opts).await,
        Command::Status(a) => commands::status(global, &a.profile()).await,
        Command::Token(a) => commands::token(global, &a.profile()).await,
        Command::Credentials(opts) => commands::credentials(global, opts).await,
        Command::Logout(a) => commands::logout(global, &a.profile()).await,
        Command::Devices(opts) => commands::devices(global, opts).await,
        Command::Serve(opts) => serve::serve(global, opts).await,
        Command::Admin(opts) => admin::admin(global, opts).await,
        Command::RegisterCheck(opts) => register::register_check(global, opts).await,
        Command::Providers => commands::providers(global),
        Command::Completions { shell } => commands::completions(*shell),
    }
}
