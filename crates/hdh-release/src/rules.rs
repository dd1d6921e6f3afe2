//! The rules' parameters: defaults, TOML, per-dataset overrides.
//!
//! ```toml
//! threshold = 10            # smallest number of persons behind a cell
//! zeros_disclosive = false  # an empty cell (nobody) is disclosive
//! full_disclosive = false   # a cell holding its whole row (100 %) is disclosive
//! rounding = "none"         # "none", "base5", "midpoint6"
//! min_dof = 10              # residual degrees of freedom of a model
//! differencing = "suppress" # or "flag": a cell a few persons away from a released one
//!
//! [dominance]
//! n = 2                     # (n, k) rule: the n largest contributors …
//! k = 0.9                   # … hold at least k of the total
//! p = 0.1                   # p % rule: the others hide less than p of the largest
//!
//! [datasets.snds-dcir]      # stricter rules for one dataset
//! threshold = 11
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How released counts are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    /// Shown as computed.
    #[default]
    None,
    /// To the nearest multiple of 5.
    Base5,
    /// OpenSAFELY's midpoint-6: 0 stays 0, 1–6 → 3, 7–12 → 9, 13–18 → 15 …
    Midpoint6,
}

impl Rounding {
    /// The released value of a count. Totals are rounded from their true
    /// value, like every other cell (they may differ from the sum of the
    /// rounded cells: recomputing them from rounded cells would reveal more).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Rounding::None => x,
            Rounding::Base5 => (x / 5.0).round() * 5.0,
            Rounding::Midpoint6 => {
                if x == 0.0 {
                    0.0
                } else {
                    (x / 6.0).ceil() * 6.0 - 3.0
                }
            }
        }
    }
}

/// What happens to a cell that differs from an already released one by a
/// small group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DifferencingAction {
    /// Suppressed (then protected by secondary suppression like any other).
    #[default]
    Suppress,
    /// Left for the checker, flagged.
    Flag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dominance {
    pub n: usize,
    pub k: f64,
    pub p: f64,
}

impl Default for Dominance {
    fn default() -> Self {
        Dominance {
            n: 2,
            k: 0.9,
            p: 0.1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    pub threshold: u64,
    pub zeros_disclosive: bool,
    pub full_disclosive: bool,
    pub dominance: Dominance,
    pub rounding: Rounding,
    pub min_dof: u64,
    pub differencing: DifferencingAction,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            threshold: 10,
            zeros_disclosive: false,
            full_disclosive: false,
            dominance: Dominance::default(),
            rounding: Rounding::None,
            min_dof: 10,
            differencing: DifferencingAction::Suppress,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RulesError {
    #[error("{0}")]
    Toml(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl Rules {
    /// Parses rules from TOML (unknown keys are errors; the message names the
    /// line and column).
    pub fn from_toml(text: &str) -> Result<Rules, RulesError> {
        Ok(RuleSet::from_toml(text)?.hub)
    }

    fn validate(&self, at: &str) -> Result<(), RulesError> {
        let bad = |field: &str, message: &str| {
            Err(RulesError::Invalid {
                field: format!("{at}{field}"),
                message: message.to_string(),
            })
        };
        if self.threshold == 0 {
            return bad("threshold", "must be at least 1");
        }
        if self.dominance.n == 0 {
            return bad("dominance.n", "must be at least 1");
        }
        if !(self.dominance.k > 0.0 && self.dominance.k <= 1.0) {
            return bad("dominance.k", "must be in (0, 1] (0.9 is 90 %)");
        }
        if !(self.dominance.p >= 0.0 && self.dominance.p < 1.0) {
            return bad("dominance.p", "must be in [0, 1) (0.1 is 10 %)");
        }
        Ok(())
    }

    /// The stricter of two rule sets, parameter by parameter (a release over
    /// two datasets obeys both).
    pub fn strictest(&self, other: &Rules) -> Rules {
        Rules {
            threshold: self.threshold.max(other.threshold),
            zeros_disclosive: self.zeros_disclosive || other.zeros_disclosive,
            full_disclosive: self.full_disclosive || other.full_disclosive,
            dominance: Dominance {
                n: self.dominance.n.min(other.dominance.n),
                k: self.dominance.k.min(other.dominance.k),
                p: self.dominance.p.max(other.dominance.p),
            },
            rounding: if self.rounding == Rounding::None {
                other.rounding
            } else {
                self.rounding
            },
            min_dof: self.min_dof.max(other.min_dof),
            differencing: if self.differencing == DifferencingAction::Suppress
                || other.differencing == DifferencingAction::Suppress
            {
                DifferencingAction::Suppress
            } else {
                DifferencingAction::Flag
            },
        }
    }
}

/// The hub's rules and each dataset's overrides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleSet {
    pub hub: Rules,
    pub datasets: BTreeMap<String, Rules>,
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

impl RuleSet {
    pub fn from_toml(text: &str) -> Result<RuleSet, RulesError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string().trim().to_string()))?;
        let datasets = match table.remove("datasets") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => {
                return Err(RulesError::Invalid {
                    field: "datasets".into(),
                    message: "must be a table of [datasets.<id>] sections".into(),
                });
            }
        };
        let parse = |t: toml::Table, at: &str| -> Result<Rules, RulesError> {
            let rules: Rules = toml::Value::Table(t)
                .try_into()
                .map_err(|e: toml::de::Error| RulesError::Invalid {
                    field: at.trim_end_matches('.').to_string(),
                    message: e.to_string().trim().to_string(),
                })?;
            rules.validate(at)?;
            Ok(rules)
        };
        let hub = parse(table.clone(), "")?;
        let mut out = BTreeMap::new();
        for (id, over) in datasets {
            let toml::Value::Table(over) = over else {
                return Err(RulesError::Invalid {
                    field: format!("datasets.{id}"),
                    message: "must be a table".into(),
                });
            };
            let mut merged = table.clone();
            merge(&mut merged, &over);
            out.insert(id.clone(), parse(merged, &format!("datasets.{id}."))?);
        }
        Ok(RuleSet { hub, datasets: out })
    }

    /// The rules for a table drawn from these datasets: the strictest of
    /// their overrides, never weaker than the hub's.
    pub fn for_datasets<S: AsRef<str>>(&self, datasets: &[S]) -> Rules {
        datasets
            .iter()
            .filter_map(|d| self.datasets.get(d.as_ref()))
            .fold(self.hub.clone(), |acc, r| acc.strictest(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let r = Rules::from_toml("").unwrap();
        assert_eq!(r, Rules::default());
        assert_eq!(r.threshold, 10);
        assert_eq!((r.dominance.n, r.dominance.k, r.dominance.p), (2, 0.9, 0.1));
        assert_eq!(r.min_dof, 10);
    }

    #[test]
    fn per_dataset_rules_override_and_combine_strictly() {
        let set = RuleSet::from_toml(
            "threshold = 10\n[dominance]\nk = 0.9\n[datasets.dcir]\nthreshold = 11\n[datasets.pmsi.dominance]\nk = 0.8\n",
        )
        .unwrap();
        assert_eq!(set.for_datasets(&["dcir"]).threshold, 11);
        assert_eq!(set.for_datasets(&["pmsi"]).threshold, 10);
        assert_eq!(set.for_datasets(&["pmsi"]).dominance.k, 0.8);
        let both = set.for_datasets(&["dcir", "pmsi"]);
        assert_eq!((both.threshold, both.dominance.k), (11, 0.8));
        assert_eq!(set.for_datasets(&["other"]), set.hub);
    }

    #[test]
    fn bad_rules_name_where() {
        let e = Rules::from_toml("threshold = 10\nthreshhold = 3\n").unwrap_err();
        assert!(e.to_string().contains("threshhold"), "{e}");
        let e = Rules::from_toml("threshold = \"ten\"\n").unwrap_err();
        assert!(e.to_string().contains("threshold"), "{e}");
        let e = Rules::from_toml("threshold = \n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = Rules::from_toml("[dominance]\nk = 90\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dominance.k: must be in (0, 1] (0.9 is 90 %)"
        );
        let e = RuleSet::from_toml("[datasets.x]\nthreshold = 0\n").unwrap_err();
        assert_eq!(e.to_string(), "datasets.x.threshold: must be at least 1");
    }

    #[test]
    fn rounding() {
        let b5: Vec<f64> = [0.0, 2.0, 3.0, 12.0, 13.0]
            .iter()
            .map(|&x| Rounding::Base5.apply(x))
            .collect();
        assert_eq!(b5, vec![0.0, 0.0, 5.0, 10.0, 15.0]);
        let m6: Vec<f64> = [0.0, 1.0, 6.0, 7.0, 12.0, 13.0]
            .iter()
            .map(|&x| Rounding::Midpoint6.apply(x))
            .collect();
        assert_eq!(m6, vec![0.0, 3.0, 3.0, 9.0, 9.0, 15.0]);
        assert_eq!(Rounding::None.apply(7.0), 7.0);
    }
}
