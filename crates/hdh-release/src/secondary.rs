//! Secondary suppression over the tables of one release, and the proof that
//! it works.
//!
//! Every shown cell is a variable identified by what it measures (a count,
//! or the sum of a variable — a mean's sum is its mean times its count) and
//! the population it is about (`conditions`), so the same population in two
//! tables is one variable. Relations between variables are linear and
//! exact:
//!
//! * within a table with margins, each row and each column sums to its total;
//! * across the tables of a release, a cell whose population is split by one
//!   more variable in other cells (every level of it present) is their sum —
//!   a table by département is the margin of a table by département and sex,
//!   even when that one has no totals.
//!
//! A suppressed cell can be recomputed exactly when the unit vector of its
//! variable lies in the row space of the relations restricted to the
//! suppressed variables (the shown ones are known constants). [`determined`]
//! computes that by Gaussian elimination; [`protect`] suppresses further
//! cells, cheapest first, until no suppressed cell is determined.

use crate::table::{Agg, Table};
use std::collections::{BTreeSet, HashMap};

/// A cell of a table of the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellRef {
    pub table: usize,
    pub cell: usize,
}

#[derive(Debug, Clone)]
pub struct Var {
    pub measure: String,
    /// The population as named in the first table showing it (for messages).
    pub conditions: Vec<(String, String)>,
    /// The population by variable identity (`Table::variables`) and level,
    /// sorted: what relates cells across tables.
    pub key: Vec<(String, String)>,
    pub cells: Vec<CellRef>,
    /// What suppressing it costs (its count or absolute sum, plus one).
    pub cost: f64,
}

/// The cells of a release as variables, and the relations between them.
#[derive(Debug, Clone)]
pub struct Lattice {
    pub vars: Vec<Var>,
    /// Each relation: Σ coefficient × variable = 0.
    pub relations: Vec<Vec<(usize, i64)>>,
    /// The variable of each cell: `of[table][cell]`.
    pub of: Vec<Vec<usize>>,
}

fn measure(t: &Table) -> String {
    let what = match t.spec.agg {
        Agg::Count => "count".to_string(),
        Agg::Sum | Agg::Mean => format!("sum:{}", t.spec.value.as_deref().unwrap_or("")),
    };
    format!("{what} of {}", t.spec.population)
}

/// Builds the variables and relations of a release's tables.
pub fn lattice(tables: &[Table]) -> Lattice {
    let mut vars: Vec<Var> = Vec::new();
    let mut index: HashMap<(String, Vec<(String, String)>), usize> = HashMap::new();
    let mut of = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        let m = measure(t);
        let mut ids = Vec::new();
        for (ci, c) in t.cells.iter().enumerate() {
            let mut by_identity: Vec<(String, String)> = c
                .conditions
                .iter()
                .map(|(name, level)| {
                    let id = t
                        .variables
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.clone());
                    (id, level.clone())
                })
                .collect();
            by_identity.sort();
            let key = (m.clone(), by_identity.clone());
            let cost = match t.spec.agg {
                Agg::Count => c.records as f64,
                _ => c.sum.abs(),
            } + 1.0;
            let id = *index.entry(key).or_insert_with(|| {
                vars.push(Var {
                    measure: m.clone(),
                    conditions: c.conditions.clone(),
                    key: by_identity.clone(),
                    cells: Vec::new(),
                    cost,
                });
                vars.len() - 1
            });
            vars[id].cells.push(CellRef {
                table: ti,
                cell: ci,
            });
            vars[id].cost = vars[id].cost.max(cost);
            ids.push(id);
        }
        of.push(ids);
    }
    let mut relations: BTreeSet<Vec<(usize, i64)>> = BTreeSet::new();
    let mut add = |total: usize, parts: &[usize]| {
        if parts.is_empty() || parts == [total] {
            return;
        }
        let mut row: Vec<(usize, i64)> = vec![(total, -1)];
        row.extend(parts.iter().map(|&p| (p, 1)));
        row.sort();
        relations.insert(row);
    };
    // Within each table with margins.
    for (ti, t) in tables.iter().enumerate() {
        if !t.spec.totals {
            continue;
        }
        let nr = t.row_levels.len();
        let ids = &of[ti];
        if t.spec.cols.is_empty() {
            add(ids[nr], &ids[..nr]);
            continue;
        }
        let nc = t.col_levels.len();
        let w = nc + 1;
        for i in 0..=nr {
            let parts: Vec<usize> = (0..nc).map(|j| ids[i * w + j]).collect();
            add(ids[i * w + nc], &parts);
        }
        for j in 0..=nc {
            let parts: Vec<usize> = (0..nr).map(|i| ids[i * w + j]).collect();
            add(ids[nr * w + j], &parts);
        }
    }
    // Across tables: a population split by one more variable, every level present.
    let mut universe: HashMap<(&str, &str), BTreeSet<&str>> = HashMap::new();
    // (measure, the other conditions, the variable) → the finer cells and their level.
    type Finer<'a> = HashMap<(&'a str, Vec<(String, String)>, &'a str), Vec<(usize, &'a str)>>;
    let mut finer: Finer = HashMap::new();
    for (id, v) in vars.iter().enumerate() {
        for (k, (name, level)) in v.key.iter().enumerate() {
            universe
                .entry((v.measure.as_str(), name.as_str()))
                .or_default()
                .insert(level.as_str());
            let mut rest = v.key.clone();
            rest.remove(k);
            finer
                .entry((v.measure.as_str(), rest, name.as_str()))
                .or_default()
                .push((id, level.as_str()));
        }
    }
    for (id, v) in vars.iter().enumerate() {
        let names: BTreeSet<&str> = universe
            .keys()
            .filter(|(m, _)| *m == v.measure)
            .map(|(_, n)| *n)
            .filter(|n| !v.key.iter().any(|(c, _)| c == n))
            .collect();
        for name in names {
            let Some(parts) = finer.get(&(v.measure.as_str(), v.key.clone(), name)) else {
                continue;
            };
            let levels: BTreeSet<&str> = parts.iter().map(|(_, l)| *l).collect();
            if levels != universe[&(v.measure.as_str(), name)] {
                continue;
            }
            let parts: Vec<usize> = parts.iter().map(|(p, _)| *p).collect();
            add(id, &parts);
        }
    }
    Lattice {
        vars,
        relations: relations.into_iter().collect(),
        of,
    }
}

const EPS: f64 = 1e-9;

/// The suppressed variables whose value follows from the shown ones and the
/// relations.
pub fn determined(l: &Lattice, suppressed: &[bool]) -> Vec<usize> {
    let unknowns: Vec<usize> = (0..l.vars.len()).filter(|&v| suppressed[v]).collect();
    let col: HashMap<usize, usize> = unknowns.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut m: Vec<Vec<f64>> = l
        .relations
        .iter()
        .filter(|r| r.iter().any(|(v, _)| suppressed[*v]))
        .map(|r| {
            let mut row = vec![0.0; unknowns.len()];
            for (v, c) in r {
                if let Some(&i) = col.get(v) {
                    row[i] += *c as f64;
                }
            }
            row
        })
        .collect();
    // Reduced row echelon form.
    let mut pivots: Vec<(usize, usize)> = Vec::new();
    let mut r = 0;
    for c in 0..unknowns.len() {
        if r == m.len() {
            break;
        }
        let Some(p) = (r..m.len()).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())) else {
            break;
        };
        if m[p][c].abs() < EPS {
            continue;
        }
        m.swap(r, p);
        let d = m[r][c];
        for x in m[r].iter_mut() {
            *x /= d;
        }
        let pivot_row = m[r].clone();
        for (i, row) in m.iter_mut().enumerate() {
            if i != r && row[c].abs() > EPS {
                let f = row[c];
                for (x, p) in row.iter_mut().zip(&pivot_row) {
                    *x -= f * p;
                }
            }
        }
        pivots.push((r, c));
        r += 1;
    }
    let pivot_cols: BTreeSet<usize> = pivots.iter().map(|(_, c)| *c).collect();
    pivots
        .iter()
        .filter(|(r, c)| {
            m[*r]
                .iter()
                .enumerate()
                .all(|(j, x)| j == *c || pivot_cols.contains(&j) || x.abs() < EPS)
        })
        .map(|(_, c)| unknowns[*c])
        .collect()
}

/// Suppresses further variables until no suppressed one is determined.
/// Returns each added variable with the one it was added to protect, and
/// the variables still determined (none unless every related cell is
/// already suppressed).
pub fn protect(l: &Lattice, suppressed: &mut [bool]) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut added = Vec::new();
    let mut of_var: Vec<Vec<usize>> = vec![Vec::new(); l.vars.len()];
    for (ri, r) in l.relations.iter().enumerate() {
        for (v, _) in r {
            of_var[*v].push(ri);
        }
    }
    for _ in 0..=l.vars.len() {
        let det = determined(l, suppressed);
        let Some(&k) = det.first() else {
            return (added, Vec::new());
        };
        // Relations where k is the only unknown first: they give it away directly.
        let alone: Vec<usize> = of_var[k]
            .iter()
            .copied()
            .filter(|&ri| {
                l.relations[ri]
                    .iter()
                    .all(|(v, _)| *v == k || !suppressed[*v])
            })
            .collect();
        let pool: Vec<usize> = if alone.is_empty() {
            of_var[k].clone()
        } else {
            alone
        };
        let mut candidates: BTreeSet<usize> = pool
            .iter()
            .flat_map(|&ri| l.relations[ri].iter().map(|(v, _)| *v))
            .filter(|&v| !suppressed[v])
            .collect();
        if candidates.is_empty() {
            candidates = l
                .relations
                .iter()
                .filter(|r| r.iter().any(|(v, _)| suppressed[*v]))
                .flat_map(|r| r.iter().map(|(v, _)| *v))
                .filter(|&v| !suppressed[v])
                .collect();
        }
        // Cheapest first; a cell that also sits beside another suppressed
        // cell (closing a cycle) counts half.
        let score = |v: usize| -> f64 {
            let beside = of_var[v].iter().any(|&ri| {
                !of_var[k].contains(&ri)
                    && l.relations[ri]
                        .iter()
                        .any(|(w, _)| *w != v && suppressed[*w])
            });
            l.vars[v].cost * if beside { 0.5 } else { 1.0 }
        };
        let Some(best) = candidates
            .into_iter()
            .min_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)))
        else {
            return (added, det);
        };
        suppressed[best] = true;
        added.push((best, k));
    }
    let det = determined(l, suppressed);
    (added, det)
}

/// Conditions as `var=level, …` (for messages).
pub fn describe(conditions: &[(String, String)]) -> String {
    if conditions.is_empty() {
        return "everyone".to_string();
    }
    conditions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
