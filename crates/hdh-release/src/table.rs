//! A table computed from its microdata: every cell knows who is behind it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

/// The label of a margin (row or column of totals).
pub const TOTAL: &str = "Total";

/// What a table's cells show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    /// Number of records (a frequency table).
    Count,
    /// Sum of a variable (a magnitude table).
    Sum,
    /// Mean of a variable (a magnitude table: its sum over its count).
    Mean,
}

impl Agg {
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Sum => "sum",
            Agg::Mean => "mean",
        }
    }
    pub fn is_magnitude(self) -> bool {
        self != Agg::Count
    }
}

impl FromStr for Agg {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Agg, TableError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "count" => Ok(Agg::Count),
            "sum" => Ok(Agg::Sum),
            "mean" => Ok(Agg::Mean),
            "min" | "max" => Err(TableError::MinMax(s.to_string())),
            _ => Err(TableError::UnknownAgg(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TableError {
    #[error(
        "{0:?}: the minimum or maximum of a variable is one person's value and cannot be released (use count, sum or mean)"
    )]
    MinMax(String),
    #[error("unknown aggregate {0:?}: expected count, sum or mean")]
    UnknownAgg(String),
    #[error("table {table}: a {agg} table needs a value variable")]
    NoValue { table: String, agg: &'static str },
    #[error("table {table}: needs at least one row variable")]
    NoRows { table: String },
    #[error("table {table}: record {record} has {got} {what} keys, the table has {expected}")]
    Arity {
        table: String,
        record: usize,
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("table {table}: record {record} has a non-finite value")]
    NotFinite { table: String, record: usize },
}

/// How a table is computed from its microdata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    /// The microdata the table is computed from (its query, or its file):
    /// cells of tables over the same population relate (a margin of one is
    /// a cell of another); over different populations they do not.
    #[serde(default)]
    pub population: String,
    pub rows: Vec<String>,
    #[serde(default)]
    pub cols: Vec<String>,
    #[serde(default)]
    pub value: Option<String>,
    pub agg: Agg,
    /// Margins: a total per row, per column and overall.
    #[serde(default)]
    pub totals: bool,
}

/// One row of the microdata: its keys, the unit it belongs to (a person's
/// pseudonym hashed, or the record's own number when rows are the units) and
/// its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub row: Vec<String>,
    pub col: Vec<String>,
    pub unit: u64,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Row label (key values joined by `|`, or [`TOTAL`]).
    pub row: String,
    /// Column label (empty without column variables, or [`TOTAL`]).
    pub col: String,
    /// The population this cell is about: variable = level, sorted by variable.
    pub conditions: Vec<(String, String)>,
    pub is_margin: bool,
    /// Records in the cell.
    pub records: u64,
    /// The distinct units behind the cell, sorted.
    pub units: Vec<u64>,
    /// Each unit's total value (units with a value), largest first.
    pub contributions: Vec<f64>,
    /// Units with a non-zero contribution, sorted.
    pub nonzero_units: Vec<u64>,
    pub sum: f64,
    /// What the cell shows (None: a mean over nobody).
    pub value: Option<f64>,
    /// Units in this cell's row (its row total, shown or not), for the
    /// 100 % rule; 0 in a table without column variables.
    #[serde(skip)]
    pub row_units: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub spec: TableSpec,
    pub row_levels: Vec<Vec<String>>,
    pub col_levels: Vec<Vec<String>>,
    /// Row-major; margins last in each row and as the last row when shown.
    pub cells: Vec<Cell>,
    /// Each row and column variable's identity: a hash of its values with
    /// their units over the population. Two tables that name the same
    /// column differently (`AS dpt`) share it; a column recoded under the
    /// same name does not.
    pub variables: BTreeMap<String, String>,
}

#[derive(Default)]
struct Acc {
    records: u64,
    with_value: u64,
    units: HashMap<u64, (f64, bool)>,
}

impl Acc {
    fn add(&mut self, r: &Record) {
        self.records += 1;
        let e = self.units.entry(r.unit).or_insert((0.0, false));
        if let Some(v) = r.value {
            self.with_value += 1;
            e.0 += v;
            e.1 = true;
        }
    }
}

/// Computes a table from its records. Every combination of the row and
/// column levels seen in the records is a cell (an absent one is empty).
pub fn build(spec: &TableSpec, records: &[Record]) -> Result<Table, TableError> {
    if spec.rows.is_empty() {
        return Err(TableError::NoRows {
            table: spec.name.clone(),
        });
    }
    if spec.agg.is_magnitude() && spec.value.is_none() {
        return Err(TableError::NoValue {
            table: spec.name.clone(),
            agg: spec.agg.as_str(),
        });
    }
    let mut rows: BTreeSet<&[String]> = BTreeSet::new();
    let mut cols: BTreeSet<&[String]> = BTreeSet::new();
    for (i, r) in records.iter().enumerate() {
        for (what, got, expected) in [
            ("row", r.row.len(), spec.rows.len()),
            ("column", r.col.len(), spec.cols.len()),
        ] {
            if got != expected {
                return Err(TableError::Arity {
                    table: spec.name.clone(),
                    record: i,
                    what,
                    got,
                    expected,
                });
            }
        }
        if r.value.is_some_and(|v| !v.is_finite()) {
            return Err(TableError::NotFinite {
                table: spec.name.clone(),
                record: i,
            });
        }
        rows.insert(&r.row);
        cols.insert(&r.col);
    }
    let row_levels: Vec<Vec<String>> = rows.into_iter().map(|r| r.to_vec()).collect();
    let mut col_levels: Vec<Vec<String>> = cols.into_iter().map(|c| c.to_vec()).collect();
    if col_levels.is_empty() {
        col_levels.push(Vec::new());
    }
    let row_ix: HashMap<&[String], usize> = row_levels
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_slice(), i))
        .collect();
    let col_ix: HashMap<&[String], usize> = col_levels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_slice(), i))
        .collect();
    let (nr, nc) = (row_levels.len(), col_levels.len());
    // Index nr is the row of totals, nc the column of totals.
    let mut acc: BTreeMap<(usize, usize), Acc> = BTreeMap::new();
    let two_d = !spec.cols.is_empty();
    for r in records {
        let (i, j) = (row_ix[r.row.as_slice()], col_ix[r.col.as_slice()]);
        acc.entry((i, j)).or_default().add(r);
        acc.entry((nr, j)).or_default().add(r);
        if two_d {
            acc.entry((i, nc)).or_default().add(r);
            acc.entry((nr, nc)).or_default().add(r);
        }
    }
    let shown_rows = if spec.totals { nr + 1 } else { nr };
    let last_col = if two_d { nc } else { nc - 1 };
    let mut cells = Vec::new();
    let mut margins = Vec::new();
    // Indices nr and nc are the margins, past the levels.
    #[allow(clippy::needless_range_loop)]
    for i in 0..=nr {
        for j in 0..=last_col {
            let a = acc.remove(&(i, j)).unwrap_or_default();
            let row_margin = i == nr;
            let col_margin = two_d && j == nc;
            let mut conditions = Vec::new();
            if !row_margin {
                conditions.extend(spec.rows.iter().cloned().zip(row_levels[i].iter().cloned()));
            }
            if !col_margin {
                conditions.extend(spec.cols.iter().cloned().zip(col_levels[j].iter().cloned()));
            }
            conditions.sort();
            let mut units: Vec<u64> = a.units.keys().copied().collect();
            units.sort_unstable();
            let mut contributions: Vec<f64> = a
                .units
                .values()
                .filter(|(_, has)| *has)
                .map(|(v, _)| *v)
                .collect();
            contributions.sort_by(|x, y| y.total_cmp(x));
            let mut nonzero_units: Vec<u64> = a
                .units
                .iter()
                .filter(|(_, (v, has))| *has && *v != 0.0)
                .map(|(u, _)| *u)
                .collect();
            nonzero_units.sort_unstable();
            // `+ 0.0`: an empty sum is 0, not Rust's −0.
            let sum: f64 = contributions.iter().sum::<f64>() + 0.0;
            let value = match spec.agg {
                Agg::Count => Some(a.records as f64),
                Agg::Sum => Some(sum),
                // Over records, as pandas and ACRO compute a mean.
                Agg::Mean => (a.with_value > 0).then(|| sum / a.with_value as f64),
            };
            let cell = Cell {
                row: if row_margin {
                    TOTAL.to_string()
                } else {
                    row_levels[i].join("|")
                },
                col: if col_margin {
                    TOTAL.to_string()
                } else {
                    col_levels[j].join("|")
                },
                conditions,
                is_margin: row_margin || col_margin,
                records: a.records,
                units,
                contributions,
                nonzero_units,
                sum,
                value,
                row_units: 0,
            };
            let shown = i < shown_rows && (!col_margin || spec.totals);
            if shown {
                cells.push((i, j, cell));
            } else {
                margins.push((i, j, cell));
            }
        }
    }
    // Each shown cell points to its row's total (shown or not) for the 100 % rule.
    let row_total_units: HashMap<usize, usize> = cells
        .iter()
        .chain(margins.iter())
        .filter(|(_, j, _)| two_d && *j == nc)
        .map(|(i, _, c)| (*i, c.units.len()))
        .collect();
    let cells = cells
        .into_iter()
        .map(|(i, _, mut c)| {
            c.row_units = row_total_units.get(&i).copied().unwrap_or(0);
            c
        })
        .collect();
    let variables = spec
        .rows
        .iter()
        .enumerate()
        .map(|(k, name)| (name.clone(), identity(spec, records, |r| &r.row[k])))
        .chain(
            spec.cols
                .iter()
                .enumerate()
                .map(|(k, name)| (name.clone(), identity(spec, records, |r| &r.col[k]))),
        )
        .collect();
    Ok(Table {
        spec: spec.clone(),
        row_levels,
        col_levels,
        cells,
        variables,
    })
}

/// A variable's identity over the table's population: its (unit, value)
/// pairs, sorted, hashed with the population (in-process only).
fn identity(spec: &TableSpec, records: &[Record], value: impl Fn(&Record) -> &String) -> String {
    use std::hash::{Hash, Hasher};
    let mut pairs: Vec<(u64, &str)> = records
        .iter()
        .map(|r| (r.unit, value(r).as_str()))
        .collect();
    pairs.sort_unstable();
    let mut h = std::hash::DefaultHasher::new();
    spec.population.hash(&mut h);
    pairs.hash(&mut h);
    format!("{:016x}", h.finish())
}
