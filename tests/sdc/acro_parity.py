"""Parity test: PyPI `acro` (SACRO) versus `hdh sdc check`.

Builds a fixed set of tables from seeded synthetic microdata, asks ACRO 1.0.2
for its per-cell outcome of each table and runs `HDH sdc check` on the same
microdata (written to Parquet) with the same rules (threshold 10, zeros
disclosive, (2, 0.9) dominance, p = 0.1).  Per cell, the set of the three
rules both tools implement is compared:

    ACRO MinimumThresholdCheck (and PresenceOfZeroCheck)  <->  hdh threshold | zero
    ACRO NKCheck                                         <->  hdh nk-dominance
    ACRO PPercentCheck                                   <->  hdh p-percent

hdh's `secondary`, `nonzero-threshold` and `differencing` (rules ACRO does not
have; also `full` and `negative`) are ignored for the comparison and only
counted.  A third, independent
hand computation of the three rules from each cell's contributions is kept
alongside, so that every mismatch says which side agrees with the rule
definitions.  A few "report-only" tables (negative values, an all-zero
magnitude cell, ACRO's known blind spots) are run through both tools and
printed, but not asserted.

Usage: acro_parity.py --hdh HDH_BIN [--only SUBSTR ...] [--keep] [--acro-only]
       [--verbose]
Prints one summary line per table and, last, exactly one line
`RESULT acro-parity tables=<N> cells=<M> mismatches=<K>`; exits 1 when K > 0
or when the CLI failed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

warnings.simplefilter("ignore")
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import acro  # noqa: E402  (acro configures logging at import)
# ACRO calls logging.basicConfig(level=INFO) and logs every table it builds;
# silence everything below WARNING.
logging.disable(logging.INFO)
logging.getLogger("acro").setLevel(logging.WARNING)

RULES_TOML = """threshold = 10
zeros_disclosive = true
[dominance]
n = 2
k = 0.9
p = 0.1
"""
THRESHOLD = 10
NK_N, NK_K, P = 2, 0.9, 0.1

# hdh rule names (the `rule` column)
COMPARED = {"threshold", "zero", "nk-dominance", "p-percent"}
IGNORED = {"secondary", "nonzero-threshold", "differencing"}
KNOWN = COMPARED | IGNORED | {"full", "negative"}
# canonical names used for the comparison
THR, NK, PP = "threshold", "nk", "p%"


# ---------------------------------------------------------------------------
# table definitions


@dataclass
class Table:
    name: str
    df: pd.DataFrame
    rows: list[str]
    cols: str | None = None
    value: str | None = None
    agg: str = "count"  # count | sum | mean
    margins: bool = False
    api: str = "crosstab"  # crosstab | pivot | pivot_list (aggfunc=[...])
    parity: bool = True  # False: report only
    note: str = ""
    results: dict = field(default_factory=dict)


def _frame(parts: list[dict]) -> pd.DataFrame:
    # empty parts would turn integer key columns into floats
    return pd.concat([pd.DataFrame(p) for p in parts if len(next(iter(p.values())))], ignore_index=True)


def people_frame(rng: np.random.Generator) -> pd.DataFrame:
    """~900 people: region (str), age_band (int 1..5), sex (str), income."""
    n = 900
    df = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.3, 0.3, 0.25, 0.15]),
            "age_band": rng.integers(1, 6, n),
            "sex": rng.choice(["F", "M"], n),
            "income": np.round(rng.gamma(2.0, 1000.0, n) + 100.0, 2),
        }
    )
    # an empty combination: nobody in the south is in age band 5
    df = df[~((df.region == "south") & (df.age_band == 5))]
    # a small region: 7 people (threshold fails everywhere in it)
    small = pd.DataFrame(
        {
            "region": ["islands"] * 7,
            "age_band": [1, 1, 2, 2, 3, 4, 4],
            "sex": ["F", "M", "F", "M", "F", "M", "F"],
            "income": [1200.0, 900.0, 1500.0, 800.0, 2000.0, 1100.0, 950.0],
        }
    )
    df = pd.concat([df, small], ignore_index=True)
    # exactly 10 people in west/age band 5 (threshold: 10 is not < 10)
    w5 = df.index[(df.region == "west") & (df.age_band == 5)]
    extra = len(w5) - 10
    if extra > 0:
        df = df.drop(w5[:extra])
    else:
        add = pd.DataFrame(
            {
                "region": ["west"] * (-extra),
                "age_band": [5] * (-extra),
                "sex": ["F"] * (-extra),
                "income": [1000.0 + i for i in range(-extra)],
            }
        )
        df = pd.concat([df, add], ignore_index=True)
    return df.sample(frac=1.0, random_state=7).reset_index(drop=True)


def clinic_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Designed record counts per clinic (str) x visit (int): 0, 1, 2, 9, 10, 11, ..."""
    counts = {
        "c01": [25, 30, 18, 22],
        "c02": [10, 9, 11, 40],
        "c03": [1, 0, 14, 10],
        "c04": [33, 12, 0, 2],
        "c05": [9, 10, 11, 12],
        "c06": [15, 16, 17, 3],
    }
    parts = []
    for clinic, per_visit in counts.items():
        for visit, k in enumerate(per_visit, start=1):
            if k:
                parts.append(
                    {
                        "clinic": [clinic] * k,
                        "visit": [visit] * k,
                        "cost": np.round(rng.uniform(10.0, 20.0, k), 2),
                    }
                )
    return _frame(parts).sample(frac=1.0, random_state=3).reset_index(drop=True)


def dominance_frame(rng: np.random.Generator) -> pd.DataFrame:
    """grp (str) x year (int); 2020 cells carry deliberate dominance patterns.

    With n=2, k=0.9, p=0.1 a p% failure implies an NK failure (NK passes =>
    rest > (top1+top2)/9 >= top1/9 > 0.1*top1 => p% passes), so the designs
    are: NK fails & p% passes, both fail, both pass, and the exact boundaries.
    """
    cells2020 = {
        # NK: 95/105 = 0.905 >= 0.9 fails; p%: 10/50 = 0.2 passes
        "g01": [50.0, 45.0] + [1.0] * 10,
        # top1=100, top2=5, rest small: NK 105/110 fails, p% 5/100 = 0.05 fails
        "g02": [100.0, 5.0] + [0.5] * 10,
        # one huge contributor: both fail
        "g03": [10000.0] + [1.0] * 15,
        # NK exactly at the boundary: 90/100 = 0.9 -> fails (>=); p% 10/50 passes
        "g04": [50.0, 40.0] + [1.0] * 10,
        # p% exactly at the boundary: 10/100 = 0.1 -> passes (not <); NK 104/114 fails
        "g05": [100.0, 4.0] + [1.25] * 8,
        # p% just below: 9.75/100 fails; NK fails
        "g06": [100.0, 4.0] + [1.21875] * 8,
        # NK just below: 89/100 = 0.89 passes; p% 11/45 passes
        "g07": [45.0, 44.0] + [1.0] * 11,
        # two equal dominant contributors: NK 1000/1010 fails, p% 10/500 fails
        "g08": [500.0, 500.0] + [1.0] * 10,
        # ties at the top (keep="all" must not count three): 120/190 passes
        "g09": [60.0, 60.0, 60.0] + [1.0] * 10,
        # plain cell
        "g10": list(np.round(rng.uniform(5.0, 15.0, 20), 2)),
    }
    sizes2021 = {"g01": 15, "g02": 22, "g03": 9, "g04": 30, "g05": 18,
                 "g06": 10, "g07": 25, "g08": 0, "g09": 11, "g10": 1}
    parts = []
    for g, vals in cells2020.items():
        parts.append({"grp": [g] * len(vals), "year": [2020] * len(vals), "amount": vals})
    for g, k in sizes2021.items():
        if k:
            parts.append(
                {"grp": [g] * k, "year": [2021] * k, "amount": list(np.round(rng.uniform(5.0, 15.0, k), 2))}
            )
    return _frame(parts).sample(frac=1.0, random_state=11).reset_index(drop=True)


def ints_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Integer keys on both axes: dept (int 1..4), grade (int 10..13), pay."""
    n = 600
    df = pd.DataFrame(
        {
            "dept": rng.integers(1, 5, n),
            "grade": rng.integers(10, 14, n),
            "pay": np.round(rng.uniform(20.0, 60.0, n), 2),
        }
    )
    # dept 4 / grade 13: a handful of people, one with a dominant pay
    df = df[~((df.dept == 4) & (df.grade == 13))]
    add = pd.DataFrame({"dept": [4] * 12, "grade": [13] * 12, "pay": [5000.0] + [20.0] * 11})
    # dept 3 / grade 10: 3 people
    df = df[~((df.dept == 3) & (df.grade == 10))]
    add3 = pd.DataFrame({"dept": [3] * 3, "grade": [10] * 3, "pay": [30.0, 31.0, 32.0]})
    return pd.concat([df, add, add3], ignore_index=True).sample(frac=1.0, random_state=5).reset_index(drop=True)


def mixed_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Two row keys (site str, band int), every (site, band) pair observed, x ward (str)."""
    parts = []
    for site in ["alpha", "beta", "gamma"]:
        for band in [1, 2]:
            for ward in ["w1", "w2", "w3"]:
                k = int(rng.integers(12, 40))
                if (site, band, ward) == ("beta", 2, "w3"):
                    k = 0  # empty cell (the row combination is still observed)
                if (site, band, ward) == ("gamma", 1, "w1"):
                    k = 4
                if (site, band, ward) == ("alpha", 2, "w2"):
                    k = 10
                vals = list(np.round(rng.uniform(1.0, 9.0, k), 2))
                if (site, band, ward) == ("alpha", 1, "w3"):
                    vals[0] = 2500.0  # dominant contributor
                parts.append({"site": [site] * k, "band": [band] * k, "ward": [ward] * k, "los": vals})
    return _frame(parts).sample(frac=1.0, random_state=9).reset_index(drop=True)


def build_tables() -> list[Table]:
    rng = np.random.default_rng(20240601)
    people = people_frame(rng)
    clinic = clinic_frame(rng)
    dom = dominance_frame(rng)
    ints = ints_frame(rng)
    mixed = mixed_frame(rng)

    T = Table
    tables = [
        # frequency tables
        T("freq_1d_region", people, ["region"], api="pivot"),
        T("freq_1d_ageband_totals", people, ["age_band"], margins=True, api="pivot"),
        T("freq_2d_region_sex", people, ["region"], "sex"),
        T("freq_2d_region_age_totals", people, ["region"], "age_band", margins=True),
        T("freq_2d_clinic_visit", clinic, ["clinic"], "visit"),
        T("freq_2d_clinic_visit_totals", clinic, ["clinic"], "visit", margins=True),
        T("freq_rows2_region_sex_x_age", people, ["region", "sex"], "age_band"),
        T("freq_rows2_region_sex_x_age_totals", people, ["region", "sex"], "age_band", margins=True),
        T("freq_1d_rows2_site_band", mixed, ["site", "band"], api="pivot"),
        T("freq_2d_ints_totals", ints, ["dept"], "grade", margins=True),
        # sums and means, ordinary data
        T("sum_2d_region_sex", people, ["region"], "sex", "income", "sum"),
        T("mean_2d_region_age", people, ["region"], "age_band", "income", "mean"),
        T("sum_2d_region_age_pivot_totals", people, ["region"], "age_band", "income", "sum", True, "pivot_list"),
        T("mean_2d_clinic_visit_pivot_totals", clinic, ["clinic"], "visit", "cost", "mean", True, "pivot"),
        T("sum_1d_region_pivot", people, ["region"], None, "income", "sum", False, "pivot_list"),
        T("mean_1d_clinic_pivot", clinic, ["clinic"], None, "cost", "mean", False, "pivot"),
        T("sum_rows2_region_sex_x_age", people, ["region", "sex"], "age_band", "income", "sum"),
        T("sum_2d_clinic_visit_totals", clinic, ["clinic"], "visit", "cost", "sum", True),
        # deliberate dominance
        T("dom_sum_2d", dom, ["grp"], "year", "amount", "sum"),
        T("dom_mean_2d", dom, ["grp"], "year", "amount", "mean"),
        T("dom_sum_2d_totals", dom, ["grp"], "year", "amount", "sum", True),
        T("dom_sum_2d_pivot", dom, ["grp"], "year", "amount", "sum", False, "pivot_list"),
        T("dom_sum_1d_pivot", dom, ["grp"], None, "amount", "sum", False, "pivot"),
        T("dom_mean_2d_pivot_totals", dom, ["grp"], "year", "amount", "mean", True, "pivot_list"),
        # integer keys both sides, and two row keys with mixed key types
        T("int_mean_2d_dept_grade", ints, ["dept"], "grade", "pay", "mean"),
        T("int_sum_2d_dept_grade_totals", ints, ["dept"], "grade", "pay", "sum", True),
        T("mixed_sum_rows2_site_band_x_ward", mixed, ["site", "band"], "ward", "los", "sum"),
        T("mixed_mean_rows2_pivot_totals", mixed, ["site", "band"], "ward", "los", "mean", True, "pivot_list"),
    ]

    # ---- report-only tables (documented differences) ----
    neg = dom.copy()
    neg.loc[neg.index[(neg.grp == "g04") & (neg.year == 2021)][0], "amount"] = -3.0
    zero = dom.copy()
    zero.loc[(zero.grp == "g07") & (zero.year == 2021), "amount"] = 0.0
    tables += [
        T("report_negative_value", neg, ["grp"], "year", "amount", "sum", parity=False,
          note="one negative contribution (-3) among the 30 of g04/2021"),
        T("report_zero_magnitude_cell", zero, ["grp"], "year", "amount", "sum", parity=False,
          note="g07/2021: 25 contributions, all 0.0"),
        T("report_zero_count_cells", clinic, ["clinic"], "visit", parity=False,
          note="c03/2 and c04/3 have no records"),
    ]
    # ACRO blind spots: a 1-D table's total row is never checked, and an
    # unobserved row-key combination of a 1-D pivot is reported "ok".
    tiny = people[people.region == "islands"].reset_index(drop=True)
    gap = mixed[~((mixed.site == "gamma") & (mixed.band == 2))].reset_index(drop=True)
    few = dom.copy()
    g09 = few.index[(few.grp == "g09") & (few.year == 2021)]
    few.loc[g09, "amount"] = [10.0, 11.0, 12.0] + [0.0] * (len(g09) - 3)
    tables += [
        T("report_few_nonzero_contributors", few, ["grp"], "year", "amount", "sum", parity=False,
          note="g09/2021: 11 persons, 3 with a non-zero amount (10, 11, 12)"),
    ]
    tables += [
        T("report_1d_total_below_threshold", tiny, ["sex"], None, margins=True, api="pivot", parity=False,
          note="7 records in all: ACRO does not check a 1-D table's total"),
        T("report_1d_rows2_unobserved_combo", gap, ["site", "band"], None, "los", "sum", api="pivot",
          parity=False, note="(gamma, 2) never occurs"),
        T("report_2d_rows2_unobserved_combo", gap, ["site", "band"], "ward", margins=True,
          parity=False, note="(gamma, 2) never occurs"),
    ]
    return tables


# ---------------------------------------------------------------------------
# ACRO side


def _key(x) -> str:
    # pandas may turn an integer level into floats (e.g. next to a margin);
    # the tables here have no float keys
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return str(x)


def acro_label_row(label) -> str:
    if isinstance(label, tuple):
        if str(label[0]) == "All" and all(str(x) == "" for x in label[1:]):
            return "Total"
        return "|".join(_key(x) for x in label)
    return "Total" if str(label) == "All" else _key(label)


def acro_label_col(label, one_d: bool) -> str:
    if one_d:
        return ""
    if isinstance(label, tuple):
        label = label[-1]
    return "Total" if str(label) == "All" else _key(label)


def acro_rules(outcome: str) -> set[str]:
    out = set()
    if outcome == "ok":
        return out
    for part in (p.strip() for p in outcome.split(";")):
        if part in ("MinimumThresholdCheck", "PresenceOfZeroCheck"):
            out.add(THR)
        elif part == "NKCheck":
            out.add(NK)
        elif part == "PPercentCheck":
            out.add(PP)
        elif part:
            out.add("acro:" + part)
    return out


def run_acro(t: Table) -> dict[tuple[str, str], tuple[str, float]]:
    """{(row, col): (ACRO outcome string, ACRO table value)}"""
    df = t.df
    session = acro.ACRO(suppress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        if t.api == "crosstab":
            index = [df[r] for r in t.rows] if len(t.rows) > 1 else df[t.rows[0]]
            kwargs = {"margins": t.margins}
            if t.value is not None:
                kwargs.update(values=df[t.value], aggfunc=t.agg)
            session.crosstab(index, df[t.cols], **kwargs)
        else:
            agg = t.agg
            values = t.value if t.value is not None else df.columns[-1]
            if t.api == "pivot_list":
                agg, values = [agg], [values]
            session.pivot_table(
                df, index=list(t.rows), columns=[t.cols] if t.cols else None,
                values=values, aggfunc=agg, margins=t.margins,
            )
    (rec,) = session.results.results.values()
    outcome: pd.DataFrame = rec.outcome
    table: pd.DataFrame = rec.output[0]
    one_d = t.cols is None
    res = {}
    for i, rl in enumerate(outcome.index):
        for j, cl in enumerate(outcome.columns):
            key = (acro_label_row(rl), acro_label_col(cl, one_d))
            try:
                val = float(table.loc[rl, cl])
            except Exception:  # noqa: BLE001
                val = float("nan")
            res[key] = (str(outcome.iloc[i, j]), val)
    return res


# ---------------------------------------------------------------------------
# the rules by hand, from each cell's contributions (ACRO's definitions)


def cell_contributions(t: Table, row: str, col: str) -> np.ndarray:
    df = t.df
    mask = np.ones(len(df), dtype=bool)
    if row != "Total":
        for name, part in zip(t.rows, row.split("|")):
            mask &= df[name].astype(str).to_numpy() == part
    if t.cols is not None and col != "Total":
        mask &= df[t.cols].astype(str).to_numpy() == col
    vcol = t.value if t.value is not None else None
    if vcol is None:
        return np.ones(int(mask.sum()))
    return df[vcol].to_numpy(dtype=float)[mask]


def reference_rules(t: Table, xs: np.ndarray) -> set[str]:
    out = set()
    if len(xs) < THRESHOLD:
        out.add(THR)
    if t.value is None or len(xs) == 0:
        return out
    srt = np.sort(xs)[::-1]
    total = float(xs.sum())
    top1 = float(srt[0])
    top2 = float(srt[:2].sum())
    if total != 0 and top2 / total >= NK_K:
        out.add(NK)
    # ACRO: p = (sum - top1 - top2) / top1, and when top1 == 0, p = sum - top1 - top2
    pval = (total - top2) / top1 if top1 != 0 else (total - top2)
    if pval < P:
        out.add(PP)
    return out


def describe(xs: np.ndarray) -> str:
    if len(xs) == 0:
        return "n=0"
    srt = np.sort(xs)[::-1]
    total = float(xs.sum())
    top2 = float(srt[:2].sum())
    nk = top2 / total if total else float("nan")
    p = (total - top2) / float(srt[0]) if srt[0] else float("nan")
    return (f"n={len(xs)} sum={total:g} top1={srt[0]:g} top2={srt[1] if len(srt) > 1 else 0:g} "
            f"top2/sum={nk:.6g} (sum-top1-top2)/top1={p:.6g}")


# ---------------------------------------------------------------------------
# hdh side


def write_parquet(t: Table, path: str) -> None:
    cols = {}
    for name in t.df.columns:
        s = t.df[name]
        if pd.api.types.is_integer_dtype(s):
            cols[name] = pa.array(s.to_numpy(dtype="int64"), type=pa.int64())
        elif pd.api.types.is_float_dtype(s):
            cols[name] = pa.array(s.to_numpy(dtype="float64"), type=pa.float64())
        else:
            cols[name] = pa.array([str(x) for x in s], type=pa.string())
    pq.write_table(pa.table(cols), path)


def hdh_command(hdh: str, t: Table, parquet: str, rules: str) -> list[str]:
    cmd = [hdh, "sdc", "check", "--microdata", parquet, "--rows", ",".join(t.rows)]
    if t.cols:
        cmd += ["--cols", t.cols]
    if t.value is not None:
        cmd += ["--value", t.value, "--agg", t.agg]
    if t.margins:
        cmd += ["--totals"]
    cmd += ["--config", rules]
    return cmd


def run_hdh(hdh: str, t: Table, workdir: str, rules: str):
    parquet = os.path.join(workdir, f"{t.name}.parquet")
    write_parquet(t, parquet)
    cmd = hdh_command(hdh, t, parquet, rules)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{' '.join(cmd)}: {exc}"
    if proc.returncode != 0:
        return None, f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr.strip()}"
    reader = csv.reader(io.StringIO(proc.stdout))
    rows = list(reader)
    if not rows or rows[0] != ["row", "col", "value", "outcome", "rule"]:
        return None, f"{' '.join(cmd)}: unexpected header {rows[:1]!r}\n{proc.stdout[:500]}"
    res = {}
    for line in rows[1:]:
        if not line:
            continue
        if len(line) != 5:
            return None, f"{' '.join(cmd)}: malformed line {line!r}"
        row, col, value, outcome, rule = line
        if (row, col) in res:
            return None, f"{' '.join(cmd)}: duplicate cell {row!r},{col!r}"
        res[(row, col)] = (value, outcome, rule, ",".join(line))
    return res, None


def hdh_rules(rule: str) -> tuple[set[str], set[str], set[str]]:
    """(compared canonical rules, ignored rule names, unknown rule names)"""
    names = {r.strip() for r in rule.split(";") if r.strip()}
    out = set()
    if names & {"threshold", "zero"}:
        out.add(THR)
    if "nk-dominance" in names:
        out.add(NK)
    if "p-percent" in names:
        out.add(PP)
    return out, names & (KNOWN - COMPARED), names - KNOWN


# ---------------------------------------------------------------------------


def fmt(rules: set[str]) -> str:
    return "{" + ",".join(sorted(rules)) + "}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hdh", required=True, help="path to the hdh binary")
    ap.add_argument("--only", action="append", default=[], help="run tables whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep Parquet files and rules in tests/sdc/work/")
    ap.add_argument("--acro-only", action="store_true", help="print ACRO's outcomes only; do not run hdh")
    ap.add_argument("--verbose", action="store_true", help="print every cell")
    args = ap.parse_args()

    tables = build_tables()
    if args.only:
        tables = [t for t in tables if any(s in t.name for s in args.only)]

    if args.keep:
        workdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work")
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="hdh-acro-parity-")
    rules = os.path.join(workdir, "rules.toml")
    with open(rules, "w", encoding="utf-8") as fh:
        fh.write(RULES_TOML)

    n_tables = n_cells = n_mismatch = 0
    failures = 0
    acro_vs_ref = 0
    ignored_counts: dict[str, int] = {}
    value_diffs = 0
    reports: list[str] = []

    try:
        for t in tables:
            acro_res = run_acro(t)
            if args.acro_only:
                print(f"== {t.name} ({'parity' if t.parity else 'report-only'}) {t.note}")
                for (r, c), (o, v) in acro_res.items():
                    xs = cell_contributions(t, r, c)
                    ref = reference_rules(t, xs)
                    flag = "" if acro_rules(o) == ref or not t.parity else "   <-- ACRO != by-hand " + fmt(ref)
                    print(f"   {r!s:>14} {c!s:>6} value={v:<12.6g} acro={o!r}{flag}")
                continue

            hdh_res, err = run_hdh(args.hdh, t, workdir, rules)
            if err is not None:
                failures += 1
                print(f"TABLE {t.name}: CLI FAILURE: {err}")
                continue

            if not t.parity:
                lines = [f"REPORT {t.name}: {t.note}"]
                for key in sorted(set(acro_res) | set(hdh_res)):
                    a = acro_res.get(key)
                    h = hdh_res.get(key)
                    xs = cell_contributions(t, *key)
                    a_s = repr(a[0]) if a else "(no cell)"
                    h_s = h[3] if h else "(no cell)"
                    same = (a is not None and h is not None and acro_rules(a[0]) == hdh_rules(h[2])[0]
                            and not hdh_rules(h[2])[1] - {"secondary"})
                    if not same or args.verbose:
                        lines.append(f"   cell {key[0]}/{key[1] or '-'}: acro={a_s} hdh={h_s} [{describe(xs)}]")
                if len(lines) == 1:
                    lines.append("   (ACRO and hdh agree on every cell)")
                for ln in lines:
                    print(ln)
                reports.extend(lines)
                continue

            n_tables += 1
            t_cells = t_mis = 0
            keys_a, keys_h = set(acro_res), set(hdh_res)
            for key in sorted(keys_a - keys_h):
                t_mis += 1
                print(f"MISMATCH {t.name} cell {key[0]}/{key[1] or '-'}: only in ACRO ({acro_res[key][0]!r})")
            for key in sorted(keys_h - keys_a):
                t_mis += 1
                print(f"MISMATCH {t.name} cell {key[0]}/{key[1] or '-'}: only in hdh ({hdh_res[key][3]})")
            for key in sorted(keys_a & keys_h):
                t_cells += 1
                a_out, a_val = acro_res[key]
                h_val, h_outcome, h_rule, h_line = hdh_res[key]
                a_set = acro_rules(a_out)
                h_set, ign, unknown = hdh_rules(h_rule)
                for name in ign:
                    ignored_counts[name] = ignored_counts.get(name, 0) + 1
                xs = cell_contributions(t, *key)
                ref = reference_rules(t, xs)
                if a_set != ref:
                    acro_vs_ref += 1
                    print(f"NOTE {t.name} cell {key[0]}/{key[1] or '-'}: ACRO {a_out!r} differs from "
                          f"the rules by hand {fmt(ref)} [{describe(xs)}]")
                bad = a_set != h_set or bool(unknown)
                if h_outcome not in ("ok", "primary", "secondary", "flagged"):
                    bad = True
                if (h_outcome == "ok") != (h_rule.strip() == ""):
                    bad = True
                if bad:
                    t_mis += 1
                    who = ("hdh agrees with the rules by hand" if h_set == ref else
                           "ACRO agrees with the rules by hand" if a_set == ref else
                           "neither agrees with the rules by hand")
                    print(f"MISMATCH {t.name} cell {key[0]}/{key[1] or '-'}: acro={a_out!r} {fmt(a_set)} "
                          f"hdh=[{h_line}] {fmt(h_set)}{' unknown rules ' + fmt(unknown) if unknown else ''}; "
                          f"by hand {fmt(ref)}; {who} [{describe(xs)}]")
                elif args.verbose:
                    print(f"   ok {t.name} {key[0]}/{key[1] or '-'}: acro={a_out!r} hdh=[{h_line}]")
                try:
                    hv = float(h_val) if h_val != "" else float("nan")
                except ValueError:
                    hv = float("nan")
                if not ((math.isnan(hv) and math.isnan(a_val)) or
                        (not math.isnan(hv) and not math.isnan(a_val) and
                         math.isclose(hv, a_val, rel_tol=1e-9, abs_tol=1e-9))):
                    value_diffs += 1
                    if args.verbose:
                        print(f"   value {t.name} {key[0]}/{key[1] or '-'}: acro={a_val!r} hdh={h_val!r}")
            n_cells += t_cells
            n_mismatch += t_mis
            flagged = sum(1 for k in keys_a & keys_h if acro_rules(acro_res[k][0]))
            print(f"TABLE {t.name}: cells={t_cells} flagged-by-acro={flagged} mismatches={t_mis}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.acro_only:
        return 0
    if ignored_counts:
        print("NOTE hdh-only rules seen (not compared): "
              + ", ".join(f"{k}={v}" for k, v in sorted(ignored_counts.items())))
    if acro_vs_ref:
        print(f"NOTE {acro_vs_ref} cells where ACRO differs from the rules computed by hand")
    if value_diffs:
        print(f"NOTE {value_diffs} cells where the table value differs between ACRO and hdh "
              "(not asserted; --verbose lists them)")
    if failures:
        print(f"NOTE {failures} tables failed to run through the hdh CLI")
    print(f"RESULT acro-parity tables={n_tables} cells={n_cells} mismatches={n_mismatch}")
    return 1 if (n_mismatch or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
