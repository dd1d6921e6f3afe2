//! The release ledger: what already left, and differencing against it.
//!
//! Each released cell leaves a [`Footprint`]: what it measures and the
//! exact set of units (hashed person pseudonyms) behind it — for a sum or a
//! mean, the units with a non-zero contribution, so that masking a value
//! down to a few persons changes the footprint. Two cells of the same
//! measure whose populations differ by fewer than the threshold (but are
//! not the same population) give away the difference: "everyone but one
//! patient", a population shifted by one criterion (dsBase#251's
//! pattern), a mean over the cohort and over the cohort masked by a 0/1
//! vector (dsBase#250's).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// `count`, or `value:<variable>` for a sum or a mean.
    pub measure: String,
    /// Where it was released (for messages): `release R, table T, cell row/col`.
    pub label: String,
    /// Units behind the cell, sorted, distinct.
    pub units: Vec<u64>,
}

/// Size of the symmetric difference of two sorted sets: exact below
/// `limit`, some value at least `limit` otherwise (it stops counting there).
pub fn difference(a: &[u64], b: &[u64], limit: usize) -> usize {
    let (mut i, mut j, mut d) = (0, 0, 0);
    while i < a.len() && j < b.len() && d < limit {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                d += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                d += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    if d >= limit {
        d
    } else {
        d + (a.len() - i) + (b.len() - j)
    }
}

/// The first footprint in `against` that `f` differs from by fewer than
/// `threshold` units (but not by none), with the size of the difference.
pub fn closest<'a>(
    f: &Footprint,
    against: impl IntoIterator<Item = &'a Footprint>,
    threshold: u64,
) -> Option<(&'a Footprint, usize)> {
    let t = threshold as usize;
    against
        .into_iter()
        .filter(|g| g.measure == f.measure && f.units.len().abs_diff(g.units.len()) < t)
        .find_map(|g| {
            let d = difference(&f.units, &g.units, t);
            (d > 0 && d < t).then_some((g, d))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(label: &str, units: impl IntoIterator<Item = u64>) -> Footprint {
        let mut units: Vec<u64> = units.into_iter().collect();
        units.sort_unstable();
        units.dedup();
        Footprint {
            measure: "count".into(),
            label: label.into(),
            units,
        }
    }

    #[test]
    fn symmetric_difference() {
        assert_eq!(difference(&[1, 2, 3], &[1, 2, 3], 10), 0);
        assert_eq!(difference(&[1, 2, 3], &[2, 3, 4], 10), 2);
        assert_eq!(difference(&[], &[2, 3, 4], 10), 3);
        assert!(difference(&[1, 2, 3, 4, 5, 6], &[], 2) >= 2);
        assert!(
            difference(
                &(0..100).collect::<Vec<_>>(),
                &(50..150).collect::<Vec<_>>(),
                10
            ) >= 10
        );
    }

    #[test]
    fn all_but_one_is_caught_and_the_same_population_is_not() {
        let all = fp("all", 0..500);
        let all_but_one = fp("all but one", (0..500).filter(|u| *u != 137));
        let same = fp("same", 0..500);
        let far = fp("far", 0..400);
        let prior = [same.clone(), far.clone()];
        assert!(closest(&all, &prior, 10).is_none());
        let prior = [far, all];
        let (hit, d) = closest(&all_but_one, &prior, 10).unwrap();
        assert_eq!((hit.label.as_str(), d), ("all", 1));
        let mut other = all_but_one.clone();
        other.measure = "value:cost".into();
        assert!(
            closest(&other, &prior, 10).is_none(),
            "another measure is another question"
        );
    }
}
