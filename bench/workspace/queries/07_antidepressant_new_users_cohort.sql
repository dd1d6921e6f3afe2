-- Cohort of new users of antidepressants (ATC N06A) in 2022: the first N06A
-- dispensation of 2022 with none in the 365 days before (washout), then
-- persistence: at least one more N06A dispensation 1 to 120 days after
-- (self-joins of the dispensations over time windows). By month of entry.
WITH disp AS (
  SELECT DISTINCT p.BEN_NIR_PSA, p.EXE_SOI_DTD AS D
  FROM ER_PRS_F p
  JOIN ER_PHA_F f
    ON f.FLX_DIS_DTD = p.FLX_DIS_DTD AND f.FLX_TRT_DTD = p.FLX_TRT_DTD
   AND f.FLX_EMT_TYP = p.FLX_EMT_TYP AND f.FLX_EMT_NUM = p.FLX_EMT_NUM
   AND f.FLX_EMT_ORD = p.FLX_EMT_ORD AND f.ORG_CLE_NUM = p.ORG_CLE_NUM
   AND f.DCT_ORD_NUM = p.DCT_ORD_NUM AND f.PRS_ORD_NUM = p.PRS_ORD_NUM
   AND f.REM_TYP_AFF = p.REM_TYP_AFF
  JOIN IR_PHA_R r ON r.PHA_CIP_C13 = f.PHA_PRS_C13
  WHERE r.PHA_ATC_C07 LIKE 'N06A%'
),
entry AS (
  SELECT BEN_NIR_PSA, MIN(D) AS D0
  FROM disp
  WHERE D >= DATE '2022-01-01' AND D < DATE '2023-01-01'
  GROUP BY BEN_NIR_PSA
),
new_users AS (
  SELECT e.BEN_NIR_PSA, e.D0
  FROM entry e
  LEFT JOIN disp w
    ON w.BEN_NIR_PSA = e.BEN_NIR_PSA
   AND w.D < e.D0 AND w.D >= e.D0 - INTERVAL '365 days'
  GROUP BY e.BEN_NIR_PSA, e.D0
  HAVING COUNT(w.D) = 0
),
followed AS (
  SELECT n.BEN_NIR_PSA, n.D0, COUNT(x.D) AS RENEWALS
  FROM new_users n
  LEFT JOIN disp x
    ON x.BEN_NIR_PSA = n.BEN_NIR_PSA
   AND x.D > n.D0 AND x.D <= n.D0 + INTERVAL '120 days'
  GROUP BY n.BEN_NIR_PSA, n.D0
)
SELECT EXTRACT(MONTH FROM D0) AS ENTRY_MONTH,
       COUNT(*) AS NEW_USERS,
       SUM(CASE WHEN RENEWALS > 0 THEN 1 ELSE 0 END) AS PERSISTENT,
       AVG(RENEWALS) AS MEAN_RENEWALS
FROM followed
GROUP BY EXTRACT(MONTH FROM D0)
ORDER BY ENTRY_MONTH
