//! SIP usernames that are always safe: every username (claim values and transformer output alike)
//! is reduced to a conservative alphabet, `[a-z0-9._-]`, and a length limit; an empty or too long
//! result is a typed error naming its source, never a silent empty string. Escaping a username
//! into a SIP URI is [`super::credentials`]'s job.
//!
//! The email mapping keeps the reference's behaviour (cut at the first `@`, keep the alphabet,
//! lowercase): `alice@a.com` and `alice@b.com` both become `alice`. That collision is dangerous
//! with multi-tenant or social providers; [`collision_free`] appends a short stable hash of issuer
//! and subject instead.

use sha2::{Digest, Sha256};

use super::CredentialError;

/// Limits for SIP usernames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsernamePolicy {
    /// The longest username accepted (default 64).
    pub max_len: usize,
}

impl Default for UsernamePolicy {
    fn default() -> Self {
        Self { max_len: 64 }
    }
}

/// True for the characters a SIP username may keep.
pub(super) fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

/// Lowercases and drops every character outside the alphabet.
pub fn sanitize(raw: &str) -> String {
    raw.chars()
        .flat_map(char::to_lowercase)
        .filter(|c| allowed(*c))
        .collect()
}

/// The reference's email rule: everything before the first `@`, sanitised.
pub fn local_part(raw: &str) -> String {
    sanitize(raw.split('@').next().unwrap_or_default())
}

/// Checks a sanitised username against the policy. `source` names the claim or transformer.
pub(super) fn check(
    username: String,
    source: &str,
    policy: UsernamePolicy,
) -> Result<String, CredentialError> {
    if username.is_empty() {
        return Err(CredentialError::InvalidUsername {
            claim: source.to_string(),
            reason: "nothing is left after keeping only a-z, 0-9, '.', '_' and '-'".into(),
        });
    }
    if username.chars().count() > policy.max_len {
        return Err(CredentialError::InvalidUsername {
            claim: source.to_string(),
            reason: format!("longer than {} characters", policy.max_len),
        });
    }
    if !username.chars().all(allowed) {
        return Err(CredentialError::InvalidUsername {
            claim: source.to_string(),
            reason: "contains characters outside a-z, 0-9, '.', '_' and '-'".into(),
        });
    }
    Ok(username)
}

/// The email local part plus `-` and 8 hex characters of SHA-256(`issuer` + "\n" + `subject`):
/// stable for one account, different for the same local part at another issuer or subject.
pub(super) fn collision_free(
    local: &str,
    issuer: &str,
    subject: &str,
    policy: UsernamePolicy,
) -> String {
    let digest = Sha256::digest(format!("{issuer}\n{subject}").as_bytes());
    let suffix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let room = policy.max_len.saturating_sub(suffix.len() + 1);
    let base: String = sanitize(local).chars().take(room).collect();
    if base.is_empty() {
        format!("u-{suffix}")
    } else {
        format!("{base}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_reference_email_rule() {
        assert_eq!(local_part("Test.User+tag@Example.COM"), "test.usertag");
        assert_eq!(local_part("alice@a.com"), local_part("alice@b.com"));
        assert_eq!(sanitize("Test-User123"), "test-user123");
    }

    #[test]
    fn rejects_empty_too_long_and_unsanitised_names() {
        let p = UsernamePolicy::default();
        let err = check(local_part("李小龍@example.com"), "email", p).unwrap_err();
        assert!(
            matches!(err, CredentialError::InvalidUsername { ref claim, .. } if claim == "email")
        );
        assert!(check("a".repeat(65), "sub", p).is_err());
        assert!(check("Alice".into(), "transformer", p).is_err());
        assert_eq!(
            check("alice_1.x-y".into(), "email", p).unwrap(),
            "alice_1.x-y"
        );
    }

    #[test]
    fn collision_free_names_differ_by_issuer_and_are_stable() {
        let p = UsernamePolicy::default();
        let google = collision_free("alice", "https://accounts.google.com", "248289761001", p);
        let evil = collision_free("alice", "https://evil.example", "248289761001", p);
        // Known answers: sha256("https://accounts.google.com\n248289761001")[..4], and the other.
        assert_eq!(google, "alice-4a55b20f");
        assert_eq!(evil, "alice-165c46ec");
        assert_eq!(collision_free("", "i", "s", p).len(), 10);
        let long = collision_free(&"x".repeat(100), "i", "s", p);
        assert_eq!(long.len(), 64);
        check(long, "email", p).unwrap();
    }
}
