-- Outpatient spending by département of residence, sex and year: amounts
-- paid and reimbursed, out-of-pocket, per claim line.
SELECT BEN_RES_DPT, BEN_SEX_COD, EXTRACT(YEAR FROM EXE_SOI_DTD) AS YEAR,
       COUNT(*) AS LINES,
       SUM(PRS_PAI_MNT) AS PAID,
       SUM(BSE_REM_MNT) AS REIMBURSED,
       SUM(PRS_PAI_MNT - BSE_REM_MNT) AS OUT_OF_POCKET,
       AVG(PRS_PAI_MNT) AS MEAN_PAID
FROM ER_PRS_F
GROUP BY BEN_RES_DPT, BEN_SEX_COD, EXTRACT(YEAR FROM EXE_SOI_DTD)
ORDER BY BEN_RES_DPT, BEN_SEX_COD, YEAR
