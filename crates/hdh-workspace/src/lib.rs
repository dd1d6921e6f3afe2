//! Project workspaces: building a project's extraction from the lake, and
//! the sandboxed SQL sessions researchers query it with.
//!
//! A project's [`SessionContext`] registers only that project's extraction
//! tables; DDL, DML and statements (`CREATE EXTERNAL TABLE`, `COPY`, `SET`)
//! are refused, and DataFusion's URL tables are off, so SQL cannot reach a file
//! or another project's data.

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use hdh_lake::{Lake, Manifest};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub mod extract;
pub mod gate;
pub mod microdata;
pub mod profile;
pub mod pseudonyms;
pub mod quality;
pub mod reorder;
pub mod shared;

/// The lines of record batches as a text table (tests compare answers so).
#[cfg(test)]
pub(crate) fn table_lines(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<String> {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string().lines().map(str::to_string).collect())
        .unwrap_or_else(|e| vec![e.to_string()])
}

pub use extract::{
    Bridge, Extraction, ExtractionReport, ExtractionSpec, LinkTableRef, Linker, Oppositions,
    RegisterState, SourceForeignKey, SourceTable, TableReport, TableSpec, provision,
};

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("lake: {0}")]
    Lake(#[from] hdh_lake::LakeError),
    #[error("query engine: {0}")]
    Engine(#[from] DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("bad extraction spec: {0}")]
    Spec(String),
}

/// Why a query was not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("out of scope: {0}. Only the tables of this project's extraction can be queried.")]
    OutOfScope(String),
    #[error(
        "not allowed in a workspace: {0}. Only read-only queries (SELECT, WITH, EXPLAIN) are accepted."
    )]
    NotAllowed(String),
    #[error("invalid query: {0}")]
    Invalid(String),
    #[error("query failed: {0}")]
    Failed(String),
    #[error(
        "the query ran longer than the workspace's limit of {0} s: filter on dates or aggregate first"
    )]
    TimedOut(u64),
    #[error(
        "the query needs more memory than the workspace allows: filter or aggregate further ({0})"
    )]
    TooBig(String),
    #[error(
        "the derived table would exceed the project's scratch space ({0} bytes left): drop scratch tables or keep fewer rows or columns"
    )]
    QuotaExceeded(u64),
    #[error("the query was cancelled")]
    Cancelled,
}

impl QueryError {
    fn from_df(e: DataFusionError) -> QueryError {
        let msg = e.to_string();
        let lower = msg.to_lowercase();
        if let DataFusionError::ResourcesExhausted(m) = e.find_root() {
            return QueryError::TooBig(m.clone());
        }
        if lower.contains("table") && lower.contains("not found") {
            QueryError::OutOfScope(missing_table(&msg))
        } else if lower.contains("not supported")
            && (lower.contains("ddl") || lower.contains("dml") || lower.contains("statement"))
        {
            QueryError::NotAllowed(clean(&msg))
        } else if matches!(
            e,
            DataFusionError::SQL(..) | DataFusionError::Plan(..) | DataFusionError::SchemaError(..)
        ) {
            QueryError::Invalid(clean(&msg))
        } else {
            QueryError::Failed(clean(&msg))
        }
    }

    /// The error of an engine failure during execution.
    pub fn from_engine(e: DataFusionError) -> QueryError {
        QueryError::from_df(e)
    }

    pub fn is_scope_violation(&self) -> bool {
        matches!(self, QueryError::OutOfScope(_) | QueryError::NotAllowed(_))
    }
}

/// "table 'datafusion.public.ER_PHA_F' not found" → "there is no table ER_PHA_F here".
fn missing_table(msg: &str) -> String {
    let name = msg
        .split('\'')
        .nth(1)
        .map(|q| q.rsplit('.').next().unwrap_or(q).to_string());
    match name {
        Some(n) => format!("there is no table {n} here"),
        None => clean(msg),
    }
}

fn clean(msg: &str) -> String {
    msg.replace("Error during planning: ", "")
        .replace("SQL error: ", "")
}

// ---------------------------------------------------------------- provisioning

pub fn extraction_prefix(project_id: &str) -> String {
    format!("projects/{project_id}/extraction")
}

/// Resources a workspace session may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Memory for query execution (sorts, joins, aggregations); beyond it a
    /// query fails with a clear error instead of exhausting the hub.
    pub memory_bytes: usize,
    /// Wall-clock limit of one query.
    pub timeout: std::time::Duration,
    /// Where queries that outgrow memory spill row-level data: inside the
    /// hub's data directory, never the system's temporary directory.
    pub spill_dir: Option<std::path::PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 2 << 30,
            timeout: std::time::Duration::from_secs(300),
            spill_dir: None,
        }
    }
}

fn engine(lake: &Lake, limits: &Limits) -> Result<SessionContext, WorkspaceError> {
    engine_with(lake, limits, 0)
}

/// The engine with `partitions` target partitions (0: one per core).
pub(crate) fn engine_with(
    lake: &Lake,
    limits: &Limits,
    partitions: usize,
) -> Result<SessionContext, WorkspaceError> {
    let mut config = SessionConfig::new();
    if partitions > 0 {
        config = config.with_target_partitions(partitions);
    }
    let config = config
        .with_information_schema(true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        // Filters evaluated while decoding Parquet, including the dynamic
        // filters a hash join derives from its build side: measured by
        // bench/workspace (50 M claims), 2× faster on the cohort queries
        // that join claims to dispensations of one drug class.
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        // SNDS tables and columns are upper case (ER_PRS_F.EXE_SOI_DTD) and
        // their users write them unquoted, as in SAS and Oracle.
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
    use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
    let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0);
    if let Some(dir) = &limits.spill_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| WorkspaceError::Spec(format!("spill directory {}: {e}", dir.display())))?;
        runtime = runtime.with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
        );
    }
    let runtime = runtime.build_arc()?;
    let ctx = with_workspace_rules(SessionContext::new_with_config_rt(config, runtime));
    let url =
        url::Url::parse(hdh_lake::LAKE_URL).map_err(|e| WorkspaceError::Spec(e.to_string()))?;
    ctx.register_object_store(&url, lake.object_store());
    Ok(ctx)
}

/// The workspace's own optimizer rules added to DataFusion's: the selective
/// joins first ([`reorder::SelectiveJoinsFirst`]), right after filters have
/// been pushed down, so that the joins it moves see where the filters are.
pub(crate) fn with_workspace_rules(ctx: SessionContext) -> SessionContext {
    use datafusion::execution::SessionStateBuilder;
    use datafusion::optimizer::OptimizerRule;
    let state = ctx.state();
    let mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = state.optimizers().to_vec();
    let at = rules
        .iter()
        .position(|r| r.name() == "push_down_filter")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, Arc::new(reorder::SelectiveJoinsFirst));
    SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_optimizer_rules(rules)
            .build(),
    )
}

/// Streams the record batches of one Parquet file of the lake, as written
/// (for maintenance such as a key rotation).
pub async fn read_table(
    lake: &Lake,
    object_path: &str,
) -> Result<datafusion::physical_plan::SendableRecordBatchStream, WorkspaceError> {
    let ctx = engine(lake, &Limits::default())?;
    let df = ctx
        .read_parquet(lake.url(object_path), ParquetReadOptions::default())
        .await?;
    Ok(df.execute_stream().await?)
}

pub(crate) fn pseudonymised_schema(schema: &SchemaRef, person_columns: &[String]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if person_columns.iter().any(|p| p == f.name()) {
                Field::new(f.name(), DataType::Utf8, f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

// ---------------------------------------------------------------- sessions

/// A table of a project's extraction as registered in its session.
#[derive(Debug, Clone)]
pub struct ProjectTable {
    pub name: String,
    pub object_path: String,
}

/// The schema of a project's derived tables.
pub const SCRATCH: &str = "scratch";

/// A SQL session whose catalogue holds only the given tables (schema
/// `public`) and the project's derived tables (schema `scratch`).
pub async fn project_session(
    lake: &Lake,
    tables: &[ProjectTable],
    limits: &Limits,
) -> Result<SessionContext, WorkspaceError> {
    project_session_with_scratch(lake, tables, &[], limits).await
}

pub async fn project_session_with_scratch(
    lake: &Lake,
    tables: &[ProjectTable],
    scratch: &[ProjectTable],
    limits: &Limits,
) -> Result<SessionContext, WorkspaceError> {
    let ctx = engine(lake, limits)?;
    for t in tables {
        ctx.register_parquet(
            TableReference::bare(t.name.as_str()),
            lake.url(&t.object_path),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| WorkspaceError::Spec("no default catalogue".into()))?;
    catalog.register_schema(
        SCRATCH,
        Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
    )?;
    for t in scratch {
        ctx.register_parquet(
            TableReference::partial(SCRATCH, t.name.as_str()),
            lake.url(&t.object_path),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    Ok(ctx)
}

/// What a query read and returned (for the query log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStats {
    pub rows_scanned: u64,
    pub bytes_scanned: u64,
    pub result_rows: u64,
    pub result_bytes: u64,
}

/// Rows and bytes the scans of an executed plan read.
fn scan_stats(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> (u64, u64) {
    let mut rows = 0u64;
    let mut bytes = 0u64;
    if plan.children().is_empty()
        && let Some(m) = plan.metrics()
    {
        rows += m.output_rows().unwrap_or(0) as u64;
        bytes += m
            .sum_by_name("bytes_scanned")
            .map(|v| v.as_usize() as u64)
            .unwrap_or(0);
    }
    for c in plan.children() {
        let (r, b) = scan_stats(c);
        rows += r;
        bytes += b;
    }
    (rows, bytes)
}

/// A query that has started: its record batches, and the plans that ran for
/// it (for the rows and bytes it read, once the stream is consumed).
pub struct RunningQuery {
    pub stream: datafusion::physical_plan::SendableRecordBatchStream,
    pub plans: QueryPlans,
}

/// The physical plans of a query: its own and those of the shared
/// subqueries computed ahead of it ([`shared`]), whose rows it holds.
#[derive(Debug)]
pub struct QueryPlans {
    main: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    shared: shared::Materialised,
}

impl QueryPlans {
    /// Rows and bytes the scans of all the plans read.
    pub fn scan_stats(&self) -> (u64, u64) {
        std::iter::once(&self.main)
            .chain(&self.shared.plans)
            .map(scan_stats)
            .fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2))
    }
}

/// Plans a read-only query, computes its shared subqueries once, and starts
/// it.
pub async fn start_query(ctx: &SessionContext, sql: &str) -> Result<RunningQuery, QueryError> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(QueryError::from_df)?;
    let (state, plan) = df.into_parts();
    let (plan, shared) = shared::materialise(ctx, plan)
        .await
        .map_err(QueryError::from_df)?;
    let plan = datafusion::prelude::DataFrame::new(state, plan)
        .create_physical_plan()
        .await
        .map_err(QueryError::from_df)?;
    let stream = datafusion::physical_plan::execute_stream(plan.clone(), ctx.task_ctx())
        .map_err(QueryError::from_df)?;
    Ok(RunningQuery {
        stream,
        plans: QueryPlans { main: plan, shared },
    })
}

/// The result schema of a read-only query, without running it.
pub async fn query_schema(ctx: &SessionContext, sql: &str) -> Result<SchemaRef, QueryError> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(QueryError::from_df)?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}

/// Runs a read-only query, returns at most `max_rows` rows as text and
/// what it read.
pub async fn execute(
    ctx: &SessionContext,
    sql: &str,
    max_rows: usize,
) -> Result<(QueryResult, QueryStats), QueryError> {
    let RunningQuery { mut stream, plans } = start_query(ctx, sql).await?;
    let columns: Vec<String> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut stats = QueryStats::default();
    let opts = FormatOptions::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(QueryError::from_df)?;
        stats.result_bytes += batch.get_array_memory_size() as u64;
        let fmts: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<_, _>>()
            .map_err(|e| QueryError::Failed(e.to_string()))?;
        for r in 0..batch.num_rows() {
            if rows.len() >= max_rows {
                truncated = true;
                break;
            }
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| {
                        if c.is_null(r) {
                            None
                        } else {
                            Some(f.value(r).to_string())
                        }
                    })
                    .collect(),
            );
        }
        if truncated {
            break;
        }
    }
    drop(stream);
    let (scanned, bytes) = plans.scan_stats();
    stats.rows_scanned = scanned;
    stats.bytes_scanned = bytes;
    stats.result_rows = rows.len() as u64;
    Ok((
        QueryResult {
            columns,
            rows,
            truncated,
        },
        stats,
    ))
}

/// Runs a query and writes its result as a derived table of the project
/// (`projects/<id>/scratch/<uuid>/<name>.parquet`), stopping as soon as
/// the project's scratch space would exceed `quota_left` bytes.
pub async fn write_scratch(
    ctx: &SessionContext,
    lake: &Lake,
    project_id: &str,
    name: &str,
    sql: &str,
    quota_left: u64,
) -> Result<(Manifest, QueryStats), QueryError> {
    let RunningQuery { mut stream, plans } = start_query(ctx, sql).await?;
    let schema = stream.schema();
    let mut staging = lake.begin_staging();
    let fail = |e: String| QueryError::Failed(e);
    let mut writer = lake
        .table_writer(&staging, name, schema.clone())
        .map_err(|e| fail(e.to_string()))?;
    let mut stats = QueryStats::default();
    let result: Result<(), QueryError> = async {
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from_df)?;
            stats.result_rows += batch.num_rows() as u64;
            stats.result_bytes += batch.get_array_memory_size() as u64;
            // In-memory size bounds the written size (compressed) from above.
            if stats.result_bytes > quota_left.saturating_mul(4) {
                return Err(QueryError::QuotaExceeded(quota_left));
            }
            writer
                .write(&batch)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        drop(writer);
        let _ = lake.abort(staging).await;
        return Err(e);
    }
    let entry = lake
        .finish_table(&mut staging, writer)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if entry.bytes > quota_left {
        let _ = lake.abort(staging).await;
        return Err(QueryError::QuotaExceeded(quota_left));
    }
    stats.result_bytes = entry.bytes;
    let (scanned, bytes) = plans.scan_stats();
    stats.rows_scanned = scanned;
    stats.bytes_scanned = bytes;
    let prefix = format!(
        "projects/{project_id}/scratch/{}",
        uuid::Uuid::new_v4().simple()
    );
    let manifest = Manifest {
        kind: "scratch".into(),
        id: format!("{project_id}/{name}"),
        version: 1,
        created_at: chrono::Utc::now().to_rfc3339(),
        files: vec![],
        metadata: serde_json::json!({ "sql": sql }),
    };
    let manifest = lake
        .publish(staging, &prefix, manifest)
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok((manifest, stats))
}

pub(crate) fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows existed than were fetched.
    pub truncated: bool,
}

/// Runs a read-only query and returns at most `max_rows` rows as text,
/// within `timeout`.
pub async fn run_query(
    ctx: &SessionContext,
    sql: &str,
    max_rows: usize,
    timeout: std::time::Duration,
) -> Result<QueryResult, QueryError> {
    match tokio::time::timeout(timeout, execute(ctx, sql, max_rows)).await {
        Ok(r) => r.map(|(res, _)| res),
        Err(_) => Err(QueryError::TimedOut(timeout.as_secs())),
    }
}
