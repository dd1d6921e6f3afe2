-- Issue 11: sessions that expire when idle and can be listed and ended one
-- by one or all at once; failed sign-ins counted against brute force; the
-- account's security state (password age, terms of use, yearly review,
-- suspension).

-- Sessions opened before this migration carry none of the new facts: they
-- end here (everyone signs in again once).
DELETE FROM sessions;
-- A public handle for a session (its token's hash is never shown), when it
-- was last used, and from where (address, browser, for the holder's list).
ALTER TABLE sessions ADD COLUMN id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_user ON sessions (user_id);

-- A failed sign-in: the SHA-256 of the name typed (people type their
-- password in the name field: the name is never kept in clear here), the
-- client's address, when.
CREATE TABLE sign_in_failures (
    name_hash TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX sign_in_failures_name ON sign_in_failures (name_hash, at);
CREATE INDEX sign_in_failures_addr ON sign_in_failures (client_addr, at);

ALTER TABLE users ADD COLUMN password_changed_at TEXT;
-- The version of the terms of use the user accepted, and when.
ALTER TABLE users ADD COLUMN terms_version TEXT;
ALTER TABLE users ADD COLUMN terms_accepted_at TEXT;
-- The last yearly review of the account and its roles (by an administrator).
ALTER TABLE users ADD COLUMN reviewed_at TEXT;
ALTER TABLE users ADD COLUMN suspended_at TEXT;
ALTER TABLE users ADD COLUMN suspended_reason TEXT;
