//! Several `sipauth serve` instances (the real binary) on one PostgreSQL behind HAProxy
//! (Debian's; round robin, health checks on `/readyz`, as `docs/deploy.md` configures it):
//! a web sign-in started at one instance finishes at another and the account page works at the
//! third; concurrent first provisions make each account once; an operator's change is seen by
//! every instance; `kill -9` of an instance under load loses nothing; PostgreSQL stopped under
//! load is answered at once with 503 and `Retry-After`, and service returns after it; a
//! rolling restart keeps every browser signed in; rate limits are per instance.

use std::time::{Duration, Instant};

use serde_json::Value;
use sipauth_testkit::browser::Browser;
use sipauth_testkit::haproxy::Haproxy;
use sipauth_testkit::oidc_issuer;
use sipauth_testkit::postgres::Cluster;
use sqlx::Row;

use crate::common::service::{id_token_of, shared_secret, spawn_service, Service};
use crate::common::Env;
use crate::lifecycle::{account_page, free_port, http, register_web_client, web_sign_in_across};

const DOMAIN: &str = "sip.example.com";

/// Three instances behind HAProxy on one database, the web page's client registered at the
/// real provider for the balancer's address.
struct Fleet {
    env: Env,
    ports: Vec<u16>,
    instances: Vec<Option<Service>>,
    args: Vec<String>,
    haproxy: Haproxy,
    database: String,
}

impl Fleet {
    async fn start(name: &str, database: String, extra: &[&str]) -> Self {
        let env = Env::new(name);
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let haproxy = Haproxy::start(name, &ports).await.unwrap();
        let (client_id, secret) = register_web_client(&haproxy.base).await;
        let web_secret = env.dir.join("web.secret");
        std::fs::write(&web_secret, format!("{secret}\n")).unwrap();
        let mut args: Vec<String> = [
            "serve",
            "--issuer",
            &oidc_issuer(),
            "--audience",
            &client_id,
            "--audience",
            sipauth_testkit::clients::PUBLIC,
            "--web-client-id",
            &client_id,
            "--web-client-secret-file",
            web_secret.to_str().unwrap(),
            "--public-url",
            &haproxy.base,
            "--sip-domain",
            DOMAIN,
            "--ws-uri",
            "ws://127.0.0.1:8088/ws",
            "--database",
            &database,
            "--secret-file",
            shared_secret(&env).to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut fleet = Self {
            env,
            ports,
            instances: vec![None, None, None],
            args,
            haproxy,
            database,
        };
        // One at a time: the first applies the migrations.
        for i in 0..3 {
            fleet.start_instance(i).await;
        }
        fleet.wait_until_balanced().await;
        fleet
    }

    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    async fn start_instance(&mut self, i: usize) {
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.extend(["--listen", &listen]);
        let service = spawn_service(&self.env, &args, self.database.clone()).await;
        self.instances[i] = Some(service);
    }

    /// SIGTERM (a graceful stop) and wait for its exit.
    async fn stop_instance(&mut self, i: usize) {
        if let Some(mut service) = self.instances[i].take() {
            service.stop().await;
        }
    }

    /// `kill -9`.
    fn kill_instance(&mut self, i: usize) {
        if let Some(service) = self.instances[i].take() {
            let pid = service.child.id().unwrap();
            assert!(sipauth_testkit::process::signal(
                pid,
                sipauth_testkit::process::Signal::Kill
            ));
        }
    }

    /// Until HAProxy has seen every running instance ready (its checks run every 200 ms).
    async fn wait_until_balanced(&self) {
        for i in 0..3 {
            if self.instances[i].is_none() {
                continue;
            }
            for _ in 0..100 {
                let ready = http()
                    .get(format!("{}/readyz", self.base(i)))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ready {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    async fn db(&self) -> sipauth_provision::Database {
        sipauth_provision::Database::open(&self.database)
            .await
            .unwrap()
    }
}

/// `POST /api/sip/provision` at `base` with `token`: the status, the body, and whether the
/// answer carried `Retry-After`; a connection that failed is status 0.
async fn provision_at(client: &reqwest::Client, base: &str, token: &str) -> (u16, Value, bool) {
    match client
        .post(format!("{base}/api/sip/provision"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let retry = answer.headers().contains_key("retry-after");
            (status, answer.json().await.unwrap_or(Value::Null), retry)
        }
        Err(_) => (0, Value::Null, false),
    }
}

/// `count` people `<prefix><n>` signed in at the real provider, ten at a time: (login, ID
/// token) each.
async fn people(prefix: &str, count: usize) -> Vec<(String, String)> {
    let logins: Vec<String> = (0..count).map(|i| format!("{prefix}{i:03}")).collect();
    let mut tokens = Vec::new();
    for chunk in logins.chunks(10) {
        tokens.extend(futures::future::join_all(chunk.iter().map(|l| id_token_of(l))).await);
    }
    logins.into_iter().zip(tokens).collect()
}

/// Every `200` of `subject`s has its account, its `subscriber` row and an audit row; no
/// account lacks its row and no row lacks its account.
async fn assert_no_partial_rows(fleet: &Fleet, answered: &[(String, u16)]) {
    let db = fleet.db().await;
    for (subject, status) in answered.iter().filter(|(_, s)| *s == 200) {
        let row = sqlx::query(
            "SELECT a.username, (SELECT COUNT(*) FROM subscriber s WHERE s.username = a.username AND s.domain = a.domain) AS rows, \
             (SELECT COUNT(*) FROM sipauth_audit u WHERE u.subject = a.subject AND u.action = 'provision' AND u.outcome = 'ok') AS audited \
             FROM sipauth_account a WHERE a.subject = $1",
        )
        .bind(subject.clone())
        .fetch_optional(db.pool())
        .await
        .unwrap();
        let row =
            row.unwrap_or_else(|| panic!("a 200 ({status}) for {subject} without its account"));
        assert_eq!(
            row.get::<i64, _>("rows"),
            1,
            "{subject}: its subscriber row"
        );
        assert!(
            row.get::<i64, _>("audited") >= 1,
            "{subject}: its audit row"
        );
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM sipauth_account a WHERE NOT EXISTS \
         (SELECT 1 FROM subscriber s WHERE s.username = a.username AND s.domain = a.domain)) + \
         (SELECT COUNT(*) FROM subscriber s WHERE NOT EXISTS \
         (SELECT 1 FROM sipauth_account a WHERE s.username = a.username AND s.domain = a.domain))",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(
        orphans, 0,
        "an account without its row, or a row without its account"
    );
}

/// The web sign-in of `login` started at `start`, its callback at `finish` (the provider sends
/// the browser to the balancer; here the test takes it to that instance): the session cookie.
async fn sign_in_across(fleet: &Fleet, start: &str, finish: &str, login: &str) -> String {
    let browser = Browser::new().unwrap();
    web_sign_in_across(start, &fleet.haproxy.base, finish, &browser, login).await
}

#[tokio::test]
async fn three_instances_share_sign_ins_accounts_and_an_operators_change() {
    let url = crate::kamailio::fresh_postgres("fleet").await;
    let fleet = Fleet::start("scale-fleet", url, &[]).await;

    // A sign-in started at the first instance finishes at the second; the third serves the
    // account page, and so does the balancer, whichever instance it picks.
    let session = sign_in_across(&fleet, &fleet.base(0), &fleet.base(1), "ada").await;
    let (status, page) = account_page(&fleet.base(2), &session).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ada"), "{page}");
    for _ in 0..3 {
        assert_eq!(account_page(&fleet.haproxy.base, &session).await.0, 200);
    }
    // Signing out at one instance ends the session at every instance.
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let out = http()
        .post(format!("{}/auth/logout", fleet.base(0)))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    for i in 0..3 {
        assert_ne!(
            account_page(&fleet.base(i), &session).await.0,
            200,
            "instance {i}"
        );
    }

    // 200 concurrent first provisions of 100 people through the balancer: each account once.
    let crowd = people("crowd", 100).await;
    let client = reqwest::Client::new();
    let requests = crowd.iter().chain(crowd.iter()).map(|(login, token)| {
        let client = client.clone();
        let base = fleet.haproxy.base.clone();
        async move {
            let (status, body, _) = provision_at(&client, &base, token).await;
            (login.clone(), status, body)
        }
    });
    let answers = futures::future::join_all(requests).await;
    let mut usernames = std::collections::HashMap::new();
    for (login, status, body) in &answers {
        assert_eq!(*status, 200, "{login}: {body}");
        let name = body["username"].as_str().unwrap().to_string();
        // Both answers of one person name the same account.
        assert_eq!(
            usernames.entry(login.clone()).or_insert(name.clone()),
            &name
        );
    }
    let distinct: std::collections::HashSet<&String> = usernames.values().collect();
    assert_eq!(distinct.len(), 100, "no two people share a username");
    let db = fleet.db().await;
    let accounts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sipauth_account WHERE subject LIKE 'crowd%'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM subscriber WHERE username LIKE 'crowd%'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((accounts, rows), (100, 100));
    let answered: Vec<(String, u16)> = answers.iter().map(|(l, s, _)| (l.clone(), *s)).collect();
    assert_no_partial_rows(&fleet, &answered).await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sipauth_audit WHERE subject LIKE 'crowd%' AND action = 'provision' AND outcome = 'ok'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(audited, 200, "every 200 has its audit row");

    // An operator disables one person (`sipauth admin` on the shared database): every
    // instance refuses them, measured from the moment the command returned. Each instance
    // answers that person from its account cache before (no database read).
    let token = &crowd[7].1;
    let username = usernames["crowd007"].clone();
    for i in 0..3 {
        let cached = |metrics: String| {
            metrics
                .lines()
                .find(|l| l.starts_with("sipauth_account_cache_hits_total "))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let metrics = || async {
            http()
                .get(format!("{}/metrics", fleet.base(i)))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        };
        let before = cached(metrics().await);
        let mut answered_from_cache = false;
        for _ in 0..50 {
            assert_eq!(provision_at(&client, &fleet.base(i), token).await.0, 200);
            if cached(metrics().await) > before {
                answered_from_cache = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            answered_from_cache,
            "instance {i} never answered from its cache"
        );
    }
    let secret = shared_secret(&fleet.env);
    let out = fleet
        .env
        .run(&[
            "admin",
            "--database",
            &fleet.database,
            "--secret-file",
            secret.to_str().unwrap(),
            "disable",
            &username,
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disabled_at = sipauth::monotonic_now();
    let mut refused = [false; 3];
    while refused.iter().any(|r| !r) {
        assert!(
            disabled_at.elapsed() < Duration::from_secs(1),
            "instances still serving a disabled person after 1 s: {refused:?}"
        );
        for (i, seen) in refused.iter_mut().enumerate() {
            let (status, body, _) = provision_at(&client, &fleet.base(i), token).await;
            if status == 403 {
                assert_eq!(body["error"], "account_disabled");
                *seen = true;
            }
        }
    }
    eprintln!(
        "every instance refused the disabled person {} ms after `sipauth admin disable` returned",
        disabled_at.elapsed().as_millis()
    );
}

/// Provisions people `prefix<n>` through the balancer from `workers` concurrent clients until
/// `stop` is set: every (subject, status, retry-after, seconds taken, when) answered.
type Answer = (String, u16, bool, f64, Instant);

async fn load(
    base: String,
    tokens: Vec<(String, String)>,
    workers: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Answer> {
    let client = reqwest::Client::new();
    let tokens = std::sync::Arc::new(tokens);
    let tasks = (0..workers).map(|w| {
        let (client, base, tokens, stop) =
            (client.clone(), base.clone(), tokens.clone(), stop.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = w;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (subject, token) = &tokens[n % tokens.len()];
                let began = sipauth::monotonic_now();
                let (status, _, retry) = provision_at(&client, &base, token).await;
                answers.push((
                    subject.clone(),
                    status,
                    retry,
                    began.elapsed().as_secs_f64(),
                    began,
                ));
                n += workers;
            }
            answers
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn kill_9_of_an_instance_under_load_loses_nothing() {
    let url = crate::kamailio::fresh_postgres("killed").await;
    let mut fleet = Fleet::start("scale-kill", url, &[]).await;
    let tokens = people("load", 60).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = tokio::spawn(load(fleet.haproxy.base.clone(), tokens, 8, stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = sipauth::monotonic_now();
    fleet.kill_instance(1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = running.await.unwrap();
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.1 != 200).collect();
    let after: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.4 > killed_at + Duration::from_secs(1))
        .collect();
    eprintln!(
        "{} answers, {} not 200 ({:?}), {} begun a second after the kill",
        answers.len(),
        failed.len(),
        failed.iter().map(|a| a.1).collect::<Vec<_>>(),
        after.len()
    );
    // Only what was in flight at the killed instance may fail (at most one per worker);
    // the balancer routes around it from then on.
    assert!(failed.len() <= 8, "{} failed", failed.len());
    assert!(after.len() > 10, "service went on after the kill");
    assert!(
        after.iter().all(|a| a.1 == 200),
        "every request after the kill answered"
    );
    let answered: Vec<(String, u16)> = answers.iter().map(|a| (a.0.clone(), a.1)).collect();
    assert_no_partial_rows(&fleet, &answered).await;
}

#[tokio::test]
async fn postgresql_stopped_under_load_is_answered_503_at_once_and_service_returns() {
    let cluster = Cluster::start("outage").unwrap();
    let fleet = Fleet::start("scale-outage", cluster.url.clone(), &[]).await;
    let tokens = people("out", 40).await;
    // One instance directly (its own answer), the others through the balancer.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let direct = tokio::spawn(load(fleet.base(0), tokens.clone(), 2, stop.clone()));
    let balanced = tokio::spawn(load(fleet.haproxy.base.clone(), tokens, 4, stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.stop().unwrap();
    let down_at = sipauth::monotonic_now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.start_again().unwrap();
    let up_at = sipauth::monotonic_now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let direct = direct.await.unwrap();
    let balanced = balanced.await.unwrap();
    for (name, answers) in [("an instance", &direct), ("the balancer", &balanced)] {
        let during: Vec<&Answer> = answers
            .iter()
            // Begun while it was down, at least 2 s before it returned: each must have been
            // answered (503) before the return.
            .filter(|a| a.4 >= down_at && a.4 + Duration::from_secs(2) <= up_at)
            .collect();
        assert!(
            during.len() >= 2,
            "{name}: requests while PostgreSQL was down"
        );
        for a in &during {
            assert!(
                a.3 < 2.0,
                "{name}: an answer took {:.2} s while PostgreSQL was down",
                a.3
            );
            assert!(
                a.1 == 503 && a.2,
                "{name}: {} without Retry-After ({}) while PostgreSQL was down",
                a.1,
                a.2
            );
        }
        let slowest = during.iter().map(|a| a.3).fold(0.0, f64::max);
        // Full service within 5 s of PostgreSQL's return.
        let late: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.4 > up_at + Duration::from_secs(5))
            .collect();
        assert!(!late.is_empty(), "{name}: requests after the return");
        assert!(
            late.iter().all(|a| a.1 == 200),
            "{name}: {:?} 5 s after PostgreSQL returned",
            late.iter().map(|a| a.1).collect::<Vec<_>>()
        );
        let back = answers
            .iter()
            .filter(|a| a.4 > up_at && a.1 == 200)
            .map(|a| a.4.duration_since(up_at).as_secs_f64())
            .fold(f64::MAX, f64::min);
        eprintln!(
            "{name}: {} answers while down, the slowest in {slowest:.3} s; first 200 {back:.2} s after the return",
            during.len()
        );
    }
    let answered: Vec<(String, u16)> = direct
        .iter()
        .chain(balanced.iter())
        .map(|a| (a.0.clone(), a.1))
        .collect();
    assert_no_partial_rows(&fleet, &answered).await;
}

#[tokio::test]
async fn a_rolling_restart_of_every_instance_keeps_every_browser_signed_in() {
    let url = crate::kamailio::fresh_postgres("rolling").await;
    let mut fleet = Fleet::start("scale-rolling", url, &[]).await;
    let mut sessions = Vec::new();
    for (i, login) in ["rae", "ron", "rui"].iter().enumerate() {
        let at = fleet.base(i);
        sessions.push(sign_in_across(&fleet, &at, &at, login).await);
    }
    for i in 0..3 {
        fleet.stop_instance(i).await;
        // While it is away, the balancer serves every browser from the others.
        for s in &sessions {
            assert_eq!(
                account_page(&fleet.haproxy.base, s).await.0,
                200,
                "instance {i} away"
            );
        }
        fleet.start_instance(i).await;
        fleet.wait_until_balanced().await;
        // The instance that just started knows every browser.
        for s in &sessions {
            assert_eq!(
                account_page(&fleet.base(i), s).await.0,
                200,
                "instance {i} back"
            );
        }
    }
}

#[tokio::test]
async fn rate_limits_are_per_instance_so_the_balanced_limit_is_their_sum() {
    // The documented choice: each instance keeps its own buckets; behind a round-robin
    // balancer a person's requests spread over the instances, so N instances at R per minute
    // let a person make N × R per minute in all.
    let url = crate::kamailio::fresh_postgres("limits").await;
    let fleet = Fleet::start("scale-limits", url, &["--per-identity-per-minute", "2"]).await;
    let token = id_token_of("lim").await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(provision_at(&client, &fleet.haproxy.base, &token).await.0);
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(accepted, 6, "3 instances × 2 per minute: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}
