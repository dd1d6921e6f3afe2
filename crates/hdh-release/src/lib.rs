//! Statistical disclosure control of what leaves a workspace (output control).
//!
//! Pure functions, no I/O. The hub (or the `hdh sdc check` CLI) reads the
//! microdata behind a table and hands its records to [`table::build`]; every
//! cell then knows the units (persons, or records) behind it and what each
//! contributed, so the rules check contributions rather than trusting the
//! numbers shown:
//!
//! * [`check`]: the primary rules of one cell — threshold, zero and 100 %
//!   cells, (n, k) dominance, p %, the count of non-zero contributors behind
//!   a magnitude (the mask-vector pattern), negative values;
//! * [`secondary`]: secondary suppression over all the tables of one release
//!   (margins, totals, the same cell in two tables, a table that is the
//!   margin of another), and the verifier that proves no suppressed cell can
//!   be recomputed (linear algebra over the relations between cells);
//! * [`ledger`]: what already left — a released cell's population, compared
//!   with the cells of a new release (differencing);
//! * [`release::check_release`]: all of it in order, with rounding, giving a
//!   typed verdict per cell;
//! * [`rules`]: the rules' parameters (TOML, per hub and per dataset).

pub mod check;
pub mod ledger;
pub mod release;
pub mod rules;
pub mod secondary;
pub mod table;

pub use check::{Outcome, Rule, Verdict};
pub use release::{CellVerdict, ReleaseVerdict, TableVerdict, check_model, check_release};
pub use rules::{Dominance, Rounding, RuleSet, Rules, RulesError};
pub use table::{Agg, Cell, Record, TOTAL, Table, TableError, TableSpec};
