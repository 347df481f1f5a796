//! [`Provisioner`]: a verified identity in, SIP credentials out. It orchestrates the rooms
//! beside it: the [`Policy`] decides, the account SQL ([`crate::store::accounts`]) finds or
//! creates the account under the library's one naming rule ([`sipauth::sip`]), the
//! [`PasswordIssuer`] issues the password, the [`Backend`] makes the SIP server accept it, all
//! in one write transaction with its audit row. A repeated provision that changes nothing takes
//! a read-only path and writes its audit row by group commit. Concurrent first provisions of
//! one identity, from one instance or several on one PostgreSQL, create exactly one account:
//! the unique keys decide, `ON CONFLICT DO NOTHING` and a re-read do the rest. Operators'
//! changes are in [`crate::operations`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sipauth::sip::{self, ReservedUsernames, UsernamePolicy, DEFAULT_USERNAME_CLAIMS};
use sipauth::{SharedClock, SipPassword, VerifiedIdentity};
use sqlx::{Any, Transaction};

use crate::account::Account;
use crate::backend::{Backend, KamailioRpc};
use crate::cache::{AccountCache, Lookup};
use crate::error::ProvisionError;
use crate::password::{PasswordIssuer, ServerSecret};
use crate::policy::{OnPolicyFailure, Policy};
use crate::rights::Rights;
use crate::store::accounts::{self, DisabledBy, NewAccount};
use crate::store::audit::{self, AuditLog, AuditRow};
use crate::store::devices;
use crate::store::{self, retired, Database, WriteTx};
use crate::tenancy::Tenancy;

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
    pub(crate) fn realm(&self) -> &str {
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
    /// Its call rights, when rights are configured (`[rights]`).
    pub rights: Option<Vec<String>>,
    /// The device it was made for, with credentials per device.
    pub device: Option<crate::account::Device>,
}

impl Provisioned {
    /// The provisioning API's answer.
    pub fn to_wire(&self) -> sipauth_wire::ProvisionResponse {
        let a = &self.account;
        sipauth_wire::ProvisionResponse {
            username: Some(a.username.clone()),
            password: Some(self.password.secret().to_string()),
            sip_password: Some(self.password.secret().to_string()),
            sip_uri: Some(sip::sip_uri(&a.username, &a.domain)),
            sip_domain: Some(a.domain.clone()),
            ws_server_uri: Some(self.settings.ws_uri.clone()),
            realm: Some(self.settings.realm().to_string()),
            authorization_username: Some(self.authorization_username.clone()),
            display_name: Some(a.display_name.clone()),
            expires_at: self.expires_at,
            sip_server: self.settings.sip_server.clone(),
            rights: self.rights.clone(),
        }
    }
}

/// What happens when a person with credentials per device already has `max_devices` and
/// provisions a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceLimit {
    /// The new device is refused (`409 too_many_devices`): the person revokes one first.
    #[default]
    Refuse,
    /// The device provisioned least recently is revoked to make room.
    RevokeOldestUnused,
}

/// The device a provision is for (credentials per device): its name, and the user agent that
/// asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The name the person gives it ("Alice's iPhone"); the same name gets the same
    /// credentials again.
    pub name: String,
    /// The client's User-Agent, when known.
    pub user_agent: Option<String>,
}

/// The name a device gets when its provision names none.
pub const UNNAMED_DEVICE: &str = "Unnamed device";

/// The longest device name (characters).
const MAX_DEVICE_NAME: usize = 64;

/// Credentials per device: at most `max` devices a person, and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PerDevice {
    max: usize,
    at_limit: DeviceLimit,
}

/// Accounts, passwords and the SIP server, over one database.
#[derive(Debug, Clone)]
pub struct Provisioner {
    pub(crate) db: Database,
    pub(crate) backend: Backend,
    pub(crate) settings: SipSettings,
    /// Per-person SIP domains and servers (templates over claims), when configured.
    tenancy: Option<Arc<Tenancy>>,
    /// Call rights from the provider's groups and claims.
    pub(crate) rights: Arc<Rights>,
    /// Credentials per device (`None`: one password per person).
    per_device: Option<PerDevice>,
    /// Issuers whose people have SIP settings of their own (in the order configured).
    issuer_settings: Arc<Vec<(sipauth::Issuer, SipSettings)>>,
    pub(crate) passwords: PasswordIssuer,
    policy: Policy,
    pub(crate) clock: SharedClock,
    username_claims: Vec<String>,
    reserved: ReservedUsernames,
    quarantine: Option<Duration>,
    /// Per issuer, the claim whose value a SCIM user's `externalId` holds (default `sub`).
    link_claims: Arc<HashMap<String, String>>,
    /// How long a provision's password works (credential leases; `None`: for ever).
    lease: Option<Duration>,
    /// Kamailio's JSON-RPC: what is registered goes when access ends.
    rpc: Option<Arc<KamailioRpc>>,
    /// Kamailio nodes that could not be told, since the start.
    rpc_failures: Arc<AtomicU64>,
    /// Lifecycle events recorded since the start, by audit action.
    events: Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>>,
    audit: Arc<OnceLock<AuditLog>>,
    /// What the fast path read of accounts, kept true by the database's announcements.
    cache: Arc<OnceLock<Arc<AccountCache>>>,
}

/// When the identity's token was issued (`iat`), when it says.
fn issued_at(identity: &VerifiedIdentity) -> Option<i64> {
    identity
        .claims()
        .get("iat")
        .and_then(serde_json::Value::as_f64)
        .map(|v| v as i64)
}

/// What an identity keeps current on its account: display name, email, link value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    pub display_name: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
}

impl Profile {
    fn matches(&self, account: &Account) -> bool {
        self.display_name == account.display_name
            && self.email == account.email
            && self.external_id == account.external_id
    }
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
            tenancy: None,
            issuer_settings: Arc::default(),
            rights: Arc::default(),
            per_device: None,
            passwords: PasswordIssuer::new(secret),
            policy,
            clock,
            username_claims: DEFAULT_USERNAME_CLAIMS.map(String::from).to_vec(),
            reserved: ReservedUsernames::default(),
            quarantine: None,
            link_claims: Arc::new(HashMap::new()),
            lease: None,
            rpc: None,
            rpc_failures: Arc::new(AtomicU64::new(0)),
            events: Arc::default(),
            audit: Arc::new(OnceLock::new()),
            cache: Arc::new(OnceLock::new()),
        }
    }

    /// Decides the SIP domain, WebSocket server and realm per person from templates over
    /// verified claims, bounded by an allowlist ([`Tenancy`]); without it every account is in
    /// the configured domain.
    pub fn with_tenancy(mut self, tenancy: Tenancy) -> Self {
        self.tenancy = Some(Arc::new(tenancy));
        self
    }

    /// People of `issuer` get `settings` instead of the configured ones (a customer on its own
    /// identity provider and SIP server); the tenant templates, when set, still apply over
    /// them. The first issuer that accepts a person's `iss` decides.
    pub fn with_issuer_settings(mut self, issuer: sipauth::Issuer, settings: SipSettings) -> Self {
        Arc::make_mut(&mut self.issuer_settings).push((issuer, settings));
        self
    }

    /// Gives each device of a person its own digest username (`<username>~<tag>`) and password
    /// under the person's one SIP URI, at most `max` devices a person (`at_limit` beyond).
    pub fn with_credentials_per_device(mut self, max: usize, at_limit: DeviceLimit) -> Self {
        self.per_device = Some(PerDevice {
            max: max.max(1),
            at_limit,
        });
        self
    }

    /// True with credentials per device.
    pub fn per_device(&self) -> bool {
        self.per_device.is_some()
    }

    /// After the account's password changed (a new generation): the SIP server takes the new
    /// one, or, with credentials per device, refuses every device until it provisions again
    /// (each device's password derives from the generation too).
    pub(crate) async fn grant_current(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        account: &Account,
        realm: &str,
        password: &sipauth::SipPassword,
    ) -> Result<(), ProvisionError> {
        match self.per_device {
            Some(_) => self.backend.end_devices(tx, account, None).await,
            None => self.backend.grant(tx, account, realm, password).await,
        }
    }

    /// Gives accounts call rights from their identity's groups and claims, written to
    /// Kamailio's `grp` table at every provision ([`Rights`]).
    pub fn with_rights(mut self, rights: Rights) -> Self {
        self.rights = Arc::new(rights);
        self
    }

    /// The configured settings of `issuer`'s people: its own, else the service's.
    fn base_for(&self, issuer: &str) -> &SipSettings {
        self.issuer_settings
            .iter()
            .find(|(i, _)| i.accepts(issuer))
            .map_or(&self.settings, |(_, s)| s)
    }

    /// The SIP settings for `who` of `issuer` (its tenant's, its issuer's, or the configured
    /// ones).
    pub(crate) fn settings_for(
        &self,
        issuer: &str,
        who: &dyn sip::IdentityClaims,
    ) -> Result<std::borrow::Cow<'_, SipSettings>, ProvisionError> {
        let base = self.base_for(issuer);
        match &self.tenancy {
            Some(t) => t.settings(base, who).map(std::borrow::Cow::Owned),
            None => Ok(std::borrow::Cow::Borrowed(base)),
        }
    }

    /// Whether the tenant templates now give `account` another domain than it was made in.
    /// Without a domain template an account keeps its domain whatever the configured one is
    /// (an operator changing `[sip] domain` does not strand the accounts already made).
    fn domain_moved(&self, account: &Account, settings: &SipSettings) -> bool {
        self.tenancy.as_ref().is_some_and(|t| t.decides_domain())
            && account.domain != settings.domain
    }

    /// The digest realm of accounts in `domain` (an issuer's own domain has its realm).
    pub(crate) fn realm_of(&self, domain: &str) -> String {
        let base = self
            .issuer_settings
            .iter()
            .find(|(_, s)| s.domain == domain)
            .map_or(&self.settings, |(_, s)| s);
        match &self.tenancy {
            Some(t) => t.realm_for(base, domain),
            None => base.realm().to_string(),
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

    /// Names no identity gets as its plain name (default: [`ReservedUsernames::default`]).
    pub fn with_reserved_usernames(mut self, reserved: ReservedUsernames) -> Self {
        self.reserved = reserved;
        self
    }

    /// How long a deleted account's username stays away from other identities (`None`, the
    /// default: for ever). The same identity gets it back at any time.
    pub fn with_username_quarantine(mut self, quarantine: Option<Duration>) -> Self {
        self.quarantine = quarantine;
        self
    }

    /// Tells Kamailio (every node `rpc` names) to forget what a person registered whenever
    /// their access ends or their password changes, after the change commits.
    pub fn with_kamailio_rpc(mut self, rpc: KamailioRpc) -> Self {
        self.rpc = Some(Arc::new(rpc));
        self
    }

    /// Counts a lifecycle event (a closed set: the audit actions of the provider's word).
    pub(crate) fn count(&self, event: &'static str) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *events.entry(event).or_default() += 1;
    }

    /// Lifecycle events since the start, by name (`scim_deactivate`, `policy_disable`,
    /// `backchannel_disable`, `lease_expired`, ...): for the service's metrics.
    pub fn lifecycle_counts(&self) -> Vec<(&'static str, u64)> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Kamailio nodes that could not be told since the start (after their retries).
    pub fn kamailio_rpc_failures(&self) -> u64 {
        self.rpc_failures.load(Ordering::Relaxed)
    }

    /// Commits `w`, then has the SIP server forget what the accounts whose access it ended
    /// have registered and end their calls (each node told, retried; audited, a failure
    /// counted).
    pub(crate) async fn finish(&self, w: WriteTx<'_>) -> Result<(), ProvisionError> {
        let ended = w.commit().await?;
        // Before anyone hears of the change: nothing this process cached of it is answered.
        if let Some(cache) = self.cache.get() {
            cache.clear();
        }
        let Some(rpc) = &self.rpc else {
            return Ok(());
        };
        for (aor, device) in &ended.devices {
            let failed = rpc.end_device(aor, device).await;
            if !failed.is_empty() {
                self.rpc_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        for aor in ended.aors {
            let failed = rpc.end_access(&aor).await;
            let outcome = match failed.is_empty() {
                true => "ok".to_string(),
                false => {
                    self.rpc_failures.fetch_add(1, Ordering::Relaxed);
                    format!("failed at {}", failed.join(" "))
                }
            };
            let username = aor.split('@').next();
            if let Err(e) = self.note("kamailio_access_ended", username, &outcome).await {
                tracing::warn!(error = %e, "auditing the contacts' removal failed");
            }
        }
        Ok(())
    }

    /// Credential leases: a password works only `ttl` after the identity's last provision with
    /// a valid token; the lease sweeper ([`Provisioner::expire_leases`]) ends it at the SIP
    /// server then, and the next provision gets a new generation. Not for `auth_ephemeral`,
    /// whose credentials expire by themselves.
    pub fn with_credential_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.lease = ttl.filter(|t| !t.is_zero());
        self
    }

    /// The lease's length in seconds, when leases are on (and the backend stores passwords).
    pub(crate) fn lease_secs(&self) -> Option<i64> {
        self.lease
            .filter(|_| self.backend.stores_passwords())
            .map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
    }

    /// The claim of `issuer`'s verified tokens that a SCIM user's `externalId` holds (default
    /// `sub`; Entra ID's `sub` is pairwise per application, so there it is `oid`).
    pub fn with_link_claim(mut self, issuer: &str, claim: &str) -> Self {
        Arc::make_mut(&mut self.link_claims).insert(issuer.to_string(), claim.to_string());
        self
    }

    /// The claim linking `issuer`'s identities to SCIM users.
    pub(crate) fn link_claim(&self, issuer: &str) -> &str {
        self.link_claims.get(issuer).map_or("sub", String::as_str)
    }

    /// The identity's link value: its `sub`, or the configured claim's text.
    fn link_value(&self, identity: &VerifiedIdentity) -> Option<String> {
        match self.link_claim(identity.issuer()) {
            "sub" => Some(identity.subject().to_string()),
            claim => sip::IdentityClaims::claim_text(identity, claim),
        }
    }

    /// The profile `identity` gives an account named `username`.
    fn profile(&self, identity: &VerifiedIdentity, username: &str) -> Profile {
        Profile {
            display_name: sip::display_name(identity, None, username),
            email: identity.string("email").map(str::to_string),
            external_id: self.link_value(identity),
        }
    }

    /// Issues a new random password on every provision (Kamailio subscriber backend) instead
    /// of the derived one: each device that provisions ends the previous device's password.
    pub fn with_random_passwords(mut self, on: bool) -> Self {
        self.passwords = self.passwords.clone().random(on);
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The records every instance on this database shares (the web page's, the back-channel
    /// replay cache).
    pub fn shared_records(&self) -> crate::SharedRecords {
        crate::SharedRecords::new(self.db.clone())
    }

    /// The key shared records are sealed with: the server secret's, so every instance with
    /// that secret has it.
    pub fn sealing_key(&self) -> sipauth::SealingKey {
        self.passwords.secret().sealing_key()
    }

    /// Provisions of unchanged accounts answered from the account cache, and those that read
    /// the database, since the start (both 0 until the first provision).
    pub fn account_cache_counts(&self) -> (u64, u64) {
        self.cache.get().map_or((0, 0), |c| c.counts())
    }

    /// The account cache (its watcher started on first use, on the caller's runtime).
    fn account_cache(&self) -> &AccountCache {
        self.cache.get_or_init(|| AccountCache::start(&self.db))
    }

    /// The audit writer (started on first use, on the caller's runtime).
    pub(crate) fn audit_writer(&self) -> &AuditLog {
        self.audit.get_or_init(|| AuditLog::start(self.db.clone()))
    }

    /// Finds or creates the account of `identity` and hands out its credentials. `client_ip`
    /// goes to the audit log.
    pub async fn provision(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
    ) -> Result<Provisioned, ProvisionError> {
        self.provision_device(identity, client_ip, None).await
    }

    /// The same, for `device` (with credentials per device: its own credentials, made at its
    /// first provision; one password per person otherwise, and `device` is ignored).
    pub async fn provision_device(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
        device: Option<&DeviceRequest>,
    ) -> Result<Provisioned, ProvisionError> {
        let now = self.clock.now_unix();
        let row = |username: Option<&str>, outcome: &str| AuditRow {
            at: now,
            issuer: Some(identity.issuer().to_string()),
            subject: Some(identity.subject().to_string()),
            username: username.map(str::to_string),
            action: "provision",
            outcome: outcome.to_string(),
            client_ip: client_ip.map(str::to_string),
        };
        let groups = match (self.policy.reads_groups() || self.rights.reads_groups())
            && self.link_claims.contains_key(identity.issuer())
        {
            true => {
                store::directory::groups_of(&self.db.pool, identity.issuer(), identity.subject())
                    .await?
            }
            false => Vec::new(),
        };
        if let Err(e) = self.policy.check_with_groups(identity, &groups) {
            let mut w = self.db.begin_write().await?;
            let existing =
                accounts::find_locked(&mut w, identity.issuer(), identity.subject()).await?;
            let username = existing.as_ref().map(|a| a.username.clone());
            audit::insert(&mut *w.tx, &row(username.as_deref(), e.code().as_str())).await?;
            // The identity no longer passes: its SIP access ends in the same transaction.
            if let (OnPolicyFailure::Disable, Some(account)) = (self.policy.on_failure, existing) {
                if account.enabled {
                    accounts::update(
                        &mut *w.tx,
                        &account,
                        accounts::Change::DisabledBy(DisabledBy::Policy),
                        now,
                    )
                    .await?;
                    self.backend.revoke(&mut w, &account).await?;
                    let mut disabled = row(Some(&account.username), "ok");
                    disabled.action = "policy_disable";
                    audit::insert(&mut *w.tx, &disabled).await?;
                    self.count("policy_disable");
                }
            }
            self.finish(w).await?;
            return Err(e);
        }
        let rights = self.rights.of(identity, &groups);
        let settings = match self.settings_for(identity.issuer(), identity) {
            Ok(settings) => settings,
            Err(e) => {
                self.audit_writer()
                    .append(row(None, e.code().as_str()))
                    .await?;
                return Err(e);
            }
        };
        let fast = match self.per_device {
            // Each device's row is its own: the transactional path finds it.
            Some(_) => None,
            None => {
                self.provision_unchanged(identity, now, &settings, &rights)
                    .await?
            }
        };
        if let Some(provisioned) = fast {
            self.audit_writer()
                .append(row(Some(&provisioned.account.username), "ok"))
                .await?;
            return Ok(provisioned);
        }
        let mut w = self.db.begin_write().await?;
        let account =
            match accounts::find_locked(&mut w, identity.issuer(), identity.subject()).await? {
                Some(account) => Some(account),
                None => self.link_pushed(&mut w, identity).await?,
            };
        let mut account = match account {
            Some(account) if self.domain_moved(&account, &settings) => {
                // Its claims now give another tenant's domain: never hand out that tenant's
                // servers for this account; an operator moves it.
                let e = ProvisionError::DomainNotAllowed(format!(
                    "this identity's SIP account is in {}, but its claims now give {}: an operator moves the account (sipauth admin delete {}@{}, then sign in again)",
                    account.domain, settings.domain, account.username, account.domain
                ));
                audit::insert(&mut *w.tx, &row(Some(&account.username), e.code().as_str())).await?;
                self.finish(w).await?;
                return Err(e);
            }
            Some(account) => {
                self.refresh_profile(&mut w.tx, account, identity, now)
                    .await?
            }
            None => match self.create(&mut w, identity, now, &settings.domain).await {
                Ok(account) => account,
                Err(e) => {
                    audit::insert(&mut *w.tx, &row(None, e.code().as_str())).await?;
                    self.finish(w).await?;
                    return Err(e);
                }
            },
        };
        // Disabled by the policy, and passing it again; or by a back-channel logout, and this
        // token issued after it: access returns, with a new generation (the password it had
        // never works again). An operator's or the directory's disable stays.
        let disabled_by = match account.enabled {
            true => None,
            false => accounts::disabled_by(&mut *w.tx, &account).await?,
        };
        let back = match disabled_by {
            Some(DisabledBy::Policy) => Some("policy_enable"),
            Some(DisabledBy::Logout(at)) if issued_at(identity).is_some_and(|iat| iat > at) => {
                Some("logout_enable")
            }
            _ => None,
        };
        if let Some(action) = back {
            accounts::update(&mut *w.tx, &account, accounts::Change::NextGeneration, now).await?;
            accounts::update(&mut *w.tx, &account, accounts::Change::Enabled(true), now).await?;
            account.generation += 1;
            account.enabled = true;
            let mut enabled = row(Some(&account.username), "ok");
            enabled.action = action;
            audit::insert(&mut *w.tx, &enabled).await?;
            self.count(action);
        }
        if let (Some(ttl), true) = (self.lease_secs(), account.enabled) {
            // Ended but not swept yet: its password dies here, as the sweeper would have done.
            if account.lease_expires_at.is_some_and(|end| end <= now) {
                accounts::update(&mut *w.tx, &account, accounts::Change::NextGeneration, now)
                    .await?;
                account.generation += 1;
                let mut expired = row(Some(&account.username), "ok");
                expired.action = "lease_expired";
                audit::insert(&mut *w.tx, &expired).await?;
                self.count("lease_expired");
            }
            let until = now.saturating_add(ttl);
            accounts::update(
                &mut *w.tx,
                &account,
                accounts::Change::Lease(Some(until)),
                now,
            )
            .await?;
            account.lease_expires_at = Some(until);
        }
        if account.enabled {
            let configured = self.rights.names();
            self.backend
                .set_rights(&mut w.tx, &mut account, configured, rights, now)
                .await?;
        }
        let result = if account.enabled {
            let mut provisioned = self.hand_out(&account, now, &settings)?;
            if self.lease_secs().is_some() {
                provisioned.expires_at = account.lease_expires_at;
            }
            match self.per_device {
                None => {
                    self.backend
                        .grant(&mut w.tx, &account, settings.realm(), &provisioned.password)
                        .await?;
                    Ok(provisioned)
                }
                Some(limits) => {
                    self.for_device(&mut w, provisioned, device, limits, now)
                        .await
                }
            }
        } else if matches!(disabled_by, Some(DisabledBy::Logout(_))) {
            // A token from before the provider's logout: the client signs in again.
            Err(ProvisionError::SignedOut)
        } else {
            Err(ProvisionError::Disabled(account.username.clone()))
        };
        let outcome = result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok");
        audit::insert(&mut *w.tx, &row(Some(&account.username), outcome)).await?;
        self.finish(w).await?;
        result
    }

    /// `provisioned` made a device's: the device named by `request` (found by its name, or
    /// made, within the limit), its own password and digest username written for the SIP
    /// server. A refusal (too many devices, a bad name) is an error the caller audits.
    async fn for_device(
        &self,
        w: &mut WriteTx<'_>,
        mut provisioned: Provisioned,
        request: Option<&DeviceRequest>,
        limits: PerDevice,
        now: i64,
    ) -> Result<Provisioned, ProvisionError> {
        let account = provisioned.account.clone();
        let name = request.map_or(UNNAMED_DEVICE, |r| r.name.trim());
        if name.is_empty()
            || name.chars().count() > MAX_DEVICE_NAME
            || name.chars().any(char::is_control)
        {
            return Err(ProvisionError::Invalid(format!(
                "a device name is 1 to {MAX_DEVICE_NAME} characters, without control characters"
            )));
        }
        let user_agent = request.and_then(|r| r.user_agent.as_deref()).map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(256)
                .collect::<String>()
        });
        let device = match devices::find_by_name(w, &account, name).await? {
            Some(device) => {
                devices::touch(&mut *w.tx, &device, user_agent.as_deref(), now).await?;
                device
            }
            None => {
                let existing = devices::list(&mut *w.tx, &account).await?;
                if existing.len() >= limits.max {
                    let oldest = existing
                        .iter()
                        .min_by_key(|d| (d.last_provisioned_at, d.created_at))
                        .cloned();
                    match (limits.at_limit, oldest) {
                        (DeviceLimit::RevokeOldestUnused, Some(oldest)) => {
                            devices::delete(&mut *w.tx, &account, &oldest.id).await?;
                            w.end_device_registration(&account, &oldest.authorization_username);
                            self.backend
                                .end_devices(
                                    &mut w.tx,
                                    &account,
                                    Some(&oldest.authorization_username),
                                )
                                .await?;
                        }
                        _ => {
                            return Err(ProvisionError::TooManyDevices(format!(
                                "{} already has {} devices, the most allowed: revoke one first",
                                account.username,
                                existing.len()
                            )))
                        }
                    }
                }
                let device = self.new_device(w, &account, name, user_agent, now).await?;
                devices::insert(&mut *w.tx, &account, &device).await?;
                device
            }
        };
        let password = self.passwords.issue_for_device(&account, &device.id)?;
        self.backend
            .grant_device(
                &mut w.tx,
                &account,
                &device.authorization_username,
                provisioned.settings.realm(),
                &password,
            )
            .await?;
        provisioned.password = password;
        provisioned.authorization_username = device.authorization_username.clone();
        provisioned.device = Some(device);
        Ok(provisioned)
    }

    /// A new device of `account`: a fresh id and a digest username `<username>~<tag>` that no
    /// device and no hand-made `subscriber` row holds.
    async fn new_device(
        &self,
        w: &mut WriteTx<'_>,
        account: &Account,
        name: &str,
        user_agent: Option<String>,
        now: i64,
    ) -> Result<crate::account::Device, ProvisionError> {
        let random =
            |n| sipauth::random_urlsafe(n).map_err(|e| ProvisionError::Config(e.to_string()));
        for _ in 0..16 {
            // Four characters of [a-z0-9]: readable in a phone's settings.
            let tag: String = random(12)?
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .take(4)
                .collect();
            if tag.len() < 4 {
                continue;
            }
            let auth_username = format!("{}~{tag}", account.username);
            if devices::auth_username_taken(&mut *w.tx, &auth_username, &account.domain).await?
                || self
                    .backend
                    .name_taken(&mut w.tx, &auth_username, &account.domain)
                    .await?
            {
                continue;
            }
            return Ok(crate::account::Device {
                id: random(12)?,
                name: name.to_string(),
                authorization_username: auth_username,
                user_agent,
                created_at: now,
                last_provisioned_at: now,
            });
        }
        Err(ProvisionError::Username(
            "no free digest username for a new device".into(),
        ))
    }

    /// The fast path of a repeated provision: the account exists, is enabled, its profile and
    /// the SIP server's entry are current. `None` sends the provision down the transactional
    /// path.
    async fn provision_unchanged(
        &self,
        identity: &VerifiedIdentity,
        now: i64,
        settings: &SipSettings,
        rights: &[String],
    ) -> Result<Option<Provisioned>, ProvisionError> {
        if self.passwords.is_random() {
            return Ok(None);
        }
        let cache = self.account_cache();
        let (current, epoch) = match cache.get(identity.issuer(), identity.subject()) {
            Lookup::Hit(current) => (Some(current), None),
            Lookup::Miss(epoch) => (
                self.read_current(identity).await?.map(Arc::new),
                Some(epoch),
            ),
            Lookup::Off => (self.read_current(identity).await?.map(Arc::new), None),
        };
        let Some(current) = current else {
            return Ok(None);
        };
        let account = &current.account;
        if !account.enabled
            || account.rights != rights
            || self.domain_moved(account, settings)
            || !self.profile(identity, &account.username).matches(account)
        {
            return Ok(None);
        }
        let mut provisioned = self.hand_out(account, now, settings)?;
        if !current.holds(&self.backend, settings.realm(), &provisioned.password) {
            return Ok(None);
        }
        if let Some(ttl) = self.lease_secs() {
            // A live lease is answered as it is until half of it is left, then extended by
            // one conditional write; an ended (or missing) lease takes the transactional path.
            match account.lease_expires_at {
                Some(end) if end > now && end - now > ttl / 2 => {
                    provisioned.expires_at = Some(end);
                }
                Some(end) if end > now => {
                    let to = now.saturating_add(ttl);
                    let extended = accounts::extend_lease(&self.db.pool, account, end, to).await;
                    // Changed: what is cached of it (here, and by announcement elsewhere) goes.
                    cache.forget(&account.issuer, &account.subject);
                    if !extended? {
                        return Ok(None);
                    }
                    provisioned.expires_at = Some(to);
                    return Ok(Some(provisioned));
                }
                _ => return Ok(None),
            }
        }
        if let Some(epoch) = epoch {
            cache.keep(epoch, &current);
        }
        Ok(Some(provisioned))
    }

    /// The account of `identity` with its SIP server row, from the database.
    async fn read_current(
        &self,
        identity: &VerifiedIdentity,
    ) -> Result<Option<crate::backend::Current>, ProvisionError> {
        self.backend
            .current(&self.db.pool, identity.issuer(), identity.subject())
            .await
    }

    /// The credentials of an enabled account.
    fn hand_out(
        &self,
        account: &Account,
        now: i64,
        settings: &SipSettings,
    ) -> Result<Provisioned, ProvisionError> {
        let issued = match self.backend.stores_passwords() {
            true => Some(self.passwords.issue(account)?),
            false => None,
        };
        let presented = self.backend.presented(account, issued, now)?;
        Ok(Provisioned {
            account: account.clone(),
            password: presented.password,
            authorization_username: presented.authorization_username,
            expires_at: presented.expires_at,
            settings: settings.clone(),
            rights: self.rights.is_configured().then(|| account.rights.clone()),
            device: None,
        })
    }

    /// A new account, named by the library's rule ([`sip::username_candidates`]): the name
    /// this identity held before its account was deleted, the name its claims give (unless
    /// reserved), then its own suffixed form; the first that is free. A name is free when no
    /// other account holds it, no `subscriber` row sipauth did not write has it, and no other
    /// identity's deleted account held it within the quarantine. The generation starts after
    /// the deleted account's, so no earlier password comes back.
    async fn create(
        &self,
        w: &mut WriteTx<'_>,
        identity: &VerifiedIdentity,
        now: i64,
        domain: &str,
    ) -> Result<Account, ProvisionError> {
        let (issuer, subject) = (identity.issuer(), identity.subject());
        let link = self.link_value(identity);
        // Deleted by the provider's directory: refused until the provider pushes it again.
        if retired::refused(&mut *w.tx, issuer, subject, link.as_deref()).await? {
            return Err(ProvisionError::Removed);
        }
        let profile = |username: &str| self.profile(identity, username);
        self.create_named(w, identity, (issuer, subject, domain), &profile, now)
            .await
    }

    /// Creates the account of `who` (a verified identity, or a user the provider pushed): its
    /// (issuer, subject) in `domain`, under the naming rule, with the profile `profile` gives
    /// each candidate name.
    pub(crate) async fn create_named(
        &self,
        w: &mut WriteTx<'_>,
        who: &impl sip::IdentityClaims,
        (issuer, subject, domain): (&str, &str, &str),
        profile: &(dyn Fn(&str) -> Profile + Sync),
        now: i64,
    ) -> Result<Account, ProvisionError> {
        let naming = UsernamePolicy::default();
        let before = retired::find(&mut *w.tx, issuer, subject).await?;
        let mut candidates =
            sip::username_candidates(who, issuer, &self.username_claims, &self.reserved, naming);
        if let Some(old) = before.as_ref().filter(|r| r.domain == domain) {
            candidates.retain(|c| *c != old.username);
            candidates.insert(0, old.username.clone());
        }
        let generation = before
            .as_ref()
            .map_or(0, |r| r.generation.saturating_add(1));
        let since = self
            .quarantine
            .map(|q| now.saturating_sub(i64::try_from(q.as_secs()).unwrap_or(i64::MAX)));
        for username in &candidates {
            if self.backend.name_taken(&mut w.tx, username, domain).await?
                || retired::quarantined(&mut *w.tx, username, domain, issuer, subject, since)
                    .await?
            {
                continue;
            }
            let p = profile(username);
            let new = NewAccount {
                issuer,
                subject,
                username,
                domain,
                display_name: &p.display_name,
                email: p.email.as_deref(),
                external_id: p.external_id.as_deref(),
            };
            accounts::insert_if_free(&mut *w.tx, &new, generation, now).await?;
            // Ours, or another instance's that won the race for this identity.
            if let Some(account) = accounts::find_locked(w, issuer, subject).await? {
                return Ok(account);
            }
            // Nothing: another account holds the name. Try the next.
        }
        Err(ProvisionError::Username(format!(
            "every name for this identity is taken: {}",
            candidates.join(", ")
        )))
    }

    /// The account the provider pushed for this identity's link value before its first
    /// sign-in, now linked to it (its subject becomes the identity's).
    async fn link_pushed(
        &self,
        w: &mut WriteTx<'_>,
        identity: &VerifiedIdentity,
    ) -> Result<Option<Account>, ProvisionError> {
        if !self.link_claims.contains_key(identity.issuer()) {
            return Ok(None);
        }
        let Some(link) = self.link_value(identity) else {
            return Ok(None);
        };
        let Some(mut account) = accounts::find_unlinked_locked(w, identity.issuer(), &link).await?
        else {
            return Ok(None);
        };
        accounts::relink(w, &account, identity.subject()).await?;
        account.subject = identity.subject().to_string();
        Ok(Some(account))
    }

    async fn refresh_profile(
        &self,
        tx: &mut Transaction<'_, Any>,
        mut account: Account,
        identity: &VerifiedIdentity,
        now: i64,
    ) -> Result<Account, ProvisionError> {
        let p = self.profile(identity, &account.username);
        if p.matches(&account) {
            return Ok(account);
        }
        accounts::update(
            &mut **tx,
            &account,
            accounts::Change::Profile {
                display_name: &p.display_name,
                email: p.email.as_deref(),
                external_id: p.external_id.as_deref(),
            },
            now,
        )
        .await?;
        account.display_name = p.display_name;
        account.email = p.email;
        account.external_id = p.external_id;
        account.updated_at = now;
        Ok(account)
    }

    /// Ends every lease that ended by now, each in its own write transaction: a new generation
    /// (the password never works again), the SIP server's entry removed, the lease cleared, an
    /// audit row (`lease_expired`). The identities whose access ended. Run it often (the
    /// service does, every quarter second): access ends within a second of the lease.
    pub async fn expire_leases(&self) -> Result<crate::Ended, ProvisionError> {
        let mut ended = crate::Ended::default();
        if self.lease_secs().is_none() {
            return Ok(ended);
        }
        let now = self.clock.now_unix();
        let due = accounts::expired_leases(&self.db.pool, now, 500).await?;
        for (issuer, subject) in due {
            let mut w = self.db.begin_write().await?;
            let Some(account) = accounts::find_locked(&mut w, &issuer, &subject).await? else {
                continue;
            };
            // A provision may have renewed it meanwhile.
            if account.lease_expires_at.is_none_or(|end| end > now) {
                continue;
            }
            accounts::update(&mut *w.tx, &account, accounts::Change::NextGeneration, now).await?;
            accounts::update(&mut *w.tx, &account, accounts::Change::Lease(None), now).await?;
            self.backend.revoke(&mut w, &account).await?;
            let row = AuditRow {
                at: now,
                issuer: Some(issuer.clone()),
                subject: Some(subject.clone()),
                username: Some(account.username.clone()),
                action: "lease_expired",
                outcome: "ok".into(),
                client_ip: None,
            };
            audit::insert(&mut *w.tx, &row).await?;
            self.finish(w).await?;
            self.count("lease_expired");
            ended.push(&account);
        }
        Ok(ended)
    }

    /// Deprovisions the caller: the generation moves on (the old password is dead) and the SIP
    /// server forgets the account until the next provision. False when there was no account.
    pub async fn deprovision(
        &self,
        identity: &VerifiedIdentity,
        client_ip: Option<&str>,
    ) -> Result<bool, ProvisionError> {
        let now = self.clock.now_unix();
        let mut w = self.db.begin_write().await?;
        let Some(account) =
            accounts::find_locked(&mut w, identity.issuer(), identity.subject()).await?
        else {
            return Ok(false);
        };
        accounts::update(&mut *w.tx, &account, accounts::Change::NextGeneration, now).await?;
        self.backend.revoke(&mut w, &account).await?;
        let row = AuditRow {
            at: now,
            issuer: Some(account.issuer.clone()),
            subject: Some(account.subject.clone()),
            username: Some(account.username.clone()),
            action: "deprovision",
            outcome: "ok".into(),
            client_ip: client_ip.map(str::to_string),
        };
        audit::insert(&mut *w.tx, &row).await?;
        self.finish(w).await?;
        Ok(true)
    }
}
