//! The quality report of a delivery ([`hdh_catalog::quality::QualityReport`]),
//! computed from the delivered Parquet files by the same engine as the
//! statistics ([`crate::profile`]): completeness and distinct values per
//! column, exact duplicate rows, repeated primary keys, orphan rows of the
//! foreign keys between the delivery's tables, the dataset's coherence rules,
//! and what changed since the previous version.
//!
//! Everything is aggregated in the engine under the caller's [`Limits`]
//! (memory pool, per-query time limit; joins are sort-merge joins so that
//! they spill instead of failing on big tables): only counts and at most
//! [`MAX_CODE_EXAMPLES`] codes per field come back. Person identifiers (and
//! every field whose values are withheld) get counts only.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use hdh_catalog::quality::{
    CoherenceCheck, ColumnQuality, Field, FieldType, MAX_CODE_EXAMPLES, NewCodes, QualityReport,
    QualityRule, ReferenceCheck, RuleCheck, TableColumn, TableDrift, TableQuality, TableSchema,
    VersionComparison,
};
use hdh_catalog::stats::TableStatistics;
use hdh_lake::Lake;

use crate::profile::{ColumnRole, ProfileColumn, ProfileTable, profile_version};
use crate::{Limits, WorkspaceError, engine};

/// A text field with at most this many distinct values is treated as a code
/// when comparing versions (fields with a nomenclature always are).
pub const LOW_CARDINALITY: u64 = 100;

/// A quoted SQL identifier.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs one aggregate query within the per-query time limit.
async fn collect(
    ctx: &SessionContext,
    limits: &Limits,
    what: &str,
    sql: &str,
) -> Result<Vec<RecordBatch>, WorkspaceError> {
    let run = async { ctx.sql(sql).await?.collect().await };
    match tokio::time::timeout(limits.timeout, run).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(WorkspaceError::Engine(DataFusionError::Execution(format!(
            "quality report: {what} ran longer than {} s",
            limits.timeout.as_secs()
        )))),
    }
}

/// The first row of an aggregate result as non-negative integers (null: 0).
fn first_row(batches: &[RecordBatch]) -> Result<Vec<u64>, WorkspaceError> {
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(b.num_columns());
    for c in b.columns() {
        let c = datafusion::arrow::compute::cast(c, &DataType::Int64)?;
        let c = c.as_primitive::<Int64Type>();
        out.push(if c.is_null(0) {
            0
        } else {
            c.value(0).max(0) as u64
        });
    }
    Ok(out)
}

fn cell(values: &[u64], i: usize) -> u64 {
    values.get(i).copied().unwrap_or(0)
}

/// The first column of a result as text.
fn strings(batches: &[RecordBatch]) -> Result<Vec<String>, WorkspaceError> {
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        let f = ArrayFormatter::try_new(b.column(0).as_ref(), &opts)?;
        for r in 0..b.num_rows() {
            if !b.column(0).is_null(r) {
                out.push(f.value(r).to_string());
            }
        }
    }
    Ok(out)
}

fn withheld(s: &TableSchema, field: &str) -> bool {
    s.field(field).is_some_and(|f| f.is_withheld())
}

fn nomenclature(s: &TableSchema, field: &str) -> Option<String> {
    s.field(field)
        .and_then(|f| f.nomenclature.clone())
        .filter(|n| !n.is_empty() && n != "-")
}

/// How the statistics engine summarises a field (as the catalogue does).
fn role(f: &Field) -> ColumnRole {
    if f.is_withheld() {
        return ColumnRole::Person;
    }
    match f.field_type {
        FieldType::Date | FieldType::DateTime => ColumnRole::Temporal,
        FieldType::Integer | FieldType::Number
            if f.nomenclature
                .as_deref()
                .is_none_or(|n| n.is_empty() || n == "-") =>
        {
            ColumnRole::Numeric
        }
        _ => ColumnRole::Categorical,
    }
}

/// A join condition between `left.a` and `right.b`: compared as text when
/// the two fields' types differ (the engine would refuse, say, a string and
/// an integer).
fn join_exprs(left: &TableSchema, a: &str, right: &TableSchema, b: &str) -> (String, String) {
    let ta = left.field(a).map(|f| f.field_type);
    let tb = right.field(b).map(|f| f.field_type);
    if ta == tb {
        (q(a), q(b))
    } else {
        (
            format!("CAST({} AS VARCHAR)", q(a)),
            format!("CAST({} AS VARCHAR)", q(b)),
        )
    }
}

/// Computes the quality report of a delivered version.
///
/// `tables` are the version's tables with the object path of their Parquet
/// file (as [`profile_version`] takes them); `previous`, the previous
/// version's, when there is one. Foreign keys are checked when they point to
/// a table of `tables` (or to their own table, `""`). A rule that names a
/// table or field absent from the delivery is reported as not checked.
/// `quarantined_rows` and `invalid` are left at 0 for the hub to fill; the
/// report is summarised before it is returned (call
/// [`QualityReport::summarise`] again after filling them).
#[allow(clippy::too_many_arguments)]
pub async fn quality_report(
    lake: &Lake,
    dataset_id: &str,
    version: i64,
    tables: &[(TableSchema, String)],
    previous: Option<(i64, &[(TableSchema, String)])>,
    rules: &[QualityRule],
    threshold: u64,
    limits: &Limits,
) -> Result<QualityReport, WorkspaceError> {
    let ctx = engine(lake, limits)?;
    // Sort-merge joins spill to disk under memory pressure; hash joins would
    // have to hold a whole side (e.g. every person) in memory.
    ctx.sql("SET datafusion.optimizer.prefer_hash_join = false")
        .await?
        .collect()
        .await?;
    for (i, (_, path)) in tables.iter().enumerate() {
        ctx.register_parquet(
            format!("n{i}").as_str(),
            lake.url(path),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    if let Some((_, prev)) = previous {
        for (i, (_, path)) in prev.iter().enumerate() {
            ctx.register_parquet(
                format!("p{i}").as_str(),
                lake.url(path),
                ParquetReadOptions::default(),
            )
            .await?;
        }
    }

    // Distinct counts and distributions: the statistics' own computation and
    // suppression.
    let specs: Vec<ProfileTable> = tables
        .iter()
        .map(|(s, path)| ProfileTable {
            name: s.name.clone(),
            object_path: path.clone(),
            columns: s
                .fields
                .iter()
                .map(|f| ProfileColumn {
                    name: f.name.clone(),
                    role: role(f),
                })
                .collect(),
            period_column: None,
        })
        .collect();
    let stats = profile_version(lake, version, &specs, threshold).await?;

    let mut report = QualityReport {
        dataset_id: dataset_id.to_string(),
        version,
        threshold,
        ..Default::default()
    };
    for (i, (schema, _)) in tables.iter().enumerate() {
        let table_stats = stats.tables.get(i).filter(|t| t.table == schema.name);
        report
            .tables
            .push(table_quality(&ctx, limits, &format!("n{i}"), schema, table_stats).await?);
    }
    report.references = references(&ctx, limits, tables).await?;
    for rule in rules {
        report
            .coherence
            .push(coherence(&ctx, limits, tables, rule).await?);
    }
    if let Some((previous_version, prev)) = previous {
        report.comparison =
            Some(compare(&ctx, limits, tables, &report.tables, previous_version, prev).await?);
    }
    report.summarise();
    Ok(report)
}

async fn table_quality(
    ctx: &SessionContext,
    limits: &Limits,
    alias: &str,
    schema: &TableSchema,
    stats: Option<&TableStatistics>,
) -> Result<TableQuality, WorkspaceError> {
    let name = &schema.name;
    // One pass: rows and non-null values of every column.
    let mut selects = vec!["COUNT(*) AS c0".to_string()];
    for (i, f) in schema.fields.iter().enumerate() {
        selects.push(format!("COUNT({}) AS c{}", q(&f.name), i + 1));
    }
    let counts = first_row(
        &collect(
            ctx,
            limits,
            &format!("counting {name}"),
            &format!("SELECT {} FROM {alias}", selects.join(", ")),
        )
        .await?,
    )?;
    let rows = cell(&counts, 0);

    let all: Vec<String> = schema.fields.iter().map(|f| q(&f.name)).collect();
    let duplicate_rows = if all.is_empty() {
        0
    } else {
        cell(
            &first_row(
                &collect(
                    ctx,
                    limits,
                    &format!("duplicate rows of {name}"),
                    &format!(
                        "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {alias} GROUP BY {}) g WHERE n > 1",
                        all.join(", ")
                    ),
                )
                .await?,
            )?,
            0,
        )
    };
    let duplicate_keys = if schema.primary_key.is_empty() {
        None
    } else {
        let keys: Vec<String> = schema.primary_key.iter().map(|k| q(k)).collect();
        let present: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
        Some(cell(
            &first_row(
                &collect(
                    ctx,
                    limits,
                    &format!("primary key of {name}"),
                    &format!(
                        "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {alias} WHERE {} GROUP BY {}) g WHERE n > 1",
                        present.join(" AND "),
                        keys.join(", ")
                    ),
                )
                .await?,
            )?,
            0,
        ))
    };

    let mut columns = Vec::with_capacity(schema.fields.len());
    for (i, f) in schema.fields.iter().enumerate() {
        let non_null = cell(&counts, i + 1).min(rows);
        let person = f.is_withheld();
        let v = stats.and_then(|s| s.variable(&f.name));
        columns.push(ColumnQuality {
            name: f.name.clone(),
            field_type: f.field_type,
            person_identifier: person,
            completeness: if rows == 0 {
                0.0
            } else {
                non_null as f64 / rows as f64
            },
            nulls: rows - non_null,
            invalid: 0,
            distinct: if person {
                None
            } else {
                v.and_then(|v| v.distinct)
            },
            distribution: if person {
                None
            } else {
                v.map(|v| v.distribution.clone())
            },
        });
    }
    Ok(TableQuality {
        table: name.clone(),
        rows,
        quarantined_rows: 0,
        duplicate_rows,
        primary_key: schema.primary_key.clone(),
        duplicate_keys,
        columns,
    })
}

/// Orphan rows of every foreign key between the delivery's tables: rows
/// whose key (with no missing part) matches no row of the referenced table.
async fn references(
    ctx: &SessionContext,
    limits: &Limits,
    tables: &[(TableSchema, String)],
) -> Result<Vec<ReferenceCheck>, WorkspaceError> {
    let mut out = Vec::new();
    for (ci, (child, _)) in tables.iter().enumerate() {
        for fk in &child.foreign_keys {
            let pi = if fk.reference.resource.is_empty() {
                Some(ci)
            } else {
                tables
                    .iter()
                    .position(|(s, _)| s.name == fk.reference.resource)
            };
            let Some(pi) = pi else {
                continue; // Another dataset's table: not checked here.
            };
            let parent = &tables[pi].0;
            if fk.fields.is_empty()
                || fk.fields.len() != fk.reference.fields.len()
                || fk.fields.iter().any(|f| child.field(f).is_none())
                || fk
                    .reference
                    .fields
                    .iter()
                    .any(|f| parent.field(f).is_none())
            {
                continue;
            }
            let mut keys = Vec::new();
            let mut on = Vec::new();
            let mut present = Vec::new();
            let mut parent_present = Vec::new();
            for (j, (a, b)) in fk.fields.iter().zip(&fk.reference.fields).enumerate() {
                let (ea, eb) = join_exprs(child, a, parent, b);
                keys.push(format!("{eb} AS \"__k{j}\""));
                on.push(format!("{} = r.\"__k{j}\"", qualify_expr("c", &ea, a)));
                present.push(format!("c.{} IS NOT NULL", q(a)));
                parent_present.push(format!("{} IS NOT NULL", q(b)));
            }
            let sql = format!(
                "SELECT COUNT(*) AS checked, COUNT(r.\"__m\") AS matched FROM n{ci} c \
                 LEFT JOIN (SELECT DISTINCT {}, 1 AS \"__m\" FROM n{pi} WHERE {}) r ON {} WHERE {}",
                keys.join(", "),
                parent_present.join(" AND "),
                on.join(" AND "),
                present.join(" AND "),
            );
            let what = format!(
                "foreign key {}.{} → {}",
                child.name,
                fk.fields.join(", "),
                parent.name
            );
            let r = first_row(&collect(ctx, limits, &what, &sql).await?)?;
            let checked = cell(&r, 0);
            out.push(ReferenceCheck {
                table: child.name.clone(),
                fields: fk.fields.clone(),
                references_table: parent.name.clone(),
                references_fields: fk.reference.fields.clone(),
                rows_checked: checked,
                orphans: checked.saturating_sub(cell(&r, 1)),
            });
        }
    }
    Ok(out)
}

async fn coherence(
    ctx: &SessionContext,
    limits: &Limits,
    tables: &[(TableSchema, String)],
    rule: &QualityRule,
) -> Result<CoherenceCheck, WorkspaceError> {
    let schemas: Vec<TableSchema> = tables.iter().map(|(s, _)| s.clone()).collect();
    let mut check = CoherenceCheck {
        rule: rule.clone(),
        description: rule.describe(),
        rows_checked: 0,
        violations: 0,
        not_checked: rule.unusable(&schemas),
    };
    if check.not_checked.is_some() {
        return Ok(check);
    }
    let Some(ti) = tables.iter().position(|(s, _)| s.name == rule.table) else {
        return Ok(check);
    };
    let f = q(&rule.field);
    let sql = match &rule.check {
        RuleCheck::NotBefore(other) => {
            let g = q(other);
            format!(
                "SELECT COUNT(*) AS checked, COALESCE(SUM(CASE WHEN {f} < {g} THEN 1 ELSE 0 END), 0) AS bad \
                 FROM n{ti} WHERE {f} IS NOT NULL AND {g} IS NOT NULL"
            )
        }
        RuleCheck::NotAfter(o) => {
            let Some(ri) = tables.iter().position(|(s, _)| s.name == o.table) else {
                return Ok(check);
            };
            let (t, r) = (&tables[ti].0, &tables[ri].0);
            let d = q(&o.field);
            let mut keys = Vec::new();
            let mut groups = Vec::new();
            let mut on = Vec::new();
            for (j, k) in o.on.iter().enumerate() {
                let (ek, er) = join_exprs(t, k, r, k);
                keys.push(format!("{er} AS \"__k{j}\""));
                groups.push(er);
                on.push(format!("{} = d.\"__k{j}\"", qualify_expr("e", &ek, k)));
            }
            format!(
                "SELECT COUNT(*) AS checked, COALESCE(SUM(CASE WHEN e.{f} > d.\"__d\" THEN 1 ELSE 0 END), 0) AS bad \
                 FROM n{ti} e JOIN (SELECT {}, MIN({d}) AS \"__d\" FROM n{ri} WHERE {d} IS NOT NULL GROUP BY {}) d \
                 ON {} WHERE e.{f} IS NOT NULL",
                keys.join(", "),
                groups.join(", "),
                on.join(" AND "),
            )
        }
    };
    let r = first_row(&collect(ctx, limits, &check.description, &sql).await?)?;
    check.rows_checked = cell(&r, 0);
    check.violations = cell(&r, 1);
    Ok(check)
}

/// `expr` (a quoted column or a cast of one) with its column qualified by
/// `alias`.
fn qualify_expr(alias: &str, expr: &str, column: &str) -> String {
    let plain = q(column);
    expr.replacen(&plain, &format!("{alias}.{plain}"), 1)
}

async fn compare(
    ctx: &SessionContext,
    limits: &Limits,
    tables: &[(TableSchema, String)],
    now: &[TableQuality],
    previous_version: i64,
    prev: &[(TableSchema, String)],
) -> Result<VersionComparison, WorkspaceError> {
    let mut cmp = VersionComparison {
        previous_version,
        ..Default::default()
    };
    for (s, _) in prev {
        if !tables.iter().any(|(t, _)| t.name == s.name) {
            cmp.removed_tables.push(s.name.clone());
        }
    }
    for (i, (s, _)) in tables.iter().enumerate() {
        let Some(pi) = prev.iter().position(|(p, _)| p.name == s.name) else {
            cmp.added_tables.push(s.name.clone());
            continue;
        };
        let before_schema = &prev[pi].0;
        let rows_now = now.get(i).map(|t| t.rows).unwrap_or(0);
        let rows_before = cell(
            &first_row(
                &collect(
                    ctx,
                    limits,
                    &format!("counting {} in v{previous_version}", s.name),
                    &format!("SELECT COUNT(*) FROM p{pi}"),
                )
                .await?,
            )?,
            0,
        );
        cmp.tables.push(TableDrift {
            table: s.name.clone(),
            rows_before,
            rows_now,
            drift: (rows_before > 0)
                .then(|| (rows_now as f64 - rows_before as f64) / rows_before as f64),
        });
        for f in &s.fields {
            if before_schema.field(&f.name).is_none() {
                cmp.added_columns.push(TableColumn {
                    table: s.name.clone(),
                    column: f.name.clone(),
                });
            }
        }
        for f in &before_schema.fields {
            if s.field(&f.name).is_none() {
                cmp.removed_columns.push(TableColumn {
                    table: s.name.clone(),
                    column: f.name.clone(),
                });
            }
        }
        for f in &s.fields {
            if f.is_withheld() || withheld(before_schema, &f.name) {
                continue;
            }
            if before_schema.field(&f.name).is_none() {
                continue;
            }
            let nom = nomenclature(s, &f.name);
            let text = matches!(f.field_type, FieldType::String | FieldType::Any);
            let distinct = now
                .get(i)
                .and_then(|t| t.columns.iter().find(|c| c.name == f.name))
                .and_then(|c| c.distinct);
            // Suppressed (None) means fewer than the threshold: few.
            let few = distinct.is_none_or(|d| d <= LOW_CARDINALITY);
            let codes = match f.field_type {
                FieldType::String | FieldType::Any | FieldType::Integer => {
                    nom.is_some() || (text && few)
                }
                _ => false,
            };
            if !codes {
                continue;
            }
            let c = q(&f.name);
            let new = format!(
                "SELECT DISTINCT CAST({c} AS VARCHAR) AS k FROM n{i} WHERE {c} IS NOT NULL \
                 EXCEPT SELECT DISTINCT CAST({c} AS VARCHAR) AS k FROM p{pi} WHERE {c} IS NOT NULL"
            );
            let what = format!("new codes of {}.{}", s.name, f.name);
            let count = cell(
                &first_row(
                    &collect(
                        ctx,
                        limits,
                        &what,
                        &format!("SELECT COUNT(*) FROM ({new}) x"),
                    )
                    .await?,
                )?,
                0,
            );
            if count == 0 {
                continue;
            }
            let examples = strings(
                &collect(
                    ctx,
                    limits,
                    &what,
                    &format!("SELECT k FROM ({new}) x ORDER BY k LIMIT {MAX_CODE_EXAMPLES}"),
                )
                .await?,
            )?;
            cmp.new_codes.push(NewCodes {
                table: s.name.clone(),
                field: f.name.clone(),
                nomenclature: nom,
                count,
                examples,
            });
        }
    }
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field as ArrowField, Schema};
    use hdh_catalog::quality::OtherTableDate;
    use hdh_catalog::stats::Distribution;
    use hdh_lake::Manifest;
    use serde_json::json;
    use std::sync::Arc;

    fn schema(v: serde_json::Value) -> TableSchema {
        TableSchema::from_json_value(&v).unwrap()
    }

    fn ben(with_death: bool) -> TableSchema {
        let mut fields = vec![
            json!({"name": "BEN_NIR_PSA", "type": "string", "hdh:identifier": "person"}),
            json!({"name": "BEN_SEX_COD", "type": "integer", "nomenclature": "IR_SEX_V"}),
        ];
        if with_death {
            fields.push(json!({"name": "BEN_DCD_DTE", "type": "date"}));
        } else {
            fields.push(json!({"name": "BEN_RES_DPT", "type": "string"}));
        }
        schema(json!({"name": "IR_BEN_R", "fields": fields, "primaryKey": ["BEN_NIR_PSA"]}))
    }

    fn prs() -> TableSchema {
        schema(json!({"name": "ER_PRS_F", "fields": [
            {"name": "BEN_NIR_PSA", "type": "string", "hdh:identifier": "person"},
            {"name": "EXE_SOI_DTD", "type": "date"},
            {"name": "PRS_NAT_REF", "type": "integer", "nomenclature": "IR_NAT_V"},
            {"name": "PSE_SPE_COD", "type": "string"}
        ], "foreignKeys": [
            {"fields": ["BEN_NIR_PSA"], "reference": {"resource": "IR_BEN_R", "fields": ["BEN_NIR_PSA"]}},
            {"fields": ["PRS_NAT_REF"], "reference": {"resource": "IR_NAT_V", "fields": ["PRS_NAT_REF"]}}
        ]}))
    }

    fn mco() -> TableSchema {
        schema(json!({"name": "T_MCO_B", "fields": [
            {"name": "ETA_NUM", "type": "string"},
            {"name": "RSA_NUM", "type": "string"},
            {"name": "BEN_NIR_PSA", "type": "string", "hdh:identifier": "person"},
            {"name": "ENT_DAT", "type": "date"},
            {"name": "SOR_DAT", "type": "date"}
        ], "primaryKey": ["ETA_NUM", "RSA_NUM"], "foreignKeys": [
            {"fields": ["BEN_NIR_PSA"], "reference": {"resource": "IR_BEN_R", "fields": ["BEN_NIR_PSA"]}}
        ]}))
    }

    /// A self-referencing table whose key and reference differ in type.
    fn node() -> TableSchema {
        schema(json!({"name": "NODE", "fields": [
            {"name": "ID", "type": "integer"},
            {"name": "PARENT", "type": "string"}
        ], "primaryKey": ["ID"], "foreignKeys": [
            {"fields": ["PARENT"], "reference": {"resource": "", "fields": ["ID"]}}
        ]}))
    }

    fn old() -> TableSchema {
        schema(json!({"name": "OLD_T", "fields": [{"name": "X", "type": "string"}]}))
    }

    /// A batch of `rows` (text values, None = null) typed by the schema.
    fn batch(s: &TableSchema, rows: &[Vec<Option<&str>>]) -> RecordBatch {
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for (i, f) in s.fields.iter().enumerate() {
            let vals = rows.iter().map(|r| r[i]);
            let (dt, col): (DataType, ArrayRef) = match f.field_type {
                FieldType::Integer => (
                    DataType::Int64,
                    Arc::new(Int64Array::from_iter(
                        vals.map(|v| v.map(|v| v.parse::<i64>().unwrap())),
                    )),
                ),
                FieldType::Date => (
                    DataType::Date32,
                    Arc::new(Date32Array::from_iter(vals.map(|v| {
                        v.map(|v| {
                            let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").unwrap();
                            crate::extract::days(d)
                        })
                    }))),
                ),
                _ => (DataType::Utf8, Arc::new(StringArray::from_iter(vals))),
            };
            fields.push(ArrowField::new(f.name.clone(), dt, true));
            cols.push(col);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    async fn publish(
        lake: &Lake,
        version: i64,
        tables: Vec<(TableSchema, Vec<Vec<Option<&str>>>)>,
    ) -> Vec<(TableSchema, String)> {
        let mut st = lake.begin_staging();
        for (s, rows) in &tables {
            let b = batch(s, rows);
            let mut w = lake.table_writer(&st, &s.name, b.schema()).unwrap();
            w.write(&b).await.unwrap();
            lake.finish_table(&mut st, w).await.unwrap();
        }
        let m = Manifest {
            kind: "dataset".into(),
            id: "snds".into(),
            version,
            created_at: "now".into(),
            files: vec![],
            metadata: serde_json::Value::Null,
        };
        let m = lake
            .publish(st, &format!("datasets/snds/v{version}"), m)
            .await
            .unwrap();
        tables
            .into_iter()
            .map(|(s, _)| {
                let path = m
                    .files
                    .iter()
                    .find(|f| f.table == s.name)
                    .unwrap()
                    .path
                    .clone();
                (s, path)
            })
            .collect()
    }

    fn r<'a>(v: &[Option<&'a str>]) -> Vec<Option<&'a str>> {
        v.to_vec()
    }

    fn discharge() -> QualityRule {
        QualityRule {
            table: "T_MCO_B".into(),
            field: "SOR_DAT".into(),
            check: RuleCheck::NotBefore("ENT_DAT".into()),
        }
    }

    fn death() -> QualityRule {
        QualityRule {
            table: "ER_PRS_F".into(),
            field: "EXE_SOI_DTD".into(),
            check: RuleCheck::NotAfter(OtherTableDate {
                table: "IR_BEN_R".into(),
                field: "BEN_DCD_DTE".into(),
                on: vec!["BEN_NIR_PSA".into()],
            }),
        }
    }

    const IDENTIFIERS: [&str; 9] = [
        "NIR-AAA-001",
        "NIR-AAA-002",
        "NIR-AAA-003",
        "NIR-AAA-004",
        "NIR-AAA-005",
        "NIR-AAA-006",
        "NIR-ZZZ-999",
        "NIR-QQQ-777",
        "NIR-",
    ];

    #[tokio::test]
    async fn a_delivery_with_faults() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        let (a, b, c, d, e, f) = (
            Some("NIR-AAA-001"),
            Some("NIR-AAA-002"),
            Some("NIR-AAA-003"),
            Some("NIR-AAA-004"),
            Some("NIR-AAA-005"),
            Some("NIR-AAA-006"),
        );
        let v1 = publish(
            &lake,
            1,
            vec![
                (
                    ben(false),
                    vec![
                        r(&[a, Some("1"), Some("75")]),
                        r(&[b, Some("2"), Some("13")]),
                        r(&[c, Some("1"), Some("69")]),
                        r(&[d, Some("2"), None]),
                    ],
                ),
                (
                    prs(),
                    vec![
                        r(&[a, Some("2022-01-10"), Some("1111"), Some("01")]),
                        r(&[b, Some("2022-02-01"), Some("1112"), Some("02")]),
                        r(&[c, Some("2022-02-15"), Some("1111"), Some("01")]),
                        r(&[d, Some("2022-05-01"), Some("1112"), Some("01")]),
                        r(&[a, Some("2022-06-01"), Some("1111"), Some("02")]),
                    ],
                ),
                (old(), vec![r(&[Some("x")])]),
            ],
        )
        .await;
        let v2 = publish(
            &lake,
            2,
            vec![
                (
                    ben(true),
                    vec![
                        r(&[a, Some("1"), None]),
                        r(&[b, Some("2"), None]),
                        r(&[c, Some("1"), Some("2023-03-01")]),
                        r(&[d, Some("2"), None]),
                        r(&[e, Some("2"), Some("2023-06-01")]),
                        r(&[f, Some("1"), None]),
                    ],
                ),
                (
                    prs(),
                    vec![
                        r(&[a, Some("2023-01-10"), Some("1111"), Some("01")]),
                        r(&[a, Some("2023-01-10"), Some("1111"), Some("01")]),
                        r(&[a, Some("2023-01-10"), Some("1111"), Some("01")]),
                        r(&[b, Some("2023-02-01"), Some("1112"), Some("02")]),
                        r(&[c, Some("2023-02-15"), Some("1111"), Some("01")]),
                        // After the death of NIR-AAA-003.
                        r(&[c, Some("2023-04-15"), Some("1111"), Some("22")]),
                        r(&[e, Some("2023-05-01"), Some("1112"), Some("01")]),
                        // The day of the death: fine.
                        r(&[e, Some("2023-06-01"), Some("3333"), Some("02")]),
                        // Orphan.
                        r(&[
                            Some("NIR-ZZZ-999"),
                            Some("2023-03-03"),
                            Some("1111"),
                            Some("01"),
                        ]),
                        // No person: not checked.
                        r(&[None, Some("2023-03-04"), Some("1111"), None]),
                    ],
                ),
                (
                    mco(),
                    vec![
                        r(&[
                            Some("E1"),
                            Some("R1"),
                            a,
                            Some("2023-01-01"),
                            Some("2023-01-05"),
                        ]),
                        // Discharged before admitted.
                        r(&[
                            Some("E1"),
                            Some("R2"),
                            b,
                            Some("2023-02-01"),
                            Some("2023-01-30"),
                        ]),
                        // The same key again.
                        r(&[
                            Some("E1"),
                            Some("R2"),
                            d,
                            Some("2023-03-01"),
                            Some("2023-03-02"),
                        ]),
                        r(&[Some("E2"), Some("R1"), f, Some("2023-04-01"), None]),
                        // Orphan, same-day stay.
                        r(&[
                            Some("E2"),
                            Some("R3"),
                            Some("NIR-QQQ-777"),
                            Some("2023-05-01"),
                            Some("2023-05-01"),
                        ]),
                    ],
                ),
                (
                    node(),
                    vec![
                        r(&[Some("1"), None]),
                        r(&[Some("2"), Some("1")]),
                        r(&[Some("3"), Some("9")]),
                    ],
                ),
            ],
        )
        .await;
        let missing = QualityRule {
            table: "T_MCO_C".into(),
            ..discharge()
        };
        let report = quality_report(
            &lake,
            "snds",
            2,
            &v2,
            Some((1, &v1)),
            &[discharge(), death(), missing],
            3,
            &Limits::default(),
        )
        .await
        .unwrap();
        assert_eq!(report.dataset_id, "snds");
        assert_eq!(report.version, 2);
        assert_eq!(report.threshold, 3);

        // Tables: rows, duplicates, completeness.
        let ben_q = report.table("IR_BEN_R").unwrap();
        assert_eq!(ben_q.rows, 6);
        assert_eq!(ben_q.duplicate_rows, 0);
        assert_eq!(ben_q.duplicate_keys, Some(0));
        let dcd = &ben_q.columns[2];
        assert_eq!((dcd.name.as_str(), dcd.nulls), ("BEN_DCD_DTE", 4));
        assert!((dcd.completeness - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(dcd.field_type, FieldType::Date);
        assert!(matches!(
            dcd.distribution,
            Some(Distribution::Histogram { .. })
        ));
        // Two sexes: under the threshold of 3, suppressed.
        assert_eq!(ben_q.columns[1].distinct, None);
        let nir = &ben_q.columns[0];
        assert!(nir.person_identifier);
        assert_eq!(
            (nir.distinct, &nir.distribution, nir.nulls),
            (None, &None, 0)
        );

        let prs_q = report.table("ER_PRS_F").unwrap();
        assert_eq!(prs_q.rows, 10);
        assert_eq!(prs_q.duplicate_rows, 2);
        assert_eq!(prs_q.duplicate_keys, None);
        assert_eq!(prs_q.columns[0].nulls, 1);
        assert!((prs_q.columns[0].completeness - 0.9).abs() < 1e-12);
        assert_eq!(prs_q.columns[0].distinct, None);
        assert_eq!(prs_q.columns[2].distinct, Some(3));
        match &prs_q.columns[2].distribution {
            Some(Distribution::TopValues { bars, .. }) => {
                assert_eq!(bars[0].label, "1111");
                assert_eq!(bars[0].count, Some(7));
                assert!(bars[1..].iter().all(|b| b.count.is_none()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(prs_q.columns[3].nulls, 1);

        let mco_q = report.table("T_MCO_B").unwrap();
        assert_eq!(mco_q.rows, 5);
        assert_eq!(mco_q.duplicate_rows, 0);
        assert_eq!(mco_q.duplicate_keys, Some(1));
        assert_eq!(mco_q.primary_key, vec!["ETA_NUM", "RSA_NUM"]);
        assert_eq!(mco_q.columns[4].nulls, 1);

        // Foreign keys within the delivery (IR_NAT_V is elsewhere: skipped).
        let refs: Vec<(&str, &str, u64, u64)> = report
            .references
            .iter()
            .map(|r| {
                (
                    r.table.as_str(),
                    r.references_table.as_str(),
                    r.rows_checked,
                    r.orphans,
                )
            })
            .collect();
        assert_eq!(
            refs,
            vec![
                ("ER_PRS_F", "IR_BEN_R", 9, 1),
                ("T_MCO_B", "IR_BEN_R", 5, 1),
                ("NODE", "NODE", 2, 1),
            ]
        );

        // Coherence rules.
        let c = &report.coherence;
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].rows_checked, c[0].violations), (4, 1));
        assert_eq!(c[0].not_checked, None);
        assert_eq!((c[1].rows_checked, c[1].violations), (4, 1));
        assert_eq!(c[1].rule, death());
        assert_eq!(
            c[2].not_checked.as_deref(),
            Some("table T_MCO_C is not in the delivery")
        );

        // Against v1.
        let cmp = report.comparison.as_ref().unwrap();
        assert_eq!(cmp.previous_version, 1);
        let drift: Vec<(&str, u64, u64, Option<f64>)> = cmp
            .tables
            .iter()
            .map(|t| (t.table.as_str(), t.rows_before, t.rows_now, t.drift))
            .collect();
        assert_eq!(
            drift,
            vec![
                ("IR_BEN_R", 4, 6, Some(0.5)),
                ("ER_PRS_F", 5, 10, Some(1.0))
            ]
        );
        assert_eq!(cmp.added_tables, vec!["T_MCO_B", "NODE"]);
        assert_eq!(cmp.removed_tables, vec!["OLD_T"]);
        let col = |t: &str, c: &str| TableColumn {
            table: t.into(),
            column: c.into(),
        };
        assert_eq!(cmp.added_columns, vec![col("IR_BEN_R", "BEN_DCD_DTE")]);
        assert_eq!(cmp.removed_columns, vec![col("IR_BEN_R", "BEN_RES_DPT")]);
        assert_eq!(
            cmp.new_codes,
            vec![
                NewCodes {
                    table: "ER_PRS_F".into(),
                    field: "PRS_NAT_REF".into(),
                    nomenclature: Some("IR_NAT_V".into()),
                    count: 1,
                    examples: vec!["3333".into()],
                },
                NewCodes {
                    table: "ER_PRS_F".into(),
                    field: "PSE_SPE_COD".into(),
                    nomenclature: None,
                    count: 1,
                    examples: vec!["22".into()],
                },
            ]
        );

        assert_eq!(
            report.issues,
            vec![
                "ER_PRS_F: 2 exact duplicate rows",
                "T_MCO_B: 1 row repeating a primary key (ETA_NUM, RSA_NUM)",
                "ER_PRS_F.BEN_NIR_PSA → IR_BEN_R: 1 orphan row",
                "T_MCO_B.BEN_NIR_PSA → IR_BEN_R: 1 orphan row",
                "NODE.PARENT → NODE: 1 orphan row",
                "T_MCO_B: 1 row with SOR_DAT before ENT_DAT",
                "ER_PRS_F: 1 row with EXE_SOI_DTD after IR_BEN_R.BEN_DCD_DTE",
                "rule not checked (T_MCO_C.SOR_DAT is not before ENT_DAT of the same row): table T_MCO_C is not in the delivery",
                "IR_BEN_R: row count +50 % since v1",
                "ER_PRS_F: row count +100 % since v1",
                "OLD_T: table removed since v1",
                "T_MCO_B: new table since v1",
                "NODE: new table since v1",
                "IR_BEN_R.BEN_RES_DPT: column removed since v1",
                "IR_BEN_R.BEN_DCD_DTE: new column since v1",
                "ER_PRS_F.PRS_NAT_REF: 1 new code since v1 (IR_NAT_V): 3333",
                "ER_PRS_F.PSE_SPE_COD: 1 new code since v1: 22",
            ]
        );

        // No identifier value anywhere in what is stored or shown.
        let stored = serde_json::to_string(&report).unwrap();
        for id in IDENTIFIERS {
            assert!(!stored.contains(id), "{id} in {stored}");
        }
        for t in &report.tables {
            let svg = hdh_catalog::quality::completeness_svg(t, "fr");
            assert!(!svg.contains("NIR-"));
        }
        let back: QualityReport = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, report);
    }

    #[tokio::test]
    async fn a_first_delivery_has_no_comparison() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        let v1 = publish(&lake, 1, vec![(old(), vec![])]).await;
        let report = quality_report(&lake, "d", 1, &v1, None, &[], 10, &Limits::default())
            .await
            .unwrap();
        assert_eq!(report.comparison, None);
        let t = &report.tables[0];
        assert_eq!((t.rows, t.duplicate_rows, t.duplicate_keys), (0, 0, None));
        assert_eq!(t.columns[0].completeness, 0.0);
        assert!(report.issues.is_empty());
    }

    /// A delivery much bigger than the memory pool: aggregations and joins
    /// spill instead of failing. Slow in debug builds: run with `--ignored`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn a_big_delivery_stays_within_the_memory_pool() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(&dir.path().join("lake")).unwrap();
        let n: i64 = 1_000_000;
        let persons = 300_000;
        let write = |name: &'static str, cols: Vec<(ArrowField, ArrayRef)>| {
            let (fields, arrays): (Vec<_>, Vec<_>) = cols.into_iter().unzip();
            (
                name,
                RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap(),
            )
        };
        let nir = |i: i64| format!("NIR-{:08}", i % persons);
        let ben_b = write(
            "IR_BEN_R",
            vec![
                (
                    ArrowField::new("BEN_NIR_PSA", DataType::Utf8, true),
                    Arc::new(StringArray::from_iter_values((0..persons).map(nir))) as ArrayRef,
                ),
                (
                    ArrowField::new("BEN_SEX_COD", DataType::Int64, true),
                    Arc::new(Int64Array::from_iter_values(
                        (0..persons).map(|i| 1 + i % 2),
                    )),
                ),
                (
                    ArrowField::new("BEN_DCD_DTE", DataType::Date32, true),
                    Arc::new(Date32Array::from_iter(
                        (0..persons).map(|i| (i % 50 == 0).then_some(19_000)),
                    )),
                ),
            ],
        );
        let prs_b = write(
            "ER_PRS_F",
            vec![
                (
                    ArrowField::new("BEN_NIR_PSA", DataType::Utf8, true),
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|i| nir(i * 7 + 1)),
                    )) as ArrayRef,
                ),
                (
                    ArrowField::new("EXE_SOI_DTD", DataType::Date32, true),
                    Arc::new(Date32Array::from_iter_values(
                        (0..n).map(|i| 18_500 + (i % 900) as i32),
                    )),
                ),
                (
                    ArrowField::new("PRS_NAT_REF", DataType::Int64, true),
                    Arc::new(Int64Array::from_iter_values((0..n).map(|i| 1000 + i % 40))),
                ),
                (
                    ArrowField::new("PSE_SPE_COD", DataType::Utf8, true),
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|i| format!("{:02}", i % 30)),
                    )),
                ),
            ],
        );
        let mut st = lake.begin_staging();
        for (name, b) in [&ben_b, &prs_b] {
            let mut w = lake.table_writer(&st, name, b.schema()).unwrap();
            for k in (0..b.num_rows()).step_by(65_536) {
                w.write(&b.slice(k, 65_536.min(b.num_rows() - k)))
                    .await
                    .unwrap();
            }
            lake.finish_table(&mut st, w).await.unwrap();
        }
        drop((ben_b, prs_b));
        let m = Manifest {
            kind: "dataset".into(),
            id: "big".into(),
            version: 1,
            created_at: "now".into(),
            files: vec![],
            metadata: serde_json::Value::Null,
        };
        let m = lake.publish(st, "datasets/big/v1", m).await.unwrap();
        let path = |t: &str| m.files.iter().find(|f| f.table == t).unwrap().path.clone();
        let tables = vec![(ben(true), path("IR_BEN_R")), (prs(), path("ER_PRS_F"))];
        let limits = Limits {
            memory_bytes: 64 << 20,
            spill_dir: Some(dir.path().join("spill")),
            ..Limits::default()
        };
        let report = quality_report(&lake, "big", 1, &tables, None, &[death()], 10, &limits)
            .await
            .unwrap();
        let prs_q = report.table("ER_PRS_F").unwrap();
        assert_eq!(prs_q.rows, n as u64);
        assert_eq!(report.references[0].orphans, 0);
        assert_eq!(report.references[0].rows_checked, n as u64);
        assert!(report.coherence[0].rows_checked > 0);
        eprintln!("{}", serde_json::to_string(&report.issues).unwrap());
    }
}
