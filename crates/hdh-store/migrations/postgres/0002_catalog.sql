-- Catalogue (C1): described tables, nomenclatures, statistics computed from data.

-- The account that owns what an administrator imports from the command line.
-- It has no role and no usable password ("!" is not a PHC hash).
INSERT INTO users (id, username, display_name, organisation, roles, password_hash, created_at)
VALUES ('system', 'system', 'hdh (system)', '', '', '!', '1970-01-01T00:00:00Z');

ALTER TABLE datasets ADD COLUMN source TEXT NOT NULL DEFAULT 'delivery';
ALTER TABLE datasets ADD COLUMN modified_at TEXT NOT NULL DEFAULT '';

-- The tables of every dataset as the catalogue describes them: imported from
-- a package (source 'import:<package>') or from the latest delivered version
-- (source 'delivery').
CREATE TABLE catalog_tables (
    dataset_id TEXT NOT NULL REFERENCES datasets(id),
    table_name TEXT NOT NULL,
    position BIGINT NOT NULL,
    title TEXT NOT NULL,
    product TEXT NOT NULL,
    source TEXT NOT NULL,
    source_path TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    variable_count BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, table_name)
);

CREATE TABLE nomenclatures (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    package TEXT NOT NULL,
    title TEXT NOT NULL,
    columns_json TEXT NOT NULL,
    code_column TEXT NOT NULL,
    label_column TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE nomenclature_codes (
    nomenclature TEXT NOT NULL REFERENCES nomenclatures(name),
    ordinal BIGINT NOT NULL,
    code TEXT NOT NULL,
    label TEXT NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (nomenclature, ordinal)
);
CREATE INDEX nomenclature_codes_code ON nomenclature_codes(nomenclature, code);

-- One row per imported package: its digest makes re-imports idempotent.
CREATE TABLE catalog_imports (
    package TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    summary_json TEXT NOT NULL
);

CREATE TABLE version_statistics (
    dataset_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    stats_json TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version),
    FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions(dataset_id, version)
);

-- Bumped by every catalogue change; the search index records the generation it
-- was built from and rebuilds when they differ.
CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
