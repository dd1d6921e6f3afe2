use super::*;
use crate::blocking::{candidate_pairs, covered};
use crate::compare::Compiled;
use crate::model::Linker;
use crate::settings::{Level, Rule};
use rand::{Rng, SeedableRng};

fn col(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(str::to_string)).collect()
}

fn records(ids: usize, cols: &[(&str, Vec<Option<String>>)]) -> Records {
    let mut r = Records::new((0..ids).map(|i| format!("r{i}")).collect());
    for (name, values) in cols {
        r = r.with_column(name, values.clone()).unwrap();
    }
    r
}

/// Data simulated with known parameters: a category of K values (uniform,
/// so u of an exact match is 1/K) copied with an error rate e (so m is 1 − e).
#[test]
fn em_recovers_known_m_and_u() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let fields = [
        ("a", 20, 0.05),
        ("b", 50, 0.10),
        ("c", 12, 0.02),
        ("d", 30, 0.15),
    ];
    let persons = 3000;
    let extra = 1000; // right-only records
    let mut left_cols: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut right_cols: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let block: Vec<u32> = (0..persons + extra)
        .map(|_| rng.random_range(0..150))
        .collect();
    left_cols.push((
        "blk".into(),
        (0..persons).map(|p| Some(block[p].to_string())).collect(),
    ));
    right_cols.push((
        "blk".into(),
        (0..persons + extra)
            .map(|p| Some(block[p].to_string()))
            .collect(),
    ));
    for &(name, k, e) in &fields {
        let truth: Vec<u32> = (0..persons + extra)
            .map(|_| rng.random_range(0..k))
            .collect();
        left_cols.push((
            name.into(),
            (0..persons).map(|p| Some(truth[p].to_string())).collect(),
        ));
        right_cols.push((
            name.into(),
            (0..persons + extra)
                .map(|p| {
                    let mut v = truth[p];
                    if p < persons && rng.random_bool(e) {
                        // An error gives another value.
                        v = (v + rng.random_range(1..k)) % k;
                    }
                    Some(v.to_string())
                })
                .collect(),
        ));
    }
    let build = |n: usize, cols: Vec<(String, Vec<Option<String>>)>| {
        let mut r = Records::new((0..n).map(|i| i.to_string()).collect());
        for (c, v) in cols {
            r = r.with_column(&c, v).unwrap();
        }
        r
    };
    let left = build(persons, left_cols);
    let right = build(persons + extra, right_cols);
    let mut toml = String::from(
        "link_type = \"link_only\"\n[[blocking]]\ncolumns = [\"blk\"]\n[training]\nu_pairs = 400000\nmax_iterations = 200\ntolerance = 1e-7\n[[training.blocking]]\ncolumns = [\"blk\"]\n",
    );
    for (name, _, _) in &fields {
        toml.push_str(&format!(
            "[[comparison]]\nname = \"{name}\"\ncolumns = [\"{name}\"]\nlevels = [{{ kind = \"exact\" }}]\n"
        ));
    }
    let settings = Settings::from_toml(&toml).unwrap();
    let linker = Linker::new(&settings, &left, &right).unwrap();
    let model = linker.train().unwrap();
    for (p, &(name, k, e)) in model.comparisons.iter().zip(&fields) {
        let (m, u) = (p.m[0], p.u[0]);
        assert!(
            (m - (1.0 - e)).abs() < 0.02,
            "{name}: m {m} for {}",
            1.0 - e
        );
        let u_true = 1.0 / k as f64;
        assert!(
            (u - u_true).abs() < 0.1 * u_true + 0.002,
            "{name}: u {u} for {u_true}"
        );
    }
    assert!(model.sessions[0].converged, "{:?}", model.sessions);
}

#[test]
fn term_frequencies_weigh_rare_names_more() {
    let mut names = vec![Some("MARTIN"); 40];
    names.extend([Some("ZYLBERSZTEJN"), Some("DUPONT"), Some("DUPONT")]);
    let n = names.len();
    let left = records(
        n,
        &[("surname", col(&names)), ("blk", col(&vec![Some("x"); n]))],
    );
    let toml = |tf: bool| {
        format!(
            "link_type = \"dedupe_only\"\n[[blocking]]\ncolumns = [\"blk\"]\n[[comparison]]\nname = \"surname\"\ncolumns = [\"surname\"]\ntf_adjust = {tf}\nlevels = [{{ kind = \"exact\" }}]\n"
        )
    };
    let model = model::Model {
        lambda: 0.01,
        comparisons: vec![model::ComparisonParams {
            name: "surname".into(),
            levels: vec!["exact".into(), "else".into()],
            m: vec![0.9, 0.1],
            u: vec![0.2, 0.8],
            tf_adjust: true,
        }],
        sessions: vec![],
    };
    let s = Settings::from_toml(&toml(true)).unwrap();
    let linker = Linker::new(&s, &left, &left).unwrap();
    let common = linker.explain(&model, (0, 1))[1].clone();
    let rare_pair = {
        // Two records named ZYLBERSZTEJN: add one.
        let mut names = names.clone();
        names.push(Some("ZYLBERSZTEJN"));
        names
    };
    let left2 = records(
        rare_pair.len(),
        &[
            ("surname", col(&rare_pair)),
            ("blk", col(&vec![Some("x"); rare_pair.len()])),
        ],
    );
    let linker2 = Linker::new(&s, &left2, &left2).unwrap();
    let rare = linker2.explain(&model, (40, 43))[1].clone();
    assert!(common.tf_adjusted && rare.tf_adjusted);
    assert!(rare.weight > common.weight + 3.0, "{rare:?} vs {common:?}");
    // log2(m / tf): MARTIN is 40 of 43 records.
    assert!((common.weight - (0.9f64 / (40.0 / 43.0)).log2()).abs() < 1e-9);
    // Without the adjustment both weigh log2(m / u).
    let s = Settings::from_toml(&toml(false)).unwrap();
    let plain = Linker::new(&s, &left2, &left2).unwrap();
    let a = plain.explain(&model, (0, 1))[1].weight;
    let b = plain.explain(&model, (40, 43))[1].weight;
    assert_eq!(a, b);
    assert!((a - (0.9f64 / 0.2).log2()).abs() < 1e-9);
}

#[test]
fn blocking_never_loses_a_pair_a_rule_covers() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut generate = |n: usize| {
        let mut v = |k: u32, missing: f64| -> Vec<Option<String>> {
            (0..n)
                .map(|_| (!rng.random_bool(missing)).then(|| rng.random_range(0..k).to_string()))
                .collect()
        };
        let (x, y, z) = (v(4, 0.1), v(6, 0.2), v(3, 0.0));
        records(n, &[("x", x), ("y", y), ("z", z)])
    };
    let left = generate(70);
    let right = generate(55);
    let rules = vec![
        Rule {
            columns: vec!["x".into(), "y".into()],
            salt: 0,
        },
        Rule {
            columns: vec!["z".into()],
            salt: 3,
        },
        Rule {
            columns: vec!["y".into()],
            salt: 0,
        },
    ];
    for link in [LinkType::LinkOnly, LinkType::DedupeOnly] {
        let other = if link == LinkType::LinkOnly {
            &right
        } else {
            &left
        };
        let pairs = candidate_pairs(&left, other, &rules, link).unwrap();
        let set: std::collections::HashSet<_> = pairs.iter().copied().collect();
        assert_eq!(set.len(), pairs.len(), "{link:?}: a pair generated twice");
        let mut expected = 0;
        for i in 0..left.len() {
            for j in 0..other.len() {
                if link == LinkType::DedupeOnly && j <= i {
                    continue;
                }
                let c = covered(&left, other, &rules, i, j).unwrap();
                assert_eq!(
                    c,
                    set.contains(&(i as u32, j as u32)),
                    "{link:?} ({i}, {j})"
                );
                expected += usize::from(c);
            }
        }
        assert_eq!(pairs.len(), expected);
        // Salt spreads the work, never changes the pairs.
        let unsalted: Vec<Rule> = rules
            .iter()
            .map(|r| Rule {
                salt: 0,
                ..r.clone()
            })
            .collect();
        assert_eq!(
            candidate_pairs(&left, other, &unsalted, link).unwrap(),
            pairs
        );
    }
}

#[test]
fn deterministic_linkage_reports_collisions() {
    let left = records(
        5,
        &[
            (
                "nir",
                col(&[Some("A"), Some("B"), Some("B"), Some("C"), None]),
            ),
            (
                "dob",
                col(&[
                    Some("1980-01-01"),
                    Some("1990-05-05"),
                    Some("1990-05-05"),
                    Some("1970-03-03"),
                    Some("2000-01-01"),
                ]),
            ),
            (
                "rank",
                col(&[Some("1"), Some("1"), Some("1"), Some("1"), Some("1")]),
            ),
        ],
    );
    let right = records(
        4,
        &[
            ("nir", col(&[Some("B"), Some("A"), Some("D"), Some("C")])),
            (
                "dob",
                col(&[
                    Some("1990-05-05"),
                    Some("1980-01-01"),
                    Some("1999-09-09"),
                    Some("1970-03-03"),
                ]),
            ),
            ("rank", col(&[Some("1"), Some("1"), Some("1"), Some("1")])),
        ],
    );
    let on: Vec<String> = ["nir", "dob", "rank"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let r = deterministic::link(&left, &right, &on).unwrap();
    // Twins under one holder (records 1 and 2) without their rank: a collision.
    assert_eq!(r.links, vec![(0, 1), (3, 3)]);
    assert_eq!(r.collisions_left, vec![vec![1, 2]]);
    assert!(r.collisions_right.is_empty());
    assert_eq!(r.incomplete_left, vec![4]);
    assert_eq!(r.unmatched_right, vec![2]);
    assert_eq!(
        r.ambiguous_right,
        vec![0],
        "B's partner is one of the twins"
    );
    assert!(r.unmatched_left.is_empty());
    // With the rank telling them apart, both twins link.
    let left = left
        .clone()
        .with_column(
            "rank2",
            col(&[Some("1"), Some("1"), Some("2"), Some("1"), Some("1")]),
        )
        .unwrap();
    let right = right
        .with_column("rank2", col(&[Some("2"), Some("1"), Some("1"), Some("1")]))
        .unwrap();
    let on: Vec<String> = ["nir", "dob", "rank2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let r = deterministic::link(&left, &right, &on).unwrap();
    assert_eq!(r.links, vec![(0, 1), (2, 0), (3, 3)]);
    assert!(r.collisions_left.is_empty());
    assert_eq!(r.unmatched_left, vec![1]);
}

#[test]
fn malformed_settings_name_the_key() {
    let base = "link_type = \"link_only\"\n[[blocking]]\ncolumns = [\"s\"]\n[[comparison]]\nname = \"s\"\ncolumns = [\"s\"]\n";
    let ok = format!("{base}levels = [{{ kind = \"exact\" }}]\n");
    Settings::from_toml(&ok).unwrap();
    let err = |t: &str| Settings::from_toml(t).unwrap_err().to_string();
    let e = err(&format!("thresold = 0.5\n{ok}"));
    assert!(e.contains("thresold"), "{e}");
    let e = err(&format!("threshold = 1.5\n{ok}"));
    assert!(e.starts_with("threshold:"), "{e}");
    let e = err(&format!(
        "{base}levels = [{{ kind = \"exact\" }}, {{ kind = \"jaro_winkler\", threshold = 1.4 }}]\n"
    ));
    assert!(
        e.starts_with("comparison[0] (\"s\").levels[1].threshold:"),
        "{e}"
    );
    let e = err(&format!("{base}levels = [{{ kind = \"soundex\" }}]\n"));
    assert!(e.contains("soundex"), "{e}");
    let e = err(&format!(
        "{base}levels = [{{ kind = \"within_km\", km = 5.0 }}]\n"
    ));
    assert!(e.contains("comparison[0] (\"s\").columns"), "{e}");
    let e = err(&ok.replace("link_only", "link_both"));
    assert!(e.contains("link_both"), "{e}");
    // A column the records lack is named too.
    let s = Settings::from_toml(&ok).unwrap();
    let r = records(2, &[("t", col(&[Some("a"), Some("b")]))]);
    let e = match Linker::new(&s, &r, &r) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a missing column was accepted"),
    };
    assert!(e.contains("no column \"s\""), "{e}");
}

#[test]
fn levels_of_dates_strings_and_places() {
    let left = records(
        1,
        &[
            ("d", col(&[Some("1985-03-07")])),
            ("n", col(&[Some("DUPONT")])),
            ("lat", col(&[Some("48.8566")])),
            ("lon", col(&[Some("2.3522")])),
        ],
    );
    let right = records(
        5,
        &[
            (
                "d",
                col(&[
                    Some("19850703"),
                    Some("1985-03-09"),
                    Some("1990-01-01"),
                    None,
                    Some("1985-03-07"),
                ]),
            ),
            (
                "n",
                col(&[
                    Some("DUPOND"),
                    Some("DUPONT"),
                    Some("DUPNOT"),
                    Some("MARTIN"),
                    None,
                ]),
            ),
            (
                "lat",
                col(&[
                    Some("48.8049"),
                    Some("45.7640"),
                    None,
                    Some("48.8566"),
                    Some("48.8566"),
                ]),
            ),
            (
                "lon",
                col(&[
                    Some("2.1204"),
                    Some("4.8357"),
                    None,
                    Some("2.3522"),
                    Some("2.3522"),
                ]),
            ),
        ],
    );
    let comp = |levels: Vec<Level>, columns: &[&str]| {
        Compiled::new(
            &settings::Comparison {
                name: "x".into(),
                columns: columns.iter().map(|s| s.to_string()).collect(),
                levels,
                tf_adjust: false,
            },
            &left,
            &right,
        )
        .unwrap()
    };
    let d = comp(
        vec![
            Level::Exact,
            Level::DateSwapped,
            Level::DateWithin { days: 3 },
        ],
        &["d"],
    );
    let got: Vec<u8> = (0..5).map(|j| d.level(&left, 0, &right, j)).collect();
    assert_eq!(got, vec![1, 2, 3, compare::NULL, 0]);
    let n = comp(
        vec![
            Level::Exact,
            Level::JaroWinkler { threshold: 0.9 },
            Level::DamerauLevenshtein { max: 1 },
        ],
        &["n"],
    );
    let got: Vec<u8> = (0..5).map(|j| n.level(&left, 0, &right, j)).collect();
    // DUPOND ~ DUPONT by Jaro-Winkler; DUPNOT is one transposition away.
    assert_eq!(got[..4], [1, 0, 1, 3]);
    let p = comp(
        vec![Level::WithinKm { km: 20.0 }, Level::WithinKm { km: 500.0 }],
        &["lat", "lon"],
    );
    let got: Vec<u8> = (0..5).map(|j| p.level(&left, 0, &right, j)).collect();
    // Paris–Versailles ~17 km, Paris–Lyon ~392 km.
    assert_eq!(got, vec![0, 1, compare::NULL, 0, 0]);
}

#[test]
fn a_small_linkage_end_to_end() {
    // Persons with a typo here and there, a swapped birth date, a missing
    // value; the model finds them and nobody else.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let first = [
        "JEAN", "MARIE", "PIERRE", "ANNE", "LUC", "CLAIRE", "PAUL", "SOPHIE", "LOUIS", "EMMA",
    ];
    let last = [
        "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
        "LAURENT", "SIMON", "MICHEL",
    ];
    let n = 400;
    let mut people = Vec::new();
    for _ in 0..n {
        people.push((
            first[rng.random_range(0..first.len())].to_string(),
            last[rng.random_range(0..last.len())].to_string(),
            format!(
                "19{:02}-{:02}-{:02}",
                rng.random_range(30..99),
                rng.random_range(1..13),
                rng.random_range(1..29)
            ),
            rng.random_range(1..96).to_string(),
        ));
    }
    let typo = |s: &str, rng: &mut rand_chacha::ChaCha8Rng| {
        let mut c: Vec<char> = s.chars().collect();
        let i = rng.random_range(0..c.len() - 1);
        c.swap(i, i + 1);
        c.into_iter().collect::<String>()
    };
    let mut right_people = Vec::new();
    for (k, p) in people.iter().enumerate() {
        let mut q = p.clone();
        match k % 5 {
            0 => q.1 = typo(&q.1, &mut rng),
            1 => {
                let d = compare::date(&q.2).unwrap();
                use chrono::Datelike;
                if d.day() <= 12 {
                    q.2 = format!("{}-{:02}-{:02}", d.year(), d.day(), d.month());
                }
            }
            2 => q.3 = String::new(),
            _ => {}
        }
        right_people.push(q);
    }
    let to_records = |ps: &[(String, String, String, String)]| {
        records(
            ps.len(),
            &[
                ("first", ps.iter().map(|p| Some(p.0.clone())).collect()),
                ("last", ps.iter().map(|p| Some(p.1.clone())).collect()),
                ("dob", ps.iter().map(|p| Some(p.2.clone())).collect()),
                ("dpt", ps.iter().map(|p| Some(p.3.clone())).collect()),
                (
                    "year",
                    ps.iter().map(|p| Some(p.2[..4].to_string())).collect(),
                ),
            ],
        )
    };
    let (left, right) = (to_records(&people), to_records(&right_people));
    let settings = Settings::from_toml(
        r#"
link_type = "link_only"
threshold = 0.9
recall = 0.7
[[blocking]]
columns = ["dob"]
[[blocking]]
columns = ["last", "year"]
[[blocking]]
columns = ["first", "dpt"]
[[deterministic]]
columns = ["first", "last", "dob"]
[training]
u_pairs = 100000
[[training.blocking]]
columns = ["dob"]
[[training.blocking]]
columns = ["last", "year"]
[[comparison]]
name = "first"
columns = ["first"]
tf_adjust = true
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }]
[[comparison]]
name = "last"
columns = ["last"]
levels = [{ kind = "exact" }, { kind = "jaro_winkler", threshold = 0.9 }, { kind = "damerau_levenshtein", max = 2 }]
[[comparison]]
name = "dob"
columns = ["dob"]
levels = [{ kind = "exact" }, { kind = "date_swapped" }, { kind = "date_within", days = 365 }]
[[comparison]]
name = "dpt"
columns = ["dpt"]
levels = [{ kind = "exact" }]
"#,
    )
    .unwrap();
    let linker = Linker::new(&settings, &left, &right).unwrap();
    let model = linker.train().unwrap();
    let pairs = linker.blocked_pairs().unwrap();
    let scored = linker.score(&model, &pairs);
    let links: Vec<_> = scored
        .iter()
        .filter(|s| s.probability >= settings.threshold)
        .map(|s| s.pair)
        .collect();
    // Weighing the pairs as blocking makes them finds the same links.
    let found = linker.links(&model, settings.threshold).unwrap();
    assert_eq!(found.candidates, pairs.len());
    assert_eq!(
        found.links,
        scored
            .iter()
            .filter(|s| s.probability >= settings.threshold)
            .copied()
            .collect::<Vec<_>>()
    );
    let tp = links.iter().filter(|(i, j)| i == j).count();
    let precision = tp as f64 / links.len() as f64;
    let recall = tp as f64 / n as f64;
    assert!(
        precision > 0.97 && recall > 0.95,
        "precision {precision}, recall {recall}"
    );
    // The explanation adds up to the weight.
    let s = scored.iter().find(|s| s.pair == (0, 0)).unwrap();
    let terms = linker.explain(&model, (0, 0));
    let sum: f64 = terms.iter().map(|t| t.weight).sum();
    assert!((sum - s.weight).abs() < 1e-9, "{terms:?}");
    assert_eq!(terms[1].comparison, "first");
    // Clusters: each linked pair is one entity.
    let ids = cluster::clusters(left.len(), right.len(), &links, LinkType::LinkOnly);
    assert_eq!(ids[0], ids[n]);
}

/// The bounds that skip string comparisons never change a level: the
/// levels agree with strsim computed on every pair.
#[test]
fn string_levels_agree_with_strsim_on_every_pair() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let alphabet: Vec<char> = "ABCDEÉ".chars().collect();
    let words: Vec<String> = (0..300)
        .map(|_| {
            let n = rng.random_range(1..9);
            (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect()
        })
        .collect();
    let n = words.len();
    let r = records(n, &[("w", words.iter().map(|w| Some(w.clone())).collect())]);
    let levels = vec![
        Level::JaroWinkler { threshold: 0.92 },
        Level::DamerauLevenshtein { max: 1 },
        Level::JaroWinkler { threshold: 0.75 },
        Level::DamerauLevenshtein { max: 3 },
    ];
    let c = Compiled::new(
        &settings::Comparison {
            name: "w".into(),
            columns: vec!["w".into()],
            levels: levels.clone(),
            tf_adjust: false,
        },
        &r,
        &r,
    )
    .unwrap();
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (&words[i], &words[j]);
            let expected = levels
                .iter()
                .position(|l| match l {
                    Level::JaroWinkler { threshold } => strsim::jaro_winkler(a, b) >= *threshold,
                    Level::DamerauLevenshtein { max } => strsim::damerau_levenshtein(a, b) <= *max,
                    _ => unreachable!(),
                })
                .unwrap_or(levels.len()) as u8;
            assert_eq!(c.level(&r, i, &r, j), expected, "{a:?} {b:?}");
        }
    }
}

#[test]
fn damerau_levenshtein_agrees_with_strsim() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let alphabet = b"ABCD";
    for _ in 0..20_000 {
        let mut word = |max: usize| -> String {
            let n = rng.random_range(0..max);
            (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                .collect()
        };
        let (a, b) = (word(12), word(12));
        assert_eq!(
            compare::damerau_levenshtein(&a, &b),
            strsim::damerau_levenshtein(&a, &b),
            "{a:?} {b:?}"
        );
    }
    // Known answers.
    assert_eq!(compare::damerau_levenshtein("CA", "ABC"), 2);
    assert_eq!(compare::damerau_levenshtein("19800102", "19800120"), 1);
    assert_eq!(compare::damerau_levenshtein("MARTIN", "MATRIN"), 1);
}

/// Known answers from `clkhash` 0.18.3 (`double_hash_encode_ngrams` over
/// `NgramComparison(2)` tokens, keys b"secret-sha1-key", b"secret-md5-key").
#[test]
fn pprl_encodings_match_clkhash() {
    use pprl::{FieldEncoding, Secret, encode};
    let cases: [(&str, usize, usize, &[usize]); 3] = [
        (
            "JEAN",
            20,
            1024,
            &[
                8, 40, 41, 66, 67, 68, 89, 111, 112, 122, 132, 144, 158, 164, 186, 203, 220, 229,
                232, 251, 256, 278, 284, 288, 296, 320, 352, 365, 369, 372, 380, 391, 398, 412,
                413, 417, 444, 446, 448, 484, 498, 504, 509, 518, 524, 527, 531, 536, 553, 560,
                564, 568, 579, 600, 608, 628, 636, 638, 649, 660, 671, 676, 684, 689, 692, 693,
                712, 730, 741, 752, 770, 784, 788, 804, 811, 816, 822, 828, 833, 850, 851, 855,
                864, 896, 903, 904, 908, 924, 932, 940, 951, 970, 973, 984, 995, 1016,
            ],
        ),
        (
            "1980-01-02",
            10,
            512,
            &[
                8, 12, 18, 24, 25, 42, 43, 49, 50, 57, 60, 64, 65, 68, 71, 75, 86, 87, 102, 107,
                126, 161, 164, 166, 169, 173, 176, 189, 192, 197, 209, 216, 220, 223, 230, 242,
                245, 262, 268, 271, 277, 281, 282, 284, 291, 294, 298, 313, 320, 324, 328, 334,
                346, 353, 362, 364, 372, 373, 375, 378, 385, 389, 396, 398, 399, 403, 422, 424,
                435, 441, 442, 448, 450, 452, 455, 456, 460, 464, 468, 471, 472, 476, 479, 480,
                482, 483, 484, 486, 493, 502,
            ],
        ),
        ("É", 5, 128, &[3, 11, 44, 107, 115, 123]),
    ];
    for (value, k, bits, expected) in cases {
        let secret = Secret {
            key_sha1: b"secret-sha1-key".to_vec(),
            key_md5: b"secret-md5-key".to_vec(),
            bits,
        };
        let how = FieldEncoding {
            q: 2,
            k,
            salt: None,
        };
        let f = encode(&secret, &[(Some(value), &how)]);
        assert_eq!(f.positions(), expected, "{value}");
    }
}

#[test]
fn pprl_links_by_dice_without_clear_values() {
    use pprl::{FieldEncoding, Secret, balance, dice, encode, link};
    let secret = Secret {
        key_sha1: b"k1".to_vec(),
        key_md5: b"k2".to_vec(),
        bits: 1024,
    };
    let first = FieldEncoding {
        q: 2,
        k: 20,
        salt: Some("first:".into()),
    };
    let last = FieldEncoding {
        q: 2,
        k: 20,
        salt: Some("last:".into()),
    };
    let enc = |f: &str, l: &str| encode(&secret, &[(Some(f), &first), (Some(l), &last)]);
    let left = vec![
        enc("JEAN", "DUPONT"),
        enc("MARIE", "CURIE"),
        enc("PAUL", "MARTIN"),
    ];
    let right = vec![
        enc("JEAN", "DUPOND"),
        enc("PAULE", "MARTINE"),
        enc("ANNE", "PETIT"),
    ];
    assert!(dice(&left[0], &right[0]) > 0.8);
    assert!(dice(&left[1], &right[2]) < 0.4);
    let pairs: Vec<(u32, u32)> = link(&left, &right, 0.7)
        .iter()
        .map(|p| (p.0, p.1))
        .collect();
    assert_eq!(pairs, vec![(0, 0), (2, 1)]);
    // Salting: the same q-grams in another field set other bits.
    let swapped = encode(&secret, &[(Some("DUPONT"), &first), (Some("JEAN"), &last)]);
    assert!(dice(&left[0], &swapped) < 0.5);
    // Balanced encodings all have as many ones as the filter has bits,
    // and keep the order of similarities.
    let b: Vec<_> = left.iter().chain(&right).map(|f| balance(f, 99)).collect();
    assert!(b.iter().all(|f| f.ones() == 1024 && f.bits == 2048));
    assert!(dice(&b[0], &b[3]) > dice(&b[0], &b[5]));
}

/// The count range skips only pairs that cannot reach the threshold: the
/// same pairs as comparing every one.
#[test]
fn pprl_link_finds_what_comparing_every_pair_finds() {
    use pprl::{Filter, dice, link};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    // 256 bits (the portable loop) and 1 024 (the vector one where the
    // processor has it).
    for bits in [256, 1024] {
        let mut random = |density: f64| {
            let mut f = Filter::new(bits);
            for i in 0..bits {
                if rng.random_bool(density) {
                    f.set(i);
                }
            }
            f
        };
        let left: Vec<Filter> = (0..80)
            .map(|k| random(0.1 + (k % 7) as f64 * 0.05))
            .collect();
        let mut right: Vec<Filter> = (0..70)
            .map(|k| random(0.1 + (k % 5) as f64 * 0.07))
            .collect();
        right.push(left[3].clone());
        right.push(Filter::new(bits));
        for t in [0.2, 0.35, 0.5, 1.0] {
            let got: Vec<(u32, u32)> = link(&left, &right, t).iter().map(|p| (p.0, p.1)).collect();
            let mut expected = Vec::new();
            for (i, a) in left.iter().enumerate() {
                for (j, b) in right.iter().enumerate() {
                    if dice(a, b) >= t {
                        expected.push((i as u32, j as u32));
                    }
                }
            }
            assert_eq!(got, expected, "{bits} bits, threshold {t}");
        }
    }
}

/// Places from the commune table (IR_GEO_V): the same commune, then the
/// same employment basin, then the same département (the code's first
/// three characters).
#[test]
fn commune_levels_from_the_commune_table() {
    let left = records(
        1,
        &[
            ("commune", col(&[Some("014628")])),
            ("basin", col(&[Some("2501")])),
        ],
    );
    let right = records(
        5,
        &[
            (
                "commune",
                col(&[
                    Some("014628"),
                    Some("014630"),
                    Some("014631"),
                    Some("075056"),
                    None,
                ]),
            ),
            (
                "basin",
                col(&[
                    Some("2501"),
                    Some("2501"),
                    Some("9999"),
                    Some("1101"),
                    Some("2501"),
                ]),
            ),
        ],
    );
    let c = Compiled::new(
        &settings::Comparison {
            name: "place".into(),
            columns: vec!["commune".into()],
            levels: vec![
                Level::Exact,
                Level::Same {
                    column: "basin".into(),
                },
                Level::Prefix { chars: 3 },
            ],
            tf_adjust: false,
        },
        &left,
        &right,
    )
    .unwrap();
    let got: Vec<u8> = (0..5).map(|j| c.level(&left, 0, &right, j)).collect();
    assert_eq!(got, vec![0, 1, 2, 3, compare::NULL]);
    assert_eq!(c.level_label(1), "same basin");
    // A level on a column the records lack is refused by name.
    let e = Compiled::new(
        &settings::Comparison {
            name: "place".into(),
            columns: vec!["commune".into()],
            levels: vec![Level::Same {
                column: "sector".into(),
            }],
            tf_adjust: false,
        },
        &left,
        &right,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no column \"sector\""), "{e}");
    let t = "link_type = \"link_only\"\n[[blocking]]\ncolumns = [\"c\"]\n[[comparison]]\nname = \"c\"\ncolumns = [\"c\"]\nlevels = [{ kind = \"same\", column = \"\" }]\n";
    let e = Settings::from_toml(t).unwrap_err().to_string();
    assert!(e.contains("levels[0].column"), "{e}");
}

#[test]
fn places_add_basin_and_sector_from_the_callers_table() {
    let table = [("014628", ("2501", "210")), ("014629", ("2503", "215"))];
    let place = |code: &str| {
        table
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, (b, s))| (*b, *s))
    };
    let r = Records::new(vec!["a".into(), "b".into(), "c".into(), "d".into()])
        .with_column(
            "commune",
            vec![
                Some("014628".into()),
                Some(" 014629 ".into()),
                Some("999999".into()),
                None,
            ],
        )
        .unwrap();
    let (r, unknown) = r.with_places(&["commune".into()], place).unwrap();
    assert_eq!(unknown, 1, "one code the table does not know");
    let b = r.column("commune_basin").unwrap();
    let s = r.column("commune_sector").unwrap();
    let got: Vec<_> = (0..4).map(|i| (r.get(b, i), r.get(s, i))).collect();
    assert_eq!(
        got,
        vec![
            (Some("2501"), Some("210")),
            (Some("2503"), Some("215")),
            (None, None),
            (None, None)
        ]
    );
    let e = r.with_places(&["place".into()], place).unwrap_err();
    assert!(e.to_string().contains("no column \"place\""), "{e}");
    // Enough records to be shared among the cores: the same places, in
    // the records' order, and every unknown code counted once per record.
    let n = 200_003;
    let codes: Vec<Option<String>> = (0..n)
        .map(|i| match i % 4 {
            0 => Some("014628".into()),
            1 => Some("014629".into()),
            2 => Some("999999".into()),
            _ => None,
        })
        .collect();
    let big = Records::new((0..n).map(|i| i.to_string()).collect())
        .with_column("commune", codes)
        .unwrap();
    let (big, unknown) = big.with_places(&["commune".into()], place).unwrap();
    assert_eq!(unknown, (0..n).filter(|i| i % 4 == 2).count());
    let b = big.column("commune_basin").unwrap();
    for i in [0, 1, 2, 3, 100_000, 100_001, 150_002, n - 1] {
        let want = match i % 4 {
            0 => Some("2501"),
            1 => Some("2503"),
            _ => None,
        };
        assert_eq!(big.get(b, i), want, "record {i}");
    }
    let t = "link_type = \"dedupe_only\"\ncommunes = [\" \"]\n[[blocking]]\ncolumns = [\"c\"]\n[[comparison]]\nname = \"c\"\ncolumns = [\"c\"]\nlevels = [{ kind = \"exact\" }]\n";
    let e = Settings::from_toml(t).unwrap_err().to_string();
    assert!(e.contains("communes[0]"), "{e}");
}

#[test]
fn quality_report_estimates_and_measures() {
    use crate::model::Scored;
    use crate::report::{measure, quality, review_sample, reviewed};
    let s = |i: u32, j: u32, p: f64| Scored {
        pair: (i, j),
        weight: (p / (1.0 - p)).log2(),
        probability: p,
    };
    let scored = vec![
        s(0, 0, 0.99),
        s(1, 1, 0.95),
        s(2, 2, 0.5),
        s(3, 3, 0.1),
        s(0, 3, 0.01),
    ];
    let q = quality(&scored, 0.9, 4, 5);
    assert_eq!((q.links, q.left_linked, q.right_linked), (2, 2, 2));
    assert!((q.estimated_precision - 0.97).abs() < 1e-9);
    assert!((q.expected_matches - 2.55).abs() < 1e-9);
    assert!((q.estimated_recall - 1.94 / 2.55).abs() < 1e-9);
    assert_eq!(q.weights.iter().map(|b| b.pairs).sum::<u64>(), 5);
    assert_eq!(q.weights.iter().map(|b| b.linked).sum::<u64>(), 2);
    let truth: std::collections::HashSet<_> = [(0, 0), (2, 2), (3, 3)].into_iter().collect();
    let m = measure(&[(0, 0), (1, 1)], &truth);
    assert_eq!(m.true_positives, 1);
    assert!((m.precision - 0.5).abs() < 1e-9 && (m.recall - 1.0 / 3.0).abs() < 1e-9);
    assert!((m.f1 - 0.4).abs() < 1e-9);

    // The review sample: only uncertain pairs, every stratum, stable.
    let many: Vec<Scored> = (0..1000u32)
        .map(|k| s(k, k, 0.001 + 0.998 * f64::from(k) / 1000.0))
        .collect();
    let a = review_sample(&many, 50, 7);
    assert_eq!(a.len(), 50);
    assert!(a.iter().all(|x| (0.05..0.995).contains(&x.probability)));
    assert_eq!(a, review_sample(&many, 50, 7), "same seed, same sample");
    assert_ne!(a, review_sample(&many, 50, 8));
    for k in 0..5 {
        let (lo, hi) = (0.05 + 0.189 * k as f64, 0.05 + 0.189 * (k + 1) as f64);
        let n = a
            .iter()
            .filter(|x| (lo..hi).contains(&x.probability))
            .count();
        assert!(n >= 8, "stratum {k}: {n} pairs");
    }
    assert_eq!(
        review_sample(&many, 5000, 7).len(),
        many.iter()
            .filter(|x| (0.05..0.995).contains(&x.probability))
            .count()
    );

    let r = reviewed(
        &[
            (0.95, Some(true)),
            (0.92, Some(false)),
            (0.95, None),
            (0.4, Some(true)),
            (0.3, Some(false)),
            (0.2, Some(false)),
        ],
        0.9,
    );
    assert_eq!((r.labelled, r.links_labelled, r.below_labelled), (5, 2, 3));
    assert_eq!(r.precision, Some(0.5));
    assert!((r.missed_share.unwrap() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn drawings_add_up_and_name_every_level() {
    use crate::draw::{m_u, waterfall};
    use crate::model::{ComparisonParams, Model, Term};
    let t = |c: &str, l: &str, w: f64| Term {
        comparison: c.into(),
        level: l.into(),
        weight: w,
        tf_adjusted: false,
    };
    let terms = vec![
        t("prior (λ)", "λ = 1e-4", -13.3),
        t("birth", "exact", 9.1),
        t("commune", "same basin <b>", 3.2),
        t("sex", "else", -4.0),
    ];
    let svg = waterfall(&terms, "pair a & b");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(svg.contains(">-5.00<"), "the total -13.3+9.1+3.2-4.0");
    assert!(svg.contains("pair a &amp; b") && svg.contains("same basin &lt;b&gt;"));
    assert_eq!(svg.matches("<rect").count(), terms.len() + 1);
    let model = Model {
        lambda: 1e-4,
        comparisons: vec![ComparisonParams {
            name: "birth".into(),
            levels: vec!["exact".into(), "else".into()],
            m: vec![0.9, 0.1],
            u: vec![0.01, 0.99],
            tf_adjust: false,
        }],
        sessions: vec![],
    };
    let svg = m_u(&model, "model");
    assert!(svg.contains(">exact<") && svg.contains(">else<"));
    assert!(svg.contains(&format!("{:+.2}", (0.9f64 / 0.01).log2())));
}

#[test]
fn blocking_on_encodings_keeps_the_similar_pairs_and_compares_few() {
    use crate::pprl::{Filter, LshBlocking, dice, link, link_blocked};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    // 1 024-bit filters of about 300 ones; right ones are noisy copies of
    // the first half of the left ones (some bits moved), the rest random.
    let random = |rng: &mut rand_chacha::ChaCha8Rng| {
        let mut f = Filter::new(1024);
        for _ in 0..360 {
            f.set(rng.random_range(0..1024));
        }
        f
    };
    let left: Vec<Filter> = (0..600).map(|_| random(&mut rng)).collect();
    let mut right: Vec<Filter> = Vec::new();
    for (k, f) in left.iter().enumerate() {
        if k % 2 == 0 {
            let mut g = f.clone();
            for _ in 0..rng.random_range(0..40) {
                let p = f.positions();
                let i = p[rng.random_range(0..p.len())];
                g.words[i / 64] &= !(1 << (i % 64));
                g.set(rng.random_range(0..1024));
            }
            right.push(g);
        } else {
            right.push(random(&mut rng));
        }
    }
    let all = link(&left, &right, 0.8);
    let blocked = link_blocked(&left, &right, 0.8, &LshBlocking::default()).unwrap();
    assert!(all.len() >= 280, "{} similar pairs", all.len());
    // A subset of the exhaustive result, with the same similarities…
    for p in &blocked {
        assert!(
            all.contains(p),
            "{p:?} is not a pair of the exhaustive link"
        );
        assert_eq!(p.2, dice(&left[p.0 as usize], &right[p.1 as usize]));
    }
    // …that misses almost none.
    assert!(
        blocked.len() as f64 >= 0.99 * all.len() as f64,
        "{} of {}",
        blocked.len(),
        all.len()
    );
    // Malformed bands or filters of other lengths are refused.
    let bad = LshBlocking {
        bits: 0,
        ..LshBlocking::default()
    };
    assert!(link_blocked(&left, &right, 0.8, &bad).is_none());
    assert!(link_blocked(&left, &[Filter::new(512)], 0.8, &LshBlocking::default()).is_none());
    // The same seed, the same pairs; the result does not depend on threads.
    assert_eq!(
        blocked,
        link_blocked(&left, &right, 0.8, &LshBlocking::default()).unwrap()
    );
}
