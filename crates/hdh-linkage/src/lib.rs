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
//! Records are columns of optional strings ([`Records`]); the caller reads
//! files and maps codes (a commune to its coordinates, say) at the edge.

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod deterministic;
pub mod model;
pub mod pprl;
pub mod settings;

pub use settings::{LinkType, Settings, SettingsError};

use std::collections::HashMap;

/// Records of one source, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    /// Each record's identifier in its source.
    pub ids: Vec<String>,
    columns: Vec<String>,
    values: Vec<Vec<Option<String>>>,
    index: HashMap<String, usize>,
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
        mut self,
        name: &str,
        values: Vec<Option<String>>,
    ) -> Result<Records, RecordsError> {
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
        let values = values
            .into_iter()
            .map(|v| v.filter(|s| !s.trim().is_empty()))
            .collect();
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

    /// The value of column `c` for record `r`.
    pub fn get(&self, c: usize, r: usize) -> Option<&str> {
        self.values[c][r].as_deref()
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
