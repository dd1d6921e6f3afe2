"""Checks that the pandas peer computed what hdh-producer did (same
pseudonyms, flags, year-months, departments): the comparison is fair only if
the work is the same.

usage: check.py OURS.parquet PANDAS.parquet
"""
import sys

import pyarrow.parquet as pq

ours = pq.read_table(sys.argv[1]).to_pandas()
theirs = pq.read_table(sys.argv[2]).to_pandas()
assert len(ours) == len(theirs), (len(ours), len(theirs))
for col in ["BEN_NIR_IDT", "BEN_NIR_PROV", "BEN_NAI_DTE", "BEN_RES_COM"]:
    same = (ours[col].astype(str).values == theirs[col].astype(str).values).all()
    assert same, f"{col} differs"
print(f"same output: {len(ours)} rows, pseudonyms, flags, year-months and departments agree")
