//! The office's view of household services: a team's calendar day by day (each slot with
//! its places and the bookings in it), utilisation (places booked of places offered) and
//! revenue per service over a period, and the bookings as CSV.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use courtyard_domain::{
    calendar::resolve_local,
    entities::{
        bill, booking, community, refund, service, service_package, service_slot, service_team,
        ticket,
    },
    fees::bills::BillState,
    payments::RefundState,
    services::{SlotPlan, utilisation_bp},
};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{day_slots, team_in_scope};
use crate::{
    ApiTags,
    authz::{BearerAuth, MANAGERS},
    error::{ApiError, ApiResult, status::*},
    exports::{CsvExport, csv_export},
    state::AppState,
    tickets::rules_of,
    vocab::Vocab,
};

/// At most this many bookings are read for a report or an export.
const REPORT_ROWS: u64 = 50_000;

/// A booking as the calendar shows it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CalendarBooking {
    /// The booking.
    pub booking_id: Uuid,
    /// Its service.
    pub service_name: String,
    /// The household.
    pub household_id: Uuid,
    /// Where its ticket stands.
    pub state: Vocab<courtyard_domain::tickets::TicketState>,
    /// Where its time stands.
    pub time_status: Vocab<courtyard_domain::services::TimeStatus>,
    /// Who has the work order.
    #[oai(skip_serializing_if_is_none)]
    pub assignee_id: Option<Uuid>,
    /// The monthly package it is a visit of.
    #[oai(skip_serializing_if_is_none)]
    pub package_id: Option<Uuid>,
}

/// One slot of the calendar.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CalendarSlot {
    /// The slot.
    pub slot_id: Uuid,
    /// Starts.
    pub starts_at: DateTime<Utc>,
    /// Ends.
    pub ends_at: DateTime<Utc>,
    /// Places (0: closed).
    pub capacity: u32,
    /// Places taken (bookings, proposals, package visits to come).
    pub booked: u32,
    /// The bookings in it, not cancelled.
    pub bookings: Vec<CalendarBooking>,
}

/// One day of a team's calendar.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CalendarDay {
    /// The day (the community's).
    pub date: NaiveDate,
    /// Its slots, in order; none on a day off.
    pub slots: Vec<CalendarSlot>,
}

/// A team's calendar.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamCalendar {
    /// The team.
    pub team_id: Uuid,
    /// Its days.
    pub days: Vec<CalendarDay>,
}

/// One service's line of the report.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ServiceLine {
    /// The service.
    pub service_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its category.
    pub category: Vocab<courtyard_domain::services::ServiceCategory>,
    /// Bookings whose slot falls in the period (package visits included).
    pub bookings: u64,
    /// Of those, done (completed, awaiting callback, closed or reworked).
    pub completed: u64,
    /// Of those, cancelled.
    pub cancelled: u64,
    /// Billed for them, fen (the work, cancellation fees, package months of the period;
    /// cancelled bills aside).
    pub billed_fen: i64,
    /// Of that, paid, fen.
    pub paid_fen: i64,
    /// Refunded, fen.
    pub refunded_fen: i64,
}

/// One team's utilisation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamLine {
    /// The team.
    pub team_id: Uuid,
    /// Its name.
    pub name: String,
    /// Slots offered in the period.
    pub slots: u64,
    /// Places offered.
    pub capacity: u64,
    /// Places taken.
    pub booked: u64,
    /// booked / capacity, basis points (10000 = full); absent when nothing was offered.
    #[oai(skip_serializing_if_is_none)]
    pub utilisation_bp: Option<u32>,
}

/// Household services over a period: per service and per team.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ServiceReport {
    /// The community.
    pub community_id: Uuid,
    /// First day (inclusive).
    pub from: NaiveDate,
    /// Last day (exclusive).
    pub to: NaiveDate,
    /// Per service.
    pub services: Vec<ServiceLine>,
    /// Per team.
    pub teams: Vec<TeamLine>,
    /// Paid in all, fen.
    pub paid_fen: i64,
    /// Refunded in all, fen.
    pub refunded_fen: i64,
}

/// The services report endpoints.
pub struct ServiceReportsApi {
    /// Shared state.
    pub state: AppState,
}

/// A period of local days: `[from, to)`, default this month, at most 92 days.
fn days(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let month = courtyard_domain::fees::bills::Period::of(today);
    let from = from.unwrap_or(month.first_day());
    let to = to.unwrap_or(month.next().first_day().max(from + Duration::days(1)));
    if to <= from {
        return Err(ApiError::invalid("to", "the period ends after it starts"));
    }
    if to - from > Duration::days(92) {
        return Err(ApiError::invalid("to", "a period is at most 92 days"));
    }
    Ok((from, to))
}

fn instant(tz: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    resolve_local(tz, NaiveDateTime::new(day, NaiveTime::MIN))
}

async fn community_of(state: &AppState, id: Uuid) -> Result<community::Model, ApiError> {
    state
        .communities
        .get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("community"))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Services")]
impl ServiceReportsApi {
    /// A team's calendar
    ///
    /// The front desk and managers: each day from `from` (default today) for `days` days
    /// (1–14, default 7), each slot with its places and the bookings in it.
    #[oai(
        path = "/service-teams/:team_id/calendar",
        method = "get",
        operation_id = "get_team_calendar"
    )]
    async fn get_team_calendar(
        &self,
        auth: BearerAuth,
        team_id: Path<Uuid>,
        /// The first day, `YYYY-MM-DD` (default: today in the community).
        from: Query<Option<NaiveDate>>,
        /// How many days, 1–14 (default 7).
        #[oai(validator(minimum(value = "1"), maximum(value = "14")))]
        days: Query<Option<u32>>,
    ) -> ApiResult<Json<TeamCalendar>, { AUTHED | NOT_FOUND | VALIDATION }> {
        auth.0.staff(crate::authz::ROLL_KEEPERS)?;
        let team = team_in_scope(&self.state, &auth.0, *team_id).await?;
        let community = community_of(&self.state, team.community_id).await?;
        let (_, _, tz) = rules_of(&community)?;
        let first = from.unwrap_or_else(|| self.state.clock.now().with_timezone(&tz).date_naive());
        let count = days.unwrap_or(7);
        let mut slots_by_day = Vec::new();
        for n in 0..count {
            let date = first + Duration::days(i64::from(n));
            slots_by_day.push((date, day_slots(&self.state, &community, &team, date).await?));
        }
        let (start, end) = (
            instant(tz, first),
            instant(tz, first + Duration::days(i64::from(count))),
        );
        let bookings = booking::Entity::find()
            .filter(booking::Column::TeamId.eq(team.id))
            .filter(booking::Column::StartsAt.gte(start))
            .filter(booking::Column::StartsAt.lt(end))
            .order_by_asc(booking::Column::StartsAt)
            .limit(REPORT_ROWS)
            .all(&self.state.db)
            .await?;
        let tickets: HashMap<Uuid, ticket::Model> = ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(bookings.iter().map(|b| b.ticket_id)))
            .all(&self.state.db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let mut in_slot: HashMap<Uuid, Vec<CalendarBooking>> = HashMap::new();
        for b in bookings {
            let Some(t) = tickets.get(&b.ticket_id) else {
                continue;
            };
            if t.state == courtyard_domain::tickets::TicketState::Cancelled.as_str() {
                continue;
            }
            in_slot.entry(b.slot_id).or_default().push(CalendarBooking {
                booking_id: b.ticket_id,
                service_name: b.service_name,
                household_id: b.household_id,
                state: Vocab::stored(&t.state),
                time_status: Vocab::stored(&b.time_status),
                assignee_id: t.assignee_id,
                package_id: b.package_id,
            });
        }
        let days = slots_by_day
            .into_iter()
            .map(|(date, slots)| CalendarDay {
                date,
                slots: slots
                    .into_iter()
                    .map(|s| CalendarSlot {
                        bookings: in_slot.remove(&s.id).unwrap_or_default(),
                        slot_id: s.id,
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                        capacity: u32::try_from(s.capacity).unwrap_or_default(),
                        booked: u32::try_from(s.booked).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Json(TeamCalendar {
            team_id: team.id,
            days,
        }))
    }

    /// Services report
    ///
    /// Managers: per service, the bookings whose slot falls in `[from, to)` (local days;
    /// default this month), done and cancelled, and what they were billed, paid and
    /// refunded (package months of the period included); per team, utilisation: places
    /// taken of places offered (every slot the working hours cut, written or not).
    #[oai(
        path = "/communities/:community_id/service-report",
        method = "get",
        operation_id = "get_service_report"
    )]
    async fn get_service_report(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// First day, `YYYY-MM-DD` (default: the first of this month).
        from: Query<Option<NaiveDate>>,
        /// Last day, exclusive (default: the first of next month; at most 92 days).
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<Json<ServiceReport>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (_, hours, tz) = rules_of(&community)?;
        let today = self.state.clock.now().with_timezone(&tz).date_naive();
        let (from, to) = days(*from, *to, today)?;
        let (start, end) = (instant(tz, from), instant(tz, to));
        let db = &self.state.db;
        let services = service::Entity::find()
            .filter(service::Column::CommunityId.eq(community.id))
            .order_by_asc(service::Column::Position)
            .order_by_asc(service::Column::Name)
            .all(db)
            .await?;
        let bookings = booking::Entity::find()
            .filter(booking::Column::CommunityId.eq(community.id))
            .filter(booking::Column::StartsAt.gte(start))
            .filter(booking::Column::StartsAt.lt(end))
            .limit(REPORT_ROWS)
            .all(db)
            .await?;
        let states: HashMap<Uuid, String> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .column(ticket::Column::State)
            .filter(ticket::Column::Id.is_in(bookings.iter().map(|b| b.ticket_id)))
            .into_tuple::<(Uuid, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        // Package months whose month starts in the period.
        let periods: Vec<String> = {
            let mut out = Vec::new();
            let mut p = courtyard_domain::fees::bills::Period::of(from);
            while p.first_day() < to {
                if p.first_day() >= from {
                    out.push(p.to_string());
                }
                p = p.next();
            }
            out
        };
        let packages = service_package::Entity::find()
            .filter(service_package::Column::CommunityId.eq(community.id))
            .filter(service_package::Column::Period.is_in(periods))
            .all(db)
            .await?;
        // Each bill and refund counts once, for the service it is for.
        let mut bill_service: HashMap<Uuid, Uuid> = HashMap::new();
        let mut refund_service: HashMap<Uuid, Uuid> = HashMap::new();
        for b in &bookings {
            if let Some(id) = b.bill_id {
                bill_service.insert(id, b.service_id);
            }
            if let Some(id) = b.refund_id {
                refund_service.insert(id, b.service_id);
            }
        }
        for p in &packages {
            if let Some(id) = p.bill_id {
                bill_service.insert(id, p.service_id);
            }
            if let Some(id) = p.refund_id {
                refund_service.insert(id, p.service_id);
            }
        }
        let bills = bill::Entity::find()
            .filter(bill::Column::Id.is_in(bill_service.keys().copied()))
            .all(db)
            .await?;
        let refunds = refund::Entity::find()
            .filter(refund::Column::Id.is_in(refund_service.keys().copied()))
            .filter(refund::Column::State.eq(RefundState::Succeeded.as_str()))
            .all(db)
            .await?;
        let mut lines: Vec<ServiceLine> = services
            .iter()
            .map(|s| ServiceLine {
                service_id: s.id,
                name: s.name.clone(),
                category: Vocab::stored(&s.category),
                bookings: 0,
                completed: 0,
                cancelled: 0,
                billed_fen: 0,
                paid_fen: 0,
                refunded_fen: 0,
            })
            .collect();
        let index: HashMap<Uuid, usize> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.service_id, i))
            .collect();
        let line = |id: &Uuid| index.get(id).copied();
        for b in &bookings {
            let Some(i) = line(&b.service_id) else {
                continue;
            };
            lines[i].bookings += 1;
            match states.get(&b.ticket_id).map(String::as_str) {
                Some("completed" | "awaiting_callback" | "closed" | "reopened") => {
                    lines[i].completed += 1;
                }
                Some("cancelled") => lines[i].cancelled += 1,
                _ => {}
            }
        }
        for b in &bills {
            let Some(i) = bill_service.get(&b.id).and_then(line) else {
                continue;
            };
            if b.state != BillState::Cancelled.as_str() {
                lines[i].billed_fen += b.amount_fen;
            }
            if b.state == BillState::Paid.as_str() {
                lines[i].paid_fen += b.amount_fen;
            }
        }
        for r in &refunds {
            if let Some(i) = refund_service.get(&r.id).and_then(line) {
                lines[i].refunded_fen += r.amount_fen;
            }
        }
        let teams = teams_utilisation(&self.state, &community, from, to, &hours, tz).await?;
        Ok(Json(ServiceReport {
            community_id: community.id,
            from,
            to,
            paid_fen: lines.iter().map(|l| l.paid_fen).sum(),
            refunded_fen: lines.iter().map(|l| l.refunded_fen).sum(),
            services: lines,
            teams,
        }))
    }

    /// Export bookings as CSV
    ///
    /// Managers: every booking whose slot falls in `[from, to)` (local days; default this
    /// month), with its service, time, state, price, amount, payment, fee and rating.
    #[oai(
        path = "/communities/:community_id/bookings.csv",
        method = "get",
        operation_id = "export_bookings"
    )]
    async fn export_bookings(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// First day, `YYYY-MM-DD` (default: the first of this month).
        from: Query<Option<NaiveDate>>,
        /// Last day, exclusive (default: the first of next month; at most 92 days).
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (_, _, tz) = rules_of(&community)?;
        let today = self.state.clock.now().with_timezone(&tz).date_naive();
        let (from, to) = days(*from, *to, today)?;
        let db = &self.state.db;
        let rows = booking::Entity::find()
            .filter(booking::Column::CommunityId.eq(community.id))
            .filter(booking::Column::StartsAt.gte(instant(tz, from)))
            .filter(booking::Column::StartsAt.lt(instant(tz, to)))
            .order_by_asc(booking::Column::StartsAt)
            .order_by_asc(booking::Column::TicketId)
            .limit(REPORT_ROWS)
            .all(db)
            .await?;
        let tickets: HashMap<Uuid, ticket::Model> = ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(rows.iter().map(|b| b.ticket_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let paid: HashMap<Uuid, String> = bill::Entity::find()
            .select_only()
            .column(bill::Column::Id)
            .column(bill::Column::State)
            .filter(bill::Column::Id.is_in(rows.iter().filter_map(|b| b.bill_id)))
            .into_tuple::<(Uuid, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let entry = staff
            .audit("export_bookings", "community")
            .object(community.id)
            .community(community.id)
            .details(serde_json::json!({ "from": from, "to": to, "rows": rows.len() }));
        self.state.reads.record(entry).await;
        let header = [
            "id",
            "service",
            "household_id",
            "starts_at",
            "ends_at",
            "state",
            "time_status",
            "pricing",
            "unit_fen",
            "quantity",
            "estimate_fen",
            "worked_quantity",
            "amount_fen",
            "amount_yuan",
            "bill_id",
            "bill_state",
            "cancel_fee_fen",
            "package_id",
            "assignee_id",
            "booked_at",
            "completed_at",
            "cancelled_at",
            "rating",
            "satisfied",
        ];
        let opt = |v: Option<String>| v.unwrap_or_default();
        let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        let lines = rows.iter().map(|b| {
            let t = tickets.get(&b.ticket_id);
            vec![
                b.ticket_id.to_string(),
                b.service_name.clone(),
                b.household_id.to_string(),
                b.starts_at.to_rfc3339(),
                b.ends_at.to_rfc3339(),
                t.map(|t| t.state.clone()).unwrap_or_default(),
                b.time_status.clone(),
                b.pricing.clone(),
                opt(b.unit_fen.map(|f| f.to_string())),
                b.quantity.to_string(),
                opt(b.estimate_fen.map(|f| f.to_string())),
                opt(b.worked_quantity.map(|q| q.to_string())),
                opt(b.amount_fen.map(|f| f.to_string())),
                opt(b.amount_fen.map(courtyard_domain::money::yuan_figures)),
                opt(b.bill_id.map(|id| id.to_string())),
                opt(b.bill_id.and_then(|id| paid.get(&id).cloned())),
                opt(b.cancel_fee_fen.map(|f| f.to_string())),
                opt(b.package_id.map(|id| id.to_string())),
                opt(t.and_then(|t| t.assignee_id).map(|id| id.to_string())),
                b.created_at.to_rfc3339(),
                time(t.and_then(|t| t.completed_at)),
                time(t.and_then(|t| t.cancelled_at)),
                opt(t.and_then(|t| t.rating).map(|r| r.to_string())),
                opt(t.and_then(|t| t.satisfied).map(|s| s.to_string())),
            ]
        });
        Ok(csv_export(&format!("bookings-{from}.csv"), &header, lines)?)
    }
}

/// Each team's places offered and taken over `[from, to)`: every slot the working hours
/// cut (a slot written keeps its own capacity and places; one never asked for offers the
/// team's size and holds nothing).
async fn teams_utilisation(
    state: &AppState,
    community: &community::Model,
    from: NaiveDate,
    to: NaiveDate,
    hours: &courtyard_domain::org::WorkingHours,
    tz: chrono_tz::Tz,
) -> Result<Vec<TeamLine>, ApiError> {
    let teams = service_team::Entity::find()
        .filter(service_team::Column::CommunityId.eq(community.id))
        .order_by_asc(service_team::Column::Name)
        .all(&state.db)
        .await?;
    let mut out = Vec::with_capacity(teams.len());
    for team in teams {
        let written: HashMap<DateTime<Utc>, (i32, i32)> = service_slot::Entity::find()
            .filter(service_slot::Column::TeamId.eq(team.id))
            .filter(service_slot::Column::StartsAt.gte(instant(tz, from)))
            .filter(service_slot::Column::StartsAt.lt(instant(tz, to)))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|s| (s.starts_at, (s.capacity, s.booked)))
            .collect();
        let plan = SlotPlan::new(team.slot_minutes as u32, team.size as u32)
            .map_err(|(_, e)| anyhow::anyhow!("team {}: {}", team.id, e.0))?;
        let (mut slots, mut capacity, mut booked) = (0u64, 0u64, 0u64);
        let mut day = from;
        while day < to {
            for (starts_at, _) in plan.day(day, hours, tz) {
                let (c, b) = written.get(&starts_at).copied().unwrap_or((team.size, 0));
                slots += 1;
                capacity += u64::try_from(c).unwrap_or_default();
                booked += u64::try_from(b).unwrap_or_default();
            }
            day += Duration::days(1);
        }
        out.push(TeamLine {
            team_id: team.id,
            name: team.name,
            slots,
            capacity,
            booked,
            utilisation_bp: utilisation_bp(booked, capacity),
        });
    }
    Ok(out)
}
