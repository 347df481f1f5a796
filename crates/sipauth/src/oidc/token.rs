//! Token endpoint requests (authorization code, refresh) and the token set they return. Parsing is
//! tolerant exactly where real providers deviate (an `expires_in` string from Entra, a lowercase
//! `bearer` and form-encoded bodies from GitHub, GitHub's HTTP 200 error bodies, comma-separated
//! GitHub scopes) and strict everywhere else. Client authentication (none, client_secret_basic,
//! client_secret_post) is decided here too; ID-token verification is [`crate::verify`]'s.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Endpoint, Error};
use crate::http::{HttpClient, HttpRequest, RawResponse};
use crate::provider::{ClientAuthMethod, ProviderConfig, ProviderKind};
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// The tokens a provider issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// Always `Bearer` (other types are refused).
    pub token_type: String,
    /// Lifetime in seconds, as the provider said.
    pub expires_in: Option<u64>,
    /// When the access token expires (Unix seconds): receipt time + `expires_in`.
    pub expires_at: Option<i64>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// The raw ID token, if one was issued.
    pub id_token: Option<IdToken>,
    /// When that ID token expires (its verified `exp`), kept with it: a refresh that returns no
    /// new ID token carries the last one over (for `id_token_hint` and the `id_token` password
    /// strategy), and this says whether it is still valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_expires_at: Option<i64>,
    /// Granted scopes, space-separated (GitHub's commas normalised).
    pub scope: Option<String>,
    /// Any other fields the provider sent.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl TokenSet {
    /// True when the access token is expired at `now` (with no expiry known: never).
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// When a refresh of this access token becomes due (Unix seconds): `threshold` before
    /// expiry, or half-way through the token's lifetime when it lives less than twice the
    /// threshold. A 5-minute Keycloak token with the default 300 s threshold is due after
    /// 150 s, not the moment it is issued; a one-hour token 300 s before it expires. `None`
    /// when no expiry is known. The one rule for "needs a refresh" and for the refresh schedule.
    pub fn refresh_due_at(&self, threshold: std::time::Duration) -> Option<i64> {
        let expires_at = self.expires_at?;
        let threshold = crate::clock::secs(threshold);
        let margin = match self.expires_in {
            Some(lifetime) => threshold.min(i64::try_from(lifetime / 2).unwrap_or(i64::MAX)),
            None => threshold,
        };
        Some(expires_at.saturating_sub(margin))
    }

    /// True when a refresh is due at `now` by [`refresh_due_at`](Self::refresh_due_at).
    pub fn needs_refresh_at(&self, now: i64, threshold: std::time::Duration) -> bool {
        self.refresh_due_at(threshold).is_some_and(|due| now >= due)
    }
}

fn take_string(
    fields: &mut Map<String, Value>,
    name: &str,
    endpoint: Endpoint,
    raw: &RawResponse,
) -> Result<Option<String>, Error> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(raw.unusable(endpoint, format!("{name} is not a string"))),
    }
}

fn parse_expires_in(value: Value, endpoint: Endpoint, raw: &RawResponse) -> Result<u64, Error> {
    let bad = || {
        raw.unusable(
            endpoint,
            "expires_in is not a non-negative number of seconds",
        )
    };
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(v),
            (None, Some(f)) if f >= 0.0 && f.is_finite() => Ok(f.floor() as u64),
            _ => Err(bad()),
        },
        // Entra ID (v1 and some v2 paths) sends "3599".
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Parses a token endpoint response received at `now`.
pub(crate) fn parse_token_response(
    kind: ProviderKind,
    raw: &RawResponse,
    now: i64,
) -> Result<TokenSet, Error> {
    const EP: Endpoint = Endpoint::Token;
    let Some(mut fields) = raw.fields() else {
        let reason = if raw.is_success() {
            "the body is neither a JSON object nor form-encoded"
        } else {
            "error status without an OAuth2 error body"
        };
        return Err(raw.unusable(EP, reason));
    };
    if let Some(err) = raw.oauth_error(EP, &fields) {
        return Err(err.into());
    }
    if !raw.is_success() {
        return Err(raw.unusable(EP, "error status without an OAuth2 error body"));
    }
    let access_token = take_string(&mut fields, "access_token", EP, raw)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| raw.unusable(EP, "no access_token"))?;
    let token_type = take_string(&mut fields, "token_type", EP, raw)?
        .ok_or_else(|| raw.unusable(EP, "no token_type"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(raw.unusable(EP, format!("unsupported token_type \"{token_type}\"")));
    }
    let expires_in = match fields.remove("expires_in") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_expires_in(v, EP, raw)?),
    };
    let refresh_token = take_string(&mut fields, "refresh_token", EP, raw)?
        .filter(|s| !s.is_empty())
        .map(RefreshToken::new);
    let id_token = take_string(&mut fields, "id_token", EP, raw)?
        .filter(|s| !s.is_empty())
        .map(IdToken::new);
    let scope = take_string(&mut fields, "scope", EP, raw)?.map(|s| {
        if kind == ProviderKind::GitHub {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            s
        }
    });
    let expires_at =
        expires_in.map(|secs| now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)));
    Ok(TokenSet {
        access_token: AccessToken::new(access_token),
        token_type: "Bearer".into(),
        expires_in,
        expires_at,
        refresh_token,
        id_token,
        id_token_expires_at: None,
        scope,
        extra: fields,
    })
}

/// POSTs a form to the token endpoint with this client's authentication.
pub(crate) async fn post_token_form(
    http: &HttpClient,
    provider: &ProviderConfig,
    form: Vec<(&str, String)>,
) -> Result<RawResponse, Error> {
    post_client_form(
        http,
        provider,
        provider.token_endpoint.clone(),
        Endpoint::Token,
        form,
        None,
    )
    .await
}

/// POSTs a form to a client-authenticated endpoint (token, revocation, introspection, device).
pub(crate) async fn post_client_form(
    http: &HttpClient,
    provider: &ProviderConfig,
    url: url::Url,
    endpoint: Endpoint,
    mut form: Vec<(&str, String)>,
    bearer: Option<&str>,
) -> Result<RawResponse, Error> {
    let mut request = HttpRequest::post(url);
    match (&provider.client_secret, provider.client_auth_method) {
        (None, _) => {
            form.push(("client_id", provider.client_id.clone()));
            if let Some(token) = bearer {
                request = request.bearer(token);
            }
        }
        (Some(secret), ClientAuthMethod::ClientSecretPost) => {
            form.push(("client_id", provider.client_id.clone()));
            form.push(("client_secret", secret.secret().to_string()));
        }
        (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = STANDARD.encode(format!(
                "{}:{}",
                enc(&provider.client_id),
                enc(secret.secret())
            ));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
    }
    let request = request.form(form.iter().map(|(k, v)| (*k, v.as_str())));
    http.send(endpoint, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lasting(expires_in: u64, issued_at: i64) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            expires_in: Some(expires_in),
            expires_at: Some(issued_at + i64::try_from(expires_in).unwrap()),
            refresh_token: None,
            id_token: None,
            id_token_expires_at: None,
            scope: None,
            extra: Map::new(),
        }
    }

    #[test]
    fn short_lived_tokens_are_not_due_the_moment_they_are_issued() {
        let threshold = std::time::Duration::from_secs(300);
        // 4 s token issued at 1000: due at 1002, not before.
        let t = lasting(4, 1_000);
        assert!(!t.needs_refresh_at(1_000, threshold));
        assert!(!t.needs_refresh_at(1_001, threshold));
        assert!(t.needs_refresh_at(1_002, threshold));
        // Keycloak's 5-minute default: due at half-life.
        let t = lasting(300, 0);
        assert_eq!(t.refresh_due_at(threshold), Some(150));
        // One hour: the threshold before expiry.
        let t = lasting(3_600, 0);
        assert_eq!(t.refresh_due_at(threshold), Some(3_300));
    }

    fn raw(status: u16, content_type: &str, body: &str) -> RawResponse {
        RawResponse {
            status,
            content_type: content_type.into(),
            www_authenticate: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn parses_a_standard_response() {
        let r = raw(
            200,
            "application/json",
            r#"{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT","id_token":"a.b.c","scope":"openid email","x_custom":1}"#,
        );
        let t = parse_token_response(ProviderKind::Custom, &r, 1000).unwrap();
        assert_eq!(t.access_token.secret(), "AT");
        assert_eq!(t.expires_at, Some(4600));
        assert_eq!(t.refresh_token.unwrap().secret(), "RT");
        assert_eq!(t.id_token.unwrap().secret(), "a.b.c");
        assert_eq!(t.scope.as_deref(), Some("openid email"));
        assert_eq!(t.extra["x_custom"], 1);
    }

    #[test]
    fn accepts_entra_string_expires_in() {
        let r = raw(
            200,
            "application/json",
            r#"{"access_token":"AT","token_type":"Bearer","expires_in":"3599"}"#,
        );
        assert_eq!(
            parse_token_response(ProviderKind::Microsoft, &r, 0)
                .unwrap()
                .expires_in,
            Some(3599)
        );
    }

    #[test]
    fn accepts_github_form_encoded_lowercase_and_commas() {
        let r = raw(
            200,
            "application/x-www-form-urlencoded; charset=utf-8",
            "access_token=gho_abc&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer",
        );
        let t = parse_token_response(ProviderKind::GitHub, &r, 0).unwrap();
        assert_eq!(t.access_token.secret(), "gho_abc");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.scope.as_deref(), Some("read:user user:email"));
        assert_eq!(t.expires_at, None);
    }

    #[test]
    fn rejects_github_200_error_bodies_as_provider_errors() {
        let r = raw(
            200,
            "application/json",
            r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com/x"}"#,
        );
        match parse_token_response(ProviderKind::GitHub, &r, 0) {
            Err(Error::Provider(e)) => {
                assert_eq!(e.error, "bad_verification_code");
                assert_eq!(e.status, Some(200));
                assert_eq!(e.uri.as_deref(), Some("https://docs.github.com/x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_provider_errors_with_their_code() {
        let r = raw(
            400,
            "application/json",
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
        let err = parse_token_response(ProviderKind::Custom, &r, 0).unwrap_err();
        assert_eq!(err.code(), "invalid_grant");
    }

    #[test]
    fn rejects_unusable_bodies_keeping_status_and_redacted_body() {
        let r = raw(502, "text/html", "<html>Bad gateway</html>");
        match parse_token_response(ProviderKind::Custom, &r, 0) {
            Err(Error::Response(e)) => {
                assert_eq!(e.status, 502);
                assert_eq!(e.body.as_str(), "<html>Bad gateway</html>");
            }
            other => panic!("{other:?}"),
        }
        let r = raw(
            200,
            "application/json",
            r#"{"access_token":"SECRET-AT","token_type":"mac"}"#,
        );
        let err = parse_token_response(ProviderKind::Custom, &r, 0).unwrap_err();
        assert_eq!(err.code(), "token_exchange_failed");
        assert!(!err.to_string().contains("SECRET-AT"), "{err}");
    }

    #[test]
    fn rejects_wrong_types_strictly() {
        for body in [
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":5,"token_type":"Bearer"}"#,
            r#"{"access_token":"AT"}"#,
            r#"{"access_token":"AT","token_type":"Bearer","expires_in":-5}"#,
            r#"{"access_token":"AT","token_type":"Bearer","expires_in":"soon"}"#,
            r#"{"access_token":"AT","token_type":"Bearer","refresh_token":7}"#,
            r#"[1,2]"#,
        ] {
            let r = raw(200, "application/json", body);
            assert!(
                parse_token_response(ProviderKind::Custom, &r, 0).is_err(),
                "{body}"
            );
        }
    }
}
