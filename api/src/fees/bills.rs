//! Bills: an admin's bill run for a community and month (a job with progress), the
//! household's and the resident's bills with their lines, and closing a bill by hand.

use std::collections::HashMap;

use courtyard_domain::{
    entities::{bill, bill_line, bill_run, household_member},
    fees::bills::{BillState, Period},
};
use courtyard_store::audit::Entry;
use courtyard_store::fees::{
    bill_run::{self as store_run, StartError},
    closing::{self, CloseError, Closing},
};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::{BILL_READERS, dto::*, household_for};
use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth, MANAGERS, Principal},
    error::{ApiError, ApiResult, FieldContext, status::*},
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A bill cancelled and issued again.
#[derive(Debug, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Reissued {
    /// The cancelled bill.
    pub cancelled: BillDto,
    /// The new bill; absent when nothing is left to bill this month.
    #[oai(skip_serializing_if_is_none)]
    pub reissued: Option<BillDto>,
}

/// A reissue's answer.
#[derive(ApiResponse)]
pub enum ReissueDone {
    /// Cancelled, and issued again from today's items, readings and charges.
    #[oai(status = 200)]
    Ok(Json<Reissued>),
}

/// The bills endpoints.
pub struct BillsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Fees")]
impl BillsApi {
    /// An admin's closing of a bill they may see, with its reason, and the audit entry of
    /// `operation` on it (for the caller to put on the closing).
    async fn closing<'b>(
        &self,
        auth: &BearerAuth,
        bill_id: Uuid,
        body: &'b CloseBill,
        operation: &'static str,
    ) -> Result<(bill::Model, Closing<'b>, Entry), ApiError> {
        let staff = auth.0.staff(ADMINS)?;
        let bill = self.visible_bill(&auth.0, bill_id).await?;
        let reason = reason(body)?;
        let closing = Closing {
            by: staff.id,
            reason,
            now: self.state.clock.now(),
            audit: None,
        };
        let entry = staff
            .audit(operation, "bill")
            .object(bill.id)
            .community(bill.community_id)
            .details(json!({
                "household_id": bill.household_id,
                "period": bill.period,
                "amount_fen": bill.amount_fen,
                "reason": reason,
            }));
        Ok((bill, closing, entry))
    }

    /// A bill with its lines.
    async fn with_lines(&self, bill: bill::Model) -> Result<BillDto, ApiError> {
        let lines = self
            .lines_of(&[bill.id])
            .await?
            .remove(&bill.id)
            .unwrap_or_default();
        Ok(bill_dto(bill, lines))
    }

    /// Generate a month's bills
    ///
    /// Admins only. Queues a bill run for the community and month and answers at once;
    /// follow its progress (households done of total) at `Location`. Households that
    /// already have a bill for the month are skipped, so running a month again only bills
    /// households added since. Residents are told of each new bill by push and inbox.
    #[oai(
        path = "/communities/:community_id/bill-runs",
        method = "post",
        operation_id = "create_bill_run"
    )]
    async fn create_bill_run(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NewBillRun>,
    ) -> ApiResult<BillRunAccepted, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let period = Period::parse(&body.period).field("period")?;
        let entry = staff
            .audit("create_bill_run", "bill_run")
            .community(community.id)
            .details(json!({ "period": period.to_string() }));
        let run = store_run::start(
            &self.state.db,
            community.id,
            period,
            staff.id,
            self.state.clock.now(),
            Some(&entry),
        )
        .await
        .map_err(|e| match e {
            StartError::InProgress => ApiError::Conflict {
                kind: "bill-run-in-progress",
                detail: format!("a bill run for {period} is already queued or running"),
            },
            StartError::Db(e) => e.into(),
        })?;
        let location = format!("/v1/bill-runs/{}", run.id);
        Ok(BillRunAccepted::Accepted(Json(run_dto(run)), location))
    }

    /// List a community's bill runs
    #[oai(
        path = "/communities/:community_id/bill-runs",
        method = "get",
        operation_id = "list_bill_runs"
    )]
    async fn list_bill_runs(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<BillRunPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(MANAGERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            bill_run::Entity::find().filter(bill_run::Column::CommunityId.eq(community.id)),
            bill_run::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        Ok(Json(BillRunPage {
            items: rows.into_iter().map(run_dto).collect(),
            next_cursor,
        }))
    }

    /// Get a bill run and its progress
    #[oai(
        path = "/bill-runs/:bill_run_id",
        method = "get",
        operation_id = "get_bill_run"
    )]
    async fn get_bill_run(
        &self,
        auth: BearerAuth,
        bill_run_id: Path<Uuid>,
    ) -> ApiResult<Json<BillRunDto>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(MANAGERS)?;
        let run = bill_run::Entity::find_by_id(*bill_run_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("bill run"))?;
        staff
            .community(&self.state, run.community_id)
            .await
            .map_err(|_| ApiError::NotFound("bill run"))?;
        Ok(Json(run_dto(run)))
    }

    /// List a household's bills
    ///
    /// The household's residents, and its community's front desk, butlers, supervisors and
    /// admins. Oldest first; filter by state or month.
    #[oai(
        path = "/households/:household_id/bills",
        method = "get",
        operation_id = "list_household_bills"
    )]
    async fn list_household_bills(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// Only bills in this state.
        state: Query<Option<Vocab<BillState>>>,
        /// Only this month, `YYYY-MM`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        period: Query<Option<String>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<BillPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, BILL_READERS, true).await?;
        let mut select = bill::Entity::find().filter(bill::Column::HouseholdId.eq(household.id));
        if let Some(state) = state.as_ref() {
            select = select.filter(bill::Column::State.eq(state.get("state")?.as_str()));
        }
        if let Some(period) = period.as_deref() {
            let period = Period::parse(period).field("period")?;
            select = select.filter(bill::Column::Period.eq(period.to_string()));
        }
        if let Some(staff) = auth.0.as_staff() {
            let entry = staff
                .audit("list_household_bills", "household")
                .object(household.id)
                .community(household.community_id);
            self.state.reads.record(entry).await;
        }
        Ok(self.page(select, cursor.as_deref(), *limit).await?)
    }

    /// List my bills
    ///
    /// Residents: the bills of every household they belong to, oldest first; `state=open`
    /// for what is left to pay.
    #[oai(path = "/me/bills", method = "get", operation_id = "list_my_bills")]
    async fn list_my_bills(
        &self,
        auth: BearerAuth,
        /// Only bills in this state.
        state: Query<Option<Vocab<BillState>>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<BillPage>, { AUTHED | VALIDATION }> {
        let resident = auth.0.resident()?;
        let households: Vec<Uuid> = household_member::Entity::find()
            .select_only()
            .column(household_member::Column::HouseholdId)
            .filter(household_member::Column::ResidentId.eq(resident.id))
            .into_tuple()
            .all(&self.state.db)
            .await?;
        let mut select = bill::Entity::find().filter(bill::Column::HouseholdId.is_in(households));
        if let Some(state) = state.as_ref() {
            select = select.filter(bill::Column::State.eq(state.get("state")?.as_str()));
        }
        Ok(self.page(select, cursor.as_deref(), *limit).await?)
    }

    /// Get a bill with its lines
    #[oai(path = "/bills/:bill_id", method = "get", operation_id = "get_bill")]
    async fn get_bill(
        &self,
        auth: BearerAuth,
        bill_id: Path<Uuid>,
    ) -> ApiResult<Json<BillDto>, { AUTHED | NOT_FOUND }> {
        let bill = self.visible_bill(&auth.0, *bill_id).await?;
        if let Some(staff) = auth.0.as_staff() {
            let entry = staff
                .audit("get_bill", "bill")
                .object(bill.id)
                .community(bill.community_id)
                .details(json!({ "household_id": bill.household_id }));
            self.state.reads.record(entry).await;
        }
        Ok(Json(self.with_lines(bill).await?))
    }

    /// Waive a bill
    ///
    /// Admins only: an open bill is waived with a reason kept on the bill; it is no
    /// longer owed. A paid bill is refunded instead.
    #[oai(
        path = "/bills/:bill_id/waive",
        method = "post",
        operation_id = "waive_bill"
    )]
    async fn waive_bill(
        &self,
        auth: BearerAuth,
        bill_id: Path<Uuid>,
        body: Json<CloseBill>,
    ) -> ApiResult<Json<BillDto>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let (bill, mut closing, entry) = self.closing(&auth, *bill_id, &body, "waive_bill").await?;
        closing.audit = Some(&entry);
        let bill = closing::waive(&self.state.db, &bill, &closing)
            .await
            .map_err(close_error)?;
        Ok(Json(self.with_lines(bill).await?))
    }

    /// Waive a bill's late fee
    ///
    /// Admins only: the late fee (滞纳金) of an open bill is waived with a reason kept on the
    /// bill; the bill itself is still owed, and a payment made after this carries no late
    /// fee for it. Refused (409) while a pending payment holds the bill, and when the late
    /// fee was waived already.
    #[oai(
        path = "/bills/:bill_id/late-fee-waiver",
        method = "post",
        operation_id = "waive_late_fee"
    )]
    async fn waive_late_fee(
        &self,
        auth: BearerAuth,
        bill_id: Path<Uuid>,
        body: Json<CloseBill>,
    ) -> ApiResult<Json<BillDto>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let (bill, mut closing, entry) = self
            .closing(&auth, *bill_id, &body, "waive_late_fee")
            .await?;
        closing.audit = Some(&entry);
        let bill = closing::waive_late_fee(&self.state.db, &bill, &closing)
            .await
            .map_err(close_error)?;
        Ok(Json(self.with_lines(bill).await?))
    }

    /// Cancel a bill and issue it again
    ///
    /// Admins only: after a corrected reading, area or price, an open bill is cancelled
    /// (with the reason) and the household's bill for the month is issued again from
    /// today's items, readings and charges; the resident is told of the new bill.
    #[oai(
        path = "/bills/:bill_id/reissue",
        method = "post",
        operation_id = "reissue_bill"
    )]
    async fn reissue_bill(
        &self,
        auth: BearerAuth,
        bill_id: Path<Uuid>,
        body: Json<CloseBill>,
    ) -> ApiResult<ReissueDone, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let (bill, mut closing, entry) =
            self.closing(&auth, *bill_id, &body, "reissue_bill").await?;
        closing.audit = Some(&entry);
        let (cancelled, reissued) = closing::reissue(&self.state.db, &bill, &closing)
            .await
            .map_err(close_error)?;
        let ids: Vec<Uuid> = std::iter::once(cancelled.id)
            .chain(reissued.as_ref().map(|b| b.id))
            .collect();
        let mut lines = self.lines_of(&ids).await?;
        let cancelled_lines = lines.remove(&cancelled.id).unwrap_or_default();
        Ok(ReissueDone::Ok(Json(Reissued {
            cancelled: bill_dto(cancelled, cancelled_lines),
            reissued: reissued.map(|b| {
                let l = lines.remove(&b.id).unwrap_or_default();
                bill_dto(b, l)
            }),
        })))
    }
}

impl BillsApi {
    /// A bill the caller may see: a member of its household, or staff who read bills in
    /// its community; 404 otherwise.
    async fn visible_bill(&self, principal: &Principal, id: Uuid) -> Result<bill::Model, ApiError> {
        let bill = bill::Entity::find_by_id(id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("bill"))?;
        household_for(
            &self.state,
            principal,
            bill.household_id,
            BILL_READERS,
            true,
        )
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("bill"),
            other => other,
        })?;
        Ok(bill)
    }

    async fn page(
        &self,
        select: sea_orm::Select<bill::Entity>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Json<BillPage>, ApiError> {
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            bill::Column::Id,
            cursor,
            limit,
            |r| r.id,
        )
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|b| b.id).collect();
        let mut lines = self.lines_of(&ids).await?;
        Ok(Json(BillPage {
            items: rows
                .into_iter()
                .map(|b| {
                    let l = lines.remove(&b.id).unwrap_or_default();
                    bill_dto(b, l)
                })
                .collect(),
            next_cursor,
        }))
    }

    async fn lines_of(
        &self,
        bill_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<bill_line::Model>>, ApiError> {
        let mut by_bill: HashMap<Uuid, Vec<bill_line::Model>> = HashMap::new();
        if bill_ids.is_empty() {
            return Ok(by_bill);
        }
        for line in bill_line::Entity::find()
            .filter(bill_line::Column::BillId.is_in(bill_ids.iter().copied()))
            .order_by_asc(bill_line::Column::BillId)
            .order_by_asc(bill_line::Column::Position)
            .all(&self.state.db)
            .await?
        {
            by_bill.entry(line.bill_id).or_default().push(line);
        }
        Ok(by_bill)
    }
}

fn reason(body: &CloseBill) -> Result<&str, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid("reason", "say why"));
    }
    Ok(reason)
}

fn close_error(e: CloseError) -> ApiError {
    match e {
        CloseError::NotOpen(state) => ApiError::Conflict {
            kind: "bill-not-open",
            detail: format!("the bill is {state}; only an open bill is waived or cancelled"),
        },
        CloseError::LateFeeWaived => ApiError::Conflict {
            kind: "late-fee-waived",
            detail: "the bill's late fee was waived already".into(),
        },
        CloseError::Db(e) => e.into(),
        CloseError::Unreadable(e) => ApiError::Unexpected(e),
    }
}
