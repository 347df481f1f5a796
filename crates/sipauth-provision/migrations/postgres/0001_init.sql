-- sipauth's accounts, and Kamailio 5.6's auth_db `subscriber` table (table_version 7) with its
-- `version` row, so an unmodified Kamailio reads the SIP accounts this service writes.

CREATE TABLE IF NOT EXISTS sipauth_account (
    id BIGSERIAL PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    username TEXT NOT NULL,
    domain TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    generation BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (issuer, subject),
    UNIQUE (username, domain)
);

CREATE TABLE IF NOT EXISTS sipauth_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    issuer TEXT,
    subject TEXT,
    username TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    client_ip TEXT
);
CREATE INDEX IF NOT EXISTS sipauth_audit_at ON sipauth_audit (at);

-- Kamailio 5.6 (utils/kamctl/postgres/auth_db-create.sql).
CREATE TABLE IF NOT EXISTS version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7)
    ON CONFLICT (table_name) DO NOTHING;

CREATE TABLE IF NOT EXISTS subscriber (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX IF NOT EXISTS subscriber_username_idx ON subscriber (username);
