//! The office's view of fees: who owes what (the arrears list) and how much of a month's
//! bills came in (the collection rate).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use courtyard_domain::{
    entities::{bill, building, household, unit},
    fees::bills::{BillState, Period},
    org::Timezone,
};
use poem_openapi::{Object, OpenApi, param::Path, param::Query, payload::Json};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::FEE_KEEPERS;
use crate::{
    ApiTags,
    authz::BearerAuth,
    error::{ApiResult, FieldContext, status::*},
    state::AppState,
};

/// One household that owes.
#[derive(Debug, Object)]
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
}

/// A community's arrears, most owed first.
#[derive(Debug, Object)]
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
        let tz = Timezone::parse(&community.timezone)
            .map_err(|e| anyhow::anyhow!(e.0))?
            .tz();
        let today = self.state.clock.now().with_timezone(&tz).date_naive();
        let overdue = bill::Entity::find()
            .filter(bill::Column::CommunityId.eq(community.id))
            .filter(bill::Column::State.eq(BillState::Open.as_str()))
            .filter(bill::Column::DueOn.lt(today))
            .order_by_asc(bill::Column::DueOn)
            .all(&self.state.db)
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
                .all(&self.state.db)
                .await?
        };
        let names = |rows: Vec<(Uuid, String)>| rows.into_iter().collect::<BTreeMap<_, _>>();
        let buildings = names(
            building::Entity::find()
                .filter(building::Column::CommunityId.eq(community.id))
                .all(&self.state.db)
                .await?
                .into_iter()
                .map(|b| (b.id, b.name))
                .collect(),
        );
        let units = names(
            unit::Entity::find()
                .filter(unit::Column::CommunityId.eq(community.id))
                .all(&self.state.db)
                .await?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
        );
        let mut items: Vec<Arrear> = households
            .into_iter()
            .filter(|h| building_id.0.is_none_or(|b| b == h.building_id))
            .filter_map(|h| {
                let (bills, owed, period, due) = owing.get(&h.id)?.clone();
                Some(Arrear {
                    household_id: h.id,
                    building_id: h.building_id,
                    address: format!(
                        "{}{}{}",
                        buildings.get(&h.building_id).map_or("", String::as_str),
                        units.get(&h.unit_id).map_or("", String::as_str),
                        h.room_number
                    ),
                    bills,
                    owed_fen: owed,
                    oldest_period: period,
                    oldest_due_on: due,
                    days_overdue: (today - due).num_days(),
                })
            })
            .filter(|a| min_days_overdue.0.is_none_or(|d| a.days_overdue >= d))
            .filter(|a| min_owed_fen.0.is_none_or(|f| a.owed_fen >= f))
            .collect();
        items.sort_by(|a, b| b.owed_fen.cmp(&a.owed_fen).then(a.address.cmp(&b.address)));
        let total_owed_fen = items.iter().map(|a| a.owed_fen).sum();
        Ok(Json(ArrearsList {
            as_of: today,
            items,
            total_owed_fen,
        }))
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
        period: Query<Option<String>>,
    ) -> ApiResult<Json<Collection>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let period = match period.as_deref() {
            Some(raw) => Period::parse(raw).field("period")?,
            None => {
                let tz = Timezone::parse(&community.timezone)
                    .map_err(|e| anyhow::anyhow!(e.0))?
                    .tz();
                Period::of(self.state.clock.now().with_timezone(&tz).date_naive()).minus_months(1)
            }
        };
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
