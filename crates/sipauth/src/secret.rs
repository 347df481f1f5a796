//! Secret newtypes: tokens, the client secret, the PKCE verifier, state, nonce and authorization
//! code. This module owns how secrets are held and compared; it leaves where they are stored to the
//! storage layer and how they are generated to `oidc::pkce`.
//!
//! Every type here prints `Name([redacted])` under `Debug`, has no `Display`, and exposes its value
//! only through `secret()`. Equality, where a type offers it, is constant-time.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value.
            ///
            /// # Security warning
            /// Never log, print or put the returned value in an error message.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Compares with another value in constant time.
            pub fn ct_eq_str(&self, other: &str) -> bool {
                self.0.as_bytes().ct_eq(other.as_bytes()).into()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.ct_eq_str(&other.0)
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// An OAuth2 access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// An OAuth2 refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// A raw, compact-serialised OpenID Connect ID token (a JWT).
    IdToken
);
secret_type!(
    /// The client secret of a confidential client (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// The PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier
);
secret_type!(
    /// The `state` parameter binding a callback to the sign-in that started it (RFC 6749 §10.12).
    CsrfState
);
secret_type!(
    /// The OpenID Connect `nonce` binding an ID token to the sign-in that asked for it.
    Nonce
);
secret_type!(
    /// An authorization code from the callback (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_type!(
    /// A SIP password: whatever a password strategy produced or a SIP server issued.
    SipPassword
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let values = [
            format!("{:?}", AccessToken::new("at-value")),
            format!("{:?}", RefreshToken::new("rt-value")),
            format!("{:?}", IdToken::new("id-value")),
            format!("{:?}", ClientSecret::new("cs-value")),
            format!("{:?}", PkceVerifier::new("pv-value")),
            format!("{:?}", CsrfState::new("st-value")),
            format!("{:?}", Nonce::new("no-value")),
            format!("{:?}", AuthorizationCode::new("ac-value")),
            format!("{:?}", SipPassword::new("sp-value")),
        ];
        for printed in &values {
            assert!(printed.ends_with("([redacted])"), "{printed}");
            assert!(!printed.contains("-value"), "{printed}");
        }
        assert_eq!(values[0], "AccessToken([redacted])");
        assert_eq!(
            format!("{:?}", Some(ClientSecret::new("x"))),
            "Some(ClientSecret([redacted]))"
        );
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Nonce::new("abc"), Nonce::new("abc"));
        assert_ne!(Nonce::new("abc"), Nonce::new("abd"));
        assert!(!Nonce::new("abc").ct_eq_str("ab"));
    }
}
