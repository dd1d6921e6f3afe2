-- Issue 4: the pseudonymisation chain, producer packages and background ingestion.

-- Which level-2 key encrypted the person identifiers of a version, and the
-- quality report computed when it was ingested.
ALTER TABLE dataset_versions ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_versions ADD COLUMN quality_json TEXT;

-- Level-2 keys: ids only. The key material lives in files under
-- <data-dir>/secrets/level2/, never in the database.
CREATE TABLE level2_keys (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

-- The Ed25519 public key a producer signs its packages with.
CREATE TABLE producer_keys (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    public_key TEXT NOT NULL,
    registered_at TEXT NOT NULL
);

-- A resumable upload of a delivery package. Bytes received so far are the
-- sizes of the spooled files; the expected size and digest are here.
CREATE TABLE package_uploads (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users(id),
    files_json TEXT NOT NULL,
    state TEXT NOT NULL,
    ingestion_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- An ingestion job (a package, or a CSV delivery): its state transitions are
-- stored (each with its audit event); progress while running is in memory.
CREATE TABLE ingestions (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    upload_id TEXT,
    owner_id TEXT NOT NULL REFERENCES users(id),
    state TEXT NOT NULL,
    report_json TEXT,
    version BIGINT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ingestions_dataset ON ingestions(dataset_id, created_at);
