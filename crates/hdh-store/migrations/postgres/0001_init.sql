-- hdh metadata store, PostgreSQL flavour. Times are RFC 3339 UTC strings; booleans are 0/1.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    organisation TEXT NOT NULL DEFAULT '',
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    title_fr TEXT NOT NULL,
    title_en TEXT NOT NULL,
    description_fr TEXT NOT NULL,
    description_en TEXT NOT NULL,
    producer_name TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users(id),
    metadata_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE dataset_versions (
    dataset_id TEXT NOT NULL REFERENCES datasets(id),
    version BIGINT NOT NULL,
    delivered_by TEXT NOT NULL REFERENCES users(id),
    published_at TEXT NOT NULL,
    manifest_path TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, version)
);

CREATE TABLE dataset_tables (
    dataset_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    table_name TEXT NOT NULL,
    description TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    object_path TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version, table_name),
    FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions(dataset_id, version)
);

CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    applicant_id TEXT NOT NULL REFERENCES users(id),
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    public_interest TEXT NOT NULL,
    scope_json TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    duration_months BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE request_events (
    request_id TEXT NOT NULL REFERENCES access_requests(id),
    seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor_id TEXT,
    role TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE REFERENCES access_requests(id),
    title TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE extraction_tables (
    project_id TEXT NOT NULL REFERENCES projects(id),
    table_name TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    dataset_version BIGINT NOT NULL,
    columns_json TEXT NOT NULL,
    object_path TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (project_id, table_name)
);

CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    requester_id TEXT NOT NULL REFERENCES users(id),
    description TEXT NOT NULL,
    query_sql TEXT NOT NULL,
    state TEXT NOT NULL,
    check_json TEXT NOT NULL,
    object_path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    decision_reason TEXT
);

CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT,
    role TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    project_id TEXT,
    outcome TEXT NOT NULL,
    client_addr TEXT,
    details_json TEXT NOT NULL
);
CREATE INDEX audit_events_action ON audit_events(action);
CREATE INDEX audit_events_actor ON audit_events(actor_name);
