"""DuckDB's side of bench/workspace: the same SQL over the same Parquet files.

    python duckdb_run.py run <lake-dir> <sql-file> <repeats> [result.json]
    python duckdb_run.py explain <lake-dir> <sql-file>

One view per table of the project's extraction (`projects/bench/extraction/
manifest.json`), named as in the hub's session, over `read_parquet` of the
same file. Times `execute(sql).fetchall()` inside the process; prints one JSON
line like the hub's example: times in ms, rows, peak resident memory (VmHWM).
The memory limit is the hub's (HDH_BENCH_MEMORY_MB, default 2048 MB); threads
are DuckDB's default (all cores), as the hub's target_partitions.
"""

import datetime
import decimal
import json
import os
import sys
import time

import duckdb


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def connect(lake_dir):
    manifest_path = os.path.join(lake_dir, "projects/bench/extraction/manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    con = duckdb.connect(":memory:")
    mem = int(os.environ.get("HDH_BENCH_MEMORY_MB", "2048"))
    con.execute(f"SET memory_limit = '{mem}MB'")
    spill = os.path.join(os.path.dirname(os.path.abspath(lake_dir)), "spill-duckdb")
    con.execute(f"SET temp_directory = '{spill}'")
    for stmt in filter(None, os.environ.get("HDH_BENCH_DUCKDB_SET", "").split(";")):
        con.execute(stmt)
    for entry in manifest["files"]:
        path = os.path.join(lake_dir, entry["path"]).replace("'", "''")
        con.execute(f"CREATE VIEW \"{entry['table']}\" AS SELECT * FROM read_parquet('{path}')")
    return con


def text(v):
    """The value as text, close to the hub's formatting (checked numerically)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


def run(lake_dir, sql_file, repeats, out=None):
    with open(sql_file) as f:
        sql = f.read()
    name = os.path.splitext(os.path.basename(sql_file))[0]
    con = connect(lake_dir)
    times = []
    rows = None
    cols = None
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        cur = con.execute(sql)
        rows = cur.fetchall()
        times.append((time.perf_counter() - t) * 1000.0)
        cols = [d[0] for d in cur.description]
    if out:
        with open(out, "w") as f:
            json.dump({"columns": cols, "rows": [[text(v) for v in r] for r in rows]}, f)
    print(json.dumps({"engine": "duckdb", "query": name, "ms": times, "rows": len(rows),
                      "peak_rss_kb": peak_rss_kb()}), flush=True)


def explain(lake_dir, sql_file):
    with open(sql_file) as f:
        sql = f.read()
    con = connect(lake_dir)
    con.execute("PRAGMA enable_profiling = 'query_tree'")
    t = time.perf_counter()
    for row in con.execute("EXPLAIN ANALYZE " + sql).fetchall():
        print(row[-1])
    print(f"{(time.perf_counter() - t) * 1000:.0f} ms", file=sys.stderr)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "run" and len(a) in (4, 5):
        run(a[1], a[2], int(a[3]), a[4] if len(a) == 5 else None)
    elif a and a[0] == "explain" and len(a) == 3:
        explain(a[1], a[2])
    else:
        sys.exit(__doc__)
