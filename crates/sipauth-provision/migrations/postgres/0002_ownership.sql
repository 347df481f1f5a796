-- What sipauth owns, and what it keeps of deleted accounts.
--
-- sipauth_subscriber: the `subscriber` rows sipauth wrote. sipauth changes and deletes only
-- these; a row for a (username, domain) that is not here (a desk phone, an extension, a trunk
-- made by hand or by kamctl) makes that name taken. Rows written before this table existed are
-- those of sipauth's own accounts.
CREATE TABLE IF NOT EXISTS sipauth_subscriber (
    username TEXT NOT NULL,
    domain TEXT NOT NULL,
    PRIMARY KEY (username, domain)
);
INSERT INTO sipauth_subscriber (username, domain)
    SELECT a.username, a.domain FROM sipauth_account a
    JOIN subscriber s ON s.username = a.username AND s.domain = a.domain
    WHERE true
    ON CONFLICT DO NOTHING;

-- sipauth_retired: identities whose account an operator deleted. Their last generation (a new
-- account starts after it, so an earlier password never works again) and their username (not
-- handed to another identity while in quarantine; the same identity gets it back).
CREATE TABLE IF NOT EXISTS sipauth_retired (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    username TEXT NOT NULL,
    domain TEXT NOT NULL,
    generation BIGINT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX IF NOT EXISTS sipauth_retired_username ON sipauth_retired (username, domain);
