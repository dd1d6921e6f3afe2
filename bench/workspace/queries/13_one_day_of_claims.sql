-- A selective question: the claims of one day of care (15 March 2022) by
-- nature of act and specialty.
SELECT PRS_NAT_REF, PSE_SPE_COD, COUNT(*) AS LINES, SUM(PRS_PAI_MNT) AS PAID
FROM ER_PRS_F
WHERE EXE_SOI_DTD = DATE '2022-03-15'
GROUP BY PRS_NAT_REF, PSE_SPE_COD
ORDER BY PRS_NAT_REF, PSE_SPE_COD
