//! Producer packages at the hub, in-process against SQLite and PostgreSQL:
//! tampered packages refused before a row is read, invalid rows quarantined
//! or rejected by the dataset's policy, rows that reference nobody refused,
//! and the offsets of the resumable upload.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hdh_package::{Manifest, ProducerIdentity};
use hdh_producer::{Dialect, Encoding, Level1Source, NoProgress, PrepareOptions, TableInput};
use hdh_pseudo::level1::Level1Key;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chain::{PERSONS, write_input};
use crate::support::{Db, Hub, files_under, start};

/// Prepares a package of the BEN and PRS tables under `input` (Latin-1,
/// `;`-separated, as `chain::write_input` writes them).
fn prepare(
    input: &Path,
    out: &Path,
    dataset: &str,
    identity: &ProducerIdentity,
    key: &Level1Key,
    metadata: Option<Value>,
) {
    let tables: Vec<TableInput> = ["BEN", "PRS"]
        .iter()
        .map(|t| {
            TableInput::from_files(
                &input.join(format!("{t}.schema.json")),
                &input.join(format!("{t}.csv")),
            )
            .unwrap()
        })
        .collect();
    let mut opts = PrepareOptions::new(dataset);
    opts.dialect = Dialect {
        delimiter: b';',
        encoding: Encoding::Latin1,
        ..Dialect::default()
    };
    if let Some(m) = metadata {
        let p = out.with_extension("dataset.json");
        std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
        opts.metadata = Some(p);
    }
    let level1 = Level1Source::Key(Level1Key::from_key_file(&key.to_key_file()).unwrap());
    hdh_producer::prepare(&tables, out, &opts, identity, &level1, &NoProgress).unwrap();
}

/// Rewrites the manifest after `edit` and after files were changed (sizes
/// and digests recomputed) and signs it with `identity`: what someone
/// holding that key could forge.
fn resign(dir: &Path, identity: &ProducerIdentity, edit: impl FnOnce(&mut Manifest)) {
    let mut m = Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    edit(&mut m);
    for f in &mut m.files {
        let b = std::fs::read(dir.join(&f.path)).unwrap();
        f.bytes = b.len() as u64;
        f.sha256 = hdh_package::sha256_hex(&b);
    }
    m.producer_key = identity.ed25519_public_hex();
    let bytes = m.to_bytes();
    std::fs::write(dir.join("manifest.json"), &bytes).unwrap();
    std::fs::write(
        dir.join("manifest.sig"),
        hdh_package::sign(&bytes, identity.signing_key()),
    )
    .unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn package_files(dir: &Path, leave_out: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .filter(|(n, _)| !leave_out.contains(&n.as_str()))
        .collect();
    files.sort();
    files
}

async fn create_upload(
    hub: &Hub,
    token: &str,
    dataset: &str,
    files: &[(String, Vec<u8>)],
) -> String {
    let listed: Vec<Value> = files
        .iter()
        .map(|(p, b)| json!({ "path": p, "bytes": b.len(), "sha256": hdh_package::sha256_hex(b) }))
        .collect();
    let r = hub
        .post(
            Some(token),
            "/api/deliveries/packages",
            json!({ "dataset_id": dataset, "files": listed }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn put(
    hub: &Hub,
    token: &str,
    upload: &str,
    path: &str,
    offset: usize,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let r = hub
        .http
        .put(hub.url(&format!(
            "/api/deliveries/packages/{upload}/files/{path}?offset={offset}"
        )))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Uploads the package in `dir` (but `leave_out`) in one chunk per file,
/// completes it and waits for the end of its ingestion.
async fn deliver(hub: &Hub, token: &str, dataset: &str, dir: &Path, leave_out: &[&str]) -> Value {
    let files = package_files(dir, leave_out);
    let id = create_upload(hub, token, dataset, &files).await;
    for (path, bytes) in &files {
        let (s, b) = put(hub, token, &id, path, 0, bytes).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    let r = hub
        .post(
            Some(token),
            &format!("/api/deliveries/packages/{id}/complete"),
            Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let ingestion = r.body["ingestion"].as_str().unwrap().to_string();
    finished(hub, token, &ingestion).await
}

async fn finished(hub: &Hub, token: &str, ingestion: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = hub
            .get(Some(token), &format!("/api/ingestions/{ingestion}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if ["published", "rejected", "failed"].contains(&r.body["state"].as_str().unwrap_or("")) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "ingestion {ingestion}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn register(hub: &Hub, token: &str, identity: &ProducerIdentity) {
    let r = hub
        .http
        .put(hub.url("/api/producer/key"))
        .bearer_auth(token)
        .json(&json!({ "public_key": identity.ed25519_public_hex() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Nothing of `dataset` is published: not in the catalogue, not in the lake.
async fn nothing_published(hub: &Hub, dataset: &str) {
    let r = hub
        .get(None, &format!("/api/catalogue/datasets/{dataset}/quality"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let prefix = format!("datasets/{dataset}/");
    assert!(
        !files_under(&hub.lake())
            .iter()
            .any(|f| f.starts_with(&prefix)),
        "{dataset} has files in the lake"
    );
}

/// Whether a string anywhere in `v` contains `needle`.
fn mentions(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(a) => a.iter().any(|x| mentions(x, needle)),
        Value::Object(o) => o.values().any(|x| mentions(x, needle)),
        _ => false,
    }
}

fn rejected_with(status: &Value, expected: &str) {
    assert_eq!(status["state"], "rejected", "{status}");
    assert!(mentions(status, expected), "{expected:?} not in {status}");
}

struct Fixture {
    _root: tempfile::TempDir,
    root: PathBuf,
    input: PathBuf,
    identity: ProducerIdentity,
    key: Level1Key,
}

fn fixture(rows_per_person: usize) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let input = path.join("input");
    write_input(&input, rows_per_person);
    Fixture {
        _root: root,
        root: path,
        input,
        identity: ProducerIdentity::generate("cnam").unwrap(),
        key: Level1Key::generate("l1-test"),
    }
}

// ------------------------------------------------------------- tampering

async fn tampered_packages_are_refused_before_a_row_is_read(db: Db) {
    let hub = start(db).await;
    let token = hub.login("producer").await;
    let f = fixture(3);
    let good = f.root.join("good");
    prepare(&f.input, &good, "scelle", &f.identity, &f.key, None);

    // No key registered yet: nothing can be verified.
    let s = deliver(&hub, &token, "scelle", &good, &[]).await;
    rejected_with(&s, "no signing key is registered for this producer");
    register(&hub, &token, &f.identity).await;

    let other = ProducerIdentity::generate("intrus").unwrap();
    type Tamper<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Tamper, &[&str], &str)> = vec![
        (
            "one byte of a Parquet file changed",
            Box::new(|d: &Path| {
                let p = d.join("BEN.parquet");
                let mut b = std::fs::read(&p).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0x01;
                std::fs::write(&p, b).unwrap();
            }),
            &[],
            "BEN.parquet: its SHA-256 differs from the signed manifest's",
        ),
        (
            "the manifest edited after signing",
            Box::new(|d: &Path| {
                let p = d.join("manifest.json");
                let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                m["tables"][0]["rows"] = json!(1_000_000);
                std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
            }),
            &[],
            "manifest.sig: the signature does not verify with the producer's key",
        ),
        (
            "a file added that the manifest does not list",
            Box::new(|d: &Path| std::fs::write(d.join("extra.csv"), "a;b\n1;2\n").unwrap()),
            &[],
            "extra.csv: not listed in the signed manifest",
        ),
        (
            "a listed file left out",
            Box::new(|_: &Path| {}),
            &["PRS.parquet"],
            "PRS.parquet: listed in the manifest but missing from the package",
        ),
        (
            "a valid package signed by a key the hub does not know",
            Box::new(|d: &Path| resign(d, &other, |_| {})),
            &[],
            "but the producer's registered key is",
        ),
        (
            "the signature of another package",
            Box::new(|d: &Path| {
                let p = d.join("manifest.json");
                let mut m = Manifest::parse(&std::fs::read(&p).unwrap()).unwrap();
                m.dataset_id = "autre".into();
                let sig = hdh_package::sign(&m.to_bytes(), f.identity.signing_key());
                std::fs::write(d.join("manifest.sig"), sig).unwrap();
            }),
            &[],
            "manifest.sig: the signature does not verify",
        ),
        (
            "a package for another dataset",
            Box::new(|d: &Path| resign(d, &f.identity, |m| m.dataset_id = "autre".into())),
            &[],
            "the package is for dataset \"autre\", the upload for \"scelle\"",
        ),
    ];
    for (i, (what, tamper, leave_out, expected)) in cases.iter().enumerate() {
        let dir = f.root.join(format!("tampered-{i}"));
        copy_dir(&good, &dir);
        tamper(&dir);
        let s = deliver(&hub, &token, "scelle", &dir, leave_out).await;
        assert_eq!(s["state"], "rejected", "{what}: {s}");
        rejected_with(&s, expected);
        nothing_published(&hub, "scelle").await;
    }
    // Each refusal is in the audit log, with what was wrong.
    let security = hub.login("security").await;
    let audit = hub
        .get(
            Some(&security),
            "/api/audit?action=delivery.ingest.rejected&limit=200",
        )
        .await;
    assert_eq!(
        audit.body["events"].as_array().unwrap().len(),
        cases.len() + 1
    );
    assert!(
        mentions(&audit.body, "differs from the signed manifest"),
        "{}",
        audit.body
    );

    // The untouched package goes through.
    let s = deliver(&hub, &token, "scelle", &good, &[]).await;
    assert_eq!(s["state"], "published", "{s}");
    assert_eq!(s["version"], 1, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_packages_are_refused_sqlite() {
    tampered_packages_are_refused_before_a_row_is_read(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_packages_are_refused_postgres() {
    tampered_packages_are_refused_before_a_row_is_read(Db::Postgres).await;
}

// ------------------------------------------------------------- invalid rows

/// Makes PRS_PAI_MNT at most 12 in the package's PRS schema and re-signs:
/// rows the producer's tool accepted become invalid at the hub (as when
/// the hub's schema is stricter than the producer's).
fn stricter_amounts(dir: &Path, identity: &ProducerIdentity) {
    let p = dir.join("PRS.schema.json");
    let mut s: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    for field in s["fields"].as_array_mut().unwrap() {
        if field["name"] == "PRS_PAI_MNT" {
            field["constraints"] = json!({ "maximum": 12 });
        }
    }
    std::fs::write(&p, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    resign(dir, identity, |_| {});
}

/// The BEN_NIR_PSA values of a Parquet file of the lake.
async fn person_ids(hub: &Hub, object: &str) -> Vec<String> {
    use futures::StreamExt;
    let lake = hdh_lake::Lake::open_local(&hub.lake()).unwrap();
    let mut stream = hdh_workspace::read_table(&lake, object).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        let b = b.unwrap();
        let col = b
            .column_by_name("BEN_NIR_PSA")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone();
        out.extend(col.iter().map(|v| v.unwrap().to_string()));
    }
    out
}

fn table<'a>(quality: &'a Value, name: &str) -> &'a Value {
    quality["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {quality}"))
}

async fn invalid_rows_follow_the_dataset_policy(db: Db) {
    let hub = start(db).await;
    let token = hub.login("producer").await;
    // 4 claims per person, amounts 10.5, 11.5, 12.5, 13.5: half over 12.
    let f = fixture(4);
    register(&hub, &token, &f.identity).await;
    let invalid = 2 * PERSONS.len();
    let total = 4 * PERSONS.len();

    // Default policy (reject): the whole delivery is refused, with the reason.
    let dir = f.root.join("strict-reject");
    prepare(&f.input, &dir, "strict-rejet", &f.identity, &f.key, None);
    stricter_amounts(&dir, &f.identity);
    let s = deliver(&hub, &token, "strict-rejet", &dir, &[]).await;
    rejected_with(&s, &format!("{invalid} invalid rows"));
    rejected_with(&s, "PRS_PAI_MNT");
    nothing_published(&hub, "strict-rejet").await;

    // Quarantine: valid rows published, invalid ones set aside and counted.
    let dir = f.root.join("strict-quarantine");
    prepare(
        &f.input,
        &dir,
        "strict-quarantaine",
        &f.identity,
        &f.key,
        Some(json!({ "title": "Cohorte", "invalidRows": "quarantine" })),
    );
    stricter_amounts(&dir, &f.identity);
    let s = deliver(&hub, &token, "strict-quarantaine", &dir, &[]).await;
    assert_eq!(s["state"], "published", "{s}");
    let q = hub
        .get(None, "/api/catalogue/datasets/strict-quarantaine/quality")
        .await;
    assert_eq!(q.status, StatusCode::OK);
    let prs = table(&q.body["quality"], "PRS");
    assert_eq!(prs["rows"], json!(total - invalid), "{prs}");
    assert_eq!(prs["quarantined_rows"], json!(invalid), "{prs}");
    let amount = prs["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "PRS_PAI_MNT")
        .unwrap();
    assert_eq!(amount["invalid"], json!(invalid), "{amount}");
    assert_eq!(table(&q.body["quality"], "BEN")["quarantined_rows"], 0);
    // The quarantined rows are kept beside the version, pseudonymised at
    // level 2 like the rest, never in the tables researchers get.
    let files = files_under(&hub.lake());
    let quarantine = files
        .iter()
        .find(|p| p.starts_with("datasets/strict-quarantaine/") && p.contains("PRS.quarantine"))
        .unwrap_or_else(|| panic!("no quarantine file in {files:?}"));
    let ben = files
        .iter()
        .find(|p| p.starts_with("datasets/strict-quarantaine/") && p.ends_with("BEN.parquet"))
        .unwrap();
    let held = person_ids(&hub, quarantine).await;
    assert_eq!(held.len(), invalid);
    let published: std::collections::BTreeSet<String> =
        person_ids(&hub, ben).await.into_iter().collect();
    assert!(held.iter().all(|p| published.contains(p)), "{held:?}");
    let tables = hub
        .get(None, "/api/catalogue/datasets/strict-quarantaine")
        .await;
    let names: Vec<&str> = tables.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BEN", "PRS"], "{}", tables.body);

    // Claims of a person the beneficiary table does not have: refused
    // under the reject policy, reported under quarantine.
    let orphan_input = f.root.join("orphans");
    write_input(&orphan_input, 2);
    let ben = std::fs::read(orphan_input.join("BEN.csv")).unwrap();
    let lines: Vec<&[u8]> = ben
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut kept = lines[..lines.len() - 1].join(&b'\n');
    kept.push(b'\n');
    std::fs::write(orphan_input.join("BEN.csv"), kept).unwrap();
    let dir = f.root.join("orphans-reject");
    prepare(&orphan_input, &dir, "orphelins", &f.identity, &f.key, None);
    let s = deliver(&hub, &token, "orphelins", &dir, &[]).await;
    rejected_with(&s, "PRS.BEN_NIR_PSA → BEN: 2 rows reference no row of BEN");
    nothing_published(&hub, "orphelins").await;
    let dir = f.root.join("orphans-quarantine");
    prepare(
        &orphan_input,
        &dir,
        "orphelins-q",
        &f.identity,
        &f.key,
        Some(json!({ "title": "Cohorte", "invalidRows": "quarantine" })),
    );
    let s = deliver(&hub, &token, "orphelins-q", &dir, &[]).await;
    assert_eq!(s["state"], "published", "{s}");
    let q = hub
        .get(None, "/api/catalogue/datasets/orphelins-q/quality")
        .await;
    let refs = q.body["quality"]["references"].as_array().unwrap();
    assert!(
        refs.iter()
            .any(|r| r["table"] == "PRS" && r["orphans"] == 2),
        "{}",
        q.body
    );
    // A foreign key to a reference table the hub holds (IR_NAT_V, the
    // nature of benefit): a code it does not list makes the row invalid.
    let nat_input = f.root.join("nat");
    write_input(&nat_input, 2);
    let schema_path = nat_input.join("PRS.schema.json");
    let mut prs: Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    prs["foreignKeys"].as_array_mut().unwrap().push(json!({
        "fields": ["PRS_NAT_REF"],
        "reference": {"resource": "IR_NAT_V", "fields": ["PRS_NAT"]}
    }));
    std::fs::write(&schema_path, serde_json::to_vec(&prs).unwrap()).unwrap();
    let mut claims = std::fs::read(nat_input.join("PRS.csv")).unwrap();
    let at = claims.windows(6).position(|w| w == b";1111;").unwrap();
    claims[at..at + 6].copy_from_slice(b";4242;");
    std::fs::write(nat_input.join("PRS.csv"), claims).unwrap();
    let dir = f.root.join("nat-reject");
    prepare(&nat_input, &dir, "natures", &f.identity, &f.key, None);
    let s = deliver(&hub, &token, "natures", &dir, &[]).await;
    rejected_with(&s, "1 invalid rows");
    rejected_with(&s, "not in nomenclature IR_NAT_V");
    nothing_published(&hub, "natures").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_follow_the_dataset_policy_sqlite() {
    invalid_rows_follow_the_dataset_policy(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_follow_the_dataset_policy_postgres() {
    invalid_rows_follow_the_dataset_policy(Db::Postgres).await;
}

// ------------------------------------------------------------- resumable upload

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_takes_chunks_only_where_the_hub_is_and_completes_only_when_whole() {
    let hub = start(Db::Sqlite).await;
    let token = hub.login("producer").await;
    let f = fixture(2);
    register(&hub, &token, &f.identity).await;
    let dir = f.root.join("pkg");
    prepare(&f.input, &dir, "morceaux", &f.identity, &f.key, None);
    let files = package_files(&dir, &[]);
    let id = create_upload(&hub, &token, "morceaux", &files).await;
    let (path, bytes) = files.iter().find(|(p, _)| p == "BEN.parquet").unwrap();
    let half = bytes.len() / 2;

    // A chunk that does not start where the hub is: 409 and where it is.
    let (s, b) = put(&hub, &token, &id, path, 10, &bytes[10..half]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["received"], 0, "{b}");
    let (s, b) = put(&hub, &token, &id, path, 0, &bytes[..half]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["received"], half);
    // The same chunk again (a retry after a lost answer): refused, nothing doubled.
    let (s, b) = put(&hub, &token, &id, path, 0, &bytes[..half]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["received"], half, "{b}");
    // More bytes than announced: refused.
    let mut too_long = bytes[half..].to_vec();
    too_long.push(0);
    let (s, b) = put(&hub, &token, &id, path, half, &too_long).await;
    assert!(s.is_client_error(), "{s} {b}");

    // Not complete yet: 400 that names what is missing.
    let r = hub
        .post(
            Some(&token),
            &format!("/api/deliveries/packages/{id}/complete"),
            Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let msg = r.body.to_string();
    assert!(
        msg.contains(&format!("BEN.parquet: {half} of {} bytes", bytes.len())),
        "{msg}"
    );
    // The status says where to resume.
    let r = hub
        .get(Some(&token), &format!("/api/deliveries/packages/{id}"))
        .await;
    let ben = r.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "BEN.parquet")
        .unwrap();
    assert_eq!(ben["received"], half, "{}", r.body);

    // A file the upload does not have; another user.
    let (s, _) = put(&hub, &token, &id, "autre.parquet", 0, b"x").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let researcher = hub.login("researcher").await;
    let (s, _) = put(&hub, &researcher, &id, path, half, &bytes[half..]).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );

    // Resumed where the hub is, then every other file: complete, ingested.
    let (s, b) = put(&hub, &token, &id, path, half, &bytes[half..]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (p, b) in files.iter().filter(|(p, _)| p != "BEN.parquet") {
        let (s, body) = put(&hub, &token, &id, p, 0, b).await;
        assert_eq!(s, StatusCode::OK, "{p}: {body}");
    }
    let done = hub
        .post(
            Some(&token),
            &format!("/api/deliveries/packages/{id}/complete"),
            Value::Null,
        )
        .await;
    assert_eq!(done.status, StatusCode::ACCEPTED, "{}", done.body);
    // Completing twice starts one ingestion.
    let again = hub
        .post(
            Some(&token),
            &format!("/api/deliveries/packages/{id}/complete"),
            Value::Null,
        )
        .await;
    assert_eq!(again.body["ingestion"], done.body["ingestion"]);
    let s = finished(&hub, &token, done.body["ingestion"].as_str().unwrap()).await;
    assert_eq!(s["state"], "published", "{s}");
    // Once ingested, the upload takes no more bytes.
    let (s, _) = put(&hub, &token, &id, path, bytes.len(), b"x").await;
    assert!(s.is_client_error(), "{s}");
}
