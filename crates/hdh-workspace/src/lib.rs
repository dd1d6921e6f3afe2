//! Project workspaces: building a project's extraction from the lake, and
//! the sandboxed SQL sessions researchers query it with.
//!
//! A project's [`SessionContext`] registers only that project's extraction
//! tables; DDL, DML and statements (`CREATE EXTERNAL TABLE`, `COPY`, `SET`)
//! are refused, and DataFusion's URL tables are off, so SQL cannot reach a file
//! or another project's data.

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, ident, lit};
use futures::StreamExt;
use hdh_lake::{Lake, Manifest};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub mod profile;
pub mod pseudonyms;
pub mod quality;

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

/// One table of an extraction, as approved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub dataset_id: String,
    pub dataset_version: i64,
    /// Lake path of the source Parquet file.
    pub source_path: String,
    /// Approved columns, in the order they will appear.
    pub columns: Vec<String>,
    /// Columns holding a person identifier: replaced by project pseudonyms.
    pub person_columns: Vec<String>,
    /// Date column used to restrict rows to the approved period, if any.
    pub period_column: Option<String>,
    /// The level-2 key the source version's identifiers are encrypted with
    /// (`""`: none, identifiers keyed directly).
    #[serde(default)]
    pub key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractionSpec {
    pub project_id: String,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub tables: Vec<TableSpec>,
}

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
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
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
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let url =
        url::Url::parse(hdh_lake::LAKE_URL).map_err(|e| WorkspaceError::Spec(e.to_string()))?;
    ctx.register_object_store(&url, lake.object_store());
    Ok(ctx)
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

fn days(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
}

/// Builds a project's extraction: approved columns, rows in the approved
/// period, person identifiers replaced by the project's pseudonyms. Written to
/// staging and published atomically; returns the published manifest.
pub async fn provision(
    lake: &Lake,
    spec: &ExtractionSpec,
    key: &pseudonyms::ProjectPseudonymiser<'_>,
    progress: &(dyn Fn(&str, u64) + Send + Sync),
) -> Result<Manifest, WorkspaceError> {
    let ctx = engine(lake, &Limits::default())?;
    let mut staging = lake.begin_staging();
    let result = async {
        for t in &spec.tables {
            if t.columns.is_empty() {
                return Err(WorkspaceError::Spec(format!(
                    "table {} has no approved column",
                    t.name
                )));
            }
            let mut df = ctx
                .read_parquet(lake.url(&t.source_path), ParquetReadOptions::default())
                .await?;
            if let Some(pc) = &t.period_column {
                let from = lit(ScalarValue::Date32(Some(days(spec.period_start))));
                let to = lit(ScalarValue::Date32(Some(days(spec.period_end))));
                df = df.filter(ident(pc).gt_eq(from).and(ident(pc).lt_eq(to)))?;
            }
            let cols: Vec<&str> = t.columns.iter().map(String::as_str).collect();
            df = df.select_columns(&cols)?;
            let in_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let out_schema = pseudonymised_schema(&in_schema, &t.person_columns);
            let mut writer = lake.table_writer(&staging, &t.name, out_schema.clone())?;
            let mut stream = df.execute_stream().await?;
            let mut rows = 0u64;
            while let Some(batch) = stream.next().await {
                let batch = key
                    .apply(&batch?, &t.person_columns, &t.key_id)
                    .map_err(|e| WorkspaceError::Spec(format!("table {}: {e}", t.name)))?;
                let batch = RecordBatch::try_new(out_schema.clone(), batch.columns().to_vec())?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).await?;
                progress(&t.name, rows);
            }
            lake.finish_table(&mut staging, writer).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        lake.abort(staging).await?;
        return Err(e);
    }
    let manifest = Manifest {
        kind: "extraction".into(),
        id: spec.project_id.clone(),
        version: 1,
        created_at: chrono::Utc::now().to_rfc3339(),
        files: vec![],
        metadata: serde_json::to_value(spec).unwrap_or_default(),
    };
    Ok(lake
        .publish(staging, &extraction_prefix(&spec.project_id), manifest)
        .await?)
}

fn pseudonymised_schema(schema: &SchemaRef, person_columns: &[String]) -> SchemaRef {
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

/// A SQL session that sees only the given tables.
pub async fn project_session(
    lake: &Lake,
    tables: &[ProjectTable],
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
    Ok(ctx)
}

fn read_only() -> SQLOptions {
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
    match tokio::time::timeout(timeout, run_query_inner(ctx, sql, max_rows)).await {
        Ok(r) => r,
        Err(_) => Err(QueryError::TimedOut(timeout.as_secs())),
    }
}

async fn run_query_inner(
    ctx: &SessionContext,
    sql: &str,
    max_rows: usize,
) -> Result<QueryResult, QueryError> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(QueryError::from_df)?;
    let columns: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut stream = df.execute_stream().await.map_err(QueryError::from_df)?;
    let mut rows = Vec::new();
    let mut truncated = false;
    let opts = FormatOptions::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(QueryError::from_df)?;
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
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

/// What the engine knows about how a query's result was computed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResultShape {
    /// The result is made of aggregates over groups (not row-level data).
    pub aggregated: bool,
    pub group_keys: Vec<String>,
    /// Output columns that are `count(…)` aggregates.
    pub counts: Vec<String>,
    /// Why the result is row-level, when it is.
    pub row_level_reason: Option<String>,
}

/// Classifies a query's output columns from its logical plan.
pub async fn result_shape(
    ctx: &SessionContext,
    sql: &str,
    person_columns: &[String],
) -> Result<ResultShape, QueryError> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(QueryError::from_df)?;
    let plan = df.logical_plan();
    Ok(match shape(plan) {
        Some((keys, counts, by_person)) => {
            if let Some(p) = by_person
                .into_iter()
                .find(|c| person_columns.iter().any(|pc| pc == c))
            {
                ResultShape {
                    aggregated: false,
                    group_keys: keys,
                    counts,
                    row_level_reason: Some(format!("grouped by the person identifier {p}")),
                }
            } else {
                ResultShape {
                    aggregated: true,
                    group_keys: keys,
                    counts,
                    row_level_reason: None,
                }
            }
        }
        None => ResultShape {
            row_level_reason: Some(
                "the query returns rows, not aggregates (no GROUP BY or aggregate function)".into(),
            ),
            ..Default::default()
        },
    })
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

/// (group key names, count names, source columns of the group keys) in terms
/// of the plan's output names, or `None` when the output is not aggregated.
fn shape(plan: &LogicalPlan) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
    match plan {
        LogicalPlan::Projection(p) => {
            let (keys, counts, by) = shape(&p.input)?;
            let mut k2 = Vec::new();
            let mut c2 = Vec::new();
            for (i, e) in p.expr.iter().enumerate() {
                let name = p.schema.field(i).name().clone();
                match strip_alias(e) {
                    Expr::Column(c) if keys.contains(&c.name) => k2.push(name),
                    Expr::Column(c) if counts.contains(&c.name) => c2.push(name),
                    // A computed expression of group keys only is still a key.
                    other => {
                        let refs = other.column_refs();
                        if !refs.is_empty() && refs.iter().all(|c| keys.contains(&c.name)) {
                            k2.push(name)
                        }
                    }
                }
            }
            Some((k2, c2, by))
        }
        LogicalPlan::Sort(s) => shape(&s.input),
        LogicalPlan::Limit(l) => shape(&l.input),
        LogicalPlan::Filter(f) => shape(&f.input),
        LogicalPlan::SubqueryAlias(s) => shape(&s.input),
        LogicalPlan::Aggregate(a) => {
            let n = a.group_expr.len();
            let fields = a.schema.fields();
            let keys: Vec<String> = fields.iter().take(n).map(|f| f.name().clone()).collect();
            let mut counts = Vec::new();
            for (i, e) in a.aggr_expr.iter().enumerate() {
                if let Expr::AggregateFunction(af) = strip_alias(e)
                    && af.func.name().eq_ignore_ascii_case("count")
                    && let Some(f) = fields.get(n + i)
                {
                    counts.push(f.name().clone());
                }
            }
            let by: Vec<String> = a
                .group_expr
                .iter()
                .flat_map(|e| {
                    e.column_refs()
                        .into_iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
                })
                .collect();
            Some((keys, counts, by))
        }
        _ => None,
    }
}
