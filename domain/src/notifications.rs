//! Notification rules: categories, channel preferences, quiet hours, the pest-control
//! one-day-ahead rule, and the plan of which channels reach a resident. Pure functions,
//! tested without I/O; the API and the workers call them.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::people::{InvalidValue, string_enum};

string_enum! {
    /// What a message is about; preferences and quiet hours are per category.
    Category {
        /// Water, power or gas outage.
        Outage = "outage",
        /// Pest and rodent control (杀虫灭鼠).
        PestControl = "pest_control",
        /// Emergencies.
        Emergency = "emergency",
        /// Community activities and general notices.
        Notice = "notice",
        /// Birthday greetings.
        Greeting = "greeting",
        /// Overdue-fee reminders.
        FeeReminder = "fee_reminder",
        /// Updates on one's repairs, complaints and bookings.
        TicketUpdate = "ticket_update",
        /// New bills, payments and receipts.
        Bill = "bill",
    }
}

impl Category {
    /// Whether messages of this category go out even in quiet hours.
    pub fn ignores_quiet_hours(self) -> bool {
        matches!(self, Category::Outage | Category::Emergency)
    }

    /// Whether a resident without push (or whose push failed for good) gets an SMS instead.
    pub fn warrants_sms(self) -> bool {
        matches!(
            self,
            Category::Outage | Category::Emergency | Category::FeeReminder
        )
    }

    /// Push priority: urgent categories wake the phone.
    pub fn urgent(self) -> bool {
        matches!(
            self,
            Category::Outage | Category::Emergency | Category::TicketUpdate
        )
    }
}

string_enum! {
    /// What an admin's notice is about.
    NoticeCategory {
        /// Water outage (停水).
        WaterOutage = "water_outage",
        /// Power outage (停电).
        PowerOutage = "power_outage",
        /// Gas outage (停气).
        GasOutage = "gas_outage",
        /// Pest control (杀虫灭鼠), announced a day ahead.
        PestControl = "pest_control",
        /// Emergency.
        Emergency = "emergency",
        /// Community activity.
        CommunityActivity = "community_activity",
        /// Anything else.
        General = "general",
    }
}

impl NoticeCategory {
    /// The preference category residents choose channels for.
    pub fn category(self) -> Category {
        match self {
            NoticeCategory::WaterOutage
            | NoticeCategory::PowerOutage
            | NoticeCategory::GasOutage => Category::Outage,
            NoticeCategory::PestControl => Category::PestControl,
            NoticeCategory::Emergency => Category::Emergency,
            NoticeCategory::CommunityActivity | NoticeCategory::General => Category::Notice,
        }
    }

    /// Whether the notice must say why and when service comes back.
    pub fn is_outage(self) -> bool {
        self.category() == Category::Outage
    }
}

string_enum! {
    /// A way to reach a resident besides the in-app inbox, which every message reaches.
    Channel {
        /// Push to the resident's phones (APNs or FCM by device).
        Push = "push",
        /// SMS, for categories that warrant it, when push cannot reach.
        Sms = "sms",
        /// WeChat mini-program subscription message.
        Wechat = "wechat",
    }
}

string_enum! {
    /// A phone's operating system.
    Platform {
        /// iOS (pushes through APNs).
        Ios = "ios",
        /// Android (pushes through FCM).
        Android = "android",
    }
}

string_enum! {
    /// The push service a device token belongs to.
    PushProvider {
        /// Apple Push Notification service.
        Apns = "apns",
        /// Firebase Cloud Messaging (HTTP v1).
        Fcm = "fcm",
    }
}

string_enum! {
    /// Where a notice is in its life.
    NoticeStatus {
        /// Waiting for its send time.
        Scheduled = "scheduled",
        /// Being fanned out to its audience.
        Sending = "sending",
        /// Fanned out to everyone.
        Sent = "sent",
        /// Withdrawn before it went out.
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// Who a delivery is for: `deliveries.recipient_kind`.
    RecipientKind {
        /// A resident (inbox message, push, SMS, WeChat).
        Resident = "resident",
        /// A staff member (push to their phones).
        Staff = "staff",
    }
}

string_enum! {
    /// Where one send to one recipient is.
    DeliveryStatus {
        /// Waiting to be sent (possibly until quiet hours end).
        Pending = "pending",
        /// Claimed by a sender.
        Sending = "sending",
        /// Failed for now; tried again later.
        Retrying = "retrying",
        /// Accepted by the provider.
        Sent = "sent",
        /// Refused for good by the provider.
        Failed = "failed",
        /// The device token is gone; the device was turned off.
        InvalidToken = "invalid_token",
        /// Not sent: the resident's preferences, a missing device or a paid bill.
        Suppressed = "suppressed",
        /// Out of attempts: in the dead letters, where an admin may replay it.
        Dead = "dead",
    }
}

string_enum! {
    /// The channel a delivery row is for.
    DeliveryChannel {
        /// Apple Push Notification service.
        Apns = "apns",
        /// Firebase Cloud Messaging.
        Fcm = "fcm",
        /// SMS.
        Sms = "sms",
        /// WeChat subscription message.
        Wechat = "wechat",
        /// A push suppressed before a device was chosen (no device, or not wanted).
        Push = "push",
    }
}

/// Quiet hours in the community's time zone; the window may wrap midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start of quiet time.
    pub start: NaiveTime,
    /// End of quiet time.
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `HH:MM` bounds; equal bounds are refused (that would be all day or never).
    pub fn parse(start: &str, end: &str) -> Result<Self, InvalidValue> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw.trim(), "%H:%M")
                .map_err(|_| InvalidValue(format!("`{raw}` is not a time of day such as 22:00")))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(InvalidValue("quiet hours start and end must differ".into()));
        }
        Ok(Self { start, end })
    }

    /// When a message of `category` created at `now` may go out: `now`, or the end of the
    /// quiet window it falls in (delayed, never dropped).
    pub fn release_time(&self, category: Category, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if category.ignores_quiet_hours() {
            return now;
        }
        let local = now.with_timezone(&tz);
        let time = local.time();
        let quiet = if self.start < self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !quiet {
            return now;
        }
        let mut date = local.date_naive();
        if self.start > self.end && time >= self.start {
            date = date.succ_opt().unwrap_or(date);
        }
        local_time(tz, date, self.end).unwrap_or(now)
    }
}

/// The UTC instant of a local date and time, taking the earlier one across a DST fold and
/// skipping forward over a gap.
pub fn local_time(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            Some(t.with_timezone(&Utc))
        }
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// Why a pest-control notice cannot be scheduled as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PestControlError {
    /// The event is less than 24 hours away and the notice is not marked urgent.
    #[error(
        "pest control must be announced a day ahead: the event is less than 24 hours away (mark the notice urgent to send it now)"
    )]
    TooSoon,
    /// The event is in the past.
    #[error("the pest-control event is in the past")]
    InThePast,
}

/// When a pest-control notice for an event at `event_at` goes out: the day before at
/// `send_time` community time (10:00 by default). Less than 24 hours ahead is refused
/// unless `urgent`, which sends at once.
pub fn pest_control_send_at(
    event_at: DateTime<Utc>,
    now: DateTime<Utc>,
    tz: Tz,
    send_time: NaiveTime,
    urgent: bool,
) -> Result<DateTime<Utc>, PestControlError> {
    if event_at <= now {
        return Err(PestControlError::InThePast);
    }
    if event_at - now < Duration::hours(24) {
        return if urgent {
            Ok(now)
        } else {
            Err(PestControlError::TooSoon)
        };
    }
    let day_before = event_at
        .with_timezone(&tz)
        .date_naive()
        .pred_opt()
        .ok_or(PestControlError::InThePast)?;
    let at = local_time(tz, day_before, send_time).ok_or(PestControlError::InThePast)?;
    // An event early in the morning: 10:00 the day before is still ≥ 24 h ahead of an event
    // before 10:00, and at most 38 h before; if that moment has passed, send now.
    Ok(at.max(now))
}

/// Whether `today` (community time) is the resident's birthday; 29 February birthdays are
/// greeted on 28 February in common years.
pub fn is_birthday(birthday: NaiveDate, today: NaiveDate) -> bool {
    if birthday.month() == today.month() && birthday.day() == today.day() {
        return true;
    }
    let leap = NaiveDate::from_ymd_opt(today.year(), 2, 29).is_some();
    birthday.month() == 2
        && birthday.day() == 29
        && !leap
        && today.month() == 2
        && today.day() == 28
}

/// A resident's reachability, as the planner needs it.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Channels the resident wants for this category (None = no preference saved: all).
    pub wanted: Option<BTreeSet<Channel>>,
    /// Number of active push devices.
    pub push_devices: usize,
    /// Whether WeChat is bound.
    pub wechat: bool,
}

/// The channels one message uses for one resident, and those the resident turned off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Channels to send on.
    pub send: Vec<Channel>,
    /// Channels the sender asked for but the resident's preferences suppress.
    pub suppressed: Vec<Channel>,
}

/// How a message uses SMS, when SMS is among the channels asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmsUse {
    /// Only when the resident has no push device (and the category warrants SMS).
    #[default]
    Fallback,
    /// Besides push (an overdue reminder from its SMS step on).
    Also,
}

/// Plans the channels for one resident: `requested` are the channels the sender chose.
/// Push goes to every active device; SMS only for categories that warrant it, as the
/// fallback when no push device exists or when the resident chose SMS over push for the
/// category; WeChat when bound. Channels the resident turned off are suppressed.
pub fn plan(category: Category, requested: &BTreeSet<Channel>, reach: &Reach) -> Plan {
    plan_with(category, requested, reach, SmsUse::Fallback)
}

/// [`plan`], with SMS used as `sms` says.
pub fn plan_with(
    category: Category,
    requested: &BTreeSet<Channel>,
    reach: &Reach,
    sms: SmsUse,
) -> Plan {
    let mut plan = Plan::default();
    let wants = |c: Channel| reach.wanted.as_ref().is_none_or(|w| w.contains(&c));
    for &channel in requested {
        let possible = match channel {
            Channel::Push => reach.push_devices > 0,
            Channel::Wechat => reach.wechat,
            // SMS goes where push cannot reach, or where the resident chose it over push
            // for this category.
            Channel::Sms => {
                category.warrants_sms()
                    && (sms == SmsUse::Also || reach.push_devices == 0 || !wants(Channel::Push))
            }
        };
        if !possible {
            continue;
        }
        if wants(channel) {
            plan.send.push(channel);
        } else {
            plan.suppressed.push(channel);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    #[test]
    fn a_resident_who_chose_sms_over_push_gets_the_sms() {
        let all: BTreeSet<Channel> = Channel::ALL.iter().copied().collect();
        let reach = |wanted: Option<&[Channel]>, push_devices| Reach {
            wanted: wanted.map(|w| w.iter().copied().collect()),
            push_devices,
            wechat: false,
        };
        // SMS only, with a phone: push suppressed, SMS sent.
        let p = plan(Category::Outage, &all, &reach(Some(&[Channel::Sms]), 1));
        assert_eq!(
            (p.send, p.suppressed),
            (vec![Channel::Sms], vec![Channel::Push])
        );
        // No preference, with a phone: push only (SMS is the fallback).
        let p = plan(Category::Outage, &all, &reach(None, 1));
        assert_eq!(p.send, vec![Channel::Push]);
        // SMS turned off and no phone: no fallback SMS.
        let p = plan(Category::Outage, &all, &reach(Some(&[Channel::Push]), 0));
        assert!(
            p.send.is_empty() && p.suppressed == vec![Channel::Sms],
            "{p:?}"
        );
        // A notice whose channels exclude SMS sends none, whatever the resident wants.
        let push_only: BTreeSet<Channel> = [Channel::Push].into();
        let p = plan(
            Category::Outage,
            &push_only,
            &reach(Some(&[Channel::Sms]), 1),
        );
        assert!(p.send.is_empty(), "{p:?}");
        // A category that does not warrant SMS never uses it.
        let p = plan(Category::Notice, &all, &reach(Some(&[Channel::Sms]), 1));
        assert!(!p.send.contains(&Channel::Sms), "{p:?}");
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn quiet_hours_delay_greetings_but_not_outages() {
        let quiet = QuietHours::parse("22:00", "07:00").unwrap();
        // 23:30 Shanghai = 15:30 UTC.
        let late = utc(2026, 11, 25, 15, 30);
        assert_eq!(quiet.release_time(Category::Outage, late, Shanghai), late);
        assert_eq!(
            quiet.release_time(Category::Greeting, late, Shanghai),
            utc(2026, 11, 25, 23, 0)
        );
        // 06:00 Shanghai the next morning = 22:00 UTC: released at 07:00 = 23:00 UTC.
        assert_eq!(
            quiet.release_time(Category::FeeReminder, utc(2026, 11, 25, 22, 0), Shanghai),
            utc(2026, 11, 25, 23, 0)
        );
        // 12:00 Shanghai: not quiet.
        let noon = utc(2026, 11, 25, 4, 0);
        assert_eq!(quiet.release_time(Category::Greeting, noon, Shanghai), noon);
    }

    #[test]
    fn daytime_quiet_windows_work_too() {
        let quiet = QuietHours::parse("12:00", "14:00").unwrap();
        let lunch = utc(2026, 11, 25, 4, 30); // 12:30 Shanghai
        assert_eq!(
            quiet.release_time(Category::Notice, lunch, Shanghai),
            utc(2026, 11, 25, 6, 0)
        );
        assert!(QuietHours::parse("10:00", "10:00").is_err());
    }

    #[test]
    fn pest_control_goes_out_the_day_before_at_ten() {
        let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
        let now = utc(2026, 11, 25, 2, 0); // 10:00 Shanghai on the 25th
        let event = utc(2026, 11, 28, 1, 0); // 09:00 Shanghai on the 28th
        assert_eq!(
            pest_control_send_at(event, now, Shanghai, ten, false),
            Ok(utc(2026, 11, 27, 2, 0))
        );
        let tomorrow_morning = now + Duration::hours(20);
        assert_eq!(
            pest_control_send_at(tomorrow_morning, now, Shanghai, ten, false),
            Err(PestControlError::TooSoon)
        );
        assert_eq!(
            pest_control_send_at(tomorrow_morning, now, Shanghai, ten, true),
            Ok(now)
        );
        assert_eq!(
            pest_control_send_at(now - Duration::hours(1), now, Shanghai, ten, true),
            Err(PestControlError::InThePast)
        );
        // 30 h ahead but the day-before 10:00 has passed: send now.
        let event = utc(2026, 11, 26, 8, 0); // 16:00 Shanghai on the 26th
        assert_eq!(
            pest_control_send_at(event, now + Duration::hours(1), Shanghai, ten, false),
            Ok(now + Duration::hours(1))
        );
    }

    #[test]
    fn birthdays_include_leap_day_in_common_years() {
        let born = NaiveDate::from_ymd_opt(1980, 5, 17).unwrap();
        assert!(is_birthday(
            born,
            NaiveDate::from_ymd_opt(2026, 5, 17).unwrap()
        ));
        assert!(!is_birthday(
            born,
            NaiveDate::from_ymd_opt(2026, 5, 18).unwrap()
        ));
        let leap = NaiveDate::from_ymd_opt(2000, 2, 29).unwrap();
        assert!(is_birthday(
            leap,
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        ));
        assert!(!is_birthday(
            leap,
            NaiveDate::from_ymd_opt(2028, 2, 28).unwrap()
        ));
        assert!(is_birthday(
            leap,
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        ));
    }

    #[test]
    fn plans_respect_preferences_and_fall_back_to_sms() {
        let all: BTreeSet<Channel> = Channel::ALL.iter().copied().collect();
        let with_phone = Reach {
            wanted: None,
            push_devices: 2,
            wechat: true,
        };
        assert_eq!(
            plan(Category::Outage, &all, &with_phone).send,
            [Channel::Push, Channel::Wechat]
        );
        let no_push = Reach {
            wanted: None,
            push_devices: 0,
            wechat: false,
        };
        assert_eq!(plan(Category::Outage, &all, &no_push).send, [Channel::Sms]);
        assert!(
            plan(Category::Greeting, &all, &no_push).send.is_empty(),
            "greetings never go by SMS"
        );
        let push_off = Reach {
            wanted: Some([Channel::Wechat].into()),
            push_devices: 1,
            wechat: true,
        };
        let p = plan(Category::Notice, &all, &push_off);
        assert_eq!(p.send, [Channel::Wechat]);
        assert_eq!(p.suppressed, [Channel::Push]);
        let only_push: BTreeSet<Channel> = [Channel::Push].into();
        assert_eq!(
            plan(Category::Notice, &only_push, &with_phone).send,
            [Channel::Push]
        );
    }

    #[test]
    fn notice_categories_map_to_preference_categories() {
        assert_eq!(NoticeCategory::WaterOutage.category(), Category::Outage);
        assert!(NoticeCategory::GasOutage.is_outage());
        assert_eq!(
            NoticeCategory::CommunityActivity.category(),
            Category::Notice
        );
        assert!(Category::Outage.ignores_quiet_hours());
        assert!(!Category::Greeting.ignores_quiet_hours());
    }
}

/// A rendered message: what the inbox shows and push/WeChat/SMS carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// What a notice says, as the admin wrote it.
#[derive(Debug, Clone)]
pub struct NoticeText<'a> {
    /// Category.
    pub category: NoticeCategory,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Why (outages).
    pub reason: Option<&'a str>,
    /// When service stops.
    pub starts_at: Option<DateTime<Utc>>,
    /// When service is expected back (outages).
    pub restores_at: Option<DateTime<Utc>>,
}

/// Renders a notice for one resident in their locale: a greeting with their name and
/// household, the admin's text, and for outages the reason, the restore time (community
/// time) and the apology line the service manual asks for.
pub fn render_notice(
    notice: &NoticeText<'_>,
    locale: crate::people::Locale,
    name: &str,
    household: &str,
    tz: Tz,
) -> Rendered {
    use crate::people::Locale;
    let when = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let mut body = match locale {
        Locale::ZhCn => format!("尊敬的{name}（{household}）：{}", notice.body),
        Locale::En => format!("Dear {name} ({household}): {}", notice.body),
    };
    if notice.category.is_outage() {
        match locale {
            Locale::ZhCn => {
                if let Some(start) = notice.starts_at {
                    body.push_str(&format!(" 开始时间：{}。", when(start)));
                }
                if let Some(reason) = notice.reason {
                    body.push_str(&format!(" 原因：{reason}。"));
                }
                if let Some(restore) = notice.restores_at {
                    body.push_str(&format!(" 预计恢复时间：{}。", when(restore)));
                }
                body.push_str(" 不便之处请您见谅。");
            }
            Locale::En => {
                if let Some(start) = notice.starts_at {
                    body.push_str(&format!(" Starts: {}.", when(start)));
                }
                if let Some(reason) = notice.reason {
                    body.push_str(&format!(" Reason: {reason}."));
                }
                if let Some(restore) = notice.restores_at {
                    body.push_str(&format!(" Expected back: {}.", when(restore)));
                }
                body.push_str(" We apologise for the inconvenience.");
            }
        }
    }
    Rendered {
        title: notice.title.to_owned(),
        body,
    }
}

/// Renders a birthday greeting.
pub fn render_birthday(locale: crate::people::Locale, name: &str, company: &str) -> Rendered {
    use crate::people::Locale;
    match locale {
        Locale::ZhCn => Rendered {
            title: "生日快乐".into(),
            body: format!("亲爱的{name}，{company}全体员工祝您生日快乐，身体健康，万事如意！"),
        },
        Locale::En => Rendered {
            title: "Happy birthday".into(),
            body: format!("Dear {name}, everyone at {company} wishes you a very happy birthday!"),
        },
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;
    use crate::people::Locale;
    use chrono_tz::Asia::Shanghai;

    #[test]
    fn outage_notices_carry_reason_restore_time_and_apology() {
        let notice = NoticeText {
            category: NoticeCategory::WaterOutage,
            title: "停水通知",
            body: "3栋明日停水。",
            reason: Some("水管检修"),
            starts_at: None,
            restores_at: Some(Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()),
        };
        let zh = render_notice(&notice, Locale::ZhCn, "张三", "3栋1单元1201", Shanghai);
        assert_eq!(zh.title, "停水通知");
        assert!(
            zh.body.starts_with("尊敬的张三（3栋1单元1201）："),
            "{}",
            zh.body
        );
        assert!(zh.body.contains("原因：水管检修"), "{}", zh.body);
        assert!(
            zh.body.contains("预计恢复时间：2026-11-26 18:00"),
            "{}",
            zh.body
        );
        assert!(zh.body.ends_with("不便之处请您见谅。"), "{}", zh.body);
        let en = render_notice(&notice, Locale::En, "Emma", "3-1-1202", Shanghai);
        assert!(
            en.body.contains("Expected back: 2026-11-26 18:00"),
            "{}",
            en.body
        );
        assert!(
            en.body.ends_with("We apologise for the inconvenience."),
            "{}",
            en.body
        );
        let general = NoticeText {
            category: NoticeCategory::General,
            ..notice
        };
        assert!(
            !render_notice(&general, Locale::ZhCn, "张三", "x", Shanghai)
                .body
                .contains("见谅")
        );
    }

    #[test]
    fn greetings_are_personal() {
        assert!(
            render_birthday(Locale::ZhCn, "张三", "庭院物业")
                .body
                .contains("亲爱的张三")
        );
        assert!(
            render_birthday(Locale::En, "Emma", "Courtyard")
                .body
                .contains("Dear Emma")
        );
    }
}
