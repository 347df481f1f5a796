//! The fuzz targets' shared harness: a provider whose every HTTP answer comes from the fuzzer
//! (a [`sipauth::Transport`] that plays back [`RawResponse`]s), on a fixed clock, driven through
//! the library's public API, so each target exercises the real parsing path from the bytes a
//! provider could send to the typed error a caller sees. A target passes when nothing panics,
//! hangs or grows without bound; every `Result` is a fine outcome.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use sipauth::{
    BoxFuture, ClientRegistration, Endpoint, Error, HttpClient, HttpRequest, ManualClock,
    ProviderConfig, RawResponse, SharedClock, Transport,
};

/// A fixed "now" for every target (2027-01-15).
pub const NOW: i64 = 1_800_000_000;

/// The statuses a fuzzed answer may have.
const STATUSES: [u16; 10] = [200, 201, 204, 400, 401, 403, 404, 429, 500, 503];
/// The content types a fuzzed answer may have.
const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/html",
    "",
];

/// An answer from fuzz bytes: status, content type and whether a `WWW-Authenticate` header
/// comes first (up to a NUL byte), then the body.
pub fn answer(data: &[u8]) -> RawResponse {
    let (head, rest) = data.split_at(data.len().min(2));
    let status = head
        .first()
        .map_or(200, |b| STATUSES[*b as usize % STATUSES.len()]);
    let flags = head.get(1).copied().unwrap_or(0);
    let content_type = CONTENT_TYPES[flags as usize % CONTENT_TYPES.len()].to_string();
    let (www_authenticate, body) = if flags & 0x80 != 0 {
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        (
            Some(String::from_utf8_lossy(&rest[..end]).into_owned()),
            rest.get(end + 1..).unwrap_or_default().to_vec(),
        )
    } else {
        (None, rest.to_vec())
    };
    RawResponse {
        status,
        content_type,
        www_authenticate,
        body,
    }
}

/// Answers every request with the next of its answers (the last one again when they run out).
#[derive(Debug)]
pub struct Replay {
    answers: Vec<RawResponse>,
    next: AtomicUsize,
}

impl Replay {
    /// Answers from fuzz bytes: split at `\xff\xfe` into one answer each.
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut answers = Vec::new();
        let mut rest = data;
        while let Some(at) = rest.windows(2).position(|w| w == [0xff, 0xfe]) {
            answers.push(answer(&rest[..at]));
            rest = &rest[at + 2..];
        }
        answers.push(answer(rest));
        Self {
            answers,
            next: AtomicUsize::new(0),
        }
    }
}

impl Transport for Replay {
    fn send<'a>(
        &'a self,
        _endpoint: Endpoint,
        _request: HttpRequest,
        limit: usize,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let mut answer = self.answers[i.min(self.answers.len() - 1)].clone();
        // As the real transports: never more than the endpoint's limit.
        answer.body.truncate(limit);
        Box::pin(async move { Ok(answer) })
    }
}

/// An HTTP client whose answers are `data`'s.
pub fn http(data: &[u8]) -> HttpClient {
    HttpClient::with_transport(Replay::from_bytes(data))
}

/// The fixed clock.
pub fn clock() -> SharedClock {
    Arc::new(ManualClock::new(NOW))
}

/// The issuer every target's provider has.
pub const ISSUER: &str = "https://idp.example.com";
/// The client id.
pub const CLIENT: &str = "fuzz-client";

/// A provider with every endpoint, at [`ISSUER`].
pub fn provider(secret: Option<&str>) -> ProviderConfig {
    let redirect = "http://127.0.0.1:4000/callback";
    let registration = match secret {
        Some(s) => {
            ClientRegistration::confidential(CLIENT, sipauth::ClientSecret::new(s), redirect)
        }
        None => ClientRegistration::public(CLIENT, redirect),
    };
    let url = |path: &str| format!("{ISSUER}{path}");
    let mut p = ProviderConfig::custom(registration, &url("/authorize"), &url("/token"))
        .expect("a valid provider")
        .with_scopes(["openid", "email", "offline_access"]);
    p.issuer = Some(ISSUER.into());
    p.jwks_uri = url("/jwks").parse().ok();
    p.userinfo_endpoint = url("/userinfo").parse().ok();
    p.revocation_endpoint = url("/revoke").parse().ok();
    p.introspection_endpoint = url("/introspect").parse().ok();
    p.device_authorization_endpoint = url("/device").parse().ok();
    p
}

/// Runs a future to completion on a current-thread runtime with time (shared by all inputs).
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime")
        })
        .block_on(future)
}

/// A compact JWS (HS256 over exactly these header and payload bytes) with `secret`.
pub fn hs256(header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return signing_input;
    };
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// `data` split in two at the first `\xff` (the second part empty when there is none).
pub fn two(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
