//! Privacy-preserving linkage: records encoded as Bloom filters under a
//! secret the two parties share (Schnell's cryptographic long-term keys,
//! CLK), compared by their Dice similarity without any clear value.
//!
//! A value is cut into q-grams (padded with spaces, as `clkhash` does); each
//! q-gram sets `k` bits of an `l`-bit filter by double hashing, bit
//! `(HMAC-SHA1(key₁, g) + i · HMAC-MD5(key₂, g)) mod l` for `i < k`. All the
//! fields of a record go into one filter; a field may be salted (its
//! q-grams prefixed with a salt, such as the field's name, so that the same
//! q-gram in two fields sets other bits). Balancing (Schnell 2016) appends
//! the filter's complement and shuffles the bits with the secret, so that
//! every encoding has the same number of ones.
//!
//! The encodings are bit-compatible with `clkhash`'s
//! `double_hash_encode_ngrams` (known-answer tests).

use hmac::{Hmac, KeyInit, Mac};
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// An encoding: `l` bits in 64-bit words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub bits: usize,
    pub words: Vec<u64>,
}

impl Filter {
    pub fn new(bits: usize) -> Filter {
        Filter {
            bits,
            words: vec![0; bits.div_ceil(64)],
        }
    }

    pub fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    pub fn ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// The positions of the set bits.
    pub fn positions(&self) -> Vec<usize> {
        (0..self.bits).filter(|&i| self.get(i)).collect()
    }

    /// A filter from bytes, bit 0 the most significant bit of the first
    /// byte (the order of Python's `bitarray` and of `clkhash`'s files).
    pub fn from_msb_bytes(bytes: &[u8]) -> Filter {
        let mut f = Filter::new(bytes.len() * 8);
        for (n, b) in bytes.iter().enumerate() {
            for k in 0..8 {
                if b >> (7 - k) & 1 == 1 {
                    f.set(n * 8 + k);
                }
            }
        }
        f
    }

    /// The filter as bytes in that order.
    pub fn to_msb_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; self.bits.div_ceil(8)];
        for i in (0..self.bits).filter(|&i| self.get(i)) {
            bytes[i / 8] |= 1 << (7 - i % 8);
        }
        bytes
    }
}

/// How one field is encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldEncoding {
    /// q of the q-grams.
    pub q: usize,
    /// Bits set per q-gram.
    pub k: usize,
    /// Prefixed to each q-gram (hardening), if any.
    pub salt: Option<String>,
}

/// The shared secret and the filter's length.
#[derive(Clone)]
pub struct Secret {
    pub key_sha1: Vec<u8>,
    pub key_md5: Vec<u8>,
    pub bits: usize,
}

/// The q-grams of a value, padded with q − 1 spaces on each side.
pub fn qgrams(value: &str, q: usize) -> Vec<String> {
    if value.is_empty() || q == 0 {
        return Vec::new();
    }
    let pad = " ".repeat(q.saturating_sub(1));
    let chars: Vec<char> = format!("{pad}{value}{pad}").chars().collect();
    chars.windows(q).map(|w| w.iter().collect()).collect()
}

/// A digest read as a big-endian number, modulo `l`.
fn digest_mod(bytes: &[u8], l: usize) -> usize {
    let l = l as u128;
    bytes
        .iter()
        .fold(0u128, |r, &b| (r * 256 + u128::from(b)) % l) as usize
}

fn hmac_mod<M: Mac + KeyInit>(key: &[u8], data: &[u8], l: usize) -> usize {
    // Any key length is valid for HMAC.
    let mut mac = <M as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    digest_mod(&mac.finalize().into_bytes(), l)
}

/// Sets the bits of one q-gram.
fn encode_gram(f: &mut Filter, secret: &Secret, gram: &[u8], k: usize) {
    let l = secret.bits;
    let h1 = hmac_mod::<Hmac<sha1::Sha1>>(&secret.key_sha1, gram, l);
    let h2 = hmac_mod::<Hmac<md5::Md5>>(&secret.key_md5, gram, l);
    for i in 0..k {
        f.set((h1 + i * h2) % l);
    }
}

/// A record's encoding: every field's q-grams in one filter.
pub fn encode(secret: &Secret, fields: &[(Option<&str>, &FieldEncoding)]) -> Filter {
    let mut f = Filter::new(secret.bits);
    for (value, how) in fields {
        let Some(v) = value else { continue };
        for g in qgrams(v, how.q) {
            let g = match &how.salt {
                Some(s) => format!("{s}{g}"),
                None => g,
            };
            encode_gram(&mut f, secret, g.as_bytes(), how.k);
        }
    }
    f
}

/// Balancing: the filter followed by its complement, bits shuffled by a
/// permutation drawn from `seed` (part of the secret): every balanced
/// encoding has exactly `bits` ones, which hides how long the values were.
pub fn balance(f: &Filter, seed: u64) -> Filter {
    let n = f.bits * 2;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed));
    let mut out = Filter::new(n);
    for (to, &from) in order.iter().enumerate() {
        let bit = if from < f.bits {
            f.get(from)
        } else {
            !f.get(from - f.bits)
        };
        if bit {
            out.set(to);
        }
    }
    out
}

/// The Dice similarity of two filters: 2|A ∩ B| / (|A| + |B|).
pub fn dice(a: &Filter, b: &Filter) -> f64 {
    let common: u32 = a
        .words
        .iter()
        .zip(&b.words)
        .map(|(x, y)| (x & y).count_ones())
        .sum();
    let total = a.ones() + b.ones();
    if total == 0 {
        return 0.0;
    }
    2.0 * f64::from(common) / f64::from(total)
}

/// Every pair (left, right) whose Dice similarity is at least `threshold`,
/// compared on every core, with the similarity; sorted. Right filters are
/// sorted by their count of ones and packed side by side: Dice ≥ t needs the
/// counts a and b to satisfy a·t/(2 − t) ≤ b ≤ a·(2 − t)/t, so each left
/// filter scans only the right ones in that range, in one run of memory.
pub fn link(left: &[Filter], right: &[Filter], threshold: f64) -> Vec<(u32, u32, f64)> {
    let w = left
        .iter()
        .chain(right)
        .map(|f| f.words.len())
        .max()
        .unwrap_or(0);
    let mut order: Vec<(u32, u32)> = right
        .iter()
        .enumerate()
        .map(|(j, f)| (f.ones(), j as u32))
        .collect();
    order.sort_unstable();
    let ones: Vec<u32> = order.iter().map(|o| o.0).collect();
    let ids: Vec<u32> = order.iter().map(|o| o.1).collect();
    let mut packed = vec![0u64; order.len() * w];
    for (k, &(_, j)) in order.iter().enumerate() {
        let words = &right[j as usize].words;
        packed[k * w..k * w + words.len()].copy_from_slice(words);
    }
    let rows: Vec<usize> = (0..left.len()).collect();
    let chunks: Vec<&[usize]> = rows.chunks(64).collect();
    let t = threshold.clamp(1e-9, 2.0 - 1e-9);
    let mut out = crate::blocking::in_parallel(&chunks, |chunk, out: &mut Vec<(u32, u32, f64)>| {
        let mut a = vec![0u64; w];
        for &i in *chunk {
            let f = &left[i];
            a.fill(0);
            a[..f.words.len()].copy_from_slice(&f.words);
            let n = f.ones();
            // (A hair of slack: a bound that is a whole number must not be
            // lost to rounding; the threshold itself is checked in `scan`.)
            let low = (f64::from(n) * t / (2.0 - t) - 1e-9).ceil().max(0.0) as u32;
            let high = (f64::from(n) * (2.0 - t) / t + 1e-9).floor() as u32;
            let start = ones.partition_point(|&o| o < low);
            let end = ones.partition_point(|&o| o <= high);
            // The bits in common each right count needs: an integer test
            // per pair, the similarity only computed for those that pass.
            let need: Vec<u32> = (low..=high.max(low))
                .map(|o| {
                    let x = threshold * f64::from(n + o) / 2.0;
                    // The smallest c with 2c / (n + o) >= threshold (float
                    // rounding checked both ways).
                    let mut c = (x - 1e-9).ceil().max(0.0) as u32;
                    while c > 0 && 2.0 * f64::from(c - 1) / f64::from(n + o) >= threshold {
                        c -= 1;
                    }
                    while f64::from(n + o) > 0.0
                        && 2.0 * f64::from(c) / f64::from(n + o) < threshold
                    {
                        c += 1;
                    }
                    c
                })
                .collect();
            let scan = Scan {
                a: &a,
                ones_a: n,
                packed: &packed[start * w..end * w],
                ones: &ones[start..end],
                ids: &ids[start..end],
                low,
                need: &need,
            };
            let before = out.len();
            scan.run(out);
            for p in &mut out[before..] {
                p.0 = i as u32;
            }
        }
    });
    out.sort_by_key(|x| (x.0, x.1));
    out
}

/// One left filter against a run of packed right filters.
struct Scan<'a> {
    a: &'a [u64],
    ones_a: u32,
    packed: &'a [u64],
    ones: &'a [u32],
    ids: &'a [u32],
    /// The smallest right count in range, and the bits in common each
    /// count from there needs.
    low: u32,
    need: &'a [u32],
}

impl Scan<'_> {
    fn run(&self, out: &mut Vec<(u32, u32, f64)>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512vpopcntdq") {
            // SAFETY: the processor has the instructions (checked just above).
            return unsafe { self.run_avx512(out) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor has the instruction (checked just above).
            return unsafe { self.run_popcnt(out) };
        }
        self.run_portable(out);
    }

    /// The same loop, which the compiler turns into vector population
    /// counts (eight words at a time) where the processor has them.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
    fn run_avx512(&self, out: &mut Vec<(u32, u32, f64)>) {
        use std::arch::x86_64::{
            __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_loadu_si512, _mm512_popcnt_epi64,
            _mm512_reduce_add_epi64,
        };
        // 1 024-bit filters: two vectors of eight words each.
        if self.a.len() != 16 {
            return self.run_portable(out);
        }
        // SAFETY: `a` holds 16 words; unaligned loads.
        let (a0, a1) = unsafe {
            let p = self.a.as_ptr().cast::<__m512i>();
            (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1)))
        };
        for (k, b) in self.packed.chunks_exact(16).enumerate() {
            // SAFETY: each chunk holds 16 words; unaligned loads.
            let (b0, b1) = unsafe {
                let p = b.as_ptr().cast::<__m512i>();
                (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1)))
            };
            let c = _mm512_add_epi64(
                _mm512_popcnt_epi64(_mm512_and_si512(a0, b0)),
                _mm512_popcnt_epi64(_mm512_and_si512(a1, b1)),
            );
            self.keep(out, k, _mm512_reduce_add_epi64(c) as u32);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn run_popcnt(&self, out: &mut Vec<(u32, u32, f64)>) {
        self.run_portable(out);
    }

    #[inline(always)]
    fn run_portable(&self, out: &mut Vec<(u32, u32, f64)>) {
        // The usual lengths (1 024 and 2 048 bits) with the length known to
        // the compiler, which then unrolls the whole comparison.
        match self.a.len() {
            16 => self.run_fixed::<16>(out),
            32 => self.run_fixed::<32>(out),
            _ => self.run_any(out),
        }
    }

    #[inline(always)]
    fn run_fixed<const W: usize>(&self, out: &mut Vec<(u32, u32, f64)>) {
        let Ok(a) = <&[u64; W]>::try_from(self.a) else {
            return self.run_any(out);
        };
        for (k, b) in self.packed.chunks_exact(W).enumerate() {
            let Ok(b) = <&[u64; W]>::try_from(b) else {
                continue;
            };
            let mut common = 0u32;
            for q in 0..W {
                common += (a[q] & b[q]).count_ones();
            }
            self.keep(out, k, common);
        }
    }

    #[inline(always)]
    fn run_any(&self, out: &mut Vec<(u32, u32, f64)>) {
        let w = self.a.len();
        if w == 0 {
            return;
        }
        for (k, b) in self.packed.chunks_exact(w).enumerate() {
            let common: u32 = self
                .a
                .iter()
                .zip(b)
                .map(|(x, y)| (x & y).count_ones())
                .sum();
            self.keep(out, k, common);
        }
    }

    #[inline(always)]
    fn keep(&self, out: &mut Vec<(u32, u32, f64)>, k: usize, common: u32) {
        let o = self.ones[k];
        let total = self.ones_a + o;
        if total == 0 || common < self.need[(o - self.low) as usize] {
            return;
        }
        out.push((0, self.ids[k], 2.0 * f64::from(common) / f64::from(total)));
    }
}

/// Blocking on the encodings: locality-sensitive hashing by bit sampling.
/// Each of `bands` bands samples `bits` positions of the filters (drawn
/// from `seed`); two filters are compared only when they agree on every
/// sampled bit of at least one band. Two filters `h` bits apart (of `l`)
/// agree on a band with probability `(1 − h/l)^bits`, so similar filters
/// meet in some band almost surely and dissimilar ones almost never: with
/// 1 024-bit filters of about 300 ones, a pair at Dice 0.8 (h ≤ 120) is
/// missed by 64 bands of 16 bits with probability below 2·10⁻⁴, and a
/// random pair (h ≈ 420) is compared with probability about 1 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LshBlocking {
    pub bands: usize,
    /// Bits sampled per band (1 to 64).
    pub bits: usize,
    pub seed: u64,
}

impl Default for LshBlocking {
    fn default() -> Self {
        LshBlocking {
            bands: 64,
            bits: 16,
            seed: 0x5eed,
        }
    }
}

/// The pairs (left, right) at Dice ≥ `threshold` among those that share a
/// band ([`LshBlocking`]); a subset of [`link`]'s, on every core; sorted.
/// `None` when the filters' lengths differ or the bands are malformed.
pub fn link_blocked(
    left: &[Filter],
    right: &[Filter],
    threshold: f64,
    lsh: &LshBlocking,
) -> Option<Vec<(u32, u32, f64)>> {
    let l = right.first().or(left.first()).map_or(0, |f| f.bits);
    if left.iter().chain(right).any(|f| f.bits != l)
        || lsh.bands == 0
        || !(1..=64).contains(&lsh.bits)
        || lsh.bits > l
    {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(lsh.seed);
    let bands: Vec<Vec<usize>> = (0..lsh.bands)
        .map(|_| {
            let mut p = rand::seq::index::sample(&mut rng, l, lsh.bits).into_vec();
            p.sort_unstable();
            p
        })
        .collect();
    let key = |f: &Filter, band: &[usize]| -> u64 {
        band.iter()
            .enumerate()
            .fold(0u64, |k, (n, &i)| k | (u64::from(f.get(i)) << n))
    };
    let index: Vec<std::collections::HashMap<u64, Vec<u32>>> = bands
        .iter()
        .map(|band| {
            let mut m: std::collections::HashMap<u64, Vec<u32>> = Default::default();
            for (j, f) in right.iter().enumerate() {
                m.entry(key(f, band)).or_default().push(j as u32);
            }
            m
        })
        .collect();
    let rows: Vec<usize> = (0..left.len()).collect();
    let chunks: Vec<&[usize]> = rows.chunks(256).collect();
    let mut out = crate::blocking::in_parallel(&chunks, |chunk, out: &mut Vec<(u32, u32, f64)>| {
        let mut candidates: Vec<u32> = Vec::new();
        for &i in *chunk {
            candidates.clear();
            for (band, m) in bands.iter().zip(&index) {
                if let Some(js) = m.get(&key(&left[i], band)) {
                    candidates.extend_from_slice(js);
                }
            }
            candidates.sort_unstable();
            candidates.dedup();
            for &j in &candidates {
                let d = dice(&left[i], &right[j as usize]);
                if d >= threshold {
                    out.push((i as u32, j, d));
                }
            }
        }
    });
    out.sort_by_key(|x| (x.0, x.1));
    Some(out)
}
