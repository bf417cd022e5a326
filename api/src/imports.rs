//! Bulk import of the household roll (CSV). The file is checked whole first; a file with
//! any bad row is refused with every row's errors and nothing written. A valid file is
//! written in one transaction, in batches; importing it again updates instead of
//! duplicating.

use std::collections::HashMap;

use courtyard_domain::{
    entities::{building, household, household_member, resident, unit},
    imports::{RollRow, RowError, parse_roll},
    new_id,
};
use courtyard_store::audit;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApi,
    error::ContentTypeError,
    param::{Path, Query},
    payload::{Json, ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, ROLL_KEEPERS},
    error::{ApiError, ApiResult, FieldError, status::*},
    state::AppState,
};

/// Rows per multi-row INSERT: well under SQLite's and PostgreSQL's parameter limits.
const BATCH: usize = 500;

/// A CSV upload: `text/csv` (any charset parameter), read whole; UTF-8 with or without a
/// BOM. Each import's operation says which columns it takes.
pub struct CsvFile(pub Vec<u8>);

impl Payload for CsvFile {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/csv"))
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            ..MetaSchema::new("string")
        }))
    }
}

impl ParsePayload for CsvFile {
    const IS_REQUIRED: bool = true;

    async fn from_request(
        request: &poem::Request,
        body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        Ok(Self(
            <Vec<u8> as poem::FromRequest>::from_request(request, body).await?,
        ))
    }
}

impl<'a> ApiExtractor<'a> for CsvFile {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("CSV, UTF-8 with or without a BOM, with a header row."),
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// A file refused: 422 with one entry per problem (`row`, `field` = column, `message`).
pub fn rows_refused(errors: Vec<RowError>) -> ApiError {
    ApiError::Validation {
        detail: format!(
            "the file has {} problem(s); nothing was imported",
            errors.len()
        ),
        errors: errors
            .into_iter()
            .map(|e| FieldError {
                field: e.column,
                message: e.reason,
                row: Some(e.row as u32),
            })
            .collect(),
    }
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Default, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u32,
    /// Whether nothing was written (dry run).
    pub dry_run: bool,
    /// Buildings created.
    pub buildings_created: u32,
    /// Units created.
    pub units_created: u32,
    /// Households created.
    pub households_created: u32,
    /// Households whose floor or area changed.
    pub households_updated: u32,
    /// Residents created.
    pub residents_created: u32,
    /// Residents whose name, birthday or locale changed.
    pub residents_updated: u32,
    /// Memberships created.
    pub memberships_created: u32,
    /// Memberships whose role changed.
    pub memberships_updated: u32,
}

/// The import endpoints.
pub struct ImportsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Imports")]
impl ImportsApi {
    /// Import households and residents from CSV
    ///
    /// All or nothing: a file with any invalid row answers 422 with one entry per problem
    /// (`row`, `field` = column, `message`) and writes nothing. Re-importing updates
    /// households (floor, area), residents (name, birthday, locale) and membership roles.
    ///
    /// Columns: `building`, `unit`, `room`, `area_m2` (required), `floor`, `name`, `phone`,
    /// `role` (owner/tenant/family), `birthday` (YYYY-MM-DD), `locale`; Chinese headers (楼栋,
    /// 单元, 房号, 面积, 楼层, 姓名, 手机, 身份, 生日, 语言) work too. One row per household and
    /// resident.
    #[oai(
        path = "/communities/:community_id/roll-imports",
        method = "post",
        operation_id = "import_roll"
    )]
    async fn import_roll(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Check the file and report what would change, writing nothing.
        dry_run: Query<Option<bool>>,
        body: CsvFile,
    ) -> ApiResult<Json<ImportReport>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ROLL_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let CsvFile(bytes) = body;
        let rows = tokio::task::spawn_blocking(move || parse_roll(&bytes))
            .await
            .map_err(|e| anyhow::anyhow!("roll parser panicked: {e}"))?
            .map_err(rows_refused)?;
        let dry_run = dry_run.unwrap_or(false);
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        // Take the write lock before reading (SQLite): a transaction that reads and then
        // writes fails when another writer commits in between.
        courtyard_domain::entities::community::Entity::update_many()
            .col_expr(
                courtyard_domain::entities::community::Column::UpdatedAt,
                sea_orm::sea_query::Expr::col(
                    courtyard_domain::entities::community::Column::UpdatedAt,
                ),
            )
            .filter(courtyard_domain::entities::community::Column::Id.eq(community.id))
            .exec(&txn)
            .await?;
        let report = write_roll(
            &txn,
            &self.state,
            community.company_id,
            community.id,
            &rows,
            dry_run,
        )
        .await?;
        if dry_run {
            txn.rollback().await?;
        } else {
            let entry = staff
                .audit("import_roll", "community")
                .object(community.id)
                .community(community.id)
                .details(serde_json::json!({
                    "rows": report.rows,
                    "households_created": report.households_created,
                    "households_updated": report.households_updated,
                    "residents_created": report.residents_created,
                    "residents_updated": report.residents_updated,
                    "memberships_created": report.memberships_created,
                    "memberships_updated": report.memberships_updated,
                }));
            audit::record(&txn, &entry).await?;
            txn.commit().await?;
        }
        tracing::info!(community = %community.id, rows = report.rows, dry_run, "roll imported");
        Ok(Json(report))
    }
}

/// Writes a parsed roll into `community` within `txn`.
pub async fn write_roll(
    txn: &DatabaseTransaction,
    state: &AppState,
    company_id: Uuid,
    community_id: Uuid,
    rows: &[RollRow],
    dry_run: bool,
) -> Result<ImportReport, ApiError> {
    let now = state.clock.now();
    let mut report = ImportReport {
        rows: rows.len() as u32,
        dry_run,
        ..ImportReport::default()
    };

    // Buildings.
    let mut buildings: HashMap<String, Uuid> = building::Entity::find()
        .filter(building::Column::CommunityId.eq(community_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|b| (b.name, b.id))
        .collect();
    let mut new_buildings = Vec::new();
    for row in rows {
        let name = row.household.building.as_str();
        if !buildings.contains_key(name) {
            let id = new_id();
            buildings.insert(name.to_owned(), id);
            new_buildings.push(building::ActiveModel {
                id: Set(id),
                community_id: Set(community_id),
                name: Set(name.to_owned()),
                created_at: Set(now),
            });
        }
    }
    report.buildings_created = new_buildings.len() as u32;
    insert_batched::<building::Entity, _>(txn, new_buildings).await?;

    // Units.
    let mut units: HashMap<(Uuid, String), Uuid> = unit::Entity::find()
        .filter(unit::Column::CommunityId.eq(community_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|u| ((u.building_id, u.name), u.id))
        .collect();
    let mut new_units = Vec::new();
    for row in rows {
        let building_id = buildings[row.household.building.as_str()];
        let key = (building_id, row.household.unit.as_str().to_owned());
        if !units.contains_key(&key) {
            let id = new_id();
            units.insert(key.clone(), id);
            new_units.push(unit::ActiveModel {
                id: Set(id),
                community_id: Set(community_id),
                building_id: Set(building_id),
                name: Set(key.1),
                created_at: Set(now),
            });
        }
    }
    report.units_created = new_units.len() as u32;
    insert_batched::<unit::Entity, _>(txn, new_units).await?;

    // Households.
    let mut households: HashMap<(Uuid, String), household::Model> = household::Entity::find()
        .filter(household::Column::CommunityId.eq(community_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|h| ((h.unit_id, h.room_number.clone()), h))
        .collect();
    let mut new_households = Vec::new();
    let mut household_of_row = Vec::with_capacity(rows.len());
    for row in rows {
        let h = &row.household;
        let building_id = buildings[h.building.as_str()];
        let unit_id = units[&(building_id, h.unit.as_str().to_owned())];
        let key = (unit_id, h.room.as_str().to_owned());
        match households.get(&key) {
            Some(existing) => {
                if existing.floor != h.floor || existing.floor_area_centi_m2 != h.area.centi_m2() {
                    let mut active = existing.clone().into_active_model();
                    active.floor = Set(h.floor);
                    active.floor_area_centi_m2 = Set(h.area.centi_m2());
                    active.updated_at = Set(now);
                    let updated = active.update(txn).await?;
                    report.households_updated += 1;
                    households.insert(key.clone(), updated);
                }
            }
            None => {
                let model = household::Model {
                    id: new_id(),
                    community_id,
                    building_id,
                    unit_id,
                    room_number: key.1.clone(),
                    floor: h.floor,
                    floor_area_centi_m2: h.area.centi_m2(),
                    parking_spaces: 0,
                    created_at: now,
                    updated_at: now,
                };
                new_households.push(model.clone().into_active_model());
                households.insert(key.clone(), model);
            }
        }
        household_of_row.push(households[&key].id);
    }
    report.households_created = new_households.len() as u32;
    insert_batched::<household::Entity, _>(txn, new_households).await?;

    // Residents, by phone within the company.
    let phones: Vec<String> = {
        let mut phones: Vec<String> = rows
            .iter()
            .filter_map(|r| r.resident.as_ref().map(|p| p.phone.as_str().to_owned()))
            .collect();
        phones.sort();
        phones.dedup();
        phones
    };
    let mut residents: HashMap<String, resident::Model> = HashMap::new();
    for chunk in phones.chunks(BATCH) {
        for r in resident::Entity::find()
            .filter(resident::Column::CompanyId.eq(company_id))
            .filter(resident::Column::Phone.is_in(chunk.iter().cloned()))
            .all(txn)
            .await?
        {
            residents.insert(r.phone.clone(), r);
        }
    }
    let mut new_residents = Vec::new();
    // A resident listed in several rows (one per household) is described by their first row.
    let mut described = std::collections::HashSet::new();
    for row in rows {
        let Some(p) = &row.resident else { continue };
        let phone = p.phone.as_str();
        if !described.insert(phone) {
            continue;
        }
        match residents.get(phone) {
            Some(existing) => {
                let changed = existing.name != p.name.as_str()
                    || existing.birthday != p.birthday
                    || existing.locale != p.locale.as_str();
                if changed {
                    let mut active = existing.clone().into_active_model();
                    active.name = Set(p.name.as_str().into());
                    active.birthday = Set(p.birthday);
                    active.locale = Set(p.locale.as_str().into());
                    active.updated_at = Set(now);
                    let updated = active.update(txn).await?;
                    report.residents_updated += 1;
                    residents.insert(phone.to_owned(), updated);
                }
            }
            None => {
                let model = resident::Model {
                    id: new_id(),
                    company_id,
                    name: p.name.as_str().into(),
                    phone: phone.to_owned(),
                    birthday: p.birthday,
                    locale: p.locale.as_str().into(),
                    wechat_openid: None,
                    quiet_start: None,
                    quiet_end: None,
                    created_at: now,
                    updated_at: now,
                    erased_at: None,
                };
                new_residents.push(model.clone().into_active_model());
                residents.insert(phone.to_owned(), model);
            }
        }
    }
    report.residents_created = new_residents.len() as u32;
    insert_batched::<resident::Entity, _>(txn, new_residents).await?;

    // Memberships.
    let mut members: HashMap<(Uuid, Uuid), household_member::Model> =
        household_member::Entity::find()
            .filter(household_member::Column::CommunityId.eq(community_id))
            .all(txn)
            .await?
            .into_iter()
            .map(|m| ((m.household_id, m.resident_id), m))
            .collect();
    let mut new_members = Vec::new();
    for (row, household_id) in rows.iter().zip(&household_of_row) {
        let Some(p) = &row.resident else { continue };
        let resident_id = residents[p.phone.as_str()].id;
        let key = (*household_id, resident_id);
        match members.get(&key) {
            Some(existing) if existing.role != p.role.as_str() => {
                let mut active = existing.clone().into_active_model();
                active.role = Set(p.role.as_str().into());
                let updated = active.update(txn).await?;
                report.memberships_updated += 1;
                members.insert(key, updated);
            }
            Some(_) => {}
            None => {
                let model = household_member::Model {
                    household_id: *household_id,
                    resident_id,
                    community_id,
                    role: p.role.as_str().into(),
                    created_at: now,
                };
                new_members.push(model.clone().into_active_model());
                members.insert(key, model);
            }
        }
    }
    report.memberships_created = new_members.len() as u32;
    insert_batched::<household_member::Entity, _>(txn, new_members).await?;
    Ok(report)
}

async fn insert_batched<E, C>(db: &C, rows: Vec<E::ActiveModel>) -> Result<(), ApiError>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(BATCH).collect();
        E::insert_many(batch).exec_without_returning(db).await?;
    }
    Ok(())
}
