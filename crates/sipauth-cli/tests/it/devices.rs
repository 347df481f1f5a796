//! Credentials per device at a real Kamailio 5.6: `sipauth serve --credentials per-device`, two
//! devices of one person signed in with `sipauth login --device-name` (oidc-provider), each with
//! its own digest user under the person's one SIP URI; both register; the cap refuses a third
//! (409); the person lists and revokes one through the API and only that one stops
//! registering; a device's credentials never register as someone else (the routing script's
//! owner check, testenv/kamailio/kamailio.cfg).

use serde_json::{json, Value};

use crate::common::service::{login_with_api_strategy, Service};
use crate::common::Env;
use crate::kamailio::{register_check, service_and_kamailio_rpc, DOMAIN};

/// A fresh access token of the profile in `env`.
async fn token(env: &Env) -> String {
    let out = env.run(&["token"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn api(
    service: &Service,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", service.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn each_device_registers_with_its_own_credentials_and_is_revoked_alone() {
    let env = Env::new("devices");
    let (service, kamailio) =
        service_and_kamailio_rpc(&env, &["--credentials", "per-device", "--max-devices", "2"])
            .await;
    let ws = kamailio.ws_uri.clone();
    let phone = Env::new("devices-phone");
    let laptop = Env::new("devices-laptop");
    let on_phone = login_with_api_strategy(
        &phone,
        &service,
        "dara",
        DOMAIN,
        &["--device-name", "Dara's phone"],
    )
    .await;
    let on_laptop = login_with_api_strategy(
        &laptop,
        &service,
        "dara",
        DOMAIN,
        &["--device-name", "Laptop"],
    )
    .await;
    // One SIP URI, two digest users and passwords.
    assert_eq!(on_phone["sipUri"], on_laptop["sipUri"]);
    let phone_user = on_phone["authorizationUsername"]
        .as_str()
        .unwrap()
        .to_string();
    let laptop_user = on_laptop["authorizationUsername"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(phone_user.starts_with("dara~") && laptop_user.starts_with("dara~"));
    assert_ne!(phone_user, laptop_user);
    assert_ne!(on_phone["password"], on_laptop["password"]);
    // Both register, side by side, and stay registered.
    let (code, doc) = register_check(&phone, &["--keep"], None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    let (code, doc) = register_check(&laptop, &["--keep"], None).await;
    assert_eq!(code, 0, "{doc}\n{}", kamailio.log());
    let aor = format!("dara@{DOMAIN}");
    assert_eq!(kamailio.contact_count(&aor).await, 2, "{}", kamailio.log());
    // JsSIP too, with the configuration the command prints for the laptop (its digest user).
    let jssip = laptop.run(&["credentials", "--format", "jssip"]).await;
    let (code, report) =
        crate::kamailio::jssip_register(&String::from_utf8_lossy(&jssip.stdout)).await;
    assert_eq!(code, 0, "JsSIP: {report}\n{}", kamailio.log());

    // A third device is refused at the cap, saying so.
    let phone_token = token(&phone).await;
    let (status, refused) = api(
        &service,
        reqwest::Method::POST,
        "/api/sip/provision",
        &phone_token,
        Some(json!({"device": {"name": "Tablet"}})),
    )
    .await;
    assert_eq!(
        (status, &refused["error"]),
        (409, &json!("too_many_devices"))
    );

    // The person lists their devices and revokes the phone: only the phone stops.
    let (status, listed) = api(
        &service,
        reqwest::Method::GET,
        "/api/sip/devices",
        &phone_token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let devices = listed["devices"].as_array().unwrap();
    let mut names: Vec<&str> = devices
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Dara's phone", "Laptop"]);
    let phone_device = devices
        .iter()
        .find(|d| d["name"] == "Dara's phone")
        .unwrap();
    assert!(phone_device["userAgent"]
        .as_str()
        .is_some_and(|ua| !ua.is_empty()));
    assert_eq!(phone_device["authorizationUsername"], phone_user.as_str());
    let id = phone_device["id"].as_str().unwrap();
    let (status, _) = api(
        &service,
        reqwest::Method::DELETE,
        &format!("/api/sip/devices/{id}"),
        &phone_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    // The phone's registration ended at once; the laptop's stays.
    assert_eq!(kamailio.contact_count(&aor).await, 1, "{}", kamailio.log());
    let (status, again) = api(
        &service,
        reqwest::Method::DELETE,
        &format!("/api/sip/devices/{id}"),
        &phone_token,
        None,
    )
    .await;
    assert_eq!((status, &again["error"]), (404, &json!("not_found")));
    let (code, doc) = register_check(&phone, &[], None).await;
    assert_eq!(code, 9, "the revoked phone is refused: {doc}");
    let (code, doc) = register_check(&laptop, &[], None).await;
    assert_eq!(
        code,
        0,
        "the laptop still registers: {doc}\n{}",
        kamailio.log()
    );

    // The laptop's credentials never register as someone else.
    let laptop_password = on_laptop["password"].as_str().unwrap();
    let (code, doc) = register_check(
        &laptop,
        &[
            "--ws-uri",
            &ws,
            "--username",
            "erin",
            "--domain",
            DOMAIN,
            "--auth-username",
            &laptop_user,
        ],
        Some(laptop_password),
    )
    .await;
    assert_eq!(code, 9, "{doc}\n{}", kamailio.log());

    // The command lists the person's devices; the operator sees them too.
    let out = laptop.run(&["--json", "devices"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mine: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mine["devices"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["devices"][0]["authorizationUsername"], laptop_user);
    let out = env
        .run(&[
            "admin",
            "--json",
            "--database",
            &service.database,
            "devices",
            "dara",
        ])
        .await;
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs[0]["name"], "Laptop", "{theirs}");
    // The operator revokes the laptop: it stops registering; a second time finds none (8).
    let laptop_id = theirs[0]["id"].as_str().unwrap();
    let revoke = [
        "admin",
        "--database",
        &service.database,
        "revoke-device",
        "dara",
        laptop_id,
    ];
    let out = env.run(&revoke).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.run(&revoke).await.status.code(), Some(8));
    let (code, doc) = register_check(&laptop, &[], None).await;
    assert_eq!(code, 9, "the revoked laptop is refused: {doc}");
    // The person's own revoke of a device that is gone: not found (8).
    let out = laptop.run(&["devices", "revoke", laptop_id]).await;
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CSRF token in a signed-in page's forms.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with its CSRF token")
        + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_account_page_lists_adds_and_revokes_devices() {
    use crate::lifecycle::{account_page, http, serve_with_web_client, web_sign_in};
    let env = Env::new("devices-web");
    let (service, base, _) = serve_with_web_client(
        &env,
        &["--sip-domain", DOMAIN, "--credentials", "per-device"],
    )
    .await;
    let session = web_sign_in(
        &base,
        &sipauth_testkit::browser::Browser::new().unwrap(),
        "wes",
    )
    .await;
    let page = |session: String| {
        let base = base.clone();
        async move { account_page(&base, &session).await.1 }
    };
    let first = page(session.clone()).await;
    assert!(first.contains("id=\"devices\""), "{first}");
    assert!(
        first.contains("Web sign-in page"),
        "the page's own device: {first}"
    );
    let csrf = csrf_of(&first);
    let add = |name: &'static str, csrf: String| {
        let (base, session) = (base.clone(), session.clone());
        async move {
            http()
                .post(format!("{base}/account/devices"))
                .header("cookie", session)
                .form(&[("csrf", csrf.as_str()), ("name", name)])
                .send()
                .await
                .unwrap()
        }
    };
    // Added: its own digest user and password, shown on a page of their own.
    let added = add("Kitchen phone", csrf.clone()).await;
    assert_eq!(added.status(), 200);
    let added = added.text().await.unwrap();
    assert!(
        added.contains("id=\"device-auth-username\">wes~"),
        "{added}"
    );
    // A forged form is refused.
    assert_eq!(add("Evil", "forged".into()).await.status(), 403);
    let listed = page(session.clone()).await;
    assert!(listed.contains("Kitchen phone"), "{listed}");
    // Revoked from the page: gone from it, and from the service.
    let out = env
        .run(&[
            "admin",
            "--json",
            "--database",
            &service.database,
            "devices",
            "wes",
        ])
        .await;
    let devices: Value = serde_json::from_slice(&out.stdout).unwrap();
    let desk = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Kitchen phone")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = http()
        .post(format!("{base}/account/devices/{desk}/revoke"))
        .header("cookie", session.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    let after = page(session).await;
    assert!(!after.contains("Kitchen phone"), "{after}");
    assert!(after.contains("Web sign-in page"));
}
