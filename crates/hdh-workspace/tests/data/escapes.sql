-- Adversarial statements the SQL gate (src/gate.rs) must refuse.
--
-- Format: each case starts with a line `-- case: <short-name> [<kind>] [<rule>]`
-- and runs until the next `-- case:` line; the SQL may span lines and hold
-- comments. <kind> is out_of_scope, not_allowed or invalid; <rule> (optional)
-- is the gate's rule id. `{other_project}` is replaced by another project's id
-- (like p-0123456789abcdef) before checking. Scope used by the tests: tables
-- IR_BEN_R, ER_PRS_F, ER_PHA_F, T_MCO23B; scratch table cohort.

-- case: other-project-catalog-qualified [out_of_scope] [unknown_table]
SELECT * FROM datafusion."{other_project}".ER_PRS_F

-- case: other-project-schema-qualified [out_of_scope] [unknown_table]
SELECT count(*) FROM "{other_project}".ER_PRS_F

-- case: other-project-unquoted-id [invalid] [parse]
SELECT * FROM datafusion.{other_project}.ER_PRS_F

-- case: other-catalog [out_of_scope] [unknown_table]
SELECT * FROM other_catalog.public.ER_PRS_F

-- case: four-part-name [out_of_scope] [unknown_table]
SELECT * FROM datafusion.public.ER_PRS_F.x

-- case: lake-path-as-table [not_allowed] [file_access]
SELECT * FROM 'lake:///projects/{other_project}/extraction/ER_PRS_F.parquet'

-- case: etc-passwd-as-table [not_allowed] [file_access]
SELECT * FROM '/etc/passwd'

-- case: file-url-as-table [not_allowed] [file_access]
SELECT * FROM 'file:///etc/passwd'

-- case: https-url-as-table [not_allowed] [file_access]
SELECT * FROM 'https://example.org/x.csv'

-- case: double-quoted-path-as-table [not_allowed] [file_access]
SELECT * FROM "/etc/passwd"

-- case: relative-parquet-file-as-table [not_allowed] [file_access]
SELECT count(*) FROM "ER_PRS_F.parquet"

-- case: file-table-in-join [not_allowed] [file_access]
SELECT * FROM (VALUES (1)) v JOIN 'lake:///datasets/x/v1/ER_PRS_F.parquet' f ON true

-- case: external-table-parquet [not_allowed] [external_table]
CREATE EXTERNAL TABLE stolen STORED AS PARQUET
LOCATION 'lake:///projects/{other_project}/extraction/ER_PRS_F.parquet'

-- case: external-table-csv-columns [not_allowed] [external_table]
CREATE EXTERNAL TABLE IF NOT EXISTS pw (line VARCHAR)
STORED AS CSV LOCATION '/etc/passwd' OPTIONS ('format.has_header' 'false')

-- case: external-table-or-replace-in-scratch [not_allowed] [external_table]
CREATE OR REPLACE EXTERNAL TABLE scratch.cohort STORED AS PARQUET LOCATION 'file:///tmp/'

-- case: external-table-unbounded [not_allowed] [external_table]
create unbounded external table s stored as csv location '/dev/stdin'

-- case: external-table-bad-syntax [not_allowed] [external_table]
CREATE EXTERNAL TABLE x LOCATION

-- case: copy-table-to-file [not_allowed] [copy]
COPY ER_PRS_F TO '/tmp/out.parquet'

-- case: copy-query-to-csv [not_allowed] [copy]
COPY (SELECT * FROM IR_BEN_R) TO 'file:///tmp/ben.csv' STORED AS CSV

-- case: copy-partitioned-into-other-project [not_allowed] [copy]
COPY (SELECT * FROM ER_PRS_F) TO 'lake:///projects/{other_project}/extraction/'
PARTITIONED BY (BEN_NIR_PSA) STORED AS PARQUET

-- case: copy-to-stdout [not_allowed] [copy]
COPY ER_PRS_F TO STDOUT

-- case: copy-from-file [not_allowed] [copy]
COPY ER_PRS_F FROM '/tmp/evil.csv'

-- case: copy-into [not_allowed] [copy]
COPY INTO ER_PRS_F FROM 's3://bucket/evil.parquet'

-- case: set-option [not_allowed] [settings]
SET datafusion.execution.target_partitions = 1

-- case: set-block-comment-mixed-case [not_allowed] [settings]
/* innocuous */ SeT datafusion.catalog.information_schema = false

-- case: set-after-line-comment [not_allowed] [settings]
-- just a comment
SET datafusion.sql_parser.enable_ident_normalization = true

-- case: set-time-zone [not_allowed] [settings]
set time zone 'UTC'

-- case: reset-option [not_allowed] [settings]
RESET datafusion.execution.batch_size

-- case: show-all [not_allowed] [settings]
SHOW ALL

-- case: show-variable [not_allowed] [settings]
show datafusion.runtime.memory_limit

-- case: df-settings [not_allowed] [settings]
SELECT * FROM information_schema.df_settings

-- case: df-settings-catalog-qualified [not_allowed] [settings]
SELECT name, value FROM datafusion.information_schema.df_settings WHERE name LIKE '%object_store%'

-- case: df-settings-in-scalar-subquery [not_allowed] [settings]
SELECT (SELECT count(*) FROM information_schema.df_settings) AS n

-- case: information-schema-routines [out_of_scope] [information_schema]
SELECT * FROM information_schema.routines

-- case: information-schema-upper-case [out_of_scope] [unknown_table]
SELECT * FROM INFORMATION_SCHEMA.TABLES

-- case: read-parquet [not_allowed] [table_function]
SELECT * FROM read_parquet('lake:///projects/{other_project}/extraction/ER_PRS_F.parquet')

-- case: read-csv [not_allowed] [table_function]
SELECT * FROM read_csv('/etc/passwd')

-- case: read-json [not_allowed] [table_function]
SELECT * FROM read_json('https://example.org/x.json')

-- case: parquet-metadata [not_allowed] [table_function]
SELECT * FROM parquet_metadata('ER_PRS_F.parquet')

-- case: qualified-table-function [not_allowed] [table_function]
SELECT * FROM datafusion.generate_series(1, 3)

-- case: lateral-table-function [not_allowed] [table_function]
SELECT * FROM ER_PRS_F, LATERAL read_parquet('x.parquet')

-- case: table-function-in-cte [not_allowed] [table_function]
WITH f AS (SELECT * FROM read_parquet('/tmp/x.parquet')) SELECT * FROM f

-- case: insert-into-project-table [not_allowed] [dml]
INSERT INTO ER_PRS_F SELECT * FROM ER_PRS_F

-- case: insert-into-scratch [not_allowed] [dml]
INSERT INTO scratch.cohort VALUES (1)

-- case: delete [not_allowed] [dml]
DELETE FROM IR_BEN_R WHERE BEN_SEX_COD = 2

-- case: update [not_allowed] [dml]
UPDATE IR_BEN_R SET BEN_SEX_COD = 1

-- case: truncate [not_allowed] [dml]
TRUNCATE TABLE ER_PHA_F

-- case: merge [not_allowed] [dml]
MERGE INTO ER_PRS_F t USING ER_PHA_F s ON t.BEN_NIR_PSA = s.BEN_NIR_PSA
WHEN MATCHED THEN DELETE

-- case: insert-hidden-in-cte [not_allowed] [dml]
WITH x AS (INSERT INTO ER_PRS_F VALUES (1)) SELECT 1

-- case: create-view [not_allowed] [ddl]
CREATE VIEW v AS SELECT * FROM ER_PRS_F

-- case: create-view-in-scratch [not_allowed] [ddl]
CREATE VIEW scratch.v AS SELECT 1

-- case: create-table-in-public [not_allowed] [ddl]
CREATE TABLE t AS SELECT * FROM ER_PRS_F

-- case: create-table-overwriting-project-table [not_allowed] [ddl]
CREATE OR REPLACE TABLE ER_PRS_F AS SELECT * FROM ER_PHA_F

-- case: create-table-public-qualified [not_allowed] [ddl]
CREATE TABLE datafusion.public.x AS SELECT 1

-- case: create-table-in-other-project [not_allowed] [ddl]
CREATE TABLE "{other_project}".leak AS SELECT * FROM ER_PRS_F

-- case: create-scratch-without-query [not_allowed] [ddl]
CREATE TABLE scratch.x (a INT)

-- case: create-scratch-with-columns [not_allowed] [ddl]
CREATE TABLE scratch.x (a BIGINT) AS SELECT 1

-- case: create-scratch-path-traversal-name [not_allowed] [scratch_name]
CREATE TABLE scratch."../../projects/{other_project}/extraction/ER_PRS_F" AS SELECT 1

-- case: create-scratch-from-other-project [out_of_scope] [unknown_table]
CREATE TABLE scratch.x AS SELECT * FROM datafusion."{other_project}".ER_PRS_F

-- case: create-scratch-from-file [not_allowed] [file_access]
CREATE TABLE scratch.x AS SELECT * FROM 'lake:///projects/{other_project}/extraction/ER_PRS_F.parquet'

-- case: select-into [not_allowed] [ddl]
SELECT * INTO scratch.copy FROM ER_PRS_F

-- case: create-schema [not_allowed] [ddl]
CREATE SCHEMA evil

-- case: create-database [not_allowed] [ddl]
CREATE DATABASE other

-- case: create-function [not_allowed] [ddl]
CREATE FUNCTION f(a INT) RETURNS INT RETURN a + 1

-- case: create-index [not_allowed] [ddl]
CREATE INDEX i ON ER_PRS_F (BEN_NIR_PSA)

-- case: alter-table [not_allowed] [ddl]
ALTER TABLE ER_PRS_F RENAME TO old

-- case: drop-project-table [not_allowed] [ddl]
DROP TABLE ER_PRS_F

-- case: drop-public-qualified [not_allowed] [ddl]
DROP TABLE IF EXISTS datafusion.public.IR_BEN_R

-- case: drop-schema [not_allowed] [ddl]
DROP SCHEMA scratch CASCADE

-- case: drop-view [not_allowed] [ddl]
DROP VIEW v

-- case: drop-scratch-cascade [not_allowed] [ddl]
DROP TABLE scratch.cohort CASCADE

-- case: drop-several [not_allowed] [ddl]
DROP TABLE scratch.cohort, ER_PRS_F

-- case: drop-unknown-scratch [out_of_scope] [unknown_table]
DROP TABLE scratch.cohorte

-- case: two-statements [not_allowed] [multiple_statements]
SELECT 1; DROP TABLE ER_PRS_F

-- case: select-then-set [not_allowed] [multiple_statements]
SELECT * FROM ER_PRS_F; SET datafusion.execution.target_partitions = 1

-- case: comment-hidden-second-statement [not_allowed] [multiple_statements]
SELECT count(*) FROM ER_PRS_F -- count the rows
; COPY ER_PRS_F TO '/tmp/x.csv'

-- case: block-comment-then-external-table [not_allowed] [multiple_statements]
SELECT 1 /* harmless */; /* and now */ CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'

-- case: second-statement-unparseable [not_allowed] [multiple_statements]
SELECT 1; COPY ER_PRS_F FROM '/tmp/x'

-- case: lower-case-table [out_of_scope] [unknown_table]
SELECT * FROM er_prs_f

-- case: mixed-case-table [out_of_scope] [unknown_table]
SELECT * FROM Er_Prs_F

-- case: trailing-space-in-quotes [out_of_scope] [unknown_table]
SELECT * FROM "ER_PRS_F "

-- case: dotted-name-as-one-identifier [out_of_scope] [unknown_table]
SELECT * FROM "public.ER_PRS_F"

-- case: cyrillic-e-lookalike [out_of_scope] [unknown_table]
SELECT * FROM ЕR_PRS_F

-- case: fullwidth-letters [out_of_scope] [unknown_table]
SELECT * FROM ＥＲ_PRS_F

-- case: zero-width-space-quoted [out_of_scope] [unknown_table]
SELECT * FROM "ER_PRS​_F"

-- case: zero-width-space-unquoted [invalid] [parse]
SELECT * FROM ER_PRS​_F

-- case: right-to-left-override [out_of_scope] [unknown_table]
SELECT * FROM "‮F_SRP_RE"

-- case: missing-scratch-table [out_of_scope] [unknown_table]
SELECT * FROM scratch.cohorte

-- case: scratch-table-without-schema [out_of_scope] [unknown_table]
SELECT * FROM cohort

-- case: escape-in-in-subquery [out_of_scope] [unknown_table]
SELECT * FROM ER_PRS_F
WHERE BEN_NIR_PSA IN (SELECT BEN_NIR_PSA FROM datafusion."{other_project}".IR_BEN_R)

-- case: escape-in-exists [out_of_scope] [unknown_table]
SELECT 1 WHERE EXISTS (SELECT 1 FROM "{other_project}".ER_PRS_F)

-- case: escape-in-function-argument [out_of_scope] [unknown_table]
SELECT coalesce((SELECT max(PRS_NAT_REF) FROM "{other_project}".ER_PRS_F), 0)

-- case: escape-in-cte-body [out_of_scope] [unknown_table]
WITH x AS (SELECT * FROM datafusion."{other_project}".ER_PRS_F)
SELECT count(*) FROM x

-- case: cte-shadows-then-foreign-join [out_of_scope] [unknown_table]
WITH ER_PRS_F AS (SELECT 1 AS a)
SELECT * FROM ER_PRS_F JOIN "{other_project}".ER_PRS_F o ON true

-- case: cte-name-used-outside-its-scope [out_of_scope] [unknown_table]
SELECT * FROM (WITH secret AS (SELECT 1 AS a) SELECT * FROM secret) s, secret

-- case: escape-in-join [out_of_scope] [unknown_table]
SELECT * FROM ER_PRS_F p
JOIN datafusion."{other_project}".IR_BEN_R b ON p.BEN_NIR_PSA = b.BEN_NIR_PSA

-- case: escape-in-lateral-subquery [out_of_scope] [unknown_table]
SELECT * FROM ER_PRS_F, LATERAL (SELECT * FROM "{other_project}".ER_PRS_F) x

-- case: escape-in-union [out_of_scope] [unknown_table]
SELECT BEN_NIR_PSA FROM IR_BEN_R
UNION ALL
SELECT BEN_NIR_PSA FROM "{other_project}".IR_BEN_R

-- case: escape-in-unnest-argument [out_of_scope] [unknown_table]
SELECT * FROM unnest((SELECT array_agg(BEN_NIR_PSA) FROM "{other_project}".IR_BEN_R))

-- case: table-statement [invalid] [parse]
TABLE "{other_project}".ER_PRS_F

-- case: explain-escape [out_of_scope] [unknown_table]
EXPLAIN SELECT * FROM "{other_project}".ER_PRS_F

-- case: explain-analyze-file [not_allowed] [file_access]
EXPLAIN ANALYZE SELECT * FROM 'file:///etc/passwd'

-- case: explain-copy [not_allowed] [copy]
EXPLAIN COPY ER_PRS_F TO '/tmp/x.parquet'

-- case: explain-external-table [not_allowed] [external_table]
EXPLAIN CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'

-- case: explain-ctas [not_allowed] [explain]
EXPLAIN CREATE TABLE scratch.x AS SELECT 1

-- case: describe-other-project [out_of_scope] [unknown_table]
DESCRIBE datafusion."{other_project}".ER_PRS_F

-- case: describe-df-settings [not_allowed] [settings]
DESCRIBE information_schema.df_settings

-- case: show-columns-other-project [out_of_scope] [unknown_table]
SHOW COLUMNS FROM "{other_project}".ER_PRS_F

-- case: show-tables-in-other-project [not_allowed] [show]
SHOW TABLES IN "{other_project}"

-- case: show-functions [not_allowed] [show]
SHOW FUNCTIONS

-- case: prepare [not_allowed] [prepared_statement]
PREPARE q AS SELECT * FROM ER_PRS_F

-- case: execute [not_allowed] [prepared_statement]
EXECUTE q

-- case: deallocate [not_allowed] [prepared_statement]
DEALLOCATE q

-- case: attach-database [not_allowed] [file_access]
ATTACH DATABASE '/tmp/other.db' AS other

-- case: load-extension [not_allowed] [statement]
LOAD httpfs

-- case: install-extension [not_allowed] [statement]
INSTALL httpfs

-- case: pragma [not_allowed] [statement]
PRAGMA table_info('ER_PRS_F')

-- case: begin-transaction [not_allowed] [transaction]
BEGIN TRANSACTION

-- case: grant [not_allowed] [statement]
GRANT SELECT ON ER_PRS_F TO PUBLIC

-- case: use-other-schema [not_allowed] [statement]
USE "{other_project}"

-- case: settings-clause [not_allowed] [settings]
SELECT * FROM ER_PRS_F SETTINGS max_threads = 1

-- case: input-file-name [not_allowed] [function]
SELECT DISTINCT input_file_name() FROM ER_PRS_F

-- case: file-row-index-upper-case [not_allowed] [function]
SELECT max(FILE_ROW_INDEX()) FROM IR_BEN_R

-- case: only-semicolons [invalid] [empty]
;;

-- case: only-comment [invalid] [empty]
/* nothing to see */

-- case: typo [invalid] [parse]
SELEC * FROM ER_PRS_F
