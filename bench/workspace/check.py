"""Checks that the hub and DuckDB returned the same result for a query.

    python check.py <hdh-result.json> <duckdb-result.json>

Both files hold {"columns": [...], "rows": [[text or null, ...], ...]}. Rows
are compared as multisets (order is only defined where the query sorts, and
ties may come out in any order): every cell is parsed as a number when it
reads as one, numbers compare with a relative tolerance of 1e-6 (sums and
averages of floats depend on the order of addition), and the sorted row lists
must match. Prints the row count and a checksum (sum of the numeric cells);
exits 1 on a difference.
"""

import json
import math
import sys


def cell(v):
    if v is None:
        return (0, "")
    try:
        f = float(v)
        if math.isfinite(f):
            return (1, f)
    except ValueError:
        pass
    return (2, v)


def key(row):
    # Sort numbers by a rounded value so that float noise does not reorder.
    return [(t, round(x, 4) if t == 1 else x) for t, x in row]


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == 1:
        return math.isclose(a[1], b[1], rel_tol=1e-6, abs_tol=1e-9)
    return a[1] == b[1]


def main(hdh_path, duck_path):
    with open(hdh_path) as f:
        h = json.load(f)
    with open(duck_path) as f:
        d = json.load(f)
    hr = sorted(([cell(v) for v in r] for r in h["rows"]), key=key)
    dr = sorted(([cell(v) for v in r] for r in d["rows"]), key=key)
    problems = []
    if len(h["columns"]) != len(d["columns"]):
        problems.append(f"columns: hdh {h['columns']} vs duckdb {d['columns']}")
    if len(hr) != len(dr):
        problems.append(f"rows: hdh {len(hr)} vs duckdb {len(dr)}")
    else:
        for i, (a, b) in enumerate(zip(hr, dr)):
            if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b)):
                problems.append(f"row {i}: hdh {[x for _, x in a]} vs duckdb {[y for _, y in b]}")
                if len(problems) > 5:
                    break
    checksum = sum(x for r in hr for t, x in r if t == 1)
    if problems:
        print("DIFFERENT RESULTS: " + "; ".join(problems))
        sys.exit(1)
    print(f"same result: {len(hr)} rows, checksum {checksum:.6g}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
