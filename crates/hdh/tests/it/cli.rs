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
