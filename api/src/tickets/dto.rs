//! The tickets' request and response bodies.

use super::*;

/// A repair to report.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewRepair {
    /// The household; absent for a public-area repair (then give `community_id` and
    /// `location`).
    pub household_id: Option<Uuid>,
    /// Public-area repairs: the community.
    pub community_id: Option<Uuid>,
    /// Public-area repairs: where (`3栋大堂电梯`).
    #[oai(validator(max_length = 200))]
    pub location: Option<String>,
    /// water, electricity, gas, door_lock, appliance, structure, public_facility, other.
    pub category: Vocab<RepairCategory>,
    /// emergency (leak, flooding, outage, blocked toilet), simple (bulb, lock, small part)
    /// or ordinary.
    pub urgency: Vocab<Urgency>,
    /// What is wrong.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub description: String,
    /// Preferred visit window: from.
    pub preferred_from: Option<DateTime<Utc>>,
    /// Preferred visit window: to (an ordinary repair is due by then, at most 7 working
    /// days out).
    pub preferred_to: Option<DateTime<Utc>>,
    /// Front desk only: the resident it is registered for.
    pub resident_id: Option<Uuid>,
    /// Front desk only: phone or walk_in (residents' reports are `app`).
    pub source: Option<Vocab<Source>>,
}

impl Example for NewRepair {
    fn example() -> Self {
        Self {
            household_id: Some(Uuid::nil()),
            community_id: None,
            location: None,
            category: RepairCategory::Water.into(),
            urgency: Urgency::Emergency.into(),
            description: "厨房水管爆裂，正在漏水".into(),
            preferred_from: None,
            preferred_to: None,
            resident_id: None,
            source: None,
        }
    }
}

/// A complaint to file.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewComplaint {
    /// The household the complaint comes from.
    pub household_id: Uuid,
    /// service_attitude, engineering, neighbour_behaviour, environment, security, other.
    pub category: Vocab<ComplaintCategory>,
    /// ordinary or serious (default ordinary).
    pub severity: Option<Vocab<Severity>>,
    /// What happened.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub description: String,
    /// Front desk only: the resident it is registered for.
    pub resident_id: Option<Uuid>,
    /// Front desk only: phone or walk_in.
    pub source: Option<Vocab<Source>>,
}

impl Example for NewComplaint {
    fn example() -> Self {
        Self {
            household_id: Uuid::nil(),
            category: ComplaintCategory::NeighbourBehaviour.into(),
            severity: Some(Severity::Ordinary.into()),
            description: "楼上深夜装修噪音".into(),
            resident_id: None,
            source: None,
        }
    }
}

/// A person on a ticket.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct PersonRef {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Phone: a resident's masked (`138****1234`; the office reveals it with
    /// `reveal_resident_phone`), a staff member's work number in full.
    pub phone: Option<String>,
}

/// A paid repair's price.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Price {
    /// Amount in fen (分).
    pub fen: i64,
    /// proposed, accepted or declined.
    pub status: Vocab<PriceStatus>,
    /// What the price covers.
    pub note: Option<String>,
}

/// The resident's rating (in the app or on the callback).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TicketRating {
    /// 1 to 5 stars.
    pub stars: i32,
    /// Satisfied with the result.
    pub satisfied: bool,
    /// Comment.
    pub comment: Option<String>,
    /// app or phone (the front desk's callback).
    pub via: Vocab<RatedVia>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An SLA clock.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SlaClock {
    /// arrive, answer, resolve or callback.
    pub clock: Vocab<ClockKind>,
    /// 0 for the first work, then the rework round.
    pub round: i32,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Due.
    pub due_at: DateTime<Utc>,
    /// Met (stopped).
    pub met_at: Option<DateTime<Utc>>,
    /// Ran out (escalated).
    pub breached_at: Option<DateTime<Utc>>,
}

/// One entry of the history.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TicketEvent {
    /// Id.
    pub id: Uuid,
    /// What happened (reported, dispatched, accepted, arrived, priced, completed, rated,
    /// reopened, closed, sla_warned, sla_breached, ...).
    pub action: Vocab<EventAction>,
    /// resident, staff or system.
    pub actor_kind: Vocab<ActorKind>,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// State before.
    pub from_state: Option<Vocab<TicketState>>,
    /// State after.
    pub to_state: Option<Vocab<TicketState>>,
    /// Note.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A photo on a ticket.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PhotoRef {
    /// Id.
    pub id: Uuid,
    /// report or completion.
    pub stage: Vocab<PhotoStage>,
    /// image/jpeg, image/png, image/webp, image/heic.
    pub content_type: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Where to fetch it (with the bearer token).
    pub url: String,
}

/// A ticket.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Ticket {
    /// Id.
    pub id: Uuid,
    /// repair or complaint.
    pub kind: Vocab<TicketKind>,
    /// Community.
    pub community_id: Uuid,
    /// Household; absent for public areas.
    pub household_id: Option<Uuid>,
    /// The resident it is for.
    pub resident_id: Option<Uuid>,
    /// app, phone or walk_in.
    pub source: Vocab<Source>,
    /// Category.
    pub category: Vocab<TicketCategory>,
    /// Repairs: emergency, simple, ordinary.
    pub urgency: Option<Vocab<Urgency>>,
    /// Complaints: ordinary, serious.
    pub severity: Option<Vocab<Severity>>,
    /// Public areas: where.
    pub location: Option<String>,
    /// Description.
    pub description: String,
    /// Preferred visit window.
    pub preferred_from: Option<DateTime<Utc>>,
    /// Preferred visit window.
    pub preferred_to: Option<DateTime<Utc>>,
    /// submitted, dispatched, accepted, on_site, completed, awaiting_callback, closed,
    /// cancelled, reopened.
    pub state: Vocab<TicketState>,
    /// engineering, cleaning, greenery.
    pub department: Option<Vocab<Department>>,
    /// Assignee.
    pub assignee_id: Option<Uuid>,
    /// The household's butler.
    pub butler_id: Option<Uuid>,
    /// Paid repairs: the price.
    pub price: Option<Price>,
    /// Times an unsatisfied callback sent it back.
    pub rework_count: i32,
    /// The latest rating.
    pub rating: Option<TicketRating>,
    /// The earliest open SLA deadline.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Whether any SLA clock ran out.
    pub breached: bool,
    /// Reported.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Dispatched.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Complaints: the butler answered the front desk.
    pub answered_at: Option<DateTime<Utc>>,
    /// Arrived.
    pub arrived_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// A ticket with everything about it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TicketDetail {
    /// The ticket.
    pub ticket: Ticket,
    /// The resident.
    pub resident: Option<PersonRef>,
    /// The assignee.
    pub assignee: Option<PersonRef>,
    /// The butler.
    pub butler: Option<PersonRef>,
    /// SLA clocks, every round.
    pub clocks: Vec<SlaClock>,
    /// History, oldest first.
    pub events: Vec<TicketEvent>,
    /// Photos.
    pub photos: Vec<PhotoRef>,
}

/// One page of tickets, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TicketPage {
    /// Tickets, newest first.
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a staff member's open tickets, the soonest SLA deadline first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskPage {
    /// Tickets, the soonest deadline first; those with no running clock last.
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the front desk's callback list, the longest waiting first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CallbackPage {
    /// Tickets awaiting a callback, completed longest ago first.
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The most open tickets a task list sorts (far more than anyone holds).
pub const TASKS_AT_MOST: u64 = 2_000;

/// Dispatch to a department and staff member; by the community's rules when absent.
#[derive(Debug, Default, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DispatchBody {
    /// engineering, cleaning or greenery (repairs); by category rules when absent.
    pub department: Option<Vocab<Department>>,
    /// The staff member; the least busy of the department when absent (complaints: the
    /// household's butler).
    pub assignee_id: Option<Uuid>,
    /// Note for the assignee.
    #[oai(validator(max_length = 500))]
    pub note: Option<String>,
}

/// A note with an action.
#[derive(Debug, Default, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NoteBody {
    /// Note.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

/// The butler's answer to a complaint.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AnswerBody {
    /// What was found and done (required, not blank).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: String,
}

impl Example for AnswerBody {
    fn example() -> Self {
        Self {
            note: "已与施工方沟通，夜间22:00后停止施工。".into(),
        }
    }
}

/// The price of paid work, stated before it starts.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PriceBody {
    /// Amount in fen (分): 1 to 100,000,000.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000000")))]
    pub fen: i64,
    /// What it covers.
    #[oai(validator(max_length = 500))]
    pub note: Option<String>,
}

impl Example for PriceBody {
    fn example() -> Self {
        Self {
            fen: 8_000,
            note: Some("更换水龙头（含配件）".into()),
        }
    }
}

/// The resident's answer to a price.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PriceAnswer {
    /// true to accept, false to decline.
    pub accept: bool,
}

/// A rating in the app.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct RatingBody {
    /// 1 to 5 stars.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub stars: i64,
    /// Satisfied? No sends the ticket back to the department for rework.
    pub satisfied: bool,
    /// Comment.
    #[oai(validator(max_length = 1000))]
    pub comment: Option<String>,
}

impl Example for RatingBody {
    fn example() -> Self {
        Self {
            stars: 5,
            satisfied: true,
            comment: Some("师傅很专业".into()),
        }
    }
}

/// The result of a phone callback (回访).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CallbackBody {
    /// Whether the resident was reached; if not, the attempt is recorded and the ticket
    /// stays on the list.
    pub reached: bool,
    /// Reached: 1 to 5 stars.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub stars: Option<i64>,
    /// Reached: satisfied?
    pub satisfied: Option<bool>,
    /// What the resident said, or why not reached.
    #[oai(validator(max_length = 1000))]
    pub comment: Option<String>,
}

/// A created ticket.
#[derive(ApiResponse)]
pub enum TicketCreated {
    /// Created (or, with a repeated `Idempotency-Key`, the ticket the first request created).
    #[oai(status = 201)]
    Created(Json<Ticket>),
}

/// Filters of a staff ticket list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub(super) community_id: Option<Uuid>,
    pub(super) kind: Option<TicketKind>,
    pub(super) state: Option<TicketState>,
    pub(super) assignee_id: Option<Uuid>,
    pub(super) household_id: Option<Uuid>,
    pub(super) breached: Option<bool>,
}
