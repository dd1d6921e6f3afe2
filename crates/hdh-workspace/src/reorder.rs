//! Selective joins first: a logical optimizer rule of the workspace session.
//!
//! SNDS users write their joins claims first: `ER_PRS_F p JOIN ER_PHA_F f ON
//! <nine keys> JOIN IR_PHA_R r ON r.PHA_CIP_C13 = f.PHA_PRS_C13 WHERE
//! r.PHA_ATC_C07 LIKE 'A10%'`. DataFusion keeps the written order, so the
//! 51 M claims are joined to the 28 M dispensations before the drug filter
//! has cut the dispensations to a few percent, and the claims join is planned
//! with the wrong build side (measured by `bench/workspace`).
//!
//! The rule moves an inner join with a *filtered* input (`σC`) below the
//! inner join it sits on, next to the one input its keys refer to:
//!
//! ```text
//! (A ⋈ B) ⋈ σC   with keys on B only  →  A ⋈ (B ⋈ σC)
//! (A ⋈ B) ⋈ σC   with keys on A only  →  π[A, B, C]((A ⋈ σC) ⋈ B)
//! ```
//!
//! Inner joins are associative and commutative, so the result is the same
//! relation; the projection restores the column order the parent expects.
//! The physical planner then picks each hash join's build side from the
//! estimated sizes, which now see the small filtered side first. Only inner
//! joins are moved, and only when the moved join's conditions (equi-keys and
//! residual filter) refer to that one input and `C`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// See the module's documentation.
#[derive(Debug, Default)]
pub struct SelectiveJoinsFirst;

impl SelectiveJoinsFirst {
    pub const NAME: &'static str = "hdh_selective_joins_first";
}

impl OptimizerRule for SelectiveJoinsFirst {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        rewrite(plan)
    }
}

fn rewrite(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Join(outer) = plan else {
        return Ok(Transformed::no(plan));
    };
    let movable = outer.join_type == JoinType::Inner
        && !outer.null_aware
        && is_filtered(&outer.right)
        && matches!(outer.left.as_ref(), LogicalPlan::Join(inner)
            if inner.join_type == JoinType::Inner && !inner.null_aware);
    if !movable {
        return Ok(Transformed::no(LogicalPlan::Join(outer)));
    }
    let LogicalPlan::Join(inner) = outer.left.as_ref() else {
        return Ok(Transformed::no(LogicalPlan::Join(outer)));
    };
    // The columns of the left-hand side the outer join's conditions use.
    let mut used: HashSet<&Column> = HashSet::new();
    for (l, _) in &outer.on {
        used.extend(l.column_refs());
    }
    let mut residual: HashSet<&Column> = HashSet::new();
    if let Some(f) = &outer.filter {
        residual.extend(f.column_refs());
    }
    let right_schema = outer.right.schema();
    let residual_left: Vec<&Column> = residual
        .into_iter()
        .filter(|c| !right_schema.has_column(c))
        .collect();
    used.extend(residual_left);
    if used.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Join(outer)));
    }
    let within = |schema: &DFSchema| used.iter().all(|c| schema.has_column(c));
    let (a, b, c) = (
        Arc::clone(&inner.left),
        Arc::clone(&inner.right),
        Arc::clone(&outer.right),
    );
    if within(b.schema()) && !within(a.schema()) {
        // (A ⋈ B) ⋈ σC → A ⋈ (B ⋈ σC): same columns, same order.
        let bc = join_like(&outer, b, c)?;
        let bc = rewrite(bc)?.data;
        let top = join_like(inner, a, Arc::new(bc))?;
        return Ok(Transformed::yes(top));
    }
    if within(a.schema()) && !within(b.schema()) {
        // (A ⋈ B) ⋈ σC → π[A, B, C]((A ⋈ σC) ⋈ B).
        let ac = join_like(&outer, a, c)?;
        let ac = rewrite(ac)?.data;
        let top = join_like(inner, Arc::new(ac), b)?;
        let columns: Vec<Expr> = outer
            .schema
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let projected = LogicalPlanBuilder::from(top).project(columns)?.build()?;
        return Ok(Transformed::yes(projected));
    }
    Ok(Transformed::no(LogicalPlan::Join(outer)))
}

/// A join with the conditions and settings of `like` between new inputs.
fn join_like(like: &Join, left: Arc<LogicalPlan>, right: Arc<LogicalPlan>) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Join(Join::try_new(
        left,
        right,
        like.on.clone(),
        like.filter.clone(),
        like.join_type,
        like.join_constraint,
        like.null_equality,
        like.null_aware,
    )?))
}

/// Whether the plan filters its rows before any join or aggregation: a
/// `Filter`, or a table scan with filters pushed into it, under nothing but
/// projections, aliases and other filters.
fn is_filtered(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        Ok(match node {
            LogicalPlan::Filter(_) => {
                found = true;
                TreeNodeRecursion::Stop
            }
            LogicalPlan::TableScan(scan) if !scan.filters.is_empty() => {
                found = true;
                TreeNodeRecursion::Stop
            }
            LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {
                TreeNodeRecursion::Continue
            }
            _ => TreeNodeRecursion::Jump,
        })
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    fn table(
        names: &[(&str, DataType)],
        rows: usize,
        f: impl Fn(usize, usize) -> String,
    ) -> MemTable {
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let cols = names
            .iter()
            .enumerate()
            .map(|(j, (_, t))| match t {
                DataType::Int64 => Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|i| f(i, j).parse::<i64>().unwrap_or(0)),
                )) as _,
                _ => Arc::new(StringArray::from_iter_values((0..rows).map(|i| f(i, j)))) as _,
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols).expect("batch");
        MemTable::try_new(schema, vec![vec![batch]]).expect("table")
    }

    async fn context(with_rule: bool) -> SessionContext {
        // Upper-case names unquoted, as in the workspace.
        let config = datafusion::prelude::SessionConfig::new()
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        let ctx = SessionContext::new_with_config(config);
        let ctx = if with_rule {
            crate::with_workspace_rules(ctx)
        } else {
            ctx
        };
        let claims = table(
            &[
                ("K", DataType::Int64),
                ("PERSON", DataType::Utf8),
                ("AMOUNT", DataType::Int64),
            ],
            2000,
            |i, j| match j {
                0 => i.to_string(),
                1 => format!("p{}", i % 97),
                _ => (i % 13).to_string(),
            },
        );
        let lines = table(
            &[("K", DataType::Int64), ("CIP", DataType::Utf8)],
            1500,
            |i, j| match j {
                0 => (i * 2).to_string(),
                _ => format!("c{}", i % 50),
            },
        );
        let drugs = table(
            &[("CIP", DataType::Utf8), ("ATC", DataType::Utf8)],
            50,
            |i, j| match j {
                0 => format!("c{i}"),
                _ => {
                    if i % 10 == 0 {
                        "A10BA02".into()
                    } else {
                        format!("N0{}", i % 9)
                    }
                }
            },
        );
        let persons = table(
            &[("PERSON", DataType::Utf8), ("SEX", DataType::Utf8)],
            97,
            |i, j| match j {
                0 => format!("p{i}"),
                _ => (1 + i % 2).to_string(),
            },
        );
        ctx.register_table("claims", Arc::new(claims))
            .expect("claims");
        ctx.register_table("lines", Arc::new(lines)).expect("lines");
        ctx.register_table("drugs", Arc::new(drugs)).expect("drugs");
        ctx.register_table("persons", Arc::new(persons))
            .expect("persons");
        ctx
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        crate::table_lines(&batches)
    }

    async fn optimized(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx
            .sql(sql)
            .await
            .expect("plan")
            .into_optimized_plan()
            .expect("optimized");
        plan.display_indent().to_string()
    }

    /// The depth (leading spaces) of the first line naming `what`.
    fn depth(plan: &str, what: &str) -> usize {
        let line = plan
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what} not in\n{plan}"));
        line.len() - line.trim_start().len()
    }

    const ON_B: &str = "SELECT c.PERSON, SUM(c.AMOUNT) AS S, COUNT(*) AS N \
        FROM claims c JOIN lines l ON l.K = c.K JOIN drugs d ON d.CIP = l.CIP \
        WHERE d.ATC LIKE 'A10%' GROUP BY c.PERSON ORDER BY c.PERSON";

    const ON_A: &str = "SELECT c.PERSON, c.K, l.CIP, p.SEX \
        FROM claims c JOIN lines l ON l.K = c.K JOIN persons p ON p.PERSON = c.PERSON \
        WHERE p.SEX = '2' AND c.AMOUNT > 3 ORDER BY c.K";

    #[tokio::test]
    async fn the_filtered_join_moves_next_to_the_table_it_refers_to() {
        let ctx = context(true).await;
        let plan = optimized(&ctx, ON_B).await;
        // drugs is now joined to lines below the join with claims.
        let drugs = depth(&plan, "TableScan: drugs");
        let claims = depth(&plan, "TableScan: claims");
        assert!(drugs > claims, "drugs deeper than claims:\n{plan}");

        let plan = optimized(&ctx, ON_A).await;
        let persons = depth(&plan, "TableScan: persons");
        let lines = depth(&plan, "TableScan: lines");
        assert!(persons > lines, "persons deeper than lines:\n{plan}");

        // Without the rule, the written order stays.
        let plain = context(false).await;
        let plan = optimized(&plain, ON_B).await;
        assert!(
            depth(&plan, "TableScan: drugs") <= depth(&plan, "TableScan: claims"),
            "{plan}"
        );
    }

    #[tokio::test]
    async fn the_answers_do_not_change() {
        let with = context(true).await;
        let without = context(false).await;
        for sql in [
            ON_B,
            ON_A,
            // A residual condition on the moved join, and SELECT *.
            "SELECT * FROM claims c JOIN lines l ON l.K = c.K \
             JOIN drugs d ON d.CIP = l.CIP AND d.ATC <> l.CIP WHERE d.ATC LIKE 'N0%' ORDER BY c.K",
            // Keys on both sides: the rule leaves it.
            "SELECT COUNT(*) FROM claims c JOIN lines l ON l.K = c.K \
             JOIN drugs d ON d.CIP = l.CIP AND d.ATC = c.PERSON WHERE d.ATC LIKE 'A%'",
            // Outer joins are not moved.
            "SELECT c.PERSON, COUNT(d.CIP) FROM claims c LEFT JOIN lines l ON l.K = c.K \
             LEFT JOIN drugs d ON d.CIP = l.CIP AND d.ATC LIKE 'A10%' GROUP BY c.PERSON ORDER BY c.PERSON",
        ] {
            let a = rows(&with, sql).await;
            let b = rows(&without, sql).await;
            assert!(a.len() > 4, "{sql} returns rows:\n{}", a.join("\n"));
            assert_eq!(a, b, "{sql}");
        }
    }
}
