//! Statistics of a published version, computed from its data by the same
//! engine that runs researchers' queries (never typed in by a producer):
//! records, distinct persons, the period covered, and per variable its
//! completeness, distinct values and distribution, with every count under the
//! threshold suppressed before it leaves this module.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use hdh_catalog::metadata::Period;
use hdh_catalog::stats::{
    Bar, Distribution, TableStatistics, VariableStatistics, VersionStatistics, suppress,
};
use hdh_lake::Lake;

use crate::{Limits, WorkspaceError, engine};

/// How a column is summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// A person identifier: counted as individuals, never distributed.
    Person,
    /// Codes, labels, booleans: most frequent values.
    Categorical,
    /// Integers and decimals: a histogram (or top values when few distinct).
    Numeric,
    /// Dates and datetimes: counts per month or year.
    Temporal,
}

#[derive(Debug, Clone)]
pub struct ProfileColumn {
    pub name: String,
    pub role: ColumnRole,
}

#[derive(Debug, Clone)]
pub struct ProfileTable {
    pub name: String,
    pub object_path: String,
    pub columns: Vec<ProfileColumn>,
    /// The date column that places a row in time.
    pub period_column: Option<String>,
}

/// Bars shown for a categorical variable.
const TOP: usize = 15;
/// Bins of a numeric histogram.
const BINS: i64 = 20;

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, WorkspaceError> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

fn int_at(batches: &[RecordBatch], col: usize) -> i64 {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| {
            let c = b.column(col);
            match c.data_type() {
                DataType::Int64 => c.as_primitive::<Int64Type>().value(0),
                _ => datafusion::arrow::compute::cast(c, &DataType::Int64)
                    .ok()
                    .map(|c| c.as_primitive::<Int64Type>().value(0))
                    .unwrap_or(0),
            }
        })
        .unwrap_or(0)
}

/// (label, count) rows of a two-column result.
fn label_counts(batches: &[RecordBatch]) -> Result<Vec<(String, u64)>, WorkspaceError> {
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        let f = ArrayFormatter::try_new(b.column(0).as_ref(), &opts)?;
        let counts = datafusion::arrow::compute::cast(b.column(1), &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let label = if b.column(0).is_null(r) {
                String::new()
            } else {
                f.value(r).to_string()
            };
            out.push((label, counts.value(r).max(0) as u64));
        }
    }
    Ok(out)
}

fn parse_day(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// Computes the statistics of a version's tables.
pub async fn profile_version(
    lake: &Lake,
    version: i64,
    tables: &[ProfileTable],
    threshold: u64,
) -> Result<VersionStatistics, WorkspaceError> {
    let limits = Limits {
        memory_bytes: 1 << 30,
        ..Limits::default()
    };
    let ctx = engine(lake, &limits)?;
    let mut out = VersionStatistics {
        version,
        threshold,
        ..Default::default()
    };
    let mut persons_sql = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let alias = format!("t{i}");
        ctx.register_parquet(
            alias.as_str(),
            lake.url(&t.object_path),
            ParquetReadOptions::default(),
        )
        .await?;
        let stats = profile_table(&ctx, &alias, t, threshold).await?;
        let person: Vec<&ProfileColumn> = t
            .columns
            .iter()
            .filter(|c| c.role == ColumnRole::Person)
            .collect();
        if !person.is_empty() {
            persons_sql.push(format!("SELECT {} AS p FROM {alias}", person_key(&person)));
        }
        out.records += stats.records;
        out.period = merge_period(out.period, stats.period);
        out.tables.push(stats);
    }
    if !persons_sql.is_empty() {
        let sql = format!(
            "SELECT COUNT(DISTINCT p) FROM ({}) u",
            persons_sql.join(" UNION ALL ")
        );
        let n = int_at(&collect(&ctx, &sql).await?, 0) as u64;
        out.individuals = suppress(n, threshold);
    }
    Ok(out)
}

fn person_key(cols: &[&ProfileColumn]) -> String {
    if cols.len() == 1 {
        format!("CAST({} AS VARCHAR)", q(&cols[0].name))
    } else {
        format!(
            "concat_ws('|', {})",
            cols.iter()
                .map(|c| format!("CAST({} AS VARCHAR)", q(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn merge_period(a: Option<Period>, b: Option<Period>) -> Option<Period> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Period {
            start: a.start.min(b.start),
            end: a.end.max(b.end),
        }),
        (a, b) => a.or(b),
    }
}

async fn profile_table(
    ctx: &SessionContext,
    alias: &str,
    t: &ProfileTable,
    threshold: u64,
) -> Result<TableStatistics, WorkspaceError> {
    // One pass for the counts of every column.
    let mut selects = vec!["COUNT(*)".to_string()];
    for c in &t.columns {
        selects.push(format!("COUNT({})", q(&c.name)));
        selects.push(format!("COUNT(DISTINCT {})", q(&c.name)));
    }
    let person: Vec<&ProfileColumn> = t
        .columns
        .iter()
        .filter(|c| c.role == ColumnRole::Person)
        .collect();
    // One person column: its distinct count is already there (asking the
    // engine twice for the same distinct count trips its planner).
    if person.len() > 1 {
        selects.push(format!("COUNT(DISTINCT {})", person_key(&person)));
    }
    let selects: Vec<String> = selects
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS c{i}"))
        .collect();
    let batches = collect(ctx, &format!("SELECT {} FROM {alias}", selects.join(", "))).await?;
    let records = int_at(&batches, 0).max(0) as u64;
    let mut stats = TableStatistics {
        table: t.name.clone(),
        records,
        ..Default::default()
    };
    if !person.is_empty() {
        let at = if person.len() > 1 {
            1 + 2 * t.columns.len()
        } else {
            let i = t
                .columns
                .iter()
                .position(|c| c.role == ColumnRole::Person)
                .unwrap_or(0);
            2 + 2 * i
        };
        let n = int_at(&batches, at).max(0) as u64;
        stats.individuals = suppress(n, threshold);
    }
    if let Some(pc) = &t.period_column {
        let b = collect(
            ctx,
            &format!(
                "SELECT CAST(MIN({c}) AS VARCHAR), CAST(MAX({c}) AS VARCHAR) FROM {alias}",
                c = q(pc)
            ),
        )
        .await?;
        if let Some(b) = b.iter().find(|b| b.num_rows() > 0) {
            let get = |i: usize| {
                let c = b.column(i);
                let c = c.as_string_opt::<i32>()?;
                (!c.is_null(0)).then(|| c.value(0).to_string())
            };
            if let (Some(s), Some(e)) = (
                get(0).as_deref().and_then(parse_day),
                get(1).as_deref().and_then(parse_day),
            ) {
                stats.period = Some(Period { start: s, end: e });
            }
        }
    }
    for (i, c) in t.columns.iter().enumerate() {
        let non_null = int_at(&batches, 1 + 2 * i).max(0) as u64;
        let distinct = int_at(&batches, 2 + 2 * i).max(0) as u64;
        let completeness = if records == 0 {
            0.0
        } else {
            non_null as f64 / records as f64
        };
        let distribution = if non_null == 0 {
            Distribution::TopValues {
                bars: vec![],
                other: Some(0),
            }
        } else {
            distribution(ctx, alias, c, non_null, distinct, threshold).await?
        };
        stats.variables.push(VariableStatistics {
            name: c.name.clone(),
            completeness,
            distinct: if c.role == ColumnRole::Person {
                None
            } else {
                suppress(distinct, threshold)
            },
            distribution,
        });
    }
    Ok(stats)
}

async fn distribution(
    ctx: &SessionContext,
    alias: &str,
    c: &ProfileColumn,
    non_null: u64,
    distinct: u64,
    threshold: u64,
) -> Result<Distribution, WorkspaceError> {
    let col = q(&c.name);
    let bars = |rows: Vec<(String, u64)>| -> Vec<Bar> {
        rows.into_iter()
            .map(|(label, n)| Bar {
                label,
                count: suppress(n, threshold),
            })
            .collect()
    };
    match c.role {
        ColumnRole::Person => Ok(Distribution::Hidden {
            reason: "person identifier".into(),
        }),
        ColumnRole::Temporal => {
            let b = collect(ctx, &format!("SELECT MIN({col}), MAX({col}) FROM {alias}")).await?;
            let span_years = label_counts_pair(&b)
                .map(|(a, b)| (b - a).num_days() / 365)
                .unwrap_or(0);
            let fmt = if span_years > 6 { "%Y" } else { "%Y-%m" };
            let rows = label_counts(
                &collect(
                    ctx,
                    &format!(
                        "SELECT to_char({col}, '{fmt}') AS k, COUNT(*) AS n FROM {alias} WHERE {col} IS NOT NULL GROUP BY k ORDER BY k"
                    ),
                )
                .await?,
            )?;
            Ok(Distribution::Histogram { bars: bars(rows) })
        }
        ColumnRole::Numeric if distinct > 30 => {
            let b = collect(
                ctx,
                &format!(
                    "SELECT CAST(MIN({col}) AS DOUBLE), CAST(MAX({col}) AS DOUBLE) FROM {alias}"
                ),
            )
            .await?;
            let (lo, hi) = b
                .iter()
                .find(|b| b.num_rows() > 0)
                .and_then(|b| {
                    let a = b
                        .column(0)
                        .as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>()?;
                    let z = b
                        .column(1)
                        .as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>()?;
                    Some((a.value(0), z.value(0)))
                })
                .unwrap_or((0.0, 0.0));
            let width = nice_width((hi - lo) / BINS as f64);
            let start = (lo / width).floor() * width;
            let rows = label_counts(
                &collect(
                    ctx,
                    &format!(
                        "SELECT CAST(floor((CAST({col} AS DOUBLE) - {start}) / {width}) AS BIGINT) AS k, COUNT(*) AS n FROM {alias} WHERE {col} IS NOT NULL GROUP BY k ORDER BY k"
                    ),
                )
                .await?,
            )?;
            let rows = rows
                .into_iter()
                .map(|(k, n)| {
                    let k: f64 = k.parse().unwrap_or(0.0);
                    let a = start + k * width;
                    (format!("{}–{}", fmt_num(a), fmt_num(a + width)), n)
                })
                .collect();
            Ok(Distribution::Histogram { bars: bars(rows) })
        }
        _ => {
            if distinct > 200 && distinct * 2 > non_null {
                return Ok(Distribution::Hidden {
                    reason: "mostly unique values".into(),
                });
            }
            let rows = label_counts(
                &collect(
                    ctx,
                    &format!(
                        "SELECT CAST({col} AS VARCHAR) AS k, COUNT(*) AS n FROM {alias} WHERE {col} IS NOT NULL GROUP BY k ORDER BY n DESC, k LIMIT {TOP}"
                    ),
                )
                .await?,
            )?;
            let shown: u64 = rows.iter().map(|(_, n)| n).sum();
            Ok(Distribution::TopValues {
                bars: bars(rows),
                other: suppress(non_null.saturating_sub(shown), threshold),
            })
        }
    }
}

fn label_counts_pair(b: &[RecordBatch]) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let b = b.iter().find(|b| b.num_rows() > 0)?;
    let opts = FormatOptions::default();
    let f0 = ArrayFormatter::try_new(b.column(0).as_ref(), &opts).ok()?;
    let f1 = ArrayFormatter::try_new(b.column(1).as_ref(), &opts).ok()?;
    Some((
        parse_day(&f0.value(0).to_string())?,
        parse_day(&f1.value(0).to_string())?,
    ))
}

/// A bin width of 1, 2 or 5 × 10^k at least `raw`.
fn nice_width(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_widths() {
        assert_eq!(nice_width(3.2), 5.0);
        assert_eq!(nice_width(0.13), 0.2);
        assert_eq!(nice_width(100.0), 100.0);
        assert_eq!(nice_width(0.0), 1.0);
    }
}
