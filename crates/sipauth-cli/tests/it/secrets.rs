//! No secret leaks, proven on the whole path at `SIPAUTH_LOG=trace`: `sipauth serve --dev` (the
//! development provider, the web page), `sipauth login` with the `api` strategy against it,
//! `token`, `credentials`, `status`, `register-check` at a real Kamailio, `logout`, every `admin`
//! command, `/metrics`, and the error
//! answers of the API. Every secret that passed (authorization codes, access, refresh and ID
//! tokens, the PKCE verifier of the stored sign-in, SIP passwords, HA1 values, the
//! server secret, the development key, web session ids, CSRF tokens) is collected from where
//! it is designated to live, and none may appear in any log line, `/metrics`, the audit table,
//! an error body, or any file other than the designated ones (which are 0600).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use sipauth_testkit::kamailio::{Kamailio, KamailioAuth};

use crate::common::service::{spawn_service, Service};
use crate::common::{start_login, Env};

/// What a test collects: the secrets, and the text they must not be in (with where it is from).
#[derive(Default)]
struct Audit {
    secrets: BTreeSet<String>,
    haystacks: Vec<(String, String)>,
}

impl Audit {
    fn secret(&mut self, value: impl Into<String>) {
        let value = value.into();
        // Short values (a username, `true`) are not secrets worth looking for.
        if value.len() >= 12 {
            self.secrets.insert(value);
        }
    }

    fn look_in(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.haystacks.push((what.into(), text.into()));
    }

    /// Every string value under these keys, anywhere in `doc`.
    fn secrets_in_json(&mut self, doc: &Value, keys: &[&str]) {
        match doc {
            Value::Object(map) => {
                for (k, v) in map {
                    if let (true, Some(s)) = (keys.contains(&k.as_str()), v.as_str()) {
                        self.secret(s);
                    }
                    self.secrets_in_json(v, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.secrets_in_json(v, keys)),
            _ => {}
        }
    }

    fn assert_clean(&self) {
        assert!(
            self.secrets.len() >= 10,
            "too few secrets collected: {}",
            self.secrets.len()
        );
        for secret in &self.secrets {
            // The whole value, and its first 16 characters (a truncated log line leaks too).
            let head: String = secret.chars().take(16).collect();
            for (what, text) in &self.haystacks {
                if let Some(at) = text.find(&head) {
                    // What precedes it says which line leaked it (the secret itself is not shown).
                    let before: String = text[..at].chars().rev().take(120).collect();
                    let before: String = before.chars().rev().collect();
                    panic!(
                        "a secret ({}…) appears in {what}, after: {before}",
                        &head[..6]
                    );
                }
            }
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `Set-Cookie` values of an answer, by name.
fn cookies(answer: &reqwest::Response) -> Vec<(String, String)> {
    answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split(start)
        .nth(1)
        .and_then(|r| r.split(end).next())
        .unwrap_or_else(|| panic!("{start} in {text}"))
}

/// Signs `user` in at the development provider's login page behind `authorize`: the redirect
/// back, with the code.
async fn at_the_provider(issuer: &str, authorize: &str, user: &str) -> String {
    let page = http()
        .get(authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = between(&page, "name=\"request\" value=\"", "\"").to_string();
    let answer = http()
        .post(format!("{issuer}/login"))
        .form(&[("request", request.as_str()), ("user", user)])
        .send()
        .await
        .unwrap();
    answer.headers()["location"].to_str().unwrap().to_string()
}

fn code_of(location: &str) -> String {
    sipauth_testkit::browser::query_param(location, "code").unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn no_secret_leaks_anywhere_on_the_whole_path_at_trace() {
    let mut audit = Audit::default();
    let server = Env::new("leak-server").traced();
    let database = server
        .dir
        .join("data")
        .join("server.db")
        .display()
        .to_string();
    let secret_file = server.dir.join("etc").join("server.secret");
    let serve = |extra: Vec<String>| {
        let mut args: Vec<String> = [
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--secret-file",
            secret_file.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra);
        args
    };
    // The service first (its migrations make the table Kamailio reads), then Kamailio on its
    // file, then the service again naming Kamailio's WebSocket server.
    let args = serve(Vec::new());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first: Service = spawn_service(&server, &args, database.clone()).await;
    audit.look_in(
        "the first service's log",
        first.log.lock().unwrap().join("\n"),
    );
    drop(first);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(database.clone().into()))
        .await
        .unwrap();
    let args = serve(vec!["--ws-uri".into(), kamailio.ws_uri.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut service: Service = spawn_service(&server, &args, database.clone()).await;
    let base = service.base.clone();
    let issuer = format!("{base}/dev-idp");

    // The web page: sign in as alice, see the account page, sign out.
    let start = http()
        .get(format!("{base}/auth/login/0"))
        .send()
        .await
        .unwrap();
    let flow_cookie = cookies(&start).into_iter().next().unwrap();
    audit.secret(flow_cookie.1.clone());
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let back = at_the_provider(&issuer, &authorize, "alice").await;
    audit.secret(code_of(&back));
    let callback = http()
        .get(&back)
        .header("cookie", format!("{}={}", flow_cookie.0, flow_cookie.1))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 303);
    let session_cookie = cookies(&callback)
        .into_iter()
        .find(|(k, _)| k.ends_with("sipauth_session"))
        .unwrap();
    audit.secret(session_cookie.1.clone());
    let cookie = format!("{}={}", session_cookie.0, session_cookie.1);
    let page = http()
        .get(format!("{base}/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The account page is where the person's own password is shown: a designated place.
    audit.secret(between(&page, "id=\"sip-password\">", "<"));
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_string();
    audit.secret(csrf.clone());
    let out = http()
        .post(format!("{base}/auth/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);

    // The command: sign in as bob with the api strategy, then everything a user runs.
    let client = Env::new("leak-client").traced();
    let endpoint = format!("{base}/api/sip/provision");
    let (child, url, rest) = start_login(
        &client,
        &[
            "--json",
            "--issuer",
            &issuer,
            "--client-id",
            "sipauth-dev",
            "--scope",
            "openid email profile offline_access",
            "--password-strategy",
            "api",
            "--api-endpoint",
            &endpoint,
        ],
    )
    .await;
    let mut verifiers = 0;
    // The stored sign-in, before the callback: its PKCE verifier (the state and nonce travel
    // in the authorization URL the command prints for the person: not secrets from its log).
    for file in files_under(&client.dir.join("data")) {
        if file.to_string_lossy().contains("pending") && !file.to_string_lossy().ends_with(".lock")
        {
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            audit.secrets_in_json(&doc, &["pkce_verifier"]);
            verifiers += 1;
        }
    }
    assert_eq!(
        verifiers, 1,
        "the stored sign-in, with its verifier, was found"
    );
    let back = at_the_provider(&issuer, &url, "bob").await;
    audit.secret(code_of(&back));
    reqwest::get(&back).await.unwrap();
    let login = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let login_log = rest.await.unwrap();
    assert_eq!(login.status.code(), Some(0), "{login_log}");
    let creds: Value = serde_json::from_slice(&login.stdout).unwrap();
    audit.secret(creds["password"].as_str().unwrap());
    audit.look_in("sipauth login's log", login_log);

    let stored = client.stored();
    audit.secrets_in_json(
        &stored,
        &["access_token", "refresh_token", "id_token", "password"],
    );
    assert!(
        stored["tokens"]["refresh_token"].is_string(),
        "offline_access gave a refresh token"
    );

    // Time passes (the stored access token expires): the next `token` refreshes, rotating the
    // refresh token, all at trace.
    let session_file = client.dir.join("data").join("sipauth_session.json");
    let mut aged = stored.clone();
    aged["tokens"]["expires_at"] = Value::from(1);
    std::fs::write(&session_file, aged.to_string()).unwrap();
    let out = client.run(&["token", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    audit.look_in(
        "sipauth token's log (refreshing)",
        String::from_utf8_lossy(&out.stderr),
    );
    let refreshed = client.stored();
    assert_ne!(
        refreshed["tokens"]["refresh_token"], stored["tokens"]["refresh_token"],
        "the refresh happened"
    );
    audit.secrets_in_json(
        &refreshed,
        &["access_token", "refresh_token", "id_token", "password"],
    );

    for args in [
        &["token", "--json"][..],
        &["credentials", "--format", "json"],
        &["credentials", "--format", "table", "--show-password"],
        &["status", "--json"],
        &["register-check", "--json", "--timeout", "10"],
    ] {
        let out = client.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] == "register-check" {
            // It registers with the password: its report says so without it.
            audit.look_in(
                "register-check's report",
                String::from_utf8_lossy(&out.stdout),
            );
        }
        // Standard output is where the command hands secrets over, on purpose; the log is not.
        audit.look_in(
            format!("sipauth {args:?} log"),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    // The API's error answers, with a real token and without.
    let access = stored["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (token, body) in [
        (access.as_str(), "{\"userInfo\": ["),
        ("a-garbage-token-that-is-long-enough", ""),
        (access.as_str(), "[]"),
    ] {
        let answer = http()
            .post(&endpoint)
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_client_error());
        audit.look_in("an error body of the API", answer.text().await.unwrap());
    }

    let out = client.run(&["logout", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    audit.look_in("sipauth logout's log", String::from_utf8_lossy(&out.stderr));

    // Every admin command, on the service's database.
    let admin = |action: &[&str]| {
        let mut args = vec!["admin", "--database", database.as_str(), "--secret-file"];
        args.push(secret_file.to_str().unwrap());
        args.extend_from_slice(action);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    for action in [
        &["list"][..],
        &["show", "alice"],
        &["rotate", "alice"],
        &["disable", "alice"],
        &["enable", "alice"],
        &["audit"],
        &["delete", "bob"],
        &["show", "nobody"],
    ] {
        let args = admin(action);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = server.run(&args).await;
        audit.look_in(
            format!("sipauth admin {action:?}"),
            String::from_utf8_lossy(&out.stdout),
        );
        audit.look_in(
            format!("sipauth admin {action:?} log"),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    // What the service holds: the secret, its key, HA1 values.
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    audit.secret(secret.trim());
    let db = sipauth_provision::Database::open(&database).await.unwrap();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT password, ha1, ha1b FROM subscriber")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert!(!rows.is_empty());
    for (password, ha1, ha1b) in rows {
        audit.secret(password);
        audit.secret(ha1);
        audit.secret(ha1b);
    }
    let key_file = files_under(&server.dir)
        .into_iter()
        .find(|f| f.ends_with("dev-idp.key"))
        .expect("the development key");
    // The key is binary (DER): it would leak as base64 or hex.
    {
        use base64::Engine;
        let key = std::fs::read(&key_file).unwrap();
        // Past the DER header bytes every key of this kind shares.
        let private = &key[key.len().min(40)..];
        audit.secret(base64::engine::general_purpose::STANDARD.encode(private));
        audit.secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(private));
        audit.secret(
            private
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        );
    }
    // Every column, as text.
    let audit_rows: Vec<(String,)> = sqlx::query_as(
        "SELECT COALESCE(issuer, '') || ' ' || COALESCE(subject, '') || ' ' || COALESCE(username, '') || ' ' || action || ' ' || outcome || ' ' || COALESCE(client_ip, '') FROM sipauth_audit",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(audit_rows.len() > 5);
    audit.look_in("the audit table", format!("{audit_rows:?}"));
    let metrics = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    audit.look_in("/metrics", metrics);

    service.stop().await;
    let log = service.log.lock().unwrap().join("\n");
    assert!(
        log.lines().count() > 100,
        "trace logs everything: {} lines",
        log.lines().count()
    );
    audit.look_in("the service's log", log);

    // Files: the designated ones are 0600; no other file holds a secret.
    let designated = |path: &Path| {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        name.starts_with("server.db")
            || name == "server.secret"
            || name == "dev-idp.key"
            || name.starts_with("sipauth_")
    };
    for dir in [&server.dir, &client.dir] {
        for file in files_under(dir) {
            if designated(&file) {
                #[cfg(unix)]
                assert_eq!(mode(&file), 0o600, "{}", file.display());
            } else {
                let bytes = std::fs::read(&file).unwrap();
                audit.look_in(file.display().to_string(), String::from_utf8_lossy(&bytes));
            }
        }
    }
    audit.assert_clean();
}
