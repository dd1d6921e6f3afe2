-- Time from the first dispensation of an antithrombotic (ATC B01) to the
-- first hospital stay of 2023, for patients whose first B01 dispensation
-- precedes that stay: number of patients and mean delay by delay band.
WITH first_b01 AS (
  SELECT p.BEN_NIR_PSA, MIN(p.EXE_SOI_DTD) AS FIRST_DRUG
  FROM ER_PRS_F p
  JOIN ER_PHA_F f
    ON f.FLX_DIS_DTD = p.FLX_DIS_DTD AND f.FLX_TRT_DTD = p.FLX_TRT_DTD
   AND f.FLX_EMT_TYP = p.FLX_EMT_TYP AND f.FLX_EMT_NUM = p.FLX_EMT_NUM
   AND f.FLX_EMT_ORD = p.FLX_EMT_ORD AND f.ORG_CLE_NUM = p.ORG_CLE_NUM
   AND f.DCT_ORD_NUM = p.DCT_ORD_NUM AND f.PRS_ORD_NUM = p.PRS_ORD_NUM
   AND f.REM_TYP_AFF = p.REM_TYP_AFF
  JOIN IR_PHA_R r ON r.PHA_CIP_C13 = f.PHA_PRS_C13
  WHERE r.PHA_ATC_C07 LIKE 'B01%'
  GROUP BY p.BEN_NIR_PSA
),
first_stay AS (
  SELECT NIR_ANO_17, MIN(EXE_SOI_DTD) AS FIRST_STAY
  FROM T_MCO23C
  WHERE NIR_RET = '0'
  GROUP BY NIR_ANO_17
),
delays AS (
  SELECT d.BEN_NIR_PSA, s.FIRST_STAY,
         EXTRACT(EPOCH FROM s.FIRST_STAY) / 86400 - EXTRACT(EPOCH FROM d.FIRST_DRUG) / 86400 AS DAYS
  FROM first_b01 d
  JOIN first_stay s ON s.NIR_ANO_17 = d.BEN_NIR_PSA
  WHERE d.FIRST_DRUG <= s.FIRST_STAY
)
SELECT CASE
         WHEN DAYS < 30 THEN '0-29 d'
         WHEN DAYS < 180 THEN '30-179 d'
         WHEN DAYS < 365 THEN '180-364 d'
         WHEN DAYS < 730 THEN '1-2 y'
         ELSE '2+ y'
       END AS DELAY,
       COUNT(*) AS PATIENTS,
       AVG(DAYS) AS MEAN_DAYS,
       MIN(DAYS) AS MIN_DAYS,
       MAX(DAYS) AS MAX_DAYS
FROM delays
GROUP BY 1
ORDER BY 1
