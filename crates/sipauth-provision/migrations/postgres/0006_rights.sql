-- Call rights (`[rights]`): what the provider's groups and claims allow an account, written to
-- Kamailio 5.6's `grp` table (the group module, table_version 2) as groups the routing script
-- checks (`is_user_in("From", "outbound")`).
--
-- sipauth_account.rights: the rights last written for the account (sorted, comma-separated;
-- NULL: none written). sipauth adds and removes only these `grp` rows: a group an operator
-- gives a sipauth account by hand (`kamctl acl grant`) stays.
ALTER TABLE sipauth_account ADD COLUMN rights TEXT;

-- Kamailio 5.6 (utils/kamctl/postgres/group-create.sql).
CREATE TABLE IF NOT EXISTS grp (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    grp VARCHAR(64) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    CONSTRAINT grp_account_group_idx UNIQUE (username, domain, grp)
);
INSERT INTO version (table_name, table_version) VALUES ('grp', 2)
    ON CONFLICT (table_name) DO NOTHING;
