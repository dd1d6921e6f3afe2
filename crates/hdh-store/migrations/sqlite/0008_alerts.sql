-- Issue 8: alerts raised by the rules (hdh_alerts) over the audit log, and
-- their life cycle (open → acknowledged → assigned → closed with a note).
CREATE TABLE alerts (
    -- `<rule>:<first event of its evidence>`: replaying history finds the same id.
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT,
    at TEXT NOT NULL,
    evidence_json TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    assignee TEXT,
    note TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX alerts_state ON alerts(state);
