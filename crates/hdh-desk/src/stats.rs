//! Delay statistics of the desk: per review step, how many working days
//! it took (median and 90th percentile over the steps that are over), the
//! share done within the delay, what is running and overdue now; and the
//! number of requests submitted per month.

use chrono::{Datelike, NaiveDate};
use hdh_model::request::AccessRequestState as S;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::clock::{ClockState, StepClock};

/// One review step's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub step: S,
    /// The step's delay, in working days.
    pub limit_days: u32,
    /// Steps that are over (decided, refused or withdrawn).
    pub finished: u64,
    /// Median working days of the finished ones.
    pub median_days: Option<f64>,
    /// 90th percentile of the working days of the finished ones.
    pub p90_days: Option<f64>,
    /// Share of the finished ones done within the delay (0–1).
    pub on_time_share: Option<f64>,
    /// Running now.
    pub running: u64,
    /// Running now and past the delay.
    pub overdue: u64,
}

/// The desk's delay statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelayStats {
    pub steps: Vec<StepStats>,
    /// `YYYY-MM` → requests submitted that month (every month between the
    /// first and the last, zeros included).
    pub submitted_per_month: Vec<(String, u64)>,
}

/// The `p`-th percentile (0–100) of sorted values, interpolated linearly
/// between the closest ranks (as numpy's default and R's type 7).
pub fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(f64::from(sorted[lo]) + (f64::from(sorted[hi]) - f64::from(sorted[lo])) * frac)
}

/// Statistics over requests, each given as its clocks and the day it was
/// first submitted (none for a draft).
pub fn delay_stats(requests: &[(Vec<StepClock>, Option<NaiveDate>)]) -> DelayStats {
    let mut steps = Vec::new();
    for step in [
        S::Submitted,
        S::EthicsReview,
        S::AuthorityReview,
        S::ProducerAgreement,
    ] {
        let clocks: Vec<&StepClock> = requests
            .iter()
            .flat_map(|(k, _)| k.iter())
            .filter(|k| k.step == step)
            .collect();
        let mut done: Vec<u32> = clocks
            .iter()
            .filter(|k| matches!(k.state, ClockState::DoneOnTime | ClockState::DoneLate))
            .map(|k| k.used_days)
            .collect();
        done.sort_unstable();
        let on_time = clocks
            .iter()
            .filter(|k| k.state == ClockState::DoneOnTime)
            .count();
        let limit_days = clocks.first().map_or(0, |k| k.limit_days);
        steps.push(StepStats {
            step,
            limit_days,
            finished: done.len() as u64,
            median_days: percentile(&done, 50.0),
            p90_days: percentile(&done, 90.0),
            on_time_share: (!done.is_empty()).then(|| on_time as f64 / done.len() as f64),
            running: clocks.iter().filter(|k| k.state.is_running()).count() as u64,
            overdue: clocks
                .iter()
                .filter(|k| k.state == ClockState::Overdue)
                .count() as u64,
        });
    }
    let mut months: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    for d in requests.iter().filter_map(|(_, d)| *d) {
        *months.entry((d.year(), d.month())).or_default() += 1;
    }
    let mut submitted_per_month = Vec::new();
    if let (Some(&first), Some(&last)) = (months.keys().next(), months.keys().next_back()) {
        let (mut y, mut m) = first;
        while (y, m) <= last {
            submitted_per_month.push((
                format!("{y:04}-{m:02}"),
                months.get(&(y, m)).copied().unwrap_or(0),
            ));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
    }
    DelayStats {
        steps,
        submitted_per_month,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdh_model::role::Role;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn clock(step: S, used: u32, limit: u32, state: ClockState) -> StepClock {
        StepClock {
            step,
            owner: step.reviewer().unwrap_or(Role::Secretariat),
            limit_days: limit,
            used_days: used,
            days_left: i64::from(limit) - i64::from(used),
            started: d("2026-01-05"),
            finished: None,
            deadline: None,
            state,
        }
    }

    #[test]
    fn percentiles_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 90]) == [2.5, 3.7]
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2.5));
        let p90 = percentile(&[1, 2, 3, 4], 90.0).unwrap();
        assert!((p90 - 3.7).abs() < 1e-9, "{p90}");
        assert_eq!(percentile(&[7], 90.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        // numpy.percentile([2, 3, 5, 8, 13, 21], 90) == 17.0
        assert_eq!(percentile(&[2, 3, 5, 8, 13, 21], 90.0), Some(17.0));
    }

    #[test]
    fn per_step_figures_and_months() {
        use ClockState::*;
        let reqs = vec![
            (
                vec![
                    clock(S::Submitted, 3, 7, DoneOnTime),
                    clock(S::EthicsReview, 30, 22, DoneLate),
                ],
                Some(d("2026-01-12")),
            ),
            (
                vec![clock(S::Submitted, 9, 7, DoneLate)],
                Some(d("2026-03-02")),
            ),
            (
                vec![clock(S::Submitted, 8, 7, Overdue)],
                Some(d("2026-03-20")),
            ),
            (vec![], None),
        ];
        let s = delay_stats(&reqs);
        let sub = &s.steps[0];
        assert_eq!(sub.step, S::Submitted);
        assert_eq!(sub.limit_days, 7);
        assert_eq!(sub.finished, 2);
        assert_eq!(sub.median_days, Some(6.0));
        assert_eq!(sub.on_time_share, Some(0.5));
        assert_eq!((sub.running, sub.overdue), (1, 1));
        let eth = &s.steps[1];
        assert_eq!((eth.finished, eth.on_time_share), (1, Some(0.0)));
        let auth = &s.steps[2];
        assert_eq!((auth.finished, auth.median_days), (0, None));
        assert_eq!(
            s.submitted_per_month,
            vec![
                ("2026-01".to_string(), 1),
                ("2026-02".to_string(), 0),
                ("2026-03".to_string(), 2)
            ]
        );
    }
}
