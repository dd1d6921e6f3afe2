//! Dataset metadata aligned with HealthDCAT-AP (the EHDS profile of DCAT-AP 3).
//!
//! A producer writes it as `dataset.json` next to a delivery; the import of a
//! Frictionless package builds it from the package. [`DatasetMetadata::from_json`]
//! parses (and checks) it once; everything downstream uses the typed value.
//! Numbers that describe the *data* (records, unique individuals, period covered,
//! completeness) are never typed in: they live in [`crate::stats`] and are computed
//! from each published version.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::quality::{InvalidRowsPolicy, QualityRule};

/// A text in French and English. Either may be empty in input; [`Localized::get`]
/// falls back to the other language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    #[serde(default)]
    pub fr: String,
    #[serde(default)]
    pub en: String,
}

impl Localized {
    pub fn new(fr: impl Into<String>, en: impl Into<String>) -> Localized {
        Localized {
            fr: fr.into(),
            en: en.into(),
        }
    }
    /// Both languages the same (names, codes).
    pub fn same(text: impl Into<String>) -> Localized {
        let t = text.into();
        Localized {
            fr: t.clone(),
            en: t,
        }
    }
    /// The text in `lang` (`"fr"` or `"en"`), else in the other language.
    pub fn get(&self, lang: &str) -> &str {
        let (first, second) = if lang == "en" {
            (&self.en, &self.fr)
        } else {
            (&self.fr, &self.en)
        };
        if first.is_empty() { second } else { first }
    }
    pub fn is_empty(&self) -> bool {
        self.fr.is_empty() && self.en.is_empty()
    }
}

/// An organisation: the publisher (who makes the dataset available) or the
/// producer (who collects the data; `dct:creator`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Whom to write to about the dataset (`dcat:contactPoint`, a vCard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPoint {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `dct:accessRights`, from the EU access-right vocabulary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessRights {
    Public,
    Restricted,
    /// Personal health data reached only through an authorised project (the norm).
    #[default]
    NonPublic,
}

impl AccessRights {
    pub fn code(self) -> &'static str {
        match self {
            AccessRights::Public => "PUBLIC",
            AccessRights::Restricted => "RESTRICTED",
            AccessRights::NonPublic => "NON_PUBLIC",
        }
    }
    pub fn uri(self) -> String {
        format!(
            "http://publications.europa.eu/resource/authority/access-right/{}",
            self.code()
        )
    }
}

/// `dct:accrualPeriodicity`, from the EU frequency vocabulary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    #[default]
    Annual,
    Irregular,
    Never,
    Unknown,
}

impl Frequency {
    pub const ALL: [Frequency; 8] = [
        Frequency::Daily,
        Frequency::Weekly,
        Frequency::Monthly,
        Frequency::Quarterly,
        Frequency::Annual,
        Frequency::Irregular,
        Frequency::Never,
        Frequency::Unknown,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Quarterly => "QUARTERLY",
            Frequency::Annual => "ANNUAL",
            Frequency::Irregular => "IRREG",
            Frequency::Never => "NEVER",
            Frequency::Unknown => "UNKNOWN",
        }
    }
    pub fn uri(self) -> String {
        format!(
            "http://publications.europa.eu/resource/authority/frequency/{}",
            self.code()
        )
    }
    pub fn label(self, lang: &str) -> &'static str {
        let fr = lang != "en";
        match self {
            Frequency::Daily => {
                if fr {
                    "quotidienne"
                } else {
                    "daily"
                }
            }
            Frequency::Weekly => {
                if fr {
                    "hebdomadaire"
                } else {
                    "weekly"
                }
            }
            Frequency::Monthly => {
                if fr {
                    "mensuelle"
                } else {
                    "monthly"
                }
            }
            Frequency::Quarterly => {
                if fr {
                    "trimestrielle"
                } else {
                    "quarterly"
                }
            }
            Frequency::Annual => {
                if fr {
                    "annuelle"
                } else {
                    "annual"
                }
            }
            Frequency::Irregular => {
                if fr {
                    "irrégulière"
                } else {
                    "irregular"
                }
            }
            Frequency::Never => {
                if fr {
                    "aucune"
                } else {
                    "never"
                }
            }
            Frequency::Unknown => {
                if fr {
                    "inconnue"
                } else {
                    "unknown"
                }
            }
        }
    }
}

/// A theme of the EU data-theme vocabulary (`dcat:theme`), e.g. `HEAL`, `SOCI`.
pub const DATA_THEMES: [(&str, &str, &str); 6] = [
    ("HEAL", "Santé", "Health"),
    ("SOCI", "Population et société", "Population and society"),
    ("ECON", "Économie et finances", "Economy and finance"),
    (
        "GOVE",
        "Gouvernement et secteur public",
        "Government and public sector",
    ),
    ("REGI", "Régions et villes", "Regions and cities"),
    ("TECH", "Science et technologie", "Science and technology"),
];

pub fn theme_uri(code: &str) -> String {
    format!("http://publications.europa.eu/resource/authority/data-theme/{code}")
}

/// A coding system used by the data (`healthdcatap:hasCodingSystem`).
/// `uri` identifies the system (a Wikidata property where one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodingSystem {
    pub code: &'static str,
    pub label: &'static str,
    pub uri: &'static str,
    /// Nomenclature tables (by name) written in this system.
    pub nomenclatures: &'static [&'static str],
}

/// The coding systems the hub recognises, by the nomenclature tables of the SNDS.
pub const CODING_SYSTEMS: [CodingSystem; 6] = [
    CodingSystem {
        code: "ICD-10",
        label: "CIM-10 / ICD-10",
        uri: "http://www.wikidata.org/entity/P494",
        nomenclatures: &["IR_CIM_V", "MS_CIM_V"],
    },
    CodingSystem {
        code: "CCAM",
        label: "CCAM",
        uri: "http://www.wikidata.org/entity/Q2975416",
        nomenclatures: &["IR_CCAM_V63"],
    },
    CodingSystem {
        code: "ATC",
        label: "ATC",
        uri: "http://www.wikidata.org/entity/P267",
        nomenclatures: &["IR_PHA_R", "openmedic_ATC1", "openmedic_ATC5"],
    },
    CodingSystem {
        code: "UCD",
        label: "UCD",
        uri: "https://smt.esante.gouv.fr/terminologie-ucd/",
        nomenclatures: &["NU_UCD_R"],
    },
    CodingSystem {
        code: "LPP",
        label: "LPP",
        uri: "https://smt.esante.gouv.fr/terminologie-lpp/",
        nomenclatures: &["NT_LPP"],
    },
    CodingSystem {
        code: "COG",
        label: "COG (INSEE)",
        uri: "http://www.wikidata.org/entity/P374",
        nomenclatures: &["IR_GEO_V", "IR_DPT_V"],
    },
];

/// The coding system a nomenclature table belongs to, if a known one.
pub fn coding_system_of(nomenclature: &str) -> Option<&'static CodingSystem> {
    CODING_SYSTEMS
        .iter()
        .find(|c| c.nomenclatures.contains(&nomenclature))
}

pub fn coding_system(code: &str) -> Option<&'static CodingSystem> {
    CODING_SYSTEMS.iter().find(|c| c.code == code)
}

/// A period of time (`dct:temporal`), both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// How a dataset is described in the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetMetadata {
    pub title: Localized,
    #[serde(default)]
    pub description: Localized,
    /// Who makes the dataset available (`dct:publisher`).
    #[serde(default)]
    pub publisher: Agent,
    /// Who produces the data (`dct:creator`), e.g. the CNAM for the DCIR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<Agent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_point: Option<ContactPoint>,
    /// EU data-theme codes (`HEAL`, …).
    #[serde(default)]
    pub themes: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The period the data is meant to cover (declared; the period actually
    /// covered is computed from the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<Period>,
    /// ISO 3166-1 alpha-3 country codes (`FRA`).
    #[serde(default)]
    pub spatial: Vec<String>,
    #[serde(default)]
    pub legal_basis: Localized,
    #[serde(default)]
    pub purpose: Localized,
    #[serde(default)]
    pub access_rights: AccessRights,
    #[serde(default)]
    pub access_conditions: Localized,
    #[serde(default)]
    pub update_frequency: Frequency,
    #[serde(default)]
    pub population: Localized,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_typical_age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_typical_age: Option<u32>,
    /// Coding systems ([`CODING_SYSTEMS`] codes) used by the data.
    #[serde(default)]
    pub coding_systems: Vec<String>,
    /// Free-text quality notes (`dqv:hasQualityAnnotation`).
    #[serde(default)]
    pub quality_annotations: Vec<Localized>,
    /// The product family of a national system (e.g. SNDS `DCIR`, `PMSI MCO`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Licence of the distribution (an EU licence code such as `ETALAB_2_0`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Synthetic data (no real person).
    #[serde(default)]
    pub synthetic: bool,
    /// Coherence rules checked on every delivery (`qualityRules`; see
    /// [`QualityRule`] for their JSON).
    #[serde(
        rename = "qualityRules",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub quality_rules: Vec<QualityRule>,
    /// What the hub does with a delivery's invalid rows (`invalidRows`:
    /// `"reject"`, the default, or `"quarantine"`).
    #[serde(
        rename = "invalidRows",
        default,
        skip_serializing_if = "InvalidRowsPolicy::is_default"
    )]
    pub invalid_rows: InvalidRowsPolicy,
}

/// Why a `dataset.json` was refused: `pointer` is the JSON pointer of the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct MetadataError {
    pub pointer: String,
    pub message: String,
}

impl DatasetMetadata {
    /// Reads `dataset.json`. Accepts the plain-string shorthand for texts
    /// (`"title": "x"`) and the legacy key `producer` as a string.
    pub fn from_json_value(value: &Value) -> Result<DatasetMetadata, MetadataError> {
        let Value::Object(map) = value else {
            return Err(MetadataError {
                pointer: String::new(),
                message: "expected an object".into(),
            });
        };
        let mut map = map.clone();
        // Shorthands: a text given as one string stands for both languages.
        for key in [
            "title",
            "description",
            "legal_basis",
            "purpose",
            "access_conditions",
            "population",
        ] {
            if let Some(Value::String(s)) = map.get(key) {
                let s = s.clone();
                map.insert(key.into(), serde_json::json!({ "fr": s, "en": s }));
            }
        }
        for key in ["update_frequency", "access_rights"] {
            if let Some(Value::String(s)) = map.get(key) {
                let s = s.trim().to_ascii_uppercase().replace([' ', '-'], "_");
                let s = if s == "IRREG" {
                    "IRREGULAR".to_string()
                } else {
                    s
                };
                map.insert(key.into(), Value::String(s));
            }
        }
        if let Some(Value::String(s)) = map.get("producer") {
            let s = s.clone();
            map.insert("producer".into(), serde_json::json!({ "name": s }));
        }
        if let Some(Value::Array(items)) = map.get("quality_annotations") {
            let items: Vec<Value> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => serde_json::json!({ "fr": s, "en": s }),
                    other => other.clone(),
                })
                .collect();
            map.insert("quality_annotations".into(), Value::Array(items));
        }
        // Read by hand so that errors name the exact place (a rule's field).
        let mut quality_rules = Vec::new();
        let mut quality_rules_seen = false;
        for key in ["qualityRules", "quality_rules"] {
            if let Some(v) = map.remove(key) {
                if std::mem::replace(&mut quality_rules_seen, true) {
                    return Err(MetadataError {
                        pointer: format!("/{key}"),
                        message: "qualityRules given twice (qualityRules and quality_rules)".into(),
                    });
                }
                quality_rules = QualityRule::list_from_json_value(&v, &format!("/{key}"))?;
            }
        }
        let mut invalid_rows = InvalidRowsPolicy::default();
        let mut invalid_rows_seen = false;
        for key in ["invalidRows", "invalid_rows"] {
            if let Some(v) = map.remove(key) {
                let policy = v.as_str().and_then(InvalidRowsPolicy::parse);
                match policy {
                    Some(p) if !invalid_rows_seen => invalid_rows = p,
                    Some(_) => {
                        return Err(MetadataError {
                            pointer: format!("/{key}"),
                            message: "invalidRows given twice (invalidRows and invalid_rows)"
                                .into(),
                        });
                    }
                    None => {
                        return Err(MetadataError {
                            pointer: format!("/{key}"),
                            message: format!(
                                "{v} is not an invalid-rows policy (expected \"reject\" or \"quarantine\")"
                            ),
                        });
                    }
                }
                invalid_rows_seen = true;
            }
        }
        if !map.contains_key("title") {
            return Err(MetadataError {
                pointer: "/title".into(),
                message: "a dataset needs a title".into(),
            });
        }
        let mut meta: DatasetMetadata = serde_json::from_value(Value::Object(map.clone()))
            .map_err(|e| {
                let msg = e.to_string();
                // serde names the field in backquotes; find which key failed.
                let key = map
                    .keys()
                    .find(|k| msg.contains(&format!("`{k}`")))
                    .cloned()
                    .or_else(|| {
                        map.keys()
                            .find(|k| {
                                serde_json::from_value::<DatasetMetadata>(Value::Object(
                                    map.iter()
                                        .filter(|(k2, _)| k2 != k)
                                        .map(|(k, v)| (k.clone(), v.clone()))
                                        .collect(),
                                ))
                                .is_ok()
                            })
                            .cloned()
                    })
                    .unwrap_or_default();
                MetadataError {
                    pointer: if key.is_empty() {
                        String::new()
                    } else {
                        format!("/{key}")
                    },
                    message: msg,
                }
            })?;
        meta.quality_rules = quality_rules;
        meta.invalid_rows = invalid_rows;
        if meta.title.is_empty() {
            return Err(MetadataError {
                pointer: "/title".into(),
                message: "a dataset needs a title".into(),
            });
        }
        if meta.producer.is_none() && !meta.publisher.name.is_empty() {
            meta.producer = Some(meta.publisher.clone());
        }
        for (i, t) in meta.themes.iter().enumerate() {
            if !DATA_THEMES.iter().any(|(c, _, _)| c == t) {
                return Err(MetadataError {
                    pointer: format!("/themes/{i}"),
                    message: format!(
                        "unknown theme {t:?} (expected one of {})",
                        DATA_THEMES.map(|t| t.0).join(", ")
                    ),
                });
            }
        }
        for (i, c) in meta.coding_systems.iter().enumerate() {
            if coding_system(c).is_none() {
                return Err(MetadataError {
                    pointer: format!("/coding_systems/{i}"),
                    message: format!(
                        "unknown coding system {c:?} (expected one of {})",
                        CODING_SYSTEMS.map(|c| c.code).join(", ")
                    ),
                });
            }
        }
        for (i, s) in meta.spatial.iter().enumerate() {
            if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(MetadataError {
                    pointer: format!("/spatial/{i}"),
                    message: format!("{s:?} is not an ISO 3166-1 alpha-3 code such as \"FRA\""),
                });
            }
        }
        if let (Some(a), Some(b)) = (meta.min_typical_age, meta.max_typical_age)
            && a > b
        {
            return Err(MetadataError {
                pointer: "/min_typical_age".into(),
                message: format!("{a} is above max_typical_age {b}"),
            });
        }
        if let Some(p) = meta.temporal
            && p.start > p.end
        {
            return Err(MetadataError {
                pointer: "/temporal".into(),
                message: "the period starts after it ends".into(),
            });
        }
        Ok(meta)
    }

    /// A minimal description for a dataset delivered without `dataset.json`.
    pub fn untitled(dataset_id: &str, producer: &str) -> DatasetMetadata {
        DatasetMetadata {
            title: Localized::same(dataset_id),
            publisher: Agent {
                name: producer.to_string(),
                ..Agent::default()
            },
            producer: Some(Agent {
                name: producer.to_string(),
                ..Agent::default()
            }),
            themes: vec!["HEAL".into()],
            spatial: vec!["FRA".into()],
            ..DatasetMetadata::default()
        }
    }

    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The producer's name (falls back to the publisher).
    pub fn producer_name(&self) -> &str {
        self.producer
            .as_ref()
            .map(|p| p.name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.publisher.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_shorthands_and_checks_vocabularies() {
        let m = DatasetMetadata::from_json_value(&json!({
            "title": "DCIR",
            "producer": "CNAM",
            "themes": ["HEAL"],
            "coding_systems": ["ICD-10"],
            "temporal": { "start": "2021-01-01", "end": "2023-12-31" },
            "update_frequency": "MONTHLY"
        }))
        .unwrap();
        assert_eq!(m.title.get("en"), "DCIR");
        assert_eq!(m.producer_name(), "CNAM");
        assert_eq!(m.update_frequency, Frequency::Monthly);
        let back = DatasetMetadata::from_json_value(&m.to_json_value()).unwrap();
        assert_eq!(back, m);

        let e =
            DatasetMetadata::from_json_value(&json!({ "title": "x", "themes": ["HEAL", "NOPE"] }))
                .unwrap_err();
        assert_eq!(e.pointer, "/themes/1");
        let e = DatasetMetadata::from_json_value(
            &json!({ "title": "x", "update_frequency": "HOURLY" }),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/update_frequency");
        let e = DatasetMetadata::from_json_value(&json!({ "description": "x" })).unwrap_err();
        assert_eq!(e.pointer, "/title");
        let e = DatasetMetadata::from_json_value(
            &json!({ "title": "x", "min_typical_age": 90, "max_typical_age": 10 }),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/min_typical_age");
    }

    #[test]
    fn quality_rules_and_invalid_rows() {
        let m = DatasetMetadata::from_json_value(&json!({
            "title": "SNDS",
            "qualityRules": [
                {"table": "T_MCO_B", "field": "SOR_DAT", "notBefore": "ENT_DAT"},
                {"table": "ER_PRS_F", "field": "EXE_SOI_DTD",
                 "notAfter": {"table": "IR_BEN_R", "field": "BEN_DCD_DTE", "on": ["BEN_NIR_PSA"]}}
            ],
            "invalidRows": "quarantine"
        }))
        .unwrap();
        assert_eq!(m.quality_rules.len(), 2);
        assert_eq!(m.quality_rules[0].table, "T_MCO_B");
        assert_eq!(m.invalid_rows, InvalidRowsPolicy::Quarantine);
        let v = m.to_json_value();
        assert_eq!(v["invalidRows"], json!("quarantine"));
        assert_eq!(v["qualityRules"][0]["notBefore"], json!("ENT_DAT"));
        assert_eq!(
            v["qualityRules"][1]["notAfter"]["on"],
            json!(["BEN_NIR_PSA"])
        );
        assert_eq!(DatasetMetadata::from_json_value(&v).unwrap(), m);

        // Absent: no rules, reject; and nothing written back.
        let m = DatasetMetadata::from_json_value(&json!({ "title": "x" })).unwrap();
        assert!(m.quality_rules.is_empty());
        assert_eq!(m.invalid_rows, InvalidRowsPolicy::Reject);
        let v = m.to_json_value();
        assert!(v.get("qualityRules").is_none() && v.get("invalidRows").is_none());
        // snake_case spellings are accepted too.
        let m = DatasetMetadata::from_json_value(&json!({
            "title": "x", "invalid_rows": "REJECT",
            "quality_rules": [{"table": "T", "field": "F", "notBefore": "G"}]
        }))
        .unwrap();
        assert_eq!(m.quality_rules.len(), 1);

        let e = DatasetMetadata::from_json_value(&json!({
            "title": "x",
            "qualityRules": [
                {"table": "T", "field": "F", "notBefore": "G"},
                {"table": "T", "field": "F", "notAfter": {"table": "R", "field": "D", "on": "K"}}
            ]
        }))
        .unwrap_err();
        assert_eq!(e.pointer, "/qualityRules/1/notAfter/on");
        let e = DatasetMetadata::from_json_value(&json!({ "title": "x", "qualityRules": {} }))
            .unwrap_err();
        assert_eq!(e.pointer, "/qualityRules");
        let e = DatasetMetadata::from_json_value(&json!({ "title": "x", "invalidRows": "drop" }))
            .unwrap_err();
        assert_eq!(e.pointer, "/invalidRows");
        assert!(e.message.contains("quarantine"));
        let e = DatasetMetadata::from_json_value(
            &json!({ "title": "x", "invalidRows": "reject", "invalid_rows": "quarantine" }),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/invalid_rows");
    }

    #[test]
    fn localized_falls_back() {
        let t = Localized::new("médicament", "");
        assert_eq!(t.get("en"), "médicament");
    }
}
