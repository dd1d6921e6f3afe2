//! `send` against a small hub stand-in implementing the upload protocol,
//! with faults: a connection dropped mid-upload, a hub down until the client
//! gives up (a later run resumes), a stale view of what the hub has (409).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use common::*;
use hdh_package::UPLOAD_STATE_FILE;
use hdh_producer::send::{Auth, Quiet, SendError, SendOptions, send};
use hdh_producer::{Level1Source, NoProgress, PrepareOptions, TableInput, prepare};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const TOKEN: &str = "secret-token";
const CHUNK: usize = 700;

#[derive(Default)]
struct FileUp {
    bytes: u64,
    sha256: String,
    data: Vec<u8>,
}

#[derive(Default)]
struct Upload {
    files: Vec<(String, FileUp)>,
    state: String,
    ingestion: Option<String>,
}

#[derive(Default)]
struct Hub {
    uploads: Mutex<HashMap<String, Upload>>,
    /// Drop the connection (after storing the chunk) at this PUT (1-based).
    drop_at_put: AtomicU64,
    /// Answer 503 to PUTs from this one on (1-based; 0 = never).
    down_from_put: AtomicU64,
    puts: AtomicU64,
    bytes_put: AtomicU64,
    creates: AtomicU64,
    polls: AtomicU64,
    /// Bytes of the chunk whose answer was lost.
    dropped_bytes: AtomicU64,
    /// Pretend a first chunk of this file came from an earlier client.
    preload: Mutex<Option<(String, Vec<u8>)>>,
    /// The ingestion's end state.
    outcome: Mutex<String>,
}

type S = Arc<Hub>;

fn authorised(h: &HeaderMap) -> bool {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"code": "unauthorised", "message": "sign in"}})),
    )
        .into_response()
}

fn status_json(id: &str, u: &Upload) -> Value {
    json!({
        "id": id,
        "dataset_id": "snds-test",
        "state": u.state,
        "chunk_bytes": CHUNK,
        "files": u.files.iter().map(|(p, f)| json!({"path": p, "bytes": f.bytes, "received": f.data.len()})).collect::<Vec<_>>(),
        "ingestion": u.ingestion.as_ref().map(|i| json!({"id": i, "state": "queued"})),
    })
}

async fn login(Json(b): Json<Value>) -> Response {
    if b["username"] == "cpam" && b["password"] == "right password" {
        Json(json!({"token": TOKEN})).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": {"code": "unauthorised", "message": "wrong username or password"}}),
            ),
        )
            .into_response()
    }
}

async fn create(State(s): State<S>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    if !authorised(&h) {
        return unauthorised();
    }
    let n = s.creates.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("up-{n}");
    let mut u = Upload {
        state: "receiving".into(),
        ..Upload::default()
    };
    for f in b["files"].as_array().unwrap() {
        u.files.push((
            f["path"].as_str().unwrap().to_owned(),
            FileUp {
                bytes: f["bytes"].as_u64().unwrap(),
                sha256: f["sha256"].as_str().unwrap().to_owned(),
                data: Vec::new(),
            },
        ));
    }
    let answer = status_json(&id, &u);
    if let Some((path, data)) = s.preload.lock().unwrap().take() {
        let f = u.files.iter_mut().find(|(p, _)| *p == path).unwrap();
        f.1.data = data;
    }
    s.uploads.lock().unwrap().insert(id, u);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn upload_status(State(s): State<S>, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if !authorised(&h) {
        return unauthorised();
    }
    match s.uploads.lock().unwrap().get(&id) {
        Some(u) => Json(status_json(&id, u)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"message": "no such upload"}})),
        )
            .into_response(),
    }
}

async fn put_chunk(
    State(s): State<S>,
    h: HeaderMap,
    UrlPath((id, path)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, u64>>,
    body: Bytes,
) -> Response {
    if !authorised(&h) {
        return unauthorised();
    }
    let n = s.puts.fetch_add(1, Ordering::SeqCst) + 1;
    let down = s.down_from_put.load(Ordering::SeqCst);
    if down != 0 && n >= down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    assert!(body.len() <= CHUNK, "chunk of {} bytes", body.len());
    let received = {
        let mut uploads = s.uploads.lock().unwrap();
        let u = uploads.get_mut(&id).unwrap();
        let f = &mut u.files.iter_mut().find(|(p, _)| *p == path).unwrap().1;
        let offset = q["offset"];
        if offset != f.data.len() as u64 {
            let r = f.data.len();
            return (
                StatusCode::CONFLICT,
                Json(json!({"error": "offset mismatch", "code": "conflict", "received": r})),
            )
                .into_response();
        }
        f.data.extend_from_slice(&body);
        assert!(f.data.len() as u64 <= f.bytes);
        s.bytes_put.fetch_add(body.len() as u64, Ordering::SeqCst);
        f.data.len()
    };
    if s.drop_at_put.load(Ordering::SeqCst) == n {
        // The chunk is stored, but the connection drops before the answer.
        s.dropped_bytes.store(body.len() as u64, Ordering::SeqCst);
        panic!("simulated connection drop (expected in this test)");
    }
    Json(json!({"received": received})).into_response()
}

async fn complete(State(s): State<S>, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if !authorised(&h) {
        return unauthorised();
    }
    let mut uploads = s.uploads.lock().unwrap();
    let u = uploads.get_mut(&id).unwrap();
    for (p, f) in &u.files {
        if f.data.len() as u64 != f.bytes || hdh_package::sha256_hex(&f.data) != f.sha256 {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": format!("{p}: incomplete or altered")}})),
            )
                .into_response();
        }
    }
    u.state = "complete".into();
    u.ingestion = Some(format!("ing-{id}"));
    (
        StatusCode::ACCEPTED,
        Json(json!({"ingestion": format!("ing-{id}")})),
    )
        .into_response()
}

async fn ingestion(State(s): State<S>, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    if !authorised(&h) {
        return unauthorised();
    }
    let n = s.polls.fetch_add(1, Ordering::SeqCst);
    let outcome = s.outcome.lock().unwrap().clone();
    let body = if n == 0 {
        json!({"id": id, "dataset_id": "snds-test", "state": "validating",
               "progress": {"table": "ER_PRS_F", "rows_done": 2, "rows_total": 5},
               "version": null, "report": null, "error": null})
    } else if outcome == "published" {
        json!({"id": id, "dataset_id": "snds-test", "state": "published",
               "progress": {"table": "ER_PRS_F", "rows_done": 5, "rows_total": 5},
               "version": 3, "report": {"tables": []}, "error": null})
    } else {
        json!({"id": id, "dataset_id": "snds-test", "state": outcome,
               "progress": {"table": "ER_PRS_F", "rows_done": 5, "rows_total": 5},
               "version": null,
               "report": {"errors": ["manifest.sig: the signature does not verify with the producer's key"], "tables": []},
               "error": null})
    };
    Json(body).into_response()
}

/// Starts the stand-in on a random port; returns its state and URL.
fn start_hub() -> (S, String) {
    let state: S = Arc::new(Hub {
        outcome: Mutex::new("published".into()),
        ..Hub::default()
    });
    let app = Router::new()
        .route("/api/login", post(login))
        .route("/api/deliveries/packages", post(create))
        .route("/api/deliveries/packages/{id}", get(upload_status))
        .route("/api/deliveries/packages/{id}/files/{path}", put(put_chunk))
        .route("/api/deliveries/packages/{id}/complete", post(complete))
        .route("/api/ingestions/{id}", get(ingestion))
        .with_state(state.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (state, format!("http://{addr}"))
}

fn package(dir: &Path) -> PathBuf {
    let work = dir.join("in");
    std::fs::create_dir_all(&work).unwrap();
    let (schema, input) = write_table(&work, &latin1_csv());
    let mut opts = PrepareOptions::new("snds-test");
    opts.dialect.delimiter = b';';
    opts.dialect.encoding = hdh_ingest::Encoding::Latin1;
    let out = dir.join("package");
    prepare(
        &[TableInput::from_files(&schema, &input).unwrap()],
        &out,
        &opts,
        &identity("cpam-75", 1),
        &Level1Source::Key(level1_key()),
        &NoProgress,
    )
    .unwrap();
    out
}

fn package_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn options(hub: &str) -> SendOptions {
    let mut o = SendOptions::new(
        hub,
        Auth::Login {
            user: "cpam".into(),
            password: Zeroizing::new("right password".into()),
        },
    );
    o.retries = 3;
    o.retry_delay = Duration::from_millis(10);
    o.poll_interval = Duration::from_millis(10);
    o
}

fn received_files(hub: &Hub, id: &str) -> Vec<(String, Vec<u8>)> {
    hub.uploads.lock().unwrap()[id]
        .files
        .iter()
        .map(|(p, f)| (p.clone(), f.data.clone()))
        .collect()
}

#[test]
fn a_dropped_connection_resumes_where_the_hub_stands() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let total = package_bytes(&pkg);
    assert!(total > 3 * CHUNK as u64, "several chunks: {total}");
    let (hub, url) = start_hub();
    hub.drop_at_put.store(3, Ordering::SeqCst);

    let outcome = send(&pkg, &options(&url), &Quiet).unwrap();
    assert!(outcome.is_published(), "{outcome:?}");
    assert_eq!(outcome.version, Some(3));
    assert_eq!(outcome.ingestion_id, "ing-up-1");
    // Nothing was sent twice: the client asked where the hub stood.
    assert_eq!(hub.bytes_put.load(Ordering::SeqCst), total);
    let dropped = hub.dropped_bytes.load(Ordering::SeqCst);
    assert!(dropped > 0);
    assert_eq!(
        outcome.bytes_sent,
        total - dropped,
        "the dropped chunk's answer was lost"
    );
    assert_eq!(hub.creates.load(Ordering::SeqCst), 1);
    for (path, data) in received_files(&hub, "up-1") {
        assert_eq!(data, std::fs::read(pkg.join(&path)).unwrap(), "{path}");
    }
    // Done: the upload state is gone.
    assert!(!pkg.join(UPLOAD_STATE_FILE).exists());
}

#[test]
fn a_new_run_resumes_an_interrupted_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let total = package_bytes(&pkg);
    let (hub, url) = start_hub();
    // The hub goes down at the 4th chunk: the client gives up (as if killed).
    hub.down_from_put.store(4, Ordering::SeqCst);
    let err = send(&pkg, &options(&url), &Quiet).unwrap_err();
    assert!(matches!(err, SendError::Transport(_)), "{err}");
    assert!(
        err.to_string().contains("run the same command again"),
        "{err}"
    );
    assert!(pkg.join(UPLOAD_STATE_FILE).exists());
    let before = hub.bytes_put.load(Ordering::SeqCst);
    assert!(before > 0 && before < total, "{before} of {total}");

    // Back up; the same command again.
    hub.down_from_put.store(0, Ordering::SeqCst);
    let outcome = send(&pkg, &options(&url), &Quiet).unwrap();
    assert!(outcome.is_published());
    assert!(outcome.resumed);
    assert_eq!(outcome.bytes_sent, total - before);
    assert_eq!(hub.bytes_put.load(Ordering::SeqCst), total);
    assert_eq!(hub.creates.load(Ordering::SeqCst), 1, "one upload");
    for (path, data) in received_files(&hub, "up-1") {
        assert_eq!(data, std::fs::read(pkg.join(&path)).unwrap(), "{path}");
    }

    // Killed while following the ingestion: the next run only follows it.
    std::fs::write(
        pkg.join(UPLOAD_STATE_FILE),
        serde_json::to_vec(&json!({
            "hub": url, "dataset_id": "snds-test",
            "manifest_sha256": hdh_package::sha256_hex(&std::fs::read(pkg.join("manifest.json")).unwrap()),
            "upload_id": "up-1", "ingestion_id": "ing-up-1"
        }))
        .unwrap(),
    )
    .unwrap();
    let outcome = send(&pkg, &options(&url), &Quiet).unwrap();
    assert!(outcome.is_published());
    assert_eq!(outcome.bytes_sent, 0);
    assert_eq!(hub.creates.load(Ordering::SeqCst), 1);
}

#[test]
fn a_conflict_moves_the_client_to_the_hubs_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let total = package_bytes(&pkg);
    let (hub, url) = start_hub();
    let parquet = std::fs::read(pkg.join("ER_PRS_F.parquet")).unwrap();
    *hub.preload.lock().unwrap() = Some(("ER_PRS_F.parquet".into(), parquet[..CHUNK].to_vec()));
    let outcome = send(&pkg, &options(&url), &Quiet).unwrap();
    assert!(outcome.is_published());
    assert_eq!(hub.bytes_put.load(Ordering::SeqCst), total - CHUNK as u64);
    for (path, data) in received_files(&hub, "up-1") {
        assert_eq!(data, std::fs::read(pkg.join(&path)).unwrap(), "{path}");
    }
}

#[test]
fn refusals_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = package(tmp.path());
    let (hub, url) = start_hub();
    // Wrong password.
    let mut o = options(&url);
    o.auth = Auth::Login {
        user: "cpam".into(),
        password: Zeroizing::new("wrong".into()),
    };
    let err = send(&pkg, &o, &Quiet).unwrap_err();
    assert!(matches!(err, SendError::Auth(_)), "{err}");
    assert!(
        err.to_string().contains("wrong username or password"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong\""));
    // A bad token.
    let mut o = options(&url);
    o.auth = Auth::Token(Zeroizing::new("nope".into()));
    let err = send(&pkg, &o, &Quiet).unwrap_err();
    assert!(matches!(err, SendError::Auth(_)), "{err}");
    // A rejected ingestion: the outcome says so, and the command fails.
    *hub.outcome.lock().unwrap() = "rejected".into();
    let outcome = send(&pkg, &options(&url), &Quiet).unwrap();
    assert_eq!(outcome.state, "rejected");
    assert!(!pkg.join(UPLOAD_STATE_FILE).exists());
    let args = hdh_producer::cli::SendArgs {
        package: pkg.clone(),
        hub: hdh_producer::cli::HubArgs {
            hub: url.clone(),
            user: None,
            password_stdin: false,
            token: Some(TOKEN.into()),
        },
        no_wait: false,
        quiet: true,
    };
    let err = hdh_producer::cli::run(hdh_producer::cli::ProducerCommand::Send(args)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("the delivery was rejected"), "{text}");
    assert!(
        text.contains("manifest.sig: the signature does not verify"),
        "{text}"
    );
    // A package altered after preparation is refused before any upload.
    let creates = hub.creates.load(Ordering::SeqCst);
    let m = std::fs::read_to_string(pkg.join("manifest.json")).unwrap();
    std::fs::write(pkg.join("manifest.json"), m.replace("cpam-75", "cpam-76")).unwrap();
    let err = send(&pkg, &options(&url), &Quiet).unwrap_err();
    assert!(matches!(err, SendError::Package(_)), "{err}");
    assert_eq!(hub.creates.load(Ordering::SeqCst), creates);
}
