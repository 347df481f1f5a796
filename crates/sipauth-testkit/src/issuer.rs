//! [`OwnIssuer`]: a loopback OpenID issuer signing with a key of our own — discovery, its key
//! set, and tokens minted on demand: ID tokens for any person (with any extra claims) and
//! Back-Channel Logout 1.0 logout tokens. For tests and benchmarks of the service that need a
//! provider to say things the real one cannot be made to say on cue. Time is the caller's
//! parameter (`now`, Unix seconds).

use serde_json::{json, Value};

use crate::keys::TestKey;
use crate::stub::{Canned, Stub};

/// The event a logout token carries (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A running loopback issuer.
pub struct OwnIssuer {
    /// Its HTTP stub (discovery at `/.well-known/openid-configuration`, keys at `/jwks`).
    pub stub: Stub,
    /// Its signing key.
    pub key: TestKey,
}

impl OwnIssuer {
    /// Starts one, serving discovery and its key set.
    pub async fn start() -> std::io::Result<Self> {
        let stub = Stub::start().await?;
        let key = TestKey::generate("k1");
        stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
        stub.serve_discovery(json!({}));
        Ok(Self { stub, key })
    }

    /// Its issuer identifier (and base URL).
    pub fn url(&self) -> &str {
        &self.stub.base
    }

    /// An ID token of `sub` for `aud`, issued at `now`, valid ten minutes, with a verified
    /// email `<sub>@example.com` and `extra` claims on top.
    pub fn id_token(&self, sub: &str, aud: &str, now: i64, extra: Value) -> String {
        let mut claims = json!({
            "iss": self.stub.base, "sub": sub, "aud": aud, "iat": now, "exp": now + 600,
            "email": format!("{sub}@example.com"), "email_verified": true
        });
        if let (Some(map), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            map.extend(extra.clone());
        }
        self.key.sign(&claims)
    }

    /// A logout token (`typ` `logout+jwt`) saying `sub` logged out, for `aud`, issued at
    /// `now`, with the id `jti`.
    pub fn logout_token(&self, sub: &str, aud: &str, now: i64, jti: &str) -> String {
        self.key.sign_with_header(
            &json!({
                "iss": self.stub.base, "aud": aud, "iat": now, "exp": now + 120, "jti": jti,
                "sub": sub, "events": {BACKCHANNEL_LOGOUT_EVENT: {}}
            }),
            |h| h.typ = Some("logout+jwt".into()),
        )
    }
}
