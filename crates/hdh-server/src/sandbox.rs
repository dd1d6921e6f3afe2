//! The project sandbox: every workspace statement — from the console, the
//! API or Flight SQL — goes through [`run`] or [`open_stream`], which check
//! the caller and the project, put the statement through the gatekeeper
//! (`hdh_workspace::gate`) before anything runs, enforce the limits (memory
//! and time per query, concurrent queries and scratch space per project),
//! and log every query with its outcome and what it read, in the same
//! transaction as its audit event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::StatusCode;
use hdh_model::Outcome;
use hdh_store::{QueryLogEntry, ScratchTable, now};
use hdh_workspace::gate::{Checked, Refusal, RefusalKind, Scope};
use hdh_workspace::{ProjectTable, QueryError, QueryResult, QueryStats};
use serde::Serialize;

use crate::auth::Caller;
use crate::{AppError, AppState};

/// Where a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Web,
    Api,
    Flight,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Flight => "flight",
        }
    }
}

/// A running query's project, user and cancellation signal.
type Cancel = (String, String, Arc<tokio::sync::Notify>);

/// Queries running now: per-project counts and cancellation handles.
#[derive(Default)]
pub struct Running {
    per_project: Mutex<HashMap<String, usize>>,
    cancels: Mutex<HashMap<String, Cancel>>,
}

/// A slot of a project's concurrent queries, given back on drop.
pub struct Slot {
    running: Arc<Running>,
    project: String,
    query: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.running.per_project.lock()
            && let Some(n) = m.get_mut(&self.project)
        {
            *n = n.saturating_sub(1);
        }
        if let Ok(mut c) = self.running.cancels.lock() {
            c.remove(&self.query);
        }
    }
}

impl Running {
    fn acquire(
        self: &Arc<Self>,
        project: &str,
        user: &str,
        query: &str,
        limit: usize,
    ) -> Option<(Slot, Arc<tokio::sync::Notify>)> {
        let mut m = self.per_project.lock().ok()?;
        let n = m.entry(project.to_string()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        drop(m);
        let notify = Arc::new(tokio::sync::Notify::new());
        if let Ok(mut c) = self.cancels.lock() {
            c.insert(
                query.to_string(),
                (project.to_string(), user.to_string(), notify.clone()),
            );
        }
        Some((
            Slot {
                running: self.clone(),
                project: project.to_string(),
                query: query.to_string(),
            },
            notify,
        ))
    }

    /// Cancels a running query of `user` in `project`; false if none.
    pub fn cancel(&self, project: &str, user: &str, query: &str) -> bool {
        let Ok(c) = self.cancels.lock() else {
            return false;
        };
        match c.get(query) {
            Some((p, u, n)) if p == project && u == user => {
                n.notify_one();
                true
            }
            _ => false,
        }
    }
}

/// What a statement produced.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Produced {
    Rows(QueryResult),
    Created {
        table: String,
        rows: u64,
        bytes: u64,
    },
    Dropped {
        table: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    pub query_id: String,
    #[serde(flatten)]
    pub produced: Produced,
    pub duration_ms: u64,
    pub stats: QueryStats,
}

/// The project's tables and scratch tables as its session sees them.
pub struct ProjectScope {
    pub tables: Vec<ProjectTable>,
    pub scratch: Vec<ProjectTable>,
    pub scratch_bytes: u64,
}

pub async fn project_scope(state: &AppState, project_id: &str) -> Result<ProjectScope, AppError> {
    let tables = state
        .store
        .extraction(project_id)
        .await?
        .into_iter()
        .map(|t| ProjectTable {
            name: t.table_name,
            object_path: t.object_path,
        })
        .collect();
    let scratch_rows = state.store.scratch_tables(project_id).await?;
    let scratch_bytes = scratch_rows.iter().map(|t| t.bytes.max(0) as u64).sum();
    let scratch = scratch_rows
        .into_iter()
        .map(|t| ProjectTable {
            name: t.name,
            object_path: t.object_path,
        })
        .collect();
    Ok(ProjectScope {
        tables,
        scratch,
        scratch_bytes,
    })
}

pub async fn session(
    state: &AppState,
    scope: &ProjectScope,
) -> Result<datafusion::prelude::SessionContext, AppError> {
    Ok(hdh_workspace::project_session_with_scratch(
        &state.lake,
        &scope.tables,
        &scope.scratch,
        &state.config.workspace_limits,
    )
    .await?)
}

fn clip(sql: &str) -> String {
    sql.chars().take(4000).collect()
}

struct Log<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    project_id: &'a str,
    channel: Channel,
    sql: &'a str,
    id: String,
    started_at: String,
    started: Instant,
}

impl Log<'_> {
    async fn write(
        &self,
        outcome: &str,
        stats: QueryStats,
        error: Option<String>,
        audit_outcome: Outcome,
        extra: serde_json::Value,
    ) -> Result<(), AppError> {
        let duration_ms = self.started.elapsed().as_millis() as i64;
        let entry = QueryLogEntry {
            id: self.id.clone(),
            project_id: self.project_id.to_string(),
            user_id: self.caller.user.id.clone(),
            channel: self.channel.as_str().into(),
            sql: clip(self.sql),
            started_at: self.started_at.clone(),
            duration_ms,
            rows_scanned: stats.rows_scanned as i64,
            bytes_scanned: stats.bytes_scanned as i64,
            result_rows: stats.result_rows as i64,
            result_bytes: stats.result_bytes as i64,
            outcome: outcome.into(),
            error: error.clone(),
        };
        let mut tx = self.state.store.begin().await?;
        tx.log_query(&entry).await?;
        let mut details = serde_json::json!({
            "query": self.id,
            "channel": self.channel.as_str(),
            "sql": clip(self.sql),
            "outcome": outcome,
            "duration_ms": duration_ms,
            "rows_scanned": stats.rows_scanned,
            "bytes_scanned": stats.bytes_scanned,
            "rows": stats.result_rows,
        });
        if let Some(e) = &error {
            details["error"] = serde_json::json!(e);
        }
        if let (Some(d), serde_json::Value::Object(x)) = (details.as_object_mut(), extra) {
            d.extend(x);
        }
        tx.audit(
            &self
                .caller
                .event("workspace.query", "project")
                .object(self.project_id)
                .project(self.project_id)
                .outcome(audit_outcome)
                .details(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn refusal_error(r: &Refusal) -> AppError {
    match r.kind {
        RefusalKind::OutOfScope => AppError::new(StatusCode::FORBIDDEN, "out_of_scope", &r.message),
        RefusalKind::NotAllowed => AppError::new(StatusCode::FORBIDDEN, "not_allowed", &r.message),
        RefusalKind::Invalid => {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_error", &r.message)
        }
    }
}

fn query_error(e: &QueryError) -> (AppError, &'static str) {
    let (status, code, outcome) = match e {
        QueryError::OutOfScope(_) => (StatusCode::FORBIDDEN, "out_of_scope", "refused"),
        QueryError::NotAllowed(_) => (StatusCode::FORBIDDEN, "not_allowed", "refused"),
        QueryError::TimedOut(_) => (StatusCode::UNPROCESSABLE_ENTITY, "query_timeout", "timeout"),
        QueryError::TooBig(_) => (StatusCode::UNPROCESSABLE_ENTITY, "query_memory", "memory"),
        QueryError::QuotaExceeded(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "scratch_quota", "quota")
        }
        QueryError::Cancelled => (StatusCode::CONFLICT, "query_cancelled", "cancelled"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "query_error", "failed"),
    };
    (AppError::new(status, code, e.to_string()), outcome)
}

/// Checks a statement against the project's scope; a refusal is logged and
/// audited before the error returns.
async fn admit(log: &Log<'_>, scope: &ProjectScope) -> Result<Checked, AppError> {
    let tables: Vec<String> = scope.tables.iter().map(|t| t.name.clone()).collect();
    let scratch: Vec<String> = scope.scratch.iter().map(|t| t.name.clone()).collect();
    match hdh_workspace::gate::check(
        log.sql,
        &Scope {
            tables: &tables,
            scratch: &scratch,
        },
    ) {
        Ok(c) => Ok(c),
        Err(r) => {
            let (outcome, audit) = match r.kind {
                RefusalKind::Invalid => ("failed", Outcome::Failed),
                _ => ("refused", Outcome::Denied),
            };
            log.write(
                outcome,
                QueryStats::default(),
                Some(r.message.clone()),
                audit,
                serde_json::json!({ "rule": r.rule }),
            )
            .await?;
            Err(refusal_error(&r))
        }
    }
}

/// A slot among the project's concurrent queries; a refusal is logged and
/// audited.
/// Runs a query's work within the workspace's time limit, unless it is
/// cancelled first.
async fn bounded<T>(
    timeout: std::time::Duration,
    cancel: &tokio::sync::Notify,
    work: impl std::future::Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    tokio::select! {
        r = tokio::time::timeout(timeout, work) => match r {
            Ok(r) => r,
            Err(_) => Err(QueryError::TimedOut(timeout.as_secs())),
        },
        _ = cancel.notified() => Err(QueryError::Cancelled),
    }
}

async fn slot(log: &Log<'_>, id: &str) -> Result<(Slot, Arc<tokio::sync::Notify>), AppError> {
    let limit = log.state.config.project_concurrent_queries.max(1);
    if let Some(s) = log
        .state
        .queries
        .acquire(log.project_id, &log.caller.user.id, id, limit)
    {
        return Ok(s);
    }
    let msg = format!(
        "project {} already runs {limit} queries: wait for one to finish or cancel it",
        log.project_id
    );
    log.write(
        "refused",
        QueryStats::default(),
        Some(msg.clone()),
        Outcome::Denied,
        serde_json::json!({ "rule": "concurrency" }),
    )
    .await?;
    Err(AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_queries",
        msg,
    ))
}

/// Runs one statement of a member in an open project.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    sql: &str,
    channel: Channel,
    query_id: Option<String>,
) -> Result<RunOutput, AppError> {
    crate::service::open_project(state, caller, project_id, "workspace.query").await?;
    let id = query_id
        .filter(|q| {
            !q.is_empty()
                && q.len() <= 64
                && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let log = Log {
        state,
        caller,
        project_id,
        channel,
        sql,
        id: id.clone(),
        started_at: now(),
        started: Instant::now(),
    };
    let scope = project_scope(state, project_id).await?;
    let checked = admit(&log, &scope).await?;
    let (_slot, cancel) = slot(&log, &id).await?;
    let timeout = state.config.workspace_limits.timeout;
    let work = async {
        match &checked {
            Checked::Query => {
                let ctx = session(state, &scope)
                    .await
                    .map_err(|e| QueryError::Failed(e.message))?;
                let (res, stats) =
                    hdh_workspace::execute(&ctx, sql, state.config.max_result_rows).await?;
                Ok((Produced::Rows(res), stats))
            }
            Checked::CreateScratch {
                name,
                query,
                replace,
                if_not_exists,
            } => {
                let exists = scope.scratch.iter().any(|t| &t.name == name);
                if exists && *if_not_exists {
                    return Ok((
                        Produced::Created {
                            table: name.clone(),
                            rows: 0,
                            bytes: 0,
                        },
                        QueryStats::default(),
                    ));
                }
                if exists && !*replace {
                    return Err(QueryError::Invalid(format!(
                        "scratch.{name} already exists: CREATE OR REPLACE TABLE replaces it, DROP TABLE scratch.{name} removes it"
                    )));
                }
                // The space a replaced table frees.
                let freed = if exists {
                    state
                        .store
                        .scratch_tables(project_id)
                        .await
                        .map_err(|e| QueryError::Failed(e.to_string()))?
                        .into_iter()
                        .find(|t| &t.name == name)
                        .map(|t| t.bytes.max(0) as u64)
                        .unwrap_or(0)
                } else {
                    0
                };
                let quota = state.config.scratch_quota_bytes;
                let used = scope.scratch_bytes.saturating_sub(freed);
                if used >= quota {
                    return Err(QueryError::QuotaExceeded(0));
                }
                let ctx = session(state, &scope)
                    .await
                    .map_err(|e| QueryError::Failed(e.message))?;
                let (manifest, stats) = hdh_workspace::write_scratch(
                    &ctx,
                    &state.lake,
                    project_id,
                    name,
                    query,
                    quota - used,
                )
                .await?;
                let file = manifest.files.first().cloned().ok_or_else(|| {
                    QueryError::Failed("the derived table was not written".into())
                })?;
                let record = ScratchTable {
                    project_id: project_id.to_string(),
                    name: name.clone(),
                    object_path: file.path.clone(),
                    rows: file.rows as i64,
                    bytes: file.bytes as i64,
                    sql: clip(sql),
                    created_by: caller.user.id.clone(),
                    created_at: now(),
                };
                let dir = file.path.rsplit_once('/').map(|(d, _)| d.to_string());
                let saved: Result<Option<String>, AppError> = async {
                    let mut tx = state.store.begin().await?;
                    let old = tx.put_scratch(&record).await?;
                    tx.audit(
                        &caller
                            .event("workspace.scratch.create", "project")
                            .object(project_id)
                            .project(project_id)
                            .details(serde_json::json!({ "table": name, "rows": file.rows, "bytes": file.bytes })),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(old)
                }
                .await;
                match saved {
                    Ok(Some(old)) => {
                        if let Some((d, _)) = old.rsplit_once('/') {
                            let _ = state.lake.delete_prefix(d).await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if let Some(d) = dir {
                            let _ = state.lake.delete_prefix(&d).await;
                        }
                        return Err(QueryError::Failed(e.message));
                    }
                }
                Ok((
                    Produced::Created {
                        table: name.clone(),
                        rows: file.rows,
                        bytes: file.bytes,
                    },
                    stats,
                ))
            }
            Checked::DropScratch { name, if_exists } => {
                let removed: Result<Option<String>, AppError> = async {
                    let mut tx = state.store.begin().await?;
                    let old = tx.delete_scratch(project_id, name).await?;
                    tx.audit(
                        &caller
                            .event("workspace.scratch.drop", "project")
                            .object(project_id)
                            .project(project_id)
                            .details(serde_json::json!({ "table": name })),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(old)
                }
                .await;
                match removed.map_err(|e| QueryError::Failed(e.message))? {
                    Some(old) => {
                        if let Some((d, _)) = old.rsplit_once('/') {
                            let _ = state.lake.delete_prefix(d).await;
                        }
                    }
                    None if !*if_exists => {
                        return Err(QueryError::Invalid(format!(
                            "there is no table scratch.{name}"
                        )));
                    }
                    None => {}
                }
                Ok((
                    Produced::Dropped {
                        table: name.clone(),
                    },
                    QueryStats::default(),
                ))
            }
        }
    };
    let result = bounded(timeout, &cancel, work).await;
    match result {
        Ok((produced, stats)) => {
            log.write("ok", stats, None, Outcome::Success, serde_json::json!({}))
                .await?;
            Ok(RunOutput {
                query_id: id,
                produced,
                duration_ms: log.started.elapsed().as_millis() as u64,
                stats,
            })
        }
        Err(e) => {
            let (err, outcome) = query_error(&e);
            let audit = if e.is_scope_violation() {
                Outcome::Denied
            } else {
                Outcome::Failed
            };
            log.write(
                outcome,
                QueryStats::default(),
                Some(e.to_string()),
                audit,
                serde_json::json!({}),
            )
            .await?;
            Err(err)
        }
    }
}

/// Cancels one of the caller's running queries.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    query_id: &str,
) -> Result<bool, AppError> {
    crate::service::open_project(state, caller, project_id, "workspace.cancel").await?;
    Ok(state.queries.cancel(project_id, &caller.user.id, query_id))
}

/// The API's answer: `result` as columns and rows (for a table created or
/// dropped, one row saying so), and the query's id, duration and reads.
pub fn output_json(out: &RunOutput) -> serde_json::Value {
    let result = match &out.produced {
        Produced::Rows(r) => serde_json::to_value(r).unwrap_or_default(),
        Produced::Created { table, rows, bytes } => serde_json::json!({
            "columns": ["created", "rows", "bytes"],
            "rows": [[format!("scratch.{table}"), rows.to_string(), bytes.to_string()]],
            "truncated": false,
        }),
        Produced::Dropped { table } => serde_json::json!({
            "columns": ["dropped"],
            "rows": [[format!("scratch.{table}")]],
            "truncated": false,
        }),
    };
    serde_json::json!({
        "result": result,
        "query": {
            "id": out.query_id,
            "duration_ms": out.duration_ms,
            "rows_scanned": out.stats.rows_scanned,
            "bytes_scanned": out.stats.bytes_scanned,
        },
    })
}

/// A query's batches for a streaming client (Flight SQL), after the same
/// checks as [`run`]; the query is logged when the stream ends (or is
/// dropped), with what it read and returned. Only read-only queries:
/// derived tables are made from the console or the API.
pub async fn open_stream(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    sql: &str,
) -> Result<LoggedStream, AppError> {
    crate::service::open_project(state, caller, project_id, "workspace.query").await?;
    let id = uuid::Uuid::now_v7().to_string();
    let log = Log {
        state,
        caller,
        project_id,
        channel: Channel::Flight,
        sql,
        id: id.clone(),
        started_at: now(),
        started: Instant::now(),
    };
    let scope = project_scope(state, project_id).await?;
    match admit(&log, &scope).await? {
        Checked::Query => {}
        _ => {
            let msg = "this endpoint runs queries only: create or drop scratch tables from the console or the API".to_string();
            log.write(
                "refused",
                QueryStats::default(),
                Some(msg.clone()),
                Outcome::Denied,
                serde_json::json!({ "rule": "read_only_endpoint" }),
            )
            .await?;
            return Err(AppError::new(StatusCode::FORBIDDEN, "not_allowed", msg));
        }
    }
    let (slot, cancel) = slot(&log, &id).await?;
    let ctx = session(state, &scope).await?;
    // Starting may run the query's shared subqueries (hdh_workspace::shared):
    // the same time limit and cancellation as the rest of the query.
    let started = bounded(
        state.config.workspace_limits.timeout,
        &cancel,
        hdh_workspace::start_query(&ctx, sql),
    )
    .await;
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            let (err, outcome) = query_error(&e);
            log.write(
                outcome,
                QueryStats::default(),
                Some(e.to_string()),
                if e.is_scope_violation() {
                    Outcome::Denied
                } else {
                    Outcome::Failed
                },
                serde_json::json!({}),
            )
            .await?;
            return Err(err);
        }
    };
    Ok(LoggedStream {
        inner: started.stream,
        plans: started.plans,
        done: Some(Finish {
            state: state.clone(),
            caller: caller.clone(),
            project_id: project_id.to_string(),
            sql: sql.to_string(),
            id,
            started_at: log.started_at.clone(),
            started: log.started,
            slot,
        }),
        stats: QueryStats::default(),
        deadline: log.started + state.config.workspace_limits.timeout,
        timeout_s: state.config.workspace_limits.timeout.as_secs(),
        error: None,
    })
}

struct Finish {
    state: AppState,
    caller: Caller,
    project_id: String,
    sql: String,
    id: String,
    started_at: String,
    started: Instant,
    slot: Slot,
}

/// A query's record batches; logs the query once, when it ends.
pub struct LoggedStream {
    inner: datafusion::physical_plan::SendableRecordBatchStream,
    plans: hdh_workspace::QueryPlans,
    done: Option<Finish>,
    stats: QueryStats,
    deadline: Instant,
    timeout_s: u64,
    error: Option<QueryError>,
}

impl LoggedStream {
    pub fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn finish(&mut self) {
        let Some(f) = self.done.take() else {
            return;
        };
        let (scanned, bytes) = self.plans.scan_stats();
        let mut stats = self.stats;
        stats.rows_scanned = scanned;
        stats.bytes_scanned = bytes;
        let (outcome, audit, error) = match &self.error {
            None => ("ok", Outcome::Success, None),
            Some(e) => {
                let (_, o) = query_error(e);
                (o, Outcome::Failed, Some(e.to_string()))
            }
        };
        tokio::spawn(async move {
            let Finish {
                state,
                caller,
                project_id,
                sql,
                id,
                started_at,
                started,
                slot,
            } = f;
            drop(slot);
            let log = Log {
                state: &state,
                caller: &caller,
                project_id: &project_id,
                channel: Channel::Flight,
                sql: &sql,
                id,
                started_at,
                started,
            };
            if let Err(e) = log
                .write(outcome, stats, error, audit, serde_json::json!({}))
                .await
            {
                tracing::error!("logging a Flight SQL query: {}", e.message);
            }
        });
    }
}

impl futures::Stream for LoggedStream {
    type Item = Result<datafusion::arrow::record_batch::RecordBatch, QueryError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done.is_none() {
            return Poll::Ready(None);
        }
        if Instant::now() > self.deadline {
            let e = QueryError::TimedOut(self.timeout_s);
            self.error = Some(QueryError::TimedOut(self.timeout_s));
            self.finish();
            return Poll::Ready(Some(Err(e)));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.stats.result_rows += b.num_rows() as u64;
                self.stats.result_bytes += b.get_array_memory_size() as u64;
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => {
                let q = hdh_workspace::QueryError::from_engine(e);
                self.error = Some(hdh_workspace::QueryError::Failed(q.to_string()));
                self.finish();
                Poll::Ready(Some(Err(q)))
            }
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        if self.done.is_some() && self.error.is_none() {
            // Dropped before its end: the client went away.
            self.error = Some(QueryError::Cancelled);
        }
        self.finish();
    }
}
