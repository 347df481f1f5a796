-- Credential leases (`credential_ttl`): until when the account's SIP password works. Each
-- provision with a valid token extends it; the sweeper ends an expired lease at the SIP server
-- (a new generation, the row removed) and clears it. NULL: no lease (leases off, or swept).
ALTER TABLE sipauth_account ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX IF NOT EXISTS sipauth_account_lease ON sipauth_account (lease_expires_at);
