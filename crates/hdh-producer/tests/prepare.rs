//! `prepare` and `verify` end to end on SNDS-shaped files.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use common::*;
use hdh_ingest::Encoding;
use hdh_package::{MANIFEST_FILE, ProducerIdentity};
use hdh_producer::cli::{EncodingArg, PrepareArgs, ProducerCommand};
use hdh_producer::{
    Dialect, Level1Source, NoProgress, PrepareError, PrepareOptions, TableInput, VerifyError,
    prepare, verify_package,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn latin1_dialect() -> Dialect {
    Dialect {
        delimiter: b';',
        encoding: Encoding::Latin1,
        ..Dialect::default()
    }
}

fn options(dialect: Dialect) -> PrepareOptions {
    let mut o = PrepareOptions::new("snds-test");
    o.dialect = dialect;
    o
}

fn run_prepare(
    dir: &Path,
    csv: &[u8],
    dialect: Dialect,
    identity: &ProducerIdentity,
    level1: &Level1Source,
) -> Result<PathBuf, PrepareError> {
    let work = dir.join("in");
    std::fs::create_dir_all(&work).unwrap();
    let (schema, input) = write_table(&work, csv);
    let table = TableInput::from_files(&schema, &input).unwrap();
    let out = dir.join("package");
    prepare(
        &[table],
        &out,
        &options(dialect),
        identity,
        level1,
        &NoProgress,
    )
    .map(|p| p.dir)
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    assert_eq!(
        r.schema().as_ref(),
        &hdh_ingest::arrow_schema(&schema().published()),
        "the Parquet schema is the published schema's Arrow schema"
    );
    r.build().unwrap().map(|b| b.unwrap()).collect()
}

fn strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(name).unwrap().as_string::<i32>().clone();
            (0..a.len())
                .map(move |i| (!a.is_null(i)).then(|| a.value(i).to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Asserts that no path is left for a failed preparation.
fn assert_nothing_left(dir: &Path) {
    assert!(!dir.join("package").exists());
    assert!(!dir.join("package.partial").exists());
}

#[test]
fn offline_package_verifies_and_holds_pseudonyms() {
    let tmp = tempfile::tempdir().unwrap();
    let key = level1_key();
    let id = identity("cpam-75", 1);
    let out = run_prepare(
        tmp.path(),
        &latin1_csv(),
        latin1_dialect(),
        &id,
        &Level1Source::Key(level1_key()),
    )
    .unwrap();

    let manifest = verify_package(&out, Some(&id.verifying_key())).unwrap();
    assert_eq!(manifest.dataset_id, "snds-test");
    assert_eq!(manifest.producer, "cpam-75");
    assert_eq!(manifest.level1_key_id, "l1-test");
    assert_eq!(manifest.tables[0].rows, 5);
    assert_eq!(manifest.summary.rows_read, 5);
    assert_eq!(manifest.summary.rows_written, 5);
    assert_eq!(manifest.summary.provisional_nirs, 1);
    assert_eq!(manifest.summary.level1_source, "key-package");
    assert_eq!(
        manifest.summary.tables["ER_PRS_F"].provisional_nirs["BEN_NIR_IDT"],
        1
    );
    let names: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["ER_PRS_F.parquet", "ER_PRS_F.schema.json"]);

    // The published schema is what the hub reads.
    let published = std::fs::read(out.join("ER_PRS_F.schema.json")).unwrap();
    let published = hdh_model::schema::TableSchema::from_json(&published).unwrap();
    assert_eq!(published, schema().published());

    let batches = read_parquet(&out.join("ER_PRS_F.parquet"));
    let nirs = strings(&batches, "BEN_NIR_IDT");
    let expected: Vec<Option<String>> = [0, 1, 0, 2, 3]
        .iter()
        .map(|&i| Some(expected_pseudonym(&key, &PEOPLE[i])))
        .collect();
    assert_eq!(nirs, expected);
    // Spaced and plain NIRs of one person give one pseudonym.
    assert_eq!(nirs[0], nirs[2]);
    let flags: Vec<bool> = batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("BEN_NIR_PROV")
                .unwrap()
                .as_boolean()
                .clone();
            (0..a.len()).map(move |i| a.value(i)).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(flags, [false, false, false, true, false]);
    assert_eq!(
        strings(&batches, "BEN_NAI_DTE"),
        ["1985-05", "1969-05", "1985-05", "1985-02", "1955-08"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(
        strings(&batches, "BEN_RES_COM"),
        ["78", "2A", "78", "974", "14"].map(|s| Some(s.to_owned()))
    );
    assert!(batches[0].column_by_name("BEN_NOM").is_none());
    assert!(batches[0].column_by_name("BEN_PRN").is_none());
    let nat: Vec<i64> = batches[0]
        .column_by_name("PRS_NAT_REF")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(nat, [1111; 5]);
}

#[test]
fn no_identifier_appears_in_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let id = identity("cpam-75", 1);
    let out = run_prepare(
        tmp.path(),
        &latin1_csv(),
        latin1_dialect(),
        &id,
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for p in &PEOPLE {
        let nir = with_key(p.body);
        for s in [
            nir.clone(),
            p.body.to_owned(),
            spaced(&nir),
            nir[..13].to_lowercase(),
        ] {
            needles.push(s.into_bytes());
        }
        for name in [
            p.nom,
            p.prenom,
            "Nguyen",
            "Thi",
            "LEFEVRE",
            "ELOISE ANGE",
            "MULLER",
            "SANTONI",
        ] {
            needles.push(name.as_bytes().to_vec());
            needles.push(name.to_uppercase().into_bytes());
            if let Ok(l) = std::panic::catch_unwind(|| latin1(name)) {
                needles.push(l);
            }
        }
        // The full birth date (only its year-month may leave).
        needles.push(p.birth.as_bytes().to_vec());
        needles.push(p.birth_iso.as_bytes().to_vec());
    }
    let files = all_files(&out);
    assert!(files.len() >= 4);
    for (path, bytes) in &files {
        for n in &needles {
            assert!(
                !contains(bytes, n),
                "{} holds {:?}",
                path.display(),
                String::from_utf8_lossy(n)
            );
        }
    }
    // And in the decoded values (compression could hide them from a byte scan).
    let batches = read_parquet(&out.join("ER_PRS_F.parquet"));
    let mut text = String::new();
    for b in &batches {
        for c in b.columns() {
            let f = arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default())
                .unwrap();
            for i in 0..c.len() {
                text.push_str(&f.value(i).to_string());
                text.push('\n');
            }
        }
    }
    for n in &needles {
        let n = String::from_utf8_lossy(n);
        assert!(!text.contains(n.as_ref()), "decoded data holds {n:?}");
    }
}

#[test]
fn same_person_same_pseudonym_across_deliveries_and_producers() {
    let tmp = tempfile::tempdir().unwrap();
    // Producer A: Latin-1, `;`, spaced NIRs. Producer B (another identity,
    // the same level-1 key): UTF-8, `,`, another order, lower-case Corsican
    // NIR with dots.
    let a = run_prepare(
        &tmp.path().join("a"),
        &latin1_csv(),
        latin1_dialect(),
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    let p = &PEOPLE;
    let corsica = with_key(p[1].body).to_lowercase();
    let dotted = format!("{}.{}", &corsica[..7], &corsica[7..]);
    let csv_b = format!(
        "{}\n{}\n{}\n",
        HEADER.replace(';', ","),
        row(&p[3], &with_key(p[3].body), "05052024", "1").replace(';', ","),
        row(&p[1], &dotted, "06052024", "2").replace(';', ",")
    );
    let b = run_prepare(
        &tmp.path().join("b"),
        csv_b.as_bytes(),
        Dialect::default(),
        &identity("chu-rennes", 7),
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    let ma = verify_package(&a, None).unwrap();
    let mb = verify_package(&b, None).unwrap();
    assert_ne!(ma.producer_key, mb.producer_key);
    let na = strings(&read_parquet(&a.join("ER_PRS_F.parquet")), "BEN_NIR_IDT");
    let nb = strings(&read_parquet(&b.join("ER_PRS_F.parquet")), "BEN_NIR_IDT");
    assert_eq!(nb[0], na[4], "person 3");
    assert_eq!(nb[1], na[1], "person 1 (Corsican NIR written otherwise)");
    // A second delivery of producer A gives the same pseudonyms again.
    let a2 = run_prepare(
        &tmp.path().join("a2"),
        &latin1_csv(),
        latin1_dialect(),
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    assert_eq!(
        strings(&read_parquet(&a2.join("ER_PRS_F.parquet")), "BEN_NIR_IDT"),
        na
    );
}

/// The trusted third party online, and a sealed key package opened through
/// the command line, give the same pseudonyms as the key itself.
#[test]
fn online_ttp_and_sealed_key_package_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("ttp");
    hdh_ttp::init(&store).unwrap();
    let token = hdh_ttp::add_producer(&store, "cpam-75").unwrap();
    let key = hdh_ttp::store::load_level1_key(&store).unwrap();
    let ttp_public = hdh_ttp::public_key_hex(&store).unwrap();

    // Online.
    let state = hdh_ttp::TtpState::load(&store).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            hdh_ttp::serve_listener(l, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    let client = hdh_ttp::TtpClient::new(&format!("http://{addr}"), &token);
    let online = run_prepare(
        &tmp.path().join("online"),
        &latin1_csv(),
        latin1_dialect(),
        &identity("cpam-75", 1),
        &Level1Source::Ttp(client),
    )
    .unwrap();
    let m = verify_package(&online, None).unwrap();
    assert_eq!(m.summary.level1_source, "ttp");
    assert_eq!(m.level1_key_id, key.id());
    let online_nirs = strings(
        &read_parquet(&online.join("ER_PRS_F.parquet")),
        "BEN_NIR_IDT",
    );
    assert_eq!(online_nirs[0], Some(expected_pseudonym(&key, &PEOPLE[0])));

    // Offline, through the command line: keygen, key package, prepare.
    let identity_file = tmp.path().join("producer.key");
    hdh_producer::cli::run(ProducerCommand::Keygen {
        out: identity_file.clone(),
        name: "cpam-75".to_owned(),
    })
    .unwrap();
    let id = hdh_producer::cli::read_identity(&identity_file).unwrap();
    let pkg = hdh_ttp::issue_key_package(&store, "cpam-75", &id.x25519_public_hex(), 30).unwrap();
    let pkg_file = tmp.path().join("key-package.json");
    std::fs::write(&pkg_file, serde_json::to_vec(&pkg).unwrap()).unwrap();
    let work = tmp.path().join("cli");
    std::fs::create_dir_all(&work).unwrap();
    let (schema_file, input) = write_table(&work, &latin1_csv());
    let out = tmp.path().join("offline");
    let args = PrepareArgs {
        dataset: "snds-test".into(),
        schemas: vec![schema_file],
        inputs: vec![input],
        dir: None,
        metadata: None,
        identity: identity_file.clone(),
        key_package: Some(pkg_file.clone()),
        ttp_public_key: Some(ttp_public.clone()),
        ttp: None,
        ttp_token: None,
        out: out.clone(),
        delimiter: ";".into(),
        encoding: EncodingArg::Latin1,
        no_header: false,
        no_quote: false,
        batch_rows: 2,
        quiet: true,
    };
    hdh_producer::cli::run(ProducerCommand::Prepare(args)).unwrap();
    hdh_producer::cli::run(ProducerCommand::Verify {
        package: out.clone(),
        producer_key: Some(id.ed25519_public_hex()),
    })
    .unwrap();
    let offline_nirs = strings(&read_parquet(&out.join("ER_PRS_F.parquet")), "BEN_NIR_IDT");
    assert_eq!(offline_nirs, online_nirs);

    // A key package checked against another TTP key is refused.
    let other = hdh_pseudo::sealed::generate_signing_key();
    let args = PrepareArgs {
        dataset: "snds-test".into(),
        schemas: vec![work.join("ER_PRS_F.schema.json")],
        inputs: vec![work.join("ER_PRS_F.csv")],
        dir: None,
        metadata: None,
        identity: identity_file,
        key_package: Some(pkg_file),
        ttp_public_key: Some(hex::encode(other.verifying_key().as_bytes())),
        ttp: None,
        ttp_token: None,
        out: tmp.path().join("refused"),
        delimiter: ";".into(),
        encoding: EncodingArg::Latin1,
        no_header: false,
        no_quote: false,
        batch_rows: 2,
        quiet: true,
    };
    let err = hdh_producer::cli::run(ProducerCommand::Prepare(args)).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(!tmp.path().join("refused").exists());
}

#[test]
fn a_bad_nir_key_names_line_and_field_not_the_nir() {
    let tmp = tempfile::tempdir().unwrap();
    let good = with_key(PEOPLE[3].body);
    // Wrong key: last two digits changed.
    let bad_key: u32 = good[13..].parse().unwrap();
    let bad = format!("{}{:02}", &good[..13], (bad_key + 1) % 97);
    let csv = format!(
        "{HEADER}\n{}\n\n{}\n",
        row(&PEOPLE[0], &with_key(PEOPLE[0].body), "01032024", "1"),
        row(&PEOPLE[3], &bad, "02032024", "1")
    );
    let err = run_prepare(
        tmp.path(),
        csv.as_bytes(),
        Dialect {
            delimiter: b';',
            ..Dialect::default()
        },
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
    )
    .unwrap_err();
    let PrepareError::Invalid {
        errors,
        error_count,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*error_count, 1);
    assert_eq!(errors[0].line, 4);
    assert_eq!(errors[0].column, Some(1));
    assert_eq!(errors[0].field.as_deref(), Some("BEN_NIR_IDT"));
    let text = err.to_string();
    assert!(
        text.contains("ER_PRS_F.csv:4:1 (BEN_NIR_IDT): the NIR key does not match"),
        "{text}"
    );
    for leak in [&bad[..], &bad[..13], &good[..]] {
        assert!(!text.contains(leak), "{text}");
        assert!(!format!("{err:?}").contains(leak));
    }
    assert_nothing_left(tmp.path());

    // A birth date that is not a date; a bad commune: file:line:field.
    for (csv, needle, leak) in [
        (
            row(&PEOPLE[0], &with_key(PEOPLE[0].body), "01032024", "1")
                .replace("12051985", "31021985"),
            "ER_PRS_F.csv:3:4 (BEN_NAI_DTE): not a date in format \"%d%m%Y\": <identifier withheld>",
            "31021985",
        ),
        (
            row(&PEOPLE[1], &with_key(PEOPLE[1].body), "01032024", "1").replace("2A004", "2C004"),
            "ER_PRS_F.csv:3:6 (BEN_RES_COM): the commune code must be",
            "2C004",
        ),
    ] {
        let csv = format!(
            "{HEADER}\n{}\n{csv}\n",
            row(&PEOPLE[3], &good, "01032024", "1")
        );
        let err = run_prepare(
            tmp.path(),
            csv.as_bytes(),
            Dialect {
                delimiter: b';',
                ..Dialect::default()
            },
            &identity("cpam-75", 1),
            &Level1Source::Key(level1_key()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains(leak), "{err}");
        assert_nothing_left(tmp.path());
    }
}

#[test]
fn malformed_csvs_leave_no_package() {
    let tmp = tempfile::tempdir().unwrap();
    let good = |p: usize| row(&PEOPLE[p], &with_key(PEOPLE[p].body), "01032024", "1");
    let long = format!("{HEADER}\n{}\n{}\n", good(0), "x".repeat(2 << 20));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Latin-1 bytes read as UTF-8.
        (
            latin1_csv(),
            "ER_PRS_F.csv:2:2 (BEN_NOM): not valid UTF-8 at byte 4 of the value",
        ),
        (
            format!("{HEADER}\n{}\n{};extra\n", good(0), good(3)).into_bytes(),
            "ER_PRS_F.csv:3: expected 9 fields, found 10",
        ),
        (
            format!(
                "{HEADER}\n{}\n{}\n",
                good(0),
                good(3).replace(";Zoé;", ";\"Zoé;")
            )
            .into_bytes(),
            "ER_PRS_F.csv:3: unclosed quote",
        ),
        (
            long.into_bytes(),
            "ER_PRS_F.csv:3: record longer than 1048576 bytes",
        ),
        (Vec::new(), "ER_PRS_F.csv:1: empty file"),
        (
            format!("{}\n{}\n", HEADER.replace("BEN_NOM", "NOM"), good(0)).into_bytes(),
            "header does not match the schema",
        ),
    ];
    for (csv, needle) in cases {
        let err = run_prepare(
            tmp.path(),
            &csv,
            Dialect {
                delimiter: b';',
                ..Dialect::default()
            },
            &identity("cpam-75", 1),
            &Level1Source::Key(level1_key()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
        assert!(!err.contains(PEOPLE[0].body), "{err}");
        assert_nothing_left(tmp.path());
    }
}

#[test]
fn existing_output_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("package")).unwrap();
    let err = run_prepare(
        tmp.path(),
        &latin1_csv(),
        latin1_dialect(),
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
    )
    .unwrap_err();
    assert!(matches!(err, PrepareError::OutExists(_)), "{err}");
    // A partial directory left by a killed run is replaced.
    std::fs::remove_dir_all(tmp.path().join("package")).unwrap();
    std::fs::create_dir_all(tmp.path().join("package.partial")).unwrap();
    std::fs::write(tmp.path().join("package.partial/junk"), b"x").unwrap();
    let out = run_prepare(
        tmp.path(),
        &latin1_csv(),
        latin1_dialect(),
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    assert!(!tmp.path().join("package.partial").exists());
    verify_package(&out, None).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn tampered_packages_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let id = identity("cpam-75", 1);
    let out = run_prepare(
        tmp.path(),
        &latin1_csv(),
        latin1_dialect(),
        &id,
        &Level1Source::Key(level1_key()),
    )
    .unwrap();
    verify_package(&out, None).unwrap();

    let mut problems: HashMap<&str, String> = HashMap::new();
    // One byte of the Parquet file.
    let t = tmp.path().join("t1");
    copy_dir(&out, &t);
    let mut bytes = std::fs::read(t.join("ER_PRS_F.parquet")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(t.join("ER_PRS_F.parquet"), bytes).unwrap();
    problems.insert("parquet", verify_package(&t, None).unwrap_err().to_string());
    // The manifest (a row count), signature unchanged.
    let t = tmp.path().join("t2");
    copy_dir(&out, &t);
    let m = std::fs::read_to_string(t.join(MANIFEST_FILE)).unwrap();
    std::fs::write(
        t.join(MANIFEST_FILE),
        m.replacen("\"rows\": 5", "\"rows\": 6", 1),
    )
    .unwrap();
    let err = verify_package(&t, None).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(_)), "{err}");
    problems.insert("manifest", err.to_string());
    // A missing file.
    let t = tmp.path().join("t3");
    copy_dir(&out, &t);
    std::fs::remove_file(t.join("ER_PRS_F.schema.json")).unwrap();
    problems.insert("missing", verify_package(&t, None).unwrap_err().to_string());
    // An extra file.
    let t = tmp.path().join("t4");
    copy_dir(&out, &t);
    std::fs::write(t.join("extra.csv"), b"x").unwrap();
    problems.insert("extra", verify_package(&t, None).unwrap_err().to_string());
    // Signed by another key than expected.
    let other = identity("other", 9);
    let err = verify_package(&out, Some(&other.verifying_key())).unwrap_err();
    assert!(matches!(err, VerifyError::WrongKey { .. }), "{err}");

    assert!(
        problems["parquet"].contains("ER_PRS_F.parquet: its SHA-256 differs"),
        "{problems:?}"
    );
    assert!(
        problems["manifest"].contains("signature does not verify"),
        "{problems:?}"
    );
    assert!(
        problems["missing"].contains("ER_PRS_F.schema.json: listed in the manifest but missing"),
        "{problems:?}"
    );
    assert!(
        problems["extra"].contains("extra.csv: not listed"),
        "{problems:?}"
    );
}

#[test]
fn directory_of_tables_and_metadata_without_header_or_quotes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    // No header, no quoting: a quote is data (the name is dropped anyway).
    let csv = format!(
        "{}\n{}\n",
        row(&PEOPLE[0], &with_key(PEOPLE[0].body), "01032024", "1").replace("Lefèvre", "L\"efèvre"),
        row(&PEOPLE[3], &with_key(PEOPLE[3].body), "01032024", "2")
    );
    write_table(&dir, csv.as_bytes());
    std::fs::write(dir.join("dataset.json"), br#"{"title": {"fr": "Test"}}"#).unwrap();
    let identity_file = tmp.path().join("producer.key");
    hdh_producer::cli::run(ProducerCommand::Keygen {
        out: identity_file.clone(),
        name: "cpam-75".to_owned(),
    })
    .unwrap();
    // The key package route needs a TTP: use the TTP online here.
    let id = hdh_producer::cli::read_identity(&identity_file).unwrap();
    let out = tmp.path().join("package");
    let tables = vec![
        TableInput::from_files(&dir.join("ER_PRS_F.schema.json"), &dir.join("ER_PRS_F.csv"))
            .unwrap(),
    ];
    let mut opts = options(Dialect {
        delimiter: b';',
        has_header: false,
        quote: None,
        encoding: Encoding::Utf8,
    });
    opts.metadata = Some(dir.join("dataset.json"));
    let p = prepare(
        &tables,
        &out,
        &opts,
        &id,
        &Level1Source::Key(level1_key()),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(p.manifest.tables[0].rows, 2);
    assert!(p.manifest.file("dataset.json").is_some());
    verify_package(&out, None).unwrap();

    // The same through the command line's --dir (no header, no quote).
    let args = PrepareArgs {
        dataset: "snds-test".into(),
        schemas: vec![],
        inputs: vec![],
        dir: Some(dir.clone()),
        metadata: None,
        identity: identity_file,
        key_package: None,
        ttp_public_key: None,
        ttp: None,
        ttp_token: None,
        out: tmp.path().join("package2"),
        delimiter: ";".into(),
        encoding: EncodingArg::Utf8,
        no_header: true,
        no_quote: true,
        batch_rows: 65536,
        quiet: true,
    };
    // Without a level-1 source: a usage error, nothing written.
    let err = hdh_producer::cli::run(ProducerCommand::Prepare(args)).unwrap_err();
    assert!(err.to_string().contains("--key-package"), "{err}");
    assert!(!tmp.path().join("package2").exists());
}
