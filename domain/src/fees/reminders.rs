//! Overdue-fee reminders (催缴): a community's schedule (a "due soon" notice, then steps on
//! set days after the due date, SMS from a set step on, a daytime window), which step is due
//! for a household today, and what the resident is told, in zh-CN and en. Pure: the
//! reminder job and the API call these.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use super::bills::Period;
use crate::{
    money::yuan,
    people::{InvalidValue, Locale, string_enum},
};

/// A community's reminder schedule. Stored as JSON in `communities.reminder_policy`; a
/// missing policy means the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderPolicy {
    /// Whether reminders go out at all.
    pub enabled: bool,
    /// Days before the due date the "due soon" notice goes (0: none).
    pub due_soon_days: u32,
    /// Days after the due date each overdue step goes, ascending.
    pub overdue_days: Vec<u32>,
    /// The first overdue day whose step adds SMS to push and the inbox.
    pub sms_from_day: u32,
    /// The daytime window in the community's time (`HH:MM`, from inclusive, to
    /// exclusive): reminders go out inside it only.
    pub window_from: String,
    /// See `window_from`.
    pub window_to: String,
    /// Whether the last step puts a follow-up on the household's butler's task list.
    pub follow_up: bool,
}

impl Default for ReminderPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            due_soon_days: 3,
            overdue_days: vec![1, 7, 15, 30],
            sms_from_day: 15,
            window_from: "09:00".into(),
            window_to: "20:00".into(),
            follow_up: true,
        }
    }
}

/// One step of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Before the due date.
    DueSoon,
    /// So many days after the due date.
    Overdue(u32),
}

impl Step {
    /// `due_soon`, `overdue_7`.
    pub fn key(self) -> String {
        match self {
            Step::DueSoon => "due_soon".into(),
            Step::Overdue(days) => format!("overdue_{days}"),
        }
    }

    /// The step a key names.
    pub fn parse(key: &str) -> Result<Self, InvalidValue> {
        match key {
            "due_soon" => Ok(Step::DueSoon),
            other => other
                .strip_prefix("overdue_")
                .and_then(|d| d.parse().ok())
                .filter(|d| (1..=365).contains(d))
                .map(Step::Overdue)
                .ok_or_else(|| InvalidValue(format!("`{other}` is not a reminder step"))),
        }
    }
}

string_enum! {
    /// How a household was reminded: the schedule's automatic reminder, or a contact staff
    /// made and recorded.
    ContactChannel {
        /// The schedule's reminder (inbox, push, SMS).
        Auto = "auto",
        /// A phone call.
        Phone = "phone",
        /// A visit at the door.
        Visit = "visit",
        /// A letter (催缴函).
        Letter = "letter",
    }
}

impl ReminderPolicy {
    /// Checks every value's range; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, InvalidValue)> {
        let bad = |field, why: &str| Err((field, InvalidValue(why.into())));
        if self.due_soon_days > 30 {
            return bad(
                "due_soon_days",
                "the due-soon notice goes 0 to 30 days ahead",
            );
        }
        if self.overdue_days.len() > 12 {
            return bad("overdue_days", "at most 12 overdue steps");
        }
        if self.overdue_days.iter().any(|d| !(1..=365).contains(d))
            || self.overdue_days.windows(2).any(|w| w[0] >= w[1])
        {
            return bad(
                "overdue_days",
                "overdue steps are days 1 to 365 after the due date, ascending, each once",
            );
        }
        if !(1..=365).contains(&self.sms_from_day) {
            return bad("sms_from_day", "SMS starts on a day from 1 to 365");
        }
        let (from, to) = self.window().map_err(|e| ("window_from", e))?;
        if from >= to {
            return bad("window_to", "the window ends after it starts, the same day");
        }
        Ok(())
    }

    /// The daytime window.
    pub fn window(&self) -> Result<(NaiveTime, NaiveTime), InvalidValue> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw, "%H:%M")
                .map_err(|_| InvalidValue(format!("`{raw}` is not a time such as 09:00")))
        };
        Ok((time(&self.window_from)?, time(&self.window_to)?))
    }

    /// Whether `local` (community time) is inside the window.
    pub fn in_window(&self, local: NaiveTime) -> bool {
        self.window()
            .is_ok_and(|(from, to)| local >= from && local < to)
    }

    /// The overdue step due today for bills due `due_on`: the latest whose day has come
    /// (after downtime only the latest is sent, never the ones it skipped).
    pub fn overdue_step(&self, due_on: NaiveDate, today: NaiveDate) -> Option<Step> {
        let late = (today - due_on).num_days();
        self.overdue_days
            .iter()
            .rev()
            .find(|&&d| i64::from(d) <= late)
            .map(|&d| Step::Overdue(d))
    }

    /// Whether a bill due `due_on` gets its due-soon notice today.
    pub fn due_soon(&self, due_on: NaiveDate, today: NaiveDate) -> bool {
        let ahead = (due_on - today).num_days();
        self.due_soon_days > 0 && ahead >= 0 && ahead <= i64::from(self.due_soon_days)
    }

    /// Whether `step` adds SMS.
    pub fn sends_sms(&self, step: Step) -> bool {
        matches!(step, Step::Overdue(d) if d >= self.sms_from_day)
    }

    /// Whether `step` is the schedule's last (it raises the butler's follow-up).
    pub fn is_last(&self, step: Step) -> bool {
        matches!(step, Step::Overdue(d) if self.overdue_days.last() == Some(&d))
    }

    /// The policy stored in a community row; the defaults when none is stored or it is
    /// unreadable.
    pub fn from_stored(stored: Option<&serde_json::Value>) -> Self {
        stored
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

/// One bill a reminder lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// Its month.
    pub period: Period,
    /// What it charges for (its lines' names, once each).
    pub items: Vec<String>,
    /// Its amount, fen.
    pub amount_fen: i64,
}

impl Owed {
    /// `2026年10月 物业费/水费 ¥210.35`, `October 2026 Property fee/Water ¥210.35`.
    fn line(&self, month: String) -> String {
        let amount = yuan(self.amount_fen);
        match self.items.is_empty() {
            true => format!("{month} {amount}"),
            false => format!("{month} {} {amount}", self.items.join("/")),
        }
    }
}

/// A reminder's title and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderText {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// What a household's residents are told at `step`: the bills, what they come to, the
/// late fee so far, and where to pay.
pub fn reminder_text(
    locale: Locale,
    step: Step,
    place: &str,
    bills: &[Owed],
    late_fee_fen: i64,
    due_on: NaiveDate,
) -> ReminderText {
    let total: i64 = bills.iter().map(|b| b.amount_fen).sum();
    match locale {
        Locale::ZhCn => {
            let list = bills
                .iter()
                .map(|b| b.line(b.period.first_day().format("%Y年%-m月").to_string()))
                .collect::<Vec<_>>()
                .join("、");
            let late = if late_fee_fen > 0 {
                format!("，截至今日滞纳金 {}", yuan(late_fee_fen))
            } else {
                String::new()
            };
            match step {
                Step::DueSoon => ReminderText {
                    title: "账单即将到期".into(),
                    body: format!(
                        "{place}：{list}账单合计 {}，将于{}到期，请在 App「缴费」中缴纳。如已缴纳请忽略。",
                        yuan(total),
                        due_on.format("%Y年%-m月%-d日"),
                    ),
                },
                Step::Overdue(_) => ReminderText {
                    title: "缴费提醒".into(),
                    body: format!(
                        "{place}：您有{}笔账单已逾期（{list}），合计 {}{late}。请尽快在 App「缴费」中缴纳，如已缴纳请忽略。",
                        bills.len(),
                        yuan(total),
                    ),
                },
            }
        }
        Locale::En => {
            let list = bills
                .iter()
                .map(|b| b.line(b.period.first_day().format("%B %Y").to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            let late = if late_fee_fen > 0 {
                format!(", plus {} in late fees so far", yuan(late_fee_fen))
            } else {
                String::new()
            };
            match step {
                Step::DueSoon => ReminderText {
                    title: "A bill is due soon".into(),
                    body: format!(
                        "{place}: {list}, {} in all, due by {}. Pay under Fees in the app; ignore this if you have paid.",
                        yuan(total),
                        due_on.format("%-d %B %Y"),
                    ),
                },
                Step::Overdue(_) => ReminderText {
                    title: "Payment reminder".into(),
                    body: format!(
                        "{place}: {} overdue bill(s) ({list}), {} in all{late}. Please pay under Fees in the app; ignore this if you have paid.",
                        bills.len(),
                        yuan(total),
                    ),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_latest_step_whose_day_has_come_is_due() {
        let p = ReminderPolicy::default();
        let due = day(2026, 11, 15);
        assert_eq!(
            p.overdue_step(due, day(2026, 11, 15)),
            None,
            "not on the due date"
        );
        assert_eq!(
            p.overdue_step(due, day(2026, 11, 16)),
            Some(Step::Overdue(1))
        );
        assert_eq!(
            p.overdue_step(due, day(2026, 11, 21)),
            Some(Step::Overdue(1))
        );
        assert_eq!(
            p.overdue_step(due, day(2026, 11, 22)),
            Some(Step::Overdue(7))
        );
        // Down from day 6 to day 20: only the 15-day step, not the 7-day one as well.
        assert_eq!(
            p.overdue_step(due, day(2026, 12, 5)),
            Some(Step::Overdue(15))
        );
        assert_eq!(
            p.overdue_step(due, day(2027, 3, 1)),
            Some(Step::Overdue(30))
        );
        assert!(p.is_last(Step::Overdue(30)) && !p.is_last(Step::Overdue(15)));
        assert!(!p.is_last(Step::DueSoon));
    }

    #[test]
    fn due_soon_goes_in_the_days_before_the_due_date() {
        let p = ReminderPolicy::default();
        let due = day(2026, 12, 15);
        assert!(!p.due_soon(due, day(2026, 12, 11)));
        assert!(p.due_soon(due, day(2026, 12, 12)));
        assert!(p.due_soon(due, day(2026, 12, 15)));
        assert!(!p.due_soon(due, day(2026, 12, 16)), "overdue by then");
        let off = ReminderPolicy {
            due_soon_days: 0,
            ..ReminderPolicy::default()
        };
        assert!(!off.due_soon(due, day(2026, 12, 15)));
    }

    #[test]
    fn sms_joins_from_its_step_and_only_inside_the_window() {
        let p = ReminderPolicy::default();
        assert!(!p.sends_sms(Step::DueSoon));
        assert!(!p.sends_sms(Step::Overdue(7)));
        assert!(p.sends_sms(Step::Overdue(15)) && p.sends_sms(Step::Overdue(30)));
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(!p.in_window(t(8, 59)));
        assert!(p.in_window(t(9, 0)));
        assert!(p.in_window(t(19, 59)));
        assert!(!p.in_window(t(20, 0)), "the window's end is not in it");
        assert!(!p.in_window(t(22, 0)));
    }

    #[test]
    fn steps_round_trip_and_policies_are_checked() {
        for step in [Step::DueSoon, Step::Overdue(1), Step::Overdue(30)] {
            assert_eq!(Step::parse(&step.key()).unwrap(), step);
        }
        assert!(Step::parse("overdue_0").is_err());
        assert!(Step::parse("late").is_err());
        assert_eq!(ReminderPolicy::default().validate(), Ok(()));
        let field = |p: ReminderPolicy| p.validate().err().map(|(f, _)| f);
        let base = ReminderPolicy::default;
        assert_eq!(
            field(ReminderPolicy {
                overdue_days: vec![7, 1],
                ..base()
            }),
            Some("overdue_days")
        );
        assert_eq!(
            field(ReminderPolicy {
                window_from: "20:00".into(),
                window_to: "09:00".into(),
                ..base()
            }),
            Some("window_to")
        );
        assert_eq!(
            field(ReminderPolicy {
                window_from: "9am".into(),
                ..base()
            }),
            Some("window_from")
        );
        assert_eq!(ReminderPolicy::from_stored(None), base());
        assert_eq!(
            ReminderPolicy::from_stored(Some(&serde_json::json!({ "bad": 1 }))),
            base()
        );
    }

    #[test]
    fn one_reminder_names_every_overdue_bill_with_the_late_fee() {
        let bills = [
            Owed {
                period: Period::parse("2026-10").unwrap(),
                items: vec!["物业费".into(), "水费".into()],
                amount_fen: 21_035,
            },
            Owed {
                period: Period::parse("2026-11").unwrap(),
                items: vec!["物业费".into()],
                amount_fen: 21_035,
            },
        ];
        let zh = reminder_text(
            Locale::ZhCn,
            Step::Overdue(15),
            "翠湖花园3栋1单元1203",
            &bills,
            1_262,
            day(2026, 11, 15),
        );
        assert_eq!(zh.title, "缴费提醒");
        assert!(zh.body.contains("2笔账单已逾期"), "{}", zh.body);
        assert!(
            zh.body
                .contains("（2026年10月 物业费/水费 ¥210.35、2026年11月 物业费 ¥210.35）"),
            "{}",
            zh.body
        );
        assert!(zh.body.contains("合计 ¥420.70"), "{}", zh.body);
        assert!(zh.body.contains("滞纳金 ¥12.62"), "{}", zh.body);
        let en = reminder_text(
            Locale::En,
            Step::DueSoon,
            "Green Lake 3-1-1203",
            &bills[..1],
            0,
            day(2026, 11, 15),
        );
        assert_eq!(en.title, "A bill is due soon");
        assert!(
            en.body.contains("October 2026 物业费/水费 ¥210.35"),
            "{}",
            en.body
        );
        assert!(en.body.contains("15 November 2026"), "{}", en.body);
        assert!(!en.body.contains("late fees"), "{}", en.body);
    }
}
