//! Provisioned SIP credentials: what a softphone needs to register (the guide's
//! `ProvisionedSipCredentials`). The SIP URI is built, not concatenated: the user part is escaped
//! per RFC 3261 §25.1. The password is a [`SipPassword`]: redacted in `Debug`, present in the
//! serialised form only because that form is what is handed to a SIP client.

use serde::{Deserialize, Serialize};

use crate::oidc::userinfo::UserInfo;
use crate::secret::SipPassword;

/// Everything a SIP client needs to register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProvisionedCredentials {
    /// `sip:<escaped user>@<domain>`.
    pub sip_uri: String,
    /// The SIP username (user part, unescaped).
    pub username: String,
    /// The SIP password.
    pub password: SipPassword,
    /// The display name.
    pub display_name: String,
    /// The SIP domain.
    pub sip_domain: String,
    /// The WebSocket server (`wss://`, or `ws://` on loopback).
    pub ws_server_uri: String,
    /// The digest realm.
    pub realm: String,
    /// The digest username.
    pub authorization_username: String,
    /// The registrar for native (non-WebSocket) clients, `sip:host:port;transport=…`, when
    /// the provisioning service names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_server: Option<String>,
    /// When the credentials stop working (Unix seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The call rights the SIP server enforces for this account (`outbound`, ...), when the
    /// provisioning service maps any (names only, at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Vec<String>>,
    /// When a session provisioned them (Unix seconds), when known: with `expires_at`, their
    /// lifetime, which decides when the session provisions them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_at: Option<i64>,
    /// Who these credentials belong to.
    pub user_info: UserInfo,
}

impl ProvisionedCredentials {
    /// The credentials in a provisioning service's answer, for `user_info`: `None` without a
    /// username, password, SIP domain or WebSocket server. The realm defaults to the domain,
    /// the authorization username and display name to the username.
    pub fn from_provisioning(
        answer: &sipauth_wire::ProvisionResponse,
        user_info: UserInfo,
    ) -> Option<Self> {
        let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let username = text(&answer.username)?;
        let sip_domain = text(&answer.sip_domain)?;
        Some(Self {
            sip_uri: text(&answer.sip_uri)
                .unwrap_or_else(|| super::sip_uri(&username, &sip_domain)),
            password: SipPassword::new(answer.password()?.to_string()),
            display_name: text(&answer.display_name).unwrap_or_else(|| username.clone()),
            ws_server_uri: text(&answer.ws_server_uri)?,
            realm: text(&answer.realm).unwrap_or_else(|| sip_domain.clone()),
            authorization_username: text(&answer.authorization_username)
                .unwrap_or_else(|| username.clone()),
            expires_at: answer.expires_at,
            sip_server: text(&answer.sip_server)
                .filter(|s| crate::sip::SipServer::parse(s).is_ok()),
            rights: rights_from_answer(answer.rights.as_deref()),
            provisioned_at: None,
            username,
            sip_domain,
            user_info,
        })
    }

    /// The credentials as the shared JSON document ([`sipauth_wire::SipCredentials`]): what the
    /// command prints and a UI shows.
    pub fn to_wire(&self) -> sipauth_wire::SipCredentials {
        sipauth_wire::SipCredentials {
            sip_uri: self.sip_uri.clone(),
            username: self.username.clone(),
            password: self.password.secret().to_string(),
            display_name: self.display_name.clone(),
            sip_domain: self.sip_domain.clone(),
            ws_server_uri: self.ws_server_uri.clone(),
            realm: self.realm.clone(),
            authorization_username: self.authorization_username.clone(),
            sip_server: self.sip_server.clone(),
            expires_at: self.expires_at,
            rights: self.rights.clone(),
            user: serde_json::to_value(&self.user_info).unwrap_or_default(),
        }
    }
}

/// The most rights kept from an answer.
const MAX_RIGHTS: usize = 64;

/// The rights in a provisioning service's answer, as far as they are names (1 to 64 of
/// `a-z 0-9 _ -`, at most 64 of them, sorted and unique): `None` when it named none.
pub(crate) fn rights_from_answer(rights: Option<&[String]>) -> Option<Vec<String>> {
    let mut kept: Vec<String> = rights?
        .iter()
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 64
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
        .take(MAX_RIGHTS)
        .cloned()
        .collect();
    kept.sort();
    kept.dedup();
    Some(kept)
}

/// True for characters RFC 3261 allows unescaped in a user part (unreserved / user-unreserved).
fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | '\'' | '(' | ')')
        || matches!(c, '&' | '=' | '+' | '$' | ',' | ';' | '?' | '/')
}

/// Escapes a user part (RFC 3261 §25.1: everything else as `%HH`).
pub fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        if user_char(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `sip:<escaped user>@<domain>`.
pub fn sip_uri(user: &str, domain: &str) -> String {
    format!("sip:{}@{}", escape_user(user), domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_user_part() {
        assert_eq!(
            sip_uri("alice", "sip.example.com"),
            "sip:alice@sip.example.com"
        );
        assert_eq!(sip_uri("a b@c:d%", "x.com"), "sip:a%20b%40c%3Ad%25@x.com");
        assert_eq!(escape_user("é"), "%C3%A9");
        assert_eq!(escape_user("1800000000:alice"), "1800000000%3Aalice");
        assert_eq!(escape_user("o'neil;x=1"), "o'neil;x=1");
    }

    #[test]
    fn rejects_rights_that_are_not_names_and_bounds_how_many_are_kept() {
        assert_eq!(rights_from_answer(None), None);
        let answer: Vec<String> = [
            "outbound",
            "Outbound",
            "a b",
            "",
            "x\"y",
            "international",
            "outbound",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..500).map(|i| format!("r{i}")))
        .collect();
        let kept = rights_from_answer(Some(&answer)).unwrap();
        assert_eq!(kept.len(), MAX_RIGHTS - 1, "64 taken, one a duplicate");
        assert!(kept.contains(&"international".to_string()));
        assert!(!kept
            .iter()
            .any(|r| r.contains(' ') || r.contains('"') || r.is_empty()));
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = ProvisionedCredentials {
            sip_uri: sip_uri("alice", "x.com"),
            username: "alice".into(),
            password: SipPassword::new("hunter2"),
            display_name: "Alice".into(),
            sip_domain: "x.com".into(),
            ws_server_uri: "wss://x.com".into(),
            realm: "x.com".into(),
            authorization_username: "alice".into(),
            sip_server: None,
            expires_at: None,
            rights: None,
            provisioned_at: None,
            user_info: UserInfo::default(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["password"], "hunter2");
        assert_eq!(json["sipUri"], "sip:alice@x.com");
        assert_eq!(json["authorizationUsername"], "alice");
    }
}
