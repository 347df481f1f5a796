//! From identity to SIP credentials: every mapping rule and password strategy with exact expected
//! values, `api_generated` against a loopback HTTP server of the test's own, the transport check,
//! a real sign-in at oidc-provider turned into credentials, and the JsSIP configuration checked by
//! JsSIP's own `UA` constructor.

use std::time::Duration;

use serde_json::{json, Value};
use sipauth::sip::client_config;
use sipauth::sip::{ApiMethod, HashAlgorithm, HmacAlgorithm};
use sipauth::{
    CredentialMapping, Error, HttpClient, MappingInput, PasswordStrategy, ProvisionedCredentials,
    SipPassword, TokenSet, UserInfo,
};
use sipauth_testkit::jssip_accepts;
use sipauth_testkit::stub::{Canned, Stub};

const WSS: &str = "wss://sip.example.com:7443";
const NOW: i64 = 1_799_996_400;

fn tokens(with_id_token: bool) -> TokenSet {
    let mut t = json!({
        "access_token": "ya29.a0AfH6SM-example-token", "token_type": "Bearer",
        "expires_in": 3600, "expires_at": NOW + 3600
    });
    if with_id_token {
        t["id_token"] = json!("eyJhbGciOiJSUzI1NiJ9.e30.sig");
    }
    serde_json::from_value(t).unwrap()
}

fn user(extra: Value) -> UserInfo {
    let mut base = json!({
        "sub": "248289761001", "email": "Test.User+tag@Example.COM", "email_verified": true,
        "name": "Test User", "preferred_username": "tuser"
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

async fn provision(
    mapping: &CredentialMapping,
    info: &UserInfo,
    tokens: &TokenSet,
) -> Result<ProvisionedCredentials, sipauth::CredentialError> {
    let input = MappingInput {
        tokens,
        user_info: info,
        issuer: Some("https://accounts.google.com"),
    };
    mapping
        .provision(&input, &HttpClient::new().unwrap(), NOW)
        .await
}

fn access_token_mapping() -> CredentialMapping {
    CredentialMapping::new("sip.example.com", WSS, PasswordStrategy::AccessToken)
}

#[tokio::test]
async fn maps_the_guide_defaults_exactly() {
    let c = provision(&access_token_mapping(), &user(json!({})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.username, "test.usertag");
    assert_eq!(c.sip_uri, "sip:test.usertag@sip.example.com");
    assert_eq!(c.display_name, "Test User");
    assert_eq!(c.realm, "sip.example.com");
    assert_eq!(c.authorization_username, "test.usertag");
    assert_eq!(c.ws_server_uri, "wss://sip.example.com:7443");
    assert_eq!(c.password.secret(), "ya29.a0AfH6SM-example-token");
    assert_eq!(c.expires_at, Some(NOW + 3600));
    assert_eq!(c.user_info.sub, "248289761001");
}

#[tokio::test]
async fn display_name_falls_back_from_claim_to_name_to_username() {
    let m = access_token_mapping().display_name_claim("nickname");
    let c = provision(&m, &user(json!({"nickname": "Tee"})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.display_name, "Tee");
    let c = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.display_name, "Test User");
    let bare: UserInfo =
        serde_json::from_value(json!({"sub": "s", "email": "bob@x.com", "email_verified": true}))
            .unwrap();
    let c = provision(&m, &bare, &tokens(false)).await.unwrap();
    assert_eq!(c.display_name, "bob");
    let m = access_token_mapping().display_name_transformer(|u| u.given_name.clone());
    let c = provision(&m, &user(json!({"given_name": "Testy"})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.display_name, "Testy");
}

#[tokio::test]
async fn sanitises_transformer_output() {
    let m = access_token_mapping().username_transformer(|u| format!("Custom_{}!", u.sub));
    let c = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.username, "custom_248289761001");
}

#[tokio::test]
async fn rejects_empty_usernames_naming_their_source() {
    let m = access_token_mapping();
    let err = provision(
        &m,
        &user(json!({"email": "李小龍@example.com"})),
        &tokens(false),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "cannot make a SIP username from email: nothing is left after keeping only a-z, 0-9, '.', '_' and '-'");
    let m = access_token_mapping().username_transformer(|_| "!!!".into());
    let err = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("username transformer"), "{err}");
    let m = access_token_mapping().username_claim("employee_id");
    let err = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    assert_eq!(Error::from(err).code(), "missing_claim");
}

#[tokio::test]
async fn numeric_claims_make_usernames() {
    let m = access_token_mapping().username_claim("id");
    let c = provision(&m, &user(json!({"id": 583231})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(c.username, "583231");
}

#[tokio::test]
async fn collision_free_usernames_differ_across_issuers() {
    let m = access_token_mapping().collision_free_usernames();
    let info = user(json!({"email": "alice@a.com"}));
    let t = tokens(false);
    let google = MappingInput {
        tokens: &t,
        user_info: &info,
        issuer: Some("https://accounts.google.com"),
    };
    let evil = MappingInput {
        tokens: &t,
        user_info: &info,
        issuer: Some("https://evil.example"),
    };
    assert_eq!(m.username_for(&google).unwrap(), "alice-4a55b20f");
    assert_eq!(m.username_for(&evil).unwrap(), "alice-165c46ec");
    // The reference's rule maps both to one SIP user (documented risk).
    let plain = access_token_mapping();
    assert_eq!(
        plain.username_for(&google).unwrap(),
        plain.username_for(&evil).unwrap()
    );
}

#[tokio::test]
async fn resolves_domain_and_websocket_per_tenant() {
    let domain_of = |u: &UserInfo| {
        u.email
            .as_ref()
            .and_then(|e| e.split('@').nth(1))
            .map(str::to_lowercase)
    };
    let m = access_token_mapping()
        .sip_domain_resolver(move |u| domain_of(u).map(|d| format!("sip.{d}")))
        .ws_server_uri_resolver(move |u| domain_of(u).map(|d| format!("wss://pbx.{d}:7443")));
    let c = provision(
        &m,
        &user(json!({"email": "jane@contoso.com"})),
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(c.sip_uri, "sip:jane@sip.contoso.com");
    assert_eq!(c.realm, "sip.contoso.com");
    assert_eq!(c.ws_server_uri, "wss://pbx.contoso.com:7443");
    let no_email: UserInfo =
        serde_json::from_value(json!({"sub": "s", "preferred_username": "x"})).unwrap();
    let m = m.username_claim("preferred_username");
    let err = provision(&m, &no_email, &tokens(false)).await.unwrap_err();
    assert_eq!(Error::from(err).code(), "resolver_failed");
}

#[tokio::test]
async fn rejects_plain_ws_for_a_non_loopback_host() {
    let m = CredentialMapping::new(
        "sip.example.com",
        "ws://sip.example.com:8080",
        PasswordStrategy::AccessToken,
    );
    let err = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    assert_eq!(Error::from(err).code(), "insecure_websocket");
    let m = CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8080",
        PasswordStrategy::AccessToken,
    );
    provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    let mut m = CredentialMapping::new(
        "sip.example.com",
        "ws://sip.example.com:8080",
        PasswordStrategy::AccessToken,
    );
    m.allow_insecure_ws = true;
    provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
}

#[tokio::test]
async fn id_token_strategy_uses_it_and_rejects_its_absence() {
    let m = CredentialMapping::new("sip.example.com", WSS, PasswordStrategy::IdToken);
    let c = provision(&m, &user(json!({})), &tokens(true))
        .await
        .unwrap();
    assert_eq!(c.password.secret(), "eyJhbGciOiJSUzI1NiJ9.e30.sig");
    let err = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    assert_eq!(Error::from(err).code(), "id_token_unavailable");
}

#[tokio::test]
async fn hash_strategy_matches_the_reference_byte_for_byte() {
    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::Hash {
            algorithm: HashAlgorithm::Sha256,
            salt: Some("pepper".into()),
        },
    );
    let c = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(
        c.password.secret(),
        "2d9e9eed85712fc00968a22ee1a2637f77e15f6e551c2293a9dd2b56bdf13dbb"
    );
    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::Hash {
            algorithm: HashAlgorithm::Sha512,
            salt: Some("pepper".into()),
        },
    );
    let c = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    assert_eq!(&c.password.secret()[..16], "ffad40ed8079b2a2");
    assert_eq!(c.password.secret().len(), 128);
}

#[tokio::test]
async fn static_and_custom_strategies() {
    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::Static {
            password: SipPassword::new("dev-only"),
        },
    );
    assert_eq!(
        provision(&m, &user(json!({})), &tokens(false))
            .await
            .unwrap()
            .password
            .secret(),
        "dev-only"
    );

    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::custom(|tokens: TokenSet, info: UserInfo| async move {
            Ok(SipPassword::new(format!(
                "{}|{}",
                info.sub,
                &tokens.access_token.secret()[..4]
            )))
        }),
    );
    assert_eq!(
        provision(&m, &user(json!({})), &tokens(false))
            .await
            .unwrap()
            .password
            .secret(),
        "248289761001|ya29"
    );

    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::custom(|_, _| async {
            Err::<SipPassword, _>("backend said no".to_string())
        }),
    );
    let err = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("backend said no"));
}

#[tokio::test]
async fn hmac_ephemeral_matches_kamailio_auth_ephemeral() {
    let m = CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::HmacEphemeral {
            secret: SipPassword::new("kamailio-shared-secret"),
            algorithm: HmacAlgorithm::Sha1,
            ttl: Duration::from_secs(3600),
        },
    )
    .username_claim("preferred_username");
    let c = provision(
        &m,
        &user(json!({"preferred_username": "alice"})),
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(c.username, "alice");
    assert_eq!(c.sip_uri, "sip:alice@sip.example.com");
    assert_eq!(c.authorization_username, "1800000000:alice");
    assert_eq!(c.password.secret(), "mBcq/yelsTAr3042QejLe//rRJc=");
    assert_eq!(c.expires_at, Some(1_800_000_000));
}

fn api_mapping(stub: &Stub, method: ApiMethod) -> CredentialMapping {
    CredentialMapping::new(
        "sip.example.com",
        WSS,
        PasswordStrategy::ApiGenerated {
            endpoint: stub.url("/sip/provision").parse().unwrap(),
            method,
            timeout: Duration::from_millis(500),
            device: None,
        },
    )
}

/// Provisions through a POST api_generated strategy that must fail; returns the error code.
async fn api_error(stub: &Stub) -> String {
    let mapping = api_mapping(stub, ApiMethod::Post);
    let err = provision(&mapping, &user(json!({})), &tokens(false))
        .await
        .unwrap_err();
    Error::from(err).code().to_string()
}

#[tokio::test]
async fn api_generated_posts_user_info_with_the_bearer_token() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/sip/provision",
        Canned::json(200, json!({"password": "from-api"})),
    );
    let c = provision(
        &api_mapping(&stub, ApiMethod::Post),
        &user(json!({})),
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(c.password.secret(), "from-api");
    let request = &stub.requests("/sip/provision")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.headers["authorization"],
        "Bearer ya29.a0AfH6SM-example-token"
    );
    assert_eq!(request.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["userInfo"]["sub"], "248289761001");
    assert_eq!(body["userInfo"]["email"], "Test.User+tag@Example.COM");
}

#[tokio::test]
async fn api_generated_gets_with_no_body_and_reads_the_guides_sip_password() {
    let stub = Stub::start().await.unwrap();
    // The guide's backend example answers sipPassword, sipDomain and wsServerUri.
    stub.set("/sip/provision", Canned::json(200, json!({
        "sipPassword": "0123abcd", "sipDomain": "pbx.contoso.com", "wsServerUri": "wss://pbx.contoso.com:7443",
        "username": "jane.doe", "realm": "contoso"
    })));
    let c = provision(
        &api_mapping(&stub, ApiMethod::Get),
        &user(json!({})),
        &tokens(false),
    )
    .await
    .unwrap();
    let request = &stub.requests("/sip/provision")[0];
    assert_eq!(request.method, "GET");
    assert!(request.body.is_empty());
    assert!(!request.headers.contains_key("content-type"));
    assert_eq!(c.password.secret(), "0123abcd");
    assert_eq!(c.sip_uri, "sip:jane.doe@pbx.contoso.com");
    assert_eq!(c.ws_server_uri, "wss://pbx.contoso.com:7443");
    assert_eq!(c.realm, "contoso");
    assert_eq!(c.authorization_username, "jane.doe");
}

#[tokio::test]
async fn rejects_api_errors_with_their_status() {
    for status in [401u16, 403, 500, 503] {
        let stub = Stub::start().await.unwrap();
        stub.set(
            "/sip/provision",
            Canned::json(status, json!({"error": "nope"})),
        );
        let err = provision(
            &api_mapping(&stub, ApiMethod::Post),
            &user(json!({})),
            &tokens(false),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, sipauth::CredentialError::ApiStatus { status: s, .. } if s == status),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn rejects_api_answers_without_a_password_or_with_unsafe_overrides() {
    let stub = Stub::start().await.unwrap();
    stub.set("/sip/provision", Canned::json(200, json!({"pass": "typo"})));
    assert_eq!(api_error(&stub).await, "password_strategy_failed");
    stub.set(
        "/sip/provision",
        Canned::json(
            200,
            json!({"password": "p", "wsServerUri": "ws://pbx.evil.example"}),
        ),
    );
    assert_eq!(api_error(&stub).await, "insecure_websocket");
    stub.set(
        "/sip/provision",
        Canned::json(200, json!({"password": "p", "username": "Bad User@x"})),
    );
    assert_eq!(api_error(&stub).await, "invalid_username");
    // The realm and the digest username go quoted into SIP headers.
    for hostile in [
        json!({"password": "p", "realm": "x\", nonce=\"evil"}),
        json!({"password": "p", "authorizationUsername": "a\r\nVia: evil"}),
        json!({"password": "p", "authorizationUsername": "a".repeat(300)}),
    ] {
        stub.set("/sip/provision", Canned::json(200, hostile.clone()));
        assert_eq!(api_error(&stub).await, "invalid_sip_value", "{hostile}");
    }
}

#[tokio::test]
async fn rejects_a_slow_api_with_a_timeout() {
    let stub = Stub::start().await.unwrap();
    stub.set(
        "/sip/provision",
        Canned::json(200, json!({"password": "late"})).delayed(Duration::from_secs(3)),
    );
    assert_eq!(api_error(&stub).await, "password_api_timeout");
}

#[tokio::test]
async fn client_configurations_have_the_documented_shapes() {
    let c = provision(
        &access_token_mapping().username_claim("preferred_username"),
        &user(json!({})),
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(
        client_config::sip_config(&c),
        json!({
            "uri": "wss://sip.example.com:7443", "sipUri": "sip:tuser@sip.example.com",
            "password": "ya29.a0AfH6SM-example-token", "displayName": "Test User",
            "authorizationUsername": "tuser", "realm": "sip.example.com"
        })
    );
    assert_eq!(
        client_config::sipjs_config(&c)["transportOptions"]["server"],
        "wss://sip.example.com:7443"
    );
    assert_eq!(
        client_config::sipjs_config(&c)["authorizationPassword"],
        "ya29.a0AfH6SM-example-token"
    );
    assert_eq!(
        client_config::baresip_account(&c),
        "\"Test User\" <sip:tuser@sip.example.com>;auth_user=tuser;auth_pass=ya29.a0AfH6SM-example-token;outbound=\"sip:sip.example.com:7443;transport=wss\";regint=3600"
    );
}

#[tokio::test]
async fn jssip_accepts_the_generated_configuration() {
    let c = provision(&access_token_mapping(), &user(json!({})), &tokens(false))
        .await
        .unwrap();
    let config = client_config::jssip_config(&c);
    let seen = jssip_accepts(&config).unwrap();
    assert_eq!(seen["uri"], "sip:test.usertag@sip.example.com");
    assert_eq!(seen["authorization_user"], "test.usertag");
    // The harness can fail: JsSIP refuses a broken URI.
    let mut broken = config.clone();
    broken["uri"] = json!("sip:@@");
    assert!(jssip_accepts(&broken).unwrap_err().contains("uri"));
}

#[tokio::test]
async fn jssip_accepts_ephemeral_credentials_with_a_colon_in_the_auth_user() {
    let m = CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8080",
        PasswordStrategy::HmacEphemeral {
            secret: SipPassword::new("s"),
            algorithm: HmacAlgorithm::Sha256,
            ttl: Duration::from_secs(60),
        },
    );
    let c = provision(&m, &user(json!({})), &tokens(false))
        .await
        .unwrap();
    let seen = jssip_accepts(&client_config::jssip_config(&c)).unwrap();
    assert_eq!(
        seen["authorization_user"],
        format!("{}:test.usertag", NOW + 60)
    );
}

#[tokio::test]
async fn a_real_sign_in_becomes_credentials() {
    use sipauth::{AuthorizationOptions, ClientRegistration, OidcClient, ProviderConfig};
    use sipauth_testkit::browser::Browser;
    const REDIRECT: &str = "http://127.0.0.1:5556/callback";
    let http = HttpClient::new().unwrap();
    let registration = ClientRegistration::public(sipauth_testkit::clients::PUBLIC, REDIRECT);
    let provider = ProviderConfig::discover(&http, &sipauth_testkit::oidc_issuer(), registration)
        .await
        .unwrap();
    let client = OidcClient::builder(provider).http(http).build().unwrap();
    let request = client
        .authorization_request(&AuthorizationOptions::default())
        .unwrap();
    let callback = Browser::new()
        .unwrap()
        .sign_in(request.url.as_str(), "dave", REDIRECT)
        .await
        .unwrap();
    let sign_in = client.handle_callback(&callback).await.unwrap();
    let mapping = CredentialMapping::new(
        "sip.example.com",
        "ws://127.0.0.1:8088",
        PasswordStrategy::AccessToken,
    )
    .collision_free_usernames();
    let c = mapping.provision_sign_in(&client, &sign_in).await.unwrap();
    assert!(c.username.starts_with("dave-"), "{}", c.username);
    assert_eq!(c.display_name, "Dave Example");
    assert_eq!(c.password.secret(), sign_in.tokens.access_token.secret());
    jssip_accepts(&client_config::jssip_config(&c)).unwrap();
}

#[tokio::test]
async fn rejects_usernames_from_unverified_emails() {
    for verified in [json!(false), json!(null)] {
        let info = user(json!({ "email_verified": verified }));
        let err = provision(&access_token_mapping(), &info, &tokens(false))
            .await
            .unwrap_err();
        assert_eq!(sipauth::Error::from(err).code(), "unverified_email");
        // Collision-free: the readable part never comes from the unverified email.
        let c = provision(
            &access_token_mapping().collision_free_usernames(),
            &info,
            &tokens(false),
        )
        .await
        .unwrap();
        assert!(c.username.starts_with("tuser-"), "{}", c.username);
    }
    let only_email: UserInfo =
        serde_json::from_value(json!({"sub": "s", "email": "x@evil.example"})).unwrap();
    let err = provision(
        &access_token_mapping().collision_free_usernames(),
        &only_email,
        &tokens(false),
    )
    .await
    .unwrap_err();
    assert_eq!(sipauth::Error::from(err).code(), "unverified_email");
    // Allowed explicitly, or from another claim, it maps.
    let info = user(json!({ "email_verified": false }));
    let c = provision(
        &access_token_mapping().allow_unverified_email(),
        &info,
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(c.username, "test.usertag");
    let c = provision(
        &access_token_mapping().username_claim("preferred_username"),
        &info,
        &tokens(false),
    )
    .await
    .unwrap();
    assert_eq!(c.username, "tuser");
}

#[tokio::test]
async fn rejects_one_sip_identity_for_two_people_on_a_multi_tenant_provider() {
    // The guide's plain local part maps both to one user; collision-free keeps them apart.
    let zoe = user(json!({ "sub": "zoe-1", "email": "Zoe.Angstrom+voip@Example.ORG" }));
    let evil = user(json!({ "sub": "evil-2", "email": "zoe.angstrom+voip@evil.example" }));
    let plain = access_token_mapping();
    let a = provision(&plain, &zoe, &tokens(false)).await.unwrap();
    let b = provision(&plain, &evil, &tokens(false)).await.unwrap();
    assert_eq!(
        a.sip_uri, b.sip_uri,
        "the plain rule collides, as documented"
    );
    let free = access_token_mapping().collision_free_usernames();
    let a = provision(&free, &zoe, &tokens(false)).await.unwrap();
    let b = provision(&free, &evil, &tokens(false)).await.unwrap();
    assert_ne!(a.sip_uri, b.sip_uri);
    assert!(
        a.username.starts_with("zoe.angstromvoip-"),
        "{}",
        a.username
    );
    let google = sipauth::ProviderTemplate::Google
        .build(sipauth::ClientRegistration::public(
            "g",
            "http://127.0.0.1/cb",
        ))
        .unwrap();
    assert!(google.is_multi_tenant());
}
