//! Comparing two records, one comparison at a time: each comparison gives
//! a level (`0` = its first, most similar level; `levels.len()` = "else";
//! [`NULL`] when a value is missing, which weighs nothing).

use crate::settings::{Comparison, Level};
use crate::{Records, RecordsError};
use std::collections::HashMap;
use std::sync::Arc;

/// The level of a comparison with a missing value.
pub const NULL: u8 = u8::MAX;

/// A missing value in a [`Column`] dictionary (and a key no rule shares).
pub(crate) const NO_VALUE: u32 = u32::MAX;

/// A fast hash for the dictionaries (keys are our own values, not an
/// adversary's): 8 bytes at a time, multiplied, then mixed (splitmix64).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(26);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(26);
        }
        self.0 = h ^ bytes.len() as u64;
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0 ^ i).wrapping_mul(K).rotate_left(26);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// One column of both sources as numbers into their distinct values: equal
/// values are equal numbers, [`NO_VALUE`] a missing one.
#[derive(Debug)]
pub(crate) struct Column {
    pub left: Vec<u32>,
    /// `None`: the right records are the left ones (a deduplication).
    right: Option<Vec<u32>>,
    /// The distinct values, end to end; value `k` is `text[starts[k]..starts[k + 1]]`.
    text: String,
    starts: Vec<usize>,
}

impl Column {
    /// The dictionary of column `lc` of `left` and `rc` of `right` (`None`:
    /// the same records).
    pub fn build(left: &Records, lc: usize, right: Option<(&Records, usize)>) -> Column {
        let mut dict = Interner::new(left.len() + right.map_or(0, |(r, _)| r.len()), |k| {
            left.get(lc, k % left.len().max(1))
        });
        let l = dict.number_all(left.len(), |i| left.get(lc, i));
        let r = right.map(|(right, rc)| dict.number_all(right.len(), |j| right.get(rc, j)));
        Column {
            left: l,
            right: r,
            text: dict.text,
            starts: dict.starts,
        }
    }

    /// The right side's numbers.
    pub fn right(&self) -> &[u32] {
        self.right.as_deref().unwrap_or(&self.left)
    }

    /// How many distinct values.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn value(&self, k: u32) -> &str {
        let k = k as usize;
        &self.text[self.starts[k]..self.starts[k + 1]]
    }
}

/// Distinct values numbered in order of appearance: an open-addressing
/// table of (hash, number) (one probe reads one slot; the values
/// themselves are kept end to end, so that checking a hit reads compact
/// memory), filled a batch at a time with each batch's slots fetched ahead.
struct Interner {
    slots: Vec<Slot>,
    mask: usize,
    used: usize,
    text: String,
    starts: Vec<usize>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u64,
    /// The value's number + 1 (0: empty).
    id: u32,
}

fn hash_str(v: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FastHasher::default();
    h.write(v.as_bytes());
    h.finish()
}

impl Interner {
    /// A table sized for about as many distinct values as a sample of
    /// `records` (read by `sample`) suggests.
    fn new<'s>(records: usize, sample: impl Fn(usize) -> Option<&'s str>) -> Interner {
        let probe = records.min(4096);
        let mut seen = std::collections::HashSet::new();
        let step = records.checked_div(probe).unwrap_or(0);
        for k in 0..probe {
            // Spread over the records, not only the first ones.
            if let Some(v) = sample(k * step) {
                seen.insert(v);
            }
        }
        let expected = (seen.len() * records)
            .checked_div(probe)
            .unwrap_or(0)
            .max(16);
        let capacity = (expected * 2).next_power_of_two();
        Interner {
            slots: vec![Slot::default(); capacity],
            mask: capacity - 1,
            used: 0,
            text: String::new(),
            starts: vec![0],
        }
    }

    fn value(&self, id: u32) -> &str {
        &self.text[self.starts[id as usize]..self.starts[id as usize + 1]]
    }

    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mut slots = vec![Slot::default(); capacity];
        let mask = capacity - 1;
        for s in self.slots.iter().filter(|s| s.id != 0) {
            let mut k = s.hash as usize & mask;
            while slots[k].id != 0 {
                k = (k + 1) & mask;
            }
            slots[k] = *s;
        }
        self.slots = slots;
        self.mask = mask;
    }

    /// The number of `v` (a new one when first seen).
    #[inline]
    fn number(&mut self, v: &str, hash: u64) -> u32 {
        let mut k = hash as usize & self.mask;
        loop {
            let s = self.slots[k];
            if s.id == 0 {
                break;
            }
            if s.hash == hash && self.value(s.id - 1) == v {
                return s.id - 1;
            }
            k = (k + 1) & self.mask;
        }
        let id = self.used as u32;
        self.slots[k] = Slot { hash, id: id + 1 };
        self.used += 1;
        self.text.push_str(v);
        self.starts.push(self.text.len());
        if self.used * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    /// The numbers of `n` values read by `get` (`NO_VALUE`: missing).
    fn number_all<'v>(&mut self, n: usize, get: impl Fn(usize) -> Option<&'v str>) -> Vec<u32> {
        const BATCH: usize = 16;
        let mut out = Vec::with_capacity(n);
        let mut hashes = [0u64; BATCH];
        let mut values: [Option<&str>; BATCH] = [None; BATCH];
        let mut from = 0;
        while from < n {
            let to = (from + BATCH).min(n);
            for (b, i) in (from..to).enumerate() {
                values[b] = get(i);
                if let Some(v) = values[b] {
                    hashes[b] = hash_str(v);
                    prefetch(&self.slots[hashes[b] as usize & self.mask]);
                }
            }
            for b in 0..to - from {
                out.push(match values[b] {
                    Some(v) => self.number(v, hashes[b]),
                    None => NO_VALUE,
                });
            }
            from = to;
        }
        out
    }
}

/// Asks the processor to fetch what `x` points at (a hint, no effect on
/// the result).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing the program can observe and
        // cannot fault; `x` is a valid reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Dictionaries of columns, by name, built once and shared (by the
/// comparisons and the blocking rules).
#[derive(Debug, Default)]
pub(crate) struct Columns {
    map: HashMap<String, Arc<Column>>,
}

impl Columns {
    /// The dictionaries of the named columns (those both sources have; see
    /// [`Columns::get`] for the others), built on every core. `right` is
    /// `None` in a deduplication.
    pub fn build(left: &Records, right: Option<&Records>, names: &[&str]) -> Columns {
        let mut wanted: Vec<(&str, usize, Option<usize>)> = Vec::new();
        for &n in names {
            if wanted.iter().any(|w| w.0 == n) {
                continue;
            }
            let Ok(lc) = left.column(n) else { continue };
            let rc = match right {
                Some(r) => match r.column(n) {
                    Ok(rc) => Some(rc),
                    Err(_) => continue,
                },
                None => None,
            };
            wanted.push((n, lc, rc));
        }
        let built = crate::blocking::in_parallel(&wanted, |&(n, lc, rc), out| {
            let col = Column::build(left, lc, right.zip(rc));
            out.push((n.to_string(), Arc::new(col)));
        });
        Columns {
            map: built.into_iter().collect(),
        }
    }

    /// A column's dictionary, or the error naming the source that lacks it.
    pub fn get(
        &self,
        name: &str,
        left: &Records,
        right: &Records,
    ) -> Result<Arc<Column>, RecordsError> {
        match self.map.get(name) {
            Some(c) => Ok(c.clone()),
            None => {
                left.column(name)?;
                right.column(name)?;
                // Both have it, it was not asked for: build it now.
                let same = std::ptr::eq(left, right);
                Ok(Arc::new(Column::build(
                    left,
                    left.column(name)?,
                    (!same)
                        .then(|| right.column(name).map(|rc| (right, rc)))
                        .transpose()?,
                )))
            }
        }
    }
}

/// What a single-column comparison knows of each distinct value, computed
/// once: its length, its characters counted (for the string bounds), its
/// date, the number of its prefix.
#[derive(Debug, Clone)]
struct Joint {
    col: Arc<Column>,
    /// Per value: its length in characters (at most `LONG`), `NOT_ASCII`
    /// added when it is not ASCII (empty without string levels).
    info: Vec<u16>,
    /// Per value: its characters counted in 32 buckets (code mod 32: digits,
    /// the dash and each letter whatever its case apart), a count a nibble
    /// (`NO_SIGNATURE` when a count passes 15): what two values have in
    /// common is at most the sum of the smaller counts (empty without string
    /// levels).
    signature: Vec<u128>,
    /// Per value: its first four bytes (the Winkler prefix of ASCII values).
    heads: Vec<u32>,
    /// Per value: the date as a day number (`NO_DATE`: not a date), and the
    /// day number of the date with its day and month swapped (empty without
    /// date levels).
    dates: Vec<i32>,
    swapped: Vec<i32>,
    /// Per level: the compiled test.
    fast: Vec<Fast>,
    /// How many `same` levels.
    sames: usize,
}

const NO_DATE: i32 = i32::MIN;
const NOT_ASCII: u16 = 0x8000;
const LONG: u16 = 0x7fff;
const NO_SIGNATURE: u128 = u128::MAX;

fn signature(v: &str) -> u128 {
    let mut n = [0u32; 32];
    for c in v.chars() {
        n[(u32::from(c) % 32) as usize] += 1;
    }
    if n.iter().any(|&c| c > 15) {
        return NO_SIGNATURE;
    }
    n.iter()
        .enumerate()
        .fold(0u128, |s, (k, &c)| s | (u128::from(c) << (4 * k)))
}

/// At least as many characters as two values with these signatures have
/// in common: the smaller count of each bucket, summed (a byte at a time).
#[inline]
fn common_by_signature(x: u128, y: u128) -> usize {
    if x == NO_SIGNATURE || y == NO_SIGNATURE {
        return usize::MAX;
    }
    const LOW: u128 = 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    const HIGH: u128 = 0x8080_8080_8080_8080_8080_8080_8080_8080;
    // Bytes of 0 to 15: where a ≥ b, b; elsewhere a.
    let min = |a: u128, b: u128| {
        let ge = ((a | HIGH) - b) & HIGH;
        let mask = (ge >> 7) * 0xff;
        (b & mask) | (a & !mask)
    };
    let both = min(x & LOW, y & LOW) + min((x >> 4) & LOW, (y >> 4) & LOW);
    both.to_le_bytes().iter().map(|&b| usize::from(b)).sum()
}

/// A pair's Jaro-Winkler similarity once computed, and before that a bound
/// (levels ask again with other thresholds).
#[derive(Default)]
struct Similarity {
    value: Option<f64>,
    most: Option<f64>,
}

/// What a comparison knows of one record's value: its number, the record's
/// numbers in the columns of the `same` levels, and the value's features.
#[derive(Clone, Copy)]
struct Value<'r> {
    id: u32,
    same: &'r [u32],
    info: u16,
    signature: u128,
    head: u32,
    date: i32,
    swapped: i32,
}

#[derive(Debug, Clone)]
enum Fast {
    Exact,
    JaroWinkler(f64),
    DamerauLevenshtein(usize),
    /// Each value's prefix as a number (`NO_VALUE`: too short).
    Prefix(Vec<u32>),
    DateWithin(i64),
    DateSwapped,
    /// The records agree on another column: the `n`-th `same` level's.
    Same(usize),
}

impl Joint {
    fn new(col: Arc<Column>, levels: &[Level]) -> Joint {
        let n = col.len();
        let strings = levels.iter().any(|l| {
            matches!(
                l,
                Level::JaroWinkler { .. } | Level::DamerauLevenshtein { .. }
            )
        });
        let dated = levels
            .iter()
            .any(|l| matches!(l, Level::DateWithin { .. } | Level::DateSwapped));
        let (mut info, mut signatures, mut heads) = (Vec::new(), Vec::new(), Vec::new());
        if strings {
            for k in 0..n as u32 {
                let v = col.value(k);
                let len = v.chars().count().min(usize::from(LONG)) as u16;
                info.push(if v.is_ascii() { len } else { len | NOT_ASCII });
                signatures.push(signature(v));
                let mut head = [0u8; 4];
                for (h, b) in head.iter_mut().zip(v.bytes()) {
                    *h = b;
                }
                heads.push(u32::from_le_bytes(head));
            }
        }
        let (mut dates, mut swapped) = (Vec::new(), Vec::new());
        if dated {
            use chrono::Datelike;
            for k in 0..n as u32 {
                let d = quick_date(col.value(k));
                dates.push(d.map_or(NO_DATE, |d| d.num_days_from_ce()));
                swapped.push(
                    d.and_then(swap_day_month)
                        .map_or(NO_DATE, |d| d.num_days_from_ce()),
                );
            }
        }
        let mut sames = 0;
        let fast = levels
            .iter()
            .map(|l| match l {
                Level::Exact => Fast::Exact,
                Level::JaroWinkler { threshold } => Fast::JaroWinkler(*threshold),
                Level::DamerauLevenshtein { max } => Fast::DamerauLevenshtein(*max),
                Level::Prefix { chars } => {
                    let mut index: FastMap<&str, u32> = FastMap::default();
                    Fast::Prefix(
                        (0..n as u32)
                            .map(|k| {
                                let v = col.value(k);
                                let end = match v.char_indices().nth(*chars) {
                                    _ if v.chars().count() < *chars => return NO_VALUE,
                                    Some((end, _)) => end,
                                    None => v.len(),
                                };
                                let next = index.len() as u32;
                                *index.entry(&v[..end]).or_insert(next)
                            })
                            .collect(),
                    )
                }
                Level::DateWithin { days } => Fast::DateWithin(*days),
                Level::DateSwapped => Fast::DateSwapped,
                Level::Same { .. } => {
                    sames += 1;
                    Fast::Same(sames - 1)
                }
                Level::WithinKm { .. } => unreachable!("a distance compares two columns"),
            })
            .collect();
        Joint {
            col,
            info,
            signature: signatures,
            heads,
            dates,
            swapped,
            fast,
            sames,
        }
    }

    /// Words of a record's row: the number, the `same` columns' numbers,
    /// then (string levels) the length, the signature and the first bytes,
    /// then (date levels) the date and its swap.
    fn words(&self) -> usize {
        1 + self.sames
            + if self.info.is_empty() { 0 } else { 6 }
            + if self.dates.is_empty() { 0 } else { 2 }
    }

    /// Writes a record's row: value `x`, the record's numbers `same` in the
    /// `same` levels' columns.
    fn fill(&self, x: u32, same: impl Iterator<Item = u32>, out: &mut [u32]) {
        out[0] = x;
        let mut k = 1;
        for s in same.take(self.sames) {
            out[k] = s;
            k += 1;
        }
        let known = x != NO_VALUE;
        if !self.info.is_empty() {
            out[k] = if known {
                u32::from(self.info[x as usize])
            } else {
                0
            };
            let sig = if known { self.signature[x as usize] } else { 0 };
            for w in 0..4 {
                out[k + 1 + w] = (sig >> (32 * w)) as u32;
            }
            out[k + 5] = if known { self.heads[x as usize] } else { 0 };
            k += 6;
        }
        if !self.dates.is_empty() {
            out[k] = if known {
                self.dates[x as usize]
            } else {
                NO_DATE
            } as u32;
            out[k + 1] = if known {
                self.swapped[x as usize]
            } else {
                NO_DATE
            } as u32;
        }
    }

    /// A record's value read from its row.
    #[inline]
    fn read_row<'r>(&self, row: &'r [u32]) -> Value<'r> {
        let mut k = 1 + self.sames;
        let (mut info, mut signature, mut head) = (0, 0, 0);
        if !self.info.is_empty() {
            info = row[k] as u16;
            signature = (0..4).fold(0u128, |s, w| s | (u128::from(row[k + 1 + w]) << (32 * w)));
            head = row[k + 5];
            k += 6;
        }
        let (mut date, mut swapped) = (NO_DATE, NO_DATE);
        if !self.dates.is_empty() {
            date = row[k] as i32;
            swapped = row[k + 1] as i32;
        }
        Value {
            id: row[0],
            same: &row[1..1 + self.sames],
            info,
            signature,
            head,
            date,
            swapped,
        }
    }

    /// A value read from the dictionary (`same`: the record's numbers in
    /// the `same` levels' columns).
    #[inline]
    fn read_dictionary<'r>(&self, x: u32, same: &'r [u32]) -> Value<'r> {
        let x_ = x as usize;
        Value {
            id: x,
            same,
            info: self.info.get(x_).copied().unwrap_or(0),
            signature: self.signature.get(x_).copied().unwrap_or(0),
            head: self.heads.get(x_).copied().unwrap_or(0),
            date: self.dates.get(x_).copied().unwrap_or(NO_DATE),
            swapped: self.swapped.get(x_).copied().unwrap_or(NO_DATE),
        }
    }

    /// The level of two values, neither missing.
    fn level(&self, a: &Value<'_>, b: &Value<'_>) -> u8 {
        let (x, y) = (a.id, b.id);
        let mut jw = Similarity::default();
        let mut dl: Option<usize> = None;
        for (k, level) in self.fast.iter().enumerate() {
            let met = match level {
                Fast::Exact => x == y,
                Fast::JaroWinkler(t) => x == y || self.jaro_winkler_at_least(a, b, *t, &mut jw),
                Fast::DamerauLevenshtein(max) => {
                    x == y || self.damerau_levenshtein_at_most(a, b, *max, &mut dl)
                }
                Fast::Prefix(p) => {
                    let (a, b) = (p[x as usize], p[y as usize]);
                    a != NO_VALUE && a == b
                }
                Fast::DateWithin(days) => {
                    a.date != NO_DATE
                        && b.date != NO_DATE
                        && (i64::from(a.date) - i64::from(b.date)).abs() <= *days
                }
                Fast::DateSwapped => {
                    a.date != NO_DATE
                        && b.date != NO_DATE
                        && (a.swapped == b.date || b.swapped == a.date)
                }
                Fast::Same(n) => {
                    let (p, q) = (a.same[*n], b.same[*n]);
                    p != NO_VALUE && p == q
                }
            };
            if met {
                return k as u8;
            }
        }
        self.fast.len() as u8
    }

    /// The values' lengths in characters (`None`: too long to tell), and
    /// whether both are ASCII.
    #[inline]
    fn lengths(a: &Value<'_>, b: &Value<'_>) -> Option<(usize, usize, bool)> {
        let (la, lb) = (a.info & !NOT_ASCII, b.info & !NOT_ASCII);
        (la < LONG && lb < LONG).then_some((
            usize::from(la),
            usize::from(lb),
            (a.info | b.info) & NOT_ASCII == 0,
        ))
    }

    fn jaro_winkler_at_least(
        &self,
        a: &Value<'_>,
        b: &Value<'_>,
        threshold: f64,
        memo: &mut Similarity,
    ) -> bool {
        if let Some(jw) = memo.value {
            return jw >= threshold;
        }
        let lengths = Joint::lengths(a, b);
        let most = *memo.most.get_or_insert_with(|| match lengths {
            // Jaro counts matching characters, at most those in common; the
            // Winkler bonus (0.1 of what Jaro lacks per character of the
            // common prefix, at most 4, when Jaro passes 0.7) grows with
            // Jaro: a bound to skip the work.
            Some((lx, ly, ascii)) => {
                let common = common_by_signature(a.signature, b.signature)
                    .min(lx)
                    .min(ly);
                let jaro = if common == 0 {
                    0.0
                } else {
                    let m = common as f64;
                    (m / lx as f64 + m / ly as f64 + 1.0) / 3.0
                };
                let prefix = if ascii {
                    let d = a.head ^ b.head;
                    let p = if d == 0 {
                        4
                    } else {
                        d.trailing_zeros() as usize / 8
                    };
                    p.min(lx).min(ly).min(4)
                } else {
                    4
                };
                if jaro > 0.7 {
                    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
                } else {
                    jaro
                }
            }
            None => 1.0,
        });
        if most < threshold {
            return false;
        }
        let (x, y) = (self.col.value(a.id), self.col.value(b.id));
        let jw = if lengths.is_some_and(|l| l.2) {
            jaro_winkler_slices(x.as_bytes(), y.as_bytes())
        } else {
            jaro_winkler(x, y)
        };
        memo.value = Some(jw);
        jw >= threshold
    }

    fn damerau_levenshtein_at_most(
        &self,
        a: &Value<'_>,
        b: &Value<'_>,
        max: usize,
        memo: &mut Option<usize>,
    ) -> bool {
        if let Some(d) = *memo {
            return d <= max;
        }
        if let Some((lx, ly, ascii)) = Joint::lengths(a, b) {
            // An edit changes the characters in common by at most one on
            // each side, and the length by at most one.
            if lx.abs_diff(ly) > max {
                return false;
            }
            let common = common_by_signature(a.signature, b.signature);
            if (lx - common.min(lx)).max(ly - common.min(ly)) > max {
                return false;
            }
            if max == 1 && ascii {
                // One edit at most: settled by walking both values once.
                let (x, y) = (self.col.value(a.id), self.col.value(b.id));
                let near = within_one_edit(x.as_bytes(), y.as_bytes());
                if near {
                    *memo = Some(usize::from(a.id != b.id));
                }
                return near;
            }
        }
        let d = damerau_levenshtein(self.col.value(a.id), self.col.value(b.id));
        *memo = Some(d);
        d <= max
    }
}

/// A comparison bound to the columns of the two sources.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub name: String,
    pub levels: Vec<Level>,
    pub tf_adjust: bool,
    left: Vec<usize>,
    right: Vec<usize>,
    /// For a one-column comparison: the values of both sides in one
    /// dictionary, so that records are small numbers next to each other.
    joint: Option<Joint>,
    /// The other column of each `same` level, on each side.
    same: Vec<Option<(usize, usize)>>,
    /// The dictionaries of the other columns of the `same` levels, in order.
    same_columns: Vec<Arc<Column>>,
}

impl Compiled {
    pub fn new(c: &Comparison, left: &Records, right: &Records) -> Result<Compiled, RecordsError> {
        let mut names: Vec<&str> = c.columns.iter().map(String::as_str).collect();
        for l in &c.levels {
            if let Level::Same { column } = l {
                names.push(column);
            }
        }
        let same = std::ptr::eq(left, right);
        let columns = Columns::build(left, (!same).then_some(right), &names);
        Compiled::bind(c, left, right, &columns)
    }

    /// Binds the comparison with the dictionaries already built.
    pub(crate) fn bind(
        c: &Comparison,
        left: &Records,
        right: &Records,
        columns: &Columns,
    ) -> Result<Compiled, RecordsError> {
        let cols = |r: &Records| -> Result<Vec<usize>, RecordsError> {
            c.columns.iter().map(|n| r.column(n)).collect()
        };
        let (lc, rc) = (cols(left)?, cols(right)?);
        let same = c
            .levels
            .iter()
            .map(|l| match l {
                Level::Same { column } => Ok(Some((left.column(column)?, right.column(column)?))),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, RecordsError>>()?;
        let (joint, same_columns) = if lc.len() == 1 {
            let same_columns = c
                .levels
                .iter()
                .filter_map(|l| match l {
                    Level::Same { column } => Some(columns.get(column, left, right)),
                    _ => None,
                })
                .collect::<Result<Vec<_>, RecordsError>>()?;
            let col = columns.get(&c.columns[0], left, right)?;
            (Some(Joint::new(col, &c.levels)), same_columns)
        } else {
            (None, Vec::new())
        };
        Ok(Compiled {
            name: c.name.clone(),
            levels: c.levels.clone(),
            tf_adjust: c.tf_adjust,
            left: lc,
            right: rc,
            joint,
            same,
            same_columns,
        })
    }

    /// Number of levels, "else" included (not the null level).
    pub fn level_count(&self) -> usize {
        self.levels.len() + 1
    }

    /// A readable name of level `l`.
    pub fn level_label(&self, l: u8) -> String {
        if l == NULL {
            return "missing".into();
        }
        match self.levels.get(usize::from(l)) {
            None => "else".into(),
            Some(Level::Exact) => "exact".into(),
            Some(Level::JaroWinkler { threshold }) => format!("Jaro-Winkler ≥ {threshold}"),
            Some(Level::DamerauLevenshtein { max }) => format!("Damerau-Levenshtein ≤ {max}"),
            Some(Level::Prefix { chars }) => format!("first {chars} characters"),
            Some(Level::DateWithin { days }) => format!("within {days} days"),
            Some(Level::DateSwapped) => "day and month swapped".into(),
            Some(Level::WithinKm { km }) => format!("within {km} km"),
            Some(Level::Same { column }) => format!("same {column}"),
        }
    }

    /// The single column's value on the left (term frequencies).
    pub fn left_value<'a>(&self, r: &'a Records, i: usize) -> Option<&'a str> {
        r.get(self.left[0], i)
    }

    /// The single column's value on the right (term frequencies).
    pub fn right_value<'a>(&self, r: &'a Records, j: usize) -> Option<&'a str> {
        r.get(self.right[0], j)
    }

    /// The column the comparison reads on the left (single-column ones).
    pub fn left_column(&self) -> usize {
        self.left[0]
    }

    /// A single-column comparison's dictionary: each record's value as a
    /// number on each side, and how many distinct values.
    pub(crate) fn numbers(&self) -> Option<(&[u32], &[u32], usize)> {
        self.joint
            .as_ref()
            .map(|d| (d.col.left.as_slice(), d.col.right(), d.col.len()))
    }

    /// Words this comparison keeps of a record in a row (0: a comparison of
    /// several columns, which reads the records).
    pub(crate) fn row_words(&self) -> usize {
        self.joint.as_ref().map_or(0, Joint::words)
    }

    /// Writes what this comparison needs of record `r` of the left (or the
    /// right) source into `out` (`row_words` words).
    pub(crate) fn fill_row(&self, r: usize, left_side: bool, out: &mut [u32]) {
        if let Some(d) = &self.joint {
            let side = |c: &Column| if left_side { c.left[r] } else { c.right()[r] };
            d.fill(side(&d.col), self.same_columns.iter().map(|c| side(c)), out);
        }
    }

    /// The level of a pair from the two records' rows (`row_words` words
    /// each; a single-column comparison).
    #[inline]
    pub(crate) fn level_of_rows(&self, a: &[u32], b: &[u32]) -> u8 {
        let (x, y) = (a[0], b[0]);
        if x == NO_VALUE || y == NO_VALUE {
            return NULL;
        }
        match &self.joint {
            Some(d) if x == y && matches!(d.fast.first(), Some(Fast::Exact)) => 0,
            Some(d) => d.level(&d.read_row(a), &d.read_row(b)),
            None => unreachable!("a comparison of several columns has no rows"),
        }
    }

    /// The level of the pair (left record `i`, right record `j`).
    #[inline]
    pub fn level(&self, left: &Records, i: usize, right: &Records, j: usize) -> u8 {
        // One column (the usual case): numbers into the joint dictionary.
        if let Some(d) = &self.joint {
            let (x, y) = (d.col.left[i], d.col.right()[j]);
            if x == NO_VALUE || y == NO_VALUE {
                return NULL;
            }
            let si: Vec<u32> = self.same_columns.iter().map(|c| c.left[i]).collect();
            let sj: Vec<u32> = self.same_columns.iter().map(|c| c.right()[j]).collect();
            return d.level(&d.read_dictionary(x, &si), &d.read_dictionary(y, &sj));
        }
        let mut a = Vec::with_capacity(self.left.len());
        let mut b = Vec::with_capacity(self.right.len());
        for (&cl, &cr) in self.left.iter().zip(&self.right) {
            match (left.get(cl, i), right.get(cr, j)) {
                (Some(x), Some(y)) => {
                    a.push(x);
                    b.push(y);
                }
                _ => return NULL,
            }
        }
        let mut facts = Facts::new(text(&a), text(&b), a == b);
        for (k, level) in self.levels.iter().enumerate() {
            let met = match self.same[k] {
                Some((cl, cr)) => {
                    matches!((left.get(cl, i), right.get(cr, j)), (Some(x), Some(y)) if x == y)
                }
                None => facts.meets(level, &a, &b),
            };
            if met {
                return k as u8;
            }
        }
        self.levels.len() as u8
    }
}

fn text<'a>(v: &[&'a str]) -> std::borrow::Cow<'a, str> {
    match v {
        [one] => std::borrow::Cow::Borrowed(*one),
        many => std::borrow::Cow::Owned(many.join(" ")),
    }
}

/// What is known of two values of a comparison of several columns while
/// their levels are tried: each similarity is computed once (levels often
/// ask twice with other thresholds).
struct Facts<'a> {
    x: std::borrow::Cow<'a, str>,
    y: std::borrow::Cow<'a, str>,
    equal: bool,
    jaro_winkler: Option<f64>,
    damerau_levenshtein: Option<usize>,
}

impl<'a> Facts<'a> {
    fn new(x: std::borrow::Cow<'a, str>, y: std::borrow::Cow<'a, str>, equal: bool) -> Facts<'a> {
        Facts {
            x,
            y,
            equal,
            jaro_winkler: None,
            damerau_levenshtein: None,
        }
    }

    fn meets(&mut self, level: &Level, a: &[&str], b: &[&str]) -> bool {
        match level {
            Level::Exact => self.equal,
            Level::JaroWinkler { threshold } => {
                if self.equal {
                    return true;
                }
                let jw = *self
                    .jaro_winkler
                    .get_or_insert_with(|| strsim::jaro_winkler(&self.x, &self.y));
                jw >= *threshold
            }
            Level::DamerauLevenshtein { max } => {
                if self.equal {
                    return true;
                }
                let d = *self
                    .damerau_levenshtein
                    .get_or_insert_with(|| damerau_levenshtein(&self.x, &self.y));
                d <= *max
            }
            Level::Prefix { chars } => {
                let mut xs = self.x.chars();
                let mut ys = self.y.chars();
                (0..*chars).all(|_| matches!((xs.next(), ys.next()), (Some(p), Some(q)) if p == q))
            }
            Level::DateWithin { days } => match (date(a[0]), date(b[0])) {
                (Some(x), Some(y)) => (x - y).num_days().abs() <= *days,
                _ => false,
            },
            Level::DateSwapped => match (date(a[0]), date(b[0])) {
                (Some(x), Some(y)) => swapped(x) == Some(y) || swapped(y) == Some(x),
                _ => false,
            },
            Level::WithinKm { km } => match (point(a), point(b)) {
                (Some(x), Some(y)) => haversine_km(x, y) <= *km,
                _ => false,
            },
            // Answered from the other column by `level`.
            Level::Same { .. } => false,
        }
    }
}

/// Whether ASCII values are at most one edit apart (a substitution, an
/// insertion or deletion, or two adjacent characters exchanged): the
/// Damerau-Levenshtein distance is then at most 1.
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if a.len() == b.len() {
        if p == a.len() {
            return true;
        }
        // One substitution, or an exchange of p and p + 1.
        let tail = |k: usize| a[k..] == b[k..];
        tail(p + 1) || (p + 1 < a.len() && a[p] == b[p + 1] && a[p + 1] == b[p] && tail(p + 2))
    } else if a.len() + 1 == b.len() {
        // b is a with one more character at p.
        a[p..] == b[p + 1..]
    } else {
        false
    }
}

/// Jaro-Winkler similarity, as `strsim::jaro_winkler` computes it (the same
/// steps on the characters, so the same number), without allocating for
/// values of up to 64 characters.
fn jaro_winkler(a: &str, b: &str) -> f64 {
    const MAX: usize = 64;
    let mut x = ['\0'; MAX];
    let mut y = ['\0'; MAX];
    let (mut n, mut m) = (0, 0);
    for c in a.chars() {
        if n == MAX {
            return strsim::jaro_winkler(a, b);
        }
        x[n] = c;
        n += 1;
    }
    for c in b.chars() {
        if m == MAX {
            return strsim::jaro_winkler(a, b);
        }
        y[m] = c;
        m += 1;
    }
    jaro_winkler_slices(&x[..n], &y[..m])
}

/// Jaro-Winkler similarity of two sequences (bytes of ASCII values, or
/// characters), as `strsim::generic_jaro_winkler` computes it.
fn jaro_winkler_slices<T: PartialEq + Copy>(a: &[T], b: &[T]) -> f64 {
    const MAX: usize = 64;
    if a.len() > MAX || b.len() > MAX {
        // Not worth a path of its own.
        return strsim::generic_jaro_winkler(&a.to_vec(), &b.to_vec());
    }
    let (a_len, b_len) = (a.len(), b.len());
    let sim = if a_len == 0 && b_len == 0 {
        1.0
    } else if a_len == 0 || b_len == 0 {
        0.0
    } else {
        let range = (a_len.max(b_len) / 2).saturating_sub(1);
        let mut a_flags = [false; MAX];
        let mut b_flags = [false; MAX];
        let mut matches = 0usize;
        for (i, &ca) in a.iter().enumerate() {
            let lo = i.saturating_sub(range);
            let hi = b_len.min(i + range + 1);
            for j in lo..hi {
                if ca == b[j] && !b_flags[j] {
                    a_flags[i] = true;
                    b_flags[j] = true;
                    matches += 1;
                    break;
                }
            }
        }
        if matches == 0 {
            0.0
        } else {
            let mut transpositions = 0usize;
            let mut k = 0;
            for (i, &ca) in a.iter().enumerate() {
                if a_flags[i] {
                    while !b_flags[k] {
                        k += 1;
                    }
                    if ca != b[k] {
                        transpositions += 1;
                    }
                    k += 1;
                }
            }
            transpositions /= 2;
            ((matches as f64 / a_len as f64)
                + (matches as f64 / b_len as f64)
                + ((matches - transpositions) as f64 / matches as f64))
                / 3.0
        }
    };
    if sim > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(p, q)| p == q).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// The Damerau-Levenshtein distance (transpositions of adjacent characters,
/// unrestricted): for short ASCII values with arrays on the stack (the
/// Lowrance–Wagner recurrence, each character's last row in a 128-entry
/// table), otherwise `strsim`'s (which keeps them in a hash map). The tests
/// check both agree.
pub fn damerau_levenshtein(a: &str, b: &str) -> usize {
    const MAX: usize = 31;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > MAX || y.len() > MAX {
        return strsim::damerau_levenshtein(a, b);
    }
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return n.max(m);
    }
    // d[(i + 1) * w + j + 1] is the distance between x[..i] and y[..j] (at
    // most 62: a byte); row and column 0 hold the sentinel.
    let w = m + 2;
    let mut d = [0u8; (MAX + 2) * (MAX + 2)];
    let inf = (n + m) as u8;
    d[0] = inf;
    for i in 0..=n {
        d[(i + 1) * w] = inf;
        d[(i + 1) * w + 1] = i as u8;
    }
    for j in 0..=m {
        d[j + 1] = inf;
        d[w + j + 1] = j as u8;
    }
    let mut last_row = [0usize; 128];
    for i in 1..=n {
        let mut last_match_col = 0;
        for j in 1..=m {
            let i1 = last_row[usize::from(y[j - 1])];
            let j1 = last_match_col;
            let cost = if x[i - 1] == y[j - 1] {
                last_match_col = j;
                0
            } else {
                1
            };
            let transposed = usize::from(d[i1 * w + j1]) + (i - i1 - 1) + 1 + (j - j1 - 1);
            d[(i + 1) * w + j + 1] = (usize::from(d[i * w + j]) + cost)
                .min(usize::from(d[(i + 1) * w + j]) + 1)
                .min(usize::from(d[i * w + j + 1]) + 1)
                .min(transposed) as u8;
        }
        last_row[usize::from(x[i - 1])] = i;
    }
    usize::from(d[(n + 1) * w + m + 1])
}

/// A date written YYYY-MM-DD or YYYYMMDD.
pub fn date(s: &str) -> Option<chrono::NaiveDate> {
    let s = s.trim();
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(s, "%Y%m%d"))
        .ok()
}

/// [`date`], read directly in the two usual shapes (ten or eight ASCII
/// characters), by `date` otherwise.
fn quick_date(s: &str) -> Option<chrono::NaiveDate> {
    let t = s.trim().as_bytes();
    let num = |b: &[u8]| -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let parts = match t.len() {
        10 if t[4] == b'-' && t[7] == b'-' => Some((&t[..4], &t[5..7], &t[8..])),
        8 => Some((&t[..4], &t[4..6], &t[6..])),
        _ => None,
    };
    if let Some((y, m, d)) = parts
        && let (Some(y), Some(m), Some(d)) = (num(y), num(m), num(d))
    {
        return chrono::NaiveDate::from_ymd_opt(y as i32, m, d);
    }
    date(s)
}

/// The date with its day and month swapped, when that is a date and not itself.
fn swapped(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    swap_day_month(d)
}

fn swap_day_month(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    use chrono::Datelike;
    if d.day() == d.month() {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(d.year(), d.day(), d.month())
}

fn point(v: &[&str]) -> Option<(f64, f64)> {
    Some((
        v.first()?.trim().parse().ok()?,
        v.get(1)?.trim().parse().ok()?,
    ))
}

/// Great-circle distance between two (latitude, longitude) points, in km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6371.0088;
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

#[cfg(test)]
mod fast_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn jaro_winkler_is_strsims_to_the_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let alphabet = b"ABCDE -";
        for _ in 0..50_000 {
            let mut word = |max: usize| -> String {
                let n = rng.random_range(0..max);
                (0..n)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                    .collect()
            };
            let (a, b) = (word(14), word(14));
            assert_eq!(
                jaro_winkler_slices(a.as_bytes(), b.as_bytes()).to_bits(),
                strsim::jaro_winkler(&a, &b).to_bits(),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn quick_dates_read_as_date_does() {
        for s in [
            "1985-03-07",
            "19850307",
            "1985-02-30",
            "1985-3-7",
            "abcd-ef-gh",
            "2000-02-29",
            " 1999-12-31 ",
            "",
            "12345678",
        ] {
            assert_eq!(quick_date(s), date(s), "{s:?}");
        }
    }

    #[test]
    fn the_fast_levels_are_the_slow_ones() {
        // Every pair of random values through the dictionary path and through
        // the several-column path (the same column twice reads as one value
        // joined with itself, so compare a column with a copy).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 120;
        let pick = |rng: &mut rand_chacha::ChaCha8Rng, xs: &[&str]| -> Option<String> {
            (rng.random_range(0..10) > 0).then(|| xs[rng.random_range(0..xs.len())].to_string())
        };
        let words = [
            "DUPONT", "DUPOND", "DUPNOT", "Hélène", "Helene", "ab", "a", "MARTINEZ",
        ];
        let dates = [
            "1985-03-07",
            "1985-07-03",
            "19850307",
            "1985-03-09",
            "1985-13-01",
            "1985-03-03",
        ];
        let w: Vec<Option<String>> = (0..n).map(|_| pick(&mut rng, &words)).collect();
        let d: Vec<Option<String>> = (0..n).map(|_| pick(&mut rng, &dates)).collect();
        let b: Vec<Option<String>> = (0..n).map(|_| pick(&mut rng, &["1", "2"])).collect();
        let r = Records::new((0..n).map(|i| i.to_string()).collect())
            .with_column("w", w)
            .unwrap()
            .with_column("d", d)
            .unwrap()
            .with_column("b", b)
            .unwrap();
        let cases = [
            (
                "w",
                vec![
                    Level::Exact,
                    Level::JaroWinkler { threshold: 0.9 },
                    Level::DamerauLevenshtein { max: 1 },
                    Level::Prefix { chars: 2 },
                    Level::Same { column: "b".into() },
                ],
            ),
            (
                "d",
                vec![
                    Level::Exact,
                    Level::DateSwapped,
                    Level::DamerauLevenshtein { max: 1 },
                    Level::DateWithin { days: 3 },
                ],
            ),
        ];
        for (column, levels) in cases {
            let c = Comparison {
                name: column.into(),
                columns: vec![column.into()],
                levels: levels.clone(),
                tf_adjust: false,
            };
            let fast = Compiled::new(&c, &r, &r).unwrap();
            let mut slow = fast.clone();
            slow.joint = None;
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(
                        fast.level(&r, i, &r, j),
                        slow.level(&r, i, &r, j),
                        "{column} {:?} {:?}",
                        r.get(0, i),
                        r.get(0, j)
                    );
                }
            }
        }
    }
}
