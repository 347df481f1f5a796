//! The provisioning library as a specification, each case on a real SQLite file and on the real
//! PostgreSQL the test environment starts (`SIPAUTH_TEST_POSTGRES_URL`):
//! accounts keyed by (issuer, subject), derived passwords, Kamailio `subscriber` rows an
//! unmodified Kamailio 5.6 reads, collisions, concurrency, operations and their audit log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sipauth::{ManualClock, VerifiedBy, VerifiedIdentity};
use sipauth_provision::{
    ha1, Backend, Database, DirectoryWrite, EntryKind, GroupWrite, OnPolicyFailure, Policy,
    ProvisionError, Provisioner, ServerSecret, SipSettings, UserWrite,
};
use sqlx::Row;

const ISSUER: &str = "https://idp.example.com";

fn identity(subject: &str, email: &str, verified: bool) -> VerifiedIdentity {
    let claims =
        json!({ "email": email, "email_verified": verified, "name": format!("{subject} Example") });
    VerifiedIdentity::for_testing(
        ISSUER,
        subject,
        VerifiedBy::IdToken,
        claims.as_object().unwrap().clone(),
    )
}

/// `id` with one more claim (or a claim changed): a new identity, as a new token would give.
fn with_claim(id: &VerifiedIdentity, name: &str, value: serde_json::Value) -> VerifiedIdentity {
    let mut claims = id.claims().clone();
    claims.insert(name.into(), value);
    VerifiedIdentity::for_testing(id.issuer(), id.subject(), id.verified_by(), claims)
}

fn settings() -> SipSettings {
    SipSettings {
        domain: "sip.example.com".into(),
        realm: None,
        ws_uri: "wss://sip.example.com/ws".into(),
        sip_server: Some("sip:sip.example.com:5060;transport=udp".into()),
    }
}

/// Databases to run each case on: a fresh SQLite file, and PostgreSQL when configured (a fresh
/// schema each time, so cases do not see each other's rows).
async fn databases(name: &str) -> Vec<(String, String)> {
    let dir = std::env::temp_dir().join(format!(
        "sipauth-provision-{name}-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    let mut urls = vec![(
        "sqlite".to_string(),
        dir.join("server.db").display().to_string(),
    )];
    // Like the real provider, the real PostgreSQL is required: testenv/start.sh starts it.
    let base = std::env::var("SIPAUTH_TEST_POSTGRES_URL")
        .expect("SIPAUTH_TEST_POSTGRES_URL: run testenv/start.sh and source testenv/run/env");
    {
        let schema = format!(
            "t_{}_{}",
            name,
            sipauth::random_urlsafe(6)
                .unwrap()
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push((
            "postgres".into(),
            format!("{base}{sep}options=-csearch_path%3D{schema}"),
        ));
    }
    urls
}

async fn provisioner(url: &str, backend: Backend, policy: Policy) -> (Provisioner, ManualClock) {
    let clock = ManualClock::new(1_800_000_000);
    let db = Database::open(url).await.unwrap();
    let secret = ServerSecret::new(b"test-secret-of-32-bytes-exactly!".to_vec()).unwrap();
    (
        Provisioner::new(
            db,
            backend,
            settings(),
            secret,
            policy,
            Arc::new(clock.clone()),
        ),
        clock,
    )
}

fn kamailio() -> Backend {
    Backend::KamailioSubscriber {
        store_plaintext: false,
    }
}

async fn subscriber(p: &Provisioner, username: &str) -> Option<(String, String, String)> {
    let pool = sqlx_pool(p).await;
    let row = sqlx::query("SELECT password, ha1, ha1b FROM subscriber WHERE username = $1 AND domain = 'sip.example.com'")
        .bind(username.to_string())
        .fetch_optional(&pool)
        .await
        .unwrap()?;
    Some((row.get(0), row.get(1), row.get(2)))
}

async fn sqlx_pool(p: &Provisioner) -> sqlx::AnyPool {
    p.database().pool().clone()
}

#[tokio::test]
async fn a_first_provision_creates_the_account_and_the_row_kamailio_reads() {
    for (kind, url) in databases("first").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let alice = identity("alice-sub", "Alice.Smith@Example.ORG", true);
        let got = p.provision(&alice, Some("127.0.0.1")).await.unwrap();
        let wire = got.to_wire();
        assert_eq!(wire.username.as_deref(), Some("alice.smith"), "{kind}");
        assert_eq!(
            wire.sip_uri.as_deref(),
            Some("sip:alice.smith@sip.example.com")
        );
        assert_eq!(wire.password, wire.sip_password);
        assert_eq!(wire.authorization_username.as_deref(), Some("alice.smith"));
        assert_eq!(wire.expires_at, None);
        assert_eq!(wire.display_name.as_deref(), Some("alice-sub Example"));
        let password = wire.password.unwrap();
        let (plain, h1, h1b) = subscriber(&p, "alice.smith")
            .await
            .expect("a subscriber row");
        assert_eq!(plain, "", "{kind}: no plaintext unless configured");
        assert_eq!(h1, ha1("alice.smith", "sip.example.com", &password));
        assert_eq!(
            h1b,
            ha1("alice.smith@sip.example.com", "sip.example.com", &password)
        );
        assert_eq!(h1, h1.to_lowercase());
        // Kamailio's table version check.
        let version: i64 =
            sqlx::query("SELECT table_version FROM version WHERE table_name = 'subscriber'")
                .fetch_one(&sqlx_pool(&p).await)
                .await
                .unwrap()
                .get(0);
        assert_eq!(version, 7, "{kind}");
        // The same person, again: the same password (every device), no new account.
        let again = p.provision(&alice, None).await.unwrap();
        assert_eq!(again.password.secret(), password, "{kind}");
        assert_eq!(p.list().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn two_people_sharing_a_local_part_get_two_accounts() {
    for (kind, url) in databases("collide").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let a = p
            .provision(&identity("z1", "zoe@a.org", true), None)
            .await
            .unwrap();
        let b = p
            .provision(&identity("z2", "zoe@b.org", true), None)
            .await
            .unwrap();
        assert_eq!(a.account.username, "zoe", "{kind}");
        assert!(
            b.account.username.starts_with("zoe-"),
            "{kind}: {}",
            b.account.username
        );
        assert_eq!(b.account.username.len(), "zoe-".len() + 8);
        assert_ne!(a.password.secret(), b.password.secret());
        // Deterministic: the second person keeps the suffixed name.
        let b2 = p
            .provision(&identity("z2", "zoe@b.org", true), None)
            .await
            .unwrap();
        assert_eq!(b2.account.username, b.account.username);
    }
}

#[tokio::test]
async fn an_unverified_email_never_names_an_account() {
    for (kind, url) in databases("unverified").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let mut id = identity("mallory-sub", "ceo@example.com", false);
        id = with_claim(&id, "preferred_username", json!("Mallory"));
        let got = p.provision(&id, None).await.unwrap();
        assert_eq!(got.account.username, "mallory", "{kind}");
    }
}

#[tokio::test]
async fn fifty_concurrent_first_provisions_make_one_account() {
    for (kind, url) in databases("fifty").await {
        // Two instances (two pools) on one database, 25 requests each, all at once.
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let (q, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = identity("rush", "rush@example.com", true);
        let all = futures::future::join_all((0..50).map(|i| {
            if i % 2 == 0 {
                p.provision(&id, None)
            } else {
                q.provision(&id, None)
            }
        }))
        .await;
        let passwords: std::collections::HashSet<String> = all
            .into_iter()
            .map(|r| r.unwrap().password.secret().to_string())
            .collect();
        assert_eq!(passwords.len(), 1, "{kind}");
        assert_eq!(p.list().await.unwrap().len(), 1, "{kind}");
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM subscriber")
            .fetch_one(&sqlx_pool(&p).await)
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1);
    }
}

#[tokio::test]
async fn rotation_disable_and_deprovision_take_effect_at_the_sip_server() {
    for (kind, url) in databases("ops").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = identity("bob-sub", "bob@example.com", true);
        let first = p.provision(&id, None).await.unwrap();
        let old_row = subscriber(&p, "bob").await.unwrap();

        let rotated = p.rotate("bob").await.unwrap();
        assert_eq!(rotated.generation, 1, "{kind}");
        let new_row = subscriber(&p, "bob").await.unwrap();
        assert_ne!(
            old_row.1, new_row.1,
            "{kind}: the old password no longer matches"
        );
        let second = p.provision(&id, None).await.unwrap();
        assert_ne!(first.password.secret(), second.password.secret());
        assert_eq!(
            new_row.1,
            ha1("bob", "sip.example.com", second.password.secret())
        );

        p.disable("bob").await.unwrap();
        assert!(
            subscriber(&p, "bob").await.is_none(),
            "{kind}: disabled accounts cannot register"
        );
        assert!(matches!(
            p.provision(&id, None).await,
            Err(ProvisionError::Disabled(_))
        ));
        p.enable("bob").await.unwrap();
        assert!(subscriber(&p, "bob").await.is_some());

        assert!(p.deprovision(&id, None).await.unwrap());
        assert!(subscriber(&p, "bob").await.is_none());
        let third = p.provision(&id, None).await.unwrap();
        assert_ne!(
            third.password.secret(),
            second.password.secret(),
            "{kind}: a new generation"
        );

        p.delete("bob").await.unwrap();
        assert!(matches!(
            p.show("bob").await,
            Err(ProvisionError::NotFound(_))
        ));
        assert!(subscriber(&p, "bob").await.is_none());

        let actions: Vec<String> = p
            .audit_log(0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{}:{}", e.action, e.outcome))
            .collect();
        for want in [
            "provision:ok",
            "rotate:ok",
            "disable:ok",
            "provision:account_disabled",
            "enable:ok",
            "deprovision:ok",
            "delete:ok",
        ] {
            assert!(
                actions.iter().any(|a| a == want),
                "{kind}: {want} in {actions:?}"
            );
        }
    }
}

#[tokio::test]
async fn rejects_identities_the_policy_refuses_and_audits_it() {
    for (kind, url) in databases("policy").await {
        let policy = Policy {
            allowed_email_domains: vec!["example.com".into()],
            required_claims: vec![("groups".into(), "voip".into())],
            ..Policy::default()
        };
        let (p, _) = provisioner(&url, kamailio(), policy).await;
        let mut ok = identity("ok", "ok@example.com", true);
        ok = with_claim(&ok, "groups", json!(["staff", "voip"]));
        p.provision(&ok, None).await.unwrap();
        for (why, mut id) in [
            ("unverified", identity("u", "u@example.com", false)),
            ("other domain", identity("o", "o@evil.example", true)),
            ("no group", identity("g", "g@example.com", true)),
        ] {
            if why != "no group" {
                id = with_claim(&id, "groups", json!(["voip"]));
            }
            let err = p.provision(&id, Some("192.0.2.1")).await.unwrap_err();
            assert_eq!(err.code().as_str(), "access_denied", "{kind}: {why}");
        }
        assert_eq!(
            p.list().await.unwrap().len(),
            1,
            "{kind}: refused people get no account"
        );
        let denied = p
            .audit_log(0)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.outcome == "access_denied")
            .count();
        assert_eq!(denied, 3);
    }
}

#[tokio::test]
async fn ephemeral_credentials_write_nothing_and_expire() {
    for (kind, url) in databases("ephemeral").await {
        let backend = Backend::Ephemeral {
            secret: sipauth::SipPassword::new("shared-with-kamailio"),
            algorithm: sipauth::sip::HmacAlgorithm::Sha1,
            ttl: Duration::from_secs(3600),
        };
        let (p, clock) = provisioner(&url, backend, Policy::default()).await;
        let got = p
            .provision(&identity("eve", "eve@example.com", true), None)
            .await
            .unwrap();
        let wire = got.to_wire();
        let expiry = 1_800_000_000 + 3600;
        assert_eq!(wire.username.as_deref(), Some("eve"), "{kind}");
        assert_eq!(wire.sip_uri.as_deref(), Some("sip:eve@sip.example.com"));
        assert_eq!(wire.authorization_username, Some(format!("{expiry}:eve")));
        assert_eq!(wire.expires_at, Some(expiry));
        assert!(
            subscriber(&p, "eve").await.is_none(),
            "{kind}: nothing written"
        );
        clock.advance(Duration::from_secs(10));
        let later = p
            .provision(&identity("eve", "eve@example.com", true), None)
            .await
            .unwrap();
        assert_ne!(later.password.secret(), got.password.secret());
    }
}

#[tokio::test]
async fn a_restart_keeps_every_account_and_password() {
    for (kind, url) in databases("restart").await {
        let id = identity("carol", "carol@example.com", true);
        let before = {
            let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
            p.provision(&id, None).await.unwrap()
        };
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let after = p.provision(&id, None).await.unwrap();
        assert_eq!(after.password.secret(), before.password.secret(), "{kind}");
        assert_eq!(after.account.username, before.account.username);
    }
}

#[tokio::test]
async fn usernames_follow_the_configured_claims_and_are_kept() {
    for (kind, url) in databases("claims").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_username_claims(vec!["employee_id".into(), "email".into()]);
        let mut id = identity("e1", "erin@example.com", true);
        id = with_claim(&id, "employee_id", json!("E-1042"));
        assert_eq!(
            p.provision(&id, None).await.unwrap().account.username,
            "e-1042",
            "{kind}"
        );
        // The claim changes later: the username was decided once.
        id = with_claim(&id, "employee_id", json!("E-7"));
        assert_eq!(
            p.provision(&id, None).await.unwrap().account.username,
            "e-1042"
        );
        // Without the claim, the next one in the list.
        let other = identity("e2", "gus@example.com", true);
        assert_eq!(
            p.provision(&other, None).await.unwrap().account.username,
            "gus"
        );
    }
}

#[tokio::test]
async fn random_passwords_change_on_every_provision_and_reach_the_sip_server() {
    for (kind, url) in databases("random").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_random_passwords(true);
        let id = identity("r1", "rita@example.com", true);
        let first = p.provision(&id, None).await.unwrap();
        let second = p.provision(&id, None).await.unwrap();
        assert_ne!(first.password.secret(), second.password.secret(), "{kind}");
        let (_, ha1, _) = subscriber(&p, "rita").await.unwrap();
        assert_eq!(
            ha1,
            sipauth_provision::ha1("rita", "sip.example.com", second.password.secret())
        );
    }
}

#[tokio::test]
async fn every_provision_is_audited_even_when_nothing_changed() {
    for (kind, url) in databases("audited").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = identity("a-1", "ada@example.com", true);
        let all =
            futures::future::join_all((0..20).map(|_| p.provision(&id, Some("192.0.2.1")))).await;
        let passwords: std::collections::HashSet<String> = all
            .into_iter()
            .map(|r| r.unwrap().password.secret().to_string())
            .collect();
        assert_eq!(passwords.len(), 1, "{kind}");
        let log = p.audit_log(0).await.unwrap();
        assert_eq!(log.len(), 20, "{kind}: one row per provision");
        assert!(log
            .iter()
            .all(|e| e.outcome == "ok" && e.client_ip.as_deref() == Some("192.0.2.1")));
        // A changed profile goes through the transactional path and is audited too.
        let mut renamed = id.clone();
        renamed = with_claim(&renamed, "name", json!("Ada L."));
        assert_eq!(
            p.provision(&renamed, None)
                .await
                .unwrap()
                .account
                .display_name,
            "Ada L."
        );
        assert_eq!(p.audit_log(0).await.unwrap().len(), 21);
    }
}

/// A `subscriber` row made by hand (a desk phone, an extension, a trunk), as kamctl would.
async fn hand_made_row(p: &Provisioner, username: &str) {
    sqlx::query("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ($1, 'sip.example.com', 'desk', 'desk-ha1', 'desk-ha1b')")
        .bind(username.to_string())
        .execute(&sqlx_pool(p).await)
        .await
        .unwrap();
}

fn desk_row() -> Option<(String, String, String)> {
    Some(("desk".into(), "desk-ha1".into(), "desk-ha1b".into()))
}

#[tokio::test]
async fn rejects_taking_over_a_subscriber_row_sipauth_did_not_create() {
    for (kind, url) in databases("foreign").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        hand_made_row(&p, "reception").await;
        let person = identity("rec-sub", "reception@example.org", true);
        let got = p.provision(&person, None).await.unwrap();
        let name = got.account.username.clone();
        assert!(name.starts_with("reception-"), "{kind}: {name}");
        assert_eq!(subscriber(&p, "reception").await, desk_row(), "{kind}");
        // Operators' commands neither list nor touch it.
        assert!(p
            .list()
            .await
            .unwrap()
            .iter()
            .all(|a| a.username != "reception"));
        assert!(matches!(
            p.delete("reception").await,
            Err(ProvisionError::NotFound(_))
        ));
        assert_eq!(subscriber(&p, "reception").await, desk_row());
        // sipauth's own row, removed by disable, replaced by hand: enable refuses to write it.
        p.disable(&name).await.unwrap();
        hand_made_row(&p, &name).await;
        assert!(
            matches!(p.enable(&name).await, Err(ProvisionError::Username(_))),
            "{kind}"
        );
        assert_eq!(subscriber(&p, &name).await, desk_row(), "{kind}");
        // Nor does deleting the account remove the hand-made row.
        p.delete(&name).await.unwrap();
        assert_eq!(subscriber(&p, &name).await, desk_row(), "{kind}");
    }
}

#[tokio::test]
async fn rejects_reserved_names_and_extensions_as_plain_usernames() {
    for (kind, url) in databases("reserved").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        for (sub, email) in [("r1", "admin@example.org"), ("r2", "1001@example.org")] {
            let got = p
                .provision(&identity(sub, email, true), None)
                .await
                .unwrap();
            let local = email.split('@').next().unwrap();
            let own = sipauth::sip::suffixed_username(local, ISSUER, sub, Default::default());
            assert_eq!(got.account.username, own, "{kind}");
        }
        // Configurable: with nothing reserved, the extension-like name is handed out.
        let (open, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let open = open.with_reserved_usernames(sipauth::sip::ReservedUsernames::none());
        let got = open
            .provision(&identity("r3", "2002@example.org", true), None)
            .await
            .unwrap();
        assert_eq!(got.account.username, "2002", "{kind}");
    }
}

#[tokio::test]
async fn rejects_an_outsider_taking_a_victims_names_ahead_of_it() {
    for (kind, url) in databases("squat").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let policy = Default::default();
        let victims_suffixed = sipauth::sip::suffixed_username("alice", ISSUER, "victim", policy);
        // The outsider takes the plain name, then tries the victim's suffixed one.
        let plain = p
            .provision(&identity("o1", "alice@evil.example", true), None)
            .await
            .unwrap();
        assert_eq!(plain.account.username, "alice", "{kind}");
        let grab = p
            .provision(
                &identity("o2", &format!("{victims_suffixed}@evil.example"), true),
                None,
            )
            .await
            .unwrap();
        assert_ne!(grab.account.username, victims_suffixed, "{kind}");
        let victim = p
            .provision(&identity("victim", "alice@example.com", true), None)
            .await
            .unwrap();
        assert_eq!(victim.account.username, victims_suffixed, "{kind}");
    }
}

#[tokio::test]
async fn rejects_handing_a_deleted_accounts_username_to_another_identity() {
    for (kind, url) in databases("quarantine").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let alice = identity("a1", "alice@example.com", true);
        let first = p.provision(&alice, None).await.unwrap();
        assert_eq!(first.account.username, "alice");
        p.delete("alice").await.unwrap();
        // Another identity wanting the name gets its suffixed form, for ever by default.
        clock.advance(Duration::from_secs(10 * 365 * 86_400));
        let other = p
            .provision(&identity("a2", "alice@example.org", true), None)
            .await
            .unwrap();
        assert_ne!(other.account.username, "alice", "{kind}");
        // The same identity gets its name back, with a password it never had.
        let again = p.provision(&alice, None).await.unwrap();
        assert_eq!(again.account.username, "alice", "{kind}");
        assert_ne!(
            again.password.secret(),
            first.password.secret(),
            "{kind}: an earlier password came back"
        );
        assert_eq!(again.account.generation, first.account.generation + 1);
        assert_eq!(
            subscriber(&p, "alice").await.unwrap().1,
            ha1("alice", "sip.example.com", again.password.secret())
        );

        // A configured quarantine ends.
        let (q, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let q = q.with_username_quarantine(Some(Duration::from_secs(30 * 86_400)));
        q.provision(&identity("b1", "bob@example.com", true), None)
            .await
            .unwrap();
        q.delete("bob").await.unwrap();
        let early = q
            .provision(&identity("b2", "bob@example.org", true), None)
            .await
            .unwrap();
        assert_ne!(early.account.username, "bob", "{kind}");
        clock.advance(Duration::from_secs(31 * 86_400));
        let late = q
            .provision(&identity("b3", "bob@example.net", true), None)
            .await
            .unwrap();
        assert_eq!(late.account.username, "bob", "{kind}");
    }
}

/// After any interleaving, the SIP server holds exactly what the account says: the derived
/// password of its generation when enabled, nothing when disabled or deleted.
async fn sip_server_agrees(p: &Provisioner, secret: &ServerSecret, subject: &str, kind: &str) {
    let account = p
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.subject == subject);
    match account {
        Some(a) if a.enabled => {
            let password = secret.password(ISSUER, subject, a.generation);
            let want = ha1(&a.username, "sip.example.com", password.secret());
            let got = subscriber(p, &a.username).await.map(|r| r.1);
            assert_eq!(got.as_deref(), Some(want.as_str()), "{kind}: {a:?}");
        }
        Some(a) => assert!(subscriber(p, &a.username).await.is_none(), "{kind}: {a:?}"),
        None => assert!(subscriber(p, "carol").await.is_none(), "{kind}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_racing_provision_undoing_an_operators_change() {
    for (kind, url) in databases("race").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let secret = ServerSecret::new(b"test-secret-of-32-bytes-exactly!".to_vec()).unwrap();
        let carol = identity("c1", "carol@example.com", true);
        p.provision(&carol, None).await.unwrap();
        for i in 0..1000 {
            // A profile change sends the provision down the writing path every time.
            let id = with_claim(&carol, "name", json!(format!("Carol {i}")));
            let (pp, po) = (p.clone(), p.clone());
            let provision = tokio::spawn(async move { pp.provision(&id, None).await });
            let operate = tokio::spawn(async move {
                match i % 4 {
                    0 => po.rotate("carol").await.map(drop),
                    1 => po.disable("carol").await.map(drop),
                    2 => po.enable("carol").await.map(drop),
                    _ => po.delete("carol").await,
                }
            });
            let (provisioned, operated) = (provision.await.unwrap(), operate.await.unwrap());
            // A provision may lose to a disable; an operation may find the account deleted or
            // not yet recreated. Nothing else fails.
            assert!(
                matches!(provisioned, Ok(_) | Err(ProvisionError::Disabled(_))),
                "{kind} #{i}: {provisioned:?}"
            );
            assert!(
                matches!(operated, Ok(()) | Err(ProvisionError::NotFound(_))),
                "{kind} #{i}: {operated:?}"
            );
            sip_server_agrees(&p, &secret, "c1", &format!("{kind} #{i}")).await;
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn rejects_other_users_reading_the_database_and_the_secret() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = std::env::temp_dir().join(format!(
        "sipauth-modes-{}-{}",
        std::process::id(),
        sipauth::random_urlsafe(4).unwrap()
    ));
    let data = dir.join("data");
    let db = data.join("server.db");
    let (p, _) = provisioner(&db.display().to_string(), kamailio(), Policy::default()).await;
    p.provision(&identity("m1", "m@example.com", true), None)
        .await
        .unwrap();
    assert_eq!(mode(&data), 0o700);
    for file in ["server.db", "server.db-wal", "server.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let secret = dir.join("etc").join("server.secret");
    ServerSecret::load_or_create(&secret).unwrap();
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(secret.parent().unwrap()), 0o700);
}

#[tokio::test]
async fn the_audit_log_keeps_rows_for_the_retention_and_no_longer() {
    for (kind, url) in databases("retention").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = identity("ret-1", "ret@example.com", true);
        p.provision(&id, None).await.unwrap();
        clock.advance(Duration::from_secs(10 * 86_400));
        p.rotate("ret").await.unwrap();
        let swept = p
            .sweep_audit(Duration::from_secs(5 * 86_400))
            .await
            .unwrap();
        assert_eq!(swept, 1, "{kind}");
        let left: Vec<String> = p
            .audit_log(0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(left, ["rotate"], "{kind}");
    }
}

#[tokio::test]
async fn rejects_an_identity_that_lost_its_role_and_ends_its_sip_access_at_once() {
    for (kind, url) in databases("lostrole").await {
        let policy = Policy {
            required_claims: vec![("groups".into(), "voip".into())],
            ..Policy::default()
        };
        let (p, _) = provisioner(&url, kamailio(), policy).await;
        let plain = identity("lr-1", "lena@example.com", true);
        let member = with_claim(&plain, "groups", json!(["voip"]));
        let first = p.provision(&member, None).await.unwrap();
        assert!(subscriber(&p, "lena").await.is_some());
        // The role is removed at the provider: the next provision is refused and the SIP
        // server forgets the account in the same transaction.
        let err = p.provision(&plain, None).await.unwrap_err();
        assert_eq!(err.code().as_str(), "access_denied", "{kind}");
        assert!(subscriber(&p, "lena").await.is_none(), "{kind}");
        assert!(!p.show("lena").await.unwrap().enabled);
        // The role is back: access returns with a password it never had.
        let back = p.provision(&member, None).await.unwrap();
        assert_ne!(back.password.secret(), first.password.secret(), "{kind}");
        assert_eq!(
            subscriber(&p, "lena").await.unwrap().1,
            ha1("lena", "sip.example.com", back.password.secret())
        );
        // An operator's disable is not undone by passing the policy.
        p.disable("lena").await.unwrap();
        let err = p.provision(&member, None).await.unwrap_err();
        assert_eq!(err.code().as_str(), "account_disabled", "{kind}");
        let actions: Vec<String> = p
            .audit_log(0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for want in ["policy_disable", "policy_enable"] {
            assert!(
                actions.iter().any(|a| a == want),
                "{kind}: {want} in {actions:?}"
            );
        }

        // `refuse` leaves the account as it was.
        let refuse = Policy {
            required_claims: vec![("groups".into(), "voip".into())],
            on_failure: sipauth_provision::OnPolicyFailure::Refuse,
            ..Policy::default()
        };
        let (r, _) = provisioner(&url, kamailio(), refuse).await;
        let other = identity("lr-2", "otto@example.com", true);
        r.provision(&with_claim(&other, "groups", json!(["voip"])), None)
            .await
            .unwrap();
        assert!(r.provision(&other, None).await.is_err());
        assert!(subscriber(&r, "otto").await.is_some(), "{kind}");
    }
}

#[tokio::test]
async fn rejects_a_sign_in_without_the_required_authentication_context() {
    for (kind, url) in databases("acr").await {
        let policy = Policy {
            required_acr: vec!["urn:example:mfa".into()],
            ..Policy::default()
        };
        let (p, _) = provisioner(&url, kamailio(), policy).await;
        let id = identity("acr-1", "ada@example.com", true);
        let err = p
            .provision(&with_claim(&id, "acr", json!("urn:example:pwd")), None)
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), "access_denied", "{kind}");
        assert!(
            p.provision(&id, None).await.is_err(),
            "{kind}: no acr at all"
        );
        p.provision(&with_claim(&id, "acr", json!("urn:example:mfa")), None)
            .await
            .unwrap();
    }
}

// The provider's directory (SCIM): what pushed users and groups do to accounts.

fn pushed(user_name: &str, external_id: Option<&str>, active: bool) -> DirectoryWrite {
    DirectoryWrite::User(UserWrite {
        user_name: user_name.into(),
        external_id: external_id.map(str::to_string),
        active,
        display_name: Some("Pushed Person".into()),
        email: None,
        attributes: json!({"userName": user_name}).as_object().unwrap().clone(),
    })
}

async fn audited(p: &Provisioner, action: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sipauth_audit WHERE action = $1")
        .bind(action.to_string())
        .fetch_one(&sqlx_pool(p).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pushed_user_has_an_account_before_its_first_sign_in_and_the_sign_in_gets_it() {
    for (kind, url) in databases("pushed").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_link_claim(ISSUER, "sub");
        let (entry, ended) = p
            .directory_create(
                ISSUER,
                pushed("Dana.Scully@Example.com", Some("sub-dana"), true),
            )
            .await
            .unwrap();
        assert!(ended.identities.is_empty());
        assert_eq!(entry.kind, EntryKind::User);
        // Named from userName by the sign-in's rule, before any sign-in; no SIP row yet.
        assert_eq!(
            p.show("dana.scully").await.unwrap().subject,
            "sub-dana",
            "{kind}"
        );
        assert_eq!(subscriber(&p, "dana.scully").await, None, "{kind}");
        // Her sign-in (another email in the token) gets that account, and SIP access.
        let got = p
            .provision(&identity("sub-dana", "dana@fbi.example", true), None)
            .await
            .unwrap();
        assert_eq!(got.account.username, "dana.scully", "{kind}");
        assert!(subscriber(&p, "dana.scully").await.is_some(), "{kind}");
        assert_eq!(p.list().await.unwrap().len(), 1, "{kind}: one account");
        assert_eq!(audited(&p, "scim_create").await, 1, "{kind}");
    }
}

#[tokio::test]
async fn a_pushed_user_links_to_its_sign_in_by_the_configured_claim() {
    for (kind, url) in databases("linkclaim").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        // Entra ID: `sub` is pairwise per application; the directory knows `oid`.
        let p = p.with_link_claim(ISSUER, "oid");
        p.directory_create(ISSUER, pushed("fox@example.com", Some("oid-fox"), true))
            .await
            .unwrap();
        let who = with_claim(
            &identity("pairwise-sub-fox", "fox@example.com", true),
            "oid",
            json!("oid-fox"),
        );
        let got = p.provision(&who, None).await.unwrap();
        assert_eq!(got.account.username, "fox", "{kind}");
        assert_eq!(
            got.account.subject, "pairwise-sub-fox",
            "{kind}: linked to the sign-in"
        );
        assert_eq!(p.list().await.unwrap().len(), 1, "{kind}");
        // The directory's deactivation reaches the linked account.
        let id = p.directory_list(ISSUER, EntryKind::User).await.unwrap()[0]
            .id
            .clone();
        let (_, ended) = p
            .directory_replace(
                ISSUER,
                &id,
                None,
                pushed("fox@example.com", Some("oid-fox"), false),
            )
            .await
            .unwrap();
        assert_eq!(
            ended.identities,
            [(ISSUER.to_string(), "pairwise-sub-fox".to_string())],
            "{kind}"
        );
        assert!(matches!(
            p.provision(&who, None).await,
            Err(ProvisionError::Disabled(_))
        ));
        // Someone else's token carrying no such claim value gets an account of their own.
        let other = with_claim(
            &identity("pairwise-2", "x@example.com", true),
            "oid",
            json!("oid-x"),
        );
        assert_eq!(
            p.provision(&other, None).await.unwrap().account.username,
            "x"
        );
    }
}

#[tokio::test]
async fn a_pushed_deactivation_ends_sip_access_at_once_and_reactivation_moves_the_generation() {
    for (kind, url) in databases("deactivate").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_link_claim(ISSUER, "sub");
        let alice = identity("sub-alice", "alice@example.com", true);
        // Signed in before the directory pushed her: the push links to her account.
        let before = p.provision(&alice, None).await.unwrap();
        let (entry, _) = p
            .directory_create(ISSUER, pushed("alice@example.com", Some("sub-alice"), true))
            .await
            .unwrap();
        assert_eq!(
            p.list().await.unwrap().len(),
            1,
            "{kind}: linked, not a second account"
        );
        let (_, ended) = p
            .directory_replace(
                ISSUER,
                &entry.id,
                Some(entry.version),
                pushed("alice@example.com", Some("sub-alice"), false),
            )
            .await
            .unwrap();
        assert_eq!(ended.identities.len(), 1, "{kind}");
        assert_eq!(
            subscriber(&p, "alice").await,
            None,
            "{kind}: the row went in the same transaction"
        );
        assert!(
            matches!(
                p.provision(&alice, None).await,
                Err(ProvisionError::Disabled(_))
            ),
            "{kind}"
        );
        assert_eq!(audited(&p, "scim_deactivate").await, 1, "{kind}");
        // Re-activated: access again, with a password the old one is not.
        let now = p
            .directory_get(ISSUER, EntryKind::User, &entry.id)
            .await
            .unwrap()
            .unwrap();
        p.directory_replace(
            ISSUER,
            &entry.id,
            Some(now.version),
            pushed("alice@example.com", Some("sub-alice"), true),
        )
        .await
        .unwrap();
        let after = p.provision(&alice, None).await.unwrap();
        assert_ne!(after.password.secret(), before.password.secret(), "{kind}");
        assert_eq!(audited(&p, "scim_activate").await, 1, "{kind}");
        // Counted for the metrics too, by event.
        let counts = p.lifecycle_counts();
        for event in ["scim_create", "scim_deactivate", "scim_activate"] {
            assert!(
                counts.contains(&(event, 1)),
                "{kind}: {event} in {counts:?}"
            );
        }
        // A stale version is refused, not applied.
        assert!(matches!(
            p.directory_replace(
                ISSUER,
                &entry.id,
                Some(entry.version),
                pushed("alice@example.com", Some("sub-alice"), false)
            )
            .await,
            Err(ProvisionError::Stale)
        ));
    }
}

#[tokio::test]
async fn rejects_a_person_the_provider_deleted_until_it_pushes_them_again() {
    for (kind, url) in databases("scimdelete").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_link_claim(ISSUER, "sub");
        let bob = identity("sub-bob", "bob@example.com", true);
        let (entry, _) = p
            .directory_create(ISSUER, pushed("bob@example.com", Some("sub-bob"), true))
            .await
            .unwrap();
        p.provision(&bob, None).await.unwrap();
        let ended = p
            .directory_delete(ISSUER, EntryKind::User, &entry.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.identities.len(), 1, "{kind}");
        assert_eq!(subscriber(&p, "bob").await, None, "{kind}");
        let refused = p.provision(&bob, None).await.unwrap_err();
        assert_eq!(
            refused.code(),
            sipauth_wire::ErrorCode::AccountDisabled,
            "{kind}: {refused}"
        );
        assert!(p
            .directory_delete(ISSUER, EntryKind::User, &entry.id)
            .await
            .unwrap()
            .is_none());
        // Pushed again: back, with a generation after the deleted account's.
        p.directory_create(ISSUER, pushed("bob@example.com", Some("sub-bob"), true))
            .await
            .unwrap();
        let back = p.provision(&bob, None).await.unwrap();
        assert_eq!(
            back.account.username, "bob",
            "{kind}: his name, kept for him"
        );
        assert!(back.account.generation >= 1, "{kind}");
    }
}

#[tokio::test]
async fn an_operators_disable_outlives_the_directorys_reactivation() {
    for (kind, url) in databases("opdisable").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_link_claim(ISSUER, "sub");
        let (entry, _) = p
            .directory_create(ISSUER, pushed("eve@example.com", Some("sub-eve"), true))
            .await
            .unwrap();
        p.disable("eve").await.unwrap();
        p.directory_replace(
            ISSUER,
            &entry.id,
            None,
            pushed("eve@example.com", Some("sub-eve"), true),
        )
        .await
        .unwrap();
        assert!(!p.show("eve").await.unwrap().enabled, "{kind}");
    }
}

#[tokio::test]
async fn the_directorys_groups_count_for_the_policy() {
    for (kind, url) in databases("scimgroups").await {
        let policy = Policy {
            required_claims: vec![("groups".into(), "voip".into())],
            on_failure: OnPolicyFailure::Disable,
            ..Policy::default()
        };
        let (p, _) = provisioner(&url, kamailio(), policy).await;
        let p = p.with_link_claim(ISSUER, "sub");
        let carol = identity("sub-carol", "carol@example.com", true);
        let (user, _) = p
            .directory_create(ISSUER, pushed("carol@example.com", Some("sub-carol"), true))
            .await
            .unwrap();
        assert!(
            matches!(
                p.provision(&carol, None).await,
                Err(ProvisionError::Denied(_))
            ),
            "{kind}"
        );
        let group = |members: Vec<String>| {
            DirectoryWrite::Group(GroupWrite {
                display_name: "voip".into(),
                external_id: None,
                members,
                attributes: json!({"displayName": "voip"}).as_object().unwrap().clone(),
            })
        };
        let (g, _) = p
            .directory_create(ISSUER, group(vec![user.id.clone()]))
            .await
            .unwrap();
        assert_eq!(g.related[0].display, "carol@example.com");
        p.provision(&carol, None).await.unwrap();
        // Out of the group: refused, and (policy `disable`) her SIP access ends.
        p.directory_replace(ISSUER, &g.id, None, group(vec![]))
            .await
            .unwrap();
        assert!(
            matches!(
                p.provision(&carol, None).await,
                Err(ProvisionError::Denied(_))
            ),
            "{kind}"
        );
        assert_eq!(subscriber(&p, "carol").await, None, "{kind}");
        // A member must be a user of the same directory.
        assert!(matches!(
            p.directory_create(ISSUER, group(vec!["no-such-user".into()]))
                .await,
            Err(ProvisionError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn rejects_a_user_name_another_pushed_user_has_in_any_case() {
    for (kind, url) in databases("scimunique").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        p.directory_create(ISSUER, pushed("Frank@example.com", None, true))
            .await
            .unwrap();
        let taken = p
            .directory_create(ISSUER, pushed("frank@EXAMPLE.com", None, true))
            .await
            .unwrap_err();
        assert!(
            matches!(taken, ProvisionError::Conflict(_)),
            "{kind}: {taken}"
        );
        // Another issuer's directory is its own.
        p.directory_create(
            "https://other.example",
            pushed("frank@example.com", None, true),
        )
        .await
        .unwrap();
    }
}

// Credential leases: a password works only while its identity keeps provisioning.

#[tokio::test]
async fn a_lease_ends_sip_access_when_it_ends_and_the_next_provision_gets_a_new_password() {
    for (kind, url) in databases("lease").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_credential_ttl(Some(Duration::from_secs(60)));
        let t0 = 1_800_000_000;
        let zed = identity("sub-zed", "zed@example.com", true);
        let first = p.provision(&zed, None).await.unwrap();
        assert_eq!(first.expires_at, Some(t0 + 60), "{kind}");
        assert_eq!(first.to_wire().expires_at, Some(t0 + 60));
        // Within the first half: answered as it is; in the second half: extended.
        clock.advance(Duration::from_secs(20));
        assert_eq!(
            p.provision(&zed, None).await.unwrap().expires_at,
            Some(t0 + 60)
        );
        clock.advance(Duration::from_secs(20));
        let renewed = p.provision(&zed, None).await.unwrap();
        assert_eq!(renewed.expires_at, Some(t0 + 100), "{kind}");
        assert_eq!(
            renewed.password.secret(),
            first.password.secret(),
            "the same lease's password"
        );
        // Nothing due before the end; at the end the sweeper ends it at the SIP server.
        assert!(
            p.expire_leases().await.unwrap().identities.is_empty(),
            "{kind}"
        );
        clock.advance(Duration::from_secs(60));
        let ended = p.expire_leases().await.unwrap();
        assert_eq!(
            ended.identities,
            [(ISSUER.to_string(), "sub-zed".to_string())],
            "{kind}"
        );
        assert_eq!(ended.aors, ["zed@sip.example.com"], "{kind}");
        assert_eq!(subscriber(&p, "zed").await, None, "{kind}: the row went");
        assert!(
            p.expire_leases().await.unwrap().identities.is_empty(),
            "swept once"
        );
        // The next provision with a valid token: access again, never the old password.
        let next = p.provision(&zed, None).await.unwrap();
        assert_ne!(next.password.secret(), first.password.secret(), "{kind}");
        assert_eq!(next.expires_at, Some(t0 + 100 + 60), "{kind}");
        assert!(subscriber(&p, "zed").await.is_some(), "{kind}");
    }
}

#[tokio::test]
async fn rejects_an_ended_leases_password_even_before_the_sweeper_runs() {
    for (kind, url) in databases("leaselate").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_credential_ttl(Some(Duration::from_secs(60)));
        let yan = identity("sub-yan", "yan@example.com", true);
        let first = p.provision(&yan, None).await.unwrap();
        clock.advance(Duration::from_secs(61));
        let next = p.provision(&yan, None).await.unwrap();
        assert_ne!(next.password.secret(), first.password.secret(), "{kind}");
        assert_eq!(audited(&p, "lease_expired").await, 1, "{kind}");
        assert_eq!(p.lifecycle_counts(), [("lease_expired", 1)], "{kind}");
    }
}

/// Two tenants on one service: `sip.{email_domain}` for acme.com and globex.com.
fn two_tenants(p: Provisioner) -> Provisioner {
    p.with_tenancy(
        sipauth_provision::Tenancy::new(
            Some("sip.{email_domain}"),
            Some("wss://pbx.{email_domain}:7443/ws"),
            None,
            &["sip.acme.com".into(), "sip.globex.com".into()],
        )
        .unwrap(),
    )
}

async fn ha1_in(p: &Provisioner, username: &str, domain: &str) -> Option<String> {
    sqlx::query("SELECT ha1 FROM subscriber WHERE username = $1 AND domain = $2")
        .bind(username.to_string())
        .bind(domain.to_string())
        .fetch_optional(&sqlx_pool(p).await)
        .await
        .unwrap()
        .map(|r| r.get(0))
}

#[tokio::test]
async fn each_tenant_gets_accounts_in_its_own_domain_and_servers() {
    for (kind, url) in databases("tenants").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = two_tenants(p);
        // The same local part at two customers: two accounts, one name, two domains.
        let acme = identity("a-1", "sam@acme.com", true);
        let globex = identity("g-1", "sam@globex.com", true);
        let a = p.provision(&acme, None).await.unwrap().to_wire();
        let g = p.provision(&globex, None).await.unwrap().to_wire();
        assert_eq!(a.sip_uri.as_deref(), Some("sip:sam@sip.acme.com"), "{kind}");
        assert_eq!(
            a.ws_server_uri.as_deref(),
            Some("wss://pbx.acme.com:7443/ws")
        );
        assert_eq!(a.realm.as_deref(), Some("sip.acme.com"));
        assert_eq!(
            g.sip_uri.as_deref(),
            Some("sip:sam@sip.globex.com"),
            "{kind}"
        );
        assert_eq!(
            g.ws_server_uri.as_deref(),
            Some("wss://pbx.globex.com:7443/ws")
        );
        // Kamailio's rows: one per (username, domain), each with its domain's realm.
        assert_eq!(
            ha1_in(&p, "sam", "sip.acme.com").await,
            Some(ha1("sam", "sip.acme.com", a.password.as_deref().unwrap()))
        );
        assert_eq!(
            ha1_in(&p, "sam", "sip.globex.com").await,
            Some(ha1("sam", "sip.globex.com", g.password.as_deref().unwrap()))
        );
        // Again: the fast path answers the same tenant's settings.
        let again = p.provision(&acme, None).await.unwrap().to_wire();
        assert_eq!(again.ws_server_uri, a.ws_server_uri, "{kind}");
        assert_eq!(again.password, a.password);
        // An operator names an account by user@domain when the user part is shared.
        let err = p.rotate("sam").await.unwrap_err();
        assert_eq!(err.code().as_str(), "conflict", "{kind}: {err}");
        p.rotate("sam@sip.globex.com").await.unwrap();
        assert_ne!(
            ha1_in(&p, "sam", "sip.globex.com").await,
            Some(ha1("sam", "sip.globex.com", g.password.as_deref().unwrap())),
            "{kind}: the globex account rotated"
        );
        assert_eq!(
            ha1_in(&p, "sam", "sip.acme.com").await,
            Some(ha1("sam", "sip.acme.com", a.password.as_deref().unwrap())),
            "{kind}: the acme account did not"
        );
    }
}

#[tokio::test]
async fn rejects_a_domain_outside_the_allowlist_and_a_tenant_change_and_audits_it() {
    for (kind, url) in databases("tenants_refused").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = two_tenants(p);
        // A claim never picks an arbitrary domain.
        let eve = identity("e-1", "eve@evil.example", true);
        let err = p.provision(&eve, None).await.unwrap_err();
        assert_eq!(err.code().as_str(), "domain_not_allowed", "{kind}");
        // Nor does an unverified email.
        let unverified = identity("u-1", "ursula@acme.com", false);
        let err = p.provision(&unverified, None).await.unwrap_err();
        assert_eq!(err.code().as_str(), "domain_not_allowed", "{kind}");
        assert!(p.list().await.unwrap().is_empty(), "{kind}: no account");
        // A person whose email moves to another customer keeps their account, refused.
        let moving = identity("m-1", "mo@acme.com", true);
        p.provision(&moving, None).await.unwrap();
        let moved = with_claim(&moving, "email", json!("mo@globex.com"));
        let err = p.provision(&moved, None).await.unwrap_err();
        assert_eq!(err.code().as_str(), "domain_not_allowed", "{kind}: {err}");
        assert!(err.to_string().contains("sip.acme.com"), "{err}");
        let audit = p.audit_log(0).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|r| r.outcome == "domain_not_allowed")
                .count(),
            3,
            "{kind}: every refusal audited"
        );
    }
}

#[tokio::test]
async fn an_account_keeps_its_domain_when_the_configured_domain_changes() {
    for (kind, url) in databases("domain_change").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let ada = identity("ada-sub", "ada@example.com", true);
        let first = p.provision(&ada, None).await.unwrap().to_wire();
        drop(p);
        // The operator moves new accounts to another domain: existing ones keep theirs.
        let secret = ServerSecret::new(b"test-secret-of-32-bytes-exactly!".to_vec()).unwrap();
        let moved = Provisioner::new(
            Database::open(&url).await.unwrap(),
            kamailio(),
            SipSettings {
                domain: "voip.example.net".into(),
                ..settings()
            },
            secret,
            Policy::default(),
            Arc::new(clock),
        );
        let again = moved.provision(&ada, None).await.unwrap().to_wire();
        assert_eq!(again.sip_domain, first.sip_domain, "{kind}");
        assert_eq!(again.sip_uri.as_deref(), Some("sip:ada@sip.example.com"));
    }
}

fn with_rights(p: Provisioner) -> Provisioner {
    p.with_rights(sipauth_provision::Rights::new(vec![
        sipauth_provision::Right::new("outbound", vec!["voip-outbound".into()], vec![]).unwrap(),
        sipauth_provision::Right::new(
            "international",
            vec!["voip-international".into()],
            vec![("role".into(), "travel-desk".into())],
        )
        .unwrap(),
    ]))
}

/// The groups Kamailio's group module reads for (username, sip.example.com), sorted.
async fn grp_rows(p: &Provisioner, username: &str) -> Vec<String> {
    let pool = sqlx_pool(p).await;
    sqlx::query(
        "SELECT grp FROM grp WHERE username = $1 AND domain = 'sip.example.com' ORDER BY grp",
    )
    .bind(username.to_string())
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect()
}

#[tokio::test]
async fn call_rights_follow_the_providers_groups_and_claims_into_kamailios_grp_table() {
    for (kind, url) in databases("rights").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = with_rights(p);
        let plain = identity("r-1", "rita@example.com", true);
        let answer = p.provision(&plain, None).await.unwrap().to_wire();
        assert_eq!(answer.rights, Some(vec![]), "{kind}: no group, no right");
        assert!(grp_rows(&p, "rita").await.is_empty());
        // An operator's own group for the account stays whatever the provider says.
        let pool = sqlx_pool(&p).await;
        sqlx::query("INSERT INTO grp (username, domain, grp) VALUES ('rita', 'sip.example.com', 'voicemail')")
            .execute(&pool)
            .await
            .unwrap();
        // Put in the outbound group at the provider: the next provision grants it.
        let outbound = with_claim(&plain, "groups", json!(["staff", "voip-outbound"]));
        let answer = p.provision(&outbound, None).await.unwrap().to_wire();
        assert_eq!(answer.rights, Some(vec!["outbound".to_string()]), "{kind}");
        assert_eq!(grp_rows(&p, "rita").await, ["outbound", "voicemail"]);
        // The same again (the fast path) answers the same rights.
        let again = p.provision(&outbound, None).await.unwrap().to_wire();
        assert_eq!(again.rights, answer.rights, "{kind}");
        // A claim value grants a right too.
        let desk = with_claim(&outbound, "role", json!("travel-desk"));
        let answer = p.provision(&desk, None).await.unwrap().to_wire();
        assert_eq!(
            answer.rights,
            Some(vec!["international".to_string(), "outbound".to_string()]),
            "{kind}"
        );
        assert_eq!(
            p.show("rita").await.unwrap().rights,
            ["international", "outbound"]
        );
        // Out of the group and off the desk: both go at once; the operator's group stays.
        let answer = p.provision(&plain, None).await.unwrap().to_wire();
        assert_eq!(answer.rights, Some(vec![]), "{kind}");
        assert_eq!(grp_rows(&p, "rita").await, ["voicemail"], "{kind}");
        // Disabled: its rights go with its access; enabled and provisioned: back.
        p.provision(&outbound, None).await.unwrap();
        p.disable("rita").await.unwrap();
        assert_eq!(grp_rows(&p, "rita").await, ["voicemail"], "{kind}");
        p.enable("rita").await.unwrap();
        let answer = p.provision(&outbound, None).await.unwrap().to_wire();
        assert_eq!(answer.rights, Some(vec!["outbound".to_string()]), "{kind}");
        assert_eq!(grp_rows(&p, "rita").await, ["outbound", "voicemail"]);
    }
}

#[tokio::test]
async fn without_rights_configured_the_answer_names_none_and_no_grp_row_is_written() {
    for (kind, url) in databases("norights").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = with_claim(
            &identity("n-1", "nia@example.com", true),
            "groups",
            json!(["voip-outbound"]),
        );
        let answer = p.provision(&id, None).await.unwrap().to_wire();
        assert_eq!(answer.rights, None, "{kind}");
        assert!(grp_rows(&p, "nia").await.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn a_scim_group_change_grants_and_takes_a_right_at_once() {
    for (kind, url) in databases("scimrights").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = with_rights(p).with_link_claim(ISSUER, "sub");
        let dora = identity("sub-dora", "dora@example.com", true);
        let (user, _) = p
            .directory_create(ISSUER, pushed("dora@example.com", Some("sub-dora"), true))
            .await
            .unwrap();
        let first = p.provision(&dora, None).await.unwrap().to_wire();
        assert_eq!(first.rights, Some(vec![]), "{kind}");
        let group = |members: Vec<String>| {
            DirectoryWrite::Group(GroupWrite {
                display_name: "voip-outbound".into(),
                external_id: None,
                members,
                attributes: json!({"displayName": "voip-outbound"})
                    .as_object()
                    .unwrap()
                    .clone(),
            })
        };
        // Added to the group: the SIP server enforces the right before any new sign-in.
        let (g, _) = p
            .directory_create(ISSUER, group(vec![user.id.clone()]))
            .await
            .unwrap();
        assert_eq!(grp_rows(&p, "dora").await, ["outbound"], "{kind}");
        assert_eq!(
            p.provision(&dora, None).await.unwrap().to_wire().rights,
            Some(vec!["outbound".to_string()])
        );
        // Removed from it: gone at once.
        p.directory_replace(ISSUER, &g.id, None, group(vec![]))
            .await
            .unwrap();
        assert!(grp_rows(&p, "dora").await.is_empty(), "{kind}");
        // Back in, then the group deleted: gone again.
        p.directory_replace(ISSUER, &g.id, None, group(vec![user.id.clone()]))
            .await
            .unwrap();
        assert_eq!(grp_rows(&p, "dora").await, ["outbound"], "{kind}");
        p.directory_delete(ISSUER, sipauth_provision::EntryKind::Group, &g.id)
            .await
            .unwrap();
        assert!(grp_rows(&p, "dora").await.is_empty(), "{kind}");
    }
}

fn device(name: &str) -> sipauth_provision::DeviceRequest {
    sipauth_provision::DeviceRequest {
        name: name.into(),
        user_agent: Some("test phone/1.0".into()),
    }
}

/// The `subscriber` row of digest user `user`: (ha1, sipauth_owner).
async fn device_row(p: &Provisioner, user: &str) -> Option<(String, Option<String>)> {
    let pool = sqlx_pool(p).await;
    let row = sqlx::query("SELECT ha1, sipauth_owner FROM subscriber WHERE username = $1 AND domain = 'sip.example.com'")
        .bind(user.to_string())
        .fetch_optional(&pool)
        .await
        .unwrap()?;
    Some((row.get(0), row.get(1)))
}

#[tokio::test]
async fn each_device_gets_its_own_digest_user_and_password_and_is_revoked_alone() {
    for (kind, url) in databases("devices").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let p = p.with_credentials_per_device(2, sipauth_provision::DeviceLimit::Refuse);
        let alice = identity("d-1", "alice@example.com", true);
        let phone = p
            .provision_device(&alice, None, Some(&device("Alice's iPhone")))
            .await
            .unwrap();
        let laptop = p
            .provision_device(&alice, None, Some(&device("Laptop")))
            .await
            .unwrap();
        // One SIP URI, two digest users, two passwords.
        let (pw, lw) = (phone.to_wire(), laptop.to_wire());
        assert_eq!(pw.sip_uri, lw.sip_uri, "{kind}");
        assert_eq!(pw.username.as_deref(), Some("alice"));
        let (pa, la) = (
            pw.authorization_username.clone().unwrap(),
            lw.authorization_username.clone().unwrap(),
        );
        assert!(
            pa.starts_with("alice~") && la.starts_with("alice~") && pa != la,
            "{pa} {la}"
        );
        assert_ne!(pw.password, lw.password);
        // Kamailio's rows: one per device, owned by alice; none shared.
        assert_eq!(
            device_row(&p, &pa).await,
            Some((
                ha1(&pa, "sip.example.com", pw.password.as_deref().unwrap()),
                Some("alice".into())
            )),
            "{kind}"
        );
        assert!(device_row(&p, &la).await.is_some());
        assert_eq!(
            subscriber(&p, "alice").await,
            None,
            "{kind}: no shared password"
        );
        // The same name again (any case): the same credentials.
        let again = p
            .provision_device(&alice, None, Some(&device("alice's iphone ")))
            .await
            .unwrap()
            .to_wire();
        assert_eq!(
            (again.authorization_username, again.password),
            (Some(pa.clone()), pw.password.clone())
        );
        // A third device is refused (max 2), saying so.
        let refused = p
            .provision_device(&alice, None, Some(&device("Tablet")))
            .await
            .unwrap_err();
        assert_eq!(refused.code().as_str(), "too_many_devices", "{kind}");
        // Revoking the phone ends its row only.
        let listed = p.devices(ISSUER, "d-1").await.unwrap();
        assert_eq!(listed.len(), 2);
        let phone_id = listed
            .iter()
            .find(|d| d.name == "Alice's iPhone")
            .unwrap()
            .id
            .clone();
        assert_eq!(listed[0].user_agent.as_deref(), Some("test phone/1.0"));
        assert!(p
            .revoke_device(ISSUER, "d-1", &phone_id, None)
            .await
            .unwrap());
        assert!(!p
            .revoke_device(ISSUER, "d-1", &phone_id, None)
            .await
            .unwrap());
        assert_eq!(device_row(&p, &pa).await, None, "{kind}");
        assert!(
            device_row(&p, &la).await.is_some(),
            "{kind}: the laptop works"
        );
        assert_eq!(p.devices_of_user("alice").await.unwrap().len(), 1);
        // A rotation ends every device's password; the next provision gets a new one.
        p.rotate("alice").await.unwrap();
        assert_eq!(device_row(&p, &la).await, None, "{kind}");
        let rotated = p
            .provision_device(&alice, None, Some(&device("Laptop")))
            .await
            .unwrap()
            .to_wire();
        assert_eq!(rotated.authorization_username.as_deref(), Some(la.as_str()));
        assert_ne!(rotated.password, lw.password);
        // Disabled: every device's row goes.
        p.disable("alice").await.unwrap();
        assert_eq!(device_row(&p, &la).await, None, "{kind}");
    }
}

#[tokio::test]
async fn at_the_device_limit_the_least_recently_provisioned_device_can_make_room() {
    for (kind, url) in databases("devlimit").await {
        let (p, clock) = provisioner(&url, kamailio(), Policy::default()).await;
        let p =
            p.with_credentials_per_device(2, sipauth_provision::DeviceLimit::RevokeOldestUnused);
        let bo = identity("d-2", "bo@example.com", true);
        let old = p
            .provision_device(&bo, None, Some(&device("Old phone")))
            .await
            .unwrap()
            .to_wire();
        clock.advance(Duration::from_secs(60));
        let desk = p
            .provision_device(&bo, None, Some(&device("Desk")))
            .await
            .unwrap()
            .to_wire();
        clock.advance(Duration::from_secs(60));
        p.provision_device(&bo, None, Some(&device("New phone")))
            .await
            .unwrap();
        let names: Vec<String> = p
            .devices(ISSUER, "d-2")
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["Desk", "New phone"], "{kind}");
        assert_eq!(
            device_row(&p, old.authorization_username.as_deref().unwrap()).await,
            None
        );
        assert!(
            device_row(&p, desk.authorization_username.as_deref().unwrap())
                .await
                .is_some()
        );
        // A name that is not one is refused.
        let bad = p
            .provision_device(&bo, None, Some(&device("bad\u{7}name")))
            .await
            .unwrap_err();
        assert_eq!(bad.code().as_str(), "invalid_request", "{kind}");
    }
}

/// Records the service's instances share: one live record per id, a cap on live records of a
/// kind, one taker of a record, a person's records ended together, expired ones never answered
/// and swept. Both engines.
#[tokio::test]
async fn shared_records_are_kept_once_taken_once_capped_and_swept() {
    use sipauth_provision::{Inserted, NewRecord, SharedRecords};
    for (engine, url) in databases("records").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let records: SharedRecords = p.shared_records();
        let record = |id: &'static str, expires_at: i64, person: Option<&'static str>| NewRecord {
            kind: "session",
            id,
            data: id,
            expires_at,
            person,
            sid: None,
        };
        assert_eq!(
            records
                .insert(record("a", 110, Some("ana")), 3, 100)
                .await
                .unwrap(),
            Inserted::Kept,
            "{engine}"
        );
        // A live id is never overwritten; a replayed logout token is this case.
        assert_eq!(
            records
                .insert(record("a", 200, None), 3, 100)
                .await
                .unwrap(),
            Inserted::Exists,
            "{engine}"
        );
        assert_eq!(
            records.get("session", "a", 109).await.unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            records.get("session", "a", 110).await.unwrap(),
            None,
            "{engine}: expired"
        );
        assert_eq!(
            records.get("flow", "a", 100).await.unwrap(),
            None,
            "{engine}: another kind"
        );
        for id in ["b", "c"] {
            records
                .insert(record(id, 500, Some("ana")), 3, 100)
                .await
                .unwrap();
        }
        // Three live records of the kind: a fourth is refused, and none is dropped for it.
        assert_eq!(
            records
                .insert(record("d", 500, None), 3, 100)
                .await
                .unwrap(),
            Inserted::Full,
            "{engine}"
        );
        // Once "a" expired, its id and its place are free again.
        assert_eq!(
            records
                .insert(record("d", 500, None), 3, 120)
                .await
                .unwrap(),
            Inserted::Kept,
            "{engine}"
        );
        assert_eq!(
            records
                .insert(record("a", 500, None), 3, 120)
                .await
                .unwrap(),
            Inserted::Full,
            "{engine}: b, c and d live"
        );
        // Taken once: the second taker has nothing.
        assert_eq!(
            records.take("session", "d", 120).await.unwrap().as_deref(),
            Some("d")
        );
        assert_eq!(
            records.take("session", "d", 120).await.unwrap(),
            None,
            "{engine}"
        );
        // A person's records end together, and only theirs.
        let mut ended = records
            .remove_tagged("session", Some("ana"), None)
            .await
            .unwrap();
        ended.sort();
        assert_eq!(ended, ["a", "b", "c"], "{engine}");
        assert_eq!(
            records
                .remove_tagged("session", Some("ana"), None)
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        records
            .insert(record("e", 130, None), 3, 120)
            .await
            .unwrap();
        records
            .insert(record("f", 900, None), 3, 120)
            .await
            .unwrap();
        assert_eq!(records.sweep(130).await.unwrap(), 1, "{engine}: e expired");
        assert_eq!(
            records.get("session", "f", 130).await.unwrap().as_deref(),
            Some("f")
        );
    }
}

/// Provisions `id` until the account cache answers it (its watcher connects at the first
/// provision): the credentials.
async fn cached(p: &Provisioner, id: &VerifiedIdentity) -> sipauth_provision::Provisioned {
    for _ in 0..200 {
        let (hits, _) = p.account_cache_counts();
        let provisioned = p.provision(id, None).await.unwrap();
        if p.account_cache_counts().0 > hits {
            return provisioned;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the account cache never answered");
}

/// Another process's connection to the same database (`sipauth admin`, an operator's SQL).
async fn another_process(url: &str) -> sqlx::AnyPool {
    Database::open(url).await.unwrap().pool().clone()
}

/// Provisions `id` until `done` accepts the outcome; how long it took. Panics past 1 s.
async fn until_seen(
    p: &Provisioner,
    id: &VerifiedIdentity,
    done: impl Fn(&Result<sipauth_provision::Provisioned, ProvisionError>) -> bool,
) -> Duration {
    let began = sipauth::monotonic_now();
    loop {
        if done(&p.provision(id, None).await) {
            return began.elapsed();
        }
        assert!(
            began.elapsed() < Duration::from_secs(1),
            "a change made elsewhere was not seen within a second"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn the_account_cache_answers_unchanged_accounts_and_follows_changes_made_elsewhere() {
    for (engine, url) in databases("cache").await {
        let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
        let id = identity("cache-1", "cache1@example.com", true);
        let first = p.provision(&id, None).await.unwrap();
        let again = cached(&p, &id).await;
        assert_eq!(again.password.secret(), first.password.secret(), "{engine}");
        let other = another_process(&url).await;

        // Disabled by another process: refused within a second (measured).
        sqlx::query("UPDATE sipauth_account SET enabled = 0 WHERE subject = 'cache-1'")
            .execute(&other)
            .await
            .unwrap();
        let took = until_seen(&p, &id, |r| matches!(r, Err(ProvisionError::Disabled(_)))).await;
        eprintln!(
            "{engine}: a disable made elsewhere seen after {} ms",
            took.as_millis()
        );

        // Enabled again, cached again; then its row deleted by hand: written back.
        sqlx::query("UPDATE sipauth_account SET enabled = 1 WHERE subject = 'cache-1'")
            .execute(&other)
            .await
            .unwrap();
        until_seen(&p, &id, Result::is_ok).await;
        cached(&p, &id).await;
        sqlx::query("DELETE FROM subscriber WHERE username = 'cache1'")
            .execute(&other)
            .await
            .unwrap();
        let began = sipauth::monotonic_now();
        while subscriber(&p, "cache1").await.is_none() {
            assert!(
                began.elapsed() < Duration::from_secs(1),
                "{engine}: the row is not back"
            );
            p.provision(&id, None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }

        // Rotated elsewhere (a new generation): the new password, never the cached one.
        cached(&p, &id).await;
        sqlx::query(
            "UPDATE sipauth_account SET generation = generation + 1 WHERE subject = 'cache-1'",
        )
        .execute(&other)
        .await
        .unwrap();
        until_seen(&p, &id, |r| {
            r.as_ref()
                .is_ok_and(|c| c.password.secret() != first.password.secret())
        })
        .await;
    }
}

#[tokio::test]
async fn rejects_answering_from_the_cache_while_its_postgresql_listener_is_away() {
    let (_, url) = databases("listener")
        .await
        .into_iter()
        .find(|(engine, _)| engine == "postgres")
        .unwrap();
    let (p, _) = provisioner(&url, kamailio(), Policy::default()).await;
    let id = identity("cache-2", "cache2@example.com", true);
    p.provision(&id, None).await.unwrap();
    cached(&p, &id).await;
    let other = another_process(&url).await;
    // The listener's connection ends (a PostgreSQL restart, a network cut); a change is made
    // before it reconnects, so no announcement of it ever reaches this process.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .execute(&other)
    .await
    .unwrap();
    sqlx::query("UPDATE sipauth_account SET enabled = 0 WHERE subject = 'cache-2'")
        .execute(&other)
        .await
        .unwrap();
    until_seen(&p, &id, |r| matches!(r, Err(ProvisionError::Disabled(_)))).await;
    // Reconnected: the cache answers again.
    sqlx::query("UPDATE sipauth_account SET enabled = 1 WHERE subject = 'cache-2'")
        .execute(&other)
        .await
        .unwrap();
    until_seen(&p, &id, Result::is_ok).await;
    cached(&p, &id).await;
}
