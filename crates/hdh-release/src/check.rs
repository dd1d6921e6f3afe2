//! The primary rules, cell by cell, on the contributions behind each cell.

use crate::rules::Rules;
use crate::table::{Agg, Cell};
use serde::{Deserialize, Serialize};

/// What happens to a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// May leave.
    Ok,
    /// May leave, but a checker must look at it (the reason says why).
    Flagged,
    /// Suppressed to protect another suppressed cell.
    Secondary,
    /// Suppressed: a rule failed on the cell itself.
    Primary,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Flagged => "flagged",
            Outcome::Secondary => "secondary",
            Outcome::Primary => "primary",
        }
    }
    pub fn is_suppressed(self) -> bool {
        matches!(self, Outcome::Primary | Outcome::Secondary)
    }
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Fewer persons behind the cell than the threshold.
    Threshold,
    /// Nobody behind the cell, and zeros are disclosive.
    Zero,
    /// The cell holds its whole row (100 %), and that is disclosive.
    Full,
    /// The n largest contributors hold at least k of the total.
    NkDominance,
    /// The others hide less than p of the largest contribution.
    PPercent,
    /// Enough persons, but fewer than the threshold contribute anything
    /// non-zero (a sum or mean masked down to a few persons).
    NonzeroThreshold,
    /// Negative contributions: dominance cannot be assessed.
    Negative,
    /// A few persons away from a cell already released (or in this release).
    Differencing,
    /// Suppressed so that a suppressed cell cannot be recomputed.
    Secondary,
    /// Too few residual degrees of freedom.
    Dof,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Threshold => "threshold",
            Rule::Zero => "zero",
            Rule::Full => "full",
            Rule::NkDominance => "nk-dominance",
            Rule::PPercent => "p-percent",
            Rule::NonzeroThreshold => "nonzero-threshold",
            Rule::Negative => "negative",
            Rule::Differencing => "differencing",
            Rule::Secondary => "secondary",
            Rule::Dof => "dof",
        }
    }
}

/// The verdict on one cell: its outcome and every rule that spoke, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub rules: Vec<Rule>,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn ok() -> Verdict {
        Verdict {
            outcome: Outcome::Ok,
            rules: Vec::new(),
            reasons: Vec::new(),
        }
    }
    /// Adds a rule; the outcome becomes the more severe of the two.
    pub fn add(&mut self, outcome: Outcome, rule: Rule, reason: String) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
            self.reasons.push(reason);
        }
        self.outcome = self.outcome.max(outcome);
    }
    /// The rules as `a;b` (empty when none).
    pub fn rule_list(&self) -> String {
        self.rules
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(";")
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The primary rules on one cell of a table of `agg`.
pub fn primary(cell: &Cell, agg: Agg, rules: &Rules) -> Verdict {
    let mut v = Verdict::ok();
    let t = rules.threshold as usize;
    // The count behind the cell: its persons (a count), or its persons with
    // a value (a sum or a mean).
    let behind = if agg.is_magnitude() {
        cell.contributions.len()
    } else {
        cell.units.len()
    };
    if behind == 0 {
        if rules.zeros_disclosive {
            v.add(
                Outcome::Primary,
                Rule::Zero,
                "nobody is in this cell, and the rules treat an empty cell as disclosive".into(),
            );
        }
        return v;
    }
    if behind < t {
        v.add(
            Outcome::Primary,
            Rule::Threshold,
            format!(
                "{} behind this cell, fewer than the threshold of {t}",
                plural(behind, "person")
            ),
        );
    }
    if rules.full_disclosive
        && !cell.is_margin
        && cell.row_units > 0
        && cell.units.len() == cell.row_units
    {
        v.add(
            Outcome::Primary,
            Rule::Full,
            "every person of this row is in this cell (100 %): the cell tells their value of the column".into(),
        );
    }
    if !agg.is_magnitude() {
        return v;
    }
    let c = &cell.contributions;
    if c.iter().any(|x| *x < 0.0) {
        v.add(
            Outcome::Flagged,
            Rule::Negative,
            "some contributions are negative: dominance cannot be assessed, a checker must".into(),
        );
        return v;
    }
    let total: f64 = c.iter().sum();
    let d = &rules.dominance;
    let top_n: f64 = c.iter().take(d.n).sum();
    if total > 0.0 && top_n / total >= d.k {
        v.add(
            Outcome::Primary,
            Rule::NkDominance,
            format!(
                "the {} largest contributions make {:.1} % of the total, at least {:.0} %",
                d.n,
                100.0 * top_n / total,
                100.0 * d.k
            ),
        );
    }
    let top1 = c[0];
    let top2 = c.get(1).copied().unwrap_or(0.0);
    let rest = total - top1 - top2;
    // With a largest contribution of 0 every contribution is 0: the total
    // tells each one (as ACRO decides).
    let ratio = if top1 == 0.0 { rest } else { rest / top1 };
    if ratio < d.p {
        v.add(
            Outcome::Primary,
            Rule::PPercent,
            format!(
                "the second largest contributor could estimate the largest within {:.1} %, less than {:.0} %",
                100.0 * ratio.max(0.0),
                100.0 * d.p
            ),
        );
    }
    let nonzero = cell.nonzero_units.len();
    if nonzero > 0 && nonzero < t && behind >= t {
        v.add(
            Outcome::Primary,
            Rule::NonzeroThreshold,
            format!(
                "{} of the {behind} contribute a non-zero value, fewer than the threshold of {t} (a value masked down to a few persons)",
                plural(nonzero, "person")
            ),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Record, TableSpec, build};

    fn spec(agg: Agg) -> TableSpec {
        TableSpec {
            name: "t".into(),
            population: String::new(),
            rows: vec!["g".into()],
            cols: vec![],
            value: (agg != Agg::Count).then(|| "v".into()),
            agg,
            totals: false,
        }
    }

    /// One cell "a" with these values, one record per unit.
    fn cell(values: &[f64], agg: Agg) -> Cell {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                row: vec!["a".into()],
                col: vec![],
                unit: i as u64,
                value: Some(*v),
            })
            .collect();
        build(&spec(agg), &records).unwrap().cells.remove(0)
    }

    fn rules_of(v: &Verdict) -> Vec<&'static str> {
        v.rules.iter().map(|r| r.as_str()).collect()
    }

    #[test]
    fn threshold_counts_persons_not_records() {
        let r = Rules::default();
        assert_eq!(
            primary(&cell(&[1.0; 9], Agg::Count), Agg::Count, &r).outcome,
            Outcome::Primary
        );
        assert_eq!(
            primary(&cell(&[1.0; 10], Agg::Count), Agg::Count, &r).outcome,
            Outcome::Ok
        );
        // 12 records of 3 persons: 3 behind the cell.
        let records: Vec<Record> = (0..12)
            .map(|i| Record {
                row: vec!["a".into()],
                col: vec![],
                unit: i % 3,
                value: None,
            })
            .collect();
        let c = build(&spec(Agg::Count), &records).unwrap().cells.remove(0);
        assert_eq!(c.value, Some(12.0));
        let v = primary(&c, Agg::Count, &r);
        assert_eq!(rules_of(&v), vec!["threshold"]);
        assert!(v.reasons[0].contains("3 persons"), "{:?}", v.reasons);
    }

    #[test]
    fn nk_dominance_by_hand() {
        let r = Rules::default();
        // 10 contributions: 500 + 400 + 8 × 10 = 980; top 2 = 900/980 = 91.8 % ≥ 90 %.
        let mut vals = vec![500.0, 400.0];
        vals.extend([10.0; 8]);
        let v = primary(&cell(&vals, Agg::Sum), Agg::Sum, &r);
        assert!(v.rules.contains(&Rule::NkDominance), "{v:?}");
        // 500 + 300 + 8 × 25 = 1000; top 2 = 80 %: passes; p %: 200/500 = 40 %: passes.
        let mut vals = vec![500.0, 300.0];
        vals.extend([25.0; 8]);
        assert_eq!(primary(&cell(&vals, Agg::Sum), Agg::Sum, &r), Verdict::ok());
        // Exactly 90 % is dominated (ACRO's ≥).
        let mut vals = vec![60.0, 30.0];
        vals.extend([1.25; 8]);
        assert!(
            primary(&cell(&vals, Agg::Mean), Agg::Mean, &r)
                .rules
                .contains(&Rule::NkDominance)
        );
    }

    #[test]
    fn p_percent_by_hand() {
        let r = Rules::default();
        // top1 = 100, top2 = 50, rest = 8 × 1 = 8: 8 % of top1 < 10 %; top 2 = 150/158 = 94.9 %.
        let mut vals = vec![100.0, 50.0];
        vals.extend([1.0; 8]);
        let v = primary(&cell(&vals, Agg::Sum), Agg::Sum, &r);
        assert_eq!(rules_of(&v), vec!["nk-dominance", "p-percent"]);
        // top1 = 1000, top2 = 12, rest = 10 + 7 × 12 = 94: 9.4 % < 10 %;
        // top 2 = 1012 / 1106 = 91.5 % ≥ 90 %.
        let mut vals = vec![1000.0, 10.0];
        vals.extend([12.0; 8]);
        let v = primary(&cell(&vals, Agg::Sum), Agg::Sum, &r);
        assert!(v.rules.contains(&Rule::PPercent), "{v:?}");
        // With k = 95 % the same cell passes (n, k) and still fails p %.
        let strict_k = Rules {
            dominance: crate::rules::Dominance {
                k: 0.95,
                ..Default::default()
            },
            ..Default::default()
        };
        let v = primary(&cell(&vals, Agg::Sum), Agg::Sum, &strict_k);
        assert_eq!(rules_of(&v), vec!["p-percent"]);
    }

    #[test]
    fn mask_vector_and_negatives() {
        let r = Rules::default();
        // 100 persons, 4 with a non-zero value of similar size: p % and (n, k) pass
        // (top 2 = 50 %, rest / top1 = 2), the mask does not.
        let mut vals = vec![10.0, 10.0, 10.0, 10.0];
        vals.extend([0.0; 96]);
        let v = primary(&cell(&vals, Agg::Mean), Agg::Mean, &r);
        assert_eq!(rules_of(&v), vec!["nonzero-threshold"]);
        // One person masked in: p % and (n, k) both catch it too.
        let mut vals = vec![42.0];
        vals.extend([0.0; 99]);
        let v = primary(&cell(&vals, Agg::Mean), Agg::Mean, &r);
        assert_eq!(
            rules_of(&v),
            vec!["nk-dominance", "p-percent", "nonzero-threshold"]
        );
        let mut vals = vec![-5.0];
        vals.extend([3.0; 20]);
        let v = primary(&cell(&vals, Agg::Sum), Agg::Sum, &r);
        assert_eq!(
            (v.outcome, rules_of(&v)),
            (Outcome::Flagged, vec!["negative"])
        );
    }

    #[test]
    fn zeros_and_full_cells_are_configurable() {
        let records = |pairs: &[(&str, &str, u64)]| -> Vec<Record> {
            pairs
                .iter()
                .flat_map(|(r, c, n)| (0..*n).map(move |_| (r, c)))
                .enumerate()
                .map(|(i, (r, c))| Record {
                    row: vec![r.to_string()],
                    col: vec![c.to_string()],
                    unit: i as u64,
                    value: None,
                })
                .collect()
        };
        // Row "a": 20 in "x", nobody in "y" (100 % of row a is x).
        let recs = records(&[("a", "x", 20), ("b", "x", 15), ("b", "y", 30)]);
        let spec = TableSpec {
            name: "t".into(),
            population: String::new(),
            rows: vec!["r".into()],
            cols: vec!["c".into()],
            value: None,
            agg: Agg::Count,
            totals: false,
        };
        let t = build(&spec, &recs).unwrap();
        let find = |r: &str, c: &str| t.cells.iter().find(|x| x.row == r && x.col == c).unwrap();
        let lax = Rules::default();
        assert_eq!(primary(find("a", "y"), Agg::Count, &lax), Verdict::ok());
        assert_eq!(primary(find("a", "x"), Agg::Count, &lax), Verdict::ok());
        let strict = Rules {
            zeros_disclosive: true,
            full_disclosive: true,
            ..Default::default()
        };
        assert_eq!(
            rules_of(&primary(find("a", "y"), Agg::Count, &strict)),
            vec!["zero"]
        );
        assert_eq!(
            rules_of(&primary(find("a", "x"), Agg::Count, &strict)),
            vec!["full"]
        );
        assert_eq!(primary(find("b", "x"), Agg::Count, &strict), Verdict::ok());
    }
}
