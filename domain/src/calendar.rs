//! Working time: a community's working hours, weekdays and holidays as calendar arithmetic.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::org::WorkingHours;

impl WorkingHours {
    /// Minutes in one working day.
    pub fn day_minutes(&self) -> i64 {
        (self.end - self.start).num_minutes()
    }

    /// The moment `minutes` of working time after `from`: time outside working hours,
    /// on non-working weekdays and on holidays does not count.
    pub fn add_working_minutes(&self, from: DateTime<Utc>, tz: Tz, minutes: i64) -> DateTime<Utc> {
        let mut local = from.with_timezone(&tz).naive_local();
        let mut left = minutes.max(0);
        // A community has at least one working weekday, so a working day comes within a
        // week of any date outside its holidays; the bound only guards against bad data.
        for _ in 0..(366 * 20) {
            let date = local.date();
            if !self.is_working_day(date) || local.time() >= self.end {
                local = NaiveDateTime::new(date.succ_opt().unwrap_or(date), self.start);
                continue;
            }
            if local.time() < self.start {
                local = NaiveDateTime::new(date, self.start);
            }
            let today = (NaiveDateTime::new(date, self.end) - local).num_minutes();
            if left <= today {
                return resolve_local(tz, local + Duration::minutes(left));
            }
            left -= today;
            local = NaiveDateTime::new(date.succ_opt().unwrap_or(date), self.start);
        }
        from + Duration::minutes(minutes)
    }
}

/// A local time as an instant; the earlier one in a DST fold, UTC in a gap.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| tz.from_utc_datetime(&local))
        .with_timezone(&Utc)
}
