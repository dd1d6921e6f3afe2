//! Candidate pairs: the union of equi-join rules. A pair is generated once,
//! by the first rule that covers it (two records are covered by a rule when
//! they agree on all its columns, none missing); work is spread over the
//! machine's cores, a big block split into `salt` parts.
//!
//! Each column is a dictionary (equal values, equal numbers), a rule's key
//! the numbers of its columns combined into one, and the blocks the runs of
//! records sorted by key (a counting sort): no string is hashed twice nor
//! compared while pairs are made.

use crate::compare::{Column, Columns, NO_VALUE};
use crate::settings::{LinkType, Rule};
use crate::{Records, RecordsError};
use std::sync::Arc;

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

/// Each record's key under a rule, as a number (`NO_VALUE`: a column is
/// missing); equal keys, equal numbers on both sides.
enum Keys {
    /// A rule on one column: its dictionary.
    Column(Arc<Column>),
    Combined {
        left: Vec<u32>,
        /// `None`: the same records (a deduplication).
        right: Option<Vec<u32>>,
        count: usize,
    },
}

impl Keys {
    fn of(
        rule: &Rule,
        columns: &Columns,
        left: &Records,
        right: &Records,
        link: LinkType,
    ) -> Result<Keys, RecordsError> {
        let right = match link {
            LinkType::LinkOnly => right,
            LinkType::DedupeOnly => left,
        };
        let cols: Vec<Arc<Column>> = rule
            .columns
            .iter()
            .map(|c| columns.get(c, left, right))
            .collect::<Result<_, _>>()?;
        if cols.len() == 1 {
            return Ok(Keys::Column(cols[0].clone()));
        }
        let dedupe = link == LinkType::DedupeOnly;
        // Column after column, each record's key so far and its number in
        // the next column, as one number into a table of the pairs seen.
        let mut l = cols[0].left.clone();
        let mut r = (!dedupe).then(|| cols[0].right().to_vec());
        let mut count = cols[0].len();
        for c in &cols[1..] {
            let width = c.len() as u64;
            let mut table = PairTable::new(l.len() + r.as_ref().map_or(0, Vec::len));
            table.number_all(&mut l, &c.left, width);
            if let Some(r) = &mut r {
                table.number_all(r, c.right(), width);
            }
            count = table.used as usize;
        }
        Ok(Keys::Combined {
            left: l,
            right: r,
            count,
        })
    }

    fn left(&self) -> &[u32] {
        match self {
            Keys::Column(c) => &c.left,
            Keys::Combined { left, .. } => left,
        }
    }

    fn right(&self) -> &[u32] {
        match self {
            Keys::Column(c) => c.right(),
            Keys::Combined { left, right, .. } => right.as_deref().unwrap_or(left),
        }
    }

    fn count(&self) -> usize {
        match self {
            Keys::Column(c) => c.len(),
            Keys::Combined { count, .. } => *count,
        }
    }
}

/// Numbers for pairs of numbers (a key so far, a column's number): an
/// open-addressing table filled a batch at a time, each batch's slots
/// fetched ahead.
struct PairTable {
    /// (pair + 1, number); 0: empty.
    slots: Vec<(u64, u32)>,
    mask: usize,
    used: u32,
}

impl PairTable {
    fn new(records: usize) -> PairTable {
        let capacity = (records * 2).next_power_of_two().max(16);
        // Written, not `vec![…]` (zeroed memory mapped lazily): the
        // prefetches would map the shared zero page, and each first store
        // after one would cost a copy-on-write fault and a TLB shootdown
        // across the threads.
        let mut slots = Vec::with_capacity(capacity);
        slots.resize(capacity, (0, 0));
        PairTable {
            slots,
            mask: capacity - 1,
            used: 0,
        }
    }

    #[inline]
    fn slot_of(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) as usize & self.mask
    }

    /// Replaces each `keys[r]` by the number of the pair (`keys[r]`,
    /// `values[r]`) (`NO_VALUE` when either is missing).
    fn number_all(&mut self, keys: &mut [u32], values: &[u32], width: u64) {
        const BATCH: usize = 16;
        let mut pending = [0u64; BATCH];
        for (ks, vs) in keys.chunks_mut(BATCH).zip(values.chunks(BATCH)) {
            for (b, (k, &v)) in ks.iter().zip(vs).enumerate() {
                pending[b] = if *k == NO_VALUE || v == NO_VALUE {
                    0
                } else {
                    u64::from(*k) * width + u64::from(v) + 1
                };
                if pending[b] != 0 {
                    crate::compare::prefetch(&self.slots[self.slot_of(pending[b])]);
                }
            }
            for (b, k) in ks.iter_mut().enumerate() {
                let key = pending[b];
                if key == 0 {
                    *k = NO_VALUE;
                    continue;
                }
                let mut s = self.slot_of(key);
                loop {
                    let (stored, number) = self.slots[s];
                    if stored == key {
                        *k = number;
                        break;
                    }
                    if stored == 0 {
                        self.slots[s] = (key, self.used);
                        *k = self.used;
                        self.used += 1;
                        break;
                    }
                    s = (s + 1) & self.mask;
                }
            }
        }
    }
}

/// A rule's keys and its records grouped by key, on each side.
struct Blocked {
    keys: Keys,
    left: Groups,
    /// `None` in a deduplication.
    right: Option<Groups>,
}

/// The rules' keys and groups already made (by their columns, in any
/// order), for the rules that come back (training, blocking).
#[derive(Default)]
pub(crate) struct RuleCache {
    made: std::sync::Mutex<std::collections::HashMap<Vec<String>, Arc<Blocked>>>,
}

impl RuleCache {
    fn get(
        &self,
        rule: &Rule,
        columns: &Columns,
        left: &Records,
        right: &Records,
        link: LinkType,
    ) -> Result<Arc<Blocked>, RecordsError> {
        let mut name = rule.columns.clone();
        name.sort();
        name.dedup();
        if let Some(b) = self.made.lock().ok().and_then(|m| m.get(&name).cloned()) {
            return Ok(b);
        }
        let keys = Keys::of(rule, columns, left, right, link)?;
        let l = Groups::of(keys.left(), keys.count());
        let r = (link == LinkType::LinkOnly).then(|| Groups::of(keys.right(), keys.count()));
        let b = Arc::new(Blocked {
            keys,
            left: l,
            right: r,
        });
        if let Ok(mut m) = self.made.lock() {
            m.insert(name, b.clone());
        }
        Ok(b)
    }
}

/// Records grouped by key: the members of key `k` are
/// `members[start[k]..start[k + 1]]`, in increasing order.
struct Groups {
    start: Vec<u32>,
    members: Vec<u32>,
}

impl Groups {
    fn of(keys: &[u32], count: usize) -> Groups {
        let mut start = vec![0u32; count + 1];
        for &k in keys {
            if k != NO_VALUE {
                start[k as usize + 1] += 1;
            }
        }
        for k in 0..count {
            start[k + 1] += start[k];
        }
        let mut next = start.clone();
        let mut members = vec![0u32; start[count] as usize];
        for (i, &k) in keys.iter().enumerate() {
            if k != NO_VALUE {
                members[next[k as usize] as usize] = i as u32;
                next[k as usize] += 1;
            }
        }
        Groups { start, members }
    }

    fn get(&self, k: usize) -> &[u32] {
        &self.members[self.start[k] as usize..self.start[k + 1] as usize]
    }
}

/// A unit of work: blocks `keys` of rule `rule`, and which part of their
/// left members it takes (salting, or a big block spread).
struct Unit {
    rule: usize,
    keys: std::ops::Range<usize>,
    part: usize,
    parts: usize,
}

/// About how many pairs a unit of work makes.
const UNIT_PAIRS: u64 = 1 << 15;

/// The candidate pairs of two sources (or of `left` alone when deduplicating;
/// `right` is then ignored), sorted.
pub fn candidate_pairs(
    left: &Records,
    right: &Records,
    rules: &[Rule],
    link: LinkType,
) -> Result<Vec<Pair>, RecordsError> {
    let names: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.columns.iter().map(String::as_str))
        .collect();
    let columns = Columns::build(left, (link == LinkType::LinkOnly).then_some(right), &names);
    Blocker {
        columns: &columns,
        cache: &RuleCache::default(),
        left,
        right,
        link,
    }
    .pairs(rules)
}

/// What blocking reads: the columns' dictionaries, the rules' keys made so
/// far, the sources (`right` is `left` in a deduplication).
pub(crate) struct Blocker<'a> {
    pub columns: &'a Columns,
    pub cache: &'a RuleCache,
    pub left: &'a Records,
    pub right: &'a Records,
    pub link: LinkType,
}

impl Blocker<'_> {
    /// The candidate pairs of the rules, each once, in order.
    pub(crate) fn pairs(&self, rules: &[Rule]) -> Result<Vec<Pair>, RecordsError> {
        let parts = self.fold(rules, Vec::new, |out: &mut Vec<Pair>, i, j| {
            out.push((i, j))
        })?;
        let mut pairs = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for p in parts {
            pairs.extend(p);
        }
        sort_pairs(&mut pairs);
        Ok(pairs)
    }

    /// How many candidate pairs the rules make (none is kept).
    pub(crate) fn count(&self, rules: &[Rule]) -> Result<usize, RecordsError> {
        let counts = self.fold(rules, || 0usize, |n, _, _| *n += 1)?;
        Ok(counts.iter().sum())
    }

    /// Each candidate pair of the rules, once, into a state of the thread
    /// that meets it (made by `start`, one per thread that works): the
    /// states, in no particular order. Pairs come block by block, so that
    /// a block's records are read from the caches while its pairs are.
    pub(crate) fn fold<S: Send>(
        &self,
        rules: &[Rule],
        start: impl Fn() -> S + Sync,
        each: impl Fn(&mut S, u32, u32) + Sync,
    ) -> Result<Vec<S>, RecordsError> {
        self.fold_ahead(rules, start, each, |_, _| {})
    }

    /// [`Blocker::fold`], with `ahead(left_side, record)` told of each
    /// member of a block a few blocks before its pairs come: what `each`
    /// will read of the record can be fetched into the caches meanwhile
    /// (the records of a block are scattered over the sources).
    pub(crate) fn fold_ahead<S: Send>(
        &self,
        rules: &[Rule],
        start: impl Fn() -> S + Sync,
        each: impl Fn(&mut S, u32, u32) + Sync,
        ahead: impl Fn(bool, u32) + Sync,
    ) -> Result<Vec<S>, RecordsError> {
        let (blocked, units) = self.units(rules)?;
        Ok(in_parallel(&units, |unit, out: &mut Vec<S>| {
            if out.is_empty() {
                out.push(start());
            }
            if let Some(state) = out.last_mut() {
                walk(&blocked, unit, |i, j| each(state, i, j), &ahead);
            }
        }))
    }

    /// The rules' keys and groups, and the work cut in units.
    fn units(&self, rules: &[Rule]) -> Result<(Vec<Arc<Blocked>>, Vec<Unit>), RecordsError> {
        let blocked: Vec<Arc<Blocked>> = {
            let jobs: Vec<usize> = (0..rules.len()).collect();
            let mut b = in_parallel(&jobs, |&k, out| {
                out.push((
                    k,
                    self.cache
                        .get(&rules[k], self.columns, self.left, self.right, self.link),
                ));
            });
            b.sort_by_key(|x| x.0);
            b.into_iter().map(|(_, b)| b).collect::<Result<_, _>>()?
        };
        // Units of about UNIT_PAIRS pairs each; a bigger block alone, split in
        // parts (at least its rule's salt).
        let mut units = Vec::new();
        for (k, rule) in rules.iter().enumerate() {
            let (gl, gr) = (&blocked[k].left, blocked[k].right.as_ref());
            let pairs_of = |key: usize| -> u64 {
                let n = gl.get(key).len() as u64;
                match gr {
                    None => n * n.saturating_sub(1) / 2,
                    Some(gr) => n * gr.get(key).len() as u64,
                }
            };
            let count = blocked[k].keys.count();
            let mut from = 0;
            let mut acc = 0u64;
            for key in 0..count {
                let p = pairs_of(key);
                // Salting splits the rule's big blocks (a small one is not
                // worth a unit of its own).
                if p >= UNIT_PAIRS || (rule.salt > 1 && p >= 1024) {
                    if from < key {
                        units.push(Unit {
                            rule: k,
                            keys: from..key,
                            part: 0,
                            parts: 1,
                        });
                    }
                    let members = gl.get(key).len();
                    let parts = (rule.salt.max(1) as usize)
                        .max((p / UNIT_PAIRS) as usize)
                        .min(members.max(1));
                    for part in 0..parts {
                        units.push(Unit {
                            rule: k,
                            keys: key..key + 1,
                            part,
                            parts,
                        });
                    }
                    from = key + 1;
                    acc = 0;
                    continue;
                }
                acc += p;
                if acc >= UNIT_PAIRS {
                    units.push(Unit {
                        rule: k,
                        keys: from..key + 1,
                        part: 0,
                        parts: 1,
                    });
                    from = key + 1;
                    acc = 0;
                }
            }
            if from < count {
                units.push(Unit {
                    rule: k,
                    keys: from..count,
                    part: 0,
                    parts: 1,
                });
            }
        }
        Ok((blocked, units))
    }
}

/// Sorts pairs, two halves at once on two cores or more, then merged.
pub(crate) fn sort_pairs(pairs: &mut Vec<Pair>) {
    let key = |&(i, j): &Pair| (u64::from(i) << 32) | u64::from(j);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || pairs.len() < 1 << 16 {
        pairs.sort_unstable_by_key(key);
        return;
    }
    let half = pairs.len() / 2;
    {
        let (a, b) = pairs.split_at_mut(half);
        std::thread::scope(|s| {
            s.spawn(|| a.sort_unstable_by_key(key));
            b.sort_unstable_by_key(key);
        });
    }
    let (a, b) = pairs.split_at(half);
    let mut merged = Vec::with_capacity(pairs.len());
    let (mut x, mut y) = (0, 0);
    while x < a.len() && y < b.len() {
        if key(&a[x]) <= key(&b[y]) {
            merged.push(a[x]);
            x += 1;
        } else {
            merged.push(b[y]);
            y += 1;
        }
    }
    merged.extend_from_slice(&a[x..]);
    merged.extend_from_slice(&b[y..]);
    *pairs = merged;
}

/// How many blocks ahead [`walk`] fetches.
const AHEAD: usize = 4;

/// Each pair of a unit that no earlier rule covers, to `emit`.
#[inline]
fn walk(
    blocked: &[Arc<Blocked>],
    unit: &Unit,
    mut emit: impl FnMut(u32, u32),
    ahead: &impl Fn(bool, u32),
) {
    let r = unit.rule;
    let keys: Vec<&Keys> = blocked[..r].iter().map(|b| &b.keys).collect();
    let (gl, gr) = (&blocked[r].left, blocked[r].right.as_ref());
    // A block's members' earlier keys and rows, asked for `AHEAD` blocks
    // before they are read.
    // (A big block's members are too many to hold in the caches.)
    let side = |members: &[u32], left: bool| {
        if members.len() > 64 {
            return;
        }
        for &i in members {
            for k in &keys {
                let of_side = if left { k.left() } else { k.right() };
                crate::compare::prefetch(&of_side[i as usize]);
            }
            ahead(left, i);
        }
    };
    let fetch = |key: usize| {
        if key >= unit.keys.end {
            return;
        }
        side(gl.get(key), true);
        if let Some(gr) = gr {
            side(gr.get(key), false);
        }
    };
    for key in unit.keys.clone().take(AHEAD) {
        fetch(key);
    }
    // The earlier rules' keys of a block's members: a pair an earlier
    // rule covers is that rule's.
    let mut el: Vec<u32> = Vec::new();
    let mut er: Vec<u32> = Vec::new();
    let covered = |a: &[u32], b: &[u32]| a.iter().zip(b).any(|(x, y)| *x != NO_VALUE && x == y);
    for key in unit.keys.clone() {
        fetch(key + AHEAD);
        let lm = gl.get(key);
        el.clear();
        for &i in lm {
            el.extend(keys.iter().map(|k| k.left()[i as usize]));
        }
        match gr {
            None => {
                for (n, &i) in lm.iter().enumerate() {
                    if n % unit.parts != unit.part {
                        continue;
                    }
                    let ki = &el[n * r..n * r + r];
                    for (m, &j) in lm.iter().enumerate().skip(n + 1) {
                        if !covered(ki, &el[m * r..m * r + r]) {
                            emit(i, j);
                        }
                    }
                }
            }
            Some(gr) => {
                let rm = gr.get(key);
                if rm.is_empty() {
                    continue;
                }
                er.clear();
                for &j in rm {
                    er.extend(keys.iter().map(|k| k.right()[j as usize]));
                }
                for (n, &i) in lm.iter().enumerate() {
                    if n % unit.parts != unit.part {
                        continue;
                    }
                    let ki = &el[n * r..n * r + r];
                    for (m, &j) in rm.iter().enumerate() {
                        if !covered(ki, &er[m * r..m * r + r]) {
                            emit(i, j);
                        }
                    }
                }
            }
        }
    }
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
    let mut parts: Vec<Vec<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(units.len()))
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
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut parts = parts.drain(..);
    let mut out = parts.next().unwrap_or_default();
    out.reserve(total - out.len());
    for p in parts {
        out.extend(p);
    }
    out
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
