//! Service bookings (有偿服务预约): a resident (or the front desk for them) books a slot of a
//! service; staff confirm the time or propose another slot the resident accepts, and only
//! then is the work order issued to the team's leader; the work is done and charged; the
//! resident rates it. A booking is a ticket of kind `service_booking`: accept, arrive,
//! quote (`/v1/tickets/{id}/price`), the resident's answer, rating and callback are the
//! tickets area's endpoints, as for repairs.

use courtyard_domain::{
    entities::{booking, household_member, ticket},
    tickets::TicketState,
};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::ToJSON,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, Principal},
    error::{ApiResult, status::*},
    idempotency::{self, Start},
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

mod close;
mod dto;
mod flow;
mod laundry;

pub use dto::*;
pub(crate) use flow::book_error;

/// A booking made.
#[derive(ApiResponse)]
pub enum BookingCreated {
    /// Booked: its slot's place is held; the time is to be confirmed (a booking paid at
    /// booking once its bill is paid).
    #[oai(status = 201)]
    Created(Json<Booking>),
}

/// A claim recorded.
#[derive(ApiResponse)]
pub enum BookingClaimed {
    /// Recorded on the booking, which is returned with its claims.
    #[oai(status = 201)]
    Created(Json<Booking>),
}

/// The booking endpoints.
pub struct BookingsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Bookings")]
impl BookingsApi {
    /// Book a service
    ///
    /// Residents book for one of their households; the front desk books for a resident.
    /// The slot's place is taken at once (the last place goes to exactly one of any
    /// number of requests: the others get 409 `slot-full`). A service paid at booking
    /// comes with its bill (`bill_id`): pay it with `POST /v1/payments`; its time is
    /// confirmed once paid, and an unpaid one is cancelled after the policy's payment
    /// window. Send an `Idempotency-Key` to make retries safe.
    #[oai(path = "/bookings", method = "post", operation_id = "create_booking")]
    async fn create_booking(
        &self,
        auth: BearerAuth,
        body: Json<NewBooking>,
        /// Makes a retried request return the first one's booking instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<BookingCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let claim = match idempotency::start::<Booking>(
            &self.state,
            &auth.0,
            "POST /v1/bookings",
            "create_booking",
            idempotency_key.0.as_deref(),
            &body.0.to_json_string(),
        )
        .await?
        {
            Start::Replay(saved) => return Ok(BookingCreated::Created(Json(saved))),
            Start::Proceed(claim) => claim,
        };
        let booked = flow::book(&self.state, &auth.0, &body, claim.as_ref()).await;
        let created = idempotency::finish(&self.state, claim.as_ref(), booked).await?;
        Ok(BookingCreated::Created(Json(created)))
    }

    /// List bookings
    ///
    /// Residents: their households' bookings. Staff: the bookings of their communities
    /// (field staff: the ones assigned to them), filtered by community, team, state and
    /// slot day; newest first.
    #[oai(path = "/bookings", method = "get", operation_id = "list_bookings")]
    #[allow(clippy::too_many_arguments)]
    async fn list_bookings(
        &self,
        auth: BearerAuth,
        /// Only this community's.
        community_id: Query<Option<Uuid>>,
        /// Only this team's.
        team_id: Query<Option<Uuid>>,
        /// Only in this state.
        state: Query<Option<Vocab<TicketState>>>,
        /// Slots starting at or after this moment.
        from: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Slots starting before this moment.
        to: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<BookingPage>, { AUTHED | VALIDATION }> {
        let mut select = booking::Entity::find();
        match &auth.0 {
            Principal::Resident(r) => {
                let households = household_member::Entity::find()
                    .select_only()
                    .column(household_member::Column::HouseholdId)
                    .filter(household_member::Column::ResidentId.eq(r.id));
                select = select.filter(
                    booking::Column::HouseholdId
                        .in_subquery(sea_orm::QueryTrait::into_query(households)),
                );
            }
            Principal::Staff(s) => {
                if let Some(scope) = s.community_filter() {
                    select = select.filter(booking::Column::CommunityId.is_in(scope.to_vec()));
                }
                if courtyard_domain::tickets::Department::of_role(s.role).is_some() {
                    let mine = ticket::Entity::find()
                        .select_only()
                        .column(ticket::Column::Id)
                        .filter(ticket::Column::AssigneeId.eq(s.id));
                    select = select.filter(
                        booking::Column::TicketId
                            .in_subquery(sea_orm::QueryTrait::into_query(mine)),
                    );
                }
            }
        }
        if let Some(id) = *community_id {
            select = select.filter(booking::Column::CommunityId.eq(id));
        }
        if let Some(id) = *team_id {
            select = select.filter(booking::Column::TeamId.eq(id));
        }
        if let Some(at) = *from {
            select = select.filter(booking::Column::StartsAt.gte(at));
        }
        if let Some(at) = *to {
            select = select.filter(booking::Column::StartsAt.lt(at));
        }
        if let Some(wanted) = state.0.as_ref() {
            let wanted = wanted.get("state")?;
            let in_state = ticket::Entity::find()
                .select_only()
                .column(ticket::Column::Id)
                .filter(ticket::Column::State.eq(wanted.as_str()));
            select = select.filter(
                booking::Column::TicketId.in_subquery(sea_orm::QueryTrait::into_query(in_state)),
            );
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            booking::Column::TicketId,
            cursor.as_deref(),
            *limit,
            |r| r.ticket_id,
        )
        .await?;
        let tickets = ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(rows.iter().map(|r| r.ticket_id)))
            .order_by_asc(ticket::Column::Id)
            .all(&self.state.db)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(t) = tickets.iter().find(|t| t.id == row.ticket_id) else {
                continue;
            };
            items.push(flow::view(&self.state, t, row).await?);
        }
        Ok(Json(BookingPage { items, next_cursor }))
    }

    /// Get a booking
    #[oai(
        path = "/bookings/:booking_id",
        method = "get",
        operation_id = "get_booking"
    )]
    async fn get_booking(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND }> {
        let loaded = flow::load(&self.state, &auth.0, *booking_id).await?;
        // The booking carries the resident's contact.
        if let Some(staff) = auth.0.as_staff() {
            let entry =
                crate::tickets::ticket_entry(staff.audit("get_booking", "booking"), &loaded.ticket)
                    .details(serde_json::json!({ "household_id": loaded.booking.household_id }));
            self.state.reads.record(entry).await;
        }
        Ok(Json(
            flow::view(&self.state, &loaded.ticket, loaded.booking).await?,
        ))
    }

    /// Confirm a booking's time
    ///
    /// The front desk (or a manager) confirms the slot asked for with the resident; the
    /// work order goes to the team's leader at once, and the arrival and completion clocks
    /// start. A booking paid at booking is confirmed once paid (409 `booking-unpaid`).
    #[oai(
        path = "/bookings/:booking_id/confirm",
        method = "post",
        operation_id = "confirm_booking"
    )]
    async fn confirm_booking(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<StepNote>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT }> {
        Ok(Json(
            flow::confirm(&self.state, &auth.0, *booking_id, body.0.note).await?,
        ))
    }

    /// Propose another slot
    ///
    /// The front desk (or a manager) proposes another slot of the same team when the one
    /// asked for cannot be kept; it holds a place until the resident answers.
    #[oai(
        path = "/bookings/:booking_id/proposal",
        method = "post",
        operation_id = "propose_booking_slot"
    )]
    async fn propose_booking_slot(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<Proposal>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(Json(
            flow::propose(&self.state, &auth.0, *booking_id, &body).await?,
        ))
    }

    /// Answer a proposed slot
    ///
    /// The resident accepts (the booking moves to the proposed slot, its time is confirmed
    /// and the work order issued) or declines (the first slot stays asked for).
    #[oai(
        path = "/bookings/:booking_id/proposal-answer",
        method = "post",
        operation_id = "answer_booking_proposal"
    )]
    async fn answer_booking_proposal(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<ProposalAnswer>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT }> {
        Ok(Json(
            flow::answer(&self.state, &auth.0, *booking_id, &body).await?,
        ))
    }

    /// Complete a booking
    ///
    /// The assignee, on site: per hour with the hours worked (at least the service's
    /// minimum is charged), per item with the items counted, a quoted service at its
    /// accepted price (409 `price-not-accepted` before). Work paid after gets its bill,
    /// due after the policy's days. The resident is asked to rate it; unrated after 48
    /// hours it goes on the front desk's callback list. An unsatisfied rating reopens it to
    /// the same team (the front desk dispatches the rework); the rework's completion is not
    /// charged again.
    #[oai(
        path = "/bookings/:booking_id/complete",
        method = "post",
        operation_id = "complete_booking"
    )]
    async fn complete_booking(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<Completion>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(Json(
            close::complete(&self.state, &auth.0, *booking_id, &body).await?,
        ))
    }

    /// Cancel a booking
    ///
    /// The resident (or the office) cancels before work starts; the slot's place is given
    /// back. A resident cancelling a confirmed booking later than the policy's notice
    /// (default 24 hours before the slot) pays its fee: kept from the refund of a paid
    /// booking, billed otherwise. Staff cancel free of charge. A paid booking is refunded
    /// the rest through its payment's refund path.
    #[oai(
        path = "/bookings/:booking_id/cancel",
        method = "post",
        operation_id = "cancel_booking"
    )]
    async fn cancel_booking(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<StepNote>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT }> {
        Ok(Json(
            close::cancel(&self.state, &auth.0, *booking_id, body.0.note).await?,
        ))
    }

    /// Record a laundry step
    ///
    /// A laundry order's round trip, each step visible to the resident and pushed to them:
    /// `picked_up` (the assignee at the door, once the order is accepted) counts every item
    /// with its condition and photos; `at_vendor` gives the date it comes back; `returned`
    /// checks every item, and one that is missing or came back damaged is recorded as a
    /// claim on the order. Delivery completes the booking (`POST …/complete`), charged for
    /// the items that came back. Steps go in that order (409 `laundry-step-out-of-order`).
    #[oai(
        path = "/bookings/:booking_id/laundry",
        method = "post",
        operation_id = "record_laundry_step"
    )]
    async fn record_laundry_step(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<LaundryStep>,
    ) -> ApiResult<Json<Booking>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(Json(
            laundry::step(&self.state, &auth.0, *booking_id, &body).await?,
        ))
    }

    /// Record a claim
    ///
    /// An item missing or damaged, recorded on the booking by the resident, the assignee or
    /// the front desk once the work has started; the team leader and the butler are told,
    /// and the front desk settles it (`PATCH /v1/booking-claims/{claim_id}`).
    #[oai(
        path = "/bookings/:booking_id/claims",
        method = "post",
        operation_id = "create_booking_claim"
    )]
    async fn create_booking_claim(
        &self,
        auth: BearerAuth,
        booking_id: Path<Uuid>,
        body: Json<NewClaim>,
    ) -> ApiResult<BookingClaimed, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(BookingClaimed::Created(Json(
            laundry::claim(&self.state, &auth.0, *booking_id, &body).await?,
        )))
    }

    /// Settle a claim
    ///
    /// The front desk (or a manager) settles an open claim, with the compensation agreed,
    /// or rejects it with the reason; the resident is told. A claim is settled once.
    #[oai(
        path = "/booking-claims/:claim_id",
        method = "patch",
        operation_id = "settle_booking_claim"
    )]
    async fn settle_booking_claim(
        &self,
        auth: BearerAuth,
        claim_id: Path<Uuid>,
        body: Json<ClaimSettlement>,
    ) -> ApiResult<Json<BookingClaim>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(Json(
            laundry::settle(&self.state, &auth.0, *claim_id, &body).await?,
        ))
    }
}
