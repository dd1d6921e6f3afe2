-- Issue 9: linkage in the hub. A linkage job links the records of two
-- dataset tables (or finds the duplicates of one) and produces a link
-- table: a versioned artefact in the lake (pairs of pseudonyms, weight,
-- probability, cluster) with its quality report. `state`: queued, running,
-- done, failed; a done link table is published (usable by provisioning)
-- once an administrator has read its report.
CREATE TABLE linkage_jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    left_dataset TEXT NOT NULL,
    right_dataset TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    state TEXT NOT NULL,
    progress_json TEXT NOT NULL DEFAULT '{}',
    report_json TEXT NOT NULL DEFAULT '{}',
    links_path TEXT NOT NULL DEFAULT '',
    links_sha256 TEXT NOT NULL DEFAULT '',
    links BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    published_at TEXT,
    published_by TEXT,
    UNIQUE (name, version)
);
CREATE INDEX linkage_jobs_datasets ON linkage_jobs(left_dataset, right_dataset);

-- Clerical review: a person's verdict on a pair the model was unsure of.
-- `label`: match, non_match, unsure.
CREATE TABLE linkage_labels (
    job_id TEXT NOT NULL REFERENCES linkage_jobs(id),
    left_id TEXT NOT NULL,
    right_id TEXT NOT NULL,
    probability DOUBLE PRECISION NOT NULL,
    label TEXT NOT NULL,
    labelled_by TEXT NOT NULL,
    labelled_at TEXT NOT NULL,
    PRIMARY KEY (job_id, left_id, right_id)
);
