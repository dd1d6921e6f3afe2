//! Record linkage, pure (no I/O): joining records of two sources (or of one,
//! to find its duplicates) that are about the same person.
//!
//! * [`deterministic`]: exact multi-key linkage, SNDS style (the holder's
//!   pseudonym, birth date, sex and rank), reporting the keys that collide
//!   and the records left unmatched.
//! * Probabilistic linkage after Fellegi and Sunter, configured in TOML
//!   ([`Settings`]): comparisons with levels ([`compare`]), blocking rules
//!   that generate candidate pairs ([`blocking`]), a model whose `u`
//!   probabilities come from random pairs, `m` from EM over training
//!   blocks, and λ from deterministic rules ([`model`]), match weights
//!   with term-frequency adjustments and their per-comparison breakdown,
//!   and clusters of records above a threshold ([`cluster`]).
//!
//! * [`draw`]: SVG drawings of the model (m and u per level) and of a
//!   pair's weight (a waterfall).
//! * [`report`]: the quality of a run (estimated and measured precision
//!   and recall) and the sample of uncertain pairs for clerical review.
//!
//! Records are columns of optional strings ([`Records`]); the caller reads
//! files and maps codes (a commune to its coordinates, say) at the edge.

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod deterministic;
pub mod draw;
pub mod model;
pub mod pprl;
pub mod report;
pub mod settings;

pub use settings::{LinkType, Settings, SettingsError};

use std::collections::HashMap;

/// Records of one source, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    /// Each record's identifier in its source.
    pub ids: Vec<String>,
    columns: Vec<String>,
    values: Vec<Values>,
    index: HashMap<String, usize>,
}

/// The values of one column end to end in one string (no allocation per
/// value: a million records read as a few buffers); a value that is empty
/// or only spaces is missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    text: String,
    /// Value `i` is `text[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
    present: Vec<bool>,
}

impl Values {
    pub fn with_capacity(values: usize) -> Values {
        Values {
            text: String::new(),
            ends: Vec::with_capacity(values),
            present: Vec::with_capacity(values),
        }
    }

    /// Appends a value (`None`, empty or spaces: missing).
    pub fn push(&mut self, v: Option<&str>) {
        match v.filter(|s| !s.trim().is_empty()) {
            Some(v) => {
                self.text.push_str(v);
                self.present.push(true);
            }
            None => self.present.push(false),
        }
        self.ends.push(self.text.len());
    }

    /// Appends the values of `other` after these.
    pub fn append(&mut self, other: Values) {
        if self.ends.is_empty() {
            *self = other;
            return;
        }
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        self.present.extend(other.present);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `i` (`None`: missing).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        if !self.present[i] {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.text[start..self.ends[i]])
    }
}

impl<S: AsRef<str>> FromIterator<Option<S>> for Values {
    fn from_iter<I: IntoIterator<Item = Option<S>>>(iter: I) -> Values {
        let iter = iter.into_iter();
        let mut v = Values::with_capacity(iter.size_hint().0);
        for x in iter {
            v.push(x.as_ref().map(AsRef::as_ref));
        }
        v
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordsError {
    #[error("column {column:?} has {got} values, the records are {expected}")]
    Length {
        column: String,
        got: usize,
        expected: usize,
    },
    #[error("column {0:?} is given twice")]
    Duplicate(String),
    #[error("no column {column:?} (the records have {have})")]
    Missing { column: String, have: String },
}

impl Records {
    pub fn new(ids: Vec<String>) -> Records {
        Records {
            ids,
            ..Records::default()
        }
    }

    /// Adds a column (empty strings are missing values).
    pub fn with_column(
        self,
        name: &str,
        values: Vec<Option<String>>,
    ) -> Result<Records, RecordsError> {
        self.with_values(name, values.into_iter().collect())
    }

    /// Adds a column already laid out as [`Values`].
    pub fn with_values(mut self, name: &str, values: Values) -> Result<Records, RecordsError> {
        if values.len() != self.ids.len() {
            return Err(RecordsError::Length {
                column: name.into(),
                got: values.len(),
                expected: self.ids.len(),
            });
        }
        if self.index.contains_key(name) {
            return Err(RecordsError::Duplicate(name.into()));
        }
        self.index.insert(name.to_string(), self.columns.len());
        self.columns.push(name.to_string());
        self.values.push(values);
        Ok(self)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The position of a column, or an error naming what there is.
    pub fn column(&self, name: &str) -> Result<usize, RecordsError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| RecordsError::Missing {
                column: name.into(),
                have: self.columns.join(", "),
            })
    }

    /// Adds, for each column `c` of `columns` holding commune codes, the
    /// columns `c_basin` and `c_sector` from `place` (a commune code → its
    /// employment basin and health sector; the commune table is the
    /// caller's). Returns the records and how many non-missing codes
    /// `place` did not know (their basin and sector are missing).
    pub fn with_places<'p>(
        mut self,
        columns: &[String],
        place: impl Fn(&str) -> Option<(&'p str, &'p str)> + Sync,
    ) -> Result<(Records, usize), RecordsError> {
        let mut unknown = 0;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A million records: one share of the rows per core.
        let shares = if self.len() < 1 << 16 { 1 } else { threads };
        let size = self.len().div_ceil(shares.max(1)).max(1);
        for name in columns {
            let c = self.column(name)?;
            let values = &self.values[c];
            let place = &place;
            let derive = |rows: std::ops::Range<usize>| {
                let mut basins = Values::with_capacity(rows.len());
                let mut sectors = Values::with_capacity(rows.len());
                let mut unknown = 0;
                // Each distinct code looked up once.
                let mut seen: compare::FastMap<&str, Option<(&'p str, &'p str)>> =
                    compare::FastMap::default();
                for r in rows {
                    let found = values
                        .get(r)
                        .map(|code| *seen.entry(code).or_insert_with(|| place(code.trim())));
                    if let Some(None) = found {
                        unknown += 1;
                    }
                    let found = found.flatten();
                    basins.push(found.map(|f| f.0));
                    sectors.push(found.map(|f| f.1));
                }
                (basins, sectors, unknown)
            };
            let ranges: Vec<_> = (0..self.len())
                .step_by(size)
                .map(|start| start..(start + size).min(self.len()))
                .collect();
            let mut results: Vec<(Values, Values, usize)> = if ranges.len() < 2 {
                ranges.into_iter().map(derive).collect()
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = ranges
                        .into_iter()
                        .map(|rows| s.spawn(move || derive(rows)))
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                        .collect()
                })
            };
            let mut basins = Values::default();
            let mut sectors = Values::default();
            for (b, s, u) in results.drain(..) {
                basins.append(b);
                sectors.append(s);
                unknown += u;
            }
            self = self
                .with_values(&format!("{name}_basin"), basins)?
                .with_values(&format!("{name}_sector"), sectors)?;
        }
        Ok((self, unknown))
    }

    /// The value of column `c` for record `r`.
    pub fn get(&self, c: usize, r: usize) -> Option<&str> {
        self.values[c].get(r)
    }
}

/// Why a linkage could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LinkageError {
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Training(String),
}

#[cfg(test)]
mod tests;
