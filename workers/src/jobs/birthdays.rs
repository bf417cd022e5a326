//! Birthday greetings: at 09:00 community time (configurable), every resident of the
//! community whose birthday it is gets a greeting in their inbox and by push/WeChat (never
//! SMS), respecting their preferences and quiet hours. A `scheduled_runs` row per community
//! and local date makes each day's run happen once; a scheduler that was down at 09:00
//! catches up when it comes back the same day; the message dedupe key
//! (`birthday:{resident}:{year}`) makes it once per resident per year, whatever runs twice.

use std::collections::BTreeSet;

use anyhow::Context;
use chrono::NaiveTime;
use courtyard_domain::{
    entities::{community, company, household_member, resident, scheduled_run},
    notifications::{Category, Channel, SmsUse, is_birthday, render_birthday},
    org::Timezone,
    people::Locale,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    jobs::fanout::{Composed, Target, deliver_batch},
    pipeline::Pipeline,
};

/// The job's name in logs and in `scheduled_runs`.
pub const NAME: &str = "birthday_greetings";

/// Greets today's birthdays in every community whose greeting time has come; returns how
/// many residents were greeted.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let send_time = NaiveTime::parse_from_str(&p.settings.birthday_time, "%H:%M")
        .context("notifications.birthday_time")?;
    let now = p.clock.now();
    let mut greeted = 0;
    for community in community::Entity::find().all(&p.db).await? {
        let Ok(tz) = Timezone::parse(&community.timezone).map(Timezone::tz) else {
            continue;
        };
        let local = now.with_timezone(&tz);
        if local.time() < send_time {
            continue;
        }
        let today = local.date_naive();
        let done = scheduled_run::Entity::find_by_id((NAME.to_owned(), community.id, today))
            .one(&p.db)
            .await?
            .is_some();
        if done {
            continue;
        }
        let company_name = company::Entity::find_by_id(community.company_id)
            .one(&p.db)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        let members = Query::select()
            .column(household_member::Column::ResidentId)
            .from(household_member::Entity)
            .and_where(household_member::Column::CommunityId.eq(community.id))
            .to_owned();
        let celebrating: Vec<Uuid> = resident::Entity::find()
            .select_only()
            .column(resident::Column::Id)
            .column(resident::Column::Birthday)
            .filter(resident::Column::Id.in_subquery(members))
            .filter(resident::Column::Birthday.is_not_null())
            .into_tuple::<(Uuid, Option<chrono::NaiveDate>)>()
            .all(&p.db)
            .await?
            .into_iter()
            .filter(|(_, birthday)| birthday.is_some_and(|b| is_birthday(b, today)))
            .map(|(id, _)| id)
            .collect();
        let requested: BTreeSet<Channel> = [Channel::Push, Channel::Wechat].into();
        let target = Target {
            community_id: community.id,
            notice_id: None,
            category: Category::Greeting,
            requested: &requested,
            tz,
            sms: SmsUse::Fallback,
        };
        let year = today.format("%Y").to_string();
        for batch in celebrating.chunks(1_000) {
            deliver_batch(p, &target, batch, |r| {
                let rendered = render_birthday(
                    Locale::parse(&r.locale).unwrap_or_default(),
                    &r.name,
                    &company_name,
                );
                Composed {
                    dedupe_key: format!("birthday:{}:{year}", r.id),
                    title: rendered.title,
                    body: rendered.body,
                    data: json!({ "category": "greeting" }),
                }
            })
            .await?;
        }
        greeted += celebrating.len();
        scheduled_run::Entity::insert(scheduled_run::ActiveModel {
            job: Set(NAME.into()),
            community_id: Set(community.id),
            local_date: Set(today),
            items: Set(celebrating.len() as i32),
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
        if !celebrating.is_empty() {
            tracing::info!(community = %community.id, count = celebrating.len(), "birthday greetings");
        }
    }
    Ok(greeted)
}
