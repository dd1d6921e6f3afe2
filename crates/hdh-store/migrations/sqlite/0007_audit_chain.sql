-- Issue 8: the audit log as a hash chain (hdh_audit). Each event carries the
-- hash of the one before it and its own; `audit_head` is the chain's end,
-- updated in the transaction of every event (its row lock orders the
-- writers); events recorded before this migration are chained at start-up.
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- The hub's Ed25519 signatures over the chain (the key is outside the
-- database); published for witnesses.
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at TEXT NOT NULL,
    signature TEXT NOT NULL
);
