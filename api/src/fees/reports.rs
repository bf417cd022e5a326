//! The office's view of fees: who owes what (the arrears list) and how much of a month's
//! bills came in (the collection rate).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use courtyard_domain::{
    entities::{bill, community, fee_reminder, household, payment, payment_bill, receipt},
    fees::bills::{BillState, Period},
    money::yuan_figures,
    org::Timezone,
};
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::FEE_KEEPERS;
use crate::{
    ApiTags,
    authz::BearerAuth,
    error::{ApiError, ApiResult, FieldContext, status::*},
    exports::{CsvExport, csv_export},
    state::AppState,
};

/// One household that owes.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Arrear {
    /// The household.
    pub household_id: Uuid,
    /// Its building.
    pub building_id: Uuid,
    /// `3栋1单元1203`.
    pub address: String,
    /// Its overdue open bills.
    pub bills: u32,
    /// What they come to, fen (late fees are added when a payment is made).
    pub owed_fen: i64,
    /// The oldest overdue bill's month, `YYYY-MM`.
    pub oldest_period: String,
    /// The oldest overdue bill's due date.
    pub oldest_due_on: NaiveDate,
    /// Days since that due date, in the community's calendar.
    pub days_overdue: i64,
    /// When the household was last reminded (automatically or by staff).
    #[oai(skip_serializing_if_is_none)]
    pub last_reminder_at: Option<chrono::DateTime<chrono::Utc>>,
    /// That reminder's step (`overdue_7`, ...), or the staff contact's channel (`phone`,
    /// `visit`, `letter`).
    #[oai(skip_serializing_if_is_none)]
    pub last_reminder: Option<String>,
}

/// A community's arrears, most owed first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ArrearsList {
    /// The community's date the list is as of.
    pub as_of: NaiveDate,
    /// Households that owe, most owed first.
    pub items: Vec<Arrear>,
    /// What they owe in all, fen.
    pub total_owed_fen: i64,
}

/// How much of a month's bills came in.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Collection {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Live bills of the month (open, paid or waived).
    pub bills: u32,
    /// What they came to, fen.
    pub billed_fen: i64,
    /// Paid, fen.
    pub paid_fen: i64,
    /// Waived, fen.
    pub waived_fen: i64,
    /// Still open, fen.
    pub open_fen: i64,
    /// Paid bills of the month.
    pub bills_paid: u32,
    /// Paid of what was billed less what was waived, in basis points (9,512 = 95.12 %);
    /// absent when nothing is due.
    #[oai(skip_serializing_if_is_none)]
    pub collection_rate_bp: Option<i64>,
}

/// The fee report endpoints.
pub struct FeeReportsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Fees")]
impl FeeReportsApi {
    /// List arrears
    ///
    /// Households with open bills past their due date, most owed first: the front desk,
    /// supervisors and admins. Filter by building, by at least so many days overdue, by at
    /// least so much owed.
    #[oai(
        path = "/communities/:community_id/arrears",
        method = "get",
        operation_id = "list_arrears"
    )]
    async fn list_arrears(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Only this building.
        building_id: Query<Option<Uuid>>,
        /// Only households whose oldest overdue bill is at least this many days late.
        #[oai(validator(minimum(value = "0"), maximum(value = "36500")))]
        min_days_overdue: Query<Option<i64>>,
        /// Only households owing at least this much, fen.
        #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
        min_owed_fen: Query<Option<i64>>,
    ) -> ApiResult<Json<ArrearsList>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let filter = ArrearsFilter {
            building_id: *building_id,
            min_days_overdue: *min_days_overdue,
            min_owed_fen: *min_owed_fen,
        };
        Ok(Json(arrears(&self.state, &community, &filter).await?))
    }

    /// Export arrears as CSV
    ///
    /// The arrears list with the same filters, as CSV (UTF-8 with a BOM): one row per
    /// household, amounts in fen and in yuan.
    #[oai(
        path = "/communities/:community_id/arrears.csv",
        method = "get",
        operation_id = "export_arrears"
    )]
    async fn export_arrears(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Only this building.
        building_id: Query<Option<Uuid>>,
        /// Only households whose oldest overdue bill is at least this many days late.
        #[oai(validator(minimum(value = "0"), maximum(value = "36500")))]
        min_days_overdue: Query<Option<i64>>,
        /// Only households owing at least this much, fen.
        #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
        min_owed_fen: Query<Option<i64>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let filter = ArrearsFilter {
            building_id: *building_id,
            min_days_overdue: *min_days_overdue,
            min_owed_fen: *min_owed_fen,
        };
        let list = arrears(&self.state, &community, &filter).await?;
        let entry = staff
            .audit("export_arrears", "community")
            .object(community.id)
            .community(community.id)
            .details(serde_json::json!({
                "building_id": filter.building_id,
                "min_days_overdue": filter.min_days_overdue,
                "min_owed_fen": filter.min_owed_fen,
                "rows": list.items.len(),
            }));
        self.state.reads.record(entry).await;
        let rows = list.items.iter().map(|a| {
            vec![
                a.address.clone(),
                a.household_id.to_string(),
                a.bills.to_string(),
                a.owed_fen.to_string(),
                yuan_figures(a.owed_fen),
                a.oldest_period.clone(),
                a.oldest_due_on.to_string(),
                a.days_overdue.to_string(),
            ]
        });
        Ok(csv_export(
            &format!("arrears-{}.csv", list.as_of),
            &[
                "address",
                "household_id",
                "overdue_bills",
                "owed_fen",
                "owed_yuan",
                "oldest_period",
                "oldest_due_on",
                "days_overdue",
            ],
            rows,
        )?)
    }

    /// Export a month's bills as CSV
    ///
    /// Every live bill of the month (open, paid or waived) as CSV (UTF-8 with a BOM), by
    /// address: amount, due date, state, when it was settled, the late fee paid with it,
    /// the receipt number, and the reason of a waiver.
    #[oai(
        path = "/communities/:community_id/bills.csv",
        method = "get",
        operation_id = "export_bills"
    )]
    async fn export_bills(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// The month, `YYYY-MM`; last month by default.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        period: Query<Option<String>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let period = period_or_last(&self.state, &community, period.as_deref())?;
        let bills = bill::Entity::find()
            .filter(bill::Column::CommunityId.eq(community.id))
            .filter(bill::Column::Period.eq(period.to_string()))
            .filter(bill::Column::State.ne(BillState::Cancelled.as_str()))
            .all(&self.state.db)
            .await?;
        let settled = settlements(&self.state, &bills).await?;
        let addresses =
            courtyard_store::addresses::of_community(&self.state.db, community.id).await?;
        let entry = staff
            .audit("export_bills", "community")
            .object(community.id)
            .community(community.id)
            .details(serde_json::json!({ "period": period.to_string(), "rows": bills.len() }));
        self.state.reads.record(entry).await;
        let mut rows: Vec<(String, Vec<String>)> = bills
            .iter()
            .map(|b| {
                let address = addresses
                    .get(&b.household_id)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let paid = settled.get(&b.id);
                let row = vec![
                    address.clone(),
                    b.period.clone(),
                    b.state.clone(),
                    b.amount_fen.to_string(),
                    yuan_figures(b.amount_fen),
                    b.due_on.to_string(),
                    b.closed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    paid.map(|p| p.late_fee_fen.to_string()).unwrap_or_default(),
                    paid.map(|p| p.method.clone()).unwrap_or_default(),
                    paid.and_then(|p| p.receipt_number.clone())
                        .unwrap_or_default(),
                    b.close_reason.clone().unwrap_or_default(),
                    b.id.to_string(),
                    b.household_id.to_string(),
                ];
                (address, row)
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(csv_export(
            &format!("bills-{period}.csv"),
            &[
                "address",
                "period",
                "state",
                "amount_fen",
                "amount_yuan",
                "due_on",
                "closed_at",
                "late_fee_fen",
                "method",
                "receipt_number",
                "close_reason",
                "bill_id",
                "household_id",
            ],
            rows.into_iter().map(|(_, row)| row),
        )?)
    }

    /// Get the collection rate of a month
    ///
    /// How much of a month's bills came in: billed, paid, waived and still open, and the
    /// collection rate (paid of billed less waived).
    #[oai(
        path = "/communities/:community_id/collection",
        method = "get",
        operation_id = "get_collection"
    )]
    async fn get_collection(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// The month, `YYYY-MM`; last month by default.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        period: Query<Option<String>>,
    ) -> ApiResult<Json<Collection>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let period = period_or_last(&self.state, &community, period.as_deref())?;
        let bills = bill::Entity::find()
            .filter(bill::Column::CommunityId.eq(community.id))
            .filter(bill::Column::Period.eq(period.to_string()))
            .filter(bill::Column::State.ne(BillState::Cancelled.as_str()))
            .all(&self.state.db)
            .await?;
        let sum = |state: BillState| -> i64 {
            bills
                .iter()
                .filter(|b| b.state == state.as_str())
                .map(|b| b.amount_fen)
                .sum()
        };
        let (paid, waived, open) = (
            sum(BillState::Paid),
            sum(BillState::Waived),
            sum(BillState::Open),
        );
        let billed = paid + waived + open;
        let due = billed - waived;
        Ok(Json(Collection {
            period: period.to_string(),
            bills: bills.len() as u32,
            billed_fen: billed,
            paid_fen: paid,
            waived_fen: waived,
            open_fen: open,
            bills_paid: bills
                .iter()
                .filter(|b| b.state == BillState::Paid.as_str())
                .count() as u32,
            collection_rate_bp: (due > 0).then(|| {
                courtyard_domain::fees::round_half_up(i128::from(paid) * 10_000, i128::from(due))
            }),
        }))
    }
}

/// Which arrears to list.
struct ArrearsFilter {
    building_id: Option<Uuid>,
    min_days_overdue: Option<i64>,
    min_owed_fen: Option<i64>,
}

/// The community's households with overdue open bills, most owed first.
async fn arrears(
    state: &AppState,
    community: &community::Model,
    filter: &ArrearsFilter,
) -> Result<ArrearsList, ApiError> {
    let today = today_in(state, community)?;
    let overdue = bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(community.id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .filter(bill::Column::DueOn.lt(today))
        .order_by_asc(bill::Column::DueOn)
        .all(&state.db)
        .await?;
    let mut owing: BTreeMap<Uuid, (u32, i64, String, NaiveDate)> = BTreeMap::new();
    for b in overdue {
        let entry = owing
            .entry(b.household_id)
            .or_insert((0, 0, b.period.clone(), b.due_on));
        entry.0 += 1;
        entry.1 += b.amount_fen;
    }
    let ids: Vec<Uuid> = owing.keys().copied().collect();
    let households: Vec<household::Model> = if ids.is_empty() {
        Vec::new()
    } else {
        household::Entity::find()
            .filter(household::Column::Id.is_in(ids))
            .all(&state.db)
            .await?
    };
    let addresses = courtyard_store::addresses::of_community(&state.db, community.id).await?;
    // Each owing household's latest reminder, in chunks of households.
    let mut last: HashMap<Uuid, fee_reminder::Model> = HashMap::new();
    let owing_ids: Vec<Uuid> = owing.keys().copied().collect();
    for chunk in owing_ids.chunks(500) {
        for r in fee_reminder::Entity::find()
            .filter(fee_reminder::Column::HouseholdId.is_in(chunk.iter().copied()))
            .order_by_asc(fee_reminder::Column::CreatedAt)
            .all(&state.db)
            .await?
        {
            last.insert(r.household_id, r);
        }
    }
    let mut items: Vec<Arrear> = households
        .into_iter()
        .filter(|h| filter.building_id.is_none_or(|b| b == h.building_id))
        .filter_map(|h| {
            let (bills, owed, period, due) = owing.get(&h.id)?.clone();
            Some(Arrear {
                household_id: h.id,
                building_id: h.building_id,
                address: addresses
                    .get(&h.id)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                bills,
                owed_fen: owed,
                oldest_period: period,
                oldest_due_on: due,
                days_overdue: (today - due).num_days(),
                last_reminder_at: last.get(&h.id).map(|r| r.created_at),
                last_reminder: last
                    .get(&h.id)
                    .map(|r| r.step.clone().unwrap_or_else(|| r.channel.clone())),
            })
        })
        .filter(|a| filter.min_days_overdue.is_none_or(|d| a.days_overdue >= d))
        .filter(|a| filter.min_owed_fen.is_none_or(|f| a.owed_fen >= f))
        .collect();
    items.sort_by(|a, b| b.owed_fen.cmp(&a.owed_fen).then(a.address.cmp(&b.address)));
    let total_owed_fen = items.iter().map(|a| a.owed_fen).sum();
    Ok(ArrearsList {
        as_of: today,
        items,
        total_owed_fen,
    })
}

/// The month asked for, or last month in the community's calendar.
fn period_or_last(
    state: &AppState,
    community: &community::Model,
    raw: Option<&str>,
) -> Result<Period, ApiError> {
    Ok(match raw {
        Some(raw) => Period::parse(raw).field("period")?,
        None => Period::of(today_in(state, community)?).minus_months(1),
    })
}

/// Today in the community's calendar.
pub(super) fn today_in(
    state: &AppState,
    community: &community::Model,
) -> Result<NaiveDate, ApiError> {
    let tz = Timezone::parse(&community.timezone)
        .map_err(|e| anyhow::anyhow!(e.0))?
        .tz();
    Ok(state.clock.now().with_timezone(&tz).date_naive())
}

/// How a paid bill was paid.
pub(super) struct Settlement {
    /// The payment.
    pub payment_id: Uuid,
    /// `wechat_pay`, `cash`, ...
    pub method: String,
    /// The late fee paid with the bill, fen.
    pub late_fee_fen: i64,
    /// The payment's receipt.
    pub receipt_number: Option<String>,
}

/// The payments that paid `bills` (those paid), by bill.
pub(super) async fn settlements(
    state: &AppState,
    bills: &[bill::Model],
) -> Result<HashMap<Uuid, Settlement>, ApiError> {
    let paid: Vec<(Uuid, Uuid)> = bills
        .iter()
        .filter(|b| b.state == BillState::Paid.as_str())
        .filter_map(|b| Some((b.id, b.payment_id?)))
        .collect();
    if paid.is_empty() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::new();
    for chunk in paid.chunks(500) {
        let payment_ids: Vec<Uuid> = chunk.iter().map(|(_, p)| *p).collect();
        let payments: HashMap<Uuid, payment::Model> = payment::Entity::find()
            .filter(payment::Column::Id.is_in(payment_ids.clone()))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let receipts: HashMap<Uuid, String> = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.is_in(payment_ids.clone()))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|r| (r.payment_id, r.number))
            .collect();
        let late: HashMap<(Uuid, Uuid), i64> = payment_bill::Entity::find()
            .filter(payment_bill::Column::PaymentId.is_in(payment_ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|c| ((c.payment_id, c.bill_id), c.late_fee_fen))
            .collect();
        for (bill_id, payment_id) in chunk {
            let Some(p) = payments.get(payment_id) else {
                continue;
            };
            out.insert(
                *bill_id,
                Settlement {
                    payment_id: *payment_id,
                    method: p.method.clone(),
                    late_fee_fen: late.get(&(*payment_id, *bill_id)).copied().unwrap_or(0),
                    receipt_number: receipts.get(payment_id).cloned(),
                },
            );
        }
    }
    Ok(out)
}
