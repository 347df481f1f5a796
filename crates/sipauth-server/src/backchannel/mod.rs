//! OpenID Connect Back-Channel Logout 1.0 at `POST /backchannel-logout`: the provider tells the
//! service that a person (`sub`) or one of their provider sessions (`sid`) logged out. The
//! logout token goes through the library's one verification path with its own policy
//! ([`sipauth::TokenVerifier::verify_logout_token`]: the issuer's keys, `aud` the web page's
//! client at that issuer, `iat` recent, the logout event, `sub`/`sid`, no nonce); a `jti` seen
//! before is refused while the token lives (remembered in the database every instance shares:
//! a token replayed at another instance is refused there too). Effect: the person's web sessions end, and their
//! SIP access as the issuer's `backchannel_logout` says ([`LogoutEffect`]: sessions, rotate,
//! disable). Answers per the spec: 200, or 400 with a JSON error; `Cache-Control: no-store`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sipauth_provision::LogoutEffect;

use crate::edge::{self, MAX_BODY};
use crate::error::ApiError;
use crate::state::AppState;

/// How old a logout token may be (its `iat`).
pub const LOGOUT_TOKEN_MAX_AGE: Duration = Duration::from_secs(300);

/// The most live logout tokens remembered against replay (by all instances).
const MAX_SEEN: i64 = 100_000;

/// One client of the web page at one issuer: the audience of that issuer's logout tokens, and
/// what a logout does to SIP access.
#[derive(Debug, Clone)]
struct LogoutClient {
    issuer: String,
    client_id: String,
    effect: LogoutEffect,
}

/// The back-channel logout endpoint's settings (its replay cache is in the shared database).
#[derive(Debug, Default)]
pub struct Backchannel {
    clients: Vec<LogoutClient>,
}

impl Backchannel {
    /// No clients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes logout tokens of `issuer` for the web page's client `client_id`; `effect` on SIP
    /// access.
    pub fn with_client(mut self, issuer: &str, client_id: &str, effect: LogoutEffect) -> Self {
        self.clients.push(LogoutClient {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            effect,
        });
        self
    }
}

/// The area's routes.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/backchannel-logout", post(logout))
        .route_layer(middleware::from_fn_with_state(state.clone(), edge::guard))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn logout(State(state): State<AppState>, body: Body) -> Response {
    no_store(match handle(&state, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    })
}

fn refuse(why: impl Into<String>) -> ApiError {
    ApiError::BadRequest(why.into())
}

async fn handle(state: &AppState, body: Body) -> Result<(), ApiError> {
    let Some(backchannel) = &state.backchannel else {
        return Err(ApiError::NotFound);
    };
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| refuse("the logout_token form field is missing"))?;
    let iss = crate::auth::unverified_iss(&token)
        .ok_or_else(|| refuse("the logout token is not a JWT with an issuer"))?;
    let issuer = state
        .tokens
        .issuers
        .iter()
        .find(|i| i.verifier.issuer().accepts(&iss))
        .ok_or_else(|| refuse("the logout token's issuer is not trusted here"))?;
    let clients: Vec<&LogoutClient> = backchannel
        .clients
        .iter()
        .filter(|c| issuer.verifier.issuer().accepts(&c.issuer) || c.issuer == iss)
        .collect();
    let audiences: Vec<String> = clients.iter().map(|c| c.client_id.clone()).collect();
    if audiences.is_empty() {
        return Err(refuse("this issuer has no client here to log out of"));
    }
    let logout = issuer
        .verifier
        .verify_logout_token(&token, &audiences, LOGOUT_TOKEN_MAX_AGE)
        .await
        .map_err(|e| {
            if e.is_temporary() {
                return ApiError::Unavailable(
                    "the identity provider's keys are unavailable".into(),
                );
            }
            let reason = crate::auth::reason(&e);
            state.metrics.verification_failure(reason);
            refuse(format!("the logout token is not valid ({reason})"))
        })?;
    let now = state.now();
    let seen = state
        .provisioner
        .shared_records()
        .insert(
            sipauth_provision::NewRecord {
                kind: "logout_jti",
                id: &crate::web::digest(&[logout.issuer(), logout.jti()]),
                data: "",
                expires_at: logout.expires_at(),
                person: None,
                sid: None,
            },
            MAX_SEEN,
            now,
        )
        .await?;
    match seen {
        sipauth_provision::Inserted::Kept => {}
        sipauth_provision::Inserted::Exists => {
            return Err(refuse("the logout token was used before"))
        }
        sipauth_provision::Inserted::Full => {
            return Err(ApiError::Unavailable(
                "too many live logout tokens remembered".into(),
            ))
        }
    }
    // The strongest effect among the issuer's clients (one web client per issuer, usually).
    let effect = clients
        .iter()
        .map(|c| c.effect)
        .max_by_key(|e| match e {
            LogoutEffect::Sessions => 0,
            LogoutEffect::Rotate => 1,
            _ => 2,
        })
        .unwrap_or_default();
    let mut subjects: Vec<String> = logout.subject().map(str::to_string).into_iter().collect();
    if let Some(web) = &state.web {
        for s in web
            .end_sessions_of(logout.issuer(), logout.subject(), logout.session_id())
            .await
        {
            if !subjects.contains(&s) {
                subjects.push(s);
            }
        }
    }
    let mut ended = sipauth_provision::Ended::default();
    for subject in &subjects {
        let account = state
            .provisioner
            .logged_out(logout.issuer(), subject, effect)
            .await?;
        // Rotated or disabled: what the person registered goes too.
        if let (Some(account), false) = (account, effect == LogoutEffect::Sessions) {
            ended.push(&account);
        }
    }
    crate::lifecycle::access_ended(state, &ended).await;
    tracing::info!(
        issuer = logout.issuer(),
        people = subjects.len(),
        "back-channel logout"
    );
    Ok(())
}
