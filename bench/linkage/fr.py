"""bench/linkage: hdh against Splink 5 (DuckDB) on the generated French-style
deduplication sets (bench/linkage/frgen.py) of 100 000 and 1 000 000
records, with their ground truth, the same model on both sides.

    python fr.py HDH_BINARY WORKDIR [SIZE ...]

Generates the sets in WORKDIR (kept: a second run reuses them), runs both
tools once per size, prints each tool's precision, recall, F1 and wall
time (each from the CSV file to the links: hdh's whole process, Splink's
reading with pandas, the basin merged from IR_GEO_V, training and
predictions), then one line `RESULT linkage-fr fr100k_f1=...
fr1m_seconds=...` (x_splink: Splink's time divided by hdh's).
"""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HDH, WORK = sys.argv[1], Path(sys.argv[2])
SIZES = [int(s) for s in sys.argv[3:]] or [100_000, 1_000_000]
WORK.mkdir(parents=True, exist_ok=True)
COMMUNES = ROOT / "crates/hdh-refdata/data/IR_GEO_V.csv"
THRESHOLD = 0.9
COLUMNS = ["nir", "first_name", "surname", "birth_surname", "sex", "birth_date", "commune"]

# Candidate pairs: the union of these rules (the same on both sides).
BLOCKING = [
    ["nir"],
    ["first_name", "surname"],
    ["birth_date", "surname"],
    ["birth_date", "first_name"],
    ["birth_surname", "first_name"],   # married names
    ["birth_date", "commune"],
]
DETERMINISTIC = [["nir"], ["first_name", "surname", "birth_date"]]
# EM sessions: pairs with the same NIR (first names, dates...), then the same
# first name and birth date (the NIR's m). Neither block holds twins (other
# NIR, other first name), which EM would otherwise take for matches.
TRAINING = [["nir"], ["first_name", "birth_date"]]


def generate(n):
    data, truth = WORK / f"fr{n}.csv", WORK / f"fr{n}_truth.csv"
    if not (data.exists() and truth.exists()):
        t = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "frgen.py"), str(n), str(WORK)], check=True)
        print(f"generated {n} records in {time.perf_counter() - t:.1f} s", flush=True)
    return data, truth


def true_pairs(truth_csv):
    t = pd.read_csv(truth_csv, dtype={"id": str, "person": int})
    pairs = set()
    for ids in t.groupby("person").id.agg(list):
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                x, y = ids[a], ids[b]
                pairs.add((x, y) if x < y else (y, x))
    return pairs


def scores(pairs, truth):
    pairs = {(a, b) if a < b else (b, a) for a, b in pairs}
    tp = len(pairs & truth)
    p = tp / len(pairs) if pairs else 0.0
    r = tp / len(truth)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def rules_toml(key, rules):
    return "".join(f"[[{key}]]\ncolumns = {rule!r}\n".replace("'", '"') for rule in rules)


SETTINGS = f"""
link_type = "dedupe_only"
threshold = {THRESHOLD}
recall = 0.9
communes = ["commune"]           # adds commune_basin (and commune_sector) from IR_GEO_V

{rules_toml("blocking", BLOCKING)}
{rules_toml("deterministic", DETERMINISTIC)}
[training]
u_pairs = 1000000
seed = 42
{rules_toml("training.blocking", TRAINING)}
[[comparison]]
name = "nir"
columns = ["nir"]
levels = [{{ kind = "exact" }}, {{ kind = "damerau_levenshtein", max = 1 }}]
[[comparison]]
name = "first_name"
columns = ["first_name"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.92 }}, {{ kind = "jaro_winkler", threshold = 0.8 }}]
[[comparison]]
name = "surname"
columns = ["surname"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.92 }}, {{ kind = "jaro_winkler", threshold = 0.8 }}]
[[comparison]]
name = "birth_surname"
columns = ["birth_surname"]
tf_adjust = true
levels = [{{ kind = "exact" }}, {{ kind = "jaro_winkler", threshold = 0.92 }}]
[[comparison]]
name = "birth_date"
columns = ["birth_date"]
levels = [{{ kind = "exact" }}, {{ kind = "date_swapped" }}, {{ kind = "damerau_levenshtein", max = 1 }}]
[[comparison]]
name = "sex"
columns = ["sex"]
levels = [{{ kind = "exact" }}]
[[comparison]]
name = "commune"
columns = ["commune"]
levels = [{{ kind = "exact" }}, {{ kind = "same", column = "commune_basin" }}, {{ kind = "prefix", chars = 3 }}]
"""


def run_hdh(name, data, truth):
    settings = WORK / f"{name}.toml"
    settings.write_text(SETTINGS)
    out, model = WORK / f"{name}_hdh.csv", WORK / f"{name}_model.json"
    args = [HDH, "linkage", "probabilistic", "--settings", str(settings), "--left", str(data),
            "--id", "id", "--out", str(out), "--model", str(model)]
    t = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"hdh failed: {res.stderr}")
    print(res.stdout.rstrip(), flush=True)
    links = pd.read_csv(out, dtype={"left_id": str, "right_id": str}, usecols=["left_id", "right_id"])
    p, r, f1 = scores(zip(links.left_id, links.right_id), truth)
    print(f"hdh     {name}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} in {seconds:.2f} s", flush=True)
    return f1, seconds


def basins():
    g = pd.read_csv(COMMUNES, sep=";", dtype=str, keep_default_na=False)
    return pd.DataFrame({"commune": g.GEO_DPT_COD + g.GEO_COM_COD, "commune_basin": g.GEO_EMP_BAS})


def run_splink(name, data, truth):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    # From the file to the links in a file, as for hdh (whose time includes
    # reading the CSV file and writing the links); the time to the
    # predictions in memory is kept too.
    t = time.perf_counter()
    df = pd.read_csv(data, dtype=str, keep_default_na=False)
    read = time.perf_counter() - t
    # Splink's edge: the employment basin from the commune table.
    df = df.merge(basins(), on="commune", how="left")
    db = DuckDBAPI()
    table = db.register(df.replace("", None), dataset_display_name=name)

    def jw(col, thresholds):
        return cl.JaroWinklerAtThresholds(col, thresholds).configure(term_frequency_adjustments=True)

    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="id",
        comparisons=[
            cl.DamerauLevenshteinAtThresholds("nir", [1]),
            jw("first_name", [0.92, 0.8]),
            jw("surname", [0.92, 0.8]),
            jw("birth_surname", [0.92]),
            cl.CustomComparison(
                output_column_name="birth_date",
                comparison_levels=[
                    cll.NullLevel("birth_date"),
                    cll.ExactMatchLevel("birth_date"),
                    cll.CustomLevel(
                        "substr(birth_date_l, 1, 5) = substr(birth_date_r, 1, 5)"
                        " AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
                        " AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)",
                        "day and month swapped"),
                    cll.DamerauLevenshteinLevel("birth_date", 1),
                    cll.ElseLevel(),
                ]),
            cl.ExactMatch("sex"),
            cl.CustomComparison(
                output_column_name="commune",
                comparison_levels=[
                    cll.NullLevel("commune"),
                    cll.ExactMatchLevel("commune"),
                    cll.CustomLevel("commune_basin_l = commune_basin_r", "same basin"),
                    cll.CustomLevel("substr(commune_l, 1, 3) = substr(commune_r, 1, 3)",
                                    "same département"),
                    cll.ElseLevel(),
                ]),
        ],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in BLOCKING],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(table, settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*r) for r in DETERMINISTIC], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
    for r in TRAINING:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*r))
    pred = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pandas_dataframe()
    predicted = time.perf_counter() - t
    # The links written as hdh writes them (hdh adds each record's cluster).
    pred[["id_l", "id_r", "match_weight", "match_probability"]].to_csv(
        WORK / f"{name}_splink.csv", index=False, float_format="%.6f")
    seconds = time.perf_counter() - t
    p, r, f1 = scores(zip(pred.id_l, pred.id_r), truth)
    print(f"Splink  {name}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f} in {seconds:.2f} s "
          f"({read:.2f} s reading the CSV file, {predicted:.2f} s to the predictions in memory, "
          f"{seconds - predicted:.2f} s writing them)", flush=True)
    return f1, seconds, predicted


def label(n):
    return f"fr{n // 1000}k" if n < 1_000_000 else f"fr{n // 1_000_000}m"


fields = []
for n in SIZES:
    data, truth_csv = generate(n)
    truth = true_pairs(truth_csv)
    name = label(n)
    print(f"{name}: {n} records, {len(truth)} true pairs", flush=True)
    hf, hs = run_hdh(name, data, truth)
    sf, ss, sp = run_splink(name, data, truth)
    fields += [f"{name}_f1={hf:.4f}", f"{name}_splink_f1={sf:.4f}", f"{name}_hdh_s={hs:.2f}",
               f"{name}_splink_s={ss:.2f}", f"{name}_x_splink={ss / hs:.1f}",
               f"{name}_x_splink_predict={sp / hs:.1f}"]
    if n == 1_000_000:
        fields.append(f"fr1m_seconds={hs:.1f}")
print("RESULT linkage-fr " + " ".join(fields))
