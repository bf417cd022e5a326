//! A community's fee policy: when bills fall due, and its late-fee rule. Stored as JSON in
//! `communities.fee_policy`; a missing policy means the defaults.

use chrono::{Datelike as _, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{LateFeePolicy, bills::Period};
use crate::people::InvalidValue;

/// How a community bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// The day of the month after the period on which its bill falls due (1–28).
    pub due_day: u32,
    /// Late fees (滞纳金), off by default.
    #[serde(default)]
    pub late_fee: LateFeePolicy,
}

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            due_day: 15,
            late_fee: LateFeePolicy::default(),
        }
    }
}

impl FeePolicy {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), (&'static str, InvalidValue)> {
        if !(1..=28).contains(&self.due_day) {
            return Err((
                "due_day",
                InvalidValue("the due day is a day of the month from 1 to 28".into()),
            ));
        }
        let late = &self.late_fee;
        if !(0..=10_000).contains(&late.daily_ppm) {
            return Err((
                "late_fee.daily_ppm",
                InvalidValue("the daily rate is 0 to 10,000 parts per million (1 % a day)".into()),
            ));
        }
        if !(0..=365).contains(&late.grace_days) {
            return Err((
                "late_fee.grace_days",
                InvalidValue("grace is 0 to 365 days".into()),
            ));
        }
        if !(0..=100).contains(&late.cap_percent) {
            return Err((
                "late_fee.cap_percent",
                InvalidValue("the cap is 0 to 100 % of the principal".into()),
            ));
        }
        Ok(())
    }

    /// The due date of `period`'s bill: the due day of the following month.
    pub fn due_date(&self, period: Period) -> NaiveDate {
        let next = period.next().first_day();
        next.with_day0(self.due_day.clamp(1, 28) - 1)
            .unwrap_or(next)
    }

    /// The policy stored in a community row; the defaults when none is stored or it is
    /// unreadable.
    pub fn from_stored(stored: Option<&serde_json::Value>) -> Self {
        stored
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bills_fall_due_on_the_due_day_of_the_following_month() {
        let policy = FeePolicy::default();
        let nov = Period::parse("2026-11").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            policy.due_date(nov),
            NaiveDate::from_ymd_opt(2026, 12, 15).unwrap_or_default()
        );
        let dec = Period::parse("2026-12").unwrap_or_else(|e| panic!("{e:?}"));
        let first = FeePolicy {
            due_day: 1,
            ..policy
        };
        assert_eq!(
            first.due_date(dec),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default()
        );
    }

    #[test]
    fn the_policy_checks_its_ranges() {
        assert!(FeePolicy::default().validate().is_ok());
        let bad_day = FeePolicy {
            due_day: 31,
            ..FeePolicy::default()
        };
        assert_eq!(bad_day.validate().err().map(|e| e.0), Some("due_day"));
        let mut bad_cap = FeePolicy::default();
        bad_cap.late_fee.cap_percent = 101;
        assert_eq!(
            bad_cap.validate().err().map(|e| e.0),
            Some("late_fee.cap_percent")
        );
        // Stored JSON without a late-fee part reads as off.
        let stored = serde_json::json!({ "due_day": 10 });
        let read = FeePolicy::from_stored(Some(&stored));
        assert_eq!(read.due_day, 10);
        assert!(!read.late_fee.enabled);
        assert_eq!(FeePolicy::from_stored(None), FeePolicy::default());
    }
}
