//! The credential mapping: which claim or closure gives the SIP username and display name, and
//! which fixed value or resolver gives the SIP domain, WebSocket server and realm (the guide's
//! `SipCredentialMapping`, including its multi-tenant `sipDomainResolver` and
//! `wsServerUriResolver`, which the reference only documented). Username safety lives in
//! [`super::username`]; the password in [`super::password`].

use std::sync::Arc;

use url::Url;

use super::credentials::{self, ProvisionedCredentials};
use super::naming::{self, IdentityClaims, ReservedUsernames};
use super::password::{self, PasswordStrategy};
use super::username::{self, UsernamePolicy};
use super::CredentialError;
use crate::http::HttpClient;
use crate::oidc::token::TokenSet;
use crate::oidc::userinfo::UserInfo;
use crate::url_policy;

type UserInfoFn = Arc<dyn Fn(&UserInfo) -> Option<String> + Send + Sync>;

/// Where the SIP username comes from.
#[derive(Clone)]
#[non_exhaustive]
pub enum UsernameRule {
    /// A claim (default `email`), reduced the reference's way: up to the first `@`, only
    /// `[a-z0-9._-]`, lowercase. Note: `alice@a.com` and `alice@b.com` collide.
    Claim(String),
    /// The first of these claims that gives a name, in order (`email`: a verified email's
    /// local part only; `sub`: the subject), else the subject: the provisioning service's rule
    /// ([`super::username_from_claims`]), so the command and the service name a person the same.
    Claims(Vec<String>),
    /// The email local part plus a short stable hash of issuer and subject: collision-free.
    CollisionFree,
    /// Your function; its output is sanitised and checked like a claim's.
    Transformer(Arc<dyn Fn(&UserInfo) -> String + Send + Sync>),
}

/// Where the display name comes from; every rule falls back to `name`, `preferred_username`,
/// then the username.
#[derive(Clone)]
#[non_exhaustive]
pub enum DisplayNameRule {
    /// `name`, `preferred_username`, then the username.
    Default,
    /// A claim first.
    Claim(String),
    /// Your function first.
    Transformer(UserInfoFn),
}

/// A value that is fixed or resolved from the user info.
#[derive(Clone)]
pub enum ValueRule {
    /// The same for everyone.
    Fixed(String),
    /// Computed per user (multi-tenant deployments); `None` is an error.
    Resolver(UserInfoFn),
}

impl ValueRule {
    /// A resolver from a closure.
    pub fn resolver<F>(f: F) -> Self
    where
        F: Fn(&UserInfo) -> Option<String> + Send + Sync + 'static,
    {
        ValueRule::Resolver(Arc::new(f))
    }

    fn resolve(&self, field: &'static str, info: &UserInfo) -> Result<String, CredentialError> {
        match self {
            ValueRule::Fixed(v) => Ok(v.clone()),
            ValueRule::Resolver(f) => {
                f(info)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or(CredentialError::Resolver {
                        field,
                        reason: "it returned nothing".into(),
                    })
            }
        }
    }
}

macro_rules! opaque_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
opaque_debug!(UsernameRule, DisplayNameRule, ValueRule);

/// What a mapping reads.
#[derive(Debug, Clone, Copy)]
pub struct MappingInput<'a> {
    /// The tokens of the sign-in.
    pub tokens: &'a TokenSet,
    /// Who signed in.
    pub user_info: &'a UserInfo,
    /// The issuer (for collision-free usernames).
    pub issuer: Option<&'a str>,
}

/// How an identity becomes SIP credentials.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CredentialMapping {
    /// The username rule (default: the `email` claim).
    pub username: UsernameRule,
    /// The display-name rule (default: `name`).
    pub display_name: DisplayNameRule,
    /// The SIP domain (host part of the SIP URI).
    pub sip_domain: ValueRule,
    /// The WebSocket server (`wss://`, or `ws://` on loopback).
    pub ws_server_uri: ValueRule,
    /// The digest realm; defaults to the SIP domain.
    pub realm: Option<String>,
    /// The authorization username; defaults to the username.
    pub authorization_username: Option<ValueRule>,
    /// The password strategy.
    pub password: PasswordStrategy,
    /// Username limits.
    pub username_policy: UsernamePolicy,
    /// Names [`UsernameRule::Claims`] never hands out plain (the service's default set): a
    /// reserved name gets its suffixed form, as at the provisioning service.
    pub reserved_usernames: ReservedUsernames,
    /// Allow `ws://` to non-loopback hosts (never in production).
    pub allow_insecure_ws: bool,
    /// Name SIP accounts after emails the provider has not verified (default false: an
    /// unverified email must never name someone else's SIP account).
    pub allow_unverified_email: bool,
}

/// Checks a SIP domain: a host name (`[a-z0-9.-]`, no empty label), returned in lowercase.
pub fn check_domain(domain: &str) -> Result<String, CredentialError> {
    let d = domain.trim().to_ascii_lowercase();
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !d.starts_with(['.', '-'])
        && !d.ends_with(['.', '-'])
        && !d.contains("..");
    if valid {
        Ok(d)
    } else {
        Err(CredentialError::InvalidDomain(domain.to_string()))
    }
}

/// Checks a value that goes quoted into a SIP `Authorization` header (the realm, the digest
/// username): 1 to 256 characters, no control character, quote or backslash.
fn check_digest_value(field: &'static str, value: String) -> Result<String, CredentialError> {
    let bad = |reason| Err(CredentialError::InvalidSipValue { field, reason });
    if value.is_empty() {
        return bad("it is empty");
    }
    if value.chars().count() > 256 {
        return bad("it is longer than 256 characters");
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return bad("it holds a control character, a quote or a backslash");
    }
    Ok(value)
}

/// Checks a WebSocket server URI: `wss://`, or `ws://` for loopback hosts or when allowed.
pub fn check_ws_uri(uri: &str, allow_insecure: bool) -> Result<String, CredentialError> {
    let insecure = || CredentialError::InsecureWebSocket {
        uri: uri.to_string(),
    };
    let trimmed = uri.trim();
    let url = Url::parse(trimmed).map_err(|_| insecure())?;
    // The value is kept as given (no normalised trailing slash): it is what the operator wrote.
    match url.scheme() {
        "wss" if url.host().is_some() => Ok(trimmed.to_string()),
        "ws" if url.host().is_some() && (allow_insecure || url_policy::is_loopback(&url)) => {
            Ok(trimmed.to_string())
        }
        _ => Err(insecure()),
    }
}

impl CredentialMapping {
    /// A mapping with the guide's defaults: username from `email`, display name from `name`,
    /// fixed domain and WebSocket server, realm = domain.
    pub fn new(
        sip_domain: impl Into<String>,
        ws_server_uri: impl Into<String>,
        password: PasswordStrategy,
    ) -> Self {
        Self {
            username: UsernameRule::Claim("email".into()),
            display_name: DisplayNameRule::Default,
            sip_domain: ValueRule::Fixed(sip_domain.into()),
            ws_server_uri: ValueRule::Fixed(ws_server_uri.into()),
            realm: None,
            authorization_username: None,
            password,
            username_policy: UsernamePolicy::default(),
            reserved_usernames: ReservedUsernames::default(),
            allow_insecure_ws: false,
            allow_unverified_email: false,
        }
    }

    /// Username from this claim.
    pub fn username_claim(mut self, claim: impl Into<String>) -> Self {
        self.username = UsernameRule::Claim(claim.into());
        self
    }

    /// Username from the first of these claims that gives one (see [`UsernameRule::Claims`]);
    /// [`super::DEFAULT_USERNAME_CLAIMS`] is the provisioning service's default.
    pub fn username_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.username = UsernameRule::Claims(claims.into_iter().map(Into::into).collect());
        self
    }

    /// Username from your function (sanitised and checked).
    pub fn username_transformer<F>(mut self, f: F) -> Self
    where
        F: Fn(&UserInfo) -> String + Send + Sync + 'static,
    {
        self.username = UsernameRule::Transformer(Arc::new(f));
        self
    }

    /// Accepts usernames made from an `email` the provider does not say is verified
    /// (`email_verified` not true). Off by default: anyone can put any address in an
    /// unverified email at many providers, and it would name another person's SIP account.
    pub fn allow_unverified_email(mut self) -> Self {
        self.allow_unverified_email = true;
        self
    }

    fn check_verified(&self, info: &UserInfo, claim: &str) -> Result<(), CredentialError> {
        if claim == "email" && info.email_verified != Some(true) && !self.allow_unverified_email {
            return Err(CredentialError::UnverifiedEmail);
        }
        Ok(())
    }

    /// Collision-free usernames (local part + hash of issuer and subject).
    pub fn collision_free_usernames(mut self) -> Self {
        self.username = UsernameRule::CollisionFree;
        self
    }

    /// Display name from this claim first.
    pub fn display_name_claim(mut self, claim: impl Into<String>) -> Self {
        self.display_name = DisplayNameRule::Claim(claim.into());
        self
    }

    /// Display name from your function first.
    pub fn display_name_transformer<F>(mut self, f: F) -> Self
    where
        F: Fn(&UserInfo) -> Option<String> + Send + Sync + 'static,
    {
        self.display_name = DisplayNameRule::Transformer(Arc::new(f));
        self
    }

    /// The SIP domain per user (the guide's `sipDomainResolver`).
    pub fn sip_domain_resolver<F>(mut self, f: F) -> Self
    where
        F: Fn(&UserInfo) -> Option<String> + Send + Sync + 'static,
    {
        self.sip_domain = ValueRule::resolver(f);
        self
    }

    /// The WebSocket server per user (the guide's `wsServerUriResolver`).
    pub fn ws_server_uri_resolver<F>(mut self, f: F) -> Self
    where
        F: Fn(&UserInfo) -> Option<String> + Send + Sync + 'static,
    {
        self.ws_server_uri = ValueRule::resolver(f);
        self
    }

    /// The digest realm.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The mapped username, checked.
    pub fn username_for(&self, input: &MappingInput<'_>) -> Result<String, CredentialError> {
        let info = input.user_info;
        let policy = self.username_policy;
        match &self.username {
            UsernameRule::Claims(claims) => {
                let named = naming::username_from_claims(info, claims, policy);
                let issuer = input.issuer.unwrap_or_default();
                let first = naming::username_candidates(
                    info,
                    issuer,
                    claims,
                    &self.reserved_usernames,
                    policy,
                )
                .into_iter()
                .next()
                .unwrap_or(named.username);
                username::check(first, &named.claim, policy)
            }
            UsernameRule::Claim(name) => {
                let raw = info
                    .claim_text(name)
                    .ok_or_else(|| CredentialError::MissingClaim(name.clone()))?;
                self.check_verified(info, name)?;
                username::check(username::local_part(&raw), name, policy)
            }
            UsernameRule::Transformer(f) => {
                username::check(username::sanitize(&f(info)), "username transformer", policy)
            }
            UsernameRule::CollisionFree => {
                // The local part comes from a verified email, else from preferred_username; an
                // unverified email is never used, even for the readable part.
                let email = info
                    .claim_text("email")
                    .filter(|_| self.check_verified(info, "email").is_ok());
                if email.is_none() && info.email.is_some() && info.preferred_username.is_none() {
                    return Err(CredentialError::UnverifiedEmail);
                }
                let local = email
                    .or_else(|| info.claim_text("preferred_username"))
                    .map(|v| username::local_part(&v))
                    .unwrap_or_default();
                let issuer = input.issuer.unwrap_or_default();
                username::check(
                    username::collision_free(&local, issuer, &info.sub, policy),
                    "email",
                    policy,
                )
            }
        }
    }

    fn display_name_for(&self, info: &UserInfo, username: &str) -> String {
        let first = match &self.display_name {
            DisplayNameRule::Default => None,
            DisplayNameRule::Claim(name) => info.claim_text(name),
            DisplayNameRule::Transformer(f) => f(info),
        };
        naming::display_name(info, first, username)
    }

    /// Maps an identity to SIP credentials, running the password strategy.
    pub async fn provision(
        &self,
        input: &MappingInput<'_>,
        http: &HttpClient,
        now: i64,
    ) -> Result<ProvisionedCredentials, CredentialError> {
        let info = input.user_info;
        let mut username = self.username_for(input)?;
        let mut sip_domain = check_domain(&self.sip_domain.resolve("sip_domain", info)?)?;
        let mut ws = check_ws_uri(
            &self.ws_server_uri.resolve("ws_server_uri", info)?,
            self.allow_insecure_ws,
        )?;
        let mut authorization_username = match &self.authorization_username {
            Some(rule) => Some(rule.resolve("authorization_username", info)?),
            None => None,
        };

        let issued =
            password::issue(&self.password, input.tokens, info, &username, http, now).await?;
        // Server-issued values replace the mapped ones, after the same checks.
        if let Some(u) = issued.username {
            username = username::check(u, "password API username", self.username_policy)?;
        }
        if let Some(d) = issued.sip_domain {
            sip_domain = check_domain(&d)?;
        }
        if let Some(w) = issued.ws_server_uri {
            ws = check_ws_uri(&w, self.allow_insecure_ws)?;
        }
        if let Some(a) = issued.authorization_username {
            authorization_username = Some(check_digest_value("authorizationUsername", a)?);
        }
        let realm = match issued.realm {
            Some(r) => check_digest_value("realm", r)?,
            None => self.realm.clone().unwrap_or_else(|| sip_domain.clone()),
        };
        let display_name = self.display_name_for(info, &username);
        let password = issued
            .password
            .ok_or_else(|| CredentialError::Strategy("no password produced".into()))?;
        Ok(ProvisionedCredentials {
            sip_uri: credentials::sip_uri(&username, &sip_domain),
            authorization_username: authorization_username.unwrap_or_else(|| username.clone()),
            username,
            password,
            display_name,
            sip_domain,
            ws_server_uri: ws,
            realm,
            expires_at: issued.expires_at,
            sip_server: match issued.sip_server {
                Some(server) => Some(super::SipServer::parse(&server).map(|_| server)?),
                None => None,
            },
            rights: issued.rights,
            provisioned_at: None,
            user_info: info.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_uri_must_be_secure_except_on_loopback() {
        assert!(check_ws_uri("wss://sip.example.com:7443", false).is_ok());
        assert!(check_ws_uri("ws://127.0.0.1:8080", false).is_ok());
        assert!(check_ws_uri("ws://[::1]:8080/ws", false).is_ok());
        assert_eq!(
            check_ws_uri("ws://sip.example.com:8080", false),
            Err(CredentialError::InsecureWebSocket {
                uri: "ws://sip.example.com:8080".into()
            })
        );
        assert!(check_ws_uri("ws://sip.example.com:8080", true).is_ok());
        assert!(check_ws_uri("https://sip.example.com", false).is_err());
        assert!(check_ws_uri("not a uri", false).is_err());
    }

    #[test]
    fn domains_are_host_names() {
        assert_eq!(check_domain("SIP.Example.com").unwrap(), "sip.example.com");
        for bad in [
            "",
            "sip.undefined..",
            "a b.com",
            "evil.com/path",
            "-x.com",
            "x@y.com",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }
}
