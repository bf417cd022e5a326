//! Paid household services (有偿服务): the catalog's vocabulary and prices, a community's
//! service policy with its defaults, the slots a team's day is cut into, what a booking
//! costs, and what a cancellation keeps. A booking is a ticket of kind `service_booking`:
//! its lifecycle is the ticket state machine's (`tickets::transition`), with the time
//! confirmed before the order is issued. Pure: the API and the workers call these.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{
    calendar::resolve_local,
    org::WorkingHours,
    people::{InvalidValue, string_enum},
    tickets::{ClockKind, Span},
};

pub mod laundry;
pub mod messages;
pub mod packages;
#[cfg(test)]
mod tests;

string_enum! {
    /// What kind of household service.
    ServiceCategory {
        /// Cleaning (保洁): hourly (钟点) or a monthly package (包月).
        Cleaning = "cleaning",
        /// Greenery (绿化): pruning, planting, lawns.
        Greenery = "greenery",
        /// Laundry (洗衣): pickup at the door, the vendor, delivery back.
        Laundry = "laundry",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How a service is priced.
    Pricing {
        /// One price for the job, stated in the catalog.
        Fixed = "fixed",
        /// A price per hour worked (钟点), with a minimum of hours.
        PerHour = "per_hour",
        /// A price per item (laundry).
        PerItem = "per_item",
        /// Priced on site; the resident accepts the price before work starts.
        Quoted = "quoted",
        /// A monthly package (包月): a price a month for a number of visits, paid ahead.
        Package = "package",
    }
}

string_enum! {
    /// When a booking is paid.
    PayWhen {
        /// At booking: the time is confirmed once it is paid.
        Before = "before",
        /// After the work, for the amount it came to.
        After = "after",
    }
}

string_enum! {
    /// Where a booking's time stands: the time is confirmed before the order is issued.
    TimeStatus {
        /// The resident asked for a slot; staff have not confirmed it.
        Requested = "requested",
        /// Staff proposed another slot; the resident has not answered.
        Proposed = "proposed",
        /// Confirmed: the work order is issued.
        Confirmed = "confirmed",
    }
}

impl Pricing {
    /// When a service priced this way is paid, unless its catalog entry says otherwise:
    /// a fixed price before, anything whose amount is known only after the work after.
    pub fn default_pay(self) -> PayWhen {
        match self {
            Pricing::Fixed | Pricing::Package => PayWhen::Before,
            _ => PayWhen::After,
        }
    }

    /// Whether paying before the work is possible: only a fixed price (or a package's
    /// monthly price) is known then.
    pub fn can_prepay(self) -> bool {
        matches!(self, Pricing::Fixed | Pricing::Package)
    }

    /// Whether paying after the work is possible: not for a package, paid by the month.
    pub fn can_pay_after(self) -> bool {
        self != Pricing::Package
    }

    /// The unit a bill line of it counts.
    pub fn unit(self) -> &'static str {
        match self {
            Pricing::PerHour => "hour",
            _ => "item",
        }
    }
}

/// A catalog entry's price, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// How it is priced.
    pub pricing: Pricing,
    /// The price (fixed), or the price of one hour or item; none when quoted.
    pub unit_fen: Option<i64>,
    /// The fewest hours a per-hour booking takes (1 otherwise).
    pub min_quantity: u32,
}

impl Price {
    /// Checks a catalog entry's price: a quoted service has none, every other one has a
    /// price of 1 fen to ¥100,000; a minimum of 1 to 12 hours or items.
    pub fn new(
        pricing: Pricing,
        unit_fen: Option<i64>,
        min_quantity: Option<u32>,
    ) -> Result<Self, (&'static str, InvalidValue)> {
        let unit_fen = match (pricing, unit_fen) {
            (Pricing::Quoted, Some(_)) => {
                return Err((
                    "price_fen",
                    InvalidValue("a quoted service is priced on site; give no price".into()),
                ));
            }
            (Pricing::Quoted, None) => None,
            (_, None) => {
                return Err((
                    "price_fen",
                    InvalidValue(format!("a {pricing} service states its price")),
                ));
            }
            (_, Some(fen)) if !(1..=10_000_000).contains(&fen) => {
                return Err((
                    "price_fen",
                    InvalidValue(format!("{fen} is not a price of 1 to 10,000,000 fen")),
                ));
            }
            (_, Some(fen)) => Some(fen),
        };
        let min_quantity = min_quantity.unwrap_or(1);
        if !(1..=12).contains(&min_quantity) {
            return Err((
                "min_quantity",
                InvalidValue("a minimum is 1 to 12 hours or items".into()),
            ));
        }
        Ok(Self {
            pricing,
            unit_fen,
            min_quantity,
        })
    }

    /// Checks how many hours (per hour) a resident books: at least the minimum, at most
    /// 12; one for anything else.
    pub fn quantity(&self, asked: Option<u32>) -> Result<u32, InvalidValue> {
        match (self.pricing, asked) {
            (Pricing::PerHour, None) => Ok(self.min_quantity),
            (Pricing::PerHour, Some(h)) if (self.min_quantity..=12).contains(&h) => Ok(h),
            (Pricing::PerHour, Some(h)) => Err(InvalidValue(format!(
                "{h} hours: this service is booked for {} to 12 hours",
                self.min_quantity
            ))),
            (_, None | Some(1)) => Ok(1),
            (_, Some(_)) => Err(InvalidValue(
                "only a per-hour service is booked for a number of hours".into(),
            )),
        }
    }

    /// What the booking is expected to cost before the work: the fixed price, or the hours
    /// booked at the hourly price; unknown for items not yet counted and for quotes.
    pub fn estimate(&self, quantity: u32) -> Option<i64> {
        match self.pricing {
            Pricing::Fixed | Pricing::Package => self.unit_fen,
            Pricing::PerHour => self.unit_fen.map(|f| f * i64::from(quantity)),
            Pricing::PerItem | Pricing::Quoted => None,
        }
    }

    /// What the work came to: the fixed price; the hours worked (at least the minimum) at
    /// the hourly price; the items counted at the item price; the accepted quote.
    pub fn amount(&self, worked: Worked) -> Result<i64, InvalidValue> {
        let unit = || {
            self.unit_fen
                .ok_or_else(|| InvalidValue("the service has no price".into()))
        };
        match (self.pricing, worked) {
            (Pricing::Fixed, _) => unit(),
            // A package's visits are paid by the month.
            (Pricing::Package, _) => Ok(0),
            (Pricing::PerHour, Worked::Hours(h)) => {
                if !(1..=24).contains(&h) {
                    return Err(InvalidValue(format!("{h} is not 1 to 24 hours worked")));
                }
                Ok(unit()? * i64::from(h.max(self.min_quantity)))
            }
            (Pricing::PerItem, Worked::Items(n)) => {
                if !(1..=500).contains(&n) {
                    return Err(InvalidValue(format!("{n} is not 1 to 500 items")));
                }
                Ok(unit()? * i64::from(n))
            }
            (Pricing::Quoted, Worked::Quote(fen)) => Ok(fen),
            (Pricing::PerHour, _) => Err(InvalidValue("say how many hours were worked".into())),
            (Pricing::PerItem, _) => Err(InvalidValue("say how many items there were".into())),
            (Pricing::Quoted, _) => Err(InvalidValue(
                "a quoted service is charged its accepted price".into(),
            )),
        }
    }
}

/// What a completed job is charged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worked {
    /// A fixed-price job.
    Job,
    /// Hours worked.
    Hours(u32),
    /// Items counted.
    Items(u32),
    /// The accepted quote, fen.
    Quote(i64),
}

/// A community's rules for bookings; the defaults follow the service manuals (the time is
/// confirmed with the resident before the order is issued, a callback after completion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServicePolicy {
    /// From booking to the time confirmed (or another slot proposed), on working time.
    pub confirm: Span,
    /// From the slot's start to the staff at the door.
    pub arrive_grace: Span,
    /// From the slot's end to the work completed.
    pub complete_grace: Span,
    /// A resident cancels free of charge until this many hours before the slot.
    pub cancel_notice_hours: u32,
    /// A later cancellation by the resident costs this share of the booking's price
    /// (percent, rounded to the fen)...
    pub late_cancel_fee_percent: u8,
    /// ...but at least this much, fen (and never more than the price).
    pub late_cancel_min_fen: i64,
    /// How far ahead a slot may be booked, days.
    pub book_ahead_days: u32,
    /// How soon a slot may start after booking, minutes.
    pub lead_minutes: u32,
    /// A booking paid before that is not paid within this many minutes is cancelled and its
    /// place released.
    pub pay_within_minutes: u32,
    /// Days a bill for work paid after has before it falls due.
    pub pay_after_days: u32,
    /// Monthly packages: what happens to the visits a resident skipped.
    pub package_unused: packages::UnusedVisits,
    /// Monthly packages: a visit's booking is issued this many days before it.
    pub visit_issue_days: u32,
}

impl Default for ServicePolicy {
    fn default() -> Self {
        Self {
            confirm: Span::Minutes(120),
            arrive_grace: Span::Minutes(15),
            complete_grace: Span::Minutes(60),
            cancel_notice_hours: 24,
            late_cancel_fee_percent: 20,
            late_cancel_min_fen: 0,
            book_ahead_days: 14,
            lead_minutes: 120,
            pay_within_minutes: 30,
            pay_after_days: 7,
            package_unused: packages::UnusedVisits::Lapse,
            visit_issue_days: 2,
        }
    }
}

impl ServicePolicy {
    /// A community's stored policy; the defaults when none is stored (or it cannot be read).
    pub fn from_stored(stored: Option<&serde_json::Value>) -> Self {
        stored
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// Checks an admin's edit; the error names the field.
    pub fn check(&self) -> Result<(), (&'static str, InvalidValue)> {
        for (field, span) in [
            ("confirm", self.confirm),
            ("arrive_grace", self.arrive_grace),
            ("complete_grace", self.complete_grace),
        ] {
            span.check(field).map_err(|e| (field, e))?;
        }
        let bad = |field, text: &str| Err((field, InvalidValue(text.into())));
        if self.cancel_notice_hours > 24 * 14 {
            return bad("cancel_notice_hours", "at most 336 hours (14 days)");
        }
        if self.late_cancel_fee_percent > 100 {
            return bad("late_cancel_fee_percent", "at most 100 (percent)");
        }
        if !(0..=10_000_000).contains(&self.late_cancel_min_fen) {
            return bad("late_cancel_min_fen", "0 to 10,000,000 fen");
        }
        if !(1..=90).contains(&self.book_ahead_days) {
            return bad("book_ahead_days", "1 to 90 days");
        }
        if self.lead_minutes > 7 * 24 * 60 {
            return bad("lead_minutes", "at most 10,080 minutes (7 days)");
        }
        if !(5..=24 * 60).contains(&self.pay_within_minutes) {
            return bad("pay_within_minutes", "5 to 1,440 minutes");
        }
        if !(1..=60).contains(&self.pay_after_days) {
            return bad("pay_after_days", "1 to 60 days");
        }
        if !(1..=14).contains(&self.visit_issue_days) {
            return bad("visit_issue_days", "1 to 14 days");
        }
        Ok(())
    }

    /// Whether a slot starting at `starts_at` may be booked at `now`: not sooner than the
    /// lead time, not later than the booking horizon.
    pub fn bookable(&self, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
        if starts_at < now + Duration::minutes(i64::from(self.lead_minutes)) {
            return Err(format!(
                "this slot starts too soon: book at least {} minutes ahead",
                self.lead_minutes
            ));
        }
        if starts_at > now + Duration::days(i64::from(self.book_ahead_days)) {
            return Err(format!(
                "slots open {} days ahead; this one is not open yet",
                self.book_ahead_days
            ));
        }
        Ok(())
    }

    /// What cancelling a booking whose slot starts at `starts_at` keeps, at `now`. Staff
    /// cancel free of charge; a resident too, until the notice; later, the fee is the
    /// policy's share of `price_fen` (the price, or the estimate; none when not yet known),
    /// at least the minimum, never more than the price.
    pub fn cancellation(
        &self,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
        by_staff: bool,
        price_fen: Option<i64>,
    ) -> Cancellation {
        let notice = Duration::hours(i64::from(self.cancel_notice_hours));
        let late = !by_staff && now > starts_at - notice;
        if !late {
            return Cancellation { late, fee_fen: 0 };
        }
        let share = |fen: i64| (fen * i64::from(self.late_cancel_fee_percent) + 50) / 100;
        let fee_fen = match price_fen {
            Some(price) => share(price).max(self.late_cancel_min_fen).min(price),
            None => self.late_cancel_min_fen,
        };
        Cancellation { late, fee_fen }
    }

    /// The clock that starts when a booking is made at `at`: the time is to be confirmed.
    pub fn confirm_clock(&self, at: DateTime<Utc>, hours: &WorkingHours, tz: Tz) -> BookingClock {
        BookingClock {
            kind: ClockKind::Confirm,
            started_at: at,
            due_at: self.confirm.after(at, hours, tz),
        }
    }

    /// The clocks that start when the time is confirmed at `at` for a slot: at the door by
    /// the slot's start plus the grace, done by its end plus the grace (never before `at`).
    pub fn work_clocks(
        &self,
        at: DateTime<Utc>,
        slot: (DateTime<Utc>, DateTime<Utc>),
        hours: &WorkingHours,
        tz: Tz,
    ) -> [BookingClock; 2] {
        let arrive = self.arrive_grace.after(slot.0.max(at), hours, tz);
        let resolve = self.complete_grace.after(slot.1.max(at), hours, tz);
        [
            BookingClock {
                kind: ClockKind::Arrive,
                started_at: at,
                due_at: arrive,
            },
            BookingClock {
                kind: ClockKind::Resolve,
                started_at: at,
                due_at: resolve.max(arrive),
            },
        ]
    }
}

/// A booking's SLA clock before the warning share is applied (`tickets::Clock::spanning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingClock {
    /// Which clock.
    pub kind: ClockKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it runs out.
    pub due_at: DateTime<Utc>,
}

/// What a cancellation keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// Past the free-cancellation notice.
    pub late: bool,
    /// The fee kept (fen); 0 when free.
    pub fee_fen: i64,
}

/// Places taken of places offered, in basis points (10000: every place taken), rounded
/// half up; none when nothing was offered.
pub fn utilisation_bp(booked: u64, capacity: u64) -> Option<u32> {
    (capacity > 0).then(|| ((booked.min(capacity) * 20_000 + capacity) / (2 * capacity)) as u32)
}

/// How a team's day is cut into slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPlan {
    /// The length of one slot, minutes (30 to 480).
    pub minutes: u32,
    /// How many bookings one slot takes: the team's size.
    pub capacity: u32,
}

impl SlotPlan {
    /// Checks a team's slot length and size.
    pub fn new(minutes: u32, capacity: u32) -> Result<Self, (&'static str, InvalidValue)> {
        if !(30..=480).contains(&minutes) || !minutes.is_multiple_of(30) {
            return Err((
                "slot_minutes",
                InvalidValue("a slot is 30 to 480 minutes, in half hours".into()),
            ));
        }
        if !(1..=100).contains(&capacity) {
            return Err(("size", InvalidValue("a team has 1 to 100 crews".into())));
        }
        Ok(Self { minutes, capacity })
    }

    /// The slots of `date` in the community's working hours: whole slots from opening
    /// time, none on a day off or a holiday.
    pub fn day(
        &self,
        date: NaiveDate,
        hours: &WorkingHours,
        tz: Tz,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !hours.is_working_day(date) {
            return Vec::new();
        }
        let step = Duration::minutes(i64::from(self.minutes));
        let close = NaiveDateTime::new(date, hours.end);
        let mut at = NaiveDateTime::new(date, hours.start);
        let mut out = Vec::new();
        while at + step <= close {
            out.push((resolve_local(tz, at), resolve_local(tz, at + step)));
            at += step;
        }
        out
    }
}
