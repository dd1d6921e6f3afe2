"""The I/O floor: DuckDB reads the CSV (typed, %d%m%Y dates) and writes
Parquet (snappy), no hashing. Uses every core.

usage: duckdb_peer.py IN.csv OUT.parquet
"""
import sys

import duckdb

csv, out = sys.argv[1:3]
con = duckdb.connect()
con.execute(
    f"""COPY (SELECT * FROM read_csv('{csv}', delim=';', header=true, dateformat='%d%m%Y',
        columns={{'BEN_NIR_IDT': 'VARCHAR', 'BEN_NAI_DTE': 'DATE', 'BEN_SEX_COD': 'BIGINT',
                  'BEN_RES_COM': 'VARCHAR', 'EXE_SOI_DTD': 'DATE', 'PRS_NAT_REF': 'BIGINT',
                  'PRS_PAI_MNT': 'DOUBLE'}}))
        TO '{out}' (FORMAT parquet, COMPRESSION snappy)"""
)
