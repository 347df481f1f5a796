//! # sipauth-register: do these credentials register?
//!
//! [`check`] sends a REGISTER to a SIP server ([`Target`]: WebSocket, UDP, TCP, TLS), answers
//! one digest challenge round (401 or 407; MD5 or SHA-256, qop=auth with cnonce and nc:
//! [`digest`]), reports every step through a callback ([`Step`]: connected, challenged, the
//! final answer with the server's reason phrase), and, unless asked to keep the binding,
//! unregisters (`Expires: 0`). The result is an [`Outcome`] (registered, or refused with the
//! status) or a [`CheckError`] (unreachable, timeout, protocol). This is what `sipauth
//! register-check` runs and what a softphone's "test my account" button needs; message parsing
//! is [`message`]'s, sockets are [`transport`]'s.

pub mod digest;
pub mod error;
pub mod message;
pub mod transport;

pub use error::CheckError;
pub use transport::Target;

use std::time::Duration;

use serde::Serialize;
use sipauth::SipPassword;
use tokio::time::Instant;

use crate::message::{Register, Response};
use crate::transport::Connection;

/// Who registers.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The SIP user (the URI's user part).
    pub username: String,
    /// The SIP domain (the registrar's URI is `sip:<domain>`).
    pub domain: String,
    /// The digest username (`<expiry>:<user>` for Kamailio auth_ephemeral); default the user.
    pub authorization_username: Option<String>,
    /// The password.
    pub password: SipPassword,
}

impl Credentials {
    /// The credentials a provisioning handed out.
    pub fn of(c: &sipauth::ProvisionedCredentials) -> Self {
        Self {
            username: c.username.clone(),
            domain: c.sip_domain.clone(),
            authorization_username: Some(c.authorization_username.clone()),
            password: c.password.clone(),
        }
    }
}

/// How the check runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The whole check's deadline.
    pub timeout: Duration,
    /// Keep the binding (no unregister).
    pub keep: bool,
    /// The Expires asked for.
    pub expires: u32,
    /// Certificate authorities (DER) trusted for `tls` and `wss` besides the public ones: a
    /// private SIP server's own ([`transport::certificates_from_pem`]).
    pub ca_certificates: Vec<Vec<u8>>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            keep: false,
            expires: 300,
            ca_certificates: Vec::new(),
        }
    }
}

/// What happened, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The connection is open.
    Connected {
        /// What was connected to.
        target: String,
    },
    /// The server asked for digest credentials.
    Challenged {
        /// 401 or 407.
        status: u16,
        /// The realm.
        realm: String,
        /// The algorithm.
        algorithm: String,
    },
    /// A final answer to the REGISTER.
    Answered {
        /// The status code.
        status: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// The binding was removed again (`Expires: 0`).
    Unregistered {
        /// The status code.
        status: u16,
    },
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// 200 OK: the credentials work.
    Registered {
        /// Seconds the server granted, when it said.
        expires: Option<u32>,
    },
    /// The server refused (403, 404, a second 401, ...).
    Refused {
        /// The status code.
        status: u16,
        /// The server's reason phrase.
        reason: String,
    },
}

struct Dialog<'a> {
    credentials: &'a Credentials,
    target: &'a Target,
    call_id: String,
    tag: String,
    cseq: u32,
    aor: String,
    request_uri: String,
    deadline: Instant,
    total: Duration,
    /// The last challenge and how often its nonce was used.
    challenge: Option<(digest::Challenge, u32, bool)>,
}

fn token() -> Result<String, CheckError> {
    sipauth::random_urlsafe(12).map_err(|e| CheckError::Config(e.to_string()))
}

impl Dialog<'_> {
    /// One REGISTER with `expires`, answering up to one challenge: the final response.
    async fn register(
        &mut self,
        conn: &mut Connection,
        expires: u32,
        report: &mut (dyn FnMut(Step) + Send),
    ) -> Result<Response, CheckError> {
        let mut answered_fresh = false;
        loop {
            self.cseq += 1;
            let authorization = match &mut self.challenge {
                Some((challenge, uses, proxy)) => {
                    *uses += 1;
                    let user = self
                        .credentials
                        .authorization_username
                        .as_deref()
                        .unwrap_or(&self.credentials.username);
                    let a = digest::answer(
                        challenge,
                        "REGISTER",
                        &self.request_uri,
                        user,
                        self.credentials.password.secret(),
                        &token()?,
                        *uses,
                    );
                    let name = if *proxy {
                        "Proxy-Authorization"
                    } else {
                        "Authorization"
                    };
                    Some((name, a.header))
                }
                None => None,
            };
            let contact = format!(
                "sip:{}@{};transport={}",
                self.credentials.username,
                conn.local,
                self.target.uri_transport()
            );
            let via = format!("SIP/2.0/{} {}", self.target.via_transport(), conn.local);
            let branch = format!("z9hG4bK{}", token()?);
            let message = Register {
                request_uri: &self.request_uri,
                aor: &self.aor,
                contact: &contact,
                via: &via,
                branch: &branch,
                tag: &self.tag,
                call_id: &self.call_id,
                cseq: self.cseq,
                expires,
                authorization: authorization.as_ref().map(|(n, v)| (*n, v.as_str())),
            }
            .to_wire();
            conn.send(&message).await?;
            let response = loop {
                let r = conn.recv(self.deadline, self.total).await?;
                // Provisional answers and stale retransmissions are not the answer.
                if r.status >= 200 && r.cseq() == Some(self.cseq) {
                    break r;
                }
            };
            if matches!(response.status, 401 | 407) && !answered_fresh {
                let proxy = response.status == 407;
                let header = if proxy {
                    "proxy-authenticate"
                } else {
                    "www-authenticate"
                };
                let challenge = digest::Challenge::best(response.all(header))?;
                report(Step::Challenged {
                    status: response.status,
                    realm: challenge.realm.clone(),
                    algorithm: challenge.algorithm.name().to_string(),
                });
                self.challenge = Some((challenge, 0, proxy));
                answered_fresh = true;
                continue;
            }
            return Ok(response);
        }
    }
}

/// Registers `credentials` at `target`, reporting each step; unregisters after a 200 unless
/// `options.keep`.
pub async fn check(
    target: &Target,
    credentials: &Credentials,
    options: &CheckOptions,
    report: &mut (dyn FnMut(Step) + Send),
) -> Result<Outcome, CheckError> {
    if credentials.username.is_empty() || credentials.domain.is_empty() {
        return Err(CheckError::Config(
            "a username and a domain are required".into(),
        ));
    }
    let deadline = Instant::now() + options.timeout;
    let mut conn =
        Connection::open(target, deadline, options.timeout, &options.ca_certificates).await?;
    report(Step::Connected {
        target: target.describe(),
    });
    let mut dialog = Dialog {
        credentials,
        target,
        call_id: token()?,
        tag: token()?,
        cseq: 0,
        aor: format!("sip:{}@{}", credentials.username, credentials.domain),
        request_uri: format!("sip:{}", credentials.domain),
        deadline,
        total: options.timeout,
        challenge: None,
    };
    let response = dialog.register(&mut conn, options.expires, report).await?;
    report(Step::Answered {
        status: response.status,
        reason: response.reason.clone(),
    });
    if response.status != 200 {
        return Ok(Outcome::Refused {
            status: response.status,
            reason: response.reason,
        });
    }
    let expires = response
        .get("expires")
        .and_then(|v| v.parse().ok())
        .or_else(|| {
            response.get("contact").and_then(|c| {
                c.split(';')
                    .find_map(|p| p.trim().strip_prefix("expires="))
                    .and_then(|v| v.parse().ok())
            })
        });
    if !options.keep {
        let gone = dialog.register(&mut conn, 0, report).await?;
        report(Step::Unregistered {
            status: gone.status,
        });
    }
    Ok(Outcome::Registered { expires })
}
