-- Records the service's instances share (several instances on one database): the web page's
-- started sign-ins and signed-in browsers, the back-channel logout replay cache. `id` is a
-- SHA-256 of the record's key (a cookie's value is never stored), `data` is sealed (AES-256-GCM
-- under a key derived from the shared server secret), `person` and `sid` are SHA-256 tags that
-- let a provider's logout end a person's (or a provider session's) records without reading any.
CREATE TABLE IF NOT EXISTS sipauth_record (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    person TEXT,
    sid TEXT,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS sipauth_record_person ON sipauth_record (kind, person);
CREATE INDEX IF NOT EXISTS sipauth_record_sid ON sipauth_record (kind, sid);
CREATE INDEX IF NOT EXISTS sipauth_record_expiry ON sipauth_record (kind, expires_at);
