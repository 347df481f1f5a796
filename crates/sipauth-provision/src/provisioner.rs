//! [`Provisioner`]: a verified identity in, SIP credentials out. One write transaction per
//! provision: the audit row always; the account and `subscriber` rows only when something
//! changed. Concurrent first provisions of one identity, from one instance or several on one
//! PostgreSQL, create exactly one account: the unique keys decide, `ON CONFLICT DO NOTHING`
//! and a re-read do the rest. Operations (`rotate`, `disable`, `enable`, `delete`, `list`,
//! `audit`) work on the same tables.

use sha2::{Digest, Sha256};
use sipauth::{SharedClock, SipPassword, VerifiedIdentity};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::account::{Account, AuditEntry};
use crate::audit::{AuditLog, AuditRow};
use crate::backend::{ephemeral, Backend, SubscriberRow};
use crate::db::Database;
use crate::error::ProvisionError;
use crate::password::ServerSecret;
use crate::policy::Policy;

/// An operator's change to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Rotate,
    Disable,
    Enable,
    Delete,
}

impl Operation {
    /// The audit log's name for it.
    fn name(self) -> &'static str {
        match self {
            Operation::Rotate => "rotate",
            Operation::Disable => "disable",
            Operation::Enable => "enable",
            Operation::Delete => "delete",
        }
    }
}

/// The SIP side of every account.
#[derive(Debug, Clone)]
pub struct SipSettings {
    /// The SIP domain of the accounts.
    pub domain: String,
    /// The digest realm (default: the domain).
    pub realm: Option<String>,
    /// The WebSocket server clients connect to.
    pub ws_uri: String,
    /// The registrar for native clients (`sip:host:port;transport=udp|tcp|tls`), if any.
    pub sip_server: Option<String>,
}

impl SipSettings {
    fn realm(&self) -> &str {
        self.realm.as_deref().unwrap_or(&self.domain)
    }
}

/// What a provision hands out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Provisioned {
    /// The account.
    pub account: Account,
    /// The SIP password.
    pub password: SipPassword,
    /// The digest username (`<expiry>:<user>` for auth_ephemeral).
    pub authorization_username: String,
    /// When the password stops working, if it does.
    pub expires_at: Option<i64>,
    /// The SIP settings it was made with.
    pub settings: SipSettings,
}

impl Provisioned {
    /// The provisioning API's answer.
    pub fn to_wire(&self) -> sipauth_wire::ProvisionResponse {
        let a = &self.account;
        sipauth_wire::ProvisionResponse {
            username: Some(a.username.clone()),
            password: Some(self.password.secret().to_string()),
            sip_password: Some(self.password.secret().to_string()),
            sip_uri: Some(sipauth::sip::sip_uri(&a.username, &a.domain)),
            sip_domain: Some(a.domain.clone()),
            ws_server_uri: Some(self.settings.ws_uri.clone()),
            realm: Some(self.settings.realm().to_string()),
            authorization_username: Some(self.authorization_username.clone()),
            display_name: Some(a.display_name.clone()),
            expires_at: self.expires_at,
            sip_server: self.settings.sip_server.clone(),
        }
    }
}

/// Accounts, passwords and the SIP server, over one database.
#[derive(Debug, Clone)]
pub struct Provisioner {
    db: Database,
    backend: Backend,
    settings: SipSettings,
    secret: ServerSecret,
    policy: Policy,
    clock: SharedClock,
    username_claims: Vec<String>,
    random_passwords: bool,
    audit: std::sync::Arc<std::sync::OnceLock<AuditLog>>,
}

/// Where a new account's username comes from, in order, by default: the local part of a
/// verified email, `preferred_username`, the subject.
pub const DEFAULT_USERNAME_CLAIMS: [&str; 3] = ["email", "preferred_username", "sub"];

const ACCOUNT_COLUMNS: &str = "issuer, subject, username, domain, display_name, email, enabled, generation, created_at, updated_at";

fn account_from(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        issuer: row.try_get("issuer")?,
        subject: row.try_get("subject")?,
        username: row.try_get("username")?,
        domain: row.try_get("domain")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        generation: row.try_get("generation")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The SIP username an identity asks for: the first of `claims` that gives one (`email`: the
/// local part of a verified email only; `sub`: the subject; any other: that claim's string),
/// sanitised to `[a-z0-9._-]`, at most 48 characters (room for a collision suffix within
/// Kamailio's 64); the sanitised subject when none does.
fn wanted_username(identity: &VerifiedIdentity, claims: &[String]) -> String {
    let verified = identity.claims.get("email_verified") == Some(&serde_json::Value::Bool(true));
    let from = |claim: &str| -> Option<String> {
        let name = match claim {
            "email" => identity
                .string("email")
                .filter(|_| verified)
                .map(sipauth::sip::email_local_part)?,
            "sub" => sipauth::sip::sanitize_username(&identity.subject),
            other => sipauth::sip::sanitize_username(identity.string(other)?),
        };
        Some(name).filter(|n| !n.is_empty())
    };
    let name = claims
        .iter()
        .find_map(|c| from(c))
        .unwrap_or_else(|| sipauth::sip::sanitize_username(&identity.subject));
    let name: String = name.chars().take(48).collect();
    if name.is_empty() {
        "user".into()
    } else {
        name
    }
}

/// The deterministic suffix that separates two identities wanting one username.
fn suffixed(username: &str, identity: &VerifiedIdentity) -> String {
    let mut hash = Sha256::new();
    hash.update(identity.issuer.as_bytes());
    hash.update([0]);
    hash.update(identity.subject.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{username}-{hex}")
}

fn display_name(identity: &VerifiedIdentity, username: &str) -> String {
    let name = identity
        .string("name")
        .or_else(|| identity.string("preferred_username"))
        .unwrap_or(username);
    // No quotes or control characters: it ends up in SIP headers.
    name.chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(128)
        .collect()
}

impl Provisioner {
    /// A provisioner over `db` for accounts in `settings.domain`.
    pub fn new(
        db: Database,
        backend: Backend,
        settings: SipSettings,
        secret: ServerSecret,
        policy: Policy,
        clock: SharedClock,
    ) -> Self {
        Self {
            db,
            backend,
            settings,
            secret,
            policy,
            clock,
            username_claims: DEFAULT_USERNAME_CLAIMS.map(String::from).to_vec(),
            random_passwords: false,
            audit: std::sync::Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Names new accounts from these claims, in order (see [`DEFAULT_USERNAME_CLAIMS`]). A
    /// username is decided once, at the first provision, and kept.
    pub fn with_username_claims(mut self, claims: Vec<String>) -> Self {
        if !claims.is_empty() {
            self.username_claims = claims;
        }
        self
    }

    /// Issues a new random password on every provision (Kamailio subscriber backend) instead
    /// of the derived one: each device that provisions ends the previous device's password.
    pub fn with_random_passwords(mut self, on: bool) -> Self {
        self.random_passwords = on;
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn begin(
        &self,
    ) -> Result<
        (
            Option<tokio::sync::MutexGuard<'_, ()>>,
            Transaction<'_, Any>,
        ),
        ProvisionError,
    > {
        // SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so other writers (this
        // process's wait on the mutex, other processes in the busy timeout) queue instead of
        // failing as `database is locked` when a read would upgrade to a write.
        Ok(match self.db.kind {
            crate::db::Kind::Sqlite => (
                Some(self.db.writer.lock().await),
                self.db.pool.begin_with("BEGIN IMMEDIATE").await?,
            ),
            crate::db::Kind::Postgres => (None, self.db.pool.begin().await?),
        })
    }

    async fn audit(
        tx: &mut Transaction<'_, Any>,
        now: i64,
        identity: Option<(&str, &str)>,
        username: Option<&str>,
        action: &str,
        outcome: &str,
        client_ip: Option<&str>,
    ) -> Result<(), ProvisionError> {
        sqlx::query("INSERT INTO sipauth_audit (at, issuer, subject, username, action, outcome, client_ip) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(now)
            .bind(identity.map(|i| i.0.to_string()))
            .bind(identity.map(|i| i.1.to_string()))
            .bind(username.map(str::to_string))
            .bind(action.to_string())
            .bind(outcome.to_string())
            .bind(client_ip.map(str::to_string))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn find<'e, E: sqlx::Executor<'e, Database = Any>>(
        executor: E,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Account>, ProvisionError> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sipauth_account WHERE issuer = $1 AND subject = $2"
        ))
        .bind(issuer.to_string())
        .bind(subject.to_string())
        .fetch_optional(executor)
        .await?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    /// The audit writer (started on first use, on the caller's runtime).
    fn audit_writer(&self) -> &AuditLog {
        self.audit.get_or_init(|| AuditLog::start(self.db.clone()))
    }

    /// The fast path of a repeated provision: the account exists, is enabled, its profile and
    /// its `subscriber` row are current. Then only the audit row is written (group commit);
    /// `None` sends the provision down the transactional path.
    async fn provision_unchanged(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
        now: i64,
    ) -> Result<Option<Provisioned>, ProvisionError> {
        if self.random_passwords {
            return Ok(None);
        }
        // One read: the account and its subscriber row together.
        let columns = ACCOUNT_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(row) = sqlx::query(&format!(
            "SELECT {columns}, s.password AS s_password, s.ha1 AS s_ha1, s.ha1b AS s_ha1b \
             FROM sipauth_account a LEFT JOIN subscriber s \
             ON s.username = a.username AND s.domain = a.domain \
             WHERE a.issuer = $1 AND a.subject = $2"
        ))
        .bind(identity.issuer.clone())
        .bind(identity.subject.clone())
        .fetch_optional(&self.db.pool)
        .await?
        else {
            return Ok(None);
        };
        let account = account_from(&row)?;
        let profile_current = display_name(identity, &account.username) == account.display_name
            && identity.string("email").map(str::to_string) == account.email;
        if !account.enabled || !profile_current {
            return Ok(None);
        }
        let provisioned = self.credentials(&account, now)?;
        if let Backend::KamailioSubscriber { store_plaintext } = self.backend {
            let want = SubscriberRow::new(
                &account.username,
                &account.domain,
                self.settings.realm(),
                &provisioned.password,
                store_plaintext,
            );
            let current = row.try_get::<Option<String>, _>("s_ha1")?.as_deref() == Some(&want.ha1)
                && row.try_get::<Option<String>, _>("s_ha1b")?.as_deref() == Some(&want.ha1b)
                && row.try_get::<Option<String>, _>("s_password")?.as_deref()
                    == Some(&want.password);
            if !current {
                return Ok(None);
            }
        }
        self.audit_writer()
            .append(AuditRow {
                at: now,
                issuer: Some(identity.issuer.clone()),
                subject: Some(identity.subject.clone()),
                username: Some(account.username.clone()),
                action: "provision",
                outcome: "ok".into(),
                client_ip: client_ip.map(str::to_string),
            })
            .await?;
        Ok(Some(provisioned))
    }

    /// Finds or creates the account of `identity` and hands out its credentials. `client_ip`
    /// goes to the audit log.
    pub async fn provision(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
    ) -> Result<Provisioned, ProvisionError> {
        let now = self.clock.now_unix();
        let who = Some((identity.issuer.as_str(), identity.subject.as_str()));
        if let Err(e) = self.policy.check(identity) {
            let (_guard, mut tx) = self.begin().await?;
            Self::audit(&mut tx, now, who, None, "provision", e.code(), client_ip).await?;
            tx.commit().await?;
            return Err(e);
        }
        if let Some(provisioned) = self.provision_unchanged(identity, client_ip, now).await? {
            return Ok(provisioned);
        }
        let (_guard, mut tx) = self.begin().await?;
        let account = match Self::find(&mut *tx, &identity.issuer, &identity.subject).await? {
            Some(account) => {
                self.refresh_profile(&mut tx, account, identity, now)
                    .await?
            }
            None => self.create(&mut tx, identity, now).await?,
        };
        let result = if account.enabled {
            let provisioned = self.credentials(&account, now)?;
            if let Backend::KamailioSubscriber { store_plaintext } = self.backend {
                self.write_subscriber(&mut tx, &account, &provisioned.password, store_plaintext)
                    .await?;
            }
            Ok(provisioned)
        } else {
            Err(ProvisionError::Disabled(account.username.clone()))
        };
        let outcome = result.as_ref().map_or_else(ProvisionError::code, |_| "ok");
        let user = Some(account.username.as_str());
        Self::audit(&mut tx, now, who, user, "provision", outcome, client_ip).await?;
        tx.commit().await?;
        result
    }

    fn credentials(&self, account: &Account, now: i64) -> Result<Provisioned, ProvisionError> {
        let (authorization_username, password, expires_at) = match &self.backend {
            Backend::Ephemeral {
                secret,
                algorithm,
                ttl,
            } => {
                let (user, password, expiry) =
                    ephemeral(secret, *algorithm, *ttl, &account.username, now);
                (user, password, Some(expiry))
            }
            Backend::KamailioSubscriber { .. } => (
                account.username.clone(),
                match self.random_passwords {
                    true => sipauth::random_urlsafe(18)
                        .map(SipPassword::new)
                        .map_err(|e| ProvisionError::Config(e.to_string()))?,
                    false => {
                        self.secret
                            .password(&account.issuer, &account.subject, account.generation)
                    }
                },
                None,
            ),
        };
        Ok(Provisioned {
            account: account.clone(),
            password,
            authorization_username,
            expires_at,
            settings: self.settings.clone(),
        })
    }

    async fn create(
        &self,
        tx: &mut Transaction<'_, Any>,
        identity: &VerifiedIdentity,
        now: i64,
    ) -> Result<Account, ProvisionError> {
        let wanted = wanted_username(identity, &self.username_claims);
        for username in [wanted.clone(), suffixed(&wanted, identity)] {
            let display = display_name(identity, &username);
            sqlx::query(
                "INSERT INTO sipauth_account (issuer, subject, username, domain, display_name, email, enabled, generation, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1, 0, $7, $7) ON CONFLICT DO NOTHING",
            )
            .bind(identity.issuer.clone())
            .bind(identity.subject.clone())
            .bind(username.clone())
            .bind(self.settings.domain.clone())
            .bind(display)
            .bind(identity.string("email").map(str::to_string))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            // Ours, or another instance's that won the race for this identity.
            if let Some(account) =
                Self::find(&mut **tx, &identity.issuer, &identity.subject).await?
            {
                return Ok(account);
            }
            // Nothing: the username belongs to someone else. Try the suffixed one.
        }
        Err(ProvisionError::Username(format!(
            "{wanted} and its suffixed form are taken"
        )))
    }

    async fn refresh_profile(
        &self,
        tx: &mut Transaction<'_, Any>,
        mut account: Account,
        identity: &VerifiedIdentity,
        now: i64,
    ) -> Result<Account, ProvisionError> {
        let display = display_name(identity, &account.username);
        let email = identity.string("email").map(str::to_string);
        if display == account.display_name && email == account.email {
            return Ok(account);
        }
        sqlx::query("UPDATE sipauth_account SET display_name = $1, email = $2, updated_at = $3 WHERE issuer = $4 AND subject = $5")
            .bind(display.clone())
            .bind(email.clone())
            .bind(now)
            .bind(account.issuer.clone())
            .bind(account.subject.clone())
            .execute(&mut **tx)
            .await?;
        account.display_name = display;
        account.email = email;
        account.updated_at = now;
        Ok(account)
    }

    /// Writes the `subscriber` row when it differs from what is there.
    async fn write_subscriber(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
        password: &SipPassword,
        store_plaintext: bool,
    ) -> Result<(), ProvisionError> {
        let row = SubscriberRow::new(
            &account.username,
            &account.domain,
            self.settings.realm(),
            password,
            store_plaintext,
        );
        let current = sqlx::query(
            "SELECT password, ha1, ha1b FROM subscriber WHERE username = $1 AND domain = $2",
        )
        .bind(account.username.clone())
        .bind(account.domain.clone())
        .fetch_optional(&mut **tx)
        .await?;
        match current {
            Some(r) => {
                let same = r.try_get::<String, _>("ha1")? == row.ha1
                    && r.try_get::<String, _>("ha1b")? == row.ha1b
                    && r.try_get::<String, _>("password")? == row.password;
                if !same {
                    sqlx::query("UPDATE subscriber SET password = $1, ha1 = $2, ha1b = $3 WHERE username = $4 AND domain = $5")
                        .bind(row.password)
                        .bind(row.ha1)
                        .bind(row.ha1b)
                        .bind(account.username.clone())
                        .bind(account.domain.clone())
                        .execute(&mut **tx)
                        .await?;
                }
            }
            None => {
                sqlx::query("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES ($1, $2, $3, $4, $5)")
                    .bind(account.username.clone())
                    .bind(account.domain.clone())
                    .bind(row.password)
                    .bind(row.ha1)
                    .bind(row.ha1b)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    async fn remove_subscriber(
        tx: &mut Transaction<'_, Any>,
        account: &Account,
    ) -> Result<(), ProvisionError> {
        sqlx::query("DELETE FROM subscriber WHERE username = $1 AND domain = $2")
            .bind(account.username.clone())
            .bind(account.domain.clone())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Deprovisions the caller: the generation moves on (the old password is dead) and the SIP
    /// server forgets the account until the next provision. False when there was no account.
    pub async fn deprovision(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
    ) -> Result<bool, ProvisionError> {
        let now = self.clock.now_unix();
        let (_guard, mut tx) = self.begin().await?;
        let Some(account) = Self::find(&mut *tx, &identity.issuer, &identity.subject).await? else {
            return Ok(false);
        };
        self.bump(&mut tx, &account, now).await?;
        Self::remove_subscriber(&mut tx, &account).await?;
        let who = Some((identity.issuer.as_str(), identity.subject.as_str()));
        Self::audit(
            &mut tx,
            now,
            who,
            Some(&account.username),
            "deprovision",
            "ok",
            client_ip,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn bump(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
        now: i64,
    ) -> Result<(), ProvisionError> {
        sqlx::query("UPDATE sipauth_account SET generation = generation + 1, updated_at = $1 WHERE issuer = $2 AND subject = $3")
            .bind(now)
            .bind(account.issuer.clone())
            .bind(account.subject.clone())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn by_username(
        tx: &mut Transaction<'_, Any>,
        username: &str,
    ) -> Result<Account, ProvisionError> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sipauth_account WHERE username = $1"
        ))
        .bind(username.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref()
            .map(account_from)
            .transpose()?
            .ok_or_else(|| ProvisionError::NotFound(username.to_string()))
    }

    /// Writes the account's current password to the SIP server (Kamailio's `subscriber` row;
    /// nothing for auth_ephemeral).
    async fn write_current(
        &self,
        tx: &mut Transaction<'_, Any>,
        account: &Account,
    ) -> Result<(), ProvisionError> {
        if let Backend::KamailioSubscriber { store_plaintext } = self.backend {
            let password =
                self.secret
                    .password(&account.issuer, &account.subject, account.generation);
            self.write_subscriber(tx, account, &password, store_plaintext)
                .await?;
        }
        Ok(())
    }

    /// An operator's change to one account, by SIP username, audited.
    async fn operate(&self, username: &str, op: Operation) -> Result<Account, ProvisionError> {
        let now = self.clock.now_unix();
        let (_guard, mut tx) = self.begin().await?;
        let account = Self::by_username(&mut tx, username).await?;
        let key = (account.issuer.clone(), account.subject.clone());
        match op {
            Operation::Rotate => {
                self.bump(&mut tx, &account, now).await?;
                if account.enabled {
                    let mut next = account.clone();
                    next.generation += 1;
                    self.write_current(&mut tx, &next).await?;
                }
            }
            Operation::Disable | Operation::Enable => {
                let enable = op == Operation::Enable;
                sqlx::query("UPDATE sipauth_account SET enabled = $1, updated_at = $2 WHERE issuer = $3 AND subject = $4")
                    .bind(i64::from(enable))
                    .bind(now)
                    .bind(key.0.clone())
                    .bind(key.1.clone())
                    .execute(&mut *tx)
                    .await?;
                if enable {
                    self.write_current(&mut tx, &account).await?;
                } else {
                    Self::remove_subscriber(&mut tx, &account).await?;
                }
            }
            Operation::Delete => {
                Self::remove_subscriber(&mut tx, &account).await?;
                sqlx::query("DELETE FROM sipauth_account WHERE issuer = $1 AND subject = $2")
                    .bind(key.0.clone())
                    .bind(key.1.clone())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let who = Some((key.0.as_str(), key.1.as_str()));
        Self::audit(&mut tx, now, who, Some(username), op.name(), "ok", None).await?;
        // The account as it is now, read in the same transaction (gone after a delete).
        let after = Self::by_username(&mut tx, username)
            .await
            .unwrap_or(account);
        tx.commit().await?;
        Ok(after)
    }

    /// A new password for `username`: the old one stops working at the SIP server at once.
    pub async fn rotate(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Rotate).await
    }

    /// Refuses `username` SIP access (and removes it from the SIP server) until enabled.
    pub async fn disable(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Disable).await
    }

    /// Gives `username` SIP access again.
    pub async fn enable(&self, username: &str) -> Result<Account, ProvisionError> {
        self.operate(username, Operation::Enable).await
    }

    /// Deletes `username` and its SIP server entry.
    pub async fn delete(&self, username: &str) -> Result<(), ProvisionError> {
        self.operate(username, Operation::Delete).await.map(|_| ())
    }

    /// Every account, by username.
    pub async fn list(&self) -> Result<Vec<Account>, ProvisionError> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sipauth_account ORDER BY username"
        ))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(account_from).collect::<Result<_, _>>()?)
    }

    /// One account by SIP username.
    pub async fn show(&self, username: &str) -> Result<Account, ProvisionError> {
        // A read: no need to queue behind writers.
        let mut tx = self.db.pool.begin().await?;
        let account = Self::by_username(&mut tx, username).await;
        tx.commit().await?;
        account
    }

    /// Audit entries since `since` (Unix seconds), oldest first.
    pub async fn audit_log(&self, since: i64) -> Result<Vec<AuditEntry>, ProvisionError> {
        let rows = sqlx::query("SELECT at, issuer, subject, username, action, outcome, client_ip FROM sipauth_audit WHERE at >= $1 ORDER BY id")
            .bind(since)
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    issuer: r.try_get("issuer")?,
                    subject: r.try_get("subject")?,
                    username: r.try_get("username")?,
                    action: r.try_get("action")?,
                    outcome: r.try_get("outcome")?,
                    client_ip: r.try_get("client_ip")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ProvisionError::from)
    }
}
