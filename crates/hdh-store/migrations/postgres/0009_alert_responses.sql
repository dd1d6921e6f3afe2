-- Issue 8: automatic responses to alerts, the SIEM export's progress, and
-- archived segments of the audit log.

-- The project an alert's last event was in, and what the hub did by itself.
ALTER TABLE alerts ADD COLUMN project_id TEXT;
ALTER TABLE alerts ADD COLUMN responses_json TEXT;

-- A project's workspace locked by an alert's automatic response, until the
-- security officer closes the alert.
CREATE TABLE workspace_locks (
    project_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    locked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    released_at TEXT,
    released_by TEXT,
    PRIMARY KEY (project_id, alert_id)
);

-- How far each export of the log (the SIEM's file, its syslog receiver) has
-- gone: the last sequence number delivered.
CREATE TABLE export_cursors (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Segments of the log moved out of the database into archive files: the
-- chain goes on from last_hash, and each file is known by its SHA-256.
CREATE TABLE audit_archives (
    last_seq BIGINT PRIMARY KEY,
    first_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    archived_at TEXT NOT NULL
);

-- What the public registry says of a project's activity, carried over from
-- archived segments (queries run, last action).
CREATE TABLE archived_activity (
    project_id TEXT PRIMARY KEY,
    queries BIGINT NOT NULL,
    last_at TEXT
);
