-- Distribution of yearly out-of-pocket spending per person (amount paid
-- minus reimbursed, summed per person and year), by year and sex: persons
-- per band of spending.
WITH per_person AS (
  SELECT BEN_NIR_PSA, BEN_RNG_GEM, BEN_SEX_COD,
         EXTRACT(YEAR FROM EXE_SOI_DTD) AS YEAR,
         SUM(PRS_PAI_MNT - BSE_REM_MNT) AS OOP
  FROM ER_PRS_F
  GROUP BY BEN_NIR_PSA, BEN_RNG_GEM, BEN_SEX_COD, EXTRACT(YEAR FROM EXE_SOI_DTD)
)
SELECT YEAR, BEN_SEX_COD,
       CASE WHEN OOP < 10 THEN '0-10' WHEN OOP < 50 THEN '10-50'
            WHEN OOP < 200 THEN '50-200' ELSE '200+' END AS BAND,
       COUNT(*) AS PERSONS,
       AVG(OOP) AS MEAN_OOP
FROM per_person
GROUP BY YEAR, BEN_SEX_COD,
         CASE WHEN OOP < 10 THEN '0-10' WHEN OOP < 50 THEN '10-50'
              WHEN OOP < 200 THEN '50-200' ELSE '200+' END
ORDER BY YEAR, BEN_SEX_COD, BAND
