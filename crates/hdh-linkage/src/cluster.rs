//! Clusters: the connected components of the links (pairs at or above a
//! probability), so that records linked through a third are one entity.

use crate::blocking::Pair;
use crate::settings::LinkType;

/// Union-find with path halving and union by size.
struct Sets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl Sets {
    fn new(n: usize) -> Sets {
        Sets {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

/// A cluster number for every record: left records first (`0..left`),
/// then right ones (`left..left + right`) in a linkage; numbers run from 0
/// in order of first appearance.
pub fn clusters(left: usize, right: usize, links: &[Pair], link: LinkType) -> Vec<usize> {
    let n = match link {
        LinkType::LinkOnly => left + right,
        LinkType::DedupeOnly => left,
    };
    let mut sets = Sets::new(n);
    for &(i, j) in links {
        let j = match link {
            LinkType::LinkOnly => left + j as usize,
            LinkType::DedupeOnly => j as usize,
        };
        sets.union(i as usize, j);
    }
    // A root's cluster number, by root (usize::MAX: not numbered yet).
    let mut number = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|x| {
            let root = sets.find(x);
            if number[root] == usize::MAX {
                number[root] = next;
                next += 1;
            }
            number[root]
        })
        .collect()
}
