//! Bill jobs: the bill run (an admin's "generate November's bills", a `bills.run` outbox
//! row) and telling residents their bills were issued (`bills.issued`, one per batch the
//! run committed). Both settle their outbox row last, so a lost job is relayed again; both
//! are idempotent (the run skips households already billed, messages have dedupe keys).

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use courtyard_domain::{
    entities::{bill, building, community, household, household_member, payment, receipt, unit},
    fees::{
        bills::Period,
        messages::{bill_issued, payment_received},
    },
    jobs::{BillRun, BillsIssued, PaymentReceived},
    notifications::{Category, Channel, SmsUse},
    org::Timezone,
    people::Locale,
};
use courtyard_store::fees::bill_run::{self, Outcome};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::{
    jobs::{
        fanout::{Composed, Target, deliver_batch},
        relay,
    },
    pipeline::Pipeline,
};

/// Runs a bill run to its end, then settles its outbox row. A run another worker is busy
/// with is left to it; its row comes due again and finds the run finished.
pub async fn run(p: &Pipeline, job: &BillRun) -> anyhow::Result<()> {
    let outcome = bill_run::run(&p.db, job.run_id, p.clock.as_ref())
        .await
        .with_context(|| format!("bill run {}", job.run_id))?;
    tracing::info!(run = %job.run_id, ?outcome, "bill run");
    if outcome != Outcome::Busy
        && let Some(id) = job.outbox_id
    {
        relay::settle(p, id).await?;
    }
    Ok(())
}

/// Tells every member of each bill's household, by inbox and push, that the bill is out.
pub async fn issued(p: &Pipeline, job: &BillsIssued) -> anyhow::Result<()> {
    let bills = bill::Entity::find()
        .filter(p.one_of(bill::Column::Id, &job.bill_ids))
        .all(&p.db)
        .await
        .context("loading the issued bills")?;
    if let Some(first) = bills.first() {
        let community = community::Entity::find_by_id(first.community_id)
            .one(&p.db)
            .await?
            .context("the bills' community")?;
        let tz = Timezone::parse(&community.timezone)
            .map_err(|e| anyhow::anyhow!(e))?
            .tz();
        let household_ids: Vec<Uuid> = bills.iter().map(|b| b.household_id).collect();
        let addresses = addresses(p, &household_ids).await?;
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (resident, household) in household_member::Entity::find()
            .select_only()
            .column(household_member::Column::ResidentId)
            .column(household_member::Column::HouseholdId)
            .filter(p.one_of(household_member::Column::HouseholdId, &household_ids))
            .into_tuple::<(Uuid, Uuid)>()
            .all(&p.db)
            .await
            .context("loading the households' members")?
        {
            members.entry(household).or_default().push(resident);
        }
        let requested: BTreeSet<Channel> = [Channel::Push, Channel::Wechat].into();
        let target = Target {
            community_id: community.id,
            notice_id: None,
            category: Category::Bill,
            requested: &requested,
            tz,
            sms: SmsUse::Fallback,
        };
        for b in &bills {
            let Some(residents) = members.get(&b.household_id) else {
                continue;
            };
            let period = Period::parse(&b.period).map_err(|e| anyhow::anyhow!(e))?;
            let address = addresses.get(&b.household_id).map_or("", String::as_str);
            deliver_batch(p, &target, residents, |r| {
                let locale = Locale::parse(&r.locale).unwrap_or_default();
                let text = bill_issued(
                    locale,
                    &community.name,
                    address,
                    period,
                    b.amount_fen,
                    b.due_on,
                );
                Composed {
                    dedupe_key: format!("bill:{}:{}", b.id, r.id),
                    title: text.title,
                    body: text.body,
                    data: json!({
                        "bill_id": b.id.to_string(),
                        "household_id": b.household_id.to_string(),
                        "category": Category::Bill.as_str(),
                        "period": b.period,
                        "amount_fen": b.amount_fen,
                    }),
                }
            })
            .await
            .context("telling a household of its bill")?;
        }
    }
    if let Some(id) = job.outbox_id {
        relay::settle(p, id).await?;
    }
    Ok(())
}

/// Tells the payer (or, for an offline payment, every member of the household) that the
/// payment went through, with its receipt number.
pub async fn received(p: &Pipeline, job: &PaymentReceived) -> anyhow::Result<()> {
    if let Some(paid) = payment::Entity::find_by_id(job.payment_id)
        .one(&p.db)
        .await
        .context("loading the payment")?
        && let Some(receipt) = receipt::Entity::find()
            .filter(receipt::Column::PaymentId.eq(paid.id))
            .one(&p.db)
            .await
            .context("loading the receipt")?
    {
        let residents: Vec<Uuid> = match paid.payer_id {
            Some(payer) => vec![payer],
            None => household_member::Entity::find()
                .select_only()
                .column(household_member::Column::ResidentId)
                .filter(household_member::Column::HouseholdId.eq(paid.household_id))
                .into_tuple()
                .all(&p.db)
                .await
                .context("loading the household's members")?,
        };
        let community = community::Entity::find_by_id(paid.community_id)
            .one(&p.db)
            .await?
            .context("the payment's community")?;
        let tz = Timezone::parse(&community.timezone)
            .map_err(|e| anyhow::anyhow!(e))?
            .tz();
        let requested: BTreeSet<Channel> = [Channel::Push, Channel::Wechat].into();
        let target = Target {
            community_id: community.id,
            notice_id: None,
            category: Category::Bill,
            requested: &requested,
            tz,
            sms: SmsUse::Fallback,
        };
        deliver_batch(p, &target, &residents, |r| {
            let text = payment_received(
                Locale::parse(&r.locale).unwrap_or_default(),
                paid.amount_fen,
                &receipt.number,
            );
            Composed {
                dedupe_key: format!("payment:{}:{}", paid.id, r.id),
                title: text.title,
                body: text.body,
                data: json!({
                    "payment_id": paid.id.to_string(),
                    "receipt_number": receipt.number,
                    "category": Category::Bill.as_str(),
                    "amount_fen": paid.amount_fen,
                }),
            }
        })
        .await
        .context("telling the payer")?;
    }
    if let Some(id) = job.outbox_id {
        relay::settle(p, id).await?;
    }
    Ok(())
}

/// `3栋1单元1203` per household.
async fn addresses(p: &Pipeline, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, String>> {
    let households = household::Entity::find()
        .filter(p.one_of(household::Column::Id, ids))
        .all(&p.db)
        .await?;
    let building_ids: Vec<Uuid> = households.iter().map(|h| h.building_id).collect();
    let unit_ids: Vec<Uuid> = households.iter().map(|h| h.unit_id).collect();
    let buildings: HashMap<Uuid, String> = building::Entity::find()
        .filter(p.one_of(building::Column::Id, &building_ids))
        .all(&p.db)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    let units: HashMap<Uuid, String> = unit::Entity::find()
        .filter(p.one_of(unit::Column::Id, &unit_ids))
        .all(&p.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(households
        .into_iter()
        .map(|h| {
            let b = buildings.get(&h.building_id).map_or("", String::as_str);
            let u = units.get(&h.unit_id).map_or("", String::as_str);
            (h.id, format!("{b}{u}{}", h.room_number))
        })
        .collect())
}
