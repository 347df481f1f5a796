//! Call rights and the SIP edge, with the real parts: oidc-provider says who is in which group
//! (a test sets it, tokens carry it), `sipauth login` provisions through `sipauth serve` with
//! `[rights]`, which writes Kamailio's `grp` table, and the tested Kamailio configuration
//! (testenv/kamailio/kamailio.cfg, as docs/kamailio.md shows it) enforces it: SIPp calls a
//! colleague, a national and an international number, SIPp answers as the colleague and as the
//! gateway. Beside it the toll-fraud limits (calls in progress, calls a minute) and the edge
//! guards: failed digests ban an address for a while, a flood is dropped, while clients from
//! other addresses go on.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sipauth_testkit::kamailio::Kamailio;
use sipauth_testkit::{oidc_issuer, testenv_dir};

use crate::common::service::{login_with_api_strategy, Service};
use crate::common::Env;
use crate::kamailio::{service_and_kamailio_defines, DOMAIN};

const RIGHTS: &str = r#"
[rights]
outbound = { groups = ["voip-outbound"] }
international = { groups = ["voip-international"] }
"#;

const NATIONAL: &str = "+442071234567";
const INTERNATIONAL: &str = "+15551234567";

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Puts `login` in `groups` at the provider: tokens issued from now on carry them.
async fn set_groups(login: &str, groups: &[&str]) {
    let status = reqwest::Client::new()
        .put(format!("{}/testenv/groups/{login}", oidc_issuer()))
        .json(&groups)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
}

/// SIPp answering calls (testenv/sipp/answer.xml) on `port`: `calls` of them, then it exits 0.
fn answering(port: u16, calls: u32) -> tokio::process::Child {
    tokio::process::Command::new("sipp")
        .arg("-sf")
        .arg(testenv_dir().join("sipp").join("answer.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &calls.to_string(), "-nostdin"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// One call from `caller` (its SIP password) to `callee` with testenv/sipp/SCENARIO from
/// `source`, holding `hold_ms` once answered: SIPp's child (exit 0: the scenario's outcome).
fn dial(
    kamailio: &Kamailio,
    scenario: &str,
    (caller, password): (&str, &str),
    callee: &str,
    source: &str,
    hold_ms: u32,
) -> tokio::process::Child {
    tokio::process::Command::new("sipp")
        .arg(kamailio.udp.to_string())
        .arg("-sf")
        .arg(testenv_dir().join("sipp").join(scenario))
        .args(["-s", callee, "-au", caller, "-ap", password])
        .args(["-key", "caller", caller, "-key", "domain", DOMAIN])
        .args(["-i", source, "-p", &free_udp().to_string(), "-m", "1"])
        .args(["-d", &hold_ms.to_string(), "-nostdin"])
        .args(["-timeout", "20s", "-timeout_error"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits for SIPp: its exit code, and its output for messages.
async fn outcome(child: tokio::process::Child) -> (i32, String) {
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("SIPp ended within 40 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `caller` calls `callee`, expecting SCENARIO's outcome (`call.xml`: answered and ended;
/// `call-refused.xml`: 403).
async fn expect_call(
    kamailio: &Kamailio,
    scenario: &str,
    caller: (&str, &str),
    callee: &str,
) -> Result<(), String> {
    let (code, output) = outcome(dial(kamailio, scenario, caller, callee, "127.0.0.1", 100)).await;
    if code == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} → {callee} with {scenario}: exit {code}\n{output}\n{}",
            caller.0,
            kamailio.log()
        ))
    }
}

/// A person signed in with the command: their SIP password and the rights the answer named.
async fn signed_in(service: &Service, login: &str) -> (String, Value) {
    let env = Env::new(&format!("rights-{login}"));
    let creds = login_with_api_strategy(&env, service, login, DOMAIN, &[]).await;
    (
        creds["password"].as_str().unwrap().to_string(),
        creds["rights"].clone(),
    )
}

/// The service with `[rights]` and Kamailio with `defines` (and the environment holding the
/// service's files).
async fn setup(name: &str, defines: &[String]) -> (Env, Service, Kamailio) {
    let env = Env::new(name);
    let config = env.dir.join("rights.toml");
    std::fs::write(&config, RIGHTS).unwrap();
    let config = config.display().to_string();
    let (service, kamailio) =
        service_and_kamailio_defines(&env, &["--config", &config], defines).await;
    (env, service, kamailio)
}

#[tokio::test]
async fn the_providers_groups_decide_who_may_call_numbers_and_kamailio_enforces_it() {
    let gateway_port = free_udp();
    let (env, service, kamailio) = setup(
        "rights-calls",
        &[format!("GATEWAY=\"sip:127.0.0.1:{gateway_port}\"")],
    )
    .await;
    set_groups("cleo", &[]).await;
    set_groups("otto", &["staff", "voip-outbound"]).await;
    set_groups("ines", &["voip-outbound", "voip-international"]).await;
    let (cleo, cleo_rights) = signed_in(&service, "cleo").await;
    let (otto, otto_rights) = signed_in(&service, "otto").await;
    let (ines, ines_rights) = signed_in(&service, "ines").await;
    assert_eq!(cleo_rights, serde_json::json!([]));
    assert_eq!(otto_rights, serde_json::json!(["outbound"]));
    assert_eq!(
        ines_rights,
        serde_json::json!(["international", "outbound"])
    );
    // The operator sees them too.
    let shown = env
        .run(&["admin", "--database", &service.database, "show", "ines"])
        .await;
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("call rights:  international, outbound"),
        "{text}{}",
        String::from_utf8_lossy(&shown.stderr)
    );

    // Without `outbound`: a number is refused, a colleague is reached.
    expect_call(&kamailio, "call-refused.xml", ("cleo", &cleo), NATIONAL)
        .await
        .unwrap();
    let otto_port = free_udp();
    let otto_phone = answering(otto_port, 1);
    kamailio
        .add_contact("otto", &format!("sip:otto@127.0.0.1:{otto_port}"))
        .await
        .unwrap();
    expect_call(&kamailio, "call.xml", ("cleo", &cleo), "otto")
        .await
        .unwrap();
    assert_eq!(outcome(otto_phone).await.0, 0, "otto's phone took the call");

    // With `outbound`: a national number reaches the gateway; an international one does not.
    let gateway = answering(gateway_port, 1);
    expect_call(&kamailio, "call.xml", ("otto", &otto), NATIONAL)
        .await
        .unwrap();
    assert_eq!(outcome(gateway).await.0, 0, "the gateway took the call");
    expect_call(
        &kamailio,
        "call-refused.xml",
        ("otto", &otto),
        INTERNATIONAL,
    )
    .await
    .unwrap();
    expect_call(
        &kamailio,
        "call-refused.xml",
        ("otto", &otto),
        "0015551234567",
    )
    .await
    .unwrap();
    // With `international` too: the gateway.
    let gateway = answering(gateway_port, 1);
    expect_call(&kamailio, "call.xml", ("ines", &ines), INTERNATIONAL)
        .await
        .unwrap();
    assert_eq!(outcome(gateway).await.0, 0, "the gateway took the call");

    // Out of the group at the provider: the next sign-in's provision takes the right away.
    set_groups("otto", &["staff"]).await;
    let (otto, otto_rights) = signed_in(&service, "otto").await;
    assert_eq!(otto_rights, serde_json::json!([]));
    expect_call(&kamailio, "call-refused.xml", ("otto", &otto), NATIONAL)
        .await
        .unwrap();
}

#[tokio::test]
async fn rejects_a_third_call_in_progress_and_an_eleventh_call_in_a_minute() {
    let (_env, service, kamailio) = setup("rights-limits", &[]).await;
    set_groups("tara", &[]).await;
    let (tara, _) = signed_in(&service, "tara").await;
    let sam_port = free_udp();
    let sam_phone = answering(sam_port, 10);
    kamailio
        .add_contact("sam", &format!("sip:sam@127.0.0.1:{sam_port}"))
        .await
        .unwrap();
    // Two calls held for 4 s: a third while they last is refused (MAX_CALLS = 2).
    let held: Vec<_> = (0..2)
        .map(|_| {
            dial(
                &kamailio,
                "call.xml",
                ("tara", &tara),
                "sam",
                "127.0.0.1",
                4000,
            )
        })
        .collect();
    let mut up = false;
    for _ in 0..100 {
        if kamailio.dialogs().await.len() == 2 {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "two calls up: {}", kamailio.log());
    expect_call(&kamailio, "call-refused.xml", ("tara", &tara), "sam")
        .await
        .unwrap();
    for call in held {
        let (code, output) = outcome(call).await;
        assert_eq!(code, 0, "{output}");
    }
    // Eight more short calls make ten this minute (the refused one did not start); the
    // eleventh is refused (CALLS_PER_MINUTE = 10).
    for _ in 0..8 {
        expect_call(&kamailio, "call.xml", ("tara", &tara), "sam")
            .await
            .unwrap();
    }
    expect_call(&kamailio, "call-refused.xml", ("tara", &tara), "sam")
        .await
        .unwrap();
    assert_eq!(outcome(sam_phone).await.0, 0, "sam's phone took ten calls");
}

/// SIPp registers `user` with `password` from `source`: its exit code (0: registered).
async fn register_from(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    source: &str,
    calls: u32,
) -> i32 {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("sipp")
            .arg(kamailio.udp.to_string())
            .arg("-sf")
            .arg(testenv_dir().join("sipp").join("register.xml"))
            .args([
                "-s", user, "-au", user, "-ap", password, "-key", "domain", DOMAIN,
            ])
            .args(["-i", source, "-p", &free_udp().to_string()])
            .args(["-m", &calls.to_string(), "-r", "10", "-rp", "1000"])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("SIPp ended")
    .unwrap();
    out.status.code().unwrap_or(-1)
}

#[tokio::test]
async fn rejects_an_address_that_guesses_passwords_for_a_while_and_others_keep_registering() {
    let (_env, service, kamailio) = setup("rights-ban", &["BAN_SECONDS=10".into()]).await;
    set_groups("bea", &[]).await;
    let (bea, _) = signed_in(&service, "bea").await;
    // 50 wrong passwords from 127.0.0.3 (AUTH_FAIL_LIMIT = 10): that address is banned...
    assert_ne!(
        register_from(&kamailio, "bea", "guess", "127.0.0.3", 50).await,
        0
    );
    assert!(
        kamailio.log().contains("banning 127.0.0.3"),
        "{}",
        kamailio.log()
    );
    // ... even with the right password, while Bea's phone elsewhere registers.
    assert_ne!(
        register_from(&kamailio, "bea", &bea, "127.0.0.3", 1).await,
        0
    );
    assert_eq!(
        register_from(&kamailio, "bea", &bea, "127.0.0.2", 1).await,
        0
    );
    // The ban ends after BAN_SECONDS (10 here; the 50 guesses take 5 s at SIPp's 10 a
    // second, the ban began after the tenth).
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        register_from(&kamailio, "bea", &bea, "127.0.0.3", 1).await,
        0
    );
}

/// An OPTIONS from `socket` (its own address in Via): true when Kamailio answered within
/// `wait`.
async fn options_answered(
    socket: &tokio::net::UdpSocket,
    to: std::net::SocketAddr,
    n: u32,
    wait: Duration,
) -> bool {
    let local = socket.local_addr().unwrap();
    let message = format!(
        "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag=f{n}\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: flood-{n}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(message.as_bytes(), to).await.unwrap();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .is_ok()
}

#[tokio::test]
async fn rejects_a_flood_from_one_address_and_answers_another() {
    let (_env, _service, kamailio) = setup("rights-flood", &[]).await;
    let flood = tokio::net::UdpSocket::bind("127.0.0.4:0").await.unwrap();
    let calm = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    assert!(
        options_answered(&flood, kamailio.udp, 0, Duration::from_secs(2)).await,
        "answered before the flood"
    );
    // 300 requests at once (PIKE_DENSITY = 64 in 2 s): pike drops the rest of them.
    for n in 1..=300 {
        let local = flood.local_addr().unwrap();
        let message = format!(
            "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-burst-{n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{DOMAIN}>;tag=b{n}\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: burst-{n}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        flood
            .send_to(message.as_bytes(), kamailio.udp)
            .await
            .unwrap();
    }
    // Drain what was answered before pike stepped in.
    let mut buf = [0u8; 4096];
    let mut answered = 0;
    while tokio::time::timeout(Duration::from_millis(500), flood.recv_from(&mut buf))
        .await
        .is_ok()
    {
        answered += 1;
    }
    assert!(
        answered < 300,
        "some of the flood was dropped ({answered} answered)"
    );
    assert!(
        !options_answered(&flood, kamailio.udp, 1000, Duration::from_secs(1)).await,
        "the flooding address is not answered"
    );
    assert!(
        options_answered(&calm, kamailio.udp, 2000, Duration::from_secs(2)).await,
        "another address is: {}",
        kamailio.log()
    );
}

#[tokio::test]
async fn call_rights_hold_the_same_with_the_tables_in_postgresql() {
    let url = crate::kamailio::fresh_postgres("rights").await;
    let env = Env::new("rights-pg");
    let config = env.dir.join("rights.toml");
    std::fs::write(&config, RIGHTS).unwrap();
    let config = config.display().to_string();
    let base = [
        "--sip-domain",
        DOMAIN,
        "--database",
        &url,
        "--config",
        &config,
    ];
    // The service first: its migrations create the tables Kamailio reads.
    drop(crate::common::service::serve(&env, &base).await);
    let gateway_port = free_udp();
    let kamailio = Kamailio::start_with(
        sipauth_testkit::kamailio::KamailioAuth::Postgres(url.clone()),
        &[format!("GATEWAY=\"sip:127.0.0.1:{gateway_port}\"")],
    )
    .await
    .unwrap();
    let mut args = base.to_vec();
    args.extend(["--ws-uri", &kamailio.ws_uri]);
    let service = crate::common::service::serve(&env, &args).await;
    set_groups("pia", &["voip-outbound"]).await;
    set_groups("ned", &[]).await;
    let (pia, rights) = signed_in(&service, "pia").await;
    assert_eq!(rights, serde_json::json!(["outbound"]));
    let (ned, _) = signed_in(&service, "ned").await;
    let gateway = answering(gateway_port, 1);
    expect_call(&kamailio, "call.xml", ("pia", &pia), NATIONAL)
        .await
        .unwrap();
    assert_eq!(outcome(gateway).await.0, 0, "the gateway took the call");
    expect_call(&kamailio, "call-refused.xml", ("ned", &ned), NATIONAL)
        .await
        .unwrap();
}
