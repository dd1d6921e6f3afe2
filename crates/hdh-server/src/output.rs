//! Output control: release requests, their files and automatic checks, the
//! output checkers' reviews, the release ledger, downloads. The only way
//! anything computed in a workspace leaves it.
//!
//! A table is never taken as shown: the researcher gives the query of its
//! microdata (row-level, run inside the workspace) and its layout, and the
//! hub computes it, so every cell knows the persons behind it
//! (`hdh_release`). Every table of a release is checked together (a margin
//! of one is a cell of another) and against what already left the project
//! (the ledger), again at submission and at release.

use crate::auth::Caller;
use crate::service::{deny, invalid_fields};
use crate::{AppError, AppState};
use hdh_model::release::{
    FileDecision, FileKind, FileReview, FileVersion, ReleaseAction, ReleaseContext, ReleaseError,
};
use hdh_model::{Outcome, Role};
use hdh_release::ledger::Footprint;
use hdh_release::{Agg, TableSpec};
use hdh_store::{LedgerEntry, ReleaseFile, ReleaseRequest, ReleaseState, StoredReview, now};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most records a table's microdata may have.
const MAX_RECORDS: usize = 5_000_000;
const MAX_FIGURE_BYTES: usize = 5 * 1024 * 1024;
const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// What a suppressed cell shows in a released table.
const MARKER: &str = "*";

/// A table as the researcher asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableInput {
    /// The microdata: a row-level query of the workspace (it never leaves).
    pub sql: String,
    /// Row variables (columns of the query).
    pub rows: Vec<String>,
    #[serde(default)]
    pub cols: Vec<String>,
    /// The variable a sum or a mean is computed on.
    #[serde(default)]
    pub value: Option<String>,
    /// `count`, `sum` or `mean`.
    pub agg: String,
    /// Margins: totals per row, per column and overall.
    #[serde(default)]
    pub totals: bool,
    /// The person column (by default the extraction's person identifier
    /// among the query's columns).
    #[serde(default)]
    pub person: Option<String>,
}

/// What a file asks to take out.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileInput {
    Table {
        name: String,
        description: String,
        #[serde(flatten)]
        table: TableInput,
    },
    /// A model's coefficients (CSV: a header, one line per term) and the
    /// query of the data it was fitted on (its rows give the degrees of freedom).
    Model {
        name: String,
        description: String,
        sql: String,
        coefficients: String,
    },
    /// A PNG or SVG figure, base64, with the table file it was drawn from.
    Figure {
        name: String,
        description: String,
        table: String,
        content_base64: String,
    },
    /// README, methods: Markdown or plain text.
    Text {
        name: String,
        description: String,
        content: String,
    },
}

impl FileInput {
    fn name(&self) -> &str {
        match self {
            FileInput::Table { name, .. }
            | FileInput::Model { name, .. }
            | FileInput::Figure { name, .. }
            | FileInput::Text { name, .. } => name,
        }
    }
    fn description(&self) -> &str {
        match self {
            FileInput::Table { description, .. }
            | FileInput::Model { description, .. }
            | FileInput::Figure { description, .. }
            | FileInput::Text { description, .. } => description,
        }
    }
    fn kind(&self) -> FileKind {
        match self {
            FileInput::Table { .. } => FileKind::Table,
            FileInput::Model { .. } => FileKind::Model,
            FileInput::Figure { .. } => FileKind::Figure,
            FileInput::Text { .. } => FileKind::Text,
        }
    }
}

/// One checker's decision on one file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileDecisionInput {
    pub file: String,
    /// `approve` or `return`.
    pub decision: String,
    /// Required to return a file.
    #[serde(default)]
    pub comment: String,
}

/// A release with its files, reviews and what the caller may do with it.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseView {
    pub release: ReleaseRequest,
    pub files: Vec<ReleaseFile>,
    pub reviews: Vec<StoredReview>,
    pub required_reviews: usize,
    /// Independent checkers who approved every current file.
    pub approvals: usize,
    pub can: Can,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Can {
    pub edit: bool,
    pub submit: bool,
    pub review: bool,
    pub release: bool,
    pub reject: bool,
    pub withdraw: bool,
    pub download: bool,
}

fn release_error(e: ReleaseError) -> AppError {
    match e {
        ReleaseError::NotNow { .. } => AppError::conflict(e.to_string()),
        ReleaseError::NoFiles | ReleaseError::IncompleteReview(_) => {
            AppError::unprocessable(e.to_string())
        }
        _ => AppError::forbidden(e.to_string()),
    }
}

async fn load(state: &AppState, id: &str) -> Result<ReleaseRequest, AppError> {
    state
        .store
        .release(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("release {id}")))
}

/// A release as it stands: the request, its files, the reviews recorded.
struct Current {
    r: ReleaseRequest,
    files: Vec<ReleaseFile>,
    reviews: Vec<FileReview>,
}

async fn current(state: &AppState, id: &str) -> Result<Current, AppError> {
    Ok(Current {
        r: load(state, id).await?,
        files: state.store.release_files(id).await?,
        reviews: stored_reviews(&state.store.release_reviews(id).await?),
    })
}

fn versions(files: &[ReleaseFile]) -> Vec<FileVersion> {
    files
        .iter()
        .map(|f| FileVersion {
            id: f.id.clone(),
            sha256: f.sha256.clone(),
        })
        .collect()
}

/// Applies an action through the model's life cycle; a refusal is audited.
async fn transition(
    state: &AppState,
    caller: &Caller,
    r: &ReleaseRequest,
    action: ReleaseAction,
    files: &[ReleaseFile],
    reviews: &[FileReview],
) -> Result<ReleaseState, AppError> {
    let member = state
        .store
        .is_member(&r.project_id, &caller.user.id)
        .await?;
    let v = versions(files);
    let ctx = ReleaseContext {
        caller_id: &caller.user.id,
        is_author: r.requester_id == caller.user.id,
        is_member: member,
        is_checker: caller.has(Role::Checker),
        files: &v,
        reviews,
        required_reviews: state.config.release_reviews_required,
    };
    match r.state.apply(action, &ctx) {
        Ok(s) => Ok(s),
        Err(e) => {
            let err = release_error(e);
            if err.status == axum::http::StatusCode::FORBIDDEN {
                return Err(deny(
                    state,
                    caller,
                    &format!("release.{}", action.as_str()),
                    "release",
                    Some(&r.id),
                    err.message,
                )
                .await);
            }
            Err(err)
        }
    }
}

fn stored_reviews(reviews: &[StoredReview]) -> Vec<FileReview> {
    reviews.iter().map(|r| r.review.clone()).collect()
}

// ---------------------------------------------------------------- creating

/// A new release request (a draft) in a project the caller works in.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    description: &str,
) -> Result<ReleaseRequest, AppError> {
    crate::service::open_project(state, caller, project_id, "release.create").await?;
    if description.trim().is_empty() {
        return Err(invalid_fields(vec![(
            "description".into(),
            "say what this release is for (the outputs and the question they answer)".into(),
        )]));
    }
    let r = ReleaseRequest {
        id: uuid::Uuid::now_v7().to_string(),
        project_id: project_id.to_string(),
        requester_id: caller.user.id.clone(),
        description: description.trim().to_string(),
        state: ReleaseState::Draft,
        created_at: now(),
        decided_by: None,
        decided_at: None,
        decision_reason: None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_release(&r).await?;
    tx.audit(
        &caller
            .event("release.create", "release")
            .object(&r.id)
            .project(project_id),
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

fn check_name(name: &str, kind: FileKind) -> Result<(), AppError> {
    let ok_chars = !name.is_empty()
        && name.len() <= 80
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let allowed: &[&str] = match kind {
        FileKind::Table | FileKind::Model => &["csv"],
        FileKind::Figure => &["png", "svg"],
        FileKind::Text => &["md", "txt"],
    };
    if !ok_chars {
        return Err(invalid_fields(vec![(
            "name".into(),
            "1 to 80 letters, digits, '.', '_' or '-', not starting with '.'".into(),
        )]));
    }
    if !ext.as_deref().is_some_and(|e| allowed.contains(&e)) {
        return Err(invalid_fields(vec![(
            "name".into(),
            format!(
                "a {} file ends in .{}: only tables and models (CSV), figures (PNG, SVG) and text (Markdown, plain text) may leave",
                kind.as_str(),
                allowed.join(" or .")
            ),
        )]));
    }
    Ok(())
}

/// What a figure's bytes are, or why they cannot leave.
fn figure_type(name: &str, bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.len() > MAX_FIGURE_BYTES {
        return Err(format!("larger than {} MiB", MAX_FIGURE_BYTES >> 20));
    }
    let svg = name.to_ascii_lowercase().ends_with(".svg");
    if !svg {
        return if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Ok("image/png")
        } else {
            Err("not a PNG image (its first bytes say otherwise)".into())
        };
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "an SVG figure is UTF-8 text".to_string())?;
    let lower = text.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Err("not an SVG image (no <svg> element)".into());
    }
    for (needle, why) in [
        ("<script", "a script"),
        ("<foreignobject", "embedded foreign content"),
        ("javascript:", "a script link"),
        ("href=\"http", "an external link"),
        ("href='http", "an external link"),
        (
            "<image",
            "an embedded image (its data would leave unchecked)",
        ),
    ] {
        if lower.contains(needle) {
            return Err(format!(
                "the SVG holds {why}: draw the figure again without it"
            ));
        }
    }
    if lower
        .split(|c: char| c.is_whitespace())
        .any(|w| w.starts_with("on") && w.contains('='))
    {
        return Err(
            "the SVG holds an event handler (on…=): draw the figure again without it".into(),
        );
    }
    Ok("image/svg+xml")
}

fn sha_of(content: &[u8], description: &str) -> String {
    let mut h = Sha256::new();
    h.update(content);
    h.update([0u8]);
    h.update(description.as_bytes());
    hex::encode(h.finalize())
}

/// Adds a file to a draft (or returned) release, or replaces the file of
/// the same name; every table of the release is checked again.
pub async fn add_file(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: FileInput,
) -> Result<ReleaseFile, AppError> {
    let Current { r, files, reviews } = current(state, id).await?;
    let to = transition(state, caller, &r, ReleaseAction::Edit, &files, &reviews).await?;
    crate::service::open_project(state, caller, &r.project_id, "release.file.add").await?;
    let kind = input.kind();
    check_name(input.name(), kind)?;
    if input.description().trim().is_empty() {
        return Err(invalid_fields(vec![(
            "description".into(),
            "say what the file shows and the population behind it".into(),
        )]));
    }
    let name = input.name().to_string();
    let description = input.description().trim().to_string();
    let (spec, content, media_type, check) = match input {
        FileInput::Table { table, .. } => {
            validate_table(state, caller, &r, &table).await?;
            // Its content and check are computed with the other tables (recheck).
            (
                serde_json::to_value(&table).map_err(|e| AppError::internal(e.to_string()))?,
                Vec::new(),
                "text/csv",
                serde_json::Value::Null,
            )
        }
        FileInput::Model {
            sql, coefficients, ..
        } => {
            let (check, csv) = model_check(state, caller, &r, &sql, &coefficients).await?;
            (
                serde_json::json!({ "sql": sql }),
                csv.into_bytes(),
                "text/csv",
                check,
            )
        }
        FileInput::Figure {
            table,
            content_base64,
            ..
        } => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content_base64.trim())
                .map_err(|e| {
                    invalid_fields(vec![("content_base64".into(), format!("not base64: {e}"))])
                })?;
            let media = figure_type(&name, &bytes)
                .map_err(|m| invalid_fields(vec![("content_base64".into(), m)]))?;
            if !files
                .iter()
                .any(|f| f.id == table && f.kind == FileKind::Table)
            {
                return Err(invalid_fields(vec![(
                    "table".into(),
                    format!(
                        "a figure names the table of this release it was drawn from; {table:?} is not one"
                    ),
                )]));
            }
            (
                serde_json::json!({ "table": table }),
                bytes,
                media,
                serde_json::json!({ "outcome": "flagged", "reasons": [format!("a figure: the checker compares it with table {table}")] }),
            )
        }
        FileInput::Text { content, .. } => {
            if content.len() > MAX_TEXT_BYTES || content.trim().is_empty() {
                return Err(invalid_fields(vec![(
                    "content".into(),
                    format!("between 1 byte and {} KiB of text", MAX_TEXT_BYTES >> 10),
                )]));
            }
            let media = if name.ends_with(".md") {
                "text/markdown; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            (
                serde_json::json!({}),
                content.into_bytes(),
                media,
                serde_json::json!({ "outcome": "flagged", "reasons": ["free text: the checker reads it for numbers"] }),
            )
        }
    };
    let sha = sha_of(&content, &description);
    let file = ReleaseFile {
        release_id: id.to_string(),
        id: name.clone(),
        kind,
        name: name.clone(),
        description,
        spec,
        check,
        object_path: format!("releases/{}/{id}/{sha}-{name}", r.project_id),
        sha256: sha,
        media_type: media_type.to_string(),
        size: content.len() as i64,
        created_at: now(),
    };
    if kind != FileKind::Table {
        state.lake.put_bytes(&file.object_path, content).await?;
    }
    let mut all: Vec<ReleaseFile> = files.into_iter().filter(|f| f.id != name).collect();
    all.push(file);
    let tables = recheck(state, &r, &mut all).await?;
    let mut tx = state.store.begin().await?;
    for f in &all {
        if f.id == name || (f.kind == FileKind::Table && tables.changed.contains(&f.id)) {
            tx.put_release_file(f).await?;
        }
    }
    if to != r.state {
        tx.set_release_state(id, r.state, to, None).await?;
    }
    tx.audit(
        &caller
            .event("release.file.add", "release")
            .object(id)
            .project(&r.project_id)
            .details(
                serde_json::json!({ "file": name, "kind": kind.as_str(), "cells": tables.summary }),
            ),
    )
    .await?;
    tx.commit().await?;
    all.into_iter()
        .find(|f| f.id == name)
        .ok_or_else(|| AppError::internal("file vanished"))
}

/// Removes a file of a draft (or returned) release.
pub async fn remove_file(
    state: &AppState,
    caller: &Caller,
    id: &str,
    file_id: &str,
) -> Result<(), AppError> {
    let Current { r, files, reviews } = current(state, id).await?;
    let to = transition(state, caller, &r, ReleaseAction::Edit, &files, &reviews).await?;
    if !files.iter().any(|f| f.id == file_id) {
        return Err(AppError::not_found(format!(
            "file {file_id} of release {id}"
        )));
    }
    if files
        .iter()
        .any(|f| f.kind == FileKind::Figure && f.spec["table"] == file_id)
    {
        return Err(AppError::conflict(format!(
            "a figure of this release is drawn from {file_id}: remove the figure first"
        )));
    }
    let mut all: Vec<ReleaseFile> = files.into_iter().filter(|f| f.id != file_id).collect();
    let tables = recheck(state, &r, &mut all).await?;
    let mut tx = state.store.begin().await?;
    tx.delete_release_file(id, file_id).await?;
    for f in all.iter().filter(|f| tables.changed.contains(&f.id)) {
        tx.put_release_file(f).await?;
    }
    if to != r.state {
        tx.set_release_state(id, r.state, to, None).await?;
    }
    tx.audit(
        &caller
            .event("release.file.remove", "release")
            .object(id)
            .project(&r.project_id)
            .details(serde_json::json!({ "file": file_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A table's query passes the gatekeeper and its layout makes sense.
async fn validate_table(
    state: &AppState,
    caller: &Caller,
    r: &ReleaseRequest,
    t: &TableInput,
) -> Result<(), AppError> {
    gate(state, caller, r, &t.sql).await?;
    let agg: Agg = t.agg.parse().map_err(|e: hdh_release::TableError| {
        invalid_fields(vec![("agg".into(), e.to_string())])
    })?;
    if t.rows.iter().all(|c| c.trim().is_empty()) {
        return Err(invalid_fields(vec![(
            "rows".into(),
            "at least one row variable".into(),
        )]));
    }
    if agg.is_magnitude() && t.value.as_deref().is_none_or(|v| v.trim().is_empty()) {
        return Err(invalid_fields(vec![(
            "value".into(),
            format!(
                "a {} table needs the variable it is computed on",
                agg.as_str()
            ),
        )]));
    }
    Ok(())
}

/// The gatekeeper on a release's query: the project's tables only, a SELECT.
async fn gate(
    state: &AppState,
    caller: &Caller,
    r: &ReleaseRequest,
    sql: &str,
) -> Result<(), AppError> {
    let scope = crate::sandbox::project_scope(state, &r.project_id).await?;
    let names: Vec<String> = scope.tables.iter().map(|t| t.name.clone()).collect();
    let scratch: Vec<String> = scope.scratch.iter().map(|t| t.name.clone()).collect();
    let refusal = match hdh_workspace::gate::check(
        sql,
        &hdh_workspace::gate::Scope {
            tables: &names,
            scratch: &scratch,
        },
    ) {
        Ok(hdh_workspace::gate::Checked::Query) => return Ok(()),
        Ok(_) => "the microdata of a release is a query (SELECT), not a table change".to_string(),
        Err(e) => e.message,
    };
    Err(deny(
        state,
        caller,
        "release.file.add",
        "release",
        Some(&r.id),
        refusal,
    )
    .await)
}

async fn session(
    state: &AppState,
    project_id: &str,
) -> Result<(datafusion::prelude::SessionContext, Vec<String>), AppError> {
    let tables = state.store.extraction(project_id).await?;
    let mut person = Vec::new();
    for t in &tables {
        for ds in state.store.tables(&t.dataset_id, t.dataset_version).await? {
            if ds.table_name == t.table_name {
                person.extend(ds.schema.person_fields().iter().map(|f| f.name.clone()));
            }
        }
    }
    let scope = crate::sandbox::project_scope(state, project_id).await?;
    Ok((crate::sandbox::session(state, &scope).await?, person))
}

async fn model_check(
    state: &AppState,
    caller: &Caller,
    r: &ReleaseRequest,
    sql: &str,
    coefficients: &str,
) -> Result<(serde_json::Value, String), AppError> {
    gate(state, caller, r, sql).await?;
    let mut reader = csv::ReaderBuilder::new().from_reader(coefficients.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| invalid_fields(vec![("coefficients".into(), format!("not CSV: {e}"))]))?
        .clone();
    let mut terms = 0i64;
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| {
            invalid_fields(vec![(
                "coefficients".into(),
                format!("line {}: {e}", i + 2),
            )])
        })?;
        if rec.len() != header.len() {
            return Err(invalid_fields(vec![(
                "coefficients".into(),
                format!(
                    "line {}: {} fields, the header has {}",
                    i + 2,
                    rec.len(),
                    header.len()
                ),
            )]));
        }
        terms += 1;
    }
    if terms == 0 {
        return Err(invalid_fields(vec![(
            "coefficients".into(),
            "a header and one line per term".into(),
        )]));
    }
    let (ctx, _) = session(state, &r.project_id).await?;
    let res = hdh_workspace::run_query(
        &ctx,
        &format!("SELECT COUNT(*) AS n FROM ({sql}) AS model_data"),
        1,
        state.config.workspace_limits.timeout,
    )
    .await
    .map_err(|e| AppError::unprocessable(e.to_string()))?;
    let n: i64 = res
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let dof = n - terms;
    let rules = rules_for(state, &r.project_id).await?;
    let v = hdh_release::check_model(dof, &rules);
    Ok((
        serde_json::json!({ "records": n, "parameters": terms, "residual_dof": dof, "outcome": v.outcome, "rules": v.rules, "reasons": v.reasons }),
        coefficients.to_string(),
    ))
}

async fn rules_for(state: &AppState, project_id: &str) -> Result<hdh_release::Rules, AppError> {
    let datasets: Vec<String> = state
        .store
        .extraction(project_id)
        .await?
        .into_iter()
        .map(|t| t.dataset_id)
        .collect();
    Ok(state.config.disclosure.for_datasets(&datasets))
}

/// What already left the project (every released cell's population).
async fn ledger(state: &AppState, project_id: &str) -> Result<Vec<Footprint>, AppError> {
    let mut out = Vec::new();
    for e in state.store.ledger_of_project(project_id).await? {
        let bytes = state.lake.get_bytes(&e.object_path).await?;
        let mut fps: Vec<Footprint> = serde_json::from_slice(&bytes)
            .map_err(|err| AppError::internal(format!("ledger {}: {err}", e.object_path)))?;
        out.append(&mut fps);
    }
    Ok(out)
}

struct Recheck {
    /// Table files whose content or check changed.
    changed: Vec<String>,
    /// Cells per outcome over the tables.
    summary: serde_json::Value,
    footprints: Vec<Footprint>,
}

/// Computes every table of the release from its microdata and checks them
/// together against the ledger; updates the table files in `files` (their
/// content is written to the lake, content-addressed).
async fn recheck(
    state: &AppState,
    r: &ReleaseRequest,
    files: &mut [ReleaseFile],
) -> Result<Recheck, AppError> {
    let table_ix: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].kind == FileKind::Table)
        .collect();
    if table_ix.is_empty() {
        return Ok(Recheck {
            changed: Vec::new(),
            summary: serde_json::json!({}),
            footprints: Vec::new(),
        });
    }
    let (ctx, person_fields) = session(state, &r.project_id).await?;
    let mut tables = Vec::new();
    let mut notes: Vec<Vec<String>> = Vec::new();
    for &i in &table_ix {
        let f = &files[i];
        let input: TableInput = serde_json::from_value(f.spec.clone())
            .map_err(|e| AppError::internal(format!("table {}: {e}", f.id)))?;
        let agg: Agg = input
            .agg
            .parse()
            .map_err(|e: hdh_release::TableError| AppError::unprocessable(e.to_string()))?;
        let spec = TableSpec {
            name: f.id.clone(),
            population: String::new(),
            rows: input.rows.clone(),
            cols: input.cols.clone(),
            value: input.value.clone().filter(|_| agg.is_magnitude()),
            agg,
            totals: input.totals,
        };
        let schema = hdh_workspace::query_schema(&ctx, &input.sql)
            .await
            .map_err(|e| AppError::unprocessable(format!("table {}: {e}", f.id)))?;
        let mut note = Vec::new();
        let person = match &input.person {
            Some(p) if !p.trim().is_empty() => Some(p.trim().to_string()),
            _ => {
                let found = schema
                    .fields()
                    .iter()
                    .map(|x| x.name().clone())
                    .find(|n| person_fields.contains(n));
                if found.is_none() {
                    note.push(
                        "no person column in the microdata: each row is counted as a person"
                            .to_string(),
                    );
                }
                found
            }
        };
        let columns = hdh_workspace::microdata::MicrodataColumns {
            rows: spec.rows.clone(),
            cols: spec.cols.clone(),
            value: spec.value.clone(),
            person,
        };
        let timeout = state.config.workspace_limits.timeout;
        let read = hdh_workspace::microdata::query_records(&ctx, &input.sql, &columns, MAX_RECORDS);
        let (records, skipped) = tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| {
                AppError::unprocessable(format!(
                    "table {}: the microdata query ran over {} s",
                    f.id,
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| AppError::unprocessable(format!("table {}: {e}", f.id)))?;
        if skipped > 0 {
            note.push(format!("{skipped} records with an empty key left out"));
        }
        // Tables over the same records relate (a margin of one is a cell of
        // the other), however their queries are written.
        let spec = TableSpec {
            population: population_of(&records),
            ..spec
        };
        let table = hdh_release::table::build(&spec, &records)
            .map_err(|e| AppError::unprocessable(e.to_string()))?;
        tables.push(table);
        notes.push(note);
    }
    let rules = rules_for(state, &r.project_id).await?;
    let prior = ledger(state, &r.project_id).await?;
    let verdict = hdh_release::check_release(&tables, &rules, &prior);
    let mut changed = Vec::new();
    for ((&i, (tv, table)), note) in table_ix
        .iter()
        .zip(verdict.tables.iter().zip(&tables))
        .zip(notes)
    {
        let csv = released_csv(table, tv);
        let f = &mut files[i];
        let sha = sha_of(csv.as_bytes(), &f.description);
        let check = serde_json::json!({
            "outcome": tv.cells.iter().map(|c| c.outcome).max(),
            "cells": tv.cells,
            "notes": note,
            "unprotected": verdict.unprotected,
            "rules": rules,
        });
        if sha != f.sha256 || check != f.check {
            let path = format!("releases/{}/{}/{sha}-{}", r.project_id, r.id, f.name);
            state
                .lake
                .put_bytes(&path, csv.clone().into_bytes())
                .await?;
            f.object_path = path;
            f.size = csv.len() as i64;
            f.sha256 = sha;
            f.check = check;
            changed.push(f.id.clone());
        }
    }
    let summary = serde_json::json!({
        "ok": verdict.count(hdh_release::Outcome::Ok),
        "flagged": verdict.count(hdh_release::Outcome::Flagged),
        "primary": verdict.count(hdh_release::Outcome::Primary),
        "secondary": verdict.count(hdh_release::Outcome::Secondary),
    });
    Ok(Recheck {
        changed,
        summary,
        footprints: verdict.footprints,
    })
}

/// What identifies a table's population: its units and its records (the
/// SHA-256 of the sorted distinct units and the record count).
fn population_of(records: &[hdh_release::Record]) -> String {
    let mut units: Vec<u64> = records.iter().map(|r| r.unit).collect();
    units.sort_unstable();
    units.dedup();
    let mut h = Sha256::new();
    for u in &units {
        h.update(u.to_be_bytes());
    }
    h.update((records.len() as u64).to_be_bytes());
    hex::encode(h.finalize())
}

/// The table as it leaves: one line per cell, its variables' levels
/// (`Total` for a margin) and its released value (`*` when suppressed).
fn released_csv(t: &hdh_release::Table, v: &hdh_release::TableVerdict) -> String {
    let label = match &t.spec.value {
        Some(val) => format!("{}_{val}", t.spec.agg.as_str()),
        None => t.spec.agg.as_str().to_string(),
    };
    let vars: Vec<&String> = t.spec.rows.iter().chain(&t.spec.cols).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vars.iter().map(|s| s.as_str()).collect();
    header.push(&label);
    let _ = w.write_record(&header);
    for c in &v.cells {
        let mut line: Vec<String> = vars
            .iter()
            .map(|var| {
                c.conditions
                    .iter()
                    .find(|(k, _)| k == *var)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_else(|| hdh_release::TOTAL.to_string())
            })
            .collect();
        line.push(match (c.released, t.spec.agg) {
            (None, _) if c.outcome.is_suppressed() => MARKER.to_string(),
            (None, _) => String::new(),
            (Some(x), Agg::Count) => format!("{}", x as i64),
            (Some(x), _) => format!("{}", (x * 1e6).round() / 1e6),
        });
        let _ = w.write_record(&line);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

// ---------------------------------------------------------------- the flow

/// The author submits: the tables are checked again (something may have
/// left since), then the reviews decide the state.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ReleaseRequest, AppError> {
    let Current {
        r,
        mut files,
        reviews,
    } = current(state, id).await?;
    transition(state, caller, &r, ReleaseAction::Submit, &files, &reviews).await?;
    crate::service::open_project(state, caller, &r.project_id, "release.submit").await?;
    let tables = recheck(state, &r, &mut files).await?;
    let to = transition(state, caller, &r, ReleaseAction::Submit, &files, &reviews).await?;
    let mut tx = state.store.begin().await?;
    for f in files.iter().filter(|f| tables.changed.contains(&f.id)) {
        tx.put_release_file(f).await?;
    }
    tx.set_release_state(id, r.state, to, None).await?;
    tx.audit(
        &caller
            .event("release.submit", "release")
            .object(id)
            .project(&r.project_id)
            .details(serde_json::json!({ "files": files.len(), "cells": tables.summary, "state": to.as_str() })),
    )
    .await?;
    tx.commit().await?;
    load(state, id).await
}

/// An output checker's decisions on every file of a submitted release.
pub async fn review(
    state: &AppState,
    caller: &Caller,
    id: &str,
    decisions: &[FileDecisionInput],
) -> Result<ReleaseRequest, AppError> {
    let r = load(state, id).await?;
    let files = state.store.release_files(id).await?;
    let stored = stored_reviews(&state.store.release_reviews(id).await?);
    let mut errors = Vec::new();
    let mut new = Vec::new();
    for d in decisions {
        let Some(f) = files.iter().find(|f| f.id == d.file) else {
            errors.push((
                format!("files.{}", d.file),
                "no such file in this release".to_string(),
            ));
            continue;
        };
        let Some(decision) = FileDecision::parse(d.decision.trim()) else {
            errors.push((
                format!("files.{}.decision", d.file),
                "approve or return".to_string(),
            ));
            continue;
        };
        if decision == FileDecision::Return && d.comment.trim().is_empty() {
            errors.push((
                format!("files.{}.comment", d.file),
                "say what the author must change".to_string(),
            ));
            continue;
        }
        new.push(FileReview {
            file_id: f.id.clone(),
            file_sha256: f.sha256.clone(),
            checker_id: caller.user.id.clone(),
            decision,
            comment: d.comment.trim().to_string(),
        });
    }
    let mut all: Vec<FileReview> = stored
        .into_iter()
        .filter(|s| !(s.checker_id == caller.user.id && new.iter().any(|n| n.file_id == s.file_id)))
        .collect();
    all.extend(new.iter().cloned());
    // Who may review is decided before what the review says.
    let to = transition(state, caller, &r, ReleaseAction::Review, &files, &all).await?;
    if !errors.is_empty() {
        return Err(invalid_fields(errors));
    }
    let at = now();
    let mut tx = state.store.begin().await?;
    for n in &new {
        tx.put_review(id, n, &at).await?;
    }
    tx.set_release_state(id, r.state, to, None).await?;
    let ev = checker_event(caller, "release.review", &r).details(serde_json::json!({
        "files": new.iter().map(|n| serde_json::json!({ "file": n.file_id, "decision": n.decision.as_str() })).collect::<Vec<_>>(),
        "state": to.as_str(),
    }));
    tx.audit(&ev).await?;
    tx.commit().await?;
    load(state, id).await
}

/// An output checker's audit event on a release, under the checker role.
fn checker_event(caller: &Caller, action: &str, r: &ReleaseRequest) -> hdh_model::AuditEvent {
    let mut ev = caller
        .event(action, "release")
        .object(&r.id)
        .project(&r.project_id);
    ev.role = Some(Role::Checker.as_str().into());
    ev
}

/// A checker lets a reviewed release leave. The tables are checked once
/// more against the ledger: if anything changed (another release left in
/// between), the release goes back to its author instead.
pub async fn release(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ReleaseRequest, AppError> {
    let Current {
        r,
        mut files,
        reviews,
    } = current(state, id).await?;
    transition(state, caller, &r, ReleaseAction::Release, &files, &reviews).await?;
    let tables = recheck(state, &r, &mut files).await?;
    let ev = checker_event(caller, "release.release", &r);
    if !tables.changed.is_empty() {
        let reason = format!(
            "the automatic check of {} changed since the review (another release of the project left): back to the author",
            tables.changed.join(", ")
        );
        let mut tx = state.store.begin().await?;
        for f in files.iter().filter(|f| tables.changed.contains(&f.id)) {
            tx.put_release_file(f).await?;
        }
        tx.set_release_state(
            id,
            r.state,
            ReleaseState::Returned,
            Some((&caller.user.id, Some(&reason))),
        )
        .await?;
        tx.audit(
            &ev.outcome(Outcome::Denied)
                .details(serde_json::json!({ "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::conflict(reason));
    }
    let path = format!("releases/{}/{id}/ledger.json", r.project_id);
    let footprints: Vec<Footprint> = tables
        .footprints
        .into_iter()
        .map(|f| Footprint {
            label: format!("release {id}, {}", f.label),
            ..f
        })
        .collect();
    let bytes = serde_json::to_vec(&footprints).map_err(|e| AppError::internal(e.to_string()))?;
    state.lake.put_bytes(&path, bytes).await?;
    let mut tx = state.store.begin().await?;
    tx.set_release_state(
        id,
        r.state,
        ReleaseState::Released,
        Some((&caller.user.id, None)),
    )
    .await?;
    tx.insert_ledger(&LedgerEntry {
        release_id: id.to_string(),
        project_id: r.project_id.clone(),
        object_path: path,
        cells: footprints.len() as i64,
        released_at: now(),
    })
    .await?;
    tx.audit(
        &ev.details(serde_json::json!({ "files": files.len(), "ledger_cells": footprints.len() })),
    )
    .await?;
    tx.commit().await?;
    load(state, id).await
}

/// A checker rejects a release (disclosive beyond repair), with the reason.
pub async fn reject(
    state: &AppState,
    caller: &Caller,
    id: &str,
    reason: &str,
) -> Result<ReleaseRequest, AppError> {
    let Current { r, files, reviews } = current(state, id).await?;
    let to = transition(state, caller, &r, ReleaseAction::Reject, &files, &reviews).await?;
    if reason.trim().is_empty() {
        return Err(invalid_fields(vec![(
            "reason".into(),
            "give the reason for rejecting".into(),
        )]));
    }
    let mut tx = state.store.begin().await?;
    tx.set_release_state(
        id,
        r.state,
        to,
        Some((&caller.user.id, Some(reason.trim()))),
    )
    .await?;
    let ev = checker_event(caller, "release.reject", &r)
        .details(serde_json::json!({ "reason": reason.trim() }));
    tx.audit(&ev).await?;
    tx.commit().await?;
    load(state, id).await
}

/// The author withdraws a release that has not left.
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ReleaseRequest, AppError> {
    let Current { r, files, reviews } = current(state, id).await?;
    let to = transition(state, caller, &r, ReleaseAction::Withdraw, &files, &reviews).await?;
    let mut tx = state.store.begin().await?;
    tx.set_release_state(id, r.state, to, None).await?;
    tx.audit(
        &caller
            .event("release.withdraw", "release")
            .object(id)
            .project(&r.project_id),
    )
    .await?;
    tx.commit().await?;
    load(state, id).await
}

// ---------------------------------------------------------------- reading

/// Project members and output checkers see a release; others are refused.
pub async fn view(state: &AppState, caller: &Caller, id: &str) -> Result<ReleaseView, AppError> {
    let r = load(state, id).await?;
    let member = state
        .store
        .is_member(&r.project_id, &caller.user.id)
        .await?;
    if let Some(why) = outsider(member, caller, &r) {
        return Err(deny(state, caller, "release.view", "release", Some(id), why).await);
    }
    let files = state.store.release_files(id).await?;
    let reviews = state.store.release_reviews(id).await?;
    let plain = stored_reviews(&reviews);
    let v = versions(&files);
    let author = r.requester_id == caller.user.id;
    let try_action = |a: ReleaseAction| {
        let c = ReleaseContext {
            caller_id: &caller.user.id,
            is_author: author,
            is_member: member,
            is_checker: caller.has(Role::Checker),
            files: &v,
            reviews: &plain,
            required_reviews: state.config.release_reviews_required,
        };
        match a {
            // A review is possible when the state and the caller allow it.
            ReleaseAction::Review => {
                c.is_checker
                    && !author
                    && !member
                    && matches!(
                        r.state,
                        ReleaseState::Submitted | ReleaseState::PartiallyReviewed
                    )
            }
            _ => r.state.apply(a, &c).is_ok(),
        }
    };
    let approvals = {
        let mut checkers: Vec<&str> = plain.iter().map(|x| x.checker_id.as_str()).collect();
        checkers.sort_unstable();
        checkers.dedup();
        checkers
            .iter()
            .filter(|c| {
                v.iter().all(|f| {
                    plain.iter().any(|x| {
                        x.checker_id == **c
                            && x.file_id == f.id
                            && x.file_sha256 == f.sha256
                            && x.decision == FileDecision::Approve
                    })
                })
            })
            .count()
    };
    let can = Can {
        edit: try_action(ReleaseAction::Edit),
        submit: try_action(ReleaseAction::Submit),
        review: try_action(ReleaseAction::Review),
        release: try_action(ReleaseAction::Release),
        reject: try_action(ReleaseAction::Reject),
        withdraw: try_action(ReleaseAction::Withdraw),
        download: member && r.state == ReleaseState::Released,
    };
    Ok(ReleaseView {
        release: r,
        files,
        reviews,
        required_reviews: state.config.release_reviews_required,
        approvals,
        can,
    })
}

/// Why the caller may not read a release: project members may, output
/// checkers once it was submitted (a draft is the author's work in progress).
fn outsider(member: bool, caller: &Caller, r: &ReleaseRequest) -> Option<String> {
    if member {
        None
    } else if !caller.has(Role::Checker) {
        Some("not a member of this project nor an output checker".into())
    } else if r.state == ReleaseState::Draft {
        Some("this release is a draft: checkers see it once submitted".into())
    } else {
        None
    }
}

/// The output checkers' queue: every release past its draft.
pub async fn queue(state: &AppState, caller: &Caller) -> Result<Vec<ReleaseRequest>, AppError> {
    if !caller.has(Role::Checker) {
        return Err(deny(
            state,
            caller,
            "release.list",
            "release",
            None,
            "the release queue is for output checkers".into(),
        )
        .await);
    }
    Ok(state.store.releases_for_checkers().await?)
}

/// A released file, for the project's members; each download is audited.
/// Before release, members and checkers may read a file to prepare and
/// review it (`preview`), audited as such.
pub async fn file(
    state: &AppState,
    caller: &Caller,
    id: &str,
    file_id: &str,
    preview: bool,
) -> Result<(ReleaseFile, Vec<u8>), AppError> {
    let r = load(state, id).await?;
    let member = state
        .store
        .is_member(&r.project_id, &caller.user.id)
        .await?;
    let action = if preview {
        "release.file.view"
    } else {
        "release.download"
    };
    let refusal = if preview {
        outsider(member, caller, &r)
    } else if !member {
        Some("only the project's members can download its releases".to_string())
    } else if r.state != ReleaseState::Released {
        Some(format!(
            "this release is {}, not released",
            r.state.as_str()
        ))
    } else {
        None
    };
    if let Some(m) = refusal {
        return Err(deny(state, caller, action, "release", Some(id), m).await);
    }
    let f = state
        .store
        .release_files(id)
        .await?
        .into_iter()
        .find(|f| f.id == file_id)
        .ok_or_else(|| AppError::not_found(format!("file {file_id} of release {id}")))?;
    let bytes = state.lake.get_bytes(&f.object_path).await?;
    state
        .store
        .audit(
            &caller
                .event(action, "release")
                .object(id)
                .project(&r.project_id)
                .details(serde_json::json!({ "file": file_id, "sha256": f.sha256 })),
        )
        .await?;
    Ok((f, bytes.to_vec()))
}

/// A release file as an HTTP answer: typed by what it is, never sniffed,
/// sandboxed if a browser opens it (an SVG cannot run anything).
pub fn file_response(f: ReleaseFile, bytes: Vec<u8>, attachment: bool) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let disposition = if attachment { "attachment" } else { "inline" };
    (
        [
            (header::CONTENT_TYPE, f.media_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{}\"", f.name),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(unit: u64) -> hdh_release::Record {
        hdh_release::Record {
            row: vec!["a".into()],
            col: vec![],
            unit,
            value: None,
        }
    }

    #[test]
    fn a_population_is_its_records_however_the_query_is_written() {
        let a = [rec(1), rec(2), rec(2), rec(3)];
        let b = [rec(3), rec(2), rec(1), rec(2)];
        assert_eq!(population_of(&a), population_of(&b));
        assert_ne!(population_of(&a), population_of(&a[..3]), "a record fewer");
        assert_ne!(
            population_of(&a),
            population_of(&[rec(1), rec(2), rec(4), rec(4)])
        );
    }
}
