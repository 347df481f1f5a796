//! Native softphones register with exactly what the command prints: Debian's baresip 1.0 with
//! `sipauth credentials --format baresip` (over UDP and TCP), Debian's linphone 5.1
//! (`linphone-daemon`) with `--format linphone`, and `register-check --server` with the
//! `sipServer` the service hands out. Credentials come from a real sign-in (oidc-provider →
//! `sipauth login` with the `api` strategy → `sipauth serve`), checked by a real Kamailio 5.6.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::common::service::login_with_api_strategy;
use crate::common::Env;
use crate::kamailio::{register_check, service_and_kamailio, DOMAIN};

/// `sipauth credentials --format FORMAT`: its standard output, once it exited 0.
async fn printed(env: &Env, format: &str) -> String {
    let out = env.run(&["credentials", "--format", format]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// baresip with `accounts` holding `line` for three seconds: what it printed. It exits 0
/// either way; its lines say how the registration went.
async fn baresip(env: &Env, name: &str, line: &str) -> String {
    let dir = env.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("accounts"), line).unwrap();
    std::fs::write(
        dir.join("config"),
        "sip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_app account.so\n",
    )
    .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .args(["-t", "3"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// linphone-daemon with `rc` as its configuration: the state of its account after it had
/// four seconds to register (`LinphoneRegistrationOk` when it did).
async fn linphone(env: &Env, rc: &str) -> String {
    let home = env.dir.join("linphone-home");
    std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
    let config = env.dir.join("linphonerc");
    std::fs::write(&config, rc).unwrap();
    let mut child = tokio::process::Command::new("linphone-daemon")
        .arg("--config")
        .arg(&config)
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stdin
        .write_all(b"register-status ALL\nquit\n")
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("State: "))
        .unwrap_or(&text)
        .trim()
        .to_string()
}

#[tokio::test]
async fn native_softphones_register_with_exactly_what_the_command_prints() {
    let env = Env::new("native");
    let (service, kamailio) = service_and_kamailio(&env).await;
    let creds = login_with_api_strategy(
        &env,
        &service,
        "nadia",
        DOMAIN,
        &["--ws-uri", &kamailio.ws_uri],
    )
    .await;
    let sip_server = kamailio.sip_server("udp");
    assert_eq!(creds["sipServer"], sip_server.as_str(), "{creds}");

    // Every format carries the registrar.
    let json: serde_json::Value = serde_json::from_str(&printed(&env, "json").await).unwrap();
    assert_eq!(json["sipServer"], sip_server.as_str());
    assert!(
        json.get("expiresAt").is_none(),
        "this password does not expire: {json}"
    );
    let exports = printed(&env, "env").await;
    assert!(
        exports.contains(&format!("export SIP_SERVER='{sip_server}'")),
        "{exports}"
    );

    // baresip, over UDP as printed, and over TCP.
    let line = printed(&env, "baresip").await;
    assert!(
        line.contains(&format!("outbound=\"{sip_server}\"")),
        "{line}"
    );
    let seen = baresip(&env, "baresip-udp", &line).await;
    assert!(
        seen.contains("{0/UDP/v4} 200 OK"),
        "baresip over UDP: {seen}\n{}",
        kamailio.log()
    );
    let tcp = line.replace("transport=udp", "transport=tcp");
    let seen = baresip(&env, "baresip-tcp", &tcp).await;
    assert!(
        seen.contains("{0/TCP/v4} 200 OK"),
        "baresip over TCP: {seen}"
    );

    // linphone 5.1, with the printed linphonerc.
    let rc = printed(&env, "linphone").await;
    assert_eq!(linphone(&env, &rc).await, "LinphoneRegistrationOk", "{rc}");

    // register-check with the service's own form of the registrar.
    let (code, doc) = register_check(&env, &["--server", &sip_server], None).await;
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["registered"], true);
}

#[tokio::test]
async fn rejects_a_wrong_password_in_baresip_and_linphone_as_kamailio_does() {
    let env = Env::new("native-wrong");
    let (service, kamailio) = service_and_kamailio(&env).await;
    let creds = login_with_api_strategy(
        &env,
        &service,
        "wes",
        DOMAIN,
        &["--ws-uri", &kamailio.ws_uri],
    )
    .await;
    let password = creds["password"].as_str().unwrap();
    let line = printed(&env, "baresip").await.replace(password, "wrong");
    let seen = baresip(&env, "baresip-wrong", &line).await;
    assert!(seen.contains("403 Forbidden"), "{seen}");
    assert!(!seen.contains("200 OK"), "{seen}");
    let rc = printed(&env, "linphone").await.replace(password, "wrong");
    assert_ne!(linphone(&env, &rc).await, "LinphoneRegistrationOk");
}
