-- The account cache's change counter: every change to an account or to a `subscriber` row,
-- whoever makes it (`sipauth admin` in another process, an operator's own SQL), bumps it in
-- the change's own transaction; the service watches it and drops its cache when it moves.
CREATE TABLE IF NOT EXISTS sipauth_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    counter INTEGER NOT NULL
);
INSERT OR IGNORE INTO sipauth_changes (id, counter) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS sipauth_account_inserted AFTER INSERT ON sipauth_account
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS sipauth_account_updated AFTER UPDATE ON sipauth_account
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS sipauth_account_deleted AFTER DELETE ON sipauth_account
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS sipauth_subscriber_inserted AFTER INSERT ON subscriber
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS sipauth_subscriber_updated AFTER UPDATE ON subscriber
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS sipauth_subscriber_deleted AFTER DELETE ON subscriber
BEGIN UPDATE sipauth_changes SET counter = counter + 1 WHERE id = 1; END;
