-- Issue 7: output control. A release request holds files (tables computed by
-- the hub from the workspace's microdata, model coefficients, figures, text),
-- each with its automatic check; independent output checkers review each
-- file's current version; what leaves is remembered in the release ledger.

-- States of the life cycle (hdh_model::release::ReleaseState).
UPDATE releases SET state = 'submitted' WHERE state = 'pending_review';
UPDATE releases SET state = 'released' WHERE state = 'approved';
UPDATE releases SET state = 'rejected' WHERE state = 'refused';

CREATE TABLE release_files (
    release_id TEXT NOT NULL REFERENCES releases(id),
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    -- How the hub computed it (a table's query and layout, a model's query).
    spec_json TEXT NOT NULL,
    -- The automatic check (a verdict per cell for a table).
    check_json TEXT NOT NULL,
    -- SHA-256 of the file as it would leave and of its description: a
    -- review counts for this version only.
    sha256 TEXT NOT NULL,
    object_path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (release_id, id)
);

CREATE TABLE release_reviews (
    release_id TEXT NOT NULL REFERENCES releases(id),
    file_id TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    checker_id TEXT NOT NULL REFERENCES users(id),
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (release_id, file_id, checker_id)
);

-- What left: the populations behind each released cell (hashed pseudonyms,
-- in the lake), compared with every later release of the project.
CREATE TABLE release_ledger (
    release_id TEXT PRIMARY KEY REFERENCES releases(id),
    project_id TEXT NOT NULL,
    object_path TEXT NOT NULL,
    cells BIGINT NOT NULL,
    released_at TEXT NOT NULL
);
CREATE INDEX release_ledger_project ON release_ledger(project_id);
