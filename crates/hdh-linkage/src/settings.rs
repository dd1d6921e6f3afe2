//! A linkage's configuration, from TOML. Errors name the key at fault.
//!
//! ```toml
//! link_type = "link_only"          # or "dedupe_only"
//! threshold = 0.9                  # match probability that links a pair
//! recall = 0.8                     # share of matches the deterministic rules find
//! communes = ["commune"]           # SNDS commune codes: the edge adds
//!                                  # commune_basin and commune_sector
//!
//! [[blocking]]                     # candidate pairs: union of equi-join rules
//! columns = ["surname"]
//! [[blocking]]
//! columns = ["birth_date"]
//! salt = 4                         # split big blocks into 4 parts of work
//!
//! [[deterministic]]                # pairs that are surely matches (λ)
//! columns = ["given_name", "surname", "birth_date"]
//!
//! [training]
//! u_pairs = 1000000                # pairs for the u probabilities (all pairs of a random sample of records)
//! seed = 42
//! [[training.blocking]]            # EM sessions, one per rule
//! columns = ["birth_date"]
//!
//! [[comparison]]
//! name = "surname"
//! columns = ["surname"]
//! tf_adjust = true
//! levels = [
//!   { kind = "exact" },
//!   { kind = "jaro_winkler", threshold = 0.92 },
//!   { kind = "damerau_levenshtein", max = 2 },
//! ]
//! ```

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// Pairs across two sources.
    LinkOnly,
    /// Pairs within one source (duplicates).
    DedupeOnly,
}

/// An equi-join rule: two records are a candidate pair when they agree on
/// every column (none missing).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub columns: Vec<String>,
    /// Parts a big block's work is split into (same pairs, spread).
    #[serde(default)]
    pub salt: u32,
}

/// One level of a comparison, most similar first; a pair takes the first
/// level it meets, and the implicit last level ("else") otherwise.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Level {
    /// Equal values.
    Exact,
    /// Jaro-Winkler similarity at least `threshold` (0 to 1).
    JaroWinkler { threshold: f64 },
    /// Damerau-Levenshtein distance at most `max`.
    DamerauLevenshtein { max: usize },
    /// The first `chars` characters are equal.
    Prefix { chars: usize },
    /// Dates (YYYY-MM-DD or YYYYMMDD) at most `days` apart.
    DateWithin { days: i64 },
    /// Dates equal once day and month of one are swapped.
    DateSwapped,
    /// Points (the comparison's two columns: latitude, longitude in
    /// degrees) at most `km` apart.
    WithinKm { km: f64 },
    /// The records agree on another column (a commune's employment basin
    /// or health sector from the commune table, mapped at the edge): a
    /// coarser level of the same comparison.
    Same { column: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub name: String,
    pub columns: Vec<String>,
    pub levels: Vec<Level>,
    /// Weigh an exact match by how rare the value is.
    #[serde(default)]
    pub tf_adjust: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// Random record pairs drawn to estimate the u probabilities.
    #[serde(default = "default_u_pairs")]
    pub u_pairs: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_iterations")]
    pub max_iterations: usize,
    /// EM stops when no probability moves by more than this.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// One EM session per rule; a comparison on a rule's columns is not
    /// estimated in that session (it always agrees there).
    #[serde(default)]
    pub blocking: Vec<Rule>,
}

fn default_u_pairs() -> usize {
    1_000_000
}
fn default_seed() -> u64 {
    42
}
fn default_iterations() -> usize {
    25
}
fn default_tolerance() -> f64 {
    1e-4
}
fn default_threshold() -> f64 {
    0.9
}
fn default_recall() -> f64 {
    1.0
}

impl Default for Training {
    fn default() -> Training {
        Training {
            u_pairs: default_u_pairs(),
            seed: default_seed(),
            max_iterations: default_iterations(),
            tolerance: default_tolerance(),
            blocking: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub link_type: LinkType,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_recall")]
    pub recall: f64,
    /// Columns holding SNDS commune codes (département and commune, 6
    /// characters): the edge that reads the records adds, for each column
    /// `c`, the columns `c_basin` (employment basin) and `c_sector` (health
    /// sector) from the commune table, for `same` levels and blocking.
    #[serde(default)]
    pub communes: Vec<String>,
    pub blocking: Vec<Rule>,
    #[serde(default)]
    pub deterministic: Vec<Rule>,
    #[serde(default)]
    pub training: Training,
    pub comparison: Vec<Comparison>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    /// Syntax, an unknown or missing key, a wrong type (with line and column).
    #[error("{0}")]
    Toml(String),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

fn check_rules(key: &str, rules: &[Rule]) -> Result<(), SettingsError> {
    for (i, r) in rules.iter().enumerate() {
        if r.columns.is_empty() || r.columns.iter().any(|c| c.trim().is_empty()) {
            return Err(invalid(
                format!("{key}[{i}].columns"),
                "name one column or more",
            ));
        }
    }
    Ok(())
}

impl Settings {
    /// Parses and checks settings.
    pub fn from_toml(text: &str) -> Result<Settings, SettingsError> {
        let s: Settings =
            toml::from_str(text).map_err(|e| SettingsError::Toml(e.to_string().trim().into()))?;
        s.check()?;
        Ok(s)
    }

    /// Checks what the types cannot say.
    pub fn check(&self) -> Result<(), SettingsError> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(invalid(
                "threshold",
                format!(
                    "{} is not a probability strictly between 0 and 1",
                    self.threshold
                ),
            ));
        }
        if !(self.recall > 0.0 && self.recall <= 1.0) {
            return Err(invalid(
                "recall",
                format!("{} must be in (0, 1]", self.recall),
            ));
        }
        if self.blocking.is_empty() {
            return Err(invalid(
                "blocking",
                "at least one rule (comparing every pair is quadratic)",
            ));
        }
        for (i, c) in self.communes.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(invalid(format!("communes[{i}]"), "name a column"));
            }
        }
        check_rules("blocking", &self.blocking)?;
        check_rules("deterministic", &self.deterministic)?;
        check_rules("training.blocking", &self.training.blocking)?;
        if self.training.u_pairs == 0 {
            return Err(invalid("training.u_pairs", "at least 1"));
        }
        if self.training.tolerance.is_nan() || self.training.tolerance <= 0.0 {
            return Err(invalid("training.tolerance", "must be positive"));
        }
        if self.comparison.is_empty() {
            return Err(invalid("comparison", "at least one comparison"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.comparison.iter().enumerate() {
            let key = format!("comparison[{i}] ({:?})", c.name);
            if !names.insert(c.name.as_str()) {
                return Err(invalid(key, "a second comparison of this name"));
            }
            if c.columns.is_empty() {
                return Err(invalid(format!("{key}.columns"), "name one column or more"));
            }
            if c.levels.is_empty() {
                return Err(invalid(format!("{key}.levels"), "at least one level"));
            }
            if c.tf_adjust && c.columns.len() != 1 {
                return Err(invalid(
                    format!("{key}.tf_adjust"),
                    "term frequencies need a comparison of one column",
                ));
            }
            for (j, l) in c.levels.iter().enumerate() {
                let lk = format!("{key}.levels[{j}]");
                match l {
                    Level::JaroWinkler { threshold }
                        if !(*threshold > 0.0 && *threshold <= 1.0) =>
                    {
                        return Err(invalid(
                            format!("{lk}.threshold"),
                            format!("{threshold} must be in (0, 1]"),
                        ));
                    }
                    Level::DateWithin { days } if *days < 0 => {
                        return Err(invalid(format!("{lk}.days"), "cannot be negative"));
                    }
                    Level::WithinKm { km } if km.is_nan() || *km < 0.0 => {
                        return Err(invalid(format!("{lk}.km"), "cannot be negative"));
                    }
                    Level::WithinKm { .. } if c.columns.len() != 2 => {
                        return Err(invalid(
                            format!("{key}.columns"),
                            "a distance compares two columns: latitude, longitude",
                        ));
                    }
                    Level::Same { column } if column.trim().is_empty() => {
                        return Err(invalid(format!("{lk}.column"), "name a column"));
                    }
                    Level::Prefix { chars: 0 } => {
                        return Err(invalid(format!("{lk}.chars"), "at least 1"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
