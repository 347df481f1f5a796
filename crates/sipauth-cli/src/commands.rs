//! One function per subcommand: each resolves its settings through [`crate::config`], drives a
//! [`Session`], and prints through [`crate::output`]. Sign-in happens here: the RFC 8252 loopback
//! listener ([`crate::loopback`]; the system browser or a printed URL; a timeout) and the RFC
//! 8628 device flow (code, URI and a QR code in the terminal).

use std::io::Write;
use std::time::Duration;

use clap::CommandFactory;
use serde_json::json;
use sipauth::{AuthorizationOptions, HttpClient, ProvisionedCredentials, Session, SessionOptions};

use crate::config::{self, Resolved};
use crate::error::CliError;
use crate::loopback::Loopback;
use crate::opt::{Cli, CredentialsFormat, CredentialsOpts, Global, LoginOpts, Profile};
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

/// Prints one JSON document on standard output.
pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    print_stdout(&serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Prints a `--json` failure document (what happened, with the error) and returns the error.
pub fn print_failure(global: &Global, error: &CliError) {
    if global.json {
        let _ = print_json(&error.json());
    }
}

const SESSION_KEY: &str = "sipauth_session";
/// The redirect URI used when no redirect happens (refresh, device flow).
const UNUSED_REDIRECT: &str = "http://127.0.0.1/callback";

async fn session_for(
    resolved: &Resolved,
    redirect_uri: &str,
    http: HttpClient,
) -> Result<Session, CliError> {
    let config::Built { provider, mapping } = config::build(resolved, redirect_uri, &http).await?;
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

/// The stored session, loaded: restored (refreshed when due) with `refresh`, or only read.
/// "Not signed in" (exit 4) when nothing usable is stored.
async fn signed_in(global: &Global, flags: &Profile, refresh: bool) -> Result<Session, CliError> {
    let resolved = config::resolve(global, flags)?;
    if resolved.store.load(SESSION_KEY).ok().flatten().is_none() {
        return Err(CliError::not_signed_in());
    }
    resolved.check_same_provider(flags)?;
    let session = session_for(&resolved, UNUSED_REDIRECT, HttpClient::new()?).await?;
    let present = if refresh {
        session.restore().await?.is_some()
    } else {
        session.load()?
    };
    if present {
        Ok(session)
    } else {
        Err(CliError::not_signed_in())
    }
}

/// Which claim named the account, when the command's own naming rule gave this username
/// (a provisioning service may name it another way: then nothing is said).
fn named_by(c: &ProvisionedCredentials, resolved: &Resolved, session: &Session) -> Option<String> {
    let claims: Vec<String> =
        match config::username_claims(&resolved.profile, session.client().provider()) {
            config::UsernameClaims::One(claim) => vec![claim],
            config::UsernameClaims::InOrder(claims) => {
                claims.iter().map(|c| c.to_string()).collect()
            }
        };
    let named = sipauth::sip::username_from_claims(
        &c.user_info,
        &claims,
        sipauth::sip::UsernamePolicy::default(),
    );
    c.username
        .starts_with(&named.username)
        .then_some(named.claim)
}

fn print_credentials(
    c: &ProvisionedCredentials,
    json: bool,
    show_password: bool,
    named_by: Option<String>,
) -> Result<(), CliError> {
    if let Some(claim) = named_by {
        output::say(&format!(
            "SIP account {} (named by the {claim} claim)",
            c.username
        ));
    }
    if json {
        return print_json(&output::credentials_json(c));
    }
    output::say(&format!(
        "Signed in as {} <{}>",
        c.display_name,
        c.user_info.email.as_deref().unwrap_or(&c.user_info.sub)
    ));
    print_stdout(&output::render_credentials(
        c,
        CredentialsFormat::Table,
        show_password,
    )?)
}

fn open_browser(url: &str) -> std::io::Result<()> {
    // The `open` crate starts the platform's opener without a shell (no `cmd /C start`, which
    // cuts URLs at `&` on Windows).
    open::that_detached(url)
}

/// Removes a started sign-in's pending record (PKCE verifier, state, nonce) when the login ends
/// without completing it: Ctrl-C, a timeout, an error. Completing disarms it.
struct PendingGuard {
    session: Session,
    request: Option<sipauth::AuthorizationRequest>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(request) = self.request.take() {
            if let Err(e) = self.session.cancel_login(&request) {
                tracing::warn!(error = %e, "cannot remove the abandoned sign-in");
            }
        }
    }
}

/// The login's error for a failed sign-in, with the scopes named when the provider refused them.
fn sign_in_error(e: sipauth::Error, session: &Session) -> CliError {
    let invalid_scope = e.code() == "invalid_scope";
    let mut err = CliError::from(e);
    if invalid_scope {
        err.message = format!(
            "{} (requested scopes: \"{}\"; choose others with --scope)",
            err.message,
            session.client().provider().scopes.join(" ")
        );
    }
    err
}

/// `sipauth login`. `--timeout` bounds the whole command, discovery included; Ctrl-C is
/// handled by [`crate::run`] and ends it at any step.
pub async fn login(global: &Global, opts: &LoginOpts) -> Result<(), CliError> {
    let timeout = Duration::from_secs(opts.timeout.max(1));
    match tokio::time::timeout(timeout, login_inner(global, opts)).await {
        Ok(result) => result,
        Err(_) => Err(CliError::timed_out(format!(
            "timed out after {} s (--timeout)",
            timeout.as_secs()
        ))),
    }
}

async fn login_inner(global: &Global, opts: &LoginOpts) -> Result<(), CliError> {
    let resolved = config::resolve(global, &opts.profile())?;
    let http = HttpClient::new()?;
    if opts.device {
        let session = session_for(&resolved, UNUSED_REDIRECT, http).await?;
        let device = session
            .start_device_login()
            .await
            .map_err(|e| sign_in_error(e, &session))?;
        output::say(&format!(
            "To sign in, open {} and enter the code {}",
            device.verification_uri, device.user_code
        ));
        let target = device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri);
        if let Ok(code) = qrcode::QrCode::new(output::sanitize(target).as_bytes()) {
            eprintln!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            );
        }
        output::say("Waiting for approval... Ctrl-C to cancel");
        let credentials = session
            .complete_device_login(&device)
            .await
            .map_err(|e| sign_in_error(e, &session))?;
        config::save_profile(&resolved);
        return print_credentials(
            &credentials,
            global.json,
            opts.show_password,
            named_by(&credentials, &resolved, &session),
        );
    }

    let port = resolved.profile.redirect.redirect_port.unwrap_or(0);
    let path = match &resolved.profile.redirect.redirect_path {
        Some(path) => config::redirect_path(path)?.to_string(),
        None => "/callback".to_string(),
    };
    let loopback = Loopback::bind(port, &path)
        .await
        .map_err(|e| CliError::config(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let session = session_for(&resolved, &loopback.redirect_uri(), http).await?;
    let request = session.login(&AuthorizationOptions::default())?;
    let mut guard = PendingGuard {
        session: session.clone(),
        request: Some(request.clone()),
    };
    let mut waiting = loopback.accept(request.state.secret());

    eprintln!("Sign in at:\n  {}", request.url);
    if !opts.no_browser {
        if let Err(e) = open_browser(request.url.as_str()) {
            output::say(&format!(
                "(could not open a browser: {e}; open the URL above)"
            ));
        }
    }
    eprintln!("Waiting for sign-in in your browser... Ctrl-C to cancel");
    let callback = waiting
        .next()
        .await
        .ok_or_else(|| CliError::other("the loopback listener stopped"))?;
    let result = session.handle_callback(&callback.url).await;
    // The callback consumed the pending record, whatever the result.
    guard.request = None;
    callback.respond(result.is_ok());
    // Let the browser get its page before the process ends.
    waiting.finish(Duration::from_secs(2)).await;
    let credentials = result.map_err(|e| sign_in_error(e, &session))?;
    config::save_profile(&resolved);
    print_credentials(
        &credentials,
        global.json,
        opts.show_password,
        named_by(&credentials, &resolved, &session),
    )
}

/// `sipauth status`: reports what is stored; makes no request to the provider (a due refresh
/// happens at the next `token` or `credentials`).
pub async fn status(global: &Global, flags: &Profile) -> Result<(), CliError> {
    let session = signed_in(global, flags, false).await?;
    let snapshot = session.snapshot();
    if global.json {
        return print_json(&output::status_json(&snapshot));
    }
    let user = snapshot.user_info.clone().unwrap_or_default();
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
        let refreshable = snapshot
            .tokens
            .as_ref()
            .is_some_and(|t| t.refresh_token.is_some());
        lines.push(match (left > 0, refreshable) {
            (true, _) => format!("Access token expires in {left} s (at {at})"),
            (false, true) => format!(
                "Access token expired {} s ago; the next `sipauth token` refreshes it",
                -left
            ),
            (false, false) => "Access token expired; sign in again".to_string(),
        });
    }
    // The report is the command's output (`sipauth status | grep`): standard output, each line
    // sanitised (the names come from the provider).
    let text: Vec<String> = lines.iter().map(|l| output::sanitize(l)).collect();
    print_stdout(&text.join("\n"))
}

/// `sipauth token`.
pub async fn token(global: &Global, flags: &Profile) -> Result<(), CliError> {
    let session = signed_in(global, flags, true).await?;
    let token = session.get_access_token().await?;
    if global.json {
        return print_json(
            &json!({ "accessToken": token.secret(), "expiresAt": session.snapshot().token_expires_at }),
        );
    }
    print_stdout(token.secret())
}

/// `sipauth devices [list | revoke ID]`: the signed-in person's devices at the provisioning
/// service, with the profile's access token.
pub async fn devices(global: &Global, opts: &crate::opt::DevicesOpts) -> Result<(), CliError> {
    let session = signed_in(global, &opts.profile(), true).await?;
    let no_service = || {
        CliError::config(
            "this profile's password strategy keeps nothing at a provisioning service (sign in with --password-strategy api)",
        )
    };
    match &opts.action {
        None | Some(crate::opt::DevicesAction::List) => {
            let list = session.devices().await?.ok_or_else(no_service)?;
            if global.json {
                return print_json(&serde_json::to_value(&list).unwrap_or_default());
            }
            let mut out = vec![format!(
                "{:<18} {:<24} {:<32} {}",
                "ID", "DIGEST USER", "NAME", "LAST PROVISIONED"
            )];
            out.extend(list.devices.iter().map(|d| {
                output::sanitize(&format!(
                    "{:<18} {:<24} {:<32} {}",
                    d.id, d.authorization_username, d.name, d.last_provisioned_at
                ))
            }));
            print_stdout(&out.join("\n"))
        }
        Some(crate::opt::DevicesAction::Revoke { id }) => {
            match session.revoke_device(id).await?.ok_or_else(no_service)? {
                true if global.json => print_json(&json!({ "revoked": id })),
                true => print_stdout(&format!("revoked device {}", output::sanitize(id))),
                false => Err(CliError::new(
                    crate::error::EXIT_NOT_FOUND,
                    sipauth::ErrorCode::NotFound.as_str(),
                    format!("no device {}", output::sanitize(id)),
                )),
            }
        }
    }
}

/// `sipauth credentials`.
pub async fn credentials(global: &Global, opts: &CredentialsOpts) -> Result<(), CliError> {
    let session = signed_in(global, &opts.profile(), true).await?;
    let c = session
        .sip_credentials()
        .ok_or_else(CliError::not_signed_in)?;
    let format = if global.json {
        CredentialsFormat::Json
    } else {
        opts.format
    };
    print_stdout(&output::render_credentials(&c, format, opts.show_password)?)
}

/// The signed-in profile's SIP credentials (refreshed when due), for `register-check`.
pub async fn signed_in_credentials(
    global: &Global,
) -> Result<sipauth::ProvisionedCredentials, CliError> {
    let session = signed_in(global, &Profile::default(), true).await?;
    session
        .sip_credentials()
        .ok_or_else(CliError::not_signed_in)
}

/// `sipauth logout`: revokes at the provider where it can, always forgets the session here,
/// and says exactly what happened to the tokens.
pub async fn logout(global: &Global, flags: &Profile) -> Result<(), CliError> {
    let session = match signed_in(global, flags, false).await {
        Ok(s) => s,
        Err(e) if e.exit_code() == crate::error::EXIT_NOT_SIGNED_IN => {
            // Nothing to sign out of: still remove any leftovers, and succeed.
            let resolved = config::resolve(global, flags)?;
            let _ = resolved.store.remove(SESSION_KEY);
            output::say("Not signed in.");
            return if global.json {
                print_json(&json!({ "signedOut": true, "revoked": false, "wasSignedIn": false }))
            } else {
                Ok(())
            };
        }
        Err(e) => return Err(e),
    };
    let report = session.logout().await?;
    let revoked = report.as_ref().is_some_and(|r| r.all_revoked());
    let failed = report.as_ref().is_some_and(|r| r.any_failed());
    let doc = json!({
        "signedOut": true,
        "revoked": revoked,
        "refreshToken": report.as_ref().and_then(|r| r.refresh_token.clone()),
        "accessToken": report.as_ref().map(|r| r.access_token.clone()),
    });
    if failed {
        let detail = report
            .iter()
            .flat_map(|r| {
                r.refresh_token
                    .iter()
                    .chain(std::iter::once(&r.access_token))
            })
            .find_map(|r| match r {
                sipauth::Revocation::Failed { code, description } => {
                    Some(format!("{description} [{code}]"))
                }
                _ => None,
            })
            .unwrap_or_default();
        let mut err = CliError::new(
            crate::error::EXIT_REVOCATION,
            sipauth::ErrorCode::RevocationFailed.as_str(),
            format!("signed out locally, but the provider did not revoke the tokens: {detail}"),
        );
        err.outcome = Some(doc);
        return Err(err);
    }
    if revoked {
        output::say("Signed out; tokens revoked.");
    } else {
        output::say("Signed out locally. The provider does not support revocation: the tokens stay valid until they expire.");
    }
    if global.json {
        print_json(&doc)?;
    }
    Ok(())
}

/// What each provider name of `--provider` needs (`sipauth providers`).
pub const TEMPLATE_HELP: &[(&str, &str)] = &[
    ("google", "client id (+ secret for desktop apps)"),
    (
        "microsoft",
        "client id, tenant (common | organizations | consumers | GUID)",
    ),
    ("github", "client id, client secret"),
    (
        "okta",
        "client id, domain, authorization server (default: default)",
    ),
    ("auth0", "client id, domain, optional audience"),
    ("keycloak", "client id, base URL, realm"),
    (
        "custom",
        "client id, issuer (discovery) or --authorization-endpoint and --token-endpoint",
    ),
];

/// `sipauth providers`.
pub fn providers(global: &Global) -> Result<(), CliError> {
    let help = TEMPLATE_HELP;
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

#[cfg(test)]
mod tests {
    use super::TEMPLATE_HELP;
    use crate::opt::ProviderName;
    use clap::ValueEnum;

    #[test]
    fn every_provider_name_has_help() {
        for name in ProviderName::value_variants() {
            let name = name.to_possible_value().map(|v| v.get_name().to_string());
            assert!(
                TEMPLATE_HELP
                    .iter()
                    .any(|(n, _)| Some(n.to_string()) == name),
                "{name:?}"
            );
        }
        assert_eq!(TEMPLATE_HELP.len(), ProviderName::value_variants().len());
    }
}
