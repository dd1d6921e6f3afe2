-- Issue 6: the project workspace. Extractions built by a background job with
-- their provenance and report, the opposition register, the query log,
-- scratch tables, and Flight SQL access tokens.

-- One build of a project's extraction (provisioning job): the first one, an
-- amendment's, or a refresh. `state`: queued, running, done, failed.
CREATE TABLE extraction_builds (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    progress_json TEXT NOT NULL DEFAULT '{}',
    spec_json TEXT NOT NULL DEFAULT '{}',
    report_json TEXT NOT NULL DEFAULT '{}',
    prefix TEXT NOT NULL DEFAULT '',
    register_seq BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    requested_by TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX extraction_builds_project ON extraction_builds(project_id);
CREATE INDEX extraction_builds_request ON extraction_builds(request_id);

-- The build a project's workspace currently reads, and whether a later
-- opposition makes it due for a refresh.
ALTER TABLE projects ADD COLUMN build_id TEXT;
ALTER TABLE projects ADD COLUMN stale_since TEXT;
ALTER TABLE projects ADD COLUMN stale_reason TEXT;

-- Persons who objected to research uses: level-2 pseudonyms only (under the
-- key named), never a level-1 value or an identity. `scope`: `all` or a
-- dataset id.
CREATE TABLE oppositions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    pseudonym TEXT NOT NULL,
    key_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    objected_on TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX oppositions_pseudonym ON oppositions(pseudonym);

-- Every workspace query, whatever its outcome.
CREATE TABLE workspace_queries (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    sql_text TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    rows_scanned BIGINT NOT NULL,
    bytes_scanned BIGINT NOT NULL,
    result_rows BIGINT NOT NULL,
    result_bytes BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
);
CREATE INDEX workspace_queries_project ON workspace_queries(project_id, started_at);

-- Derived tables members create in their project's scratch schema.
CREATE TABLE scratch_tables (
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    object_path TEXT NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    sql_text TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Tokens for Flight SQL clients: one user, one project, an expiry; stored
-- as SHA-256.
CREATE TABLE access_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    project_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);
