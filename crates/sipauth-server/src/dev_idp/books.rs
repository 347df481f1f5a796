//! The development provider's books: its clients (the command's public one, the page's
//! confidential one), pending authorization requests, codes and grants (with their rotating
//! refresh tokens), and client authentication at its endpoints.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sipauth::SipPassword;
use subtle::ConstantTimeEq;

use super::{oauth_error, DevIdp};

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) id: &'static str,
    pub(super) secret: Option<SipPassword>,
    /// Exact redirect URIs; for `native` clients, loopback URIs with these paths, any port.
    pub(super) redirects: Vec<String>,
    pub(super) native: bool,
}

#[derive(Debug, Clone)]
pub(super) struct AuthRequest {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) state: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) challenge: String,
    pub(super) scopes: Vec<String>,
    pub(super) created: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Code {
    pub(super) request: AuthRequest,
    pub(super) user: String,
    pub(super) issued: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) user: String,
    pub(super) client_id: String,
    pub(super) scopes: Vec<String>,
    pub(super) revoked: bool,
}

#[derive(Debug, Default)]
pub(super) struct Books {
    pub(super) requests: HashMap<String, AuthRequest>,
    pub(super) codes: HashMap<String, Code>,
    pub(super) grants: HashMap<String, Grant>,
    /// Refresh token digest → (grant, still current).
    pub(super) refresh: HashMap<[u8; 32], (String, bool)>,
    /// Revoked access token ids (`jti`).
    pub(super) revoked_access: std::collections::HashSet<String>,
}

impl DevIdp {
    pub(super) fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub(super) fn redirect_allowed(client: &Client, redirect: &str) -> bool {
        if !client.native {
            return client.redirects.iter().any(|r| r == redirect);
        }
        let Ok(url) = url::Url::parse(redirect) else {
            return false;
        };
        url.scheme() == "http"
            && sipauth::is_loopback_url(&url)
            && url.query().is_none()
            && url.fragment().is_none()
            && client.redirects.iter().any(|p| p == url.path())
    }

    /// Client authentication at the token, revocation and introspection endpoints: Basic, post,
    /// or none for public clients. `Err` is the answer to give.
    pub(super) fn authenticate(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<&Client, Box<Response>> {
        let invalid = || {
            Box::new(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            ))
        };
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':').map(|(i, p)| {
                    let dec = |x: &str| {
                        url::form_urlencoded::parse(format!("x={x}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    (dec(i), dec(p))
                })
            });
        let (id, secret) = match basic {
            Some((id, secret)) => (id, Some(secret)),
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned(),
            ),
        };
        let client = self.client(&id).ok_or_else(invalid)?;
        match (&client.secret, secret) {
            (None, None) => Ok(client),
            (Some(want), Some(got))
                if bool::from(want.secret().as_bytes().ct_eq(got.as_bytes())) =>
            {
                Ok(client)
            }
            _ => Err(invalid()),
        }
    }
}
