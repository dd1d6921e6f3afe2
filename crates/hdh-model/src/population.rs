//! A request's population, as criteria on codes and dates that the hub
//! applies when it builds the extraction ("persons with at least one
//! dispensation of ATC A10 between 2019 and 2022").
//!
//! A [`PopulationCriterion`] names a table and a code column of the
//! request's scope, code prefixes, an optional date window (the request's
//! period by default) and a minimum number of matching rows. A person is in
//! the population when every inclusion criterion matches them and no
//! exclusion criterion does. Criteria are parsed here (codes normalised,
//! dates checked); resolving them against schemas is the workspace's job.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One criterion on codes and dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopulationCriterion {
    /// Dataset of the table (one of the request's scope).
    pub dataset: String,
    /// Table holding the code column (`ER_PHA_F`, `IR_PHA_R`, `T_MCO23B` …).
    pub table: String,
    /// Code column (`PHA_ATC_C07`, `DGN_PAL`, `PRS_NAT_REF` …).
    pub column: String,
    /// Code prefixes: a row matches when its code starts with one of them
    /// (`A10` matches every antidiabetic, `E11` every type 2 diabetes code).
    pub codes: Vec<String>,
    /// First day of the window of matching rows (default: the request's period).
    #[serde(default)]
    pub from: Option<NaiveDate>,
    /// Last day of the window (default: the request's period).
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// At least this many matching rows (default 1).
    #[serde(default = "one")]
    pub min_rows: u32,
    /// An exclusion criterion: persons it matches are left out.
    #[serde(default)]
    pub exclude: bool,
}

fn one() -> u32 {
    1
}

/// Why a criterion cannot be used. Names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("population criterion {index}, {field}: {reason}")]
pub struct CriterionError {
    /// 1-based position in the request's list.
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

impl PopulationCriterion {
    /// Checks and normalises a criterion (codes upper-cased and trimmed,
    /// duplicates removed, window inside itself). `index` is 1-based.
    pub fn parse(mut self, index: usize) -> Result<PopulationCriterion, CriterionError> {
        let err = |field: &'static str, reason: String| CriterionError {
            index,
            field,
            reason,
        };
        for (field, v) in [
            ("dataset", &self.dataset),
            ("table", &self.table),
            ("column", &self.column),
        ] {
            if v.trim().is_empty() {
                return Err(err(field, "is required".into()));
            }
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                return Err(err(
                    field,
                    format!("{v:?} is not a name (letters, digits, _ - . only)"),
                ));
            }
        }
        let mut codes: Vec<String> = Vec::new();
        for c in &self.codes {
            let c = c.trim().to_uppercase();
            if c.is_empty() {
                continue;
            }
            if c.len() > 32
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' || ch == '_')
            {
                return Err(err(
                    "codes",
                    format!("{c:?} is not a code (letters, digits, . - _; at most 32)"),
                ));
            }
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
        if codes.is_empty() {
            return Err(err("codes", "give at least one code or code prefix".into()));
        }
        codes.sort();
        self.codes = codes;
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f > t
        {
            return Err(err("to", format!("{t} is before {f}")));
        }
        if self.min_rows == 0 {
            return Err(err("min_rows", "must be at least 1".into()));
        }
        Ok(self)
    }

    /// Whether a code matches one of the prefixes.
    pub fn matches(&self, code: &str) -> bool {
        self.codes.iter().any(|p| code.starts_with(p.as_str()))
    }

    /// The date window, defaulting to the request's period.
    pub fn window(&self, period: (NaiveDate, NaiveDate)) -> (NaiveDate, NaiveDate) {
        (self.from.unwrap_or(period.0), self.to.unwrap_or(period.1))
    }

    /// A sentence for pages and the registry ("at least 1 row of
    /// ER_PHA_F.PHA_ATC_C07 starting with A10, 2019-01-01 – 2022-12-31").
    pub fn describe(&self, period: (NaiveDate, NaiveDate)) -> String {
        let (from, to) = self.window(period);
        format!(
            "{}at least {} row{} of {}.{} starting with {}, {} – {}",
            if self.exclude { "not: " } else { "" },
            self.min_rows,
            if self.min_rows == 1 { "" } else { "s" },
            self.table,
            self.column,
            self.codes.join(" or "),
            from,
            to
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(codes: &[&str]) -> PopulationCriterion {
        PopulationCriterion {
            dataset: "snds-demo".into(),
            table: "IR_PHA_R".into(),
            column: "PHA_ATC_C07".into(),
            codes: codes.iter().map(|s| s.to_string()).collect(),
            from: None,
            to: None,
            min_rows: 1,
            exclude: false,
        }
    }

    #[test]
    fn codes_are_normalised_and_matched_as_prefixes() {
        let k = c(&[" a10 ", "A10", "n02b"]).parse(1).unwrap();
        assert_eq!(k.codes, vec!["A10", "N02B"]);
        assert!(k.matches("A10BA02"));
        assert!(k.matches("N02BE01"));
        assert!(!k.matches("A11"));
    }

    #[test]
    fn bad_criteria_name_their_field() {
        let e = c(&[]).parse(2).unwrap_err();
        assert_eq!((e.index, e.field), (2, "codes"));
        let e = c(&["A10; DROP"]).parse(1).unwrap_err();
        assert_eq!(e.field, "codes");
        let mut k = c(&["A10"]);
        k.from = NaiveDate::from_ymd_opt(2022, 1, 1);
        k.to = NaiveDate::from_ymd_opt(2021, 1, 1);
        assert_eq!(k.parse(1).unwrap_err().field, "to");
        let mut k = c(&["A10"]);
        k.table = "T x".into();
        assert_eq!(k.parse(1).unwrap_err().field, "table");
    }

    #[test]
    fn the_window_defaults_to_the_period() {
        let p = (
            NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
        );
        let mut k = c(&["A10"]);
        k.from = NaiveDate::from_ymd_opt(2022, 1, 1);
        assert_eq!(k.window(p).0.to_string(), "2022-01-01");
        assert_eq!(k.window(p).1.to_string(), "2023-12-31");
        assert!(
            k.describe(p)
                .contains("IR_PHA_R.PHA_ATC_C07 starting with A10")
        );
    }
}
