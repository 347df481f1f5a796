//! The SCIM service provider as identity providers use it: the exact requests Entra ID and Okta
//! document (their quirks included), the effect on a real sign-in at the development provider
//! (SIP access, web sessions), SCIM's own errors, and scim2-tester's compliance check (PyPI,
//! pinned in `testenv/scim`). Served by the real accept loop.

use reqwest::Method;
use serde_json::{json, Value};

use super::dev_idp::{
    code_for, deliver_callback, dev_service_with, exchange, http, web_sign_in_until_callback,
    VERIFIER,
};

const SECRET: &str = "a-scim-secret-for-the-test-suite-0001";

/// A running service with the development provider and its SCIM directory on.
async fn scim_service() -> (String, sipauth_provision::Database) {
    let file = std::env::temp_dir().join(format!(
        "sipauth-scim-secret-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    dev_service_with(|c| {
        if let Some(dev) = c.dev.as_mut() {
            dev.scim_token_file = Some(file);
        }
    })
    .await
}

/// A SCIM request with the secret; the status, content type and JSON body (Null when none).
async fn scim(base: &str, method: Method, path: &str, body: Option<Value>) -> (u16, String, Value) {
    scim_as(base, method, path, body, Some(SECRET)).await
}

async fn scim_as(
    base: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> (u16, String, Value) {
    let mut request = http().request(method, format!("{base}/scim/v2{path}"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = answer.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, kind, json)
}

/// Carol signs in at the development provider (`sub` = `carol`): her access token.
async fn carol_token(base: &str) -> String {
    let redirect = "http://127.0.0.1:41414/callback";
    let params = code_for(base, redirect).await;
    let (status, tokens) = exchange(base, &params["code"], redirect, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn provision(base: &str, token: &str) -> (u16, Value) {
    let answer = http()
        .post(format!("{base}/api/sip/provision"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

async fn subscriber_rows(db: &sipauth_provision::Database, username: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM subscriber WHERE username = $1")
        .bind(username.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Okta's "create user" request (developer.okta.com, SCIM 2.0 protocol reference), for carol.
fn okta_user(active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol.danvers@okta.local",
        "name": {"givenName": "Carol", "familyName": "Danvers"},
        "emails": [{"primary": true, "value": "carol.danvers@okta.local", "type": "work"}],
        "displayName": "Carol Danvers",
        "locale": "en-US",
        "externalId": "carol",
        "groups": [],
        "password": "1mz050nq",
        "active": active
    })
}

#[tokio::test]
async fn okta_pushes_a_person_before_sign_in_and_the_sign_in_gets_that_account() {
    let (base, db) = scim_service().await;
    let (status, kind, user) = scim(&base, Method::POST, "/Users", Some(okta_user(true))).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(kind, "application/scim+json");
    assert!(
        user.get("password").is_none(),
        "a password is never kept: {user}"
    );
    assert_eq!(user["meta"]["resourceType"], "User");
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(
        user["meta"]["location"],
        format!("{base}/scim/v2/Users/{id}")
    );
    // Okta's existence check, in another case.
    let (status, _, list) = scim(
        &base,
        Method::GET,
        "/Users?filter=userName%20eq%20%22Carol.Danvers@okta.local%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    // Her sign-in gets the account the push made, named from userName.
    let token = carol_token(&base).await;
    let (status, creds) = provision(&base, &token).await;
    assert_eq!(status, 200, "{creds}");
    assert_eq!(creds["username"], "carol.danvers");
    assert_eq!(subscriber_rows(&db, "carol.danvers").await, 1);
    // Okta deactivates by PUT: SIP access ends in the answer's transaction.
    let (status, _, after) = scim(
        &base,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(okta_user(false)),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["active"], false);
    assert_eq!(subscriber_rows(&db, "carol.danvers").await, 0);
    let (status, refused) = provision(&base, &token).await;
    assert_eq!(status, 403);
    assert_eq!(refused["error"], "account_disabled");
    // And re-activates by PATCH without a path.
    let (status, _, _) = scim(
        &base,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": true}}]
        })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, again) = provision(&base, &token).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["password"], creds["password"], "a new generation");
    let metrics = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sipauth_lifecycle_events_total{event=\"scim_deactivate\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn entra_ids_documented_requests_and_quirks_work() {
    // learn.microsoft.com: "Tutorial: Develop and plan provisioning for a SCIM endpoint in
    // Microsoft Entra ID", request and response examples; and the non-compliant forms it sends
    // without the `aadOptscim062020` flag.
    let (base, db) = scim_service().await;
    let (status, _, none) = scim(
        &base,
        Method::GET,
        "/Users?filter=userName+eq+%22non-existent%20user%22",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(none["totalResults"], 0);
    let create = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    });
    let (status, _, user) = scim(&base, Method::POST, "/Users", Some(create)).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_string();
    let username: String = sqlx::query_scalar("SELECT username FROM sipauth_account")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(username, "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e");
    let patch = |ops: Value| {
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
        )
    };
    let (status, _, after) = scim(
        &base,
        Method::PATCH,
        &format!("/Users/{id}"),
        patch(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
        ])),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(after["name"]["familyName"], "updatedFamilyName");
    for quirk in [
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
        json!([{"op": "Replace", "value": {"active": "False"}}]),
    ] {
        let (status, _, after) =
            scim(&base, Method::PATCH, &format!("/Users/{id}"), patch(quirk)).await;
        assert_eq!(status, 200, "{after}");
        assert_eq!(after["active"], false, "a string boolean is a boolean");
    }
    // Groups: create, add and remove members the way Entra ID writes them.
    let (status, _, group) = scim(
        &base,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"}
        })),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let (status, _, with) = scim(
        &base,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}])),
    )
    .await;
    assert_eq!(status, 200, "{with}");
    assert_eq!(with["members"][0]["value"], id.as_str());
    let (_, _, member) = scim(&base, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(member["groups"][0]["display"], "displayName");
    let (status, _, found) = scim(
        &base,
        Method::GET,
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22displayName%22",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none(), "{found}");
    let (status, _, without) = scim(
        &base,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}])),
    )
    .await;
    assert_eq!(status, 200);
    assert!(without.get("members").is_none(), "{without}");
    // Delete: 204, then 404 as a SCIM error.
    let (status, _, _) = scim(&base, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, kind, gone) = scim(&base, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((status, kind.as_str()), (404, "application/scim+json"));
    assert_eq!(gone["status"], "404");
    assert_eq!(
        gone["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
}

#[tokio::test]
async fn rejects_scim_calls_without_the_issuers_secret() {
    let (base, _) = scim_service().await;
    let token = carol_token(&base).await;
    for bearer in [
        None,
        Some("a-wrong-secret-of-enough-length"),
        Some(token.as_str()),
    ] {
        let (status, _, error) = scim_as(&base, Method::GET, "/Users", None, bearer).await;
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(error["status"], "401");
    }
    // The SCIM secret is no user token.
    let (status, error) = provision(&base, SECRET).await;
    assert_eq!(status, 401, "{error}");
}

#[tokio::test]
async fn rejects_malformed_scim_requests_with_scim_errors() {
    let (base, _) = scim_service().await;
    let (status, _, error) = scim(
        &base,
        Method::GET,
        "/Users?filter=userName%20zz%20%22a%22",
        None,
    )
    .await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
    let answer = http()
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["scimType"], "invalidSyntax");
    let (status, _, user) = scim(&base, Method::POST, "/Users", Some(okta_user(true))).await;
    assert_eq!(status, 201);
    let mut twin = okta_user(true);
    twin["userName"] = json!("CAROL.DANVERS@OKTA.LOCAL");
    twin["externalId"] = json!("someone-else");
    let (status, _, error) = scim(&base, Method::POST, "/Users", Some(twin)).await;
    assert_eq!(
        (status, error["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    // A stale If-Match is refused, not applied.
    let answer = http()
        .put(format!(
            "{base}/scim/v2/Users/{}",
            user["id"].as_str().unwrap()
        ))
        .bearer_auth(SECRET)
        .header("if-match", "W/\"999\"")
        .body(okta_user(false).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 412);
    let huge = format!(
        "{{\"userName\": \"{}\"}}",
        "a".repeat(sipauth_server::MAX_SCIM_BODY)
    );
    let answer = http()
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(SECRET)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}

#[tokio::test]
async fn a_deactivation_ends_the_persons_web_sessions() {
    let (base, _) = scim_service().await;
    let (callback, cookie) = web_sign_in_until_callback(&base).await;
    let answer = deliver_callback(&callback, cookie).await;
    assert_eq!(answer.status(), 303);
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("sipauth_session="))
        .unwrap();
    let account = |session: String| {
        let base = base.clone();
        async move {
            http()
                .get(format!("{base}/account"))
                .header("cookie", session)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(account(session.clone()).await, 200);
    let (status, _, user) = scim(&base, Method::POST, "/Users", Some(okta_user(false))).await;
    assert_eq!(status, 201, "{user}");
    assert_ne!(
        account(session).await,
        200,
        "signed out by the provider's word"
    );
}

/// scim2-tester from `testenv/install.sh` (PyPI, pinned in `testenv/scim`).
fn scim_checker() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testenv/scim");
    let python = dir.join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run testenv/install.sh",
        python.display()
    );
    (python, dir.join("check.py"))
}

#[tokio::test]
async fn the_scim_compliance_checker_passes_every_check() {
    let (base, _) = scim_service().await;
    let (python, script) = scim_checker();
    let mut command = std::process::Command::new(python);
    command
        .arg(script)
        .arg(format!("{base}/scim/v2"))
        .env("SCIM_TOKEN", SECRET);
    // Off the runtime: the service under test runs on it.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" 0 not passed"), "{report}");
}
