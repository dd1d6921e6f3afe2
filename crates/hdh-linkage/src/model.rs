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

use crate::blocking::{Blocker, Pair, RuleCache, in_parallel};
use crate::compare::{Columns, Compiled, FastMap, NULL};
use crate::settings::{LinkType, Rule, Settings};
use crate::{LinkageError, Records};
use rand::SeedableRng;

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

/// Pairs compared at a time by one thread.
const CHUNK: usize = 1 << 13;

/// The sources, the settings and the comparisons bound to the columns.
pub struct Linker<'a> {
    pub settings: &'a Settings,
    left: &'a Records,
    right: &'a Records,
    comparisons: Vec<Compiled>,
    /// Per comparison with `tf_adjust`: each value's share of the records,
    /// by the value's number in the comparison's dictionary.
    tf: Vec<Option<Vec<f64>>>,
    /// The columns of the comparisons and rules as numbers, built once.
    columns: Columns,
    /// What the comparisons read, record by record.
    rows: Rows,
    /// The rules' keys and blocks, made once.
    rules: RuleCache,
}

/// What the comparisons need of each record (its values' numbers and
/// their features), side by side in a row: a pair's are then two runs of
/// memory, not a dozen scattered reads.
struct Rows {
    width: usize,
    left: Vec<u32>,
    /// `None`: the same records (a deduplication).
    right: Option<Vec<u32>>,
    /// Per comparison: where its words start in a row, and how many (0: a
    /// comparison of several columns, read from the records).
    plan: Vec<(usize, usize)>,
}

impl Rows {
    fn new(comparisons: &[Compiled], left: usize, right: usize, dedupe: bool) -> Rows {
        let mut plan = Vec::new();
        let mut width = 0;
        for c in comparisons {
            let w = c.row_words();
            plan.push((width, w));
            width += w;
        }
        let table = |n: usize, left_side: bool| -> Vec<u32> {
            let mut t = vec![0u32; n * width];
            if width == 0 {
                return t;
            }
            let rows: Vec<(usize, &mut [u32])> = t.chunks_mut(width * 4096).enumerate().collect();
            let rows = std::sync::Mutex::new(rows);
            let jobs: Vec<()> = vec![(); rows.lock().map_or(0, |r| r.len())];
            crate::blocking::in_parallel(&jobs, |_, _: &mut Vec<()>| {
                let Some((k, part)) = rows.lock().ok().and_then(|mut r| r.pop()) else {
                    return;
                };
                for (n, row) in part.chunks_mut(width).enumerate() {
                    let r = k * 4096 + n;
                    for (c, &(at, w)) in comparisons.iter().zip(&plan) {
                        if w > 0 {
                            c.fill_row(r, left_side, &mut row[at..at + w]);
                        }
                    }
                }
            });
            t
        };
        let l = table(left, true);
        let r = (!dedupe).then(|| table(right, false));
        Rows {
            width,
            left: l,
            right: r,
            plan,
        }
    }

    fn left(&self, i: usize) -> &[u32] {
        &self.left[i * self.width..(i + 1) * self.width]
    }

    fn right(&self, j: usize) -> &[u32] {
        let t = self.right.as_deref().unwrap_or(&self.left);
        &t[j * self.width..(j + 1) * self.width]
    }
}

/// Each value's share of the records (of both sources in a linkage).
fn tf_table(c: &Compiled, link: LinkType) -> Option<Vec<f64>> {
    let (left, right, values) = c.numbers()?;
    let mut counts = vec![0u32; values];
    let mut total = 0u64;
    let mut add = |ids: &[u32]| {
        for &x in ids {
            if x != crate::compare::NO_VALUE {
                counts[x as usize] += 1;
                total += 1;
            }
        }
    };
    add(left);
    if link == LinkType::LinkOnly {
        add(right);
    }
    Some(
        counts
            .into_iter()
            .map(|n| f64::from(n) / total as f64)
            .collect(),
    )
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
        // Every column a comparison or a rule reads, as numbers, once.
        let mut names: Vec<&str> = Vec::new();
        for c in &settings.comparison {
            if c.columns.len() == 1 {
                names.push(&c.columns[0]);
            }
            for l in &c.levels {
                if let crate::settings::Level::Same { column } = l {
                    names.push(column);
                }
            }
        }
        for rule in settings
            .blocking
            .iter()
            .chain(&settings.deterministic)
            .chain(&settings.training.blocking)
        {
            names.extend(rule.columns.iter().map(String::as_str));
        }
        let columns = Columns::build(
            left,
            (settings.link_type == LinkType::LinkOnly).then_some(right),
            &names,
        );
        let comparisons: Vec<Compiled> = settings
            .comparison
            .iter()
            .map(|c| Compiled::bind(c, left, right, &columns))
            .collect::<Result<_, _>>()?;
        let tf = comparisons
            .iter()
            .map(|c| {
                if c.tf_adjust {
                    tf_table(c, settings.link_type)
                } else {
                    None
                }
            })
            .collect();
        let rows = Rows::new(
            &comparisons,
            left.len(),
            right.len(),
            settings.link_type == LinkType::DedupeOnly,
        );
        Ok(Linker {
            settings,
            left,
            right,
            comparisons,
            tf,
            columns,
            rows,
            rules: RuleCache::default(),
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
        Ok(self.blocker().pairs(rules)?)
    }

    fn blocker(&self) -> Blocker<'_> {
        Blocker {
            columns: &self.columns,
            cache: &self.rules,
            left: self.left,
            right: self.right,
            link: self.settings.link_type,
        }
    }

    /// The candidate pairs of the settings' blocking rules.
    pub fn blocked_pairs(&self) -> Result<Vec<Pair>, LinkageError> {
        self.pairs(&self.settings.blocking)
    }

    /// The level of each comparison of the pair (`i`, `j`), into `out`.
    #[inline]
    fn pair_levels(&self, i: usize, j: usize, out: &mut [u8]) {
        let (ri, rj) = (self.rows.left(i), self.rows.right(j));
        for (c, comp) in self.comparisons.iter().enumerate() {
            let (at, w) = self.rows.plan[c];
            out[c] = if w > 0 {
                comp.level_of_rows(&ri[at..at + w], &rj[at..at + w])
            } else {
                comp.level(self.left, i, self.right, j)
            };
        }
    }

    /// The levels of each pair, comparison after comparison (row-major).
    pub fn levels(&self, pairs: &[Pair]) -> Vec<u8> {
        let k = self.comparisons.len();
        let chunks: Vec<(usize, &[Pair])> = pairs.chunks(CHUNK).enumerate().collect();
        let mut parts = in_parallel(&chunks, |(n, chunk), out: &mut Vec<(usize, Vec<u8>)>| {
            let mut g = vec![0u8; chunk.len() * k];
            for (&(i, j), row) in chunk.iter().zip(g.chunks_mut(k.max(1))) {
                self.pair_levels(i as usize, j as usize, row);
            }
            out.push((*n, g));
        });
        parts.sort_by_key(|(n, _)| *n);
        let mut g = Vec::with_capacity(pairs.len() * k);
        for (_, part) in parts {
            g.extend(part);
        }
        g
    }

    /// `u` of each comparison level, from about `training.u_pairs` pairs:
    /// every pair among a random sample of records.
    pub fn estimate_u(&self) -> Result<Vec<Vec<f64>>, LinkageError> {
        let (n, m) = (self.left.len(), self.right.len());
        if n < 2 || m < 1 {
            return Err(LinkageError::Training(
                "too few records to draw random pairs".into(),
            ));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.settings.training.seed);
        let wanted = (self.settings.training.u_pairs as f64)
            .min(self.total_pairs())
            .max(1.0);
        // A random sample of records and every pair among them (every pair
        // of a left sample and a right one in a linkage), as Splink draws
        // them: the sample's rows stay in the caches, where as many pairs
        // of records drawn anywhere would each be read from memory.
        let sample = |rng: &mut rand_chacha::ChaCha8Rng, of: usize, k: usize| -> Vec<u32> {
            let mut v: Vec<u32> = rand::seq::index::sample(rng, of, k.clamp(1, of))
                .into_iter()
                .map(|i| i as u32)
                .collect();
            v.sort_unstable();
            v
        };
        let mut pairs = Vec::new();
        match self.settings.link_type {
            LinkType::DedupeOnly => {
                // k records make k (k − 1) / 2 pairs.
                let k = ((1.0 + (1.0 + 8.0 * wanted).sqrt()) / 2.0).ceil() as usize;
                let s = sample(&mut rng, n, k);
                pairs.reserve(s.len() * s.len() / 2);
                for (a, &i) in s.iter().enumerate() {
                    pairs.extend(s[a + 1..].iter().map(|&j| (i, j)));
                }
            }
            LinkType::LinkOnly => {
                // a × b pairs, the samples in the sources' proportions.
                let a = (wanted * n as f64 / m as f64)
                    .sqrt()
                    .ceil()
                    .clamp(1.0, n as f64);
                let b = (wanted / a).ceil() as usize;
                let (l, r) = (sample(&mut rng, n, a as usize), sample(&mut rng, m, b));
                pairs.reserve(l.len() * r.len());
                for &i in &l {
                    pairs.extend(r.iter().map(|&j| (i, j)));
                }
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
        let found = self.blocker().count(&self.settings.deterministic)? as f64;
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
            // EM runs over the distinct patterns of levels, with their
            // counts, counted as blocking makes the pairs (each thread its
            // own), then in order (the sums come out the same every run).
            let parts = self.blocker().fold(
                std::slice::from_ref(rule),
                || (FastMap::<Vec<u8>, f64>::default(), vec![0u8; k]),
                |(seen, levels), i, j| {
                    self.pair_levels(i as usize, j as usize, levels);
                    match seen.get_mut(&levels[..]) {
                        Some(n) => *n += 1.0,
                        None => {
                            seen.insert(levels.clone(), 1.0);
                        }
                    }
                },
            )?;
            let mut counted: FastMap<Vec<u8>, f64> = FastMap::default();
            for (seen, _) in parts {
                for (pattern, n) in seen {
                    *counted.entry(pattern).or_default() += n;
                }
            }
            let mut patterns: Vec<(Vec<u8>, f64)> = counted.into_iter().collect();
            patterns.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let pairs = patterns.iter().map(|p| p.1).sum::<f64>() as usize;
            if pairs == 0 {
                continue;
            }
            let free: Vec<bool> = self
                .settings
                .comparison
                .iter()
                .map(|c| !c.columns.iter().any(|col| rule.columns.contains(col)))
                .collect();
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
            expected_matches += lambda * pairs as f64;
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
                pairs,
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
            && let Some((left, right, _)) = comp.numbers()
            && left[i] == right[j]
            && let Some(&f) = tf.get(left[i] as usize)
        {
            return ((m / f).log2(), true);
        }
        ((m / u).log2(), false)
    }

    /// What weighs a pair under `model`: each level's weight, and each
    /// value's weight of an exact match on a term-frequency-adjusted
    /// comparison, computed once.
    fn weigher(&self, model: &Model) -> Weigher<'_> {
        Weigher {
            linker: self,
            prior: model.prior_weight(),
            weights: model.comparisons.iter().map(|p| p.weights()).collect(),
            exact: self
                .comparisons
                .iter()
                .enumerate()
                .map(|(c, comp)| {
                    let tf = self.tf[c].as_ref()?;
                    if !matches!(comp.levels.first(), Some(crate::settings::Level::Exact)) {
                        return None;
                    }
                    let (left, _, _) = comp.numbers()?;
                    let m = model.comparisons[c].m[0];
                    Some((left, tf.iter().map(|f| (m / f).log2()).collect()))
                })
                .collect(),
        }
    }

    /// Weights and probabilities of pairs.
    pub fn score(&self, model: &Model, pairs: &[Pair]) -> Vec<Scored> {
        let weigher = self.weigher(model);
        let k = self.comparisons.len();
        let chunks: Vec<(usize, &[Pair])> = pairs.chunks(CHUNK).enumerate().collect();
        let mut parts = in_parallel(
            &chunks,
            |(n, chunk), out: &mut Vec<(usize, Vec<Scored>)>| {
                let mut levels = vec![0u8; k];
                let s = chunk
                    .iter()
                    .map(|&pair| weigher.scored(pair, &mut levels))
                    .collect();
                out.push((*n, s));
            },
        );
        parts.sort_by_key(|(n, _)| *n);
        let mut out = Vec::with_capacity(pairs.len());
        for (_, s) in parts {
            out.extend(s);
        }
        out
    }

    /// The links: the candidate pairs of the blocking rules whose match
    /// probability is at least `threshold`, in order, and how many
    /// candidate pairs there were. Each pair is weighed as blocking makes
    /// it: the candidates are never kept.
    pub fn links(&self, model: &Model, threshold: f64) -> Result<Links, LinkageError> {
        let weigher = self.weigher(model);
        let k = self.comparisons.len();
        let parts = self.blocker().fold_ahead(
            &self.settings.blocking,
            || (0usize, Vec::new(), vec![0u8; k]),
            |(n, links, levels): &mut (usize, Vec<Scored>, Vec<u8>), i, j| {
                *n += 1;
                let s = weigher.scored((i, j), levels);
                if s.probability >= threshold {
                    links.push(s);
                }
            },
            |left_side, i| weigher.fetch(left_side, i as usize),
        )?;
        let mut candidates = 0;
        let mut links = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
        for (n, l, _) in parts {
            candidates += n;
            links.extend(l);
        }
        links.sort_unstable_by_key(|s| s.pair);
        Ok(Links { candidates, links })
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

/// A pair's weight under a model (see [`Linker::weigher`]).
struct Weigher<'l> {
    linker: &'l Linker<'l>,
    prior: f64,
    weights: Vec<Vec<f64>>,
    /// Per comparison with term frequencies on an exact first level: the
    /// left numbers and each value's weight of an exact match.
    exact: Vec<Option<(&'l [u32], Vec<f64>)>>,
}

impl Weigher<'_> {
    /// Asks the caches for what weighing a pair reads of record `i` (its
    /// row; its value numbers for the term frequencies, left side).
    #[inline]
    fn fetch(&self, left_side: bool, i: usize) {
        let rows = &self.linker.rows;
        let row = if left_side {
            rows.left(i)
        } else {
            rows.right(i)
        };
        // Every cache line the row spans (16 words to a line).
        for w in (0..row.len()).step_by(16).chain(row.len().checked_sub(1)) {
            crate::compare::prefetch(&row[w]);
        }
        if left_side {
            for (left, _) in self.exact.iter().flatten() {
                crate::compare::prefetch(&left[i]);
            }
        }
    }

    /// The pair with its weight and probability (`levels`: room for the
    /// pair's levels, one per comparison).
    #[inline]
    fn scored(&self, (i, j): Pair, levels: &mut [u8]) -> Scored {
        let (iu, ju) = (i as usize, j as usize);
        self.linker.pair_levels(iu, ju, levels);
        let mut w = self.prior;
        for (c, &l) in levels.iter().enumerate() {
            if l == NULL {
                continue;
            }
            w += match &self.exact[c] {
                Some((left, tfw)) if l == 0 => tfw[left[iu] as usize],
                _ => self.weights[c][usize::from(l)],
            };
        }
        Scored {
            pair: (i, j),
            weight: w,
            probability: probability(w),
        }
    }
}

/// What [`Linker::links`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Links {
    /// The candidate pairs weighed.
    pub candidates: usize,
    /// The pairs at or above the threshold, in order.
    pub links: Vec<Scored>,
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

#[cfg(test)]
mod rows_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn records(n: usize, seed: u64) -> Records {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut pick = |xs: &[&str]| -> Vec<Option<String>> {
            (0..n)
                .map(|_| {
                    (rng.random_range(0..8) > 0)
                        .then(|| xs[rng.random_range(0..xs.len())].to_string())
                })
                .collect()
        };
        let names = pick(&[
            "DUPONT", "DUPOND", "DUPNOT", "Hélène", "Helene", "Héléne", "MARTIN", "MARTINEZ", "a",
        ]);
        let dates = pick(&[
            "1985-03-07",
            "1985-07-03",
            "19850307",
            "1985-03-08",
            "1985-13-01",
            "1990-01-01",
        ]);
        let places = pick(&["014628", "014630", "014631", "075056", "01"]);
        let basins = pick(&["2501", "1101"]);
        let lat = pick(&["48.85", "45.76"]);
        let lon = pick(&["2.35", "4.83"]);
        Records::new((0..n).map(|i| format!("r{i}")).collect())
            .with_column("name", names)
            .unwrap()
            .with_column("date", dates)
            .unwrap()
            .with_column("place", places)
            .unwrap()
            .with_column("basin", basins)
            .unwrap()
            .with_column("lat", lat)
            .unwrap()
            .with_column("lon", lon)
            .unwrap()
    }

    const SETTINGS: &str = r#"
link_type = "dedupe_only"
[[blocking]]
columns = ["name"]
[[training.blocking]]
columns = ["date"]
[[training.blocking]]
columns = ["name"]
[[comparison]]
name = "name"
columns = ["name"]
tf_adjust = true
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.92 }, { kind = "damerau_levenshtein", max = 1 }, { kind = "jaro_winkler", threshold = 0.7 }, { kind = "damerau_levenshtein", max = 3 }]
[[comparison]]
name = "date"
columns = ["date"]
levels = [{ kind = "exact" }, { kind = "date_swapped" }, { kind = "damerau_levenshtein", max = 1 }, { kind = "date_within", days = 400 }]
[[comparison]]
name = "place"
columns = ["place"]
levels = [{ kind = "exact" }, { kind = "same", column = "basin" }, { kind = "prefix", chars = 3 }]
[[comparison]]
name = "point"
columns = ["lat", "lon"]
levels = [{ kind = "within_km", km = 10.0 }]
"#;

    /// The levels read from the rows are those of each comparison read from
    /// the records, and a pair's weight is the sum of its explained terms.
    #[test]
    fn rows_give_the_levels_and_weights_of_the_records() {
        for link in ["dedupe_only", "link_only"] {
            let s = Settings::from_toml(&SETTINGS.replace("dedupe_only", link)).unwrap();
            let (left, right) = (records(70, 1), records(50, 2));
            let right = if link == "dedupe_only" { &left } else { &right };
            let linker = Linker::new(&s, &left, right).unwrap();
            let pairs: Vec<Pair> = (0..left.len() as u32)
                .flat_map(|i| (0..right.len() as u32).map(move |j| (i, j)))
                .filter(|&(i, j)| link == "link_only" || i < j)
                .collect();
            let g = linker.levels(&pairs);
            let k = linker.comparisons().len();
            for (p, &(i, j)) in pairs.iter().enumerate() {
                for (c, comp) in linker.comparisons().iter().enumerate() {
                    assert_eq!(
                        g[p * k + c],
                        comp.level(&left, i as usize, right, j as usize),
                        "{link} {} pair {i} {j}",
                        comp.name
                    );
                }
            }
            let model = linker.train().unwrap();
            for x in linker.score(&model, &pairs) {
                let sum: f64 = linker
                    .explain(&model, x.pair)
                    .iter()
                    .map(|t| t.weight)
                    .sum();
                assert!(
                    (sum - x.weight).abs() < 1e-9,
                    "{link} {:?} {sum} {}",
                    x.pair,
                    x.weight
                );
            }
            // The links weighed as blocking makes the pairs are those of the
            // blocked pairs scored, at any threshold.
            let blocked = linker.blocked_pairs().unwrap();
            let scored = linker.score(&model, &blocked);
            for threshold in [0.0, 0.5, 0.99] {
                let found = linker.links(&model, threshold).unwrap();
                assert_eq!(found.candidates, blocked.len(), "{link}");
                let expected: Vec<Scored> = scored
                    .iter()
                    .filter(|x| x.probability >= threshold)
                    .copied()
                    .collect();
                assert_eq!(found.links, expected, "{link} at {threshold}");
            }
        }
    }
}
