//! The OAuth 2.0 / OpenID Connect client: [`OidcClient`] holds one provider and one client
//! registration and does each protocol step once and correctly. Start a sign-in
//! ([`OidcClient::authorization_request`]: `authorize`, `pkce`, kept by `pending`),
//! complete it ([`OidcClient::handle_callback`]: `callback` state, redirect URI and RFC 9207
//! `iss` checks, the code exchange at the `token` endpoint, ID-token verification by
//! [`crate::verify`], `userinfo`), refresh, sign in by `device` code (RFC 8628), and
//! `revocation` (RFC 7009). Lifecycle (storage, scheduling, events) belongs to
//! [`crate::session`]; turning an identity into SIP credentials to [`crate::sip`].

pub(crate) mod authorize;
pub(crate) mod callback;
pub(crate) mod device;
pub(crate) mod pending;
pub(crate) mod pkce;
pub(crate) mod revocation;
pub(crate) mod token;
pub(crate) mod userinfo;

use std::sync::Arc;
use std::time::Duration;

pub use authorize::{
    AuthorizationOptions, AuthorizationRequest, PendingSignIn, PendingSignInStore,
};
pub use device::DeviceAuthorization;
pub use pending::{MemoryPendingSignIns, StoredPendingSignIns, DEFAULT_MAX_PENDING_SIGN_INS};
pub use revocation::{Revocation, RevocationReport, TokenTypeHint};
pub use token::TokenSet;
pub use userinfo::{verify_by_userinfo, UserInfo};

use crate::clock::{SharedClock, SystemClock};
use crate::error::{CallbackError, ConfigError, Error, StateProblem, VerificationError};
use crate::http::HttpClient;
use crate::provider::{ProviderConfig, ProviderKind};
use crate::secret::{AuthorizationCode, RefreshToken};
use crate::verify::{IdTokenVerifier, JwksCache, VerifiedIdToken, VerifyOptions};

/// The default lifetime of a pending sign-in.
pub(crate) const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(600);

/// A completed sign-in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignIn {
    /// The tokens.
    pub tokens: TokenSet,
    /// The verified ID token (OpenID providers).
    pub id_token: Option<VerifiedIdToken>,
    /// Who signed in.
    pub user_info: UserInfo,
    /// The verified identity, for a sign-in completed by [`OidcClient::handle_callback`].
    identity: Option<crate::verify::VerifiedIdentity>,
}

impl SignIn {
    /// A sign-in put together from stored or refreshed parts: it carries no verified identity.
    pub(crate) fn restored(tokens: TokenSet, user_info: UserInfo) -> Self {
        Self {
            tokens,
            id_token: None,
            user_info,
            identity: None,
        }
    }

    /// Who signed in, as verification proved it: the verified ID token's issuer and subject
    /// with the profile's claims, or, from a provider without ID tokens, the identity its
    /// userinfo endpoint gave for the fresh access token. `None` for a sign-in restored from
    /// storage, and for an OAuth2 provider configured without an issuer.
    pub fn identity(&self) -> Option<&crate::verify::VerifiedIdentity> {
        self.identity.as_ref()
    }
}

/// The identity a completed sign-in proves (see [`SignIn::identity`]).
fn sign_in_identity(
    provider: &ProviderConfig,
    id_token: Option<&VerifiedIdToken>,
    user_info: &UserInfo,
) -> Option<crate::verify::VerifiedIdentity> {
    use crate::verify::{VerifiedBy, VerifiedIdentity};
    let mut claims = match serde_json::to_value(user_info) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    claims.remove("sub");
    Some(match id_token {
        Some(token) => {
            let t = token.claims();
            for (k, v) in &t.extra {
                claims.entry(k.clone()).or_insert_with(|| v.clone());
            }
            // When the token was issued, as a bearer-verified token's identity has it (a
            // back-channel logout is undone only by a token issued after it).
            claims.insert("iat".into(), serde_json::Value::from(t.iat));
            VerifiedIdentity {
                issuer: t.iss.clone(),
                subject: t.sub.clone(),
                audiences: t.aud.clone(),
                expires_at: Some(t.exp),
                verified_by: VerifiedBy::IdToken,
                claims,
            }
        }
        None => VerifiedIdentity {
            issuer: provider.issuer.clone()?,
            subject: user_info.sub.clone(),
            audiences: Vec::new(),
            expires_at: None,
            verified_by: VerifiedBy::UserInfo,
            claims,
        },
    })
}

/// A checked callback whose code was exchanged (or an approved device code): tokens and the
/// verified ID token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exchanged {
    /// The tokens.
    pub tokens: TokenSet,
    /// The verified ID token (OpenID providers).
    pub id_token: Option<VerifiedIdToken>,
}

/// Builds an [`OidcClient`] with non-default parts.
#[derive(Debug)]
pub struct OidcClientBuilder {
    provider: ProviderConfig,
    http: Option<HttpClient>,
    clock: Option<SharedClock>,
    pending: Option<Arc<dyn PendingSignInStore>>,
    verify: VerifyOptions,
    pending_ttl: Duration,
}

impl OidcClientBuilder {
    /// Uses this HTTP client.
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Uses this clock (tests: [`crate::ManualClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keeps pending sign-ins here (default: this process's memory).
    pub fn pending_store(mut self, store: Arc<dyn PendingSignInStore>) -> Self {
        self.pending = Some(store);
        self
    }

    /// Verification and key-cache tuning.
    pub fn verify_options(mut self, options: VerifyOptions) -> Self {
        self.verify = options;
        self
    }

    /// How long a started sign-in may wait for its callback (default 10 minutes).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<OidcClient, Error> {
        self.provider.validate()?;
        let http = match self.http {
            Some(http) => http,
            None => HttpClient::new()?,
        };
        let clock: SharedClock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let verifier = if self.provider.is_openid() {
            let jwks =
                self.provider.jwks_uri.clone().map(|uri| {
                    JwksCache::new(uri, http.clone(), clock.clone(), self.verify.clone())
                });
            Some(IdTokenVerifier::new(
                &self.provider,
                jwks,
                clock.clone(),
                &self.verify,
            )?)
        } else {
            None
        };
        Ok(OidcClient {
            provider: Arc::new(self.provider),
            http,
            clock,
            // Default: pending sign-ins in this process's memory.
            pending: self
                .pending
                .unwrap_or_else(|| Arc::new(MemoryPendingSignIns::default())),
            verifier,
            pending_ttl: crate::clock::secs(self.pending_ttl),
        })
    }
}

/// A client for one provider.
#[derive(Debug)]
pub struct OidcClient {
    provider: Arc<ProviderConfig>,
    http: HttpClient,
    clock: SharedClock,
    pending: Arc<dyn PendingSignInStore>,
    verifier: Option<IdTokenVerifier>,
    pending_ttl: i64,
}

impl OidcClient {
    /// A client with default parts (system clock, in-memory pending sign-ins).
    pub fn new(provider: ProviderConfig) -> Result<Self, Error> {
        Self::builder(provider).build()
    }

    /// A builder to choose the clock, HTTP client, pending store or verification options.
    pub fn builder(provider: ProviderConfig) -> OidcClientBuilder {
        OidcClientBuilder {
            provider,
            http: None,
            clock: None,
            pending: None,
            verify: VerifyOptions::default(),
            pending_ttl: DEFAULT_PENDING_TTL,
        }
    }

    /// The provider configuration.
    pub fn provider(&self) -> &ProviderConfig {
        &self.provider
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The ID-token verifier (OpenID providers only).
    pub fn id_token_verifier(&self) -> Option<&IdTokenVerifier> {
        self.verifier.as_ref()
    }

    /// Starts a sign-in: returns the URL to send the user to, and keeps the pending sign-in.
    pub fn authorization_request(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<AuthorizationRequest, Error> {
        let now = self.clock.now_unix();
        self.pending.sweep(now)?;
        let (request, pending) = authorize::build(&self.provider, options, now, self.pending_ttl)?;
        self.pending.put(pending)?;
        Ok(request)
    }

    /// Starts a sign-in whose pending half the caller keeps (a service whose instances share
    /// their records): the URL to send the user to and what its callback needs, given back to
    /// [`finish_sign_in`](Self::finish_sign_in). Nothing is kept in this client's store.
    pub fn start_sign_in(
        &self,
        options: &AuthorizationOptions,
    ) -> Result<(AuthorizationRequest, PendingSignIn), Error> {
        Ok(authorize::build(
            &self.provider,
            options,
            self.clock.now_unix(),
            self.pending_ttl,
        )?)
    }

    /// Completes a sign-in [`start_sign_in`](Self::start_sign_in) started, with its pending
    /// half: the same checks as [`handle_callback`](Self::handle_callback) (the callback's
    /// state must be the pending sign-in's, unexpired; redirect URI, `iss`, the code exchange
    /// with its PKCE verifier, the ID token with its nonce).
    pub async fn finish_sign_in(
        &self,
        callback_url: &str,
        pending: PendingSignIn,
    ) -> Result<SignIn, Error> {
        let params = self.callback_params(callback_url)?;
        let matches = params.state.as_ref().is_some_and(|s| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                s.secret().as_bytes(),
                pending.state.secret().as_bytes(),
            ))
        });
        let exchanged = self
            .exchange_pending(params, matches.then_some(pending))
            .await?;
        let user_info = self
            .user_info(&exchanged.tokens, exchanged.id_token.as_ref())
            .await?;
        Ok(self.signed_in(exchanged, user_info))
    }

    /// Forgets a started sign-in (its PKCE verifier, state and nonce) before its callback.
    pub fn cancel_sign_in(&self, state: &str) -> Result<(), Error> {
        self.pending.take(state)?;
        Ok(())
    }

    /// Completes a sign-in from the URL the provider redirected to.
    pub async fn handle_callback(&self, callback_url: &str) -> Result<SignIn, Error> {
        let exchanged = self.exchange_callback(callback_url).await?;
        let user_info = self
            .user_info(&exchanged.tokens, exchanged.id_token.as_ref())
            .await?;
        Ok(self.signed_in(exchanged, user_info))
    }

    /// The sign-in of an exchanged callback and the user info fetched for it.
    pub(crate) fn signed_in(&self, exchanged: Exchanged, user_info: UserInfo) -> SignIn {
        let identity = sign_in_identity(&self.provider, exchanged.id_token.as_ref(), &user_info);
        SignIn {
            tokens: exchanged.tokens,
            id_token: exchanged.id_token,
            user_info,
            identity,
        }
    }

    /// The first half of [`handle_callback`](Self::handle_callback): checks the callback (state,
    /// redirect URI, `iss`), exchanges the code and verifies the ID token. The session layer calls
    /// the halves separately to report each step.
    pub async fn exchange_callback(&self, callback_url: &str) -> Result<Exchanged, Error> {
        let params = self.callback_params(callback_url)?;
        // Taking the pending sign-in makes the state single use, whatever happens next.
        let pending = match &params.state {
            Some(state) => self.pending.take(state.secret())?,
            None => None,
        };
        self.pending.sweep(self.clock.now_unix())?;
        self.exchange_pending(params, pending).await
    }

    /// The callback's parameters, when it arrived at this client's redirect URI.
    fn callback_params(&self, callback_url: &str) -> Result<callback::CallbackParams, Error> {
        let params = callback::parse(callback_url)?;
        let expected = without_query(&self.provider.redirect_uri);
        if params.arrived_at != expected {
            return Err(CallbackError::RedirectMismatch {
                expected: expected.to_string(),
                got: params.arrived_at.to_string(),
            }
            .into());
        }
        Ok(params)
    }

    /// The rest of a callback once its pending sign-in (the one its state names, if any) is
    /// found: the provider's error, the state, `iss`, the code exchange, the ID token.
    async fn exchange_pending(
        &self,
        params: callback::CallbackParams,
        pending: Option<PendingSignIn>,
    ) -> Result<Exchanged, Error> {
        let now = self.clock.now_unix();
        if let Some(error) = params.error {
            return Err(error.into());
        }
        let pending = match (&params.state, pending) {
            (None, _) => return Err(CallbackError::InvalidState(StateProblem::Missing).into()),
            (Some(_), None) => {
                return Err(CallbackError::InvalidState(StateProblem::Unknown).into())
            }
            (Some(_), Some(p)) if p.expires_at <= now => {
                return Err(CallbackError::InvalidState(StateProblem::Expired).into())
            }
            (Some(_), Some(p)) => p,
        };
        self.check_iss(params.iss.as_deref())?;
        let code = params.code.ok_or(CallbackError::MissingCode)?;
        let mut tokens = self.exchange_code(&code, &pending).await?;
        let id_token = match (&self.verifier, &tokens.id_token) {
            (Some(verifier), Some(raw)) => {
                Some(verifier.verify(raw, pending.nonce.as_ref()).await?)
            }
            (Some(_), None) => return Err(VerificationError::MissingIdToken.into()),
            (None, _) => None,
        };
        tokens.id_token_expires_at = id_token.as_ref().map(|t| t.claims().exp);
        Ok(Exchanged { tokens, id_token })
    }

    /// RFC 9207: when the provider advertises `iss` in responses, it must be there and be ours;
    /// when it is there anyway, it must still be ours.
    fn check_iss(&self, iss: Option<&str>) -> Result<(), Error> {
        let Some(expected) = crate::provider::Issuer::for_provider(&self.provider) else {
            return Ok(());
        };
        let required = self.provider.authorization_response_iss_parameter_supported;
        let ok = match iss {
            Some(got) => expected.accepts(got),
            None => !required,
        };
        if ok {
            Ok(())
        } else {
            Err(CallbackError::IssuerMismatch {
                expected: expected.as_str().to_string(),
                got: iss.map(str::to_string),
            }
            .into())
        }
    }

    /// Exchanges an authorization code (with the pending sign-in's PKCE verifier).
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        pending: &PendingSignIn,
    ) -> Result<TokenSet, Error> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.secret().to_string()),
            ("redirect_uri", pending.redirect_uri.clone()),
        ];
        if let Some(verifier) = &pending.pkce_verifier {
            form.push(("code_verifier", verifier.secret().to_string()));
        }
        let raw = token::post_token_form(&self.http, &self.provider, form).await?;
        token::parse_token_response(self.provider.kind, &raw, self.clock.now_unix())
    }

    /// Uses a refresh token. A rotated refresh token replaces the old one; when the provider sends
    /// none, the old one is carried over. A new ID token is verified (a nonce is not required).
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet, Error> {
        let form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token.secret().to_string()),
        ];
        let raw = token::post_token_form(&self.http, &self.provider, form).await?;
        let mut tokens =
            token::parse_token_response(self.provider.kind, &raw, self.clock.now_unix())?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        if let (Some(verifier), Some(raw)) = (&self.verifier, &tokens.id_token) {
            tokens.id_token_expires_at = Some(verifier.verify(raw, None).await?.claims().exp);
        }
        Ok(tokens)
    }

    /// Who signed in: userinfo (subject checked against the ID token), GitHub's API, or the ID
    /// token's own claims. When userinfo refuses the access token (401/403: an access token
    /// bound to another resource by RFC 8707, as Entra and oidc-provider issue) and a verified ID
    /// token is there, its claims stand in; a subject mismatch is never papered over.
    pub async fn user_info(
        &self,
        tokens: &TokenSet,
        id_token: Option<&VerifiedIdToken>,
    ) -> Result<UserInfo, Error> {
        let expected_sub = id_token.map(|t| t.claims().sub.as_str());
        match (&self.provider.userinfo_endpoint, self.provider.kind) {
            (Some(endpoint), ProviderKind::GitHub) => {
                userinfo::fetch_github(&self.http, endpoint, &tokens.access_token).await
            }
            (Some(endpoint), _) => {
                match userinfo::fetch_openid(
                    &self.http,
                    endpoint,
                    &tokens.access_token,
                    expected_sub,
                )
                .await
                {
                    Err(Error::Provider(p))
                        if id_token.is_some() && matches!(p.status, Some(401 | 403)) =>
                    {
                        tracing::warn!(
                            error = %p.error,
                            "userinfo refused the access token; using the ID token's claims"
                        );
                        match id_token {
                            Some(token) => UserInfo::from_id_token(token.claims()),
                            None => Err(Error::Provider(p)),
                        }
                    }
                    other => other,
                }
            }
            (None, _) => match id_token {
                Some(token) => UserInfo::from_id_token(token.claims()),
                None => Err(ConfigError::Missing("userinfo_endpoint").into()),
            },
        }
    }
}

fn without_query(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::templates::ProviderTemplate;
    use crate::provider::ClientRegistration;

    #[test]
    fn rejects_an_iss_that_does_not_fit_the_entra_template() {
        let provider = ProviderTemplate::Microsoft {
            tenant: "common".into(),
        }
        .build(ClientRegistration::public(
            "app",
            "http://127.0.0.1:7000/cb",
        ))
        .unwrap();
        let client = OidcClient::new(provider).unwrap();
        client.check_iss(None).unwrap();
        client
            .check_iss(Some("https://login.microsoftonline.com/tenant-1/v2.0"))
            .unwrap();
        for bad in [
            "https://evil.example",
            "https://login.microsoftonline.com/a/b/v2.0",
        ] {
            assert_eq!(
                client.check_iss(Some(bad)).unwrap_err().code(),
                "issuer_mismatch",
                "{bad}"
            );
        }
    }
}
