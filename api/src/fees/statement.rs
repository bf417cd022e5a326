//! A household's fee statement (对账单): every bill of a span of months with how it was
//! settled, and what they come to: billed, paid, late fees paid, waived, refunded and still
//! owed. For the household's residents and the staff who read its bills; as JSON and as
//! CSV.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{bill, household, payment},
    fees::bills::{BillState, Period},
    money::yuan_figures,
};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{
    BILL_READERS, household_for,
    reports::{Settlement, settlements, today_in},
};
use crate::{
    ApiTags,
    authz::BearerAuth,
    error::{ApiError, ApiResult, FieldContext, status::*},
    exports::{CsvExport, csv_export},
    state::AppState,
    vocab::Vocab,
};

/// The longest span one statement covers, in months.
const MAX_MONTHS: u32 = 60;

/// One bill on a statement.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StatementBill {
    /// The bill.
    pub bill_id: Uuid,
    /// Month, `YYYY-MM`.
    pub period: String,
    /// Where it stands (cancelled bills are left out: their re-issue is shown).
    pub state: Vocab<BillState>,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Due date.
    pub due_on: NaiveDate,
    /// Paid or waived.
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was waived.
    #[oai(skip_serializing_if_is_none)]
    pub close_reason: Option<String>,
    /// The payment that paid it.
    #[oai(skip_serializing_if_is_none)]
    pub payment_id: Option<Uuid>,
    /// How it was paid: `wechat_pay`, `cash`, `pos`, `bank_transfer`, `dev`.
    #[oai(skip_serializing_if_is_none)]
    pub method: Option<String>,
    /// The late fee paid with it, fen.
    pub late_fee_paid_fen: i64,
    /// Whether an admin waived its late fee.
    pub late_fee_waived: bool,
    /// The receipt of the payment that paid it.
    #[oai(skip_serializing_if_is_none)]
    pub receipt_number: Option<String>,
}

/// A household's fee statement for a span of months.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FeeStatement {
    /// The household.
    pub household_id: Uuid,
    /// `3栋1单元1203`.
    pub address: String,
    /// First month, `YYYY-MM`.
    pub from: String,
    /// Last month, `YYYY-MM`.
    pub to: String,
    /// The community's date the statement is as of.
    pub as_of: NaiveDate,
    /// The months' bills, oldest first.
    pub bills: Vec<StatementBill>,
    /// Billed: the bills' amounts, fen.
    pub billed_fen: i64,
    /// Paid of that, fen (late fees apart).
    pub paid_fen: i64,
    /// Late fees paid with them, fen.
    pub late_fees_paid_fen: i64,
    /// Waived, fen.
    pub waived_fen: i64,
    /// Refunded of the payments that paid them, fen.
    pub refunded_fen: i64,
    /// Still owed: the open bills, fen.
    pub owed_fen: i64,
    /// Of that, past its due date, fen.
    pub overdue_fen: i64,
}

/// The statement endpoints.
pub struct FeeStatementApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Fees")]
impl FeeStatementApi {
    /// Get a household's fee statement
    ///
    /// The household's residents, and the staff who read its bills: every bill of the
    /// months `from`–`to` (default: the last twelve months to this one) with how it was
    /// settled, and the totals.
    #[oai(
        path = "/households/:household_id/fee-statement",
        method = "get",
        operation_id = "get_fee_statement"
    )]
    async fn get_fee_statement(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// First month, `YYYY-MM`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        from: Query<Option<String>>,
        /// Last month, `YYYY-MM`; at most 60 months after `from`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        to: Query<Option<String>>,
    ) -> ApiResult<Json<FeeStatement>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, BILL_READERS, true).await?;
        let s = statement(&self.state, &household, from.as_deref(), to.as_deref()).await?;
        read_by_staff(&self.state, &auth, "get_fee_statement", &s, &household).await;
        Ok(Json(s))
    }

    /// Export a household's fee statement as CSV
    ///
    /// The statement as CSV (UTF-8 with a BOM): one row per bill, amounts in fen and in
    /// yuan, and a last row with the totals.
    #[oai(
        path = "/households/:household_id/fee-statement.csv",
        method = "get",
        operation_id = "export_fee_statement"
    )]
    async fn export_fee_statement(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// First month, `YYYY-MM`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        from: Query<Option<String>>,
        /// Last month, `YYYY-MM`; at most 60 months after `from`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        to: Query<Option<String>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, BILL_READERS, true).await?;
        let s = statement(&self.state, &household, from.as_deref(), to.as_deref()).await?;
        read_by_staff(&self.state, &auth, "export_fee_statement", &s, &household).await;
        let mut rows: Vec<Vec<String>> = s
            .bills
            .iter()
            .map(|b| {
                vec![
                    b.period.clone(),
                    b.state.text().to_owned(),
                    b.amount_fen.to_string(),
                    yuan_figures(b.amount_fen),
                    b.due_on.to_string(),
                    b.closed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    b.method.clone().unwrap_or_default(),
                    b.late_fee_paid_fen.to_string(),
                    b.receipt_number.clone().unwrap_or_default(),
                    b.close_reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        rows.push(vec![
            format!("{}–{}", s.from, s.to),
            "total".into(),
            s.billed_fen.to_string(),
            yuan_figures(s.billed_fen),
            String::new(),
            String::new(),
            format!("owed {}", yuan_figures(s.owed_fen)),
            s.late_fees_paid_fen.to_string(),
            String::new(),
            format!(
                "paid {} waived {} refunded {}",
                yuan_figures(s.paid_fen),
                yuan_figures(s.waived_fen),
                yuan_figures(s.refunded_fen)
            ),
        ]);
        Ok(csv_export(
            &format!("statement-{}-{}.csv", s.from, s.to),
            &[
                "period",
                "state",
                "amount_fen",
                "amount_yuan",
                "due_on",
                "closed_at",
                "method",
                "late_fee_fen",
                "receipt_number",
                "note",
            ],
            rows,
        )?)
    }
}

/// A staff member's reading of a household's statement, on the audit trail.
async fn read_by_staff(
    state: &AppState,
    auth: &BearerAuth,
    operation: &'static str,
    s: &FeeStatement,
    household: &household::Model,
) {
    if let Some(staff) = auth.0.as_staff() {
        let entry = staff
            .audit(operation, "household")
            .object(household.id)
            .community(household.community_id)
            .details(serde_json::json!({ "from": s.from, "to": s.to }));
        state.reads.record(entry).await;
    }
}

/// The statement of `household` for the months `from`–`to`.
async fn statement(
    state: &AppState,
    household: &household::Model,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<FeeStatement, ApiError> {
    let community =
        courtyard_domain::entities::community::Entity::find_by_id(household.community_id)
            .one(&state.db)
            .await?
            .ok_or(ApiError::NotFound("household"))?;
    let today = today_in(state, &community)?;
    let to = match to {
        Some(raw) => Period::parse(raw).field("to")?,
        None => Period::of(today),
    };
    let from = match from {
        Some(raw) => Period::parse(raw).field("from")?,
        None => to.minus_months(11),
    };
    if from > to {
        return Err(ApiError::invalid("from", "from is after to"));
    }
    if from < to.minus_months(MAX_MONTHS - 1) {
        return Err(ApiError::invalid(
            "from",
            format!("a statement covers at most {MAX_MONTHS} months"),
        ));
    }
    let bills = bill::Entity::find()
        .filter(bill::Column::HouseholdId.eq(household.id))
        .filter(bill::Column::Period.gte(from.to_string()))
        .filter(bill::Column::Period.lte(to.to_string()))
        .filter(bill::Column::State.ne(BillState::Cancelled.as_str()))
        .order_by_asc(bill::Column::Period)
        .order_by_asc(bill::Column::IssuedAt)
        .all(&state.db)
        .await?;
    let settled = settlements(state, &bills).await?;
    let payment_ids: HashSet<Uuid> = settled.values().map(|s| s.payment_id).collect();
    let refunded_fen: i64 = if payment_ids.is_empty() {
        0
    } else {
        payment::Entity::find()
            .filter(payment::Column::Id.is_in(payment_ids))
            .all(&state.db)
            .await?
            .iter()
            .map(|p| p.refunded_fen)
            .sum()
    };
    let address = courtyard_store::addresses::of_community(&state.db, community.id)
        .await?
        .remove(&household.id)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let sum = |pick: &dyn Fn(&bill::Model) -> bool| -> i64 {
        bills.iter().filter(|b| pick(b)).map(|b| b.amount_fen).sum()
    };
    let is = |s: BillState| move |b: &bill::Model| b.state == s.as_str();
    Ok(FeeStatement {
        household_id: household.id,
        address,
        from: from.to_string(),
        to: to.to_string(),
        as_of: today,
        billed_fen: sum(&|_| true),
        paid_fen: sum(&is(BillState::Paid)),
        late_fees_paid_fen: settled.values().map(|s| s.late_fee_fen).sum(),
        waived_fen: sum(&is(BillState::Waived)),
        refunded_fen,
        owed_fen: sum(&is(BillState::Open)),
        overdue_fen: sum(&|b| b.state == BillState::Open.as_str() && b.due_on < today),
        bills: bills
            .into_iter()
            .map(|b| {
                let paid: Option<&Settlement> = settled.get(&b.id);
                StatementBill {
                    bill_id: b.id,
                    period: b.period,
                    state: Vocab::stored(&b.state),
                    amount_fen: b.amount_fen,
                    due_on: b.due_on,
                    closed_at: b.closed_at,
                    close_reason: b.close_reason,
                    payment_id: paid.map(|p| p.payment_id),
                    method: paid.map(|p| p.method.clone()),
                    late_fee_paid_fen: paid.map_or(0, |p| p.late_fee_fen),
                    late_fee_waived: b.late_fee_waived_at.is_some(),
                    receipt_number: paid.and_then(|p| p.receipt_number.clone()),
                }
            })
            .collect(),
    })
}
