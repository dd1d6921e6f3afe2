//! Vendored SNDS reference nomenclatures.
//!
//! The code tables live in `data/` (unmodified upstream copies, see `data/README.md` for
//! their source, commit and licence) and are embedded in the binary with `include_str!`,
//! so that code validation works without any data outside the repository.
//!
//! Each table is parsed once, lazily, on first use of [`get`].
//!
//! ```
//! let cim = hdh_refdata::get("MS_CIM_V").expect("vendored");
//! assert!(cim.contains("E119"));
//! assert!(hdh_refdata::get("IR_SEX_V").is_some_and(|t| t.contains("2")));
//! ```

pub mod communes;

use std::collections::HashMap;
use std::sync::OnceLock;

/// Which CSV column holds the label of a code.
#[derive(Clone, Copy)]
enum LabelColumn {
    /// Column with this header name.
    Named(&'static str),
    /// Column at this 0-based position (used where the upstream header is not stable
    /// ASCII, e.g. `Libellé ATC5`).
    At(usize),
}

struct Spec {
    name: &'static str,
    title: &'static str,
    csv: &'static str,
    schema_json: &'static str,
    label: LabelColumn,
    repo: &'static str,
    source: &'static str,
    license: &'static str,
}

const SCHEMA_SNDS: &str = "indsante/schema-snds@fe17ef8348aeb74f38c29016f49e65f82a6168b6";
const SYNTHETIC_SNDS: &str = "indsante/synthetic-snds@4d1c7494ed131181411cf86463147ff77661b3b8";
const MPL: &str = "MPL-2.0";
const ETALAB: &str = "etalab-2.0";

macro_rules! spec {
    ($name:literal, $title:literal, $label:expr, $src:expr, $path:literal, $lic:expr) => {
        Spec {
            name: $name,
            title: $title,
            csv: include_str!(concat!("../data/", $name, ".csv")),
            schema_json: include_str!(concat!("../data/", $name, ".json")),
            label: $label,
            repo: $src,
            source: concat!($path, $name, ".csv"),
            license: $lic,
        }
    };
}

static SPECS: [Spec; 11] = [
    spec!(
        "IR_SEX_V",
        "Sexe",
        LabelColumn::Named("SEX_LIB"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ORAVAL/",
        MPL
    ),
    spec!(
        "IR_DPT_V",
        "Département ( avec code région )",
        LabelColumn::Named("GEO_DPT_LIB"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ORAVAL/",
        MPL
    ),
    spec!(
        "IR_NAT_V",
        "Nature Prestation",
        LabelColumn::Named("PRS_NAT_LIB"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ORAVAL/",
        MPL
    ),
    spec!(
        "IR_SPE_V",
        "Spécialités médicales",
        LabelColumn::Named("PFS_SPE_LIB"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ORAVAL/",
        MPL
    ),
    spec!(
        "MS_CIM_V",
        "Codes Diagnostics (CIM10) pour le PMSI (limite à 20 000 lignes) ( MAJ à contrôler )",
        LabelColumn::Named("CIM_LIL"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ORAVAL/",
        MPL
    ),
    spec!(
        "IR_CCAM_V63",
        "Classification commune des actes médicaux (CNAM)",
        LabelColumn::Named("CAM_PRS_IDE_LIB"),
        SCHEMA_SNDS,
        "schema-snds/nomenclatures/ATIH/",
        MPL
    ),
    spec!(
        "openmedic_ATC1",
        "Libellé ATC1",
        LabelColumn::At(1),
        SYNTHETIC_SNDS,
        "synthetic-snds/nomenclatures/OPENMEDIC/",
        ETALAB
    ),
    spec!(
        "openmedic_ATC2",
        "Libellé ATC2",
        LabelColumn::At(1),
        SYNTHETIC_SNDS,
        "synthetic-snds/nomenclatures/OPENMEDIC/",
        ETALAB
    ),
    spec!(
        "openmedic_ATC3",
        "Libellé ATC3",
        LabelColumn::At(1),
        SYNTHETIC_SNDS,
        "synthetic-snds/nomenclatures/OPENMEDIC/",
        ETALAB
    ),
    spec!(
        "openmedic_ATC4",
        "Libellé ATC4",
        LabelColumn::At(1),
        SYNTHETIC_SNDS,
        "synthetic-snds/nomenclatures/OPENMEDIC/",
        ETALAB
    ),
    spec!(
        "openmedic_ATC5",
        "Libellé ATC5",
        LabelColumn::At(1),
        SYNTHETIC_SNDS,
        "synthetic-snds/nomenclatures/OPENMEDIC/",
        ETALAB
    ),
];

static NAMES: [&str; 11] = [
    "IR_SEX_V",
    "IR_DPT_V",
    "IR_NAT_V",
    "IR_SPE_V",
    "MS_CIM_V",
    "IR_CCAM_V63",
    "openmedic_ATC1",
    "openmedic_ATC2",
    "openmedic_ATC3",
    "openmedic_ATC4",
    "openmedic_ATC5",
];

static TABLES: [OnceLock<Nomenclature>; 11] = [const { OnceLock::new() }; 11];

/// One code table: code → label.
pub struct Nomenclature {
    /// Table name as in the SNDS (`MS_CIM_V`, `IR_DPT_V`, …) or upstream file stem
    /// (`openmedic_ATC5`).
    pub name: &'static str,
    /// Upstream title (from the table's JSON schema).
    pub title: &'static str,
    /// Where the table comes from: `owner/repo@commit` of the upstream repository.
    pub source_repository: &'static str,
    /// Upstream path of the CSV inside the data snapshot.
    pub source_path: &'static str,
    /// SPDX identifier of the data's licence.
    pub license: &'static str,
    /// The embedded CSV, exactly as vendored (`;`-separated, header row).
    pub raw_csv: &'static str,
    /// The embedded upstream Table Schema (JSON text).
    pub raw_schema_json: &'static str,
    code_field: String,
    label_field: String,
    integer_codes: bool,
    rows: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl std::fmt::Debug for Nomenclature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nomenclature")
            .field("name", &self.name)
            .field("title", &self.title)
            .field("code_field", &self.code_field)
            .field("label_field", &self.label_field)
            .field("len", &self.rows.len())
            .finish()
    }
}

impl Nomenclature {
    /// Whether `code` is a code of this table. Codes are compared trimmed; for tables whose
    /// key is integer-typed (`IR_SEX_V`, `IR_NAT_V`, `IR_SPE_V`) the comparison is
    /// numeric, so `"1"`, `" 01"` and `"1.0"` all match code `1`.
    pub fn contains(&self, code: &str) -> bool {
        self.position(code).is_some()
    }

    /// The label of `code` (same matching rules as [`Nomenclature::contains`]).
    pub fn label(&self, code: &str) -> Option<&str> {
        self.position(code).map(|i| self.rows[i].1.as_str())
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no code (never the case for a vendored table).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// All `(code, label)` pairs, in file order. Codes are given as in the file, trimmed.
    pub fn codes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rows.iter().map(|(c, l)| (c.as_str(), l.as_str()))
    }

    /// Name of the code column (the upstream `primaryKey`).
    pub fn code_field(&self) -> &str {
        &self.code_field
    }

    /// Name of the label column.
    pub fn label_field(&self) -> &str {
        &self.label_field
    }

    /// Whether codes are integer-typed upstream (numeric comparison).
    pub fn integer_codes(&self) -> bool {
        self.integer_codes
    }

    fn position(&self, code: &str) -> Option<usize> {
        let key = canonical(code, self.integer_codes)?;
        self.index.get(key.as_ref()).copied()
    }
}

/// Canonical form of a code for lookup: trimmed; for integer keys, the decimal integer
/// without sign, leading zeros or zero fraction.
fn canonical(code: &str, integer: bool) -> Option<std::borrow::Cow<'_, str>> {
    let t = code.trim();
    if t.is_empty() {
        return None;
    }
    if !integer {
        return Some(std::borrow::Cow::Borrowed(t));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let (int_part, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b == b'0')
    {
        // Not an unsigned integer: fall back to an exact (trimmed) comparison.
        return Some(std::borrow::Cow::Borrowed(t));
    }
    let stripped = int_part.trim_start_matches('0');
    Some(std::borrow::Cow::Borrowed(if stripped.is_empty() {
        "0"
    } else {
        stripped
    }))
}

/// Primary key column and whether it is integer-typed, from the upstream JSON schema.
fn key_of_schema(json: &str) -> Option<(String, bool)> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let pk = match v.get("primaryKey")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str()?.to_owned(),
        _ => return None,
    };
    let integer = v
        .get("fields")?
        .as_array()?
        .iter()
        .find(|f| f.get("name").and_then(|n| n.as_str()) == Some(pk.as_str()))
        .and_then(|f| f.get("type"))
        .and_then(|t| t.as_str())
        == Some("integer");
    Some((pk, integer))
}

fn build(spec: &'static Spec) -> Nomenclature {
    let (code_field, integer_codes) =
        key_of_schema(spec.schema_json).unwrap_or_else(|| (String::new(), false));
    let mut out = Nomenclature {
        name: spec.name,
        title: spec.title,
        source_repository: spec.repo,
        source_path: spec.source,
        license: spec.license,
        raw_csv: spec.csv,
        raw_schema_json: spec.schema_json,
        code_field,
        label_field: String::new(),
        integer_codes,
        rows: Vec::new(),
        index: HashMap::new(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .flexible(true)
        .from_reader(spec.csv.as_bytes());
    let Ok(headers) = reader.headers() else {
        return out;
    };
    let Some(code_idx) = headers.iter().position(|h| h.trim() == out.code_field) else {
        return out;
    };
    let label_idx = match spec.label {
        LabelColumn::Named(n) => headers.iter().position(|h| h.trim() == n),
        LabelColumn::At(i) => (i < headers.len()).then_some(i),
    };
    out.label_field = label_idx
        .and_then(|i| headers.get(i))
        .unwrap_or_default()
        .trim()
        .to_owned();
    for record in reader.records().flatten() {
        let Some(code) = record.get(code_idx).map(str::trim) else {
            continue;
        };
        if code.is_empty() {
            continue;
        }
        let label = label_idx
            .and_then(|i| record.get(i))
            .unwrap_or_default()
            .trim();
        let Some(key) = canonical(code, integer_codes).map(|k| k.into_owned()) else {
            continue;
        };
        if out.index.contains_key(&key) {
            continue;
        }
        out.index.insert(key, out.rows.len());
        out.rows.push((code.to_owned(), label.to_owned()));
    }
    out
}

/// The vendored table called `name` (e.g. `"MS_CIM_V"`, `"IR_DPT_V"`, `"openmedic_ATC5"`),
/// parsed on first use.
pub fn get(name: &str) -> Option<&'static Nomenclature> {
    let i = SPECS.iter().position(|s| s.name == name)?;
    Some(TABLES[i].get_or_init(|| build(&SPECS[i])))
}

/// Names of all vendored tables.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_specs() {
        assert_eq!(names().len(), SPECS.len());
        for (n, s) in names().iter().zip(SPECS.iter()) {
            assert_eq!(*n, s.name);
        }
        assert!(get("NOPE").is_none());
    }

    #[test]
    fn every_table_parses_and_matches_its_schema() {
        for name in names() {
            let t = get(name).expect("listed table");
            assert!(!t.is_empty(), "{name} is empty");
            assert!(!t.code_field().is_empty(), "{name}: no primary key");
            assert!(!t.label_field().is_empty(), "{name}: no label column");
            let v: serde_json::Value = serde_json::from_str(t.raw_schema_json).expect("json");
            assert_eq!(v["name"].as_str(), Some(*name));
            assert_eq!(v["title"].as_str(), Some(t.title), "{name} title");
            // Every data row of the CSV is a distinct code.
            let mut r = csv::ReaderBuilder::new()
                .delimiter(b';')
                .from_reader(t.raw_csv.as_bytes());
            assert_eq!(r.records().count(), t.len(), "{name} row count");
            for (code, _) in t.codes() {
                assert!(t.contains(code), "{name}: {code}");
            }
        }
    }

    #[test]
    fn expected_sizes() {
        let expect = [
            ("IR_SEX_V", 4),
            ("IR_DPT_V", 117),
            ("IR_NAT_V", 1348),
            ("IR_SPE_V", 57),
            ("MS_CIM_V", 19272),
            ("IR_CCAM_V63", 8161),
            ("openmedic_ATC1", 15),
            ("openmedic_ATC2", 88),
            ("openmedic_ATC3", 250),
            ("openmedic_ATC4", 844),
            ("openmedic_ATC5", 1394),
        ];
        for (n, len) in expect {
            assert_eq!(get(n).map(Nomenclature::len), Some(len), "{n}");
        }
    }

    #[test]
    fn key_and_label_columns() {
        let cols = |n: &str| {
            let t = get(n).expect("table");
            (t.code_field().to_owned(), t.label_field().to_owned())
        };
        assert_eq!(cols("IR_SEX_V"), ("SEX_COD".into(), "SEX_LIB".into()));
        assert_eq!(
            cols("IR_DPT_V"),
            ("GEO_DPT_COD".into(), "GEO_DPT_LIB".into())
        );
        assert_eq!(cols("IR_NAT_V"), ("PRS_NAT".into(), "PRS_NAT_LIB".into()));
        assert_eq!(
            cols("IR_SPE_V"),
            ("PFS_SPE_COD".into(), "PFS_SPE_LIB".into())
        );
        assert_eq!(cols("MS_CIM_V"), ("CIM_COD".into(), "CIM_LIL".into()));
        assert_eq!(
            cols("IR_CCAM_V63"),
            ("CAM_PRS_IDE_COD".into(), "CAM_PRS_IDE_LIB".into())
        );
        assert_eq!(
            cols("openmedic_ATC5"),
            ("ATC5".into(), "Libellé ATC5".into())
        );
    }

    #[test]
    fn known_codes() {
        let sex = get("IR_SEX_V").expect("sex");
        assert_eq!(sex.label("1"), Some("MASCULIN"));
        assert_eq!(sex.label("2"), Some("FEMININ"));
        assert!(sex.contains(" 2 ") && sex.contains("02") && sex.contains("1.0"));
        assert!(!sex.contains("3") && !sex.contains("") && !sex.contains("M"));

        let dpt = get("IR_DPT_V").expect("dpt");
        assert_eq!(dpt.label("075"), Some("PARIS"));
        assert!(dpt.contains("02A") && dpt.contains("974") && dpt.contains("048"));
        assert!(!dpt.contains("75"), "string keys are not zero-padded");

        let cim = get("MS_CIM_V").expect("cim");
        assert!(cim.contains("E11") && cim.contains("E119") && cim.contains("C509"));
        assert_eq!(
            cim.label("E119"),
            Some("Diabète sucré  de type 2, sans complication")
        );
        assert!(!cim.contains("E11.9"));

        let nat = get("IR_NAT_V").expect("nat");
        assert_eq!(nat.label("1110"), Some("CONSULTATION MEDECINE GENERALE"));
        assert_eq!(nat.label("3313"), Some("PHARMACIE 65%"));

        let spe = get("IR_SPE_V").expect("spe");
        assert_eq!(spe.label("1"), Some("MEDECINE GENERALE"));

        let ccam = get("IR_CCAM_V63").expect("ccam");
        assert_eq!(ccam.label("ZBQK002"), Some("Radiographie du thorax"));
        // A label spanning several lines in the file (quoted field) does not break parsing.
        assert!(ccam.contains("DDAF006"));

        let atc5 = get("openmedic_ATC5").expect("atc5");
        assert_eq!(atc5.label("A10BA02"), Some("METFORMINE"));
        assert_eq!(
            get("openmedic_ATC2")
                .and_then(|t| t.label("A10"))
                .map(str::trim),
            Some("MEDICAMENTS DU DIABETE")
        );
        assert_eq!(
            get("openmedic_ATC1").and_then(|t| t.label("N")),
            Some("Système nerveux")
        );
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical(" 007 ", true).as_deref(), Some("7"));
        assert_eq!(canonical("0", true).as_deref(), Some("0"));
        assert_eq!(canonical("000", true).as_deref(), Some("0"));
        assert_eq!(canonical("12.00", true).as_deref(), Some("12"));
        assert_eq!(canonical("12.5", true).as_deref(), Some("12.5"));
        assert_eq!(canonical("  ", true), None);
        assert_eq!(canonical(" 075 ", false).as_deref(), Some("075"));
    }
}
