//! One batch of the input table (typed by `hdh-ingest` against the input
//! schema) → one batch of the published table: identifiers normalised and
//! replaced by level-1 pseudonyms, provisional flags, direct identifiers
//! dropped, quasi-identifiers coarsened, the rest passed through.
//!
//! This is the hot path: no allocation per row beyond what the normalisation
//! functions of `hdh-pseudo` return; pseudonyms are hex-encoded into a stack
//! buffer and appended to a preallocated builder.

// Rows index several columns and the line numbers at once.
#![allow(clippy::needless_range_loop)]

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, RecordBatch, StringArray, StringBuilder,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::datatypes::{DataType, Date32Type, Int64Type, SchemaRef, TimeUnit};
use hdh_ingest::RowError;
use hdh_model::schema::{ColumnSource, Generalise, Normalise, TableSchema};
use hdh_pseudo::level1::{Level1Key, MESSAGE_PREFIX};
use hdh_pseudo::normalise;
use hmac::{KeyInit, Mac};
use zeroize::{Zeroize, Zeroizing};

use crate::prepare::PrepareError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Most parts in one pseudonym (the trusted third party's limit).
pub(crate) const MAX_PARTS: usize = hdh_ttp::MAX_PARTS;

/// Level-1 pseudonyms, computed here or by the trusted third party.
pub(crate) enum Engine<'a> {
    /// Offline. `fast` is a keyed HMAC state cloned for each pseudonym
    /// (two SHA-256 blocks per value instead of four, no allocation); it is
    /// only used when it gives exactly the key's own results (checked when
    /// it is built).
    Key {
        key: &'a Level1Key,
        fast: Option<HmacSha256>,
    },
    Ttp(&'a hdh_ttp::TtpClient),
}

impl<'a> Engine<'a> {
    pub(crate) fn offline(key: &'a Level1Key) -> Engine<'a> {
        Engine::Key {
            key,
            fast: fast_mac(key),
        }
    }
}

/// The level-1 HMAC keyed once, if it reproduces `Level1Key::pseudonymise`.
fn fast_mac(key: &Level1Key) -> Option<HmacSha256> {
    let file = Zeroizing::new(key.to_key_file());
    let hex_key = file.lines().find_map(|l| l.strip_prefix("key:"))?.trim();
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_key, bytes.as_mut_slice()).ok()?;
    let mac = HmacSha256::new_from_slice(bytes.as_slice()).ok()?;
    let samples: [&[&str]; 4] = [
        &["1850578006048", "1985-05-12", "1"],
        &["JEAN PIERRE D ARC"],
        &["2A", "B"],
        &["2", "AB", "", "Ü"],
    ];
    samples
        .iter()
        .all(|parts| fast_pseudonym(&mac, parts) == key.pseudonymise(parts).0)
        .then_some(mac)
}

/// `HMAC-SHA-256(key, "hdh-l1-v1" ‖ for each part: len (u32 BE) ‖ bytes)[..16]`,
/// the message of `hdh_pseudo::level1::message`.
fn fast_pseudonym(mac: &HmacSha256, parts: &[&str]) -> [u8; 16] {
    let mut m = mac.clone();
    // The message in one piece when it is short (always, in practice): one
    // update instead of two per part.
    let mut buf = [0u8; 192];
    let total = MESSAGE_PREFIX.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    if total <= buf.len() {
        let mut at = MESSAGE_PREFIX.len();
        buf[..at].copy_from_slice(MESSAGE_PREFIX);
        for p in parts {
            let n = u32::try_from(p.len()).unwrap_or(u32::MAX);
            buf[at..at + 4].copy_from_slice(&n.to_be_bytes());
            buf[at + 4..at + 4 + p.len()].copy_from_slice(p.as_bytes());
            at += 4 + p.len();
        }
        m.update(&buf[..total]);
        buf[..total].zeroize();
    } else {
        m.update(MESSAGE_PREFIX);
        for p in parts {
            let n = u32::try_from(p.len()).unwrap_or(u32::MAX);
            m.update(&n.to_be_bytes());
            m.update(p.as_bytes());
        }
    }
    let out = m.finalize().into_bytes();
    let mut p = [0u8; 16];
    p.copy_from_slice(&out[..16]);
    p
}

/// How one part of a pseudonym is read and normalised.
struct PartPlan {
    field: usize,
    name: String,
    normalise: Normalise,
    format: Option<String>,
}

struct PseudonymPlan {
    field: usize,
    parts: Vec<PartPlan>,
    /// Index of the provisional flag in the output.
    flag: Option<usize>,
}

enum OutPlan {
    Keep(usize),
    /// Index into `Transformer::pseudonyms`.
    Pseudonym(usize),
    /// Filled along with its pseudonym.
    Flag,
    Generalise {
        field: usize,
        generalise: Generalise,
    },
}

/// Counts kept across batches.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Provisional NIRs, per identifier field (in schema order).
    pub(crate) provisional: Vec<(String, u64)>,
}

pub(crate) struct Transformer {
    file: String,
    input: TableSchema,
    output: SchemaRef,
    columns: Vec<OutPlan>,
    pseudonyms: Vec<PseudonymPlan>,
    pub(crate) counts: Counts,
    /// The first row errors (file order within a batch).
    pub(crate) errors: Vec<RowError>,
    pub(crate) error_count: u64,
    max_errors: usize,
}

/// Civil date of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `YYYY-MM-DD` of a day number (its first 7 bytes are `YYYY-MM`); `Err`
/// outside years 1–9999.
fn iso_bytes(days: i64) -> Result<[u8; 10], String> {
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err("the date's year must be between 1 and 9999".to_owned());
    }
    let y = y as u32;
    let digit = |v: u32| b'0' + (v % 10) as u8;
    Ok([
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(d / 10),
        digit(d),
    ])
}

/// Writes `YYYY-MM-DD` (or `YYYY-MM` when `day` is false) of a day number.
fn write_iso(out: &mut String, days: i64, day: bool) -> Result<(), String> {
    let buf = iso_bytes(days)?;
    // ASCII digits and hyphens.
    if let Ok(text) = std::str::from_utf8(&buf[..if day { 10 } else { 7 }]) {
        out.push_str(text);
    }
    Ok(())
}

/// Writes an integer in decimal.
fn push_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    if let Ok(text) = std::str::from_utf8(&buf[i..]) {
        out.push_str(text);
    }
}

// Fast paths: when a value is already written in its normal form, the
// normalisation of `hdh_pseudo::normalise` is the identity; these recognise
// such values without allocating (anything else goes to `normalise`, which
// also gives the error). A test checks that they agree with `normalise`.

/// A NIR already clean (15 characters: digits, `2A`/`2B` at positions 6–7)
/// that passes every check of `normalise::nir`: its 13 normalised characters
/// and whether it is provisional.
pub(crate) fn clean_nir(raw: &str) -> Option<(&str, bool)> {
    let b = raw.as_bytes();
    if b.len() != 15 {
        return None;
    }
    let corsica = b[5] == b'2' && matches!(b[6], b'A' | b'B');
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (corsica && i == 6))
    {
        return None;
    }
    let provisional = match b[0] {
        b'1'..=b'4' => false,
        b'7' | b'8' => true,
        _ => return None,
    };
    let month = (b[3] - b'0') * 10 + (b[4] - b'0');
    if !matches!(month, 1..=12 | 20..=42 | 50..=99) {
        return None;
    }
    let mut n: u64 = 0;
    for (i, &c) in b[..13].iter().enumerate() {
        let d = match (i, c) {
            (5, b'2') if corsica => 1,
            (6, b'A') => 9,
            (6, b'B') => 8,
            _ => u64::from(c - b'0'),
        };
        n = n * 10 + d;
    }
    let key = u64::from(b[13] - b'0') * 10 + u64::from(b[14] - b'0');
    (key == 97 - n % 97).then(|| (&raw[..13], provisional))
}

/// A commune code already normalised (5 characters: digits, or `2A`/`2B`
/// then 3 digits).
pub(crate) fn clean_commune(raw: &str) -> Option<&str> {
    let b = raw.as_bytes();
    if b.len() != 5 {
        return None;
    }
    let corsica = b[0] == b'2' && matches!(b[1], b'A' | b'B');
    b.iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (corsica && i == 1))
        .then_some(raw)
}

/// The département of a normalised commune code (`normalise::department`).
pub(crate) fn department_of(commune: &str) -> &str {
    let n = if commune.starts_with("97") || commune.starts_with("98") {
        3
    } else {
        2
    };
    commune.get(..n).unwrap_or(commune)
}

/// A code already normalised: not empty, ASCII without lower case letters,
/// no surrounding white space.
pub(crate) fn clean_code(raw: &str) -> bool {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let b = raw.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            !ws(first) && !ws(last) && b.iter().all(|c| c.is_ascii() && !c.is_ascii_lowercase())
        }
        _ => false,
    }
}

/// A cell's canonical text (a string cell itself, other types written into
/// `out`); `None` when null.
fn cell_text<'a>(
    array: &'a dyn Array,
    row: usize,
    out: &'a mut String,
) -> Result<Option<&'a str>, String> {
    if array.is_null(row) {
        return Ok(None);
    }
    out.clear();
    match array.data_type() {
        DataType::Utf8 => return Ok(Some(array.as_string::<i32>().value(row))),
        DataType::Int64 => push_int(out, array.as_primitive::<Int64Type>().value(row)),
        DataType::Date32 => write_iso(
            out,
            i64::from(array.as_primitive::<Date32Type>().value(row)),
            true,
        )?,
        DataType::Timestamp(TimeUnit::Microsecond, _) => write_iso(
            out,
            array
                .as_primitive::<TimestampMicrosecondType>()
                .value(row)
                .div_euclid(MICROS_PER_DAY),
            true,
        )?,
        other => return Err(format!("a {other} value cannot be part of a pseudonym")),
    }
    Ok(Some(out.as_str()))
}

impl Transformer {
    /// Plans the transformation of `input` (checked: at most [`MAX_PARTS`]
    /// parts per pseudonym; every generalised date is stored as a date).
    pub(crate) fn new(
        input: &TableSchema,
        file: &str,
        max_errors: usize,
    ) -> Result<Self, PrepareError> {
        let published = input.published();
        let output: SchemaRef = Arc::new(hdh_ingest::arrow_schema(&published));
        let input_arrow = hdh_ingest::arrow_schema(input);
        let schema_err =
            |message: String| PrepareError::Usage(format!("table {}: {message}", input.name));
        let mut columns = Vec::new();
        let mut pseudonyms = Vec::new();
        let mut provisional = Vec::new();
        for (out_index, col) in input.pseudonymisation_plan().into_iter().enumerate() {
            match col.source {
                ColumnSource::Keep(i) => columns.push(OutPlan::Keep(i)),
                ColumnSource::ProvisionalFlag { .. } => columns.push(OutPlan::Flag),
                ColumnSource::Pseudonym { field, parts } => {
                    if parts.len() > MAX_PARTS {
                        return Err(schema_err(format!(
                            "the pseudonym of {} has {} parts, at most {MAX_PARTS}",
                            input.fields[field].name,
                            parts.len()
                        )));
                    }
                    let mut planned = Vec::new();
                    for p in parts {
                        let ty = input_arrow.field(p.field).data_type();
                        let readable = matches!(
                            ty,
                            DataType::Utf8
                                | DataType::Int64
                                | DataType::Date32
                                | DataType::Timestamp(TimeUnit::Microsecond, _)
                        );
                        if !readable {
                            return Err(schema_err(format!(
                                "field {} ({ty}) cannot be part of a pseudonym",
                                input.fields[p.field].name
                            )));
                        }
                        planned.push(PartPlan {
                            field: p.field,
                            name: input.fields[p.field].name.clone(),
                            normalise: p.normalise,
                            format: p.format,
                        });
                    }
                    let flag = match input.fields[field].pseudonymisation {
                        Some(hdh_model::schema::Pseudonymisation::Identifier {
                            provisional_flag: Some(_),
                            ..
                        }) => Some(out_index + 1),
                        _ => None,
                    };
                    if planned[0].normalise == Normalise::Nir {
                        provisional.push((input.fields[field].name.clone(), 0));
                    }
                    columns.push(OutPlan::Pseudonym(pseudonyms.len()));
                    pseudonyms.push(PseudonymPlan {
                        field,
                        parts: planned,
                        flag,
                    });
                }
                ColumnSource::Generalise { field, generalise } => {
                    let ty = input_arrow.field(field).data_type();
                    let ok = match generalise {
                        Generalise::YearMonth => matches!(
                            ty,
                            DataType::Date32 | DataType::Timestamp(TimeUnit::Microsecond, _)
                        ),
                        Generalise::Year => matches!(
                            (ty, input.fields[field].field_type),
                            (DataType::Date32, _)
                                | (DataType::Timestamp(TimeUnit::Microsecond, _), _)
                                | (DataType::Utf8, hdh_model::schema::FieldType::YearMonth)
                        ),
                        Generalise::Commune | Generalise::Department => ty == &DataType::Utf8,
                    };
                    if !ok {
                        return Err(schema_err(format!(
                            "field {} cannot be generalised to {generalise}: its format does not give a full date",
                            input.fields[field].name
                        )));
                    }
                    columns.push(OutPlan::Generalise { field, generalise });
                }
            }
        }
        Ok(Transformer {
            file: file.to_owned(),
            input: input.clone(),
            output,
            columns,
            pseudonyms,
            counts: Counts { provisional },
            errors: Vec::new(),
            error_count: 0,
            max_errors,
        })
    }

    pub(crate) fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    fn error(&mut self, line: u64, field: usize, reason: String) {
        self.error_count += 1;
        if self.errors.len() < self.max_errors {
            self.errors.push(RowError {
                file: self.file.clone(),
                line,
                column: Some(field as u64 + 1),
                field: Some(self.input.fields[field].name.clone()),
                reason,
            });
        }
    }

    /// Transforms one batch; `None` once the table has an error (rows are
    /// still checked, to report every error at once).
    pub(crate) fn transform(
        &mut self,
        batch: &RecordBatch,
        lines: &[u64],
        engine: &Engine<'_>,
    ) -> Result<Option<RecordBatch>, PrepareError> {
        let rows = batch.num_rows();
        // Pseudonyms and flags first (they may need the TTP).
        let mut computed: Vec<(ArrayRef, Option<ArrayRef>)> =
            Vec::with_capacity(self.pseudonyms.len());
        for k in 0..self.pseudonyms.len() {
            computed.push(self.pseudonymise(k, batch, lines, engine)?);
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        let mut flags: Vec<ArrayRef> = Vec::new();
        for c in 0..self.columns.len() {
            let array = match &self.columns[c] {
                OutPlan::Keep(i) => batch.column(*i).clone(),
                OutPlan::Pseudonym(k) => {
                    let (p, f) = &computed[*k];
                    if let Some(f) = f {
                        flags.push(f.clone());
                    }
                    p.clone()
                }
                OutPlan::Flag => {
                    // Pushed just before, by its pseudonym.
                    match flags.pop() {
                        Some(f) => f,
                        None => {
                            return Err(PrepareError::Usage(
                                "internal error: a provisional flag without its identifier".into(),
                            ));
                        }
                    }
                }
                OutPlan::Generalise { field, generalise } => {
                    let (field, generalise) = (*field, *generalise);
                    self.generalise(batch, lines, field, generalise)?
                }
            };
            arrays.push(array);
        }
        if self.error_count > 0 {
            return Ok(None);
        }
        debug_assert!(rows == 0 || arrays.iter().all(|a| a.len() == rows));
        let out = RecordBatch::try_new(self.output.clone(), arrays)
            .map_err(|e| PrepareError::Usage(format!("internal error building a batch: {e}")))?;
        Ok(Some(out))
    }

    /// The pseudonym column (and flag column) of identifier `k`.
    fn pseudonymise(
        &mut self,
        k: usize,
        batch: &RecordBatch,
        lines: &[u64],
        engine: &Engine<'_>,
    ) -> Result<(ArrayRef, Option<ArrayRef>), PrepareError> {
        let rows = batch.num_rows();
        let plan = &self.pseudonyms[k];
        let field = plan.field;
        let n_parts = plan.parts.len();
        let with_flag = plan.flag.is_some();
        let mut out = AsciiColumn::with_capacity(rows, rows * 32);
        let mut flag = BooleanBuilder::with_capacity(if with_flag { rows } else { 0 });
        let mut provisional = 0u64;
        let arrays: Vec<&dyn Array> = plan
            .parts
            .iter()
            .map(|p| batch.column(p.field).as_ref())
            .collect();
        // Normalised parts of the current row, reused row after row.
        let mut parts: Vec<String> = (0..n_parts).map(|_| String::with_capacity(32)).collect();
        let mut scratch = String::with_capacity(32);
        // Online: the rows' parts, sent in one call per batch.
        let mut items: Vec<Vec<String>> = Vec::new();
        let mut item_rows: Vec<usize> = Vec::new();
        let mut online: Vec<Option<[u8; 16]>> = Vec::new();
        let mut errors: Vec<(u64, usize, String)> = Vec::new();
        for row in 0..rows {
            let mut ok = true;
            let mut is_provisional = false;
            let mut present = true;
            for (j, part) in plan.parts.iter().enumerate() {
                let raw = match cell_text(arrays[j], row, &mut scratch) {
                    Ok(Some(raw)) => raw,
                    Ok(None) => {
                        if j == 0 {
                            present = false;
                        } else {
                            errors.push((
                                lines[row],
                                part.field,
                                format!(
                                    "value missing: it is part of the pseudonym of {}",
                                    plan.parts[0].name
                                ),
                            ));
                            ok = false;
                        }
                        break;
                    }
                    Err(reason) => {
                        errors.push((lines[row], part.field, reason));
                        ok = false;
                        break;
                    }
                };
                let target = &mut parts[j];
                target.clear();
                // Typed values (dates, integers) are already in canonical form.
                let typed = arrays[j].data_type() != &DataType::Utf8;
                let result = match part.normalise {
                    Normalise::Nir => match clean_nir(raw) {
                        Some((n, p)) => {
                            is_provisional = p;
                            target.push_str(n);
                            Ok(())
                        }
                        None => normalise::nir(raw).map(|n| {
                            is_provisional = n.provisional;
                            target.push_str(&n.normalised);
                        }),
                    },
                    Normalise::Name => normalise::name(raw).map(|s| target.push_str(&s)),
                    Normalise::Date if typed => {
                        target.push_str(raw);
                        Ok(())
                    }
                    Normalise::Date => {
                        normalise::date(raw, part.format.as_deref()).map(|s| target.push_str(&s))
                    }
                    Normalise::Sex if raw == "1" || raw == "2" => {
                        target.push_str(raw);
                        Ok(())
                    }
                    Normalise::Sex => normalise::sex(raw).map(|s| target.push_str(&s)),
                    Normalise::Code if typed || clean_code(raw) => {
                        target.push_str(raw);
                        Ok(())
                    }
                    Normalise::Code => normalise::code(raw).map(|s| target.push_str(&s)),
                };
                if let Err(e) = result {
                    let reason = if j == 0 {
                        e.to_string()
                    } else {
                        format!("{e} (part of the pseudonym of {})", plan.parts[0].name)
                    };
                    errors.push((lines[row], part.field, reason));
                    ok = false;
                    break;
                }
            }
            if !present || !ok {
                match engine {
                    Engine::Ttp(_) => online.push(None),
                    Engine::Key { .. } => out.append_null(),
                }
                if with_flag {
                    flag.append_null();
                }
                continue;
            }
            if is_provisional {
                provisional += 1;
            }
            if with_flag {
                flag.append_value(is_provisional);
            }
            match engine {
                Engine::Key { key, fast } => {
                    let mut refs = [""; MAX_PARTS];
                    for (r, p) in refs.iter_mut().zip(&parts) {
                        *r = p.as_str();
                    }
                    let p = match fast {
                        Some(mac) => fast_pseudonym(mac, &refs[..n_parts]),
                        None => key.pseudonymise(&refs[..n_parts]).0,
                    };
                    out.append_hex(&p);
                }
                Engine::Ttp(_) => {
                    item_rows.push(row);
                    items.push(parts.clone());
                    online.push(Some([0u8; 16]));
                }
            }
        }
        if let Engine::Ttp(client) = engine
            && !items.is_empty()
            && errors.is_empty()
            && self.error_count == 0
        {
            let got = client
                .pseudonymise(&items)
                .map_err(|e| PrepareError::Level1(e.to_string()))?;
            for (row, p) in item_rows.iter().zip(got) {
                online[*row] = Some(p.0);
            }
            for v in &online {
                match v {
                    Some(p) => out.append_hex(p),
                    None => out.append_null(),
                }
            }
        } else if let Engine::Ttp(_) = engine {
            for _ in 0..rows {
                out.append_null();
            }
        }
        for (line, f, reason) in errors {
            self.error(line, f, reason);
        }
        if let Some((_, n)) = self
            .counts
            .provisional
            .iter_mut()
            .find(|(name, _)| *name == self.input.fields[field].name)
        {
            *n += provisional;
        }
        let flag = with_flag.then(|| Arc::new(flag.finish()) as ArrayRef);
        Ok((Arc::new(out.finish()?), flag))
    }

    fn generalise(
        &mut self,
        batch: &RecordBatch,
        lines: &[u64],
        field: usize,
        generalise: Generalise,
    ) -> Result<ArrayRef, PrepareError> {
        let array = batch.column(field).as_ref();
        let rows = batch.num_rows();
        let day_of = |row: usize| -> i64 {
            match array.data_type() {
                DataType::Date32 => i64::from(array.as_primitive::<Date32Type>().value(row)),
                _ => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(row)
                    .div_euclid(MICROS_PER_DAY),
            }
        };
        let mut errors: Vec<(u64, String)> = Vec::new();
        let out: ArrayRef = match generalise {
            Generalise::YearMonth => {
                let mut b = AsciiColumn::with_capacity(rows, rows * 7);
                for row in 0..rows {
                    if array.is_null(row) {
                        b.append_null();
                        continue;
                    }
                    match iso_bytes(day_of(row)) {
                        Ok(iso) => b.append(&iso[..7]),
                        Err(e) => {
                            errors.push((lines[row], e));
                            b.append_null();
                        }
                    }
                }
                Arc::new(b.finish()?)
            }
            Generalise::Year => {
                let mut b = Int64Builder::with_capacity(rows);
                for row in 0..rows {
                    if array.is_null(row) {
                        b.append_null();
                        continue;
                    }
                    let year = if array.data_type() == &DataType::Utf8 {
                        hdh_model::schema::lexical::parse_year_month(
                            array.as_string::<i32>().value(row),
                        )
                        .map(|(y, _)| i64::from(y))
                    } else {
                        Some(civil_from_days(day_of(row)).0)
                    };
                    match year {
                        Some(y) => b.append_value(y),
                        None => {
                            errors.push((lines[row], "not a year-month".to_owned()));
                            b.append_null();
                        }
                    }
                }
                Arc::new(b.finish())
            }
            Generalise::Commune | Generalise::Department => {
                let strings = array.as_string::<i32>();
                let mut b = StringBuilder::with_capacity(rows, rows * 5);
                for row in 0..rows {
                    if strings.is_null(row) {
                        b.append_null();
                        continue;
                    }
                    let raw = strings.value(row);
                    if let Some(c) = clean_commune(raw) {
                        b.append_value(if generalise == Generalise::Commune {
                            c
                        } else {
                            department_of(c)
                        });
                        continue;
                    }
                    match normalise::commune(raw) {
                        Ok(c) if generalise == Generalise::Commune => b.append_value(&c),
                        Ok(c) => b.append_value(normalise::department(&c)),
                        Err(e) => {
                            errors.push((lines[row], e.to_string()));
                            b.append_null();
                        }
                    }
                }
                Arc::new(b.finish())
            }
        };
        for (line, reason) in errors {
            self.error(line, field, reason);
        }
        Ok(out)
    }
}

/// A Utf8 column of ASCII values (hex pseudonyms, year-months) built from
/// bytes: its values are checked as UTF-8 once per batch (by
/// `StringArray::try_new`), not once per row.
struct AsciiColumn {
    values: Vec<u8>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    too_long: bool,
}

impl AsciiColumn {
    fn with_capacity(rows: usize, bytes: usize) -> AsciiColumn {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        AsciiColumn {
            values: Vec::with_capacity(bytes),
            offsets,
            nulls: NullBufferBuilder::new(rows),
            too_long: false,
        }
    }

    fn end_value(&mut self) {
        match i32::try_from(self.values.len()) {
            Ok(end) => self.offsets.push(end),
            Err(_) => {
                self.too_long = true;
                self.offsets.push(i32::MAX);
            }
        }
    }

    fn append(&mut self, value: &[u8]) {
        self.values.extend_from_slice(value);
        self.end_value();
        self.nulls.append_non_null();
    }

    fn append_null(&mut self) {
        self.end_value();
        self.nulls.append_null();
    }

    fn append_hex(&mut self, p: &[u8; 16]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 32];
        for (i, b) in p.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 0x0F)];
        }
        self.append(&buf);
    }

    fn finish(mut self) -> Result<StringArray, PrepareError> {
        if self.too_long {
            return Err(PrepareError::Usage(
                "a batch's column exceeds 2 GiB: use smaller batches".into(),
            ));
        }
        let nulls = self.nulls.finish();
        StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Buffer::from_vec(self.values),
            nulls,
        )
        .map_err(|e| PrepareError::Usage(format!("internal error building a column: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        for (days, expected) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (18_321, (2020, 2, 29)),
            (-719_162, (1, 1, 1)),
            (2_932_896, (9999, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), expected, "{days}");
        }
        let mut s = String::new();
        write_iso(&mut s, 18_321, true).unwrap();
        assert_eq!(s, "2020-02-29");
        s.clear();
        write_iso(&mut s, 18_321, false).unwrap();
        assert_eq!(s, "2020-02");
        assert!(write_iso(&mut s, -719_163, true).is_err());
    }

    /// The fast paths recognise only values that `normalise` leaves as they
    /// are, and give what it gives.
    #[test]
    fn fast_paths_agree_with_normalise() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"0123456789AB a.-2";
        let (mut fast_hits, mut checked) = (0, 0);
        for i in 0..200_000u64 {
            // Mostly well-formed NIRs with a computed key, some mangled.
            let mut body: Vec<u8> = (0..13).map(|_| b'0' + (next() % 10) as u8).collect();
            body[0] = b"12347856"[(next() % 8) as usize];
            if i % 5 == 0 {
                body[5] = b'2';
                body[6] = b"AB"[(next() % 2) as usize];
            }
            let numeric: String = String::from_utf8(body.clone())
                .unwrap()
                .replacen("2A", "19", 1)
                .replacen("2B", "18", 1);
            let key = numeric
                .parse::<u64>()
                .map(|n| 97 - n % 97)
                .unwrap_or(next() % 97);
            let mut nir = format!("{}{key:02}", String::from_utf8(body).unwrap()).into_bytes();
            if i % 3 == 0 {
                let at = (next() % 15) as usize;
                nir[at] = alphabet[(next() % alphabet.len() as u64) as usize];
            }
            let nir = String::from_utf8(nir).unwrap();
            if let Some((n, p)) = clean_nir(&nir) {
                fast_hits += 1;
                let slow = normalise::nir(&nir).expect("the fast path accepted what nir() refuses");
                assert_eq!((n, p), (slow.normalised.as_str(), slow.provisional));
            }
            checked += 1;
        }
        assert!(fast_hits > checked / 3, "{fast_hits} of {checked}");
        for c in [
            "75056", "2A004", "2B033", "97411", "98735", "2a004", " 7505", "7505", "750561",
            "2C004", "A1234",
        ] {
            if let Some(fast) = clean_commune(c) {
                let slow = normalise::commune(c).unwrap();
                assert_eq!(fast, slow);
                assert_eq!(department_of(fast), normalise::department(&slow));
            }
        }
        assert!(clean_commune("2A004").is_some() && clean_commune("2a004").is_none());
        for c in [
            "A00", "1", "E11.9", "a00", " A00", "A00\t", "", "É1", "A\u{b}",
        ] {
            if clean_code(c) {
                assert_eq!(normalise::code(c).unwrap(), c, "{c:?}");
            }
        }
        assert!(clean_code("E11.9") && !clean_code("a00") && !clean_code(""));
        for v in [0i64, 7, -3, 1234567890123, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_int(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn fast_mac_matches_the_key() {
        let key = Level1Key::from_bytes("l1-test", &(0u8..32).collect::<Vec<_>>()).unwrap();
        let Engine::Key {
            fast: Some(mac), ..
        } = Engine::offline(&key)
        else {
            panic!("the fast path should be available");
        };
        for parts in [&["a"][..], &["1234567890123", "1980-01-02", "2"], &["", ""]] {
            assert_eq!(fast_pseudonym(&mac, parts), key.pseudonymise(parts).0);
        }
        let mut b = AsciiColumn::with_capacity(3, 64);
        b.append_hex(&key.pseudonymise(&["x"]).0);
        b.append_null();
        b.append(b"2024-01");
        let a = b.finish().unwrap();
        assert_eq!(a.value(0), key.pseudonymise(&["x"]).to_hex());
        assert!(a.is_null(1));
        assert_eq!(a.value(2), "2024-01");
    }
}
