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
secret_type!(
    /// A secret setting: a server secret, a key shared with a SIP server, a client secret read
    /// from a file.
    SecretText
);

/// Reads a secret file, the one way every part of sipauth does: one trailing newline (LF or
/// CRLF) is ignored; an empty secret is an error (`InvalidData`), never an empty key.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_secret_file(path: &std::path::Path) -> std::io::Result<SecretText> {
    let text = std::fs::read_to_string(path)?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the secret file is empty",
        ));
    }
    Ok(SecretText::new(text))
}

/// Creates `dir` and its missing parents with mode 0700 (owner only), the one way every part of
/// sipauth makes a directory for secrets, tokens or HA1 values. Directories that exist keep
/// their mode: the operator's choice.
#[cfg(not(target_arch = "wasm32"))]
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` as a new file, 0600, in a directory made 0700 when missing
/// ([`create_private_dir`]); `AlreadyExists` when it is there. For files holding secrets, tokens
/// or HA1 values.
#[cfg(not(target_arch = "wasm32"))]
pub fn create_private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod secret_file_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secret_files_lose_one_newline_and_empty_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("sipauth-secretfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (text, want) in [
            ("s3cret\n", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("s\n\n", "s\n"),
        ] {
            let path = dir.join("f");
            std::fs::write(&path, text).unwrap();
            assert_eq!(read_secret_file(&path).unwrap().secret(), want, "{text:?}");
        }
        std::fs::write(dir.join("empty"), "\n").unwrap();
        let err = read_secret_file(&dir.join("empty")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            format!("{:?}", SecretText::new("s3cret")),
            "SecretText([redacted])"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

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
