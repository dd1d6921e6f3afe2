//! Statistics computed from a published version's data (never typed in) and the
//! disclosure control applied to them before anyone sees them.
//!
//! The computation itself runs where the data is (the workspace engine); this
//! module holds the shapes and the rules: every count under the threshold is
//! replaced by `None` ("fewer than N"), and person identifiers get no distribution.

use serde::{Deserialize, Serialize};

use crate::metadata::Period;

/// Statistics of one published version of a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionStatistics {
    pub version: i64,
    /// Rows over all tables.
    pub records: u64,
    /// Distinct persons over all tables (None: no person identifier, or suppressed).
    pub individuals: Option<u64>,
    /// Earliest and latest value of the tables' period fields.
    pub period: Option<Period>,
    /// The threshold under which counts were suppressed.
    pub threshold: u64,
    pub tables: Vec<TableStatistics>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStatistics {
    pub table: String,
    pub records: u64,
    pub individuals: Option<u64>,
    pub period: Option<Period>,
    pub variables: Vec<VariableStatistics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableStatistics {
    pub name: String,
    /// Non-null values over rows, in [0, 1].
    pub completeness: f64,
    /// Distinct non-null values (None: suppressed or a person identifier).
    pub distinct: Option<u64>,
    pub distribution: Distribution,
}

/// One bar of a distribution. `count` is None when under the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Most frequent values (categorical variables, codes). `other` counts the
    /// rows outside the bars (None when suppressed).
    TopValues { bars: Vec<Bar>, other: Option<u64> },
    /// Equal-width bins of a numeric or date variable; labels give the bounds.
    Histogram { bars: Vec<Bar> },
    /// No distribution is shown (person identifiers, free text).
    Hidden { reason: String },
}

/// Applies the threshold: counts strictly below `threshold` (and above zero)
/// become None.
pub fn suppress(count: u64, threshold: u64) -> Option<u64> {
    if count > 0 && count < threshold {
        None
    } else {
        Some(count)
    }
}

impl VersionStatistics {
    pub fn table(&self, name: &str) -> Option<&TableStatistics> {
        self.tables.iter().find(|t| t.table == name)
    }
}

impl TableStatistics {
    pub fn variable(&self, name: &str) -> Option<&VariableStatistics> {
        self.variables.iter().find(|v| v.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_small_nonzero_counts() {
        assert_eq!(suppress(0, 10), Some(0));
        assert_eq!(suppress(9, 10), None);
        assert_eq!(suppress(10, 10), Some(10));
    }
}
