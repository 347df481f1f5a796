//! Starting a sign-in: the authorization URL (PKCE S256, state, nonce, prompt, login_hint) and the
//! pending sign-in it leaves behind, kept by state, single use, with a time limit. Where pending
//! sign-ins are kept is the [`PendingSignInStore`] trait's business; the implementation over any
//! session store is [`crate::storage::StoredPendingSignIns`]. Completing a sign-in is [`crate::oidc`]'s job.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConfigError, Error};
use crate::oidc::pkce;
use crate::provider::ProviderConfig;
use crate::secret::{CsrfState, Nonce, PkceVerifier};

/// What the caller may vary per sign-in.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationOptions {
    /// `prompt` (`login`, `consent`, `select_account`, `none`); replaces one from
    /// `additional_params`.
    pub prompt: Option<String>,
    /// `login_hint`, e.g. the user's email; replaces one from `additional_params`.
    pub login_hint: Option<String>,
}

/// A started sign-in: send the user to `url`.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The authorization URL.
    pub url: Url,
    /// The state this sign-in is kept under.
    pub state: CsrfState,
    /// When the pending sign-in expires (Unix seconds).
    pub expires_at: i64,
}

/// What a started sign-in leaves behind until its callback arrives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The state sent to the provider.
    pub state: CsrfState,
    /// The PKCE verifier, when PKCE is on.
    pub pkce_verifier: Option<PkceVerifier>,
    /// The nonce, when `openid` was requested.
    pub nonce: Option<Nonce>,
    /// The redirect URI used, for the code exchange.
    pub redirect_uri: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// Where pending sign-ins are kept between the redirect and the callback. Implementations must
/// make [`take`](Self::take) atomic: a state can be taken once.
pub trait PendingSignInStore: Send + Sync + std::fmt::Debug {
    /// Keeps a pending sign-in under its state.
    fn put(&self, pending: PendingSignIn) -> Result<(), Error>;
    /// Removes and returns the pending sign-in with this state, expired or not.
    fn take(&self, state: &str) -> Result<Option<PendingSignIn>, Error>;
    /// Drops every pending sign-in that expired before `now`; returns how many.
    fn sweep(&self, now: i64) -> Result<usize, Error>;
}

/// Builds the authorization URL and the pending sign-in for it.
pub(crate) fn build(
    provider: &ProviderConfig,
    options: &AuthorizationOptions,
    now: i64,
    ttl_secs: i64,
) -> Result<(AuthorizationRequest, PendingSignIn), ConfigError> {
    let state = pkce::new_state()?;
    let verifier = if provider.use_pkce {
        Some(pkce::new_verifier()?)
    } else {
        None
    };
    let nonce = if provider.is_openid() {
        Some(pkce::new_nonce()?)
    } else {
        None
    };

    let mut url = provider.authorization_endpoint.clone();
    {
        // Appends to any query the endpoint already has (never a second `?`).
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", &provider.response_type);
        q.append_pair("client_id", &provider.client_id);
        q.append_pair("redirect_uri", provider.redirect_uri.as_str());
        q.append_pair("scope", &provider.scopes.join(" "));
        q.append_pair("state", state.secret());
        if let Some(v) = &verifier {
            q.append_pair("code_challenge", &pkce::s256_challenge(v));
            q.append_pair("code_challenge_method", "S256");
        }
        if let Some(n) = &nonce {
            q.append_pair("nonce", n.secret());
        }
        if let Some(mode) = provider.response_mode_param() {
            q.append_pair("response_mode", mode);
        }
        for (name, value) in &provider.additional_params {
            if crate::provider::RESERVED_PARAMS.contains(&name.as_str()) {
                return Err(ConfigError::ReservedParameter(name.clone()));
            }
            let overridden = (name == "prompt" && options.prompt.is_some())
                || (name == "login_hint" && options.login_hint.is_some());
            if !overridden {
                q.append_pair(name, value);
            }
        }
        if let Some(prompt) = &options.prompt {
            q.append_pair("prompt", prompt);
        }
        if let Some(hint) = &options.login_hint {
            q.append_pair("login_hint", hint);
        }
    }

    let expires_at = now.saturating_add(ttl_secs);
    let pending = PendingSignIn {
        state: state.clone(),
        pkce_verifier: verifier,
        nonce,
        redirect_uri: provider.redirect_uri.as_str().to_string(),
        created_at: now,
        expires_at,
    };
    Ok((
        AuthorizationRequest {
            url,
            state,
            expires_at,
        },
        pending,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ClientRegistration;

    fn provider() -> ProviderConfig {
        let mut p = ProviderConfig::custom(
            ClientRegistration::public("my app", "http://127.0.0.1:4000/callback"),
            "https://idp.example.com/authorize?tenant=a",
            "https://idp.example.com/token",
        )
        .unwrap()
        .with_scopes(["openid", "email"]);
        p.issuer = Some("https://idp.example.com".into());
        p
    }

    fn params(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn get<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn url_carries_every_parameter_once() {
        let p = provider().with_param("prompt", "consent").unwrap();
        let opts = AuthorizationOptions {
            prompt: None,
            login_hint: Some("a+b@example.com".into()),
        };
        let (req, pending) = build(&p, &opts, 1000, 600).unwrap();
        let q = params(&req.url);
        assert_eq!(req.url.as_str().matches('?').count(), 1);
        assert_eq!(get(&q, "tenant"), ["a"]);
        assert_eq!(get(&q, "response_type"), ["code"]);
        assert_eq!(get(&q, "client_id"), ["my app"]);
        assert_eq!(get(&q, "redirect_uri"), ["http://127.0.0.1:4000/callback"]);
        assert_eq!(get(&q, "scope"), ["openid email"]);
        assert_eq!(get(&q, "state"), [req.state.secret()]);
        assert_eq!(get(&q, "code_challenge_method"), ["S256"]);
        let verifier = pending.pkce_verifier.as_ref().unwrap();
        assert_eq!(
            get(&q, "code_challenge"),
            [pkce::s256_challenge(verifier).as_str()]
        );
        assert_eq!(get(&q, "nonce"), [pending.nonce.as_ref().unwrap().secret()]);
        assert_eq!(get(&q, "prompt"), ["consent"]);
        assert_eq!(get(&q, "login_hint"), ["a+b@example.com"]);
        assert!(req.url.as_str().contains("scope=openid+email"));
        assert!(req.url.as_str().contains("login_hint=a%2Bb%40example.com"));
        assert_eq!(pending.expires_at, 1600);
    }

    #[test]
    fn options_replace_additional_prompt_without_duplicating() {
        let p = provider().with_param("prompt", "consent").unwrap();
        let opts = AuthorizationOptions {
            prompt: Some("login".into()),
            login_hint: None,
        };
        let (req, _) = build(&p, &opts, 0, 600).unwrap();
        assert_eq!(get(&params(&req.url), "prompt"), ["login"]);
    }

    #[test]
    fn no_nonce_without_openid_and_no_pkce_when_off() {
        let mut p = provider().with_scopes(["read:user"]);
        p.use_pkce = false;
        let (req, pending) = build(&p, &AuthorizationOptions::default(), 0, 600).unwrap();
        let q = params(&req.url);
        assert!(get(&q, "nonce").is_empty());
        assert!(get(&q, "code_challenge").is_empty());
        assert!(pending.nonce.is_none() && pending.pkce_verifier.is_none());
    }

    #[test]
    fn rejects_reserved_params_slipped_into_the_map() {
        let mut p = provider();
        p.additional_params
            .insert("state".into(), "attacker".into());
        assert!(matches!(
            build(&p, &AuthorizationOptions::default(), 0, 600),
            Err(ConfigError::ReservedParameter(_))
        ));
    }

    #[test]
    fn pending_sign_ins_are_single_use_and_swept() {
        let memory = std::sync::Arc::new(crate::storage::MemoryStore::new());
        let store = crate::oidc::StoredPendingSignIns::new(memory.clone(), "t_");
        let p = provider();
        let (a, pa) = build(&p, &AuthorizationOptions::default(), 0, 600).unwrap();
        let (_, pb) = build(&p, &AuthorizationOptions::default(), 500, 600).unwrap();
        store.put(pa).unwrap();
        store.put(pb).unwrap();
        assert_eq!(store.sweep(700).unwrap(), 1);
        use crate::storage::SessionStore;
        assert_eq!(memory.keys("t_pending_").unwrap().len(), 1);
        assert!(store.take(a.state.secret()).unwrap().is_none(), "swept");
        let (c, pc) = build(&p, &AuthorizationOptions::default(), 0, 600).unwrap();
        store.put(pc).unwrap();
        assert!(store.take(c.state.secret()).unwrap().is_some());
        assert!(
            store.take(c.state.secret()).unwrap().is_none(),
            "single use"
        );
    }
}
