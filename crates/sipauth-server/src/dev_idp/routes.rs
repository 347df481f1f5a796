//! The development provider's endpoints: discovery, JWKS, authorize (PKCE S256, exact
//! redirects), the login page's form, token (code and refresh grants), userinfo, revocation and
//! introspection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::books::{AuthRequest, Code, Grant};
use super::{
    digest, oauth_error, pages, random, DevIdp, CODE_TTL, MAX_RECORDS, REQUEST_TTL, SCOPES,
};

pub(super) async fn discovery(State(idp): State<Arc<DevIdp>>) -> Json<Value> {
    Json(idp.discovery_document())
}

pub(super) async fn jwks(State(idp): State<Arc<DevIdp>>) -> Json<Value> {
    Json(idp.key.jwks())
}

/// The authorization request's parameters.
#[derive(Debug, Deserialize)]
pub(super) struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

pub(super) fn redirect_with(redirect: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect) else {
        return pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

pub(super) async fn authorize(
    State(idp): State<Arc<DevIdp>>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    // Errors before the redirect URI is known are shown here, never redirected (RFC 6749 §4.1.2.1).
    let Some(client) = q.client_id.as_deref().and_then(|id| idp.client(id)) else {
        return pages::error(StatusCode::BAD_REQUEST, "Unknown client_id.");
    };
    let Some(redirect) = q
        .redirect_uri
        .as_deref()
        .filter(|r| DevIdp::redirect_allowed(client, r))
    else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This redirect_uri is not registered for the client.",
        );
    };
    let state = q.state.clone();
    let fail = |error: &str, description: &str| {
        let mut params = vec![
            ("error", error),
            ("error_description", description),
            ("iss", idp.issuer.as_str()),
        ];
        if let Some(s) = &state {
            params.push(("state", s));
        }
        redirect_with(redirect, &params)
    };
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "only response_type=code");
    }
    let Some(challenge) = q
        .code_challenge
        .clone()
        .filter(|c| (43..=128).contains(&c.len()))
    else {
        return fail("invalid_request", "PKCE is required: code_challenge");
    };
    if q.code_challenge_method.as_deref() != Some("S256") {
        return fail(
            "invalid_request",
            "PKCE with code_challenge_method=S256 only",
        );
    }
    let scopes: Vec<String> = q
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return fail("invalid_scope", &format!("unknown scope {unknown}"));
    }
    let request = AuthRequest {
        client_id: client.id.to_string(),
        redirect_uri: redirect.to_string(),
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        challenge,
        scopes,
        created: idp.now(),
    };
    let Some(id) = random() else {
        return pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The system's randomness failed.",
        );
    };
    {
        let mut books = idp.books();
        let now = idp.now();
        if books.requests.len() >= MAX_RECORDS {
            books.requests.retain(|_, r| now - r.created < REQUEST_TTL);
        }
        if books.requests.len() >= MAX_RECORDS {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins are pending. Try again in a few minutes.",
            );
        }
        books.requests.insert(id.clone(), request);
    }
    pages::login(&idp.issuer, &id, client.id, &idp.users)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    request: String,
    user: Option<String>,
    cancel: Option<String>,
}

pub(super) async fn login(State(idp): State<Arc<DevIdp>>, Form(form): Form<LoginForm>) -> Response {
    let Some(request) = idp.books().requests.remove(&form.request) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This sign-in request expired or was already used. Start again from your application.",
        );
    };
    let mut params: Vec<(&str, String)> = vec![("iss", idp.issuer.clone())];
    if let Some(s) = &request.state {
        params.push(("state", s.clone()));
    }
    let user = form
        .user
        .as_deref()
        .and_then(|u| idp.users.iter().find(|d| d.login == u));
    match (form.cancel.is_some(), user) {
        (false, Some(user)) => {
            let Some(code) = random() else {
                return pages::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The system's randomness failed.",
                );
            };
            let now = idp.now();
            let mut books = idp.books();
            if books.codes.len() >= MAX_RECORDS {
                books.codes.retain(|_, c| now - c.issued <= CODE_TTL);
            }
            if books.codes.len() >= MAX_RECORDS {
                return pages::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many sign-ins are pending. Try again in a minute.",
                );
            }
            books.codes.insert(
                code.clone(),
                Code {
                    request: request.clone(),
                    user: user.login.clone(),
                    issued: now,
                },
            );
            drop(books);
            params.push(("code", code));
        }
        _ => {
            params.push(("error", "access_denied".into()));
            params.push(("error_description", "the user cancelled the sign-in".into()));
        }
    }
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redirect_with(&request.redirect_uri, &refs)
}

pub(super) async fn token(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match idp.authenticate(&headers, &form) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let bad_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            // Single use: taken out whatever happens next.
            let Some(issued) = idp.books().codes.remove(&code) else {
                return bad_grant("the code is unknown, expired or already used");
            };
            if idp.now() - issued.issued > CODE_TTL {
                return bad_grant("the code expired");
            }
            if issued.request.client_id != client.id {
                return bad_grant("the code was issued to another client");
            }
            if form.get("redirect_uri") != Some(&issued.request.redirect_uri) {
                return bad_grant("redirect_uri differs from the authorization request's");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !bool::from(
                computed
                    .as_bytes()
                    .ct_eq(issued.request.challenge.as_bytes()),
            ) {
                return bad_grant("PKCE verification failed");
            }
            let grant = Grant {
                user: issued.user.clone(),
                client_id: client.id.to_string(),
                scopes: issued.request.scopes.clone(),
                revoked: false,
            };
            let Some(grant_id) = random() else {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the system's randomness failed",
                );
            };
            {
                let mut books = idp.books();
                if books.grants.len() >= MAX_RECORDS {
                    books.grants.retain(|_, g| !g.revoked);
                }
                if books.grants.len() >= MAX_RECORDS {
                    return oauth_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "the development provider holds as many grants as it keeps",
                    );
                }
                books.grants.insert(grant_id.clone(), grant.clone());
            }
            idp.issue(&grant_id, &grant, issued.request.nonce.as_deref(), true)
        }
        Some("refresh_token") => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            let found = {
                let mut books = idp.books();
                match books.refresh.get(&digest(&refresh)).cloned() {
                    None => Err("the refresh token is unknown"),
                    Some((grant_id, false)) => {
                        // Reuse of a rotated token: treat as theft, end the whole grant.
                        if let Some(g) = books.grants.get_mut(&grant_id) {
                            g.revoked = true;
                        }
                        Err("the refresh token was already used; the grant is revoked")
                    }
                    Some((grant_id, true)) => match books.grants.get(&grant_id).cloned() {
                        Some(g) if !g.revoked && g.client_id == client.id => {
                            books
                                .refresh
                                .insert(digest(&refresh), (grant_id.clone(), false));
                            Ok((grant_id, g))
                        }
                        _ => Err("the grant is revoked or belongs to another client"),
                    },
                }
            };
            match found {
                Ok((grant_id, grant)) => idp.issue(&grant_id, &grant, None, true),
                Err(why) => bad_grant(why),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code or refresh_token",
        ),
    }
}

pub(super) async fn userinfo(State(idp): State<Arc<DevIdp>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(claims) = idp.check_access_token(token) else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return r;
    };
    let scopes: Vec<String> = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .map(str::to_string)
        .collect();
    let Some(user) = idp
        .users
        .iter()
        .find(|u| Some(u.login.as_str()) == claims["sub"].as_str())
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut info = json!({ "sub": user.login });
    idp.add_profile(&mut info, user, &scopes);
    Json(info).into_response()
}

pub(super) async fn revoke(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client = match idp.authenticate(&headers, &form) {
        Ok(c) => c.clone(),
        Err(r) => return *r,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let mut books = idp.books();
    if let Some((grant_id, _)) = books.refresh.get(&digest(&token)).cloned() {
        if let Some(g) = books
            .grants
            .get_mut(&grant_id)
            .filter(|g| g.client_id == client.id)
        {
            g.revoked = true;
        }
    } else {
        drop(books);
        if let Some(claims) = idp.check_access_token(&token) {
            if claims["client_id"].as_str() == Some(client.id) {
                if let Some(jti) = claims["jti"].as_str() {
                    idp.books().revoked_access.insert(jti.to_string());
                }
            }
        }
    }
    // RFC 7009 §2.2: 200 whether or not the token was valid.
    StatusCode::OK.into_response()
}

pub(super) async fn introspect(
    State(idp): State<Arc<DevIdp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match idp.authenticate(&headers, &form) {
        Ok(c) if c.secret.is_some() => {}
        Ok(_) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection needs a confidential client",
            )
        }
        Err(r) => return *r,
    }
    let token = form.get("token").cloned().unwrap_or_default();
    match idp.check_access_token(&token) {
        Some(mut claims) => {
            claims["active"] = json!(true);
            claims["token_type"] = json!("Bearer");
            Json(claims).into_response()
        }
        None => Json(json!({ "active": false })).into_response(),
    }
}
