//! The office side of tickets: the front desk's callback list (回访), KPIs per community
//! and period, the CSV export, and the community's ticket policy (SLA spans, warning
//! share, dispatch rules).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    entities::{community, ticket, ticket_clock, ticket_event},
    tickets::{ClockKind, Department, RepairCategory, Span, TicketKind, TicketPolicy, TicketState},
};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth, MANAGERS, ROLL_KEEPERS},
    error::{ApiError, ApiResult, status::*},
    exports::{CsvExport, csv_export},
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, cut_page, decode_cursor},
    state::AppState,
    tickets::{CallbackPage, rules_of, ticket_view},
    vocab::Vocab,
};

/// Most tickets a report reads: a large community reports a few thousand a month.
const REPORT_ROWS: u64 = 200_000;

/// KPIs of a community over a period.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TicketKpis {
    /// Community.
    pub community_id: Uuid,
    /// Period start (inclusive).
    pub from: DateTime<Utc>,
    /// Period end (exclusive).
    pub to: DateTime<Utc>,
    /// Repairs reported in the period.
    pub repairs_reported: u64,
    /// Complaints filed in the period.
    pub complaints_reported: u64,
    /// Service bookings made in the period (package visits included); their completions,
    /// ratings, reworks and clocks count with the repairs' below.
    pub bookings_reported: u64,
    /// Work completions in the period (rework rounds count again).
    pub completed: u64,
    /// Completions whose callback (app rating or phone) is done.
    pub callbacks_done: u64,
    /// callbacks_done / completed.
    pub callback_completion_rate: Option<f64>,
    /// Ratings in the period.
    pub ratings: u64,
    /// Satisfied ratings in the period.
    pub satisfied: u64,
    /// satisfied / ratings.
    pub satisfaction_rate: Option<f64>,
    /// The satisfaction target (0.9).
    pub satisfaction_target: f64,
    /// Whether the satisfaction rate meets the target.
    pub meets_satisfaction_target: Option<bool>,
    /// SLA clocks that fell due in the period (callback clocks aside).
    pub sla_clocks_due: u64,
    /// Of those, met in time.
    pub sla_clocks_met: u64,
    /// sla_clocks_met / sla_clocks_due.
    pub sla_compliance_rate: Option<f64>,
    /// Complaints filed in the period that are resolved (completed or closed).
    pub complaints_resolved: u64,
    /// complaints_resolved / complaints_reported.
    pub complaint_resolution_rate: Option<f64>,
    /// Median minutes from report to arrival (tickets reported in the period).
    pub median_minutes_to_arrive: Option<f64>,
    /// Median minutes from report to completion (tickets reported in the period).
    pub median_minutes_to_fix: Option<f64>,
    /// Unsatisfied callbacks that sent work back, in the period.
    pub reworks: u64,
}

/// A span of time in a policy: exactly one of the two.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SpanDto {
    /// Minutes on the wall clock (emergencies run day and night).
    #[oai(validator(minimum(value = "1"), maximum(value = "86400")))]
    pub minutes: Option<u32>,
    /// Working days in halves (0.5 = half a day), counted in working hours.
    #[oai(validator(minimum(value = "0.5"), maximum(value = "60")))]
    pub working_days: Option<f64>,
}

impl SpanDto {
    pub(crate) fn from_span(span: Span) -> Self {
        match span {
            Span::Minutes(m) => Self {
                minutes: Some(m),
                working_days: None,
            },
            Span::WorkingDays(d) => Self {
                minutes: None,
                working_days: Some(d),
            },
        }
    }

    pub(crate) fn span(&self, field: &str) -> Result<Span, ApiError> {
        match (self.minutes, self.working_days) {
            (Some(m), None) => Ok(Span::Minutes(m)),
            (None, Some(d)) => Ok(Span::WorkingDays(d)),
            _ => Err(ApiError::invalid(
                field,
                "give exactly one of minutes and working_days",
            )),
        }
    }
}

/// A community's ticket policy. The defaults are the service manuals' numbers.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PolicyDto {
    /// Emergency repair: on site (default 15 minutes).
    pub emergency_arrive: SpanDto,
    /// Emergency repair: fixed (default 6 hours).
    pub emergency_fix: SpanDto,
    /// Simple repair: fixed (default half a working day).
    pub simple_fix: SpanDto,
    /// Ordinary repair without an agreed time: fixed (default 1 working day).
    pub ordinary_fix: SpanDto,
    /// Ordinary repair: the longest an agreed time may be (default 7 working days).
    pub agreed_max: SpanDto,
    /// Public-area repair: fixed (default 3 working days).
    pub public_area_fix: SpanDto,
    /// After a repair: the resident's window to rate in the app before the front desk
    /// calls back (default 48 hours).
    pub repair_callback: SpanDto,
    /// Complaint: the butler answers the front desk (default 4 hours).
    pub complaint_answer: SpanDto,
    /// Complaint: reply to the resident (default 4 working days).
    pub complaint_reply: SpanDto,
    /// Neighbour-behaviour complaint: staff at the door (default 15 minutes).
    pub neighbour_arrive: SpanDto,
    /// Service-attitude complaint, ordinary (default half a working day).
    pub attitude_ordinary_reply: SpanDto,
    /// Service-attitude complaint, serious (default 2 working days).
    pub attitude_serious_reply: SpanDto,
    /// Complaint: callback after the reply (default 3 days).
    pub complaint_callback: SpanDto,
    /// Warn the assignee and butler when this share of a clock is left (percent, 0–90).
    #[oai(validator(maximum(value = "90")))]
    pub warn_at_percent_left: u8,
    /// Repair category → department (engineering unless listed).
    pub departments: BTreeMap<String, Vocab<Department>>,
}

impl Example for PolicyDto {
    fn example() -> Self {
        policy_dto(&TicketPolicy::default())
    }
}

fn policy_dto(p: &TicketPolicy) -> PolicyDto {
    let s = SpanDto::from_span;
    PolicyDto {
        emergency_arrive: s(p.emergency_arrive),
        emergency_fix: s(p.emergency_fix),
        simple_fix: s(p.simple_fix),
        ordinary_fix: s(p.ordinary_fix),
        agreed_max: s(p.agreed_max),
        public_area_fix: s(p.public_area_fix),
        repair_callback: s(p.repair_callback),
        complaint_answer: s(p.complaint_answer),
        complaint_reply: s(p.complaint_reply),
        neighbour_arrive: s(p.neighbour_arrive),
        attitude_ordinary_reply: s(p.attitude_ordinary_reply),
        attitude_serious_reply: s(p.attitude_serious_reply),
        complaint_callback: s(p.complaint_callback),
        warn_at_percent_left: p.warn_at_percent_left,
        departments: p
            .departments
            .iter()
            .map(|(c, d)| (c.as_str().to_owned(), Vocab::from(*d)))
            .collect(),
    }
}

fn parse_policy(dto: &PolicyDto) -> Result<TicketPolicy, ApiError> {
    let mut departments = BTreeMap::new();
    for (category, department) in &dto.departments {
        let category = RepairCategory::parse(category)
            .map_err(|e| ApiError::invalid(&format!("departments.{category}"), e.0))?;
        let department = department.get(&format!("departments.{category}"))?;
        departments.insert(category, department);
    }
    let policy = TicketPolicy {
        emergency_arrive: dto.emergency_arrive.span("emergency_arrive")?,
        emergency_fix: dto.emergency_fix.span("emergency_fix")?,
        simple_fix: dto.simple_fix.span("simple_fix")?,
        ordinary_fix: dto.ordinary_fix.span("ordinary_fix")?,
        agreed_max: dto.agreed_max.span("agreed_max")?,
        public_area_fix: dto.public_area_fix.span("public_area_fix")?,
        repair_callback: dto.repair_callback.span("repair_callback")?,
        complaint_answer: dto.complaint_answer.span("complaint_answer")?,
        complaint_reply: dto.complaint_reply.span("complaint_reply")?,
        neighbour_arrive: dto.neighbour_arrive.span("neighbour_arrive")?,
        attitude_ordinary_reply: dto
            .attitude_ordinary_reply
            .span("attitude_ordinary_reply")?,
        attitude_serious_reply: dto.attitude_serious_reply.span("attitude_serious_reply")?,
        complaint_callback: dto.complaint_callback.span("complaint_callback")?,
        warn_at_percent_left: dto.warn_at_percent_left,
        departments,
    };
    policy.check().map_err(|e| {
        let field = e.0.split(':').next().unwrap_or("policy").to_owned();
        ApiError::invalid(&field, e.0)
    })?;
    Ok(policy)
}

/// The office endpoints of tickets.
pub struct TicketReportsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tickets")]
impl TicketReportsApi {
    /// The front desk's callback list (回访)
    ///
    /// Completed tickets the resident did not rate in the app in time (48 hours for
    /// repairs), the longest waiting first, paged. Record the call with
    /// `POST /v1/tickets/{id}/callback`.
    #[oai(
        path = "/communities/:community_id/callbacks",
        method = "get",
        operation_id = "list_callbacks"
    )]
    async fn list_callbacks(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<CallbackPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let mut select = ticket::Entity::find()
            .filter(ticket::Column::CommunityId.eq(community.id))
            .filter(ticket::Column::State.eq(TicketState::AwaitingCallback.as_str()));
        if let Some(after) = decode_cursor(cursor.as_deref())? {
            // Keyset on (completed_at, id): the cursor's ticket keeps its completion time
            // whether or not it has been called back since.
            let anchor = ticket::Entity::find_by_id(after)
                .filter(ticket::Column::CommunityId.eq(community.id))
                .one(&self.state.db)
                .await?
                .and_then(|t| t.completed_at.map(|at| (at, t.id)))
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from a previous page"))?;
            select = select.filter(
                Condition::any()
                    .add(ticket::Column::CompletedAt.gt(anchor.0))
                    .add(
                        Condition::all()
                            .add(ticket::Column::CompletedAt.eq(anchor.0))
                            .add(ticket::Column::Id.gt(anchor.1)),
                    ),
            );
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as u64;
        let mut rows = select
            .order_by_asc(ticket::Column::CompletedAt)
            .order_by_asc(ticket::Column::Id)
            .limit(limit + 1)
            .all(&self.state.db)
            .await?;
        let next_cursor = cut_page(&mut rows, limit as usize, |t| t.id);
        let items = rows.into_iter().map(ticket_view).collect();
        Ok(Json(CallbackPage { items, next_cursor }))
    }

    /// Ticket KPIs
    ///
    /// Callback completion, satisfaction (target ≥ 90 %), SLA compliance, complaint
    /// resolution and median times to arrive and to fix, for one community over
    /// `[from, to)` (default: the last 30 days).
    #[oai(
        path = "/communities/:community_id/ticket-kpis",
        method = "get",
        operation_id = "ticket_kpis"
    )]
    async fn ticket_kpis(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Period start (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Period end, exclusive (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Json<TicketKpis>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (from, to) = self.period(*from, *to)?;
        Ok(Json(kpis(&self.state, &community, from, to).await?))
    }

    /// Export tickets as CSV
    ///
    /// Every ticket reported in `[from, to)` (default: the last 30 days) with its times,
    /// assignee, price, rating and whether an SLA clock ran out.
    #[oai(
        path = "/communities/:community_id/tickets.csv",
        method = "get",
        operation_id = "export_tickets"
    )]
    async fn export_tickets(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Period start (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Period end, exclusive (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (from, to) = self.period(*from, *to)?;
        let rows = reported_in(&self.state, community.id, from, to).await?;
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        let header = [
            "id",
            "kind",
            "category",
            "urgency_or_severity",
            "state",
            "source",
            "household_id",
            "location",
            "department",
            "assignee_id",
            "butler_id",
            "reported_at",
            "dispatched_at",
            "arrived_at",
            "completed_at",
            "closed_at",
            "cancelled_at",
            "price_fen",
            "price_status",
            "rework_count",
            "rating",
            "satisfied",
            "rated_via",
            "sla_breached",
        ];
        let rows = rows.iter().map(|t| {
            vec![
                t.id.to_string(),
                t.kind.clone(),
                t.category.clone(),
                t.urgency.clone().or(t.severity.clone()).unwrap_or_default(),
                t.state.clone(),
                t.source.clone(),
                t.household_id.map(|h| h.to_string()).unwrap_or_default(),
                t.location.clone().unwrap_or_default(),
                t.department.clone().unwrap_or_default(),
                t.assignee_id.map(|h| h.to_string()).unwrap_or_default(),
                t.butler_id.map(|h| h.to_string()).unwrap_or_default(),
                t.created_at.to_rfc3339(),
                time(t.dispatched_at),
                time(t.arrived_at),
                time(t.completed_at),
                time(t.closed_at),
                time(t.cancelled_at),
                t.price_fen.map(|p| p.to_string()).unwrap_or_default(),
                t.price_status.clone().unwrap_or_default(),
                t.rework_count.to_string(),
                t.rating.map(|r| r.to_string()).unwrap_or_default(),
                t.satisfied.map(|s| s.to_string()).unwrap_or_default(),
                t.rated_via.clone().unwrap_or_default(),
                t.breached.to_string(),
            ]
        });
        Ok(csv_export(
            &format!("tickets-{}.csv", from.format("%Y-%m-%d")),
            &header,
            rows,
        )?)
    }

    /// Get the ticket policy
    #[oai(
        path = "/communities/:community_id/ticket-policy",
        method = "get",
        operation_id = "get_ticket_policy"
    )]
    async fn get_ticket_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Json<PolicyDto>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (policy, ..) = rules_of(&community)?;
        Ok(Json(policy_dto(&policy)))
    }

    /// Change the ticket policy
    ///
    /// Applies to clocks started from now on; running clocks keep their deadlines.
    #[oai(
        path = "/communities/:community_id/ticket-policy",
        method = "put",
        operation_id = "put_ticket_policy"
    )]
    async fn put_ticket_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<PolicyDto>,
    ) -> ApiResult<Json<PolicyDto>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let policy = parse_policy(&body)?;
        crate::communities::store_policy(
            &self.state,
            community.id,
            community::Column::TicketPolicy,
            &policy,
            staff.audit("put_ticket_policy", "community"),
        )
        .await?;
        Ok(Json(policy_dto(&policy)))
    }
}

impl TicketReportsApi {
    fn period(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        // By default up to and including now.
        let to = to.unwrap_or_else(|| self.state.clock.now() + Duration::seconds(1));
        let from = from.unwrap_or(to - Duration::days(30));
        if to <= from {
            return Err(ApiError::invalid("to", "the period ends after it starts"));
        }
        if to - from > Duration::days(366) {
            return Err(ApiError::invalid("from", "a period is at most a year"));
        }
        Ok((from, to))
    }
}

async fn reported_in(
    state: &AppState,
    community_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ticket::Model>, ApiError> {
    use sea_orm::QuerySelect;
    Ok(ticket::Entity::find()
        .filter(ticket::Column::CommunityId.eq(community_id))
        .filter(ticket::Column::CreatedAt.gte(from))
        .filter(ticket::Column::CreatedAt.lt(to))
        .order_by_asc(ticket::Column::Id)
        .limit(REPORT_ROWS)
        .all(&state.db)
        .await?)
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Computes the KPIs of one community over `[from, to)`.
async fn kpis(
    state: &AppState,
    community: &community::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<TicketKpis, ApiError> {
    let reported = reported_in(state, community.id, from, to).await?;
    let repairs_reported = reported
        .iter()
        .filter(|t| t.kind == TicketKind::Repair.as_str())
        .count() as u64;
    let complaints: Vec<&ticket::Model> = reported
        .iter()
        .filter(|t| t.kind == TicketKind::Complaint.as_str())
        .collect();
    let resolved = [
        TicketState::Completed,
        TicketState::AwaitingCallback,
        TicketState::Closed,
    ];
    let complaints_resolved = complaints
        .iter()
        .filter(|t| resolved.iter().any(|s| s.as_str() == t.state))
        .count() as u64;
    let minutes = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds() as f64 / 60.0;
    let median_minutes_to_arrive = median(
        reported
            .iter()
            .filter_map(|t| t.arrived_at.map(|at| minutes(t.created_at, at)))
            .collect(),
    );
    let median_minutes_to_fix = median(
        reported
            .iter()
            .filter_map(|t| t.completed_at.map(|at| minutes(t.created_at, at)))
            .collect(),
    );

    // Completions, ratings and reworks in the period come from the history of the
    // community's tickets.
    let events: Vec<ticket_event::Model> = ticket_event::Entity::find()
        .inner_join_tickets(community.id)
        .filter(ticket_event::Column::CreatedAt.gte(from))
        .filter(ticket_event::Column::CreatedAt.lt(to))
        .filter(ticket_event::Column::Action.is_in([
            "completed",
            "rated",
            "callback_recorded",
            "reopened",
        ]))
        .all(&state.db)
        .await?;
    let mut completed_tickets: HashMap<Uuid, u64> = HashMap::new();
    let (mut ratings, mut satisfied, mut reworks) = (0, 0, 0);
    let mut rated_after: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
    for e in &events {
        match e.action.as_str() {
            "completed" => *completed_tickets.entry(e.ticket_id).or_default() += 1,
            "rated" | "callback_recorded" => {
                ratings += 1;
                if e.data
                    .as_ref()
                    .and_then(|d| d.get("satisfied"))
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
                {
                    satisfied += 1;
                }
                rated_after
                    .entry(e.ticket_id)
                    .or_default()
                    .push(e.created_at);
            }
            "reopened" => reworks += 1,
            _ => {}
        }
    }
    let completed: u64 = completed_tickets.values().sum();
    // A completion's callback is done when a rating follows it (before the next one).
    let mut callbacks_done = 0;
    for e in events.iter().filter(|e| e.action == "completed") {
        if rated_after
            .get(&e.ticket_id)
            .is_some_and(|r| r.iter().any(|at| *at >= e.created_at))
        {
            callbacks_done += 1;
        }
    }
    let callbacks_done = callbacks_done.min(completed);

    let now = state.clock.now();
    let clocks = ticket_clock::Entity::find()
        .filter(
            ticket_clock::Column::TicketId.in_subquery(sea_orm::QueryTrait::into_query(
                ticket::Entity::find()
                    .select_only_id()
                    .filter(ticket::Column::CommunityId.eq(community.id)),
            )),
        )
        .filter(ticket_clock::Column::Clock.ne(ClockKind::Callback.as_str()))
        .filter(ticket_clock::Column::DueAt.gte(from))
        .filter(ticket_clock::Column::DueAt.lt(to.min(now)))
        .all(&state.db)
        .await?;
    let sla_clocks_due = clocks.len() as u64;
    let sla_clocks_met = clocks
        .iter()
        .filter(|c| c.met_at.is_some_and(|met| met <= c.due_at))
        .count() as u64;
    let satisfaction_rate = rate(satisfied, ratings);
    Ok(TicketKpis {
        community_id: community.id,
        from,
        to,
        repairs_reported,
        complaints_reported: complaints.len() as u64,
        bookings_reported: reported
            .iter()
            .filter(|t| t.kind == TicketKind::ServiceBooking.as_str())
            .count() as u64,
        completed,
        callbacks_done,
        callback_completion_rate: rate(callbacks_done, completed),
        ratings,
        satisfied,
        satisfaction_rate,
        satisfaction_target: 0.9,
        meets_satisfaction_target: satisfaction_rate.map(|r| r >= 0.9),
        sla_clocks_due,
        sla_clocks_met,
        sla_compliance_rate: rate(sla_clocks_met, sla_clocks_due),
        complaints_resolved,
        complaint_resolution_rate: rate(complaints_resolved, complaints.len() as u64),
        median_minutes_to_arrive,
        median_minutes_to_fix,
        reworks,
    })
}

/// Query helpers for the reports.
trait ReportQueries: Sized {
    fn inner_join_tickets(self, community_id: Uuid) -> Self;
}

impl ReportQueries for sea_orm::Select<ticket_event::Entity> {
    fn inner_join_tickets(self, community_id: Uuid) -> Self {
        self.filter(
            ticket_event::Column::TicketId.in_subquery(sea_orm::QueryTrait::into_query(
                ticket::Entity::find()
                    .select_only_id()
                    .filter(ticket::Column::CommunityId.eq(community_id)),
            )),
        )
    }
}

trait SelectId {
    fn select_only_id(self) -> Self;
}

impl SelectId for sea_orm::Select<ticket::Entity> {
    fn select_only_id(self) -> Self {
        use sea_orm::QuerySelect;
        self.select_only().column(ticket::Column::Id)
    }
}
