//! The hub's operations, shared by the pages and the API. Each one checks the
//! caller's role and relation to the object on the server, and writes its
//! audit event in the same transaction as the change it makes (refusals are
//! audited too).

use crate::auth::Caller;
use crate::{AppError, AppState};
use hdh_model::schema::TableSchema;
use hdh_model::{AccessRequestState, Outcome, RequestAction, RequestDetails, Role};
use hdh_store::{
    AccessRequest, Dataset, DatasetTable, DatasetVersion, ExtractionTable, Project, RequestEvent,
    ScopeItem, now,
};

use serde::{Deserialize, Serialize};

/// Refuses an action: audits the refusal, then returns the error.
pub async fn deny(
    state: &AppState,
    caller: &Caller,
    action: &str,
    object_type: &str,
    object_id: Option<&str>,
    message: String,
) -> AppError {
    let mut ev = caller
        .event(action, object_type)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "reason": message }));
    ev.object_id = object_id.map(str::to_string);
    audit_denial(state, ev, message).await
}

/// Refuses an action on a project (the event carries the project).
pub(crate) async fn deny_in_project(
    state: &AppState,
    caller: &Caller,
    action: &str,
    project_id: &str,
    message: String,
) -> AppError {
    let ev = caller
        .event(action, "project")
        .object(project_id)
        .project(project_id)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "reason": message }));
    audit_denial(state, ev, message).await
}

async fn audit_denial(state: &AppState, ev: hdh_model::AuditEvent, message: String) -> AppError {
    if let Err(e) = state.store.audit(&ev).await {
        return e.into();
    }
    AppError::forbidden(message)
}

async fn require(
    state: &AppState,
    caller: &Caller,
    role: Role,
    action: &str,
    object_type: &str,
    object_id: Option<&str>,
) -> Result<(), AppError> {
    if caller.has(role) {
        Ok(())
    } else {
        Err(deny(
            state,
            caller,
            action,
            object_type,
            object_id,
            format!("this action needs the {role} role"),
        )
        .await)
    }
}

// ---------------------------------------------------------------- delivery

/// The hub's nomenclatures, as code lists for validation.
pub struct NomenclatureCodes;

impl hdh_ingest::NomenclatureLookup for NomenclatureCodes {
    fn contains(&self, nomenclature: &str, code: &str) -> Option<bool> {
        hdh_refdata::get(nomenclature).map(|n| n.contains(code))
    }
}

/// A file of a delivery: `T.csv` + `T.schema.json` per table, and optionally
/// `dataset.json` (catalogue metadata). Uploads are spooled to disk, so a
/// delivery of any size is read with bounded memory.
pub struct DeliveryFile {
    pub name: String,
    pub path: std::path::PathBuf,
}

/// A directory of uploaded files, removed when dropped.
pub struct Upload {
    pub dir: std::path::PathBuf,
    pub files: Vec<DeliveryFile>,
}

impl Upload {
    /// A fresh directory under `<data-dir>/tmp`.
    pub fn new(state: &AppState) -> Result<Upload, AppError> {
        let dir = state
            .config
            .data_dir
            .join("tmp")
            .join(format!("upload-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
        Ok(Upload {
            dir,
            files: Vec::new(),
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Largest schema or metadata file accepted (they are read whole).
const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

fn read_small(f: &DeliveryFile) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(&f.path)
        .map_err(|e| format!("{}: {e}", f.name))?
        .len();
    if len > MAX_JSON_BYTES {
        return Err(format!(
            "{}: {len} bytes is too large for a JSON description (at most {MAX_JSON_BYTES})",
            f.name
        ));
    }
    std::fs::read(&f.path).map_err(|e| format!("{}: {e}", f.name))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub dataset_id: String,
    pub accepted: bool,
    pub version: Option<i64>,
    pub tables: Vec<hdh_ingest::TableReport>,
    pub errors: Vec<String>,
}

/// A dataset id: letters, digits, '-' or '_', at most 64.
pub(crate) fn safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Validates a delivery and publishes it as the dataset's next immutable
/// version, or rejects all of it with a report.
pub async fn deliver(
    state: &AppState,
    caller: &Caller,
    dataset_id: &str,
    files: &[DeliveryFile],
) -> Result<DeliveryReport, AppError> {
    require(
        state,
        caller,
        Role::Producer,
        "delivery.create",
        "dataset",
        Some(dataset_id),
    )
    .await?;
    if !safe_id(dataset_id) {
        return Err(AppError::unprocessable(format!(
            "dataset id {dataset_id:?}: use letters, digits, '-' or '_' (at most 64)"
        )));
    }
    let existing = state.store.dataset(dataset_id).await?;
    if let Some(d) = &existing
        && d.owner_id != caller.user.id
    {
        return Err(deny(
            state,
            caller,
            "delivery.create",
            "dataset",
            Some(dataset_id),
            format!("dataset {dataset_id} belongs to another producer"),
        )
        .await);
    }
    let reject = |errors: Vec<String>, tables: Vec<hdh_ingest::TableReport>| DeliveryReport {
        dataset_id: dataset_id.to_string(),
        accepted: false,
        version: None,
        tables,
        errors,
    };
    // Pair the files.
    let mut metadata: Option<hdh_catalog::DatasetMetadata> = None;
    let mut schemas: Vec<(String, TableSchema)> = Vec::new();
    let mut csvs: std::collections::BTreeMap<String, (String, std::path::PathBuf)> =
        Default::default();
    let mut errors = Vec::new();
    for f in files {
        let base = f
            .name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&f.name)
            .to_string();
        if base == "dataset.json" {
            let bytes = match read_small(f) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) => match hdh_catalog::DatasetMetadata::from_json_value(&v) {
                    Ok(m) => metadata = Some(m),
                    Err(e) => errors.push(format!("{base}: {e}")),
                },
                Err(e) => errors.push(format!(
                    "{base}: line {}, column {}: {e}",
                    e.line(),
                    e.column()
                )),
            }
        } else if let Some(table) = base.strip_suffix(".schema.json") {
            let bytes = match read_small(f) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match TableSchema::from_json(&bytes) {
                Ok(s) if s.name == table => schemas.push((base.clone(), s)),
                Ok(s) => errors.push(format!(
                    "{base}: the schema is named {:?}, the file {table:?}",
                    s.name
                )),
                Err(e) => errors.push(format!("{base}: {e}")),
            }
        } else if let Some(table) = base.strip_suffix(".csv") {
            csvs.insert(table.to_string(), (base.clone(), f.path.clone()));
        } else {
            errors.push(format!("{base}: unexpected file (send T.csv with T.schema.json, and optionally dataset.json)"));
        }
    }
    for (file, s) in &schemas {
        if !csvs.contains_key(&s.name) {
            errors.push(format!("{file}: no data file {}.csv", s.name));
        }
    }
    for (t, (file, _)) in &csvs {
        if !schemas.iter().any(|(_, s)| &s.name == t) {
            errors.push(format!("{file}: no schema file {t}.schema.json"));
        }
    }
    if schemas.is_empty() && errors.is_empty() {
        errors.push("the delivery holds no table".to_string());
    }
    if existing.is_none() && metadata.is_none() && errors.is_empty() {
        // A new dataset gets a minimal description that the producer can edit later.
        metadata = Some(hdh_catalog::DatasetMetadata::untitled(
            dataset_id,
            &caller.user.organisation,
        ));
    }
    if !errors.is_empty() {
        let rep = reject(errors, vec![]);
        audit_rejection(state, caller, dataset_id, &rep).await?;
        return Ok(rep);
    }

    // Person identifiers arrive as level-1 pseudonyms and are encrypted with
    // the hub's level-2 key before anything is written.
    let key = std::sync::Arc::new(crate::keys::active_key(state).await?);
    let schemas: Vec<(String, TableSchema)> = schemas
        .into_iter()
        .map(|(f, s)| (f, crate::ingestion::hub_schema(&s)))
        .collect();
    let existing_meta = existing
        .as_ref()
        .and_then(|d| hdh_catalog::DatasetMetadata::from_json_value(&d.metadata).ok());
    // Validate and convert every table into staging.
    let mut staging = state.lake.begin_staging();
    let mut reports = Vec::new();
    let mut failed = false;
    for (_, schema) in &schemas {
        let Some((file, path)) = csvs.remove(&schema.name) else {
            continue;
        };
        let arrow_schema = std::sync::Arc::new(hdh_ingest::arrow_schema(schema));
        let mut writer = state
            .lake
            .table_writer(&staging, &schema.name, arrow_schema)?;
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<datafusion::arrow::record_batch::RecordBatch>(4);
        let schema2 = schema.clone();
        let file2 = file.clone();
        let key2 = key.clone();
        let person: Vec<String> = schema
            .person_fields()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let handle = tokio::task::spawn_blocking(move || {
            let opts = hdh_ingest::IngestOptions::default();
            let input = std::fs::File::open(&path).map_err(|e| {
                hdh_ingest::IngestError::Sink(format!("cannot open the upload: {e}").into())
            })?;
            hdh_ingest::ingest_csv(
                &schema2,
                &file2,
                std::io::BufReader::with_capacity(1 << 20, input),
                &NomenclatureCodes,
                &opts,
                &mut |b| {
                    let b = if person.is_empty() {
                        b
                    } else {
                        hdh_workspace::pseudonyms::encrypt_level1(&b, &person, &key2)
                            .map_err(|e| hdh_ingest::IngestError::Sink(Box::new(e)))?
                    };
                    tx.blocking_send(b)
                        .map_err(|_| hdh_ingest::IngestError::Sink("the writer stopped".into()))
                },
            )
        });
        let mut write_error = None;
        while let Some(b) = rx.recv().await {
            if let Err(e) = writer.write(&b).await {
                write_error = Some(e);
                break;
            }
        }
        drop(rx);
        if let Some(e) = write_error {
            let _ = handle.await;
            state.lake.abort(staging).await?;
            return Err(e.into());
        }
        let report = handle
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::unprocessable(format!("{file}: {e}")));
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                state.lake.abort(staging).await?;
                let rep = reject(vec![e.message], reports);
                audit_rejection(state, caller, dataset_id, &rep).await?;
                return Ok(rep);
            }
        };
        if let Err(e) = state.lake.finish_table(&mut staging, writer).await {
            state.lake.abort(staging).await?;
            return Err(e.into());
        }
        failed |= report.error_count > 0;
        reports.push(report);
    }
    if failed {
        state.lake.abort(staging).await?;
        let rep = reject(
            vec![
                "the delivery was rejected: fix the errors listed per table and deliver again"
                    .into(),
            ],
            reports,
        );
        audit_rejection(state, caller, dataset_id, &rep).await?;
        return Ok(rep);
    }

    let quality = crate::ingestion::quality_of(
        state,
        dataset_id,
        &schemas.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        &staging,
        metadata.as_ref().or(existing_meta.as_ref()),
    )
    .await;
    let published = publish_version(
        state,
        caller,
        staging,
        Publication {
            dataset_id,
            existing: existing.as_ref(),
            metadata,
            schemas: schemas.into_iter().map(|(_, s)| s).collect(),
            key_id: key.id().to_string(),
            quality,
            details: serde_json::json!({ "source": "csv" }),
        },
    )
    .await?;
    Ok(DeliveryReport {
        dataset_id: dataset_id.to_string(),
        accepted: true,
        version: Some(published.0),
        tables: reports,
        errors: vec![],
    })
}

/// What [`publish_version`] publishes.
pub(crate) struct Publication<'a> {
    pub dataset_id: &'a str,
    pub existing: Option<&'a Dataset>,
    /// New catalogue metadata (`dataset.json`), if delivered.
    pub metadata: Option<hdh_catalog::DatasetMetadata>,
    pub schemas: Vec<TableSchema>,
    /// The level-2 key the person identifiers are encrypted with.
    pub key_id: String,
    pub quality: Option<serde_json::Value>,
    /// Added to the audit event (source, ingestion id, …).
    pub details: serde_json::Value,
}

/// Publishes staged tables as the dataset's next version: files first,
/// manifest last, then the catalogue entry, the version and its audit event
/// in one transaction (until it commits, no reader sees the version; a crash
/// before leaves only unreferenced files). Statistics and the search index
/// follow. Returns the version number and its tables.
pub(crate) async fn publish_version(
    state: &AppState,
    caller: &Caller,
    staging: hdh_lake::Staging,
    p: Publication<'_>,
) -> Result<(i64, Vec<DatasetTable>), AppError> {
    let dataset_id = p.dataset_id;
    let mut tx = state.store.begin().await?;
    let version = tx.next_version(dataset_id).await?;
    let dest = format!("datasets/{dataset_id}/v{version}");
    let manifest = hdh_lake::Manifest {
        kind: "dataset".into(),
        id: dataset_id.to_string(),
        version,
        created_at: now(),
        files: vec![],
        metadata: serde_json::json!({
            "tables": p.schemas.iter().map(|s| serde_json::from_str::<serde_json::Value>(&s.to_json()).unwrap_or_default()).collect::<Vec<_>>(),
            "level2_key": p.key_id,
        }),
    };
    let manifest = state.lake.publish(staging, &dest, manifest).await?;
    let product = p
        .metadata
        .as_ref()
        .and_then(|m| m.product.clone())
        .or_else(|| {
            p.existing
                .and_then(|d| hdh_catalog::DatasetMetadata::from_json_value(&d.metadata).ok())
                .and_then(|m| m.product)
        })
        .unwrap_or_default();
    if let Some(meta) = &p.metadata {
        let d = Dataset {
            id: dataset_id.to_string(),
            title_fr: meta.title.get("fr").to_string(),
            title_en: meta.title.get("en").to_string(),
            description_fr: meta.description.get("fr").to_string(),
            description_en: meta.description.get("en").to_string(),
            producer_name: Some(meta.producer_name())
                .filter(|p| !p.is_empty())
                .unwrap_or(&caller.user.organisation)
                .to_string(),
            owner_id: caller.user.id.clone(),
            metadata: meta.to_json_value(),
            created_at: p.existing.map(|d| d.created_at.clone()).unwrap_or_else(now),
        };
        tx.upsert_dataset(&d).await?;
    }
    let tables: Vec<DatasetTable> = p
        .schemas
        .iter()
        .map(|s| {
            let f = manifest.files.iter().find(|f| f.table == s.name);
            DatasetTable {
                dataset_id: dataset_id.to_string(),
                version,
                table_name: s.name.clone(),
                description: s
                    .title
                    .clone()
                    .or(s.description.clone())
                    .unwrap_or_default(),
                schema: s.clone(),
                row_count: f.map(|f| f.rows as i64).unwrap_or(0),
                object_path: f.map(|f| f.path.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let v = DatasetVersion {
        dataset_id: dataset_id.to_string(),
        version,
        delivered_by: caller.user.id.clone(),
        published_at: now(),
        manifest_path: format!("{dest}/manifest.json"),
        row_count: tables.iter().map(|t| t.row_count).sum(),
        key_id: p.key_id.clone(),
    };
    tx.insert_version(&v, &tables).await?;
    if let Some(q) = &p.quality {
        let mut q = q.clone();
        q["version"] = serde_json::json!(version);
        tx.save_quality(dataset_id, version, &q).await?;
    }
    // The catalogue describes the latest delivery's tables, with statistics
    // computed from the data just published.
    tx.replace_catalog_tables(
        dataset_id,
        "delivery",
        &crate::catalog::delivered_tables(dataset_id, &product, &p.schemas),
    )
    .await?;
    tx.touch_dataset(dataset_id, "delivery").await?;
    tx.bump_catalog_generation().await?;
    let mut details = serde_json::json!({
        "tables": tables.iter().map(|t| (t.table_name.clone(), t.row_count)).collect::<Vec<_>>(),
        "files": manifest.files.iter().map(|f| (&f.path, &f.sha256)).collect::<Vec<_>>(),
        "level2_key": p.key_id,
    });
    if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), p.details) {
        d.extend(extra);
    }
    tx.audit(
        &caller
            .event("delivery.publish", "dataset_version")
            .object(format!("{dataset_id}/v{version}"))
            .details(details),
    )
    .await?;
    tx.commit().await?;
    // Statistics are computed from the published files outside the publish
    // transaction (so no store write waits on the engine), then recorded
    // with their own audit event.
    let profiled: Vec<(TableSchema, String)> = tables
        .iter()
        .map(|t| (t.schema.clone(), t.object_path.clone()))
        .collect();
    if let Err(e) = record_statistics(state, caller, dataset_id, version, &profiled).await {
        tracing::warn!("statistics of {dataset_id} v{version} not computed: {e}");
    }
    if let Err(e) = crate::catalog::reindex_dataset(state, dataset_id).await {
        // The index is derived: the next sync rebuilds it from the store.
        tracing::warn!("search index not updated for {dataset_id}: {e}");
    }
    Ok((version, tables))
}

async fn record_statistics(
    state: &AppState,
    caller: &Caller,
    dataset_id: &str,
    version: i64,
    tables: &[(TableSchema, String)],
) -> Result<(), AppError> {
    let stats = crate::catalog::compute_statistics(state, version, tables).await?;
    let mut tx = state.store.begin().await?;
    tx.save_statistics(
        dataset_id,
        version,
        &serde_json::to_value(&stats).unwrap_or_default(),
    )
    .await?;
    tx.bump_catalog_generation().await?;
    tx.audit(
        &caller
            .event("catalog.statistics", "dataset_version")
            .object(format!("{dataset_id}/v{version}"))
            .details(serde_json::json!({
                "records": stats.records,
                "individuals": stats.individuals,
                "threshold": stats.threshold,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_rejection(
    state: &AppState,
    caller: &Caller,
    dataset_id: &str,
    rep: &DeliveryReport,
) -> Result<(), AppError> {
    let errors: u64 =
        rep.tables.iter().map(|t| t.error_count).sum::<u64>() + rep.errors.len() as u64;
    state
        .store
        .audit(
            &caller
                .event("delivery.reject", "dataset")
                .object(dataset_id)
                .outcome(Outcome::Failed)
                .details(serde_json::json!({ "errors": errors })),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- access requests

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestInput {
    pub title: String,
    pub purpose: String,
    pub public_interest: String,
    /// Tables and exact columns needed.
    #[schema(value_type = Vec<crate::api::ScopeItemDoc>)]
    pub scope: Vec<ScopeItem>,
    /// ISO date (YYYY-MM-DD).
    pub period_start: String,
    pub period_end: String,
    pub duration_months: i64,
    /// The rest of the form: summary_public, organisation, team (name, role,
    /// organisation, username), population, linkage, methodology,
    /// expected_results, funding, conflicts_of_interest, changes (amendments).
    /// Required before submission, not while drafting.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: RequestDetails,
    /// A configured legal route (default: `standard`).
    #[serde(default)]
    pub route: Option<String>,
}

impl RequestInput {
    /// The form as it stands in a stored request.
    pub fn of(r: &AccessRequest) -> RequestInput {
        RequestInput {
            title: r.title.clone(),
            purpose: r.purpose.clone(),
            public_interest: r.public_interest.clone(),
            scope: r.scope.clone(),
            period_start: r.period_start.clone(),
            period_end: r.period_end.clone(),
            duration_months: r.duration_months,
            details: r.details.clone(),
            route: Some(r.route.clone()),
        }
    }
}

/// A request by id, or 404.
pub(crate) async fn request_or_404(state: &AppState, id: &str) -> Result<AccessRequest, AppError> {
    state
        .store
        .request(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("access request {id}")))
}

/// Validation errors of a request form, per field.
fn validate_request(state: &AppState, input: &RequestInput) -> Vec<(String, String)> {
    let mut e = Vec::new();
    if input.title.trim().chars().count() < 5 {
        e.push((
            "title".into(),
            "give a title of at least 5 characters".into(),
        ));
    }
    if input.purpose.trim().is_empty() {
        e.push(("purpose".into(), "state the purpose of the project".into()));
    }
    if input.public_interest.trim().is_empty() {
        e.push((
            "public_interest".into(),
            "justify the public interest".into(),
        ));
    }
    let d1 = chrono::NaiveDate::parse_from_str(&input.period_start, "%Y-%m-%d");
    let d2 = chrono::NaiveDate::parse_from_str(&input.period_end, "%Y-%m-%d");
    if d1.is_err() {
        e.push((
            "period_start".into(),
            format!("not a date (YYYY-MM-DD): {:?}", input.period_start),
        ));
    }
    if d2.is_err() {
        e.push((
            "period_end".into(),
            format!("not a date (YYYY-MM-DD): {:?}", input.period_end),
        ));
    }
    if let (Ok(a), Ok(b)) = (d1, d2)
        && a > b
    {
        e.push((
            "period_end".into(),
            "the period ends before it starts".into(),
        ));
    }
    if !(1..=120).contains(&input.duration_months) {
        e.push(("duration_months".into(), "between 1 and 120 months".into()));
    }
    if input.scope.is_empty() || input.scope.iter().all(|s| s.columns.is_empty()) {
        e.push((
            "scope".into(),
            "choose at least one column of one table".into(),
        ));
    }
    if let Some(route) = &input.route
        && !state.config.routes.iter().any(|r| &r.name == route)
    {
        e.push((
            "route".into(),
            format!(
                "unknown legal route {route:?} (this hub's routes: {})",
                state
                    .config
                    .routes
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for (i, m) in input.details.team.iter().enumerate() {
        if m.name.trim().is_empty() && !m.role.trim().is_empty() {
            e.push(("team".into(), format!("team member {}: give a name", i + 1)));
        }
    }
    e
}

/// Checks a scope against the catalogue and pins each item to a dataset
/// version (the latest unless one is named). Returns the field errors and the
/// pinned scope.
async fn check_scope(
    state: &AppState,
    scope: &[ScopeItem],
) -> Result<(Vec<(String, String)>, Vec<ScopeItem>), AppError> {
    let mut e = Vec::new();
    let mut pinned = Vec::new();
    for item in scope {
        let versions = state.store.versions(&item.dataset_id).await?;
        let v = match item.version {
            None => versions.first(),
            Some(n) => versions.iter().find(|v| v.version == n),
        };
        let Some(v) = v else {
            e.push((
                "scope".into(),
                match item.version {
                    Some(n) => format!("dataset {:?} has no version {n}", item.dataset_id),
                    None => format!("unknown dataset {:?}", item.dataset_id),
                },
            ));
            continue;
        };
        let tables = state.store.tables(&item.dataset_id, v.version).await?;
        let Some(t) = tables.iter().find(|t| t.table_name == item.table) else {
            e.push((
                "scope".into(),
                format!(
                    "dataset {} v{} has no table {:?}",
                    item.dataset_id, v.version, item.table
                ),
            ));
            continue;
        };
        for c in &item.columns {
            if t.schema.field(c).is_none() {
                e.push((
                    "scope".into(),
                    format!("table {} has no column {c:?}", item.table),
                ));
            }
        }
        pinned.push(ScopeItem {
            version: Some(v.version),
            ..item.clone()
        });
    }
    Ok((e, pinned))
}

pub(crate) fn invalid_fields(errors: Vec<(String, String)>) -> AppError {
    let msg = errors
        .iter()
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    AppError::unprocessable(msg).with_details(serde_json::json!({
        "fields": errors.iter().map(|(f, m)| serde_json::json!({ "field": f, "message": m })).collect::<Vec<_>>()
    }))
}

fn normalise_scope(scope: Vec<ScopeItem>) -> Vec<ScopeItem> {
    let mut out: Vec<ScopeItem> = Vec::new();
    for mut s in scope.into_iter().filter(|s| !s.columns.is_empty()) {
        s.columns.dedup();
        match out
            .iter_mut()
            .find(|o| o.dataset_id == s.dataset_id && o.table == s.table)
        {
            Some(o) => {
                for c in s.columns {
                    if !o.columns.contains(&c) {
                        o.columns.push(c);
                    }
                }
            }
            None => out.push(s),
        }
    }
    out
}

fn trim_details(mut d: RequestDetails) -> RequestDetails {
    d.team.retain(|m| {
        !(m.name.trim().is_empty() && m.role.trim().is_empty() && m.organisation.trim().is_empty())
    });
    for m in &mut d.team {
        m.username = m
            .username
            .take()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
    }
    d
}

/// Checks a form and pins its scope: the field errors, and the cleaned input.
async fn check_input(
    state: &AppState,
    input: RequestInput,
) -> Result<(Vec<(String, String)>, RequestInput), AppError> {
    let input = RequestInput {
        scope: normalise_scope(input.scope),
        details: trim_details(input.details),
        ..input
    };
    let mut errors = validate_request(state, &input);
    let (scope_errors, pinned) = check_scope(state, &input.scope).await?;
    errors.extend(scope_errors);
    let mut input = input;
    let (criteria_errors, criteria) =
        check_criteria(state, &pinned, std::mem::take(&mut input.details.criteria)).await?;
    errors.extend(criteria_errors);
    input.details.criteria = criteria;
    Ok((
        errors,
        RequestInput {
            scope: pinned,
            ..input
        },
    ))
}

/// The population criteria, normalised: each on a table (and column) of a
/// dataset version of the scope. Errors name `criteria[i].field`.
async fn check_criteria(
    state: &AppState,
    scope: &[ScopeItem],
    criteria: Vec<hdh_model::PopulationCriterion>,
) -> Result<(Vec<(String, String)>, Vec<hdh_model::PopulationCriterion>), AppError> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, c) in criteria.into_iter().enumerate() {
        let at = |f: &str| format!("criteria[{i}].{f}");
        let c = match c.parse(i + 1) {
            Ok(c) => c,
            Err(e) => {
                errors.push((at(e.field), e.reason));
                continue;
            }
        };
        let Some(item) = scope.iter().find(|s| s.dataset_id == c.dataset) else {
            errors.push((
                at("dataset"),
                format!("{} is not a dataset of the request's scope", c.dataset),
            ));
            continue;
        };
        let version = match item.version {
            Some(v) => v,
            None => match state.store.latest_version(&c.dataset).await? {
                Some(v) => v.version,
                None => continue,
            },
        };
        let tables = state.store.tables(&c.dataset, version).await?;
        match tables.iter().find(|t| t.table_name == c.table) {
            None => errors.push((
                at("table"),
                format!("{} has no table {}", c.dataset, c.table),
            )),
            Some(t) if !t.schema.fields.iter().any(|f| f.name == c.column) => errors.push((
                at("column"),
                format!("{} has no column {}", c.table, c.column),
            )),
            Some(_) => out.push(c),
        }
    }
    Ok((errors, out))
}

pub async fn create_request(
    state: &AppState,
    caller: &Caller,
    input: RequestInput,
) -> Result<AccessRequest, AppError> {
    create_request_for(state, caller, input, None).await
}

/// Creates a draft: a new request, or an amendment of the caller's active
/// request `amends` (new variables, new members, an extension), which goes
/// through the same review.
pub async fn create_request_for(
    state: &AppState,
    caller: &Caller,
    input: RequestInput,
    amends: Option<&AccessRequest>,
) -> Result<AccessRequest, AppError> {
    require(
        state,
        caller,
        Role::Researcher,
        "request.create",
        "access_request",
        None,
    )
    .await?;
    if let Some(parent) = amends {
        if parent.applicant_id != caller.user.id {
            return Err(deny(
                state,
                caller,
                "request.amend",
                "access_request",
                Some(&parent.id),
                "only the applicant of a project amends it".into(),
            )
            .await);
        }
        if parent.state != AccessRequestState::Active {
            return Err(AppError::conflict(format!(
                "request {} is {}: only an active project can be amended",
                parent.id, parent.state
            )));
        }
        // One amendment at a time: each is reviewed against the project as
        // it stands, and rebuilds the extraction from its own scope.
        if let Some(open) = state
            .store
            .requests()
            .await?
            .into_iter()
            .find(|x| x.amends.as_deref() == Some(parent.id.as_str()) && !x.state.is_terminal())
        {
            return Err(AppError::conflict(format!(
                "amendment {} of this project is still {}: withdraw it or wait for its decision",
                open.id, open.state
            )));
        }
    }
    let (errors, input) = check_input(state, input).await?;
    if !errors.is_empty() {
        return Err(invalid_fields(errors));
    }
    let route = input
        .route
        .clone()
        .or_else(|| amends.map(|p| p.route.clone()))
        .unwrap_or_else(|| "standard".into());
    let r = AccessRequest {
        id: uuid::Uuid::now_v7().to_string(),
        applicant_id: caller.user.id.clone(),
        title: input.title.trim().to_string(),
        purpose: input.purpose,
        public_interest: input.public_interest,
        scope: input.scope,
        period_start: input.period_start,
        period_end: input.period_end,
        duration_months: input.duration_months,
        state: AccessRequestState::Draft,
        created_at: now(),
        updated_at: now(),
        details: input.details,
        route,
        amends: amends.map(|p| p.id.clone()),
    };
    let mut tx = state.store.begin().await?;
    tx.save_request(&r).await?;
    tx.audit(
        &caller
            .event(
                if amends.is_some() {
                    "request.amend"
                } else {
                    "request.create"
                },
                "access_request",
            )
            .object(&r.id)
            .details(serde_json::json!({ "amends": r.amends })),
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

/// Saves a draft as the applicant writes it (the form's autosave). What is
/// given is kept even when incomplete; the answer lists what must still be
/// fixed, per field, before submission.
pub async fn save_draft(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: RequestInput,
) -> Result<(AccessRequest, Vec<(String, String)>), AppError> {
    let r = request_or_404(state, id).await?;
    if r.applicant_id != caller.user.id {
        return Err(deny(
            state,
            caller,
            "request.update",
            "access_request",
            Some(id),
            "only the applicant edits a request".into(),
        )
        .await);
    }
    if !r.state.is_editable() {
        return Err(AppError::conflict(format!(
            "request {id} is {}: only a draft or a request sent back can be edited",
            r.state
        )));
    }
    let (mut problems, input) = check_input(state, input).await?;
    let mut tx = state.store.begin().await?;
    let mut cur = tx.request_for_update(id).await?;
    cur.title = input.title.trim().to_string();
    cur.purpose = input.purpose;
    cur.public_interest = input.public_interest;
    cur.scope = input.scope;
    cur.period_start = input.period_start;
    cur.period_end = input.period_end;
    cur.duration_months = input.duration_months;
    cur.details = input.details;
    if let Some(route) = input
        .route
        .filter(|r| state.config.routes.iter().any(|c| &c.name == r))
    {
        cur.route = route;
    }
    cur.updated_at = now();
    tx.save_request(&cur).await?;
    tx.audit(&caller.event("request.update", "access_request").object(id))
        .await?;
    tx.commit().await?;
    problems.extend(
        cur.details
            .missing_for_submission(cur.amends.is_some())
            .into_iter()
            .map(|(f, m)| (f.to_string(), m.to_string())),
    );
    problems.extend(missing_attachments(state, &cur).await?);
    Ok((cur, problems))
}

async fn missing_attachments(
    state: &AppState,
    r: &AccessRequest,
) -> Result<Vec<(String, String)>, AppError> {
    if state.config.required_attachments.is_empty() {
        return Ok(vec![]);
    }
    let have = state.store.attachments(&r.id).await?;
    Ok(state
        .config
        .required_attachments
        .iter()
        .filter(|k| !have.iter().any(|a| &a.kind == *k))
        .map(|k| {
            (
                "attachments".to_string(),
                format!("attach the {}", k.replace('_', " ")),
            )
        })
        .collect())
}

/// Everything that must be fixed before `r` can be submitted, per field.
pub async fn submission_problems(
    state: &AppState,
    r: &AccessRequest,
) -> Result<Vec<(String, String)>, AppError> {
    let (mut problems, _) = check_input(state, RequestInput::of(r)).await?;
    problems.extend(
        r.details
            .missing_for_submission(r.amends.is_some())
            .into_iter()
            .map(|(f, m)| (f.to_string(), m.to_string())),
    );
    problems.extend(missing_attachments(state, r).await?);
    Ok(problems)
}

/// Whether the caller may see a request's file: its applicant, a member of
/// its team, or the desk's staff. A committee member sees it only once
/// assigned to it and declared free of conflicts of interest (see
/// [`crate::desk::committee_access`]).
pub fn can_view_request(caller: &Caller, r: &AccessRequest) -> bool {
    r.applicant_id == caller.user.id
        || [
            Role::Secretariat,
            Role::Authority,
            Role::Admin,
            Role::SecurityOfficer,
        ]
        .iter()
        .any(|role| caller.has(*role))
}

pub async fn view_request(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(AccessRequest, Vec<RequestEvent>), AppError> {
    let r = request_or_404(state, id).await?;
    if !can_view_request(caller, &r) {
        let why = crate::desk::file_access(state, caller, &r).await?;
        if let Some(why) = why {
            return Err(deny(
                state,
                caller,
                "request.view",
                "access_request",
                Some(id),
                why,
            )
            .await);
        }
    }
    let events = state.store.request_events(id).await?;
    Ok((r, events))
}

/// Requests the caller may see (a committee member: those assigned to them).
pub async fn list_requests(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<AccessRequest>, AppError> {
    let assigned: Vec<String> = if caller.has(Role::Committee) {
        state
            .store
            .assignments(&caller.user.id)
            .await?
            .into_iter()
            .filter(|a| a.declaration.as_deref() != Some("conflict"))
            .map(|a| a.request_id)
            .collect()
    } else {
        vec![]
    };
    let producer_of: Vec<String> = if caller.has(Role::Producer) {
        state
            .store
            .datasets()
            .await?
            .into_iter()
            .filter(|d| crate::desk::is_producer_of(caller, d))
            .map(|d| d.id)
            .collect()
    } else {
        vec![]
    };
    Ok(state
        .store
        .requests()
        .await?
        .into_iter()
        .filter(|r| {
            can_view_request(caller, r)
                || assigned.contains(&r.id)
                || (r.state == AccessRequestState::ProducerAgreement
                    && r.scope.iter().any(|s| producer_of.contains(&s.dataset_id)))
        })
        .collect())
}

/// Moves a request through its life cycle. When the last agreement is given,
/// the hub provisions the project's workspace at once.
pub async fn act_on_request(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: RequestAction,
) -> Result<AccessRequest, AppError> {
    let r0 = request_or_404(state, id).await?;
    let is_applicant = r0.applicant_id == caller.user.id;
    let audit_action = format!("request.{}", action.name());
    let denied = |why: String| async {
        Err(deny(
            state,
            caller,
            &audit_action,
            "access_request",
            Some(id),
            why,
        )
        .await)
    };
    // The role under which the caller acts: for a reviewer's action, the
    // reviewer role the state needs if the caller holds it; otherwise their
    // researcher role (or any role): the state machine refuses the rest,
    // including anyone reviewing their own request.
    let role = match r0.state.reviewer() {
        Some(rev) if action.is_review() && caller.has(rev) => rev,
        _ if matches!(action, RequestAction::Archive) && caller.has(Role::Secretariat) => {
            Role::Secretariat
        }
        _ if matches!(action, RequestAction::Archive) && caller.has(Role::Admin) => Role::Admin,
        _ if caller.has(Role::Researcher) => Role::Researcher,
        _ => caller
            .user
            .roles
            .first()
            .copied()
            .unwrap_or(Role::Researcher),
    };
    let route = crate::desk::route_of(state, &r0);
    // What the desk checks beyond the state machine.
    let pending = crate::desk::pending_agreements(state, &r0).await?;
    match &action {
        RequestAction::Submit if is_applicant => {
            let problems = submission_problems(state, &r0).await?;
            if !problems.is_empty() {
                return Err(invalid_fields(problems));
            }
        }
        RequestAction::Opinion { .. } if r0.state == AccessRequestState::EthicsReview => {
            if let Some(why) = crate::desk::reviewer_clearance(state, caller, &r0).await? {
                return denied(why).await;
            }
        }
        RequestAction::Agree { dataset } if r0.state == AccessRequestState::ProducerAgreement => {
            let Some(d) = pending.iter().find(|d| &d.id == dataset) else {
                return Err(AppError::unprocessable(format!(
                    "dataset {dataset:?} is not awaiting an agreement on this request (awaiting: {})",
                    pending
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            if !crate::desk::is_producer_of(caller, d) {
                return denied(format!(
                    "only the producer of {dataset} agrees to provide it"
                ))
                .await;
            }
        }
        RequestAction::Refuse { .. }
            if r0.state == AccessRequestState::ProducerAgreement
                && !pending
                    .iter()
                    .any(|d| crate::desk::is_producer_of(caller, d)) =>
        {
            return denied("only a producer whose agreement is awaited refuses here".into()).await;
        }
        _ => {}
    }
    let mut ctx = hdh_model::request::Context::new(role, is_applicant, &route);
    ctx.pending_agreements = match (&action, r0.state) {
        // Authorising: every dataset still needs its producer's agreement.
        (RequestAction::Authorise { .. }, _) => pending.len(),
        (_, AccessRequestState::ProducerAgreement) => pending.len(),
        _ => 0,
    };
    ctx.is_amendment = r0.amends.is_some();
    let mut tx = state.store.begin().await?;
    let mut r = tx.request_for_update(id).await?;
    if r.state != r0.state {
        tx.rollback().await?;
        return Err(AppError::conflict(format!(
            "request {id} changed while you acted (now {}): reload it",
            r.state
        )));
    }
    let next = match r.state.apply(&action, &ctx) {
        Ok(n) => n,
        Err(e) => {
            tx.rollback().await?;
            if let hdh_model::TransitionError::Forbidden { .. } = e {
                return denied(e.to_string()).await;
            }
            return Err(e.into());
        }
    };
    let from = r.state;
    r.state = next;
    r.updated_at = now();
    if let RequestAction::Close { results } = &action {
        r.details.results = results.trim().to_string();
    }
    tx.save_request(&r).await?;
    let details = match &action {
        RequestAction::Opinion { opinion, .. } => Some(serde_json::json!({ "opinion": opinion })),
        RequestAction::Agree { dataset } => Some(serde_json::json!({ "dataset": dataset })),
        _ => None,
    };
    if let RequestAction::Agree { dataset } = &action {
        tx.insert_agreement(&hdh_store::Agreement {
            request_id: id.to_string(),
            dataset_id: dataset.clone(),
            decided_by: caller.user.id.clone(),
            decision: "agreed".into(),
            at: now(),
        })
        .await?;
    }
    let event = RequestEvent {
        seq: 0,
        action: action.name().to_string(),
        from_state: from.as_str().to_string(),
        to_state: next.as_str().to_string(),
        actor_id: Some(caller.user.id.clone()),
        role: role.as_str().to_string(),
        reason: action.reason().map(str::to_string),
        at: now(),
        reference: action.reference().map(|s| s.trim().to_string()),
        details: details.clone(),
    };
    tx.add_request_event(id, &event).await?;
    let mut ev = caller
        .event(&format!("request.{}", action.name()), "access_request")
        .object(id)
        .details(serde_json::json!({ "from": from.as_str(), "to": next.as_str(), "reason": action.reason(), "reference": action.reference(), "details": details }));
    ev.role = Some(role.as_str().to_string());
    tx.audit(&ev).await?;
    let mail =
        crate::notify::on_transition(state, &mut tx, &r, &event, Some(&caller.user.id)).await?;
    tx.commit().await?;
    crate::notify::send(state, mail);
    if next == AccessRequestState::Authorised {
        // The workspace is built in the background; the request moves to
        // `active` when it is ready.
        let reason = if r.amends.is_some() {
            "amendment"
        } else {
            "authorised"
        };
        crate::provisioning::queue(state, &r, reason, None).await?;
    }
    Ok(r)
}

/// Retries the provisioning of an authorised request whose workspace could
/// not be built (authority or administrator).
pub async fn retry_provisioning(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<AccessRequest, AppError> {
    if !(caller.has(Role::Authority) || caller.has(Role::Admin)) {
        return Err(deny(
            state,
            caller,
            "request.provision",
            "access_request",
            Some(id),
            "retrying a provisioning needs the authority or admin role".into(),
        )
        .await);
    }
    let r = request_or_404(state, id).await?;
    if r.state != AccessRequestState::Authorised {
        return Err(AppError::conflict(format!(
            "request {id} is {}, not awaiting provisioning",
            r.state
        )));
    }
    let reason = if r.amends.is_some() {
        "amendment"
    } else {
        "authorised"
    };
    crate::provisioning::queue(state, &r, reason, Some(caller)).await?;
    state
        .store
        .request(id)
        .await?
        .ok_or_else(|| AppError::not_found(id.to_string()))
}

// ---------------------------------------------------------------- workspace

async fn member_project(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    action: &str,
) -> Result<Project, AppError> {
    let p = state.store.project(project_id).await?;
    match p {
        Some(p) if state.store.is_member(project_id, &caller.user.id).await? => Ok(p),
        _ => Err(deny_in_project(
            state,
            caller,
            action,
            project_id,
            format!("you are not a member of project {project_id}"),
        )
        .await),
    }
}

/// A project the caller may work in now: a member, the request still active,
/// and the authorised duration not over. (Members keep read access to the
/// project page and its releases after it closes.)
pub(crate) async fn open_project(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    action: &str,
) -> Result<Project, AppError> {
    let p = member_project(state, caller, project_id, action).await?;
    let r = state
        .store
        .request(&p.request_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("project {project_id} has no request")))?;
    let refuse =
        |why: String| async { Err(deny_in_project(state, caller, action, project_id, why).await) };
    if r.state != AccessRequestState::Active {
        return refuse(format!(
            "project {project_id} is {}: its workspace is closed",
            r.state
        ))
        .await;
    }
    if let Some(lock) = state.store.workspace_locks(project_id).await?.first() {
        return refuse(format!(
            "the workspace of project {project_id} is locked pending the security officer's review of alert {} ({})",
            lock.alert_id, lock.reason
        ))
        .await;
    }
    let started = chrono::DateTime::parse_from_rfc3339(&p.created_at).map_err(|e| {
        AppError::internal(format!(
            "project {project_id} start {:?}: {e}",
            p.created_at
        ))
    })?;
    let months = u32::try_from(r.duration_months).unwrap_or(0);
    if let Some(end) = started.checked_add_months(chrono::Months::new(months))
        && chrono::Utc::now() > end
    {
        return refuse(format!(
            "the authorisation of project {project_id} ended on {}: ask for an extension",
            end.format("%Y-%m-%d")
        ))
        .await;
    }
    Ok(p)
}

pub async fn view_project(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
) -> Result<(Project, Vec<ExtractionTable>), AppError> {
    let p = member_project(state, caller, project_id, "workspace.view").await?;
    let t = state.store.extraction(project_id).await?;
    Ok((p, t))
}

/// Runs a researcher's statement in the project's sandbox.
pub async fn query(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    sql: &str,
    channel: crate::sandbox::Channel,
    query_id: Option<String>,
) -> Result<crate::sandbox::RunOutput, AppError> {
    crate::sandbox::run(state, caller, project_id, sql, channel, query_id).await
}

// ---------------------------------------------------------------- audit

pub async fn audit_trail(
    state: &AppState,
    caller: &Caller,
    filter: &hdh_store::AuditFilter,
) -> Result<Vec<hdh_store::StoredAuditEvent>, AppError> {
    if !(caller.has(Role::SecurityOfficer) || caller.has(Role::Admin)) {
        return Err(deny(
            state,
            caller,
            "audit.view",
            "audit_trail",
            None,
            "the audit trail is for the security officer".into(),
        )
        .await);
    }
    let events = state.store.audit_events(filter).await?;
    state
        .store
        .audit(
            &caller
                .event("audit.view", "audit_trail")
                .details(serde_json::to_value(FilterLog::from(filter)).unwrap_or_default()),
        )
        .await?;
    Ok(events)
}

#[derive(Serialize)]
struct FilterLog {
    actor: Option<String>,
    action: Option<String>,
    project: Option<String>,
    outcome: Option<String>,
}

impl From<&hdh_store::AuditFilter> for FilterLog {
    fn from(f: &hdh_store::AuditFilter) -> Self {
        FilterLog {
            actor: f.actor.clone(),
            action: f.action.clone(),
            project: f.project.clone(),
            outcome: f.outcome.clone(),
        }
    }
}
