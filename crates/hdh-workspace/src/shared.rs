//! Shared subqueries computed once: what the workspace session does with a
//! common table expression (or any subquery) that a query reads several times.
//!
//! DataFusion inlines a CTE at each of its references, so a cohort written as
//! `WITH disp AS (<claims ⋈ dispensations ⋈ drugs>) … disp … disp w … disp x`
//! runs the three-table join three times (`bench/workspace`, query 07). Before
//! a query is planned physically, [`materialise`] finds the subqueries that
//! appear more than once with the same plan and that cost something to
//! compute (a join, an aggregation, a distinct or a window), runs each of them
//! once, keeps its rows in memory, and reads them from there at every
//! reference. Innermost first, so that a shared subquery that itself reads a
//! shared subquery reads the computed one.
//!
//! The rows kept count against the query's memory pool, and one shared
//! subquery may keep at most a quarter of it: beyond that, or if computing it
//! fails, the subquery stays inlined and the query runs as written (the
//! answer never depends on this step, only the time it takes). An `EXPLAIN`
//! is never materialised. [`SharedSubqueries::Inline`] in the session's
//! configuration turns the step off.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, SubqueryAlias};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

/// Whether a session computes a shared subquery once (the default) or at
/// each reference. Set with `SessionConfig::set_extension`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedSubqueries {
    #[default]
    Materialise,
    Inline,
}

/// At most this many shared subqueries are computed ahead of a query.
const MAX_MATERIALISED: usize = 8;

/// What was computed ahead of a query: the plans that ran (for the query
/// log's rows and bytes scanned) and the memory their rows hold until the
/// query ends.
#[derive(Debug, Default)]
pub struct Materialised {
    pub plans: Vec<Arc<dyn ExecutionPlan>>,
    reservation: Option<MemoryReservation>,
}

impl Materialised {
    /// Bytes held by the computed rows.
    pub fn bytes(&self) -> usize {
        self.reservation.as_ref().map_or(0, |r| r.size())
    }
}

/// Whether this part of a plan is worth computing once.
fn costly(plan: &LogicalPlan) -> bool {
    plan.exists(|n| {
        Ok(matches!(
            n,
            LogicalPlan::Join(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::Distinct(_)
                | LogicalPlan::Window(_)
        ))
    })
    .unwrap_or(false)
}

/// Whether this part of a plan can run on its own: no reference to an outer
/// query, no recursive CTE's work table.
fn standalone(plan: &LogicalPlan) -> bool {
    !plan
        .exists(|n| Ok(n.contains_outer_reference() || matches!(n, LogicalPlan::RecursiveQuery(_))))
        .unwrap_or(true)
}

/// The subqueries (inputs of a `SubqueryAlias`) that appear at least twice,
/// are costly and can run on their own.
fn shared(plan: &LogicalPlan) -> Vec<LogicalPlan> {
    let mut seen: HashMap<LogicalPlan, usize> = HashMap::new();
    let mut order: Vec<LogicalPlan> = Vec::new();
    let _ = plan.apply_with_subqueries(|n| {
        if let LogicalPlan::SubqueryAlias(s) = n {
            let count = seen.entry(s.input.as_ref().clone()).or_insert(0);
            if *count == 0 {
                order.push(s.input.as_ref().clone());
            }
            *count += 1;
        }
        Ok(TreeNodeRecursion::Continue)
    });
    order
        .into_iter()
        .filter(|p| seen.get(p).is_some_and(|c| *c >= 2) && costly(p) && standalone(p))
        .collect()
}

/// Whether `outer` contains `inner` as a strict part.
fn contains(outer: &LogicalPlan, inner: &LogicalPlan) -> bool {
    outer
        .exists(|n| Ok(!std::ptr::eq(n, outer) && n == inner))
        .unwrap_or(false)
}

/// Replaces every `SubqueryAlias` over `target` by the same alias over a scan
/// of `table` named `name`.
fn substitute(
    plan: LogicalPlan,
    target: &LogicalPlan,
    name: &str,
    table: Arc<MemTable>,
) -> Result<LogicalPlan> {
    plan.transform_down_with_subqueries(|n| match n {
        LogicalPlan::SubqueryAlias(s) if s.input.as_ref() == target => {
            let scan =
                LogicalPlanBuilder::scan(name, provider_as_source(table.clone()), None)?.build()?;
            let alias = SubqueryAlias::try_new(Arc::new(scan), s.alias.clone())?;
            Ok(Transformed::new(
                LogicalPlan::SubqueryAlias(alias),
                true,
                TreeNodeRecursion::Jump,
            ))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}

/// Runs `plan` and keeps its rows, within `reservation` grown by at most
/// `cap` bytes. `None` when the rows do not fit.
async fn compute(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    reservation: &mut MemoryReservation,
    cap: usize,
) -> Result<Option<(Arc<MemTable>, Arc<dyn ExecutionPlan>)>> {
    let state = ctx.state();
    let physical = DataFrame::new(state.clone(), plan.clone())
        .create_physical_plan()
        .await?;
    let schema = physical.schema();
    let mut stream = datafusion::physical_plan::execute_stream(physical.clone(), ctx.task_ctx())?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    // What the rows take once compacted: an operator's output batches are
    // often slices of one large buffer, which `get_array_memory_size` would
    // count once per batch.
    let mut held = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let mut size = 0usize;
        for c in batch.columns() {
            size += c.to_data().get_slice_memory_size()?;
        }
        if held + size > cap || reservation.try_grow(size).is_err() {
            reservation.shrink(held);
            return Ok(None);
        }
        held += size;
        batches.push(batch);
    }
    // Copy the rows out of the operators' buffers, then account for what
    // the copy really takes.
    let all = match batches.as_slice() {
        // `concat_batches` returns a single batch as it is: take a copy.
        [one] => {
            let rows =
                datafusion::arrow::array::UInt64Array::from_iter_values(0..one.num_rows() as u64);
            datafusion::arrow::compute::take_record_batch(one, &rows)?
        }
        many => datafusion::arrow::compute::concat_batches(&schema, many)?,
    };
    drop(batches);
    let size = all.get_array_memory_size();
    reservation.shrink(held);
    if size > cap || reservation.try_grow(size).is_err() {
        return Ok(None);
    }
    // Spread the rows over the session's partitions so that reading them
    // stays parallel.
    let parts = state.config().target_partitions().max(1);
    let chunk = state.config().batch_size().max(1);
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
    let mut offset = 0;
    let mut i = 0;
    while offset < all.num_rows() {
        let len = chunk.min(all.num_rows() - offset);
        partitions[i % parts].push(all.slice(offset, len));
        offset += len;
        i += 1;
    }
    Ok(Some((
        Arc::new(MemTable::try_new(schema, partitions)?),
        physical,
    )))
}

/// Computes the shared subqueries of `plan` once (see the module's
/// documentation) and returns the plan that reads them, with what was
/// computed.
pub async fn materialise(
    ctx: &SessionContext,
    mut plan: LogicalPlan,
) -> Result<(LogicalPlan, Materialised)> {
    let mut done = Materialised::default();
    let off = ctx
        .state()
        .config()
        .get_extension::<SharedSubqueries>()
        .is_some_and(|s| *s == SharedSubqueries::Inline);
    if off
        || matches!(
            plan,
            LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Ddl(_)
                | LogicalPlan::Copy(_)
        )
    {
        return Ok((plan, done));
    }
    let pool = Arc::clone(&ctx.runtime_env().memory_pool);
    let cap = match pool.memory_limit() {
        MemoryLimit::Finite(n) => n / 4,
        _ => usize::MAX,
    };
    let mut reservation = MemoryConsumer::new("shared subqueries").register(&pool);
    // Candidates that could not be computed, so as not to try them again.
    let mut kept_inline: Vec<LogicalPlan> = Vec::new();
    for _ in 0..MAX_MATERIALISED {
        let candidates: Vec<LogicalPlan> = shared(&plan)
            .into_iter()
            .filter(|c| !kept_inline.contains(c))
            .collect();
        // Innermost first: one that contains no other candidate.
        let Some(target) = candidates
            .iter()
            .find(|c| !candidates.iter().any(|o| o != *c && contains(c, o)))
            .cloned()
        else {
            break;
        };
        match compute(ctx, &target, &mut reservation, cap).await {
            Ok(Some((table, physical))) => {
                let name = format!("hdh_shared_{}", done.plans.len() + 1);
                plan = substitute(plan, &target, &name, table)?;
                done.plans.push(physical);
            }
            // Too big to keep, or failed on its own: run the query as
            // written; a real error shows there.
            Ok(None) | Err(_) => kept_inline.push(target),
        }
    }
    done.reservation = Some(reservation);
    Ok((plan, done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionConfig;

    async fn context(mode: SharedSubqueries, memory: Option<usize>) -> SessionContext {
        let mut config = SessionConfig::new()
            .with_target_partitions(2)
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        config.set_extension(Arc::new(mode));
        let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
        if let Some(m) = memory {
            runtime = runtime.with_memory_limit(m, 1.0);
        }
        let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc().expect("runtime"));
        // Claims: person, day, code; 600 rows over 40 persons.
        let schema = Arc::new(Schema::new(vec![
            Field::new("PERSON", DataType::Utf8, false),
            Field::new("DAY", DataType::Int64, false),
            Field::new("CODE", DataType::Utf8, false),
        ]));
        let n = 600;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("P{:02}", (i * 7) % 40)),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|i| (i * 37 % 365) as i64),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("C{}", (i / 3) % 5)),
                )),
            ],
        )
        .expect("batch");
        let codes = Arc::new(Schema::new(vec![
            Field::new("CODE", DataType::Utf8, false),
            Field::new("CLASS", DataType::Utf8, false),
        ]));
        let codes_batch = RecordBatch::try_new(
            Arc::clone(&codes),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..5).map(|i| format!("C{i}")),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..5).map(|i| if i < 2 { "N06A" } else { "A10" }.to_string()),
                )),
            ],
        )
        .expect("batch");
        ctx.register_table(
            datafusion::common::TableReference::bare("CLAIMS"),
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table")),
        )
        .expect("register");
        ctx.register_table(
            datafusion::common::TableReference::bare("CODES"),
            Arc::new(MemTable::try_new(codes, vec![vec![codes_batch]]).expect("table")),
        )
        .expect("register");
        ctx
    }

    /// A cohort in the style of the benchmark's query 07: the `disp` CTE is
    /// read three times, `entry` once.
    const COHORT: &str = "WITH disp AS (
          SELECT DISTINCT c.PERSON, c.DAY FROM CLAIMS c JOIN CODES r ON r.CODE = c.CODE
          WHERE r.CLASS = 'N06A'),
        entry AS (SELECT PERSON, MIN(DAY) AS D0 FROM disp WHERE DAY >= 100 GROUP BY PERSON),
        new_users AS (
          SELECT e.PERSON, e.D0 FROM entry e
          LEFT JOIN disp w ON w.PERSON = e.PERSON AND w.DAY < e.D0 AND w.DAY >= e.D0 - 60
          GROUP BY e.PERSON, e.D0 HAVING COUNT(w.DAY) = 0)
        SELECT n.PERSON, n.D0, COUNT(x.DAY) AS RENEWALS FROM new_users n
        LEFT JOIN disp x ON x.PERSON = n.PERSON AND x.DAY > n.D0 AND x.DAY <= n.D0 + 30
        GROUP BY n.PERSON, n.D0 ORDER BY n.PERSON";

    async fn run(ctx: &SessionContext, sql: &str) -> (Vec<String>, Materialised) {
        let df = ctx.sql(sql).await.expect("plan");
        let (plan, done) = materialise(ctx, df.logical_plan().clone())
            .await
            .expect("materialise");
        let batches = DataFrame::new(ctx.state(), plan)
            .collect()
            .await
            .expect("run");
        (crate::table_lines(&batches), done)
    }

    #[tokio::test]
    async fn a_cte_read_three_times_is_computed_once_with_the_same_answer() {
        let on = context(SharedSubqueries::Materialise, None).await;
        let off = context(SharedSubqueries::Inline, None).await;
        let (with, done) = run(&on, COHORT).await;
        let (without, none) = run(&off, COHORT).await;
        assert_eq!(with, without);
        // 40 persons enter, 12 are new users (header and frame: 4 lines).
        assert_eq!(with.len(), 12 + 4, "{with:?}");
        // `disp` (join + distinct) once; `entry` is read once, `new_users` once.
        assert_eq!(done.plans.len(), 1);
        assert!(done.bytes() > 0);
        assert!(none.plans.is_empty());
        // The plan that runs scans CLAIMS once, not three times.
        let df = on.sql(COHORT).await.expect("plan");
        let (plan, _held) = materialise(&on, df.logical_plan().clone())
            .await
            .expect("materialise");
        let text = plan.display_indent().to_string();
        assert_eq!(text.matches("TableScan: CLAIMS").count(), 0, "{text}");
        assert_eq!(text.matches("TableScan: hdh_shared_1").count(), 3, "{text}");
    }

    #[tokio::test]
    async fn what_is_read_once_or_costs_nothing_stays_inlined() {
        let on = context(SharedSubqueries::Materialise, None).await;
        for sql in [
            // A self-join of a plain table: two scans, nothing to share.
            "SELECT COUNT(*) FROM CLAIMS a JOIN CLAIMS b ON a.PERSON = b.PERSON AND a.DAY < b.DAY",
            // A CTE read once.
            "WITH t AS (SELECT PERSON, COUNT(*) AS N FROM CLAIMS GROUP BY PERSON) SELECT MAX(N) FROM t",
            // A filter-only CTE read twice.
            "WITH t AS (SELECT * FROM CLAIMS WHERE DAY < 10) SELECT COUNT(*) FROM t a JOIN t b ON a.PERSON = b.PERSON",
            // EXPLAIN is never executed ahead.
            "EXPLAIN WITH t AS (SELECT PERSON, COUNT(*) AS N FROM CLAIMS GROUP BY PERSON) SELECT * FROM t a JOIN t b ON a.N = b.N",
        ] {
            let df = on.sql(sql).await.expect("plan");
            let (_, done) = materialise(&on, df.logical_plan().clone())
                .await
                .expect("materialise");
            assert!(done.plans.is_empty(), "{sql}");
        }
        // Shared through a subquery in an expression too.
        let sql = "WITH t AS (SELECT PERSON, COUNT(*) AS N FROM CLAIMS GROUP BY PERSON)
                   SELECT COUNT(*) FROM t WHERE N > (SELECT AVG(N) FROM t)";
        let (with, done) = run(&on, sql).await;
        let off = context(SharedSubqueries::Inline, None).await;
        let (without, _) = run(&off, sql).await;
        assert_eq!(with, without);
        assert_eq!(done.plans.len(), 1);
    }

    #[tokio::test]
    async fn a_shared_subquery_that_fails_gives_the_query_its_error() {
        // Codes are 'C0'…'C4': the cast fails while the CTE runs, ahead of
        // the query; the query then fails with the engine's message.
        let ctx = context(SharedSubqueries::Materialise, None).await;
        let sql =
            "WITH t AS (SELECT PERSON, SUM(CAST(CODE AS BIGINT)) AS N FROM CLAIMS GROUP BY PERSON)
                   SELECT COUNT(*) FROM t a JOIN t b ON a.N = b.N";
        let err = match crate::execute(&ctx, sql, 10).await {
            Ok(r) => panic!("a failing cast gave rows: {r:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.to_lowercase().contains("cast"), "{err}");
        assert!(
            err.contains("C0") || err.contains("'C"),
            "names the value: {err}"
        );
    }

    #[tokio::test]
    async fn a_shared_subquery_too_big_for_the_memory_pool_stays_inlined() {
        // The self-join's 9 000 rows (15 claims per person, squared, for 40
        // persons) take more than a quarter of a 512 KiB pool.
        let ctx = context(SharedSubqueries::Materialise, Some(512 << 10)).await;
        let sql = "WITH big AS (SELECT a.PERSON, a.DAY, b.DAY AS DAY2 FROM CLAIMS a JOIN CLAIMS b ON a.PERSON = b.PERSON)
                   SELECT (SELECT COUNT(*) FROM big) + (SELECT COUNT(*) FROM big WHERE DAY < DAY2) AS N";
        let df = ctx.sql(sql).await.expect("plan");
        let (plan, done) = materialise(&ctx, df.logical_plan().clone())
            .await
            .expect("materialise");
        assert!(done.plans.is_empty());
        assert_eq!(done.bytes(), 0);
        assert!(!plan.display_indent().to_string().contains("hdh_shared"));
        let (answer, _) = run(&ctx, sql).await;
        let (inline, _) = run(&context(SharedSubqueries::Inline, None).await, sql).await;
        assert_eq!(answer, inline);
    }
}
