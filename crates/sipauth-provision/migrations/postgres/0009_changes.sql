-- Every instance keeps an account cache: a change to an account or to a `subscriber` row,
-- whoever makes it (another instance, `sipauth admin`, SCIM, the lease sweeper, an operator's
-- own SQL), is announced on the `sipauth_changes` channel when its transaction commits, and
-- every instance drops what it cached of it. Payload: `a<issuer>\n<subject>` for an account,
-- `s<username>@<domain>` for a row, `*` (drop everything) when a key is too long to announce.
CREATE OR REPLACE FUNCTION sipauth_announce(payload TEXT) RETURNS void AS $$
BEGIN
    IF octet_length(payload) > 7000 THEN
        PERFORM pg_notify('sipauth_changes', '*');
    ELSE
        PERFORM pg_notify('sipauth_changes', payload);
    END IF;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION sipauth_account_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM sipauth_announce('a' || OLD.issuer || E'\n' || OLD.subject);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM sipauth_announce('a' || NEW.issuer || E'\n' || NEW.subject);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION sipauth_subscriber_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM sipauth_announce('s' || OLD.username || '@' || OLD.domain);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM sipauth_announce('s' || NEW.username || '@' || NEW.domain);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS sipauth_account_changed ON sipauth_account;
CREATE TRIGGER sipauth_account_changed AFTER INSERT OR UPDATE OR DELETE ON sipauth_account
    FOR EACH ROW EXECUTE FUNCTION sipauth_account_changed();
DROP TRIGGER IF EXISTS sipauth_subscriber_changed ON subscriber;
CREATE TRIGGER sipauth_subscriber_changed AFTER INSERT OR UPDATE OR DELETE ON subscriber
    FOR EACH ROW EXECUTE FUNCTION sipauth_subscriber_changed();
