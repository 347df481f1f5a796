//! Revocation (RFC 7009): what signing out does at the provider. [`OidcClient::revoke_tokens`]
//! revokes the refresh token, then the access token, with this client's authentication (or the
//! access token as Bearer, for a public client at a provider that lists `Bearer` among
//! `revocation_endpoint_auth_methods_supported`), and reports exactly what happened to each:
//! revoked, not supported (no endpoint), or refused. Endpoints missing from OpenID discovery are
//! looked up in RFC 8414 metadata by [`crate::provider::discovery`].

use super::token::{self, TokenSet};
use super::OidcClient;
use crate::error::{Endpoint, Error};

/// Which token a revocation is about (RFC 7009 `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

/// What a revocation request achieved (RFC 7009).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Revocation {
    /// The provider accepted the revocation (RFC 7009 §2.2: also said of unknown tokens).
    Revoked,
    /// The provider has no revocation endpoint (Entra ID, GitHub): the token stays valid until
    /// it expires.
    NotSupported,
    /// The provider refused, or could not be reached.
    Failed {
        /// The stable code (`revocation_failed`, `invalid_client`, `network_error`, ...).
        code: String,
        /// What happened.
        description: String,
    },
}

impl Revocation {
    fn from_result(result: Result<Revocation, Error>) -> Self {
        result.unwrap_or_else(|e| Revocation::Failed {
            code: e.code().to_string(),
            description: e.to_string(),
        })
    }
}

/// What signing out did to each token at the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationReport {
    /// The refresh token's revocation (none when there was no refresh token).
    pub refresh_token: Option<Revocation>,
    /// The access token's revocation.
    pub access_token: Revocation,
}

impl RevocationReport {
    /// True when every token that existed was revoked.
    pub fn all_revoked(&self) -> bool {
        self.access_token == Revocation::Revoked
            && self
                .refresh_token
                .as_ref()
                .is_none_or(|r| *r == Revocation::Revoked)
    }

    /// True when the provider refused or could not be reached for some token.
    pub fn any_failed(&self) -> bool {
        matches!(self.access_token, Revocation::Failed { .. })
            || matches!(self.refresh_token, Some(Revocation::Failed { .. }))
    }
}

impl OidcClient {
    /// Revokes a token at the provider's RFC 7009 endpoint, with this client's authentication.
    /// [`Revocation::NotSupported`] when the provider has no revocation endpoint (Entra, GitHub).
    pub async fn revoke(&self, token: &str, hint: TokenTypeHint) -> Result<Revocation, Error> {
        self.revoke_with_bearer(token, hint, None).await
    }

    /// Revokes both tokens of a set, refresh token first (revoking it usually ends the grant),
    /// and says what happened to each. A public client at a provider that lists `Bearer` among
    /// `revocation_endpoint_auth_methods_supported` presents the access token as Bearer
    /// authentication.
    pub async fn revoke_tokens(&self, tokens: &TokenSet) -> RevocationReport {
        let bearer = (self.provider.client_secret.is_none()
            && self
                .provider
                .revocation_auth_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case("bearer")))
        .then(|| tokens.access_token.secret());
        let refresh_token = match &tokens.refresh_token {
            Some(rt) => Some(Revocation::from_result(
                self.revoke_with_bearer(rt.secret(), TokenTypeHint::RefreshToken, bearer)
                    .await,
            )),
            None => None,
        };
        let access_token = Revocation::from_result(
            self.revoke_with_bearer(
                tokens.access_token.secret(),
                TokenTypeHint::AccessToken,
                bearer,
            )
            .await,
        );
        RevocationReport {
            refresh_token,
            access_token,
        }
    }

    async fn revoke_with_bearer(
        &self,
        token: &str,
        hint: TokenTypeHint,
        bearer: Option<&str>,
    ) -> Result<Revocation, Error> {
        let Some(endpoint) = self.provider.revocation_endpoint.clone() else {
            return Ok(Revocation::NotSupported);
        };
        let hint = match hint {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        };
        let form = vec![
            ("token", token.to_string()),
            ("token_type_hint", hint.to_string()),
        ];
        let raw = token::post_client_form(
            &self.http,
            &self.provider,
            endpoint,
            Endpoint::Revocation,
            form,
            bearer,
        )
        .await?;
        // RFC 7009 §2.2: 200 for revoked and for unknown tokens alike.
        if raw.is_success() {
            return Ok(Revocation::Revoked);
        }
        Err(raw.endpoint_error(Endpoint::Revocation))
    }
}
