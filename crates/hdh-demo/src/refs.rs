//! Static reference pools for the generator: départements weighted by population, the
//! drug catalogue (ATC codes from the OPENMEDIC tables), hospital stay templates (CIM-10
//! and CCAM codes from the vendored nomenclatures). Every code used here is checked
//! against `hdh-refdata` in the tests.

/// `(IR_DPT_V code, approximate population in thousands (INSEE, around 2021), number of
/// communes used for the synthetic commune code)`.
pub(crate) const DEPARTEMENTS: &[(&str, u32, u16)] = &[
    ("001", 657, 393),
    ("002", 529, 799),
    ("003", 335, 317),
    ("004", 165, 198),
    ("005", 141, 162),
    ("006", 1094, 163),
    ("007", 329, 335),
    ("008", 270, 449),
    ("009", 153, 327),
    ("010", 310, 431),
    ("011", 375, 433),
    ("012", 279, 285),
    ("013", 2043, 119),
    ("014", 694, 528),
    ("015", 144, 246),
    ("016", 352, 364),
    ("017", 655, 463),
    ("018", 302, 287),
    ("019", 240, 279),
    ("02A", 160, 124),
    ("02B", 182, 236),
    ("021", 534, 698),
    ("022", 601, 348),
    ("023", 116, 256),
    ("024", 413, 503),
    ("025", 544, 571),
    ("026", 517, 363),
    ("027", 600, 585),
    ("028", 432, 365),
    ("029", 917, 277),
    ("030", 751, 351),
    ("031", 1415, 586),
    ("032", 191, 461),
    ("033", 1636, 535),
    ("034", 1177, 342),
    ("035", 1095, 333),
    ("036", 218, 241),
    ("037", 612, 272),
    ("038", 1272, 512),
    ("039", 259, 494),
    ("040", 418, 327),
    ("041", 329, 267),
    ("042", 765, 323),
    ("043", 228, 257),
    ("044", 1443, 207),
    ("045", 682, 325),
    ("046", 174, 313),
    ("047", 331, 319),
    ("048", 77, 152),
    ("049", 820, 177),
    ("050", 492, 446),
    ("051", 565, 613),
    ("052", 171, 426),
    ("053", 307, 240),
    ("054", 733, 591),
    ("055", 182, 499),
    ("056", 763, 249),
    ("057", 1046, 725),
    ("058", 201, 309),
    ("059", 2611, 648),
    ("060", 829, 679),
    ("061", 276, 385),
    ("062", 1461, 890),
    ("063", 664, 464),
    ("064", 688, 546),
    ("065", 229, 469),
    ("066", 482, 226),
    ("067", 1145, 514),
    ("068", 767, 366),
    ("069", 1883, 267),
    ("070", 233, 539),
    ("071", 551, 565),
    ("072", 566, 354),
    ("073", 438, 273),
    ("074", 838, 279),
    ("075", 2133, 20),
    ("076", 1255, 708),
    ("077", 1421, 507),
    ("078", 1448, 259),
    ("079", 374, 256),
    ("080", 570, 772),
    ("081", 390, 314),
    ("082", 262, 195),
    ("083", 1090, 153),
    ("084", 562, 151),
    ("085", 690, 258),
    ("086", 438, 266),
    ("087", 372, 195),
    ("088", 361, 507),
    ("089", 335, 423),
    ("090", 141, 101),
    ("091", 1306, 194),
    ("092", 1624, 36),
    ("093", 1655, 40),
    ("094", 1407, 47),
    ("095", 1249, 184),
    ("971", 384, 32),
    ("972", 361, 34),
    ("973", 286, 22),
    ("974", 868, 24),
    ("976", 279, 17),
];

/// Age pyramid on 2021-01-01: `(first age, last age, population in thousands)` per band
/// (INSEE, rounded). The last entry is the births of 2021–2023 (age "-1").
pub(crate) const AGE_BANDS: &[(u8, u8, u32)] = &[
    (0, 4, 3600),
    (5, 9, 3950),
    (10, 14, 4150),
    (15, 19, 4100),
    (20, 24, 3800),
    (25, 29, 3750),
    (30, 34, 3950),
    (35, 39, 4200),
    (40, 44, 4150),
    (45, 49, 4450),
    (50, 54, 4400),
    (55, 59, 4350),
    (60, 64, 4100),
    (65, 69, 3900),
    (70, 74, 3600),
    (75, 79, 2450),
    (80, 84, 2000),
    (85, 89, 1400),
    (90, 94, 700),
    (95, 100, 230),
];
/// Births during 2021–2023, in thousands (about 720 000 a year).
pub(crate) const BIRTHS_IN_PERIOD_K: u32 = 2150;

/// Reimbursement class of a drug, with its `PRS_NAT_REF` (IR_NAT_V).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Rate {
    /// PH7 65 % (3313).
    Ph7,
    /// PH1 100 % (3311).
    Ph1,
    /// Influenza vaccine (3331), 100 % for the target population.
    FluVaccine,
}

impl Rate {
    pub(crate) fn nat(self) -> u16 {
        match self {
            Rate::Ph7 => 3313,
            Rate::Ph1 => 3311,
            Rate::FluVaccine => 3331,
        }
    }
    pub(crate) fn percent(self) -> u32 {
        match self {
            Rate::Ph7 => 65,
            Rate::Ph1 | Rate::FluVaccine => 100,
        }
    }
}

/// One active substance of the catalogue.
pub(crate) struct DrugDef {
    pub atc: &'static str,
    pub strength: &'static str,
    pub form: &'static str,
    /// Price of the reference box, in cents.
    pub price: u32,
    /// Units in the reference box.
    pub units: u16,
    pub rate: Rate,
    /// Chronic treatment (boxes of 30 and 90) or acute (small and large box).
    pub chronic: bool,
}

const fn d(
    atc: &'static str,
    strength: &'static str,
    form: &'static str,
    price: u32,
    units: u16,
    rate: Rate,
    chronic: bool,
) -> DrugDef {
    DrugDef {
        atc,
        strength,
        form,
        price,
        units,
        rate,
        chronic,
    }
}

use Rate::{FluVaccine, Ph1, Ph7};

/// Drug catalogue (real ATC level-5 codes; strengths, forms and prices are plausible, not
/// official).
pub(crate) const DRUGS: &[DrugDef] = &[
    // A10 diabetes
    d("A10BA02", "1000MG", "CPR", 380, 30, Ph7, true),
    d("A10BB09", "60MG", "CPR LM", 420, 30, Ph7, true),
    d("A10BH01", "100MG", "CPR", 2850, 28, Ph7, true),
    d("A10BD07", "50MG/1000MG", "CPR", 3050, 56, Ph7, true),
    d("A10BX14", "1,5MG", "STYLO", 8500, 4, Ph7, true),
    d("A10BX07", "6MG/ML", "STYLO", 9200, 2, Ph7, true),
    d("A10AE04", "100UI/ML", "STYLO", 4500, 5, Ph7, true),
    d("A10AB05", "100UI/ML", "STYLO", 3600, 5, Ph7, true),
    d("A10AB04", "100UI/ML", "STYLO", 3700, 5, Ph7, true),
    // C09 renin-angiotensin, C07, C08, C03, C10
    d("C09AA05", "5MG", "GELULE", 420, 30, Ph7, true),
    d("C09AA04", "5MG", "CPR", 610, 30, Ph7, true),
    d("C09CA01", "50MG", "CPR", 520, 30, Ph7, true),
    d("C09CA04", "150MG", "CPR", 590, 30, Ph7, true),
    d("C09CA03", "80MG", "CPR", 510, 30, Ph7, true),
    d("C09DA04", "150MG/12,5MG", "CPR", 780, 30, Ph7, true),
    d("C09BB04", "5MG/5MG", "CPR", 920, 30, Ph7, true),
    d("C07AB07", "2,5MG", "CPR", 350, 30, Ph7, true),
    d("C08CA01", "5MG", "GELULE", 310, 30, Ph7, true),
    d("C03CA01", "40MG", "CPR", 250, 30, Ph7, true),
    d("C10AA05", "20MG", "CPR", 610, 30, Ph7, true),
    d("C10AA07", "10MG", "CPR", 590, 30, Ph7, true),
    // B01 antithrombotics
    d("B01AC06", "75MG", "SACHET", 250, 30, Ph7, true),
    d("B01AC04", "75MG", "CPR", 880, 30, Ph7, true),
    d("B01AF02", "5MG", "CPR", 5500, 60, Ph7, true),
    d("B01AF01", "20MG", "CPR", 5400, 28, Ph7, true),
    d("B01AA07", "4MG", "CPR", 300, 30, Ph7, true),
    // N06A antidepressants, N05 psycholeptics
    d("N06AB10", "10MG", "CPR", 700, 28, Ph7, true),
    d("N06AB06", "50MG", "GELULE", 690, 28, Ph7, true),
    d("N06AB05", "20MG", "CPR", 620, 28, Ph7, true),
    d("N06AX16", "75MG", "GELULE LP", 920, 30, Ph7, true),
    d("N06AX11", "15MG", "CPR", 710, 30, Ph7, true),
    d("N05BA12", "0,25MG", "CPR", 190, 30, Ph7, true),
    d("N05BA08", "6MG", "CPR", 200, 30, Ph7, true),
    d("N05CF02", "10MG", "CPR", 210, 14, Ph7, true),
    d("N05CF01", "7,5MG", "CPR", 200, 14, Ph7, true),
    d("N05BB01", "25MG", "CPR", 290, 30, Ph7, true),
    d("N05AH04", "300MG", "CPR LP", 1500, 30, Ph7, true),
    d("N05AX08", "2MG", "CPR", 1210, 30, Ph7, true),
    // R03, H03, A02, L02, N02 chronic
    d("R03AK06", "50/250UG", "INHAL", 3000, 60, Ph7, true),
    d("R03AC02", "100UG", "SUSP INHAL", 410, 200, Ph7, true),
    d("R03BB04", "18UG", "GELULE INHAL", 4000, 30, Ph7, true),
    d("H03AA01", "75UG", "CPR", 240, 30, Ph7, true),
    d("A02BC01", "20MG", "GELULE", 400, 28, Ph7, true),
    d("A02BC05", "20MG", "CPR", 500, 28, Ph7, true),
    d("L02BA01", "20MG", "CPR", 1000, 30, Ph1, true),
    d("L02BG04", "2,5MG", "CPR", 3000, 30, Ph1, true),
    d("L02BG03", "1MG", "CPR", 2500, 30, Ph1, true),
    d("A11CC05", "100000UI", "AMPOULE", 210, 1, Ph7, true),
    // acute
    d("N02BE01", "1G", "CPR", 218, 8, Ph7, false),
    d("N02AX02", "50MG", "GELULE", 300, 30, Ph7, false),
    d("M01AE01", "400MG", "CPR", 200, 30, Ph7, false),
    d("J01CA04", "1G", "CPR", 290, 6, Ph7, false),
    d("J01CR02", "1G/125MG", "SACHET", 600, 8, Ph7, false),
    d("J01FA10", "250MG", "CPR", 500, 6, Ph7, false),
    d("J01DD13", "100MG", "CPR", 800, 10, Ph7, false),
    d("J01FG01", "500MG", "CPR", 1200, 16, Ph7, false),
    d("H02AB06", "20MG", "CPR", 300, 20, Ph7, false),
    d("J07BB02", "0,5ML", "SER", 1000, 1, FluVaccine, false),
];

/// Index of a drug by ATC code (panics only on a programming error in this file, which
/// the tests cover).
pub(crate) const fn drug(atc: &str) -> u16 {
    let mut i = 0;
    while i < DRUGS.len() {
        if const_eq(DRUGS[i].atc, atc) {
            return i as u16;
        }
        i += 1;
    }
    panic!("unknown ATC code in the drug catalogue");
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Presentations per drug: 3 (princeps box, generic box, generic large box).
pub(crate) const PRESENTATIONS: usize = 3;

/// One IR_PHA_R row.
pub(crate) struct Product {
    pub cip13: u64,
    pub drug: u16,
    /// Multiplier of the reference box (1 or 3).
    pub box_mult: u16,
    pub name: String,
    pub price: u32,
}

/// CIP-13 of presentation `p` of drug `i`: `34009` + 7 digits + EAN-13 check digit.
pub(crate) fn cip13(i: usize, p: usize) -> u64 {
    let n = (i * PRESENTATIONS + p) as u64;
    let seven = 3_000_000 + (n * 4_111) % 6_000_000;
    let body = 340_090_000_000 + seven; // 12 digits
    body * 10 + ean13_check(body)
}

/// EAN-13 check digit of a 12-digit body.
pub(crate) fn ean13_check(body: u64) -> u64 {
    let mut sum = 0;
    let mut b = body;
    // Digits from the right: positions 1, 3, 5… (from the right, in the 12-digit body)
    // weigh 3.
    for pos in 0..12 {
        let digit = b % 10;
        b /= 10;
        sum += if pos % 2 == 0 { digit * 3 } else { digit };
    }
    (10 - sum % 10) % 10
}

/// The IR_PHA_R catalogue (independent of the seed).
pub(crate) fn products() -> Vec<Product> {
    let mut out = Vec::with_capacity(DRUGS.len() * PRESENTATIONS);
    for (i, dd) in DRUGS.iter().enumerate() {
        let label = hdh_refdata::get("openmedic_ATC5")
            .and_then(|t| t.label(dd.atc))
            .unwrap_or(dd.atc)
            .trim();
        for p in 0..PRESENTATIONS {
            let (lab, mult) = match p {
                0 => ("DEMOPHARMA", 1u16),
                1 => ("GENERIDEMO", 1),
                _ => ("GENERIDEMO", if dd.chronic { 3 } else { 2 }),
            };
            let units = u32::from(dd.units) * u32::from(mult);
            // The large box is a little cheaper per unit.
            let price = if mult == 1 {
                if p == 0 {
                    dd.price + dd.price / 10
                } else {
                    dd.price
                }
            } else {
                dd.price * u32::from(mult) - dd.price / 5
            };
            out.push(Product {
                cip13: cip13(i, p),
                drug: i as u16,
                box_mult: mult,
                name: format!("{label} {lab} {} {} B/{units}", dd.strength, dd.form),
                price,
            });
        }
    }
    out
}

/// Kind of a hospital stay template.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StayKind {
    Diabetes,
    Coronary,
    HeartFailure,
    Arrhythmia,
    Pneumonia,
    Copd,
    Stroke,
    BreastSurgery,
    Chemo,
    Depression,
    Delivery,
    Newborn,
    Cataract,
    Endoscopy,
    Arthroplasty,
    HipFracture,
    Appendicitis,
    Cholecystectomy,
    Infection,
    Syncope,
    RenalColic,
    HeadInjury,
    BackPain,
    Hernia,
    Tonsils,
    Hysterectomy,
    Prostate,
    SleepApnea,
    Bronchiolitis,
    Asthma,
    Gastroenteritis,
    LimbFracture,
    Miscarriage,
    Alcohol,
    Terminal,
}

/// A stay template: diagnoses (weighted), GHM root, length of stay, acts.
pub(crate) struct StayDef {
    pub kind: StayKind,
    /// Principal diagnoses (MS_CIM_V) and their GHM root (5 characters), weighted.
    pub dp: &'static [(&'static str, &'static str, u16)],
    /// Possible related diagnosis (DGN_REL), with probability in percent.
    pub dr: Option<(&'static str, u8)>,
    /// Candidate associated diagnoses (T_MCOaaD) with probability in percent.
    pub das: &'static [(&'static str, u8)],
    /// Acts (IR_CCAM_V63) with probability in percent.
    pub acts: &'static [(&'static str, u8)],
    /// Length of stay range in days.
    pub los: (u16, u16),
}

const fn s(
    kind: StayKind,
    dp: &'static [(&'static str, &'static str, u16)],
    dr: Option<(&'static str, u8)>,
    das: &'static [(&'static str, u8)],
    acts: &'static [(&'static str, u8)],
    los: (u16, u16),
) -> StayDef {
    StayDef {
        kind,
        dp,
        dr,
        das,
        acts,
        los,
    }
}

use StayKind as K;

pub(crate) const STAYS: &[StayDef] = &[
    s(
        K::Diabetes,
        &[
            ("E119", "10M02", 30),
            ("E118", "10M02", 12),
            ("E112", "10M02", 15),
            ("E114", "10M02", 10),
            ("E115", "10M02", 18),
            ("E116", "10M02", 15),
        ],
        None,
        &[("I10", 45), ("E785", 30), ("E66", 25), ("N184", 10)],
        &[("DEQP003", 50), ("EQQM006", 20)],
        (1, 8),
    ),
    s(
        K::Coronary,
        &[
            ("I214", "05M04", 35),
            ("I219", "05M04", 25),
            ("I200", "05M06", 25),
            ("I251", "05M06", 15),
        ],
        None,
        &[("I10", 40), ("E785", 35), ("E119", 15), ("Z955", 10)],
        &[
            ("DEQP003", 80),
            ("DDQH009", 70),
            ("DDAF006", 50),
            ("DZQM006", 40),
        ],
        (1, 7),
    ),
    s(
        K::HeartFailure,
        &[("I500", "05M09", 50), ("I509", "05M09", 50)],
        None,
        &[
            ("I489", 30),
            ("N184", 20),
            ("I10", 40),
            ("J449", 10),
            ("E119", 15),
        ],
        &[("DZQM006", 60), ("ZBQK002", 70), ("DEQP003", 60)],
        (3, 15),
    ),
    s(
        K::Arrhythmia,
        &[("I480", "05M08", 50), ("I489", "05M08", 50)],
        None,
        &[("I10", 40), ("E785", 20)],
        &[("DEQP003", 90), ("DZQM006", 50)],
        (1, 5),
    ),
    s(
        K::Pneumonia,
        &[
            ("J189", "04M05", 40),
            ("J181", "04M05", 15),
            ("J159", "04M05", 10),
            ("J110", "04M05", 15),
            ("J111", "04M05", 10),
            ("J100", "04M05", 10),
        ],
        None,
        &[("E871", 15), ("J449", 15), ("E86", 15), ("R060", 10)],
        &[("ZBQK002", 90), ("GLHF001", 40), ("ZBQK001", 10)],
        (2, 12),
    ),
    s(
        K::Copd,
        &[("J441", "04M20", 60), ("J440", "04M20", 40)],
        None,
        &[("I10", 30), ("R060", 20), ("E46", 10)],
        &[("ZBQK002", 80), ("GLHF001", 50), ("GLQP012", 20)],
        (3, 10),
    ),
    s(
        K::Stroke,
        &[("I639", "01M30", 70), ("I64", "01M30", 30)],
        None,
        &[("I10", 50), ("I489", 20), ("E785", 20), ("Z740", 20)],
        &[("ACQK001", 70), ("ACQN001", 40), ("EBQM001", 50)],
        (4, 20),
    ),
    s(
        K::BreastSurgery,
        &[("C504", "09C04", 50), ("C509", "09C05", 50)],
        None,
        &[("I10", 15)],
        &[("QEFA004", 65), ("QEFA003", 35), ("ZZLP025", 50)],
        (1, 4),
    ),
    s(
        K::Chemo,
        &[("Z511", "28Z07", 100)],
        Some(("C509", 100)),
        &[],
        &[],
        (0, 0),
    ),
    s(
        K::Depression,
        &[
            ("F322", "19M06", 35),
            ("F321", "19M06", 25),
            ("F331", "19M06", 20),
            ("F332", "19M06", 20),
        ],
        None,
        &[("F102", 15), ("F100", 5)],
        &[],
        (5, 30),
    ),
    s(
        K::Delivery,
        &[("O800", "14Z14", 80), ("O820", "14C08", 20)],
        None,
        &[("Z370", 100)],
        &[
            ("JQGD010", 45),
            ("JQGD012", 35),
            ("JQGA002", 10),
            ("JQGA004", 10),
        ],
        (2, 5),
    ),
    s(
        K::Newborn,
        &[("Z380", "15M05", 93), ("P073", "15M06", 7)],
        None,
        &[],
        &[],
        (2, 5),
    ),
    s(
        K::Cataract,
        &[("H251", "02C05", 60), ("H259", "02C05", 40)],
        None,
        &[("E119", 15)],
        &[("BFGA427", 100)],
        (0, 0),
    ),
    s(
        K::Endoscopy,
        &[
            ("K573", "06K04", 30),
            ("R104", "06K04", 20),
            ("K297", "06K04", 20),
            ("K219", "06K04", 15),
            ("K922", "06K04", 15),
        ],
        None,
        &[],
        &[
            ("HHQE002", 60),
            ("HEQE002", 50),
            ("HZHE002", 30),
            ("ZZLP025", 40),
        ],
        (0, 1),
    ),
    s(
        K::Arthroplasty,
        &[("M161", "08C47", 55), ("M171", "08C24", 45)],
        None,
        &[("E66", 20), ("I10", 30)],
        &[("NEKA020", 55), ("NFKA007", 45), ("ZZLP025", 60)],
        (2, 8),
    ),
    s(
        K::HipFracture,
        &[("S7200", "08C48", 60), ("S7210", "08C48", 40)],
        None,
        &[("W19", 80), ("Z740", 30), ("R410", 15)],
        &[("NEKA018", 50), ("NBCA005", 50), ("ZBQK002", 40)],
        (5, 15),
    ),
    s(
        K::Appendicitis,
        &[("K358", "06C09", 100)],
        None,
        &[],
        &[("HHFA016", 100), ("ZCQM005", 40)],
        (1, 4),
    ),
    s(
        K::Cholecystectomy,
        &[("K801", "07C14", 60), ("K800", "07C14", 40)],
        None,
        &[("E66", 20)],
        &[("HMFC004", 100), ("ZCQM001", 30)],
        (0, 4),
    ),
    s(
        K::Infection,
        &[
            ("N390", "11M04", 65),
            ("A419", "18M07", 20),
            ("L039", "09M05", 15),
        ],
        None,
        &[("E86", 25), ("R410", 15), ("E871", 10)],
        &[("ZZQM004", 20)],
        (2, 10),
    ),
    s(
        K::Syncope,
        &[
            ("R55", "05M05", 50),
            ("R53", "23M03", 20),
            ("R074", "05M13", 30),
        ],
        None,
        &[("I10", 30)],
        &[("DEQP003", 80), ("DEQP005", 20)],
        (0, 3),
    ),
    s(
        K::RenalColic,
        &[("N200", "11M05", 100)],
        None,
        &[],
        &[("ZCQM005", 60)],
        (0, 3),
    ),
    s(
        K::HeadInjury,
        &[("S0600", "01M15", 100)],
        None,
        &[("W19", 50)],
        &[("ACQK001", 90)],
        (0, 2),
    ),
    s(
        K::BackPain,
        &[("M545", "08M16", 50), ("M544", "08M16", 50)],
        None,
        &[],
        &[("LHQK001", 50)],
        (1, 5),
    ),
    s(
        K::Hernia,
        &[("K409", "06C12", 85), ("K402", "06C12", 15)],
        None,
        &[],
        &[("LMMA012", 60), ("LMMC003", 40)],
        (0, 2),
    ),
    s(
        K::Tonsils,
        &[("J353", "03C10", 60), ("J351", "03C10", 40)],
        None,
        &[],
        &[("FAFA014", 100)],
        (0, 2),
    ),
    s(
        K::Hysterectomy,
        &[("D259", "13C03", 70), ("N800", "13C03", 30)],
        None,
        &[],
        &[("JKFC005", 60), ("JKFA018", 40)],
        (1, 5),
    ),
    s(
        K::Prostate,
        &[("N40", "12C11", 100)],
        None,
        &[("I10", 30)],
        &[("JGFE023", 60), ("JGFE365", 40)],
        (1, 4),
    ),
    s(
        K::SleepApnea,
        &[("G473", "03K02", 100)],
        None,
        &[("E66", 40), ("I10", 30)],
        &[("AMQP010", 70), ("AMQP011", 30)],
        (0, 1),
    ),
    s(
        K::Bronchiolitis,
        &[("J219", "04M18", 60), ("J210", "04M18", 40)],
        None,
        &[],
        &[("ZBQK002", 30)],
        (1, 6),
    ),
    s(
        K::Asthma,
        &[("J459", "04M15", 100)],
        None,
        &[],
        &[("ZBQK002", 40), ("GLQP012", 20)],
        (1, 4),
    ),
    s(
        K::Gastroenteritis,
        &[
            ("A090", "06M11", 40),
            ("A099", "06M11", 40),
            ("K529", "06M11", 20),
        ],
        None,
        &[("E86", 40), ("E871", 10)],
        &[],
        (1, 4),
    ),
    s(
        K::LimbFracture,
        &[("S5250", "08C44", 55), ("S8260", "08C50", 45)],
        None,
        &[("W19", 60)],
        &[("MCCB004", 55), ("NCCA005", 45), ("ZZLP025", 50)],
        (0, 3),
    ),
    s(
        K::Miscarriage,
        &[
            ("O034", "14C02", 50),
            ("O039", "14C02", 35),
            ("O021", "14C02", 15),
        ],
        None,
        &[],
        &[("JNJD002", 70), ("JNJP001", 30)],
        (0, 1),
    ),
    s(
        K::Alcohol,
        &[("F100", "20Z02", 100)],
        None,
        &[("S0600", 10)],
        &[],
        (0, 2),
    ),
    s(
        K::Terminal,
        &[
            ("I509", "05M09", 25),
            ("J189", "04M05", 20),
            ("A419", "18M07", 15),
            ("I639", "01M30", 12),
            ("C349", "04M08", 10),
            ("C189", "06M07", 6),
            ("G309", "01M29", 6),
            ("E46", "10M14", 6),
        ],
        None,
        &[("Z515", 50), ("E46", 20), ("I10", 30), ("R410", 15)],
        &[("ZBQK002", 40), ("ZZQK002", 20)],
        (1, 20),
    ),
];

pub(crate) const fn stay(kind: StayKind) -> usize {
    let mut i = 0;
    while i < STAYS.len() {
        if STAYS[i].kind as u8 == kind as u8 {
            return i;
        }
        i += 1;
    }
    panic!("unknown stay kind");
}
