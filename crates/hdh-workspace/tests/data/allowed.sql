-- Legitimate statements the SQL gate (src/gate.rs) must accept.
--
-- Format: each case starts with a line `-- case: <short-name> [<checked>]`
-- (query, create_scratch or drop_scratch: the expected `Checked` variant) and
-- runs until the next `-- case:` line. Scope used by the tests: tables
-- IR_BEN_R, ER_PRS_F, ER_PHA_F, T_MCO23B; scratch table cohort.

-- case: plain-select [query]
SELECT * FROM ER_PRS_F LIMIT 10

-- case: lower-case-keywords [query]
select BEN_SEX_COD, count(*) as n from IR_BEN_R group by BEN_SEX_COD order by n desc

-- case: public-qualified [query]
SELECT count(*) FROM public.ER_PRS_F

-- case: catalog-qualified [query]
SELECT count(*) FROM datafusion.public.ER_PHA_F

-- case: quoted-names [query]
SELECT "BEN_NIR_PSA" FROM "ER_PRS_F" AS "p"

-- case: join [query]
SELECT b.BEN_SEX_COD, count(DISTINCT p.BEN_NIR_PSA) AS persons
FROM ER_PRS_F p
JOIN IR_BEN_R b ON p.BEN_NIR_PSA = b.BEN_NIR_PSA
LEFT JOIN ER_PHA_F f ON f.BEN_NIR_PSA = p.BEN_NIR_PSA
GROUP BY b.BEN_SEX_COD

-- case: ctes [query]
WITH acts AS (
  SELECT BEN_NIR_PSA, count(*) AS n FROM ER_PRS_F GROUP BY BEN_NIR_PSA
), heavy AS (
  SELECT * FROM acts WHERE n > 10
)
SELECT count(*) FROM heavy

-- case: recursive-cte [query]
WITH RECURSIVE months(m) AS (SELECT 1 UNION ALL SELECT m + 1 FROM months WHERE m < 12)
SELECT m FROM months

-- case: cte-shadowing-a-table-name [query]
WITH ER_PRS_F AS (SELECT 1 AS x) SELECT * FROM ER_PRS_F

-- case: window-functions [query]
SELECT BEN_NIR_PSA, EXE_SOI_DTD,
       row_number() OVER (PARTITION BY BEN_NIR_PSA ORDER BY EXE_SOI_DTD) AS rank_in_person,
       lag(EXE_SOI_DTD) OVER (PARTITION BY BEN_NIR_PSA ORDER BY EXE_SOI_DTD) AS previous
FROM ER_PRS_F

-- case: subqueries [query]
SELECT (SELECT count(*) FROM ER_PHA_F) AS deliveries, count(*) AS stays
FROM T_MCO23B m
WHERE EXISTS (SELECT 1 FROM IR_BEN_R b WHERE b.BEN_NIR_PSA = m.NIR_ANO_17)
  AND m.NIR_ANO_17 IN (SELECT BEN_NIR_PSA FROM ER_PRS_F)

-- case: set-operations [query]
SELECT BEN_NIR_PSA FROM ER_PRS_F
UNION
SELECT BEN_NIR_PSA FROM ER_PHA_F
EXCEPT
SELECT BEN_NIR_PSA FROM IR_BEN_R

-- case: values [query]
VALUES (1, 'a'), (2, 'b')

-- case: generate-series [query]
SELECT * FROM generate_series(1, 12)

-- case: range [query]
SELECT value FROM range(0, 10, 2)

-- case: unnest [query]
SELECT * FROM unnest([1, 2, 3])

-- case: date-functions [query]
SELECT date_trunc('month', EXE_SOI_DTD) AS month, count(*) FROM ER_PRS_F GROUP BY 1 ORDER BY 1

-- case: explain [query]
EXPLAIN SELECT count(*) FROM T_MCO23B

-- case: explain-analyze [query]
EXPLAIN ANALYZE SELECT count(*) FROM ER_PRS_F

-- case: explain-verbose [query]
explain verbose select * from IR_BEN_R where BEN_SEX_COD = 1

-- case: select-scratch [query]
SELECT count(*) FROM scratch.cohort

-- case: select-scratch-catalog-qualified [query]
SELECT c.*, b.BEN_SEX_COD FROM datafusion.scratch.cohort c JOIN IR_BEN_R b USING (BEN_NIR_PSA)

-- case: information-schema-tables [query]
SELECT table_schema, table_name FROM information_schema.tables

-- case: information-schema-columns [query]
SELECT column_name, data_type FROM datafusion.information_schema.columns WHERE table_name = 'ER_PRS_F'

-- case: show-tables [query]
SHOW TABLES

-- case: show-columns [query]
SHOW COLUMNS FROM ER_PRS_F

-- case: describe [query]
DESCRIBE ER_PRS_F

-- case: describe-query [query]
DESCRIBE SELECT BEN_NIR_PSA, count(*) FROM ER_PRS_F GROUP BY BEN_NIR_PSA

-- case: comments-everywhere [query]
-- number of acts
/* a block
   comment */ SELECT count(*) /* inline */ FROM ER_PRS_F -- trailing

-- case: trailing-semicolon [query]
SELECT 1;

-- case: sql-inside-string-literal [query]
SELECT 'DROP TABLE ER_PRS_F; COPY ER_PRS_F TO ''/etc/passwd''' AS s

-- case: semicolon-inside-comment [query]
SELECT 1 /* ; DROP TABLE ER_PRS_F */

-- case: ctas [create_scratch]
CREATE TABLE scratch.cohort2 AS SELECT DISTINCT BEN_NIR_PSA FROM ER_PRS_F

-- case: ctas-or-replace-from-scratch [create_scratch]
create or replace table scratch.cohort as
select c.BEN_NIR_PSA from scratch.cohort c join IR_BEN_R b on b.BEN_NIR_PSA = c.BEN_NIR_PSA

-- case: ctas-if-not-exists-catalog-qualified [create_scratch]
CREATE TABLE IF NOT EXISTS datafusion.scratch.stays AS
WITH s AS (SELECT * FROM T_MCO23B) SELECT * FROM s

-- case: drop-scratch [drop_scratch]
DROP TABLE scratch.cohort

-- case: drop-scratch-if-exists [drop_scratch]
drop table if exists scratch.not_yet_created
