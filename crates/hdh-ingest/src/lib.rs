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
//! rest counted). Values of person-identifier fields (`hdh:identifier`) and
//! of fields with a pseudonymisation role (`hdh:pseudonymisation`) never
//! appear in messages.
//!
//! The dialect is set by [`IngestOptions`]: delimiter, header or not, quoting
//! or not, UTF-8 or Latin-1 (SNDS extracts often are). A record longer than
//! `max_record_bytes` (a runaway quote, a file without line breaks) is
//! refused as soon as that many bytes have been read, so memory stays
//! bounded whatever the input; a quote still open at the end of the file is
//! an error at the line where it was opened. With `check_unique` off,
//! primary keys and unique fields are not checked and memory is constant
//! (the producer's tool does that; the hub checks again).

mod arrow_check;
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

pub use arrow_check::BatchValidator;
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

/// The character encoding of a delivered file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 (an optional byte order mark is skipped); an invalid sequence
    /// is an error naming its line and column.
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is the character of that code point.
    Latin1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Rows per record batch (> 0).
    pub batch_rows: usize,
    /// Errors reported in detail; further errors are only counted.
    pub max_errors: usize,
    /// Field delimiter (ASCII, not the quote, CR or LF).
    pub delimiter: u8,
    /// The first row names the columns (checked against the schema);
    /// without it, the columns are the schema's fields in order.
    pub has_header: bool,
    /// The quote character (ASCII, not CR or LF); `None`: no quoting, every
    /// byte but the delimiter and line breaks is data.
    pub quote: Option<u8>,
    pub encoding: Encoding,
    /// Longest accepted record, in bytes (of UTF-8, after decoding), blank
    /// lines before it included (> 0).
    pub max_record_bytes: usize,
    /// Check primary key and `unique` constraints (memory grows with the
    /// number of rows); off, memory is constant.
    pub check_unique: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_rows: 65_536,
            max_errors: 1000,
            delimiter: b',',
            has_header: true,
            quote: Some(b'"'),
            encoding: Encoding::Utf8,
            max_record_bytes: 1 << 20,
            check_unique: true,
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
    lines: &mut Vec<u64>,
    sink: &mut LinesSink<'_>,
) -> Result<(), IngestError> {
    let arrays: Vec<ArrayRef> = columns.iter_mut().map(Column::finish).collect();
    let result = sink(RecordBatch::try_new(schema.clone(), arrays)?, lines);
    lines.clear();
    result
}

fn check_options(opts: &IngestOptions) -> Result<(), IngestError> {
    if opts.batch_rows == 0 {
        return Err(IngestError::Options(
            "batch_rows must be at least 1".to_owned(),
        ));
    }
    if !opts.delimiter.is_ascii()
        || matches!(opts.delimiter, b'\r' | b'\n')
        || Some(opts.delimiter) == opts.quote
    {
        return Err(IngestError::Options(format!(
            "unusable delimiter byte 0x{:02X}",
            opts.delimiter
        )));
    }
    if let Some(q) = opts.quote
        && (!q.is_ascii() || matches!(q, b'\r' | b'\n'))
    {
        return Err(IngestError::Options(format!(
            "unusable quote byte 0x{q:02X}"
        )));
    }
    if opts.max_record_bytes == 0 {
        return Err(IngestError::Options(
            "max_record_bytes must be at least 1".to_owned(),
        ));
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

/// Where the input stands with respect to quoting (mirrors the CSV reader's
/// own state machine, which does not report a quote left open at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    Unquoted,
    /// Inside a quoted field opened at this offset.
    Quoted {
        start: u64,
    },
    /// A quote at `at` inside a quoted field: closes it, or escapes a quote
    /// if the next byte is one.
    QuoteSeen {
        start: u64,
        at: u64,
    },
}

/// The error a [`LineTracker`] returns once a record outgrows the limit.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// Wraps the input to number lines. `csv::Position::line` is not usable: it
/// is taken before blank lines and the LF of a CRLF terminator are skipped, so
/// it is off by one for every CRLF line and every blank line before a record.
/// The byte offset of the position has the same quirk (it points at the
/// skipped CR/LF bytes); this tracker remembers where the CR and LF bytes of
/// the not yet numbered input are, so it can skip them and count lines.
/// Memory: one entry per CR/LF between the last numbered record and the
/// read-ahead position (the CSV reader's buffer plus one record).
///
/// It also bounds records: once more than `max_record_bytes` have been read
/// since the start of the record being read, it refuses to read further
/// (the CSV reader asks for more only when the record is not finished), and
/// it follows quoting to tell a quote left open at the end of the input.
struct LineTracker<R> {
    inner: R,
    /// Bytes read from `inner` so far.
    offset: u64,
    /// Offsets of CR and LF bytes not yet passed, as `offset << 1 | is_lf`.
    breaks: VecDeque<u64>,
    /// LF bytes passed.
    lines_before: u64,
    /// Where the record being read starts (set by the caller after each one).
    record_start: u64,
    max_record_bytes: u64,
    /// Reading stopped because a record outgrew `max_record_bytes`.
    too_long: bool,
    quote: Option<u8>,
    delimiter: u8,
    quote_state: QuoteState,
    /// The last byte of the previous read, if any.
    prev: Option<u8>,
    /// Skip a UTF-8 byte order mark at the very start.
    strip_bom: bool,
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset - self.record_start > self.max_record_bytes {
            self.too_long = true;
            return Err(std::io::Error::other(RecordTooLong));
        }
        let mut n = self.inner.read(buf)?;
        if self.strip_bom && self.offset == 0 && n > 0 {
            self.strip_bom = false;
            if buf[..n].starts_with(b"\xEF\xBB\xBF") {
                buf.copy_within(3..n, 0);
                n -= 3;
            }
        }
        let chunk = &buf[..n];
        match self.quote {
            None => {
                for i in memchr::memchr2_iter(b'\n', b'\r', chunk) {
                    self.breaks
                        .push_back(((self.offset + i as u64) << 1) | u64::from(chunk[i] == b'\n'));
                }
            }
            Some(q) => {
                for i in memchr::memchr3_iter(b'\n', b'\r', q, chunk) {
                    let b = chunk[i];
                    if b == q {
                        let prev = if i > 0 { Some(chunk[i - 1]) } else { self.prev };
                        self.on_quote(self.offset + i as u64, prev);
                    } else {
                        self.breaks
                            .push_back(((self.offset + i as u64) << 1) | u64::from(b == b'\n'));
                    }
                }
            }
        }
        if let Some(&last) = chunk.last() {
            self.prev = Some(last);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> LineTracker<R> {
    fn new(inner: R, opts: &IngestOptions) -> Self {
        LineTracker {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            lines_before: 0,
            record_start: 0,
            max_record_bytes: opts.max_record_bytes as u64,
            too_long: false,
            quote: opts.quote,
            delimiter: opts.delimiter,
            quote_state: QuoteState::Unquoted,
            prev: None,
            strip_bom: !opts.has_header && opts.encoding == Encoding::Utf8,
        }
    }

    /// A quote byte at offset `at`, preceded by `prev`.
    fn on_quote(&mut self, at: u64, prev: Option<u8>) {
        self.quote_state = match self.quote_state {
            QuoteState::Quoted { start } => QuoteState::QuoteSeen { start, at },
            QuoteState::QuoteSeen { start, at: seen } if at == seen + 1 => {
                QuoteState::Quoted { start }
            }
            QuoteState::QuoteSeen { .. } | QuoteState::Unquoted => {
                // A quote opens a quoted field only at the start of a field;
                // elsewhere it is data.
                let opens = prev.is_none_or(|b| b == self.delimiter || b == b'\n' || b == b'\r');
                if opens {
                    QuoteState::Quoted { start: at }
                } else {
                    QuoteState::Unquoted
                }
            }
        };
    }

    /// The offset of a quote still open at this point of the input.
    fn open_quote(&self) -> Option<u64> {
        match self.quote_state {
            QuoteState::Quoted { start } => Some(start),
            QuoteState::Unquoted | QuoteState::QuoteSeen { .. } => None,
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

/// Decodes ISO-8859-1 to UTF-8 while reading: a byte under 0x80 is itself,
/// any other byte is the two-byte UTF-8 form of its code point.
struct Latin1Reader<R> {
    inner: R,
    /// The second byte of a character that did not fit the last read.
    pending: Option<u8>,
}

impl<R: Read> Read for Latin1Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(b) = self.pending.take() {
            buf[0] = b;
            return Ok(1);
        }
        if buf.len() == 1 {
            let mut one = [0u8; 1];
            if self.inner.read(&mut one)? == 0 {
                return Ok(0);
            }
            if one[0] < 0x80 {
                buf[0] = one[0];
            } else {
                buf[0] = 0xC0 | (one[0] >> 6);
                self.pending = Some(0x80 | (one[0] & 0x3F));
            }
            return Ok(1);
        }
        // Read into the first half, then widen in place from the end.
        let half = buf.len() / 2;
        let n = self.inner.read(&mut buf[..half])?;
        let high = buf[..n].iter().filter(|&&b| b >= 0x80).count();
        if high == 0 {
            return Ok(n);
        }
        let total = n + high;
        let mut j = total;
        for i in (0..n).rev() {
            let b = buf[i];
            if b < 0x80 {
                j -= 1;
                buf[j] = b;
            } else {
                j -= 2;
                buf[j] = 0xC0 | (b >> 6);
                buf[j + 1] = 0x80 | (b & 0x3F);
            }
        }
        Ok(total)
    }
}

/// The input, decoded to UTF-8.
enum Decoded<R> {
    Utf8(R),
    Latin1(Latin1Reader<R>),
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Utf8(r) => r.read(buf),
            Decoded::Latin1(r) => r.read(buf),
        }
    }
}

/// What reading the next record gave.
enum Next {
    Record,
    End,
    /// The record starting at this line outgrew `max_record_bytes`; the
    /// reason says more.
    TooLong(u64, String),
}

fn next_record<R: Read>(
    reader: &mut csv::Reader<LineTracker<R>>,
    record: &mut csv::ByteRecord,
    file_name: &str,
) -> Result<Next, IngestError> {
    match reader.read_byte_record(record) {
        Ok(true) => {
            let end = reader.position().byte();
            let tracker = reader.get_mut();
            if end.saturating_sub(tracker.record_start) > tracker.max_record_bytes {
                // Read within one buffer: refused all the same.
                let start = tracker.record_start;
                let max = tracker.max_record_bytes;
                let line = tracker.record_line(start);
                return Ok(Next::TooLong(
                    line,
                    format!("record longer than {max} bytes (max_record_bytes)"),
                ));
            }
            tracker.record_start = end;
            Ok(Next::Record)
        }
        Ok(false) => Ok(Next::End),
        Err(_) if reader.get_ref().too_long => {
            let tracker = reader.get_mut();
            let start = tracker.record_start;
            let max = tracker.max_record_bytes;
            let open = tracker.open_quote();
            let line = tracker.record_line(start);
            let reason = match open {
                Some(at) => {
                    let quote_line = tracker.record_line(at);
                    format!(
                        "record longer than {max} bytes: the quote opened at line {quote_line} is still open (unclosed quote?)"
                    )
                }
                None => format!("record longer than {max} bytes (max_record_bytes)"),
            };
            Ok(Next::TooLong(line, reason))
        }
        Err(source) => Err(IngestError::Read {
            file: file_name.to_owned(),
            source,
        }),
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
    ingest_csv_with_lines(
        schema,
        file_name,
        input,
        nomenclatures,
        opts,
        &mut |batch, _| sink(batch),
    )
}

/// A sink of record batches with the line each row starts on.
pub type LinesSink<'a> = dyn FnMut(RecordBatch, &[u64]) -> Result<(), IngestError> + 'a;

/// [`ingest_csv`], also handing the sink the 1-based line each row of the
/// batch starts on (so that a later stage can locate a fault in a row).
pub fn ingest_csv_with_lines<R: Read>(
    schema: &TableSchema,
    file_name: &str,
    input: R,
    nomenclatures: &dyn NomenclatureLookup,
    opts: &IngestOptions,
    sink: &mut LinesSink<'_>,
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

    let decoded = match opts.encoding {
        Encoding::Utf8 => Decoded::Utf8(input),
        Encoding::Latin1 => Decoded::Latin1(Latin1Reader {
            inner: input,
            pending: None,
        }),
    };
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .delimiter(opts.delimiter)
        .buffer_capacity(1 << 16);
    match opts.quote {
        Some(q) => builder.quote(q),
        None => builder.quoting(false),
    };
    let mut reader = builder.from_reader(LineTracker::new(decoded, opts));
    let mut record = csv::ByteRecord::new();

    if opts.has_header {
        match next_record(&mut reader, &mut record, file_name)? {
            Next::Record => {}
            Next::End => {
                report.push(
                    max,
                    1,
                    None,
                    None,
                    "empty file: the header row is missing".to_owned(),
                );
                return Ok(report);
            }
            Next::TooLong(line, reason) => {
                report.push(max, line, None, None, reason);
                return Ok(report);
            }
        }
        if let Some(reason) = check_header(&plan, &record) {
            let line = reader
                .get_mut()
                .record_line(record.position().map_or(0, csv::Position::byte));
            report.push(max, line, None, None, reason);
            return Ok(report);
        }
    }

    let n = plan.fields.len();
    let mut columns: Vec<Column> = plan
        .fields
        .iter()
        .map(|f| Column::new(f.storage, opts.batch_rows))
        .collect();
    let mut pending = 0usize;
    let mut lines: Vec<u64> = Vec::with_capacity(opts.batch_rows.min(1 << 20));
    let mut slots = vec![Slot::Null; n];
    let hasher = KeyHasher::new();
    let mut pk_seen = SeenKeys::default();
    let mut unique_seen: Vec<Option<SeenKeys>> = plan
        .fields
        .iter()
        .map(|f| (f.unique && opts.check_unique).then(SeenKeys::default))
        .collect();
    let check_primary_key = opts.check_unique && !plan.primary_key.is_empty();
    let mut unknown_nomenclatures: HashSet<String> = HashSet::new();
    // The cells' texts of a row; the allocation is kept from row to row.
    let mut spare_texts: Vec<&str> = Vec::with_capacity(n);

    loop {
        match next_record(&mut reader, &mut record, file_name)? {
            Next::Record => {}
            Next::End => break,
            Next::TooLong(line, reason) => {
                report.push(max, line, None, None, reason);
                return Ok(report);
            }
        }
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

        let mut texts: Vec<&str> = recycle(std::mem::take(&mut spare_texts));
        // The record's UTF-8 is checked once; cell by cell only to locate
        // an error.
        let whole = std::str::from_utf8(record.as_slice()).ok();
        for (i, (field, bytes)) in plan.fields.iter_mut().zip(record.iter()).enumerate() {
            let cell = match (whole, record.range(i)) {
                (Some(w), Some(r)) => w.get(r).ok_or(()),
                _ => Err(()),
            };
            let text = match cell.or_else(|()| std::str::from_utf8(bytes)) {
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
        if check_primary_key {
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
        spare_texts = recycle(texts);
        lines.push(line);
        pending += 1;
        if pending == opts.batch_rows {
            flush(&mut columns, &arrow, &mut lines, sink)?;
            pending = 0;
        }
    }
    // The CSV reader takes a quote still open at the end of the input as
    // closing there: refuse it.
    if let Some(at) = reader.get_ref().open_quote() {
        let line = reader.get_mut().record_line(at);
        report.push(
            max,
            line,
            None,
            None,
            "unclosed quote: the quoted field opened here runs to the end of the file".to_owned(),
        );
    }
    if pending > 0 && report.error_count == 0 {
        flush(&mut columns, &arrow, &mut lines, sink)?;
    }
    Ok(report)
}

/// An empty vector of another lifetime reusing `v`'s allocation (in-place
/// collection of an empty iterator keeps the buffer).
fn recycle<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
    v.clear();
    v.into_iter().map(|_| "").collect()
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

#[cfg(test)]
mod dialect_tests;
