//! The bill run: a community's bills for one month, generated in batches of households by a
//! job that reports its progress on its `bill_runs` row. Idempotent: a household that has a
//! live bill for the month gets none (a unique index backs this up against a second run at
//! the same moment), so a retried, reclaimed or repeated run only adds the bills of
//! households that were missing. Each batch commits its bills, their lines, the one-off
//! charges they took up, the progress and the job telling residents, together.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    Clock,
    entities::{
        bill, bill_line, bill_run, community, fee_item, household, household_charge, meter_reading,
    },
    fees::{
        Quantity,
        bills::{self, BillRunState, BillState, Charge, HouseholdFacts, Line, Period, Reading},
        items::{FeeKind, Meter},
    },
    jobs::{BillRun, BillsIssued},
    new_id,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use super::{insert, item_rate, policy_of};
use crate::{is_unique_violation, outbox};

/// Households per batch (one transaction each).
pub const BATCH: usize = 500;
/// A running run whose heartbeat is older than this was lost with its worker and may be
/// taken over.
pub const STALE_AFTER: Duration = Duration::seconds(60);
/// Readings further back than this are not looked at for a meter's previous value.
const LOOKBACK_MONTHS: u32 = 24;

/// What [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end now.
    Finished,
    /// It had finished (or failed) before: nothing to do.
    AlreadyFinished,
    /// Another worker is running it right now.
    Busy,
}

/// Why a run was not started.
#[derive(Debug)]
pub enum StartError {
    /// A run of the same community and month is queued or running.
    InProgress,
    /// The database failed.
    Db(DbErr),
}

/// Queues a bill run of `community_id` for `period`: its row, its job and the request's
/// `audit` entry (its object set to the new run), together.
pub async fn start(
    db: &DatabaseConnection,
    community_id: Uuid,
    period: Period,
    requested_by: Uuid,
    now: DateTime<Utc>,
    audit: Option<&crate::audit::Entry>,
) -> Result<bill_run::Model, StartError> {
    let id = new_id();
    let row = bill_run::Model {
        id,
        community_id,
        period: period.to_string(),
        state: BillRunState::Queued.as_str().into(),
        requested_by,
        households_total: 0,
        households_done: 0,
        bills_created: 0,
        readings_missing: 0,
        error: None,
        created_at: now,
        started_at: None,
        heartbeat_at: None,
        finished_at: None,
    };
    let write = async {
        let txn = crate::begin_write(db).await?;
        bill_run::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        outbox::enqueue(
            &txn,
            &BillRun {
                run_id: id,
                outbox_id: None,
            },
            now,
            now,
        )
        .await?;
        if let Some(entry) = audit {
            crate::audit::record(&txn, &entry.clone().object(id)).await?;
        }
        txn.commit().await
    };
    match write.await {
        Ok(()) => Ok(row),
        Err(e) if is_unique_violation(&e) => Err(StartError::InProgress),
        Err(e) => Err(StartError::Db(e)),
    }
}

/// Runs the bill run `run_id` to its end.
pub async fn run(
    db: &DatabaseConnection,
    run_id: Uuid,
    clock: &dyn Clock,
) -> anyhow::Result<Outcome> {
    let Some(run) = claim(db, run_id, clock.now()).await? else {
        let row = bill_run::Entity::find_by_id(run_id).one(db).await?;
        return Ok(match row.map(|r| r.state) {
            Some(s)
                if s == BillRunState::Running.as_str() || s == BillRunState::Queued.as_str() =>
            {
                Outcome::Busy
            }
            _ => Outcome::AlreadyFinished,
        });
    };
    let Ok(period) = Period::parse(&run.period) else {
        fail(db, run_id, "the run's month is unreadable", clock.now()).await?;
        return Ok(Outcome::Finished);
    };
    let Some(community) = community::Entity::find_by_id(run.community_id)
        .one(db)
        .await?
    else {
        fail(db, run_id, "the community is gone", clock.now()).await?;
        return Ok(Outcome::Finished);
    };
    let plan = Plan::load(db, &community, period, None).await?;
    let total = plan.households.len();
    set_progress(db, run_id, Progress::total(total), clock.now()).await?;

    let mut done = 0;
    let mut created = 0;
    let mut missing = 0;
    for batch in plan.households.chunks(BATCH) {
        let (bills_made, readings_missing) = plan.write_batch(db, &run, batch, clock.now()).await?;
        done += batch.len();
        created += bills_made;
        missing += readings_missing;
        set_progress(
            db,
            run_id,
            Progress {
                total,
                done,
                created: Some(created),
                missing: Some(missing),
            },
            clock.now(),
        )
        .await?;
    }
    bill_run::Entity::update_many()
        .col_expr(
            bill_run::Column::State,
            Expr::value(BillRunState::Done.as_str()),
        )
        .col_expr(bill_run::Column::FinishedAt, Expr::value(clock.now()))
        .filter(bill_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(Outcome::Finished)
}

/// Takes the run: a queued one, or a running one whose worker stopped beating.
async fn claim(
    db: &DatabaseConnection,
    run_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<bill_run::Model>, DbErr> {
    let taken = bill_run::Entity::update_many()
        .col_expr(
            bill_run::Column::State,
            Expr::value(BillRunState::Running.as_str()),
        )
        .col_expr(
            bill_run::Column::StartedAt,
            Expr::col(bill_run::Column::StartedAt).if_null(now),
        )
        .col_expr(bill_run::Column::HeartbeatAt, Expr::value(now))
        .filter(bill_run::Column::Id.eq(run_id))
        .filter(
            bill_run::Column::State
                .eq(BillRunState::Queued.as_str())
                .or(bill_run::Column::State
                    .eq(BillRunState::Running.as_str())
                    .and(bill_run::Column::HeartbeatAt.lt(now - STALE_AFTER))),
        )
        .exec(db)
        .await?;
    if taken.rows_affected == 0 {
        return Ok(None);
    }
    bill_run::Entity::find_by_id(run_id).one(db).await
}

async fn fail(
    db: &DatabaseConnection,
    run_id: Uuid,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    bill_run::Entity::update_many()
        .col_expr(
            bill_run::Column::State,
            Expr::value(BillRunState::Failed.as_str()),
        )
        .col_expr(bill_run::Column::Error, Expr::value(why))
        .col_expr(bill_run::Column::FinishedAt, Expr::value(now))
        .filter(bill_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

struct Progress {
    total: usize,
    done: usize,
    created: Option<usize>,
    missing: Option<usize>,
}

impl Progress {
    fn total(total: usize) -> Self {
        Self {
            total,
            done: 0,
            created: None,
            missing: None,
        }
    }
}

async fn set_progress(
    conn: &impl ConnectionTrait,
    run_id: Uuid,
    progress: Progress,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let mut update = bill_run::Entity::update_many()
        .col_expr(
            bill_run::Column::HouseholdsTotal,
            Expr::value(count(progress.total)),
        )
        .col_expr(
            bill_run::Column::HouseholdsDone,
            Expr::value(count(progress.done)),
        )
        .col_expr(bill_run::Column::HeartbeatAt, Expr::value(now));
    if let Some(created) = progress.created {
        update = update.col_expr(bill_run::Column::BillsCreated, Expr::value(count(created)));
    }
    if let Some(missing) = progress.missing {
        update = update.col_expr(
            bill_run::Column::ReadingsMissing,
            Expr::value(count(missing)),
        );
    }
    update
        .filter(bill_run::Column::Id.eq(run_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Everything a run prices from, read once.
pub(super) struct Plan {
    period: Period,
    due_on: chrono::NaiveDate,
    items: Vec<bills::ItemRate>,
    metered: Vec<Meter>,
    households: Vec<household::Model>,
    /// (household, meter) → (this month's reading, the previous reading's value).
    readings: HashMap<(Uuid, Meter), (Reading, Option<Quantity>)>,
    charges: HashMap<Uuid, Vec<Charge>>,
}

impl Plan {
    /// The plan of `community`'s month, for every household or `only` one.
    pub(super) async fn load(
        db: &impl ConnectionTrait,
        community: &community::Model,
        period: Period,
        only: Option<Uuid>,
    ) -> anyhow::Result<Self> {
        let items = fee_item::Entity::find()
            .filter(fee_item::Column::CommunityId.eq(community.id))
            .filter(fee_item::Column::Active.eq(true))
            .order_by_asc(fee_item::Column::CreatedAt)
            .order_by_asc(fee_item::Column::Id)
            .all(db)
            .await
            .context("loading fee items")?
            .iter()
            .map(item_rate)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("a stored fee item is unreadable: {}", e.0))?;
        let metered: Vec<Meter> = items
            .iter()
            .filter(|i| i.rate.kind == FeeKind::Metered)
            .filter_map(|i| i.rate.meter)
            .collect();
        let mut households = household::Entity::find()
            .filter(household::Column::CommunityId.eq(community.id))
            .order_by_asc(household::Column::Id);
        if let Some(id) = only {
            households = households.filter(household::Column::Id.eq(id));
        }
        let households = households.all(db).await.context("loading households")?;
        let readings = if metered.is_empty() {
            HashMap::new()
        } else {
            Self::readings(db, community.id, period, only).await?
        };
        let mut charges: HashMap<Uuid, Vec<Charge>> = HashMap::new();
        let mut waiting = household_charge::Entity::find()
            .filter(household_charge::Column::CommunityId.eq(community.id))
            .filter(household_charge::Column::BillId.is_null())
            .order_by_asc(household_charge::Column::CreatedAt);
        if let Some(id) = only {
            waiting = waiting.filter(household_charge::Column::HouseholdId.eq(id));
        }
        for c in waiting.all(db).await.context("loading one-off charges")? {
            charges.entry(c.household_id).or_default().push(Charge {
                id: c.id,
                description: c.description,
                amount_fen: c.amount_fen,
            });
        }
        Ok(Self {
            period,
            due_on: policy_of(community).due_date(period),
            items,
            metered,
            households,
            readings,
            charges,
        })
    }

    /// This month's readings with each meter's previous value.
    async fn readings(
        db: &impl ConnectionTrait,
        community_id: Uuid,
        period: Period,
        only: Option<Uuid>,
    ) -> anyhow::Result<HashMap<(Uuid, Meter), (Reading, Option<Quantity>)>> {
        let mut rows = meter_reading::Entity::find();
        if let Some(id) = only {
            rows = rows.filter(meter_reading::Column::HouseholdId.eq(id));
        }
        let rows = rows
            .filter(meter_reading::Column::CommunityId.eq(community_id))
            .filter(meter_reading::Column::Period.lte(period.to_string()))
            .filter(
                meter_reading::Column::Period.gte(period.minus_months(LOOKBACK_MONTHS).to_string()),
            )
            .order_by_asc(meter_reading::Column::Period)
            .all(db)
            .await
            .context("loading meter readings")?;
        let this_month = period.to_string();
        let mut latest_before: HashMap<(Uuid, Meter), Quantity> = HashMap::new();
        let mut current: HashMap<(Uuid, Meter), Reading> = HashMap::new();
        for row in rows {
            let (Ok(meter), Ok(value)) = (
                Meter::parse(&row.meter),
                Quantity::from_milli(row.value_milli),
            ) else {
                continue;
            };
            let key = (row.household_id, meter);
            if row.period == this_month {
                current.insert(
                    key,
                    Reading {
                        value,
                        replacement: row.initial_milli.and_then(|m| Quantity::from_milli(m).ok()),
                    },
                );
            } else {
                // Ascending by month: the last one seen is the latest.
                latest_before.insert(key, value);
            }
        }
        Ok(current
            .into_iter()
            .map(|(key, reading)| (key, (reading, latest_before.get(&key).copied())))
            .collect())
    }

    /// Bills one batch of households; returns the bills created and the metered items left
    /// without a reading.
    async fn write_batch(
        &self,
        db: &DatabaseConnection,
        run: &bill_run::Model,
        batch: &[household::Model],
        now: DateTime<Utc>,
    ) -> anyhow::Result<(usize, usize)> {
        // A unique violation means another run billed some of these households a moment ago:
        // look again and bill the rest.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_batch(db, run, batch, now).await {
                Err(e) if attempts < 3 && is_unique_violation(&e) => continue,
                other => return other.context("writing a batch of bills"),
            }
        }
    }

    async fn try_batch(
        &self,
        db: &DatabaseConnection,
        run: &bill_run::Model,
        batch: &[household::Model],
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), DbErr> {
        let ids: Vec<Uuid> = batch.iter().map(|h| h.id).collect();
        let billed: HashSet<Uuid> = bill::Entity::find()
            .select_only()
            .column(bill::Column::HouseholdId)
            .filter(bill::Column::HouseholdId.is_in(ids))
            .filter(bill::Column::Period.eq(self.period.to_string()))
            .filter(bill::Column::Kind.eq(bill::KIND_FEES))
            .filter(bill::Column::State.ne(BillState::Cancelled.as_str()))
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let rows = self.build(batch, &billed, Some(run.id), None, now);
        let missing = rows.missing;
        if rows.bills.is_empty() {
            return Ok((0, missing));
        }
        let txn = crate::begin_write(db).await?;
        let made = rows.write(&txn, now).await?;
        txn.commit().await?;
        Ok((made.len(), missing))
    }

    /// The rows of the bills of `batch`'s households that have none yet.
    pub(super) fn build(
        &self,
        batch: &[household::Model],
        billed: &HashSet<Uuid>,
        run_id: Option<Uuid>,
        replaces_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> BatchRows {
        let mut rows = BatchRows::default();
        for household in batch.iter().filter(|h| !billed.contains(&h.id)) {
            let (bill_lines, without_reading) = self.lines_of(household);
            rows.missing += without_reading;
            if bill_lines.is_empty() {
                continue;
            }
            let bill_id = new_id();
            rows.bills.push(bill::Model {
                kind: bill::KIND_FEES.into(),
                id: bill_id,
                community_id: household.community_id,
                household_id: household.id,
                period: self.period.to_string(),
                state: BillState::Open.as_str().into(),
                amount_fen: bills::total(&bill_lines),
                due_on: self.due_on,
                run_id,
                replaces_id,
                issued_at: now,
                closed_at: None,
                closed_by: None,
                close_reason: None,
                payment_id: None,
                late_fee_waived_at: None,
                late_fee_waived_by: None,
                late_fee_waive_reason: None,
                updated_at: now,
            });
            rows.ids.push(bill_id);
            let charge_ids: Vec<Uuid> = bill_lines.iter().filter_map(|l| l.charge_id).collect();
            if !charge_ids.is_empty() {
                rows.charges_taken.push((bill_id, charge_ids));
            }
            rows.lines.extend(line_rows(bill_id, bill_lines));
        }
        rows
    }

    /// One household's lines, and how many of its metered items had no reading.
    fn lines_of(&self, household: &household::Model) -> (Vec<Line>, usize) {
        let mut consumption = HashMap::new();
        let mut missing = 0;
        for meter in &self.metered {
            match self
                .readings
                .get(&(household.id, *meter))
                .and_then(|(reading, previous)| reading.consumption(*previous))
            {
                Some(used) => {
                    consumption.insert(*meter, used);
                }
                None => missing += 1,
            }
        }
        let facts = HouseholdFacts {
            floor_area: Quantity::from_centi(household.floor_area_centi_m2)
                .unwrap_or(Quantity::ZERO),
            parking_spaces: i64::from(household.parking_spaces),
        };
        let charges = self
            .charges
            .get(&household.id)
            .map_or(&[][..], Vec::as_slice);
        (
            bills::bill_lines(facts, &self.items, &consumption, charges),
            missing,
        )
    }
}

/// The rows one batch of bills writes.
#[derive(Default)]
pub(super) struct BatchRows {
    ids: Vec<Uuid>,
    bills: Vec<bill::Model>,
    lines: Vec<bill_line::Model>,
    charges_taken: Vec<(Uuid, Vec<Uuid>)>,
    missing: usize,
}

impl BatchRows {
    /// Writes the bills, their lines, the charges they took up and the job telling the
    /// residents; returns the bills' ids.
    pub(super) async fn write(
        self,
        txn: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, DbErr> {
        if self.bills.is_empty() {
            return Ok(Vec::new());
        }
        insert::bills(txn, &self.bills).await?;
        insert::lines(txn, &self.lines).await?;
        for (bill_id, charge_ids) in self.charges_taken {
            household_charge::Entity::update_many()
                .col_expr(household_charge::Column::BillId, Expr::value(bill_id))
                .filter(household_charge::Column::Id.is_in(charge_ids))
                .filter(household_charge::Column::BillId.is_null())
                .exec(txn)
                .await?;
        }
        outbox::enqueue(
            txn,
            &BillsIssued {
                bill_ids: self.ids.clone(),
                outbox_id: None,
            },
            now,
            now,
        )
        .await?;
        Ok(self.ids)
    }
}

fn line_rows(bill_id: Uuid, lines: Vec<Line>) -> impl Iterator<Item = bill_line::Model> {
    lines
        .into_iter()
        .enumerate()
        .map(move |(position, line)| bill_line::Model {
            id: new_id(),
            bill_id,
            position: position as i32 + 1,
            fee_item_id: line.fee_item_id,
            charge_id: line.charge_id,
            name: line.name,
            band: line.band,
            unit: line.unit.as_str().into(),
            quantity_milli: line.quantity.milli(),
            unit_price_centi_fen: line.unit_price.centi_fen(),
            amount_fen: line.amount_fen,
        })
}
