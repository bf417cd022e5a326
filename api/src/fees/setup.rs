//! Setting up fees: a community's policy and items, households' meter readings and one-off
//! charges.

use courtyard_domain::imports::parse_readings;
use courtyard_domain::{
    entities::{community, fee_item, household_charge, meter_reading},
    fees::{
        Quantity,
        bills::{Period, Reading, ReadingError},
        items::{FeeKind, Meter, Rate, store_tiers},
    },
    new_id,
};
use courtyard_store::audit::{self, Entry};
use courtyard_store::fees::{
    policy_of,
    reading_import::{self, ImportError},
    readings::{self, NewReading as StoreReading, RecordError},
};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::{FEE_KEEPERS, METER_READERS, dto::*, household_for};
use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth},
    error::{ApiError, ApiResult, FieldContext, status::*, unique_violation},
    imports::{CsvFile, rows_refused},
    pagination::fetch_page,
    state::AppState,
    vocab::Vocab,
};

/// A created fee item.
#[derive(ApiResponse)]
pub enum FeeItemCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<FeeItem>),
}

/// A created charge.
#[derive(ApiResponse)]
pub enum ChargeCreated {
    /// Created; it goes on the household's next bill.
    #[oai(status = 201)]
    Created(Json<ChargeDto>),
}

/// The fee setup endpoints.
pub struct FeeSetupApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Fees")]
impl FeeSetupApi {
    /// Get the fee policy
    ///
    /// When bills fall due and the late-fee rule; a community that set none has the
    /// defaults (due on the 15th of the following month, no late fees).
    #[oai(
        path = "/communities/:community_id/fee-policy",
        method = "get",
        operation_id = "get_fee_policy"
    )]
    async fn get_fee_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Json<FeePolicyDto>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        Ok(Json(policy_dto(&policy_of(&community))))
    }

    /// Change the fee policy
    ///
    /// Admins only. The due day applies to bills generated from now on; late fees are
    /// computed when a payment is created.
    #[oai(
        path = "/communities/:community_id/fee-policy",
        method = "put",
        operation_id = "put_fee_policy"
    )]
    async fn put_fee_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<FeePolicyDto>,
    ) -> ApiResult<Json<FeePolicyDto>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let policy = parse_policy(&body)?;
        crate::communities::store_policy(
            &self.state,
            community.id,
            community::Column::FeePolicy,
            &policy,
            staff.audit("put_fee_policy", "community"),
        )
        .await?;
        Ok(Json(policy_dto(&policy)))
    }

    /// Add a fee item
    ///
    /// Admins only. `area` items charge per m² of floor area a month, `metered` per unit
    /// of a meter's monthly consumption (flat or tiered), `fixed` per household a month,
    /// `per_space` per parking space a month.
    #[oai(
        path = "/communities/:community_id/fee-items",
        method = "post",
        operation_id = "create_fee_item"
    )]
    async fn create_fee_item(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<NewFeeItem>,
    ) -> ApiResult<FeeItemCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let name = body.name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("name", "a fee item has a name").into());
        }
        let kind = body.kind.get("kind")?;
        let meter = body.meter.as_ref().map(|m| m.get("meter")).transpose()?;
        let tiers = parse_tiers(body.unit_price.as_deref(), body.tiers.as_deref())?
            .ok_or_else(|| ApiError::invalid("unit_price", "give unit_price or tiers"))?;
        // A meter belongs to metered items only, and so do tiers.
        let field = if (kind == FeeKind::Metered) != meter.is_some() {
            "meter"
        } else {
            "tiers"
        };
        let rate = Rate::new(kind, meter, tiers).field(field)?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = fee_item::ActiveModel {
            id: Set(new_id()),
            community_id: Set(community.id),
            name: Set(name.into()),
            kind: Set(rate.kind.as_str().into()),
            meter: Set(rate.meter.map(|m| m.as_str().into())),
            tiers: Set(store_tiers(&rate.tiers)),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a fee item with this name already exists in the community",
            )
        })?;
        audit::record(
            &txn,
            &fee_item_entry(staff.audit("create_fee_item", "fee_item"), &row),
        )
        .await?;
        txn.commit().await?;
        Ok(FeeItemCreated::Created(Json(fee_item_dto(row))))
    }

    /// List fee items
    #[oai(
        path = "/communities/:community_id/fee-items",
        method = "get",
        operation_id = "list_fee_items"
    )]
    async fn list_fee_items(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<FeeItemPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            fee_item::Entity::find().filter(fee_item::Column::CommunityId.eq(community.id)),
            fee_item::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        Ok(Json(FeeItemPage {
            items: rows.into_iter().map(fee_item_dto).collect(),
            next_cursor,
        }))
    }

    /// Change a fee item
    ///
    /// Admins only. A new price applies to bills generated from now on; issued bills keep
    /// the lines they were issued with. Kind and meter do not change: add a new item.
    #[oai(
        path = "/fee-items/:fee_item_id",
        method = "patch",
        operation_id = "update_fee_item"
    )]
    async fn update_fee_item(
        &self,
        auth: BearerAuth,
        fee_item_id: Path<Uuid>,
        body: Json<FeeItemPatch>,
    ) -> ApiResult<Json<FeeItem>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let row = fee_item::Entity::find_by_id(*fee_item_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("fee item"))?;
        staff
            .community(&self.state, row.community_id)
            .await
            .map_err(|_| ApiError::NotFound("fee item"))?;
        let kind = FeeKind::parse(&row.kind).map_err(|e| anyhow::anyhow!(e.0))?;
        let meter = row
            .meter
            .as_deref()
            .map(Meter::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!(e.0))?;
        let mut active = row.into_active_model();
        if let Some(name) = &body.name {
            let name = name.trim();
            if name.is_empty() {
                return Err(ApiError::invalid("name", "a fee item has a name").into());
            }
            active.name = Set(name.into());
        }
        if let Some(tiers) = parse_tiers(body.unit_price.as_deref(), body.tiers.as_deref())? {
            let rate = Rate::new(kind, meter, tiers).field("tiers")?;
            active.tiers = Set(store_tiers(&rate.tiers));
        }
        if let Some(on) = body.active {
            active.active = Set(on);
        }
        active.updated_at = Set(self.state.clock.now());
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = active.update(&txn).await.map_err(|e| {
            unique_violation(
                e,
                "duplicate-name",
                "a fee item with this name already exists in the community",
            )
        })?;
        audit::record(
            &txn,
            &fee_item_entry(staff.audit("update_fee_item", "fee_item"), &row),
        )
        .await?;
        txn.commit().await?;
        Ok(Json(fee_item_dto(row)))
    }

    /// Record a meter reading
    ///
    /// Front desk, engineering, supervisors and admins. A reading below the meter's previous
    /// one is refused unless `replaced_from` marks a new meter. Recording the same
    /// household, meter and month again updates the reading (200 instead of 201).
    #[oai(
        path = "/households/:household_id/meter-readings",
        method = "post",
        operation_id = "record_meter_reading"
    )]
    async fn record_meter_reading(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        body: Json<NewReading>,
    ) -> ApiResult<ReadingRecorded, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, METER_READERS, false).await?;
        let staff = auth.0.staff(METER_READERS)?;
        let new = StoreReading {
            community_id: household.community_id,
            household_id: household.id,
            meter: body.meter.get("meter")?,
            period: Period::parse(&body.period).field("period")?,
            reading: Reading {
                value: Quantity::parse(&body.value).field("value")?,
                replacement: body
                    .replaced_from
                    .as_deref()
                    .map(Quantity::parse)
                    .transpose()
                    .field("replaced_from")?,
            },
            source: "manual",
            entered_by: Some(staff.id),
        };
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let (row, created) = match readings::record(&txn, &new, self.state.clock.now()).await {
            Ok(recorded) => recorded,
            Err(RecordError::Refused(why)) => return Err(reading_refused(&why).into()),
            Err(RecordError::Db(e)) => return Err(ApiError::from(e).into()),
        };
        let entry = staff
            .audit("record_meter_reading", "meter_reading")
            .object(row.id)
            .community(row.community_id)
            .details(json!({
                "household_id": row.household_id,
                "meter": row.meter,
                "period": row.period,
                "value_milli": row.value_milli,
                "initial_milli": row.initial_milli,
                "created": created,
            }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        if created {
            Ok(ReadingRecorded::Created(Json(reading_dto(row))))
        } else {
            Ok(ReadingRecorded::Updated(Json(reading_dto(row))))
        }
    }

    /// Import meter readings from CSV
    ///
    /// Front desk, engineering, supervisors and admins. Columns: `building`, `unit`, `room`,
    /// `meter` (water, power, gas), `period` (`YYYY-MM`), `reading`, and `replaced_from` for
    /// a meter fitted that month; Chinese headers (楼栋, 单元, 房号, 表 with 水/电/燃气, 月份,
    /// 读数, 换表起数) work too. All or nothing: a file with any bad row (an unknown
    /// household, a reading below the meter's previous one, a meter twice in a month)
    /// answers 422 with one entry per problem (`row`, `field` = column, `message`) and
    /// writes nothing. Importing a household's reading for a month again updates it.
    #[oai(
        path = "/communities/:community_id/meter-reading-imports",
        method = "post",
        operation_id = "import_meter_readings"
    )]
    async fn import_meter_readings(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Check the file and report what would change, writing nothing.
        dry_run: Query<Option<bool>>,
        body: CsvFile,
    ) -> ApiResult<Json<ReadingImportReport>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(METER_READERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let CsvFile(bytes) = body;
        let rows = tokio::task::spawn_blocking(move || parse_readings(&bytes))
            .await
            .map_err(|e| anyhow::anyhow!("readings parser panicked: {e}"))?
            .map_err(rows_refused)?;
        let dry_run = dry_run.unwrap_or(false);
        let entry = staff
            .audit("import_meter_readings", "meter_reading")
            .community(community.id)
            .details(json!({ "rows": rows.len() }));
        let imported = reading_import::import(
            &self.state.db,
            community.id,
            &rows,
            staff.id,
            self.state.clock.now(),
            dry_run,
            Some(&entry),
        )
        .await
        .map_err(|e| match e {
            ImportError::Rows(errors) => rows_refused(errors),
            ImportError::Db(e) => e.into(),
        })?;
        tracing::info!(community = %community.id, rows = rows.len(), dry_run, "meter readings imported");
        Ok(Json(ReadingImportReport {
            rows: rows.len() as u32,
            dry_run,
            created: imported.created,
            updated: imported.updated,
        }))
    }

    /// List a household's meter readings
    ///
    /// Staff who enter readings, and the household's residents.
    #[oai(
        path = "/households/:household_id/meter-readings",
        method = "get",
        operation_id = "list_meter_readings"
    )]
    async fn list_meter_readings(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// Only this meter.
        meter: Query<Option<Vocab<Meter>>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ReadingPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, METER_READERS, true).await?;
        let mut select = meter_reading::Entity::find()
            .filter(meter_reading::Column::HouseholdId.eq(household.id));
        if let Some(meter) = meter.as_ref() {
            select = select.filter(meter_reading::Column::Meter.eq(meter.get("meter")?.as_str()));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            meter_reading::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        Ok(Json(ReadingPage {
            items: rows.into_iter().map(reading_dto).collect(),
            next_cursor,
        }))
    }

    /// Add a one-off charge
    ///
    /// Front desk, supervisors and admins: a charge such as a replacement key card goes on
    /// the household's next bill.
    #[oai(
        path = "/households/:household_id/charges",
        method = "post",
        operation_id = "create_charge"
    )]
    async fn create_charge(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        body: Json<NewCharge>,
    ) -> ApiResult<ChargeCreated, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, FEE_KEEPERS, false).await?;
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let description = body.description.trim();
        if description.is_empty() {
            return Err(ApiError::invalid("description", "a charge says what it is for").into());
        }
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let row = household_charge::ActiveModel {
            id: Set(new_id()),
            community_id: Set(household.community_id),
            household_id: Set(household.id),
            description: Set(description.into()),
            amount_fen: Set(body.amount_fen),
            ticket_id: Set(None),
            bill_id: Set(None),
            created_by: Set(Some(staff.id)),
            created_at: Set(self.state.clock.now()),
        }
        .insert(&txn)
        .await?;
        let entry = staff
            .audit("create_charge", "charge")
            .object(row.id)
            .community(row.community_id)
            .details(json!({
                "household_id": row.household_id,
                "description": row.description,
                "amount_fen": row.amount_fen,
            }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(ChargeCreated::Created(Json(charge_dto(row))))
    }

    /// List a household's one-off charges
    #[oai(
        path = "/households/:household_id/charges",
        method = "get",
        operation_id = "list_charges"
    )]
    async fn list_charges(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ChargePage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, FEE_KEEPERS, true).await?;
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            household_charge::Entity::find()
                .filter(household_charge::Column::HouseholdId.eq(household.id)),
            household_charge::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        Ok(Json(ChargePage {
            items: rows.into_iter().map(charge_dto).collect(),
            next_cursor,
        }))
    }
}

/// A fee item's audit entry: the item, its community, its name, kind and rate.
fn fee_item_entry(entry: Entry, row: &fee_item::Model) -> Entry {
    entry
        .object(row.id)
        .community(row.community_id)
        .details(json!({
            "name": row.name,
            "kind": row.kind,
            "meter": row.meter,
            "tiers": row.tiers,
            "active": row.active,
        }))
}

fn reading_refused(why: &ReadingError) -> ApiError {
    ApiError::invalid("value", why.to_string())
}
