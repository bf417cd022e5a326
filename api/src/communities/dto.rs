//! The communities area's wire types: communities, their office hours, buildings, units.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{building, community, unit},
    org::WorkingHours,
};
use poem_openapi::{
    ApiResponse, Object,
    payload::Json,
    types::{Example, MaybeUndefined},
};
use uuid::Uuid;

use crate::{
    error::{ApiError, FieldContext},
    page_of,
};

/// A community.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Community {
    /// Id.
    pub id: Uuid,
    /// Name, unique within the company.
    pub name: String,
    /// Street address.
    pub address: Option<String>,
    /// IANA time zone; dates of this community are in it.
    pub timezone: String,
    /// Office hours, for SLA clocks counted in working time.
    pub working_hours: WorkingHoursDto,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Office hours of a community.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WorkingHoursDto {
    /// Opening time, `HH:MM`.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub start: String,
    /// Closing time, `HH:MM`.
    #[oai(validator(pattern = r"^\d{2}:\d{2}$"))]
    pub end: String,
    /// Working weekdays, 1 (Monday) to 7.
    #[oai(validator(
        max_items = 7,
        unique_items,
        minimum(value = "1"),
        maximum(value = "7")
    ))]
    pub days: Vec<u8>,
    /// Public holidays, ISO dates.
    #[oai(validator(max_items = 366))]
    pub holidays: Vec<String>,
}

impl Default for WorkingHoursDto {
    fn default() -> Self {
        Self {
            start: "09:00".into(),
            end: "18:00".into(),
            days: vec![1, 2, 3, 4, 5, 6, 7],
            holidays: Vec::new(),
        }
    }
}

/// A new community.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewCommunity {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Street address.
    #[oai(validator(max_length = 256))]
    pub address: Option<String>,
    /// IANA time zone; `Asia/Shanghai` when absent.
    #[oai(validator(max_length = 64))]
    pub timezone: Option<String>,
    /// Office hours; 09:00–18:00 every day when absent.
    pub working_hours: Option<WorkingHoursDto>,
}

impl Example for NewCommunity {
    fn example() -> Self {
        Self {
            name: "翠湖花园".into(),
            address: Some("上海市浦东新区翠湖路 88 号".into()),
            timezone: Some("Asia/Shanghai".into()),
            working_hours: Some(WorkingHoursDto {
                holidays: vec!["2026-10-01".into()],
                ..WorkingHoursDto::default()
            }),
        }
    }
}

/// Changes to a community; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CommunityPatch {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// Street address; `null` clears it.
    #[oai(validator(max_length = 256))]
    pub address: MaybeUndefined<String>,
    /// IANA time zone.
    #[oai(validator(max_length = 64))]
    pub timezone: Option<String>,
    /// Office hours.
    pub working_hours: Option<WorkingHoursDto>,
}

/// A building.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Building {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Name (`3栋`), unique within the community.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A unit of a building.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Unit {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Building.
    pub building_id: Uuid,
    /// Name (`1单元`), unique within the building.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A name for a new or renamed building or unit.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NameBody {
    /// Name.
    #[oai(validator(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
}

impl Example for NameBody {
    fn example() -> Self {
        Self {
            name: "3栋".into()
        }
    }
}

page_of!(CommunityPage, Community);
page_of!(BuildingPage, Building);
page_of!(UnitPage, Unit);

/// A created community.
#[derive(ApiResponse)]
pub enum CommunityCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Community>),
}

/// A created building.
#[derive(ApiResponse)]
pub enum BuildingCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Building>),
}

/// A created unit.
#[derive(ApiResponse)]
pub enum UnitCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Unit>),
}

/// Deleted.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Done,
}

pub(super) fn parse_hours(hours: &WorkingHoursDto) -> Result<WorkingHours, ApiError> {
    WorkingHours::parse(&hours.start, &hours.end, &hours.days, &hours.holidays)
        .field("working_hours")
}

/// The API form of a community row.
pub fn community_dto(row: community::Model) -> Community {
    Community {
        id: row.id,
        name: row.name,
        address: row.address,
        timezone: row.timezone,
        working_hours: WorkingHoursDto {
            start: row.work_start,
            end: row.work_end,
            days: serde_json::from_value(row.work_days).unwrap_or_default(),
            holidays: serde_json::from_value(row.holidays).unwrap_or_default(),
        },
        created_at: row.created_at,
    }
}

pub(super) fn building_dto(row: building::Model) -> Building {
    Building {
        id: row.id,
        community_id: row.community_id,
        name: row.name,
        created_at: row.created_at,
    }
}

pub(super) fn unit_dto(row: unit::Model) -> Unit {
    Unit {
        id: row.id,
        community_id: row.community_id,
        building_id: row.building_id,
        name: row.name,
        created_at: row.created_at,
    }
}
