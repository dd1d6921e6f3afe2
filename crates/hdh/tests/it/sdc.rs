//! `hdh sdc check`: the output checker as a CLI, on Parquet microdata —
//! parity with PyPI `acro` (tests/sdc) and clear errors on bad input.

use std::process::Command;

/// `hdh sdc check --microdata FILE ARGS…`.
fn check(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hdh"))
        .args(["sdc", "check", "--microdata"])
        .args(args)
        .output()
        .expect("run hdh")
}

/// The same, expected to fail: its standard error.
fn fails(args: &[&str]) -> String {
    let out = check(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a small Parquet file: region (text), sex (integer), cost (float).
fn microdata(dir: &std::path::Path) -> std::path::PathBuf {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let mut region = Vec::new();
    let mut sex = Vec::new();
    let mut cost = Vec::new();
    for (r, s, n) in [
        ("75", 1, 40),
        ("75", 2, 35),
        ("48", 1, 4),
        ("48", 2, 22),
        ("13", 1, 30),
        ("13", 2, 31),
    ] {
        for i in 0..n {
            region.push(r);
            sex.push(s as i64);
            cost.push(10.0 + i as f64);
        }
    }
    let batch = arrow::record_batch::RecordBatch::try_from_iter([
        ("region", Arc::new(StringArray::from(region)) as ArrayRef),
        ("sex", Arc::new(Int64Array::from(sex)) as ArrayRef),
        ("cost", Arc::new(Float64Array::from(cost)) as ArrayRef),
    ])
    .unwrap();
    let path = dir.join("m.parquet");
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

#[test]
fn prints_one_line_per_cell_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let m = microdata(dir.path());
    let out = check(&[
        m.to_str().unwrap(),
        "--rows",
        "region",
        "--cols",
        "sex",
        "--totals",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,col,value,outcome,rule");
    assert_eq!(lines.len(), 1 + 4 * 3, "{text}");
    assert!(lines.contains(&"48,1,4,primary,threshold"), "{text}");
    assert!(text.contains(",secondary,secondary"), "{text}");
    assert!(lines.contains(&"Total,Total,162,ok,"), "{text}");
    // A mean table with two row variables.
    let out = check(&[
        m.to_str().unwrap(),
        "--rows",
        "region,sex",
        "--value",
        "cost",
        "--agg",
        "mean",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l == "48|1,,11.5,primary,threshold"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "48|2,,20.5,ok,"), "{text}");
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = microdata(dir.path());
    let m = m.to_str().unwrap();
    let e = fails(&[m, "--rows", "dpt"]);
    assert!(
        e.contains("no column \"dpt\" (columns: region, sex, cost)"),
        "{e}"
    );
    let e = fails(&[m, "--rows", "sex", "--value", "region"]);
    assert!(e.contains("column \"region\" is Utf8, not a number"), "{e}");
    let e = fails(&[m, "--rows", "sex", "--value", "cost", "--agg", "max"]);
    assert!(e.contains("cannot be released"), "{e}");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "threshold = 10\n[dominance]\nk = 1.5\n").unwrap();
    let e = fails(&[m, "--rows", "sex", "--config", rules.to_str().unwrap()]);
    assert!(
        e.contains("rules.toml: dominance.k: must be in (0, 1]"),
        "{e}"
    );
    std::fs::write(&rules, "threshold = 10\nthreshold_typo = 3\n").unwrap();
    let e = fails(&[m, "--rows", "sex", "--config", rules.to_str().unwrap()]);
    assert!(e.contains("threshold_typo"), "{e}");
    let e = fails(&[rules.to_str().unwrap(), "--rows", "sex"]);
    assert!(e.contains("not a Parquet file"), "{e}");
}

/// The same decisions as PyPI `acro` 1.0.2 on 28 tables (tests/sdc/README.md).
#[test]
fn same_decisions_as_acro() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sdc/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_hdh"))
        .output()
        .expect("run tests/sdc/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    let result = stdout
        .lines()
        .rfind(|l| l.starts_with("RESULT acro-parity"))
        .unwrap_or_else(|| {
            panic!(
                "no RESULT line:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success(),
        "{result}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(result.ends_with("mismatches=0"), "{result}");
    let tables: usize = result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("tables="))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(tables >= 20, "{result}");
}
