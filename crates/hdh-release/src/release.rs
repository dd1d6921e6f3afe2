//! The whole check of a release: primary rules, secondary suppression across
//! its tables, differencing against the ledger and within the release,
//! rounding — a typed verdict per cell.

use crate::check::{Outcome, Rule, Verdict, primary};
use crate::ledger::{Footprint, closest};
use crate::rules::{DifferencingAction, Rules};
use crate::secondary::{describe, lattice, protect};
use crate::table::{Agg, Table};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellVerdict {
    pub row: String,
    pub col: String,
    /// The population of the cell (variable = level).
    pub conditions: Vec<(String, String)>,
    /// The computed value (never leaves when suppressed).
    pub value: Option<f64>,
    /// What the released table shows: the value, rounded as the rules say
    /// (counts), or nothing when suppressed.
    pub released: Option<f64>,
    pub outcome: Outcome,
    pub rules: Vec<Rule>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableVerdict {
    pub name: String,
    pub agg: Agg,
    pub cells: Vec<CellVerdict>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseVerdict {
    pub tables: Vec<TableVerdict>,
    /// The footprints of the cells that would leave (for the ledger).
    pub footprints: Vec<Footprint>,
    /// Suppressed cells still recomputable (empty unless every related cell
    /// is suppressed already; a checker must look).
    pub unprotected: Vec<String>,
}

impl ReleaseVerdict {
    /// The worst outcome over all cells.
    pub fn worst(&self) -> Outcome {
        self.tables
            .iter()
            .flat_map(|t| t.cells.iter().map(|c| c.outcome))
            .max()
            .unwrap_or(Outcome::Ok)
    }
    pub fn count(&self, outcome: Outcome) -> usize {
        self.tables
            .iter()
            .flat_map(|t| t.cells.iter())
            .filter(|c| c.outcome == outcome)
            .count()
    }
}

fn footprint_of(t: &Table, cell: usize) -> Footprint {
    let c = &t.cells[cell];
    let (measure, units) = match t.spec.agg {
        Agg::Count => ("count".to_string(), c.units.clone()),
        Agg::Sum | Agg::Mean => (
            format!("value:{}", t.spec.value.as_deref().unwrap_or("")),
            c.nonzero_units.clone(),
        ),
    };
    Footprint {
        measure,
        label: format!("table {}, cell {}/{}", t.spec.name, c.row, c.col),
        units,
    }
}

/// Checks the tables of one release against the rules and what already
/// left (`prior`).
pub fn check_release(tables: &[Table], rules: &Rules, prior: &[Footprint]) -> ReleaseVerdict {
    let mut verdicts: Vec<Vec<Verdict>> = tables
        .iter()
        .map(|t| {
            t.cells
                .iter()
                .map(|c| primary(c, t.spec.agg, rules))
                .collect()
        })
        .collect();
    let l = lattice(tables);
    let mut suppressed = vec![false; l.vars.len()];
    for (v, var) in l.vars.iter().enumerate() {
        suppressed[v] = var
            .cells
            .iter()
            .any(|r| verdicts[r.table][r.cell].outcome == Outcome::Primary);
    }
    let mut protects: HashMap<usize, usize> = HashMap::new();
    let mut unprotected = Vec::new();
    let t = rules.threshold;
    // One footprint per variable (the same population in two tables is one).
    let footprints: Vec<Footprint> = l
        .vars
        .iter()
        .map(|v| footprint_of(&tables[v.cells[0].table], v.cells[0].cell))
        .collect();
    for _ in 0..=l.vars.len() {
        let (added, left) = protect(&l, &mut suppressed);
        for (a, k) in added {
            protects.entry(a).or_insert(k);
        }
        unprotected = left;
        // Differencing among what would leave, against the ledger and each other.
        let mut newly = false;
        let leaving: Vec<usize> = (0..l.vars.len()).filter(|&v| !suppressed[v]).collect();
        for (i, &v) in leaving.iter().enumerate() {
            if suppressed[v] {
                continue;
            }
            let f = &footprints[v];
            let hit = closest(f, prior, t)
                .map(|(g, d)| (g.label.clone(), d))
                .or_else(|| {
                    let others = leaving[i + 1..]
                        .iter()
                        .filter(|&&w| !suppressed[w])
                        .map(|&w| &footprints[w]);
                    closest(f, others, t).map(|(g, d)| (format!("{} in this release", g.label), d))
                });
            let Some((label, d)) = hit else { continue };
            let reason = format!(
                "its population differs by {} from {label}: releasing both would tell about them",
                if d == 1 {
                    "1 person".to_string()
                } else {
                    format!("{d} persons")
                }
            );
            let outcome = match rules.differencing {
                DifferencingAction::Suppress => {
                    suppressed[v] = true;
                    newly = true;
                    Outcome::Primary
                }
                DifferencingAction::Flag => Outcome::Flagged,
            };
            for r in &l.vars[v].cells {
                verdicts[r.table][r.cell].add(outcome, Rule::Differencing, reason.clone());
            }
        }
        if !newly {
            break;
        }
    }
    // Secondary outcomes and the released values.
    let mut out = Vec::new();
    for (ti, tab) in tables.iter().enumerate() {
        let mut cells = Vec::new();
        for (ci, c) in tab.cells.iter().enumerate() {
            let v = l.of[ti][ci];
            let mut verdict = verdicts[ti][ci].clone();
            if suppressed[v] && verdict.outcome != Outcome::Primary {
                let elsewhere = l.vars[v]
                    .cells
                    .iter()
                    .find(|r| verdicts[r.table][r.cell].outcome == Outcome::Primary);
                let reason = match (elsewhere, protects.get(&v)) {
                    (Some(r), _) => format!(
                        "the same population is suppressed in table {} ({})",
                        tables[r.table].spec.name,
                        verdicts[r.table][r.cell].rule_list()
                    ),
                    (None, Some(&k)) => format!(
                        "suppressed so that the suppressed cell ({}) cannot be recomputed from totals and other cells",
                        describe(&l.vars[k].conditions)
                    ),
                    (None, None) => "suppressed with related cells".to_string(),
                };
                verdict.add(Outcome::Secondary, Rule::Secondary, reason);
            }
            let released = if verdict.outcome.is_suppressed() {
                None
            } else if tab.spec.agg == Agg::Count {
                c.value.map(|x| rules.rounding.apply(x))
            } else {
                c.value
            };
            cells.push(CellVerdict {
                row: c.row.clone(),
                col: c.col.clone(),
                conditions: c.conditions.clone(),
                value: c.value,
                released,
                outcome: verdict.outcome,
                rules: verdict.rules,
                reasons: verdict.reasons,
            });
        }
        out.push(TableVerdict {
            name: tab.spec.name.clone(),
            agg: tab.spec.agg,
            cells,
        });
    }
    let leaving = (0..l.vars.len())
        .filter(|&v| !suppressed[v])
        .map(|v| footprints[v].clone())
        .collect();
    ReleaseVerdict {
        tables: out,
        footprints: leaving,
        unprotected: unprotected
            .iter()
            .map(|&v| describe(&l.vars[v].conditions))
            .collect(),
    }
}

/// A model's coefficients: enough residual degrees of freedom, or suppressed.
pub fn check_model(residual_dof: i64, rules: &Rules) -> Verdict {
    let mut v = Verdict::ok();
    if residual_dof < rules.min_dof as i64 {
        v.add(
            Outcome::Primary,
            Rule::Dof,
            format!(
                "{residual_dof} residual degrees of freedom, fewer than {}: the model is close to a lookup table of its data",
                rules.min_dof
            ),
        );
    }
    v
}
