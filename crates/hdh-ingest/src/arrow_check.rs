//! Validation of Arrow record batches (the Parquet tables of a producer's
//! package) against their [`TableSchema`], with exactly the rules that
//! [`crate::ingest_csv`] applies to CSV cells: the hub trusts no producer
//! tool, so every value is checked again where it is ingested.
//!
//! Each value is rendered to its canonical text (ISO dates, plain numbers)
//! and checked by the same cell rules; the result is a per-row verdict, so
//! that a caller may quarantine invalid rows instead of rejecting the table.
//! Rows are numbered from 1 in the file (`RowError::line` holds the row).

use std::collections::HashSet;
use std::fmt::Write as _;

use arrow::array::Array;
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use hdh_model::schema::TableSchema;

use crate::plan::{Plan, Storage, storage};
use crate::{
    IngestError, KeyHasher, NomenclatureLookup, SeenKeys, Slot, TableReport, Typed, check_cell,
};

/// Checks the batches of one table, in order.
pub struct BatchValidator {
    plan: Plan,
    expected: Schema,
    hasher: KeyHasher,
    pk_seen: SeenKeys,
    unique_seen: Vec<Option<SeenKeys>>,
    unknown_nomenclatures: HashSet<String>,
    report: TableReport,
    max_errors: usize,
    /// Invalid values per column (required value missing, type, constraint,
    /// nomenclature).
    invalid: Vec<u64>,
}

/// The schema the values are checked against: dates and datetimes stored as
/// Arrow temporal types are rendered in ISO form, so their text `format` no
/// longer applies; booleans are rendered `true`/`false`.
fn canonical_schema(schema: &TableSchema) -> TableSchema {
    let mut s = schema.clone();
    for f in &mut s.fields {
        match storage(f) {
            Storage::Date32 | Storage::TimestampMicros => f.format = None,
            Storage::Boolean => {
                f.true_values = None;
                f.false_values = None;
            }
            Storage::Utf8 | Storage::Int64 | Storage::Float64 => {}
        }
    }
    s
}

impl BatchValidator {
    pub fn new(
        schema: &TableSchema,
        file_name: &str,
        max_errors: usize,
    ) -> Result<BatchValidator, IngestError> {
        let mut plan = Plan::new(&canonical_schema(schema))?;
        let report = TableReport {
            table: schema.name.clone(),
            file: file_name.to_owned(),
            rows: 0,
            errors: Vec::new(),
            error_count: 0,
            warnings: std::mem::take(&mut plan.warnings),
        };
        let unique_seen = plan
            .fields
            .iter()
            .map(|f| f.unique.then(SeenKeys::default))
            .collect();
        Ok(BatchValidator {
            plan,
            expected: crate::arrow_schema(schema),
            hasher: KeyHasher::new(),
            pk_seen: SeenKeys::default(),
            unique_seen,
            unknown_nomenclatures: HashSet::new(),
            invalid: vec![0; schema.fields.len()],
            report,
            max_errors,
        })
    }

    /// Whether the file's columns are the schema's fields, in order, with
    /// the Arrow types [`crate::arrow_schema`] gives them. `Err` says what
    /// differs.
    pub fn check_arrow_schema(&self, actual: &Schema) -> Result<(), String> {
        let want = self.expected.fields();
        let got = actual.fields();
        if want.len() != got.len() {
            return Err(format!(
                "{} columns expected ({}), found {} ({})",
                want.len(),
                want.iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                got.len(),
                got.iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (i, (w, g)) in want.iter().zip(got.iter()).enumerate() {
            if w.name() != g.name() {
                return Err(format!(
                    "column {}: {} expected, found {}",
                    i + 1,
                    w.name(),
                    g.name()
                ));
            }
            if w.data_type() != g.data_type() {
                return Err(format!(
                    "column {} ({}): type {} expected, found {}",
                    i + 1,
                    w.name(),
                    w.data_type(),
                    g.data_type()
                ));
            }
        }
        Ok(())
    }

    /// Checks one batch; returns whether each row is valid. Errors are added
    /// to the report (the first `max_errors` in detail).
    pub fn validate(
        &mut self,
        batch: &RecordBatch,
        nomenclatures: &dyn NomenclatureLookup,
    ) -> Result<Vec<bool>, IngestError> {
        if let Err(reason) = self.check_arrow_schema(&batch.schema()) {
            return Err(IngestError::Schema {
                table: self.report.table.clone(),
                message: reason,
            });
        }
        let options = FormatOptions::default().with_null("");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let n = self.plan.fields.len();
        let mut texts: Vec<String> = vec![String::new(); n];
        let mut slots = vec![Slot::Null; n];
        let mut verdicts = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            self.report.rows += 1;
            let line = self.report.rows;
            let before = self.report.error_count;
            for i in 0..n {
                let text = &mut texts[i];
                text.clear();
                let column = batch.column(i);
                let field = &mut self.plan.fields[i];
                if column.is_null(row) {
                    slots[i] = if field.required {
                        self.invalid[i] += 1;
                        self.report.push(
                            self.max_errors,
                            line,
                            Some(i as u64 + 1),
                            Some(&field.name),
                            "required value missing".to_owned(),
                        );
                        Slot::Bad
                    } else {
                        Slot::Null
                    };
                    continue;
                }
                let _ = write!(text, "{}", formatters[i].value(row));
                slots[i] = check_cell(
                    field,
                    text,
                    &self.plan.missing_values,
                    nomenclatures,
                    &mut self.unknown_nomenclatures,
                    &mut self.report.warnings,
                )
                .unwrap_or_else(|reason| {
                    self.invalid[i] += 1;
                    self.report.push(
                        self.max_errors,
                        line,
                        Some(i as u64 + 1),
                        Some(&field.name),
                        reason,
                    );
                    Slot::Bad
                });
            }
            self.check_keys(&slots, &texts, line);
            verdicts.push(self.report.error_count == before);
        }
        Ok(verdicts)
    }

    fn check_keys(&mut self, slots: &[Slot], texts: &[String], line: u64) {
        let plan = &self.plan;
        if !plan.primary_key.is_empty() {
            let parts: Option<Vec<(Typed, &str)>> = plan
                .primary_key
                .iter()
                .map(|&i| match slots[i] {
                    Slot::Value(t) => Some((t, texts[i].as_str())),
                    Slot::Null | Slot::Bad => None,
                })
                .collect();
            if let Some(parts) = parts {
                let key = self.hasher.hash(&parts);
                if let Some(&first) = self.pk_seen.get(&key) {
                    let shown = plan
                        .primary_key
                        .iter()
                        .map(|&i| {
                            format!("{}={}", plan.fields[i].name, plan.fields[i].show(&texts[i]))
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.report.push(
                        self.max_errors,
                        line,
                        None,
                        None,
                        format!("duplicate primary key ({shown}) first seen at row {first}"),
                    );
                } else {
                    self.pk_seen.insert(key, line);
                }
            }
        }
        for (i, seen) in self.unique_seen.iter_mut().enumerate() {
            let (Some(seen), Slot::Value(t)) = (seen, slots[i]) else {
                continue;
            };
            let key = self.hasher.hash(&[(t, texts[i].as_str())]);
            if let Some(&first) = seen.get(&key) {
                let field = &plan.fields[i];
                self.report.push(
                    self.max_errors,
                    line,
                    Some(i as u64 + 1),
                    Some(&field.name),
                    format!(
                        "duplicate value {} in a unique field, first seen at row {first}",
                        field.show(&texts[i])
                    ),
                );
            } else {
                seen.insert(key, line);
            }
        }
    }

    /// Invalid values per column, by field name.
    pub fn invalid_counts(&self) -> Vec<(String, u64)> {
        self.plan
            .fields
            .iter()
            .zip(&self.invalid)
            .map(|(f, n)| (f.name.clone(), *n))
            .collect()
    }

    /// The report so far (rows checked, errors).
    pub fn report(&self) -> &TableReport {
        &self.report
    }

    pub fn finish(self) -> TableReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IngestOptions, NoNomenclatures, ingest_csv};

    fn schema() -> TableSchema {
        TableSchema::from_json(
            br#"{"name": "T", "primaryKey": ["ID"], "fields": [
                {"name": "ID", "type": "integer", "constraints": {"required": true}},
                {"name": "P", "type": "string", "hdh:identifier": "person",
                 "constraints": {"required": true, "pattern": "^[0-9a-f]{32}$"}},
                {"name": "D", "type": "date", "format": "%d%m%Y",
                 "constraints": {"minimum": "2000-01-01"}},
                {"name": "S", "type": "string", "constraints": {"enum": ["1", "2"]}},
                {"name": "B", "type": "boolean", "trueValues": ["O"], "falseValues": ["N"]}
            ]}"#,
        )
        .unwrap()
    }

    fn batches(csv: &str) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let rep = ingest_csv(
            &schema(),
            "T.csv",
            csv.as_bytes(),
            &NoNomenclatures,
            &IngestOptions::default(),
            &mut |b| {
                out.push(b);
                Ok(())
            },
        )
        .unwrap();
        assert!(rep.is_valid(), "{:?}", rep.errors);
        out
    }

    const P1: &str = "0123456789abcdef0123456789abcdef";
    const P2: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn what_the_csv_reader_accepts_the_batch_validator_accepts() {
        let csv = format!("ID,P,D,S,B\n1,{P1},01022020,1,O\n2,{P2},,2,N\n3,{P1},31122021,,\n");
        let mut v = BatchValidator::new(&schema(), "T.parquet", 10).unwrap();
        for b in batches(&csv) {
            assert_eq!(v.validate(&b, &NoNomenclatures).unwrap(), vec![true; 3]);
        }
        assert!(v.finish().is_valid());
    }

    #[test]
    fn invalid_rows_are_flagged_one_by_one_without_quoting_identifiers() {
        // Built valid by the CSV reader with a looser schema, then checked
        // against the strict one, as a forged package would be.
        let loose = TableSchema::from_json(
            br#"{"name": "T", "fields": [
                {"name": "ID", "type": "integer"},
                {"name": "P", "type": "string"},
                {"name": "D", "type": "date", "format": "%d%m%Y"},
                {"name": "S", "type": "string"},
                {"name": "B", "type": "boolean", "trueValues": ["O"], "falseValues": ["N"]}
            ]}"#,
        )
        .unwrap();
        let csv = format!(
            "ID,P,D,S,B\n1,{P1},01021999,1,O\n2,185057800604812,01022020,2,N\n2,{P2},01022020,3,N\n4,{P2},01022020,1,\n"
        );
        let mut out = Vec::new();
        ingest_csv(
            &loose,
            "T.csv",
            csv.as_bytes(),
            &NoNomenclatures,
            &IngestOptions::default(),
            &mut |b| {
                out.push(b);
                Ok(())
            },
        )
        .unwrap();
        let mut v = BatchValidator::new(&schema(), "T.parquet", 10).unwrap();
        let verdicts = v.validate(&out[0], &NoNomenclatures).unwrap();
        assert_eq!(verdicts, vec![false, false, false, true]);
        let rep = v.finish();
        let text: Vec<String> = rep.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|e| e.contains("T.parquet:1:3 (D)")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("T.parquet:2:2 (P)")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("duplicate primary key")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("T.parquet:3:4 (S)")),
            "{text:?}"
        );
        assert!(!text.iter().any(|e| e.contains("1850578")), "{text:?}");
    }

    #[test]
    fn a_file_with_other_columns_is_refused() {
        let other = TableSchema::from_json(
            br#"{"name": "T", "fields": [{"name": "ID", "type": "string"}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        ingest_csv(
            &other,
            "T.csv",
            "ID\n1\n".as_bytes(),
            &NoNomenclatures,
            &IngestOptions::default(),
            &mut |b| {
                out.push(b);
                Ok(())
            },
        )
        .unwrap();
        let mut v = BatchValidator::new(&schema(), "T.parquet", 10).unwrap();
        let e = v.validate(&out[0], &NoNomenclatures).unwrap_err();
        assert!(e.to_string().contains("5 columns expected"), "{e}");
    }
}
