//! What a linkage's results are worth: the quality report of a run
//! (estimated precision and recall from the model's own probabilities, and
//! measured ones where a ground truth exists) and the sample of uncertain
//! pairs a person labels by hand (clerical review).

use crate::blocking::Pair;
use crate::model::Scored;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One bar of the distribution of candidate pairs' match weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// The bar covers weights in `[from, from + width)`.
    pub from: f64,
    pub width: f64,
    pub pairs: u64,
    /// Of which linked (at or above the threshold).
    pub linked: u64,
}

/// Precision and recall against the true links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Pairs the truth holds.
    pub true_links: u64,
    /// Links that are true.
    pub true_positives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The quality report of a linkage run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub left_records: u64,
    pub right_records: u64,
    pub candidate_pairs: u64,
    pub threshold: f64,
    pub links: u64,
    /// Records of each side in at least one link.
    pub left_linked: u64,
    pub right_linked: u64,
    /// The share of links that are matches, by the model: the mean match
    /// probability of the links.
    pub estimated_precision: f64,
    /// The share of matches that are linked, by the model: the expected
    /// matches among the links over those among every candidate pair
    /// (matches the blocking rules never paired are not counted).
    pub estimated_recall: f64,
    /// Matches the model expects among the candidate pairs.
    pub expected_matches: f64,
    pub weights: Vec<Bin>,
    /// Against a ground truth, where there is one.
    pub measured: Option<Measured>,
}

/// Width of a bar of the weight distribution.
pub const BIN_WIDTH: f64 = 2.0;

/// The report of scored candidate pairs linked at `threshold` (a
/// probability).
pub fn quality(scored: &[Scored], threshold: f64, left: usize, right: usize) -> Quality {
    let mut linked_left = HashSet::new();
    let mut linked_right = HashSet::new();
    let (mut links, mut p_links, mut p_all) = (0u64, 0.0f64, 0.0f64);
    let mut bins: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for s in scored {
        p_all += s.probability;
        let linked = s.probability >= threshold;
        if linked {
            links += 1;
            p_links += s.probability;
            linked_left.insert(s.pair.0);
            linked_right.insert(s.pair.1);
        }
        if s.weight.is_finite() {
            let b = bins
                .entry((s.weight / BIN_WIDTH).floor() as i64)
                .or_default();
            b.0 += 1;
            b.1 += u64::from(linked);
        }
    }
    Quality {
        left_records: left as u64,
        right_records: right as u64,
        candidate_pairs: scored.len() as u64,
        threshold,
        links,
        left_linked: linked_left.len() as u64,
        right_linked: linked_right.len() as u64,
        estimated_precision: if links > 0 {
            p_links / links as f64
        } else {
            0.0
        },
        estimated_recall: if p_all > 0.0 { p_links / p_all } else { 0.0 },
        expected_matches: p_all,
        weights: bins
            .into_iter()
            .map(|(b, (pairs, linked))| Bin {
                from: b as f64 * BIN_WIDTH,
                width: BIN_WIDTH,
                pairs,
                linked,
            })
            .collect(),
        measured: None,
    }
}

/// Precision, recall and F1 of `links` against `truth`; in a
/// deduplication, give pairs as `(min, max)` on both sides.
pub fn measure(links: &[Pair], truth: &HashSet<Pair>) -> Measured {
    let tp = links.iter().filter(|p| truth.contains(p)).count() as u64;
    let precision = if links.is_empty() {
        0.0
    } else {
        tp as f64 / links.len() as f64
    };
    let recall = if truth.is_empty() {
        0.0
    } else {
        tp as f64 / truth.len() as f64
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Measured {
        true_links: truth.len() as u64,
        true_positives: tp,
        precision,
        recall,
        f1,
    }
}

/// Probabilities a clerical reviewer is asked about: the model is unsure
/// between these.
pub const UNCERTAIN: (f64, f64) = (0.05, 0.995);

/// Up to `n` uncertain pairs (probability within [`UNCERTAIN`]) for
/// clerical review, spread over five strata of probability so that the
/// labels say how precision varies near the threshold; the same pairs for
/// the same input and seed.
pub fn review_sample(scored: &[Scored], n: usize, seed: u64) -> Vec<Scored> {
    const STRATA: usize = 5;
    let (lo, hi) = UNCERTAIN;
    let mut strata: Vec<Vec<(u64, Scored)>> = vec![Vec::new(); STRATA];
    for s in scored {
        if s.probability < lo || s.probability >= hi {
            continue;
        }
        let k = (((s.probability - lo) / (hi - lo)) * STRATA as f64) as usize;
        strata[k.min(STRATA - 1)].push((mix(seed, s.pair), *s));
    }
    for s in &mut strata {
        s.sort_by_key(|(h, _)| *h);
    }
    // Round-robin over the strata, highest probability first, so that a
    // small sample still covers them all.
    let mut out = Vec::with_capacity(n);
    let mut at = [0usize; STRATA];
    while out.len() < n {
        let mut took = false;
        for k in (0..STRATA).rev() {
            if out.len() < n && at[k] < strata[k].len() {
                out.push(strata[k][at[k]].1);
                at[k] += 1;
                took = true;
            }
        }
        if !took {
            break;
        }
    }
    out.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    out
}

/// A pair's place in the sample's order (SplitMix64 of seed and pair).
fn mix(seed: u64, (i, j): Pair) -> u64 {
    let mut z = seed ^ (u64::from(i) << 32 | u64::from(j));
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What clerical labels say: among the labelled links (at or above the
/// threshold) the share that are matches, and among the labelled pairs
/// below it the share that are matches (missed links). `labels`: a pair's
/// probability and whether the reviewer said match (`None`: unsure, left
/// out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reviewed {
    pub labelled: u64,
    pub links_labelled: u64,
    /// Share of labelled links that are matches.
    pub precision: Option<f64>,
    pub below_labelled: u64,
    /// Share of labelled pairs under the threshold that are matches.
    pub missed_share: Option<f64>,
}

pub fn reviewed(labels: &[(f64, Option<bool>)], threshold: f64) -> Reviewed {
    let (mut links, mut link_matches, mut below, mut below_matches) = (0u64, 0u64, 0u64, 0u64);
    for &(p, label) in labels {
        let Some(is_match) = label else { continue };
        if p >= threshold {
            links += 1;
            link_matches += u64::from(is_match);
        } else {
            below += 1;
            below_matches += u64::from(is_match);
        }
    }
    let share = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    Reviewed {
        labelled: links + below,
        links_labelled: links,
        precision: share(link_matches, links),
        below_labelled: below,
        missed_share: share(below_matches, below),
    }
}
