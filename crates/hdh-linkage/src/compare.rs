//! Comparing two records, one comparison at a time: each comparison gives
//! a level (`0` = its first, most similar level; `levels.len()` = "else";
//! [`NULL`] when a value is missing, which weighs nothing).

use crate::settings::{Comparison, Level};
use crate::{Records, RecordsError};

/// The level of a comparison with a missing value.
pub const NULL: u8 = u8::MAX;

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
}

/// A missing value in a [`Joint`] dictionary.
const NO_VALUE: u32 = u32::MAX;

/// One column of both sources as numbers into their distinct values: equal
/// values are equal numbers, and each distinct value is prepared once (its
/// sorted bytes, when ASCII: the characters two values have in common are
/// then a merge away).
#[derive(Debug, Clone)]
struct Joint {
    left: Vec<u32>,
    right: Vec<u32>,
    values: Vec<Box<str>>,
    /// An ASCII value's characters counted in 64 buckets (byte mod 64):
    /// what two values have in common is at most the sum of the smaller
    /// counts (one cache line each, summed in a few vector instructions).
    counts: Vec<Option<Box<[u8; 64]>>>,
}

fn bucket_counts(v: &str) -> Option<Box<[u8; 64]>> {
    v.is_ascii().then(|| {
        let mut c = [0u8; 64];
        for &b in v.as_bytes() {
            c[usize::from(b % 64)] = c[usize::from(b % 64)].saturating_add(1);
        }
        Box::new(c)
    })
}

/// At least as many characters as two values have in common.
fn common_at_most(x: &[u8; 64], y: &[u8; 64]) -> usize {
    x.iter()
        .zip(y)
        .map(|(a, b)| u32::from(*a.min(b)))
        .sum::<u32>() as usize
}

impl Joint {
    fn new<'r>(left: &'r Records, lc: usize, right: &'r Records, rc: usize) -> Joint {
        let mut index: std::collections::HashMap<&'r str, u32> = std::collections::HashMap::new();
        let mut values: Vec<Box<str>> = Vec::new();
        let mut number = |v: Option<&'r str>| -> u32 {
            let Some(v) = v else { return NO_VALUE };
            *index.entry(v).or_insert_with(|| {
                values.push(v.into());
                (values.len() - 1) as u32
            })
        };
        let l: Vec<u32> = (0..left.len()).map(|i| number(left.get(lc, i))).collect();
        let r: Vec<u32> = (0..right.len()).map(|j| number(right.get(rc, j))).collect();
        let counts = values.iter().map(|v| bucket_counts(v)).collect();
        Joint {
            left: l,
            right: r,
            values,
            counts,
        }
    }
}

impl Compiled {
    pub fn new(c: &Comparison, left: &Records, right: &Records) -> Result<Compiled, RecordsError> {
        let cols = |r: &Records| -> Result<Vec<usize>, RecordsError> {
            c.columns.iter().map(|n| r.column(n)).collect()
        };
        let (lc, rc) = (cols(left)?, cols(right)?);
        let joint = (lc.len() == 1).then(|| Joint::new(left, lc[0], right, rc[0]));
        let same = c
            .levels
            .iter()
            .map(|l| match l {
                Level::Same { column } => Ok(Some((left.column(column)?, right.column(column)?))),
                _ => Ok(None),
            })
            .collect::<Result<_, RecordsError>>()?;
        Ok(Compiled {
            name: c.name.clone(),
            levels: c.levels.clone(),
            tf_adjust: c.tf_adjust,
            left: lc,
            right: rc,
            joint,
            same,
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

    /// The level of the pair (left record `i`, right record `j`).
    pub fn level(&self, left: &Records, i: usize, right: &Records, j: usize) -> u8 {
        // One column (the usual case): numbers into the joint dictionary.
        if let Some(d) = &self.joint {
            let (x, y) = (d.left[i], d.right[j]);
            if x == NO_VALUE || y == NO_VALUE {
                return NULL;
            }
            if x == y && matches!(self.levels.first(), Some(Level::Exact)) {
                return 0;
            }
            let (a, b) = (&*d.values[x as usize], &*d.values[y as usize]);
            let mut facts = Facts::new(a.into(), b.into(), x == y);
            if let (Some(p), Some(q)) = (&d.counts[x as usize], &d.counts[y as usize]) {
                facts.common_bound = Some((common_at_most(p, q), a.len(), b.len()));
            }
            return self.level_with(&mut facts, &[a], &[b], (left, i, right, j));
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
        self.level_with(&mut facts, &a, &b, (left, i, right, j))
    }

    fn level_with(
        &self,
        facts: &mut Facts<'_>,
        a: &[&str],
        b: &[&str],
        (left, i, right, j): (&Records, usize, &Records, usize),
    ) -> u8 {
        for (k, level) in self.levels.iter().enumerate() {
            let met = match self.same[k] {
                Some((cl, cr)) => {
                    matches!((left.get(cl, i), right.get(cr, j)), (Some(x), Some(y)) if x == y)
                }
                None => facts.meets(level, a, b),
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

/// What is known of two values while their levels are tried: each
/// similarity is computed once (levels often ask twice with other
/// thresholds), and only when a cheap bound cannot settle the level.
struct Facts<'a> {
    x: std::borrow::Cow<'a, str>,
    y: std::borrow::Cow<'a, str>,
    equal: bool,
    /// Characters in common (as multisets) and the lengths, for ASCII values.
    common: Option<Option<(usize, usize, usize)>>,
    /// At least as many as in common, and the lengths (cheaper).
    common_bound: Option<(usize, usize, usize)>,
    jaro_winkler: Option<f64>,
    damerau_levenshtein: Option<usize>,
}

impl<'a> Facts<'a> {
    fn new(x: std::borrow::Cow<'a, str>, y: std::borrow::Cow<'a, str>, equal: bool) -> Facts<'a> {
        Facts {
            x,
            y,
            equal,
            common: None,
            common_bound: None,
            jaro_winkler: None,
            damerau_levenshtein: None,
        }
    }

    /// (characters in common, length of x, length of y) of ASCII values.
    fn common(&mut self) -> Option<(usize, usize, usize)> {
        if let Some(c) = self.common {
            return c;
        }
        if let Some(b) = self.common_bound {
            // Already bounded as well as counting would: nothing more to learn.
            self.common = Some(Some(b));
            return Some(b);
        }
        let (x, y) = (self.x.as_bytes(), self.y.as_bytes());
        let c = (self.x.is_ascii() && self.y.is_ascii()).then(|| {
            let mut counts = [0i32; 128];
            for &c in x {
                counts[usize::from(c)] += 1;
            }
            let mut common = 0;
            for &c in y {
                let n = &mut counts[usize::from(c)];
                if *n > 0 {
                    *n -= 1;
                    common += 1;
                }
            }
            (common, x.len(), y.len())
        });
        self.common = Some(c);
        c
    }

    fn meets(&mut self, level: &Level, a: &[&str], b: &[&str]) -> bool {
        match level {
            Level::Exact => self.equal,
            Level::JaroWinkler { threshold } => {
                if self.equal {
                    return true;
                }
                if let Some(jw) = self.jaro_winkler {
                    return jw >= *threshold;
                }
                // Jaro counts matching characters, at most those in common;
                // the Winkler bonus grows with Jaro: a bound to skip the work
                // (from the cheap bound on what is in common, then the count).
                let prefix = self
                    .x
                    .bytes()
                    .zip(self.y.bytes())
                    .take(4)
                    .take_while(|(p, q)| p == q)
                    .count() as f64;
                let most = |(common, lx, ly): (usize, usize, usize)| {
                    let jaro = if common == 0 {
                        0.0
                    } else {
                        let m = common as f64;
                        (m / lx as f64 + m / ly as f64 + 1.0) / 3.0
                    };
                    jaro + 0.1 * prefix * (1.0 - jaro)
                };
                if self.common_bound.is_some_and(|b| most(b) < *threshold) {
                    return false;
                }
                if self.common().is_some_and(|c| most(c) < *threshold) {
                    return false;
                }
                let jw = strsim::jaro_winkler(&self.x, &self.y);
                self.jaro_winkler = Some(jw);
                jw >= *threshold
            }
            Level::DamerauLevenshtein { max } => {
                if self.equal {
                    return true;
                }
                if let Some(d) = self.damerau_levenshtein {
                    return d <= *max;
                }
                // An edit changes the characters in common by at most one
                // on each side, and the length by at most one.
                let least =
                    |(common, lx, ly): (usize, usize, usize)| (lx - common).max(ly - common);
                if self.common_bound.is_some_and(|b| least(b) > *max) {
                    return false;
                }
                if self.common().is_some_and(|c| least(c) > *max) {
                    return false;
                }
                let d = damerau_levenshtein(&self.x, &self.y);
                self.damerau_levenshtein = Some(d);
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
            // Answered from the other column by `level_with`.
            Level::Same { .. } => false,
        }
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

/// The date with its day and month swapped, when that is a date and not itself.
fn swapped(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
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
