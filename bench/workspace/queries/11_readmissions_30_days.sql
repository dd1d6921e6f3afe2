-- Unplanned readmissions within 30 days of discharge, 2023 (self-join of the
-- stays of each patient over a time window), by major diagnostic category
-- (first two characters of the GHM) of the first stay.
WITH s AS (
  SELECT c.NIR_ANO_17, c.ETA_NUM, c.RSA_NUM, c.EXE_SOI_DTD, c.EXE_SOI_DTF,
         SUBSTR(b.GRG_GHM, 1, 2) AS CMD, b.SOR_MOD
  FROM T_MCO23C c
  JOIN T_MCO23B b ON b.ETA_NUM = c.ETA_NUM AND b.RSA_NUM = c.RSA_NUM
  WHERE c.NIR_RET = '0'
)
SELECT s1.CMD,
       COUNT(DISTINCT s1.ETA_NUM || '/' || s1.RSA_NUM) AS STAYS_READMITTED,
       COUNT(*) AS READMISSIONS
FROM s s1
JOIN s s2
  ON s2.NIR_ANO_17 = s1.NIR_ANO_17
 AND s2.EXE_SOI_DTD > s1.EXE_SOI_DTF
 AND s2.EXE_SOI_DTD <= s1.EXE_SOI_DTF + INTERVAL '30 days'
WHERE s1.SOR_MOD <> '9'
GROUP BY s1.CMD
ORDER BY s1.CMD
