//! Tickets: one lifecycle for repairs (报修) and complaints (投诉). The state machine (who may
//! do what, from which state), the SLA policy with its defaults from the service manuals,
//! the clocks computed from it with the community's working hours, and the value types a
//! ticket is made of. Pure: the API and the workers call these, never re-implement them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{
    org::WorkingHours,
    people::{InvalidValue, StaffRole, string_enum},
};

string_enum! {
    /// What a ticket is.
    TicketKind {
        /// A repair (报修).
        Repair = "repair",
        /// A complaint (投诉).
        Complaint = "complaint",
    }
}

string_enum! {
    /// Where a ticket is in its lifecycle.
    TicketState {
        /// Reported, not yet given to anyone.
        Submitted = "submitted",
        /// Given to a department and a staff member, who has not accepted yet.
        Dispatched = "dispatched",
        /// The assignee took it.
        Accepted = "accepted",
        /// The assignee is at the door.
        OnSite = "on_site",
        /// Work done (or the complaint answered); the resident may rate it in the app.
        Completed = "completed",
        /// Not rated in the app in time: on the front desk's callback list (回访).
        AwaitingCallback = "awaiting_callback",
        /// The resident is satisfied.
        Closed = "closed",
        /// Withdrawn before work started.
        Cancelled = "cancelled",
        /// The resident was not satisfied: back to the same department for rework.
        Reopened = "reopened",
    }
}

impl TicketState {
    /// Whether nothing more happens to the ticket.
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Closed | TicketState::Cancelled)
    }

    /// Whether someone still follows the ticket (task lists, "open tickets"): not final.
    pub fn is_open(self) -> bool {
        !self.is_final()
    }

    /// The states in which the work itself is still to do: the work clocks run (the SLA
    /// watch pages people) and the ticket counts towards its assignee's load at dispatch.
    pub const IN_WORK: [TicketState; 5] = [
        TicketState::Submitted,
        TicketState::Dispatched,
        TicketState::Accepted,
        TicketState::OnSite,
        TicketState::Reopened,
    ];

    /// Whether the work is still to do (one of [`TicketState::IN_WORK`]).
    pub fn is_in_work(self) -> bool {
        Self::IN_WORK.contains(&self)
    }
}

string_enum! {
    /// What is broken.
    RepairCategory {
        /// Water: leaks, pipes, taps.
        Water = "water",
        /// Electricity.
        Electricity = "electricity",
        /// Gas.
        Gas = "gas",
        /// Doors and locks.
        DoorLock = "door_lock",
        /// Appliances.
        Appliance = "appliance",
        /// Walls, windows, ceilings.
        Structure = "structure",
        /// Lifts, lights, gates and other shared facilities.
        PublicFacility = "public_facility",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How soon a repair must be done.
    Urgency {
        /// Leak, flooding, outage, blocked toilet: on site in 15 minutes, fixed in 6 hours.
        Emergency = "emergency",
        /// Bulb, lock, small part: half a working day.
        Simple = "simple",
        /// One working day, or the agreed window (never over 7 working days).
        Ordinary = "ordinary",
    }
}

string_enum! {
    /// What a complaint is about.
    ComplaintCategory {
        /// Staff attitude.
        ServiceAttitude = "service_attitude",
        /// Engineering work.
        Engineering = "engineering",
        /// Neighbours' noise, smell and the like: staff at the door in 15 minutes.
        NeighbourBehaviour = "neighbour_behaviour",
        /// Environment and cleanliness.
        Environment = "environment",
        /// Security.
        Security = "security",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How serious a complaint is.
    Severity {
        /// Ordinary.
        Ordinary = "ordinary",
        /// Serious.
        Serious = "serious",
    }
}

string_enum! {
    /// The department a work order goes to.
    Department {
        /// Engineering (工程部).
        Engineering = "engineering",
        /// Cleaning (清洁).
        Cleaning = "cleaning",
        /// Greenery (绿化).
        Greenery = "greenery",
    }
}

impl Department {
    /// The staff role that works in this department.
    pub fn role(self) -> StaffRole {
        match self {
            Department::Engineering => StaffRole::Engineer,
            Department::Cleaning => StaffRole::Cleaner,
            Department::Greenery => StaffRole::Gardener,
        }
    }

    /// The department of a field role, if it is one.
    pub fn of_role(role: StaffRole) -> Option<Self> {
        match role {
            StaffRole::Engineer => Some(Department::Engineering),
            StaffRole::Cleaner => Some(Department::Cleaning),
            StaffRole::Gardener => Some(Department::Greenery),
            _ => None,
        }
    }
}

string_enum! {
    /// How a ticket reached us.
    Source {
        /// The resident's app or mini-program.
        App = "app",
        /// A phone call the front desk registered.
        Phone = "phone",
        /// A visit to the front desk.
        WalkIn = "walk_in",
    }
}

string_enum! {
    /// Where a paid repair's price stands.
    PriceStatus {
        /// Staff stated a price; the resident has not answered.
        Proposed = "proposed",
        /// The resident accepted the price.
        Accepted = "accepted",
        /// The resident declined the price.
        Declined = "declined",
    }
}

string_enum! {
    /// An SLA clock on a ticket.
    ClockKind {
        /// Staff at the door.
        Arrive = "arrive",
        /// The butler answers the front desk about a complaint.
        Answer = "answer",
        /// Fixed (repair) or replied to (complaint).
        Resolve = "resolve",
        /// The resident rates it, in the app or on the callback.
        Callback = "callback",
    }
}

string_enum! {
    /// What happened to a ticket: the event history's `action`.
    EventAction {
        /// Reported.
        Reported = "reported",
        /// Given to a department and a staff member.
        Dispatched = "dispatched",
        /// Given to someone else.
        Reassigned = "reassigned",
        /// The assignee took it.
        Accepted = "accepted",
        /// The assignee arrived.
        Arrived = "arrived",
        /// A price was stated.
        Priced = "priced",
        /// The resident accepted the price.
        PriceAccepted = "price_accepted",
        /// The resident declined the price.
        PriceDeclined = "price_declined",
        /// The butler answered the front desk about a complaint.
        Answered = "answered",
        /// Work done or complaint replied to.
        Completed = "completed",
        /// The resident rated it in the app.
        Rated = "rated",
        /// The front desk recorded a phone callback.
        CallbackRecorded = "callback_recorded",
        /// The front desk called and did not reach the resident.
        CallbackUnreached = "callback_unreached",
        /// Not rated in the app in time: on the front desk's list.
        CallbackDue = "callback_due",
        /// Unsatisfied: back for rework.
        Reopened = "reopened",
        /// Satisfied: done.
        Closed = "closed",
        /// Withdrawn.
        Cancelled = "cancelled",
        /// A photo was added.
        PhotoAdded = "photo_added",
        /// An SLA clock is about to run out.
        SlaWarned = "sla_warned",
        /// An SLA clock ran out: escalated to the supervisor.
        SlaBreached = "sla_breached",
    }
}

impl EventAction {
    /// Whether the workers tell someone of this event (who is theirs to decide): answers,
    /// ratings, callbacks and photos are for the history and the front desk only.
    pub fn tells_someone(self) -> bool {
        !matches!(
            self,
            EventAction::Answered
                | EventAction::Rated
                | EventAction::CallbackRecorded
                | EventAction::CallbackUnreached
                | EventAction::CallbackDue
                | EventAction::PhotoAdded
        )
    }
}

/// In what capacity someone acts on a ticket. One person can hold several (a butler who is
/// also the assignee of a complaint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The resident the ticket is for, or a member of its household.
    Resident,
    /// The staff member it is assigned to.
    Assignee,
    /// The household's butler (贴心管家).
    Butler,
    /// Front desk (客服).
    Desk,
    /// Supervisors and admins.
    Manager,
    /// The workers (SLA watch, callback window).
    System,
}

/// What someone does to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give it to a department and staff member.
    Dispatch,
    /// Give it to someone else.
    Reassign,
    /// Take it.
    Accept,
    /// Arrive at the door.
    Arrive,
    /// State the price of paid work.
    Price,
    /// Accept or decline the price.
    AnswerPrice,
    /// The butler answers the front desk (complaints).
    Answer,
    /// Finish the work / reply to the complaint.
    Complete,
    /// Rate in the app.
    Rate {
        /// Whether the resident is satisfied.
        satisfied: bool,
    },
    /// Record the phone callback's result.
    RecordCallback {
        /// Whether the resident is satisfied.
        satisfied: bool,
    },
    /// Record a callback attempt that did not reach the resident.
    CallbackUnreached,
    /// The rating window passed.
    CallbackDue,
    /// Withdraw it.
    Cancel,
}

impl Action {
    /// The action's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Dispatch => "dispatch",
            Action::Reassign => "reassign",
            Action::Accept => "accept",
            Action::Arrive => "arrive",
            Action::Price => "price",
            Action::AnswerPrice => "answer the price",
            Action::Answer => "answer",
            Action::Complete => "complete",
            Action::Rate { .. } => "rate",
            Action::RecordCallback { .. } => "record the callback",
            Action::CallbackUnreached => "record a callback attempt",
            Action::CallbackDue => "open the callback",
            Action::Cancel => "cancel",
        }
    }

    /// Who may do it.
    fn allowed(self) -> &'static [Party] {
        use Party::*;
        match self {
            Action::Dispatch | Action::Reassign => &[Desk, Manager],
            Action::Accept | Action::Arrive => &[Assignee],
            Action::Price => &[Assignee, Desk, Manager],
            Action::AnswerPrice | Action::Rate { .. } => &[Resident],
            Action::Answer => &[Butler],
            Action::Complete => &[Assignee],
            Action::RecordCallback { .. } | Action::CallbackUnreached => &[Desk, Manager],
            Action::CallbackDue => &[System],
            Action::Cancel => &[Resident, Desk, Manager],
        }
    }
}

/// What a transition needs to know about the ticket besides its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Repair or complaint.
    pub kind: TicketKind,
    /// The price, if staff stated one.
    pub price: Option<PriceStatus>,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The caller does not hold a capacity that may do this (403).
    #[error("you may not {action} this ticket")]
    NotAllowed {
        /// What was attempted.
        action: &'static str,
    },
    /// Not from the ticket's current state (409).
    #[error("cannot {action} a ticket that is {state}")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The ticket's state.
        state: TicketState,
    },
    /// Paid work cannot complete before the resident accepts the price (409).
    #[error("the resident has not accepted the price of this paid repair")]
    PriceNotAccepted,
    /// Nothing to answer: no price was stated, or it was already answered (409).
    #[error("there is no price waiting for an answer")]
    NoPriceToAnswer,
    /// Work has started: too late to cancel (409).
    #[error("work has started on this ticket; it can no longer be cancelled")]
    WorkStarted,
}

/// The state after `action`, done by someone holding `parties`, or why not. Actions that do
/// not move the ticket (price, answer, a missed callback) return the state unchanged.
pub fn transition(
    state: TicketState,
    action: Action,
    parties: &[Party],
    facts: Facts,
) -> Result<TicketState, TransitionError> {
    use TicketState::*;
    if !action.allowed().iter().any(|p| parties.contains(p)) {
        return Err(TransitionError::NotAllowed {
            action: action.name(),
        });
    }
    let wrong = || TransitionError::WrongState {
        action: action.name(),
        state,
    };
    let complaint = facts.kind == TicketKind::Complaint;
    match action {
        Action::Dispatch => match state {
            Submitted | Reopened => Ok(Dispatched),
            _ => Err(wrong()),
        },
        Action::Reassign => match state {
            Dispatched | Accepted | OnSite => Ok(Dispatched),
            _ => Err(wrong()),
        },
        Action::Accept => match state {
            Dispatched => Ok(Accepted),
            _ => Err(wrong()),
        },
        Action::Arrive => match state {
            Accepted => Ok(OnSite),
            _ => Err(wrong()),
        },
        Action::Price => match state {
            Dispatched | Accepted | OnSite if facts.price != Some(PriceStatus::Accepted) => {
                Ok(state)
            }
            Dispatched | Accepted | OnSite => Err(TransitionError::WrongState {
                action: "change the accepted price of",
                state,
            }),
            _ => Err(wrong()),
        },
        Action::AnswerPrice => match state {
            Dispatched | Accepted | OnSite if facts.price == Some(PriceStatus::Proposed) => {
                Ok(state)
            }
            Dispatched | Accepted | OnSite => Err(TransitionError::NoPriceToAnswer),
            _ => Err(wrong()),
        },
        Action::Answer => match state {
            Dispatched | Accepted | OnSite if complaint => Ok(state),
            _ => Err(wrong()),
        },
        Action::Complete => match state {
            OnSite | Accepted if complaint => Ok(Completed),
            OnSite => match facts.price {
                None | Some(PriceStatus::Accepted) => Ok(Completed),
                Some(_) => Err(TransitionError::PriceNotAccepted),
            },
            _ => Err(wrong()),
        },
        Action::Rate { satisfied } | Action::RecordCallback { satisfied } => match state {
            Completed | AwaitingCallback if satisfied => Ok(Closed),
            Completed | AwaitingCallback => Ok(Reopened),
            _ => Err(wrong()),
        },
        Action::CallbackUnreached => match state {
            AwaitingCallback | Completed => Ok(state),
            _ => Err(wrong()),
        },
        Action::CallbackDue => match state {
            Completed => Ok(AwaitingCallback),
            _ => Err(wrong()),
        },
        Action::Cancel => match state {
            Submitted | Dispatched | Accepted => Ok(Cancelled),
            // Paid work has not started while its price waits for an answer.
            OnSite
                if !complaint && matches!(facts.price, Some(p) if p != PriceStatus::Accepted) =>
            {
                Ok(Cancelled)
            }
            OnSite => Err(TransitionError::WorkStarted),
            _ => Err(wrong()),
        },
    }
}

/// A length of time as a rule states it: on the wall clock (emergencies run day and night)
/// or in the community's working days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Minutes on the wall clock.
    Minutes(u32),
    /// Working days (0.5 = half a day), counted in working hours, skipping weekends and
    /// holidays.
    WorkingDays(f64),
}

impl Span {
    fn check(self, field: &str) -> Result<(), InvalidValue> {
        let ok = match self {
            Span::Minutes(m) => (1..=60 * 24 * 60).contains(&m),
            Span::WorkingDays(d) => d > 0.0 && d <= 60.0 && (d * 2.0).fract() == 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(InvalidValue(format!(
                "{field}: a span is 1 to 86,400 minutes or 0.5 to 60 working days in halves"
            )))
        }
    }

    /// The moment this span after `from` ends.
    pub fn after(self, from: DateTime<Utc>, hours: &WorkingHours, tz: Tz) -> DateTime<Utc> {
        match self {
            Span::Minutes(m) => from + Duration::minutes(i64::from(m)),
            Span::WorkingDays(d) => {
                let minutes = (hours.day_minutes() as f64 * d).round() as i64;
                hours.add_working_minutes(from, tz, minutes)
            }
        }
    }
}

/// A community's ticket rules; the defaults are the service manuals' numbers (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketPolicy {
    /// Emergency repair: on site.
    pub emergency_arrive: Span,
    /// Emergency repair: fixed.
    pub emergency_fix: Span,
    /// Simple repair: fixed.
    pub simple_fix: Span,
    /// Ordinary repair with no agreed time: fixed.
    pub ordinary_fix: Span,
    /// Ordinary repair: the longest an agreed time may be.
    pub agreed_max: Span,
    /// Public-area repair: fixed.
    pub public_area_fix: Span,
    /// After completion: the resident's window to rate in the app before the front desk
    /// calls back.
    pub repair_callback: Span,
    /// Complaint: the butler answers the front desk.
    pub complaint_answer: Span,
    /// Complaint: reply to the resident.
    pub complaint_reply: Span,
    /// Neighbour-behaviour complaint: staff at the door.
    pub neighbour_arrive: Span,
    /// Service-attitude complaint, ordinary: handled.
    pub attitude_ordinary_reply: Span,
    /// Service-attitude complaint, serious: handled.
    pub attitude_serious_reply: Span,
    /// Complaint: callback after the reply.
    pub complaint_callback: Span,
    /// Warn the assignee and butler when this share of a clock's span is left (percent).
    pub warn_at_percent_left: u8,
    /// Which department a repair category goes to when dispatched by the rules.
    pub departments: BTreeMap<RepairCategory, Department>,
}

impl Default for TicketPolicy {
    fn default() -> Self {
        Self {
            emergency_arrive: Span::Minutes(15),
            emergency_fix: Span::Minutes(6 * 60),
            simple_fix: Span::WorkingDays(0.5),
            ordinary_fix: Span::WorkingDays(1.0),
            agreed_max: Span::WorkingDays(7.0),
            public_area_fix: Span::WorkingDays(3.0),
            repair_callback: Span::Minutes(48 * 60),
            complaint_answer: Span::Minutes(4 * 60),
            complaint_reply: Span::WorkingDays(4.0),
            neighbour_arrive: Span::Minutes(15),
            attitude_ordinary_reply: Span::WorkingDays(0.5),
            attitude_serious_reply: Span::WorkingDays(2.0),
            complaint_callback: Span::Minutes(3 * 24 * 60),
            warn_at_percent_left: 20,
            departments: BTreeMap::new(),
        }
    }
}

impl TicketPolicy {
    /// Checks an admin's edit.
    pub fn check(&self) -> Result<(), InvalidValue> {
        for (field, span) in [
            ("emergency_arrive", self.emergency_arrive),
            ("emergency_fix", self.emergency_fix),
            ("simple_fix", self.simple_fix),
            ("ordinary_fix", self.ordinary_fix),
            ("agreed_max", self.agreed_max),
            ("public_area_fix", self.public_area_fix),
            ("repair_callback", self.repair_callback),
            ("complaint_answer", self.complaint_answer),
            ("complaint_reply", self.complaint_reply),
            ("neighbour_arrive", self.neighbour_arrive),
            ("attitude_ordinary_reply", self.attitude_ordinary_reply),
            ("attitude_serious_reply", self.attitude_serious_reply),
            ("complaint_callback", self.complaint_callback),
        ] {
            span.check(field)?;
        }
        if self.warn_at_percent_left > 90 {
            return Err(InvalidValue(
                "warn_at_percent_left: at most 90 (percent of the span left)".into(),
            ));
        }
        Ok(())
    }

    /// The department a repair of `category` goes to by the rules (engineering unless the
    /// policy says otherwise).
    pub fn department_for(&self, category: RepairCategory) -> Department {
        self.departments
            .get(&category)
            .copied()
            .unwrap_or(Department::Engineering)
    }
}

/// What a ticket is about, as the clocks need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A repair.
    Repair {
        /// How urgent.
        urgency: Urgency,
        /// In a public area (no household).
        public_area: bool,
        /// The end of the visit window agreed with the resident, if any.
        agreed_by: Option<DateTime<Utc>>,
    },
    /// A complaint.
    Complaint {
        /// About what.
        category: ComplaintCategory,
        /// How serious.
        severity: Severity,
    },
}

/// One SLA clock: it starts, warns when little is left, and is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Which clock.
    pub kind: ClockKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When the assignee and butler are warned.
    pub warn_at: DateTime<Utc>,
    /// When it runs out.
    pub due_at: DateTime<Utc>,
}

impl Clock {
    fn new(
        kind: ClockKind,
        started_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        policy: &TicketPolicy,
    ) -> Self {
        let span = (due_at - started_at).num_seconds().max(0);
        let left = span * i64::from(policy.warn_at_percent_left) / 100;
        Self {
            kind,
            started_at,
            warn_at: due_at - Duration::seconds(left),
            due_at,
        }
    }
}

/// The clocks that start when a ticket is reported (or reopened) at `at`.
pub fn work_clocks(
    subject: Subject,
    at: DateTime<Utc>,
    policy: &TicketPolicy,
    hours: &WorkingHours,
    tz: Tz,
) -> Vec<Clock> {
    let due = |span: Span| span.after(at, hours, tz);
    let clock = |kind, span: Span| Clock::new(kind, at, due(span), policy);
    match subject {
        Subject::Repair {
            urgency: Urgency::Emergency,
            ..
        } => vec![
            clock(ClockKind::Arrive, policy.emergency_arrive),
            clock(ClockKind::Resolve, policy.emergency_fix),
        ],
        Subject::Repair {
            public_area: true, ..
        } => vec![clock(ClockKind::Resolve, policy.public_area_fix)],
        Subject::Repair {
            urgency: Urgency::Simple,
            ..
        } => vec![clock(ClockKind::Resolve, policy.simple_fix)],
        Subject::Repair {
            agreed_by: Some(agreed),
            ..
        } => {
            // An agreed time is kept, but never past the longest the rules allow.
            let latest = due(policy.agreed_max);
            let due_at = agreed.max(at).min(latest);
            vec![Clock::new(ClockKind::Resolve, at, due_at, policy)]
        }
        Subject::Repair { .. } => vec![clock(ClockKind::Resolve, policy.ordinary_fix)],
        Subject::Complaint { category, severity } => {
            let mut clocks = vec![clock(ClockKind::Answer, policy.complaint_answer)];
            if category == ComplaintCategory::NeighbourBehaviour {
                clocks.push(clock(ClockKind::Arrive, policy.neighbour_arrive));
            }
            let reply = match (category, severity) {
                (ComplaintCategory::ServiceAttitude, Severity::Ordinary) => {
                    policy.attitude_ordinary_reply
                }
                (ComplaintCategory::ServiceAttitude, Severity::Serious) => {
                    policy.attitude_serious_reply
                }
                _ => policy.complaint_reply,
            };
            clocks.push(clock(ClockKind::Resolve, reply));
            clocks
        }
    }
}

/// The callback clock that starts when the work is completed at `at`.
pub fn callback_clock(
    kind: TicketKind,
    at: DateTime<Utc>,
    policy: &TicketPolicy,
    hours: &WorkingHours,
    tz: Tz,
) -> Clock {
    let span = match kind {
        TicketKind::Repair => policy.repair_callback,
        TicketKind::Complaint => policy.complaint_callback,
    };
    Clock::new(ClockKind::Callback, at, span.after(at, hours, tz), policy)
}

/// The clock an action stops, if any.
pub fn clock_met_by(action: Action) -> Option<ClockKind> {
    match action {
        Action::Arrive => Some(ClockKind::Arrive),
        Action::Answer => Some(ClockKind::Answer),
        Action::Complete => Some(ClockKind::Resolve),
        Action::Rate { .. } | Action::RecordCallback { .. } => Some(ClockKind::Callback),
        _ => None,
    }
}

/// A star rating, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// Parses 1 to 5.
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        match u8::try_from(raw) {
            Ok(stars @ 1..=5) => Ok(Self(stars)),
            _ => Err(InvalidValue(format!(
                "{raw} is not a rating of 1 to 5 stars"
            ))),
        }
    }

    /// The stars.
    pub fn stars(self) -> u8 {
        self.0
    }
}

/// An amount of money in fen (分), positive and at most ¥1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fen(i64);

impl Fen {
    /// Parses a positive amount of fen.
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        if (1..=100_000_000).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(InvalidValue(format!(
                "{raw} is not an amount of 1 to 100,000,000 fen (¥1,000,000)"
            )))
        }
    }

    /// The amount in fen.
    pub fn fen(self) -> i64 {
        self.0
    }

    /// `¥12.50`.
    pub fn display_yuan(self) -> String {
        format!("¥{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

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

fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| tz.from_utc_datetime(&local))
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> WorkingHours {
        // Mon–Fri 09:00–18:00; 2026-10-01 (a Thursday) is a holiday.
        WorkingHours::parse("09:00", "18:00", &[1, 2, 3, 4, 5], &["2026-10-01".into()]).unwrap()
    }

    fn shanghai(raw: &str) -> DateTime<Utc> {
        let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M").unwrap();
        resolve_local(chrono_tz::Asia::Shanghai, local)
    }

    const REPAIR: Facts = Facts {
        kind: TicketKind::Repair,
        price: None,
    };

    #[test]
    fn a_repair_walks_from_report_to_close() {
        use TicketState::*;
        let steps = [
            (Action::Dispatch, Party::Desk, Dispatched),
            (Action::Accept, Party::Assignee, Accepted),
            (Action::Arrive, Party::Assignee, OnSite),
            (Action::Complete, Party::Assignee, Completed),
            (Action::CallbackDue, Party::System, AwaitingCallback),
            (
                Action::RecordCallback { satisfied: false },
                Party::Desk,
                Reopened,
            ),
            (Action::Dispatch, Party::Manager, Dispatched),
            (Action::Accept, Party::Assignee, Accepted),
            (Action::Arrive, Party::Assignee, OnSite),
            (Action::Complete, Party::Assignee, Completed),
            (Action::Rate { satisfied: true }, Party::Resident, Closed),
        ];
        let mut state = Submitted;
        for (action, party, next) in steps {
            state = transition(state, action, &[party], REPAIR).unwrap();
            assert_eq!(state, next, "{action:?}");
        }
        assert!(state.is_final());
    }

    #[test]
    fn only_the_right_party_may_act() {
        use TicketState::*;
        let not = |state, action, party| {
            matches!(
                transition(state, action, &[party], REPAIR),
                Err(TransitionError::NotAllowed { .. })
            )
        };
        assert!(not(OnSite, Action::Complete, Party::Resident));
        assert!(not(
            Completed,
            Action::Rate { satisfied: true },
            Party::Assignee
        ));
        assert!(not(Submitted, Action::Dispatch, Party::Assignee));
        assert!(not(Dispatched, Action::Accept, Party::Butler));
        assert!(not(Completed, Action::CallbackDue, Party::Manager));
        assert!(not(
            Completed,
            Action::RecordCallback { satisfied: true },
            Party::Resident
        ));
        // Holding one allowed capacity among others is enough.
        assert_eq!(
            transition(
                Dispatched,
                Action::Accept,
                &[Party::Butler, Party::Assignee],
                REPAIR
            ),
            Ok(Accepted)
        );
    }

    #[test]
    fn wrong_state_names_the_current_state() {
        let err = transition(
            TicketState::Submitted,
            Action::Complete,
            &[Party::Assignee],
            REPAIR,
        )
        .unwrap_err();
        assert_eq!(
            err,
            TransitionError::WrongState {
                action: "complete",
                state: TicketState::Submitted
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot complete a ticket that is submitted"
        );
        assert!(
            transition(
                TicketState::Closed,
                Action::Rate { satisfied: true },
                &[Party::Resident],
                REPAIR
            )
            .is_err()
        );
    }

    #[test]
    fn paid_work_completes_only_with_an_accepted_price() {
        let with = |price| Facts {
            kind: TicketKind::Repair,
            price: Some(price),
        };
        let complete = |facts| {
            transition(
                TicketState::OnSite,
                Action::Complete,
                &[Party::Assignee],
                facts,
            )
        };
        assert_eq!(
            complete(with(PriceStatus::Proposed)),
            Err(TransitionError::PriceNotAccepted)
        );
        assert_eq!(
            complete(with(PriceStatus::Declined)),
            Err(TransitionError::PriceNotAccepted)
        );
        assert_eq!(
            complete(with(PriceStatus::Accepted)),
            Ok(TicketState::Completed)
        );
        // A price waiting for an answer can be answered; an accepted one cannot be changed.
        let answer = |facts| {
            transition(
                TicketState::OnSite,
                Action::AnswerPrice,
                &[Party::Resident],
                facts,
            )
        };
        assert!(answer(with(PriceStatus::Proposed)).is_ok());
        assert_eq!(
            answer(with(PriceStatus::Accepted)),
            Err(TransitionError::NoPriceToAnswer)
        );
        assert_eq!(answer(REPAIR), Err(TransitionError::NoPriceToAnswer));
        assert!(
            transition(
                TicketState::OnSite,
                Action::Price,
                &[Party::Assignee],
                with(PriceStatus::Accepted)
            )
            .is_err()
        );
    }

    #[test]
    fn cancelling_is_only_before_work_starts() {
        let cancel = |state, facts| transition(state, Action::Cancel, &[Party::Resident], facts);
        assert_eq!(
            cancel(TicketState::Accepted, REPAIR),
            Ok(TicketState::Cancelled)
        );
        assert_eq!(
            cancel(TicketState::OnSite, REPAIR),
            Err(TransitionError::WorkStarted)
        );
        // Paid work whose price the resident has not accepted has not started.
        let declined = Facts {
            kind: TicketKind::Repair,
            price: Some(PriceStatus::Declined),
        };
        assert_eq!(
            cancel(TicketState::OnSite, declined),
            Ok(TicketState::Cancelled)
        );
        assert!(cancel(TicketState::Completed, REPAIR).is_err());
    }

    #[test]
    fn complaints_are_answered_and_replied_to() {
        let facts = Facts {
            kind: TicketKind::Complaint,
            price: None,
        };
        assert_eq!(
            transition(
                TicketState::Accepted,
                Action::Answer,
                &[Party::Butler],
                facts
            ),
            Ok(TicketState::Accepted)
        );
        assert_eq!(
            transition(
                TicketState::Accepted,
                Action::Complete,
                &[Party::Assignee],
                facts
            ),
            Ok(TicketState::Completed)
        );
        // Repairs have no butler answer, and are completed on site.
        assert!(
            transition(
                TicketState::Accepted,
                Action::Answer,
                &[Party::Butler],
                REPAIR
            )
            .is_err()
        );
        assert!(
            transition(
                TicketState::Accepted,
                Action::Complete,
                &[Party::Assignee],
                REPAIR
            )
            .is_err()
        );
    }

    #[test]
    fn working_minutes_skip_nights_weekends_and_holidays() {
        let h = hours();
        let tz = chrono_tz::Asia::Shanghai;
        // Within the day.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-09-28 10:00"), tz, 60),
            shanghai("2026-09-28 11:00")
        );
        // Over the evening: 2 h left on Monday, 1 h on Tuesday.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-09-28 16:00"), tz, 180),
            shanghai("2026-09-29 10:00")
        );
        // Reported at night: the clock starts at opening time.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-09-28 22:30"), tz, 30),
            shanghai("2026-09-29 09:30")
        );
        // Wednesday 17:00 + 2 h: Thursday is a holiday, so Friday 10:00.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-09-30 17:00"), tz, 120),
            shanghai("2026-10-02 10:00")
        );
        // Friday 17:00 + 1 working day (9 h): Monday 17:00.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-10-02 17:00"), tz, 9 * 60),
            shanghai("2026-10-05 17:00")
        );
        // Saturday: counted from Monday's opening.
        assert_eq!(
            h.add_working_minutes(shanghai("2026-10-03 11:00"), tz, 0),
            shanghai("2026-10-05 09:00")
        );
    }

    #[test]
    fn repair_clocks_follow_the_manuals() {
        let (h, tz, p) = (hours(), chrono_tz::Asia::Shanghai, TicketPolicy::default());
        let at = shanghai("2026-09-28 16:00"); // Monday
        let repair = |urgency, public_area, agreed_by| Subject::Repair {
            urgency,
            public_area,
            agreed_by,
        };
        let emergency = work_clocks(repair(Urgency::Emergency, false, None), at, &p, &h, tz);
        assert_eq!(emergency.len(), 2);
        assert_eq!(emergency[0].kind, ClockKind::Arrive);
        assert_eq!(emergency[0].due_at, at + Duration::minutes(15));
        // Warned with 20 % of the span left: 12 minutes in.
        assert_eq!(emergency[0].warn_at, at + Duration::minutes(12));
        assert_eq!(emergency[1].due_at, at + Duration::hours(6));
        // Even in a public area an emergency is an emergency.
        assert_eq!(
            work_clocks(repair(Urgency::Emergency, true, None), at, &p, &h, tz)[0].kind,
            ClockKind::Arrive
        );
        let simple = work_clocks(repair(Urgency::Simple, false, None), at, &p, &h, tz);
        // Half of a 9-hour day: 2 h on Monday, 2.5 h on Tuesday.
        assert_eq!(simple[0].due_at, shanghai("2026-09-29 11:30"));
        let ordinary = work_clocks(repair(Urgency::Ordinary, false, None), at, &p, &h, tz);
        assert_eq!(ordinary[0].due_at, shanghai("2026-09-29 16:00"));
        let public = work_clocks(repair(Urgency::Ordinary, true, None), at, &p, &h, tz);
        // Three working days, skipping the 1 October holiday.
        assert_eq!(public[0].due_at, shanghai("2026-10-02 16:00"));
        // An agreed time is kept ...
        let agreed = shanghai("2026-09-30 10:00");
        assert_eq!(
            work_clocks(
                repair(Urgency::Ordinary, false, Some(agreed)),
                at,
                &p,
                &h,
                tz
            )[0]
            .due_at,
            agreed
        );
        // ... but never past 7 working days.
        let far = shanghai("2026-11-30 10:00");
        assert_eq!(
            work_clocks(repair(Urgency::Ordinary, false, Some(far)), at, &p, &h, tz)[0].due_at,
            shanghai("2026-10-08 16:00")
        );
    }

    #[test]
    fn complaint_clocks_follow_the_manuals() {
        let (h, tz, p) = (hours(), chrono_tz::Asia::Shanghai, TicketPolicy::default());
        let at = shanghai("2026-09-28 10:00");
        let clocks = work_clocks(
            Subject::Complaint {
                category: ComplaintCategory::NeighbourBehaviour,
                severity: Severity::Ordinary,
            },
            at,
            &p,
            &h,
            tz,
        );
        let due = |kind| clocks.iter().find(|c| c.kind == kind).unwrap().due_at;
        assert_eq!(due(ClockKind::Answer), at + Duration::hours(4));
        assert_eq!(due(ClockKind::Arrive), at + Duration::minutes(15));
        // Four working days, the holiday skipped.
        assert_eq!(due(ClockKind::Resolve), shanghai("2026-10-05 10:00"));
        let attitude = |severity| {
            work_clocks(
                Subject::Complaint {
                    category: ComplaintCategory::ServiceAttitude,
                    severity,
                },
                at,
                &p,
                &h,
                tz,
            )
        };
        assert_eq!(attitude(Severity::Ordinary).len(), 2);
        assert_eq!(
            attitude(Severity::Ordinary)[1].due_at,
            shanghai("2026-09-28 14:30")
        );
        assert_eq!(
            attitude(Severity::Serious)[1].due_at,
            shanghai("2026-09-30 10:00")
        );
        let callback = callback_clock(TicketKind::Complaint, at, &p, &h, tz);
        assert_eq!(callback.due_at, at + Duration::days(3));
        let callback = callback_clock(TicketKind::Repair, at, &p, &h, tz);
        assert_eq!(callback.due_at, at + Duration::hours(48));
    }

    #[test]
    fn policies_round_trip_and_are_checked() {
        let mut policy = TicketPolicy::default();
        policy
            .departments
            .insert(RepairCategory::PublicFacility, Department::Cleaning);
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json["emergency_arrive"],
            serde_json::json!({ "minutes": 15 })
        );
        assert_eq!(
            json["simple_fix"],
            serde_json::json!({ "working_days": 0.5 })
        );
        let back: TicketPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back, policy);
        assert_eq!(
            back.department_for(RepairCategory::PublicFacility),
            Department::Cleaning
        );
        assert_eq!(
            back.department_for(RepairCategory::Water),
            Department::Engineering
        );
        // Missing fields take the defaults.
        let partial: TicketPolicy =
            serde_json::from_value(serde_json::json!({ "emergency_arrive": { "minutes": 10 } }))
                .unwrap();
        assert_eq!(partial.emergency_arrive, Span::Minutes(10));
        assert_eq!(partial.emergency_fix, Span::Minutes(360));
        policy.simple_fix = Span::WorkingDays(0.3);
        assert!(policy.check().is_err());
        policy.simple_fix = Span::Minutes(0);
        assert!(policy.check().is_err());
    }

    #[test]
    fn ratings_and_money_are_parsed() {
        assert_eq!(Rating::parse(5).unwrap().stars(), 5);
        assert!(Rating::parse(0).is_err());
        assert!(Rating::parse(6).is_err());
        assert_eq!(Fen::parse(1250).unwrap().display_yuan(), "¥12.50");
        assert!(Fen::parse(0).is_err());
        assert!(Fen::parse(-5).is_err());
    }
}
