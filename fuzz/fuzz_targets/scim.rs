//! SCIM input from an identity provider: filters (`GET /Users?filter=`), PATCH paths, and a
//! resource body followed by a PatchOp body (`\xff` between them), read and patched the way
//! `/scim/v2` does (`sipauth_server::scim_protocol`). The first byte picks which.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use sipauth_server::scim_protocol;

fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let user = json!({
                "id": "1", "userName": "alice@example.com", "externalId": "x", "active": true,
                "name": {"givenName": "Alice"},
                "emails": [{"value": "a@w", "type": "work", "primary": true}],
                "groups": [{"value": "g", "display": "voip"}],
                "meta": {"lastModified": "2026-12-03T00:00:00Z"}
            });
            if let Value::Object(user) = user {
                let _ = scim_protocol::matches(&text, &user);
            }
        }
        1 => {
            let _ = scim_protocol::parse_path(&String::from_utf8_lossy(rest));
        }
        m => {
            let mut parts = rest.splitn(2, |b| *b == 0xff);
            let (Some(body), Some(patch)) = (parts.next(), parts.next()) else {
                return;
            };
            if let (Some(body), Some(patch)) = (object(body), object(patch)) {
                let _ = scim_protocol::read_and_patch(m == 2, &body, &patch);
            }
        }
    }
});
