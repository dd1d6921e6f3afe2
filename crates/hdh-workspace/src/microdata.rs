//! The microdata behind a table that asks to leave: read from Arrow batches
//! (the workspace's engine, or a Parquet file for `hdh sdc check`) into the
//! records the output checker (`hdh_release`) computes the table from.

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use hdh_release::Record;
use sha2::{Digest, Sha256};

/// Which columns of the microdata make the table.
#[derive(Debug, Clone, PartialEq)]
pub struct MicrodataColumns {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub value: Option<String>,
    /// The person column: thresholds count distinct persons and dominance
    /// adds up a person's records. Without it each record is a unit.
    pub person: Option<String>,
}

impl MicrodataColumns {
    /// Every column named, in order, without repeats.
    pub fn all(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in self
            .rows
            .iter()
            .chain(&self.cols)
            .map(String::as_str)
            .chain(self.value.as_deref())
            .chain(self.person.as_deref())
        {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MicrodataError {
    #[error("no column {name:?} (columns: {have})")]
    NoColumn { name: String, have: String },
    #[error("column {column:?} is {data_type}, not a number: it cannot be summed")]
    NotNumeric { column: String, data_type: String },
    #[error("row {row}: column {column:?} (the person) is empty")]
    EmptyPerson { row: u64, column: String },
    #[error("row {row}: column {column:?} is not a finite number")]
    NotFinite { row: u64, column: String },
    #[error("the microdata has more than {0} rows: narrow the query")]
    TooMany(usize),
    #[error("{0}")]
    Arrow(String),
    #[error(transparent)]
    Query(#[from] crate::QueryError),
}

/// A person's unit: the first 8 bytes of the SHA-256 of their pseudonym
/// (stable across runs, so the release ledger can compare populations).
pub fn unit_of(pseudonym: &str) -> u64 {
    let d = Sha256::digest(pseudonym.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Checks that the batches' schema has the columns, and a numeric value.
pub fn check_schema(
    schema: &arrow::datatypes::Schema,
    c: &MicrodataColumns,
) -> Result<(), MicrodataError> {
    for name in c.all() {
        let Ok(field) = schema.field_with_name(name) else {
            return Err(MicrodataError::NoColumn {
                name: name.to_string(),
                have: schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if Some(name) == c.value.as_deref() && !field.data_type().is_numeric() {
            return Err(MicrodataError::NotNumeric {
                column: name.to_string(),
                data_type: field.data_type().to_string(),
            });
        }
    }
    Ok(())
}

/// Adds a batch's records; a record with an empty key is left out (as
/// pandas does) and counted in the result. `row` numbers rows from 1 across
/// batches.
pub fn add_records(
    batch: &RecordBatch,
    c: &MicrodataColumns,
    row: &mut u64,
    out: &mut Vec<Record>,
) -> Result<u64, MicrodataError> {
    check_schema(batch.schema().as_ref(), c)?;
    let arrow_err = |e: arrow::error::ArrowError| MicrodataError::Arrow(e.to_string());
    let fmt = FormatOptions::default();
    let index = |n: &str| batch.schema().index_of(n).map_err(arrow_err);
    type Keyed<'b> = Vec<(&'b arrow::array::ArrayRef, ArrayFormatter<'b>)>;
    let keys = |names: &[String]| -> Result<Keyed<'_>, MicrodataError> {
        names
            .iter()
            .map(|n| {
                let a = batch.column(index(n)?);
                Ok((
                    a,
                    ArrayFormatter::try_new(a.as_ref(), &fmt).map_err(arrow_err)?,
                ))
            })
            .collect()
    };
    let row_keys = keys(&c.rows)?;
    let col_keys = keys(&c.cols)?;
    let values: Option<Float64Array> = match c.value.as_deref() {
        Some(v) => {
            let cast = arrow::compute::cast(batch.column(index(v)?), &DataType::Float64)
                .map_err(arrow_err)?;
            cast.as_any().downcast_ref::<Float64Array>().cloned()
        }
        None => None,
    };
    let person = match c.person.as_deref() {
        Some(p) => {
            let a = batch.column(index(p)?);
            Some((
                a,
                ArrayFormatter::try_new(a.as_ref(), &fmt).map_err(arrow_err)?,
            ))
        }
        None => None,
    };
    let mut skipped = 0;
    for i in 0..batch.num_rows() {
        *row += 1;
        if row_keys.iter().chain(&col_keys).any(|(a, _)| a.is_null(i)) {
            skipped += 1;
            continue;
        }
        let unit = match &person {
            Some((a, f)) => {
                if a.is_null(i) {
                    return Err(MicrodataError::EmptyPerson {
                        row: *row,
                        column: c.person.clone().unwrap_or_default(),
                    });
                }
                unit_of(&f.value(i).to_string())
            }
            None => *row,
        };
        let value = values
            .as_ref()
            .and_then(|v| (!v.is_null(i)).then(|| v.value(i)));
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(MicrodataError::NotFinite {
                row: *row,
                column: c.value.clone().unwrap_or_default(),
            });
        }
        out.push(Record {
            row: row_keys
                .iter()
                .map(|(_, f)| f.value(i).to_string())
                .collect(),
            col: col_keys
                .iter()
                .map(|(_, f)| f.value(i).to_string())
                .collect(),
            unit,
            value,
        });
    }
    Ok(skipped)
}

/// Runs the microdata query in the project's session (read-only; the
/// caller's gatekeeper already passed it) and reads at most `max_records`
/// records of the table's columns. The columns are picked from the query's
/// plan, not by wrapping its text in another query.
pub async fn query_records(
    ctx: &SessionContext,
    sql: &str,
    c: &MicrodataColumns,
    max_records: usize,
) -> Result<(Vec<Record>, u64), MicrodataError> {
    let df = ctx
        .sql_with_options(sql, crate::read_only())
        .await
        .map_err(crate::QueryError::from_df)?;
    check_schema(df.schema().as_arrow(), c)?;
    let df = df
        .select_columns(&c.all())
        .map_err(crate::QueryError::from_df)?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(crate::QueryError::from_df)?;
    let (mut out, mut row, mut skipped) = (Vec::new(), 0u64, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(crate::QueryError::from_df)?;
        skipped += add_records(&batch, c, &mut row, &mut out)?;
        if out.len() > max_records {
            return Err(MicrodataError::TooMany(max_records));
        }
    }
    Ok((out, skipped))
}
