-- The provider's directory (SCIM 2.0): users and groups an identity provider pushes, and their
-- link to accounts.
--
-- sipauth_account.external_id: the value of the issuer's link claim (`scim_external_id_claim`,
-- `sub` by default) at the account's last provision; a SCIM user's `externalId` finds its
-- account by it. A SCIM user pushed before its first sign-in has an account whose subject is
-- `scim:<SCIM id>` until that sign-in links it.
ALTER TABLE sipauth_account ADD COLUMN external_id TEXT;
UPDATE sipauth_account SET external_id = subject;
CREATE INDEX IF NOT EXISTS sipauth_account_external_id ON sipauth_account (issuer, external_id);

-- A SCIM resource: its attributes as last written (`body`, JSON), what sipauth reads from them
-- (`display`: a user's userName or a group's displayName; `name_key`: the same, lower-cased),
-- and, for a user, the account it governs (issuer, account_subject).
CREATE TABLE IF NOT EXISTS sipauth_scim_resource (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    kind TEXT NOT NULL,
    name_key TEXT NOT NULL,
    display TEXT NOT NULL,
    external_id TEXT,
    account_subject TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS sipauth_scim_user_name
    ON sipauth_scim_resource (issuer, name_key) WHERE kind = 'User';
CREATE INDEX IF NOT EXISTS sipauth_scim_account ON sipauth_scim_resource (issuer, account_subject);
CREATE INDEX IF NOT EXISTS sipauth_scim_kind ON sipauth_scim_resource (issuer, kind, created_at);

CREATE TABLE IF NOT EXISTS sipauth_scim_member (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS sipauth_scim_member_user ON sipauth_scim_member (user_id);

-- An identity whose SCIM user was deleted stays refused (403 account_disabled) until the
-- provider pushes it again: `refused_by` = 'scim'; found by the link value too.
ALTER TABLE sipauth_retired ADD COLUMN refused_by TEXT;
ALTER TABLE sipauth_retired ADD COLUMN external_id TEXT;
CREATE INDEX IF NOT EXISTS sipauth_retired_external_id ON sipauth_retired (issuer, external_id);
