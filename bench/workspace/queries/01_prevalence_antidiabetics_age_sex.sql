-- Prevalence of antidiabetic treatment (ATC A10) in 2022 by age group and sex:
-- persons with at least one A10 dispensation (DCIR claims joined to their
-- pharmacy lines on the nine join keys, then to the drug reference) over the
-- persons alive and born by 2022 in the beneficiaries' reference.
WITH treated AS (
  SELECT DISTINCT p.BEN_NIR_PSA, p.BEN_RNG_GEM
  FROM ER_PRS_F p
  JOIN ER_PHA_F f
    ON f.FLX_DIS_DTD = p.FLX_DIS_DTD AND f.FLX_TRT_DTD = p.FLX_TRT_DTD
   AND f.FLX_EMT_TYP = p.FLX_EMT_TYP AND f.FLX_EMT_NUM = p.FLX_EMT_NUM
   AND f.FLX_EMT_ORD = p.FLX_EMT_ORD AND f.ORG_CLE_NUM = p.ORG_CLE_NUM
   AND f.DCT_ORD_NUM = p.DCT_ORD_NUM AND f.PRS_ORD_NUM = p.PRS_ORD_NUM
   AND f.REM_TYP_AFF = p.REM_TYP_AFF
  JOIN IR_PHA_R r ON r.PHA_CIP_C13 = f.PHA_PRS_C13
  WHERE r.PHA_ATC_C07 LIKE 'A10%'
    AND p.EXE_SOI_DTD BETWEEN DATE '2022-01-01' AND DATE '2022-12-31'
),
population AS (
  SELECT BEN_NIR_PSA, BEN_RNG_GEM, BEN_SEX_COD,
         CASE
           WHEN 2022 - CAST(BEN_NAI_ANN AS INTEGER) < 18 THEN '00-17'
           WHEN 2022 - CAST(BEN_NAI_ANN AS INTEGER) < 45 THEN '18-44'
           WHEN 2022 - CAST(BEN_NAI_ANN AS INTEGER) < 65 THEN '45-64'
           WHEN 2022 - CAST(BEN_NAI_ANN AS INTEGER) < 75 THEN '65-74'
           ELSE '75+'
         END AS AGE_GROUP
  FROM IR_BEN_R
  WHERE CAST(BEN_NAI_ANN AS INTEGER) <= 2022
    AND (BEN_DCD_DTE IS NULL OR BEN_DCD_DTE >= DATE '2022-01-01')
)
SELECT pop.AGE_GROUP, pop.BEN_SEX_COD,
       COUNT(*) AS PERSONS,
       COUNT(t.BEN_NIR_PSA) AS TREATED,
       1000.0 * COUNT(t.BEN_NIR_PSA) / COUNT(*) AS PER_1000
FROM population pop
LEFT JOIN treated t
  ON t.BEN_NIR_PSA = pop.BEN_NIR_PSA AND t.BEN_RNG_GEM = pop.BEN_RNG_GEM
GROUP BY pop.AGE_GROUP, pop.BEN_SEX_COD
ORDER BY pop.AGE_GROUP, pop.BEN_SEX_COD
