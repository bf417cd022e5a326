//! Repairs (报修) and complaints (投诉): one ticket lifecycle. Residents report and rate;
//! the front desk registers phone and walk-in reports, dispatches and makes callbacks;
//! assignees accept, arrive, price and complete; butlers answer complaints. Every transition
//! goes through `courtyard_domain::tickets::transition`, and writes the ticket, an event,
//! its SLA clocks and (when someone is to be told) an outbox row in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use courtyard_domain::jobs::{OutboxJob, TicketNotify};
use courtyard_domain::{
    entities::{
        butler_assignment, community, household, household_member, resident, staff,
        staff_community, ticket, ticket_clock, ticket_event, ticket_photo,
    },
    new_id,
    org::{Timezone, WorkingHours},
    people::{StaffRole, mask_phone},
    ticket_messages::ActorKind,
    tickets::{
        Action, ClockKind, ComplaintCategory, Department, EventAction, Facts, Party, PriceStatus,
        Rating, RepairCategory, Severity, Source, Subject, TicketKind, TicketPolicy, TicketState,
        TransitionError, Urgency, callback_clock, clock_met_by, transition, work_clocks,
    },
};
use courtyard_store::tickets::{self as store_tickets, Actor, NewEvent, record_event};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::{Example, ParseFromJSON, ToJSON},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ALL_STAFF, BearerAuth, Principal},
    error::{ApiError, ApiResult, FieldContext, status::*},
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor},
    state::AppState,
};

/// A repair to report.
#[derive(Debug, Object)]
#[oai(example)]
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
    pub category: String,
    /// emergency (leak, flooding, outage, blocked toilet), simple (bulb, lock, small part)
    /// or ordinary.
    pub urgency: String,
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
    pub source: Option<String>,
}

impl Example for NewRepair {
    fn example() -> Self {
        Self {
            household_id: Some(Uuid::nil()),
            community_id: None,
            location: None,
            category: "water".into(),
            urgency: "emergency".into(),
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
#[oai(example)]
pub struct NewComplaint {
    /// The household the complaint comes from.
    pub household_id: Uuid,
    /// service_attitude, engineering, neighbour_behaviour, environment, security, other.
    pub category: String,
    /// ordinary or serious (default ordinary).
    pub severity: Option<String>,
    /// What happened.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub description: String,
    /// Front desk only: the resident it is registered for.
    pub resident_id: Option<Uuid>,
    /// Front desk only: phone or walk_in.
    pub source: Option<String>,
}

impl Example for NewComplaint {
    fn example() -> Self {
        Self {
            household_id: Uuid::nil(),
            category: "neighbour_behaviour".into(),
            severity: Some("ordinary".into()),
            description: "楼上深夜装修噪音".into(),
            resident_id: None,
            source: None,
        }
    }
}

/// A person on a ticket.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
pub struct PersonRef {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Phone; masked (`138****1234`) for those who do not call back.
    pub phone: Option<String>,
}

/// A paid repair's price.
#[derive(Debug, Clone, Object)]
pub struct Price {
    /// Amount in fen (分).
    pub fen: i64,
    /// proposed, accepted or declined.
    pub status: String,
    /// What the price covers.
    pub note: Option<String>,
}

/// The resident's rating (in the app or on the callback).
#[derive(Debug, Clone, Object)]
pub struct TicketRating {
    /// 1 to 5 stars.
    pub stars: i32,
    /// Satisfied with the result.
    pub satisfied: bool,
    /// Comment.
    pub comment: Option<String>,
    /// app or phone (the front desk's callback).
    pub via: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An SLA clock.
#[derive(Debug, Clone, Object)]
pub struct SlaClock {
    /// arrive, answer, resolve or callback.
    pub clock: String,
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
pub struct TicketEvent {
    /// Id.
    pub id: Uuid,
    /// What happened (reported, dispatched, accepted, arrived, priced, completed, rated,
    /// reopened, closed, sla_warned, sla_breached, ...).
    pub action: String,
    /// resident, staff or system.
    pub actor_kind: String,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A photo on a ticket.
#[derive(Debug, Clone, Object)]
pub struct PhotoRef {
    /// Id.
    pub id: Uuid,
    /// report or completion.
    pub stage: String,
    /// image/jpeg, image/png, image/webp, image/heic.
    pub content_type: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Where to fetch it (with the bearer token).
    pub url: String,
}

/// A ticket.
#[derive(Debug, Object)]
pub struct Ticket {
    /// Id.
    pub id: Uuid,
    /// repair or complaint.
    pub kind: String,
    /// Community.
    pub community_id: Uuid,
    /// Household; absent for public areas.
    pub household_id: Option<Uuid>,
    /// The resident it is for.
    pub resident_id: Option<Uuid>,
    /// app, phone or walk_in.
    pub source: String,
    /// Category.
    pub category: String,
    /// Repairs: emergency, simple, ordinary.
    pub urgency: Option<String>,
    /// Complaints: ordinary, serious.
    pub severity: Option<String>,
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
    pub state: String,
    /// engineering, cleaning, greenery.
    pub department: Option<String>,
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
pub struct TicketPage {
    /// Tickets, newest first.
    pub items: Vec<Ticket>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Dispatch to a department and staff member; by the community's rules when absent.
#[derive(Debug, Default, Object)]
pub struct DispatchBody {
    /// engineering, cleaning or greenery (repairs); by category rules when absent.
    pub department: Option<String>,
    /// The staff member; the least busy of the department when absent (complaints: the
    /// household's butler).
    pub assignee_id: Option<Uuid>,
    /// Note for the assignee.
    #[oai(validator(max_length = 500))]
    pub note: Option<String>,
}

/// A note with an action.
#[derive(Debug, Default, Object)]
pub struct NoteBody {
    /// Note.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

/// The price of paid work, stated before it starts.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PriceBody {
    /// Amount in fen (分): 1 to 100,000,000.
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
pub struct PriceAnswer {
    /// true to accept, false to decline.
    pub accept: bool,
}

/// A rating in the app.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RatingBody {
    /// 1 to 5 stars.
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
pub struct CallbackBody {
    /// Whether the resident was reached; if not, the attempt is recorded and the ticket
    /// stays on the list.
    pub reached: bool,
    /// Reached: 1 to 5 stars.
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
    community_id: Option<Uuid>,
    kind: Option<TicketKind>,
    state: Option<TicketState>,
    assignee_id: Option<Uuid>,
    household_id: Option<Uuid>,
    breached: Option<bool>,
}

/// The tickets endpoints.
pub struct TicketsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tickets")]
impl TicketsApi {
    /// Report a repair
    ///
    /// Residents report for one of their households (or a public area of their
    /// community); the front desk registers phone and walk-in reports for a resident. SLA
    /// clocks start now; the household's butler is told. Send an `Idempotency-Key` to make
    /// retries safe.
    #[oai(path = "/repairs", method = "post", operation_id = "create_repair")]
    async fn create_repair(
        &self,
        auth: BearerAuth,
        body: Json<NewRepair>,
        /// Makes a retried request return the first one's ticket instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<TicketCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let key = idempotency_key.0.as_deref();
        let hash = request_hash("create_repair", &body.0.to_json_string());
        if let Some(saved) = saved_response(&self.state, &auth.0, key, &hash).await? {
            return Ok(TicketCreated::Created(Json(saved)));
        }
        let category = RepairCategory::parse(&body.category).field("category")?;
        let urgency = Urgency::parse(&body.urgency).field("urgency")?;
        let now = self.state.clock.now();
        if let (Some(from), Some(to)) = (body.preferred_from, body.preferred_to)
            && to <= from
        {
            return Err(
                ApiError::invalid("preferred_to", "the window ends after it starts").into(),
            );
        }
        if body.preferred_to.is_some_and(|to| to <= now) {
            return Err(ApiError::invalid("preferred_to", "the window is in the past").into());
        }
        let reporter = Reporter::resolve(
            &self.state,
            &auth.0,
            body.household_id,
            body.community_id,
            body.resident_id,
            body.source.as_deref(),
        )
        .await?;
        if reporter.household.is_none()
            && body.location.as_deref().is_none_or(|l| l.trim().is_empty())
        {
            return Err(ApiError::invalid("location", "a public-area repair says where").into());
        }
        let subject = Subject::Repair {
            urgency,
            public_area: reporter.household.is_none(),
            agreed_by: body.preferred_to,
        };
        let row = reporter.new_ticket(
            TicketKind::Repair,
            category.as_str(),
            &body.description,
            now,
        );
        let row = ticket::Model {
            urgency: Some(urgency.as_str().into()),
            location: body.location.as_ref().map(|l| l.trim().to_owned()),
            preferred_from: body.preferred_from,
            preferred_to: body.preferred_to,
            ..row
        };
        let created = create(&self.state, &auth.0, key, &hash, &reporter, row, subject).await?;
        Ok(TicketCreated::Created(Json(created)))
    }

    /// File a complaint
    ///
    /// Routed to the household's butler, who answers the front desk within 4 hours; the
    /// resident gets a reply within 4 working days; neighbour-behaviour complaints need
    /// staff at the door within 15 minutes. Send an `Idempotency-Key` to make retries safe.
    #[oai(
        path = "/complaints",
        method = "post",
        operation_id = "create_complaint"
    )]
    async fn create_complaint(
        &self,
        auth: BearerAuth,
        body: Json<NewComplaint>,
        /// Makes a retried request return the first one's ticket instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<TicketCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let key = idempotency_key.0.as_deref();
        let hash = request_hash("create_complaint", &body.0.to_json_string());
        if let Some(saved) = saved_response(&self.state, &auth.0, key, &hash).await? {
            return Ok(TicketCreated::Created(Json(saved)));
        }
        let category = ComplaintCategory::parse(&body.category).field("category")?;
        let severity = match &body.severity {
            Some(s) => Severity::parse(s).field("severity")?,
            None => Severity::Ordinary,
        };
        let reporter = Reporter::resolve(
            &self.state,
            &auth.0,
            Some(body.household_id),
            None,
            body.resident_id,
            body.source.as_deref(),
        )
        .await?;
        let now = self.state.clock.now();
        let mut row = reporter.new_ticket(
            TicketKind::Complaint,
            category.as_str(),
            &body.description,
            now,
        );
        row.severity = Some(severity.as_str().into());
        let subject = Subject::Complaint { category, severity };
        let created = create(&self.state, &auth.0, key, &hash, &reporter, row, subject).await?;
        Ok(TicketCreated::Created(Json(created)))
    }

    /// List tickets
    ///
    /// Residents: their own and their households' tickets. Front desk, supervisors and
    /// admins: their communities' tickets, filtered. Butlers: their households' tickets and
    /// those assigned to them. Field staff: those assigned to them. Newest first.
    #[oai(path = "/tickets", method = "get", operation_id = "list_tickets")]
    #[allow(clippy::too_many_arguments)]
    async fn list_tickets(
        &self,
        auth: BearerAuth,
        /// Only this community.
        community_id: Query<Option<Uuid>>,
        /// repair or complaint.
        kind: Query<Option<String>>,
        /// Only tickets in this state.
        state: Query<Option<String>>,
        /// Only tickets assigned to this staff member.
        assignee_id: Query<Option<Uuid>>,
        /// Only this household's tickets.
        household_id: Query<Option<Uuid>>,
        /// Only tickets with (true) or without (false) a breached SLA clock.
        breached: Query<Option<bool>>,
        /// Cursor from the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<TicketPage>, { AUTHED | VALIDATION }> {
        let filter = ListFilter {
            community_id: *community_id,
            kind: kind
                .as_deref()
                .map(TicketKind::parse)
                .transpose()
                .field("kind")?,
            state: state
                .as_deref()
                .map(TicketState::parse)
                .transpose()
                .field("state")?,
            assignee_id: *assignee_id,
            household_id: *household_id,
            breached: *breached,
        };
        let mut condition = Condition::all();
        match &auth.0 {
            Principal::Resident(r) => {
                // One statement: PostgreSQL evaluates `ARRAY(subquery)` once and combines
                // the resident and household indexes; `household_id IN (subquery) OR ...`
                // would make it scan every ticket.
                let households = match self.state.db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => Expr::cust_with_values(
                        r#""tickets"."household_id" = ANY(ARRAY(SELECT "household_id" FROM "household_members" WHERE "resident_id" = $1))"#,
                        [r.id],
                    ),
                    _ => Expr::cust_with_values(
                        r#""tickets"."household_id" IN (SELECT "household_id" FROM "household_members" WHERE "resident_id" = ?)"#,
                        [r.id],
                    ),
                };
                condition = condition.add(
                    Condition::any()
                        .add(ticket::Column::ResidentId.eq(r.id))
                        .add(households),
                );
            }
            Principal::Staff(s) => {
                condition = condition.add(ticket::Column::CompanyId.eq(s.company_id));
                if let Some(communities) = s.community_filter() {
                    condition =
                        condition.add(ticket::Column::CommunityId.is_in(communities.to_vec()));
                }
                match s.role {
                    StaffRole::Admin | StaffRole::Supervisor | StaffRole::FrontDesk => {}
                    StaffRole::Butler => {
                        condition = condition.add(
                            Condition::any()
                                .add(ticket::Column::ButlerId.eq(s.id))
                                .add(ticket::Column::AssigneeId.eq(s.id)),
                        );
                    }
                    _ => condition = condition.add(ticket::Column::AssigneeId.eq(s.id)),
                }
            }
        }
        if let Some(id) = filter.community_id {
            condition = condition.add(ticket::Column::CommunityId.eq(id));
        }
        if let Some(kind) = filter.kind {
            condition = condition.add(ticket::Column::Kind.eq(kind.as_str()));
        }
        if let Some(state) = filter.state {
            condition = condition.add(ticket::Column::State.eq(state.as_str()));
        }
        if let Some(id) = filter.assignee_id {
            condition = condition.add(ticket::Column::AssigneeId.eq(id));
        }
        if let Some(id) = filter.household_id {
            condition = condition.add(ticket::Column::HouseholdId.eq(id));
        }
        if let Some(breached) = filter.breached {
            condition = condition.add(ticket::Column::Breached.eq(breached));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as u64;
        if let Some(before) = decode_cursor(cursor.as_deref())? {
            condition = condition.add(ticket::Column::Id.lt(before));
        }
        let select = ticket::Entity::find().filter(condition);
        let mut rows = list_page(&self.state.db, select, limit + 1).await?;
        let next_cursor = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|t| encode_cursor(t.id))
        } else {
            None
        };
        let items = rows.into_iter().map(ticket_view).collect();
        Ok(Json(TicketPage { items, next_cursor }))
    }

    /// A staff member's task list
    ///
    /// Open tickets assigned to the caller (and, for butlers, their households' open
    /// tickets), the soonest SLA deadline first.
    #[oai(path = "/me/tasks", method = "get", operation_id = "list_my_tasks")]
    async fn list_my_tasks(&self, auth: BearerAuth) -> ApiResult<Json<Vec<Ticket>>, { AUTHED }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let open: Vec<&str> = TicketState::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        let rows = ticket::Entity::find()
            .filter(
                Condition::any()
                    .add(ticket::Column::AssigneeId.eq(staff.id))
                    .add(ticket::Column::ButlerId.eq(staff.id)),
            )
            .filter(ticket::Column::State.is_in(open))
            .order_by_asc(ticket::Column::Id)
            .limit(500)
            .all(&self.state.db)
            .await?;
        let mut items: Vec<Ticket> = rows.into_iter().map(ticket_view).collect();
        // Due soonest first; tickets with no running clock (waiting for a rating) last.
        items.sort_by_key(|t| (t.next_due_at.is_none(), t.next_due_at, t.created_at));
        Ok(Json(items))
    }

    /// Get a ticket
    ///
    /// With the people on it, its SLA clocks, history and photos.
    #[oai(
        path = "/tickets/:ticket_id",
        method = "get",
        operation_id = "get_ticket"
    )]
    async fn get_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND }> {
        let (row, _) = load(&self.state, &auth.0, *ticket_id).await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Dispatch a ticket
    ///
    /// To a department and a staff member, by hand or (fields absent) by the community's
    /// category rules and the least busy staff member; the assignee and the household's
    /// butler are told at the same moment, and the resident sees it.
    #[oai(
        path = "/tickets/:ticket_id/dispatch",
        method = "post",
        operation_id = "dispatch_ticket"
    )]
    async fn dispatch_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<DispatchBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = self
            .assign(&auth.0, *ticket_id, Action::Dispatch, body.0)
            .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Reassign a ticket
    ///
    /// To another staff member (who must accept it again).
    #[oai(
        path = "/tickets/:ticket_id/reassign",
        method = "post",
        operation_id = "reassign_ticket"
    )]
    async fn reassign_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<DispatchBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = self
            .assign(&auth.0, *ticket_id, Action::Reassign, body.0)
            .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Accept a work order
    #[oai(
        path = "/tickets/:ticket_id/accept",
        method = "post",
        operation_id = "accept_ticket"
    )]
    async fn accept_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Accept,
            None,
            |_, _| {},
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Arrive on site
    ///
    /// Stops the on-site clock; the resident is told.
    #[oai(
        path = "/tickets/:ticket_id/arrive",
        method = "post",
        operation_id = "arrive_ticket"
    )]
    async fn arrive_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Arrive,
            None,
            |t, now| t.arrived_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// State the price of paid work
    ///
    /// Before work starts; the resident accepts or declines it in the app. A paid ticket
    /// cannot complete without an accepted price.
    #[oai(
        path = "/tickets/:ticket_id/price",
        method = "post",
        operation_id = "price_ticket"
    )]
    async fn price_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<PriceBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let fen = courtyard_domain::tickets::Fen::parse(body.fen).field("fen")?;
        let note = body.note.clone();
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Price,
            body.note.clone(),
            move |t, _| {
                t.price_fen = Set(Some(fen.fen()));
                t.price_status = Set(Some(PriceStatus::Proposed.as_str().into()));
                t.price_note = Set(note);
            },
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Accept or decline the price
    #[oai(
        path = "/tickets/:ticket_id/price-answer",
        method = "post",
        operation_id = "answer_price"
    )]
    async fn answer_price(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<PriceAnswer>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let status = if body.accept {
            PriceStatus::Accepted
        } else {
            PriceStatus::Declined
        };
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::AnswerPrice,
            None,
            move |t, _| t.price_status = Set(Some(status.as_str().into())),
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Answer the front desk about a complaint
    ///
    /// The butler's answer, due within 4 hours of the complaint.
    #[oai(
        path = "/tickets/:ticket_id/answer",
        method = "post",
        operation_id = "answer_complaint"
    )]
    async fn answer_complaint(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<NoteBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        if body.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(ApiError::invalid("note", "the answer says what was found").into());
        }
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Answer,
            body.0.note,
            |t, now| t.answered_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Complete the work
    ///
    /// Repairs: on site, with an accepted price when paid. Complaints: the reply to the
    /// resident. The resident is asked to rate it; after 48 hours without a rating it goes
    /// on the front desk's callback list.
    #[oai(
        path = "/tickets/:ticket_id/complete",
        method = "post",
        operation_id = "complete_ticket"
    )]
    async fn complete_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<NoteBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Complete,
            body.0.note,
            |t, now| t.completed_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Rate the work
    ///
    /// 1–5 stars and satisfied or not. Unsatisfied sends the ticket back to the same
    /// department with the rework count increased.
    #[oai(
        path = "/tickets/:ticket_id/rating",
        method = "post",
        operation_id = "rate_ticket"
    )]
    async fn rate_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<RatingBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let stars = Rating::parse(body.stars).field("stars")?;
        let row = rate(
            &self.state,
            &auth.0,
            *ticket_id,
            stars,
            body.satisfied,
            body.0.comment,
            "app",
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Record a phone callback (回访)
    ///
    /// The front desk's callback for a ticket the resident did not rate in the app. Not
    /// reached: the attempt is recorded and the ticket stays on the list. Callbacks are
    /// never filled in automatically.
    #[oai(
        path = "/tickets/:ticket_id/callback",
        method = "post",
        operation_id = "record_callback"
    )]
    async fn record_callback(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<CallbackBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = if body.reached {
            let Some(stars) = body.stars else {
                return Err(
                    ApiError::invalid("stars", "a reached callback records the rating").into(),
                );
            };
            let Some(satisfied) = body.satisfied else {
                return Err(ApiError::invalid(
                    "satisfied",
                    "a reached callback records whether the resident is satisfied",
                )
                .into());
            };
            let stars = Rating::parse(stars).field("stars")?;
            rate(
                &self.state,
                &auth.0,
                *ticket_id,
                stars,
                satisfied,
                body.0.comment,
                "phone",
            )
            .await?
        } else {
            act(
                &self.state,
                &auth.0,
                *ticket_id,
                Action::CallbackUnreached,
                body.0.comment,
                |_, _| {},
            )
            .await?
        };
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }

    /// Cancel a ticket
    ///
    /// The resident (or the front desk for them) withdraws it before work starts.
    #[oai(
        path = "/tickets/:ticket_id/cancel",
        method = "post",
        operation_id = "cancel_ticket"
    )]
    async fn cancel_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<NoteBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Cancel,
            body.0.note,
            |t, now| t.cancelled_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, &auth.0, row).await?))
    }
}

impl TicketsApi {
    /// Dispatch or reassign: picks the department and assignee, then transitions.
    async fn assign(
        &self,
        principal: &Principal,
        id: Uuid,
        action: Action,
        body: DispatchBody,
    ) -> Result<ticket::Model, ApiError> {
        let (row, parties) = load(&self.state, principal, id).await?;
        // Refuse early (before picking anyone) when the caller may not or the state is wrong.
        check(&row, action, &parties)?;
        let kind = TicketKind::parse(&row.kind).map_err(|e| anyhow::anyhow!(e))?;
        let (department, role) = match kind {
            TicketKind::Repair => {
                let department = match (&body.department, &row.department) {
                    (Some(d), _) => Department::parse(d).field("department")?,
                    (None, Some(d)) => Department::parse(d).map_err(|e| anyhow::anyhow!(e))?,
                    (None, None) => {
                        let category =
                            RepairCategory::parse(&row.category).map_err(|e| anyhow::anyhow!(e))?;
                        policy_of(&self.state, row.community_id)
                            .await?
                            .department_for(category)
                    }
                };
                (Some(department), department.role())
            }
            TicketKind::Complaint => (None, StaffRole::Butler),
        };
        let assignee = match body.assignee_id {
            Some(id) => {
                let staff = staff_in(&self.state, row.community_id, id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "assignee_id",
                            "no active staff member with this id works in the ticket's community",
                        )
                    })?;
                let ok = match kind {
                    TicketKind::Repair => staff.role == role.as_str(),
                    TicketKind::Complaint => {
                        matches!(staff.role.as_str(), "butler" | "supervisor" | "front_desk")
                    }
                };
                if !ok {
                    return Err(ApiError::invalid(
                        "assignee_id",
                        format!("the assignee must be a {} here", role.as_str()),
                    ));
                }
                staff.id
            }
            None if kind == TicketKind::Complaint && row.butler_id.is_some() => {
                row.butler_id.unwrap_or_default()
            }
            None if action == Action::Dispatch
                && row.assignee_id.is_some()
                && body.department.is_none() =>
            {
                // A reopened ticket goes back to whoever did the work.
                row.assignee_id.unwrap_or_default()
            }
            None => least_busy(&self.state, row.community_id, role)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        "assignee_id",
                        format!("no active {} works in this community", role.as_str()),
                    )
                })?,
        };
        let event_data =
            json!({ "assignee_id": assignee, "department": department.map(|d| d.as_str()) });
        transact(
            &self.state,
            principal,
            row,
            parties,
            action,
            body.note,
            Some(event_data),
            move |t, now| {
                t.assignee_id = Set(Some(assignee));
                t.department = Set(department.map(|d| d.as_str().to_owned()));
                t.dispatched_at = Set(Some(now));
            },
        )
        .await
    }
}

/// Who a new ticket is from and for.
struct Reporter {
    company_id: Uuid,
    community: community::Model,
    household: Option<household::Model>,
    resident_id: Option<Uuid>,
    registered_by: Option<Uuid>,
    source: Source,
}

impl Reporter {
    /// Resolves the household, community and resident of a new ticket, checking the
    /// caller may report for them.
    async fn resolve(
        state: &AppState,
        principal: &Principal,
        household_id: Option<Uuid>,
        community_id: Option<Uuid>,
        resident_id: Option<Uuid>,
        source: Option<&str>,
    ) -> Result<Self, ApiError> {
        let household = match household_id {
            Some(id) => Some(principal.household(state, id).await?),
            None => None,
        };
        let community_id = match (&household, community_id) {
            (Some(h), _) => h.community_id,
            (None, Some(id)) => id,
            (None, None) => {
                return Err(ApiError::invalid(
                    "household_id",
                    "give the household, or the community of a public-area repair",
                ));
            }
        };
        match principal {
            Principal::Resident(r) => {
                if resident_id.is_some_and(|id| id != r.id) {
                    return Err(ApiError::invalid(
                        "resident_id",
                        "residents report for themselves",
                    ));
                }
                if source.is_some_and(|s| s != "app") {
                    return Err(ApiError::invalid("source", "residents report in the app"));
                }
                // A public-area report: the resident must live in that community.
                if household.is_none() {
                    let lives_there = household_member::Entity::find()
                        .filter(household_member::Column::ResidentId.eq(r.id))
                        .filter(household_member::Column::CommunityId.eq(community_id))
                        .one(&state.db)
                        .await?
                        .is_some();
                    if !lives_there {
                        return Err(ApiError::NotFound("community"));
                    }
                }
                let community = state
                    .communities
                    .get(&state.db, community_id)
                    .await?
                    .filter(|c| c.company_id == r.company_id)
                    .ok_or(ApiError::NotFound("community"))?;
                Ok(Self {
                    company_id: r.company_id,
                    community,
                    household,
                    resident_id: Some(r.id),
                    registered_by: None,
                    source: Source::App,
                })
            }
            Principal::Staff(s) => {
                let staff = principal.staff(&[
                    StaffRole::Admin,
                    StaffRole::Supervisor,
                    StaffRole::FrontDesk,
                ])?;
                let community = staff.community(state, community_id).await?;
                let source = match source {
                    Some(raw) => Source::parse(raw).field("source")?,
                    None => Source::Phone,
                };
                if source == Source::App {
                    return Err(ApiError::invalid(
                        "source",
                        "staff register phone or walk_in reports",
                    ));
                }
                if let Some(id) = resident_id {
                    let member = match &household {
                        Some(h) => household_member::Entity::find_by_id((h.id, id))
                            .one(&state.db)
                            .await?
                            .is_some(),
                        None => household_member::Entity::find()
                            .filter(household_member::Column::ResidentId.eq(id))
                            .filter(household_member::Column::CommunityId.eq(community.id))
                            .one(&state.db)
                            .await?
                            .is_some(),
                    };
                    if !member {
                        return Err(ApiError::invalid(
                            "resident_id",
                            "the resident does not live in this household",
                        ));
                    }
                }
                Ok(Self {
                    company_id: s.company_id,
                    community,
                    household,
                    resident_id,
                    registered_by: Some(s.id),
                    source,
                })
            }
        }
    }

    fn new_ticket(
        &self,
        kind: TicketKind,
        category: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> ticket::Model {
        ticket::Model {
            id: new_id(),
            company_id: self.company_id,
            community_id: self.community.id,
            kind: kind.as_str().into(),
            household_id: self.household.as_ref().map(|h| h.id),
            resident_id: self.resident_id,
            registered_by: self.registered_by,
            source: self.source.as_str().into(),
            category: category.into(),
            urgency: None,
            severity: None,
            location: None,
            description: description.trim().into(),
            preferred_from: None,
            preferred_to: None,
            state: TicketState::Submitted.as_str().into(),
            department: None,
            assignee_id: None,
            butler_id: None,
            price_fen: None,
            price_status: None,
            price_note: None,
            rework_count: 0,
            rating: None,
            satisfied: None,
            rating_comment: None,
            rated_via: None,
            rated_at: None,
            created_at: now,
            updated_at: now,
            dispatched_at: None,
            answered_at: None,
            arrived_at: None,
            completed_at: None,
            closed_at: None,
            cancelled_at: None,
            next_due_at: None,
            breached: false,
        }
    }
}

/// SHA-256 of an operation and its body.
fn request_hash(operation: &str, body: &str) -> String {
    hex::encode(Sha256::digest(format!("{operation}\n{body}")))
}

/// The caller's id: the scope of their idempotency keys.
fn caller_id(principal: &Principal) -> Uuid {
    match principal {
        Principal::Resident(r) => r.id,
        Principal::Staff(s) => s.id,
    }
}

/// The ticket a previous request with this key created, or a 422 when the key was used
/// for a different request.
async fn saved_response(
    state: &AppState,
    principal: &Principal,
    key: Option<&str>,
    hash: &str,
) -> Result<Option<Ticket>, ApiError> {
    use courtyard_domain::entities::idempotency_key;
    let Some(key) = key else {
        return Ok(None);
    };
    let Some(saved) = idempotency_key::Entity::find_by_id((caller_id(principal), key.to_owned()))
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if saved.request_hash != hash {
        return Err(ApiError::Validation {
            detail: "this Idempotency-Key was used for a different request".into(),
            errors: vec![crate::error::FieldError {
                field: "Idempotency-Key".into(),
                message: "use a new key for a new request".into(),
                row: None,
            }],
        });
    }
    let value: serde_json::Value =
        serde_json::from_str(&saved.body).map_err(|e| anyhow::anyhow!("saved response: {e}"))?;
    Ticket::parse_from_json(Some(value))
        .map(Some)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("saved response: {}", e.message())))
}

/// Writes a new ticket: the row, its `reported` event (and, for complaints routed to the
/// butler, `dispatched`), its clocks, the outbox row that tells the butler, and the
/// idempotency record, in one transaction.
async fn create(
    state: &AppState,
    principal: &Principal,
    key: Option<&str>,
    hash: &str,
    reporter: &Reporter,
    mut row: ticket::Model,
    subject: Subject,
) -> Result<Ticket, ApiError> {
    let now = row.created_at;
    let community = &reporter.community;
    let (policy, hours, tz) = rules_of(community)?;
    row.butler_id = match &reporter.household {
        Some(h) => butler_of(state, h).await?,
        None => None,
    };
    let mut events = vec![(EventAction::Reported, None, TicketState::Submitted)];
    if row.kind == TicketKind::Complaint.as_str() && row.butler_id.is_some() {
        // Complaints are routed to the butler at once.
        row.assignee_id = row.butler_id;
        row.state = TicketState::Dispatched.as_str().into();
        row.dispatched_at = Some(now);
        events.push((
            EventAction::Dispatched,
            Some(TicketState::Submitted),
            TicketState::Dispatched,
        ));
    }
    let clocks = work_clocks(subject, now, &policy, &hours, tz);
    row.next_due_at = clocks.iter().map(|c| c.due_at).min();
    let dto = ticket_view(row.clone());
    let body = dto.to_json_string();
    let data = reporter
        .registered_by
        .map(|by| json!({ "registered_by": by }));
    let written = if state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        insert_new_ticket_pg(
            state, principal, key, hash, &body, &row, &events, data, &clocks,
        )
        .await
    } else {
        insert_new_ticket(
            state, principal, key, hash, &body, &row, &events, data, &clocks,
        )
        .await
    };
    match written {
        Ok(()) => {}
        // The same key won a moment ago (or is being written): answer with its ticket.
        Err(e)
            if key.is_some()
                && matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
        {
            return saved_response(state, principal, key, hash)
                .await?
                .ok_or_else(|| ApiError::Conflict {
                    kind: "idempotency-key-in-use",
                    detail: "a request with this Idempotency-Key is in progress".into(),
                });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(ticket = %row.id, kind = %row.kind, "ticket reported");
    Ok(dto)
}

/// A new ticket's history entry: (action, from, to).
type CreationEvent = (EventAction, Option<TicketState>, TicketState);
/// A new ticket's history entries.
type NewEvents = [CreationEvent];

/// Writes a new ticket, its events, their outbox rows, its clocks and the idempotency
/// record in one transaction.
#[allow(clippy::too_many_arguments)]
async fn insert_new_ticket(
    state: &AppState,
    principal: &Principal,
    key: Option<&str>,
    hash: &str,
    body: &str,
    row: &ticket::Model,
    events: &NewEvents,
    data: Option<serde_json::Value>,
    clocks: &[courtyard_domain::tickets::Clock],
) -> Result<(), sea_orm::DbErr> {
    let now = row.created_at;
    let txn = state.db.begin().await?;
    if let Some(key) = key {
        // First, so that a concurrent request with the same key waits here and then finds
        // the saved response instead of creating a second ticket.
        courtyard_domain::entities::idempotency_key::Entity::insert(
            courtyard_domain::entities::idempotency_key::ActiveModel {
                caller_id: Set(caller_id(principal)),
                key: Set(key.to_owned()),
                request_hash: Set(hash.to_owned()),
                status: Set(201),
                body: Set(body.to_owned()),
                created_at: Set(now),
            },
        )
        .exec_without_returning(&txn)
        .await?;
    }
    let actor = actor_of(principal);
    row.clone().into_active_model().insert(&txn).await?;
    for &(action, from, to) in events {
        record_event(
            &txn,
            NewEvent {
                ticket_id: row.id,
                actor,
                action,
                from,
                to: Some(to),
                note: None,
                data: data.clone(),
            },
            now,
        )
        .await?;
    }
    if !clocks.is_empty() {
        ticket_clock::Entity::insert_many(
            clocks
                .iter()
                .map(|c| clock_row(row.id, 0, c).into_active_model()),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await
}

/// As [`insert_new_ticket`], on PostgreSQL in one statement: data-modifying CTEs commit
/// together or not at all, and one round trip instead of seven is most of what a report
/// costs the database.
#[allow(clippy::too_many_arguments)]
async fn insert_new_ticket_pg(
    state: &AppState,
    principal: &Principal,
    key: Option<&str>,
    hash: &str,
    body: &str,
    row: &ticket::Model,
    events: &NewEvents,
    data: Option<serde_json::Value>,
    clocks: &[courtyard_domain::tickets::Clock],
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{Statement, Value};
    const SQL: &str = "WITH t AS (INSERT INTO tickets (id, company_id, community_id, kind, \
        household_id, resident_id, registered_by, source, category, urgency, severity, location, \
        description, preferred_from, preferred_to, state, assignee_id, butler_id, rework_count, \
        created_at, updated_at, dispatched_at, next_due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
        $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0, $19, $19, $20, $34)), \
        e AS (INSERT INTO ticket_events (id, ticket_id, actor_kind, actor_id, action, from_state, \
        to_state, data, created_at) SELECT e.id, $1, $21, $22, e.action, NULLIF(e.from_state, ''), \
        e.to_state, $23::json, $19 FROM UNNEST($24::uuid[], $25::text[], $26::text[], $27::text[]) \
        AS e (id, action, from_state, to_state)), \
        o AS (INSERT INTO outbox (id, kind, payload, available_at, created_at) \
        SELECT o.id, $28, json_build_object('event_id', o.event_id), $19, $19 \
        FROM UNNEST($29::uuid[], $24::uuid[]) AS o (id, event_id)) \
        INSERT INTO ticket_clocks (ticket_id, clock, round, started_at, warn_at, due_at) \
        SELECT $1, c.clock, 0, c.started_at, c.warn_at, c.due_at \
        FROM UNNEST($30::text[], $31::timestamptz[], $32::timestamptz[], $33::timestamptz[]) \
        AS c (clock, started_at, warn_at, due_at)";
    const WITH_KEY: &str = "WITH k AS (INSERT INTO idempotency_keys (caller_id, key, \
        request_hash, status, body, created_at) VALUES ($35, $36, $37, 201, $38, $19)), ";
    let actor = actor_of(principal);
    let event_ids: Vec<Uuid> = events.iter().map(|_| new_id()).collect();
    let texts = |f: &dyn Fn(&CreationEvent) -> String| {
        Value::from(events.iter().map(f).collect::<Vec<String>>())
    };
    let mut values: Vec<Value> = vec![
        row.id.into(),
        row.company_id.into(),
        row.community_id.into(),
        row.kind.clone().into(),
        row.household_id.into(),
        row.resident_id.into(),
        row.registered_by.into(),
        row.source.clone().into(),
        row.category.clone().into(),
        row.urgency.clone().into(),
        row.severity.clone().into(),
        row.location.clone().into(),
        row.description.clone().into(),
        row.preferred_from.into(),
        row.preferred_to.into(),
        row.state.clone().into(),
        row.assignee_id.into(),
        row.butler_id.into(),
        row.created_at.into(),
        row.dispatched_at.into(),
        actor.kind.as_str().to_owned().into(),
        actor.id.into(),
        data.map(|d| d.to_string()).into(),
        Value::from(event_ids.clone()),
        texts(&|e| e.0.as_str().to_owned()),
        texts(&|e| e.1.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        texts(&|e| e.2.as_str().to_owned()),
        TicketNotify::KIND.to_owned().into(),
        Value::from(events.iter().map(|_| new_id()).collect::<Vec<Uuid>>()),
        Value::from(
            clocks
                .iter()
                .map(|c| c.kind.as_str().to_owned())
                .collect::<Vec<String>>(),
        ),
        Value::from(clocks.iter().map(|c| c.started_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.warn_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.due_at).collect::<Vec<_>>()),
    ];
    // $34 is the next deadline; $35–$38 the idempotency record's, when there is one.
    values.push(row.next_due_at.into());
    let sql = match key {
        Some(key) => {
            values.extend([
                caller_id(principal).into(),
                key.to_owned().into(),
                hash.to_owned().into(),
                body.to_owned().into(),
            ]);
            format!("{WITH_KEY}{}", &SQL["WITH ".len()..])
        }
        None => SQL.to_owned(),
    };
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map(|_| ())
}

/// Who is acting, for the history.
pub(crate) fn actor_of(principal: &Principal) -> Actor {
    match principal {
        Principal::Resident(r) => Actor {
            kind: ActorKind::Resident,
            id: Some(r.id),
        },
        Principal::Staff(s) => Actor {
            kind: ActorKind::Staff,
            id: Some(s.id),
        },
    }
}

fn clock_row(
    ticket_id: Uuid,
    round: i32,
    c: &courtyard_domain::tickets::Clock,
) -> ticket_clock::Model {
    ticket_clock::Model {
        ticket_id,
        clock: c.kind.as_str().into(),
        round,
        started_at: c.started_at,
        warn_at: c.warn_at,
        due_at: c.due_at,
        met_at: None,
        warned_at: None,
        breached_at: None,
    }
}

/// A community's policy, working hours and time zone.
pub fn rules_of(
    community: &community::Model,
) -> Result<(TicketPolicy, WorkingHours, chrono_tz::Tz), ApiError> {
    let policy = community
        .ticket_policy
        .clone()
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default();
    let days: Vec<u8> = serde_json::from_value(community.work_days.clone()).unwrap_or_default();
    let holidays: Vec<String> =
        serde_json::from_value(community.holidays.clone()).unwrap_or_default();
    let hours = WorkingHours::parse(&community.work_start, &community.work_end, &days, &holidays)
        .map_err(|e| anyhow::anyhow!("community {} working hours: {e}", community.id))?;
    let tz = Timezone::parse(&community.timezone)
        .map_err(|e| anyhow::anyhow!("community {} time zone: {e}", community.id))?
        .tz();
    Ok((policy, hours, tz))
}

async fn policy_of(state: &AppState, community_id: Uuid) -> Result<TicketPolicy, ApiError> {
    let community = community::Entity::find_by_id(community_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("community"))?;
    Ok(rules_of(&community)?.0)
}

/// The butler of a household: assigned to it, else to its building.
async fn butler_of(
    state: &AppState,
    household: &household::Model,
) -> Result<Option<Uuid>, ApiError> {
    let active = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Active.eq(true));
    // One statement: the assignments whose butler is active.
    let assignments = butler_assignment::Entity::find()
        .filter(
            Condition::any()
                .add(butler_assignment::Column::HouseholdId.eq(household.id))
                .add(butler_assignment::Column::BuildingId.eq(household.building_id)),
        )
        .filter(
            butler_assignment::Column::StaffId.in_subquery(sea_orm::QueryTrait::into_query(active)),
        )
        .order_by_asc(butler_assignment::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let pick = |household_level: bool| {
        assignments
            .iter()
            .filter(|a| a.household_id.is_some() == household_level)
            .map(|a| a.staff_id)
            .next()
    };
    Ok(pick(true).or_else(|| pick(false)))
}

/// An active staff member working in `community_id`.
async fn staff_in(
    state: &AppState,
    community_id: Uuid,
    id: Uuid,
) -> Result<Option<staff::Model>, ApiError> {
    let Some(member) = staff::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|s| s.active)
    else {
        return Ok(None);
    };
    let works_there = staff_community::Entity::find_by_id((member.id, community_id))
        .one(&state.db)
        .await?
        .is_some();
    Ok(works_there.then_some(member))
}

/// The active staff member of `role` in a community with the fewest open tickets.
async fn least_busy(
    state: &AppState,
    community_id: Uuid,
    role: StaffRole,
) -> Result<Option<Uuid>, ApiError> {
    let members: Vec<Uuid> = staff_community::Entity::find()
        .select_only()
        .column(staff_community::Column::StaffId)
        .filter(staff_community::Column::CommunityId.eq(community_id))
        .into_tuple()
        .all(&state.db)
        .await?;
    let candidates: Vec<Uuid> = staff::Entity::find()
        .select_only()
        .column(staff::Column::Id)
        .filter(staff::Column::Id.is_in(members))
        .filter(staff::Column::Role.eq(role.as_str()))
        .filter(staff::Column::Active.eq(true))
        .order_by_asc(staff::Column::Id)
        .into_tuple()
        .all(&state.db)
        .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    // Everyone's open work in one grouped query.
    let load: HashMap<Uuid, i64> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::AssigneeId)
        .column_as(ticket::Column::Id.count(), "open")
        .filter(ticket::Column::AssigneeId.is_in(candidates.clone()))
        .filter(ticket::Column::State.is_in(TicketState::IN_WORK.map(TicketState::as_str)))
        .group_by(ticket::Column::AssigneeId)
        .into_tuple::<(Uuid, i64)>()
        .all(&state.db)
        .await?
        .into_iter()
        .collect();
    // Fewest open tickets; ties go to the lowest id (candidates are in id order).
    Ok(candidates
        .into_iter()
        .min_by_key(|id| load.get(id).copied().unwrap_or(0)))
}

/// Loads a ticket the caller may see, with the capacities they hold on it. Another
/// community's or household's ticket answers 404; staff of the community who hold no
/// capacity on it (a cleaner looking at an engineer's order) get 403.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(ticket::Model, Vec<Party>), ApiError> {
    let row = ticket::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    let mut parties = Vec::new();
    match principal {
        Principal::Resident(r) => {
            let member = match row.household_id {
                Some(h) => household_member::Entity::find_by_id((h, r.id))
                    .one(&state.db)
                    .await?
                    .is_some(),
                None => false,
            };
            if row.company_id != r.company_id || !(member || row.resident_id == Some(r.id)) {
                return Err(ApiError::NotFound("ticket"));
            }
            parties.push(Party::Resident);
        }
        Principal::Staff(s) => {
            if row.company_id != s.company_id || !s.in_scope(row.community_id) {
                return Err(ApiError::NotFound("ticket"));
            }
            if row.assignee_id == Some(s.id) {
                parties.push(Party::Assignee);
            }
            if row.butler_id == Some(s.id) {
                parties.push(Party::Butler);
            }
            match s.role {
                StaffRole::FrontDesk => parties.push(Party::Desk),
                StaffRole::Admin | StaffRole::Supervisor => parties.push(Party::Manager),
                _ => {}
            }
            if parties.is_empty() {
                return Err(ApiError::Forbidden(
                    "this ticket is not assigned to you".into(),
                ));
            }
        }
    }
    Ok((row, parties))
}

fn facts(row: &ticket::Model) -> Result<Facts, ApiError> {
    Ok(store_tickets::facts_of(row).map_err(|e| anyhow::anyhow!(e))?)
}

fn state_of(row: &ticket::Model) -> Result<TicketState, ApiError> {
    Ok(store_tickets::state_of(row).map_err(|e| anyhow::anyhow!(e))?)
}

/// The state `action` leads to, or the 403/409 that refuses it.
fn check(row: &ticket::Model, action: Action, parties: &[Party]) -> Result<TicketState, ApiError> {
    transition(state_of(row)?, action, parties, facts(row)?).map_err(refusal)
}

/// A refused transition as a problem: 403 for the wrong person, 409 naming the state.
pub fn refusal(e: TransitionError) -> ApiError {
    match e {
        TransitionError::NotAllowed { .. } => ApiError::Forbidden(e.to_string()),
        TransitionError::WrongState { .. } => ApiError::Conflict {
            kind: "wrong-state",
            detail: e.to_string(),
        },
        TransitionError::PriceNotAccepted => ApiError::Conflict {
            kind: "price-not-accepted",
            detail: e.to_string(),
        },
        TransitionError::NoPriceToAnswer => ApiError::Conflict {
            kind: "no-price",
            detail: e.to_string(),
        },
        TransitionError::WorkStarted => ApiError::Conflict {
            kind: "work-started",
            detail: e.to_string(),
        },
    }
}

/// Loads, checks and applies `action`.
async fn act(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: Action,
    note: Option<String>,
    change: impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>),
) -> Result<ticket::Model, ApiError> {
    let (row, parties) = load(state, principal, id).await?;
    transact(state, principal, row, parties, action, note, None, change).await
}

/// Rates a completed ticket (in the app or on the callback): closes it when satisfied,
/// reopens it for rework when not.
async fn rate(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    stars: Rating,
    satisfied: bool,
    comment: Option<String>,
    via: &'static str,
) -> Result<ticket::Model, ApiError> {
    let (row, parties) = load(state, principal, id).await?;
    let action = match via {
        "app" => Action::Rate { satisfied },
        _ => Action::RecordCallback { satisfied },
    };
    let data = json!({ "stars": stars.stars(), "satisfied": satisfied, "via": via });
    transact(
        state,
        principal,
        row,
        parties,
        action,
        comment.clone(),
        Some(data),
        move |t, now| {
            t.rating = Set(Some(i32::from(stars.stars())));
            t.satisfied = Set(Some(satisfied));
            t.rating_comment = Set(comment);
            t.rated_via = Set(Some(via.into()));
            t.rated_at = Set(Some(now));
            if satisfied {
                t.closed_at = Set(Some(now));
            }
        },
    )
    .await
}

/// Applies a checked transition in one transaction: the ticket (only if nobody changed its
/// state meanwhile), the event(s), the clocks it stops and starts, and the outbox row.
#[allow(clippy::too_many_arguments)]
async fn transact(
    state: &AppState,
    principal: &Principal,
    row: ticket::Model,
    parties: Vec<Party>,
    action: Action,
    note: Option<String>,
    data: Option<serde_json::Value>,
    change: impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>),
) -> Result<ticket::Model, ApiError> {
    let from = state_of(&row)?;
    let to = check(&row, action, &parties)?;
    let now = state.clock.now();
    let kind = TicketKind::parse(&row.kind).map_err(|e| anyhow::anyhow!(e))?;
    let reopen = to == TicketState::Reopened;
    // Reopening starts new work clocks; completing starts the callback clock.
    let community = if reopen || to == TicketState::Completed {
        Some(
            community::Entity::find_by_id(row.community_id)
                .one(&state.db)
                .await?
                .ok_or(ApiError::NotFound("community"))?,
        )
    } else {
        None
    };
    let mut active = row.clone().into_active_model();
    active.state = Set(to.as_str().into());
    active.updated_at = Set(now);
    let round = if reopen {
        row.rework_count + 1
    } else {
        row.rework_count
    };
    if reopen {
        active.rework_count = Set(round);
        active.arrived_at = Set(None);
        active.completed_at = Set(None);
        active.answered_at = Set(None);
    }
    change(&mut active, now);
    let actor = actor_of(principal);
    let txn = state.db.begin().await?;
    // Write first (SQLite), and only over the state we checked: a concurrent change makes
    // this update nothing, and the caller gets a 409 instead of a lost update.
    let mut update = ticket::Entity::update_many()
        .filter(ticket::Column::Id.eq(row.id))
        .filter(ticket::Column::State.eq(from.as_str()))
        .filter(ticket::Column::UpdatedAt.eq(row.updated_at));
    for column in [
        ticket::Column::State,
        ticket::Column::UpdatedAt,
        ticket::Column::ReworkCount,
        ticket::Column::ArrivedAt,
        ticket::Column::CompletedAt,
        ticket::Column::AnsweredAt,
        ticket::Column::AssigneeId,
        ticket::Column::Department,
        ticket::Column::DispatchedAt,
        ticket::Column::PriceFen,
        ticket::Column::PriceStatus,
        ticket::Column::PriceNote,
        ticket::Column::Rating,
        ticket::Column::Satisfied,
        ticket::Column::RatingComment,
        ticket::Column::RatedVia,
        ticket::Column::RatedAt,
        ticket::Column::ClosedAt,
        ticket::Column::CancelledAt,
    ] {
        let value = active.get(column);
        if value.is_set()
            && let Some(value) = value.into_value()
        {
            update = update.col_expr(column, Expr::value(value));
        }
    }
    let updated = update.exec(&txn).await?.rows_affected;
    if updated == 0 {
        return Err(ApiError::Conflict {
            kind: "changed-meanwhile",
            detail: "the ticket changed while you were acting on it; reload and try again".into(),
        });
    }
    let price = match &active.price_status {
        sea_orm::ActiveValue::Set(p) | sea_orm::ActiveValue::Unchanged(p) => p.clone(),
        sea_orm::ActiveValue::NotSet => None,
    };
    let event_action = event_action(action, price.as_deref());
    record_event(
        &txn,
        NewEvent {
            ticket_id: row.id,
            actor,
            action: event_action,
            from: Some(from),
            to: Some(
                if matches!(action, Action::Rate { .. } | Action::RecordCallback { .. }) {
                    from
                } else {
                    to
                },
            ),
            note: note.clone(),
            data: data.clone(),
        },
        now,
    )
    .await?;
    if let Some(clock) = clock_met_by(action) {
        ticket_clock::Entity::update_many()
            .col_expr(ticket_clock::Column::MetAt, Expr::value(now))
            .filter(ticket_clock::Column::TicketId.eq(row.id))
            .filter(ticket_clock::Column::Clock.eq(clock.as_str()))
            .filter(ticket_clock::Column::MetAt.is_null())
            .exec(&txn)
            .await?;
    }
    if matches!(action, Action::Rate { .. } | Action::RecordCallback { .. }) {
        // The rating is one event; what it leads to (closed, reopened) is the next.
        let follow = if to == TicketState::Closed {
            EventAction::Closed
        } else {
            EventAction::Reopened
        };
        record_event(
            &txn,
            NewEvent {
                ticket_id: row.id,
                actor,
                action: follow,
                from: Some(from),
                to: Some(to),
                note: None,
                data: None,
            },
            now,
        )
        .await?;
    }
    if let Some(community) = &community {
        let (policy, hours, tz) = rules_of(community)?;
        let clocks = if reopen {
            work_clocks(subject_of(&row, kind)?, now, &policy, &hours, tz)
        } else {
            vec![callback_clock(kind, now, &policy, &hours, tz)]
        };
        // A completion after a rework round replaces that round's unmet callback clock.
        ticket_clock::Entity::delete_many()
            .filter(ticket_clock::Column::TicketId.eq(row.id))
            .filter(ticket_clock::Column::Round.eq(round))
            .filter(ticket_clock::Column::Clock.is_in(clocks.iter().map(|c| c.kind.as_str())))
            .exec(&txn)
            .await?;
        ticket_clock::Entity::insert_many(
            clocks
                .iter()
                .map(|c| clock_row(row.id, round, c).into_active_model()),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    // The row keeps its earliest open deadline for the lists.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::NextDueAt, Expr::cust(NEXT_DUE_SQL))
        .filter(ticket::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    let saved = ticket::Entity::find_by_id(row.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    txn.commit().await?;
    tracing::info!(ticket = %row.id, action = action.name(), from = %from, to = %to, "ticket transition");
    Ok(saved)
}

/// The history entry of an action.
fn event_action(action: Action, price: Option<&str>) -> EventAction {
    match action {
        Action::Dispatch => EventAction::Dispatched,
        Action::Reassign => EventAction::Reassigned,
        Action::Accept => EventAction::Accepted,
        Action::Arrive => EventAction::Arrived,
        Action::Price => EventAction::Priced,
        Action::AnswerPrice if price == Some(PriceStatus::Declined.as_str()) => {
            EventAction::PriceDeclined
        }
        Action::AnswerPrice => EventAction::PriceAccepted,
        Action::Answer => EventAction::Answered,
        Action::Complete => EventAction::Completed,
        Action::Rate { .. } => EventAction::Rated,
        Action::RecordCallback { .. } => EventAction::CallbackRecorded,
        Action::CallbackUnreached => EventAction::CallbackUnreached,
        Action::CallbackDue => EventAction::CallbackDue,
        Action::Cancel => EventAction::Cancelled,
    }
}

fn subject_of(row: &ticket::Model, kind: TicketKind) -> Result<Subject, ApiError> {
    let bad = |e: courtyard_domain::people::InvalidValue| ApiError::Unexpected(anyhow::anyhow!(e));
    Ok(match kind {
        TicketKind::Repair => Subject::Repair {
            urgency: Urgency::parse(row.urgency.as_deref().unwrap_or("ordinary")).map_err(bad)?,
            public_area: row.household_id.is_none(),
            // The agreed window was for the first visit; rework follows the rules.
            agreed_by: None,
        },
        TicketKind::Complaint => Subject::Complaint {
            category: ComplaintCategory::parse(&row.category).map_err(bad)?,
            severity: Severity::parse(row.severity.as_deref().unwrap_or("ordinary"))
                .map_err(bad)?,
        },
    })
}

/// A ticket as the API shows it.
pub fn ticket_dto(t: ticket::Model, clocks: &[ticket_clock::Model]) -> Ticket {
    let next_due_at = clocks
        .iter()
        .filter(|c| c.met_at.is_none() && c.round == t.rework_count)
        .map(|c| c.due_at)
        .min();
    let breached = clocks
        .iter()
        .any(|c| c.breached_at.is_some() && c.clock != ClockKind::Callback.as_str());
    ticket_view(ticket::Model {
        next_due_at,
        breached,
        ..t
    })
}

/// The earliest unmet deadline of a ticket's current round, from its clocks.
const NEXT_DUE_SQL: &str = r#"(SELECT MIN("c"."due_at") FROM "ticket_clocks" AS "c" WHERE "c"."ticket_id" = "tickets"."id" AND "c"."round" = "tickets"."rework_count" AND "c"."met_at" IS NULL)"#;
/// Reads one page of tickets, newest first: on PostgreSQL behind an `OFFSET 0` fence,
/// which keeps it from walking the primary key backwards looking for a resident's few
/// tickets among everyone's (a plan its estimates favour once the table is analysed).
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<ticket::Entity>,
    limit: u64,
) -> Result<Vec<ticket::Model>, ApiError> {
    use sea_orm::{DbBackend, QueryTrait, Statement};
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(select
            .order_by_desc(ticket::Column::Id)
            .limit(limit)
            .all(db)
            .await?);
    }
    let inner = backend.build(&select.into_query());
    let sql = format!(
        r#"SELECT * FROM ({} OFFSET 0) AS "tickets" ORDER BY "tickets"."id" DESC LIMIT {limit}"#,
        inner.sql
    );
    let statement = match inner.values {
        Some(values) => Statement::from_sql_and_values(backend, sql, values),
        None => Statement::from_string(backend, sql),
    };
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| match row.try_as_pg_row() {
            Some(pg) => ticket_from_pg(pg)
                .map_err(|e| sea_orm::DbErr::Custom(format!("reading a ticket row: {e}"))),
            None => sea_orm::FromQueryResult::from_query_result(row, ""),
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(ApiError::from)
}

/// A ticket read straight from PostgreSQL's row, by position (the columns of
/// `ticket::Entity` in order): sea-orm's generic decoder formats an error for every NULL
/// column, and a list page has hundreds.
fn ticket_from_pg(
    row: &sea_orm::sqlx::postgres::PgRow,
) -> Result<ticket::Model, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Row;
    let model = ticket::Model {
        id: row.try_get(0)?,
        company_id: row.try_get(1)?,
        community_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        household_id: row.try_get(4)?,
        resident_id: row.try_get(5)?,
        registered_by: row.try_get(6)?,
        source: row.try_get(7)?,
        category: row.try_get(8)?,
        urgency: row.try_get(9)?,
        severity: row.try_get(10)?,
        location: row.try_get(11)?,
        description: row.try_get(12)?,
        preferred_from: row.try_get(13)?,
        preferred_to: row.try_get(14)?,
        state: row.try_get(15)?,
        department: row.try_get(16)?,
        assignee_id: row.try_get(17)?,
        butler_id: row.try_get(18)?,
        price_fen: row.try_get(19)?,
        price_status: row.try_get(20)?,
        price_note: row.try_get(21)?,
        rework_count: row.try_get(22)?,
        rating: row.try_get(23)?,
        satisfied: row.try_get(24)?,
        rating_comment: row.try_get(25)?,
        rated_via: row.try_get(26)?,
        rated_at: row.try_get(27)?,
        created_at: row.try_get(28)?,
        updated_at: row.try_get(29)?,
        dispatched_at: row.try_get(30)?,
        answered_at: row.try_get(31)?,
        arrived_at: row.try_get(32)?,
        completed_at: row.try_get(33)?,
        closed_at: row.try_get(34)?,
        cancelled_at: row.try_get(35)?,
        next_due_at: row.try_get(36)?,
        breached: row.try_get(37)?,
    };
    Ok(model)
}

/// A ticket as the API shows it, with its clock summary.
pub fn ticket_view(t: ticket::Model) -> Ticket {
    let open = TicketState::parse(&t.state).is_ok_and(TicketState::is_open);
    let (next_due_at, breached) = (t.next_due_at.filter(|_| open), t.breached);
    Ticket {
        id: t.id,
        kind: t.kind,
        community_id: t.community_id,
        household_id: t.household_id,
        resident_id: t.resident_id,
        source: t.source,
        category: t.category,
        urgency: t.urgency,
        severity: t.severity,
        location: t.location,
        description: t.description,
        preferred_from: t.preferred_from,
        preferred_to: t.preferred_to,
        state: t.state,
        department: t.department,
        assignee_id: t.assignee_id,
        butler_id: t.butler_id,
        price: t.price_fen.map(|fen| Price {
            fen,
            status: t.price_status.clone().unwrap_or_default(),
            note: t.price_note.clone(),
        }),
        rework_count: t.rework_count,
        rating: match (t.rating, t.satisfied, t.rated_at) {
            (Some(stars), Some(satisfied), Some(at)) => Some(TicketRating {
                stars,
                satisfied,
                comment: t.rating_comment.clone(),
                via: t.rated_via.clone().unwrap_or_default(),
                at,
            }),
            _ => None,
        },
        next_due_at,
        breached,
        created_at: t.created_at,
        updated_at: t.updated_at,
        dispatched_at: t.dispatched_at,
        answered_at: t.answered_at,
        arrived_at: t.arrived_at,
        completed_at: t.completed_at,
        closed_at: t.closed_at,
        cancelled_at: t.cancelled_at,
    }
}

/// The full view of a ticket.
pub async fn detail(
    state: &AppState,
    principal: &Principal,
    row: ticket::Model,
) -> Result<TicketDetail, ApiError> {
    let full_phones = match principal {
        Principal::Resident(_) => false,
        Principal::Staff(s) => s.role.sees_full_phone(),
    };
    let resident = match row.resident_id {
        Some(id) => resident::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|r| PersonRef {
                id: r.id,
                name: r.name,
                phone: Some(if full_phones {
                    r.phone
                } else {
                    mask_phone(&r.phone)
                }),
            }),
        None => None,
    };
    let staff_ref = |s: staff::Model| PersonRef {
        id: s.id,
        name: s.name,
        // Residents call the assignee and butler; staff phones are work numbers.
        phone: s.phone,
    };
    let mut people: HashMap<Uuid, staff::Model> = staff::Entity::find()
        .filter(staff::Column::Id.is_in(row.assignee_id.into_iter().chain(row.butler_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let assignee = row
        .assignee_id
        .and_then(|id| people.get(&id).cloned())
        .map(staff_ref);
    let butler = row
        .butler_id
        .and_then(|id| people.remove(&id))
        .map(staff_ref);
    let clocks = ticket_clock::Entity::find()
        .filter(ticket_clock::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_clock::Column::Round)
        .order_by_asc(ticket_clock::Column::StartedAt)
        .all(&state.db)
        .await?;
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_event::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|e| TicketEvent {
            id: e.id,
            action: e.action,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            from_state: e.from_state,
            to_state: e.to_state,
            note: e.note,
            at: e.created_at,
        })
        .collect();
    let photos = ticket_photo::Entity::find()
        .filter(ticket_photo::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_photo::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| PhotoRef {
            url: format!("/v1/tickets/{}/photos/{}", p.ticket_id, p.id),
            id: p.id,
            stage: p.stage,
            content_type: p.content_type,
            size_bytes: p.size_bytes,
        })
        .collect();
    let sla = clocks
        .iter()
        .map(|c| SlaClock {
            clock: c.clock.clone(),
            round: c.round,
            started_at: c.started_at,
            due_at: c.due_at,
            met_at: c.met_at,
            breached_at: c.breached_at,
        })
        .collect();
    Ok(TicketDetail {
        ticket: ticket_dto(row, &clocks),
        resident,
        assignee,
        butler,
        clocks: sla,
        events,
        photos,
    })
}
