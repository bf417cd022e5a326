//! Importing a month's meter readings from a parsed file, all or nothing: every row's
//! household is found by its address, every reading is checked against the meter's
//! previous one (an earlier month in the same file, else the latest stored), and only a
//! file without a single problem is written, in one transaction. A reading already stored
//! for the household, meter and month is updated.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::meter_reading,
    fees::{Quantity, bills::Period, items::Meter},
    imports::{ReadingRow, RowError},
    new_id,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::addresses::Address;

/// Rows per multi-row INSERT: 11 columns, well under both databases' parameter limits.
const BATCH: usize = 500;

/// What an import wrote (or, for a dry run, would write).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Readings recorded for the first time.
    pub created: u32,
    /// Readings that replaced the month's stored value.
    pub updated: u32,
}

/// Why nothing was imported.
#[derive(Debug)]
pub enum ImportError {
    /// These rows do not fit the community or their meters.
    Rows(Vec<RowError>),
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for ImportError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// A stored reading, as far as the check needs it.
struct Stored {
    id: Uuid,
    value: Quantity,
}

/// Imports `rows` into `community_id`'s households, entered by `entered_by`; writes
/// nothing when `dry_run`. The import's `audit` entry is recorded with the readings (the
/// counts created and updated added to its details); a dry run records nothing.
pub async fn import(
    db: &DatabaseConnection,
    community_id: Uuid,
    rows: &[ReadingRow],
    entered_by: Uuid,
    now: DateTime<Utc>,
    dry_run: bool,
    audit: Option<&crate::audit::Entry>,
) -> Result<Imported, ImportError> {
    let txn = crate::begin_write(db).await?;
    let addresses: HashMap<Address, Uuid> = crate::addresses::of_community(&txn, community_id)
        .await?
        .into_iter()
        .map(|(id, address)| (address, id))
        .collect();
    let mut errors = Vec::new();
    let mut found: Vec<(&ReadingRow, Uuid)> = Vec::with_capacity(rows.len());
    for row in rows {
        let address = Address {
            building: row.building.as_str().to_owned(),
            unit: row.unit.as_str().to_owned(),
            room: row.room.as_str().to_owned(),
        };
        match addresses.get(&address) {
            Some(&household_id) => found.push((row, household_id)),
            None => errors.push(RowError {
                row: row.row,
                column: "room".into(),
                reason: format!("no household {address} in this community"),
            }),
        }
    }
    let latest = found.iter().map(|(r, _)| r.period).max();
    let mut stored = match latest {
        Some(latest) => stored_until(&txn, community_id, latest).await?,
        None => HashMap::new(),
    };
    // Each meter's rows in month order, so a file with two months checks the second
    // against the first.
    found.sort_by_key(|(r, household)| (*household, r.meter.as_str(), r.period));
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    for (row, household_id) in &found {
        let history = stored.entry((*household_id, row.meter)).or_default();
        let previous = history
            .range(..row.period)
            .next_back()
            .map(|(_, s)| s.value);
        if let Err(why) = row.reading.check(previous) {
            errors.push(RowError {
                row: row.row,
                column: "reading".into(),
                reason: why.to_string(),
            });
            continue;
        }
        let initial = row.reading.replacement.map(Quantity::milli);
        match history.get(&row.period) {
            Some(existing) => updates.push((existing.id, row.reading.value.milli(), initial)),
            None => inserts.push(meter_reading::ActiveModel {
                id: Set(new_id()),
                community_id: Set(community_id),
                household_id: Set(*household_id),
                meter: Set(row.meter.as_str().into()),
                period: Set(row.period.to_string()),
                value_milli: Set(row.reading.value.milli()),
                initial_milli: Set(initial),
                source: Set("import".into()),
                entered_by: Set(Some(entered_by)),
                created_at: Set(now),
                updated_at: Set(now),
            }),
        }
        history.insert(
            row.period,
            Stored {
                id: Uuid::nil(),
                value: row.reading.value,
            },
        );
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(ImportError::Rows(errors));
    }
    let imported = Imported {
        created: inserts.len() as u32,
        updated: updates.len() as u32,
    };
    if dry_run {
        txn.rollback().await?;
        return Ok(imported);
    }
    for (id, value_milli, initial_milli) in updates {
        meter_reading::Entity::update_many()
            .col_expr(meter_reading::Column::ValueMilli, Expr::value(value_milli))
            .col_expr(
                meter_reading::Column::InitialMilli,
                Expr::value(initial_milli),
            )
            .col_expr(meter_reading::Column::Source, Expr::value("import"))
            .col_expr(meter_reading::Column::EnteredBy, Expr::value(entered_by))
            .col_expr(meter_reading::Column::UpdatedAt, Expr::value(now))
            .filter(meter_reading::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    let mut inserts = inserts.into_iter().peekable();
    while inserts.peek().is_some() {
        let batch: Vec<_> = inserts.by_ref().take(BATCH).collect();
        meter_reading::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await?;
    }
    if let Some(entry) = audit {
        let mut entry = entry.clone();
        if let Some(details) = entry.details.as_object_mut() {
            details.insert("created".into(), imported.created.into());
            details.insert("updated".into(), imported.updated.into());
        }
        crate::audit::record(&txn, &entry).await?;
    }
    txn.commit().await?;
    Ok(imported)
}

/// Every stored reading of the community up to `latest`, by household and meter, in month
/// order.
async fn stored_until(
    conn: &impl ConnectionTrait,
    community_id: Uuid,
    latest: Period,
) -> Result<HashMap<(Uuid, Meter), BTreeMap<Period, Stored>>, DbErr> {
    let rows: Vec<(Uuid, Uuid, String, String, i64)> = meter_reading::Entity::find()
        .select_only()
        .column(meter_reading::Column::Id)
        .column(meter_reading::Column::HouseholdId)
        .column(meter_reading::Column::Meter)
        .column(meter_reading::Column::Period)
        .column(meter_reading::Column::ValueMilli)
        .filter(meter_reading::Column::CommunityId.eq(community_id))
        .filter(meter_reading::Column::Period.lte(latest.to_string()))
        .into_tuple()
        .all(conn)
        .await?;
    let mut stored: HashMap<(Uuid, Meter), BTreeMap<Period, Stored>> = HashMap::new();
    for (id, household_id, meter, period, value_milli) in rows {
        let (Ok(meter), Ok(period), Ok(value)) = (
            Meter::parse(&meter),
            Period::parse(&period),
            Quantity::from_milli(value_milli),
        ) else {
            continue;
        };
        stored
            .entry((household_id, meter))
            .or_default()
            .insert(period, Stored { id, value });
    }
    Ok(stored)
}
