"""Writes an SNDS-shaped DCIR prestation CSV (`;`, header, UTF-8/ASCII).

usage: gen.py ROWS OUT.csv

One row per prestation of one of ROWS/10 persons: NIR with a valid key (0.2 %
temporary NIRs, first digit 7 or 8; 1 % born in Corsica, 2A/2B), birth date
(%d%m%Y) consistent with the NIR, sex, commune of residence (some overseas,
97x), date of care in 2023-2024, nature of service, amount paid.
Deterministic (seed 42).
"""
import sys

import numpy as np
import pandas as pd

rows = int(sys.argv[1])
out = sys.argv[2]
rng = np.random.default_rng(42)
persons = max(rows // 10, 1000)

sex = rng.choice(np.array([1, 2]), persons)
first = sex.copy()
temporary = rng.random(persons) < 0.002
first[temporary] = np.where(sex[temporary] == 1, 7, 8)
year = rng.integers(1925, 2024, persons)
month = rng.integers(1, 13, persons)
day = rng.integers(1, 29, persons)
dept = rng.integers(1, 96, persons)
dept[dept == 20] = 21
corsica = rng.random(persons) < 0.01
dept_str = pd.Series(dept).astype(str).str.zfill(2)
dept_str[corsica] = np.where(rng.random(corsica.sum()) < 0.5, "2A", "2B")
dept_num = np.where(dept_str == "2A", 19, np.where(dept_str == "2B", 18, dept)).astype(np.int64)
commune = rng.integers(1, 990, persons)
order = rng.integers(1, 1000, persons)
yy = year % 100
n = (first.astype(np.int64) * 10**12 + yy * 10**10 + month * 10**8
     + dept_num * 10**6 + commune * 10**3 + order)
key = 97 - n % 97
s = lambda a, w: pd.Series(a).astype(str).str.zfill(w)
nir = (s(first, 1) + s(yy, 2) + s(month, 2) + dept_str + s(commune, 3) + s(order, 3) + s(key, 2))
birth = s(day, 2) + s(month, 2) + s(year, 4)
residence = dept_str + s(rng.integers(1, 990, persons), 3)
overseas = rng.random(persons) < 0.03
residence[overseas] = "974" + s(rng.integers(1, 25, overseas.sum()), 2).values

who = rng.integers(0, persons, rows)
care_days = rng.integers(0, 731, rows)
care = pd.to_datetime("2023-01-01") + pd.to_timedelta(care_days, unit="D")
df = pd.DataFrame({
    "BEN_NIR_IDT": nir.values[who],
    "BEN_NAI_DTE": birth.values[who],
    "BEN_SEX_COD": sex[who],
    "BEN_RES_COM": residence.values[who],
    "EXE_SOI_DTD": care.strftime("%d%m%Y"),
    "PRS_NAT_REF": rng.choice(np.array([1111, 1112, 1211, 3311, 3313, 4211]), rows),
    "PRS_PAI_MNT": (rng.gamma(2.0, 20.0, rows)).round(2),
})
df.to_csv(out, sep=";", index=False, float_format="%.2f")
