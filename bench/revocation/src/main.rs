//! Time to revocation, measured (issue 19): from the provider's word to what the SIP server
//! does with the person's old credentials and registrations. One `sipauth serve` (the release
//! binary named by `SIPAUTH_BIN`) on SQLite, a real Kamailio 5.6 reading its `subscriber`
//! table with JSON-RPC on, and a loopback issuer signing with a key of our own (ID tokens to
//! provision with, logout tokens to send). Per path, `RUNS` people (default 20) each provision,
//! register over UDP and stay registered, and call Bob (SIPp's answering machine) with SIPp;
//! then the path ends their access, and three probes run at once from the moment the word was
//! given: REGISTER with the old password until Kamailio refuses it, `ul.dump` until their
//! contact is gone, and the caller's SIPp until it has the BYE that ends the call.
//!
//! Paths: `scim` (PATCH active=false; from its answer), `backchannel` (a logout token with
//! `disable`; from its answer), `lease` (`--credential-ttl 2`; from the lease's end). Prints
//! one JSON document with p50/p99/max per path and probe. Run by `bench/revocation/run.sh`;
//! the numbers go in BENCHMARKS.md.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use sipauth::{monotonic_now, Clock, SipPassword, SystemClock};
use sipauth_register::{CheckOptions, Credentials, Outcome, Target};
use sipauth_testkit::issuer::OwnIssuer;
use sipauth_testkit::kamailio::{Kamailio, KamailioAuth};
use tokio::io::{AsyncBufReadExt, BufReader};

const DOMAIN: &str = "sip.test";
const CLIENT: &str = "web";
const SCIM_SECRET: &str = "the-scim-secret-of-the-revocation-bench";

type Failure = Box<dyn std::error::Error>;

/// Wall-clock milliseconds since the epoch (the lease's end is a wall-clock second).
#[allow(clippy::disallowed_methods)]
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Service {
    child: tokio::process::Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn serve(bin: &str, args: &[String]) -> Result<Service, Failure> {
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await??
            .ok_or("sipauth serve exited")?;
        if let Some(addr) = line.strip_prefix("listening on ") {
            let base = addr.trim().to_string();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Service { child, base });
        }
    }
}

struct Bench {
    issuer: OwnIssuer,
    kamailio: Kamailio,
    http: reqwest::Client,
}

impl Bench {
    fn id_token(&self, sub: &str) -> String {
        let now = SystemClock.now_unix();
        self.issuer.id_token(sub, CLIENT, now - 5, json!({}))
    }

    fn logout_token(&self, sub: &str, jti: &str) -> String {
        self.issuer
            .logout_token(sub, CLIENT, SystemClock.now_unix(), jti)
    }

    async fn provision(&self, service: &Service, sub: &str) -> Result<Value, Failure> {
        let answer = self
            .http
            .post(format!("{}/api/sip/provision", service.base))
            .bearer_auth(self.id_token(sub))
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!("provision of {sub}: {}", answer.status()).into());
        }
        Ok(answer.json().await?)
    }

    async fn register(&self, user: &str, password: &str, keep: bool) -> Result<bool, Failure> {
        let credentials = Credentials {
            username: user.to_string(),
            domain: DOMAIN.to_string(),
            authorization_username: None,
            password: SipPassword::new(password),
        };
        let options = CheckOptions {
            timeout: Duration::from_secs(5),
            keep,
            ..CheckOptions::default()
        };
        let outcome = sipauth_register::check(
            &Target::Udp(self.kamailio.udp.to_string()),
            &credentials,
            &options,
            &mut |_| {},
        )
        .await?;
        Ok(matches!(outcome, Outcome::Registered { .. }))
    }

    /// Milliseconds from `from_ms` (wall clock) until REGISTER with `password` is refused.
    async fn until_refused(
        &self,
        user: &str,
        password: &str,
        from_ms: i64,
    ) -> Result<i64, Failure> {
        loop {
            if !self.register(user, password, false).await? {
                return Ok(wall_ms() - from_ms);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A call from `user` to Bob (at `bob_port`), up when this returns: the caller's SIPp,
    /// which exits once the call is ended by a BYE.
    async fn call(
        &self,
        user: &str,
        password: &str,
        bob_port: u16,
    ) -> Result<tokio::process::Child, Failure> {
        self.kamailio
            .add_contact("bob", &format!("sip:bob@127.0.0.1:{bob_port}"))
            .await?;
        let scenario = sipauth_testkit::testenv_dir()
            .join("sipp")
            .join("call-until-bye.xml");
        let caller = tokio::process::Command::new("sipp")
            .arg(self.kamailio.udp.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args(["-s", "bob", "-au", user, "-ap", password])
            .args(["-key", "caller", user, "-key", "domain", DOMAIN])
            .args(["-i", "127.0.0.1", "-p", "0", "-m", "1", "-nostdin"])
            .args(["-timeout", "40s", "-timeout_error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        for _ in 0..200 {
            if !self.kamailio.dialogs().await.is_empty() {
                return Ok(caller);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("{user}'s call did not come up").into())
    }

    /// Milliseconds from `from_ms` until the caller's SIPp has had its BYE (and exited 0).
    async fn until_call_ended(caller: tokio::process::Child, from_ms: i64) -> Result<i64, Failure> {
        let out = caller.wait_with_output().await?;
        if !out.status.success() {
            return Err("the call did not end with a BYE".into());
        }
        Ok(wall_ms() - from_ms)
    }

    /// Milliseconds from `from_ms` until Kamailio lists no contact of `user`.
    async fn until_contact_gone(&self, user: &str, from_ms: i64) -> Result<i64, Failure> {
        loop {
            if !self.kamailio.has_contact(user).await {
                return Ok(wall_ms() - from_ms);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn summary(mut ms: Vec<i64>) -> Value {
    ms.sort_unstable();
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    json!({"runs": ms.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": ms[ms.len() - 1]})
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let bin = std::env::var("SIPAUTH_BIN").map_err(|_| "SIPAUTH_BIN: the sipauth binary")?;
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("sipauth-bench-revocation-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("server.db").display().to_string();
    let web_secret = dir.join("web.secret");
    std::fs::write(&web_secret, "web-client-secret\n")?;
    let scim_secret = dir.join("scim.secret");
    std::fs::write(&scim_secret, format!("{SCIM_SECRET}\n"))?;

    let issuer = OwnIssuer::start().await?;
    let base_args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            issuer.url(),
            "--audience",
            CLIENT,
            "--sip-domain",
            DOMAIN,
            "--database",
            &db,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // The service once, so its migrations make the tables Kamailio reads.
    drop(serve(&bin, &base_args(&[])).await?);
    let kamailio = Kamailio::start(KamailioAuth::Sqlite(dir.join("server.db"))).await?;
    let rpc = kamailio.rpc_url.clone();
    let web_secret = web_secret.display().to_string();
    let scim_secret = scim_secret.display().to_string();
    let service = serve(
        &bin,
        &base_args(&[
            "--web-client-id",
            CLIENT,
            "--web-client-secret-file",
            &web_secret,
            "--backchannel-logout",
            "disable",
            "--scim-token-file",
            &scim_secret,
            "--kamailio-rpc-url",
            &rpc,
            "--credential-ttl",
            "2",
        ]),
    )
    .await?;
    let bench = Bench {
        issuer,
        kamailio,
        http: reqwest::Client::new(),
    };

    // Bob: SIPp's answering machine for every call.
    let bob_port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _bob = tokio::process::Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &bob_port.to_string(),
            "-nostdin",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut report = serde_json::Map::new();
    for path in ["scim", "backchannel", "lease"] {
        let (mut refused, mut gone, mut ended) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            let sub = format!("{path}{i}");
            let creds = bench.provision(&service, &sub).await?;
            let user = creds["username"].as_str().ok_or("no username")?.to_string();
            let password = creds["password"].as_str().ok_or("no password")?.to_string();
            if !bench.register(&user, &password, true).await? {
                return Err(format!("{user} did not register").into());
            }
            let caller = bench.call(&user, &password, bob_port).await?;
            let started = monotonic_now();
            let from_ms = match path {
                "scim" => {
                    let answer = bench
                        .http
                        .post(format!("{}/scim/v2/Users", service.base))
                        .bearer_auth(SCIM_SECRET)
                        .json(&json!({"userName": format!("{sub}@example.com"), "externalId": sub, "active": false}))
                        .send()
                        .await?;
                    if answer.status().as_u16() != 201 {
                        return Err(format!("SCIM: {}", answer.status()).into());
                    }
                    wall_ms()
                }
                "backchannel" => {
                    let answer = bench
                        .http
                        .post(format!("{}/backchannel-logout", service.base))
                        .form(&[(
                            "logout_token",
                            bench.logout_token(&sub, &format!("j-{sub}")),
                        )])
                        .send()
                        .await?;
                    if answer.status().as_u16() != 200 {
                        return Err(format!("back-channel logout: {}", answer.status()).into());
                    }
                    wall_ms()
                }
                _ => {
                    // The lease ends at the start of its expiresAt second.
                    let end = creds["expiresAt"].as_i64().ok_or("no expiresAt")? * 1000;
                    while wall_ms() < end {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    end
                }
            };
            let (r, g, e) = tokio::join!(
                bench.until_refused(&user, &password, from_ms),
                bench.until_contact_gone(&user, from_ms),
                Bench::until_call_ended(caller, from_ms)
            );
            refused.push(r?);
            gone.push(g?);
            ended.push(e?);
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("{path} run {i} took over 30 s").into());
            }
        }
        report.insert(
            path.to_string(),
            json!({
                "register_refused": summary(refused),
                "contact_gone": summary(gone),
                "call_ended": summary(ended)
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(report))?);
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
