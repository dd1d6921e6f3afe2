//! The Fellegi–Sunter model: for each comparison level, `m` (the chance of
//! the level among matches) and `u` (among non-matches); λ, the chance
//! that a random pair is a match. A pair's match weight is
//! `log2(λ / (1 − λ)) + Σ log2(m / u)` over its comparisons (a missing value
//! weighs nothing; an exact match on a term-frequency-adjusted comparison
//! weighs `log2(m / tf)`, tf the share of records with that value), its
//! match probability `1 / (1 + 2^−weight)`.
//!
//! Training: `u` from random record pairs (nearly all non-matches); λ from
//! the pairs the deterministic rules find, divided by their recall; `m` by
//! expectation-maximisation over the pairs of each training rule, `u` held
//! fixed, leaving out the comparisons on the rule's own columns (they
//! always agree there) and averaging a comparison's `m` over the sessions
//! that estimated it.

use crate::blocking::{Pair, candidate_pairs, in_parallel};
use crate::compare::{Compiled, NULL};
use crate::settings::{LinkType, Rule, Settings};
use crate::{LinkageError, Records};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// The estimated parameters of one comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ComparisonParams {
    pub name: String,
    /// Each level's label, "else" last.
    pub levels: Vec<String>,
    pub m: Vec<f64>,
    pub u: Vec<f64>,
    pub tf_adjust: bool,
}

impl ComparisonParams {
    /// `log2(m / u)` of each level.
    pub fn weights(&self) -> Vec<f64> {
        self.m
            .iter()
            .zip(&self.u)
            .map(|(m, u)| (m / u).log2())
            .collect()
    }
}

/// One EM session (one training rule).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Session {
    pub rule: Vec<String>,
    pub pairs: usize,
    pub iterations: usize,
    pub converged: bool,
    /// The comparisons it estimated.
    pub estimated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Model {
    pub lambda: f64,
    pub comparisons: Vec<ComparisonParams>,
    pub sessions: Vec<Session>,
}

impl Model {
    /// `log2(λ / (1 − λ))`: the weight before any comparison.
    pub fn prior_weight(&self) -> f64 {
        (self.lambda / (1.0 - self.lambda)).log2()
    }
}

/// What EM found: `m` per comparison level, the sessions, and λ as the
/// sessions' expected matches suggest it (used without deterministic rules).
#[derive(Debug, Clone, PartialEq)]
pub struct MEstimate {
    pub m: Vec<Vec<f64>>,
    pub sessions: Vec<Session>,
    pub fallback_lambda: f64,
}

/// A pair with its weight and probability.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scored {
    pub pair: Pair,
    pub weight: f64,
    pub probability: f64,
}

/// What makes up a pair's weight.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Term {
    pub comparison: String,
    pub level: String,
    pub weight: f64,
    /// The exact match was weighed by the value's frequency.
    pub tf_adjusted: bool,
}

/// A probability from a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// The sources, the settings and the comparisons bound to the columns.
pub struct Linker<'a> {
    pub settings: &'a Settings,
    left: &'a Records,
    right: &'a Records,
    comparisons: Vec<Compiled>,
    /// Per comparison with `tf_adjust`: each value's share of the records.
    tf: Vec<Option<HashMap<String, f64>>>,
}

fn tf_table(c: &Compiled, left: &Records, right: Option<&Records>) -> HashMap<String, f64> {
    let mut counts: HashMap<String, f64> = HashMap::new();
    let mut total = 0.0;
    let mut add = |r: &Records| {
        for i in 0..r.len() {
            if let Some(v) = r.get(c.left_column(), i) {
                *counts.entry(v.to_string()).or_default() += 1.0;
                total += 1.0;
            }
        }
    };
    add(left);
    if let Some(r) = right {
        add(r);
    }
    for v in counts.values_mut() {
        *v /= total;
    }
    counts
}

impl<'a> Linker<'a> {
    /// Binds the settings to the sources (`right` is `left` itself in a
    /// deduplication).
    pub fn new(
        settings: &'a Settings,
        left: &'a Records,
        right: &'a Records,
    ) -> Result<Linker<'a>, LinkageError> {
        settings.check()?;
        let right = match settings.link_type {
            LinkType::LinkOnly => right,
            LinkType::DedupeOnly => left,
        };
        let comparisons: Vec<Compiled> = settings
            .comparison
            .iter()
            .map(|c| Compiled::new(c, left, right))
            .collect::<Result<_, _>>()?;
        let tf = comparisons
            .iter()
            .map(|c| {
                c.tf_adjust.then(|| {
                    tf_table(
                        c,
                        left,
                        (settings.link_type == LinkType::LinkOnly).then_some(right),
                    )
                })
            })
            .collect();
        Ok(Linker {
            settings,
            left,
            right,
            comparisons,
            tf,
        })
    }

    pub fn comparisons(&self) -> &[Compiled] {
        &self.comparisons
    }

    /// Every pair a rule possibly compares.
    pub fn total_pairs(&self) -> f64 {
        let (n, m) = (self.left.len() as f64, self.right.len() as f64);
        match self.settings.link_type {
            LinkType::LinkOnly => n * m,
            LinkType::DedupeOnly => n * (n - 1.0) / 2.0,
        }
    }

    /// The candidate pairs of some rules.
    pub fn pairs(&self, rules: &[Rule]) -> Result<Vec<Pair>, LinkageError> {
        Ok(candidate_pairs(
            self.left,
            self.right,
            rules,
            self.settings.link_type,
        )?)
    }

    /// The candidate pairs of the settings' blocking rules.
    pub fn blocked_pairs(&self) -> Result<Vec<Pair>, LinkageError> {
        self.pairs(&self.settings.blocking)
    }

    /// The levels of each pair, comparison after comparison (row-major).
    pub fn levels(&self, pairs: &[Pair]) -> Vec<u8> {
        let k = self.comparisons.len();
        let chunks: Vec<(usize, &[Pair])> = pairs.chunks(8192).enumerate().collect();
        let mut parts = in_parallel(&chunks, |(n, chunk), out: &mut Vec<(usize, Vec<u8>)>| {
            let mut g = Vec::with_capacity(chunk.len() * k);
            for &(i, j) in *chunk {
                for c in &self.comparisons {
                    g.push(c.level(self.left, i as usize, self.right, j as usize));
                }
            }
            out.push((*n, g));
        });
        parts.sort_by_key(|(n, _)| *n);
        parts.into_iter().flat_map(|(_, g)| g).collect()
    }

    /// `u` of each comparison level, from `training.u_pairs` random pairs.
    pub fn estimate_u(&self) -> Result<Vec<Vec<f64>>, LinkageError> {
        let (n, m) = (self.left.len(), self.right.len());
        if n < 2 || m < 1 {
            return Err(LinkageError::Training(
                "too few records to draw random pairs".into(),
            ));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.settings.training.seed);
        let wanted = (self.settings.training.u_pairs as f64).min(self.total_pairs()) as usize;
        let mut pairs = Vec::with_capacity(wanted);
        while pairs.len() < wanted {
            let i = rng.random_range(0..n) as u32;
            let j = rng.random_range(0..m) as u32;
            match self.settings.link_type {
                LinkType::LinkOnly => pairs.push((i, j)),
                LinkType::DedupeOnly if i != j => pairs.push((i.min(j), i.max(j))),
                LinkType::DedupeOnly => {}
            }
        }
        let g = self.levels(&pairs);
        Ok(self.level_shares(&g, None))
    }

    /// The share of each level among non-missing ones, per comparison
    /// (weighted by `w` when given), with half a pair added to every level
    /// so that none is impossible.
    fn level_shares(&self, g: &[u8], w: Option<&[f64]>) -> Vec<Vec<f64>> {
        let k = self.comparisons.len();
        self.comparisons
            .iter()
            .enumerate()
            .map(|(c, comp)| {
                let mut counts = vec![0.5; comp.level_count()];
                for (p, row) in g.chunks(k).enumerate() {
                    let l = row[c];
                    if l != NULL {
                        counts[usize::from(l)] += w.map_or(1.0, |w| w[p]);
                    }
                }
                let total: f64 = counts.iter().sum();
                counts.iter().map(|c| c / total).collect()
            })
            .collect()
    }

    /// λ from the deterministic rules' pairs and their recall; `None`
    /// without deterministic rules.
    pub fn estimate_lambda(&self) -> Result<Option<f64>, LinkageError> {
        if self.settings.deterministic.is_empty() {
            return Ok(None);
        }
        let found = self.pairs(&self.settings.deterministic)?.len() as f64;
        let lambda = (found / self.settings.recall) / self.total_pairs();
        Ok(Some(lambda.clamp(1e-12, 1.0 - 1e-9)))
    }

    /// `m` by EM, one session per training rule, `u` fixed.
    pub fn estimate_m(&self, u: &[Vec<f64>]) -> Result<MEstimate, LinkageError> {
        let k = self.comparisons.len();
        let rules = if self.settings.training.blocking.is_empty() {
            &self.settings.blocking
        } else {
            &self.settings.training.blocking
        };
        let mut sums: Vec<Vec<f64>> = self
            .comparisons
            .iter()
            .map(|c| vec![0.0; c.level_count()])
            .collect();
        let mut times = vec![0usize; k];
        let mut sessions = Vec::new();
        let mut expected_matches = 0.0;
        for rule in rules {
            let pairs = self.pairs(std::slice::from_ref(rule))?;
            if pairs.is_empty() {
                continue;
            }
            let free: Vec<bool> = self
                .settings
                .comparison
                .iter()
                .map(|c| !c.columns.iter().any(|col| rule.columns.contains(col)))
                .collect();
            let g = self.levels(&pairs);
            // EM runs over the distinct patterns of levels, with their counts.
            let mut patterns: HashMap<&[u8], f64> = HashMap::new();
            for row in g.chunks(k) {
                *patterns.entry(row).or_default() += 1.0;
            }
            let patterns: Vec<(&[u8], f64)> = patterns.into_iter().collect();
            let mut m: Vec<Vec<f64>> = self
                .comparisons
                .iter()
                .map(|c| initial_m(c.level_count()))
                .collect();
            let mut lambda = 0.5;
            let mut iterations = 0;
            let mut converged = false;
            while iterations < self.settings.training.max_iterations {
                iterations += 1;
                let mut new_m: Vec<Vec<f64>> = m.iter().map(|l| vec![1e-9; l.len()]).collect();
                let (mut matched, mut all) = (0.0, 0.0);
                for (row, count) in &patterns {
                    let (mut pm, mut pu) = (lambda, 1.0 - lambda);
                    for c in 0..k {
                        let l = row[c];
                        if free[c] && l != NULL {
                            pm *= m[c][usize::from(l)];
                            pu *= u[c][usize::from(l)];
                        }
                    }
                    let w = pm / (pm + pu);
                    matched += w * count;
                    all += count;
                    for c in 0..k {
                        let l = row[c];
                        if free[c] && l != NULL {
                            new_m[c][usize::from(l)] += w * count;
                        }
                    }
                }
                let mut moved: f64 = 0.0;
                for c in 0..k {
                    if !free[c] {
                        continue;
                    }
                    let total: f64 = new_m[c].iter().sum();
                    for (l, v) in new_m[c].iter().enumerate() {
                        let v = v / total;
                        moved = moved.max((v - m[c][l]).abs());
                        m[c][l] = v;
                    }
                }
                let new_lambda = (matched / all).clamp(1e-9, 1.0 - 1e-9);
                moved = moved.max((new_lambda - lambda).abs());
                lambda = new_lambda;
                if moved < self.settings.training.tolerance {
                    converged = true;
                    break;
                }
            }
            expected_matches += lambda * pairs.len() as f64;
            let mut estimated = Vec::new();
            for c in 0..k {
                if free[c] {
                    for (s, v) in sums[c].iter_mut().zip(&m[c]) {
                        *s += v;
                    }
                    times[c] += 1;
                    estimated.push(self.comparisons[c].name.clone());
                }
            }
            sessions.push(Session {
                rule: rule.columns.clone(),
                pairs: pairs.len(),
                iterations,
                converged,
                estimated,
            });
        }
        if let Some(c) = times.iter().position(|&t| t == 0) {
            return Err(LinkageError::Training(format!(
                "comparison {:?}: no training rule estimates its m (every rule blocks on its columns, or found no pair): add a [[training.blocking]] rule on other columns",
                self.comparisons[c].name
            )));
        }
        let m = sums
            .into_iter()
            .zip(&times)
            .map(|(s, &t)| s.into_iter().map(|v| v / t as f64).collect())
            .collect();
        let fallback_lambda = if sessions.is_empty() {
            0.0
        } else {
            expected_matches / sessions.len() as f64 / self.total_pairs()
        };
        Ok(MEstimate {
            m,
            sessions,
            fallback_lambda,
        })
    }

    /// Estimates the whole model.
    pub fn train(&self) -> Result<Model, LinkageError> {
        let u = self.estimate_u()?;
        let MEstimate {
            m,
            sessions,
            fallback_lambda,
        } = self.estimate_m(&u)?;
        let lambda = self
            .estimate_lambda()?
            .unwrap_or(fallback_lambda)
            .clamp(1e-12, 1.0 - 1e-9);
        Ok(Model {
            lambda,
            comparisons: self
                .comparisons
                .iter()
                .zip(m.into_iter().zip(u))
                .map(|(c, (m, u))| ComparisonParams {
                    name: c.name.clone(),
                    levels: (0..c.level_count() as u8)
                        .map(|l| c.level_label(l))
                        .collect(),
                    m,
                    u,
                    tf_adjust: c.tf_adjust,
                })
                .collect(),
            sessions,
        })
    }

    /// The weight of comparison `c` at level `l` for the pair (i, j), and
    /// whether a term frequency weighed it.
    fn term(&self, model: &Model, c: usize, l: u8, i: usize, j: usize) -> (f64, bool) {
        if l == NULL {
            return (0.0, false);
        }
        let p = &model.comparisons[c];
        let (m, u) = (p.m[usize::from(l)], p.u[usize::from(l)]);
        let comp = &self.comparisons[c];
        if l == 0
            && matches!(comp.levels.first(), Some(crate::settings::Level::Exact))
            && let Some(tf) = &self.tf[c]
            && let Some(v) = comp.left_value(self.left, i)
            && comp.right_value(self.right, j) == Some(v)
            && let Some(&f) = tf.get(v)
        {
            return ((m / f).log2(), true);
        }
        ((m / u).log2(), false)
    }

    /// Weights and probabilities of pairs.
    pub fn score(&self, model: &Model, pairs: &[Pair]) -> Vec<Scored> {
        let k = self.comparisons.len();
        let g = self.levels(pairs);
        let prior = model.prior_weight();
        pairs
            .iter()
            .zip(g.chunks(k))
            .map(|(&(i, j), row)| {
                let mut w = prior;
                for (c, &l) in row.iter().enumerate() {
                    w += self.term(model, c, l, i as usize, j as usize).0;
                }
                Scored {
                    pair: (i, j),
                    weight: w,
                    probability: probability(w),
                }
            })
            .collect()
    }

    /// What makes up a pair's weight: the prior, then each comparison.
    pub fn explain(&self, model: &Model, pair: Pair) -> Vec<Term> {
        let (i, j) = (pair.0 as usize, pair.1 as usize);
        let mut terms = vec![Term {
            comparison: "prior (λ)".into(),
            level: format!("λ = {:.3e}", model.lambda),
            weight: model.prior_weight(),
            tf_adjusted: false,
        }];
        for (c, comp) in self.comparisons.iter().enumerate() {
            let l = comp.level(self.left, i, self.right, j);
            let (weight, tf_adjusted) = self.term(model, c, l, i, j);
            terms.push(Term {
                comparison: comp.name.clone(),
                level: comp.level_label(l),
                weight,
                tf_adjusted,
            });
        }
        terms
    }
}

/// A starting `m`: most matches at the first level, fewer further down.
fn initial_m(levels: usize) -> Vec<f64> {
    let mut m: Vec<f64> = (0..levels).map(|l| 0.5f64.powi(l as i32 * 2 + 1)).collect();
    if let Some(first) = m.first_mut() {
        *first = 0.9;
    }
    let total: f64 = m.iter().sum();
    m.iter().map(|v| v / total).collect()
}
