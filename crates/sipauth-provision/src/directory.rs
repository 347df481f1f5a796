//! The provider's directory: users and groups an identity provider pushes (SCIM 2.0), and
//! what they do to SIP accounts. A pushed user has an account before its first sign-in (named
//! from `userName` by the library's rule, like a sign-in); `active: false` disables it and
//! `DELETE` deletes it, each in one write transaction with the SIP backend's revoke and the
//! audit row, so access ends at the SIP server when the answer goes out. Re-activation gives a
//! new password generation. A sign-in finds its pushed account by the issuer's link claim
//! (`externalId` = `sub` by default). The SCIM protocol (JSON, filters, PATCH) is the server
//! crate's; here are only the resources' state and its effects.

use serde_json::{Map, Value};
use sipauth::sip::IdentityClaims;

use crate::account::Account;
use crate::error::ProvisionError;
use crate::provisioner::{Profile, Provisioner};
use crate::store::accounts::{self, Change, DisabledBy};
use crate::store::audit::{self, AuditRow};
use crate::store::directory::{self as store, Stored};
use crate::store::{retired, WriteTx};

/// A SCIM resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `urn:ietf:params:scim:schemas:core:2.0:User`
    User,
    /// `urn:ietf:params:scim:schemas:core:2.0:Group`
    Group,
}

impl EntryKind {
    /// The resource type's name (`User`, `Group`).
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::User => "User",
            EntryKind::Group => "Group",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "User" => Some(EntryKind::User),
            "Group" => Some(EntryKind::Group),
            _ => None,
        }
    }
}

/// The other side of a membership: a user's group or a group's member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// Its id.
    pub id: String,
    /// A group's displayName, or a user's userName.
    pub display: String,
}

/// A resource as stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DirectoryEntry {
    /// The SCIM id (sipauth's).
    pub id: String,
    /// User or Group.
    pub kind: EntryKind,
    /// The attributes as last written (without `id`, `meta`, `schemas`, `groups`, `members`).
    pub attributes: Map<String, Value>,
    /// Moves on with every change (the ETag).
    pub version: i64,
    /// When created (Unix seconds).
    pub created_at: i64,
    /// When last changed (Unix seconds).
    pub updated_at: i64,
    /// A user's groups, or a group's members.
    pub related: Vec<Related>,
}

/// What the provider says about a user.
#[derive(Debug, Clone)]
pub struct UserWrite {
    /// `userName` (unique per issuer, case-insensitively).
    pub user_name: String,
    /// `externalId`: the value of the issuer's link claim.
    pub external_id: Option<String>,
    /// `active`.
    pub active: bool,
    /// `displayName` (or `name.formatted`).
    pub display_name: Option<String>,
    /// The primary (or first) email.
    pub email: Option<String>,
    /// Every attribute, to store.
    pub attributes: Map<String, Value>,
}

/// What the provider says about a group.
#[derive(Debug, Clone)]
pub struct GroupWrite {
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The ids of its member users.
    pub members: Vec<String>,
    /// Every other attribute, to store.
    pub attributes: Map<String, Value>,
}

/// A create or replace.
#[derive(Debug, Clone)]
pub enum DirectoryWrite {
    /// A user.
    User(UserWrite),
    /// A group.
    Group(GroupWrite),
}

impl DirectoryWrite {
    fn kind(&self) -> EntryKind {
        match self {
            DirectoryWrite::User(_) => EntryKind::User,
            DirectoryWrite::Group(_) => EntryKind::Group,
        }
    }
}

/// The identities whose SIP access a directory change ended: the service ends their web
/// sessions too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ended {
    /// (issuer, subject) of each.
    pub identities: Vec<(String, String)>,
    /// Their SIP addresses of record (`user@domain`): what the SIP server has registered for
    /// them is to go too.
    pub aors: Vec<String>,
}

impl Ended {
    /// Adds `account`'s identity and address of record.
    pub fn push(&mut self, account: &Account) {
        self.identities
            .push((account.issuer.clone(), account.subject.clone()));
        self.aors
            .push(format!("{}@{}", account.username, account.domain));
    }
}

/// A pushed user as the naming rule sees it: `userName` as its verified email (when it has
/// the form of one) and preferred username, `displayName` as its name.
struct Pushed<'a> {
    subject: &'a str,
    user: &'a UserWrite,
}

impl IdentityClaims for Pushed<'_> {
    fn subject(&self) -> &str {
        self.subject
    }
    fn claim_value(&self, name: &str) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_string()));
        match name {
            "email" if self.user.user_name.contains('@') => text(&self.user.user_name),
            "email" => self.user.email.as_deref().and_then(text),
            "preferred_username" | "upn" => text(&self.user.user_name),
            "name" => self.user.display_name.as_deref().and_then(text),
            "sub" => text(self.subject),
            _ => None,
        }
    }
    fn email_verified(&self) -> bool {
        // The provider asserts the directory's values over an authenticated channel.
        true
    }
}

fn to_entry(s: Stored, related: Vec<Related>) -> Result<DirectoryEntry, ProvisionError> {
    let attributes = match serde_json::from_str(&s.body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(ProvisionError::Database(
                "a stored SCIM resource is not an object".into(),
            ))
        }
    };
    Ok(DirectoryEntry {
        id: s.id,
        kind: s.kind,
        attributes,
        version: s.version,
        created_at: s.created_at,
        updated_at: s.updated_at,
        related,
    })
}

impl Provisioner {
    /// One resource of `issuer`'s directory.
    pub async fn directory_get(
        &self,
        issuer: &str,
        kind: EntryKind,
        id: &str,
    ) -> Result<Option<DirectoryEntry>, ProvisionError> {
        let Some(s) = store::get(&self.db.pool, issuer, id).await? else {
            return Ok(None);
        };
        if s.kind != kind {
            return Ok(None);
        }
        let related = store::related(&self.db.pool, kind, &s.id).await?;
        to_entry(s, related).map(Some)
    }

    /// Every resource of one kind in `issuer`'s directory, oldest first, with memberships.
    pub async fn directory_list(
        &self,
        issuer: &str,
        kind: EntryKind,
    ) -> Result<Vec<DirectoryEntry>, ProvisionError> {
        let rows = store::list(&self.db.pool, issuer, kind).await?;
        let memberships = store::memberships(&self.db.pool, issuer).await?;
        let displays: std::collections::HashMap<String, String> = match kind {
            // A user's groups and a group's members are named by the other kind's display.
            EntryKind::User => store::list(&self.db.pool, issuer, EntryKind::Group).await?,
            EntryKind::Group => store::list(&self.db.pool, issuer, EntryKind::User).await?,
        }
        .into_iter()
        .map(|s| (s.id, s.display))
        .collect();
        let mut by_id: std::collections::HashMap<&str, Vec<Related>> = Default::default();
        for (group, user) in &memberships {
            let (mine, other) = match kind {
                EntryKind::User => (user, group),
                EntryKind::Group => (group, user),
            };
            if let Some(display) = displays.get(other) {
                by_id.entry(mine).or_default().push(Related {
                    id: other.clone(),
                    display: display.clone(),
                });
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let mut related = by_id.remove(s.id.as_str()).unwrap_or_default();
            related.sort_by(|a, b| a.display.cmp(&b.display));
            out.push(to_entry(s, related)?);
        }
        Ok(out)
    }

    /// Creates a resource in `issuer`'s directory; a user gets (or is linked to) an account.
    pub async fn directory_create(
        &self,
        issuer: &str,
        write: DirectoryWrite,
    ) -> Result<(DirectoryEntry, Ended), ProvisionError> {
        let now = self.clock.now_unix();
        let id = sipauth::random_urlsafe(16).map_err(|e| ProvisionError::Config(e.to_string()))?;
        let mut w = self.db.begin_write().await?;
        let mut ended = Ended::default();
        let mut stored = Stored {
            id: id.clone(),
            kind: write.kind(),
            display: String::new(),
            external_id: None,
            account_subject: None,
            active: true,
            body: String::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        match &write {
            DirectoryWrite::User(user) => {
                if store::user_name_taken(&mut *w.tx, issuer, &user.user_name, &id).await? {
                    return Err(ProvisionError::Conflict(format!(
                        "the userName {} is taken",
                        user.user_name
                    )));
                }
                let account = self
                    .account_for_pushed(&mut w, issuer, &id, user, now)
                    .await?;
                stored.account_subject = Some(account.subject.clone());
                self.apply_active(&mut w, &account, user.active, now, &mut ended)
                    .await?;
                self.audit_directory(&mut w, &account, "scim_create", now)
                    .await?;
            }
            DirectoryWrite::Group(group) => {
                self.check_members(&mut w, issuer, &group.members).await?;
                self.count("scim_group_create");
            }
        }
        fill(&mut stored, &write)?;
        store::insert(&mut *w.tx, issuer, &stored).await?;
        if let DirectoryWrite::Group(group) = &write {
            store::set_members(&mut w, &id, &group.members).await?;
            self.rights_follow_groups(&mut w, issuer, &group.members, now)
                .await?;
        }
        self.finish(w).await?;
        let entry = self
            .directory_get(issuer, stored.kind, &id)
            .await?
            .ok_or_else(|| ProvisionError::NotFound(id.clone()))?;
        Ok((entry, ended))
    }

    /// Replaces a resource's attributes (PUT, and PATCH after the server applied it), when its
    /// version is still `expected_version` (if given): the effects of `active` and `externalId`
    /// on the user's account happen in the same transaction.
    pub async fn directory_replace(
        &self,
        issuer: &str,
        id: &str,
        expected_version: Option<i64>,
        write: DirectoryWrite,
    ) -> Result<(DirectoryEntry, Ended), ProvisionError> {
        let now = self.clock.now_unix();
        let mut w = self.db.begin_write().await?;
        let mut ended = Ended::default();
        let Some(mut stored) = store::get_locked(&mut w, issuer, id)
            .await?
            .filter(|s| s.kind == write.kind())
        else {
            return Err(ProvisionError::NotFound(id.to_string()));
        };
        if expected_version.is_some_and(|v| v != stored.version) {
            return Err(ProvisionError::Stale);
        }
        let mut affected: Vec<String> = Vec::new();
        match &write {
            DirectoryWrite::User(user) => {
                if store::user_name_taken(&mut *w.tx, issuer, &user.user_name, id).await? {
                    return Err(ProvisionError::Conflict(format!(
                        "the userName {} is taken",
                        user.user_name
                    )));
                }
                let account = match &stored.account_subject {
                    Some(subject) => accounts::find_locked(&mut w, issuer, subject).await?,
                    None => None,
                };
                if let Some(mut account) = account {
                    if user.external_id != account.external_id {
                        account = self.relink_pushed(&mut w, account, user, now).await?;
                        stored.account_subject = Some(account.subject.clone());
                    }
                    self.apply_active(&mut w, &account, user.active, now, &mut ended)
                        .await?;
                    self.audit_directory(&mut w, &account, "scim_update", now)
                        .await?;
                }
            }
            DirectoryWrite::Group(group) => {
                self.check_members(&mut w, issuer, &group.members).await?;
                let before = store::related(&mut *w.tx, EntryKind::Group, id).await?;
                store::set_members(&mut w, id, &group.members).await?;
                affected.extend(before.into_iter().map(|r| r.id));
                affected.extend(group.members.iter().cloned());
                self.count("scim_group_update");
            }
        }
        fill(&mut stored, &write)?;
        stored.version += 1;
        stored.updated_at = now;
        store::update(&mut *w.tx, issuer, &stored).await?;
        // Members in or out, or the group renamed: their rights by groups follow now.
        self.rights_follow_groups(&mut w, issuer, &affected, now)
            .await?;
        self.finish(w).await?;
        let entry = self
            .directory_get(issuer, stored.kind, id)
            .await?
            .ok_or_else(|| ProvisionError::NotFound(id.to_string()))?;
        Ok((entry, ended))
    }

    /// Deletes a resource. A user's account goes with it (its SIP access at once), and the
    /// identity is refused until the provider pushes it again. False when there was none.
    pub async fn directory_delete(
        &self,
        issuer: &str,
        kind: EntryKind,
        id: &str,
    ) -> Result<Option<Ended>, ProvisionError> {
        let now = self.clock.now_unix();
        let mut w = self.db.begin_write().await?;
        let Some(stored) = store::get_locked(&mut w, issuer, id)
            .await?
            .filter(|s| s.kind == kind)
        else {
            return Ok(None);
        };
        let mut ended = Ended::default();
        if let Some(subject) = &stored.account_subject {
            if let Some(account) = accounts::find_locked(&mut w, issuer, subject).await? {
                self.backend.revoke(&mut w, &account).await?;
                retired::record(&mut *w.tx, &account, now, retired::RetiredBy::Scim).await?;
                accounts::delete(&mut *w.tx, &account).await?;
                self.audit_directory(&mut w, &account, "scim_delete", now)
                    .await?;
                ended.push(&account);
            }
        }
        let members = match kind {
            EntryKind::Group => store::related(&mut *w.tx, EntryKind::Group, id).await?,
            EntryKind::User => Vec::new(),
        };
        if kind == EntryKind::Group {
            self.count("scim_group_delete");
        }
        store::delete(&mut w, issuer, id).await?;
        let members: Vec<String> = members.into_iter().map(|r| r.id).collect();
        self.rights_follow_groups(&mut w, issuer, &members, now)
            .await?;
        self.finish(w).await?;
        Ok(Some(ended))
    }

    /// The provider changed the groups of `users` (SCIM ids): their accounts' rights by groups
    /// follow in this transaction ([`crate::Rights::by_directory`]); those by claims wait for
    /// the next provision.
    async fn rights_follow_groups(
        &self,
        w: &mut WriteTx<'_>,
        issuer: &str,
        users: &[String],
        now: i64,
    ) -> Result<(), ProvisionError> {
        if !self.rights.is_configured() {
            return Ok(());
        }
        let mut users = users.to_vec();
        users.sort();
        users.dedup();
        for id in &users {
            let Some(subject) = store::get(&mut *w.tx, issuer, id)
                .await?
                .and_then(|s| s.account_subject)
            else {
                continue;
            };
            let Some(mut account) = accounts::find_locked(w, issuer, &subject).await? else {
                continue;
            };
            if !account.enabled {
                continue;
            }
            let groups = store::groups_of(&mut *w.tx, issuer, &subject).await?;
            let rights = self.rights.by_directory(&groups, &account.rights);
            self.backend
                .set_rights(&mut w.tx, &mut account, self.rights.names(), rights, now)
                .await?;
        }
        Ok(())
    }

    /// The account a newly pushed user governs: the account whose link value is its
    /// `externalId` (a person who signed in before the push), or a new one named from
    /// `userName`, keyed by the `externalId` when it is the subject, else by a placeholder
    /// until the first sign-in links it.
    async fn account_for_pushed(
        &self,
        w: &mut WriteTx<'_>,
        issuer: &str,
        id: &str,
        user: &UserWrite,
        now: i64,
    ) -> Result<Account, ProvisionError> {
        if let Some(x) = &user.external_id {
            if let Some(account) = accounts::by_external_id_locked(w, issuer, x).await? {
                return Ok(account);
            }
        }
        let subject = match (&user.external_id, self.link_claim(issuer)) {
            (Some(x), "sub") => x.clone(),
            _ => accounts::placeholder_subject(id),
        };
        let pushed = Pushed {
            subject: &subject,
            user,
        };
        let profile = |username: &str| Profile {
            display_name: sipauth::sip::display_name(&pushed, None, username),
            email: user.email.clone(),
            external_id: user.external_id.clone(),
        };
        let domain = self.settings_for(issuer, &pushed)?.domain.clone();
        self.create_named(w, &pushed, (issuer, &subject, &domain), &profile, now)
            .await
    }

    /// A pushed user's `externalId` changed. An account no sign-in has linked yet follows it
    /// (or gives way to the account a sign-in made for it); a linked account keeps its link.
    async fn relink_pushed(
        &self,
        w: &mut WriteTx<'_>,
        account: Account,
        user: &UserWrite,
        now: i64,
    ) -> Result<Account, ProvisionError> {
        if !account.subject.starts_with("scim:") {
            return Ok(account);
        }
        if let Some(x) = &user.external_id {
            if let Some(signed_in) = accounts::by_external_id_locked(w, &account.issuer, x).await? {
                if signed_in.subject != account.subject {
                    // The placeholder never held SIP access; the person's own account wins.
                    self.backend.revoke(w, &account).await?;
                    accounts::delete(&mut *w.tx, &account).await?;
                    return Ok(signed_in);
                }
            }
        }
        accounts::update(
            &mut *w.tx,
            &account,
            Change::Profile {
                display_name: &account.display_name,
                email: account.email.as_deref(),
                external_id: user.external_id.as_deref(),
            },
            now,
        )
        .await?;
        let mut account = Account {
            external_id: user.external_id.clone(),
            ..account
        };
        if let (Some(x), "sub") = (&user.external_id, self.link_claim(&account.issuer)) {
            if accounts::find_locked(w, &account.issuer, x)
                .await?
                .is_none()
            {
                accounts::relink(w, &account, x).await?;
                account.subject = x.clone();
            }
        }
        Ok(account)
    }

    /// `active` applied to the account: false disables it (SIP access ends now), true undoes
    /// the directory's own disable with a new generation. An operator's disable stays.
    async fn apply_active(
        &self,
        w: &mut WriteTx<'_>,
        account: &Account,
        active: bool,
        now: i64,
        ended: &mut Ended,
    ) -> Result<(), ProvisionError> {
        if !active && account.enabled {
            accounts::update(
                &mut *w.tx,
                account,
                Change::DisabledBy(DisabledBy::Scim),
                now,
            )
            .await?;
            self.backend.revoke(w, account).await?;
            self.audit_directory(w, account, "scim_deactivate", now)
                .await?;
            ended.push(account);
        } else if active
            && !account.enabled
            && accounts::disabled_by(&mut *w.tx, account).await? == Some(DisabledBy::Scim)
        {
            accounts::update(&mut *w.tx, account, Change::NextGeneration, now).await?;
            accounts::update(&mut *w.tx, account, Change::Enabled(true), now).await?;
            self.audit_directory(w, account, "scim_activate", now)
                .await?;
        }
        Ok(())
    }

    /// A group's members must be users of the same issuer.
    async fn check_members(
        &self,
        w: &mut WriteTx<'_>,
        issuer: &str,
        members: &[String],
    ) -> Result<(), ProvisionError> {
        for member in members {
            if !store::is_user(&mut *w.tx, issuer, member).await? {
                return Err(ProvisionError::Invalid(format!("no user with id {member}")));
            }
        }
        Ok(())
    }

    async fn audit_directory(
        &self,
        w: &mut WriteTx<'_>,
        account: &Account,
        action: &'static str,
        now: i64,
    ) -> Result<(), ProvisionError> {
        let row = AuditRow {
            at: now,
            issuer: Some(account.issuer.clone()),
            subject: Some(account.subject.clone()),
            username: Some(account.username.clone()),
            action,
            outcome: "ok".into(),
            client_ip: None,
        };
        audit::insert(&mut *w.tx, &row).await?;
        self.count(action);
        Ok(())
    }
}

/// The stored columns a write gives.
fn fill(stored: &mut Stored, write: &DirectoryWrite) -> Result<(), ProvisionError> {
    let (display, external_id, active, attributes) = match write {
        DirectoryWrite::User(u) => (&u.user_name, &u.external_id, u.active, &u.attributes),
        DirectoryWrite::Group(g) => (&g.display_name, &g.external_id, true, &g.attributes),
    };
    stored.display = display.clone();
    stored.external_id = external_id.clone();
    stored.active = active;
    stored.body =
        serde_json::to_string(attributes).map_err(|e| ProvisionError::Invalid(e.to_string()))?;
    Ok(())
}
