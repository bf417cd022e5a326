//! Meter readings: one per household, meter and month, checked against the meter's previous
//! reading. Entering the same month again updates it.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::meter_reading,
    fees::{
        Quantity,
        bills::{Period, Reading, ReadingError},
        items::Meter,
    },
    new_id,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// One reading to record.
#[derive(Debug, Clone)]
pub struct NewReading {
    /// The household's community.
    pub community_id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// Which meter.
    pub meter: Meter,
    /// The month it is for.
    pub period: Period,
    /// The value read.
    pub reading: Reading,
    /// `manual` or `import`.
    pub source: &'static str,
    /// Who entered it.
    pub entered_by: Option<Uuid>,
}

/// Why a reading was not recorded.
#[derive(Debug)]
pub enum RecordError {
    /// It does not fit the meter's previous reading.
    Refused(ReadingError),
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for RecordError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// The latest reading of `meter` before `period`.
pub async fn previous(
    conn: &impl ConnectionTrait,
    household_id: Uuid,
    meter: Meter,
    period: Period,
) -> Result<Option<Quantity>, DbErr> {
    let row = meter_reading::Entity::find()
        .filter(meter_reading::Column::HouseholdId.eq(household_id))
        .filter(meter_reading::Column::Meter.eq(meter.as_str()))
        .filter(meter_reading::Column::Period.lt(period.to_string()))
        .order_by_desc(meter_reading::Column::Period)
        .one(conn)
        .await?;
    Ok(row.and_then(|r| Quantity::from_milli(r.value_milli).ok()))
}

/// Records a reading (or updates the month's reading), after checking it against the
/// previous one; returns the row and whether it was new.
pub async fn record(
    conn: &impl ConnectionTrait,
    new: &NewReading,
    now: DateTime<Utc>,
) -> Result<(meter_reading::Model, bool), RecordError> {
    let before = previous(conn, new.household_id, new.meter, new.period).await?;
    new.reading.check(before).map_err(RecordError::Refused)?;
    let existing = meter_reading::Entity::find()
        .filter(meter_reading::Column::HouseholdId.eq(new.household_id))
        .filter(meter_reading::Column::Meter.eq(new.meter.as_str()))
        .filter(meter_reading::Column::Period.eq(new.period.to_string()))
        .one(conn)
        .await?;
    let initial = new.reading.replacement.map(Quantity::milli);
    match existing {
        Some(row) => {
            let mut active = row.into_active_model();
            active.value_milli = Set(new.reading.value.milli());
            active.initial_milli = Set(initial);
            active.source = Set(new.source.into());
            active.entered_by = Set(new.entered_by);
            active.updated_at = Set(now);
            Ok((active.update(conn).await?, false))
        }
        None => {
            let row = meter_reading::ActiveModel {
                id: Set(new_id()),
                community_id: Set(new.community_id),
                household_id: Set(new.household_id),
                meter: Set(new.meter.as_str().into()),
                period: Set(new.period.to_string()),
                value_milli: Set(new.reading.value.milli()),
                initial_milli: Set(initial),
                source: Set(new.source.into()),
                entered_by: Set(new.entered_by),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(conn)
            .await?;
            Ok((row, true))
        }
    }
}
