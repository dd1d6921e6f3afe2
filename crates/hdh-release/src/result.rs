//! The first check of a query result (primary suppression only).
//!
//! Pure rules over a result table whose columns are classified by the
//! workspace (which knows how each column was computed): group keys, counts
//! of persons or rows, and other aggregates. A row whose count is under the
//! threshold has its count and every other aggregate of the row suppressed
//! (a mean or a sum over fewer than the threshold is as disclosive as the
//! count itself).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisclosureRules {
    /// Smallest count that may be shown (SNDS rule: 10).
    pub threshold: u64,
    /// Whether a zero count is disclosive too.
    pub suppress_zero: bool,
    /// What a suppressed cell shows.
    pub marker: String,
}

impl Default for DisclosureRules {
    fn default() -> Self {
        DisclosureRules {
            threshold: 10,
            suppress_zero: false,
            marker: "*".to_string(),
        }
    }
}

/// How each column of a result was computed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ColumnRoles {
    pub group_keys: Vec<String>,
    pub counts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuppressedCell {
    /// 0-based row index in the result.
    pub row: usize,
    pub column: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    pub rules: DisclosureRules,
    pub roles: ColumnRoles,
    pub rows: usize,
    pub suppressed: Vec<SuppressedCell>,
    /// Remarks for the human checker (e.g. no count column found).
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub fn has_suppressions(&self) -> bool {
        !self.suppressed.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckError {
    #[error("count column {column:?} holds a non-numeric value {value:?} at row {row}")]
    NotACount {
        column: String,
        row: usize,
        value: String,
    },
    #[error("unknown column {0:?} in the column roles")]
    UnknownColumn(String),
}

/// Applies primary suppression and returns the table that may leave, with a report.
pub fn check(
    table: &ResultTable,
    roles: &ColumnRoles,
    rules: &DisclosureRules,
) -> Result<(ResultTable, CheckReport), CheckError> {
    let idx = |name: &str| {
        table
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| CheckError::UnknownColumn(name.to_string()))
    };
    let count_idx: Vec<usize> = roles
        .counts
        .iter()
        .map(|c| idx(c))
        .collect::<Result<_, _>>()?;
    let key_idx: Vec<usize> = roles
        .group_keys
        .iter()
        .map(|c| idx(c))
        .collect::<Result<_, _>>()?;
    let mut out = table.clone();
    let mut suppressed = Vec::new();
    let mut warnings = Vec::new();
    if count_idx.is_empty() {
        warnings.push(
            "no count column was found in this result: the number of persons behind each cell could not be checked automatically"
                .to_string(),
        );
    }
    for (r, row) in table.rows.iter().enumerate() {
        let mut small: Option<(String, u64)> = None;
        for &c in &count_idx {
            let Some(v) = row.get(c).cloned().flatten() else {
                continue;
            };
            let n: f64 = v.trim().parse().map_err(|_| CheckError::NotACount {
                column: table.columns[c].clone(),
                row: r,
                value: v.clone(),
            })?;
            let n = n.max(0.0) as u64;
            let disclosive = n < rules.threshold && (n > 0 || rules.suppress_zero);
            if disclosive && small.as_ref().is_none_or(|(_, m)| n < *m) {
                small = Some((table.columns[c].clone(), n));
            }
        }
        if let Some((col, _)) = small {
            for (c, name) in table.columns.iter().enumerate() {
                if key_idx.contains(&c) {
                    continue;
                }
                out.rows[r][c] = Some(rules.marker.clone());
                suppressed.push(SuppressedCell {
                    row: r,
                    column: name.clone(),
                    reason: if count_idx.contains(&c) && *name == col {
                        format!("count under the threshold of {}", rules.threshold)
                    } else {
                        format!(
                            "computed over fewer than {} (count {col:?})",
                            rules.threshold
                        )
                    },
                });
            }
        }
    }
    let report = CheckReport {
        rules: rules.clone(),
        roles: roles.clone(),
        rows: table.rows.len(),
        suppressed,
        warnings,
    };
    Ok((out, report))
}

/// Renders a result as CSV (RFC 4180 quoting).
pub fn to_csv(table: &ResultTable) -> String {
    fn q(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = table
        .columns
        .iter()
        .map(|c| q(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in &table.rows {
        out.push_str(
            &row.iter()
                .map(|v| q(v.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[(&str, &str, &str)]) -> ResultTable {
        ResultTable {
            columns: vec!["dpt".into(), "n".into(), "mean_cost".into()],
            rows: rows
                .iter()
                .map(|(a, b, c)| {
                    vec![
                        Some(a.to_string()),
                        Some(b.to_string()),
                        Some(c.to_string()),
                    ]
                })
                .collect(),
        }
    }

    fn roles() -> ColumnRoles {
        ColumnRoles {
            group_keys: vec!["dpt".into()],
            counts: vec!["n".into()],
        }
    }

    #[test]
    fn small_counts_and_their_aggregates_are_suppressed() {
        let table = t(&[
            ("075", "120", "35.2"),
            ("048", "3", "80.0"),
            ("013", "10", "20.0"),
            ("2A", "9", "1.0"),
        ]);
        let (out, rep) = check(&table, &roles(), &DisclosureRules::default()).unwrap();
        assert_eq!(out.rows[0], table.rows[0]);
        assert_eq!(
            out.rows[1],
            vec![Some("048".into()), Some("*".into()), Some("*".into())]
        );
        assert_eq!(out.rows[2], table.rows[2], "10 is not under the threshold");
        assert_eq!(out.rows[3][1].as_deref(), Some("*"));
        assert_eq!(rep.suppressed.len(), 4);
        assert!(rep.has_suppressions());
        assert!(!to_csv(&out).contains(",3,"));
    }

    #[test]
    fn zero_is_configurable() {
        let table = t(&[("075", "0", "")]);
        let (out, _) = check(&table, &roles(), &DisclosureRules::default()).unwrap();
        assert_eq!(out.rows[0][1].as_deref(), Some("0"));
        let rules = DisclosureRules {
            suppress_zero: true,
            ..Default::default()
        };
        let (out, _) = check(&table, &roles(), &rules).unwrap();
        assert_eq!(out.rows[0][1].as_deref(), Some("*"));
    }

    #[test]
    fn threshold_is_configurable_and_bad_counts_are_errors() {
        let table = t(&[("075", "12", "1")]);
        let rules = DisclosureRules {
            threshold: 20,
            ..Default::default()
        };
        let (_, rep) = check(&table, &roles(), &rules).unwrap();
        assert_eq!(rep.suppressed.len(), 2);
        let bad = t(&[("075", "many", "1")]);
        assert!(matches!(
            check(&bad, &roles(), &rules),
            Err(CheckError::NotACount { .. })
        ));
    }

    #[test]
    fn csv_quotes() {
        let table = ResultTable {
            columns: vec!["a".into()],
            rows: vec![vec![Some("x,\"y\"".into())], vec![None]],
        };
        assert_eq!(to_csv(&table), "a\n\"x,\"\"y\"\"\"\n\n");
    }
}
