//! The single desk's time rules (no I/O).
//!
//! * [`calendar`]: working days: weekends and public holidays (France's,
//!   Easter-based ones computed; more or fewer by configuration, e.g.
//!   Alsace-Moselle's Good Friday and 26 December).
//! * [`clock`]: the clock of each review step of an access request, from
//!   the request's transitions: the working days it has used, its deadline,
//!   whether it is on time, due soon or overdue. A clock stops while the
//!   request is sent back to its applicant.
//! * [`attachment`]: what may be attached to a request (PDF or ODT by
//!   content, within a size limit; a lying extension is refused).
//! * [`stats`]: delay statistics over many requests (median and 90th
//!   percentile per step, share on time, requests per month).
//!
//! The statutory delays (completeness check within 7 working days, ethics
//! opinion within a month, authority decision within two months) are
//! configuration ([`clock::Deadlines`]), expressed in working days.

pub mod attachment;
pub mod calendar;
pub mod clock;
pub mod stats;

pub use calendar::{Calendar, CalendarError};
pub use clock::{ClockState, Deadlines, StepClock, Transition, clocks};
pub use stats::{DelayStats, StepStats, delay_stats};
