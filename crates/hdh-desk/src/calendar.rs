//! Working days: Monday to Friday, except public holidays.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("unknown holiday {0:?} (expected one of: {known})", known = Holiday::names())]
    UnknownHoliday(String),
    #[error("unknown calendar {0:?} (expected france or alsace-moselle)")]
    UnknownCalendar(String),
    #[error("date {0:?}: expected YYYY-MM-DD")]
    BadDate(String),
    #[error("year {0} is outside the calendar (1583–9999)")]
    YearOutOfRange(i32),
}

/// A recurring public holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holiday {
    NewYear,
    /// Vendredi saint (Alsace-Moselle only).
    GoodFriday,
    EasterMonday,
    LabourDay,
    /// 8 May 1945.
    VictoryInEurope,
    /// Easter + 39 days.
    Ascension,
    /// Easter + 50 days (lundi de Pentecôte).
    WhitMonday,
    /// 14 July.
    BastilleDay,
    Assumption,
    AllSaints,
    Armistice,
    Christmas,
    /// 26 December (Alsace-Moselle only).
    StStephen,
}

impl Holiday {
    pub const ALL: [Holiday; 13] = [
        Holiday::NewYear,
        Holiday::GoodFriday,
        Holiday::EasterMonday,
        Holiday::LabourDay,
        Holiday::VictoryInEurope,
        Holiday::Ascension,
        Holiday::WhitMonday,
        Holiday::BastilleDay,
        Holiday::Assumption,
        Holiday::AllSaints,
        Holiday::Armistice,
        Holiday::Christmas,
        Holiday::StStephen,
    ];

    /// Whether it is a public holiday in Alsace-Moselle only (Good Friday,
    /// 26 December); the other 11 are metropolitan France's (Code du
    /// travail, art. L3133-1).
    pub fn alsace_moselle_only(self) -> bool {
        matches!(self, Holiday::GoodFriday | Holiday::StStephen)
    }

    pub fn name(self) -> &'static str {
        match self {
            Holiday::NewYear => "new_year",
            Holiday::GoodFriday => "good_friday",
            Holiday::EasterMonday => "easter_monday",
            Holiday::LabourDay => "labour_day",
            Holiday::VictoryInEurope => "victory_in_europe",
            Holiday::Ascension => "ascension",
            Holiday::WhitMonday => "whit_monday",
            Holiday::BastilleDay => "bastille_day",
            Holiday::Assumption => "assumption",
            Holiday::AllSaints => "all_saints",
            Holiday::Armistice => "armistice",
            Holiday::Christmas => "christmas",
            Holiday::StStephen => "st_stephen",
        }
    }

    /// Every holiday's name, for messages.
    pub fn names() -> String {
        Self::ALL.map(Holiday::name).join(", ")
    }

    pub fn parse(name: &str) -> Result<Holiday, CalendarError> {
        Self::ALL
            .into_iter()
            .find(|h| h.name() == name.trim())
            .ok_or_else(|| CalendarError::UnknownHoliday(name.to_owned()))
    }

    /// Its date in `year`.
    pub fn date(self, year: i32) -> Result<NaiveDate, CalendarError> {
        let fixed =
            |m, d| NaiveDate::from_ymd_opt(year, m, d).ok_or(CalendarError::YearOutOfRange(year));
        let from_easter = |days: i64| -> Result<NaiveDate, CalendarError> {
            let easter =
                computus::gregorian_naive(year).map_err(|_| CalendarError::YearOutOfRange(year))?;
            easter
                .checked_add_signed(chrono::Duration::days(days))
                .ok_or(CalendarError::YearOutOfRange(year))
        };
        match self {
            Holiday::NewYear => fixed(1, 1),
            Holiday::GoodFriday => from_easter(-2),
            Holiday::EasterMonday => from_easter(1),
            Holiday::LabourDay => fixed(5, 1),
            Holiday::VictoryInEurope => fixed(5, 8),
            Holiday::Ascension => from_easter(39),
            Holiday::WhitMonday => from_easter(50),
            Holiday::BastilleDay => fixed(7, 14),
            Holiday::Assumption => fixed(8, 15),
            Holiday::AllSaints => fixed(11, 1),
            Holiday::Armistice => fixed(11, 11),
            Holiday::Christmas => fixed(12, 25),
            Holiday::StStephen => fixed(12, 26),
        }
    }
}

/// Which days are worked: Monday to Friday, except the recurring holidays
/// and the extra closed dates (a bridge day, a closure decided by the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub holidays: BTreeSet<Holiday>,
    #[serde(default)]
    pub closed: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::france()
    }
}

impl Calendar {
    /// Metropolitan France's 11 public holidays.
    pub fn france() -> Calendar {
        Calendar {
            holidays: Holiday::ALL
                .into_iter()
                .filter(|h| !h.alsace_moselle_only())
                .collect(),
            closed: BTreeSet::new(),
        }
    }

    /// France plus Alsace-Moselle's Good Friday and 26 December.
    pub fn alsace_moselle() -> Calendar {
        let mut c = Calendar::france();
        c.holidays.insert(Holiday::GoodFriday);
        c.holidays.insert(Holiday::StStephen);
        c
    }

    /// A calendar from configuration: a base (`france` or
    /// `alsace-moselle`), holidays added and removed by name, closed dates
    /// (`YYYY-MM-DD`).
    pub fn configured(
        base: &str,
        add: &[String],
        remove: &[String],
        closed: &[String],
    ) -> Result<Calendar, CalendarError> {
        let mut c = match base.trim() {
            "" | "france" => Calendar::france(),
            "alsace-moselle" | "alsace_moselle" => Calendar::alsace_moselle(),
            other => return Err(CalendarError::UnknownCalendar(other.to_owned())),
        };
        for h in add {
            c.holidays.insert(Holiday::parse(h)?);
        }
        for h in remove {
            c.holidays.remove(&Holiday::parse(h)?);
        }
        for d in closed {
            let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| CalendarError::BadDate(d.clone()))?;
            c.closed.insert(date);
        }
        Ok(c)
    }

    /// The holiday falling on `date`, if any.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<Holiday> {
        self.holidays
            .iter()
            .copied()
            .find(|h| h.date(date.year()).is_ok_and(|d| d == date))
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && !self.closed.contains(&date)
            && self.holiday_on(date).is_none()
    }

    /// The `n`-th working day after `start` (`start` itself not counted;
    /// `n = 0` gives `start`).
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            match d.checked_add_days(Days::new(1)) {
                Some(next) => d = next,
                None => return d,
            }
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days in `(from, to]`: how many working days have passed
    /// from `from` to `to` (0 when `to <= from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            match d.checked_add_days(Days::new(1)) {
                Some(next) => d = next,
                None => break,
            }
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_based_holidays_on_known_dates() {
        // Easter Sunday 2024-03-31, 2025-04-20, 2026-04-05, 2027-03-28.
        for (year, monday, ascension, whit) in [
            (2024, "2024-04-01", "2024-05-09", "2024-05-20"),
            (2025, "2025-04-21", "2025-05-29", "2025-06-09"),
            (2026, "2026-04-06", "2026-05-14", "2026-05-25"),
            (2027, "2027-03-29", "2027-05-06", "2027-05-17"),
        ] {
            assert_eq!(Holiday::EasterMonday.date(year).unwrap(), d(monday));
            assert_eq!(Holiday::Ascension.date(year).unwrap(), d(ascension));
            assert_eq!(Holiday::WhitMonday.date(year).unwrap(), d(whit));
        }
        assert_eq!(Holiday::GoodFriday.date(2026).unwrap(), d("2026-04-03"));
    }

    #[test]
    fn france_has_eleven_holidays_a_year() {
        let c = Calendar::france();
        for year in [2024, 2025, 2026] {
            let start = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
            let days = (0..366)
                .filter_map(|i| start.checked_add_days(Days::new(i)))
                .filter(|d| d.year() == year)
                .filter(|d| c.holiday_on(*d).is_some())
                .count();
            assert_eq!(days, 11, "{year}");
        }
        assert!(!c.is_working_day(d("2026-07-14")));
        assert!(!c.is_working_day(d("2026-05-14"))); // Ascension
        assert!(c.is_working_day(d("2026-04-03"))); // Good Friday: worked
        assert!(!Calendar::alsace_moselle().is_working_day(d("2026-04-03")));
        assert!(!Calendar::alsace_moselle().is_working_day(d("2025-12-26")));
    }

    #[test]
    fn working_day_arithmetic() {
        let c = Calendar::france();
        // Friday 2026-07-10 + 2 working days: Mon 13, (Tue 14 July off), Wed 15.
        assert_eq!(c.add_working_days(d("2026-07-10"), 2), d("2026-07-15"));
        // Thursday 2026-04-02 + 1: Fri 3; + 2: (Mon 6 Easter Monday off) Tue 7.
        assert_eq!(c.add_working_days(d("2026-04-02"), 1), d("2026-04-03"));
        assert_eq!(c.add_working_days(d("2026-04-02"), 2), d("2026-04-07"));
        // Whit Monday 2026-05-25 and Ascension 2026-05-14 in one span:
        // 7 working days from Wed 2026-05-13 → 15,18,19,20,21,22,26.
        assert_eq!(c.add_working_days(d("2026-05-13"), 7), d("2026-05-26"));
        // A deadline over a weekend: Friday + 1 = Monday.
        assert_eq!(c.add_working_days(d("2026-11-20"), 1), d("2026-11-23"));
        // Counting is the inverse.
        assert_eq!(c.working_days_between(d("2026-05-13"), d("2026-05-26")), 7);
        assert_eq!(c.working_days_between(d("2026-07-10"), d("2026-07-15")), 2);
        assert_eq!(c.working_days_between(d("2026-07-15"), d("2026-07-10")), 0);
        assert_eq!(c.add_working_days(d("2026-07-10"), 0), d("2026-07-10"));
        // A week-end start counts from the next working day.
        assert_eq!(c.add_working_days(d("2026-11-21"), 1), d("2026-11-23"));
    }

    #[test]
    fn configured_calendars() {
        let c = Calendar::configured(
            "france",
            &["good_friday".into()],
            &["whit_monday".into()],
            &["2026-05-15".into()],
        )
        .unwrap();
        assert!(!c.is_working_day(d("2026-04-03")));
        assert!(c.is_working_day(d("2026-05-25")));
        assert!(!c.is_working_day(d("2026-05-15")));
        assert_eq!(
            Calendar::configured("france", &["boxing".into()], &[], &[]).unwrap_err(),
            CalendarError::UnknownHoliday("boxing".into())
        );
        assert!(matches!(
            Calendar::configured("france", &[], &[], &["15/05/2026".into()]),
            Err(CalendarError::BadDate(_))
        ));
        assert_eq!(Holiday::parse("whit_monday").unwrap().name(), "whit_monday");
        assert_eq!(
            Calendar::configured("belgique", &[], &[], &[]).unwrap_err(),
            CalendarError::UnknownCalendar("belgique".into())
        );
    }
}
