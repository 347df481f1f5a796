//! A helper process for the session's multi-process tests (not a user-facing example): it
//! restores a session from a file store and refreshes it repeatedly, or hammers the store with
//! writes until killed.
//!
//! ```text
//! session_worker refresh <store dir> <issuer> <client id> <refreshes>
//! session_worker write-loop <store dir>
//! ```
//!
//! Exit 0 when every refresh succeeded; 1 with the error on standard error otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use sipauth::{
    ClientRegistration, CredentialMapping, FileStore, HttpClient, PasswordStrategy, ProviderConfig,
    Session, SessionStore,
};

async fn refresh(dir: &str, issuer: &str, client_id: &str, times: u32) -> Result<(), String> {
    let store = Arc::new(FileStore::new(dir).map_err(|e| e.to_string())?);
    let http = HttpClient::new().map_err(|e| e.to_string())?;
    let registration = ClientRegistration::public(client_id, "http://127.0.0.1:5557/callback");
    let provider = ProviderConfig::discover(&http, issuer, registration)
        .await
        .map_err(|e| e.to_string())?;
    let mapping = CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8088",
        PasswordStrategy::AccessToken,
    );
    let session = Session::builder(provider, mapping)
        .store(store)
        .http(http)
        .build()
        .map_err(|e| e.to_string())?;
    session
        .restore()
        .await
        .map_err(|e| format!("restore: {e}"))?
        .ok_or("nothing to restore")?;
    for i in 0..times {
        session
            .refresh_tokens()
            .await
            .map_err(|e| format!("refresh {i}: {} ({})", e, e.code()))?;
    }
    Ok(())
}

fn write_loop(dir: &str) -> Result<(), String> {
    let store = FileStore::new(dir).map_err(|e| e.to_string())?;
    for i in 0u64.. {
        // Values of changing size, so a torn write would be visible as broken JSON.
        let padding = "x".repeat((i % 50_000) as usize);
        let value = serde_json::json!({ "generation": i, "padding": padding }).to_string();
        store
            .save("sipauth_session", &value)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["refresh", dir, issuer, client_id, times] => match times.parse() {
            Ok(n) => refresh(dir, issuer, client_id, n).await,
            Err(_) => Err("refreshes must be a number".into()),
        },
        ["write-loop", dir] => write_loop(dir),
        _ => Err(
            "usage: session_worker refresh <dir> <issuer> <client id> <n> | write-loop <dir>"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("session_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
