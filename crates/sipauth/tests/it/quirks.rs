//! Provider quirks, each against a loopback stub that answers as that provider documents (their
//! real servers cannot run here): Google's scheme-less issuer, Entra's `{tenantid}` issuer and
//! string `expires_in`, GitHub's form-encoded and HTTP-200-error token answers and its REST
//! identity, plus the exact token request of each client authentication method.

use base64::Engine;
use serde_json::json;
use sipauth::{
    AuthorizationOptions, ClientAuthMethod, ClientRegistration, ClientSecret, Error, OidcClient,
    ProviderConfig, ProviderTemplate,
};
use sipauth_testkit::browser::query_param;
use sipauth_testkit::keys::TestKey;
use sipauth_testkit::stub::{Canned, Stub};

const REDIRECT: &str = "http://127.0.0.1:4545/cb";

/// Points every endpoint of a template at the stub, keeping its quirks (kind, issuer rule).
fn on_stub(mut p: ProviderConfig, stub: &Stub) -> ProviderConfig {
    p.authorization_endpoint = stub.url("/authorize").parse().unwrap();
    p.token_endpoint = stub.url("/token").parse().unwrap();
    p.userinfo_endpoint = Some(stub.url("/userinfo").parse().unwrap());
    if p.jwks_uri.is_some() {
        p.jwks_uri = Some(stub.url("/jwks").parse().unwrap());
    }
    p
}

fn now() -> i64 {
    use sipauth::Clock;
    sipauth::SystemClock.now_unix()
}

#[tokio::test]
async fn google_accepts_its_scheme_less_issuer() {
    let stub = Stub::start().await.unwrap();
    let key = TestKey::generate("g1");
    stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
    let provider = ProviderTemplate::Google
        .build(ClientRegistration::public("g.apps", REDIRECT))
        .unwrap();
    let client = OidcClient::new(on_stub(provider, &stub)).unwrap();
    for iss in ["accounts.google.com", "https://accounts.google.com"] {
        let request = client
            .authorization_request(&AuthorizationOptions::default())
            .unwrap();
        let nonce = query_param(request.url.as_str(), "nonce").unwrap();
        let id_token = key.sign(&json!({
            "iss": iss, "sub": "1078", "aud": "g.apps", "azp": "g.apps", "nonce": nonce,
            "iat": now(), "exp": now() + 3600, "email": "a@gmail.com", "email_verified": true
        }));
        stub.set(
            "/token",
            Canned::json(
                200,
                json!({
                    "access_token": "ya29.x", "expires_in": 3599, "scope": "openid email profile",
                    "token_type": "Bearer", "id_token": id_token
                }),
            ),
        );
        stub.set(
            "/userinfo",
            Canned::json(
                200,
                json!({"sub": "1078", "email": "a@gmail.com", "email_verified": true}),
            ),
        );
        // Google sends iss in the authorization response (RFC 9207).
        let callback = format!(
            "{REDIRECT}?state={}&code=4/0A&scope=email&iss=https%3A%2F%2Faccounts.google.com",
            request.state.secret()
        );
        let sign_in = client.handle_callback(&callback).await.unwrap();
        assert_eq!(sign_in.user_info.sub, "1078");
    }
}

#[tokio::test]
async fn entra_fills_the_tenant_issuer_and_accepts_string_expiry() {
    let stub = Stub::start().await.unwrap();
    let key = TestKey::generate("ms1");
    stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
    let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let provider = ProviderTemplate::Microsoft {
        tenant: "common".into(),
    }
    .build(ClientRegistration::public("ms-app", REDIRECT))
    .unwrap();
    let client = OidcClient::new(on_stub(provider, &stub)).unwrap();

    let attempt = |iss: String| {
        let client = &client;
        let stub = stub.clone();
        let key = &key;
        async move {
            let request = client
                .authorization_request(&AuthorizationOptions::default())
                .unwrap();
            let nonce = query_param(request.url.as_str(), "nonce").unwrap();
            let id_token = key.sign(&json!({
                "ver": "2.0", "iss": iss, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
                "aud": "ms-app", "tid": tid, "oid": "00000000-0000-0000-66f3-3332eca7ea81",
                "nonce": nonce, "iat": now(), "nbf": now(), "exp": now() + 3600,
                "preferred_username": "alice@outlook.com"
            }));
            stub.set(
                "/token",
                Canned::json(
                    200,
                    json!({
                        "token_type": "Bearer", "scope": "openid profile email User.Read",
                        "expires_in": "3599", "ext_expires_in": "3599",
                        "access_token": "eyJ0eXAi.graph", "id_token": id_token
                    }),
                ),
            );
            stub.set(
                "/userinfo",
                Canned::json(
                    200,
                    json!({
                        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "name": "Alice",
                        "email": "alice@outlook.com"
                    }),
                ),
            );
            // Entra does not send iss in the authorization response.
            let callback = format!("{REDIRECT}?code=M.C1&state={}", request.state.secret());
            client.handle_callback(&callback).await
        }
    };

    let sign_in = attempt(format!("https://login.microsoftonline.com/{tid}/v2.0"))
        .await
        .unwrap();
    assert_eq!(sign_in.tokens.expires_in, Some(3599));
    assert_eq!(sign_in.tokens.extra["ext_expires_in"], "3599");
    assert_eq!(sign_in.id_token.unwrap().claims().string("tid"), Some(tid));

    let err = attempt("https://login.microsoftonline.com/another-tenant/v2.0".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_issuer");
}

#[tokio::test]
async fn entra_tenant_allow_list_refuses_other_tenants() {
    let stub = Stub::start().await.unwrap();
    let key = TestKey::generate("ms1");
    stub.set("/jwks", Canned::json(200, TestKey::jwks(&[&key])));
    let mut provider = ProviderTemplate::Microsoft {
        tenant: "organizations".into(),
    }
    .build(ClientRegistration::public("ms-app", REDIRECT))
    .unwrap();
    provider.allowed_tenants = vec!["contoso-tenant-id".into()];
    let client = OidcClient::new(on_stub(provider, &stub)).unwrap();
    let token = sipauth::IdToken::new(key.sign(&json!({
        "iss": "https://login.microsoftonline.com/fabrikam-id/v2.0", "tid": "fabrikam-id",
        "sub": "s", "aud": "ms-app", "iat": now(), "exp": now() + 60
    })));
    let err = client
        .id_token_verifier()
        .unwrap()
        .verify(&token, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "tenant_not_allowed");
}

fn github_client(stub: &Stub) -> OidcClient {
    let registration =
        ClientRegistration::confidential("Iv1.gh", ClientSecret::new("gh-secret"), REDIRECT);
    let mut provider = on_stub(ProviderTemplate::GitHub.build(registration).unwrap(), stub);
    provider.userinfo_endpoint = Some(stub.url("/user").parse().unwrap());
    OidcClient::new(provider).unwrap()
}

fn github_identity(stub: &Stub) {
    stub.set(
        "/user",
        Canned::json(
            200,
            json!({
                "login": "octocat", "id": 583231, "name": "The Octocat", "email": null,
                "avatar_url": "https://avatars.githubusercontent.com/u/583231", "type": "User"
            }),
        ),
    );
    stub.set("/user/emails", Canned::json(200, json!([
        {"email": "octo@old.example", "primary": false, "verified": true, "visibility": null},
        {"email": "octocat@github.com", "primary": true, "verified": true, "visibility": "private"}
    ])));
}

#[tokio::test]
async fn github_signs_in_with_json_and_its_rest_identity() {
    let stub = Stub::start().await.unwrap();
    let client = github_client(&stub);
    github_identity(&stub);
    stub.set("/token", Canned::json(200, json!({
        "access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a", "scope": "read:user,user:email",
        "token_type": "bearer"
    })));
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    assert!(
        query_param(request.url.as_str(), "nonce").is_none(),
        "GitHub is not OpenID"
    );
    assert!(query_param(request.url.as_str(), "code_challenge").is_some());
    let callback = format!("{REDIRECT}?code=ghcode&state={}", request.state.secret());
    let sign_in = client.handle_callback(&callback).await.unwrap();

    assert!(sign_in.id_token.is_none());
    assert_eq!(
        sign_in.tokens.scope.as_deref(),
        Some("read:user user:email")
    );
    let user = &sign_in.user_info;
    assert_eq!(user.sub, "583231", "the numeric id is the stable subject");
    assert_eq!(user.preferred_username.as_deref(), Some("octocat"));
    assert_eq!(user.email.as_deref(), Some("octocat@github.com"));
    assert_eq!(user.email_verified, Some(true));

    let token_request = &stub.requests("/token")[0];
    assert_eq!(token_request.headers["accept"], "application/json");
    let form = token_request.form();
    assert_eq!(form["client_id"], "Iv1.gh");
    assert_eq!(form["client_secret"], "gh-secret");
    assert!(form.contains_key("code_verifier"));
    let user_request = &stub.requests("/user")[0];
    assert_eq!(
        user_request.headers["authorization"],
        "Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a"
    );
    assert_eq!(user_request.headers["x-github-api-version"], "2022-11-28");
    assert!(user_request.headers["user-agent"].starts_with("sipauth/"));
}

#[tokio::test]
async fn github_form_encoded_answer_is_understood() {
    let stub = Stub::start().await.unwrap();
    let client = github_client(&stub);
    github_identity(&stub);
    stub.set(
        "/token",
        Canned::text(
            200,
            "application/x-www-form-urlencoded; charset=utf-8",
            "access_token=gho_form&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer",
        ),
    );
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let callback = format!("{REDIRECT}?code=ghcode&state={}", request.state.secret());
    let sign_in = client.handle_callback(&callback).await.unwrap();
    assert_eq!(sign_in.tokens.access_token.secret(), "gho_form");
}

#[tokio::test]
async fn rejects_github_errors_sent_with_http_200() {
    let stub = Stub::start().await.unwrap();
    let client = github_client(&stub);
    stub.set("/token", Canned::json(200, json!({
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
    })));
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let callback = format!("{REDIRECT}?code=stale&state={}", request.state.secret());
    let err = client.handle_callback(&callback).await.unwrap_err();
    assert_eq!(err.code(), "bad_verification_code");
    assert_eq!(stub.hits("/user"), 0);
}

#[tokio::test]
async fn github_without_the_email_scope_falls_back_to_the_profile_email() {
    let stub = Stub::start().await.unwrap();
    let client = github_client(&stub);
    stub.set(
        "/user",
        Canned::json(
            200,
            json!({"login": "hubot", "id": 2, "email": "hubot@example.com"}),
        ),
    );
    stub.set(
        "/user/emails",
        Canned::json(404, json!({"message": "Not Found"})),
    );
    stub.set(
        "/token",
        Canned::json(
            200,
            json!({"access_token": "gho_x", "token_type": "bearer", "scope": "read:user"}),
        ),
    );
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let callback = format!("{REDIRECT}?code=c&state={}", request.state.secret());
    let user = client.handle_callback(&callback).await.unwrap().user_info;
    assert_eq!(user.email.as_deref(), Some("hubot@example.com"));
    assert_eq!(
        user.email_verified,
        Some(false),
        "a profile email is not known to be verified"
    );
}

async fn custom_client(stub: &Stub, secret: Option<&str>, method: ClientAuthMethod) -> OidcClient {
    let registration = match secret {
        Some(s) => ClientRegistration::confidential("my client", ClientSecret::new(s), REDIRECT),
        None => ClientRegistration::public("my client", REDIRECT),
    };
    let mut p = ProviderConfig::custom(registration, &stub.url("/authorize"), &stub.url("/token"))
        .unwrap()
        .with_scopes(["profile"]);
    p.userinfo_endpoint = Some(stub.url("/userinfo").parse().unwrap());
    p.client_auth_method = method;
    stub.set(
        "/token",
        Canned::json(200, json!({"access_token": "at", "token_type": "Bearer"})),
    );
    stub.set("/userinfo", Canned::json(200, json!({"sub": "u"})));
    OidcClient::new(p).unwrap()
}

async fn complete(client: &OidcClient) -> Result<sipauth::SignIn, Error> {
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    client
        .handle_callback(&format!(
            "{REDIRECT}?code=the-code&state={}",
            request.state.secret()
        ))
        .await
}

#[tokio::test]
async fn client_secret_basic_form_encodes_before_base64() {
    let stub = Stub::start().await.unwrap();
    let client = custom_client(&stub, Some("s3cr:t&+"), ClientAuthMethod::ClientSecretBasic).await;
    complete(&client).await.unwrap();
    let request = &stub.requests("/token")[0];
    let expected = base64::engine::general_purpose::STANDARD.encode("my+client:s3cr%3At%26%2B");
    assert_eq!(
        request.headers["authorization"],
        format!("Basic {expected}")
    );
    let form = request.form();
    assert!(!form.contains_key("client_secret"));
    assert!(!form.contains_key("client_id"));
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn client_secret_post_and_public_clients_put_the_id_in_the_form() {
    let stub = Stub::start().await.unwrap();
    let client = custom_client(&stub, Some("pw"), ClientAuthMethod::ClientSecretPost).await;
    complete(&client).await.unwrap();
    let request = &stub.requests("/token")[0];
    assert!(!request.headers.contains_key("authorization"));
    assert_eq!(request.form()["client_secret"], "pw");
    assert_eq!(request.form()["client_id"], "my client");

    let stub = Stub::start().await.unwrap();
    let client = custom_client(&stub, None, ClientAuthMethod::ClientSecretBasic).await;
    complete(&client).await.unwrap();
    let form = stub.requests("/token")[0].form();
    assert_eq!(form["client_id"], "my client");
    assert!(!form.contains_key("client_secret"));
    assert_eq!(form["code"], "the-code");
}

#[tokio::test]
async fn rejects_an_unusable_token_answer_with_status_and_redacted_body() {
    let stub = Stub::start().await.unwrap();
    let client = custom_client(&stub, None, ClientAuthMethod::ClientSecretBasic).await;
    stub.set(
        "/token",
        Canned::text(503, "text/html", "<h1>Maintenance</h1>"),
    );
    match complete(&client).await.unwrap_err() {
        Error::Response(e) => {
            assert_eq!(e.status, 503);
            assert_eq!(e.body.as_str(), "<h1>Maintenance</h1>");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_an_unreachable_provider_as_a_network_error() {
    let stub = Stub::start().await.unwrap();
    let mut p = ProviderConfig::custom(
        ClientRegistration::public("c", REDIRECT),
        &stub.url("/authorize"),
        // Port 9 (discard) on loopback: nothing listens there.
        "http://127.0.0.1:9/token",
    )
    .unwrap()
    .with_scopes(["profile"]);
    p.userinfo_endpoint = Some(stub.url("/userinfo").parse().unwrap());
    let client = OidcClient::new(p).unwrap();
    let err = complete(&client).await.unwrap_err();
    assert_eq!(err.code(), "network_error");
    assert!(matches!(err, Error::Transport(_)));
}

#[tokio::test]
async fn rejects_a_discovery_document_for_another_issuer() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/.well-known/openid-configuration",
        Canned::json(
            200,
            json!({
                "issuer": "https://evil.example", "authorization_endpoint": stub.url("/authorize"),
                "token_endpoint": stub.url("/token"), "jwks_uri": stub.url("/jwks")
            }),
        ),
    );
    let http = sipauth::HttpClient::new().unwrap();
    let err =
        ProviderConfig::discover(&http, &stub.base, ClientRegistration::public("c", REDIRECT))
            .await
            .unwrap_err();
    assert_eq!(err.code(), "discovery_issuer_mismatch");
}

#[tokio::test]
async fn rejects_a_discovery_document_with_insecure_endpoints() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/.well-known/openid-configuration",
        Canned::json(
            200,
            json!({
                "issuer": stub.base, "authorization_endpoint": stub.url("/authorize"),
                "token_endpoint": "http://idp.example.com/token", "jwks_uri": stub.url("/jwks")
            }),
        ),
    );
    let http = sipauth::HttpClient::new().unwrap();
    let err =
        ProviderConfig::discover(&http, &stub.base, ClientRegistration::public("c", REDIRECT))
            .await
            .unwrap_err();
    assert_eq!(err.code(), "insecure_url");
}
