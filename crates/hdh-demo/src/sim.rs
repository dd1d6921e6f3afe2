//! Person-by-person simulation. Each person's random stream depends only on
//! `(seed, person index)`, so the output does not depend on chunking or threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fmt::{Calendar, FIRST_DAY_2023, LAST_DAY, Row, push_u64};
use crate::refs::{self, DRUGS, PRESENTATIONS, STAYS, StayKind, drug, stay};
use crate::schema::{BEN, MCOA, MCOB, MCOC, MCOD, PHA, PRS};

/// Maximum number of persons (RSA numbers and DCIR keys are derived from the index).
pub(crate) const MAX_PERSONS: u64 = 1 << 28;
/// At most this many stays per person (RSA number space).
const MAX_STAYS: usize = 16;
/// At most this many décomptes per person (DCT_ORD_NUM space).
const MAX_DCT: u32 = 999;

/// Output of one chunk of persons: one CSV byte buffer and a row count per table.
#[derive(Default)]
pub(crate) struct Bufs {
    pub data: [Vec<u8>; 8],
    pub rows: [u64; 8],
}

impl Bufs {
    pub(crate) fn clear(&mut self) {
        for d in &mut self.data {
            d.clear();
        }
        self.rows = [0; 8];
    }
}

struct Dept {
    code: [u8; 3],
    pmsi: [u8; 2],
    communes: u16,
    com_base: u16,
    etas: Vec<[u8; 9]>,
    emt_num: u8,
}

/// Shared, read-only generation context.
pub(crate) struct Ctx {
    base_rng: ChaCha8Rng,
    nir_key: u64,
    rsa_key: u32,
    pub cal: Calendar,
    depts: Vec<Dept>,
    dept_cum: Vec<u64>,
    age_cum: Vec<u64>,
    /// `[drug][presentation]` → (CIP-13, price in cents, box multiplier).
    products: Vec<[(u64, u32, u16); PRESENTATIONS]>,
}

impl Ctx {
    pub(crate) fn new(seed: u64) -> Ctx {
        let mut keys = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0F4D_3ED0);
        let nir_key = keys.random::<u64>();
        let rsa_key = keys.random::<u32>();
        let mut depts = Vec::with_capacity(refs::DEPARTEMENTS.len());
        let mut dept_cum = Vec::with_capacity(refs::DEPARTEMENTS.len());
        let mut acc = 0u64;
        for (i, &(code, pop, communes)) in refs::DEPARTEMENTS.iter().enumerate() {
            let c = code.as_bytes();
            let code3 = [c[0], c[1], c[2]];
            let dom = c[0] == b'9' && c[1] == b'7';
            let pmsi = if dom { [b'9', b'7'] } else { [c[1], c[2]] };
            let n_eta = (pop / 100).clamp(2, 25) as usize;
            let mut etas = Vec::with_capacity(n_eta);
            for k in 0..n_eta {
                let mut e = [b'0'; 9];
                let mut tail = Vec::with_capacity(9);
                if dom {
                    tail.extend_from_slice(&[b'9', b'7', c[2], b'0']);
                    let n = (k as u64 * 7919 + 101 + i as u64 * 13) % 100_000;
                    tail.extend_from_slice(format!("{n:05}").as_bytes());
                } else {
                    tail.extend_from_slice(&[c[1], c[2], b'0']);
                    let n = (k as u64 * 7919 + 101 + i as u64 * 13) % 1_000_000;
                    tail.extend_from_slice(format!("{n:06}").as_bytes());
                }
                e.copy_from_slice(&tail[..9]);
                etas.push(e);
            }
            let com_base = if code == "075" || dom { 101 } else { 1 };
            depts.push(Dept {
                code: code3,
                pmsi,
                communes,
                com_base,
                etas,
                emt_num: (i % 25 + 1) as u8,
            });
            acc += u64::from(pop);
            dept_cum.push(acc);
        }
        let mut age_cum = Vec::with_capacity(refs::AGE_BANDS.len() + 1);
        let mut acc = 0u64;
        for &(_, _, k) in refs::AGE_BANDS {
            acc += u64::from(k);
            age_cum.push(acc);
        }
        acc += u64::from(refs::BIRTHS_IN_PERIOD_K);
        age_cum.push(acc);
        let mut products = vec![[(0u64, 0u32, 1u16); PRESENTATIONS]; DRUGS.len()];
        for p in refs::products() {
            let slot = (p.cip13, p.price, p.box_mult);
            let pres = products[usize::from(p.drug)]
                .iter()
                .position(|x| x.0 == 0)
                .unwrap_or(0);
            products[usize::from(p.drug)][pres] = slot;
        }
        Ctx {
            base_rng: ChaCha8Rng::seed_from_u64(seed),
            nir_key,
            rsa_key,
            cal: Calendar::new(),
            depts,
            dept_cum,
            age_cum,
            products,
        }
    }

    fn rng(&self, idx: u64, sub: u64) -> ChaCha8Rng {
        let mut r = self.base_rng.clone();
        r.set_stream(idx.wrapping_mul(4).wrapping_add(sub));
        r
    }

    /// The level-1 pseudonym of person `idx` as a producer delivers it (32
    /// lowercase hex characters: what `hdh producer prepare` writes; the
    /// demo's people are born pseudonymised, no NIR exists). Bijective in
    /// `idx` for a given seed.
    pub(crate) fn nir(&self, idx: u64) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let v = mix64(idx ^ self.nir_key);
        let w = mix64(v ^ 0xA5A5_A5A5_5A5A_5A5A);
        let mut out = [b'0'; 32];
        for (i, o) in out.iter_mut().enumerate() {
            let word = if i < 16 { v } else { w };
            *o = HEX[((word >> (60 - 4 * (i % 16))) & 0xF) as usize];
        }
        out
    }

    fn rsa_num(&self, idx: u64, k: usize) -> u64 {
        let key = ((idx << 4) | k as u64) as u32;
        1_000_000_000 + u64::from(permute32(key ^ self.rsa_key))
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn permute32(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9E37_79B1);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^ (x >> 16)
}

// ---- random helpers -----------------------------------------------------------------

#[inline]
fn chance(r: &mut ChaCha8Rng, p: f64) -> bool {
    r.random::<f64>() < p
}

#[inline]
fn uni(r: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if hi <= lo {
        lo
    } else {
        r.random_range(lo..=hi)
    }
}

/// Poisson variate (Knuth; fine for the small means used here).
fn poisson(r: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = r.random::<f64>();
    while p > l && k < 200 {
        k += 1;
        p *= r.random::<f64>();
    }
    k
}

fn pick<T: Copy>(r: &mut ChaCha8Rng, items: &[(T, u16)]) -> T {
    let total: u32 = items.iter().map(|x| u32::from(x.1)).sum();
    let mut x = r.random_range(0..total.max(1));
    for &(v, w) in items {
        let w = u32::from(w);
        if x < w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn pick_cum(r: &mut ChaCha8Rng, cum: &[u64]) -> usize {
    let total = cum.last().copied().unwrap_or(1);
    let x = r.random_range(0..total);
    cum.partition_point(|&c| c <= x)
}

// ---- the person ---------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Base {
    sex: u8,
    /// Day index of birth (negative: before 2021-01-01).
    birth: i32,
    by: u16,
    bm: u8,
    bd: u8,
    dept: u16,
    commune: u16,
}

struct Identity {
    base: Base,
    nir_of: u64,
    rank: u8,
}

const P_TWIN: f64 = 0.06;
const P_TRIPLET: f64 = 0.03;

fn base_draws(ctx: &Ctx, r: &mut ChaCha8Rng) -> Base {
    let band = pick_cum(r, &ctx.age_cum);
    let birth = if band >= refs::AGE_BANDS.len() {
        uni(r, 0, LAST_DAY)
    } else {
        let (lo, hi, _) = refs::AGE_BANDS[band];
        let age = f64::from(lo) + r.random::<f64>() * f64::from(hi - lo + 1);
        -((age * 365.2425) as i32) - 1
    };
    let age_2021 = -birth / 365;
    let p_female = match age_2021 {
        ..50 => 0.488,
        50..75 => 0.52,
        75..85 => 0.58,
        _ => 0.68,
    };
    let sex = if chance(r, p_female) { 2 } else { 1 };
    let dept = pick_cum(r, &ctx.dept_cum) as u16;
    let d = &ctx.depts[usize::from(dept)];
    let commune = d.com_base + r.random_range(0..d.communes.max(1));
    let date = crate::fmt::day0() + chrono::Duration::days(i64::from(birth));
    use chrono::Datelike;
    Base {
        sex,
        birth,
        by: date.year() as u16,
        bm: date.month() as u8,
        bd: date.day() as u8,
        dept,
        commune,
    }
}

fn primary_base(ctx: &Ctx, idx: u64) -> Base {
    let mut r = ctx.rng(idx, 0);
    let _twin_draw = r.random::<f64>();
    base_draws(ctx, &mut r)
}

fn identity(ctx: &Ctx, idx: u64) -> Identity {
    let mut r = ctx.rng(idx, 0);
    let twin_draw = r.random::<f64>();
    let j = idx % 4;
    if j == 1 && twin_draw < P_TWIN {
        let pb = primary_base(ctx, idx - 1);
        // Twins under one insured holder: minors (dependants) only.
        if pb.birth > -18 * 365 {
            return Identity {
                base: pb,
                nir_of: idx - 1,
                rank: 2,
            };
        }
    }
    if j == 2 && twin_draw < P_TRIPLET {
        let t = identity(ctx, idx - 1);
        if t.rank == 2 {
            return Identity {
                base: t.base,
                nir_of: idx - 2,
                rank: 3,
            };
        }
    }
    Identity {
        base: base_draws(ctx, &mut r),
        nir_of: idx,
        rank: 1,
    }
}

/// A chronic treatment line.
#[derive(Clone, Copy)]
struct Regime {
    drug: u16,
    generic: bool,
    start: i32,
    stop: i32,
    psp: u8,
    ald: bool,
    /// Dispensed at about half the renewals (as-needed use).
    intermittent: bool,
}

#[derive(Clone, Copy)]
struct Claim {
    day: i32,
    ev: u32,
    nat: u16,
    qty: u16,
    paid: u32,
    reimb: u32,
    pse: u8,
    /// 255: no prescriber.
    psp: u8,
    /// CIP-13, 0 when not a drug.
    cip: u64,
}

#[derive(Clone, Copy)]
struct StayPlan {
    start: i32,
    los: i32,
    def: usize,
    terminal: bool,
}

/// Reusable per-worker scratch space.
#[derive(Default)]
pub(crate) struct Scratch {
    regimes: Vec<Regime>,
    claims: Vec<Claim>,
    stays: Vec<StayPlan>,
    weights: Vec<(usize, f64)>,
    das: Vec<&'static str>,
}

#[derive(Default, Clone, Copy)]
struct Health {
    /// 0 none, 1 type 2, 2 type 1.
    diab: u8,
    htn: bool,
    chd: bool,
    af: bool,
    hf: bool,
    dep: bool,
    psy: bool,
    resp: bool,
    copd: bool,
    breast: bool,
    /// Day of diagnosis of an incident breast cancer in 2023.
    breast_2023: Option<i32>,
    ald: bool,
}

struct P<'a> {
    ctx: &'a Ctx,
    r: ChaCha8Rng,
    idx: u64,
    nir: [u8; 32],
    rank: u8,
    b: Base,
    death: Option<i32>,
    /// DCIR window (inclusive day indices).
    lo: i32,
    hi: i32,
    h: Health,
    typ: u8,
    ev: u32,
    /// Care-seeking propensity (mean 1, exponential): over-dispersion of acute care.
    frailty: f64,
}

const NO_PSP: u8 = 255;
const NAT_G: u16 = 1110;
const NAT_TCG: u16 = 1192;
const NAT_CS: u16 = 1112;
const NAT_CNP: u16 = 1113;
const NAT_CSC: u16 = 1114;
const NAT_B: u16 = 3211;
const NAT_AMI: u16 = 3111;
const NAT_AMK: u16 = 3122;
const NAT_VGP: u16 = 3360;
/// 2023-12-22: G goes from 25.00 to 26.50 EUR.
const G_RAISE_DAY: i32 = 1085;

/// Month factors for acute care (January first).
const SEASON: [f64; 12] = [
    1.45, 1.35, 1.1, 0.95, 0.85, 0.8, 0.7, 0.6, 0.9, 1.05, 1.15, 1.35,
];

fn mortality(age: i32, sex: u8) -> f64 {
    let a = f64::from(age.max(0));
    let q = if age < 1 {
        0.0035
    } else if sex == 1 {
        0.0003 + (-10.69 + 0.0977 * a).exp()
    } else {
        0.0002 + (-12.3 + 0.113 * a).exp()
    };
    q.min(0.6)
}

impl<'a> P<'a> {
    fn age_at(&self, day: i32) -> i32 {
        let (y, m, d) = self.ctx.cal.ymd(day);
        let mut a = i32::from(y) - i32::from(self.b.by);
        if (m, d) < (self.b.bm, self.b.bd) {
            a -= 1;
        }
        a.max(0)
    }

    fn alive_window(&self, from: i32, to: i32) -> (i32, i32) {
        let lo = from.max(self.b.birth.max(0));
        let hi = match self.death {
            Some(d) => to.min(d),
            None => to,
        };
        (lo, hi)
    }

    fn health(&mut self) {
        let age = self.age_at(365);
        let female = self.b.sex == 2;
        let r = &mut self.r;
        let mut h = Health::default();
        let p_diab = match age {
            ..15 => 0.002,
            15..30 => 0.005,
            30..45 => 0.02,
            45..55 => 0.055,
            55..65 => 0.11,
            65..75 => 0.16,
            75..85 => 0.19,
            _ => 0.16,
        } * if female { 0.88 } else { 1.38 };
        if age >= 1 && chance(r, p_diab) {
            h.diab = if age < 30 || chance(r, 0.07) { 2 } else { 1 };
        }
        let mut p_htn = match age {
            ..20 => 0.0,
            20..40 => 0.01,
            40..50 => 0.06,
            50..60 => 0.15,
            60..70 => 0.28,
            70..80 => 0.40,
            _ => 0.45,
        };
        if h.diab > 0 {
            p_htn = (p_htn * 1.8_f64).min(0.8);
        }
        h.htn = chance(r, p_htn * 0.85);
        let p_chd = match age {
            ..40 => 0.0,
            40..50 => 0.006,
            50..60 => 0.02,
            60..70 => 0.05,
            70..80 => 0.09,
            _ => 0.13,
        } * if female { 0.6 } else { 1.6 }
            * if h.diab > 0 { 2.0 } else { 1.0 };
        h.chd = chance(r, p_chd);
        h.af = chance(
            r,
            match age {
                ..60 => 0.0,
                60..70 => 0.02,
                70..80 => 0.06,
                _ => 0.12,
            },
        );
        let p_hf = match age {
            ..60 => 0.0,
            60..70 => 0.01,
            70..80 => 0.03,
            _ => 0.08,
        } * if h.chd { 3.0 } else { 1.0 };
        h.hf = chance(r, p_hf);
        h.dep = age >= 15
            && chance(
                r,
                if age >= 65 { 0.08 } else { 0.06 } * if female { 1.45 } else { 0.7 },
            );
        h.psy = age >= 18 && chance(r, 0.007);
        h.resp = if age < 2 {
            false
        } else if age < 18 {
            chance(r, 0.06)
        } else {
            chance(r, if age >= 65 { 0.07 } else { 0.04 })
        };
        h.copd = h.resp && age >= 40 && chance(r, 0.6);
        h.breast = female && age >= 40 && chance(r, 0.02);
        if female && (45..80).contains(&age) && !h.breast && chance(r, 0.003) {
            h.breast_2023 = Some(uni(r, FIRST_DAY_2023, LAST_DAY - 60));
        }
        h.ald = h.diab > 0 || h.chd || h.hf || h.psy || h.breast || h.breast_2023.is_some();
        self.h = h;
    }

    fn mortality(&mut self) {
        let mult = 1.0
            + if self.h.diab > 0 { 0.6 } else { 0.0 }
            + if self.h.chd { 0.8 } else { 0.0 }
            + if self.h.hf { 1.5 } else { 0.0 }
            + if self.h.breast { 1.0 } else { 0.0 };
        for y in 0..3 {
            let ys = y * 365;
            let ye = ys + 364;
            if self.b.birth > ye {
                break;
            }
            let from = ys.max(self.b.birth);
            let frac = f64::from(ye - from + 1) / 365.0;
            // The base rates are population rates: normalise the morbidity multiplier.
            let q = mortality(self.age_at(ys + 182), self.b.sex) * mult / 1.35 * frac;
            if chance(&mut self.r, q) {
                self.death = Some(uni(&mut self.r, from, ye));
                return;
            }
        }
    }

    // ---- chronic treatments ----------------------------------------------------------

    fn add_regime(&mut self, s: &mut Scratch, atc: u16, psp: u8, ald: bool, start: i32) {
        let generic = chance(&mut self.r, 0.7);
        s.regimes.push(Regime {
            drug: atc,
            generic,
            start,
            stop: i32::MAX,
            psp,
            ald,
            intermittent: false,
        });
    }

    /// Onset: prevalent (before the period) or incident during it.
    fn onset(&mut self, p_incident: f64) -> i32 {
        let lo = self.b.birth.max(0);
        if lo < LAST_DAY && chance(&mut self.r, p_incident) {
            uni(&mut self.r, lo, LAST_DAY)
        } else {
            -1
        }
    }

    fn regimes(&mut self, s: &mut Scratch) {
        s.regimes.clear();
        let age = self.age_at(365);
        let h = self.h;
        let female = self.b.sex == 2;
        if h.diab == 1 {
            let t0 = self.onset(0.12);
            let endo = if chance(&mut self.r, 0.15) { 42 } else { 1 };
            if chance(&mut self.r, 0.08) {
                self.add_regime(s, drug("A10BD07"), endo, true, t0);
            } else if chance(&mut self.r, 0.88) {
                self.add_regime(s, drug("A10BA02"), endo, true, t0);
                if chance(&mut self.r, 0.13) {
                    let t = self.later(t0);
                    self.add_regime(s, drug("A10BH01"), endo, true, t);
                }
            }
            if chance(&mut self.r, 0.25) {
                let t = self.later(t0);
                self.add_regime(s, drug("A10BB09"), endo, true, t);
            }
            if chance(&mut self.r, 0.10) {
                let g = if chance(&mut self.r, 0.7) {
                    "A10BX14"
                } else {
                    "A10BX07"
                };
                let t = self.later(t0);
                self.add_regime(s, drug(g), endo, true, t);
            }
            if chance(&mut self.r, 0.15) {
                let t = self.later(t0);
                let psp = if chance(&mut self.r, 0.4) { 42 } else { 1 };
                self.add_regime(s, drug("A10AE04"), psp, true, t);
            }
        } else if h.diab == 2 {
            let t0 = self.onset(0.05);
            let psp = if chance(&mut self.r, 0.5) { 42 } else { 1 };
            self.add_regime(s, drug("A10AE04"), psp, true, t0);
            let rapid = if chance(&mut self.r, 0.6) {
                "A10AB05"
            } else {
                "A10AB04"
            };
            self.add_regime(s, drug(rapid), psp, true, t0);
        }
        let p_statin = if h.chd {
            0.85
        } else if h.diab > 0 {
            0.45
        } else if age >= 50 {
            0.12
        } else if age >= 40 {
            0.03
        } else {
            0.0
        };
        if chance(&mut self.r, p_statin) {
            let t = self.onset(0.08);
            let g = if chance(&mut self.r, 0.6) {
                "C10AA05"
            } else {
                "C10AA07"
            };
            self.add_regime(s, drug(g), 1, h.chd || h.diab > 0, t);
        }
        if h.htn {
            let t = self.onset(0.10);
            let g = pick(
                &mut self.r,
                &[
                    ("C09AA05", 20),
                    ("C09AA04", 15),
                    ("C09CA01", 15),
                    ("C09CA04", 15),
                    ("C09CA03", 10),
                    ("C09DA04", 15),
                    ("C09BB04", 10),
                ],
            );
            let psp = if chance(&mut self.r, 0.1) { 3 } else { 1 };
            self.add_regime(s, drug(g), psp, h.diab > 0, t);
            if chance(&mut self.r, 0.3) {
                self.add_regime(s, drug("C08CA01"), psp, false, t);
            }
            if chance(&mut self.r, 0.15) {
                self.add_regime(s, drug("C07AB07"), psp, false, t);
            }
        }
        if h.chd {
            let t = self.onset(0.15);
            let psp = if chance(&mut self.r, 0.4) { 3 } else { 1 };
            if chance(&mut self.r, 0.9) {
                self.add_regime(s, drug("B01AC06"), psp, true, t);
            }
            if t >= 0 || chance(&mut self.r, 0.15) {
                self.add_regime(s, drug("B01AC04"), 3, true, t);
                if t >= 0
                    && let Some(last) = s.regimes.last_mut()
                {
                    last.stop = t + 365;
                }
            }
            if chance(&mut self.r, 0.7) {
                self.add_regime(s, drug("C07AB07"), psp, true, t);
            }
        }
        if !h.chd && age >= 65 && chance(&mut self.r, if age >= 75 { 0.10 } else { 0.05 }) {
            let t = self.onset(0.1);
            self.add_regime(s, drug("B01AC06"), 1, false, t);
        }
        if h.af {
            let t = self.onset(0.15);
            let g = pick(
                &mut self.r,
                &[("B01AF02", 50), ("B01AF01", 35), ("B01AA07", 15)],
            );
            let psp = if chance(&mut self.r, 0.5) { 3 } else { 1 };
            self.add_regime(s, drug(g), psp, false, t);
        }
        if h.hf {
            let t = self.onset(0.15);
            self.add_regime(s, drug("C03CA01"), 3, true, t);
            if !s.regimes.iter().any(|x| x.drug == drug("C07AB07")) {
                self.add_regime(s, drug("C07AB07"), 3, true, t);
            }
        }
        if h.dep {
            let g = pick(
                &mut self.r,
                &[
                    ("N06AB10", 35),
                    ("N06AB06", 25),
                    ("N06AB05", 15),
                    ("N06AX16", 15),
                    ("N06AX11", 10),
                ],
            );
            let psp = if chance(&mut self.r, 0.15) { 33 } else { 1 };
            let (start, stop) = if chance(&mut self.r, 0.3) {
                (-1, i32::MAX)
            } else {
                let lo = self.b.birth.max(-365);
                let s0 = uni(&mut self.r, lo, LAST_DAY);
                (s0, s0 + uni(&mut self.r, 180, 540))
            };
            self.add_regime(s, drug(g), psp, false, start);
            if let Some(last) = s.regimes.last_mut() {
                last.stop = stop;
            }
            if chance(&mut self.r, 0.3) {
                let g = if chance(&mut self.r, 0.5) {
                    "N05BA12"
                } else {
                    "N05BA08"
                };
                self.add_regime(s, drug(g), psp, false, start);
                if let Some(last) = s.regimes.last_mut() {
                    last.stop = stop;
                    last.intermittent = true;
                }
            }
        }
        if age >= 18 {
            let p_anx = if age >= 65 { 0.11 } else { 0.05 } * if female { 1.4 } else { 0.8 };
            if chance(&mut self.r, p_anx) {
                let g = pick(
                    &mut self.r,
                    &[
                        ("N05CF02", 30),
                        ("N05CF01", 20),
                        ("N05BA08", 20),
                        ("N05BA12", 20),
                        ("N05BB01", 10),
                    ],
                );
                let t = self.onset(0.2);
                self.add_regime(s, drug(g), 1, false, t);
                if let Some(last) = s.regimes.last_mut() {
                    last.intermittent = true;
                }
            }
        }
        if h.psy {
            let g = if chance(&mut self.r, 0.5) {
                "N05AH04"
            } else {
                "N05AX08"
            };
            let psp = if chance(&mut self.r, 0.7) { 33 } else { 1 };
            let t = self.onset(0.1);
            self.add_regime(s, drug(g), psp, true, t);
        }
        if h.resp {
            let t = self.onset(0.1);
            if h.copd {
                let g = if chance(&mut self.r, 0.5) {
                    "R03BB04"
                } else {
                    "R03AK06"
                };
                self.add_regime(s, drug(g), 1, false, t);
            } else if chance(&mut self.r, 0.3) {
                self.add_regime(s, drug("R03AK06"), 1, false, t);
            }
            self.add_regime(s, drug("R03AC02"), 1, false, t);
            if let Some(last) = s.regimes.last_mut() {
                last.intermittent = true;
            }
        }
        let p_thyro = if female && age >= 30 {
            0.04 + 0.001 * f64::from(age - 30)
        } else if age >= 30 {
            0.015
        } else {
            0.0
        };
        if chance(&mut self.r, p_thyro) {
            let t = self.onset(0.08);
            self.add_regime(s, drug("H03AA01"), 1, false, t);
        }
        if age >= 40 && chance(&mut self.r, if age >= 65 { 0.12 } else { 0.06 }) {
            let g = if chance(&mut self.r, 0.6) {
                "A02BC01"
            } else {
                "A02BC05"
            };
            let t = self.onset(0.15);
            self.add_regime(s, drug(g), 1, false, t);
        }
        if h.breast || h.breast_2023.is_some() {
            let g = if age < 50 {
                "L02BA01"
            } else if chance(&mut self.r, 0.6) {
                "L02BG04"
            } else {
                "L02BG03"
            };
            let psp = if chance(&mut self.r, 0.5) { 73 } else { 1 };
            let t = match h.breast_2023 {
                Some(d) => (d + 150).min(LAST_DAY),
                None => -1,
            };
            self.add_regime(s, drug(g), psp, true, t);
        }
        if age >= 60 && chance(&mut self.r, if age >= 75 { 0.12 } else { 0.04 }) {
            let t = self.onset(0.1);
            self.add_regime(s, drug("N02BE01"), 1, false, t);
            if chance(&mut self.r, 0.3) {
                self.add_regime(s, drug("N02AX02"), 1, false, t);
                if let Some(last) = s.regimes.last_mut() {
                    last.intermittent = true;
                }
            }
        }
        if age >= 75 && chance(&mut self.r, 0.2) {
            let t = self.onset(0.1);
            self.add_regime(s, drug("A11CC05"), 1, false, t);
            if let Some(last) = s.regimes.last_mut() {
                last.intermittent = true;
            }
        }
        // Treatment discontinuation for some chronic lines.
        for i in 0..s.regimes.len() {
            if s.regimes[i].stop == i32::MAX && chance(&mut self.r, 0.06) {
                let st = s.regimes[i].start.max(0);
                s.regimes[i].stop = uni(&mut self.r, st + 60, LAST_DAY + 400);
            }
        }
    }

    /// A start day at or after `t0` (add-on treatment).
    fn later(&mut self, t0: i32) -> i32 {
        if chance(&mut self.r, 0.85) {
            t0
        } else {
            uni(&mut self.r, t0.max(self.b.birth.max(0)), LAST_DAY)
        }
    }

    // ---- claims ----------------------------------------------------------------------

    fn next_ev(&mut self) -> u32 {
        self.ev += 1;
        self.ev
    }

    fn consult(&mut self, s: &mut Scratch, day: i32, nat: u16, pse: u8, extra: bool) {
        let base: u32 = match nat {
            NAT_G | NAT_TCG => {
                if day >= G_RAISE_DAY {
                    2650
                } else {
                    2500
                }
            }
            NAT_CSC => 4773,
            NAT_CNP => 3900,
            _ => 3000,
        };
        let paid = if extra && chance(&mut self.r, 0.4) {
            base + 100 * uni(&mut self.r, 5, 40) as u32
        } else {
            base
        };
        let pf = if self.age_at(day) >= 18 { 100 } else { 0 };
        let rate = if self.h.ald { 100 } else { 70 };
        let reimb = (base * rate / 100).saturating_sub(pf).min(paid);
        let ev = self.next_ev();
        s.claims.push(Claim {
            day,
            ev,
            nat,
            qty: 1,
            paid,
            reimb,
            pse,
            psp: NO_PSP,
            cip: 0,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn drug_line(
        &mut self,
        s: &mut Scratch,
        ev: u32,
        day: i32,
        d: u16,
        pres: usize,
        qty: u16,
        psp: u8,
        ald: bool,
    ) {
        let def = &DRUGS[usize::from(d)];
        let (cip, price, _) = self.ctx.products[usize::from(d)][pres];
        let paid = price * u32::from(qty);
        let rate = if ald { 100 } else { def.rate.percent() };
        let reimb = (paid * rate / 100).min(paid);
        s.claims.push(Claim {
            day,
            ev,
            nat: def.rate.nat(),
            qty,
            paid,
            reimb,
            pse: 0,
            psp,
            cip,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn other_act(
        &mut self,
        s: &mut Scratch,
        day: i32,
        nat: u16,
        paid: u32,
        rate: u32,
        pse: u8,
        psp: u8,
    ) {
        let rate = if self.h.ald { 100 } else { rate };
        let ev = self.next_ev();
        s.claims.push(Claim {
            day,
            ev,
            nat,
            qty: 1,
            paid,
            reimb: (paid * rate / 100).min(paid),
            pse,
            psp,
            cip: 0,
        });
    }

    fn dcir(&mut self, s: &mut Scratch) {
        s.claims.clear();
        if self.lo > self.hi {
            return;
        }
        let (lo, hi) = (self.lo, self.hi);
        // Chronic renewals.
        if !s.regimes.is_empty() {
            let monthly = chance(&mut self.r, 0.75);
            let first_start = s.regimes.iter().map(|x| x.start).min().unwrap_or(0);
            let cycle = if monthly { 30 } else { 90 };
            // Initiations during the period: first dispensation on the start day.
            for i in 0..s.regimes.len() {
                let rg = s.regimes[i];
                if rg.start >= lo && rg.start <= hi {
                    self.consult(s, rg.start, NAT_G, 1, false);
                    let ev = self.next_ev();
                    let pres = usize::from(rg.generic);
                    self.drug_line(s, ev, rg.start, rg.drug, pres, 1, rg.psp, rg.ald);
                }
            }
            let mut t = first_start.max(lo) + uni(&mut self.r, 0, cycle - 1);
            let mut k = 0u32;
            while t <= hi {
                let ev = self.next_ev();
                let mut any = false;
                let mut psp_main = 1;
                for i in 0..s.regimes.len() {
                    let rg = s.regimes[i];
                    if rg.start >= t || t >= rg.stop {
                        continue;
                    }
                    if rg.intermittent && !chance(&mut self.r, 0.45) {
                        continue;
                    }
                    let (pres, qty) = if monthly {
                        (usize::from(rg.generic), 1)
                    } else if chance(&mut self.r, 0.6) {
                        (2, 1)
                    } else {
                        (usize::from(rg.generic), 3)
                    };
                    self.drug_line(s, ev, t, rg.drug, pres, qty, rg.psp, rg.ald);
                    any = true;
                    psp_main = rg.psp;
                }
                if any && (!monthly || k.is_multiple_of(3)) {
                    let gp_day = (t - uni(&mut self.r, 0, 6)).max(lo);
                    if psp_main == 1 || chance(&mut self.r, 0.5) {
                        self.consult(s, gp_day, NAT_G, 1, false);
                    } else {
                        let nat = if psp_main == 3 {
                            NAT_CSC
                        } else if psp_main == 33 {
                            NAT_CNP
                        } else {
                            NAT_CS
                        };
                        self.consult(s, gp_day, nat, psp_main, true);
                    }
                }
                k += 1;
                let mut step = if monthly {
                    uni(&mut self.r, 26, 36)
                } else {
                    uni(&mut self.r, 80, 95)
                };
                if chance(&mut self.r, 0.06) {
                    step += uni(&mut self.r, 30, 90);
                }
                t += step;
            }
        }
        // Acute GP visits, seasonal, with a dispensation most of the time.
        let age_mid = self.age_at((lo + hi) / 2);
        let female = self.b.sex == 2;
        let rate_year = match age_mid {
            ..3 => 6.0,
            3..7 => 4.0,
            7..18 => 2.0,
            18..45 => {
                if female {
                    2.8
                } else {
                    2.0
                }
            }
            45..65 => 2.5,
            65..75 => 3.0,
            _ => 4.0,
        };
        let mut m_start = lo;
        while m_start <= hi {
            let m_end = self.ctx.cal.month_end(m_start).min(hi);
            let month = self.ctx.cal.month0(m_start);
            let frac = f64::from(m_end - m_start + 1) / 30.4;
            let n = poisson(
                &mut self.r,
                rate_year * self.frailty / 12.0 * SEASON[month] * frac,
            );
            for _ in 0..n {
                let day = uni(&mut self.r, m_start, m_end);
                let tele = chance(&mut self.r, if day < 365 { 0.12 } else { 0.06 });
                self.consult(s, day, if tele { NAT_TCG } else { NAT_G }, 1, false);
                if chance(&mut self.r, 0.6) {
                    let next_day = i32::from(chance(&mut self.r, 0.2));
                    self.acute_drugs(s, (day + next_day).min(hi), month, age_mid);
                }
            }
            m_start = m_end + 1;
        }
        // Specialists, per year of presence.
        let years = f64::from(hi - lo + 1) / 365.0;
        let spec: [(u8, u16, f64, bool); 8] = [
            (15, NAT_CS, if age_mid >= 60 { 0.6 } else { 0.3 }, true),
            (5, NAT_CS, 0.15, true),
            (
                7,
                NAT_CS,
                if female && (15..70).contains(&age_mid) {
                    0.4
                } else {
                    0.0
                },
                true,
            ),
            (12, NAT_CS, if age_mid < 6 { 1.0 } else { 0.0 }, false),
            (
                3,
                NAT_CSC,
                if self.h.chd || self.h.af || self.h.hf {
                    1.0
                } else if self.h.htn {
                    0.4
                } else if age_mid >= 65 {
                    0.1
                } else {
                    0.0
                },
                true,
            ),
            (
                33,
                NAT_CNP,
                if self.h.psy {
                    6.0
                } else if self.h.dep {
                    1.5
                } else {
                    0.0
                },
                true,
            ),
            (
                42,
                NAT_CS,
                if self.h.diab == 2 {
                    2.0
                } else if self.h.diab == 1 {
                    0.3
                } else {
                    0.0
                },
                true,
            ),
            (14, NAT_CS, if age_mid >= 50 { 0.1 } else { 0.0 }, true),
        ];
        for &(spe, nat, rate, extra) in spec.iter() {
            let n = poisson(&mut self.r, rate * years * (0.5 + 0.5 * self.frailty));
            for _ in 0..n {
                let day = uni(&mut self.r, lo, hi);
                self.consult(s, day, nat, spe, extra);
            }
        }
        // Laboratory tests.
        let lab_rate = if self.h.diab > 0 {
            4.0
        } else if age_mid >= 45 {
            1.2
        } else if age_mid >= 18 {
            0.7
        } else {
            0.2
        };
        for _ in 0..poisson(&mut self.r, lab_rate * years) {
            let day = uni(&mut self.r, lo, hi);
            let paid = 27 * uni(&mut self.r, 40, 250) as u32;
            let pse = if chance(&mut self.r, 0.3) { 38 } else { 0 };
            self.other_act(s, day, NAT_B, paid, 60, pse, 1);
        }
        // Nursing series for the elderly, physiotherapy series for adults.
        for y in 0..3 {
            let (ylo, yhi) = (lo.max(y * 365), hi.min(y * 365 + 364));
            if ylo > yhi {
                continue;
            }
            let a = self.age_at(ylo);
            if a >= 75 && chance(&mut self.r, 0.2) {
                let mut d = uni(&mut self.r, ylo, yhi);
                for _ in 0..uni(&mut self.r, 6, 14) {
                    if d > yhi {
                        break;
                    }
                    let coef = uni(&mut self.r, 1, 3) as u32;
                    self.other_act(s, d, NAT_AMI, 315 * coef, 60, 0, 1);
                    d += uni(&mut self.r, 1, 3);
                }
            }
            if a >= 30 && chance(&mut self.r, 0.04) {
                let mut d = uni(&mut self.r, ylo, yhi);
                let psp = if chance(&mut self.r, 0.2) { 14 } else { 1 };
                for _ in 0..uni(&mut self.r, 6, 12) {
                    if d > yhi {
                        break;
                    }
                    self.other_act(s, d, NAT_AMK, 1613, 60, 0, psp);
                    d += uni(&mut self.r, 2, 5);
                }
            }
            // Influenza vaccination (October 15 to December 31).
            let eligible = a >= 65 || self.h.diab > 0 || self.h.copd || self.h.chd;
            if eligible && chance(&mut self.r, 0.55) {
                let (vlo, vhi) = (ylo.max(y * 365 + 287), yhi.min(y * 365 + 364));
                if vlo <= vhi {
                    let day = uni(&mut self.r, vlo, vhi);
                    let ev = self.next_ev();
                    let pres = usize::from(chance(&mut self.r, 0.5));
                    self.drug_line(s, ev, day, drug("J07BB02"), pres, 1, NO_PSP, false);
                    if chance(&mut self.r, 0.45) {
                        s.claims.push(Claim {
                            day,
                            ev,
                            nat: NAT_VGP,
                            qty: 1,
                            paid: 750,
                            reimb: 750,
                            pse: 0,
                            psp: NO_PSP,
                            cip: 0,
                        });
                    }
                }
            }
        }
    }

    fn acute_drugs(&mut self, s: &mut Scratch, day: i32, month: usize, age: i32) {
        let ev = self.next_ev();
        let winter = matches!(month, 0 | 1 | 10 | 11);
        let mut n = 0;
        if chance(&mut self.r, 0.6) {
            let qty = if chance(&mut self.r, 0.5) { 1 } else { 2 };
            self.acute_line(s, ev, day, "N02BE01", qty);
            n += 1;
        }
        if chance(&mut self.r, if winter { 0.35 } else { 0.2 }) {
            let g = if age < 6 {
                if chance(&mut self.r, 0.8) {
                    "J01CA04"
                } else {
                    "J01CR02"
                }
            } else {
                pick(
                    &mut self.r,
                    &[
                        ("J01CA04", 50),
                        ("J01CR02", 25),
                        ("J01FA10", 10),
                        ("J01DD13", 10),
                        ("J01FG01", 5),
                    ],
                )
            };
            self.acute_line(s, ev, day, g, 1);
            n += 1;
        }
        if age >= 15 && chance(&mut self.r, 0.15) {
            self.acute_line(s, ev, day, "M01AE01", 1);
            n += 1;
        }
        if age >= 18 && chance(&mut self.r, 0.04) {
            self.acute_line(s, ev, day, "N02AX02", 1);
            n += 1;
        }
        if chance(&mut self.r, 0.05) {
            self.acute_line(s, ev, day, "H02AB06", 1);
            n += 1;
        }
        if n == 0 {
            self.acute_line(s, ev, day, "N02BE01", 1);
        }
    }

    fn acute_line(&mut self, s: &mut Scratch, ev: u32, day: i32, atc: &str, qty: u16) {
        let d = drug(atc);
        let pres = if chance(&mut self.r, 0.2) {
            0
        } else if chance(&mut self.r, 0.1) {
            2
        } else {
            1
        };
        self.drug_line(s, ev, day, d, pres, qty, 1, false);
    }

    fn write_dcir(&mut self, s: &mut Scratch, out: &mut Bufs) {
        s.claims.sort_by_key(|c| (c.day, c.ev));
        let ctx = self.ctx;
        let cal = &ctx.cal;
        let dept = &ctx.depts[usize::from(self.b.dept)];
        let mut org = [b'0'; 9];
        org[1] = b'0' + self.typ;
        org[2..5].copy_from_slice(&dept.code);
        let dct_base = (self.idx % 1_000_000) * 1000;
        let emt_ord = self.idx / 1_000_000;
        let mut dct: u32 = 0;
        let mut last_ev = u32::MAX;
        let mut line = 0u64;
        let mut trt = 0;
        let mut dis = 0;
        for c in s.claims.iter() {
            if c.ev != last_ev {
                if dct >= MAX_DCT {
                    break;
                }
                dct += 1;
                last_ev = c.ev;
                line = 0;
                trt = (c.day + uni(&mut self.r, 0, 6)).min(cal.month_end(c.day));
                dis = cal.next_month(c.day);
            }
            line += 1;
            let age = self.age_at(c.day);
            let prs = &mut out.data[PRS];
            let mut row = Row::new(prs);
            row.int(dct_base + u64::from(dct))
                .date(cal, dis)
                .int(u64::from(dept.emt_num))
                .int(emt_ord)
                .int(u64::from(self.typ))
                .date(cal, trt)
                .raw(&org)
                .int(line)
                .int(1)
                .raw(&self.nir)
                .int(u64::from(self.rank))
                .int(age as u64)
                .int(u64::from(self.b.sex))
                .raw(&dept.code)
                .date(cal, c.day)
                .date(cal, c.day)
                .int(u64::from(c.nat))
                .int(u64::from(c.qty))
                .money(u64::from(c.paid))
                .money(u64::from(c.reimb))
                .int(u64::from(c.pse));
            if c.psp == NO_PSP {
                row.empty();
            } else {
                row.int(u64::from(c.psp));
            }
            row.end();
            out.rows[PRS] += 1;
            if c.cip != 0 {
                let pha = &mut out.data[PHA];
                Row::new(pha)
                    .int(dct_base + u64::from(dct))
                    .date(cal, dis)
                    .int(u64::from(dept.emt_num))
                    .int(emt_ord)
                    .int(u64::from(self.typ))
                    .date(cal, trt)
                    .raw(&org)
                    .int(line)
                    .int(1)
                    .int(c.cip)
                    .int(u64::from(c.qty))
                    .end();
                out.rows[PHA] += 1;
            }
        }
    }

    // ---- hospital (PMSI MCO 2023) ----------------------------------------------------

    fn plan_stays(&mut self, s: &mut Scratch) {
        s.stays.clear();
        let (lo, mut hi) = self.alive_window(FIRST_DAY_2023, LAST_DAY);
        if lo > hi {
            return;
        }
        let age = self.age_at(lo);
        let female = self.b.sex == 2;
        // In-hospital death.
        if let Some(d) = self.death {
            // About a third of deaths happen during an MCO stay.
            let p = if age >= 85 { 0.28 } else { 0.38 };
            if d >= FIRST_DAY_2023 && chance(&mut self.r, p) {
                let los = uni(&mut self.r, 1, 20).min(d - lo);
                s.stays.push(StayPlan {
                    start: d - los,
                    los,
                    def: stay(StayKind::Terminal),
                    terminal: true,
                });
                hi = d - los - 1;
            }
        }
        if lo > hi {
            return;
        }
        let years = f64::from(hi - lo + 1) / 365.0;
        // Birth stay.
        if self.b.birth >= lo && self.b.birth <= hi {
            let def = stay(StayKind::Newborn);
            let los = uni(&mut self.r, 2, 5);
            s.stays.push(StayPlan {
                start: self.b.birth,
                los,
                def,
                terminal: false,
            });
        }
        // Delivery.
        if female && (18..45).contains(&age) && chance(&mut self.r, 0.05 * years) {
            let los = uni(&mut self.r, 2, 5);
            let start = uni(&mut self.r, lo, hi);
            s.stays.push(StayPlan {
                start,
                los,
                def: stay(StayKind::Delivery),
                terminal: false,
            });
        }
        // Incident breast cancer: surgery then chemotherapy sessions.
        if let Some(dx) = self.h.breast_2023
            && dx >= lo
            && dx + 30 <= hi
        {
            let start = dx + uni(&mut self.r, 10, 30);
            let def = stay(StayKind::BreastSurgery);
            let (a, b) = STAYS[def].los;
            let los = uni(&mut self.r, i32::from(a), i32::from(b));
            s.stays.push(StayPlan {
                start,
                los,
                def,
                terminal: false,
            });
            let mut t = start + los + uni(&mut self.r, 21, 35);
            for _ in 0..uni(&mut self.r, 4, 6) {
                if t > hi {
                    break;
                }
                s.stays.push(StayPlan {
                    start: t,
                    los: 0,
                    def: stay(StayKind::Chemo),
                    terminal: false,
                });
                t += 21;
            }
        }
        // Other stays.
        let mut lambda = match age {
            0 => 0.25,
            1..5 => 0.08,
            5..15 => 0.05,
            15..45 => 0.07,
            45..55 => 0.11,
            55..65 => 0.16,
            65..75 => 0.26,
            75..85 => 0.40,
            _ => 0.55,
        };
        let h = self.h;
        if h.diab > 0 {
            lambda *= 1.4;
        }
        if h.chd {
            lambda *= 1.6;
        }
        if h.hf {
            lambda *= 2.0;
        }
        if h.copd {
            lambda *= 1.4;
        }
        if h.breast {
            lambda *= 1.5;
        }
        let n = poisson(&mut self.r, lambda * years);
        for _ in 0..n {
            let start = uni(&mut self.r, lo, hi);
            let month = self.ctx.cal.month0(start);
            let season = match month {
                11 | 0 | 1 => 3.0,
                2 | 10 => 1.5,
                _ => 0.5,
            };
            let fem = if female { 1.5 } else { 1.0 };
            s.weights.clear();
            let w = &mut s.weights;
            let mut add = |k: StayKind, x: f64| {
                if x > 0.0 {
                    w.push((stay(k), x));
                }
            };
            add(StayKind::Diabetes, if h.diab > 0 { 0.8 } else { 0.0 });
            add(
                StayKind::Coronary,
                if h.chd {
                    2.0
                } else if age >= 45 {
                    0.12
                } else {
                    0.0
                },
            );
            add(
                StayKind::HeartFailure,
                if h.hf {
                    1.2
                } else if age >= 75 {
                    0.15
                } else {
                    0.0
                },
            );
            add(
                StayKind::Arrhythmia,
                if h.af {
                    1.0
                } else if age >= 60 {
                    0.1
                } else {
                    0.0
                },
            );
            let pneu = if age >= 75 {
                0.5
            } else if age < 5 {
                0.3
            } else {
                0.1
            };
            add(
                StayKind::Pneumonia,
                pneu * season * if h.copd { 2.0 } else { 1.0 },
            );
            add(
                StayKind::Copd,
                if h.copd && age >= 40 {
                    1.2 * season
                } else {
                    0.0
                },
            );
            add(
                StayKind::Stroke,
                if age >= 55 {
                    0.25 * if h.af { 3.0 } else { 1.0 } * if h.htn { 1.5 } else { 1.0 }
                } else {
                    0.0
                },
            );
            add(StayKind::Depression, if h.dep { 0.4 } else { 0.0 });
            add(StayKind::Cataract, if age >= 60 { 0.8 } else { 0.0 });
            add(
                StayKind::Endoscopy,
                if age >= 45 {
                    0.6
                } else if age >= 18 {
                    0.1
                } else {
                    0.0
                },
            );
            add(StayKind::Arthroplasty, if age >= 55 { 0.3 } else { 0.0 });
            add(
                StayKind::HipFracture,
                if age >= 75 { 0.35 * fem } else { 0.0 },
            );
            add(
                StayKind::Appendicitis,
                if (5..=40).contains(&age) { 0.12 } else { 0.02 },
            );
            add(
                StayKind::Cholecystectomy,
                if (25..=85).contains(&age) {
                    0.1 * fem
                } else {
                    0.0
                },
            );
            add(StayKind::Infection, if age >= 70 { 0.6 } else { 0.08 });
            add(StayKind::Syncope, if age >= 60 { 0.35 } else { 0.08 });
            add(
                StayKind::RenalColic,
                if (20..=65).contains(&age) { 0.15 } else { 0.0 },
            );
            add(
                StayKind::HeadInjury,
                if !(15..80).contains(&age) { 0.08 } else { 0.04 },
            );
            add(
                StayKind::BackPain,
                if (25..=75).contains(&age) { 0.15 } else { 0.0 },
            );
            let male = !female;
            add(
                StayKind::Hernia,
                if age >= 18 {
                    if male { 0.3 } else { 0.06 }
                } else {
                    0.02
                },
            );
            add(
                StayKind::Tonsils,
                if (3..=15).contains(&age) { 0.5 } else { 0.0 },
            );
            add(
                StayKind::Hysterectomy,
                if female && (35..=65).contains(&age) {
                    0.3
                } else {
                    0.0
                },
            );
            add(
                StayKind::Prostate,
                if male && age >= 60 { 0.4 } else { 0.0 },
            );
            add(StayKind::SleepApnea, if age >= 40 { 0.2 } else { 0.0 });
            add(
                StayKind::Bronchiolitis,
                if age < 2 { 1.2 * season } else { 0.0 },
            );
            add(
                StayKind::Asthma,
                if (2..=15).contains(&age) {
                    if h.resp { 1.0 } else { 0.1 }
                } else {
                    0.0
                },
            );
            add(
                StayKind::Gastroenteritis,
                if age < 5 {
                    0.6
                } else if age >= 75 {
                    0.25
                } else {
                    0.08
                },
            );
            add(StayKind::LimbFracture, if age >= 8 { 0.25 } else { 0.05 });
            add(
                StayKind::Miscarriage,
                if female && (18..=44).contains(&age) {
                    0.25
                } else {
                    0.0
                },
            );
            add(
                StayKind::Alcohol,
                if (18..=65).contains(&age) {
                    if male { 0.15 } else { 0.05 }
                } else {
                    0.0
                },
            );
            let total: f64 = s.weights.iter().map(|x| x.1).sum();
            let mut x = self.r.random::<f64>() * total;
            let mut def = s.weights[0].0;
            for &(k, wt) in s.weights.iter() {
                if x < wt {
                    def = k;
                    break;
                }
                x -= wt;
            }
            let (a, b) = STAYS[def].los;
            // Shorter stays are more frequent.
            let u = self.r.random::<f64>();
            let los = i32::from(a) + (u * u * f64::from(b - a + 1)) as i32;
            s.stays.push(StayPlan {
                start,
                los,
                def,
                terminal: false,
            });
        }
        // Sort, then remove overlaps by shifting.
        s.stays.sort_by_key(|x| (x.start, x.terminal));
        let mut end_prev = i32::MIN;
        let mut kept = 0;
        for i in 0..s.stays.len() {
            let mut st = s.stays[i];
            if !st.terminal {
                if st.start <= end_prev {
                    st.start = end_prev + 1;
                }
                if st.start > hi {
                    continue;
                }
                st.los = st.los.min(hi - st.start);
            } else if st.start <= end_prev {
                // The terminal stay is fixed; earlier stays were bounded by `hi`.
                continue;
            }
            end_prev = st.start + st.los;
            if kept < MAX_STAYS {
                s.stays[kept] = st;
                kept += 1;
            }
        }
        s.stays.truncate(kept);
    }

    fn write_stays(&mut self, s: &mut Scratch, out: &mut Bufs) {
        let ctx = self.ctx;
        let cal = &ctx.cal;
        let dept = &ctx.depts[usize::from(self.b.dept)];
        for k in 0..s.stays.len() {
            let st = s.stays[k];
            let def = &STAYS[st.def];
            let end = st.start + st.los;
            let eta = if def.kind == StayKind::Chemo || chance(&mut self.r, 0.4) {
                dept.etas[0]
            } else {
                dept.etas[self.r.random_range(0..dept.etas.len())]
            };
            let mut rsa = Vec::with_capacity(10);
            push_u64(&mut rsa, self.ctx.rsa_num(self.idx, k));
            let age = self.age_at(st.start);
            // Principal diagnosis and GHM root.
            let (dp, root) = if def.kind == StayKind::Diabetes && self.h.diab == 2 {
                pick(
                    &mut self.r,
                    &[
                        (("E109", "10M02"), 60),
                        (("E101", "10M03"), 25),
                        (("E105", "10M02"), 15),
                    ],
                )
            } else {
                let items = def.dp;
                let total: u32 = items.iter().map(|x| u32::from(x.2)).sum();
                let mut x = self.r.random_range(0..total.max(1));
                let mut sel = (items[0].0, items[0].1);
                for &(c, g, w) in items {
                    if x < u32::from(w) {
                        sel = (c, g);
                        break;
                    }
                    x -= u32::from(w);
                }
                sel
            };
            let mut ghm = [0u8; 6];
            ghm[..5].copy_from_slice(root.as_bytes());
            ghm[5] = self.severity(root.as_bytes(), st.los, age, def.kind);
            let dr = def
                .dr
                .and_then(|(c, p)| chance(&mut self.r, f64::from(p) / 100.0).then_some(c));
            let ent = if def.kind == StayKind::Newborn {
                b"8"
            } else {
                let u = self.r.random::<f64>();
                if u < 0.88 {
                    b"8"
                } else if u < 0.96 {
                    b"7"
                } else {
                    b"6"
                }
            };
            let sor: &[u8; 1] = if st.terminal {
                b"9"
            } else {
                let u = self.r.random::<f64>();
                if u < 0.93 {
                    b"8"
                } else if u < 0.98 {
                    b"7"
                } else {
                    b"6"
                }
            };
            let (ey, em, _) = cal.ymd(end);
            // T_MCO23B
            let mut row = Row::new(&mut out.data[MCOB]);
            row.raw(&eta).raw(&rsa).raw(dp.as_bytes());
            match dr {
                Some(c) => row.raw(c.as_bytes()),
                None => row.empty(),
            };
            row.raw(&ghm);
            if def.kind == StayKind::Chemo {
                row.empty();
            } else {
                row.int(st.los as u64);
            }
            row.raw(ent)
                .raw(sor)
                .int(age as u64)
                .int(u64::from(self.b.sex))
                .raw(&dept.pmsi)
                .int_pad(u64::from(em), 2)
                .int(u64::from(ey))
                .end();
            out.rows[MCOB] += 1;
            // T_MCO23C
            let ret: &[u8] = if chance(&mut self.r, 0.03) {
                b"1"
            } else {
                b"0"
            };
            Row::new(&mut out.data[MCOC])
                .raw(&eta)
                .raw(&rsa)
                .raw(&self.nir)
                .date(cal, st.start)
                .date(cal, end)
                .raw(ret)
                .end();
            out.rows[MCOC] += 1;
            // T_MCO23D: associated diagnoses (0 to 4).
            s.das.clear();
            for &(c, p) in def.das {
                if s.das.len() < 4 && c != dp && chance(&mut self.r, f64::from(p) / 100.0) {
                    s.das.push(c);
                }
            }
            let mut extra = |cond: bool, code: &'static str, p: f64, r: &mut ChaCha8Rng| {
                if cond
                    && s.das.len() < 4
                    && !s.das.contains(&code)
                    && !dp.starts_with(&code[..3])
                    && chance(r, p)
                {
                    s.das.push(code);
                }
            };
            extra(self.h.diab == 1, "E119", 0.6, &mut self.r);
            extra(self.h.diab == 2, "E109", 0.6, &mut self.r);
            extra(self.h.htn, "I10", 0.5, &mut self.r);
            extra(self.h.af, "I489", 0.5, &mut self.r);
            for c in &s.das {
                Row::new(&mut out.data[MCOD])
                    .raw(&eta)
                    .raw(&rsa)
                    .raw(c.as_bytes())
                    .end();
                out.rows[MCOD] += 1;
            }
            // T_MCO23A: acts.
            for &(c, p) in def.acts {
                if chance(&mut self.r, f64::from(p) / 100.0) {
                    let del = uni(&mut self.r, 0, st.los.min(2));
                    Row::new(&mut out.data[MCOA])
                        .raw(&eta)
                        .raw(&rsa)
                        .raw(c.as_bytes())
                        .int(del as u64)
                        .end();
                    out.rows[MCOA] += 1;
                }
            }
        }
    }

    fn severity(&mut self, root: &[u8], los: i32, age: i32, kind: StayKind) -> u8 {
        match kind {
            StayKind::Chemo => return b'Z',
            StayKind::Delivery | StayKind::Newborn => {
                return pick(&mut self.r, &[(b'A', 80), (b'B', 15), (b'C', 5)]);
            }
            _ => {}
        }
        if los == 0 {
            return if root.get(2).is_some_and(|&c| c == b'C' || c == b'K') {
                b'J'
            } else {
                b'T'
            };
        }
        let lvl: u8 = if age >= 75 {
            pick(&mut self.r, &[(1, 30), (2, 35), (3, 25), (4, 10)])
        } else {
            pick(&mut self.r, &[(1, 50), (2, 30), (3, 15), (4, 5)])
        };
        // Levels 2, 3, 4 need at least 3, 4, 5 days.
        let max = if los >= 3 { (los - 1).min(4) as u8 } else { 1 };
        b'0' + lvl.min(max)
    }

    fn write_ben(&mut self, out: &mut Bufs) {
        let ctx = self.ctx;
        let dept = &ctx.depts[usize::from(self.b.dept)];
        let mut row = Row::new(&mut out.data[BEN]);
        row.raw(&self.nir)
            .int(u64::from(self.rank))
            .int(u64::from(self.b.sex))
            .int_pad(u64::from(self.b.by), 4)
            .int_pad(u64::from(self.b.bm), 2)
            .raw(&dept.code)
            .int_pad(u64::from(self.b.commune), 3);
        match self.death {
            Some(d) => row.date(&ctx.cal, d),
            None => row.empty(),
        };
        row.end();
        out.rows[BEN] += 1;
    }
}

/// Generate person `idx` and append its rows to `out`.
pub(crate) fn person(ctx: &Ctx, idx: u64, s: &mut Scratch, out: &mut Bufs) {
    let id = identity(ctx, idx);
    let mut p = P {
        ctx,
        r: ctx.rng(idx, 1),
        idx,
        nir: ctx.nir(id.nir_of),
        rank: id.rank,
        b: id.base,
        death: None,
        lo: 0,
        hi: 0,
        h: Health::default(),
        typ: 1,
        ev: 0,
        frailty: 1.0,
    };
    p.frailty = (-(1.0 - p.r.random::<f64>()).ln()).min(5.0);
    p.typ = {
        let u = p.r.random::<f64>();
        if u < 0.88 {
            1
        } else if u < 0.94 {
            2
        } else {
            3
        }
    };
    p.health();
    p.mortality();
    let (lo, hi) = p.alive_window(0, LAST_DAY);
    p.lo = lo;
    p.hi = hi;
    p.write_ben(out);
    p.regimes(s);
    p.dcir(s);
    p.write_dcir(s, out);
    p.plan_stays(s);
    p.write_stays(s, out);
}

/// Rows of IR_PHA_R (static catalogue).
pub(crate) fn write_products(out: &mut Vec<u8>) -> u64 {
    let mut n = 0;
    for p in refs::products() {
        let def = &DRUGS[usize::from(p.drug)];
        let label = hdh_refdata::get("openmedic_ATC5")
            .and_then(|t| t.label(def.atc))
            .unwrap_or(def.atc)
            .trim();
        Row::new(out)
            .int(p.cip13)
            .raw(def.atc.as_bytes())
            .text(label)
            .text(&p.name)
            .end();
        n += 1;
    }
    n
}

/// What a person's entry in `IR_BEN_R` says of them: the holder's
/// pseudonym, sex, birth year and month, département and commune; and how
/// many communes the département has (to draw a move within it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Demographics {
    pub nir: [u8; 32],
    pub sex: u8,
    pub year: u16,
    pub month: u8,
    pub dept: [u8; 3],
    pub commune: u16,
    pub com_base: u16,
    pub communes: u16,
}

fn demographics_of(ctx: &Ctx, b: &Base, nir: [u8; 32]) -> Demographics {
    let d = &ctx.depts[usize::from(b.dept)];
    Demographics {
        nir,
        sex: b.sex,
        year: b.by,
        month: b.bm,
        dept: d.code,
        commune: b.commune,
        com_base: d.com_base,
        communes: d.communes.max(1),
    }
}

/// Person `idx` of the demo dataset, as `IR_BEN_R` shows it.
pub(crate) fn demographics(ctx: &Ctx, idx: u64) -> Demographics {
    let id = identity(ctx, idx);
    demographics_of(ctx, &id.base, ctx.nir(id.nir_of))
}

/// Someone drawn like the demo's persons but not among them (stream `k`).
pub(crate) fn outsider(ctx: &Ctx, k: u64) -> Demographics {
    let mut r = ctx.rng(u64::MAX - k, 7);
    let b = base_draws(ctx, &mut r);
    demographics_of(ctx, &b, [b'0'; 32])
}

/// Another département, drawn by population (a move).
pub(crate) fn other_dept(ctx: &Ctx, r: &mut ChaCha8Rng) -> ([u8; 3], u16, u16) {
    let d = &ctx.depts[pick_cum(r, &ctx.dept_cum)];
    (
        d.code,
        d.com_base + r.random_range(0..d.communes.max(1)),
        d.com_base,
    )
}
