//! End-to-end checks of the generated dataset (small runs).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use hdh_demo::{DemoOptions, Progress, generate};
use serde_json::Value;

struct Table {
    schema: Value,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let i = self.col(name);
        self.rows.iter().map(move |r| r[i].as_str())
    }
    fn key(&self, row: &[String], cols: &[usize]) -> Vec<String> {
        cols.iter().map(|&i| row[i].clone()).collect()
    }
    fn cols(&self, names: &[&str]) -> Vec<usize> {
        names.iter().map(|n| self.col(n)).collect()
    }
}

fn load(dir: &Path, name: &str) -> Table {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("{name}.schema.json"))).expect("schema file"),
    )
    .expect("schema json");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(dir.join(format!("{name}.csv")))
        .expect("csv file");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("record").iter().map(str::to_owned).collect())
        .collect();
    Table {
        schema,
        header,
        rows,
    }
}

fn run(persons: u64, seed: u64) -> (tempfile::TempDir, hdh_demo::DemoSummary, Vec<Progress>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = Vec::new();
    let summary = generate(&DemoOptions { persons, seed }, dir.path(), &mut |p| {
        seen.push(p)
    })
    .expect("generate");
    (dir, summary, seen)
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn deterministic_by_seed() {
    let (a, sa, _) = run(500, 42);
    let (b, sb, _) = run(500, 42);
    let (c, _, _) = run(500, 43);
    let fa = all_files(a.path());
    assert_eq!(fa.len(), 8 * 2 + 1);
    assert_eq!(sa, sb);
    assert!(fa == all_files(b.path()), "same seed, different bytes");
    let fc = all_files(c.path());
    let differs = |t: &str| {
        let f = format!("{t}.csv");
        fa.iter().find(|x| x.0 == f) != fc.iter().find(|x| x.0 == f)
    };
    assert!(differs("IR_BEN_R") && differs("ER_PRS_F") && differs("T_MCO23B"));
    // The drug reference does not depend on the seed.
    assert!(!differs("IR_PHA_R"));
}

#[test]
fn prefix_stable_when_adding_persons() {
    // Person i does not depend on the total: the first persons of a bigger run are the same.
    let (a, _, _) = run(300, 7);
    let (b, _, _) = run(2300, 7);
    let ben_a = std::fs::read_to_string(a.path().join("IR_BEN_R.csv")).expect("a");
    let ben_b = std::fs::read_to_string(b.path().join("IR_BEN_R.csv")).expect("b");
    assert!(ben_b.starts_with(&ben_a));
    let prs_a = std::fs::read_to_string(a.path().join("ER_PRS_F.csv")).expect("a");
    let prs_b = std::fs::read_to_string(b.path().join("ER_PRS_F.csv")).expect("b");
    assert!(prs_b.starts_with(&prs_a));
}

#[test]
fn progress_and_summary() {
    let (dir, summary, seen) = run(2500, 1);
    assert_eq!(summary.persons, 2500);
    assert_eq!(
        seen.last(),
        Some(&Progress {
            persons_done: 2500,
            persons_total: 2500
        })
    );
    assert!(seen.len() >= 3);
    assert!(
        seen.windows(2)
            .all(|w| w[0].persons_done < w[1].persons_done)
    );
    let names: Vec<&str> = summary.tables.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, hdh_demo::table_names());
    for (t, n) in &summary.tables {
        let lines = std::fs::read_to_string(dir.path().join(format!("{t}.csv")))
            .expect("csv")
            .lines()
            .count() as u64;
        // One header line; no field contains a newline.
        assert_eq!(lines, n + 1, "{t}");
        assert!(*n > 0, "{t} is empty");
    }
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("dataset.json")).expect("meta"))
            .expect("json");
    assert_eq!(meta, hdh_demo::dataset_metadata());
}

#[test]
fn zero_persons() {
    let (dir, summary, seen) = run(0, 1);
    assert_eq!(summary.persons, 0);
    assert_eq!(seen.len(), 1);
    let t = load(dir.path(), "IR_BEN_R");
    assert!(t.rows.is_empty());
    assert!(!load(dir.path(), "IR_PHA_R").rows.is_empty());
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

/// Every row against its Table Schema: header, cell count, types, constraints,
/// nomenclatures.
#[test]
fn rows_match_schemas() {
    let (dir, _, _) = run(500, 42);
    for name in hdh_demo::table_names() {
        let t = load(dir.path(), name);
        assert_eq!(t.schema, hdh_demo::table_schema(name).expect("schema"));
        assert_eq!(t.schema["name"], name);
        assert_eq!(t.schema["missingValues"], serde_json::json!([""]));
        let fields = t.schema["fields"].as_array().expect("fields");
        let names: Vec<&str> = fields
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        assert_eq!(t.header, names, "{name}: header");
        for f in fields {
            assert!(f["description"].as_str().is_some_and(|d| !d.is_empty()));
            let ty = f["type"].as_str().expect("type");
            assert!(["string", "integer", "number", "date"].contains(&ty));
        }
        for (ri, row) in t.rows.iter().enumerate() {
            assert_eq!(row.len(), fields.len(), "{name} row {ri}: cell count");
            for (f, v) in fields.iter().zip(row) {
                let fname = f["name"].as_str().unwrap_or_default();
                let c = &f["constraints"];
                if v.is_empty() {
                    assert!(
                        c["required"] != true,
                        "{name}.{fname} row {ri}: required value missing"
                    );
                    continue;
                }
                match f["type"].as_str() {
                    Some("integer") => assert!(v.parse::<i64>().is_ok(), "{name}.{fname}={v}"),
                    Some("number") => assert!(v.parse::<f64>().is_ok(), "{name}.{fname}={v}"),
                    Some("date") => assert!(is_date(v), "{name}.{fname}={v}"),
                    _ => {}
                }
                if let Some(n) = c["minLength"].as_u64() {
                    assert!(v.chars().count() as u64 >= n, "{name}.{fname}={v}");
                }
                if let Some(n) = c["maxLength"].as_u64() {
                    assert!(v.chars().count() as u64 <= n, "{name}.{fname}={v}");
                }
                if let Some(n) = c["minimum"].as_f64() {
                    assert!(v.parse::<f64>().is_ok_and(|x| x >= n), "{name}.{fname}={v}");
                }
                if let Some(n) = c["maximum"].as_f64() {
                    assert!(v.parse::<f64>().is_ok_and(|x| x <= n), "{name}.{fname}={v}");
                }
                if let Some(e) = c["enum"].as_array() {
                    let ok = e.iter().any(|x| match x {
                        Value::String(s) => s == v,
                        Value::Number(n) => n.to_string() == *v,
                        _ => false,
                    });
                    assert!(ok, "{name}.{fname}={v} not in enum");
                }
                if let Some(nom) = f["nomenclature"].as_str() {
                    let table = hdh_refdata::get(nom).expect("vendored nomenclature");
                    assert!(table.contains(v), "{name}.{fname}={v} not in {nom}");
                }
            }
        }
    }
}

#[test]
fn keys_and_joins() {
    let (dir, _, _) = run(500, 42);
    let tables: HashMap<&str, Table> = hdh_demo::table_names()
        .into_iter()
        .map(|n| (n, load(dir.path(), n)))
        .collect();
    // Primary keys are unique.
    for (name, t) in &tables {
        let Some(pk) = t.schema["primaryKey"].as_array() else {
            continue;
        };
        let pk: Vec<&str> = pk.iter().filter_map(Value::as_str).collect();
        let cols = t.cols(&pk);
        let mut seen = HashSet::new();
        for row in &t.rows {
            assert!(
                seen.insert(t.key(row, &cols)),
                "{name}: duplicate key {pk:?}"
            );
        }
    }
    // Foreign keys resolve (on the referenced columns, whatever their uniqueness).
    for (name, t) in &tables {
        let Some(fks) = t.schema["foreignKeys"].as_array() else {
            continue;
        };
        for fk in fks {
            let fields: Vec<&str> = fk["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let target = fk["reference"]["resource"].as_str().expect("resource");
            let rfields: Vec<&str> = fk["reference"]["fields"]
                .as_array()
                .expect("ref fields")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let rt = &tables[target];
            let rcols = rt.cols(&rfields);
            let keys: HashSet<Vec<String>> = rt.rows.iter().map(|r| rt.key(r, &rcols)).collect();
            let cols = t.cols(&fields);
            for row in &t.rows {
                assert!(
                    keys.contains(&t.key(row, &cols)),
                    "{name} {fields:?} -> {target}: dangling"
                );
            }
        }
    }
    // The nine DCIR keys: every ER_PHA_F row joins exactly one ER_PRS_F row, which is a
    // pharmacy line.
    let prs = &tables["ER_PRS_F"];
    let pha = &tables["ER_PHA_F"];
    let nine = [
        "DCT_ORD_NUM",
        "FLX_DIS_DTD",
        "FLX_EMT_NUM",
        "FLX_EMT_ORD",
        "FLX_EMT_TYP",
        "FLX_TRT_DTD",
        "ORG_CLE_NUM",
        "PRS_ORD_NUM",
        "REM_TYP_AFF",
    ];
    let pc = prs.cols(&nine);
    let nat = prs.col("PRS_NAT_REF");
    let by_key: HashMap<Vec<String>, &Vec<String>> =
        prs.rows.iter().map(|r| (prs.key(r, &pc), r)).collect();
    let hc = pha.cols(&nine);
    let qsn = pha.col("PHA_ACT_QSN");
    let qte = prs.col("PRS_ACT_QTE");
    for row in &pha.rows {
        let p = by_key.get(&pha.key(row, &hc)).expect("PHA row joins PRS");
        assert!(
            ["3311", "3313", "3331"].contains(&p[nat].as_str()),
            "{}",
            p[nat]
        );
        assert_eq!(p[qte], row[qsn]);
    }
    let pharmacy_lines = prs
        .rows
        .iter()
        .filter(|r| ["3311", "3313", "3331"].contains(&r[nat].as_str()))
        .count();
    assert_eq!(pharmacy_lines, pha.rows.len());
    // PMSI: one C row per B row, stays of linkable persons exist in IR_BEN_R.
    let b = &tables["T_MCO23B"];
    let c = &tables["T_MCO23C"];
    assert_eq!(b.rows.len(), c.rows.len());
    let nirs: HashSet<&str> = tables["IR_BEN_R"].values("BEN_NIR_PSA").collect();
    for n in c.values("NIR_ANO_17") {
        assert!(nirs.contains(n), "{n}");
    }
    let rets: Vec<&str> = c.values("NIR_RET").collect();
    assert!(rets.contains(&"0"));
}

#[test]
fn dates_and_amounts() {
    let (dir, _, _) = run(500, 42);
    let ben = load(dir.path(), "IR_BEN_R");
    let death: HashMap<(String, String), String> = ben
        .rows
        .iter()
        .map(|r| {
            (
                (
                    r[ben.col("BEN_NIR_PSA")].clone(),
                    r[ben.col("BEN_RNG_GEM")].clone(),
                ),
                r[ben.col("BEN_DCD_DTE")].clone(),
            )
        })
        .collect();
    for d in ben.values("BEN_DCD_DTE").filter(|d| !d.is_empty()) {
        assert!(("2021-01-01"..="2023-12-31").contains(&d), "{d}");
    }
    let prs = load(dir.path(), "ER_PRS_F");
    let (dtd, dtf, dis, trt) = (
        prs.col("EXE_SOI_DTD"),
        prs.col("EXE_SOI_DTF"),
        prs.col("FLX_DIS_DTD"),
        prs.col("FLX_TRT_DTD"),
    );
    let (paid, reimb) = (prs.col("PRS_PAI_MNT"), prs.col("BSE_REM_MNT"));
    let (nir, rng) = (prs.col("BEN_NIR_PSA"), prs.col("BEN_RNG_GEM"));
    for r in &prs.rows {
        assert!(
            ("2021-01-01"..="2023-12-31").contains(&r[dtd].as_str()),
            "{}",
            r[dtd]
        );
        assert!(r[dtf] >= r[dtd]);
        assert!(
            r[trt] >= r[dtd] && r[dis] > r[trt],
            "{} {} {}",
            r[dtd],
            r[trt],
            r[dis]
        );
        assert!(r[dis].ends_with("-01"));
        assert!(("2021-02-01"..="2024-01-01").contains(&r[dis].as_str()));
        let (p, b): (f64, f64) = (
            r[paid].parse().expect("paid"),
            r[reimb].parse().expect("reimb"),
        );
        assert!(b <= p && b >= 0.0, "{p} {b}");
        assert!(r[paid].split_once('.').is_some_and(|(_, c)| c.len() == 2));
        let d = &death[&(r[nir].clone(), r[rng].clone())];
        assert!(d.is_empty() || r[dtd] <= *d, "claim after death");
    }
    let c = load(dir.path(), "T_MCO23C");
    let b = load(dir.path(), "T_MCO23B");
    let (cd, cf) = (c.col("EXE_SOI_DTD"), c.col("EXE_SOI_DTF"));
    let nbj = b.col("SEJ_NBJ");
    for (rc, rb) in c.rows.iter().zip(&b.rows) {
        assert_eq!(rc[0..2], rb[0..2], "B and C rows in the same order");
        assert!(("2023-01-01"..="2023-12-31").contains(&rc[cd].as_str()));
        assert!(("2023-01-01"..="2023-12-31").contains(&rc[cf].as_str()));
        assert!(rc[cf] >= rc[cd]);
        let d0 = chrono::NaiveDate::parse_from_str(&rc[cd], "%Y-%m-%d").expect("d0");
        let d1 = chrono::NaiveDate::parse_from_str(&rc[cf], "%Y-%m-%d").expect("d1");
        let los = (d1 - d0).num_days();
        if rb[nbj].is_empty() {
            assert_eq!(los, 0);
        } else {
            assert_eq!(rb[nbj].parse::<i64>().expect("nbj"), los);
        }
        assert_eq!(rb[b.col("SOR_MOI")], rc[cf][5..7]);
        assert_eq!(rb[b.col("SOR_ANN")], rc[cf][0..4]);
    }
    // Death during a stay is the person's date of death.
    let ben_death: HashMap<&str, &str> = ben
        .rows
        .iter()
        .map(|r| (r[0].as_str(), r[ben.col("BEN_DCD_DTE")].as_str()))
        .collect();
    for (rc, rb) in c.rows.iter().zip(&b.rows) {
        if rb[b.col("SOR_MOD")] == "9" {
            assert_eq!(ben_death[rc[c.col("NIR_ANO_17")].as_str()], rc[cf]);
        }
    }
    // Acts happen during the stay.
    let a = load(dir.path(), "T_MCO23A");
    let los: HashMap<(String, String), i64> = b
        .rows
        .iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r[nbj].parse().unwrap_or(0)))
        .collect();
    for r in &a.rows {
        let del: i64 = r[a.col("ENT_DAT_DEL")].parse().expect("del");
        assert!(del <= los[&(r[0].clone(), r[1].clone())]);
    }
}

#[test]
fn plausible_population() {
    let (dir, _, _) = run(2000, 42);
    let ben = load(dir.path(), "IR_BEN_R");
    let women = ben.values("BEN_SEX_COD").filter(|s| *s == "2").count() as f64;
    let ratio = women / ben.rows.len() as f64;
    assert!((0.45..=0.55).contains(&ratio), "{ratio}");
    // Diabetics: A10 dispensations, at least some with 4 or more.
    let pha_r = load(dir.path(), "IR_PHA_R");
    let atc: HashMap<&str, &str> = pha_r
        .rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let prs = load(dir.path(), "ER_PRS_F");
    let pha = load(dir.path(), "ER_PHA_F");
    let nine = [
        "DCT_ORD_NUM",
        "FLX_DIS_DTD",
        "FLX_EMT_NUM",
        "FLX_EMT_ORD",
        "FLX_EMT_TYP",
        "FLX_TRT_DTD",
        "ORG_CLE_NUM",
        "PRS_ORD_NUM",
        "REM_TYP_AFF",
    ];
    let pc = prs.cols(&nine);
    let person: HashMap<Vec<String>, String> = prs
        .rows
        .iter()
        .map(|r| (prs.key(r, &pc), format!("{}{}", r[9], r[10])))
        .collect();
    let hc = pha.cols(&nine);
    let c13 = pha.col("PHA_PRS_C13");
    let mut a10: HashMap<&str, usize> = HashMap::new();
    let mut c09 = HashSet::new();
    for r in &pha.rows {
        let p = &person[&pha.key(r, &hc)];
        let code = atc[r[c13].as_str()];
        if code.starts_with("A10") {
            *a10.entry(p.as_str()).or_default() += 1;
        }
        if code.starts_with("C09") {
            c09.insert(p.as_str());
        }
    }
    let chronic = a10.values().filter(|&&n| n >= 4).count();
    assert!(
        chronic >= 20,
        "{chronic} persons with >= 4 A10 dispensations"
    );
    let diab_share = a10.len() as f64 / 2000.0;
    assert!((0.03..0.10).contains(&diab_share), "{diab_share}");
    let c09_share = c09.len() as f64 / 2000.0;
    assert!((0.06..0.20).contains(&c09_share), "{c09_share}");
    // Hospital: about 15 % of persons, few deaths.
    let c = load(dir.path(), "T_MCO23C");
    let hosp: HashSet<&str> = c.values("NIR_ANO_17").collect();
    let share = hosp.len() as f64 / 2000.0;
    assert!((0.08..0.25).contains(&share), "{share}");
    let b = load(dir.path(), "T_MCO23B");
    let deaths = b.values("SOR_MOD").filter(|m| *m == "9").count() as f64;
    assert!(deaths / (b.rows.len() as f64) < 0.05);
}

/// Timing of a large run: `cargo test --release -p hdh-demo -- --ignored --nocapture`.
/// Persons from `HDH_DEMO_BENCH_PERSONS` (default 1 000 000).
#[test]
#[ignore]
fn bench_generate() {
    let persons = std::env::var("HDH_DEMO_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let t = std::time::Instant::now();
    let summary =
        generate(&DemoOptions { persons, seed: 42 }, dir.path(), &mut |_| {}).expect("generate");
    let secs = t.elapsed().as_secs_f64();
    let mut bytes = 0;
    for (name, rows) in &summary.tables {
        let size = std::fs::metadata(dir.path().join(format!("{name}.csv")))
            .map(|m| m.len())
            .unwrap_or(0);
        bytes += size;
        println!("{name:10} {rows:>12} rows {:>10.1} MB", size as f64 / 1e6);
    }
    println!(
        "{persons} persons in {secs:.1} s ({:.0} MB/s, {} threads)",
        bytes as f64 / 1e6 / secs,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}
