//! The SLA policy (the service manuals' numbers as per-community defaults) and the clocks
//! computed from it on the community's working time.

use super::*;

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
    /// Checks a span an admin set: 1 to 86,400 minutes, or 0.5 to 60 working days in halves.
    pub fn check(self, field: &str) -> Result<(), InvalidValue> {
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
    /// A service booking sent back for rework (its first round's clocks come from the
    /// service policy and its slot).
    Booking,
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
    /// A clock from `started_at` to `due_at` that warns when `policy`'s share is left.
    pub fn spanning(
        kind: ClockKind,
        started_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        policy: &TicketPolicy,
    ) -> Self {
        Self::new(kind, started_at, due_at, policy)
    }

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
        // Rework of a booking: done again within an ordinary repair's day.
        Subject::Booking => vec![clock(ClockKind::Resolve, policy.ordinary_fix)],
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
        // A booking's callback is a repair's: within 48 hours.
        TicketKind::Repair | TicketKind::ServiceBooking => policy.repair_callback,
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
