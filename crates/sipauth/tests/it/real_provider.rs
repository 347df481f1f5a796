//! Full sign-ins against the real, certified OpenID provider (npm oidc-provider 9.13.3), with no
//! browser: the testkit fills its login and consent forms over HTTP.

use sipauth::{
    AuthorizationOptions, ClientAuthMethod, ClientRegistration, ClientSecret, Error, HttpClient,
    OidcClient, ProviderConfig, SignIn,
};
use sipauth_testkit::browser::{query_param, with_query_param, Browser};
use sipauth_testkit::{clients, oidc_issuer};

const REDIRECT: &str = "http://127.0.0.1:5555/callback";

async fn client_for(registration: ClientRegistration) -> OidcClient {
    let http = HttpClient::new().unwrap();
    let provider = ProviderConfig::discover(&http, &oidc_issuer(), registration)
        .await
        .unwrap()
        .with_offline_access();
    OidcClient::builder(provider).http(http).build().unwrap()
}

async fn public_client() -> OidcClient {
    client_for(ClientRegistration::public(clients::PUBLIC, REDIRECT)).await
}

/// Starts a sign-in and plays the browser up to the redirect; returns the callback URL.
async fn browse(client: &OidcClient, login: &str) -> String {
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), login, REDIRECT)
        .await
        .unwrap()
}

fn assert_signed_in_as(sign_in: &SignIn, login: &str, client_id: &str) {
    let claims = sign_in
        .id_token
        .as_ref()
        .expect("a verified ID token")
        .claims();
    assert_eq!(claims.sub, login);
    assert_eq!(claims.iss, oidc_issuer());
    assert!(claims.aud.iter().any(|a| a == client_id));
    assert!(!sign_in.tokens.access_token.secret().is_empty());
    assert!(
        sign_in.tokens.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    assert!(sign_in.tokens.expires_at.is_some());
    assert_eq!(sign_in.user_info.sub, login);
    assert_eq!(
        sign_in.user_info.email.as_deref(),
        Some(format!("{login}@example.com").as_str())
    );
    assert_eq!(sign_in.user_info.email_verified, Some(true));
}

#[tokio::test]
async fn discovery_reads_the_real_provider() {
    let client = public_client().await;
    let p = client.provider();
    let issuer = oidc_issuer();
    assert_eq!(p.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(p.token_endpoint.as_str(), format!("{issuer}/token"));
    assert_eq!(
        p.userinfo_endpoint.as_ref().unwrap().as_str(),
        format!("{issuer}/me")
    );
    assert_eq!(
        p.jwks_uri.as_ref().unwrap().as_str(),
        format!("{issuer}/jwks")
    );
    assert_eq!(
        p.revocation_endpoint.as_ref().unwrap().as_str(),
        format!("{issuer}/token/revocation")
    );
    assert!(p.authorization_response_iss_parameter_supported);
    assert!(p.use_pkce);
}

#[tokio::test]
async fn signs_in_a_public_client_with_pkce() {
    let client = public_client().await;
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let url = request.url.as_str();
    assert_eq!(
        query_param(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(url, "nonce").is_some());
    let callback = Browser::new()
        .unwrap()
        .sign_in(url, "alice", REDIRECT)
        .await
        .unwrap();
    assert_eq!(
        query_param(&callback, "iss"),
        Some(oidc_issuer()),
        "RFC 9207 iss"
    );
    let sign_in = client.handle_callback(&callback).await.unwrap();
    assert_signed_in_as(&sign_in, "alice", clients::PUBLIC);
    assert_eq!(sign_in.user_info.name.as_deref(), Some("Alice Example"));
}

#[tokio::test]
async fn signs_in_a_confidential_client_with_basic_auth() {
    let secret = ClientSecret::new(clients::CONFIDENTIAL_BASIC_SECRET);
    let client = client_for(ClientRegistration::confidential(
        clients::CONFIDENTIAL_BASIC,
        secret,
        REDIRECT,
    ))
    .await;
    assert_eq!(
        client.provider().client_auth_method,
        ClientAuthMethod::ClientSecretBasic
    );
    let callback = browse(&client, "bob").await;
    let sign_in = client.handle_callback(&callback).await.unwrap();
    assert_signed_in_as(&sign_in, "bob", clients::CONFIDENTIAL_BASIC);
}

#[tokio::test]
async fn signs_in_a_confidential_client_with_client_secret_post() {
    let http = HttpClient::new().unwrap();
    let secret = ClientSecret::new(clients::CONFIDENTIAL_POST_SECRET);
    let registration =
        ClientRegistration::confidential(clients::CONFIDENTIAL_POST, secret, REDIRECT);
    let mut provider = ProviderConfig::discover(&http, &oidc_issuer(), registration)
        .await
        .unwrap();
    provider.client_auth_method = ClientAuthMethod::ClientSecretPost;
    let client = OidcClient::builder(provider.with_offline_access())
        .http(http)
        .build()
        .unwrap();
    let callback = browse(&client, "carol").await;
    let sign_in = client.handle_callback(&callback).await.unwrap();
    assert_signed_in_as(&sign_in, "carol", clients::CONFIDENTIAL_POST);
}

#[tokio::test]
async fn rejects_a_confidential_client_with_the_wrong_secret() {
    let secret = ClientSecret::new("not-the-secret");
    let client = client_for(ClientRegistration::confidential(
        clients::CONFIDENTIAL_BASIC,
        secret,
        REDIRECT,
    ))
    .await;
    let callback = browse(&client, "bob").await;
    let err = client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "invalid_client");
    assert!(!err.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn rejects_tampered_state_and_keeps_the_real_one_usable() {
    let client = public_client().await;
    let callback = browse(&client, "alice").await;
    let state = query_param(&callback, "state").unwrap();
    let tampered = with_query_param(&callback, "state", &format!("{state}x"));
    let err = client.handle_callback(&tampered).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    client.handle_callback(&callback).await.unwrap();
}

#[tokio::test]
async fn a_sign_in_started_by_one_client_finishes_at_another_with_its_pending_half() {
    // Two service instances: each its own client (and its own store), the pending sign-in
    // kept by the caller (a shared database) between the redirect and the callback.
    let (first, second) = (public_client().await, public_client().await);
    let (request, pending) = first
        .start_sign_in(&AuthorizationOptions::default())
        .unwrap();
    assert_eq!(pending.state.secret(), request.state.secret());
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), "alice", REDIRECT)
        .await
        .unwrap();
    // Nothing was kept in the first client's own store.
    let err = first.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
    let sign_in = second.finish_sign_in(&callback, pending).await.unwrap();
    assert_signed_in_as(&sign_in, "alice", clients::PUBLIC);
}

#[tokio::test]
async fn rejects_a_callback_whose_state_is_not_the_pending_sign_ins() {
    let client = public_client().await;
    let (request, _pending) = client
        .start_sign_in(&AuthorizationOptions::default())
        .unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), "alice", REDIRECT)
        .await
        .unwrap();
    // Another sign-in's pending half (its own verifier and nonce) does not finish this one.
    let (_, other) = client
        .start_sign_in(&AuthorizationOptions::default())
        .unwrap();
    let err = client.finish_sign_in(&callback, other).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
}

#[tokio::test]
async fn rejects_reused_state() {
    let client = public_client().await;
    let callback = browse(&client, "alice").await;
    client.handle_callback(&callback).await.unwrap();
    let err = client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
}

#[tokio::test]
async fn rejects_a_reused_code() {
    let client = public_client().await;
    let first = browse(&client, "alice").await;
    client.handle_callback(&first).await.unwrap();
    // A new sign-in, but the callback replays the first, already spent, code.
    let second = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let replay = with_query_param(&first, "state", second.state.secret());
    let err = client.handle_callback(&replay).await.unwrap_err();
    assert!(matches!(err, Error::Provider(_)), "{err:?}");
    assert_eq!(err.code(), "invalid_grant");
}

#[tokio::test]
async fn rejects_an_id_token_with_another_nonce() {
    let client = public_client().await;
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    // The provider is asked for a nonce the client never issued.
    let forged = with_query_param(request.url.as_str(), "nonce", "attacker-chosen-nonce");
    let callback = Browser::new()
        .unwrap()
        .sign_in(&forged, "alice", REDIRECT)
        .await
        .unwrap();
    let err = client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "invalid_nonce");
}

#[tokio::test]
async fn rejects_a_callback_naming_another_issuer() {
    let client = public_client().await;
    let callback = browse(&client, "alice").await;
    let mixed_up = with_query_param(&callback, "iss", "https://evil.example");
    let err = client.handle_callback(&mixed_up).await.unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
}

#[tokio::test]
async fn rejects_a_callback_at_another_redirect_uri() {
    let client = public_client().await;
    let callback = browse(&client, "alice").await;
    let elsewhere = callback.replacen("/callback", "/other", 1);
    let err = client.handle_callback(&elsewhere).await.unwrap_err();
    assert_eq!(err.code(), "redirect_mismatch");
}

#[tokio::test]
async fn rejects_with_the_providers_own_error_code() {
    let client = public_client().await;
    // prompt=none with no session at the provider: it refuses with login_required.
    let options = AuthorizationOptions {
        prompt: Some("none".into()),
        login_hint: None,
    };
    let request = client.authorization_request(&options).unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), "alice", REDIRECT)
        .await
        .unwrap();
    let err = client.handle_callback(&callback).await.unwrap_err();
    match &err {
        Error::Provider(p) => {
            assert_eq!(p.error, "login_required");
            assert_eq!(
                p.state.as_ref(),
                Some(&request.state),
                "the state comes back"
            );
        }
        other => panic!("{other:?}"),
    }
    // The refused sign-in's state is spent: a code delivered for it later is refused.
    let retry = format!("{REDIRECT}?code=late&state={}", request.state.secret());
    let err = client.handle_callback(&retry).await.unwrap_err();
    assert_eq!(err.code(), "invalid_state");
}

#[tokio::test]
async fn refreshes_with_a_rotating_refresh_token() {
    let client = public_client().await;
    let callback = browse(&client, "alice").await;
    let sign_in = client.handle_callback(&callback).await.unwrap();
    let first_rt = sign_in.tokens.refresh_token.clone().unwrap();
    let refreshed = client.refresh(&first_rt).await.unwrap();
    assert_ne!(refreshed.access_token, sign_in.tokens.access_token);
    let second_rt = refreshed.refresh_token.clone().unwrap();
    assert_ne!(second_rt, first_rt, "public clients' refresh tokens rotate");
    // Spending the old one again is refused (and, at this provider, revokes the grant).
    let err = client.refresh(&first_rt).await.unwrap_err();
    assert_eq!(err.code(), "invalid_grant");
}

/// An access token of the public client, from a real sign-in.
async fn access_token_of(login: &str) -> sipauth::AccessToken {
    let client = public_client().await;
    let callback = browse(&client, login).await;
    client
        .handle_callback(&callback)
        .await
        .unwrap()
        .tokens
        .access_token
}

fn introspector() -> sipauth::Introspector {
    let issuer = oidc_issuer();
    sipauth::Introspector::new(
        format!("{issuer}/token/introspection").parse().unwrap(),
        HttpClient::new().unwrap(),
        clients::CONFIDENTIAL_BASIC,
        ClientSecret::new(clients::CONFIDENTIAL_BASIC_SECRET),
        sipauth::Issuer::new(issuer),
        std::sync::Arc::new(sipauth::SystemClock),
    )
}

#[tokio::test]
async fn an_opaque_access_token_verifies_by_introspection() {
    let token = access_token_of("ivan").await;
    let policy = sipauth::VerificationPolicy::access_token([clients::PUBLIC]);
    let identity = introspector().introspect(&token, &policy).await.unwrap();
    assert_eq!(identity.subject(), "ivan");
    assert_eq!(identity.issuer(), oidc_issuer());
    assert_eq!(identity.verified_by(), sipauth::VerifiedBy::Introspection);
    assert!(identity.expires_at().is_some());
}

#[tokio::test]
async fn rejects_an_opaque_token_of_another_client_or_a_dead_one() {
    let token = access_token_of("judy").await;
    // Issued to the public client: not for a service whose audience is another client.
    let other = sipauth::VerificationPolicy::access_token(["sipauth-other"]);
    let err = introspector().introspect(&token, &other).await.unwrap_err();
    assert_eq!(err.code(), "invalid_audience");
    let garbage = sipauth::AccessToken::new("not-a-token-of-this-issuer");
    let policy = sipauth::VerificationPolicy::access_token([clients::PUBLIC]);
    let err = introspector()
        .introspect(&garbage, &policy)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "inactive_token");
}

#[tokio::test]
async fn an_opaque_access_token_verifies_by_userinfo_without_an_audience() {
    let token = access_token_of("kate").await;
    let issuer = oidc_issuer();
    let identity = sipauth::verify_by_userinfo(
        &HttpClient::new().unwrap(),
        &format!("{issuer}/me").parse().unwrap(),
        &token,
        &sipauth::Issuer::new(issuer.clone()),
    )
    .await
    .unwrap();
    assert_eq!(identity.subject(), "kate");
    assert_eq!(identity.verified_by(), sipauth::VerifiedBy::UserInfo);
    assert!(identity.audiences().is_empty());
    assert_eq!(identity.string("email"), Some("kate@example.com"));
}
