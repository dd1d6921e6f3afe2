//! Reading a Frictionless Table Schema package laid out like the SNDS's
//! `schema-snds` repository:
//!
//! ```text
//! schemas/<PRODUCT>[/<SUBPRODUCT>]/<TABLE>.json     one Table Schema per table
//! nomenclatures/<SOURCE>/<NAME>.json + <NAME>.csv   code tables (`;`-separated CSV)
//! ```
//!
//! The caller walks the directory and hands in every file's relative path and
//! bytes ([`PackageFile`]); [`parse_package`] returns the whole package or every
//! fault found (path, JSON pointer or line), so that an import applies all or
//! nothing. Besides the standard Table Schema, the SNDS properties are kept:
//! the table's product (`produit`), and per variable its length, creation and
//! removal dates, management rule and observation.

use std::collections::{BTreeMap, BTreeSet};

use hdh_model::schema::{SchemaError, TableSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One file of the package: its path relative to the package root (with `/`).
pub struct PackageFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A fault in the package, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("{path}: {pointer}: {message}")]
    Schema {
        path: String,
        /// JSON pointer of the fault ("" for the document, or `line L column C`
        /// for a syntax error).
        pointer: String,
        message: String,
    },
    #[error("{path}: line {line}: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Layout { path: String, message: String },
}

/// What the SNDS documentation says about a variable beyond the Table Schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableNotes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
}

/// A table as the catalogue describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDescription {
    /// The product the table belongs to (`DCIR`, `PMSI MCO`, …).
    pub product: String,
    /// Path of the schema file in the package.
    pub path: String,
    pub schema: TableSchema,
    /// One entry per field of `schema`, in the same order.
    pub notes: Vec<VariableNotes>,
    /// The document as given (kept for display and re-export).
    pub raw: Value,
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    v.and_then(|v| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
    .filter(|s| !s.is_empty() && s != "-")
}

fn schema_error(path: &str, e: SchemaError) -> PackageError {
    let pointer = match &e {
        SchemaError::Syntax { line, column, .. } => format!("line {line} column {column}"),
        _ => e.pointer().unwrap_or("").to_string(),
    };
    let message = match &e {
        SchemaError::Syntax { message, .. } => message.clone(),
        SchemaError::Invalid { message, .. } => message.clone(),
        #[allow(unreachable_patterns)]
        other => other.to_string(),
    };
    PackageError::Schema {
        path: path.to_string(),
        pointer,
        message,
    }
}

fn parse_json(path: &str, bytes: &[u8]) -> Result<Value, PackageError> {
    serde_json::from_slice(bytes).map_err(|e| PackageError::Schema {
        path: path.to_string(),
        pointer: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })
}

impl TableDescription {
    /// Parses one table schema file. `product_hint` is used when the document
    /// has no `produit` (the directory name).
    pub fn from_json(
        path: &str,
        bytes: &[u8],
        product_hint: &str,
    ) -> Result<TableDescription, PackageError> {
        let raw = parse_json(path, bytes)?;
        TableDescription::from_value(path, raw, product_hint)
    }

    pub fn from_value(
        path: &str,
        raw: Value,
        product_hint: &str,
    ) -> Result<TableDescription, PackageError> {
        let schema = TableSchema::from_json_value(&raw).map_err(|e| schema_error(path, e))?;
        let product = non_empty(raw.get("produit"))
            .or_else(|| non_empty(raw.get("hdh:product")))
            .unwrap_or_else(|| product_hint.to_string());
        let fields = raw.get("fields").and_then(|f| f.as_array());
        let notes = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let f = fields.and_then(|a| a.get(i));
                let get = |k: &str| non_empty(f.and_then(|f| f.get(k)));
                VariableNotes {
                    length: get("length"),
                    created: get("dateCreated"),
                    deleted: get("dateDeleted"),
                    rule: get("regle_gestion"),
                    observation: get("observation"),
                }
            })
            .collect();
        Ok(TableDescription {
            product,
            path: path.to_string(),
            schema,
            notes,
            raw,
        })
    }

    /// The table's title: `title`, else `description`, else its name.
    pub fn title(&self) -> String {
        self.schema
            .title
            .clone()
            .or(self.schema.description.clone())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| self.schema.name.clone())
    }

    /// The nomenclature a field refers to (`-` and empty mean none).
    pub fn nomenclature_of(&self, field: &str) -> Option<&str> {
        self.schema
            .field(field)
            .and_then(|f| f.nomenclature.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != "-")
    }
}

/// A code table (nomenclature).
#[derive(Debug, Clone, PartialEq)]
pub struct Nomenclature {
    pub name: String,
    /// Who maintains it (`ORAVAL`, `ATIH`, …: the directory name).
    pub source: String,
    pub title: String,
    pub path: String,
    pub columns: Vec<String>,
    pub primary_key: Vec<String>,
    /// Column holding the code (role `code`, else the last primary key column).
    pub code_column: String,
    /// Column holding the label (role `label`, else the first `*_LIB*` column).
    pub label_column: Option<String>,
    pub rows: Vec<Vec<String>>,
    /// The schema document as given.
    pub raw: Value,
}

impl Nomenclature {
    pub fn code_index(&self) -> usize {
        self.columns
            .iter()
            .position(|c| *c == self.code_column)
            .unwrap_or(0)
    }
    pub fn label_index(&self) -> Option<usize> {
        self.label_column
            .as_ref()
            .and_then(|l| self.columns.iter().position(|c| c == l))
    }
    /// The displayed code of a row: the primary key values joined with a space
    /// (`014 628` for a commune), or the code column.
    pub fn display_code(&self, row: &[String]) -> String {
        if self.primary_key.len() > 1 {
            self.primary_key
                .iter()
                .filter_map(|k| self.columns.iter().position(|c| c == k))
                .filter_map(|i| row.get(i))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            row.get(self.code_index()).cloned().unwrap_or_default()
        }
    }
    pub fn label(&self, row: &[String]) -> String {
        self.label_index()
            .and_then(|i| row.get(i))
            .cloned()
            .unwrap_or_default()
    }
}

fn parse_nomenclature(
    json_path: &str,
    json: &[u8],
    csv_path: &str,
    csv: Option<&[u8]>,
    source: &str,
) -> Result<Nomenclature, Vec<PackageError>> {
    let raw = parse_json(json_path, json).map_err(|e| vec![e])?;
    let err = |pointer: &str, message: String| PackageError::Schema {
        path: json_path.to_string(),
        pointer: pointer.to_string(),
        message,
    };
    let name = raw
        .get("name")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| vec![err("/name", "a nomenclature needs a name".into())])?;
    let fields = raw
        .get("fields")
        .and_then(|v| v.as_array())
        .ok_or_else(|| vec![err("/fields", "expected an array of fields".into())])?;
    let mut columns = Vec::new();
    let mut code_column = None;
    let mut label_column = None;
    for (i, f) in fields.iter().enumerate() {
        let n = f.get("name").and_then(|v| v.as_str()).ok_or_else(|| {
            vec![err(
                &format!("/fields/{i}/name"),
                "expected a string".into(),
            )]
        })?;
        match f.get("role").and_then(|r| r.as_str()) {
            Some("code") => code_column = Some(n.to_string()),
            Some("label") => label_column = Some(n.to_string()),
            _ => {}
        }
        columns.push(n.to_string());
    }
    let primary_key: Vec<String> = match raw.get("primaryKey") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    for (i, k) in primary_key.iter().enumerate() {
        if !columns.contains(k) {
            return Err(vec![err(
                &format!("/primaryKey/{i}"),
                format!("unknown field {k:?}"),
            )]);
        }
    }
    let code_column = code_column
        .or_else(|| primary_key.last().cloned())
        .or_else(|| columns.first().cloned())
        .ok_or_else(|| {
            vec![err(
                "/fields",
                "a nomenclature needs at least one field".into(),
            )]
        })?;
    let label_column =
        label_column.or_else(|| columns.iter().find(|c| c.contains("_LIB")).cloned());
    let title = non_empty(raw.get("title"))
        .or_else(|| non_empty(raw.get("description")))
        .unwrap_or_else(|| name.clone());
    let mut rows = Vec::new();
    if let Some(csv) = csv {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(true)
            .flexible(false)
            .from_reader(csv);
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h
                .iter()
                .map(|s| s.trim_start_matches('\u{feff}').to_string())
                .collect(),
            Err(e) => {
                return Err(vec![PackageError::Csv {
                    path: csv_path.to_string(),
                    line: 1,
                    message: e.to_string(),
                }]);
            }
        };
        if header != columns {
            return Err(vec![PackageError::Csv {
                path: csv_path.to_string(),
                line: 1,
                message: format!(
                    "the header {:?} does not match the schema's fields {:?}",
                    header.join(";"),
                    columns.join(";")
                ),
            }]);
        }
        let mut errors = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            match rec {
                Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
                    let message = match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => format!("{len} values where the header has {expected_len}"),
                        _ => e.to_string(),
                    };
                    errors.push(PackageError::Csv {
                        path: csv_path.to_string(),
                        line,
                        message,
                    });
                    if errors.len() >= 20 {
                        break;
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(Nomenclature {
        name,
        source: source.to_string(),
        title,
        path: json_path.to_string(),
        columns,
        primary_key,
        code_column,
        label_column,
        rows,
        raw,
    })
}

/// A whole package.
#[derive(Debug, Default)]
pub struct Package {
    /// Tables in path order.
    pub tables: Vec<TableDescription>,
    pub nomenclatures: Vec<Nomenclature>,
}

impl Package {
    /// Products in first-seen order, with their tables.
    pub fn products(&self) -> Vec<(String, Vec<&TableDescription>)> {
        let mut out: Vec<(String, Vec<&TableDescription>)> = Vec::new();
        for t in &self.tables {
            match out.iter_mut().find(|(p, _)| *p == t.product) {
                Some((_, v)) => v.push(t),
                None => out.push((t.product.clone(), vec![t])),
            }
        }
        out
    }
}

/// Parses every file of a package. Files outside `schemas/` and
/// `nomenclatures/` that are not `.json`/`.csv` are ignored (licences,
/// READMEs). Returns every fault found, or the package.
pub fn parse_package(files: Vec<PackageFile>) -> Result<Package, Vec<PackageError>> {
    let mut errors = Vec::new();
    let mut tables = Vec::new();
    let mut nomenclature_json: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let mut nomenclature_csv: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    for f in files {
        let path = f.path.replace('\\', "/");
        let parts: Vec<&str> = path.split('/').collect();
        match parts.first().copied() {
            Some("schemas") if path.ends_with(".json") => {
                let hint = if parts.len() >= 3 {
                    parts[parts.len() - 2].replace('_', " ")
                } else {
                    String::new()
                };
                match TableDescription::from_json(&path, &f.bytes, &hint) {
                    Ok(t) => tables.push(t),
                    Err(e) => errors.push(e),
                }
            }
            Some("nomenclatures") if parts.len() >= 2 => {
                let stem = path.rsplit_once('.').map(|(s, _)| s.to_string());
                match (stem, path.rsplit('.').next()) {
                    (Some(stem), Some("json")) => {
                        nomenclature_json.insert(stem, (path, f.bytes));
                    }
                    (Some(stem), Some("csv")) => {
                        nomenclature_csv.insert(stem, (path, f.bytes));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let mut nomenclatures = Vec::new();
    let mut seen_nomenclatures = BTreeSet::new();
    for (stem, (json_path, json)) in &nomenclature_json {
        let source = stem
            .split('/')
            .nth(1)
            .filter(|_| stem.matches('/').count() >= 2);
        let csv = nomenclature_csv.remove(stem);
        match parse_nomenclature(
            json_path,
            json,
            csv.as_ref().map(|(p, _)| p.as_str()).unwrap_or(""),
            csv.as_ref().map(|(_, b)| b.as_slice()),
            source.unwrap_or(""),
        ) {
            Ok(n) => {
                if !seen_nomenclatures.insert(n.name.clone()) {
                    errors.push(PackageError::Layout {
                        path: json_path.clone(),
                        message: format!("a second nomenclature named {}", n.name),
                    });
                }
                nomenclatures.push(n)
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    for (path, _) in nomenclature_csv.values() {
        errors.push(PackageError::Layout {
            path: path.clone(),
            message: "a code table without its schema (.json)".into(),
        });
    }
    tables.sort_by(|a, b| a.path.cmp(&b.path));
    let mut names = BTreeMap::new();
    for t in &tables {
        if let Some(prev) = names.insert(t.schema.name.clone(), t.path.clone()) {
            errors.push(PackageError::Layout {
                path: t.path.clone(),
                message: format!("the table {} is also described in {prev}", t.schema.name),
            });
        }
    }
    if tables.is_empty() && nomenclatures.is_empty() && errors.is_empty() {
        errors.push(PackageError::Layout {
            path: String::new(),
            message: "no table schema under schemas/ and no nomenclature under nomenclatures/"
                .into(),
        });
    }
    if errors.is_empty() {
        Ok(Package {
            tables,
            nomenclatures,
        })
    } else {
        Err(errors)
    }
}

/// A dataset identifier for a product: `snds-dcir`, `snds-pmsi-mco`.
pub fn product_dataset_id(prefix: &str, product: &str) -> String {
    let mut id = String::from(prefix);
    let mut dash = !id.is_empty();
    for c in product.chars() {
        let c = match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'à' | 'â' => 'a',
            'ô' => 'o',
            'î' | 'ï' => 'i',
            'û' | 'ù' => 'u',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            if dash {
                id.push('-');
                dash = false;
            }
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() {
            dash = true;
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> PackageFile {
        PackageFile {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    const TABLE: &str = r#"{"name":"ER_PRS_F","title":"Table des prestations","produit":"DCIR",
      "fields":[{"name":"BEN_NIR_PSA","type":"string","description":"Identifiant","nomenclature":"-","length":"17","dateCreated":"2006","dateDeleted":""},
                {"name":"BEN_SEX_COD","type":"integer","description":"Sexe","nomenclature":"IR_SEX_V"}],
      "foreignKeys":[{"fields":"BEN_NIR_PSA","reference":{"resource":"IR_BEN_R","fields":"BEN_NIR_PSA"}}]}"#;

    #[test]
    fn reads_tables_and_nomenclatures() {
        let p = parse_package(vec![
            file("schemas/DCIR/ER_PRS_F.json", TABLE),
            file(
                "nomenclatures/ORAVAL/IR_SEX_V.json",
                r#"{"name":"IR_SEX_V","title":"Sexe","primaryKey":["SEX_COD"],"fields":[{"name":"SEX_COD","type":"integer","role":"code"},{"name":"SEX_LIB","type":"string","role":"label"}]}"#,
            ),
            file("nomenclatures/ORAVAL/IR_SEX_V.csv", "SEX_COD;SEX_LIB\n1;MASCULIN\n2;FEMININ\n"),
            file("LICENSE-upstream.txt", "MPL"),
        ])
        .unwrap();
        assert_eq!(p.tables.len(), 1);
        let t = &p.tables[0];
        assert_eq!(t.product, "DCIR");
        assert_eq!(t.title(), "Table des prestations");
        assert_eq!(t.notes[0].length.as_deref(), Some("17"));
        assert_eq!(t.notes[0].created.as_deref(), Some("2006"));
        assert_eq!(t.nomenclature_of("BEN_NIR_PSA"), None);
        assert_eq!(t.nomenclature_of("BEN_SEX_COD"), Some("IR_SEX_V"));
        let n = &p.nomenclatures[0];
        assert_eq!((n.source.as_str(), n.rows.len()), ("ORAVAL", 2));
        assert_eq!(n.label(&n.rows[1]), "FEMININ");
        assert_eq!(n.display_code(&n.rows[1]), "2");
    }

    #[test]
    fn reports_every_fault_with_path_and_pointer() {
        let errs = parse_package(vec![
            file("schemas/DCIR/ER_PRS_F.json", TABLE),
            file(
                "schemas/DCIR/BAD.json",
                r#"{"name":"BAD","fields":[{"name":"A","type":"strnig"}]}"#,
            ),
            file("schemas/DCIR/BROKEN.json", "{\"name\": \"X\",\n \"fields\": [}"),
            file(
                "nomenclatures/ORAVAL/IR_SEX_V.json",
                r#"{"name":"IR_SEX_V","fields":[{"name":"SEX_COD","role":"code"},{"name":"SEX_LIB"}]}"#,
            ),
            file("nomenclatures/ORAVAL/IR_SEX_V.csv", "SEX_COD;SEX_LIB\n1;MASCULIN\n2\n"),
        ])
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("schemas/DCIR/BAD.json: /fields/0/type:")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("schemas/DCIR/BROKEN.json: line 2 column")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("nomenclatures/ORAVAL/IR_SEX_V.csv: line 3:")),
            "{text:?}"
        );
    }

    #[test]
    fn dataset_ids_from_products() {
        assert_eq!(product_dataset_id("snds", "PMSI MCO"), "snds-pmsi-mco");
        assert_eq!(
            product_dataset_id("snds", "Causes de décès"),
            "snds-causes-de-deces"
        );
        assert_eq!(product_dataset_id("snds", "DCIR_DCIRS"), "snds-dcir-dcirs");
        assert_eq!(product_dataset_id("", "PMSI RIM-P"), "pmsi-rim-p");
    }

    #[test]
    fn reads_the_real_snds_package_when_present() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/snds/schema-snds");
        if !root.exists() {
            return;
        }
        let mut files = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    files.push(PackageFile {
                        path: rel,
                        bytes: std::fs::read(&p).unwrap(),
                    });
                }
            }
        }
        let p = parse_package(files).unwrap();
        assert_eq!(p.tables.len(), 188);
        assert_eq!(
            p.tables
                .iter()
                .map(|t| t.schema.fields.len())
                .sum::<usize>(),
            4815
        );
        assert_eq!(p.products().len(), 12);
        let prs = p
            .tables
            .iter()
            .find(|t| t.schema.name == "ER_PRS_F")
            .unwrap();
        assert_eq!(prs.schema.fields.len(), 123);
        assert_eq!(prs.schema.primary_key.len(), 9);
        assert_eq!(p.nomenclatures.len(), 75);
        assert_eq!(
            p.nomenclatures.iter().map(|n| n.rows.len()).sum::<usize>(),
            115_224
        );
        let geo = p
            .nomenclatures
            .iter()
            .find(|n| n.name == "IR_GEO_V")
            .unwrap();
        assert!(
            geo.rows
                .iter()
                .any(|r| geo.label(r) == "ST MARTIN DE SALLEN")
        );
    }
}
