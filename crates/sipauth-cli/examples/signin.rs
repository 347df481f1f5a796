//! Signs in against an OpenID provider with a loopback redirect (RFC 8252), prints the verified
//! claims, and turns the identity into SIP credentials with a credential mapping (username from
//! the email, password from the `hash` strategy). The password is hidden unless
//! `--show-password`; tokens are never printed.
//!
//! Run against the local test provider (the README's main command does exactly this):
//!
//! ```text
//! testenv/run-example.sh
//! ```
//!
//! or by hand, with the browser of your choice:
//!
//! ```text
//! testenv/start.sh && . testenv/run/env
//! cargo run -p sipauth-cli --example signin -- --issuer "$SIPAUTH_TEST_ISSUER"
//! ```
//!
//! Flags: `--issuer URL` (or `SIPAUTH_TEST_ISSUER`), `--client-id ID` (default `sipauth-public`),
//! `--client-secret SECRET` (confidential clients), `--sip-domain DOMAIN` (default: the issuer's
//! host), `--ws-uri URI` (default `ws://127.0.0.1:8088/ws`), `--show-password`. With `SIPAUTH_EXAMPLE_AUTO_LOGIN=<login>` the
//! example also plays the browser against oidc-provider's development login form, so it runs
//! unattended.

use std::process::ExitCode;

use serde_json::json;
use sipauth::sip::HashAlgorithm;
use sipauth::{
    AuthorizationOptions, ClientRegistration, ClientSecret, CredentialMapping, HttpClient,
    OidcClient, PasswordStrategy, ProviderConfig,
};

struct Args {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    sip_domain: Option<String>,
    ws_uri: String,
    show_password: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        issuer: std::env::var("SIPAUTH_TEST_ISSUER").unwrap_or_default(),
        client_id: "sipauth-public".into(),
        client_secret: None,
        sip_domain: None,
        ws_uri: "ws://127.0.0.1:8088/ws".into(),
        show_password: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--issuer" => args.issuer = value()?,
            "--client-id" => args.client_id = value()?,
            "--client-secret" => args.client_secret = Some(value()?),
            "--sip-domain" => args.sip_domain = Some(value()?),
            "--ws-uri" => args.ws_uri = value()?,
            "--show-password" => args.show_password = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.issuer.is_empty() {
        return Err("no issuer: pass --issuer URL or set SIPAUTH_TEST_ISSUER".into());
    }
    Ok(args)
}

async fn run(args: Args) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    // The loopback listener first: its port is part of the redirect URI. It is the command's
    // own receiver (only the redirect carrying this sign-in's state is delivered).
    let loopback = sipauth_cli::loopback::Loopback::bind(0, "/callback").await?;
    let redirect_uri = loopback.redirect_uri();

    let http = HttpClient::new()?;
    let registration = match args.client_secret {
        Some(secret) => ClientRegistration::confidential(
            &args.client_id,
            ClientSecret::new(secret),
            &redirect_uri,
        ),
        None => ClientRegistration::public(&args.client_id, &redirect_uri),
    };
    let provider = ProviderConfig::discover(&http, &args.issuer, registration).await?;
    let client = OidcClient::builder(provider).http(http).build()?;
    let request = client.authorization_request(&AuthorizationOptions::default())?;

    let mut waiting = loopback.accept(request.state.secret());

    eprintln!("Open this URL to sign in:\n  {}", request.url);
    if let Ok(login) = std::env::var("SIPAUTH_EXAMPLE_AUTO_LOGIN") {
        eprintln!("(playing the browser as {login:?})");
        let url = request.url.to_string();
        let redirect = redirect_uri.clone();
        tokio::spawn(async move {
            let browser = sipauth_testkit::browser::Browser::new()?;
            let callback = browser.sign_in(&url, &login, &redirect).await?;
            // Deliver the redirect to our own listener, as a browser would.
            reqwest::get(&callback).await.map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        });
    }
    eprintln!("Waiting for the sign-in... (Ctrl-C to cancel)");
    let callback = tokio::time::timeout(std::time::Duration::from_secs(300), waiting.next())
        .await?
        .ok_or("the listener stopped")?;
    let result = client.handle_callback(&callback.url).await;
    callback.respond(result.is_ok());
    waiting.finish(std::time::Duration::from_secs(2)).await;
    let sign_in = result?;

    // From identity to SIP credentials.
    let sip_domain = match args.sip_domain {
        Some(d) => d,
        None => url::Url::parse(&args.issuer)?
            .host_str()
            .unwrap_or("localhost")
            .to_string(),
    };
    let strategy = PasswordStrategy::Hash {
        algorithm: HashAlgorithm::Sha256,
        salt: None,
    };
    let mapping = CredentialMapping::new(sip_domain, args.ws_uri, strategy);
    let credentials = mapping.provision_sign_in(&client, &sign_in).await?;
    let mut credentials_json = serde_json::to_value(&credentials)?;
    if !args.show_password {
        credentials_json["password"] = json!("[hidden: --show-password]");
    }
    credentials_json
        .as_object_mut()
        .map(|c| c.remove("userInfo"));

    Ok(json!({
        "sip_credentials": credentials_json,
        "id_token_claims": sign_in.id_token.as_ref().map(|t| t.claims()),
        "user_info": sign_in.user_info,
        "access_token_expires_at": sign_in.tokens.expires_at,
        "refresh_token_issued": sign_in.tokens.refresh_token.is_some(),
        "scope": sign_in.tokens.scope,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("signin: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(claims) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signin: sign-in failed: {e}");
            ExitCode::FAILURE
        }
    }
}
