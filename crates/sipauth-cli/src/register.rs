//! `sipauth register-check`: do these SIP credentials register? Thin over
//! [`sipauth_register::check`]: it picks the credentials (the signed-in profile's, or
//! `--username`/`--password`/`--domain`), the target (`--ws-uri`, the credentials' WebSocket
//! server, or `--server` with `--transport`), prints each step on standard error, and turns
//! the outcome into an exit code: 0 registered, 9 refused, 6 unreachable or timed out, 10 a
//! protocol error. `--json` prints one document with every step.

use std::time::Duration;

use serde_json::json;
use sipauth::SipPassword;
use sipauth_register::{CheckError, CheckOptions, Credentials, Outcome, Step, Target};

/// The largest `--ca-file` read (a CA bundle is a few hundred KiB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// A file's bytes, refusing one larger than `limit` (never an unbounded read).
fn read_bounded(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

use crate::commands::{print_json, signed_in_credentials};
use crate::error::{CliError, EXIT_NETWORK, EXIT_SIP_PROTOCOL, EXIT_SIP_REFUSED};
use crate::opt::{Global, RegisterCheckOpts, SipTransport};
use crate::output::{sanitize, say};

fn failed(e: CheckError) -> CliError {
    let code = match e {
        CheckError::Unreachable(_) | CheckError::Timeout(_) => EXIT_NETWORK,
        CheckError::Protocol(_) => EXIT_SIP_PROTOCOL,
        CheckError::Config(_) => crate::error::EXIT_CONFIG,
        _ => crate::error::EXIT_OTHER,
    };
    CliError::new(code, e.code().as_str(), e.to_string())
}

fn describe(step: &Step) -> String {
    match step {
        Step::Connected { target } => format!("connected to {target}"),
        Step::Challenged {
            status,
            realm,
            algorithm,
        } => format!("challenged ({status}): realm {realm}, {algorithm}"),
        Step::Answered { status, reason } => format!("answer: {status} {reason}"),
        Step::Unregistered { status } => format!("unregistered ({status})"),
    }
}

/// `sipauth register-check`.
pub async fn register_check(global: &Global, opts: &RegisterCheckOpts) -> Result<(), CliError> {
    // The credentials.
    let (credentials, ws_default) = match &opts.username {
        Some(username) => {
            let password = opts.password.clone().ok_or_else(|| {
                CliError::config(
                    "--username needs a password: set SIPAUTH_SIP_PASSWORD (or --password)",
                )
            })?;
            let domain = opts
                .domain
                .clone()
                .ok_or_else(|| CliError::config("--username needs --domain"))?;
            (
                Credentials {
                    username: username.clone(),
                    domain,
                    authorization_username: opts.auth_username.clone(),
                    password: SipPassword::new(password),
                },
                None,
            )
        }
        None => {
            let c = signed_in_credentials(global).await?;
            let mut credentials = Credentials::of(&c);
            if let Some(user) = &opts.auth_username {
                credentials.authorization_username = Some(user.clone());
            }
            if let Some(p) = &opts.password {
                credentials.password = SipPassword::new(p.clone());
            }
            (credentials, Some(c.ws_server_uri.clone()))
        }
    };
    // Where to.
    let target = match (&opts.server, opts.ws_uri.as_ref().or(ws_default.as_ref())) {
        (Some(server), _) => native_target(server, opts.transport)?,
        (None, Some(uri)) => {
            // wss:// except on loopback, as everywhere else.
            sipauth::sip::check_ws_uri(uri, false)
                .map_err(|e| CliError::config(format!("--ws-uri: {e}")))?;
            Target::WebSocket(
                url::Url::parse(uri)
                    .map_err(|e| CliError::config(format!("--ws-uri {uri}: {e}")))?,
            )
        }
        (None, None) => {
            return Err(CliError::config(
                "give --ws-uri URI or --server HOST:PORT (with --username), or sign in first",
            ))
        }
    };
    let ca_certificates = match &opts.ca_file {
        Some(path) => {
            let pem = read_bounded(path, MAX_CA_FILE)
                .map_err(|e| CliError::config(format!("--ca-file {}: {e}", path.display())))?;
            sipauth_register::transport::certificates_from_pem(&pem)
                .map_err(|e| CliError::config(format!("--ca-file {}: {e}", path.display())))?
        }
        None => Vec::new(),
    };
    let options = CheckOptions {
        timeout: Duration::from_secs(opts.timeout.max(1)),
        keep: opts.keep,
        ca_certificates,
        ..CheckOptions::default()
    };
    let mut steps = Vec::new();
    let quiet = global.json;
    let result = sipauth_register::check(&target, &credentials, &options, &mut |step| {
        if !quiet {
            say(&describe(&step));
        }
        steps.push(step);
    })
    .await;
    let doc = |registered: bool, result: serde_json::Value| {
        json!({
            "registered": registered,
            "target": target.describe(),
            "username": credentials.username,
            "steps": steps,
            "result": result,
        })
    };
    match result {
        Ok(Outcome::Registered { expires }) => {
            if global.json {
                print_json(&doc(
                    true,
                    json!({ "outcome": "registered", "expires": expires }),
                ))?;
            }
            Ok(())
        }
        Ok(refused @ Outcome::Refused { .. }) => {
            let Outcome::Refused { status, reason } = &refused else {
                return Ok(());
            };
            let mut e = CliError::new(
                EXIT_SIP_REFUSED,
                sipauth::ErrorCode::SipRefused.as_str(),
                format!(
                    "the SIP server refused the credentials: {status} {}",
                    sanitize(reason)
                ),
            );
            e.outcome = Some(doc(
                false,
                serde_json::to_value(&refused).unwrap_or_default(),
            ));
            Err(e)
        }
        Err(e) => {
            let mut e = failed(e);
            e.outcome = Some(json!({ "registered": false, "steps": steps }));
            Err(e)
        }
    }
}

/// `--server` as the service hands it out (`sip:host:port;transport=udp`) or as HOST:PORT with
/// `--transport` (UDP by default).
fn native_target(server: &str, transport: Option<SipTransport>) -> Result<Target, CliError> {
    use sipauth::sip::{SipServer, SipTransport as Uri};
    let looks_like_uri = server.len() > 4 && server[..4].eq_ignore_ascii_case("sip:")
        || server.len() > 5 && server[..5].eq_ignore_ascii_case("sips:");
    let (address, transport) = if looks_like_uri {
        let parsed =
            SipServer::parse(server).map_err(|e| CliError::config(format!("--server: {e}")))?;
        let from_uri = match parsed.transport {
            Uri::Udp => SipTransport::Udp,
            Uri::Tcp => SipTransport::Tcp,
            Uri::Tls => SipTransport::Tls,
        };
        if transport.is_some_and(|t| t != from_uri) {
            return Err(CliError::config(format!(
                "--transport contradicts the transport of --server {server}"
            )));
        }
        (parsed.socket_address(), from_uri)
    } else {
        (server.to_string(), transport.unwrap_or_default())
    };
    Ok(match transport {
        SipTransport::Udp => Target::Udp(address),
        SipTransport::Tcp => Target::Tcp(address),
        SipTransport::Tls => Target::Tls(address),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_takes_the_services_sip_uri_form() {
        assert_eq!(
            native_target("sip:127.0.0.1:5070;transport=udp", None).unwrap(),
            Target::Udp("127.0.0.1:5070".into())
        );
        assert_eq!(
            native_target("sip:pbx.example.com;transport=tcp", None).unwrap(),
            Target::Tcp("pbx.example.com:5060".into())
        );
        assert_eq!(
            native_target("sips:pbx.example.com", Some(SipTransport::Tls)).unwrap(),
            Target::Tls("pbx.example.com:5061".into())
        );
        assert_eq!(
            native_target("127.0.0.1:5070", Some(SipTransport::Tcp)).unwrap(),
            Target::Tcp("127.0.0.1:5070".into())
        );
    }

    #[test]
    fn rejects_a_server_uri_contradicting_its_transport_flag_or_malformed() {
        assert!(
            native_target("sip:127.0.0.1:5070;transport=udp", Some(SipTransport::Tcp)).is_err()
        );
        assert!(native_target("sip:alice@127.0.0.1", None).is_err());
        assert!(native_target("sip:127.0.0.1;transport=ws", None).is_err());
    }
}
