//! Overdue-fee reminders (催缴): once a day per community, at the first tick inside its
//! daytime window, every household with open bills gets the step of its schedule that is
//! due (a due-soon notice before the due date; overdue steps after it, anchored on its
//! oldest overdue bill): one reminder per household and step listing every bill it is
//! about, in each member's inbox and by push, with SMS from the policy's SMS step on, and by
//! WeChat to members with an unused one-time subscription consent.
//!
//! Idempotent: a reminder's dedupe key (`reminder:{household}:{period}:{step}`) and its
//! messages' keys make a re-run (a killed worker, a second scheduler) add nothing, and the
//! `scheduled_runs` row is written last, so a run that died is done again. A step that came
//! due outside the window waits for the window's next opening; after downtime only the
//! latest due step goes. The sender drops a reminder whose bills were all paid in the
//! meantime (recorded as suppressed, "paid"). The last step raises a follow-up on the
//! household's butler's task list.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use chrono::NaiveDate;
use courtyard_domain::{
    entities::{
        bill, bill_line, butler_assignment, community, fee_reminder, fee_reminder_bill, follow_up,
        household_member, scheduled_run, staff,
    },
    fees::{
        bills::{BillState, Period},
        policy::FeePolicy,
        reminders::{ContactChannel, Owed, ReminderPolicy, Step, reminder_text},
    },
    new_id,
    notifications::{Category, Channel, SmsUse},
    org::Timezone,
    payments::late_fee_on,
    people::Locale,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    jobs::fanout::{Composed, Target, deliver_batch},
    pipeline::{CHUNK, Pipeline},
};

/// The job's name in logs and in `scheduled_runs`.
pub const NAME: &str = "fee_reminders";

/// Residents per delivery batch.
const BATCH: usize = 1_000;

/// One household's reminder of one step, before it is written.
struct Planned {
    id: Uuid,
    household_id: Uuid,
    step: Step,
    anchor: Period,
    due_on: NaiveDate,
    bills: Vec<bill::Model>,
    /// Each bill as the message lists it.
    owed: Vec<Owed>,
    late_fee_fen: i64,
}

impl Planned {
    fn dedupe_key(&self) -> String {
        format!(
            "reminder:{}:{}:{}",
            self.household_id,
            self.anchor,
            self.step.key()
        )
    }

    fn owed_fen(&self) -> i64 {
        self.bills.iter().map(|b| b.amount_fen).sum()
    }
}

/// Sends what is due in every community whose window is open and whose run for today has
/// not finished; returns how many reminders it planned.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    if !p.settings.fee_reminders {
        return Ok(0);
    }
    let now = p.clock.now();
    let mut planned_total = 0;
    for community in community::Entity::find().all(&p.db).await? {
        let Ok(tz) = Timezone::parse(&community.timezone).map(Timezone::tz) else {
            continue;
        };
        let policy = ReminderPolicy::from_stored(community.reminder_policy.as_ref());
        let local = now.with_timezone(&tz);
        if !policy.enabled || !policy.in_window(local.time()) {
            continue;
        }
        let today = local.date_naive();
        if scheduled_run::Entity::find_by_id((NAME.to_owned(), community.id, today))
            .one(&p.db)
            .await?
            .is_some()
        {
            continue;
        }
        let planned = plan(p, &community, &policy, today).await?;
        let written = write(p, &community, &policy, &planned).await?;
        let recorded: Vec<(Uuid, &Planned)> =
            written.iter().map(|&(id, i)| (id, &planned[i])).collect();
        deliver(p, &community, &policy, tz, &recorded).await?;
        planned_total += written.len();
        scheduled_run::Entity::insert(scheduled_run::ActiveModel {
            job: Set(NAME.into()),
            community_id: Set(community.id),
            local_date: Set(today),
            items: Set(i32::try_from(written.len()).unwrap_or(i32::MAX)),
            ran_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                scheduled_run::Column::Job,
                scheduled_run::Column::CommunityId,
                scheduled_run::Column::LocalDate,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&p.db)
        .await?;
        if !written.is_empty() {
            tracing::info!(community = %community.id, reminders = written.len(), "fee reminders");
        }
    }
    Ok(planned_total)
}

/// The reminders due today: per household, the due overdue step (anchored on its oldest
/// overdue bill, listing every overdue bill) and a due-soon notice for bills about to fall
/// due.
async fn plan(
    p: &Pipeline,
    community: &community::Model,
    policy: &ReminderPolicy,
    today: NaiveDate,
) -> anyhow::Result<Vec<Planned>> {
    let fees = FeePolicy::from_stored(community.fee_policy.as_ref());
    let mut by_household: BTreeMap<Uuid, Vec<bill::Model>> = BTreeMap::new();
    for b in bill::Entity::find()
        .filter(bill::Column::CommunityId.eq(community.id))
        .filter(bill::Column::State.eq(BillState::Open.as_str()))
        .all(&p.db)
        .await
        .context("loading open bills")?
    {
        by_household.entry(b.household_id).or_default().push(b);
    }
    // What each bill charges for, for the message.
    let ids: Vec<Uuid> = by_household.values().flatten().map(|b| b.id).collect();
    let mut items: HashMap<Uuid, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        for (bill_id, name) in bill_line::Entity::find()
            .select_only()
            .column(bill_line::Column::BillId)
            .column(bill_line::Column::Name)
            .filter(p.one_of(bill_line::Column::BillId, chunk))
            .order_by_asc(bill_line::Column::Position)
            .into_tuple::<(Uuid, String)>()
            .all(&p.db)
            .await
            .context("loading bill lines")?
        {
            let names = items.entry(bill_id).or_default();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut planned = Vec::new();
    for (household_id, mut bills) in by_household {
        bills.sort_by(|a, b| (a.due_on, &a.period).cmp(&(b.due_on, &b.period)));
        let (overdue, upcoming): (Vec<_>, Vec<_>) =
            bills.into_iter().partition(|b| b.due_on < today);
        if let Some(anchor) = overdue.first()
            && let Some(step) = policy.overdue_step(anchor.due_on, today)
            && let Ok(period) = Period::parse(&anchor.period)
        {
            let late_fee_fen = overdue
                .iter()
                .filter(|b| b.late_fee_waived_at.is_none())
                .map(|b| late_fee_on(&fees.late_fee, b.amount_fen, b.due_on, today))
                .sum();
            planned.push(Planned {
                id: new_id(),
                household_id,
                step,
                anchor: period,
                due_on: anchor.due_on,
                owed: owed(&overdue, &items),
                bills: overdue,
                late_fee_fen,
            });
        }
        let soon: Vec<bill::Model> = upcoming
            .into_iter()
            .filter(|b| policy.due_soon(b.due_on, today))
            .collect();
        if let Some(first) = soon.first()
            && let Ok(period) = Period::parse(&first.period)
        {
            let due_on = first.due_on;
            planned.push(Planned {
                id: new_id(),
                household_id,
                step: Step::DueSoon,
                anchor: period,
                due_on,
                owed: owed(&soon, &items),
                bills: soon,
                late_fee_fen: 0,
            });
        }
    }
    Ok(planned)
}

/// `bills` as a message lists them.
fn owed(bills: &[bill::Model], items: &HashMap<Uuid, Vec<String>>) -> Vec<Owed> {
    bills
        .iter()
        .filter_map(|b| {
            Some(Owed {
                period: Period::parse(&b.period).ok()?,
                items: items.get(&b.id).cloned().unwrap_or_default(),
                amount_fen: b.amount_fen,
            })
        })
        .collect()
}

/// Records the planned reminders (a re-run finds them recorded and takes their ids), the
/// bills each is about, and the follow-ups of last steps; returns them with their ids.
async fn write(
    p: &Pipeline,
    community: &community::Model,
    policy: &ReminderPolicy,
    planned: &[Planned],
) -> anyhow::Result<Vec<(Uuid, usize)>> {
    let now = p.clock.now();
    let rows: Vec<fee_reminder::ActiveModel> = planned
        .iter()
        .map(|r| fee_reminder::ActiveModel {
            id: Set(r.id),
            community_id: Set(community.id),
            household_id: Set(r.household_id),
            channel: Set(ContactChannel::Auto.as_str().into()),
            step: Set(Some(r.step.key())),
            anchor_period: Set(Some(r.anchor.to_string())),
            dedupe_key: Set(Some(r.dedupe_key())),
            owed_fen: Set(r.owed_fen()),
            late_fee_fen: Set(r.late_fee_fen),
            bills: Set(json!(
                r.bills
                    .iter()
                    .map(|b| json!({
                        "bill_id": b.id, "period": b.period,
                        "amount_fen": b.amount_fen, "due_on": b.due_on,
                    }))
                    .collect::<Vec<_>>()
            )),
            staff_id: Set(None),
            note: Set(None),
            promised_on: Set(None),
            created_at: Set(now),
        })
        .collect();
    courtyard_store::deliveries::insert_ignoring_duplicates::<fee_reminder::Entity>(
        &p.db,
        rows,
        fee_reminder::Column::DedupeKey,
    )
    .await
    .context("recording reminders")?;
    // The ids as recorded: this run's, or an earlier run's for the same key.
    let index: HashMap<String, usize> = planned
        .iter()
        .enumerate()
        .map(|(i, r)| (r.dedupe_key(), i))
        .collect();
    let keys: Vec<String> = index.keys().cloned().collect();
    let mut written = Vec::with_capacity(planned.len());
    for chunk in keys.chunks(CHUNK) {
        for (id, key) in fee_reminder::Entity::find()
            .select_only()
            .column(fee_reminder::Column::Id)
            .column(fee_reminder::Column::DedupeKey)
            .filter(fee_reminder::Column::DedupeKey.is_in(chunk.iter().cloned()))
            .into_tuple::<(Uuid, Option<String>)>()
            .all(&p.db)
            .await?
        {
            if let Some(&i) = key.as_ref().and_then(|k| index.get(k)) {
                written.push((id, i));
            }
        }
    }
    written.sort_by_key(|&(_, i)| i);
    let links: Vec<fee_reminder_bill::ActiveModel> = written
        .iter()
        .flat_map(|&(id, i)| {
            planned[i]
                .bills
                .iter()
                .map(move |b| fee_reminder_bill::ActiveModel {
                    reminder_id: Set(id),
                    bill_id: Set(b.id),
                })
        })
        .collect();
    for batch in links.chunks(500) {
        fee_reminder_bill::Entity::insert_many(batch.to_vec())
            .on_conflict(
                OnConflict::columns([
                    fee_reminder_bill::Column::ReminderId,
                    fee_reminder_bill::Column::BillId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&p.db)
            .await
            .context("linking reminders to their bills")?;
    }
    if policy.follow_up {
        let butlers = butlers(p, community.id).await?;
        let follow_ups: Vec<follow_up::ActiveModel> = written
            .iter()
            .filter(|&&(_, i)| policy.is_last(planned[i].step))
            .map(|&(id, i)| follow_up::ActiveModel {
                id: Set(new_id()),
                community_id: Set(community.id),
                household_id: Set(planned[i].household_id),
                butler_id: Set(butlers.of(planned[i].household_id)),
                reason: Set("arrears".into()),
                reminder_id: Set(Some(id)),
                created_at: Set(now),
                done_at: Set(None),
                done_by: Set(None),
                done_note: Set(None),
            })
            .collect();
        courtyard_store::deliveries::insert_ignoring_duplicates::<follow_up::Entity>(
            &p.db,
            follow_ups,
            follow_up::Column::ReminderId,
        )
        .await
        .context("raising follow-ups")?;
    }
    Ok(written)
}

/// Sends each recorded reminder to its household's members: inbox and push, SMS added
/// from the SMS step on. Members who belong to two reminded households (or get a due-soon
/// notice besides an overdue step) get each in its own round.
async fn deliver(
    p: &Pipeline,
    community: &community::Model,
    policy: &ReminderPolicy,
    tz: chrono_tz::Tz,
    planned: &[(Uuid, &Planned)],
) -> anyhow::Result<()> {
    if planned.is_empty() {
        return Ok(());
    }
    let household_ids: Vec<Uuid> = planned.iter().map(|r| r.1.household_id).collect();
    let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for chunk in household_ids.chunks(CHUNK) {
        for (household_id, resident_id) in household_member::Entity::find()
            .select_only()
            .column(household_member::Column::HouseholdId)
            .column(household_member::Column::ResidentId)
            .filter(p.one_of(household_member::Column::HouseholdId, chunk))
            .into_tuple::<(Uuid, Uuid)>()
            .all(&p.db)
            .await?
        {
            members.entry(household_id).or_default().push(resident_id);
        }
    }
    let addresses = courtyard_store::addresses::of_community(&p.db, community.id).await?;
    // WeChat only for residents with an unused one-time subscription consent (the sender
    // takes one per message).
    let everyone: Vec<Uuid> = members.values().flatten().copied().collect();
    let consenting: HashSet<Uuid> =
        courtyard_store::consents::holders(&p.db, &everyone, Category::FeeReminder.as_str())
            .await?
            .into_iter()
            .collect();
    // Rounds: within one, each resident has one reminder; split by whether SMS is added
    // and whether WeChat may be used.
    let mut rounds: BTreeMap<(usize, bool, bool), HashMap<Uuid, usize>> = BTreeMap::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for (i, (_, r)) in planned.iter().enumerate() {
        for resident in members.get(&r.household_id).into_iter().flatten() {
            let round = seen.entry(*resident).or_insert(0);
            let key = (
                *round,
                policy.sends_sms(r.step),
                consenting.contains(resident),
            );
            rounds.entry(key).or_default().insert(*resident, i);
            *round += 1;
        }
    }
    for ((_, sms, wechat), recipients) in rounds {
        let mut requested: BTreeSet<Channel> = [Channel::Push].into();
        if sms {
            requested.insert(Channel::Sms);
        }
        if wechat {
            requested.insert(Channel::Wechat);
        }
        let target = Target {
            community_id: community.id,
            notice_id: None,
            category: Category::FeeReminder,
            requested: &requested,
            tz,
            sms: SmsUse::Also,
        };
        let residents: Vec<Uuid> = recipients.keys().copied().collect();
        for batch in residents.chunks(BATCH) {
            deliver_batch(p, &target, batch, |resident| {
                let (id, r) = &planned[recipients[&resident.id]];
                let place = format!(
                    "{}{}",
                    community.name,
                    addresses
                        .get(&r.household_id)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                let text = reminder_text(
                    Locale::parse(&resident.locale).unwrap_or_default(),
                    r.step,
                    &place,
                    &r.owed,
                    r.late_fee_fen,
                    r.due_on,
                );
                let bill_ids: Vec<String> = r.bills.iter().map(|b| b.id.to_string()).collect();
                Composed {
                    dedupe_key: format!("{}:{}", r.dedupe_key(), resident.id),
                    title: text.title,
                    body: text.body,
                    data: json!({
                        "category": Category::FeeReminder.as_str(),
                        "reminder_id": id.to_string(),
                        "household_id": r.household_id.to_string(),
                        "step": r.step.key(),
                        "bill_ids": bill_ids.join(","),
                        "amount_fen": r.owed_fen(),
                    }),
                }
            })
            .await
            .context("sending reminders")?;
        }
    }
    Ok(())
}

/// The butler of each household: assigned to it, else to its building (the earliest
/// assignment of an active butler).
struct Butlers {
    households: HashMap<Uuid, Uuid>,
    buildings: HashMap<Uuid, Uuid>,
    building_of: HashMap<Uuid, Uuid>,
}

impl Butlers {
    fn of(&self, household_id: Uuid) -> Option<Uuid> {
        self.households.get(&household_id).copied().or_else(|| {
            self.building_of
                .get(&household_id)
                .and_then(|b| self.buildings.get(b))
                .copied()
        })
    }
}

async fn butlers(p: &Pipeline, community_id: Uuid) -> anyhow::Result<Butlers> {
    let active = Query::select()
        .column(staff::Column::Id)
        .from(staff::Entity)
        .and_where(staff::Column::Active.eq(true))
        .to_owned();
    let mut assignments = butler_assignment::Entity::find()
        .filter(butler_assignment::Column::CommunityId.eq(community_id))
        .filter(butler_assignment::Column::StaffId.in_subquery(active))
        .all(&p.db)
        .await?;
    assignments.sort_by_key(|a| a.created_at);
    let mut butlers = Butlers {
        households: HashMap::new(),
        buildings: HashMap::new(),
        building_of: HashMap::new(),
    };
    for a in assignments {
        if let Some(h) = a.household_id {
            butlers.households.entry(h).or_insert(a.staff_id);
        } else if let Some(b) = a.building_id {
            butlers.buildings.entry(b).or_insert(a.staff_id);
        }
    }
    for h in courtyard_domain::entities::household::Entity::find()
        .filter(courtyard_domain::entities::household::Column::CommunityId.eq(community_id))
        .all(&p.db)
        .await?
    {
        butlers.building_of.insert(h.id, h.building_id);
    }
    Ok(butlers)
}
