//! Releases checked whole: secondary suppression that an attacker cannot undo
//! (the attacker here solves the table's equations independently of the
//! checker), and differencing attacks — DataSHIELD's dsBase#250 (mask
//! vector) and dsBase#251 (differencing), and others — blocked.

use hdh_release::ledger::Footprint;
use hdh_release::{
    Agg, Outcome, Record, ReleaseVerdict, Rounding, Rule, Rules, TOTAL, TableSpec, check_model,
    check_release, table,
};

/// A person of the microdata.
#[derive(Clone)]
struct Person {
    id: u64,
    dpt: &'static str,
    sex: &'static str,
    age: u32,
    cost: f64,
}

fn spec(
    name: &str,
    rows: &[&str],
    cols: &[&str],
    value: Option<&str>,
    agg: Agg,
    totals: bool,
) -> TableSpec {
    TableSpec {
        name: name.into(),
        population: "cohort".into(),
        rows: rows.iter().map(|s| s.to_string()).collect(),
        cols: cols.iter().map(|s| s.to_string()).collect(),
        value: value.map(str::to_string),
        agg,
        totals,
    }
}

fn key(p: &Person, var: &str) -> String {
    match var {
        "dpt" | "departement" => p.dpt.to_string(),
        // A recoding that keeps the name's look but not its values.
        "dpt_recoded" => if p.dpt == "48" { "75" } else { p.dpt }.to_string(),
        "sex" => p.sex.to_string(),
        "age_group" => if p.age >= 65 { "65+" } else { "<65" }.to_string(),
        _ => panic!("unknown variable {var}"),
    }
}

fn records(people: &[Person], s: &TableSpec, value: impl Fn(&Person) -> f64) -> Vec<Record> {
    people
        .iter()
        .map(|p| Record {
            row: s.rows.iter().map(|v| key(p, v)).collect(),
            col: s.cols.iter().map(|v| key(p, v)).collect(),
            unit: p.id,
            value: s.value.as_ref().map(|_| value(p)),
        })
        .collect()
}

fn tab(people: &[Person], s: TableSpec) -> hdh_release::Table {
    let recs = records(people, &s, |p| p.cost);
    table::build(&s, &recs).unwrap()
}

/// `n` persons of département `dpt` and sex `sex`, ids from `start`.
fn group(start: u64, n: u64, dpt: &'static str, sex: &'static str) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            id: start + i,
            dpt,
            sex,
            age: 30 + ((start + i) % 60) as u32,
            cost: 10.0 + ((start + i) * 7 % 13) as f64,
        })
        .collect()
}

fn cell<'a>(
    v: &'a ReleaseVerdict,
    table: usize,
    row: &str,
    col: &str,
) -> &'a hdh_release::CellVerdict {
    v.tables[table]
        .cells
        .iter()
        .find(|c| c.row == row && c.col == col)
        .unwrap_or_else(|| panic!("no cell {row}/{col} in table {table}"))
}

// ------------------------------------------------------------------ the attacker

/// Linear equations over named cells: Σ coefficient × cell = 0.
type Equation = Vec<(String, f64)>;

/// The attacker's equations for a table with margins, written from its labels.
fn margin_equations(v: &ReleaseVerdict, table: usize, prefix: &str) -> Vec<Equation> {
    let t = &v.tables[table];
    let name = |c: &hdh_release::CellVerdict| format!("{prefix}{}/{}", c.row, c.col);
    let mut rows: Vec<&str> = t.cells.iter().map(|c| c.row.as_str()).collect();
    rows.dedup();
    let mut cols: Vec<&str> = t.cells.iter().map(|c| c.col.as_str()).collect();
    cols.sort();
    cols.dedup();
    let mut eqs = Vec::new();
    let has_cols = cols.iter().any(|c| !c.is_empty());
    if !has_cols {
        let mut eq: Equation = Vec::new();
        for c in &t.cells {
            eq.push((name(c), if c.row == TOTAL { -1.0 } else { 1.0 }));
        }
        eqs.push(eq);
        return eqs;
    }
    for r in &rows {
        eqs.push(
            t.cells
                .iter()
                .filter(|c| c.row == *r)
                .map(|c| (name(c), if c.col == TOTAL { -1.0 } else { 1.0 }))
                .collect(),
        );
    }
    for k in &cols {
        eqs.push(
            t.cells
                .iter()
                .filter(|c| c.col == *k)
                .map(|c| (name(c), if c.row == TOTAL { -1.0 } else { 1.0 }))
                .collect(),
        );
    }
    eqs
}

/// The suppressed cells the attacker can compute exactly: every shown value
/// is known; a hidden one is determined when its unit vector lies in the
/// row space of the equations restricted to the hidden cells.
fn recomputable(
    v: &ReleaseVerdict,
    equations: &[Equation],
    names: &[(String, bool)],
) -> Vec<String> {
    let hidden: Vec<&str> = names
        .iter()
        .filter(|(_, h)| *h)
        .map(|(n, _)| n.as_str())
        .collect();
    let rank = |rows: &[Vec<f64>]| -> usize {
        let mut m = rows.to_vec();
        let mut rank = 0;
        let cols = hidden.len();
        for c in 0..cols {
            let Some(p) = (rank..m.len()).find(|&i| m[i][c].abs() > 1e-9) else {
                continue;
            };
            m.swap(rank, p);
            let pivot = m[rank].clone();
            for (i, row) in m.iter_mut().enumerate() {
                if i != rank && row[c].abs() > 1e-9 {
                    let f = row[c] / pivot[c];
                    for (x, p) in row.iter_mut().zip(&pivot) {
                        *x -= f * p;
                    }
                }
            }
            rank += 1;
        }
        rank
    };
    let base: Vec<Vec<f64>> = equations
        .iter()
        .map(|eq| {
            let mut row = vec![0.0; hidden.len()];
            for (n, c) in eq {
                if let Some(i) = hidden.iter().position(|h| h == n) {
                    row[i] += c;
                }
            }
            row
        })
        .collect();
    let r0 = rank(&base);
    let _ = v;
    hidden
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let mut with = base.clone();
            let mut e = vec![0.0; hidden.len()];
            e[*i] = 1.0;
            with.push(e);
            rank(&with) == r0
        })
        .map(|(_, n)| n.to_string())
        .collect()
}

fn hidden_names(v: &ReleaseVerdict, table: usize, prefix: &str) -> Vec<(String, bool)> {
    v.tables[table]
        .cells
        .iter()
        .map(|c| (format!("{prefix}{}/{}", c.row, c.col), c.released.is_none()))
        .collect()
}

// ------------------------------------------------------------------ secondary suppression

/// What an attacker recomputes from table A (département × `cols`, no
/// totals) and table B (its margin by département, with its total): B's
/// cells are A's row sums.
fn recomputable_from_a_and_its_margin(v: &ReleaseVerdict, cols: &[&str]) -> Vec<String> {
    let mut eqs: Vec<Equation> = ["75", "48"]
        .iter()
        .map(|d| {
            let mut eq: Equation = cols.iter().map(|c| (format!("A{d}/{c}"), 1.0)).collect();
            eq.push((format!("B{d}/"), -1.0));
            eq
        })
        .collect();
    eqs.extend(margin_equations(v, 1, "B"));
    let mut names = hidden_names(v, 0, "A");
    names.extend(hidden_names(v, 1, "B"));
    recomputable(v, &eqs, &names)
}

/// 75: 40 men, 35 women; 48: 4 men (under the threshold), 22 women.
fn two_departements() -> Vec<Person> {
    let mut people = group(0, 40, "75", "1");
    people.extend(group(100, 35, "75", "2"));
    people.extend(group(200, 4, "48", "1"));
    people.extend(group(300, 22, "48", "2"));
    people
}

#[test]
fn one_dimensional_table_with_total_hides_a_second_cell() {
    let mut people = group(0, 50, "75", "1");
    people.extend(group(100, 3, "48", "1"));
    people.extend(group(200, 40, "13", "1"));
    let t = tab(
        &people,
        spec("by dpt", &["dpt"], &[], None, Agg::Count, true),
    );
    let v = check_release(&[t], &Rules::default(), &[]);
    assert_eq!(cell(&v, 0, "48", "").outcome, Outcome::Primary);
    assert_eq!(v.count(Outcome::Secondary), 1, "{:#?}", v.tables[0].cells);
    // The cheapest other cell (13: 40) is hidden, not the total.
    assert_eq!(cell(&v, 0, "13", "").outcome, Outcome::Secondary);
    assert_eq!(cell(&v, 0, TOTAL, "").released, Some(93.0));
    let eqs = margin_equations(&v, 0, "");
    assert!(recomputable(&v, &eqs, &hidden_names(&v, 0, "")).is_empty());
}

#[test]
fn two_dimensional_table_with_totals_cannot_be_recomputed() {
    let mut people = two_departements();
    people.extend(group(400, 30, "13", "1"));
    people.extend(group(500, 31, "13", "2"));
    let t = tab(
        &people,
        spec("by dpt, sex", &["dpt"], &["sex"], None, Agg::Count, true),
    );
    let v = check_release(&[t], &Rules::default(), &[]);
    assert_eq!(cell(&v, 0, "48", "1").outcome, Outcome::Primary);
    // A rectangle: 48/1, 48/2 and two cells of another row, at least 4 hidden.
    let hidden = v.tables[0]
        .cells
        .iter()
        .filter(|c| c.released.is_none())
        .count();
    assert!(hidden >= 4, "{hidden}");
    let eqs = margin_equations(&v, 0, "");
    assert_eq!(
        recomputable(&v, &eqs, &hidden_names(&v, 0, "")),
        Vec::<String>::new()
    );
    // The attacker is not blind: with the primary cell hidden alone, it finds it.
    let primary_only: Vec<(String, bool)> = v.tables[0]
        .cells
        .iter()
        .map(|c| {
            (
                format!("{}/{}", c.row, c.col),
                c.outcome == Outcome::Primary,
            )
        })
        .collect();
    assert_eq!(
        recomputable(&v, &eqs, &primary_only),
        vec!["48/1".to_string()]
    );
    // Every secondary cell says what it protects.
    for c in v.tables[0]
        .cells
        .iter()
        .filter(|c| c.outcome == Outcome::Secondary)
    {
        assert_eq!(c.rules, vec![Rule::Secondary]);
        assert!(
            c.reasons[0].contains("cannot be recomputed"),
            "{:?}",
            c.reasons
        );
    }
}

#[test]
fn random_tables_with_small_cells_are_protected() {
    // A small deterministic generator: 40 tables of 3–6 × 2–4 cells.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let dpts = ["01", "02", "03", "04", "05", "06"];
    let sexes = ["1", "2", "3", "4"];
    let mut protected_cells = 0;
    for round in 0..40 {
        let nr = 3 + next(4) as usize;
        let nc = 2 + next(3) as usize;
        let mut people = Vec::new();
        let mut id = 0;
        for d in &dpts[..nr] {
            for s in &sexes[..nc] {
                let n = if next(4) == 0 {
                    1 + next(9)
                } else {
                    10 + next(60)
                };
                people.extend(group(id, n, d, s));
                id += 1000;
            }
        }
        let t = tab(
            &people,
            spec("t", &["dpt"], &["sex"], None, Agg::Count, true),
        );
        let v = check_release(&[t], &Rules::default(), &[]);
        let eqs = margin_equations(&v, 0, "");
        let names = hidden_names(&v, 0, "");
        assert_eq!(
            recomputable(&v, &eqs, &names),
            Vec::<String>::new(),
            "round {round}: {:#?}",
            v.tables[0].cells
        );
        assert!(v.unprotected.is_empty());
        for c in &v.tables[0].cells {
            if c.rules.contains(&Rule::Threshold) {
                assert!(c.released.is_none());
                protected_cells += 1;
            }
        }
    }
    assert!(protected_cells > 10, "the generator made small cells");
}

#[test]
fn a_table_that_is_the_margin_of_another_is_suppressed_with_it() {
    // A: département × sex without totals; B: département with its total.
    // A(48, 1) = 4 is hidden; A(48, 2) and B(48) would give it back.
    let people = two_departements();
    let a = tab(
        &people,
        spec("A", &["dpt"], &["sex"], None, Agg::Count, false),
    );
    let b = tab(&people, spec("B", &["dpt"], &[], None, Agg::Count, true));
    let v = check_release(&[a, b], &Rules::default(), &[]);
    assert_eq!(cell(&v, 0, "48", "1").outcome, Outcome::Primary);
    assert_eq!(
        recomputable_from_a_and_its_margin(&v, &["1", "2"]),
        Vec::<String>::new(),
        "{v:#?}"
    );
}

#[test]
fn a_renamed_variable_still_relates_the_tables() {
    // A: département × three categories without totals; B: the same column
    // named `departement`, with its total. A(48, 1) = 4 is hidden; without
    // the relation, B(48) − A(48, 2) − A(48, 3) would give it back (and no
    // two cells are a few persons apart, so differencing alone would not
    // catch it).
    let mut people = group(0, 40, "75", "1");
    people.extend(group(100, 35, "75", "2"));
    people.extend(group(200, 30, "75", "3"));
    people.extend(group(300, 4, "48", "1"));
    people.extend(group(400, 22, "48", "2"));
    people.extend(group(500, 30, "48", "3"));
    let a = tab(
        &people,
        spec("A", &["dpt"], &["sex"], None, Agg::Count, false),
    );
    let b = tab(
        &people,
        spec("B", &["departement"], &[], None, Agg::Count, true),
    );
    assert_eq!(a.variables["dpt"], b.variables["departement"]);
    let v = check_release(&[a, b], &Rules::default(), &[]);
    assert!(
        v.tables
            .iter()
            .flat_map(|t| &t.cells)
            .all(|c| !c.rules.contains(&Rule::Differencing))
    );
    assert_eq!(
        recomputable_from_a_and_its_margin(&v, &["1", "2", "3"]),
        Vec::<String>::new(),
        "{v:#?}"
    );
    // A recoded column under another name is another variable.
    let c = tab(
        &people,
        spec("C", &["dpt_recoded"], &[], None, Agg::Count, false),
    );
    let a = tab(
        &people,
        spec("A", &["dpt"], &["sex"], None, Agg::Count, false),
    );
    assert_ne!(a.variables["dpt"], c.variables["dpt_recoded"]);
}

#[test]
fn the_same_population_in_two_tables_is_suppressed_in_both() {
    let mut people = group(0, 40, "75", "1");
    people.extend(group(100, 35, "75", "2"));
    people.extend(group(200, 3, "48", "1"));
    people.extend(group(300, 2, "48", "2"));
    let a = tab(
        &people,
        spec("by dpt", &["dpt"], &[], None, Agg::Count, false),
    );
    let b = tab(
        &people,
        spec("by dpt, sex", &["dpt"], &["sex"], None, Agg::Count, true),
    );
    let v = check_release(&[a, b], &Rules::default(), &[]);
    assert_eq!(cell(&v, 0, "48", "").outcome, Outcome::Primary);
    let total_48 = cell(&v, 1, "48", TOTAL);
    assert!(total_48.released.is_none(), "{total_48:?}");
}

#[test]
fn means_and_sums_are_checked_on_their_contributions() {
    let mut people = group(0, 30, "75", "1");
    people[0].cost = 1_000_000.0; // one dominant contributor in 75
    people.extend(group(100, 30, "13", "1"));
    let t = tab(
        &people,
        spec("mean cost", &["dpt"], &[], Some("cost"), Agg::Mean, false),
    );
    let v = check_release(&[t], &Rules::default(), &[]);
    let c = cell(&v, 0, "75", "");
    assert_eq!(c.outcome, Outcome::Primary);
    assert!(c.rules.contains(&Rule::NkDominance) && c.rules.contains(&Rule::PPercent));
    assert_eq!(cell(&v, 0, "13", "").outcome, Outcome::Ok);
}

#[test]
fn rounding_applies_to_released_counts_and_totals_independently() {
    let mut people = group(0, 12, "75", "1");
    people.extend(group(100, 13, "13", "1"));
    let s = spec("by dpt", &["dpt"], &[], None, Agg::Count, true);
    for (rounding, a, b, total) in [
        (Rounding::Base5, 10.0, 15.0, 25.0),
        (Rounding::Midpoint6, 9.0, 15.0, 27.0),
        (Rounding::None, 12.0, 13.0, 25.0),
    ] {
        let rules = Rules {
            rounding,
            ..Default::default()
        };
        let v = check_release(&[tab(&people, s.clone())], &rules, &[]);
        assert_eq!(cell(&v, 0, "75", "").released, Some(a));
        assert_eq!(cell(&v, 0, "13", "").released, Some(b));
        assert_eq!(cell(&v, 0, TOTAL, "").released, Some(total), "{rounding:?}");
        assert_eq!(
            cell(&v, 0, "75", "").value,
            Some(12.0),
            "the computed value is kept"
        );
    }
}

#[test]
fn models_need_degrees_of_freedom() {
    assert_eq!(check_model(9, &Rules::default()).outcome, Outcome::Primary);
    assert_eq!(check_model(9, &Rules::default()).rules, vec![Rule::Dof]);
    assert_eq!(check_model(10, &Rules::default()).outcome, Outcome::Ok);
}

// ------------------------------------------------------------------ differencing

/// A cohort of 200 persons aged 30–89 in two départements.
fn cohort() -> Vec<Person> {
    let mut people = group(0, 120, "75", "1");
    people.extend(group(1000, 80, "13", "2"));
    people
}

fn released(v: &ReleaseVerdict, release: &str) -> Vec<Footprint> {
    v.footprints
        .iter()
        .map(|f| Footprint {
            label: format!("release {release}, {}", f.label),
            ..f.clone()
        })
        .collect()
}

#[test]
fn all_but_one_patient_is_blocked() {
    let people = cohort();
    let s = spec("patients by dpt", &["dpt"], &[], None, Agg::Count, false);
    let first = check_release(&[tab(&people, s.clone())], &Rules::default(), &[]);
    assert_eq!(first.worst(), Outcome::Ok);
    let ledger = released(&first, "R1");
    // The same table again: the same populations, allowed.
    let again = check_release(&[tab(&people, s.clone())], &Rules::default(), &ledger);
    assert_eq!(again.worst(), Outcome::Ok);
    // The same without person 7 (of 75): 75 differs by one person.
    let minus: Vec<Person> = people.iter().filter(|p| p.id != 7).cloned().collect();
    let v = check_release(&[tab(&minus, s)], &Rules::default(), &ledger);
    let c = cell(&v, 0, "75", "");
    assert_eq!(
        (c.outcome, c.rules.clone()),
        (Outcome::Primary, vec![Rule::Differencing])
    );
    assert!(
        c.reasons[0].contains("differs by 1 person from release R1"),
        "{:?}",
        c.reasons
    );
    assert_eq!(cell(&v, 0, "13", "").outcome, Outcome::Ok);
}

#[test]
fn datashield_251_differencing_of_means_is_blocked() {
    // dsBase#251: the mean of a variable over a subset and over the subset
    // shifted by a few persons gives their values away.
    let people = cohort();
    let s = spec("mean cost", &["dpt"], &[], Some("cost"), Agg::Mean, false);
    let first = check_release(&[tab(&people, s.clone())], &Rules::default(), &[]);
    let ledger = released(&first, "R1");
    let subset: Vec<Person> = people
        .iter()
        .filter(|p| p.id != 1003 && p.id != 1004)
        .cloned()
        .collect();
    let v = check_release(&[tab(&subset, s)], &Rules::default(), &ledger);
    let c = cell(&v, 0, "13", "");
    assert_eq!(c.rules, vec![Rule::Differencing], "{c:?}");
    assert!(c.released.is_none());
}

#[test]
fn datashield_250_mask_vector_is_blocked() {
    // dsBase#250: multiply the variable by a 0/1 mask and take the mean over
    // everyone: the count behind the cell stays large.
    let people = cohort();
    let s = spec("mean cost", &["dpt"], &[], Some("cost"), Agg::Mean, false);
    // A mask selecting one person: caught by the rules of the cell itself.
    let one = records(&people, &s, |p| if p.id == 5 { p.cost } else { 0.0 });
    let v = check_release(&[table::build(&s, &one).unwrap()], &Rules::default(), &[]);
    let c = cell(&v, 0, "75", "");
    assert_eq!(c.outcome, Outcome::Primary);
    assert!(c.rules.contains(&Rule::NonzeroThreshold), "{c:?}");
    // A mask selecting five persons of similar values: dominance passes, the
    // count of non-zero contributors does not.
    let five = records(&people, &s, |p| if p.id < 5 { 100.0 } else { 0.0 });
    let v = check_release(&[table::build(&s, &five).unwrap()], &Rules::default(), &[]);
    assert_eq!(cell(&v, 0, "75", "").rules, vec![Rule::NonzeroThreshold]);
    // A mask hiding one person, after the unmasked mean left: differencing.
    let first = check_release(&[tab(&people, s.clone())], &Rules::default(), &[]);
    let ledger = released(&first, "R1");
    let all_but = records(&people, &s, |p| if p.id == 9 { 0.0 } else { p.cost });
    let v = check_release(
        &[table::build(&s, &all_but).unwrap()],
        &Rules::default(),
        &ledger,
    );
    let c = cell(&v, 0, "75", "");
    assert_eq!(c.rules, vec![Rule::Differencing], "{c:?}");
}

#[test]
fn a_population_shifted_by_one_criterion_is_blocked() {
    // Counts of persons aged 65+, then of persons aged 66+: the difference is
    // the persons aged exactly 65 (3 of them here).
    let people: Vec<Person> = cohort()
        .into_iter()
        .map(|mut p| {
            p.age = if p.id % 40 == 0 { 65 } else { p.age.max(66) };
            p
        })
        .collect();
    let s = spec("65+ by dpt", &["dpt"], &[], None, Agg::Count, false);
    let aged =
        |min: u32| -> Vec<Person> { people.iter().filter(|p| p.age >= min).cloned().collect() };
    let first = check_release(&[tab(&aged(65), s.clone())], &Rules::default(), &[]);
    let v = check_release(
        &[tab(&aged(66), s)],
        &Rules::default(),
        &released(&first, "R1"),
    );
    let c = cell(&v, 0, "75", "");
    assert_eq!(c.rules, vec![Rule::Differencing], "{c:?}");
    assert!(
        c.reasons[0].contains("differs by 3 persons"),
        "{:?}",
        c.reasons
    );
}

#[test]
fn two_tables_of_one_release_that_differ_by_a_few_persons_are_blocked() {
    // In the same release: all patients by sex, and patients under 89 by sex.
    let people = cohort();
    let young: Vec<Person> = people.iter().filter(|p| p.age < 89).cloned().collect();
    assert!(people.len() - young.len() < 10 && young.len() < people.len());
    let s = spec("by sex", &["sex"], &[], None, Agg::Count, false);
    let mut under = s.clone();
    under.name = "by sex, under 89".into();
    under.population = "cohort, age < 89".into();
    let v = check_release(
        &[tab(&people, s), tab(&young, under)],
        &Rules::default(),
        &[],
    );
    let blocked: Vec<_> = v
        .tables
        .iter()
        .flat_map(|t| t.cells.iter())
        .filter(|c| c.rules.contains(&Rule::Differencing))
        .collect();
    assert!(!blocked.is_empty(), "{v:#?}");
    assert!(blocked[0].reasons[0].contains("in this release"));
}

#[test]
fn differencing_can_be_flagged_instead_of_suppressed() {
    let people = cohort();
    let s = spec("patients by dpt", &["dpt"], &[], None, Agg::Count, false);
    let first = check_release(&[tab(&people, s.clone())], &Rules::default(), &[]);
    let minus: Vec<Person> = people.iter().filter(|p| p.id != 7).cloned().collect();
    let rules = Rules {
        differencing: hdh_release::rules::DifferencingAction::Flag,
        ..Default::default()
    };
    let v = check_release(&[tab(&minus, s)], &rules, &released(&first, "R1"));
    let c = cell(&v, 0, "75", "");
    assert_eq!((c.outcome, c.released), (Outcome::Flagged, Some(119.0)));
}
