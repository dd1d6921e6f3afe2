"""Table and RESULT line of bench/workspace from the engines' JSON lines.

    python report.py <times.jsonl> <claim-rows> <persons> <peer-version>

Per query and engine: the median of the times of all rounds; ratio = hdh /
DuckDB; geometric mean of the ratios; peak memory = the largest VmHWM of the
engine's processes over the suite.
"""

import collections
import json
import math
import statistics
import sys


def main(path, claims, persons, peer):
    times = collections.defaultdict(list)
    peak = collections.defaultdict(int)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            times[(r["query"], r["engine"])].extend(r["ms"])
            peak[r["engine"]] = max(peak[r["engine"]], r["peak_rss_kb"])
            peak[(r["query"], r["engine"])] = max(peak[(r["query"], r["engine"])], r["peak_rss_kb"])
    queries = sorted({q for q, _ in times})
    ratios = []
    print()
    print(f"{'query':34} {'hdh ms':>9} {'duckdb ms':>10} {'ratio':>7} {'hdh MB':>7} {'duckdb MB':>9}")
    for q in queries:
        h = statistics.median(times[(q, "hdh")])
        d = statistics.median(times[(q, "duckdb")])
        ratio = h / d
        ratios.append(ratio)
        print(f"{q:34} {h:9.0f} {d:10.0f} {ratio:7.2f} {peak[(q, 'hdh')] / 1024:7.0f} "
              f"{peak[(q, 'duckdb')] / 1024:9.0f}")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    worst = max(ratios)
    print(f"{'geometric mean':34} {'':9} {'':10} {geomean:7.2f}")
    print(f"\n{len(queries)} queries, {claims} ER_PRS_F rows ({persons} persons); {peer}")
    print(f"RESULT workspace geomean_vs_duckdb={geomean:.2f} worst_vs_duckdb={worst:.2f} "
          f"rows={claims} peak_mb_hdh={peak['hdh'] / 1024:.0f} peak_mb_duckdb={peak['duckdb'] / 1024:.0f}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
