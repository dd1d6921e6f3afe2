//! The clock of each review step of an access request.
//!
//! A step (completeness check, ethics opinion, authority decision) has a
//! delay in working days and an owner (the role that must act). Its clock
//! runs while the request is in that step and stops while the request is
//! anywhere else, in particular while it is sent back to its applicant: the
//! working days used accumulate over every visit, so a resubmitted request
//! resumes where its clocks stopped.

use chrono::NaiveDate;
use hdh_model::request::AccessRequestState as S;
use hdh_model::role::Role;
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;

/// The delays of the review steps, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// Completeness check by the secretariat (statute: 7 working days).
    pub completeness: u32,
    /// Ethics committee opinion (statute: one month ≈ 22 working days).
    pub ethics: u32,
    /// Authority decision (statute: two months ≈ 44 working days).
    pub authority: u32,
    /// Producers' agreement to provide their data (hub's own commitment).
    pub agreement: u32,
    /// A running clock with at most this many working days left is "due soon".
    pub due_soon: u32,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            completeness: 7,
            ethics: 22,
            authority: 44,
            agreement: 10,
            due_soon: 2,
        }
    }
}

impl Deadlines {
    /// The delay of a review step; `None` for a state that is not one.
    pub fn of(&self, step: S) -> Option<u32> {
        match step {
            S::Submitted => Some(self.completeness),
            S::EthicsReview => Some(self.ethics),
            S::AuthorityReview => Some(self.authority),
            S::ProducerAgreement => Some(self.agreement),
            _ => None,
        }
    }
}

/// One change of state, on the day it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: S,
    pub to: S,
    pub on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Running, more than `due_soon` working days left.
    OnTime,
    /// Running, `due_soon` working days left or fewer.
    DueSoon,
    /// Running, past its delay.
    Overdue,
    /// Stopped while the request is sent back to its applicant.
    Stopped,
    /// The step is over, within its delay.
    DoneOnTime,
    /// The step is over, past its delay.
    DoneLate,
}

impl ClockState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::OnTime => "on_time",
            ClockState::DueSoon => "due_soon",
            ClockState::Overdue => "overdue",
            ClockState::Stopped => "stopped",
            ClockState::DoneOnTime => "done_on_time",
            ClockState::DoneLate => "done_late",
        }
    }

    pub fn is_running(self) -> bool {
        matches!(
            self,
            ClockState::OnTime | ClockState::DueSoon | ClockState::Overdue
        )
    }
}

/// The clock of one review step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepClock {
    /// The state the step is (`submitted`, `ethics_review`, `authority_review`).
    pub step: S,
    /// Who must act.
    pub owner: Role,
    /// The step's delay, in working days.
    pub limit_days: u32,
    /// Working days used so far (every visit; not while sent back).
    pub used_days: u32,
    /// Working days left (negative: overdue by that many).
    pub days_left: i64,
    /// When the step was first entered.
    pub started: NaiveDate,
    /// When it was last left for good (approved, refused, withdrawn).
    pub finished: Option<NaiveDate>,
    /// For a running clock within its delay: the last working day to act.
    pub deadline: Option<NaiveDate>,
    pub state: ClockState,
}

/// The clocks of the review steps a request has reached, in the order they
/// were first entered, as of `today`. `transitions` are in the order they
/// happened; `current` is the request's state now.
pub fn clocks(
    transitions: &[Transition],
    current: S,
    today: NaiveDate,
    calendar: &Calendar,
    deadlines: &Deadlines,
) -> Vec<StepClock> {
    struct Acc {
        step: S,
        started: NaiveDate,
        entered: Option<NaiveDate>,
        used: u32,
        left_to: Option<(S, NaiveDate)>,
    }
    let mut steps: Vec<Acc> = Vec::new();
    for t in transitions {
        if let Some(a) = steps.iter_mut().find(|a| a.step == t.from)
            && let Some(entered) = a.entered.take()
        {
            a.used += calendar.working_days_between(entered, t.on);
            a.left_to = Some((t.to, t.on));
        }
        if deadlines.of(t.to).is_some() {
            match steps.iter_mut().find(|a| a.step == t.to) {
                Some(a) => {
                    a.entered = Some(t.on);
                    a.left_to = None;
                }
                None => steps.push(Acc {
                    step: t.to,
                    started: t.on,
                    entered: Some(t.on),
                    used: 0,
                    left_to: None,
                }),
            }
        }
    }
    steps
        .into_iter()
        .filter_map(|a| {
            let limit = deadlines.of(a.step)?;
            let owner = a.step.reviewer()?;
            let running = a.entered.filter(|_| current == a.step);
            let used =
                a.used + running.map_or(0, |entered| calendar.working_days_between(entered, today));
            let days_left = i64::from(limit) - i64::from(used);
            let (state, finished, deadline) = if running.is_some() {
                let state = if days_left < 0 {
                    ClockState::Overdue
                } else if days_left <= i64::from(deadlines.due_soon) {
                    ClockState::DueSoon
                } else {
                    ClockState::OnTime
                };
                let deadline = u32::try_from(days_left)
                    .ok()
                    .map(|n| calendar.add_working_days(today, n));
                (state, None, deadline)
            } else {
                match a.left_to {
                    // Sent back from this step and not decided since:
                    // waiting for the step to come round again.
                    Some((S::SentBack, _)) if !current.is_terminal() => {
                        (ClockState::Stopped, None, None)
                    }
                    Some((_, on)) => (
                        if days_left < 0 {
                            ClockState::DoneLate
                        } else {
                            ClockState::DoneOnTime
                        },
                        Some(on),
                        None,
                    ),
                    None => (ClockState::Stopped, None, None),
                }
            };
            Some(StepClock {
                step: a.step,
                owner,
                limit_days: limit,
                used_days: used,
                days_left,
                started: a.started,
                finished,
                deadline,
                state,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(from: S, to: S, on: &str) -> Transition {
        Transition {
            from,
            to,
            on: d(on),
        }
    }

    #[test]
    fn a_running_completeness_check_counts_working_days_only() {
        let c = Calendar::france();
        let dl = Deadlines::default();
        // Submitted on Friday 2026-07-10: 14 July is a holiday.
        let tr = [t(S::Draft, S::Submitted, "2026-07-10")];
        let k = clocks(&tr, S::Submitted, d("2026-07-15"), &c, &dl);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].owner, Role::Secretariat);
        assert_eq!(k[0].used_days, 2); // Mon 13, Wed 15
        assert_eq!(k[0].days_left, 5);
        assert_eq!(k[0].state, ClockState::OnTime);
        // 7 working days after the 10th: 13, 15, 16, 17, 20, 21, 22.
        assert_eq!(k[0].deadline, Some(d("2026-07-22")));
        let k = clocks(&tr, S::Submitted, d("2026-07-20"), &c, &dl);
        assert_eq!((k[0].days_left, k[0].state), (2, ClockState::DueSoon));
        let k = clocks(&tr, S::Submitted, d("2026-07-23"), &c, &dl);
        assert_eq!((k[0].days_left, k[0].state), (-1, ClockState::Overdue));
        assert_eq!(k[0].deadline, None);
    }

    #[test]
    fn clocks_stop_while_sent_back_and_resume() {
        let c = Calendar::france();
        let dl = Deadlines::default();
        let tr = [
            t(S::Draft, S::Submitted, "2026-09-01"),        // Tue
            t(S::Submitted, S::EthicsReview, "2026-09-03"), // 2 days
            t(S::EthicsReview, S::SentBack, "2026-09-10"),  // 5 days of ethics
        ];
        let k = clocks(&tr, S::SentBack, d("2026-10-30"), &c, &dl);
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].step, S::Submitted);
        assert_eq!(k[0].state, ClockState::DoneOnTime);
        assert_eq!(k[0].finished, Some(d("2026-09-03")));
        assert_eq!(k[1].step, S::EthicsReview);
        assert_eq!(k[1].state, ClockState::Stopped);
        assert_eq!(k[1].used_days, 5, "weeks sent back do not count");

        // Resubmitted: the secretariat's clock resumes (2 used), then ethics
        // resumes at 5 used.
        let mut tr = tr.to_vec();
        tr.push(t(S::SentBack, S::Submitted, "2026-11-02"));
        let k = clocks(&tr, S::Submitted, d("2026-11-03"), &c, &dl);
        assert_eq!(k[0].state, ClockState::OnTime);
        assert_eq!(k[0].used_days, 3);
        assert_eq!(k[1].state, ClockState::Stopped);
        tr.push(t(S::Submitted, S::EthicsReview, "2026-11-03"));
        let k = clocks(&tr, S::EthicsReview, d("2026-11-13"), &c, &dl);
        // 4, 5, 6, 9, 10, (11 November off), 12, 13 = 7 more days.
        assert_eq!(k[1].used_days, 12);
        assert_eq!(k[1].state, ClockState::OnTime);
        assert_eq!(k[1].owner, Role::Committee);
    }

    #[test]
    fn a_late_decision_is_done_late() {
        let c = Calendar::france();
        let dl = Deadlines {
            authority: 3,
            ..Deadlines::default()
        };
        let tr = [
            t(S::Draft, S::Submitted, "2026-03-02"),
            t(S::Submitted, S::EthicsReview, "2026-03-03"),
            t(S::EthicsReview, S::AuthorityReview, "2026-03-04"),
            t(S::AuthorityReview, S::Authorised, "2026-03-12"),
        ];
        let k = clocks(&tr, S::Authorised, d("2026-04-01"), &c, &dl);
        assert_eq!(k.len(), 3);
        assert_eq!(k[2].owner, Role::Authority);
        assert_eq!(k[2].used_days, 6);
        assert_eq!(k[2].days_left, -3);
        assert_eq!(k[2].state, ClockState::DoneLate);
        assert!(k.iter().all(|k| !k.state.is_running()));
        // Serialised for the API.
        let v = serde_json::to_value(&k[2]).unwrap();
        assert_eq!(v["state"], "done_late");
        assert_eq!(v["step"], "authority_review");
    }
}
