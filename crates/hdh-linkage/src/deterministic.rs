//! Exact linkage on several keys, SNDS style: two records are the same
//! person when they agree on every key (the holder's pseudonym, birth
//! date, sex, and the rank that tells twins apart). A key value that
//! several records of one source share is a collision: those records are
//! not linked (which one is it?) but reported, with the records that have
//! a key missing and those left unmatched.

use crate::blocking::{Pair, keys_on};
use crate::{Records, RecordsError};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// (left, right) records with the same key, unique on both sides.
    pub links: Vec<Pair>,
    /// Keys several left records share, with those records.
    pub collisions_left: Vec<Vec<u32>>,
    pub collisions_right: Vec<Vec<u32>>,
    /// Records with a key value missing.
    pub incomplete_left: Vec<u32>,
    pub incomplete_right: Vec<u32>,
    /// Records whose key is unique on their side but collides on the
    /// other: they could be any of several.
    pub ambiguous_left: Vec<u32>,
    pub ambiguous_right: Vec<u32>,
    /// Records with a complete, unique key and no partner.
    pub unmatched_left: Vec<u32>,
    pub unmatched_right: Vec<u32>,
}

struct Side {
    unique: HashMap<String, u32>,
    collisions: Vec<Vec<u32>>,
    colliding: std::collections::HashSet<String>,
    incomplete: Vec<u32>,
}

fn side(keys: &[Option<String>]) -> Side {
    let mut groups: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut incomplete = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match k {
            Some(k) => groups.entry(k).or_default().push(i as u32),
            None => incomplete.push(i as u32),
        }
    }
    let mut unique = HashMap::new();
    let mut collisions = Vec::new();
    let mut colliding = std::collections::HashSet::new();
    for (k, g) in groups {
        if g.len() == 1 {
            unique.insert(k.to_string(), g[0]);
        } else {
            colliding.insert(k.to_string());
            collisions.push(g);
        }
    }
    collisions.sort();
    Side {
        unique,
        collisions,
        colliding,
        incomplete,
    }
}

/// Links `left` and `right` on the columns `on`.
pub fn link(left: &Records, right: &Records, on: &[String]) -> Result<Report, RecordsError> {
    let (l, r) = (side(&keys_on(left, on)?), side(&keys_on(right, on)?));
    let mut links: Vec<Pair> = l
        .unique
        .iter()
        .filter_map(|(k, &i)| r.unique.get(k).map(|&j| (i, j)))
        .collect();
    links.sort_unstable();
    // Unique here, not linked: ambiguous when the other side collides on
    // the key, unmatched otherwise.
    let rest = |mine: &Side, other: &Side| {
        let (mut ambiguous, mut unmatched) = (Vec::new(), Vec::new());
        for (k, &i) in &mine.unique {
            if other.unique.contains_key(k) {
                continue;
            }
            if other.colliding.contains(k) {
                ambiguous.push(i);
            } else {
                unmatched.push(i);
            }
        }
        ambiguous.sort_unstable();
        unmatched.sort_unstable();
        (ambiguous, unmatched)
    };
    let (ambiguous_left, unmatched_left) = rest(&l, &r);
    let (ambiguous_right, unmatched_right) = rest(&r, &l);
    Ok(Report {
        links,
        collisions_left: l.collisions,
        collisions_right: r.collisions,
        incomplete_left: l.incomplete,
        incomplete_right: r.incomplete,
        ambiguous_left,
        ambiguous_right,
        unmatched_left,
        unmatched_right,
    })
}
