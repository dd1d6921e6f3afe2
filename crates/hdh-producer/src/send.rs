//! `send`: uploads a package to the hub in resumable chunks, then follows its
//! ingestion.
//!
//! The protocol (the hub's `/api/deliveries/packages`):
//!
//! 1. `POST /api/deliveries/packages` `{"dataset_id", "files": [{"path",
//!    "bytes", "sha256"}]}` → 201 `{"id", "state": "receiving",
//!    "chunk_bytes", "files": [{"path", "bytes", "received"}]}`;
//! 2. `PUT /api/deliveries/packages/{id}/files/{path}?offset=N` with at most
//!    `chunk_bytes` raw bytes → 200 `{"received": M}`, or 409 `{"error",
//!    "received": M}` when `N` is not what the hub has (the client goes on
//!    from `M`);
//! 3. `POST /api/deliveries/packages/{id}/complete` → 202 `{"ingestion"}`;
//! 4. `GET /api/ingestions/{id}` until `published`, `rejected` or `failed`.
//!
//! `GET /api/deliveries/packages/{id}` says what the hub has received. The
//! upload's id is kept in `<package>/.upload-state.json`, so that `send` run
//! again after a dropped connection or a killed process asks the hub what it
//! has and resumes there. Connection failures, 429 and 5xx answers are
//! retried with exponential backoff.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdh_package::{MANIFEST_FILE, Manifest, SIGNATURE_FILE, UPLOAD_STATE_FILE};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

/// Largest chunk sent, whatever the hub allows.
pub const MAX_CHUNK_BYTES: u64 = 8 << 20;

/// How the client authenticates.
pub enum Auth {
    /// A bearer token (`--token`, `HDH_TOKEN`).
    Token(Zeroizing<String>),
    /// Signs in with `POST /api/login`.
    Login {
        user: String,
        password: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(<redacted>)"),
            Auth::Login { user, .. } => write!(f, "Auth::Login({user}, <redacted>)"),
        }
    }
}

#[derive(Debug)]
pub struct SendOptions {
    /// Base URL of the hub.
    pub hub: String,
    pub auth: Auth,
    /// Retries of a failed request (connection, timeout, 429, 5xx).
    pub retries: u32,
    /// The first wait before a retry (doubled each time, at most 30 s).
    pub retry_delay: Duration,
    /// Interval between two looks at the ingestion.
    pub poll_interval: Duration,
    /// Follow the ingestion to its end (otherwise return once it is queued).
    pub wait: bool,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl SendOptions {
    pub fn new(hub: &str, auth: Auth) -> SendOptions {
        SendOptions {
            hub: hub.trim_end_matches('/').to_owned(),
            auth,
            retries: 8,
            retry_delay: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            wait: true,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Progress of a sending.
pub trait SendProgress {
    fn upload_started(&self, _total_bytes: u64, _already: u64) {}
    fn uploaded(&self, _position: u64) {}
    fn retrying(&self, _what: &str, _attempt: u32) {}
    fn upload_finished(&self) {}
    fn ingestion(&self, _state: &str, _rows_done: u64, _rows_total: u64) {}
}

/// Reports nothing.
pub struct Quiet;

impl SendProgress for Quiet {}

#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    pub upload_id: String,
    pub ingestion_id: String,
    /// The ingestion's last state (`published`, `rejected`, `failed`, or
    /// `queued`… when not waiting).
    pub state: String,
    pub version: Option<u64>,
    pub error: Option<String>,
    /// The ingestion's report, as the hub gives it.
    pub report: Value,
    /// Bytes sent by this run (not counting what the hub already had).
    pub bytes_sent: u64,
    /// Whether this run resumed an earlier upload.
    pub resumed: bool,
}

impl SendOutcome {
    pub fn is_published(&self) -> bool {
        self.state == "published"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the package cannot be sent: {0}")]
    Package(String),
    #[error("sign-in refused: {0}")]
    Auth(String),
    #[error("the hub answered {status}: {message}")]
    Hub { status: u16, message: String },
    #[error("the hub could not be reached ({0}); run the same command again to resume")]
    Transport(String),
    #[error("unexpected answer from the hub: {0}")]
    Protocol(String),
}

/// What the client keeps between runs (`.upload-state.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct UploadState {
    hub: String,
    dataset_id: String,
    /// SHA-256 of the manifest: another package in the same place starts over.
    manifest_sha256: String,
    upload_id: String,
    #[serde(default)]
    ingestion_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct LocalFile {
    path: String,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct RemoteFile {
    path: String,
    #[serde(default)]
    received: u64,
}

#[derive(Debug, Deserialize)]
struct UploadStatus {
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    chunk_bytes: Option<u64>,
    #[serde(default)]
    files: Vec<RemoteFile>,
    #[serde(default)]
    ingestion: Option<Value>,
}

fn io_err(path: &Path, source: std::io::Error) -> SendError {
    SendError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The message of a hub's error body: `{"error": {"message"}}` or
/// `{"error": "…"}`.
fn error_message(body: &Value, status: StatusCode) -> String {
    match &body["error"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    }
}

struct Hub<'a> {
    http: Client,
    base: &'a str,
    token: Zeroizing<String>,
    opts: &'a SendOptions,
    progress: &'a dyn SendProgress,
}

/// A response that is worth retrying.
fn transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

impl Hub<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends (with the token), retrying connection failures, 429 and 5xx.
    fn send(
        &self,
        what: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, SendError> {
        let mut delay = self.opts.retry_delay;
        let mut attempt = 0;
        loop {
            let r = build(&self.http).bearer_auth(self.token.as_str()).send();
            let retry = match &r {
                Ok(resp) => transient(resp.status()),
                Err(_) => true,
            };
            if !retry || attempt >= self.opts.retries {
                return match r {
                    Ok(resp) => Ok(resp),
                    Err(e) => Err(SendError::Transport(e.without_url().to_string())),
                };
            }
            attempt += 1;
            self.progress.retrying(what, attempt);
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// A JSON body, or the hub's error.
    fn json(resp: Response, expect: &[StatusCode]) -> Result<(StatusCode, Value), SendError> {
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if expect.contains(&status) {
            return Ok((status, body));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(SendError::Auth(
                "the hub refused the credentials (401): sign in again".to_owned(),
            ));
        }
        Err(SendError::Hub {
            status: status.as_u16(),
            message: error_message(&body, status),
        })
    }

    fn status(&self, id: &str) -> Result<Option<UploadStatus>, SendError> {
        let url = self.url(&format!("/api/deliveries/packages/{id}"));
        let resp = self.send("status", &|c| c.get(&url))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let (_, body) = Self::json(resp, &[StatusCode::OK])?;
        serde_json::from_value(body)
            .map(Some)
            .map_err(|e| SendError::Protocol(format!("upload status: {e}")))
    }
}

fn login(http: &Client, base: &str, auth: &Auth) -> Result<Zeroizing<String>, SendError> {
    match auth {
        Auth::Token(t) => Ok(t.clone()),
        Auth::Login { user, password } => {
            let body = serde_json::json!({ "username": user, "password": password.as_str() });
            let resp = http
                .post(format!("{base}/api/login"))
                .json(&body)
                .send()
                .map_err(|e| SendError::Transport(e.without_url().to_string()))?;
            let status = resp.status();
            let v: Value = resp.json().unwrap_or(Value::Null);
            match v["token"].as_str() {
                Some(t) if status.is_success() => Ok(Zeroizing::new(t.to_owned())),
                _ => Err(SendError::Auth(error_message(&v, status))),
            }
        }
    }
}

fn read_state(path: &Path) -> Option<UploadState> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_state(path: &Path, state: &UploadState) -> Result<(), SendError> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

fn remove_state(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// The files to send, with their sizes and digests: the manifest and its
/// signature (hashed here), then the files the manifest lists (as it says,
/// after checking their sizes on disk; the hub checks the digests).
fn local_files(dir: &Path) -> Result<(Manifest, Vec<LocalFile>, String), SendError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_bytes = std::fs::read(&manifest_path).map_err(|e| io_err(&manifest_path, e))?;
    let manifest = Manifest::parse(&manifest_bytes)
        .map_err(|e| SendError::Package(format!("{MANIFEST_FILE}: {e}")))?;
    let sig_path = dir.join(SIGNATURE_FILE);
    let sig = std::fs::read(&sig_path).map_err(|e| io_err(&sig_path, e))?;
    let key = manifest
        .producer_verifying_key()
        .map_err(|e| SendError::Package(e.to_string()))?;
    hdh_package::verify(&manifest_bytes, &String::from_utf8_lossy(&sig), &key)
        .map_err(|e| SendError::Package(format!("{SIGNATURE_FILE}: {e}")))?;
    let manifest_sha = hdh_package::sha256_hex(&manifest_bytes);
    let mut files = vec![
        LocalFile {
            path: MANIFEST_FILE.to_owned(),
            bytes: manifest_bytes.len() as u64,
            sha256: manifest_sha.clone(),
        },
        LocalFile {
            path: SIGNATURE_FILE.to_owned(),
            bytes: sig.len() as u64,
            sha256: hdh_package::sha256_hex(&sig),
        },
    ];
    for f in &manifest.files {
        let path = dir.join(&f.path);
        let len = std::fs::metadata(&path)
            .map_err(|e| io_err(&path, e))?
            .len();
        if len != f.bytes {
            return Err(SendError::Package(format!(
                "{}: {len} bytes, the manifest says {} (run `verify`)",
                f.path, f.bytes
            )));
        }
        files.push(LocalFile {
            path: f.path.clone(),
            bytes: f.bytes,
            sha256: f.sha256.clone(),
        });
    }
    Ok((manifest, files, manifest_sha))
}

/// An HTTP client signed in to the hub of `opts`.
fn connect<'a>(
    opts: &'a SendOptions,
    progress: &'a dyn SendProgress,
) -> Result<Hub<'a>, SendError> {
    let base = opts.hub.trim_end_matches('/');
    let http = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(opts.timeout)
        .build()
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let token = login(&http, base, &opts.auth)?;
    Ok(Hub {
        http,
        base,
        token,
        opts,
        progress,
    })
}

/// Registers the producer's Ed25519 public key (64 hex characters) with
/// the hub (`PUT /api/producer/key`): packages signed with another key are
/// refused from then on.
pub fn register_key(opts: &SendOptions, public_key_hex: &str) -> Result<(), SendError> {
    let hub = connect(opts, &Quiet)?;
    let url = hub.url("/api/producer/key");
    let body = serde_json::json!({ "public_key": public_key_hex });
    let resp = hub.send("key registration", &|c| c.put(&url).json(&body))?;
    Hub::json(resp, &[StatusCode::OK]).map(|_| ())
}

/// Sends the package in `dir` (see the module documentation).
pub fn send(
    dir: &Path,
    opts: &SendOptions,
    progress: &dyn SendProgress,
) -> Result<SendOutcome, SendError> {
    let (manifest, files, manifest_sha) = local_files(dir)?;
    let hub = connect(opts, progress)?;
    let base = hub.base;
    let state_path: PathBuf = dir.join(UPLOAD_STATE_FILE);
    let mut state = read_state(&state_path).filter(|s| {
        s.hub == base && s.dataset_id == manifest.dataset_id && s.manifest_sha256 == manifest_sha
    });
    let mut resumed = false;
    let mut bytes_sent = 0;

    // An upload in progress, or already complete?
    let mut status: Option<UploadStatus> = None;
    if let Some(s) = &state
        && s.ingestion_id.is_none()
    {
        match hub.status(&s.upload_id)? {
            Some(st) if st.state == "receiving" => {
                resumed = true;
                status = Some(st);
            }
            Some(st) => {
                if let Some(id) = st.ingestion.as_ref().and_then(|i| i["id"].as_str()) {
                    let mut s2 = s.clone();
                    s2.ingestion_id = Some(id.to_owned());
                    write_state(&state_path, &s2)?;
                    state = Some(s2);
                    resumed = true;
                } else {
                    state = None;
                }
            }
            None => state = None,
        }
    }
    let state = match state {
        Some(s) if s.ingestion_id.is_some() => s,
        other => {
            let (st, s) = match (other, status) {
                (Some(s), Some(st)) => (st, s),
                _ => {
                    let url = hub.url("/api/deliveries/packages");
                    let body = serde_json::json!({
                        "dataset_id": manifest.dataset_id,
                        "files": files,
                    });
                    let resp = hub.send("create", &|c| c.post(&url).json(&body))?;
                    let (_, v) = Hub::json(resp, &[StatusCode::CREATED, StatusCode::OK])?;
                    let st: UploadStatus = serde_json::from_value(v)
                        .map_err(|e| SendError::Protocol(format!("new upload: {e}")))?;
                    let s = UploadState {
                        hub: base.to_owned(),
                        dataset_id: manifest.dataset_id.clone(),
                        manifest_sha256: manifest_sha.clone(),
                        upload_id: st.id.clone(),
                        ingestion_id: None,
                    };
                    write_state(&state_path, &s)?;
                    (st, s)
                }
            };
            bytes_sent = upload(&hub, dir, &files, &s.upload_id, st)?;
            let ingestion = complete(&hub, &s.upload_id, &state_path)?;
            let s = UploadState {
                ingestion_id: Some(ingestion),
                ..s
            };
            write_state(&state_path, &s)?;
            s
        }
    };
    let ingestion_id = state.ingestion_id.clone().unwrap_or_default();
    let mut outcome = SendOutcome {
        upload_id: state.upload_id.clone(),
        ingestion_id: ingestion_id.clone(),
        state: "queued".to_owned(),
        version: None,
        error: None,
        report: Value::Null,
        bytes_sent,
        resumed,
    };
    let url = hub.url(&format!("/api/ingestions/{ingestion_id}"));
    loop {
        let resp = hub.send("ingestion", &|c| c.get(&url))?;
        let (_, v) = Hub::json(resp, &[StatusCode::OK])?;
        outcome.state = v["state"].as_str().unwrap_or("").to_owned();
        outcome.version = v["version"].as_u64();
        outcome.error = v["error"].as_str().map(str::to_owned);
        outcome.report = v["report"].clone();
        progress.ingestion(
            &outcome.state,
            v["progress"]["rows_done"].as_u64().unwrap_or(0),
            v["progress"]["rows_total"].as_u64().unwrap_or(0),
        );
        let terminal = matches!(outcome.state.as_str(), "published" | "rejected" | "failed");
        if terminal {
            remove_state(&state_path);
        }
        if terminal || !opts.wait {
            return Ok(outcome);
        }
        std::thread::sleep(opts.poll_interval);
    }
}

/// Sends what the hub does not have yet; returns the bytes sent.
fn upload(
    hub: &Hub<'_>,
    dir: &Path,
    files: &[LocalFile],
    id: &str,
    status: UploadStatus,
) -> Result<u64, SendError> {
    let chunk = status
        .chunk_bytes
        .unwrap_or(MAX_CHUNK_BYTES)
        .clamp(1, MAX_CHUNK_BYTES);
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let received_of = |st: &UploadStatus, path: &str| {
        st.files
            .iter()
            .find(|r| r.path == path)
            .map_or(0, |r| r.received)
    };
    let mut received: Vec<u64> = files
        .iter()
        .map(|f| received_of(&status, &f.path).min(f.bytes))
        .collect();
    hub.progress
        .upload_started(total, received.iter().sum::<u64>());
    let mut sent = 0u64;
    let mut buf = vec![0u8; usize::try_from(chunk).unwrap_or(8 << 20)];
    for (i, f) in files.iter().enumerate() {
        if received[i] >= f.bytes {
            continue;
        }
        let path = dir.join(&f.path);
        let mut file = File::open(&path).map_err(|e| io_err(&path, e))?;
        let mut failures = 0u32;
        let mut delay = hub.opts.retry_delay;
        while received[i] < f.bytes {
            let offset = received[i];
            let len = usize::try_from((f.bytes - offset).min(chunk)).unwrap_or(buf.len());
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut buf[..len]))
                .map_err(|e| io_err(&path, e))?;
            let url = hub.url(&format!(
                "/api/deliveries/packages/{id}/files/{}?offset={offset}",
                f.path
            ));
            let body = buf[..len].to_vec();
            let result = hub
                .http
                .put(&url)
                .bearer_auth(hub.token.as_str())
                .header("content-type", "application/octet-stream")
                .body(body)
                .send();
            let retry = match result {
                Ok(resp)
                    if resp.status() == StatusCode::OK || resp.status() == StatusCode::CONFLICT =>
                {
                    let status = resp.status();
                    let v: Value = resp.json().unwrap_or(Value::Null);
                    let Some(m) = v["received"].as_u64() else {
                        return Err(SendError::Protocol(format!(
                            "{} answer to a chunk without \"received\"",
                            status.as_u16()
                        )));
                    };
                    if status == StatusCode::OK {
                        sent += m.saturating_sub(offset);
                        failures = 0;
                        delay = hub.opts.retry_delay;
                    }
                    received[i] = m.min(f.bytes);
                    hub.progress.uploaded(received.iter().sum());
                    false
                }
                Ok(resp) if transient(resp.status()) => true,
                Ok(resp) => {
                    let status = resp.status();
                    return Err(match Hub::json(resp, &[]) {
                        Err(e) => e,
                        Ok(_) => SendError::Protocol(format!("answer {status} to a chunk")),
                    });
                }
                Err(_) => true,
            };
            if retry {
                failures += 1;
                if failures > hub.opts.retries {
                    return Err(SendError::Transport(format!(
                        "sending {} failed {failures} times",
                        f.path
                    )));
                }
                hub.progress.retrying(&f.path, failures);
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(30));
                // The chunk may have arrived before the connection dropped:
                // ask the hub where it stands.
                match hub.status(id) {
                    Ok(Some(st)) => {
                        for (j, g) in files.iter().enumerate() {
                            received[j] = received_of(&st, &g.path).min(g.bytes);
                        }
                        hub.progress.uploaded(received.iter().sum());
                    }
                    Ok(None) => {
                        return Err(SendError::Hub {
                            status: 404,
                            message: "the hub no longer knows this upload; run the command again to start over".to_owned(),
                        });
                    }
                    Err(SendError::Transport(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    hub.progress.upload_finished();
    Ok(sent)
}

/// Completes the upload; returns the ingestion's id.
fn complete(hub: &Hub<'_>, id: &str, state_path: &Path) -> Result<String, SendError> {
    let url = hub.url(&format!("/api/deliveries/packages/{id}/complete"));
    let resp = match hub.send("complete", &|c| c.post(&url)) {
        Ok(r) => r,
        Err(SendError::Transport(t)) => {
            // Perhaps completed before the connection dropped.
            if let Some(st) = hub.status(id)?
                && let Some(i) = st.ingestion.as_ref().and_then(|i| i["id"].as_str())
            {
                return Ok(i.to_owned());
            }
            return Err(SendError::Transport(t));
        }
        Err(e) => return Err(e),
    };
    match Hub::json(resp, &[StatusCode::ACCEPTED, StatusCode::OK]) {
        Ok((_, v)) => v["ingestion"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SendError::Protocol("no ingestion id in the answer to complete".into())),
        Err(SendError::Hub {
            status: 400,
            message,
        }) => {
            // Sizes or checksums differ: this upload cannot succeed.
            remove_state(state_path);
            Err(SendError::Hub {
                status: 400,
                message,
            })
        }
        Err(e) => Err(e),
    }
}
