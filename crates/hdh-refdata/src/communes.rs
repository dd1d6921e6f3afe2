//! The SNDS commune table `IR_GEO_V` (Géographie administrative et
//! sanitaire): each commune, keyed by its département and commune codes,
//! with its name, employment basin and health sector.
//!
//! Its key has two columns, so it is not a [`crate::Nomenclature`] (code →
//! label); linkage uses it to compare places by what the SNDS knows of them
//! (the same commune, the same employment basin, the same département).
//!
//! ```
//! let c = hdh_refdata::communes::get("014628").expect("vendored");
//! assert_eq!(c.name, "ST MARTIN DE SALLEN");
//! assert_eq!(c.basin, "2501");
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

/// The vendored CSV, unmodified (`;`-separated, header row).
pub const RAW_CSV: &str = include_str!("../data/IR_GEO_V.csv");
/// Its upstream Table Schema.
pub const RAW_SCHEMA_JSON: &str = include_str!("../data/IR_GEO_V.json");

/// One commune of `IR_GEO_V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    /// Département (3 characters, `GEO_DPT_COD`) and commune (3, `GEO_COM_COD`).
    pub code: String,
    /// `GEO_COM_LIB`.
    pub name: String,
    /// Employment basin (`GEO_EMP_BAS`).
    pub basin: String,
    /// Health sector (`GEO_SAN_SEC`).
    pub sector: String,
}

impl Commune {
    /// The département's code (the code's first three characters).
    pub fn departement(&self) -> &str {
        &self.code[..3]
    }
}

/// The table, parsed once.
pub struct Communes {
    rows: Vec<Commune>,
    index: HashMap<String, usize>,
}

impl Communes {
    /// The commune whose code (département + commune, 6 characters) is `code`.
    pub fn get(&self, code: &str) -> Option<&Commune> {
        self.index.get(code).map(|&i| &self.rows[i])
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Commune> {
        self.rows.iter()
    }
}

fn parse() -> Communes {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(RAW_CSV.as_bytes());
    let mut rows = Vec::new();
    let mut index = HashMap::new();
    for record in reader.records() {
        // The vendored file is fixed and checked by a test: a malformed
        // line cannot appear at run time.
        let Ok(r) = record else { continue };
        let (Some(dpt), Some(com), Some(name), Some(basin), Some(sector)) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
        else {
            continue;
        };
        let code = format!("{dpt}{com}");
        index.insert(code.clone(), rows.len());
        rows.push(Commune {
            code,
            name: name.to_string(),
            basin: basin.to_string(),
            sector: sector.to_string(),
        });
    }
    Communes { rows, index }
}

/// The vendored table, parsed on first use.
pub fn communes() -> &'static Communes {
    static TABLE: OnceLock<Communes> = OnceLock::new();
    TABLE.get_or_init(parse)
}

/// The commune whose code is `code` (département + commune, 6 characters).
pub fn get(code: &str) -> Option<&'static Commune> {
    communes().get(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses_to_a_distinct_commune() {
        let lines = RAW_CSV.lines().count() - 1;
        let t = communes();
        assert_eq!(t.len(), lines);
        assert_eq!(t.len(), 40_589);
        assert!(t.iter().all(|c| c.code.len() == 6 && !c.basin.is_empty()));
        let paris = t.iter().filter(|c| c.departement() == "075").count();
        assert!(paris >= 20, "Paris's arrondissements: {paris}");
        assert!(get("99999x").is_none());
    }
}
