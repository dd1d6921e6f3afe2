//! The quality report of a delivery: what the hub measured on a dataset
//! version's tables when it was delivered, kept with the version and shown in
//! the catalogue.
//!
//! This module holds the shapes (serialised as JSON next to the version), the
//! coherence rules a producer declares in `dataset.json` (`qualityRules`), the
//! hub's policy for invalid rows (`invalidRows`), the summary lines shown at
//! the top of the report, and the completeness chart. The numbers themselves
//! are computed by the workspace engine where the data is.
//!
//! Person identifiers never appear in a report: only counts. Their columns
//! get no distinct count and no distribution, and no code of theirs is ever
//! quoted as an example.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use hdh_model::schema::{Field, FieldType, TableSchema};

use crate::chart::format_count;
use crate::diagram::{escape, mono_width, num, svg_id, svg_open, truncate};
use crate::metadata::MetadataError;
use crate::stats::Distribution;

// ---------------------------------------------------------------- policy

/// What the hub does with the rows of a delivery that fail validation
/// (`dataset.json` property `"invalidRows"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvalidRowsPolicy {
    /// The whole delivery is refused (the default).
    #[default]
    Reject,
    /// Invalid rows are set aside; the valid ones are published and the
    /// report counts the rows set aside.
    Quarantine,
}

impl InvalidRowsPolicy {
    pub const ALL: [InvalidRowsPolicy; 2] =
        [InvalidRowsPolicy::Reject, InvalidRowsPolicy::Quarantine];

    pub fn as_str(self) -> &'static str {
        match self {
            InvalidRowsPolicy::Reject => "reject",
            InvalidRowsPolicy::Quarantine => "quarantine",
        }
    }

    /// `"reject"` or `"quarantine"` (case and surrounding blanks ignored).
    pub fn parse(s: &str) -> Option<InvalidRowsPolicy> {
        let s = s.trim();
        InvalidRowsPolicy::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    pub fn is_default(&self) -> bool {
        *self == InvalidRowsPolicy::default()
    }
}

// ---------------------------------------------------------------- rules

/// A coherence rule between dates, declared by the producer in `dataset.json`
/// (`"qualityRules"`) and checked on every delivery.
///
/// JSON shapes:
///
/// * `{"table": "T_MCO_B", "field": "SOR_DAT", "notBefore": "ENT_DAT"}`:
///   in each row of `table`, `field` is not before the other field of the
///   same row (a discharge is not before its admission);
/// * `{"table": "ER_PRS_F", "field": "EXE_SOI_DTD", "notAfter": {"table":
///   "IR_BEN_R", "field": "BEN_DCD_DTE", "on": ["BEN_NIR_PSA"]}}`: in each
///   row of `table`, `field` is not after the value of `notAfter.field` in
///   the rows of `notAfter.table` with the same `on` fields (no event after
///   the person's death).
///
/// Rows where a compared value is missing are not checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualityRule {
    pub table: String,
    pub field: String,
    pub check: RuleCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleCheck {
    /// `field` ≥ this other field of the same row.
    NotBefore(String),
    /// `field` ≤ the date of the matching rows of another table.
    NotAfter(OtherTableDate),
}

/// A date in another table, found through join fields of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OtherTableDate {
    pub table: String,
    pub field: String,
    /// Fields present, with these names, in both tables.
    pub on: Vec<String>,
}

/// The JSON form of a rule.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleJson<'a> {
    table: &'a str,
    field: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_before: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_after: Option<&'a OtherTableDate>,
}

impl Serialize for QualityRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (not_before, not_after) = match &self.check {
            RuleCheck::NotBefore(f) => (Some(f.as_str()), None),
            RuleCheck::NotAfter(o) => (None, Some(o)),
        };
        RuleJson {
            table: &self.table,
            field: &self.field,
            not_before,
            not_after,
        }
        .serialize(serializer)
    }
}

/// Deserialising goes through [`QualityRule::from_json_value`], so a stored
/// rule is checked again when read back.
impl<'de> Deserialize<'de> for QualityRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        QualityRule::from_json_value(&value, "").map_err(serde::de::Error::custom)
    }
}

fn fault(pointer: String, message: impl Into<String>) -> MetadataError {
    MetadataError {
        pointer,
        message: message.into(),
    }
}

/// A non-empty name without control characters.
fn name_at(value: Option<&Value>, pointer: String, what: &str) -> Result<String, MetadataError> {
    match value {
        None => Err(fault(pointer, format!("{what} is missing"))),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(fault(pointer, format!("{what} is empty")))
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => Err(fault(
            pointer,
            format!("{what} contains a control character"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(fault(pointer, format!("{what} must be a string"))),
    }
}

impl QualityRule {
    /// Parses one rule; `pointer` is the JSON pointer of `value` (errors
    /// name the pointer of the fault below it).
    pub fn from_json_value(value: &Value, pointer: &str) -> Result<QualityRule, MetadataError> {
        let Value::Object(map) = value else {
            return Err(fault(
                pointer.to_string(),
                "a quality rule is an object such as {\"table\": \"T\", \"field\": \"F\", \"notBefore\": \"G\"}",
            ));
        };
        for key in map.keys() {
            if !matches!(key.as_str(), "table" | "field" | "notBefore" | "notAfter") {
                return Err(fault(
                    format!("{pointer}/{}", escape_pointer(key)),
                    format!(
                        "unknown property {key:?} (expected table, field, and notBefore or notAfter)"
                    ),
                ));
            }
        }
        let table = name_at(map.get("table"), format!("{pointer}/table"), "table")?;
        let field = name_at(map.get("field"), format!("{pointer}/field"), "field")?;
        let check = match (map.get("notBefore"), map.get("notAfter")) {
            (Some(_), Some(_)) => {
                return Err(fault(
                    format!("{pointer}/notAfter"),
                    "a rule has either notBefore or notAfter, not both",
                ));
            }
            (None, None) => {
                return Err(fault(
                    pointer.to_string(),
                    "a rule needs notBefore (a field of the same table) or notAfter (a field of another table)",
                ));
            }
            (Some(v), None) => {
                let other = name_at(Some(v), format!("{pointer}/notBefore"), "notBefore")?;
                if other == field {
                    return Err(fault(
                        format!("{pointer}/notBefore"),
                        "a field compared with itself",
                    ));
                }
                RuleCheck::NotBefore(other)
            }
            (None, Some(v)) => {
                let p = format!("{pointer}/notAfter");
                let Value::Object(o) = v else {
                    return Err(fault(
                        p,
                        "notAfter is an object such as {\"table\": \"IR_BEN_R\", \"field\": \"BEN_DCD_DTE\", \"on\": [\"BEN_NIR_PSA\"]}",
                    ));
                };
                for key in o.keys() {
                    if !matches!(key.as_str(), "table" | "field" | "on") {
                        return Err(fault(
                            format!("{p}/{}", escape_pointer(key)),
                            format!("unknown property {key:?} (expected table, field and on)"),
                        ));
                    }
                }
                let other_table = name_at(o.get("table"), format!("{p}/table"), "table")?;
                let other_field = name_at(o.get("field"), format!("{p}/field"), "field")?;
                let on = match o.get("on") {
                    Some(Value::Array(items)) if !items.is_empty() => {
                        let mut on = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            let name = name_at(Some(item), format!("{p}/on/{i}"), "a join field")?;
                            if on.contains(&name) {
                                return Err(fault(
                                    format!("{p}/on/{i}"),
                                    format!("{name} is listed twice"),
                                ));
                            }
                            on.push(name);
                        }
                        on
                    }
                    Some(Value::Array(_)) => {
                        return Err(fault(format!("{p}/on"), "on needs at least one field"));
                    }
                    Some(_) => {
                        return Err(fault(
                            format!("{p}/on"),
                            "on is a list of field names present in both tables",
                        ));
                    }
                    None => return Err(fault(format!("{p}/on"), "on is missing")),
                };
                if other_table == table && on.iter().all(|k| k == &other_field) {
                    return Err(fault(p, "a rule that compares a row with itself"));
                }
                RuleCheck::NotAfter(OtherTableDate {
                    table: other_table,
                    field: other_field,
                    on,
                })
            }
        };
        Ok(QualityRule {
            table,
            field,
            check,
        })
    }

    /// Parses the `qualityRules` array found at `pointer`.
    pub fn list_from_json_value(
        value: &Value,
        pointer: &str,
    ) -> Result<Vec<QualityRule>, MetadataError> {
        let Value::Array(items) = value else {
            return Err(fault(pointer.to_string(), "expected a list of rules"));
        };
        let mut rules: Vec<QualityRule> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let rule = QualityRule::from_json_value(item, &format!("{pointer}/{i}"))?;
            if rules.contains(&rule) {
                return Err(fault(format!("{pointer}/{i}"), "the same rule twice"));
            }
            rules.push(rule);
        }
        Ok(rules)
    }

    /// The rule in English, e.g. "SOR_DAT is not before ENT_DAT in T_MCO_B".
    pub fn describe(&self) -> String {
        match &self.check {
            RuleCheck::NotBefore(other) => format!(
                "{}.{} is not before {} of the same row",
                self.table, self.field, other
            ),
            RuleCheck::NotAfter(o) => format!(
                "{}.{} is not after {}.{} of the rows with the same {}",
                self.table,
                self.field,
                o.table,
                o.field,
                o.on.join(", ")
            ),
        }
    }

    /// The tables the rule reads.
    pub fn tables(&self) -> Vec<&str> {
        match &self.check {
            RuleCheck::NotBefore(_) => vec![self.table.as_str()],
            RuleCheck::NotAfter(o) if o.table == self.table => vec![self.table.as_str()],
            RuleCheck::NotAfter(o) => vec![self.table.as_str(), o.table.as_str()],
        }
    }

    /// Why the rule cannot be checked on these tables (a table or field that
    /// is not there, a field that is not a date or another ordered type), or
    /// None when it can.
    pub fn unusable(&self, tables: &[TableSchema]) -> Option<String> {
        let find = |name: &str| tables.iter().find(|t| t.name == name);
        let ordered = |t: &TableSchema, f: &str| -> Result<FieldType, String> {
            match t.field(f) {
                None => Err(format!("{}.{f} does not exist", t.name)),
                Some(fd) if !fd.field_type.is_ordered() => Err(format!(
                    "{}.{f} is of type {}, which has no order",
                    t.name, fd.field_type
                )),
                Some(fd) => Ok(fd.field_type),
            }
        };
        let comparable = |a: FieldType, b: FieldType, what: String| -> Option<String> {
            let family = |t: FieldType| match t {
                FieldType::Date | FieldType::DateTime => 1,
                FieldType::Integer | FieldType::Number | FieldType::Year => 2,
                _ => 3,
            };
            (a != b && family(a) != family(b))
                .then(|| format!("{what}: a {a} cannot be compared with a {b}"))
        };
        let Some(t) = find(&self.table) else {
            return Some(format!("table {} is not in the delivery", self.table));
        };
        let a = match ordered(t, &self.field) {
            Ok(a) => a,
            Err(e) => return Some(e),
        };
        match &self.check {
            RuleCheck::NotBefore(other) => match ordered(t, other) {
                Ok(b) => comparable(a, b, format!("{}.{} and {other}", self.table, self.field)),
                Err(e) => Some(e),
            },
            RuleCheck::NotAfter(o) => {
                let Some(r) = find(&o.table) else {
                    return Some(format!("table {} is not in the delivery", o.table));
                };
                match ordered(r, &o.field) {
                    Ok(b) => {
                        if let Some(e) = comparable(
                            a,
                            b,
                            format!("{}.{} and {}.{}", self.table, self.field, o.table, o.field),
                        ) {
                            return Some(e);
                        }
                    }
                    Err(e) => return Some(e),
                }
                for k in &o.on {
                    for x in [t, r] {
                        if x.field(k).is_none() {
                            return Some(format!("{}.{k} does not exist", x.name));
                        }
                    }
                }
                None
            }
        }
    }
}

/// Checks a dataset's rules against the schemas of its tables: errors name
/// the rule by its pointer under `/qualityRules`.
pub fn check_rules(rules: &[QualityRule], tables: &[TableSchema]) -> Result<(), MetadataError> {
    for (i, r) in rules.iter().enumerate() {
        if let Some(why) = r.unusable(tables) {
            return Err(fault(format!("/qualityRules/{i}"), why));
        }
    }
    Ok(())
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

// ---------------------------------------------------------------- report

/// The quality report of one delivered version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub dataset_id: String,
    pub version: i64,
    /// Counts under this threshold are suppressed in distinct counts and
    /// distributions (as in [`crate::stats`]).
    pub threshold: u64,
    pub tables: Vec<TableQuality>,
    /// Foreign keys between the tables of the delivery.
    #[serde(default)]
    pub references: Vec<ReferenceCheck>,
    /// The dataset's coherence rules.
    #[serde(default)]
    pub coherence: Vec<CoherenceCheck>,
    /// What changed since the previous version, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<VersionComparison>,
    /// One English line per problem found (see [`QualityReport::summarise`]).
    #[serde(default)]
    pub issues: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableQuality {
    pub table: String,
    /// Rows published.
    pub rows: u64,
    /// Rows set aside under the `quarantine` policy (filled by the hub).
    #[serde(default)]
    pub quarantined_rows: u64,
    /// Exact copies of another row: rows beyond the first of each group of
    /// identical rows (what would have to go for the rows to be unique).
    pub duplicate_rows: u64,
    /// The primary key's fields (empty: none declared).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Rows whose primary key is already carried by another row (beyond the
    /// first of each key; rows with a missing key part are not counted).
    /// None when the table has no primary key.
    #[serde(default)]
    pub duplicate_keys: Option<u64>,
    pub columns: Vec<ColumnQuality>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnQuality {
    pub name: String,
    pub field_type: FieldType,
    /// A person identifier (or another field whose values are withheld): no
    /// distinct count, no distribution.
    #[serde(default)]
    pub person_identifier: bool,
    /// Non-null values over rows, in [0, 1] (0 for an empty table).
    pub completeness: f64,
    /// Null values.
    pub nulls: u64,
    /// Values refused by validation (filled by the hub).
    #[serde(default)]
    pub invalid: u64,
    /// Distinct non-null values; None when under the threshold or for a
    /// person identifier.
    #[serde(default)]
    pub distinct: Option<u64>,
    /// Top values for codes, a histogram for numbers and dates (counts
    /// suppressed under the threshold); None for person identifiers.
    #[serde(default)]
    pub distribution: Option<Distribution>,
}

/// Rows of `table` whose `fields` find no row of `references_table` with
/// those values in `references_fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceCheck {
    pub table: String,
    pub fields: Vec<String>,
    pub references_table: String,
    pub references_fields: Vec<String>,
    /// Rows whose key has no missing part (rows with one are not checked).
    pub rows_checked: u64,
    pub orphans: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoherenceCheck {
    pub rule: QualityRule,
    /// The rule in English.
    pub description: String,
    /// Rows where both compared values are present.
    pub rows_checked: u64,
    pub violations: u64,
    /// Why the rule was not checked (a table or field missing from the
    /// delivery); then the counts are 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
}

/// What changed since the previous version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionComparison {
    pub previous_version: i64,
    /// Tables present in both versions.
    pub tables: Vec<TableDrift>,
    pub added_tables: Vec<String>,
    pub removed_tables: Vec<String>,
    pub added_columns: Vec<TableColumn>,
    pub removed_columns: Vec<TableColumn>,
    pub new_codes: Vec<NewCodes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDrift {
    pub table: String,
    pub rows_before: u64,
    pub rows_now: u64,
    /// (now − before) / before, e.g. 0.12 for +12 %; None when the table was
    /// empty before.
    pub drift: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumn {
    pub table: String,
    pub column: String,
}

/// Codes found in a field now that were absent from it in the previous
/// version (fields with a nomenclature, and low-cardinality text codes;
/// never person identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCodes {
    pub table: String,
    pub field: String,
    pub nomenclature: Option<String>,
    /// Distinct new codes.
    pub count: u64,
    /// The first new codes in order (at most [`MAX_CODE_EXAMPLES`]).
    pub examples: Vec<String>,
}

/// At most this many new codes are quoted per field.
pub const MAX_CODE_EXAMPLES: usize = 20;

/// A change in row count at least this large (relative) is an issue.
pub const DRIFT_ALERT: f64 = 0.10;

/// "+12 %", "−35 %" (U+2212), "+0.4 %".
pub fn format_drift(drift: f64) -> String {
    let pct = drift * 100.0;
    let sign = if pct < 0.0 { "\u{2212}" } else { "+" };
    let a = pct.abs();
    if a >= 10.0 || (a - a.round()).abs() < 0.05 {
        format!("{sign}{} %", a.round() as u64)
    } else {
        format!("{sign}{a:.1} %")
    }
}

fn rows_word(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

impl QualityReport {
    pub fn table(&self, name: &str) -> Option<&TableQuality> {
        self.tables.iter().find(|t| t.table == name)
    }

    pub fn table_mut(&mut self, name: &str) -> Option<&mut TableQuality> {
        self.tables.iter_mut().find(|t| t.table == name)
    }

    /// Fills `issues` (replacing them) with one English line per problem:
    /// quarantined rows, invalid values, empty columns, duplicates, orphan
    /// rows, rule violations or rules not checked, and, against the previous
    /// version, a row count that moved by [`DRIFT_ALERT`] or more, tables and
    /// columns added or removed, new codes. Call it again after filling
    /// `quarantined_rows` or `invalid`.
    pub fn summarise(&mut self) {
        let mut issues = Vec::new();
        for t in &self.tables {
            if t.quarantined_rows > 0 {
                issues.push(format!(
                    "{}: {} {} quarantined",
                    t.table,
                    format_count(t.quarantined_rows),
                    rows_word(t.quarantined_rows)
                ));
            }
            for c in &t.columns {
                if c.invalid > 0 {
                    issues.push(format!(
                        "{}.{}: {} invalid {}",
                        t.table,
                        c.name,
                        format_count(c.invalid),
                        if c.invalid == 1 { "value" } else { "values" }
                    ));
                }
            }
            if t.rows > 0 {
                let empty: Vec<&str> = t
                    .columns
                    .iter()
                    .filter(|c| c.nulls >= t.rows)
                    .map(|c| c.name.as_str())
                    .collect();
                if !empty.is_empty() {
                    issues.push(format!(
                        "{}: no value at all in {}",
                        t.table,
                        empty.join(", ")
                    ));
                }
            }
            if t.duplicate_rows > 0 {
                issues.push(format!(
                    "{}: {} exact duplicate {}",
                    t.table,
                    format_count(t.duplicate_rows),
                    rows_word(t.duplicate_rows)
                ));
            }
            if let Some(n) = t.duplicate_keys.filter(|n| *n > 0) {
                issues.push(format!(
                    "{}: {} {} repeating a primary key ({})",
                    t.table,
                    format_count(n),
                    rows_word(n),
                    t.primary_key.join(", ")
                ));
            }
        }
        for r in &self.references {
            if r.orphans > 0 {
                issues.push(format!(
                    "{}.{} → {}: {} orphan {}",
                    r.table,
                    r.fields.join(", "),
                    r.references_table,
                    format_count(r.orphans),
                    rows_word(r.orphans)
                ));
            }
        }
        for c in &self.coherence {
            if let Some(why) = &c.not_checked {
                issues.push(format!("rule not checked ({}): {why}", c.description));
                continue;
            }
            if c.violations == 0 {
                continue;
            }
            let rule = &c.rule;
            issues.push(match &rule.check {
                RuleCheck::NotBefore(other) => format!(
                    "{}: {} {} with {} before {}",
                    rule.table,
                    format_count(c.violations),
                    rows_word(c.violations),
                    rule.field,
                    other
                ),
                RuleCheck::NotAfter(o) => format!(
                    "{}: {} {} with {} after {}.{}",
                    rule.table,
                    format_count(c.violations),
                    rows_word(c.violations),
                    rule.field,
                    o.table,
                    o.field
                ),
            });
        }
        if let Some(cmp) = &self.comparison {
            let since = format!("since v{}", cmp.previous_version);
            for d in &cmp.tables {
                match d.drift {
                    Some(x) if x.abs() >= DRIFT_ALERT => issues.push(format!(
                        "{}: row count {} {since}",
                        d.table,
                        format_drift(x)
                    )),
                    None if d.rows_now > 0 => issues.push(format!(
                        "{}: {} rows, none {since}",
                        d.table,
                        format_count(d.rows_now)
                    )),
                    _ => {}
                }
            }
            for t in &cmp.removed_tables {
                issues.push(format!("{t}: table removed {since}"));
            }
            for t in &cmp.added_tables {
                issues.push(format!("{t}: new table {since}"));
            }
            for c in &cmp.removed_columns {
                issues.push(format!("{}.{}: column removed {since}", c.table, c.column));
            }
            for c in &cmp.added_columns {
                issues.push(format!("{}.{}: new column {since}", c.table, c.column));
            }
            for n in &cmp.new_codes {
                let mut line = format!(
                    "{}.{}: {} new {} {since}",
                    n.table,
                    n.field,
                    format_count(n.count),
                    if n.count == 1 { "code" } else { "codes" }
                );
                if let Some(nom) = &n.nomenclature {
                    let _ = write!(line, " ({nom})");
                }
                if !n.examples.is_empty() {
                    let shown: Vec<&str> = n.examples.iter().take(5).map(String::as_str).collect();
                    let more = if n.count as usize > shown.len() {
                        ", …"
                    } else {
                        ""
                    };
                    let _ = write!(line, ": {}{more}", shown.join(", "));
                }
                issues.push(line);
            }
        }
        self.issues = issues;
    }
}

// ---------------------------------------------------------------- chart

const WIDTH: f64 = 900.0;
const FONT: f64 = 12.0;
const ROW_H: f64 = 22.0;
const BAR_H: f64 = 14.0;
const MAX_LABEL: usize = 40;
/// At most this many columns are drawn; the rest is summed up as `… +N`.
const MAX_COLUMNS: usize = 300;

/// A share as a percentage for people: "100 %" only when complete, "0 %"
/// only when empty (so 99.97 % reads "99.9 %" and 0.02 % "< 0.1 %"), with a
/// decimal comma in French.
pub fn format_share(share: f64, lang: &str) -> String {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let text = if share >= 1.0 {
        "100".to_string()
    } else if share <= 0.0 {
        "0".to_string()
    } else {
        let tenths = (share * 1000.0).floor() / 10.0;
        if tenths < 0.1 {
            "< 0.1".to_string()
        } else {
            format!("{:.1}", tenths.min(99.9))
        }
    };
    if lang == "fr" {
        format!("{}\u{a0}%", text.replace('.', ","))
    } else {
        format!("{text} %")
    }
}

/// Horizontal bars of each column's completeness in one table: the column's
/// name on the left, the share of non-null values at the end of its bar over
/// a faint 100 % track. Deterministic, escaped, no script; `<title>` and
/// `<desc>` say the same in words.
pub fn completeness_svg(t: &TableQuality, lang: &str) -> String {
    let fr = lang == "fr";
    let title = if fr {
        format!("Complétude des variables de {}", t.table)
    } else {
        format!("Completeness of the columns of {}", t.table)
    };
    let class = "hdh-chart hdh-chart-completeness";
    let values: Vec<String> = t
        .columns
        .iter()
        .map(|c| format_share(c.completeness, lang))
        .collect();
    let content = format!(
        "completeness\u{0}{lang}\u{0}{}\u{0}{}\u{0}{:?}",
        t.table,
        t.rows,
        t.columns
            .iter()
            .map(|c| (&c.name, c.completeness.to_bits(), c.nulls))
            .collect::<Vec<_>>()
    );
    let id = svg_id("chart", &content);
    let mut desc: Vec<String> = t
        .columns
        .iter()
        .zip(&values)
        .map(|(c, v)| format!("{}: {v}", c.name))
        .collect();
    if desc.is_empty() {
        desc.push("—".into());
    }
    let desc = desc.join("; ");
    if t.columns.is_empty() {
        let mut out = String::new();
        svg_open(&mut out, &id, class, (0.0, 0.0, WIDTH, 40.0), &title, &desc);
        out.push_str(
            "<text class=\"hdh-chart-empty\" x=\"450\" y=\"25\" text-anchor=\"middle\" font-size=\"14\">—</text></svg>",
        );
        return out;
    }
    let shown = &t.columns[..t.columns.len().min(MAX_COLUMNS)];
    let more = t.columns.len() - shown.len();
    let labels: Vec<String> = shown.iter().map(|c| truncate(&c.name, MAX_LABEL)).collect();
    let label_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let value_chars = values.iter().map(|v| v.chars().count()).max().unwrap_or(1);
    let label_w = mono_width(label_chars, FONT).max(24.0);
    let value_w = mono_width(value_chars, FONT);
    let x0 = 10.0 + label_w + 8.0;
    let bar_max = (WIDTH - 10.0 - value_w - 6.0 - x0).max(60.0);
    let top = 6.0;
    let rows = shown.len() + usize::from(more > 0);
    let height = top + rows as f64 * ROW_H + 6.0;
    let width = WIDTH.max(x0 + bar_max + 6.0 + value_w + 10.0);

    let mut out = String::with_capacity(1024 + shown.len() * 500);
    svg_open(
        &mut out,
        &id,
        class,
        (0.0, 0.0, width, height),
        &title,
        &desc,
    );
    let _ = write!(
        out,
        "<g class=\"hdh-chart-plot\" font-family=\"monospace\" font-size=\"{}\">",
        num(FONT)
    );
    for (i, c) in shown.iter().enumerate() {
        let y = top + i as f64 * ROW_H;
        let bar_y = y + (ROW_H - BAR_H) / 2.0;
        let base = y + ROW_H / 2.0 + FONT * 0.35;
        let share = if c.completeness.is_finite() {
            c.completeness.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let nulls = if fr {
            format!("manquantes\u{a0}: {}", format_count(c.nulls))
        } else {
            format!("missing: {}", format_count(c.nulls))
        };
        let len = if share > 0.0 {
            (share * bar_max).max(1.0)
        } else {
            0.0
        };
        let _ = write!(
            out,
            "<g class=\"hdh-chart-row\"><title>{}: {} ({})</title>\
             <text class=\"hdh-chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"hdh-chart-track\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"0.12\"/>\
             <rect class=\"hdh-chart-bar{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill-opacity=\"0.7\"/>\
             <text class=\"hdh-chart-value\" x=\"{}\" y=\"{}\">{}</text></g>",
            escape(&c.name),
            escape(&values[i]),
            escape(&nulls),
            num(x0 - 8.0),
            num(base),
            escape(&labels[i]),
            num(x0),
            num(bar_y),
            num(bar_max),
            num(BAR_H),
            if share < 1.0 {
                " hdh-chart-incomplete"
            } else {
                ""
            },
            num(x0),
            num(bar_y),
            num(len),
            num(BAR_H),
            num(x0 + bar_max + 6.0),
            num(base),
            escape(&values[i]),
        );
    }
    if more > 0 {
        let y = top + shown.len() as f64 * ROW_H + ROW_H / 2.0 + FONT * 0.35;
        let _ = write!(
            out,
            "<text class=\"hdh-chart-more\" x=\"{}\" y=\"{}\" fill-opacity=\"0.75\">… +{}</text>",
            num(x0),
            num(y),
            format_count(more as u64)
        );
    }
    let _ = write!(
        out,
        "<line class=\"hdh-chart-axis\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"currentColor\" stroke-opacity=\"0.5\"/>",
        num(top),
        num(top + shown.len() as f64 * ROW_H),
        x = num(x0 - 0.5),
    );
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::tests::{assert_xml, write_sample};
    use serde_json::json;

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

    #[test]
    fn rules_read_and_write_their_json() {
        let a = json!({"table": "T_MCO_B", "field": "SOR_DAT", "notBefore": "ENT_DAT"});
        let b = json!({"table": "ER_PRS_F", "field": "EXE_SOI_DTD",
            "notAfter": {"table": "IR_BEN_R", "field": "BEN_DCD_DTE", "on": ["BEN_NIR_PSA"]}});
        assert_eq!(QualityRule::from_json_value(&a, "").unwrap(), discharge());
        assert_eq!(QualityRule::from_json_value(&b, "").unwrap(), death());
        assert_eq!(serde_json::to_value(discharge()).unwrap(), a);
        assert_eq!(serde_json::to_value(death()).unwrap(), b);
        let back: QualityRule = serde_json::from_value(b).unwrap();
        assert_eq!(back, death());
        assert_eq!(
            discharge().describe(),
            "T_MCO_B.SOR_DAT is not before ENT_DAT of the same row"
        );
    }

    #[test]
    fn bad_rules_name_their_pointer() {
        let cases = [
            (json!([{"table": "T", "field": "F"}]), "/qualityRules/0"),
            (
                json!([{"table": "T", "field": "F", "notBefore": "G", "notAfter": {}}]),
                "/qualityRules/0/notAfter",
            ),
            (
                json!([{"table": "T", "field": "F", "notBefore": "G"}, {"table": "", "field": "F", "notBefore": "G"}]),
                "/qualityRules/1/table",
            ),
            (
                json!([{"table": "T", "field": "F", "notBefore": 3}]),
                "/qualityRules/0/notBefore",
            ),
            (
                json!([{"table": "T", "field": "F", "notBefore": "F"}]),
                "/qualityRules/0/notBefore",
            ),
            (
                json!([{"table": "T", "field": "F", "notbefore": "G"}]),
                "/qualityRules/0/notbefore",
            ),
            (
                json!([{"table": "T", "field": "F", "notAfter": {"table": "R", "field": "D", "on": []}}]),
                "/qualityRules/0/notAfter/on",
            ),
            (
                json!([{"table": "T", "field": "F", "notAfter": {"table": "R", "field": "D", "on": ["K", 1]}}]),
                "/qualityRules/0/notAfter/on/1",
            ),
            (
                json!([{"table": "T", "field": "F", "notAfter": {"table": "R", "field": "D"}}]),
                "/qualityRules/0/notAfter/on",
            ),
            (
                json!([{"table": "T", "field": "F", "notAfter": {"table": "R", "field": "D", "on": ["K"], "x": 1}}]),
                "/qualityRules/0/notAfter/x",
            ),
            (
                json!([{"table": "T", "field": "F", "notBefore": "G"}, {"table": "T", "field": "F", "notBefore": "G"}]),
                "/qualityRules/1",
            ),
            (json!({"table": "T"}), "/qualityRules"),
            (json!(["T"]), "/qualityRules/0"),
        ];
        for (value, pointer) in cases {
            let e = QualityRule::list_from_json_value(&value, "/qualityRules").unwrap_err();
            assert_eq!(e.pointer, pointer, "{value}: {e}");
        }
    }

    #[test]
    fn rules_are_checked_against_the_schemas() {
        let mco = TableSchema::from_json_value(&json!({"name": "T_MCO_B", "fields": [
            {"name": "ENT_DAT", "type": "date"}, {"name": "SOR_DAT", "type": "date"},
            {"name": "ETA_NUM", "type": "string"}]}))
        .unwrap();
        assert_eq!(
            check_rules(&[discharge()], std::slice::from_ref(&mco)),
            Ok(())
        );
        let e = check_rules(&[discharge(), death()], std::slice::from_ref(&mco)).unwrap_err();
        assert_eq!(e.pointer, "/qualityRules/1");
        assert!(e.message.contains("ER_PRS_F"));
        let bad = QualityRule {
            check: RuleCheck::NotBefore("ETA_NUM".into()),
            ..discharge()
        };
        assert!(bad.unusable(&[mco]).unwrap().contains("no order"));
    }

    #[test]
    fn invalid_rows_policy() {
        assert_eq!(
            InvalidRowsPolicy::parse(" Quarantine"),
            Some(InvalidRowsPolicy::Quarantine)
        );
        assert_eq!(InvalidRowsPolicy::parse("drop"), None);
        assert_eq!(InvalidRowsPolicy::default(), InvalidRowsPolicy::Reject);
        assert_eq!(
            serde_json::to_value(InvalidRowsPolicy::Quarantine).unwrap(),
            json!("quarantine")
        );
    }

    fn column(name: &str, completeness: f64, nulls: u64) -> ColumnQuality {
        ColumnQuality {
            name: name.into(),
            field_type: FieldType::String,
            person_identifier: false,
            completeness,
            nulls,
            invalid: 0,
            distinct: None,
            distribution: None,
        }
    }

    fn report() -> QualityReport {
        QualityReport {
            dataset_id: "snds".into(),
            version: 3,
            threshold: 10,
            tables: vec![
                TableQuality {
                    table: "T_MCO_B".into(),
                    rows: 40,
                    duplicate_rows: 1,
                    primary_key: vec!["ETA_NUM".into(), "RSA_NUM".into()],
                    duplicate_keys: Some(2),
                    columns: vec![
                        column("ETA_NUM", 1.0, 0),
                        column("SOR_DAT", 0.975, 1),
                        column("<R&D>", 0.0, 40),
                    ],
                    ..Default::default()
                },
                TableQuality {
                    table: "ER_PRS_F".into(),
                    rows: 65,
                    quarantined_rows: 2,
                    columns: vec![ColumnQuality {
                        invalid: 1,
                        ..column("PRS_NAT_REF", 1.0, 0)
                    }],
                    ..Default::default()
                },
            ],
            references: vec![ReferenceCheck {
                table: "ER_PRS_F".into(),
                fields: vec!["BEN_NIR_PSA".into()],
                references_table: "IR_BEN_R".into(),
                references_fields: vec!["BEN_NIR_PSA".into()],
                rows_checked: 64,
                orphans: 12,
            }],
            coherence: vec![
                CoherenceCheck {
                    rule: discharge(),
                    description: discharge().describe(),
                    rows_checked: 39,
                    violations: 3,
                    not_checked: None,
                },
                CoherenceCheck {
                    rule: death(),
                    description: death().describe(),
                    rows_checked: 0,
                    violations: 0,
                    not_checked: Some("table IR_BEN_R is not in the delivery".into()),
                },
            ],
            comparison: Some(VersionComparison {
                previous_version: 2,
                tables: vec![
                    TableDrift {
                        table: "ER_PRS_F".into(),
                        rows_before: 100,
                        rows_now: 65,
                        drift: Some(-0.35),
                    },
                    TableDrift {
                        table: "T_MCO_B".into(),
                        rows_before: 38,
                        rows_now: 40,
                        drift: Some(2.0 / 38.0),
                    },
                ],
                added_tables: vec!["T_MCO_C".into()],
                removed_tables: vec![],
                added_columns: vec![],
                removed_columns: vec![TableColumn {
                    table: "ER_PRS_F".into(),
                    column: "OLD".into(),
                }],
                new_codes: vec![NewCodes {
                    table: "ER_PRS_F".into(),
                    field: "PRS_NAT_REF".into(),
                    nomenclature: Some("IR_NAT_V".into()),
                    count: 2,
                    examples: vec!["1111".into(), "1112".into()],
                }],
            }),
            issues: vec!["stale".into()],
        }
    }

    #[test]
    fn summary_lines() {
        let mut r = report();
        r.summarise();
        assert_eq!(
            r.issues,
            vec![
                "T_MCO_B: no value at all in <R&D>",
                "T_MCO_B: 1 exact duplicate row",
                "T_MCO_B: 2 rows repeating a primary key (ETA_NUM, RSA_NUM)",
                "ER_PRS_F: 2 rows quarantined",
                "ER_PRS_F.PRS_NAT_REF: 1 invalid value",
                "ER_PRS_F.BEN_NIR_PSA → IR_BEN_R: 12 orphan rows",
                "T_MCO_B: 3 rows with SOR_DAT before ENT_DAT",
                "rule not checked (ER_PRS_F.EXE_SOI_DTD is not after IR_BEN_R.BEN_DCD_DTE of the rows with the same BEN_NIR_PSA): table IR_BEN_R is not in the delivery",
                "ER_PRS_F: row count \u{2212}35 % since v2",
                "T_MCO_C: new table since v2",
                "ER_PRS_F.OLD: column removed since v2",
                "ER_PRS_F.PRS_NAT_REF: 2 new codes since v2 (IR_NAT_V): 1111, 1112",
            ]
        );
        // Idempotent.
        let first = r.issues.clone();
        r.summarise();
        assert_eq!(r.issues, first);
        // Round trip through JSON.
        let back: QualityReport =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn drift_and_share_formats() {
        assert_eq!(format_drift(-0.35), "\u{2212}35 %");
        assert_eq!(format_drift(0.12), "+12 %");
        assert_eq!(format_drift(0.004), "+0.4 %");
        assert_eq!(format_drift(0.0), "+0 %");
        assert_eq!(format_share(1.0, "en"), "100 %");
        assert_eq!(format_share(0.9997, "en"), "99.9 %");
        assert_eq!(format_share(0.975, "fr"), "97,5\u{a0}%");
        assert_eq!(format_share(0.0002, "en"), "< 0.1 %");
        assert_eq!(format_share(0.0, "en"), "0 %");
        assert_eq!(format_share(f64::NAN, "en"), "0 %");
    }

    #[test]
    fn completeness_chart() {
        let r = report();
        let t = &r.tables[0];
        let svg = completeness_svg(t, "en");
        assert_xml(&svg);
        assert!(svg.contains(">Completeness of the columns of T_MCO_B</title>"));
        assert!(svg.contains("<desc id=\""));
        assert!(svg.contains("SOR_DAT: 97.5 %"));
        assert!(svg.contains(">97.5 %</text>"));
        assert!(svg.contains(">100 %</text>"));
        assert!(svg.contains(">&lt;R&amp;D&gt;</text>"));
        assert!(!svg.contains("<R&D>"));
        assert!(!svg.contains("<script"));
        assert_eq!(svg.matches("<g class=\"hdh-chart-row\">").count(), 3);
        let fr = completeness_svg(t, "fr");
        assert_xml(&fr);
        assert!(fr.contains(">97,5\u{a0}%</text>"));
        assert!(fr.contains("Complétude des variables de T_MCO_B"));
        // Deterministic, distinct ids per table.
        assert_eq!(svg, completeness_svg(t, "en"));
        let id = |s: &str| {
            s.split("<title id=\"")
                .nth(1)
                .and_then(|x| x.split('"').next())
                .map(str::to_string)
        };
        assert!(id(&svg).is_some());
        assert_ne!(id(&svg), id(&completeness_svg(&r.tables[1], "en")));
        // Empty and huge tables stay well-formed.
        let empty = completeness_svg(&TableQuality::default(), "en");
        assert_xml(&empty);
        let big = TableQuality {
            table: "BIG".into(),
            rows: 10,
            columns: (0..400)
                .map(|i| column(&format!("C{i:03}"), i as f64 / 400.0, 0))
                .collect(),
            ..Default::default()
        };
        let svg = completeness_svg(&big, "en");
        assert_xml(&svg);
        assert_eq!(svg.matches("<g class=\"hdh-chart-row\">").count(), 300);
        assert!(svg.contains(">… +100</text>"));
        write_sample(
            "completeness.svg",
            &completeness_svg(&report().tables[0], "fr"),
        );
    }
}
