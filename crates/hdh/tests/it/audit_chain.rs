//! The audit log is a hash chain with signed checkpoints: tampering by
//! direct SQL (edit a field, delete a row, insert a row, swap two rows,
//! truncate the tail) is found by `hdh audit verify` on an export, every
//! time, on SQLite and PostgreSQL; the untouched log verifies clean.

use crate::support::{Db, Hub, start};
use hdh_audit::Entry;
use std::process::Command;

fn hdh(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hdh"))
        .args(args)
        .output()
        .expect("run hdh")
}

fn store_args(hub: &Hub) -> Vec<String> {
    let mut a = vec![
        "--data-dir".to_string(),
        hub.data_dir().display().to_string(),
    ];
    if let Some(url) = &hub.database_url {
        a.push("--database-url".into());
        a.push(url.clone());
    }
    a
}

/// Exports the whole log to `path`.
fn export(hub: &Hub, path: &std::path::Path) {
    let mut args = vec!["audit".to_string(), "export".into()];
    args.extend(store_args(hub));
    args.extend(["--out".to_string(), path.display().to_string()]);
    let out = hdh(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `hdh audit verify`: (success, standard output).
fn verify(path: &std::path::Path, key: &str, witness: Option<&std::path::Path>) -> (bool, String) {
    let mut args = vec![
        "audit".to_string(),
        "verify".into(),
        path.display().to_string(),
        "--public-key".into(),
        key.to_string(),
    ];
    if let Some(w) = witness {
        args.extend(["--witness".to_string(), w.display().to_string()]);
    }
    let out = hdh(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn exec(hub: &Hub, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(hub.state.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn insert(hub: &Hub, e: &Entry) {
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor_id, actor_name, role, action, object_type, object_id, project_id, outcome, client_addr, details_json, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(e.seq)
    .bind(e.at.clone())
    .bind(e.actor_id.clone())
    .bind(e.actor_name.clone())
    .bind(e.role.clone())
    .bind(e.action.clone())
    .bind(e.object_type.clone())
    .bind(e.object_id.clone())
    .bind(e.project_id.clone())
    .bind(e.outcome.clone())
    .bind(e.client_addr.clone())
    .bind(e.details.clone())
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .execute(hub.state.store.pool())
    .await
    .unwrap();
}

/// Puts the log back as it was.
async fn restore(hub: &Hub, snapshot: &[Entry]) {
    exec(hub, "DELETE FROM audit_events").await;
    for e in snapshot {
        insert(hub, e).await;
    }
}

async fn tampering_is_detected(db: Db) {
    let hub = start(db).await;
    for u in ["researcher", "checker", "security", "researcher"] {
        hub.login(u).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["audit".to_string(), "public-key".into()];
    args.extend(store_args(&hub));
    let out = hdh(&args);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(key.len(), 64, "{key}");
    // The untouched log verifies; its export is also a witness's copy.
    let clean = dir.path().join("clean.jsonl");
    export(&hub, &clean);
    let (ok, text) = verify(&clean, &key, None);
    assert!(ok, "{text}");
    let (head, _) = hub.state.store.audit_head().await.unwrap();
    assert!(
        head >= 8,
        "the seeded hub and the sign-ins left events: {head}"
    );
    let snapshot = hub.state.store.audit_entries(1, head).await.unwrap();
    let tampered = dir.path().join("tampered.jsonl");
    let mid = head / 2;

    // Edit a field.
    exec(
        &hub,
        &format!("UPDATE audit_events SET actor_name = 'nobody' WHERE seq = {mid}"),
    )
    .await;
    export(&hub, &tampered);
    let (ok, text) = verify(&tampered, &key, None);
    assert!(
        !ok && text.contains(&format!(
            "entry {mid}: its content does not match its hash (changed)"
        )),
        "{text}"
    );
    restore(&hub, &snapshot).await;

    // Delete a row.
    exec(&hub, &format!("DELETE FROM audit_events WHERE seq = {mid}")).await;
    export(&hub, &tampered);
    let (ok, text) = verify(&tampered, &key, None);
    assert!(!ok && text.contains("(deleted)"), "{text}");
    restore(&hub, &snapshot).await;

    // Insert a row: the later ones renumbered to make room, the forged one
    // sealed after its predecessor.
    exec(&hub, "DELETE FROM audit_events").await;
    let forged = Entry {
        seq: mid,
        action: "audit.view".into(),
        ..snapshot[(mid - 2) as usize].clone()
    }
    .seal(&snapshot[(mid - 2) as usize].hash);
    for e in &snapshot {
        let mut e = e.clone();
        if e.seq >= mid {
            e.seq += 1;
        }
        insert(&hub, &e).await;
    }
    insert(&hub, &forged).await;
    export(&hub, &tampered);
    let (ok, text) = verify(&tampered, &key, None);
    assert!(!ok && text.contains("TAMPERED"), "{text}");
    restore(&hub, &snapshot).await;

    // Swap two rows (their contents, keeping the sequence numbers).
    exec(&hub, "DELETE FROM audit_events").await;
    for e in &snapshot {
        let mut e = e.clone();
        if e.seq == mid || e.seq == mid + 1 {
            let other = &snapshot[(if e.seq == mid { mid } else { mid - 1 }) as usize];
            e = Entry {
                seq: e.seq,
                ..other.clone()
            };
        }
        insert(&hub, &e).await;
    }
    export(&hub, &tampered);
    let (ok, text) = verify(&tampered, &key, None);
    assert!(!ok && text.contains("TAMPERED"), "{text}");
    restore(&hub, &snapshot).await;

    // Truncate the tail, with the checkpoints that named it: the witness's
    // copy of the clean export still does.
    exec(
        &hub,
        &format!("DELETE FROM audit_events WHERE seq > {}", head - 3),
    )
    .await;
    exec(
        &hub,
        &format!("DELETE FROM audit_checkpoints WHERE seq > {}", head - 3),
    )
    .await;
    export(&hub, &tampered);
    let (_, text) = verify(&tampered, &key, None);
    assert!(
        !text.contains("TAMPERED"),
        "without a witness a clean cut is consistent: {text}"
    );
    let (ok, text) = verify(&tampered, &key, Some(&clean));
    assert!(!ok && text.contains("(truncated)"), "{text}");
    restore(&hub, &snapshot).await;

    // Put back as it was, the log verifies again.
    export(&hub, &tampered);
    let (ok, text) = verify(&tampered, &key, Some(&clean));
    assert!(ok, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_sqlite() {
    tampering_is_detected(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_postgres() {
    tampering_is_detected(Db::Postgres).await;
}

/// Events written by concurrent transactions form one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_keep_one_chain() {
    let hub = start(Db::Postgres).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = hub.state.store.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..10 {
                store
                    .audit(&hdh_model::AuditEvent::new(
                        format!("test.burst.{i}.{j}"),
                        "test",
                    ))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (head, _) = hub.state.store.audit_head().await.unwrap();
    let entries = hub.state.store.audit_entries(1, head).await.unwrap();
    let key = hub.state.audit_key.verifying_key();
    let report = hdh_audit::verify(&entries, &[], &[], &key, Some(hdh_audit::GENESIS));
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries as i64, head);
}

/// A hub killed (SIGKILL) during a burst of audited requests loses no event
/// it answered for, and its chain still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_during_a_burst_loses_no_committed_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hdh"))
        .args(["serve", "--data-dir", data.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Failed sign-ins, each audited before it is answered.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = Vec::new();
    for _ in 0..16 {
        let (http, base, answered) = (http.clone(), base.clone(), answered.clone());
        burst.push(tokio::spawn(async move {
            loop {
                let r = http
                    .post(format!("{base}/api/login"))
                    .json(&serde_json::json!({ "username": "nobody", "password": "wrong" }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for b in burst {
        b.await.unwrap();
    }
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst) as i64;
    assert!(answered > 10, "the burst reached the hub: {answered}");
    let store = hdh_store::Store::open_sqlite(&data.join("hdh.db"))
        .await
        .unwrap();
    let (head, _) = store.audit_head().await.unwrap();
    let entries = store.audit_entries(1, head).await.unwrap();
    let denied = entries
        .iter()
        .filter(|e| e.action == "auth.sign_in" && e.outcome == "denied")
        .count() as i64;
    assert!(
        denied >= answered,
        "{denied} sign-in events for {answered} answered sign-ins"
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
    let report = hdh_audit::verify(&entries, &[], &[], &key, Some(hdh_audit::GENESIS));
    assert!(report.ok(), "{:?}", report.problems);
}

/// `hdh audit witness` against the running hub: (success, standard output).
fn witness(hub: &Hub, key: &str, keep: &std::path::Path) -> (bool, String) {
    let out = hdh(&[
        "audit".into(),
        "witness".into(),
        hub.url("/audit/checkpoints.json"),
        "--public-key".into(),
        key.to_string(),
        "--keep".into(),
        keep.display().to_string(),
    ]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn verify_all(paths: &[&std::path::Path], key: &str) -> (bool, String) {
    let mut args = vec!["audit".to_string(), "verify".into()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    args.extend(["--public-key".to_string(), key.to_string()]);
    let out = hdh(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn archive_and_witness(db: Db) {
    let hub = start(db).await;
    for u in ["researcher", "checker", "security"] {
        hub.login(u).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["audit".to_string(), "public-key".into()];
    args.extend(store_args(&hub));
    let key = String::from_utf8(hdh(&args).stdout)
        .unwrap()
        .trim()
        .to_string();
    // A witness keeps the checkpoints the hub publishes.
    export(&hub, &dir.path().join("first.jsonl"));
    let keep = dir.path().join("witness.jsonl");
    let (ok, text) = witness(&hub, &key, &keep);
    assert!(ok && text.starts_with("1 new checkpoints kept"), "{text}");

    // Archive the first half.
    let (head, _) = hub.state.store.audit_head().await.unwrap();
    let mid = head / 2;
    let archives = dir.path().join("archives");
    let mut args = vec!["audit".to_string(), "archive".into()];
    args.extend(store_args(&hub));
    args.extend([
        "--through".to_string(),
        mid.to_string(),
        "--to".into(),
        archives.display().to_string(),
    ]);
    let out = hdh(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = archives.join(format!("audit-{:012}-{mid:012}.jsonl", 1));
    assert!(archive.exists());
    assert_eq!(hub.state.store.audit_first().await.unwrap(), Some(mid + 1));
    // Archiving again over the same range is refused.
    let out = hdh(&args);
    assert!(!out.status.success());

    // The log goes on; the archive and the rest verify as one chain.
    hub.login("researcher2").await;
    let rest = dir.path().join("rest.jsonl");
    export(&hub, &rest);
    let (ok, text) = verify_all(&[&archive, &rest], &key);
    assert!(ok, "{text}");
    assert!(
        text.starts_with(&format!(
            "{} entries (1–",
            hub.state.store.audit_head().await.unwrap().0
        )),
        "{text}"
    );
    let (ok, text) = verify_all(&[&rest], &key);
    assert!(ok, "the rest alone follows the archive's last hash: {text}");
    let (ok, text) = verify_all(&[&rest, &archive], &key);
    assert!(
        !ok && text.contains("TAMPERED"),
        "segments out of order: {text}"
    );
    // The archive changed by one character is caught.
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&archive).unwrap().replacen(
            "\"outcome\":\"success\"",
            "\"outcome\":\"denied\"",
            1,
        ),
    )
    .unwrap();
    let (ok, text) = verify_all(&[&forged, &rest], &key);
    assert!(!ok && text.contains("TAMPERED"), "{text}");
    // The public page lists the archive.
    let r = hub.get(None, "/audit/checkpoints.json").await;
    assert_eq!(r.body["archives"][0]["last_seq"], mid, "{}", r.body);

    // The witness follows; then the hub rewrites a checkpoint it held
    // (signing with its own key) and later rolls back: both caught.
    let (ok, text) = witness(&hub, &key, &keep);
    assert!(ok, "{text}");
    let held = hdh_audit::read_export(&std::fs::read_to_string(&keep).unwrap(), false)
        .unwrap()
        .checkpoints;
    let c = held.last().unwrap().clone();
    let secret = std::fs::read_to_string(hub.data_dir().join("secrets/audit-signing.key")).unwrap();
    let bytes: [u8; 32] = hex::decode(secret.trim()).unwrap().try_into().unwrap();
    let signing = ed25519_dalek::SigningKey::from_bytes(&bytes);
    let rewritten = hdh_audit::Checkpoint::sign(&signing, c.seq, &"ab".repeat(32), &c.at);
    exec(
        &hub,
        &format!(
            "UPDATE audit_checkpoints SET hash = '{}', signature = '{}' WHERE seq = {}",
            rewritten.hash, rewritten.signature, c.seq
        ),
    )
    .await;
    let before = std::fs::read_to_string(&keep).unwrap();
    let (ok, text) = witness(&hub, &key, &keep);
    assert!(!ok && text.contains("was rewritten"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&keep).unwrap(),
        before,
        "kept unchanged"
    );
    exec(
        &hub,
        &format!("DELETE FROM audit_checkpoints WHERE seq >= {}", c.seq),
    )
    .await;
    let (ok, text) = witness(&hub, &key, &keep);
    assert!(!ok && text.contains("rolled back"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_segments_still_verify_and_a_witness_catches_rewrites_sqlite() {
    archive_and_witness(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_segments_still_verify_and_a_witness_catches_rewrites_postgres() {
    archive_and_witness(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_signed_every_n_events() {
    let hub = crate::support::start_with(Db::Sqlite, |cfg| {
        cfg.audit_checkpoint_every = std::time::Duration::from_secs(3600);
        cfg.audit_checkpoint_events = Some(10);
    })
    .await;
    let count = |r: &crate::support::Resp| r.body["checkpoints"].as_array().unwrap().len();
    // The seeded hub's events are signed once (more than 10 of them).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut first = hub.get(None, "/audit/checkpoints.json").await;
    while count(&first) == 0 {
        assert!(std::time::Instant::now() < deadline, "no checkpoint");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        first = hub.get(None, "/audit/checkpoints.json").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = count(&hub.get(None, "/audit/checkpoints.json").await);
    // Fewer than 10 new events: no new checkpoint within the hour.
    for _ in 0..3 {
        hub.login("researcher").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        count(&hub.get(None, "/audit/checkpoints.json").await),
        before
    );
    // Ten more: one, at once.
    for _ in 0..10 {
        hub.login("checker").await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = hub.get(None, "/audit/checkpoints.json").await;
        if count(&r) > before {
            let last = r.body["checkpoints"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .clone();
            let (head, _) = hub.state.store.audit_head().await.unwrap();
            assert!(last["seq"].as_i64().unwrap() <= head);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 13 events"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
