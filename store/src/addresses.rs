//! Households' addresses (`3栋1单元1203`) as people write them: building, unit and room
//! names, read for a whole community in three queries.

use std::{collections::HashMap, fmt};

use courtyard_domain::entities::{building, household, unit};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// A household's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Building name (楼栋).
    pub building: String,
    /// Unit name (单元).
    pub unit: String,
    /// Room number (房号).
    pub room: String,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.building, self.unit, self.room)
    }
}

/// Every household of `community_id` with its address.
pub async fn of_community(
    conn: &impl ConnectionTrait,
    community_id: Uuid,
) -> Result<HashMap<Uuid, Address>, DbErr> {
    let buildings: HashMap<Uuid, String> = building::Entity::find()
        .filter(building::Column::CommunityId.eq(community_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    let units: HashMap<Uuid, String> = unit::Entity::find()
        .filter(unit::Column::CommunityId.eq(community_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(household::Entity::find()
        .filter(household::Column::CommunityId.eq(community_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|h| {
            let address = Address {
                building: buildings.get(&h.building_id).cloned().unwrap_or_default(),
                unit: units.get(&h.unit_id).cloned().unwrap_or_default(),
                room: h.room_number,
            };
            (h.id, address)
        })
        .collect())
}
