//! The per-field ingestion plan compiled from a [`TableSchema`]: how to parse
//! a cell, which constraints to check, and how the value is stored in Arrow.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use arrow::datatypes::{DataType, Field as ArrowField, Schema, TimeUnit};
use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use hdh_model::schema::{Field, FieldType, TableSchema, lexical};
use regex::Regex;

use crate::IngestError;

/// Arrow storage of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    Utf8,
    Int64,
    Float64,
    Boolean,
    Date32,
    TimestampMicros,
}

impl Storage {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            Storage::Utf8 => DataType::Utf8,
            Storage::Int64 => DataType::Int64,
            Storage::Float64 => DataType::Float64,
            Storage::Boolean => DataType::Boolean,
            Storage::Date32 => DataType::Date32,
            Storage::TimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }
}

/// How a date or datetime field is written.
pub(crate) enum TimeFormat {
    /// ISO 8601 / RFC 3339 (`format` absent, `default` or `any`).
    Iso,
    /// A strftime pattern that determines a full date (or date and time).
    Pattern(String, Vec<Item<'static>>),
    /// A strftime pattern that does not determine a full date (SNDS uses
    /// `%m` for month numbers typed `date`): values are checked against the
    /// pattern and stored as text.
    Partial(String, Vec<Item<'static>>),
    /// Not a valid strftime pattern.
    Invalid(String),
}

fn time_format(field: &Field) -> TimeFormat {
    let Some(fmt) = field.format.as_deref().filter(|f| *f != "any") else {
        return TimeFormat::Iso;
    };
    let items = match StrftimeItems::new(fmt).parse_to_owned() {
        Ok(items) => items,
        Err(e) => return TimeFormat::Invalid(format!("{fmt:?} is not a valid date format: {e}")),
    };
    // Round-trip a sample instant through the pattern: if it comes back
    // whole, the pattern determines a full value.
    let Some(sample) = NaiveDate::from_ymd_opt(2001, 2, 3).and_then(|d| d.and_hms_opt(4, 5, 6))
    else {
        return TimeFormat::Invalid("internal error building a sample date".to_owned());
    };
    let mut text = String::new();
    if write!(
        text,
        "{}",
        Utc.from_utc_datetime(&sample)
            .format_with_items(items.iter())
    )
    .is_err()
    {
        return TimeFormat::Invalid(format!("{fmt:?} is not a usable date format"));
    }
    let complete = match field.field_type {
        FieldType::DateTime => parse_with(&items, &text).and_then(datetime_of) == Some(sample),
        _ => parse_with(&items, &text).and_then(|p| p.to_naive_date().ok()) == Some(sample.date()),
    };
    if complete {
        TimeFormat::Pattern(fmt.to_owned(), items)
    } else {
        TimeFormat::Partial(fmt.to_owned(), items)
    }
}

fn parse_with(items: &[Item<'static>], s: &str) -> Option<Parsed> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, items.iter()).ok()?;
    Some(parsed)
}

/// A UTC date-time from parsed fields (zone-less values are taken as UTC).
fn datetime_of(parsed: Parsed) -> Option<NaiveDateTime> {
    if parsed.offset().is_some() {
        parsed.to_datetime().ok().map(|dt| dt.naive_utc())
    } else {
        parsed.to_naive_datetime_with_offset(0).ok()
    }
}

/// The Arrow storage of a field; must agree with [`FieldPlan::parse`].
pub(crate) fn storage(field: &Field) -> Storage {
    match field.field_type {
        FieldType::String | FieldType::Any | FieldType::YearMonth => Storage::Utf8,
        FieldType::Integer | FieldType::Year => Storage::Int64,
        FieldType::Number => Storage::Float64,
        FieldType::Boolean => Storage::Boolean,
        FieldType::Date => match time_format(field) {
            TimeFormat::Iso | TimeFormat::Pattern(..) => Storage::Date32,
            TimeFormat::Partial(..) | TimeFormat::Invalid(_) => Storage::Utf8,
        },
        FieldType::DateTime => match time_format(field) {
            TimeFormat::Iso | TimeFormat::Pattern(..) => Storage::TimestampMicros,
            TimeFormat::Partial(..) | TimeFormat::Invalid(_) => Storage::Utf8,
        },
    }
}

/// The Arrow schema of the record batches produced for `schema`.
///
/// string/any/yearmonth → Utf8, integer/year → Int64, number → Float64,
/// boolean → Boolean, date → Date32, datetime → Timestamp(µs, no zone, UTC
/// values). A date or datetime field whose `format` does not determine a full
/// value (SNDS `%m`) is Utf8. Fields are nullable unless required or part of
/// the primary key. Field metadata: `hdh:type` (the schema type) and, when
/// set, `description`, `title`, `unit`, `format`, `nomenclature`,
/// `hdh:identifier`. Schema metadata: `hdh:table`, and `title`/`description`
/// when set.
pub fn arrow_schema(schema: &TableSchema) -> Schema {
    let fields: Vec<ArrowField> = schema
        .fields
        .iter()
        .map(|f| {
            let mut meta = HashMap::new();
            meta.insert("hdh:type".to_owned(), f.field_type.as_str().to_owned());
            let optional = [
                ("description", &f.description),
                ("title", &f.title),
                ("unit", &f.unit),
                ("format", &f.format),
                ("nomenclature", &f.nomenclature),
            ];
            for (key, value) in optional {
                if let Some(v) = value {
                    meta.insert(key.to_owned(), v.clone());
                }
            }
            if let Some(kind) = f.identifier {
                meta.insert("hdh:identifier".to_owned(), kind.as_str().to_owned());
            }
            ArrowField::new(
                f.name.clone(),
                storage(f).data_type(),
                !schema.is_required(&f.name),
            )
            .with_metadata(meta)
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert("hdh:table".to_owned(), schema.name.clone());
    if let Some(t) = &schema.title {
        meta.insert("title".to_owned(), t.clone());
    }
    if let Some(d) = &schema.description {
        meta.insert("description".to_owned(), d.clone());
    }
    Schema::new_with_metadata(fields, meta)
}

/// How cell text becomes a value.
enum Kind {
    Text,
    Integer,
    Year,
    Number,
    Boolean {
        trues: Vec<String>,
        falses: Vec<String>,
    },
    Date(TimeFormat),
    DateTime(TimeFormat),
    YearMonth,
}

/// A parsed, non-null cell. `Text` values are read back from the record when
/// stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Typed {
    Text,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Micros(i64),
    /// A year-month (months since year 0), stored as text.
    Month(i64),
}

/// A bound or enum member in the field's comparison domain.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Ordinal {
    Int(i64),
    Float(f64),
    Date(i32),
    Micros(i64),
    Month(i64),
}

impl Typed {
    fn ordinal(self) -> Option<Ordinal> {
        match self {
            Typed::Int(i) => Some(Ordinal::Int(i)),
            Typed::Float(f) => Some(Ordinal::Float(f)),
            Typed::Date(d) => Some(Ordinal::Date(d)),
            Typed::Micros(m) => Some(Ordinal::Micros(m)),
            Typed::Month(m) => Some(Ordinal::Month(m)),
            Typed::Text | Typed::Bool(_) => None,
        }
    }
}

/// Micros since the epoch; `None` out of `i64` range.
fn micros(dt: NaiveDateTime) -> Option<i64> {
    let micros = dt.and_utc().timestamp_micros();
    // timestamp_micros saturates rather than failing; refuse the extremes.
    (micros != i64::MIN && micros != i64::MAX).then_some(micros)
}

enum EnumSet {
    Text(HashSet<String>),
    Bool(Vec<bool>),
    Ordinal(Vec<Ordinal>),
}

/// Everything needed to check one column.
pub(crate) struct FieldPlan {
    pub(crate) name: String,
    pub(crate) storage: Storage,
    pub(crate) required: bool,
    pub(crate) unique: bool,
    pub(crate) identifier: bool,
    kind: Kind,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<(Ordinal, String)>,
    maximum: Option<(Ordinal, String)>,
    enum_set: Option<(EnumSet, String)>,
    pattern: Option<(Regex, String)>,
    pub(crate) nomenclature: Option<String>,
    /// The nomenclature turned out to be unknown to the hub: stop asking.
    pub(crate) nomenclature_unknown: bool,
    /// A fast reader of the date `format`, when it is made of `%d`, `%m`,
    /// `%Y` and literal characters only (SNDS `%d%m%Y`).
    fixed_date: Option<FixedDate>,
}

/// A date format of fixed width: `%d` and `%m` (2 digits), `%Y` (4 digits)
/// once each, and literal ASCII characters (not digits, not white space).
/// Reading a value of exactly that width, all digits where the fields are,
/// gives what chrono gives with the same pattern; any other value is left to
/// chrono (a test checks the agreement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixedDate {
    width: usize,
    day: usize,
    month: usize,
    year: usize,
    literals: Vec<(usize, u8)>,
}

impl FixedDate {
    pub(crate) fn compile(fmt: &str) -> Option<FixedDate> {
        let b = fmt.as_bytes();
        let (mut day, mut month, mut year) = (None, None, None);
        let mut literals = Vec::new();
        let (mut i, mut pos) = (0, 0);
        while i < b.len() {
            if b[i] == b'%' {
                let (slot, width) = match b.get(i + 1) {
                    Some(b'd') => (&mut day, 2),
                    Some(b'm') => (&mut month, 2),
                    Some(b'Y') => (&mut year, 4),
                    _ => return None,
                };
                if slot.replace(pos).is_some() {
                    return None;
                }
                pos += width;
                i += 2;
            } else {
                let c = b[i];
                if !c.is_ascii() || c.is_ascii_digit() || c.is_ascii_whitespace() || c == b'\x0B' {
                    return None;
                }
                literals.push((pos, c));
                pos += 1;
                i += 1;
            }
        }
        Some(FixedDate {
            width: pos,
            day: day?,
            month: month?,
            year: year?,
            literals,
        })
    }

    pub(crate) fn parse(&self, raw: &str) -> Option<NaiveDate> {
        let b = raw.as_bytes();
        if b.len() != self.width || self.literals.iter().any(|&(at, c)| b[at] != c) {
            return None;
        }
        let num = |at: usize, n: usize| -> Option<u32> {
            b[at..at + n].iter().try_fold(0u32, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let y = i32::try_from(num(self.year, 4)?).ok()?;
        NaiveDate::from_ymd_opt(y, num(self.month, 2)?, num(self.day, 2)?)
    }
}

/// A compiled schema.
pub(crate) struct Plan {
    pub(crate) fields: Vec<FieldPlan>,
    pub(crate) primary_key: Vec<usize>,
    /// Usually just `""`: a list is faster than hashing every cell.
    pub(crate) missing_values: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl Plan {
    pub(crate) fn new(schema: &TableSchema) -> Result<Plan, IngestError> {
        let mut warnings = Vec::new();
        let mut fields = Vec::with_capacity(schema.fields.len());
        for field in &schema.fields {
            fields.push(FieldPlan::new(schema, field, &mut warnings)?);
        }
        let primary_key = schema
            .primary_key
            .iter()
            .map(|k| {
                schema.field_index(k).ok_or_else(|| IngestError::Schema {
                    table: schema.name.clone(),
                    message: format!("primary key field {k:?} is not a field of the table"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            fields,
            primary_key,
            missing_values: schema.missing_values.clone(),
            warnings,
        })
    }
}

fn schema_error(
    schema: &TableSchema,
    field: &Field,
    message: impl std::fmt::Display,
) -> IngestError {
    IngestError::Schema {
        table: schema.name.clone(),
        message: format!("field {}: {message}", field.name),
    }
}

/// Shows a list of allowed values (quoted when text), shortened when long.
fn show_list(values: &[String], text: bool) -> String {
    const SHOWN: usize = 10;
    let mut s = values
        .iter()
        .take(SHOWN)
        .map(|v| if text { crate::quote(v) } else { v.clone() })
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > SHOWN {
        let _ = write!(s, ", … ({} values)", values.len());
    }
    s
}

impl FieldPlan {
    fn new(
        schema: &TableSchema,
        field: &Field,
        warnings: &mut Vec<String>,
    ) -> Result<FieldPlan, IngestError> {
        let c = &field.constraints;
        let kind = match field.field_type {
            FieldType::String | FieldType::Any => Kind::Text,
            FieldType::Integer => Kind::Integer,
            FieldType::Year => Kind::Year,
            FieldType::Number => Kind::Number,
            FieldType::YearMonth => Kind::YearMonth,
            FieldType::Boolean => {
                let own = |v: &Option<Vec<String>>, default: &[&str]| {
                    v.clone()
                        .unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect())
                };
                let trues = own(&field.true_values, &lexical::DEFAULT_TRUE_VALUES);
                let falses = own(&field.false_values, &lexical::DEFAULT_FALSE_VALUES);
                let both: Vec<&String> = trues.iter().filter(|t| falses.contains(t)).collect();
                if !both.is_empty() {
                    warnings.push(format!(
                        "field {}: {} listed in both trueValues and falseValues; read as true",
                        field.name,
                        both.iter()
                            .map(|v| crate::quote(v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Kind::Boolean { trues, falses }
            }
            FieldType::Date | FieldType::DateTime => {
                let tf = time_format(field);
                match &tf {
                    TimeFormat::Invalid(msg) => return Err(schema_error(schema, field, msg)),
                    TimeFormat::Partial(fmt, _) => warnings.push(format!(
                        "field {}: format {fmt:?} does not determine a full {}; values are checked against it and stored as text",
                        field.name, field.field_type
                    )),
                    TimeFormat::Iso | TimeFormat::Pattern(..) => {}
                }
                if field.field_type == FieldType::Date {
                    Kind::Date(tf)
                } else {
                    Kind::DateTime(tf)
                }
            }
        };
        let partial = matches!(
            kind,
            Kind::Date(TimeFormat::Partial(..)) | Kind::DateTime(TimeFormat::Partial(..))
        );
        if partial && (c.minimum.is_some() || c.maximum.is_some() || c.enum_values.is_some()) {
            warnings.push(format!(
                "field {}: minimum, maximum and enum are not checked on a partial {}",
                field.name, field.field_type
            ));
        }

        // Canonical constraint strings → comparison domain.
        let ordinal = |s: &str| -> Option<Ordinal> {
            match field.field_type {
                FieldType::Integer | FieldType::Year => lexical::parse_integer(s).map(Ordinal::Int),
                FieldType::Number => lexical::parse_number(s).map(Ordinal::Float),
                FieldType::Date => {
                    lexical::parse_date(s).map(|d| Ordinal::Date(lexical::epoch_days(d)))
                }
                FieldType::DateTime => lexical::parse_datetime(s)
                    .and_then(micros)
                    .map(Ordinal::Micros),
                FieldType::YearMonth => lexical::parse_year_month(s)
                    .map(|(y, m)| Ordinal::Month(lexical::year_month_index(y, m))),
                FieldType::String | FieldType::Any | FieldType::Boolean => None,
            }
        };
        let bound =
            |v: &Option<String>, what: &str| -> Result<Option<(Ordinal, String)>, IngestError> {
                match v {
                    None => Ok(None),
                    Some(_) if partial => Ok(None),
                    Some(s) => ordinal(s).map(|o| Some((o, s.clone()))).ok_or_else(|| {
                        schema_error(
                            schema,
                            field,
                            format!("{what} {s:?} is not a {} value", field.field_type),
                        )
                    }),
                }
            };
        let minimum = bound(&c.minimum, "minimum")?;
        let maximum = bound(&c.maximum, "maximum")?;
        let enum_set = match &c.enum_values {
            None => None,
            Some(_) if partial => None,
            Some(values) => {
                let set = match field.field_type {
                    FieldType::String | FieldType::Any => {
                        EnumSet::Text(values.iter().cloned().collect())
                    }
                    FieldType::Boolean => EnumSet::Bool(
                        values
                            .iter()
                            .map(|v| {
                                lexical::parse_boolean(v).ok_or_else(|| {
                                    schema_error(
                                        schema,
                                        field,
                                        format!("enum value {v:?} is not a boolean"),
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => EnumSet::Ordinal(
                        values
                            .iter()
                            .map(|v| {
                                ordinal(v).ok_or_else(|| {
                                    schema_error(
                                        schema,
                                        field,
                                        format!(
                                            "enum value {v:?} is not a {} value",
                                            field.field_type
                                        ),
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                };
                let text = matches!(field.field_type, FieldType::String | FieldType::Any);
                Some((set, show_list(values, text)))
            }
        };
        let pattern = match &c.pattern {
            None => None,
            Some(p) => {
                // Frictionless patterns match the whole value.
                let re = Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    schema_error(schema, field, format!("invalid pattern {p:?}: {e}"))
                })?;
                Some((re, p.clone()))
            }
        };
        let fixed_date = match &kind {
            Kind::Date(TimeFormat::Pattern(fmt, _)) => FixedDate::compile(fmt),
            _ => None,
        };
        Ok(FieldPlan {
            name: field.name.clone(),
            storage: storage(field),
            required: schema.is_required(&field.name),
            unique: c.unique,
            identifier: field.is_withheld(),
            kind,
            min_length: c.min_length,
            max_length: c.max_length,
            minimum,
            maximum,
            enum_set,
            pattern,
            nomenclature: field.nomenclature.clone(),
            nomenclature_unknown: false,
            fixed_date,
        })
    }

    /// The value as it may appear in a message.
    pub(crate) fn show(&self, raw: &str) -> String {
        if self.identifier {
            crate::WITHHELD.to_owned()
        } else {
            crate::quote(raw)
        }
    }

    /// Parses a non-missing cell and checks type, enum, length, bounds and
    /// pattern (the nomenclature is checked by the caller). The error is the
    /// reason of the first failed check.
    pub(crate) fn parse(&self, raw: &str) -> Result<Typed, String> {
        let typed = match &self.kind {
            Kind::Text => Typed::Text,
            Kind::Integer => lexical::parse_integer(raw)
                .map(Typed::Int)
                .ok_or_else(|| format!("not an integer: {}", self.show(raw)))?,
            Kind::Year => lexical::parse_integer(raw)
                .map(Typed::Int)
                .ok_or_else(|| format!("not a year: {}", self.show(raw)))?,
            Kind::Number => lexical::parse_number(raw)
                .map(|f| Typed::Float(if f == 0.0 { 0.0 } else { f }))
                .ok_or_else(|| format!("not a number: {}", self.show(raw)))?,
            Kind::Boolean { trues, falses } => {
                if trues.iter().any(|t| t == raw) {
                    Typed::Bool(true)
                } else if falses.iter().any(|f| f == raw) {
                    Typed::Bool(false)
                } else {
                    return Err(format!(
                        "not a boolean (expected {} or {}): {}",
                        trues.join("/"),
                        falses.join("/"),
                        self.show(raw)
                    ));
                }
            }
            Kind::Date(tf) => match tf {
                TimeFormat::Iso => lexical::parse_date(raw)
                    .map(|d| Typed::Date(lexical::epoch_days(d)))
                    .ok_or_else(|| format!("not a date (YYYY-MM-DD): {}", self.show(raw)))?,
                TimeFormat::Pattern(fmt, items) => self
                    .fixed_date
                    .as_ref()
                    .and_then(|f| f.parse(raw))
                    .or_else(|| parse_with(items, raw).and_then(|p| p.to_naive_date().ok()))
                    .map(|d| Typed::Date(lexical::epoch_days(d)))
                    .ok_or_else(|| format!("not a date in format {fmt:?}: {}", self.show(raw)))?,
                TimeFormat::Partial(fmt, items) => parse_with(items, raw)
                    .map(|_| Typed::Text)
                    .ok_or_else(|| format!("not a date in format {fmt:?}: {}", self.show(raw)))?,
                TimeFormat::Invalid(msg) => return Err(msg.clone()),
            },
            Kind::DateTime(tf) => match tf {
                TimeFormat::Iso => lexical::parse_datetime(raw)
                    .and_then(micros)
                    .map(Typed::Micros)
                    .ok_or_else(|| {
                        format!(
                            "not a datetime (RFC 3339 or YYYY-MM-DD HH:MM:SS): {}",
                            self.show(raw)
                        )
                    })?,
                TimeFormat::Pattern(fmt, items) => parse_with(items, raw)
                    .and_then(datetime_of)
                    .and_then(micros)
                    .map(Typed::Micros)
                    .ok_or_else(|| {
                        format!("not a datetime in format {fmt:?}: {}", self.show(raw))
                    })?,
                TimeFormat::Partial(fmt, items) => {
                    parse_with(items, raw).map(|_| Typed::Text).ok_or_else(|| {
                        format!("not a datetime in format {fmt:?}: {}", self.show(raw))
                    })?
                }
                TimeFormat::Invalid(msg) => return Err(msg.clone()),
            },
            Kind::YearMonth => lexical::parse_year_month(raw)
                .map(|(y, m)| Typed::Month(lexical::year_month_index(y, m)))
                .ok_or_else(|| {
                    format!("not a year-month (YYYY-MM or YYYYMM): {}", self.show(raw))
                })?,
        };

        if let Some((set, shown)) = &self.enum_set {
            let ok = match (set, typed) {
                (EnumSet::Text(s), _) => s.contains(raw),
                (EnumSet::Bool(s), Typed::Bool(b)) => s.contains(&b),
                (EnumSet::Ordinal(s), t) => t.ordinal().is_some_and(|o| s.contains(&o)),
                (EnumSet::Bool(_), _) => false,
            };
            if !ok {
                return Err(if self.identifier {
                    format!("value {} is not one of the allowed values", crate::WITHHELD)
                } else {
                    format!(
                        "value {} is not one of the allowed values ({shown})",
                        self.show(raw)
                    )
                });
            }
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let len = raw.chars().count() as u64;
            if let Some(min) = self.min_length
                && len < min
            {
                return Err(format!("length {len} is shorter than minLength {min}"));
            }
            if let Some(max) = self.max_length
                && len > max
            {
                return Err(format!("length {len} is longer than maxLength {max}"));
            }
        }
        if let Some(o) = typed.ordinal() {
            if let Some((min, shown)) = &self.minimum
                && o < *min
            {
                return Err(format!(
                    "value {} is less than minimum {shown}",
                    self.show(raw)
                ));
            }
            if let Some((max, shown)) = &self.maximum
                && o > *max
            {
                return Err(format!(
                    "value {} is greater than maximum {shown}",
                    self.show(raw)
                ));
            }
        }
        if let Some((re, p)) = &self.pattern
            && !re.is_match(raw)
        {
            return Err(format!(
                "value {} does not match pattern {p:?}",
                self.show(raw)
            ));
        }
        Ok(typed)
    }
}
