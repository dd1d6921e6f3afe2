//! Producer packages: resumable upload, then ingestion as a background job.
//!
//! A package (see `hdh-package`) is uploaded file by file in chunks that a
//! dropped connection does not lose: the bytes received so far are the
//! spooled files' sizes, so a client asks what the hub has and goes on. On
//! completion an ingestion job starts; it
//!
//! 1. **verifies** the manifest's Ed25519 signature against the key the
//!    producer registered, and the SHA-256 of every file against the signed
//!    manifest, before reading a row;
//! 2. **validates** every row of every table against its schema with the same
//!    rules as a CSV delivery, encrypts person identifiers (level-1
//!    pseudonyms) with the hub's level-2 key, and writes the rows to lake
//!    staging (invalid rows to a quarantine file when the dataset's policy is
//!    `quarantine`; otherwise any invalid row rejects the delivery);
//! 3. computes the **quality report** over the staged tables (and compares
//!    with the previous version);
//! 4. **publishes** the version atomically (see
//!    [`crate::service::publish_version`]).
//!
//! Each state change is stored with its audit event; progress (rows done) is
//! kept in memory. A hub killed during an ingestion leaves staging (removed
//! at start-up) and an unfinished job, marked failed at start-up with its
//! upload kept, so the producer can retry it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::record_batch::RecordBatchReader;
use hdh_catalog::DatasetMetadata;
use hdh_catalog::quality::{InvalidRowsPolicy, QualityReport};
use hdh_model::Role;
use hdh_model::schema::{Constraints, FieldType, TableSchema};
use hdh_store::{IngestionRecord, PackageUpload, UploadFile, now};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::service::{Publication, deny, publish_version, safe_id};
use crate::{AppError, AppState};

/// Largest chunk accepted by one `PUT`.
pub const CHUNK_BYTES: u64 = 8 * 1024 * 1024;
/// Most files in one package.
const MAX_FILES: usize = 512;
/// Largest manifest, signature, schema or metadata file (read whole).
const MAX_SMALL: u64 = 16 * 1024 * 1024;
/// Errors reported in detail per table.
const MAX_ERRORS: usize = 1000;

/// Pattern of a level-1 (and level-2) pseudonym.
pub const PSEUDONYM_PATTERN: &str = "^[0-9a-f]{32}$";

/// The schema a delivered table is checked against at the hub: person
/// identifiers must be level-1 pseudonyms (32 lowercase hex characters),
/// whatever length or pattern the producer's schema gives the raw
/// identifier. The published schema says the same of the stored level-2
/// pseudonyms.
pub fn hub_schema(schema: &TableSchema) -> TableSchema {
    let mut s = schema.clone();
    // A single-field foreign key to a reference table the hub knows (a
    // nomenclature) is checked as a code list.
    let references: Vec<(String, String)> = s
        .foreign_keys
        .iter()
        .filter(|k| k.fields.len() == 1 && !k.reference.resource.is_empty())
        .filter(|k| hdh_refdata::get(&k.reference.resource).is_some())
        .map(|k| (k.fields[0].clone(), k.reference.resource.clone()))
        .collect();
    for f in &mut s.fields {
        if f.nomenclature.is_none()
            && let Some((_, table)) = references.iter().find(|(name, _)| *name == f.name)
        {
            f.nomenclature = Some(table.clone());
        }
        if f.is_person_identifier() {
            f.field_type = FieldType::String;
            f.format = None;
            f.nomenclature = None;
            f.constraints = Constraints {
                required: f.constraints.required,
                pattern: Some(PSEUDONYM_PATTERN.to_string()),
                ..Constraints::default()
            };
        }
    }
    s
}

// ---------------------------------------------------------------- jobs state

/// Progress of a running ingestion (in memory only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub table: Option<String>,
    pub rows_done: u64,
    pub rows_total: u64,
}

/// Running jobs' progress and the per-upload write locks.
#[derive(Debug, Default)]
pub struct Jobs {
    progress: Mutex<HashMap<String, Progress>>,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Jobs {
    fn set(&self, id: &str, p: Progress) {
        if let Ok(mut m) = self.progress.lock() {
            m.insert(id.to_string(), p);
        }
    }
    fn update(&self, id: &str, f: impl FnOnce(&mut Progress)) {
        if let Ok(mut m) = self.progress.lock() {
            f(m.entry(id.to_string()).or_default());
        }
    }
    fn get(&self, id: &str) -> Option<Progress> {
        self.progress.lock().ok().and_then(|m| m.get(id).cloned())
    }
    fn clear(&self, id: &str) {
        if let Ok(mut m) = self.progress.lock() {
            m.remove(id);
        }
    }
    fn upload_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.uploads.lock() {
            Ok(mut m) => m.entry(id.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

// ---------------------------------------------------------------- API shapes

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadFileInput {
    /// A plain file name of the package (`manifest.json`, `T.parquet`, …).
    pub path: String,
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateUpload {
    pub dataset_id: String,
    pub files: Vec<UploadFileInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileStatus {
    pub path: String,
    pub bytes: u64,
    pub received: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestionStatus {
    pub id: String,
    pub dataset_id: String,
    /// `queued`, `verifying`, `validating`, `publishing`, `published`,
    /// `rejected` or `failed`.
    pub state: String,
    pub progress: Progress,
    pub version: Option<i64>,
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
    pub error: Option<String>,
    pub upload_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadStatus {
    pub id: String,
    pub dataset_id: String,
    /// `receiving`, `complete` (handed to an ingestion) or `ingested`.
    pub state: String,
    pub chunk_bytes: u64,
    pub files: Vec<FileStatus>,
    pub ingestion: Option<IngestionStatus>,
}

// ---------------------------------------------------------------- helpers

fn uploads_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("uploads")
}

fn upload_dir(state: &AppState, id: &str) -> PathBuf {
    uploads_dir(state).join(id)
}

/// A plain file name: no directory, not hidden, portable characters.
pub fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn status_of(state: &AppState, r: &IngestionRecord) -> IngestionStatus {
    IngestionStatus {
        id: r.id.clone(),
        dataset_id: r.dataset_id.clone(),
        state: r.state.clone(),
        progress: state.jobs.get(&r.id).unwrap_or_default(),
        version: r.version,
        report: r.report.clone(),
        error: r.error.clone(),
        upload_id: r.upload_id.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    }
}

fn received(state: &AppState, id: &str, path: &str) -> u64 {
    std::fs::metadata(upload_dir(state, id).join(path))
        .map(|m| m.len())
        .unwrap_or(0)
}

async fn upload_status(state: &AppState, u: &PackageUpload) -> Result<UploadStatus, AppError> {
    let ingestion = match &u.ingestion_id {
        Some(id) => state
            .store
            .ingestion(id)
            .await?
            .map(|r| status_of(state, &r)),
        None => None,
    };
    Ok(UploadStatus {
        id: u.id.clone(),
        dataset_id: u.dataset_id.clone(),
        state: u.state.clone(),
        chunk_bytes: CHUNK_BYTES,
        files: u
            .files
            .iter()
            .map(|f| FileStatus {
                path: f.path.clone(),
                bytes: f.bytes,
                received: received(state, &u.id, &f.path),
            })
            .collect(),
        ingestion,
    })
}

/// The upload, if the caller may see it (its producer, or an administrator).
async fn visible_upload(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<PackageUpload, AppError> {
    let Some(u) = state.store.upload(id).await? else {
        return Err(AppError::not_found(format!("no upload {id}")));
    };
    if u.owner_id != caller.user.id && !caller.has(Role::Admin) {
        return Err(deny(
            state,
            caller,
            action,
            "package_upload",
            Some(id),
            "this upload belongs to another producer".into(),
        )
        .await);
    }
    Ok(u)
}

// ---------------------------------------------------------------- producer key

/// Registers the Ed25519 public key a producer signs its packages with.
pub async fn register_producer_key(
    state: &AppState,
    caller: &Caller,
    public_key_hex: &str,
) -> Result<(), AppError> {
    if !caller.has(Role::Producer) {
        return Err(deny(
            state,
            caller,
            "producer.key.register",
            "user",
            Some(&caller.user.id),
            "only a producer registers a signing key".into(),
        )
        .await);
    }
    let key = parse_public_key(public_key_hex)
        .map_err(|e| AppError::unprocessable(format!("public_key: {e}")))?;
    let hex_key = hex::encode(key.as_bytes());
    let mut tx = state.store.begin().await?;
    tx.set_producer_key(&caller.user.id, &hex_key).await?;
    tx.audit(
        &caller
            .event("producer.key.register", "user")
            .object(&caller.user.id)
            .details(serde_json::json!({ "public_key": hex_key })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn parse_public_key(text: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| "expected 64 hexadecimal characters (an Ed25519 public key)".to_string())?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("expected 32 bytes, found {}", bytes.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr)
        .map_err(|_| "not a valid Ed25519 public key".to_string())
}

// ---------------------------------------------------------------- upload

/// Starts a resumable upload of a package for `dataset_id`.
pub async fn create_upload(
    state: &AppState,
    caller: &Caller,
    input: &CreateUpload,
) -> Result<UploadStatus, AppError> {
    let dataset_id = input.dataset_id.as_str();
    if !caller.has(Role::Producer) {
        return Err(deny(
            state,
            caller,
            "delivery.upload",
            "dataset",
            Some(dataset_id),
            "only a producer delivers data".into(),
        )
        .await);
    }
    if !safe_id(dataset_id) {
        return Err(AppError::unprocessable(format!(
            "dataset_id {dataset_id:?}: use letters, digits, '-' or '_' (at most 64)"
        )));
    }
    if let Some(d) = state.store.dataset(dataset_id).await?
        && d.owner_id != caller.user.id
    {
        return Err(deny(
            state,
            caller,
            "delivery.upload",
            "dataset",
            Some(dataset_id),
            format!("dataset {dataset_id} belongs to another producer"),
        )
        .await);
    }
    let mut errors = Vec::new();
    if input.files.is_empty() || input.files.len() > MAX_FILES {
        errors.push(format!(
            "files: between 1 and {MAX_FILES} files expected, found {}",
            input.files.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut total: u64 = 0;
    for (i, f) in input.files.iter().enumerate() {
        if !safe_file_name(&f.path) {
            errors.push(format!(
                "files[{i}].path {:?}: a plain file name is expected (letters, digits, '.', '_', '-'; not hidden)",
                f.path.chars().take(80).collect::<String>()
            ));
        } else if !seen.insert(f.path.clone()) {
            errors.push(format!("files[{i}].path {:?}: listed twice", f.path));
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            errors.push(format!(
                "files[{i}].sha256: 64 hexadecimal characters expected"
            ));
        }
        total = total.saturating_add(f.bytes);
    }
    for required in ["manifest.json", "manifest.sig"] {
        if !seen.contains(required) {
            errors.push(format!("files: {required} is missing"));
        }
    }
    if total > state.config.max_upload_bytes as u64 {
        errors.push(format!(
            "files: {total} bytes in all, more than the {} accepted",
            state.config.max_upload_bytes
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::unprocessable(errors.join("; ")));
    }
    let id = format!("up-{}", uuid::Uuid::now_v7().simple());
    let dir = upload_dir(state, &id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
    for f in &input.files {
        std::fs::File::create(dir.join(&f.path))
            .map_err(|e| AppError::internal(format!("cannot create {}: {e}", f.path)))?;
    }
    let u = PackageUpload {
        id: id.clone(),
        dataset_id: dataset_id.to_string(),
        owner_id: caller.user.id.clone(),
        files: input
            .files
            .iter()
            .map(|f| UploadFile {
                path: f.path.clone(),
                bytes: f.bytes,
                sha256: f.sha256.to_ascii_lowercase(),
            })
            .collect(),
        state: "receiving".into(),
        ingestion_id: None,
        created_at: now(),
        updated_at: now(),
    };
    let mut tx = state.store.begin().await?;
    tx.insert_upload(&u).await?;
    tx.audit(
        &caller
            .event("delivery.upload", "package_upload")
            .object(&id)
            .details(serde_json::json!({
                "dataset_id": dataset_id,
                "files": u.files.len(),
                "bytes": total,
            })),
    )
    .await?;
    tx.commit().await?;
    upload_status(state, &u).await
}

pub async fn get_upload(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<UploadStatus, AppError> {
    let u = visible_upload(state, caller, id, "delivery.upload.view").await?;
    upload_status(state, &u).await
}

/// Why a chunk was refused; `Conflict` carries what the hub has.
#[derive(Debug)]
pub enum ChunkError {
    Conflict { received: u64, message: String },
    Other(AppError),
}

impl From<AppError> for ChunkError {
    fn from(e: AppError) -> Self {
        ChunkError::Other(e)
    }
}

/// Appends one chunk at `offset` (which must be what the hub has).
pub async fn put_chunk<S, E>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    path: &str,
    offset: u64,
    mut body: S,
) -> Result<u64, ChunkError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let u = visible_upload(state, caller, id, "delivery.upload.write").await?;
    if u.owner_id != caller.user.id {
        return Err(
            AppError::forbidden("only the producer who started an upload writes to it").into(),
        );
    }
    if u.state != "receiving" {
        return Err(AppError::conflict(format!(
            "upload {id} is {}: it takes no more data",
            u.state
        ))
        .into());
    }
    let Some(f) = u.files.iter().find(|f| f.path == path) else {
        return Err(AppError::not_found(format!("{path} is not a file of upload {id}")).into());
    };
    let lock = state.jobs.upload_lock(id);
    let _guard = lock.lock().await;
    let file_path = upload_dir(state, id).join(path);
    let have = received(state, id, path);
    if offset != have {
        return Err(ChunkError::Conflict {
            received: have,
            message: format!("{path}: the hub has {have} bytes; send from offset {have}"),
        });
    }
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&file_path)
        .await
        .map_err(|e| AppError::internal(format!("{path}: {e}")))?;
    let mut written: u64 = 0;
    let mut failure: Option<AppError> = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(AppError::bad_request(format!(
                    "{path}: body interrupted: {e}"
                )));
                break;
            }
        };
        written += chunk.len() as u64;
        if written > CHUNK_BYTES {
            failure = Some(AppError::bad_request(format!(
                "{path}: a chunk holds at most {CHUNK_BYTES} bytes"
            )));
            break;
        }
        if offset + written > f.bytes {
            failure = Some(AppError::bad_request(format!(
                "{path}: more than the {} bytes announced",
                f.bytes
            )));
            break;
        }
        if let Err(e) = file.write_all(&chunk).await {
            failure = Some(AppError::internal(format!("{path}: {e}")));
            break;
        }
    }
    let synced = file.sync_data().await;
    if let Some(e) = failure {
        // Keep only whole chunks: back to where this one started.
        let _ = file.set_len(offset).await;
        return Err(e.into());
    }
    synced.map_err(|e| AppError::internal(format!("{path}: {e}")))?;
    Ok(offset + written)
}

/// Checks that every file is complete and starts the ingestion job.
pub async fn complete_upload(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<String, AppError> {
    let u = visible_upload(state, caller, id, "delivery.upload.complete").await?;
    if u.owner_id != caller.user.id {
        return Err(AppError::forbidden(
            "only the producer who started an upload completes it",
        ));
    }
    if u.state != "receiving" {
        return match &u.ingestion_id {
            Some(i) => Ok(i.clone()),
            None => Err(AppError::conflict(format!("upload {id} is {}", u.state))),
        };
    }
    let missing: Vec<String> = u
        .files
        .iter()
        .filter_map(|f| {
            let have = received(state, id, &f.path);
            (have != f.bytes).then(|| format!("{}: {have} of {} bytes received", f.path, f.bytes))
        })
        .collect();
    if !missing.is_empty() {
        return Err(AppError::bad_request(format!(
            "the upload is not complete: {}",
            missing.join("; ")
        )));
    }
    start_ingestion(state, caller, &u).await
}

async fn start_ingestion(
    state: &AppState,
    caller: &Caller,
    u: &PackageUpload,
) -> Result<String, AppError> {
    let ingestion_id = format!("in-{}", uuid::Uuid::now_v7().simple());
    let rec = IngestionRecord {
        id: ingestion_id.clone(),
        dataset_id: u.dataset_id.clone(),
        upload_id: Some(u.id.clone()),
        owner_id: caller.user.id.clone(),
        state: "queued".into(),
        report: None,
        version: None,
        error: None,
        created_at: now(),
        updated_at: now(),
    };
    let mut tx = state.store.begin().await?;
    tx.insert_ingestion(&rec).await?;
    tx.set_upload_state(&u.id, "complete", Some(&ingestion_id))
        .await?;
    tx.audit(
        &caller
            .event("delivery.ingest.start", "ingestion")
            .object(&ingestion_id)
            .details(serde_json::json!({ "dataset_id": u.dataset_id, "upload": u.id })),
    )
    .await?;
    tx.commit().await?;
    state.jobs.set(&ingestion_id, Progress::default());
    let st = state.clone();
    let c = caller.clone();
    let upload = u.clone();
    let job_id = ingestion_id.clone();
    tokio::spawn(async move {
        run(&st, &c, &job_id, &upload).await;
    });
    Ok(ingestion_id)
}

/// Starts a failed ingestion again from its upload (kept for that).
pub async fn retry_ingestion(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<String, AppError> {
    let rec = visible_ingestion(state, caller, id).await?;
    if rec.state != "failed" {
        return Err(AppError::conflict(format!(
            "ingestion {id} is {}: only a failed ingestion is retried",
            rec.state
        )));
    }
    let Some(upload_id) = &rec.upload_id else {
        return Err(AppError::conflict(
            "this delivery was not an uploaded package",
        ));
    };
    let Some(u) = state.store.upload(upload_id).await? else {
        return Err(AppError::not_found(format!("upload {upload_id} is gone")));
    };
    if u.owner_id != caller.user.id {
        return Err(AppError::forbidden(
            "only the producer retries its delivery",
        ));
    }
    start_ingestion(state, caller, &u).await
}

async fn visible_ingestion(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<IngestionRecord, AppError> {
    let Some(r) = state.store.ingestion(id).await? else {
        return Err(AppError::not_found(format!("no ingestion {id}")));
    };
    if r.owner_id != caller.user.id && !caller.has(Role::Admin) {
        return Err(deny(
            state,
            caller,
            "delivery.ingest.view",
            "ingestion",
            Some(id),
            "this ingestion belongs to another producer".into(),
        )
        .await);
    }
    Ok(r)
}

pub async fn get_ingestion(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<IngestionStatus, AppError> {
    let r = visible_ingestion(state, caller, id).await?;
    Ok(status_of(state, &r))
}

/// The ingestions of a dataset, newest first (its producer or an
/// administrator).
pub async fn dataset_ingestions(
    state: &AppState,
    caller: &Caller,
    dataset_id: &str,
) -> Result<Vec<IngestionStatus>, AppError> {
    let all = state.store.ingestions_of_dataset(dataset_id).await?;
    Ok(all
        .iter()
        .filter(|r| r.owner_id == caller.user.id || caller.has(Role::Admin))
        .map(|r| status_of(state, r))
        .collect())
}

/// At start-up: jobs that were running when the hub stopped are marked
/// failed (their staging is already gone); their uploads stay for a retry.
pub async fn recover(state: &AppState) -> Result<(), AppError> {
    for r in state.store.unfinished_ingestions().await? {
        let mut tx = state.store.begin().await?;
        let msg =
            "interrupted: the hub stopped during this ingestion; nothing was published. Retry it.";
        tx.set_ingestion_state(&r.id, "failed", None, None, Some(msg))
            .await?;
        let mut ev = hdh_model::AuditEvent::new("delivery.ingest.interrupted", "ingestion")
            .object(&r.id)
            .outcome(hdh_model::Outcome::Failed);
        ev.actor_id = Some("system".into());
        ev.actor_name = Some("system".into());
        ev.role = Some("hub".into());
        tx.audit(&ev).await?;
        tx.commit().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- the job

/// How a job ended, short of an internal failure.
enum Ending {
    Published {
        version: i64,
        report: serde_json::Value,
    },
    Rejected {
        report: serde_json::Value,
    },
}

async fn set_state(
    state: &AppState,
    caller: &Caller,
    id: &str,
    to: &str,
    report: Option<&serde_json::Value>,
    version: Option<i64>,
    error: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = state.store.begin().await?;
    tx.set_ingestion_state(id, to, report, version, error)
        .await?;
    let outcome = match to {
        "rejected" | "failed" => hdh_model::Outcome::Failed,
        _ => hdh_model::Outcome::Success,
    };
    let mut details = serde_json::json!({ "state": to });
    if let Some(v) = version {
        details["version"] = serde_json::json!(v);
    }
    if let Some(e) = error {
        details["error"] = serde_json::json!(e);
    }
    tx.audit(
        &caller
            .event(&format!("delivery.ingest.{to}"), "ingestion")
            .object(id)
            .outcome(outcome)
            .details(details),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn run(state: &AppState, caller: &Caller, id: &str, upload: &PackageUpload) {
    let ending = ingest(state, caller, id, upload).await;
    let recorded = match &ending {
        Ok(Ending::Published { version, report }) => {
            set_state(
                state,
                caller,
                id,
                "published",
                Some(report),
                Some(*version),
                None,
            )
            .await
        }
        Ok(Ending::Rejected { report }) => {
            let msg = report
                .get("errors")
                .and_then(|e| e.as_array())
                .and_then(|e| e.first())
                .and_then(|e| e.as_str())
                .unwrap_or("the delivery was rejected")
                .to_string();
            set_state(
                state,
                caller,
                id,
                "rejected",
                Some(report),
                None,
                Some(&msg),
            )
            .await
        }
        Err(e) => {
            tracing::warn!("ingestion {id} failed: {}", e.message);
            set_state(state, caller, id, "failed", None, None, Some(&e.message)).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!("ingestion {id}: state not recorded: {}", e.message);
    }
    state.jobs.clear(id);
    // A published or rejected package is not needed any more; a failed one
    // is kept for a retry.
    if ending.is_ok() {
        let mut tx = match state.store.begin().await {
            Ok(tx) => tx,
            Err(_) => return,
        };
        if tx
            .set_upload_state(&upload.id, "ingested", Some(id))
            .await
            .is_ok()
            && tx
                .audit(
                    &caller
                        .event("delivery.upload.remove", "package_upload")
                        .object(&upload.id),
                )
                .await
                .is_ok()
            && tx.commit().await.is_ok()
        {
            let _ = std::fs::remove_dir_all(upload_dir(state, &upload.id));
        }
    }
}

fn read_small(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(name);
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("{name}: {e}"))?
        .len();
    if len > MAX_SMALL {
        return Err(format!(
            "{name}: {len} bytes is too large (at most {MAX_SMALL})"
        ));
    }
    std::fs::read(&path).map_err(|e| format!("{name}: {e}"))
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, hex::encode(h.finalize())))
}

fn rejected(errors: Vec<String>) -> Ending {
    Ending::Rejected {
        report: serde_json::json!({ "errors": errors, "tables": [] }),
    }
}

/// One verified table of a package.
struct PackageTable {
    schema: TableSchema,
    data: PathBuf,
    file: String,
    rows: u64,
}

async fn ingest(
    state: &AppState,
    caller: &Caller,
    id: &str,
    upload: &PackageUpload,
) -> Result<Ending, AppError> {
    let dir = upload_dir(state, &upload.id);
    // ---- 1. verify
    set_state(state, caller, id, "verifying", None, None, None).await?;
    let manifest_bytes = match read_small(&dir, "manifest.json") {
        Ok(b) => b,
        Err(e) => return Ok(rejected(vec![e])),
    };
    let manifest = match hdh_package::Manifest::parse(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => return Ok(rejected(vec![format!("manifest.json: {e}")])),
    };
    if manifest.dataset_id != upload.dataset_id {
        return Ok(rejected(vec![format!(
            "manifest.json: the package is for dataset {:?}, the upload for {:?}",
            manifest.dataset_id, upload.dataset_id
        )]));
    }
    let Some(registered) = state.store.producer_key(&upload.owner_id).await? else {
        return Ok(rejected(vec![
            "no signing key is registered for this producer: register its Ed25519 public key (PUT /api/producer/key) before delivering".into(),
        ]));
    };
    if !manifest.producer_key.eq_ignore_ascii_case(&registered) {
        return Ok(rejected(vec![format!(
            "manifest.json: signed for key {}, but the producer's registered key is {registered}",
            manifest.producer_key
        )]));
    }
    let verifying = parse_public_key(&registered).map_err(AppError::internal)?;
    let signature = match read_small(&dir, "manifest.sig") {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(e) => return Ok(rejected(vec![e])),
    };
    if let Err(e) = hdh_package::verify(&manifest_bytes, &signature, &verifying) {
        return Ok(rejected(vec![format!(
            "manifest.sig: the signature does not verify with the producer's key ({e}): the manifest was altered or signed by someone else"
        )]));
    }
    // Every file: listed in the signed manifest, with its size and digest.
    let mut errors = Vec::new();
    let listed: BTreeMap<&str, &hdh_package::ManifestFile> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    for f in &upload.files {
        if f.path != "manifest.json"
            && f.path != "manifest.sig"
            && !listed.contains_key(f.path.as_str())
        {
            errors.push(format!("{}: not listed in the signed manifest", f.path));
        }
    }
    for (path, f) in &listed {
        let p = dir.join(path);
        if !upload.files.iter().any(|u| u.path == *path) || !p.exists() {
            errors.push(format!(
                "{path}: listed in the manifest but missing from the package"
            ));
            continue;
        }
        let p2 = p.clone();
        let digest = tokio::task::spawn_blocking(move || sha256_file(&p2))
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::internal(format!("{path}: {e}")))?;
        if digest.0 != f.bytes || !digest.1.eq_ignore_ascii_case(&f.sha256) {
            errors.push(format!(
                "{path}: its SHA-256 differs from the signed manifest's: the file was altered"
            ));
        }
    }
    if !errors.is_empty() {
        return Ok(rejected(errors));
    }
    // Schemas and metadata.
    let existing = state.store.dataset(&upload.dataset_id).await?;
    let mut metadata: Option<DatasetMetadata> = None;
    if listed.contains_key("dataset.json") {
        match read_small(&dir, "dataset.json").and_then(|b| {
            serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| {
                format!(
                    "dataset.json: line {}, column {}: {e}",
                    e.line(),
                    e.column()
                )
            })
        }) {
            Ok(v) => match DatasetMetadata::from_json_value(&v) {
                Ok(m) => metadata = Some(m),
                Err(e) => errors.push(format!("dataset.json: {e}")),
            },
            Err(e) => errors.push(e),
        }
    }
    let mut tables = Vec::new();
    for t in &manifest.tables {
        let bytes = match read_small(&dir, &t.schema) {
            Ok(b) => b,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match TableSchema::from_json(&bytes) {
            Ok(s) if s.name != t.name => errors.push(format!(
                "{}: the schema is named {:?}, the manifest says {:?}",
                t.schema, s.name, t.name
            )),
            Ok(s) if s.fields.iter().any(|f| f.pseudonymisation.is_some()) => errors.push(format!(
                "{}: a delivered schema must not declare hdh:pseudonymisation (deliver the schema that `hdh producer prepare` writes, where identifiers are already pseudonyms)",
                t.schema
            )),
            Ok(s) => tables.push(PackageTable {
                schema: hub_schema(&s),
                data: dir.join(&t.data),
                file: t.data.clone(),
                rows: t.rows,
            }),
            Err(e) => errors.push(format!("{}: {e}", t.schema)),
        }
    }
    if tables.is_empty() && errors.is_empty() {
        errors.push("the package holds no table".into());
    }
    if !errors.is_empty() {
        return Ok(rejected(errors));
    }
    if existing.is_none() && metadata.is_none() {
        metadata = Some(DatasetMetadata::untitled(
            &upload.dataset_id,
            &caller.user.organisation,
        ));
    }
    let effective_meta = metadata.clone().or_else(|| {
        existing
            .as_ref()
            .and_then(|d| DatasetMetadata::from_json_value(&d.metadata).ok())
    });
    let policy = effective_meta
        .as_ref()
        .map(|m| m.invalid_rows)
        .unwrap_or_default();

    // ---- 2. validate, encrypt, stage
    set_state(state, caller, id, "validating", None, None, None).await?;
    let total: u64 = tables.iter().map(|t| t.rows).sum();
    state.jobs.update(id, |p| p.rows_total = total);
    let key = Arc::new(crate::keys::active_key(state).await?);
    let mut staging = state.lake.begin_staging();
    let staged = stage_tables(state, id, &tables, &key, policy, &mut staging).await;
    let outcomes = match staged {
        Ok(o) => o,
        Err(e) => {
            state.lake.abort(staging).await?;
            return Err(e);
        }
    };
    let invalid_rows: u64 = outcomes.iter().map(|o| o.quarantined).sum();
    let reports: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let mut r = serde_json::to_value(&o.report).unwrap_or_default();
            r["quarantined_rows"] = serde_json::json!(o.quarantined);
            r
        })
        .collect();
    if policy == InvalidRowsPolicy::Reject && invalid_rows > 0 {
        state.lake.abort(staging).await?;
        return Ok(Ending::Rejected {
            report: serde_json::json!({
                "errors": [format!("{invalid_rows} invalid rows: the delivery was rejected (policy: reject). Fix the errors listed per table and deliver again.")],
                "tables": reports,
                "policy": policy.as_str(),
            }),
        });
    }

    // ---- 3. quality
    let schemas: Vec<TableSchema> = tables.iter().map(|t| t.schema.clone()).collect();
    let quality = quality_report(
        state,
        &upload.dataset_id,
        &schemas,
        &staging,
        effective_meta.as_ref(),
    )
    .await
    .map(|mut q| {
        for o in &outcomes {
            if let Some(t) = q.tables.iter_mut().find(|t| t.table == o.report.table) {
                t.quarantined_rows = o.quarantined;
                for (name, n) in &o.invalid {
                    if let Some(c) = t.columns.iter_mut().find(|c| &c.name == name) {
                        c.invalid = *n;
                    }
                }
            }
        }
        q.summarise();
        q
    });
    if policy == InvalidRowsPolicy::Reject
        && let Some(q) = &quality
    {
        let orphans: Vec<String> = q
            .references
            .iter()
            .filter(|r| r.orphans > 0)
            .map(|r| {
                format!(
                    "{}.{} → {}: {} rows reference no row of {}",
                    r.table,
                    r.fields.join("+"),
                    r.references_table,
                    r.orphans,
                    r.references_table
                )
            })
            .collect();
        if !orphans.is_empty() {
            state.lake.abort(staging).await?;
            return Ok(Ending::Rejected {
                report: serde_json::json!({
                    "errors": orphans,
                    "tables": reports,
                    "quality": q,
                    "policy": policy.as_str(),
                }),
            });
        }
    }

    // ---- 4. publish
    set_state(state, caller, id, "publishing", None, None, None).await?;
    let quality_json = quality
        .as_ref()
        .map(|q| serde_json::to_value(q).unwrap_or_default());
    let (version, _) = publish_version(
        state,
        caller,
        staging,
        Publication {
            dataset_id: &upload.dataset_id,
            existing: existing.as_ref(),
            metadata,
            schemas,
            key_id: key.id().to_string(),
            quality: quality_json.clone(),
            details: serde_json::json!({
                "source": "package",
                "ingestion": id,
                "producer_key": manifest.producer_key,
                "level1_key": manifest.level1_key_id,
                "quarantined_rows": invalid_rows,
            }),
        },
    )
    .await?;
    Ok(Ending::Published {
        version,
        report: serde_json::json!({
            "errors": [],
            "tables": reports,
            "quality": quality_json,
            "policy": policy.as_str(),
        }),
    })
}

/// The outcome of staging one table.
struct Staged {
    report: hdh_ingest::TableReport,
    quarantined: u64,
    invalid: Vec<(String, u64)>,
}

/// What the reading thread hands to the writer.
enum Piece {
    Valid(RecordBatch),
    Quarantined(RecordBatch),
}

async fn stage_tables(
    state: &AppState,
    id: &str,
    tables: &[PackageTable],
    key: &Arc<hdh_pseudo::level2::Level2Key>,
    policy: InvalidRowsPolicy,
    staging: &mut hdh_lake::Staging,
) -> Result<Vec<Staged>, AppError> {
    let mut out = Vec::new();
    for t in tables {
        state
            .jobs
            .update(id, |p| p.table = Some(t.schema.name.clone()));
        let arrow: SchemaRef = Arc::new(hdh_ingest::arrow_schema(&t.schema));
        let quarantine_schema: SchemaRef = Arc::new(Schema::new_with_metadata(
            arrow
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
            arrow.metadata().clone(),
        ));
        let mut writer = state
            .lake
            .table_writer(staging, &t.schema.name, arrow.clone())?;
        let mut qwriter = None;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(4);
        let schema = t.schema.clone();
        let path = t.data.clone();
        let file = t.file.clone();
        let expected_rows = t.rows;
        let key = key.clone();
        let jobs_state = state.clone();
        let job = id.to_string();
        let person: Vec<String> = schema
            .person_fields()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let keep_invalid = policy == InvalidRowsPolicy::Quarantine;
        let qschema = quarantine_schema.clone();
        let handle = tokio::task::spawn_blocking(move || -> Result<Staged, String> {
            let f = std::fs::File::open(&path).map_err(|e| format!("{file}: {e}"))?;
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(|e| format!("{file}: not a readable Parquet file: {e}"))?
                .with_batch_size(65_536)
                .build()
                .map_err(|e| format!("{file}: {e}"))?;
            let mut validator = hdh_ingest::BatchValidator::new(&schema, &file, MAX_ERRORS)
                .map_err(|e| e.to_string())?;
            if let Err(reason) = validator.check_arrow_schema(&reader.schema()) {
                return Err(format!("{file}: {reason}"));
            }
            let mut quarantined = 0u64;
            for batch in reader {
                let batch = batch.map_err(|e| format!("{file}: {e}"))?;
                let verdicts = validator
                    .validate(&batch, &crate::service::NomenclatureCodes)
                    .map_err(|e| e.to_string())?;
                let bad = verdicts.iter().filter(|v| !**v).count();
                quarantined += bad as u64;
                let rows = batch.num_rows() as u64;
                jobs_state.jobs.update(&job, |p| p.rows_done += rows);
                if bad > 0 && !keep_invalid {
                    // Rejected: keep validating to report every error, write nothing.
                    continue;
                }
                let good = datafusion::arrow::array::BooleanArray::from(verdicts);
                let valid = datafusion::arrow::compute::filter_record_batch(&batch, &good)
                    .map_err(|e| e.to_string())?;
                let valid =
                    RecordBatch::try_new(arrow_schema_of(&schema), valid.columns().to_vec())
                        .map_err(|e| format!("{file}: {e}"))?;
                let valid = hdh_workspace::pseudonyms::encrypt_level1(&valid, &person, &key)
                    .map_err(|e| format!("{file}: {e}"))?;
                if valid.num_rows() > 0 && tx.blocking_send(Piece::Valid(valid)).is_err() {
                    return Err("the writer stopped".into());
                }
                if bad > 0 {
                    let not = datafusion::arrow::compute::not(&good).map_err(|e| e.to_string())?;
                    let invalid = datafusion::arrow::compute::filter_record_batch(&batch, &not)
                        .map_err(|e| e.to_string())?;
                    let invalid = RecordBatch::try_new(qschema.clone(), invalid.columns().to_vec())
                        .map_err(|e| format!("{file}: {e}"))?;
                    let invalid =
                        hdh_workspace::pseudonyms::encrypt_level1_or_null(&invalid, &person, &key)
                            .map_err(|e| format!("{file}: {e}"))?;
                    if tx.blocking_send(Piece::Quarantined(invalid)).is_err() {
                        return Err("the writer stopped".into());
                    }
                }
            }
            let invalid = validator.invalid_counts();
            let report = validator.finish();
            if report.rows != expected_rows {
                return Err(format!(
                    "{file}: {} rows, but the signed manifest says {expected_rows}",
                    report.rows
                ));
            }
            Ok(Staged {
                report,
                quarantined,
                invalid,
            })
        });
        let mut write_error = None;
        while let Some(piece) = rx.recv().await {
            let r = match piece {
                Piece::Valid(b) => writer.write(&b).await,
                Piece::Quarantined(b) => {
                    if qwriter.is_none() {
                        match state.lake.table_writer(
                            staging,
                            &format!("{}.quarantine", t.schema.name),
                            quarantine_schema.clone(),
                        ) {
                            Ok(w) => qwriter = Some(w),
                            Err(e) => {
                                write_error = Some(AppError::from(e));
                                break;
                            }
                        }
                    }
                    match qwriter.as_mut() {
                        Some(w) => w.write(&b).await,
                        None => Ok(()),
                    }
                }
            };
            if let Err(e) = r {
                write_error = Some(e.into());
                break;
            }
        }
        drop(rx);
        let staged = handle
            .await
            .map_err(|e| AppError::internal(e.to_string()))?;
        if let Some(e) = write_error {
            return Err(e);
        }
        let staged = staged.map_err(AppError::unprocessable)?;
        state.lake.finish_table(staging, writer).await?;
        if let Some(w) = qwriter {
            state.lake.finish_table(staging, w).await?;
        }
        out.push(staged);
    }
    Ok(out)
}

fn arrow_schema_of(schema: &TableSchema) -> SchemaRef {
    Arc::new(hdh_ingest::arrow_schema(schema))
}

/// The quality report of staged tables (compared with the dataset's latest
/// published version). `None` when it cannot be computed (logged): quality
/// is reported, it does not block a delivery.
pub(crate) async fn quality_report(
    state: &AppState,
    dataset_id: &str,
    schemas: &[TableSchema],
    staging: &hdh_lake::Staging,
    metadata: Option<&DatasetMetadata>,
) -> Option<QualityReport> {
    let tables: Vec<(TableSchema, String)> = schemas
        .iter()
        .filter_map(|s| {
            staging
                .files()
                .iter()
                .find(|f| f.table == s.name)
                .map(|f| (s.clone(), f.path.clone()))
        })
        .collect();
    let previous = match state.store.latest_version(dataset_id).await {
        Ok(Some(v)) => match state.store.tables(dataset_id, v.version).await {
            Ok(ts) => Some((
                v.version,
                ts.into_iter()
                    .map(|t| (t.schema, t.object_path))
                    .collect::<Vec<_>>(),
            )),
            Err(_) => None,
        },
        _ => None,
    };
    let rules = metadata
        .map(|m| m.quality_rules.clone())
        .unwrap_or_default();
    let r = hdh_workspace::quality::quality_report(
        &state.lake,
        dataset_id,
        0,
        &tables,
        previous.as_ref().map(|(v, t)| (*v, t.as_slice())),
        &rules,
        state.config.release_threshold,
        &state.config.workspace_limits,
    )
    .await;
    match r {
        Ok(mut q) => {
            q.summarise();
            Some(q)
        }
        Err(e) => {
            tracing::warn!("quality report of {dataset_id} not computed: {e}");
            None
        }
    }
}

/// [`quality_report`] as JSON, for the CSV delivery path.
pub(crate) async fn quality_of(
    state: &AppState,
    dataset_id: &str,
    schemas: &[TableSchema],
    staging: &hdh_lake::Staging,
    metadata: Option<&DatasetMetadata>,
) -> Option<serde_json::Value> {
    quality_report(state, dataset_id, schemas, staging, metadata)
        .await
        .map(|q| serde_json::to_value(q).unwrap_or_default())
}
