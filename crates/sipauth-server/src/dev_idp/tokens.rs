//! What the development provider signs and answers: its discovery document, RS256 ID tokens,
//! RFC 9068 access tokens (and their check at userinfo and introspection), profile claims by
//! scope, and the token answer of a grant.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::books::Grant;
use super::{digest, oauth_error, random, DevIdp, DevUser, SCOPES, TOKEN_TTL};

impl DevIdp {
    pub(super) fn discovery_document(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "revocation_endpoint": format!("{i}/revoke"),
            "introspection_endpoint": format!("{i}/introspect"),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "preferred_username"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    pub(super) fn id_token(
        &self,
        user: &DevUser,
        client_id: &str,
        nonce: Option<&str>,
        scopes: &[String],
    ) -> Result<String, String> {
        let now = self.now();
        let mut claims = json!({
            "iss": self.issuer, "sub": user.login, "aud": client_id, "azp": client_id,
            "iat": now, "exp": now + TOKEN_TTL, "auth_time": now,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.add_profile(&mut claims, user, scopes);
        self.key.sign(&claims, "JWT")
    }

    pub(super) fn add_profile(&self, claims: &mut Value, user: &DevUser, scopes: &[String]) {
        if scopes.iter().any(|s| s == "email") {
            claims["email"] = json!(user.email());
            claims["email_verified"] = json!(true);
        }
        if scopes.iter().any(|s| s == "profile") {
            claims["name"] = json!(user.name);
            claims["preferred_username"] = json!(user.login);
        }
    }

    /// An RFC 9068 access token for the client (its audience) and the grant.
    pub(super) fn access_token(&self, grant_id: &str, grant: &Grant) -> Result<String, String> {
        let now = self.now();
        let jti = random().ok_or("the system's randomness failed")?;
        let mut claims = json!({
            "iss": self.issuer, "sub": grant.user, "aud": grant.client_id,
            "client_id": grant.client_id, "iat": now, "exp": now + TOKEN_TTL,
            "jti": format!("{grant_id}.{jti}"), "scope": grant.scopes.join(" "),
        });
        if let Some(user) = self.users.iter().find(|u| u.login == grant.user) {
            self.add_profile(&mut claims, user, &grant.scopes);
        }
        self.key.sign(&claims, "at+jwt")
    }

    /// Checks one of our access tokens: signature (our key), expiry, not revoked.
    pub(super) fn check_access_token(&self, token: &str) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(self.key.jwks()["keys"][0].clone()).ok()?;
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).ok()?;
        let claims = data.claims;
        let jti = claims["jti"].as_str()?.to_string();
        let grant_id = jti.split('.').next()?.to_string();
        let books = self.books();
        if books.revoked_access.contains(&jti)
            || books.grants.get(&grant_id).is_none_or(|g| g.revoked)
        {
            return None;
        }
        Some(claims)
    }

    pub(super) fn issue(
        &self,
        grant_id: &str,
        grant: &Grant,
        nonce: Option<&str>,
        with_id_token: bool,
    ) -> Response {
        let Some(user) = self.users.iter().find(|u| u.login == grant.user) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the user is gone");
        };
        let access = match self.access_token(grant_id, grant) {
            Ok(t) => t,
            Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        };
        let mut body = json!({
            "access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL,
            "scope": grant.scopes.join(" "),
        });
        if with_id_token && grant.scopes.iter().any(|s| s == "openid") {
            match self.id_token(user, &grant.client_id, nonce, &grant.scopes) {
                Ok(t) => body["id_token"] = json!(t),
                Err(e) => {
                    return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e)
                }
            }
        }
        if grant.scopes.iter().any(|s| s == "offline_access") {
            let Some(refresh) = random() else {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the system's randomness failed",
                );
            };
            self.books()
                .refresh
                .insert(digest(&refresh), (grant_id.to_string(), true));
            body["refresh_token"] = json!(refresh);
        }
        let mut r = Json(body).into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        r
    }
}
