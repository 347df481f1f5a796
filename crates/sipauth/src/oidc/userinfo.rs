//! Who signed in: the OpenID userinfo response (GET with Bearer; its `sub` must equal the ID
//! token's), GitHub's `/user` + `/user/emails` (numeric id as the stable subject, the primary
//! verified email), or, without a userinfo endpoint, the verified ID token's claims. Standard
//! claims are typed; the rest are kept.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Endpoint, Error, ProviderError, VerificationError};
use crate::http::{HttpClient, HttpRequest, RawResponse};
use crate::secret::AccessToken;
use crate::verify::IdTokenClaims;

/// The signed-in user's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[non_exhaustive]
pub struct UserInfo {
    /// The stable subject at the issuer (GitHub: the numeric user id).
    pub sub: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider verified the email (`"true"` strings accepted).
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Preferred username (GitHub: the login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

impl UserInfo {
    /// A claim by name, standard or extra, as JSON.
    pub fn claim(&self, name: &str) -> Option<Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.get(name).cloned(),
            _ => None,
        }
    }

    /// The user info carried by verified ID-token claims (no userinfo endpoint).
    pub fn from_id_token(claims: &IdTokenClaims) -> Result<Self, Error> {
        let mut map = claims.extra.clone();
        map.insert("sub".into(), Value::String(claims.sub.clone()));
        serde_json::from_value(Value::Object(map))
            .map_err(|e| VerificationError::Malformed(format!("ID token claims: {e}")).into())
    }
}

/// A 401 with `WWW-Authenticate: Bearer error="invalid_token"` is the provider refusing the token.
fn refused(raw: &RawResponse) -> Option<Error> {
    let header = raw.www_authenticate.as_deref()?;
    let start = header.find("error=\"")? + 7;
    let end = header[start..].find('"')? + start;
    let description = header.find("error_description=\"").and_then(|s| {
        header[s + 19..]
            .find('"')
            .map(|e| header[s + 19..s + 19 + e].to_string())
    });
    let mut err = ProviderError::new(Endpoint::UserInfo, &header[start..end], description);
    err.status = Some(raw.status);
    Some(err.into())
}

async fn get_json(
    http: &HttpClient,
    url: &Url,
    token: &AccessToken,
    accept: &str,
    github: bool,
) -> Result<Value, Error> {
    let mut request = HttpRequest::get(url.clone())
        .bearer(token.secret())
        .header("accept", accept);
    if github {
        request = request.header("X-GitHub-Api-Version", "2022-11-28");
    }
    let raw = http.send(Endpoint::UserInfo, request).await?;
    if !raw.is_success() {
        return Err(
            refused(&raw).unwrap_or_else(|| raw.unusable(Endpoint::UserInfo, "error status"))
        );
    }
    if raw.content_type.starts_with("application/jwt") {
        return Err(raw.unusable(
            Endpoint::UserInfo,
            "signed (JWT) userinfo responses are not supported",
        ));
    }
    serde_json::from_slice(&raw.body)
        .map_err(|_| raw.unusable(Endpoint::UserInfo, "the body is not JSON"))
}

/// A userinfo answer that arrived but cannot be used: the provider's fault (`userinfo_failed`),
/// not a token that failed verification.
fn malformed(reason: String) -> Error {
    Error::Response(crate::error::ResponseError {
        endpoint: Endpoint::UserInfo,
        status: 200,
        reason,
        body: crate::error::RedactedBody::new(b""),
        too_large: false,
    })
}

/// Fetches OpenID userinfo and checks its subject against the ID token's.
pub(crate) async fn fetch_openid(
    http: &HttpClient,
    endpoint: &Url,
    token: &AccessToken,
    expected_sub: Option<&str>,
) -> Result<UserInfo, Error> {
    let value = get_json(http, endpoint, token, "application/json", false).await?;
    let info: UserInfo = serde_json::from_value(value)
        .map_err(|e| malformed(format!("not a userinfo object: {e}")))?;
    if info.sub.is_empty() {
        return Err(VerificationError::MissingClaim("sub").into());
    }
    if let Some(expected) = expected_sub {
        if info.sub != expected {
            return Err(VerificationError::SubjectMismatch.into());
        }
    }
    Ok(info)
}

/// Builds user info from GitHub's `/user` and `/user/emails`.
pub(crate) async fn fetch_github(
    http: &HttpClient,
    user_endpoint: &Url,
    token: &AccessToken,
) -> Result<UserInfo, Error> {
    const ACCEPT: &str = "application/vnd.github+json";
    let user = get_json(http, user_endpoint, token, ACCEPT, true).await?;
    let Value::Object(mut user) = user else {
        return Err(malformed("GitHub /user is not an object".into()));
    };
    let id = match user.get("id") {
        Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
        _ => return Err(VerificationError::MissingClaim("id").into()),
    };
    let text = |user: &Map<String, Value>, k: &str| {
        user.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let login = text(&user, "login");
    let name = text(&user, "name");
    let picture = text(&user, "avatar_url");

    // /user.email is only the public profile email (null when private) and not known verified.
    let mut email = None;
    let mut email_verified = None;
    let mut emails_url = user_endpoint.clone();
    emails_url.set_path(&format!(
        "{}/emails",
        user_endpoint.path().trim_end_matches('/')
    ));
    match get_json(http, &emails_url, token, ACCEPT, true).await {
        Ok(Value::Array(list)) => {
            let primary = list.iter().find(|e| {
                e.get("primary").and_then(Value::as_bool) == Some(true)
                    && e.get("verified").and_then(Value::as_bool) == Some(true)
            });
            if let Some(primary) = primary {
                email = primary
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                email_verified = Some(true);
            }
        }
        Ok(_) => {}
        // Without the user:email scope GitHub answers 404/403: fall back to the profile email.
        Err(e) => {
            tracing::warn!(error = %e, "GitHub /user/emails unavailable; using the profile email")
        }
    }
    if email.is_none() {
        email = text(&user, "email");
        email_verified = email.as_ref().map(|_| false);
    }
    for k in ["email", "name", "avatar_url"] {
        user.remove(k);
    }
    Ok(UserInfo {
        sub: id,
        email,
        email_verified,
        name,
        preferred_username: login,
        picture,
        extra: user,
        ..UserInfo::default()
    })
}

/// Verifies an opaque token by asking the issuer's userinfo endpoint who it belongs to. The
/// answer proves the token is live at `issuer`, but not for whom it was issued: a token issued
/// to any client of the issuer passes. Use only where the operator accepts that.
pub async fn verify_by_userinfo(
    http: &HttpClient,
    endpoint: &Url,
    token: &AccessToken,
    issuer: &crate::provider::Issuer,
) -> Result<crate::verify::VerifiedIdentity, Error> {
    let info = fetch_openid(http, endpoint, token, None).await?;
    let mut claims = match serde_json::to_value(&info) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    claims.remove("sub");
    Ok(crate::verify::VerifiedIdentity {
        issuer: issuer.as_str().to_string(),
        subject: info.sub,
        audiences: Vec::new(),
        expires_at: None,
        verified_by: crate::verify::VerifiedBy::UserInfo,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_claims_are_typed_and_others_kept() {
        let info: UserInfo = serde_json::from_value(serde_json::json!({
            "sub": "u1", "email": "a@example.com", "email_verified": "true",
            "name": "A", "groups": ["x"]
        }))
        .unwrap();
        assert_eq!(info.email_verified, Some(true));
        assert_eq!(info.extra["groups"][0], "x");
        assert_eq!(
            info.claim("email"),
            Some(Value::String("a@example.com".into()))
        );
        assert_eq!(info.claim("groups"), Some(serde_json::json!(["x"])));
    }

    #[test]
    fn reads_bearer_errors_from_www_authenticate() {
        let raw = RawResponse {
            status: 401,
            content_type: String::new(),
            www_authenticate: Some(
                r#"Bearer realm="x", error="invalid_token", error_description="expired""#.into(),
            ),
            body: vec![],
        };
        let err = refused(&raw).unwrap();
        assert_eq!(err.code(), "invalid_token");
        assert_eq!(err.description(), "expired");
    }

    #[test]
    fn rejects_malformed_www_authenticate_without_panicking() {
        for header in [
            "Bearer error=\"unterminated",
            "Bearer",
            "Bearer error=",
            "é error=\"ü\"",
        ] {
            let raw = RawResponse {
                status: 401,
                content_type: String::new(),
                www_authenticate: Some(header.into()),
                body: vec![],
            };
            let _ = refused(&raw);
        }
        let raw = RawResponse {
            status: 401,
            content_type: String::new(),
            www_authenticate: Some("Bearer error=\"unterminated".into()),
            body: vec![],
        };
        assert!(refused(&raw).is_none());
    }
}
