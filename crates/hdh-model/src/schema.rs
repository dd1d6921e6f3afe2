//! A parsed [Frictionless Table Schema](https://specs.frictionlessdata.io/table-schema/)
//! describing one table a producer delivers ("parse, don't validate": a
//! [`TableSchema`] obtained from [`TableSchema::from_json`] is known to be
//! coherent).
//!
//! Besides the standard properties, the hub understands two extensions:
//!
//! * `"hdh:identifier": "person"` on a field: the field holds a (pseudonymised)
//!   person identifier. Its values are never shown in messages and are the
//!   join key of the pseudonymisation layer.
//! * `"hdh:periodField": "FIELD"` on the table: the date or datetime field that
//!   places a row in time (used to cut extracts by period).
//! * `"hdh:pseudonymisation": {…}` on a field (see [`Pseudonymisation`] and
//!   `docs/pseudonymisation.md`): what the producer's tool does to the field
//!   before the table leaves the producer's premises.
//!   - `{"role": "identifier", "normalise": "nir"|"name"|"date"|"sex"|"code",
//!     "with": ["BEN_NAI_DTE", "BEN_SEX_COD"], "provisionalFlag": "BEN_NIR_PROV"}`:
//!     the column is replaced (same name) by the level-1 pseudonym of its
//!     normalised value followed by the normalised values of the `with`
//!     fields, in order (each normalised by its own declared `normalise`;
//!     without one, a date field as a date in its `format`, anything else as
//!     a code). `provisionalFlag` (only with `nir`) adds a boolean column of
//!     that name right after the identifier: true for temporary NIRs.
//!   - `{"role": "direct", "normalise": …}`: a direct identifier (a name, …):
//!     may be used in `with`, never leaves the producer (dropped).
//!   - `{"role": "quasi-identifier", "generalise": "year-month"|"year"|"commune"|"department"}`:
//!     kept, coarsened: a date becomes a `yearmonth` (`YYYY-MM`) or a `year`;
//!     a commune code is normalised (`commune`) or cut to its département.
//!   - no property: free data, kept as is.
//!
//!   [`TableSchema::published`] is the schema of what the hub receives;
//!   [`TableSchema::pseudonymisation_plan`] says how each of its columns is
//!   computed from the input. Coherence is checked at parse time: `with`
//!   fields exist, a dropped field is in no key and is not the period field,
//!   a coarsened field is in no key and is not the period field, the
//!   normalisation or generalisation suits the field's type, flag names are
//!   new and unique. Fields with a pseudonymisation role, like person
//!   identifiers, never have their values shown in messages.
//!
//! Unknown properties (the SNDS schemas carry `length`, `type_oracle`,
//! `dateCreated`, a `decimals` constraint, …) are ignored.
//!
//! Constraint values (`enum`, `minimum`, `maximum`) are stored as *canonical
//! strings* so that the parsed schema is type-independent and serialises
//! losslessly; see [`lexical`] for the canonical form of each type.
//! [`TableSchema::to_json`] writes a Frictionless-compatible document that
//! [`TableSchema::from_json`] (and `serde`) read back to an equal value.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest accepted table or field name.
pub const MAX_NAME_LEN: usize = 64;

/// `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`] bytes: safe to use
/// unquoted as a SQL identifier or a file name.
pub fn is_safe_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    name.len() <= MAX_NAME_LEN && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why a schema document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The document is not JSON.
    #[error("JSON syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The document is JSON but not an acceptable table schema; `pointer` is
    /// the JSON pointer (RFC 6901) of the offending value ("" = the document).
    #[error("{}: {message}", if pointer.is_empty() { "(document)" } else { pointer.as_str() })]
    Invalid { pointer: String, message: String },
}

impl SchemaError {
    /// The JSON pointer of the fault, for [`SchemaError::Invalid`].
    pub fn pointer(&self) -> Option<&str> {
        match self {
            SchemaError::Invalid { pointer, .. } => Some(pointer),
            SchemaError::Syntax { .. } => None,
        }
    }
}

/// The logical type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    #[serde(rename = "datetime")]
    DateTime,
    /// A calendar year; integer semantics.
    Year,
    /// A calendar month, `YYYY-MM` (Frictionless) or `YYYYMM` (SNDS).
    #[serde(rename = "yearmonth")]
    YearMonth,
    /// Anything; string semantics.
    Any,
}

impl FieldType {
    pub const ALL: [FieldType; 9] = [
        FieldType::String,
        FieldType::Integer,
        FieldType::Number,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Year,
        FieldType::YearMonth,
        FieldType::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Year => "year",
            FieldType::YearMonth => "yearmonth",
            FieldType::Any => "any",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether `minimum`/`maximum` make sense for this type.
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            FieldType::Integer
                | FieldType::Number
                | FieldType::Date
                | FieldType::DateTime
                | FieldType::Year
                | FieldType::YearMonth
        )
    }

    /// Canonical string form of a lexical value of this type (see
    /// [`lexical`]), or `None` when `s` is not a value of this type.
    pub fn canonicalize(self, s: &str) -> Option<String> {
        match self {
            FieldType::String | FieldType::Any => Some(s.to_owned()),
            FieldType::Integer | FieldType::Year => {
                lexical::parse_integer(s).map(|i| i.to_string())
            }
            FieldType::Number => lexical::parse_number(s).map(lexical::canonical_number),
            FieldType::Boolean => {
                lexical::parse_boolean(s).map(|b| if b { "true" } else { "false" }.to_owned())
            }
            FieldType::Date => lexical::parse_date(s).map(|d| d.format("%Y-%m-%d").to_string()),
            FieldType::DateTime => lexical::parse_datetime(s).map(lexical::canonical_datetime),
            FieldType::YearMonth => {
                lexical::parse_year_month(s).map(|(y, m)| lexical::canonical_year_month(y, m))
            }
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of identifier a field holds (`hdh:identifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierKind {
    /// A (pseudonymised) natural person.
    Person,
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 1] = [IdentifierKind::Person];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Person => "person",
        }
    }

    pub fn parse(s: &str) -> Option<IdentifierKind> {
        IdentifierKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The pattern every level-1 pseudonym matches (32 lowercase hex digits).
pub const PSEUDONYM_PATTERN: &str = "^[0-9a-f]{32}$";

/// How a value is normalised before it is pseudonymised (`normalise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalise {
    /// A NIR (numéro d'inscription au répertoire), checked with its key.
    Nir,
    /// A person's name: case, accents and separators folded.
    Name,
    /// A date, in the field's `format` (or ISO), written `YYYY-MM-DD`.
    Date,
    /// A sex code, mapped to the SNDS coding.
    Sex,
    /// A code: trimmed, upper case.
    Code,
}

impl Normalise {
    pub const ALL: [Normalise; 5] = [
        Normalise::Nir,
        Normalise::Name,
        Normalise::Date,
        Normalise::Sex,
        Normalise::Code,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Normalise::Nir => "nir",
            Normalise::Name => "name",
            Normalise::Date => "date",
            Normalise::Sex => "sex",
            Normalise::Code => "code",
        }
    }

    pub fn parse(s: &str) -> Option<Normalise> {
        Normalise::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// Whether a field of this type can be normalised this way.
    pub fn applies_to(self, field_type: FieldType) -> bool {
        match self {
            Normalise::Nir | Normalise::Name => {
                matches!(field_type, FieldType::String | FieldType::Any)
            }
            Normalise::Date => matches!(
                field_type,
                FieldType::Date | FieldType::String | FieldType::Any
            ),
            Normalise::Sex => matches!(
                field_type,
                FieldType::String | FieldType::Any | FieldType::Integer
            ),
            Normalise::Code => !matches!(
                field_type,
                FieldType::Number | FieldType::DateTime | FieldType::Boolean
            ),
        }
    }
}

impl fmt::Display for Normalise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a quasi-identifier is coarsened (`generalise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Generalise {
    /// A date or datetime becomes a `yearmonth` (`YYYY-MM`).
    #[serde(rename = "year-month")]
    YearMonth,
    /// A date, datetime or year-month becomes a `year`.
    #[serde(rename = "year")]
    Year,
    /// A commune (INSEE) code, checked and normalised; stays a string.
    #[serde(rename = "commune")]
    Commune,
    /// A commune code cut to its département code (string).
    #[serde(rename = "department")]
    Department,
}

impl Generalise {
    pub const ALL: [Generalise; 4] = [
        Generalise::YearMonth,
        Generalise::Year,
        Generalise::Commune,
        Generalise::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Generalise::YearMonth => "year-month",
            Generalise::Year => "year",
            Generalise::Commune => "commune",
            Generalise::Department => "department",
        }
    }

    pub fn parse(s: &str) -> Option<Generalise> {
        Generalise::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Whether a field of this type can be generalised this way.
    pub fn applies_to(self, field_type: FieldType) -> bool {
        match self {
            Generalise::YearMonth => matches!(field_type, FieldType::Date | FieldType::DateTime),
            Generalise::Year => matches!(
                field_type,
                FieldType::Date | FieldType::DateTime | FieldType::YearMonth
            ),
            Generalise::Commune | Generalise::Department => {
                matches!(field_type, FieldType::String | FieldType::Any)
            }
        }
    }

    /// The type of the generalised field.
    pub fn output_type(self) -> FieldType {
        match self {
            Generalise::YearMonth => FieldType::YearMonth,
            Generalise::Year => FieldType::Year,
            Generalise::Commune | Generalise::Department => FieldType::String,
        }
    }

    /// Whether generalised values differ from the originals beyond their
    /// spelling (so the field cannot be part of a key).
    pub fn coarsens(self) -> bool {
        !matches!(self, Generalise::Commune)
    }
}

impl fmt::Display for Generalise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the producer's tool does to a field (`hdh:pseudonymisation`); see
/// the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "role",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Pseudonymisation {
    /// Replaced by the level-1 pseudonym of its normalised value and those
    /// of the `with` fields.
    Identifier {
        normalise: Normalise,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        with: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provisional_flag: Option<String>,
    },
    /// A direct identifier: usable in `with`, dropped from the output.
    Direct {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        normalise: Option<Normalise>,
    },
    /// Kept, coarsened.
    QuasiIdentifier { generalise: Generalise },
}

impl Pseudonymisation {
    pub fn role(&self) -> &'static str {
        match self {
            Pseudonymisation::Identifier { .. } => "identifier",
            Pseudonymisation::Direct { .. } => "direct",
            Pseudonymisation::QuasiIdentifier { .. } => "quasi-identifier",
        }
    }
}

/// One value that goes into a level-1 pseudonym.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymPart {
    /// Index of the input field.
    pub field: usize,
    pub normalise: Normalise,
    /// The input field's `format` (dates).
    pub format: Option<String>,
}

/// How one column of the published table is computed from the input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// The input field at this index, unchanged.
    Keep(usize),
    /// The level-1 pseudonym of `parts` (the first is the field itself).
    Pseudonym {
        field: usize,
        parts: Vec<PseudonymPart>,
    },
    /// Whether the NIR of input field `field` is a temporary one.
    ProvisionalFlag { field: usize },
    /// The input field, coarsened.
    Generalise {
        field: usize,
        generalise: Generalise,
    },
}

/// A column of the published table (see [`TableSchema::pseudonymisation_plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    pub name: String,
    pub source: ColumnSource,
}

/// Field constraints. `minimum`, `maximum` and `enum_values` hold canonical
/// strings of the field's type (see [`lexical`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraints {
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<String>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Frictionless `format`; `None` for `"default"`. For date and datetime
    /// fields, a strftime-style pattern (e.g. SNDS `%d%m%Y`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Name of the nomenclature (code list) the values belong to; `"-"` and
    /// `""` in the document mean none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nomenclature: Option<String>,
    #[serde(
        rename = "hdh:identifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub identifier: Option<IdentifierKind>,
    /// Boolean fields only: the lexical forms of true (Frictionless
    /// `trueValues`); `None` = the default `true`, `True`, `TRUE`, `1`.
    #[serde(
        rename = "trueValues",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub true_values: Option<Vec<String>>,
    /// Boolean fields only: `falseValues`; `None` = `false`, `False`, `FALSE`, `0`.
    #[serde(
        rename = "falseValues",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub false_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    /// `hdh:pseudonymisation`: what the producer's tool does to the field.
    #[serde(
        rename = "hdh:pseudonymisation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pseudonymisation: Option<Pseudonymisation>,
}

impl Field {
    /// A field of the given type with no other property.
    pub fn new(name: impl Into<String>, field_type: FieldType) -> Field {
        Field {
            name: name.into(),
            field_type,
            title: None,
            description: None,
            format: None,
            unit: None,
            nomenclature: None,
            identifier: None,
            true_values: None,
            false_values: None,
            constraints: Constraints::default(),
            pseudonymisation: None,
        }
    }

    pub fn is_person_identifier(&self) -> bool {
        self.identifier == Some(IdentifierKind::Person)
    }

    /// Whether values of this field must never be shown in messages: a
    /// person identifier or a field with a pseudonymisation role.
    pub fn is_withheld(&self) -> bool {
        self.is_person_identifier() || self.pseudonymisation.is_some()
    }

    /// How this field is normalised when it is part of a pseudonym: its
    /// declared `normalise`, else a date as a date, else as a code.
    pub fn part_normalise(&self) -> Normalise {
        match &self.pseudonymisation {
            Some(Pseudonymisation::Identifier { normalise, .. })
            | Some(Pseudonymisation::Direct {
                normalise: Some(normalise),
            }) => *normalise,
            _ if self.field_type == FieldType::Date => Normalise::Date,
            _ => Normalise::Code,
        }
    }
}

/// The table a foreign key points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyReference {
    /// The referenced table; `""` means this table (self-reference).
    pub resource: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub fields: Vec<String>,
    pub reference: ForeignKeyReference,
}

/// A validated table schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSchema {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub fields: Vec<Field>,
    #[serde(rename = "primaryKey", skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    #[serde(rename = "foreignKeys", skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// Lexical forms read as null (Frictionless `missingValues`; default `[""]`).
    #[serde(rename = "missingValues")]
    pub missing_values: Vec<String>,
    #[serde(rename = "hdh:periodField", skip_serializing_if = "Option::is_none")]
    pub period_field: Option<String>,
}

/// Deserialising goes through [`TableSchema::from_json_value`], so a stored
/// schema is validated again when read back.
impl<'de> Deserialize<'de> for TableSchema {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        TableSchema::from_json_value(&value).map_err(serde::de::Error::custom)
    }
}

impl TableSchema {
    /// Parses and validates a Table Schema document.
    pub fn from_json(bytes: &[u8]) -> Result<TableSchema, SchemaError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            SchemaError::Syntax {
                line: e.line(),
                column: e.column(),
                message,
            }
        })?;
        TableSchema::from_json_value(&value)
    }

    /// Validates an already-parsed Table Schema document.
    pub fn from_json_value(value: &Value) -> Result<TableSchema, SchemaError> {
        parse_table(value)
    }

    /// Serialises the schema as a Frictionless Table Schema document that
    /// [`TableSchema::from_json`] reads back to an equal value.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, booleans, integers and enums to a
        // `String` cannot fail.
        serde_json::to_string_pretty(self).expect("TableSchema serialisation is infallible")
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The fields marked `"hdh:identifier": "person"`, in schema order.
    pub fn person_fields(&self) -> Vec<&Field> {
        self.fields
            .iter()
            .filter(|f| f.is_person_identifier())
            .collect()
    }

    /// Whether a field must hold a value: `constraints.required`, or part of
    /// the primary key (Frictionless: primary key fields are implicitly
    /// required). `false` for unknown names.
    pub fn is_required(&self, name: &str) -> bool {
        self.field(name)
            .is_some_and(|f| f.constraints.required || self.primary_key.iter().any(|k| k == name))
    }

    /// Whether any field has an `hdh:pseudonymisation` property.
    pub fn has_pseudonymisation(&self) -> bool {
        self.fields.iter().any(|f| f.pseudonymisation.is_some())
    }

    /// The columns of the published table (those of [`TableSchema::published`],
    /// in order) and how each is computed from the input fields.
    pub fn pseudonymisation_plan(&self) -> Vec<OutputColumn> {
        let mut out = Vec::with_capacity(self.fields.len());
        for (i, f) in self.fields.iter().enumerate() {
            match &f.pseudonymisation {
                None => out.push(OutputColumn {
                    name: f.name.clone(),
                    source: ColumnSource::Keep(i),
                }),
                Some(Pseudonymisation::Direct { .. }) => {}
                Some(Pseudonymisation::QuasiIdentifier { generalise }) => out.push(OutputColumn {
                    name: f.name.clone(),
                    source: ColumnSource::Generalise {
                        field: i,
                        generalise: *generalise,
                    },
                }),
                Some(Pseudonymisation::Identifier {
                    with,
                    provisional_flag,
                    ..
                }) => {
                    let part = |j: usize, g: &Field| PseudonymPart {
                        field: j,
                        normalise: g.part_normalise(),
                        format: g.format.clone(),
                    };
                    let mut parts = vec![part(i, f)];
                    // Parsing checked that every `with` field exists.
                    parts.extend(
                        with.iter()
                            .filter_map(|w| self.field_index(w).map(|j| part(j, &self.fields[j]))),
                    );
                    out.push(OutputColumn {
                        name: f.name.clone(),
                        source: ColumnSource::Pseudonym { field: i, parts },
                    });
                    if let Some(flag) = provisional_flag {
                        out.push(OutputColumn {
                            name: flag.clone(),
                            source: ColumnSource::ProvisionalFlag { field: i },
                        });
                    }
                }
            }
        }
        out
    }

    /// The schema of the table the hub receives: direct identifiers removed;
    /// identifiers become `string` person identifiers holding a pseudonym
    /// (constraints: `required` if it was, and [`PSEUDONYM_PATTERN`]);
    /// quasi-identifiers take their generalised type (constraints: `required`
    /// if it was); provisional flags (`boolean`) follow their identifier; no
    /// `hdh:pseudonymisation` property is left. Keys, missing values and the
    /// period field are kept (parsing refused the schemas where they would
    /// name a dropped or coarsened field). A schema without pseudonymisation
    /// properties is its own published schema.
    pub fn published(&self) -> TableSchema {
        let mut fields = Vec::with_capacity(self.fields.len() + 1);
        for f in &self.fields {
            match &f.pseudonymisation {
                None => fields.push(f.clone()),
                Some(Pseudonymisation::Direct { .. }) => {}
                Some(Pseudonymisation::QuasiIdentifier { generalise }) => {
                    let mut g = Field::new(f.name.clone(), generalise.output_type());
                    g.title = f.title.clone();
                    g.description = f.description.clone();
                    g.identifier = f.identifier;
                    if *generalise == Generalise::Commune {
                        g.nomenclature = f.nomenclature.clone();
                    }
                    g.constraints.required = f.constraints.required;
                    fields.push(g);
                }
                Some(Pseudonymisation::Identifier {
                    provisional_flag, ..
                }) => {
                    let mut p = Field::new(f.name.clone(), FieldType::String);
                    p.title = f.title.clone();
                    p.description = f.description.clone();
                    p.identifier = Some(IdentifierKind::Person);
                    p.constraints.required = f.constraints.required;
                    p.constraints.pattern = Some(PSEUDONYM_PATTERN.to_owned());
                    fields.push(p);
                    if let Some(flag) = provisional_flag {
                        let mut b = Field::new(flag.clone(), FieldType::Boolean);
                        b.description = Some(format!(
                            "true when {} was a temporary (provisional) NIR",
                            f.name
                        ));
                        b.constraints.required = self.is_required(&f.name);
                        fields.push(b);
                    }
                }
            }
        }
        TableSchema {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            fields,
            primary_key: self.primary_key.clone(),
            foreign_keys: self.foreign_keys.clone(),
            missing_values: self.missing_values.clone(),
            period_field: self.period_field.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer under construction.
#[derive(Clone)]
struct Ptr(String);

impl Ptr {
    fn root() -> Ptr {
        Ptr(String::new())
    }
    fn key(&self, key: &str) -> Ptr {
        Ptr(format!("{}/{}", self.0, escape_token(key)))
    }
    fn idx(&self, index: usize) -> Ptr {
        Ptr(format!("{}/{index}", self.0))
    }
    fn err(&self, message: impl Into<String>) -> SchemaError {
        SchemaError::Invalid {
            pointer: self.0.clone(),
            message: message.into(),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A property, with JSON `null` treated as absent.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    at: &Ptr,
) -> Result<Option<String>, SchemaError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(at
            .key(key)
            .err(format!("expected a string, found {}", kind(other)))),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, at: &Ptr) -> Result<bool, SchemaError> {
    match get(obj, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(at
            .key(key)
            .err(format!("expected a boolean, found {}", kind(other)))),
    }
}

fn opt_length(obj: &Map<String, Value>, key: &str, at: &Ptr) -> Result<Option<u64>, SchemaError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            at.key(key)
                .err(format!("expected a non-negative integer, found {n}"))
        }),
        Some(other) => Err(at.key(key).err(format!(
            "expected a non-negative integer, found {}",
            kind(other)
        ))),
    }
}

fn string_list(value: &Value, at: &Ptr) -> Result<Vec<String>, SchemaError> {
    let Value::Array(items) = value else {
        return Err(at.err(format!(
            "expected an array of strings, found {}",
            kind(value)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(at
                .idx(i)
                .err(format!("expected a string, found {}", kind(other)))),
        })
        .collect()
}

/// A list of field names: a string or an array of strings (Frictionless
/// allows both in `primaryKey` and `foreignKeys`). Returns the names with the
/// pointer of each.
fn name_list(value: &Value, at: &Ptr) -> Result<Vec<(String, Ptr)>, SchemaError> {
    match value {
        Value::String(s) => Ok(vec![(s.clone(), at.clone())]),
        Value::Array(_) => Ok(string_list(value, at)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s, at.idx(i)))
            .collect()),
        other => Err(at.err(format!(
            "expected a field name or an array of field names, found {}",
            kind(other)
        ))),
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 50;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{:?}", format!("{head}…"))
    }
}

fn parse_table(value: &Value) -> Result<TableSchema, SchemaError> {
    let root = Ptr::root();
    let Value::Object(obj) = value else {
        return Err(root.err(format!(
            "a table schema must be a JSON object, found {}",
            kind(value)
        )));
    };

    let name = match get(obj, "name") {
        None => return Err(root.key("name").err("the table name is missing")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(root
                .key("name")
                .err(format!("expected a string, found {}", kind(other))));
        }
    };
    if !is_safe_identifier(&name) {
        return Err(root.key("name").err(format!(
            "table name {} is not a safe identifier ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_NAME_LEN} characters)",
            truncate(&name)
        )));
    }
    let title = opt_string(obj, "title", &root)?;
    let description = opt_string(obj, "description", &root)?;

    let fields_at = root.key("fields");
    let fields_json = match get(obj, "fields") {
        None => return Err(fields_at.err("the list of fields is missing")),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(fields_at.err(format!("expected an array, found {}", kind(other))));
        }
    };
    if fields_json.is_empty() {
        return Err(fields_at.err("a table must have at least one field"));
    }
    let mut fields = Vec::with_capacity(fields_json.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, fv) in fields_json.iter().enumerate() {
        let at = fields_at.idx(i);
        let field = parse_field(fv, &at)?;
        if let Some(first) = seen.insert(field.name.clone(), i) {
            return Err(at.key("name").err(format!(
                "duplicate field name {:?} (also /fields/{first})",
                field.name
            )));
        }
        fields.push(field);
    }
    let index_of = |name: &str| seen.get(name).copied();

    let mut primary_key = Vec::new();
    if let Some(pk) = get(obj, "primaryKey") {
        let at = root.key("primaryKey");
        for (key, key_at) in name_list(pk, &at)? {
            if index_of(&key).is_none() {
                return Err(key_at.err(format!("unknown field {}", truncate(&key))));
            }
            if primary_key.contains(&key) {
                return Err(key_at.err(format!("field {key:?} appears twice in the primary key")));
            }
            primary_key.push(key);
        }
    }

    let mut foreign_keys = Vec::new();
    if let Some(fks) = get(obj, "foreignKeys") {
        let at = root.key("foreignKeys");
        let Value::Array(items) = fks else {
            return Err(at.err(format!("expected an array, found {}", kind(fks))));
        };
        for (i, fk) in items.iter().enumerate() {
            foreign_keys.push(parse_foreign_key(fk, &at.idx(i), &index_of)?);
        }
    }

    let missing_values = match get(obj, "missingValues") {
        None => vec![String::new()],
        Some(v) => string_list(v, &root.key("missingValues"))?,
    };

    let period_field = opt_string(obj, "hdh:periodField", &root)?;
    if let Some(period) = &period_field {
        let at = root.key("hdh:periodField");
        let Some(i) = index_of(period) else {
            return Err(at.err(format!("unknown field {}", truncate(period))));
        };
        let t = fields[i].field_type;
        if !matches!(t, FieldType::Date | FieldType::DateTime) {
            return Err(at.err(format!(
                "the period field {period:?} has type {t}; it must be a date or datetime field"
            )));
        }
    }

    check_pseudonymisation(
        &fields,
        &primary_key,
        &foreign_keys,
        period_field.as_deref(),
        obj,
    )?;

    Ok(TableSchema {
        name,
        title,
        description,
        fields,
        primary_key,
        foreign_keys,
        missing_values,
        period_field,
    })
}

fn parse_foreign_key(
    value: &Value,
    at: &Ptr,
    index_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<ForeignKey, SchemaError> {
    let Value::Object(obj) = value else {
        return Err(at.err(format!("expected an object, found {}", kind(value))));
    };
    let fields_at = at.key("fields");
    let Some(fields_json) = get(obj, "fields") else {
        return Err(fields_at.err("the foreign key fields are missing"));
    };
    let fields = name_list(fields_json, &fields_at)?;
    if fields.is_empty() {
        return Err(fields_at.err("a foreign key needs at least one field"));
    }
    for (f, f_at) in &fields {
        if index_of(f).is_none() {
            return Err(f_at.err(format!("unknown field {}", truncate(f))));
        }
    }
    let ref_at = at.key("reference");
    let reference = match get(obj, "reference") {
        None => return Err(ref_at.err("the foreign key reference is missing")),
        Some(Value::Object(r)) => r,
        Some(other) => return Err(ref_at.err(format!("expected an object, found {}", kind(other)))),
    };
    let resource = match get(reference, "resource") {
        // Frictionless: an absent or empty resource refers to this table.
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ref_at
                .key("resource")
                .err(format!("expected a string, found {}", kind(other))));
        }
    };
    if !resource.is_empty() && !is_safe_identifier(&resource) {
        return Err(ref_at.key("resource").err(format!(
            "table name {} is not a safe identifier",
            truncate(&resource)
        )));
    }
    let ref_fields_at = ref_at.key("fields");
    let Some(ref_fields_json) = get(reference, "fields") else {
        return Err(ref_fields_at.err("the referenced fields are missing"));
    };
    let ref_fields = name_list(ref_fields_json, &ref_fields_at)?;
    if ref_fields.len() != fields.len() {
        return Err(ref_fields_at.err(format!(
            "{} referenced field(s) for {} field(s)",
            ref_fields.len(),
            fields.len()
        )));
    }
    for (f, f_at) in &ref_fields {
        if !is_safe_identifier(f) {
            return Err(f_at.err(format!(
                "field name {} is not a safe identifier",
                truncate(f)
            )));
        }
        if resource.is_empty() && index_of(f).is_none() {
            return Err(f_at.err(format!("unknown field {}", truncate(f))));
        }
    }
    Ok(ForeignKey {
        fields: fields.into_iter().map(|(f, _)| f).collect(),
        reference: ForeignKeyReference {
            resource,
            fields: ref_fields.into_iter().map(|(f, _)| f).collect(),
        },
    })
}

fn parse_field(value: &Value, at: &Ptr) -> Result<Field, SchemaError> {
    let Value::Object(obj) = value else {
        return Err(at.err(format!("a field must be an object, found {}", kind(value))));
    };
    let name = match get(obj, "name") {
        None => return Err(at.key("name").err("the field name is missing")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(at
                .key("name")
                .err(format!("expected a string, found {}", kind(other))));
        }
    };
    if !is_safe_identifier(&name) {
        return Err(at.key("name").err(format!(
            "field name {} is not a safe identifier ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_NAME_LEN} characters)",
            truncate(&name)
        )));
    }
    // Frictionless (v1): a field without a type is a string.
    let field_type = match opt_string(obj, "type", at)? {
        None => FieldType::String,
        Some(t) => FieldType::parse(&t).ok_or_else(|| {
            at.key("type").err(format!(
                "unknown type {} (expected one of {})",
                truncate(&t),
                FieldType::ALL.map(FieldType::as_str).join(", ")
            ))
        })?,
    };
    let title = opt_string(obj, "title", at)?;
    let description = opt_string(obj, "description", at)?;
    let format = opt_string(obj, "format", at)?.filter(|f| !f.is_empty() && f != "default");
    let unit = opt_string(obj, "unit", at)?;
    let nomenclature = opt_string(obj, "nomenclature", at)?.filter(|n| !n.is_empty() && n != "-");
    let identifier = match opt_string(obj, "hdh:identifier", at)? {
        None => None,
        Some(k) => Some(IdentifierKind::parse(&k).ok_or_else(|| {
            at.key("hdh:identifier").err(format!(
                "unknown identifier kind {} (expected one of {})",
                truncate(&k),
                IdentifierKind::ALL.map(IdentifierKind::as_str).join(", ")
            ))
        })?),
    };
    let bool_values = |key: &str| -> Result<Option<Vec<String>>, SchemaError> {
        let Some(v) = get(obj, key) else {
            return Ok(None);
        };
        let key_at = at.key(key);
        if field_type != FieldType::Boolean {
            return Err(key_at.err(format!("{key} only applies to boolean fields")));
        }
        let values = string_list(v, &key_at)?;
        if values.is_empty() {
            return Err(key_at.err(format!("{key} must not be empty")));
        }
        Ok(Some(values))
    };
    let true_values = bool_values("trueValues")?;
    let false_values = bool_values("falseValues")?;
    let constraints = match get(obj, "constraints") {
        None => Constraints::default(),
        Some(c) => parse_constraints(c, field_type, &at.key("constraints"))?,
    };
    let pseudonymisation = match get(obj, "hdh:pseudonymisation") {
        None => None,
        Some(p) => Some(parse_pseudonymisation(
            p,
            field_type,
            &name,
            &at.key("hdh:pseudonymisation"),
        )?),
    };
    Ok(Field {
        name,
        field_type,
        title,
        description,
        format,
        unit,
        nomenclature,
        identifier,
        true_values,
        false_values,
        constraints,
        pseudonymisation,
    })
}

/// The field-local part of `hdh:pseudonymisation` (cross-field checks are in
/// [`check_pseudonymisation`]).
fn parse_pseudonymisation(
    value: &Value,
    field_type: FieldType,
    field_name: &str,
    at: &Ptr,
) -> Result<Pseudonymisation, SchemaError> {
    let Value::Object(obj) = value else {
        return Err(at.err(format!("expected an object, found {}", kind(value))));
    };
    let role = match get(obj, "role") {
        None => {
            return Err(at
                .key("role")
                .err("the role is missing (identifier, direct or quasi-identifier)"));
        }
        Some(Value::String(r)) => r.as_str(),
        Some(other) => {
            return Err(at
                .key("role")
                .err(format!("expected a string, found {}", kind(other))));
        }
    };
    let allowed: &[&str] = match role {
        "identifier" => &["role", "normalise", "with", "provisionalFlag"],
        "direct" => &["role", "normalise"],
        "quasi-identifier" => &["role", "generalise"],
        other => {
            return Err(at.key("role").err(format!(
                "unknown role {} (expected identifier, direct or quasi-identifier)",
                truncate(other)
            )));
        }
    };
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(at.key(key).err(format!(
                "unknown property {} for role {role} (expected {})",
                truncate(key),
                allowed.join(", ")
            )));
        }
    }
    let normalise = |required: bool| -> Result<Option<Normalise>, SchemaError> {
        let key_at = at.key("normalise");
        let Some(n) = opt_string(obj, "normalise", at)? else {
            return if required {
                Err(key_at.err(format!(
                    "an identifier needs a normalisation (one of {})",
                    Normalise::ALL.map(Normalise::as_str).join(", ")
                )))
            } else {
                Ok(None)
            };
        };
        let n = Normalise::parse(&n).ok_or_else(|| {
            key_at.err(format!(
                "unknown normalisation {} (expected one of {})",
                truncate(&n),
                Normalise::ALL.map(Normalise::as_str).join(", ")
            ))
        })?;
        if !n.applies_to(field_type) {
            return Err(key_at.err(format!(
                "normalisation {n} does not apply to {field_type} fields"
            )));
        }
        Ok(Some(n))
    };
    match role {
        "identifier" => {
            let Some(norm) = normalise(true)? else {
                return Err(at.key("normalise").err("missing"));
            };
            let with = match get(obj, "with") {
                None => Vec::new(),
                Some(v) => {
                    let with_at = at.key("with");
                    let names = string_list(v, &with_at)?;
                    for (i, w) in names.iter().enumerate() {
                        if w == field_name {
                            return Err(with_at
                                .idx(i)
                                .err("an identifier cannot be combined with itself"));
                        }
                        if names[..i].contains(w) {
                            return Err(with_at
                                .idx(i)
                                .err(format!("field {} is listed twice", truncate(w))));
                        }
                    }
                    names
                }
            };
            let provisional_flag = opt_string(obj, "provisionalFlag", at)?;
            if let Some(flag) = &provisional_flag {
                let flag_at = at.key("provisionalFlag");
                if norm != Normalise::Nir {
                    return Err(flag_at.err("a provisional flag only applies to a nir identifier"));
                }
                if !is_safe_identifier(flag) {
                    return Err(flag_at.err(format!(
                        "field name {} is not a safe identifier",
                        truncate(flag)
                    )));
                }
            }
            Ok(Pseudonymisation::Identifier {
                normalise: norm,
                with,
                provisional_flag,
            })
        }
        "direct" => Ok(Pseudonymisation::Direct {
            normalise: normalise(false)?,
        }),
        _ => {
            let key_at = at.key("generalise");
            let g = match opt_string(obj, "generalise", at)? {
                None => {
                    return Err(key_at.err(format!(
                        "a quasi-identifier needs a generalisation (one of {})",
                        Generalise::ALL.map(Generalise::as_str).join(", ")
                    )));
                }
                Some(g) => Generalise::parse(&g).ok_or_else(|| {
                    key_at.err(format!(
                        "unknown generalisation {} (expected one of {})",
                        truncate(&g),
                        Generalise::ALL.map(Generalise::as_str).join(", ")
                    ))
                })?,
            };
            if !g.applies_to(field_type) {
                return Err(key_at.err(format!(
                    "generalisation {g} does not apply to {field_type} fields"
                )));
            }
            Ok(Pseudonymisation::QuasiIdentifier { generalise: g })
        }
    }
}

/// Cross-field checks of `hdh:pseudonymisation`: `with` fields exist and can
/// be normalised; flags are new, unique names; keys and the period field name
/// neither a dropped field nor a coarsened one.
fn check_pseudonymisation(
    fields: &[Field],
    primary_key: &[String],
    foreign_keys: &[ForeignKey],
    period_field: Option<&str>,
    obj: &Map<String, Value>,
) -> Result<(), SchemaError> {
    let root = Ptr::root();
    let fields_at = root.key("fields");
    let index_of = |name: &str| fields.iter().position(|f| f.name == name);
    let mut flags: HashMap<&str, usize> = HashMap::new();
    for (i, f) in fields.iter().enumerate() {
        let at = fields_at.idx(i).key("hdh:pseudonymisation");
        let Some(Pseudonymisation::Identifier {
            with,
            provisional_flag,
            ..
        }) = &f.pseudonymisation
        else {
            continue;
        };
        for (k, w) in with.iter().enumerate() {
            let Some(j) = index_of(w) else {
                return Err(at
                    .key("with")
                    .idx(k)
                    .err(format!("unknown field {}", truncate(w))));
            };
            let g = &fields[j];
            let n = g.part_normalise();
            if !n.applies_to(g.field_type) {
                return Err(at.key("with").idx(k).err(format!(
                    "field {w:?} ({}) cannot be normalised as {n}: declare its normalisation",
                    g.field_type
                )));
            }
        }
        if let Some(flag) = provisional_flag {
            let flag_at = at.key("provisionalFlag");
            if index_of(flag).is_some() {
                return Err(flag_at.err(format!(
                    "the flag {flag:?} has the name of a field of the table"
                )));
            }
            if let Some(first) = flags.insert(flag.as_str(), i) {
                return Err(flag_at.err(format!(
                    "the flag {flag:?} is also the flag of /fields/{first}"
                )));
            }
        }
    }
    // Why a field may not be named by a key or the period field, if so.
    let unusable = |name: &str| -> Option<&'static str> {
        match &index_of(name).map(|i| &fields[i])?.pseudonymisation {
            Some(Pseudonymisation::Direct { .. }) => {
                Some("is a direct identifier, dropped before delivery")
            }
            Some(Pseudonymisation::QuasiIdentifier { generalise }) if generalise.coarsens() => {
                Some("is a quasi-identifier whose values are coarsened before delivery")
            }
            _ => None,
        }
    };
    let complain = |at: Ptr, name: &str, why: &str| at.err(format!("field {name:?} {why}"));
    for (k, key) in primary_key.iter().enumerate() {
        if let Some(why) = unusable(key) {
            let at = match get(obj, "primaryKey") {
                Some(Value::Array(_)) => root.key("primaryKey").idx(k),
                _ => root.key("primaryKey"),
            };
            return Err(complain(at, key, why));
        }
    }
    let fks_json = match get(obj, "foreignKeys") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    for (k, fk) in foreign_keys.iter().enumerate() {
        let fk_json = fks_json.get(k);
        let list_at = |base: Ptr, json: Option<&Value>, idx: usize| match json {
            Some(Value::Array(_)) => base.idx(idx),
            _ => base,
        };
        let fk_at = root.key("foreignKeys").idx(k);
        for (j, name) in fk.fields.iter().enumerate() {
            if let Some(why) = unusable(name) {
                let json = fk_json.and_then(|v| v.get("fields"));
                return Err(complain(list_at(fk_at.key("fields"), json, j), name, why));
            }
        }
        if fk.reference.resource.is_empty() {
            for (j, name) in fk.reference.fields.iter().enumerate() {
                if let Some(why) = unusable(name) {
                    let json = fk_json
                        .and_then(|v| v.get("reference"))
                        .and_then(|r| r.get("fields"));
                    let at = list_at(fk_at.key("reference").key("fields"), json, j);
                    return Err(complain(at, name, why));
                }
            }
        }
    }
    if let Some(period) = period_field {
        let period_at = root.key("hdh:periodField");
        if let Some(why) = unusable(period) {
            return Err(complain(period_at, period, why));
        }
        if let Some(i) = index_of(period)
            && matches!(
                fields[i].pseudonymisation,
                Some(Pseudonymisation::Identifier { .. })
            )
        {
            return Err(complain(
                period_at,
                period,
                "is an identifier, replaced by a pseudonym before delivery",
            ));
        }
    }
    Ok(())
}

/// A constraint value (`enum` member, `minimum`, `maximum`) as canonical
/// string. Values may be written as JSON values of the type (numbers for
/// integer/number/year, booleans for boolean) or as strings in the lexical
/// form of the type.
fn constraint_value(value: &Value, field_type: FieldType, at: &Ptr) -> Result<String, SchemaError> {
    let bad = |shown: &str| {
        at.err(format!(
            "{} is not a valid {field_type} value",
            if shown.is_empty() { "\"\"" } else { shown }
        ))
    };
    match (value, field_type) {
        (Value::String(s), _) => field_type.canonicalize(s).ok_or_else(|| bad(&truncate(s))),
        (Value::Number(n), FieldType::Integer | FieldType::Year) => n
            .as_i64()
            .map(|i| i.to_string())
            .ok_or_else(|| bad(&n.to_string())),
        (Value::Number(n), FieldType::Number) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(lexical::canonical_number)
            .ok_or_else(|| bad(&n.to_string())),
        (Value::Bool(b), FieldType::Boolean) => Ok(b.to_string()),
        (other, _) => Err(at.err(format!(
            "expected a {field_type} value, found {}",
            kind(other)
        ))),
    }
}

fn parse_constraints(
    value: &Value,
    field_type: FieldType,
    at: &Ptr,
) -> Result<Constraints, SchemaError> {
    let Value::Object(obj) = value else {
        return Err(at.err(format!("expected an object, found {}", kind(value))));
    };
    let required = opt_bool(obj, "required", at)?;
    let unique = opt_bool(obj, "unique", at)?;
    let min_length = opt_length(obj, "minLength", at)?;
    let max_length = opt_length(obj, "maxLength", at)?;
    if let (Some(min), Some(max)) = (min_length, max_length)
        && min > max
    {
        return Err(at
            .key("minLength")
            .err(format!("minLength {min} is greater than maxLength {max}")));
    }
    let bound = |key: &str| -> Result<Option<String>, SchemaError> {
        let Some(v) = get(obj, key) else {
            return Ok(None);
        };
        if !field_type.is_ordered() {
            return Err(at
                .key(key)
                .err(format!("{key} does not apply to {field_type} fields")));
        }
        constraint_value(v, field_type, &at.key(key)).map(Some)
    };
    let minimum = bound("minimum")?;
    let maximum = bound("maximum")?;
    if let (Some(min), Some(max)) = (&minimum, &maximum)
        && lexical::compare(field_type, min, max) == Some(std::cmp::Ordering::Greater)
    {
        return Err(at
            .key("minimum")
            .err(format!("minimum {min} is greater than maximum {max}")));
    }
    let pattern = opt_string(obj, "pattern", at)?;
    let enum_values = match get(obj, "enum") {
        None => None,
        Some(Value::Array(items)) => {
            let enum_at = at.key("enum");
            if items.is_empty() {
                return Err(enum_at.err("enum must list at least one value"));
            }
            let values = items
                .iter()
                .enumerate()
                .map(|(i, v)| constraint_value(v, field_type, &enum_at.idx(i)))
                .collect::<Result<Vec<_>, _>>()?;
            Some(values)
        }
        Some(other) => {
            return Err(at
                .key("enum")
                .err(format!("expected an array, found {}", kind(other))));
        }
    };
    Ok(Constraints {
        required,
        unique,
        min_length,
        max_length,
        minimum,
        maximum,
        pattern,
        enum_values,
    })
}

/// Lexical forms of the field types, shared by schema parsing (constraint
/// values) and ingestion (cells) so that both agree.
///
/// Canonical forms: integer and year: decimal `i64` without `+` or leading
/// zeros; number: Rust's shortest round-trip `f64` display (finite only);
/// boolean: `true`/`false`; date: `YYYY-MM-DD`; datetime: UTC
/// `YYYY-MM-DDTHH:MM:SS[.fff]`; yearmonth: `YYYY-MM`; string and any: as is.
pub mod lexical {
    use std::cmp::Ordering;

    use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

    use super::FieldType;

    /// A decimal integer (optional sign, ASCII digits).
    pub fn parse_integer(s: &str) -> Option<i64> {
        s.parse().ok()
    }

    /// A finite decimal number (`1`, `-2.5`, `1e3`); `NaN` and infinities are
    /// refused.
    pub fn parse_number(s: &str) -> Option<f64> {
        // Only digits, sign, point and exponent: refuses "inf", "NaN", "infinity".
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            return None;
        }
        s.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    pub fn canonical_number(f: f64) -> String {
        // Normalise -0 to 0 so that equal numbers have equal forms.
        if f == 0.0 {
            "0".to_owned()
        } else {
            f.to_string()
        }
    }

    /// Frictionless default lexical booleans.
    pub const DEFAULT_TRUE_VALUES: [&str; 4] = ["true", "True", "TRUE", "1"];
    pub const DEFAULT_FALSE_VALUES: [&str; 4] = ["false", "False", "FALSE", "0"];

    pub fn parse_boolean(s: &str) -> Option<bool> {
        if DEFAULT_TRUE_VALUES.contains(&s) {
            Some(true)
        } else if DEFAULT_FALSE_VALUES.contains(&s) {
            Some(false)
        } else {
            None
        }
    }

    fn digits(b: &[u8]) -> Option<u32> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
    }

    /// An ISO 8601 calendar date, exactly `YYYY-MM-DD`.
    pub fn parse_date(s: &str) -> Option<NaiveDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = i32::try_from(digits(&b[0..4])?).ok()?;
        NaiveDate::from_ymd_opt(y, digits(&b[5..7])?, digits(&b[8..10])?)
    }

    /// RFC 3339 (`2020-01-31T12:30:00Z`, `2020-01-31T12:30:00.5+01:00`,
    /// converted to UTC) or a zone-less `YYYY-MM-DD HH:MM:SS[.fff]` /
    /// `YYYY-MM-DDTHH:MM:SS[.fff]` (taken as UTC).
    pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
        let b = s.as_bytes();
        if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = parse_date(s.get(0..10)?)?;
        let (h, m, sec) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let Some((b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return None;
            }
            nanos = digits(&frac[..n])? * 10u32.pow(9 - n as u32);
            rest = &frac[n..];
        }
        let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
        let naive = date.and_time(time);
        let offset_minutes: i64 = match rest {
            [] | [b'Z'] | [b'z'] => 0,
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                let oh = i64::from(digits(&[*oh1, *oh2])?);
                let om = i64::from(digits(&[*om1, *om2])?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let total = oh * 60 + om;
                if *sign == b'-' { -total } else { total }
            }
            _ => return None,
        };
        naive.checked_sub_signed(TimeDelta::try_minutes(offset_minutes)?)
    }

    pub fn canonical_datetime(dt: NaiveDateTime) -> String {
        dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
    }

    /// `YYYY-MM` or `YYYYMM`; returns (year, month 1–12).
    pub fn parse_year_month(s: &str) -> Option<(i32, u32)> {
        let b = s.as_bytes();
        let (y, m) = match b.len() {
            7 if b[4] == b'-' => (&b[0..4], &b[5..7]),
            6 => (&b[0..4], &b[4..6]),
            _ => return None,
        };
        let (y, m) = (digits(y)?, digits(m)?);
        if !(1..=12).contains(&m) {
            return None;
        }
        Some((i32::try_from(y).ok()?, m))
    }

    pub fn canonical_year_month(year: i32, month: u32) -> String {
        format!("{year:04}-{month:02}")
    }

    /// Months since year 0, for ordering year-months.
    pub fn year_month_index(year: i32, month: u32) -> i64 {
        i64::from(year) * 12 + i64::from(month) - 1
    }

    /// Days since 1970-01-01 (Arrow `Date32`).
    pub fn epoch_days(date: NaiveDate) -> i32 {
        date.num_days_from_ce() - 719_163
    }

    /// Orders two values of an ordered type given in any accepted lexical
    /// form; `None` if either does not parse or the type is unordered.
    pub fn compare(field_type: FieldType, a: &str, b: &str) -> Option<Ordering> {
        match field_type {
            FieldType::Integer | FieldType::Year => Some(parse_integer(a)?.cmp(&parse_integer(b)?)),
            FieldType::Number => parse_number(a)?.partial_cmp(&parse_number(b)?),
            FieldType::Date => Some(parse_date(a)?.cmp(&parse_date(b)?)),
            FieldType::DateTime => Some(parse_datetime(a)?.cmp(&parse_datetime(b)?)),
            FieldType::YearMonth => {
                let (ay, am) = parse_year_month(a)?;
                let (by, bm) = parse_year_month(b)?;
                Some((ay, am).cmp(&(by, bm)))
            }
            FieldType::String | FieldType::Boolean | FieldType::Any => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn example() -> &'static str {
        r#"{ "name": "ER_PRS_F", "title": "Prestations", "description": "Une ligne par prestation",
          "fields": [
            { "name": "BEN_NIR_PSA", "type": "string", "description": "pseudo-NIR",
              "constraints": {"required": true, "minLength": 17, "maxLength": 17, "pattern": "[0-9A-F]{17}"},
              "hdh:identifier": "person" },
            { "name": "BEN_SEX_COD", "type": "integer", "nomenclature": "IR_SEX_V", "constraints": {"enum": [1, 2]} },
            { "name": "EXE_SOI_DTD", "type": "date", "format": "default" },
            { "name": "PRS_PAI_MNT", "type": "number", "unit": "EUR", "nomenclature": "-",
              "constraints": {"minimum": 0, "maximum": 1e6} },
            { "name": "FLX_DIS_DTD", "type": "datetime", "length": "8", "type_oracle": "date" },
            { "name": "PRS_ORD_NUM", "type": "year" }
          ],
          "primaryKey": ["BEN_NIR_PSA", "EXE_SOI_DTD"],
          "foreignKeys": [ {"fields": "BEN_NIR_PSA", "reference": {"resource": "IR_BEN_R", "fields": "BEN_NIR_PSA"}} ],
          "missingValues": ["", "NA"], "hdh:periodField": "EXE_SOI_DTD", "produit": "DCIR" }"#
    }

    fn invalid(json: &str) -> (String, String) {
        match TableSchema::from_json(json.as_bytes()) {
            Err(SchemaError::Invalid { pointer, message }) => (pointer, message),
            other => panic!("expected an invalid schema, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_example() {
        let s = TableSchema::from_json(example().as_bytes()).unwrap();
        assert_eq!(s.name, "ER_PRS_F");
        assert_eq!(s.title.as_deref(), Some("Prestations"));
        assert_eq!(s.fields.len(), 6);
        let nir = s.field("BEN_NIR_PSA").unwrap();
        assert!(nir.is_person_identifier());
        assert!(nir.constraints.required);
        assert_eq!(nir.constraints.min_length, Some(17));
        assert_eq!(nir.constraints.pattern.as_deref(), Some("[0-9A-F]{17}"));
        let sex = s.field("BEN_SEX_COD").unwrap();
        assert_eq!(sex.field_type, FieldType::Integer);
        assert_eq!(sex.nomenclature.as_deref(), Some("IR_SEX_V"));
        assert_eq!(
            sex.constraints.enum_values,
            Some(vec!["1".into(), "2".into()])
        );
        let mnt = s.field("PRS_PAI_MNT").unwrap();
        assert_eq!(mnt.nomenclature, None);
        assert_eq!(mnt.unit.as_deref(), Some("EUR"));
        assert_eq!(mnt.constraints.minimum.as_deref(), Some("0"));
        assert_eq!(mnt.constraints.maximum.as_deref(), Some("1000000"));
        assert_eq!(s.field("EXE_SOI_DTD").unwrap().format, None);
        assert_eq!(s.field("PRS_ORD_NUM").unwrap().field_type, FieldType::Year);
        assert_eq!(s.primary_key, vec!["BEN_NIR_PSA", "EXE_SOI_DTD"]);
        assert_eq!(s.foreign_keys.len(), 1);
        assert_eq!(s.foreign_keys[0].fields, vec!["BEN_NIR_PSA"]);
        assert_eq!(s.foreign_keys[0].reference.resource, "IR_BEN_R");
        assert_eq!(s.missing_values, vec!["", "NA"]);
        assert_eq!(s.period_field.as_deref(), Some("EXE_SOI_DTD"));
        assert_eq!(s.person_fields().len(), 1);
        assert_eq!(s.person_fields()[0].name, "BEN_NIR_PSA");
        assert!(s.is_required("EXE_SOI_DTD"));
        assert!(!s.is_required("BEN_SEX_COD"));
        assert!(s.field("NOPE").is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let s = TableSchema::from_json(example().as_bytes()).unwrap();
        let json = s.to_json();
        assert_eq!(TableSchema::from_json(json.as_bytes()).unwrap(), s);
        let via_serde: TableSchema = serde_json::from_str(&json).unwrap();
        assert_eq!(via_serde, s);
    }

    #[test]
    fn defaults() {
        let s = TableSchema::from_json(
            br#"{"name": "T", "fields": [{"name": "a"}], "primaryKey": "a"}"#,
        )
        .unwrap();
        assert_eq!(s.missing_values, vec![""]);
        assert_eq!(s.fields[0].field_type, FieldType::String);
        assert_eq!(s.primary_key, vec!["a"]);
        assert_eq!(TableSchema::from_json(s.to_json().as_bytes()).unwrap(), s);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err =
            TableSchema::from_json(b"{\n  \"name\": \"T\",\n  \"fields\": [,]\n}").unwrap_err();
        match err {
            SchemaError::Syntax { line, column, .. } => {
                assert_eq!(line, 3);
                assert_eq!(column, 14);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("JSON syntax error at line 3, column 14: "),
            "{err}"
        );
    }

    #[test]
    fn malformed_schemas_name_the_pointer() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"[]"#, "", "must be a JSON object"),
            (r#"{"fields": [{"name": "a"}]}"#, "/name", "missing"),
            (
                r#"{"name": "bad name", "fields": [{"name": "a"}]}"#,
                "/name",
                "not a safe identifier",
            ),
            (
                r#"{"name": "T", "fields": []}"#,
                "/fields",
                "at least one field",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d", "type": "strnig"}]}"#,
                "/fields/3/type",
                r#"unknown type "strnig""#,
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}, {"name": "a"}]}"#,
                "/fields/1/name",
                "duplicate",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "1a"}]}"#,
                "/fields/0/name",
                "not a safe identifier",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "primaryKey": ["a", "b"]}"#,
                "/primaryKey/1",
                "unknown field \"b\"",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "primaryKey": "b"}"#,
                "/primaryKey",
                "unknown field",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "foreignKeys": [{"fields": ["x"], "reference": {"resource": "U", "fields": ["y"]}}]}"#,
                "/foreignKeys/0/fields/0",
                "unknown field \"x\"",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "foreignKeys": [{"fields": "a", "reference": {"resource": "", "fields": "zz"}}]}"#,
                "/foreignKeys/0/reference/fields",
                "unknown field \"zz\"",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "foreignKeys": [{"fields": "a", "reference": {"resource": "U", "fields": ["p", "q"]}}]}"#,
                "/foreignKeys/0/reference/fields",
                "2 referenced field(s) for 1 field(s)",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "hdh:periodField": "b"}"#,
                "/hdh:periodField",
                "unknown field",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "hdh:periodField": "a"}"#,
                "/hdh:periodField",
                "must be a date or datetime",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "hdh:identifier": "doctor"}]}"#,
                "/fields/0/hdh:identifier",
                "unknown identifier kind \"doctor\"",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "type": "integer", "constraints": {"enum": [1, "x"]}}]}"#,
                "/fields/0/constraints/enum/1",
                "not a valid integer",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "type": "integer", "constraints": {"enum": [1.5]}}]}"#,
                "/fields/0/constraints/enum/0",
                "not a valid integer",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "type": "string", "constraints": {"enum": [1]}}]}"#,
                "/fields/0/constraints/enum/0",
                "expected a string value",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "type": "date", "constraints": {"enum": ["2020-02-30"]}}]}"#,
                "/fields/0/constraints/enum/0",
                "not a valid date",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "constraints": {"enum": []}}]}"#,
                "/fields/0/constraints/enum",
                "at least one value",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "constraints": {"minLength": 5, "maxLength": 3}}]}"#,
                "/fields/0/constraints/minLength",
                "greater than maxLength",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "constraints": {"maxLength": -1}}]}"#,
                "/fields/0/constraints/maxLength",
                "non-negative",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "constraints": {"minimum": 3}}]}"#,
                "/fields/0/constraints/minimum",
                "does not apply to string",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "type": "integer", "constraints": {"minimum": 3, "maximum": 2}}]}"#,
                "/fields/0/constraints/minimum",
                "greater than maximum",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "constraints": {"required": "yes"}}]}"#,
                "/fields/0/constraints/required",
                "expected a boolean",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a", "trueValues": ["o"]}]}"#,
                "/fields/0/trueValues",
                "only applies to boolean",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a"}], "missingValues": [0]}"#,
                "/missingValues/0",
                "expected a string",
            ),
            (
                r#"{"name": "T", "fields": [{"name": "a/b~c"}]}"#,
                "/fields/0/name",
                "not a safe identifier",
            ),
        ];
        for (json, pointer, needle) in cases {
            let (p, m) = invalid(json);
            assert_eq!(&p, pointer, "{json}: {m}");
            assert!(
                m.contains(needle),
                "{json}: {m:?} should contain {needle:?}"
            );
        }
        let err = TableSchema::from_json(
            br#"{"name": "T", "fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d", "type": "strnig"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"/fields/3/type: unknown type "strnig""#),
            "{err}"
        );
        assert_eq!(err.pointer(), Some("/fields/3/type"));
    }

    fn pseudonymised_example() -> &'static str {
        r#"{ "name": "ER_PRS_F", "title": "Prestations",
          "fields": [
            { "name": "BEN_NIR", "type": "string", "description": "NIR",
              "constraints": {"required": true, "minLength": 13, "maxLength": 15},
              "hdh:identifier": "person",
              "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir",
                "with": ["BEN_NAI_DTE", "BEN_SEX_COD"], "provisionalFlag": "BEN_NIR_PROV"} },
            { "name": "BEN_NOM", "type": "string",
              "hdh:pseudonymisation": {"role": "direct", "normalise": "name"} },
            { "name": "BEN_NAI_DTE", "type": "date", "format": "%d%m%Y",
              "constraints": {"required": true, "minimum": "1900-01-01"},
              "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "year-month"} },
            { "name": "BEN_SEX_COD", "type": "integer", "nomenclature": "IR_SEX_V", "constraints": {"enum": [1, 2]} },
            { "name": "BEN_RES_COM", "type": "string", "nomenclature": "IR_GEO_V",
              "constraints": {"pattern": "[0-9AB]{5}"},
              "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "department"} },
            { "name": "EXE_SOI_DTD", "type": "date", "format": "%d%m%Y", "constraints": {"required": true} },
            { "name": "PRS_PAI_MNT", "type": "number", "unit": "EUR" }
          ],
          "primaryKey": ["BEN_NIR", "EXE_SOI_DTD"],
          "foreignKeys": [ {"fields": "BEN_NIR", "reference": {"resource": "IR_BEN_R", "fields": "BEN_NIR"}} ],
          "hdh:periodField": "EXE_SOI_DTD" }"#
    }

    #[test]
    fn parses_pseudonymisation_properties() {
        let s = TableSchema::from_json(pseudonymised_example().as_bytes()).unwrap();
        assert!(s.has_pseudonymisation());
        assert_eq!(
            s.field("BEN_NIR").unwrap().pseudonymisation,
            Some(Pseudonymisation::Identifier {
                normalise: Normalise::Nir,
                with: vec!["BEN_NAI_DTE".into(), "BEN_SEX_COD".into()],
                provisional_flag: Some("BEN_NIR_PROV".into()),
            })
        );
        assert_eq!(
            s.field("BEN_NOM").unwrap().pseudonymisation,
            Some(Pseudonymisation::Direct {
                normalise: Some(Normalise::Name)
            })
        );
        assert_eq!(
            s.field("BEN_NAI_DTE").unwrap().pseudonymisation,
            Some(Pseudonymisation::QuasiIdentifier {
                generalise: Generalise::YearMonth
            })
        );
        assert!(s.field("BEN_NOM").unwrap().is_withheld());
        assert!(s.field("BEN_NAI_DTE").unwrap().is_withheld());
        assert!(!s.field("PRS_PAI_MNT").unwrap().is_withheld());
        // Round trip, through to_json and serde.
        let json = s.to_json();
        assert!(
            json.contains(r#""provisionalFlag": "BEN_NIR_PROV""#),
            "{json}"
        );
        assert!(json.contains(r#""role": "quasi-identifier""#), "{json}");
        assert_eq!(TableSchema::from_json(json.as_bytes()).unwrap(), s);
        let via_serde: TableSchema = serde_json::from_str(&json).unwrap();
        assert_eq!(via_serde, s);
        let field: Field =
            serde_json::from_str(&serde_json::to_string(s.field("BEN_NIR").unwrap()).unwrap())
                .unwrap();
        assert_eq!(&field, s.field("BEN_NIR").unwrap());
    }

    #[test]
    fn published_schema() {
        let s = TableSchema::from_json(pseudonymised_example().as_bytes()).unwrap();
        let p = s.published();
        let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "BEN_NIR",
                "BEN_NIR_PROV",
                "BEN_NAI_DTE",
                "BEN_SEX_COD",
                "BEN_RES_COM",
                "EXE_SOI_DTD",
                "PRS_PAI_MNT"
            ]
        );
        let nir = p.field("BEN_NIR").unwrap();
        assert_eq!(nir.field_type, FieldType::String);
        assert!(nir.is_person_identifier());
        assert_eq!(nir.description.as_deref(), Some("NIR"));
        assert_eq!(
            nir.constraints,
            Constraints {
                required: true,
                pattern: Some("^[0-9a-f]{32}$".into()),
                ..Constraints::default()
            }
        );
        assert_eq!(nir.pseudonymisation, None);
        let flag = p.field("BEN_NIR_PROV").unwrap();
        assert_eq!(flag.field_type, FieldType::Boolean);
        assert!(flag.constraints.required);
        let dte = p.field("BEN_NAI_DTE").unwrap();
        assert_eq!(dte.field_type, FieldType::YearMonth);
        assert_eq!(dte.format, None);
        assert_eq!(
            dte.constraints,
            Constraints {
                required: true,
                ..Constraints::default()
            }
        );
        let com = p.field("BEN_RES_COM").unwrap();
        assert_eq!(com.field_type, FieldType::String);
        assert_eq!(com.nomenclature, None);
        assert!(com.constraints.is_empty());
        assert_eq!(p.field("BEN_SEX_COD"), s.field("BEN_SEX_COD"));
        assert_eq!(p.field("EXE_SOI_DTD"), s.field("EXE_SOI_DTD"));
        assert_eq!(p.primary_key, s.primary_key);
        assert_eq!(p.foreign_keys, s.foreign_keys);
        assert_eq!(p.period_field, s.period_field);
        assert!(!p.has_pseudonymisation());
        // A valid schema that reads back to itself.
        assert_eq!(TableSchema::from_json(p.to_json().as_bytes()).unwrap(), p);
        assert_eq!(p.published(), p);
        // Without pseudonymisation properties, published() is the identity.
        let plain = TableSchema::from_json(example().as_bytes()).unwrap();
        assert_eq!(plain.published(), plain);
    }

    #[test]
    fn pseudonymisation_plan_follows_the_published_columns() {
        let s = TableSchema::from_json(pseudonymised_example().as_bytes()).unwrap();
        let plan = s.pseudonymisation_plan();
        let names: Vec<&str> = plan.iter().map(|c| c.name.as_str()).collect();
        let published = s.published();
        let expected: Vec<&str> = published.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, expected);
        assert_eq!(
            plan[0].source,
            ColumnSource::Pseudonym {
                field: 0,
                parts: vec![
                    PseudonymPart {
                        field: 0,
                        normalise: Normalise::Nir,
                        format: None
                    },
                    PseudonymPart {
                        field: 2,
                        normalise: Normalise::Date,
                        format: Some("%d%m%Y".into())
                    },
                    PseudonymPart {
                        field: 3,
                        normalise: Normalise::Code,
                        format: None
                    },
                ]
            }
        );
        assert_eq!(plan[1].source, ColumnSource::ProvisionalFlag { field: 0 });
        assert_eq!(
            plan[2].source,
            ColumnSource::Generalise {
                field: 2,
                generalise: Generalise::YearMonth
            }
        );
        assert_eq!(plan[3].source, ColumnSource::Keep(3));
        assert_eq!(plan[6].source, ColumnSource::Keep(6));
    }

    #[test]
    fn malformed_pseudonymisation_names_the_pointer() {
        let t =
            |fields: &str, rest: &str| format!(r#"{{"name": "T", "fields": [{fields}]{rest}}}"#);
        let nir = r#"{"name": "NIR", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir"}}"#;
        let nom =
            r#"{"name": "NOM", "hdh:pseudonymisation": {"role": "direct", "normalise": "name"}}"#;
        let dte = r#"{"name": "DTE", "type": "date", "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "year"}}"#;
        let cases: Vec<(String, &str, &str)> = vec![
            (
                t(r#"{"name": "a", "hdh:pseudonymisation": "identifier"}"#, ""),
                "/fields/0/hdh:pseudonymisation",
                "expected an object",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"normalise": "nir"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/role",
                "the role is missing",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "secret"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/role",
                "unknown role \"secret\"",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/normalise",
                "needs a normalisation",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nss"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/normalise",
                "unknown normalisation \"nss\"",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "normalize": "nir"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/normalize",
                "unknown property \"normalize\" for role identifier",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "direct", "generalise": "year"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/generalise",
                "unknown property",
            ),
            (
                t(
                    r#"{"name": "a", "type": "integer", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/normalise",
                "normalisation nir does not apply to integer fields",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "year"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/generalise",
                "generalisation year does not apply to string fields",
            ),
            (
                t(
                    r#"{"name": "a", "type": "date", "hdh:pseudonymisation": {"role": "quasi-identifier"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/generalise",
                "needs a generalisation",
            ),
            (
                t(
                    &format!(
                        r#"{nom}, {{"name": "a", "hdh:pseudonymisation": {{"role": "identifier", "normalise": "nir", "with": ["NOM", "b"]}}}}"#
                    ),
                    "",
                ),
                "/fields/1/hdh:pseudonymisation/with/1",
                "unknown field \"b\"",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "with": ["a"]}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/with/0",
                "combined with itself",
            ),
            (
                t(
                    &format!(
                        r#"{dte}, {{"name": "a", "hdh:pseudonymisation": {{"role": "identifier", "normalise": "nir", "with": ["DTE", "DTE"]}}}}"#
                    ),
                    "",
                ),
                "/fields/1/hdh:pseudonymisation/with/1",
                "listed twice",
            ),
            (
                t(
                    r#"{"name": "M", "type": "number"}, {"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "with": ["M"]}}"#,
                    "",
                ),
                "/fields/1/hdh:pseudonymisation/with/0",
                "cannot be normalised as code",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "name", "provisionalFlag": "P"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/provisionalFlag",
                "only applies to a nir identifier",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "provisionalFlag": "no flag"}}"#,
                    "",
                ),
                "/fields/0/hdh:pseudonymisation/provisionalFlag",
                "not a safe identifier",
            ),
            (
                t(
                    r#"{"name": "P"}, {"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "provisionalFlag": "P"}}"#,
                    "",
                ),
                "/fields/1/hdh:pseudonymisation/provisionalFlag",
                "has the name of a field",
            ),
            (
                t(
                    r#"{"name": "a", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "provisionalFlag": "P"}}, {"name": "b", "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir", "provisionalFlag": "P"}}"#,
                    "",
                ),
                "/fields/1/hdh:pseudonymisation/provisionalFlag",
                "also the flag of /fields/0",
            ),
            (
                t(
                    &format!("{nir}, {nom}"),
                    r#", "primaryKey": ["NIR", "NOM"]"#,
                ),
                "/primaryKey/1",
                "direct identifier",
            ),
            (
                t(&format!("{nir}, {dte}"), r#", "primaryKey": "DTE""#),
                "/primaryKey",
                "coarsened",
            ),
            (
                t(
                    &format!("{nir}, {nom}"),
                    r#", "foreignKeys": [{"fields": ["NIR", "NOM"], "reference": {"resource": "U", "fields": ["a", "b"]}}]"#,
                ),
                "/foreignKeys/0/fields/1",
                "direct identifier",
            ),
            (
                t(
                    &format!("{nir}, {nom}"),
                    r#", "foreignKeys": [{"fields": "NIR", "reference": {"resource": "", "fields": "NOM"}}]"#,
                ),
                "/foreignKeys/0/reference/fields",
                "direct identifier",
            ),
            (
                t(dte, r#", "hdh:periodField": "DTE""#),
                "/hdh:periodField",
                "coarsened",
            ),
            (
                t(
                    r#"{"name": "D", "type": "date", "hdh:pseudonymisation": {"role": "direct"}}"#,
                    r#", "hdh:periodField": "D""#,
                ),
                "/hdh:periodField",
                "direct identifier",
            ),
            (
                t(
                    r#"{"name": "D", "type": "date", "hdh:pseudonymisation": {"role": "identifier", "normalise": "date"}}"#,
                    r#", "hdh:periodField": "D""#,
                ),
                "/hdh:periodField",
                "replaced by a pseudonym",
            ),
        ];
        for (json, pointer, needle) in &cases {
            let (p, m) = invalid(json);
            assert_eq!(&p, pointer, "{json}: {m}");
            assert!(
                m.contains(needle),
                "{json}: {m:?} should contain {needle:?}"
            );
        }
        // Commune normalisation keeps values: allowed in a key.
        let ok = t(
            &format!(
                r#"{nir}, {{"name": "COM", "hdh:pseudonymisation": {{"role": "quasi-identifier", "generalise": "commune"}}}}"#
            ),
            r#", "primaryKey": ["NIR", "COM"]"#,
        );
        let s = TableSchema::from_json(ok.as_bytes()).unwrap();
        assert_eq!(s.published().primary_key, vec!["NIR", "COM"]);
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(Ptr::root().key("a/b").key("c~d").idx(2).0, "/a~1b/c~0d/2");
    }

    #[test]
    fn serde_deserialize_validates() {
        let err = serde_json::from_str::<TableSchema>(
            r#"{"name": "T", "fields": [{"name": "a", "type": "x"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/fields/0/type"), "{err}");
    }

    #[test]
    fn constraint_values_are_canonical() {
        let s = TableSchema::from_json(
            br#"{"name": "T", "fields": [
                {"name": "n", "type": "number", "constraints": {"enum": [1, "1.50", -0.0, "2e1"]}},
                {"name": "d", "type": "datetime", "constraints": {"minimum": "2020-01-01T01:00:00+01:00", "maximum": "2020-01-02 00:00:00.250"}},
                {"name": "b", "type": "boolean", "constraints": {"enum": [true, "0"]}},
                {"name": "y", "type": "yearmonth", "constraints": {"enum": ["202001", "2020-02"]}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            s.fields[0].constraints.enum_values,
            Some(vec!["1".into(), "1.5".into(), "0".into(), "20".into()])
        );
        assert_eq!(
            s.fields[1].constraints.minimum.as_deref(),
            Some("2020-01-01T00:00:00")
        );
        assert_eq!(
            s.fields[1].constraints.maximum.as_deref(),
            Some("2020-01-02T00:00:00.250")
        );
        assert_eq!(
            s.fields[2].constraints.enum_values,
            Some(vec!["true".into(), "false".into()])
        );
        assert_eq!(
            s.fields[3].constraints.enum_values,
            Some(vec!["2020-01".into(), "2020-02".into()])
        );
        assert_eq!(TableSchema::from_json(s.to_json().as_bytes()).unwrap(), s);
    }

    #[test]
    fn lexical_forms() {
        use lexical::*;
        assert_eq!(parse_date("2020-02-29").map(epoch_days), Some(18321));
        assert_eq!(parse_date("2021-02-29"), None);
        assert_eq!(parse_date("2020-2-09"), None);
        assert_eq!(parse_date("+020-02-09"), None);
        assert_eq!(
            parse_datetime("2020-01-01T00:30:00+01:00")
                .map(canonical_datetime)
                .as_deref(),
            Some("2019-12-31T23:30:00")
        );
        assert!(parse_datetime("2020-01-01 12:00:00").is_some());
        assert!(parse_datetime("2020-01-01T12:00:00.123456Z").is_some());
        assert!(parse_datetime("2020-01-01 12:00").is_none());
        assert!(parse_datetime("2020-01-01T25:00:00").is_none());
        assert!(parse_datetime("2020-01-01T12:00:00+1:00").is_none());
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("1e400"), None);
        assert_eq!(parse_number("-1.25"), Some(-1.25));
        assert_eq!(parse_year_month("201513"), None);
        assert_eq!(parse_year_month("2015-12"), Some((2015, 12)));
        assert_eq!(parse_integer("12a"), None);
        assert_eq!(parse_boolean("TRUE"), Some(true));
        assert_eq!(parse_boolean("yes"), None);
    }

    fn schema_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                schema_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }

    /// `HDH_SNDS_DIR` or the shared data directory beside the checkout.
    fn parse_all_under(sub: &str) {
        let base = std::env::var_os("HDH_SNDS_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/snds")
            });
        let root = base.join(sub);
        if !root.is_dir() {
            eprintln!("skipping: {} does not exist", root.display());
            return;
        }
        let mut files = Vec::new();
        schema_files(&root, &mut files);
        assert!(!files.is_empty(), "no schema under {}", root.display());
        let mut failures = Vec::new();
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            match TableSchema::from_json(&bytes) {
                Ok(s) => {
                    let back = TableSchema::from_json(s.to_json().as_bytes()).unwrap();
                    assert_eq!(back, s, "{}", path.display());
                }
                Err(e) => failures.push(format!("{}: {e}", path.display())),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} schemas rejected:\n{}",
            failures.len(),
            files.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn parses_every_snds_schema() {
        parse_all_under("schema-snds/schemas");
    }

    #[test]
    fn parses_every_synthetic_snds_schema() {
        parse_all_under("synthetic-snds/schemas");
    }
}
