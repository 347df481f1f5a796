//! One function per subcommand: each resolves its settings through [`crate::config`], drives a
//! [`Session`], and prints through [`crate::output`]. Sign-in happens here: the RFC 8252 loopback
//! listener (system browser or printed URL, a small success or failure page, a timeout, Ctrl-C)
//! and the RFC 8628 device flow (code, URI and a QR code in the terminal).

use std::io::Write;
use std::time::Duration;

use axum::http::Uri;
use axum::response::{Html, IntoResponse};
use clap::CommandFactory;
use serde_json::json;
use sipauth::{AuthorizationOptions, HttpClient, ProvisionedCredentials, Session, SessionOptions};
use tokio::sync::{mpsc, oneshot};

use crate::config::{self, Resolved};
use crate::error::CliError;
use crate::opt::{Cli, CredentialsFormat, CredentialsOpts, Global, LoginOpts};
use crate::output;

/// Writes to standard output; a closed pipe (`sipauth token | head -c0`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::other(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    print_stdout(&serde_json::to_string_pretty(value).unwrap_or_default())
}

const SESSION_KEY: &str = "sipauth_session";
/// The redirect URI used when no redirect happens (refresh, device flow).
const UNUSED_REDIRECT: &str = "http://127.0.0.1/callback";

async fn session_for(
    resolved: &Resolved,
    redirect_uri: &str,
    http: HttpClient,
) -> Result<Session, CliError> {
    let provider =
        config::provider(&resolved.profile, redirect_uri, &http, &resolved.store).await?;
    let mapping = config::mapping(&resolved.profile, &provider)?;
    // The CLI lives for one command: no background refresh; refresh happens on demand.
    let options = SessionOptions {
        auto_refresh: false,
        store: resolved.store.clone(),
        ..SessionOptions::default()
    };
    Ok(Session::builder(provider, mapping)
        .options(options)
        .http(http)
        .build()?)
}

/// A restored session, or "not signed in" (exit 4).
async fn signed_in(global: &Global) -> Result<Session, CliError> {
    let resolved = config::resolve(global)?;
    if resolved.store.load(SESSION_KEY).ok().flatten().is_none() {
        return Err(CliError::not_signed_in());
    }
    let session = session_for(&resolved, UNUSED_REDIRECT, HttpClient::new()?).await?;
    match session.restore().await? {
        Some(_) => Ok(session),
        None => Err(CliError::not_signed_in()),
    }
}

fn print_credentials(
    c: &ProvisionedCredentials,
    json: bool,
    show_password: bool,
) -> Result<(), CliError> {
    if json {
        return print_json(&output::credentials_json(c));
    }
    eprintln!(
        "Signed in as {} <{}>",
        c.display_name,
        c.user_info.email.as_deref().unwrap_or(&c.user_info.sub)
    );
    print_stdout(&output::render_credentials(
        c,
        CredentialsFormat::Table,
        show_password,
    ))
}

fn open_browser(url: &str) -> std::io::Result<()> {
    let (program, args): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else if cfg!(target_os = "windows") {
        ("cmd", vec!["/C", "start", "", url])
    } else {
        ("xdg-open", vec![url])
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

const SUCCESS_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Signed in</h1><p>Your SIP credentials are ready. You can close this tab.</p>";
const FAILURE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>sipauth</title>\
<h1>Sign-in failed</h1><p>See the terminal for details. You can close this tab.</p>";

type Delivery = (String, oneshot::Sender<bool>);

async fn callback_handler(
    axum::extract::State(tx): axum::extract::State<mpsc::Sender<Delivery>>,
    uri: Uri,
) -> axum::response::Response {
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx.send((uri.to_string(), reply_tx)).await.is_err() {
        return Html(FAILURE_PAGE).into_response();
    }
    match tokio::time::timeout(Duration::from_secs(60), reply_rx).await {
        Ok(Ok(true)) => Html(SUCCESS_PAGE).into_response(),
        _ => (axum::http::StatusCode::BAD_REQUEST, Html(FAILURE_PAGE)).into_response(),
    }
}

async fn wait_or_cancel<T>(
    timeout: Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    tokio::select! {
        result = tokio::time::timeout(timeout, work) => result
            .map_err(|_| CliError::sign_in(format!("timed out after {} s waiting for {what}", timeout.as_secs())))?,
        _ = tokio::signal::ctrl_c() => Err(CliError::sign_in("cancelled")),
    }
}

/// `sipauth login`.
pub async fn login(global: &Global, opts: &LoginOpts) -> Result<(), CliError> {
    let resolved = config::resolve(global)?;
    let http = HttpClient::new()?;
    let timeout = Duration::from_secs(opts.timeout.max(1));
    if opts.device {
        let session = session_for(&resolved, UNUSED_REDIRECT, http).await?;
        let device = session.start_device_login().await?;
        eprintln!(
            "To sign in, open {} and enter the code {}",
            device.verification_uri, device.user_code
        );
        let target = device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri);
        if let Ok(code) = qrcode::QrCode::new(target.as_bytes()) {
            eprintln!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            );
        }
        eprintln!("Waiting for approval... Ctrl-C to cancel");
        let credentials = wait_or_cancel(timeout, "the device approval", async {
            session
                .complete_device_login(&device)
                .await
                .map_err(CliError::from)
        })
        .await?;
        config::save_profile(&resolved);
        return print_credentials(&credentials, global.json, opts.show_password);
    }

    let port = resolved.profile.redirect_port.unwrap_or(0);
    let path = resolved
        .profile
        .redirect_path
        .clone()
        .unwrap_or_else(|| "/callback".into());
    if !path.starts_with('/') {
        return Err(CliError::config(format!(
            "--redirect-path must start with '/': {path:?}"
        )));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| CliError::config(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let origin = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| CliError::other(e.to_string()))?
    );
    let session = session_for(&resolved, &format!("{origin}{path}"), http).await?;
    let request = session.login(&AuthorizationOptions::default())?;

    let (tx, mut rx) = mpsc::channel::<Delivery>(4);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = axum::Router::new()
        .route(&path, axum::routing::get(callback_handler))
        .with_state(tx);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });

    eprintln!("Sign in at:\n  {}", request.url);
    if !opts.no_browser {
        if let Err(e) = open_browser(request.url.as_str()) {
            eprintln!("(could not open a browser: {e}; open the URL above)");
        }
    }
    eprintln!("Waiting for sign-in in your browser... Ctrl-C to cancel");
    let (path_and_query, reply) = wait_or_cancel(timeout, "the browser", async {
        rx.recv()
            .await
            .ok_or_else(|| CliError::other("the loopback listener stopped"))
    })
    .await?;
    let result = session
        .handle_callback(&format!("{origin}{path_and_query}"))
        .await;
    let _ = reply.send(result.is_ok());
    // Let the browser get its page before the process ends.
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let credentials = result?;
    config::save_profile(&resolved);
    print_credentials(&credentials, global.json, opts.show_password)
}

/// `sipauth status`.
pub async fn status(global: &Global) -> Result<(), CliError> {
    let session = signed_in(global).await?;
    let snapshot = session.snapshot();
    if global.json {
        return print_json(&output::status_json(&snapshot));
    }
    let user = snapshot.user_info.unwrap_or_default();
    let mut lines = vec![format!(
        "Signed in as {} ({})",
        user.name.as_deref().unwrap_or(&user.sub),
        user.email.as_deref().unwrap_or("no email")
    )];
    if let Some(c) = &snapshot.sip_credentials {
        lines.push(format!("SIP URI: {}", c.sip_uri));
    }
    if let Some(at) = snapshot.token_expires_at {
        use sipauth::Clock;
        let left = at - sipauth::SystemClock.now_unix();
        lines.push(format!("Access token expires in {left} s (at {at})"));
    }
    print_stdout(&lines.join("\n"))
}

/// `sipauth token`.
pub async fn token(global: &Global) -> Result<(), CliError> {
    let session = signed_in(global).await?;
    let token = session.get_access_token().await?;
    if global.json {
        return print_json(
            &json!({ "accessToken": token.secret(), "expiresAt": session.snapshot().token_expires_at }),
        );
    }
    print_stdout(token.secret())
}

/// `sipauth credentials`.
pub async fn credentials(global: &Global, opts: &CredentialsOpts) -> Result<(), CliError> {
    let session = signed_in(global).await?;
    let c = session
        .sip_credentials()
        .ok_or_else(CliError::not_signed_in)?;
    let format = if global.json {
        CredentialsFormat::Json
    } else {
        opts.format
    };
    print_stdout(&output::render_credentials(&c, format, opts.show_password))
}

/// `sipauth logout`.
pub async fn logout(global: &Global) -> Result<(), CliError> {
    let session = match signed_in(global).await {
        Ok(s) => s,
        Err(e) if e.exit_code() == crate::error::EXIT_NOT_SIGNED_IN => {
            // Nothing to sign out of: still remove any leftovers, and succeed.
            let resolved = config::resolve(global)?;
            let _ = resolved.store.remove(SESSION_KEY);
            eprintln!("Not signed in.");
            return if global.json {
                print_json(&json!({ "signedOut": true, "revoked": false }))
            } else {
                Ok(())
            };
        }
        Err(e) => return Err(e),
    };
    match session.logout().await {
        Ok(()) => {
            eprintln!("Signed out; tokens revoked.");
            if global.json {
                print_json(&json!({ "signedOut": true, "revoked": true }))?;
            }
            Ok(())
        }
        Err(e) => {
            let mut err = CliError::from(e);
            err.message = format!("signed out locally, but revocation failed: {}", err.message);
            Err(err)
        }
    }
}

/// `sipauth providers`.
pub fn providers(global: &Global) -> Result<(), CliError> {
    let help = sipauth::provider::templates::TEMPLATE_HELP;
    if global.json {
        let list: Vec<_> = help
            .iter()
            .map(|(name, needs)| json!({ "name": name, "needs": needs }))
            .collect();
        return print_json(&json!(list));
    }
    print_stdout(
        &help
            .iter()
            .map(|(name, needs)| format!("{name:<10} {needs}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `sipauth completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sipauth", &mut out);
    print_stdout(String::from_utf8_lossy(&out).trim_end())
}
