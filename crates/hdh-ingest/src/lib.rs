//! Validates a delivered CSV file against its [`TableSchema`] and converts it
//! to Arrow record batches.
//!
//! The crate does no I/O of its own: it reads the given [`std::io::Read`] as a
//! stream (memory is bounded by one batch plus, when the table has a primary
//! key or unique fields, about 30 bytes per row and key for duplicate
//! detection: a 128-bit hash of the key and the line it was first seen on) and
//! hands batches to a sink. The caller writes them to staging and discards
//! everything when [`TableReport::error_count`] is not zero.
//!
//! Every row is validated even after the first error, so that a producer gets
//! all errors of a delivery at once (the first `max_errors` in detail, the
//! rest counted). Values of person-identifier fields (`hdh:identifier`) never
//! appear in messages.

mod plan;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::io::Read;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use hdh_model::schema::TableSchema;
use serde::{Deserialize, Serialize};

pub use plan::arrow_schema;
use plan::{FieldPlan, Plan, Storage, Typed};

/// Shown instead of the value of a person-identifier field.
pub const WITHHELD: &str = "<identifier withheld>";

/// Longest value quoted in a message, in characters.
const QUOTE_MAX: usize = 50;

/// A value quoted for a message: Rust string escaping, truncated.
pub(crate) fn quote(s: &str) -> String {
    if s.chars().count() <= QUOTE_MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(QUOTE_MAX).collect();
        format!("{:?}", format!("{head}…"))
    }
}

/// Membership of codes in the hub's nomenclatures (code lists).
pub trait NomenclatureLookup {
    /// Whether `code` belongs to `nomenclature`; `None` when the hub does not
    /// know the nomenclature (codes are then not checked, and a warning is
    /// reported once per nomenclature).
    fn contains(&self, nomenclature: &str, code: &str) -> Option<bool>;
}

/// Knows no nomenclature: nothing is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNomenclatures;

impl NomenclatureLookup for NoNomenclatures {
    fn contains(&self, _nomenclature: &str, _code: &str) -> Option<bool> {
        None
    }
}

/// Nomenclature name → codes.
impl<S: BuildHasher, T: BuildHasher> NomenclatureLookup for HashMap<String, HashSet<String, T>, S> {
    fn contains(&self, nomenclature: &str, code: &str) -> Option<bool> {
        self.get(nomenclature).map(|codes| codes.contains(code))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Rows per record batch (> 0).
    pub batch_rows: usize,
    /// Errors reported in detail; further errors are only counted.
    pub max_errors: usize,
    /// Field delimiter (ASCII, not `"`, CR or LF).
    pub delimiter: u8,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_rows: 65_536,
            max_errors: 1000,
            delimiter: b',',
        }
    }
}

/// One problem in a delivered file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub file: String,
    /// 1-based physical line of the file (for a cell: the line the cell
    /// starts on, which differs from the row's first line after a quoted
    /// field containing line breaks).
    pub line: u64,
    /// 1-based column (field position in the row), when one cell is at fault.
    pub column: Option<u64>,
    pub field: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The outcome of ingesting one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub file: String,
    /// Data rows read (valid or not; the header is not counted).
    pub rows: u64,
    /// The first `max_errors` errors, in file order.
    pub errors: Vec<RowError>,
    /// All errors, including those beyond `max_errors`.
    pub error_count: u64,
    pub warnings: Vec<String>,
}

impl TableReport {
    /// No error: the batches handed to the sink are the whole table.
    pub fn is_valid(&self) -> bool {
        self.error_count == 0
    }

    fn push(
        &mut self,
        max_errors: usize,
        line: u64,
        column: Option<u64>,
        field: Option<&str>,
        reason: String,
    ) {
        self.error_count += 1;
        if self.errors.len() < max_errors {
            self.errors.push(RowError {
                file: self.file.clone(),
                line,
                column,
                field: field.map(str::to_owned),
                reason,
            });
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The schema cannot drive ingestion (an invalid `pattern` or date
    /// `format`): a fault of the schema, not of the file.
    #[error("schema of table {table}: {message}")]
    Schema { table: String, message: String },
    #[error("invalid ingest options: {0}")]
    Options(String),
    /// Reading the input failed.
    #[error("reading {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: csv::Error,
    },
    #[error("building a record batch: {0}")]
    Arrow(#[from] ArrowError),
    /// Returned by the sink (writing a batch failed).
    #[error("sink: {0}")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A 128-bit hash of a key (two independent 64-bit SipHashes).
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyHash(u64, u64);

impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: the map uses it directly.
        state.write_u64(self.0);
    }
}

/// Pass-through hasher for [`KeyHash`].
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Key hash → first line seen.
type SeenKeys = HashMap<KeyHash, u64, BuildHasherDefault<PassThrough>>;

struct KeyHasher(RandomState, RandomState);

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher(RandomState::new(), RandomState::new())
    }

    fn hash(&self, parts: &[(Typed, &str)]) -> KeyHash {
        let mut a = self.0.build_hasher();
        let mut b = self.1.build_hasher();
        for part in parts {
            hash_part(part, &mut a);
            hash_part(part, &mut b);
        }
        KeyHash(a.finish(), b.finish())
    }
}

fn hash_part<H: Hasher>((typed, raw): &(Typed, &str), h: &mut H) {
    match *typed {
        Typed::Text => {
            0u8.hash(h);
            raw.hash(h);
        }
        Typed::Int(i) => (1u8, i).hash(h),
        Typed::Float(f) => (2u8, f.to_bits()).hash(h),
        Typed::Bool(v) => (3u8, v).hash(h),
        Typed::Date(d) => (4u8, d).hash(h),
        Typed::Micros(m) => (5u8, m).hash(h),
        Typed::Month(m) => (6u8, m).hash(h),
    }
}

/// The state of one cell after checking.
#[derive(Clone, Copy)]
enum Slot {
    Null,
    Bad,
    Value(Typed),
}

enum Column {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Date32(Date32Builder),
    Micros(TimestampMicrosecondBuilder),
}

impl Column {
    fn new(storage: Storage, rows: usize) -> Column {
        match storage {
            Storage::Utf8 => {
                Column::Utf8(StringBuilder::with_capacity(rows, rows.saturating_mul(8)))
            }
            Storage::Int64 => Column::Int64(Int64Builder::with_capacity(rows)),
            Storage::Float64 => Column::Float64(Float64Builder::with_capacity(rows)),
            Storage::Boolean => Column::Boolean(BooleanBuilder::with_capacity(rows)),
            Storage::Date32 => Column::Date32(Date32Builder::with_capacity(rows)),
            Storage::TimestampMicros => {
                Column::Micros(TimestampMicrosecondBuilder::with_capacity(rows))
            }
        }
    }

    /// Appends a checked cell; `raw` is its text. The plan guarantees the
    /// typed value matches the storage; a mismatch would be a bug, appended
    /// as null (and then refused by Arrow for a non-nullable column).
    fn append(&mut self, slot: Slot, raw: &str) {
        let value = match slot {
            Slot::Value(v) => Some(v),
            Slot::Null | Slot::Bad => None,
        };
        match (self, value) {
            (Column::Utf8(b), Some(_)) => b.append_value(raw),
            (Column::Utf8(b), None) => b.append_null(),
            (Column::Int64(b), v) => b.append_option(match v {
                Some(Typed::Int(i)) => Some(i),
                _ => None,
            }),
            (Column::Float64(b), v) => b.append_option(match v {
                Some(Typed::Float(f)) => Some(f),
                _ => None,
            }),
            (Column::Boolean(b), v) => b.append_option(match v {
                Some(Typed::Bool(x)) => Some(x),
                _ => None,
            }),
            (Column::Date32(b), v) => b.append_option(match v {
                Some(Typed::Date(d)) => Some(d),
                _ => None,
            }),
            (Column::Micros(b), v) => b.append_option(match v {
                Some(Typed::Micros(m)) => Some(m),
                _ => None,
            }),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Utf8(b) => Arc::new(b.finish()),
            Column::Int64(b) => Arc::new(b.finish()),
            Column::Float64(b) => Arc::new(b.finish()),
            Column::Boolean(b) => Arc::new(b.finish()),
            Column::Date32(b) => Arc::new(b.finish()),
            Column::Micros(b) => Arc::new(b.finish()),
        }
    }
}

fn flush(
    columns: &mut [Column],
    schema: &SchemaRef,
    sink: &mut dyn FnMut(RecordBatch) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let arrays: Vec<ArrayRef> = columns.iter_mut().map(Column::finish).collect();
    sink(RecordBatch::try_new(schema.clone(), arrays)?)
}

fn check_options(opts: &IngestOptions) -> Result<(), IngestError> {
    if opts.batch_rows == 0 {
        return Err(IngestError::Options(
            "batch_rows must be at least 1".to_owned(),
        ));
    }
    if !opts.delimiter.is_ascii() || matches!(opts.delimiter, b'"' | b'\r' | b'\n') {
        return Err(IngestError::Options(format!(
            "unusable delimiter byte 0x{:02X}",
            opts.delimiter
        )));
    }
    Ok(())
}

/// Compares the header row with the schema; the reason when they differ.
fn check_header(plan: &Plan, header: &csv::ByteRecord) -> Option<String> {
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            // A UTF-8 byte order mark may precede the first name.
            let cell = if i == 0 {
                cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
            } else {
                cell
            };
            String::from_utf8_lossy(cell).into_owned()
        })
        .collect();
    let expected: Vec<&str> = plan.fields.iter().map(|f| f.name.as_str()).collect();
    if names
        .iter()
        .map(String::as_str)
        .eq(expected.iter().copied())
    {
        return None;
    }
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !names.iter().any(|n| n == e))
        .collect();
    let mut unexpected = Vec::new();
    let mut seen = HashSet::new();
    for (i, name) in names.iter().enumerate() {
        // A file delivered without its header has data here: withhold what
        // sits where the schema puts a person identifier.
        let shown = if plan.fields.get(i).is_some_and(|f| f.identifier) {
            WITHHELD.to_owned()
        } else {
            quote(name)
        };
        if !expected.contains(&name.as_str()) {
            unexpected.push(format!("{shown} (column {})", i + 1));
        } else if !seen.insert(name.as_str()) {
            unexpected.push(format!("duplicate {shown} (column {})", i + 1));
        }
    }
    if missing.is_empty() && unexpected.is_empty() {
        return Some(format!(
            "columns out of order: expected {}; found {}",
            expected.join(", "),
            names.join(", ")
        ));
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing column(s) {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected column(s) {}", unexpected.join(", ")));
    }
    Some(format!(
        "header does not match the schema: {}",
        parts.join("; ")
    ))
}

/// Wraps the input to number lines. `csv::Position::line` is not usable: it
/// is taken before blank lines and the LF of a CRLF terminator are skipped, so
/// it is off by one for every CRLF line and every blank line before a record.
/// The byte offset of the position has the same quirk (it points at the
/// skipped CR/LF bytes); this tracker remembers where the CR and LF bytes of
/// the not yet numbered input are, so it can skip them and count lines.
/// Memory: one entry per CR/LF between the last numbered record and the
/// read-ahead position (the CSV reader's buffer plus one record).
struct LineTracker<R> {
    inner: R,
    /// Bytes read from `inner` so far.
    offset: u64,
    /// Offsets of CR and LF bytes not yet passed, as `offset << 1 | is_lf`.
    breaks: VecDeque<u64>,
    /// LF bytes passed.
    lines_before: u64,
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.breaks
                    .push_back(((self.offset + i as u64) << 1) | u64::from(b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            lines_before: 0,
        }
    }

    /// The 1-based line of a record whose position byte offset is `at`: the
    /// line of the first byte from `at` on that is not CR or LF. Calls must
    /// come in increasing order of `at`.
    fn record_line(&mut self, at: u64) -> u64 {
        while let Some(&e) = self.breaks.front() {
            if e >> 1 >= at {
                break;
            }
            self.lines_before += e & 1;
            self.breaks.pop_front();
        }
        let mut next = at;
        while let Some(&e) = self.breaks.front() {
            if e >> 1 != next {
                break;
            }
            self.lines_before += e & 1;
            self.breaks.pop_front();
            next += 1;
        }
        self.lines_before + 1
    }
}

/// Line breaks in `bytes`.
fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The line a cell starts on, given the line its record starts on.
fn cell_line(record: &csv::ByteRecord, record_line: u64, multi_line: bool, index: usize) -> u64 {
    if !multi_line {
        return record_line;
    }
    record_line + record.iter().take(index).map(newlines).sum::<u64>()
}

/// Validates `input`, a CSV file named `file_name` delivered for `schema`,
/// and hands its rows to `sink` as record batches of [`arrow_schema`] with at
/// most `opts.batch_rows` rows.
///
/// Batches are only handed over while the file is valid so far: once an error
/// is found no further batch is produced (the caller discards the table
/// anyway) but reading goes on to find and count every error. A header that
/// does not list exactly the schema's fields in order is one error at the
/// header line and ends the reading.
///
/// Errors about the file are in the returned report; `Err` means the schema
/// or options are unusable, reading failed, or the sink failed.
pub fn ingest_csv<R: Read>(
    schema: &TableSchema,
    file_name: &str,
    input: R,
    nomenclatures: &dyn NomenclatureLookup,
    opts: &IngestOptions,
    sink: &mut dyn FnMut(RecordBatch) -> Result<(), IngestError>,
) -> Result<TableReport, IngestError> {
    check_options(opts)?;
    let mut plan = Plan::new(schema)?;
    let arrow: SchemaRef = Arc::new(arrow_schema(schema));
    let mut report = TableReport {
        table: schema.name.clone(),
        file: file_name.to_owned(),
        rows: 0,
        errors: Vec::new(),
        error_count: 0,
        warnings: std::mem::take(&mut plan.warnings),
    };
    let max = opts.max_errors;
    let read_err = |source| IngestError::Read {
        file: file_name.to_owned(),
        source,
    };

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(opts.delimiter)
        .from_reader(LineTracker::new(input));
    let mut record = csv::ByteRecord::new();

    if !reader.read_byte_record(&mut record).map_err(read_err)? {
        report.push(
            max,
            1,
            None,
            None,
            "empty file: the header row is missing".to_owned(),
        );
        return Ok(report);
    }
    if let Some(reason) = check_header(&plan, &record) {
        let line = reader
            .get_mut()
            .record_line(record.position().map_or(0, csv::Position::byte));
        report.push(max, line, None, None, reason);
        return Ok(report);
    }

    let n = plan.fields.len();
    let mut columns: Vec<Column> = plan
        .fields
        .iter()
        .map(|f| Column::new(f.storage, opts.batch_rows))
        .collect();
    let mut pending = 0usize;
    let mut slots = vec![Slot::Null; n];
    let hasher = KeyHasher::new();
    let mut pk_seen = SeenKeys::default();
    let mut unique_seen: Vec<Option<SeenKeys>> = plan
        .fields
        .iter()
        .map(|f| f.unique.then(SeenKeys::default))
        .collect();
    let mut unknown_nomenclatures: HashSet<String> = HashSet::new();

    while reader.read_byte_record(&mut record).map_err(read_err)? {
        report.rows += 1;
        let line = reader
            .get_mut()
            .record_line(record.position().map_or(0, csv::Position::byte));
        if record.len() != n {
            report.push(
                max,
                line,
                None,
                None,
                format!("expected {n} fields, found {}", record.len()),
            );
            continue;
        }
        let multi_line = record.as_slice().contains(&b'\n');

        let mut texts: Vec<&str> = Vec::with_capacity(n);
        for (i, (field, bytes)) in plan.fields.iter_mut().zip(record.iter()).enumerate() {
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let at = e.valid_up_to();
                    let line = cell_line(&record, line, multi_line, i) + newlines(&bytes[..at]);
                    let reason = if field.identifier {
                        format!("not valid UTF-8 at byte {} of the value", at + 1)
                    } else {
                        format!(
                            "not valid UTF-8: byte 0x{:02X} at byte {} of the value",
                            bytes[at],
                            at + 1
                        )
                    };
                    report.push(max, line, Some(i as u64 + 1), Some(&field.name), reason);
                    slots[i] = Slot::Bad;
                    texts.push("");
                    continue;
                }
            };
            texts.push(text);
            slots[i] = check_cell(
                field,
                text,
                &plan.missing_values,
                nomenclatures,
                &mut unknown_nomenclatures,
                &mut report.warnings,
            )
            .unwrap_or_else(|reason| {
                let line = cell_line(&record, line, multi_line, i);
                report.push(max, line, Some(i as u64 + 1), Some(&field.name), reason);
                Slot::Bad
            });
        }

        // Primary key: only when every part is a valid value.
        if !plan.primary_key.is_empty() {
            let parts: Option<Vec<(Typed, &str)>> = plan
                .primary_key
                .iter()
                .map(|&i| match slots[i] {
                    Slot::Value(t) => Some((t, texts[i])),
                    Slot::Null | Slot::Bad => None,
                })
                .collect();
            if let Some(parts) = parts {
                let key = hasher.hash(&parts);
                if let Some(&first) = pk_seen.get(&key) {
                    let shown = plan
                        .primary_key
                        .iter()
                        .map(|&i| {
                            format!("{}={}", plan.fields[i].name, plan.fields[i].show(texts[i]))
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    let (column, field) = match plan.primary_key.as_slice() {
                        [only] => (
                            Some(*only as u64 + 1),
                            Some(plan.fields[*only].name.as_str()),
                        ),
                        _ => (None, None),
                    };
                    report.push(
                        max,
                        line,
                        column,
                        field,
                        format!("duplicate primary key ({shown}) first seen at line {first}"),
                    );
                } else {
                    pk_seen.insert(key, line);
                }
            }
        }
        // Unique fields (nulls are not compared).
        for (i, seen) in unique_seen.iter_mut().enumerate() {
            let (Some(seen), Slot::Value(t)) = (seen, slots[i]) else {
                continue;
            };
            let key = hasher.hash(&[(t, texts[i])]);
            let here = cell_line(&record, line, multi_line, i);
            if let Some(&first) = seen.get(&key) {
                let field = &plan.fields[i];
                report.push(
                    max,
                    here,
                    Some(i as u64 + 1),
                    Some(&field.name),
                    format!(
                        "duplicate value {} in a unique field, first seen at line {first}",
                        field.show(texts[i])
                    ),
                );
            } else {
                seen.insert(key, here);
            }
        }

        if report.error_count > 0 {
            // Invalid so far: the table will be discarded, stop building batches.
            continue;
        }
        for ((column, slot), text) in columns.iter_mut().zip(&slots).zip(&texts) {
            column.append(*slot, text);
        }
        pending += 1;
        if pending == opts.batch_rows {
            flush(&mut columns, &arrow, sink)?;
            pending = 0;
        }
    }
    if pending > 0 && report.error_count == 0 {
        flush(&mut columns, &arrow, sink)?;
    }
    Ok(report)
}

/// Checks one (UTF-8) cell: missing value, type and constraints, nomenclature.
fn check_cell(
    field: &mut FieldPlan,
    text: &str,
    missing_values: &[String],
    nomenclatures: &dyn NomenclatureLookup,
    unknown_nomenclatures: &mut HashSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Slot, String> {
    if missing_values.iter().any(|m| m == text) {
        return if field.required {
            Err("required value missing".to_owned())
        } else {
            Ok(Slot::Null)
        };
    }
    let typed = field.parse(text)?;
    if let Some(nomenclature) = &field.nomenclature
        && !field.nomenclature_unknown
    {
        match nomenclatures.contains(nomenclature, text) {
            Some(true) => {}
            Some(false) => {
                return Err(format!(
                    "code {} not in nomenclature {nomenclature}",
                    field.show(text)
                ));
            }
            None => {
                field.nomenclature_unknown = true;
                if unknown_nomenclatures.insert(nomenclature.clone()) {
                    warnings.push(format!(
                        "nomenclature {nomenclature} is unknown to the hub: codes of field {} were not checked against it",
                        field.name
                    ));
                }
            }
        }
    }
    Ok(Slot::Value(typed))
}

#[cfg(test)]
mod tests;
