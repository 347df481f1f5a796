//! Session hot paths, measured with criterion (no network: a custom provider and a seeded store).
//! - `get_access_token/valid_cached`: the call every SIP request or API call makes.
//! - `restore/file_store`: start-up from a file store (read, parse, re-provision when needed).
//!
//! Run: `cargo bench -p sipauth --bench session`.

// A benchmark that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sipauth::{
    ClientRegistration, Clock, CredentialMapping, FileStore, PasswordStrategy, ProviderConfig,
    Session, SessionOptions, SessionStore, SystemClock,
};

fn provider() -> ProviderConfig {
    let mut p = ProviderConfig::custom(
        ClientRegistration::public("bench", "http://127.0.0.1:9999/callback"),
        "http://127.0.0.1:9/authorize",
        "http://127.0.0.1:9/token",
    )
    .expect("static configuration")
    .with_scopes(["profile"]);
    p.userinfo_endpoint = Some("http://127.0.0.1:9/userinfo".parse().expect("static URL"));
    p
}

fn record() -> String {
    let now = SystemClock.now_unix();
    json!({
        "version": 1,
        "tokens": {
            "access_token": "bench-access-token", "token_type": "Bearer", "expires_in": 3600,
            "expires_at": now + 3600, "refresh_token": "bench-refresh-token"
        },
        "user_info": { "sub": "u1", "email": "bench@example.com", "name": "Bench" },
        "sip_credentials": null,
        "saved_at": now
    })
    .to_string()
}

fn session(store: Arc<dyn SessionStore>) -> Session {
    let mapping = CredentialMapping::new(
        "sip.example.com",
        "wss://sip.example.com",
        PasswordStrategy::AccessToken,
    );
    let options = SessionOptions {
        auto_refresh: false,
        store,
        ..SessionOptions::default()
    };
    Session::builder(provider(), mapping)
        .options(options)
        .build()
        .expect("valid session")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("sipauth-bench-{}", std::process::id()));
    let store: Arc<dyn SessionStore> = Arc::new(FileStore::new(&dir).expect("store"));
    store.save("sipauth_session", &record()).expect("seed");

    let signed_in = session(store.clone());
    rt.block_on(signed_in.restore())
        .expect("restore")
        .expect("a session");
    c.bench_function("get_access_token/valid_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { signed_in.get_access_token().await.expect("token") })
    });

    c.bench_function("restore/file_store", |b| {
        b.to_async(&rt).iter(|| async {
            let s = session(store.clone());
            s.restore().await.expect("restore").expect("a session")
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(session_benches, benches);
criterion_main!(session_benches);
