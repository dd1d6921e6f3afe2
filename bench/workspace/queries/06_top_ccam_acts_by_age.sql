-- Top 20 CCAM acts performed in hospital stays of 2023, by age group of the
-- patient: acts, stays, and mean length of stay.
SELECT a.CDC_ACT,
       CASE WHEN b.AGE_ANN < 18 THEN '00-17' WHEN b.AGE_ANN < 65 THEN '18-64' ELSE '65+' END AS AGE_GROUP,
       COUNT(*) AS ACTS,
       COUNT(DISTINCT b.ETA_NUM || '/' || b.RSA_NUM) AS STAYS,
       AVG(b.SEJ_NBJ) AS MEAN_LOS
FROM T_MCO23A a
JOIN T_MCO23B b ON b.ETA_NUM = a.ETA_NUM AND b.RSA_NUM = a.RSA_NUM
GROUP BY a.CDC_ACT,
         CASE WHEN b.AGE_ANN < 18 THEN '00-17' WHEN b.AGE_ANN < 65 THEN '18-64' ELSE '65+' END
ORDER BY ACTS DESC, a.CDC_ACT, AGE_GROUP
LIMIT 20
