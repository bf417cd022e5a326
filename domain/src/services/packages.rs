//! Monthly packages (包月): N visits a month for one price, each visit in the resident's
//! weekly slot (a weekday and a start time), each issued as a booking of its own a few days
//! ahead. Which days a month's visits fall on, what a month that starts late costs, how many
//! visits a renewal carries over, and where each visit stands. Pure.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::{
    fees::bills::Period,
    org::WorkingHours,
    people::{InvalidValue, string_enum},
};

string_enum! {
    /// What happens to a month's visits that were not used (skipped by the resident).
    UnusedVisits {
        /// They lapse at the month's end (the default).
        Lapse = "lapse",
        /// A renewal for the next month adds them, on the weekly slot's spare days.
        Carry = "carry",
    }
}

impl Default for UnusedVisits {
    // The macro-built enum cannot take `#[default]` on one variant.
    #[allow(clippy::derivable_impls)]
    fn default() -> Self {
        Self::Lapse
    }
}

string_enum! {
    /// Where a package month stands.
    PackageState {
        /// Subscribed: paid or waiting for payment, visits scheduled.
        Active = "active",
        /// Cancelled: its visits not yet issued are given back.
        Cancelled = "cancelled",
        /// The month is over.
        Ended = "ended",
    }
}

string_enum! {
    /// Where one visit of a package stands.
    VisitStatus {
        /// On the calendar, its place held; its booking is issued a few days ahead.
        Scheduled = "scheduled",
        /// Its booking is issued and the work not done yet.
        Issued = "issued",
        /// The work was done.
        Done = "done",
        /// The resident skipped it (cancelled its booking).
        Skipped = "skipped",
        /// Never issued: the package was cancelled first.
        Lapsed = "lapsed",
    }
}

/// The weekly slot a package's visits take: a weekday and a start time (local).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklySlot {
    /// ISO weekday, 1 (Monday) to 7 (Sunday).
    pub weekday: u8,
    /// The slot's start, local time.
    pub start: NaiveTime,
}

impl WeeklySlot {
    /// Checks a weekday of 1–7 and a start time written `HH:MM`.
    pub fn new(weekday: u8, start: &str) -> Result<Self, (&'static str, InvalidValue)> {
        if !(1..=7).contains(&weekday) {
            return Err((
                "weekday",
                InvalidValue("a weekday is 1 (Monday) to 7 (Sunday)".into()),
            ));
        }
        let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").map_err(|_| {
            (
                "start_time",
                InvalidValue(format!("`{start}` is not a time written HH:MM")),
            )
        })?;
        Ok(Self { weekday, start })
    }

    /// The chrono weekday.
    pub fn day(self) -> Weekday {
        Weekday::try_from(self.weekday - 1).unwrap_or(Weekday::Mon)
    }

    /// The slot's dates in `period` on or after `from`, working days only (a holiday's
    /// visit is not made up), in order.
    pub fn dates(self, period: Period, from: NaiveDate, hours: &WorkingHours) -> Vec<NaiveDate> {
        let first = period.first_day();
        let next = period.next().first_day();
        let mut day = first.max(from);
        while day.weekday() != self.day() {
            day += Duration::days(1);
        }
        let mut out = Vec::new();
        while day < next {
            if hours.is_working_day(day) {
                out.push(day);
            }
            day += Duration::days(7);
        }
        out
    }
}

/// One month of a package: its visit days and its price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMonth {
    /// The visit days, in order: at most the package's visits (plus any carried over).
    pub dates: Vec<NaiveDate>,
    /// What the month costs, fen.
    pub price_fen: i64,
    /// Visits carried over from the month before that found a day.
    pub carried: u32,
}

/// Plans a package month: the first `visits` of the slot's days from `from` on (plus up to
/// `carried` more on its spare days), at `price_fen` for the full month, less the visits a
/// month that starts late (or has holidays) cannot hold, pro rata, rounded half up. No visit
/// day left: an error naming the month.
pub fn plan_month(
    slot: WeeklySlot,
    period: Period,
    from: NaiveDate,
    hours: &WorkingHours,
    visits: u32,
    carried: u32,
    price_fen: i64,
) -> Result<PackageMonth, InvalidValue> {
    let days = slot.dates(period, from, hours);
    let regular = (visits as usize).min(days.len());
    if regular == 0 {
        return Err(InvalidValue(format!(
            "no visit day is left in {period} on this weekday; start next month"
        )));
    }
    let extra = (carried as usize).min(days.len() - regular);
    let price = if visits == 0 {
        0
    } else {
        (price_fen * regular as i64 * 2 + i64::from(visits)) / (2 * i64::from(visits))
    };
    Ok(PackageMonth {
        dates: days[..regular + extra].to_vec(),
        price_fen: price,
        carried: extra as u32,
    })
}

/// What a renewal carries into the next month: the skipped visits under
/// [`UnusedVisits::Carry`], none when they lapse.
pub fn carry_over(policy: UnusedVisits, skipped: u32) -> u32 {
    match policy {
        UnusedVisits::Lapse => 0,
        UnusedVisits::Carry => skipped,
    }
}

/// What is given back when a paid package month is cancelled: the share of its price of
/// the visits not yet issued, rounded down to the fen (the issued ones are the resident's).
pub fn cancel_refund(price_fen: i64, visits: u32, not_issued: u32) -> i64 {
    if visits == 0 {
        return 0;
    }
    price_fen * i64::from(not_issued.min(visits)) / i64::from(visits)
}

/// Checks a package's visits a month: 1 to 31.
pub fn check_visits(visits: Option<u32>) -> Result<u32, (&'static str, InvalidValue)> {
    match visits {
        Some(v) if (1..=31).contains(&v) => Ok(v),
        Some(v) => Err((
            "visits_per_month",
            InvalidValue(format!("{v} is not 1 to 31 visits a month")),
        )),
        None => Err((
            "visits_per_month",
            InvalidValue("a package states its visits a month".into()),
        )),
    }
}

/// Counts of a package's visits as the resident sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitCounts {
    /// Done.
    pub used: u32,
    /// Still to come: scheduled or issued.
    pub remaining: u32,
    /// Skipped by the resident.
    pub skipped: u32,
}

impl VisitCounts {
    /// Counts visits by status; lapsed visits count as neither used nor remaining.
    pub fn of(statuses: impl IntoIterator<Item = VisitStatus>) -> Self {
        let mut c = Self::default();
        for s in statuses {
            match s {
                VisitStatus::Done => c.used += 1,
                VisitStatus::Scheduled | VisitStatus::Issued => c.remaining += 1,
                VisitStatus::Skipped => c.skipped += 1,
                VisitStatus::Lapsed => {}
            }
        }
        c
    }
}

/// Where a visit stands: from its booking's ticket state once issued; before, scheduled
/// (lapsed when its package was cancelled or its month ended first, or its time `passed`
/// without it being issued: a month unpaid until then).
pub fn visit_status(
    issued: Option<crate::tickets::TicketState>,
    package_open: bool,
    passed: bool,
) -> VisitStatus {
    use crate::tickets::TicketState::*;
    match issued {
        None if package_open && !passed => VisitStatus::Scheduled,
        None => VisitStatus::Lapsed,
        Some(Cancelled) => VisitStatus::Skipped,
        Some(Completed | AwaitingCallback | Closed | Reopened) => VisitStatus::Done,
        Some(_) => VisitStatus::Issued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> WorkingHours {
        // Monday to Saturday; Christmas Day (a Friday in 2026) off.
        WorkingHours::parse(
            "09:00",
            "18:00",
            &[1, 2, 3, 4, 5, 6],
            &["2026-12-25".into()],
        )
        .unwrap()
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(if m == 1 { 2027 } else { 2026 }, m, d).unwrap()
    }

    fn december() -> Period {
        Period::parse("2026-12").unwrap()
    }

    #[test]
    fn a_weekly_slot_takes_its_weekday_and_a_slot_start() {
        let slot = WeeklySlot::new(2, "09:00").unwrap();
        assert_eq!(slot.day(), Weekday::Tue);
        assert_eq!(WeeklySlot::new(0, "09:00").unwrap_err().0, "weekday");
        assert_eq!(WeeklySlot::new(8, "09:00").unwrap_err().0, "weekday");
        assert_eq!(WeeklySlot::new(1, "9am").unwrap_err().0, "start_time");
        assert_eq!(WeeklySlot::new(7, "25:00").unwrap_err().0, "start_time");
    }

    #[test]
    fn a_month_holds_the_first_visits_of_its_working_weekdays() {
        // Tuesdays of December 2026: the 1st, 8th, 15th, 22nd and 29th; four are taken.
        let tue = WeeklySlot::new(2, "09:00").unwrap();
        let m = plan_month(tue, december(), day(11, 26), &hours(), 4, 0, 40_000).unwrap();
        assert_eq!(m.dates, [day(12, 1), day(12, 8), day(12, 15), day(12, 22)]);
        assert_eq!((m.price_fen, m.carried), (40_000, 0));
        // A Sunday is not a working day here: no visit day at all.
        let sun = WeeklySlot::new(7, "09:00").unwrap();
        assert!(plan_month(sun, december(), day(11, 26), &hours(), 4, 0, 40_000).is_err());
    }

    #[test]
    fn a_month_that_starts_late_or_has_holidays_costs_less_pro_rata() {
        // Fridays: the 4th, 11th, 18th; the 25th is a holiday, not made up.
        let fri = WeeklySlot::new(5, "09:00").unwrap();
        let m = plan_month(fri, december(), day(11, 26), &hours(), 4, 0, 40_000).unwrap();
        assert_eq!(m.dates, [day(12, 4), day(12, 11), day(12, 18)]);
        assert_eq!(m.price_fen, 30_000);
        // Subscribed on the 10th: two visits left, half the price.
        let m = plan_month(fri, december(), day(12, 10), &hours(), 4, 0, 40_000).unwrap();
        assert_eq!(m.dates, [day(12, 11), day(12, 18)]);
        assert_eq!(m.price_fen, 20_000);
        // Rounded half up to the fen: 1 of 3 visits of ¥100.00 is ¥33.33; 2 of 3 ¥66.67.
        let m = plan_month(fri, december(), day(12, 15), &hours(), 3, 0, 10_000).unwrap();
        assert_eq!(m.price_fen, 3_333);
        let m = plan_month(fri, december(), day(12, 10), &hours(), 3, 0, 10_000).unwrap();
        assert_eq!(m.price_fen, 6_667);
        // After the last Friday: nothing left this month.
        let err = plan_month(fri, december(), day(12, 19), &hours(), 4, 0, 40_000).unwrap_err();
        assert!(err.0.contains("2026-12"), "{}", err.0);
    }

    #[test]
    fn carried_visits_take_the_spare_days_at_no_charge() {
        // January 2027 has five Fridays: four visits and one carried over.
        let fri = WeeklySlot::new(5, "09:00").unwrap();
        let january = Period::parse("2027-01").unwrap();
        let m = plan_month(fri, january, day(1, 1), &hours(), 4, 2, 40_000).unwrap();
        assert_eq!(m.dates.len(), 5);
        assert_eq!((m.carried, m.price_fen), (1, 40_000));
        assert_eq!(carry_over(UnusedVisits::Carry, 2), 2);
        assert_eq!(carry_over(UnusedVisits::Lapse, 2), 0);
        assert_eq!(UnusedVisits::default(), UnusedVisits::Lapse);
    }

    #[test]
    fn a_cancelled_month_refunds_the_share_of_the_visits_not_issued() {
        assert_eq!(cancel_refund(40_000, 4, 4), 40_000);
        assert_eq!(cancel_refund(40_000, 4, 1), 10_000);
        assert_eq!(cancel_refund(10_000, 3, 1), 3_333);
        assert_eq!(cancel_refund(40_000, 4, 0), 0);
        assert_eq!(cancel_refund(40_000, 4, 9), 40_000);
        assert_eq!(cancel_refund(40_000, 0, 1), 0);
    }

    #[test]
    fn visits_are_counted_as_used_remaining_and_skipped() {
        use crate::tickets::TicketState::*;
        assert_eq!(visit_status(None, true, false), VisitStatus::Scheduled);
        assert_eq!(visit_status(None, true, true), VisitStatus::Lapsed);
        assert_eq!(visit_status(None, false, false), VisitStatus::Lapsed);
        assert_eq!(
            visit_status(Some(Dispatched), true, true),
            VisitStatus::Issued
        );
        assert_eq!(visit_status(Some(OnSite), false, true), VisitStatus::Issued);
        assert_eq!(
            visit_status(Some(AwaitingCallback), true, true),
            VisitStatus::Done
        );
        assert_eq!(visit_status(Some(Closed), false, true), VisitStatus::Done);
        assert_eq!(
            visit_status(Some(Cancelled), true, true),
            VisitStatus::Skipped
        );
        let c = VisitCounts::of([
            VisitStatus::Done,
            VisitStatus::Skipped,
            VisitStatus::Issued,
            VisitStatus::Scheduled,
            VisitStatus::Lapsed,
        ]);
        assert_eq!((c.used, c.remaining, c.skipped), (1, 2, 1));
        assert_eq!(check_visits(Some(4)), Ok(4));
        assert!(check_visits(Some(0)).is_err() && check_visits(Some(32)).is_err());
        assert_eq!(check_visits(None).unwrap_err().0, "visits_per_month");
    }
}
