-- Incidence of hospital stays in 2023 (PMSI MCO) by CIM-10 chapter of the
-- principal diagnosis and département of residence: stays and patients per
-- 100 000 inhabitants. Stays are chained to the beneficiaries' reference on
-- NIR_ANO_17 = BEN_NIR_PSA (linkable stays only: NIR_RET = '0').
WITH stays AS (
  SELECT c.NIR_ANO_17,
         CASE
           WHEN b.DGN_PAL < 'C' THEN '01 A00-B99'
           WHEN b.DGN_PAL < 'D5' THEN '02 C00-D48'
           WHEN b.DGN_PAL < 'E' THEN '03 D50-D89'
           WHEN b.DGN_PAL < 'F' THEN '04 E00-E90'
           WHEN b.DGN_PAL < 'G' THEN '05 F00-F99'
           WHEN b.DGN_PAL < 'H6' THEN '06-07 G00-H59'
           WHEN b.DGN_PAL < 'I' THEN '08 H60-H95'
           WHEN b.DGN_PAL < 'J' THEN '09 I00-I99'
           WHEN b.DGN_PAL < 'K' THEN '10 J00-J99'
           WHEN b.DGN_PAL < 'L' THEN '11 K00-K93'
           WHEN b.DGN_PAL < 'M' THEN '12 L00-L99'
           WHEN b.DGN_PAL < 'N' THEN '13 M00-M99'
           WHEN b.DGN_PAL < 'O' THEN '14 N00-N99'
           WHEN b.DGN_PAL < 'P' THEN '15 O00-O99'
           WHEN b.DGN_PAL < 'Q' THEN '16 P00-P96'
           WHEN b.DGN_PAL < 'R' THEN '17 Q00-Q99'
           WHEN b.DGN_PAL < 'S' THEN '18 R00-R99'
           WHEN b.DGN_PAL < 'V' THEN '19 S00-T98'
           WHEN b.DGN_PAL < 'Z' THEN '20 V01-Y98'
           ELSE '21 Z00-Z99'
         END AS CHAPTER
  FROM T_MCO23B b
  JOIN T_MCO23C c ON c.ETA_NUM = b.ETA_NUM AND c.RSA_NUM = b.RSA_NUM
  WHERE c.NIR_RET = '0'
),
residents AS (
  SELECT BEN_RES_DPT, COUNT(*) AS INHABITANTS
  FROM IR_BEN_R
  GROUP BY BEN_RES_DPT
),
person AS (
  SELECT DISTINCT BEN_NIR_PSA, BEN_RES_DPT FROM IR_BEN_R
)
SELECT s.CHAPTER, p.BEN_RES_DPT,
       COUNT(*) AS STAYS,
       COUNT(DISTINCT s.NIR_ANO_17) AS PATIENTS,
       100000.0 * COUNT(DISTINCT s.NIR_ANO_17) / MAX(r.INHABITANTS) AS PATIENTS_PER_100K
FROM stays s
JOIN person p ON p.BEN_NIR_PSA = s.NIR_ANO_17
JOIN residents r ON r.BEN_RES_DPT = p.BEN_RES_DPT
GROUP BY s.CHAPTER, p.BEN_RES_DPT
ORDER BY s.CHAPTER, p.BEN_RES_DPT
