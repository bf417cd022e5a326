//! The organisation: company → community → building → unit → household.

use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use crate::people::InvalidValue;

/// A community's IANA time zone (`Asia/Shanghai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(Tz);

impl Timezone {
    /// Parses an IANA zone name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.trim().parse::<Tz>().map(Self).map_err(|_| {
            InvalidValue(format!(
                "`{raw}` is not an IANA time zone such as Asia/Shanghai"
            ))
        })
    }

    /// The zone.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The zone's name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// A short label for a community, building or unit (`3栋`, `1单元`): 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    /// Parses a label.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let label = raw.trim();
        let len = label.chars().count();
        if len == 0 || len > 64 || label.chars().any(char::is_control) {
            return Err(InvalidValue(
                "a name has 1 to 64 characters and no control characters".into(),
            ));
        }
        Ok(Self(label.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A household's room number (`1203`, `B-402`): 1–16 letters, digits or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomNumber(String);

impl RoomNumber {
    /// Parses a room number.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let room = raw.trim();
        let valid = !room.is_empty()
            && room.len() <= 16
            && room.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if valid {
            Ok(Self(room.to_ascii_uppercase()))
        } else {
            Err(InvalidValue(
                "a room number has 1 to 16 letters, digits or '-' (e.g. 1203)".into(),
            ))
        }
    }

    /// The room number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A floor area held in hundredths of a square metre, so fee arithmetic stays integral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FloorArea(i64);

impl FloorArea {
    /// The largest area a household may have (100,000 m²).
    const MAX_CENTI_M2: i64 = 10_000_000;

    /// Parses a decimal number of square metres with at most two decimals (`89.5`).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let err = || {
            InvalidValue(
                "a floor area is a positive number of m² with at most two decimals (e.g. 89.50)"
                    .into(),
            )
        };
        let raw = raw.trim();
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if whole.is_empty()
            || whole.len() > 7
            || frac.len() > 2
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
        Self::from_centi_m2(whole * 100 + frac).map_err(|_| err())
    }

    /// From hundredths of a square metre.
    pub fn from_centi_m2(centi: i64) -> Result<Self, InvalidValue> {
        if centi <= 0 || centi > Self::MAX_CENTI_M2 {
            return Err(InvalidValue(
                "a floor area is between 0.01 and 100000 m²".into(),
            ));
        }
        Ok(Self(centi))
    }

    /// From a JSON number of square metres, rounded to hundredths.
    pub fn from_m2(m2: f64) -> Result<Self, InvalidValue> {
        if !m2.is_finite() {
            return Err(InvalidValue("a floor area is a finite number".into()));
        }
        Self::from_centi_m2((m2 * 100.0).round() as i64)
    }

    /// Hundredths of a square metre.
    pub fn centi_m2(self) -> i64 {
        self.0
    }

    /// Square metres, for display.
    pub fn m2(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// When a community's office works: opening and closing time on working weekdays, and the
/// dates that are holidays. SLA clocks that count working time use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// Opening time.
    pub start: NaiveTime,
    /// Closing time, after `start`.
    pub end: NaiveTime,
    /// Working weekdays.
    pub days: Vec<Weekday>,
    /// Dates with no work, whatever the weekday.
    pub holidays: Vec<NaiveDate>,
}

impl WorkingHours {
    /// Parses `09:00`, `18:00`, weekdays numbered 1 (Monday) to 7 and ISO dates.
    pub fn parse(
        start: &str,
        end: &str,
        days: &[u8],
        holidays: &[String],
    ) -> Result<Self, InvalidValue> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw.trim(), "%H:%M")
                .map_err(|_| InvalidValue(format!("`{raw}` is not a time of day such as 09:00")))
        };
        let (start, end) = (time(start)?, time(end)?);
        if end <= start {
            return Err(InvalidValue("working hours end after they start".into()));
        }
        let mut weekdays = Vec::new();
        for day in days {
            let weekday = match day {
                1 => Weekday::Mon,
                2 => Weekday::Tue,
                3 => Weekday::Wed,
                4 => Weekday::Thu,
                5 => Weekday::Fri,
                6 => Weekday::Sat,
                7 => Weekday::Sun,
                _ => {
                    return Err(InvalidValue(format!(
                        "{day} is not a weekday number 1 (Monday) to 7"
                    )));
                }
            };
            if !weekdays.contains(&weekday) {
                weekdays.push(weekday);
            }
        }
        if weekdays.is_empty() {
            return Err(InvalidValue("at least one working day is needed".into()));
        }
        let mut dates = Vec::with_capacity(holidays.len());
        for raw in holidays {
            dates.push(
                NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
                    InvalidValue(format!("`{raw}` is not a date such as 2026-10-01"))
                })?,
            );
        }
        dates.sort();
        dates.dedup();
        Ok(Self {
            start,
            end,
            days: weekdays,
            holidays: dates,
        })
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        use chrono::Datelike;
        self.days.contains(&date.weekday()) && self.holidays.binary_search(&date).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_areas_are_exact_hundredths() {
        assert_eq!(FloorArea::parse("89.5").unwrap().centi_m2(), 8950);
        assert_eq!(FloorArea::parse("120").unwrap().centi_m2(), 12000);
        assert_eq!(FloorArea::parse(" 0.01 ").unwrap().centi_m2(), 1);
        assert_eq!(FloorArea::from_m2(89.99).unwrap().centi_m2(), 8999);
        for bad in ["", "0", "-3", "1.234", "abc", "1e3", ".5", "100000.01"] {
            assert!(FloorArea::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn room_numbers_are_normalised() {
        assert_eq!(RoomNumber::parse(" b-402 ").unwrap().as_str(), "B-402");
        assert!(RoomNumber::parse("12 03").is_err());
        assert!(RoomNumber::parse("").is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            Timezone::parse("Asia/Shanghai").unwrap().name(),
            "Asia/Shanghai"
        );
        assert!(Timezone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn working_hours_know_holidays() {
        let hours = WorkingHours::parse("09:00", "18:00", &[1, 2, 3, 4, 5], &["2026-10-01".into()])
            .unwrap();
        let thursday = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let friday = NaiveDate::from_ymd_opt(2026, 10, 2).unwrap();
        let saturday = NaiveDate::from_ymd_opt(2026, 10, 3).unwrap();
        assert!(!hours.is_working_day(thursday));
        assert!(hours.is_working_day(friday));
        assert!(!hours.is_working_day(saturday));
        assert!(WorkingHours::parse("18:00", "09:00", &[1], &[]).is_err());
        assert!(WorkingHours::parse("09:00", "18:00", &[8], &[]).is_err());
    }
}
