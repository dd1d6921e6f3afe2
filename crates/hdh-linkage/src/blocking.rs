//! Candidate pairs: the union of equi-join rules. A pair is generated once,
//! by the first rule that covers it (two records are covered by a rule when
//! they agree on all its columns, none missing); work is spread over the
//! machine's cores, a big block split into `salt` parts.

use crate::settings::{LinkType, Rule};
use crate::{Records, RecordsError};
use std::collections::HashMap;

/// A candidate pair: a record of the left source, one of the right (in a
/// deduplication, both of the one source, left < right).
pub type Pair = (u32, u32);

/// Each record's key on some columns (`None`: a column is missing).
pub(crate) fn keys_on(
    r: &Records,
    columns: &[String],
) -> Result<Vec<Option<String>>, RecordsError> {
    let cols: Vec<usize> = columns
        .iter()
        .map(|c| r.column(c))
        .collect::<Result<_, _>>()?;
    Ok((0..r.len())
        .map(|i| {
            let mut k = String::new();
            for &c in &cols {
                k.push_str(r.get(c, i)?);
                k.push('\u{1f}');
            }
            Some(k)
        })
        .collect())
}

/// Each record's key under each rule.
fn keys(r: &Records, rules: &[Rule]) -> Result<Vec<Vec<Option<String>>>, RecordsError> {
    rules.iter().map(|rule| keys_on(r, &rule.columns)).collect()
}

/// A unit of work: the members of a block on each side, and which part of
/// the left members it takes (salting).
struct Unit {
    rule: usize,
    left: Vec<u32>,
    right: Vec<u32>,
    part: usize,
    parts: usize,
}

/// The candidate pairs of two sources (or of `left` alone when deduplicating;
/// `right` is then ignored), sorted.
pub fn candidate_pairs(
    left: &Records,
    right: &Records,
    rules: &[Rule],
    link: LinkType,
) -> Result<Vec<Pair>, RecordsError> {
    let right = match link {
        LinkType::LinkOnly => right,
        LinkType::DedupeOnly => left,
    };
    let lk = keys(left, rules)?;
    let rk = if link == LinkType::DedupeOnly {
        lk.clone()
    } else {
        keys(right, rules)?
    };
    let mut units = Vec::new();
    for (k, rule) in rules.iter().enumerate() {
        let mut blocks: HashMap<&str, (Vec<u32>, Vec<u32>)> = HashMap::new();
        for (i, key) in lk[k].iter().enumerate() {
            if let Some(key) = key {
                blocks.entry(key).or_default().0.push(i as u32);
            }
        }
        if link == LinkType::LinkOnly {
            for (j, key) in rk[k].iter().enumerate() {
                if let Some(key) = key
                    && let Some(b) = blocks.get_mut(key.as_str())
                {
                    b.1.push(j as u32);
                }
            }
        }
        let mut blocks: Vec<_> = blocks.into_values().collect();
        blocks.sort();
        for (l, r) in blocks {
            let parts = rule.salt.max(1) as usize;
            for part in 0..parts {
                units.push(Unit {
                    rule: k,
                    left: l.clone(),
                    right: r.clone(),
                    part,
                    parts,
                });
            }
        }
    }
    let run = |unit: &Unit, out: &mut Vec<Pair>| {
        // Covered by an earlier rule: that rule generated it.
        let earlier = |i: u32, j: u32| {
            (0..unit.rule).any(|k| {
                matches!((&lk[k][i as usize], &rk[k][j as usize]), (Some(a), Some(b)) if a == b)
            })
        };
        for (n, &i) in unit.left.iter().enumerate() {
            if n % unit.parts != unit.part {
                continue;
            }
            match link {
                LinkType::LinkOnly => {
                    for &j in &unit.right {
                        if !earlier(i, j) {
                            out.push((i, j));
                        }
                    }
                }
                LinkType::DedupeOnly => {
                    for &j in &unit.left[n + 1..] {
                        let (a, b) = (i.min(j), i.max(j));
                        if !earlier(a, b) {
                            out.push((a, b));
                        }
                    }
                }
            }
        }
    };
    let mut pairs = in_parallel(&units, run);
    pairs.sort_unstable();
    Ok(pairs)
}

/// Runs `f` over the units on every core; the results, concatenated.
pub(crate) fn in_parallel<U: Sync, T: Send>(
    units: &[U],
    f: impl Fn(&U, &mut Vec<T>) + Sync,
) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || units.len() < 2 {
        let mut out = Vec::new();
        for u in units {
            f(u, &mut out);
        }
        return out;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let f = &f;
    let next = &next;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(u) = units.get(i) else { break };
                        f(u, &mut out);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Whether any rule covers the pair (for tests and reports).
pub fn covered(
    left: &Records,
    right: &Records,
    rules: &[Rule],
    i: usize,
    j: usize,
) -> Result<bool, RecordsError> {
    for rule in rules {
        let mut all = true;
        for c in &rule.columns {
            let (a, b) = (left.get(left.column(c)?, i), right.get(right.column(c)?, j));
            if a.is_none() || a != b {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}
