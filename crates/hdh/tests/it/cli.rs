//! The command line: help, accounts, errors on stderr with a non-zero exit.

use std::io::Write;
use std::process::{Command, Stdio};

fn hdh() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hdh"))
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "list", "--help"],
        vec!["demo", "generate", "--help"],
        vec!["deliver", "--help"],
        vec!["linkage", "probabilistic", "--help"],
        vec!["linkage", "deterministic", "--help"],
        vec!["audit", "witness", "--help"],
        vec!["audit", "archive", "--help"],
    ] {
        let out = hdh().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

/// Runs `hdh ARGS` with `stdin_line` on standard input.
fn run_with_stdin(args: &[&str], stdin_line: &[u8]) -> std::process::Output {
    let mut child = hdh()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin_line).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn user_add_reads_the_password_from_stdin_and_never_echoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_with_stdin(
        &[
            "user",
            "add",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "dr.martin",
            "--roles",
            "researcher,checker",
            "--display-name",
            "Dr Martin",
            "--email",
            "dr.martin@chu-bordeaux.example",
        ],
        b"s3cret-passphrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("created dr.martin (researcher,checker)"),
        "{all}"
    );
    assert!(!all.contains("s3cret-passphrase"));
    let db = std::fs::read(data.join("hdh.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains("s3cret-passphrase"),
        "only a hash is stored"
    );

    let bad = run_with_stdin(
        &[
            "user",
            "add",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "nobody",
            "--roles",
            "researcher",
            "--email",
            "not an address",
        ],
        b"s3cret-passphrase\n",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));

    let list = hdh()
        .args(["user", "list", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("dr.martin\tresearcher,checker\tDr Martin")
    );

    // Errors: a clear message on stderr and a non-zero exit code.
    let bad = hdh()
        .args([
            "user",
            "add",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "x",
            "--roles",
            "root",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown role \"root\""),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let dup = run_with_stdin(
        &[
            "user",
            "add",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "dr.martin",
            "--roles",
            "researcher",
        ],
        b"another-passphrase\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    // The password policy: a common password, or a short one, is refused
    // with the reason, and no account is created.
    for (password, why) in [
        (&b"1qaz2wsx3edc\n"[..], "most common passwords"),
        (&b"short-one\n"[..], "at least 12 characters"),
    ] {
        let weak = run_with_stdin(
            &[
                "user",
                "add",
                "--data-dir",
                data.to_str().unwrap(),
                "--username",
                "dr.weak",
                "--roles",
                "researcher",
            ],
            password,
        );
        assert!(!weak.status.success());
        let err = String::from_utf8_lossy(&weak.stderr);
        assert!(err.contains("password: ") && err.contains(why), "{err}");
    }
    let list = hdh()
        .args(["user", "list", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains("dr.weak"));
}

#[test]
fn the_demo_listens_on_loopback_only_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = hdh()
            .args(["serve", "--demo", "--listen", listen, "--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("--demo-on-public-address")
                && err.contains("reachable from other machines"),
            "{err}"
        );
        // Refused before anything was written.
        assert!(!dir.path().join("data").exists());
    }
    // The flag needs --demo.
    let out = hdh()
        .args([
            "serve",
            "--demo-on-public-address",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--demo"));
}

#[test]
fn demo_generate_writes_tables_and_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let out = hdh()
        .args([
            "demo",
            "generate",
            "--out",
            dir.path().to_str().unwrap(),
            "--persons",
            "50",
            "--seed",
            "3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("IR_BEN_R\t50"));
    for f in [
        "IR_BEN_R.csv",
        "IR_BEN_R.schema.json",
        "ER_PRS_F.csv",
        "dataset.json",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

/// `hdh linkage`: exact links with a collision reported; a probabilistic
/// linkage that finds people despite typos; settings at fault named.
#[test]
fn linkage_of_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let left = w(
        "a.csv",
        "id,nir,dob,first,last\na1,N1,1980-01-02,JEAN,MARTIN\na2,N2,1975-06-07,MARIE,DUBOIS\na3,N2,1975-06-07,LUC,DUBOIS\na4,N4,1990-03-12,ANNE,PETIT\n",
    );
    let right = w(
        "b.csv",
        "id,nir,dob,first,last\nb1,N1,1980-01-02,JEAN,MARTTIN\nb2,N2,1975-06-07,MARIE,DUBOIS\nb4,N4,1990-12-03,ANNE,PETIT\nb9,N9,1960-01-01,PAUL,SIMON\n",
    );
    let out = dir.path().join("links.csv");
    let o = hdh()
        .args([
            "linkage",
            "deterministic",
            "--left",
            &left,
            "--right",
            &right,
            "--on",
            "nir,dob",
            "--id",
            "id",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("1 links; left: 2 records in 1 colliding keys"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "left_id,right_id\na1,b1\n"
    );

    let settings = w(
        "s.toml",
        r#"
link_type = "link_only"
threshold = 0.8
[[blocking]]
columns = ["nir"]
[[blocking]]
columns = ["last"]
[[deterministic]]
columns = ["nir", "dob"]
[training]
u_pairs = 1000
[[training.blocking]]
columns = ["nir"]
[[training.blocking]]
columns = ["last"]
[[comparison]]
name = "first"
columns = ["first"]
levels = [{ kind = "exact" }]
[[comparison]]
name = "last"
columns = ["last"]
levels = [{ kind = "exact" }, { kind = "damerau_levenshtein", max = 1 }]
[[comparison]]
name = "dob"
columns = ["dob"]
levels = [{ kind = "exact" }, { kind = "date_swapped" }]
"#,
    );
    let model = dir.path().join("model.json");
    let o = hdh()
        .args([
            "linkage",
            "probabilistic",
            "--settings",
            &settings,
            "--left",
            &left,
            "--right",
            &right,
            "--id",
            "id",
            "--out",
        ])
        .arg(&out)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let links = std::fs::read_to_string(&out).unwrap();
    assert!(
        links.starts_with("left_id,right_id,weight,probability,cluster\n"),
        "{links}"
    );
    for pair in ["a1,b1,", "a2,b2,", "a4,b4,"] {
        assert!(links.contains(pair), "{pair} in {links}");
    }
    assert!(!links.contains("b9") && !links.contains("a3,"), "{links}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(m["comparisons"][1]["name"], "last");
    assert!(m["lambda"].as_f64().unwrap() > 0.0);

    let bad = w(
        "bad.toml",
        &std::fs::read_to_string(&settings)
            .unwrap()
            .replace("max = 1", "maximum = 1"),
    );
    let o = hdh()
        .args([
            "linkage",
            "probabilistic",
            "--settings",
            &bad,
            "--left",
            &left,
            "--right",
            &right,
            "--id",
            "id",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.toml") && e.contains("maximum"), "{e}");
}

/// Privacy-preserving linkage: each party encodes its file under the shared
/// secret; the encodings carry no clear value; Dice links them.
#[test]
fn linkage_of_encoded_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let a = w(
        "a.csv",
        "id,first,last,dob\na1,JEAN,DUPONT,1980-01-02\na2,MARIE,CURIE,1967-11-07\na3,PAUL,MARTIN,1990-05-05\n",
    );
    let b = w(
        "b.csv",
        "id,first,last,dob\nb1,JEAN,DUPOND,1980-01-02\nb2,ANNE,PETIT,1971-02-03\nb3,PAUL,MARTIN,1990-05-06\n",
    );
    let secret = w("secret", "a secret both parties hold, never logged");
    let encode = |input: &std::path::Path, out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let o = hdh()
            .args(["linkage", "encode", "--input"])
            .arg(input)
            .args([
                "--id",
                "id",
                "--fields",
                "first,last,dob:2:10",
                "--secret-file",
            ])
            .arg(&secret)
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let out = dir.path().join("links.csv");
    let dice = |left: &std::path::Path, right: &std::path::Path| {
        hdh()
            .args(["linkage", "dice", "--left"])
            .arg(left)
            .arg("--right")
            .arg(right)
            .args(["--threshold", "0.75", "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let (ea, eb) = (encode(&a, "a.clk", &[]), encode(&b, "b.clk", &[]));
    let text = std::fs::read_to_string(&ea).unwrap();
    for clear in ["JEAN", "DUPONT", "1980", "CURIE"] {
        assert!(!text.contains(clear), "{clear} in the encodings");
    }
    let o = dice(&ea, &eb);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let links = std::fs::read_to_string(&out).unwrap();
    let pairs: Vec<&str> = links
        .lines()
        .skip(1)
        .map(|l| &l[..l.rfind(',').unwrap()])
        .collect();
    assert_eq!(pairs, vec!["a1,b1", "a3,b3"], "{links}");
    // Blocking on the encodings finds the same links.
    let o = hdh()
        .args(["linkage", "dice", "--left"])
        .arg(&ea)
        .arg("--right")
        .arg(&eb)
        .args(["--threshold", "0.75", "--lsh-bands", "64", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), links);
    let o = hdh()
        .args(["linkage", "dice", "--left"])
        .arg(&ea)
        .arg("--right")
        .arg(&eb)
        .args(["--lsh-bands", "8", "--lsh-bits", "65", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--lsh-bits 65"));
    // Another secret gives encodings that do not link.
    let other = w("other", "another secret entirely, not shared");
    let o = hdh()
        .args(["linkage", "encode", "--input"])
        .arg(&b)
        .args([
            "--id",
            "id",
            "--fields",
            "first,last,dob:2:10",
            "--secret-file",
        ])
        .arg(&other)
        .arg("--out")
        .arg(dir.path().join("b2.clk"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = dice(&ea, &dir.path().join("b2.clk"));
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
    // Balanced encodings link the same people, and mixing kinds is refused.
    let (ba, bb) = (
        encode(&a, "a.bal", &["--balance"]),
        encode(&b, "b.bal", &["--balance"]),
    );
    let o = dice(&ba, &bb);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out).unwrap().contains("a1,b1,"));
    let o = dice(&ea, &bb);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not encoded alike"));
}
