-- Credentials per device (`[sip] credentials = "per_device"`): each device of a person gets its
-- own digest username (`<username>~<tag>`) and password under the person's one SIP URI, so one
-- device can be revoked and the others keep working.
CREATE TABLE IF NOT EXISTS sipauth_device (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    auth_username TEXT NOT NULL,
    domain TEXT NOT NULL,
    user_agent TEXT,
    created_at BIGINT NOT NULL,
    last_provisioned_at BIGINT NOT NULL,
    UNIQUE (issuer, subject, name_key),
    UNIQUE (auth_username, domain)
);
CREATE INDEX IF NOT EXISTS sipauth_device_owner ON sipauth_device (issuer, subject);

-- A device's `subscriber` row names whose it is: Kamailio loads it with the credentials
-- (auth_db `load_credentials`) and the routing script lets that digest username register and
-- call only as this user. NULL on every other row (a person's own, or one made by hand).
ALTER TABLE subscriber ADD COLUMN sipauth_owner VARCHAR(64);
