//! Overdue-fee reminders (催缴) as the office works them: the community's schedule, the
//! reminder record of a household or a bill (every automatic reminder with what reached
//! each resident, and every contact staff recorded), its CSV export, and the follow-ups the
//! last step puts on butlers' task lists. The reminders themselves are sent by the workers'
//! `fee_reminders` job.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{bill, community, delivery, fee_reminder, fee_reminder_bill, follow_up, message},
    fees::{bills::BillState, reminders::ReminderPolicy},
    money::yuan_figures,
    new_id,
    notifications::Category,
    payments::late_fee_on,
    people::StaffRole,
};
use courtyard_store::fees::policy_of;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::{BILL_READERS, FEE_KEEPERS, household_for, reports::today_in};
use crate::{
    ApiTags,
    authz::{ADMINS, BearerAuth},
    error::{ApiError, ApiResult, status::*},
    exports::{CsvExport, csv_export},
    pagination::fetch_page,
    state::AppState,
};

pub mod dto;

use dto::*;

/// Staff who work a household's arrears: the fee keepers and butlers.
const COLLECTORS: &[StaffRole] = BILL_READERS;

/// The most entries a record or an export reads.
const RECORD_ROWS: u64 = 100_000;

/// A recorded contact.
#[derive(ApiResponse)]
pub enum ContactRecorded {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<ReminderEntry>),
}

/// The reminder endpoints.
pub struct FeeRemindersApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Fees")]
impl FeeRemindersApi {
    /// Get the reminder schedule
    ///
    /// The community's overdue-reminder schedule; a community that set none has the
    /// defaults (due soon 3 days ahead; days 1, 7, 15 and 30 after the due date; SMS from
    /// day 15; 09:00–20:00; a follow-up for the butler after the last step).
    #[oai(
        path = "/communities/:community_id/reminder-policy",
        method = "get",
        operation_id = "get_reminder_policy"
    )]
    async fn get_reminder_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
    ) -> ApiResult<Json<ReminderPolicyDto>, { AUTHED | NOT_FOUND }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        Ok(Json(reminder_policy_dto(&ReminderPolicy::from_stored(
            community.reminder_policy.as_ref(),
        ))))
    }

    /// Change the reminder schedule
    ///
    /// Admins only; it applies from the next day's run.
    #[oai(
        path = "/communities/:community_id/reminder-policy",
        method = "put",
        operation_id = "put_reminder_policy"
    )]
    async fn put_reminder_policy(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        body: Json<ReminderPolicyDto>,
    ) -> ApiResult<Json<ReminderPolicyDto>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(ADMINS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let policy = parse_reminder_policy(&body)?;
        crate::communities::store_policy(
            &self.state,
            community.id,
            community::Column::ReminderPolicy,
            &policy,
            staff.audit("put_reminder_policy", "community"),
        )
        .await?;
        Ok(Json(reminder_policy_dto(&policy)))
    }

    /// List a household's reminder record
    ///
    /// The fee keepers and butlers: every automatic reminder (step, the bills, and what
    /// became of each channel for each resident: sent, failed, or suppressed with the
    /// reason) and every contact staff recorded, newest first.
    #[oai(
        path = "/households/:household_id/reminders",
        method = "get",
        operation_id = "list_household_reminders"
    )]
    async fn list_household_reminders(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ReminderPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, COLLECTORS, false).await?;
        let select =
            fee_reminder::Entity::find().filter(fee_reminder::Column::HouseholdId.eq(household.id));
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            fee_reminder::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let items = self.with_deliveries(rows).await?;
        Ok(Json(ReminderPage { items, next_cursor }))
    }

    /// List a bill's reminders
    ///
    /// The fee keepers and butlers: every reminder and contact that was about the bill.
    #[oai(
        path = "/bills/:bill_id/reminders",
        method = "get",
        operation_id = "list_bill_reminders"
    )]
    async fn list_bill_reminders(
        &self,
        auth: BearerAuth,
        bill_id: Path<Uuid>,
    ) -> ApiResult<Json<ReminderPage>, { AUTHED | NOT_FOUND }> {
        let bill = bill::Entity::find_by_id(*bill_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("bill"))?;
        household_for(&self.state, &auth.0, bill.household_id, COLLECTORS, false)
            .await
            .map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::NotFound("bill"),
                other => other,
            })?;
        let ids: Vec<Uuid> = fee_reminder_bill::Entity::find()
            .filter(fee_reminder_bill::Column::BillId.eq(bill.id))
            .all(&self.state.db)
            .await?
            .into_iter()
            .map(|l| l.reminder_id)
            .collect();
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            fee_reminder::Entity::find()
                .filter(fee_reminder::Column::Id.is_in(ids))
                .order_by_desc(fee_reminder::Column::CreatedAt)
                .all(&self.state.db)
                .await?
        };
        let items = self.with_deliveries(rows).await?;
        Ok(Json(ReminderPage {
            items,
            next_cursor: None,
        }))
    }

    /// Record a contact about arrears
    ///
    /// The fee keepers and butlers record a phone call, a visit or a letter (催缴记录) with
    /// a note and the date the resident promised to pay by; it is about the household's
    /// bills that are overdue today, and goes on the same record as the automatic
    /// reminders.
    #[oai(
        path = "/households/:household_id/reminders",
        method = "post",
        operation_id = "record_reminder_contact"
    )]
    async fn record_reminder_contact(
        &self,
        auth: BearerAuth,
        household_id: Path<Uuid>,
        body: Json<NewContact>,
    ) -> ApiResult<ContactRecorded, { AUTHED | NOT_FOUND | VALIDATION }> {
        let household =
            household_for(&self.state, &auth.0, *household_id, COLLECTORS, false).await?;
        let staff = auth.0.staff(COLLECTORS)?;
        let channel = body.contact_channel()?;
        let note = body.note.trim();
        if note.is_empty() {
            return Err(ApiError::invalid("note", "say what was said or agreed").into());
        }
        let community = community::Entity::find_by_id(household.community_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("household"))?;
        let today = today_in(&self.state, &community)?;
        let late_fee = policy_of(&community).late_fee;
        let overdue = bill::Entity::find()
            .filter(bill::Column::HouseholdId.eq(household.id))
            .filter(bill::Column::State.eq(BillState::Open.as_str()))
            .filter(bill::Column::DueOn.lt(today))
            .order_by_asc(bill::Column::DueOn)
            .all(&self.state.db)
            .await?;
        let now = self.state.clock.now();
        let row = fee_reminder::Model {
            id: new_id(),
            community_id: household.community_id,
            household_id: household.id,
            channel: channel.as_str().into(),
            step: None,
            anchor_period: None,
            dedupe_key: None,
            owed_fen: overdue.iter().map(|b| b.amount_fen).sum(),
            late_fee_fen: overdue
                .iter()
                .filter(|b| b.late_fee_waived_at.is_none())
                .map(|b| late_fee_on(&late_fee, b.amount_fen, b.due_on, today))
                .sum(),
            bills: json!(
                overdue
                    .iter()
                    .map(|b| json!({
                        "bill_id": b.id, "period": b.period,
                        "amount_fen": b.amount_fen, "due_on": b.due_on,
                    }))
                    .collect::<Vec<_>>()
            ),
            staff_id: Some(staff.id),
            note: Some(note.to_owned()),
            promised_on: body.promised_on,
            created_at: now,
        };
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        fee_reminder::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        if !overdue.is_empty() {
            fee_reminder_bill::Entity::insert_many(overdue.iter().map(|b| {
                fee_reminder_bill::ActiveModel {
                    reminder_id: Set(row.id),
                    bill_id: Set(b.id),
                }
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        let entry = staff
            .audit("record_reminder_contact", "household")
            .object(household.id)
            .community(household.community_id)
            .details(json!({
                "reminder_id": row.id,
                "channel": row.channel,
                "owed_fen": row.owed_fen,
                "late_fee_fen": row.late_fee_fen,
                "bills": overdue.iter().map(|b| b.id).collect::<Vec<_>>(),
                "promised_on": row.promised_on,
            }));
        courtyard_store::audit::record(&txn, &entry).await?;
        txn.commit().await?;
        Ok(ContactRecorded::Created(Json(reminder_dto(
            row,
            Vec::new(),
        ))))
    }

    /// Export the reminder record as CSV
    ///
    /// The fee keepers: every reminder and contact of the community in `[from, to)`
    /// (default: the last 30 days) as CSV (UTF-8 with a BOM), with each entry's outcome
    /// counts.
    #[oai(
        path = "/communities/:community_id/reminders.csv",
        method = "get",
        operation_id = "export_reminders"
    )]
    async fn export_reminders(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Period start (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Period end, exclusive (RFC 3339).
        to: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<CsvExport, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(FEE_KEEPERS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let to = to.unwrap_or_else(|| self.state.clock.now());
        let from = from.unwrap_or(to - chrono::Duration::days(30));
        if from >= to {
            return Err(ApiError::invalid("from", "from is not before to").into());
        }
        let rows = fee_reminder::Entity::find()
            .filter(fee_reminder::Column::CommunityId.eq(community.id))
            .filter(fee_reminder::Column::CreatedAt.gte(from))
            .filter(fee_reminder::Column::CreatedAt.lt(to))
            .order_by_asc(fee_reminder::Column::CreatedAt)
            .limit(RECORD_ROWS)
            .all(&self.state.db)
            .await?;
        let addresses =
            courtyard_store::addresses::of_community(&self.state.db, community.id).await?;
        let entries = self.with_deliveries(rows).await?;
        let entry = staff
            .audit("export_reminders", "community")
            .object(community.id)
            .community(community.id)
            .details(json!({
                "from": from,
                "to": to,
                "rows": entries.len(),
            }));
        self.state.reads.record(entry).await;
        let count = |e: &ReminderEntry, status: &str| {
            e.deliveries
                .iter()
                .filter(|d| d.status == status)
                .count()
                .to_string()
        };
        let lines = entries.iter().map(|e| {
            vec![
                e.created_at.to_rfc3339(),
                addresses
                    .get(&e.household_id)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                e.channel.text().to_owned(),
                e.step.clone().unwrap_or_default(),
                e.bills
                    .iter()
                    .map(|b| b.period.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                e.owed_fen.to_string(),
                yuan_figures(e.owed_fen),
                e.late_fee_fen.to_string(),
                count(e, "sent"),
                count(e, "suppressed"),
                (e.deliveries.len()
                    - e.deliveries
                        .iter()
                        .filter(|d| matches!(d.status.as_str(), "sent" | "suppressed"))
                        .count())
                .to_string(),
                e.staff_id.map(|s| s.to_string()).unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
                e.promised_on.map(|d| d.to_string()).unwrap_or_default(),
                e.household_id.to_string(),
            ]
        });
        Ok(csv_export(
            &format!("reminders-{}.csv", from.format("%Y-%m-%d")),
            &[
                "at",
                "address",
                "channel",
                "step",
                "periods",
                "owed_fen",
                "owed_yuan",
                "late_fee_fen",
                "sent",
                "suppressed",
                "other",
                "staff_id",
                "note",
                "promised_on",
                "household_id",
            ],
            lines,
        )?)
    }

    /// List follow-ups
    ///
    /// Tasks the last reminder step put on butlers' lists (visit or call about the
    /// arrears). Butlers see their own and those of households nobody is assigned to; the
    /// fee keepers see the community's. Open ones only unless `done=true`.
    #[oai(
        path = "/communities/:community_id/follow-ups",
        method = "get",
        operation_id = "list_follow_ups"
    )]
    async fn list_follow_ups(
        &self,
        auth: BearerAuth,
        community_id: Path<Uuid>,
        /// Done ones instead of open ones.
        done: Query<Option<bool>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<FollowUpPage>, { AUTHED | NOT_FOUND | VALIDATION }> {
        let staff = auth.0.staff(COLLECTORS)?;
        let community = staff.community(&self.state, *community_id).await?;
        let mut select =
            follow_up::Entity::find().filter(follow_up::Column::CommunityId.eq(community.id));
        select = if done.unwrap_or(false) {
            select.filter(follow_up::Column::DoneAt.is_not_null())
        } else {
            select.filter(follow_up::Column::DoneAt.is_null())
        };
        if staff.role == StaffRole::Butler {
            select = select.filter(
                sea_orm::Condition::any()
                    .add(follow_up::Column::ButlerId.eq(staff.id))
                    .add(follow_up::Column::ButlerId.is_null()),
            );
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            follow_up::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let addresses =
            courtyard_store::addresses::of_community(&self.state.db, community.id).await?;
        Ok(Json(FollowUpPage {
            items: rows
                .into_iter()
                .map(|f| {
                    let address = addresses
                        .get(&f.household_id)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    follow_up_dto(f, address)
                })
                .collect(),
            next_cursor,
        }))
    }

    /// Mark a follow-up done
    ///
    /// Its butler (any butler when nobody is assigned), or the fee keepers, with what came
    /// of it; once.
    #[oai(
        path = "/follow-ups/:follow_up_id/done",
        method = "post",
        operation_id = "complete_follow_up"
    )]
    async fn complete_follow_up(
        &self,
        auth: BearerAuth,
        follow_up_id: Path<Uuid>,
        body: Json<FollowUpDone>,
    ) -> ApiResult<Json<FollowUp>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let staff = auth.0.staff(COLLECTORS)?;
        let task = follow_up::Entity::find_by_id(*follow_up_id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("follow-up"))?;
        staff
            .community(&self.state, task.community_id)
            .await
            .map_err(|_| ApiError::NotFound("follow-up"))?;
        if staff.role == StaffRole::Butler && task.butler_id.is_some_and(|b| b != staff.id) {
            return Err(ApiError::NotFound("follow-up").into());
        }
        let note = body.note.trim();
        if note.is_empty() {
            return Err(ApiError::invalid("note", "say what came of it").into());
        }
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let done = follow_up::Entity::update_many()
            .col_expr(follow_up::Column::DoneAt, Expr::value(now))
            .col_expr(follow_up::Column::DoneBy, Expr::value(staff.id))
            .col_expr(follow_up::Column::DoneNote, Expr::value(note))
            .filter(follow_up::Column::Id.eq(task.id))
            .filter(follow_up::Column::DoneAt.is_null())
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(ApiError::Conflict {
                kind: "follow-up-done",
                detail: "the follow-up is done already".into(),
            }
            .into());
        }
        let entry = staff
            .audit("complete_follow_up", "follow_up")
            .object(task.id)
            .community(task.community_id)
            .details(json!({ "household_id": task.household_id }));
        courtyard_store::audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let row = follow_up::Entity::find_by_id(task.id)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("follow-up"))?;
        let address = courtyard_store::addresses::of_community(&self.state.db, row.community_id)
            .await?
            .remove(&row.household_id)
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(Json(follow_up_dto(row, address)))
    }
}

impl FeeRemindersApi {
    /// The entries with the deliveries of their messages (`{dedupe_key}:{resident}`), in a
    /// few queries whatever the number of entries: one household's messages by their key's
    /// prefix, or a community's reminder messages of the entries' days.
    async fn with_deliveries(
        &self,
        rows: Vec<fee_reminder::Model>,
    ) -> Result<Vec<ReminderEntry>, ApiError> {
        let auto: Vec<&fee_reminder::Model> =
            rows.iter().filter(|r| r.dedupe_key.is_some()).collect();
        let mut by_key: HashMap<String, Vec<delivery::Model>> = HashMap::new();
        if let (Some(first), Some(from), Some(to)) = (
            auto.first(),
            auto.iter().map(|r| r.created_at).min(),
            auto.iter().map(|r| r.created_at).max(),
        ) {
            let mut select = message::Entity::find()
                .filter(message::Column::CommunityId.eq(first.community_id))
                .filter(message::Column::Category.eq(Category::FeeReminder.as_str()));
            select = if auto.iter().all(|r| r.household_id == first.household_id) {
                select.filter(
                    message::Column::DedupeKey
                        .starts_with(format!("reminder:{}:", first.household_id)),
                )
            } else {
                // A re-run after a crash writes its messages later the same day.
                select
                    .filter(message::Column::CreatedAt.gte(from))
                    .filter(message::Column::CreatedAt.lt(to + chrono::Duration::days(1)))
            };
            let mut key_of: HashMap<Uuid, String> = HashMap::new();
            for (id, key) in select
                .select_only()
                .column(message::Column::Id)
                .column(message::Column::DedupeKey)
                .into_tuple::<(Uuid, String)>()
                .all(&self.state.db)
                .await?
            {
                if let Some((reminder, _resident)) = key.rsplit_once(':') {
                    key_of.insert(id, reminder.to_owned());
                }
            }
            let ids: Vec<Uuid> = key_of.keys().copied().collect();
            for chunk in ids.chunks(500) {
                for d in delivery::Entity::find()
                    .filter(delivery::Column::MessageId.is_in(chunk.iter().copied()))
                    .order_by_asc(delivery::Column::CreatedAt)
                    .all(&self.state.db)
                    .await?
                {
                    if let Some(key) = key_of.get(&d.message_id) {
                        by_key.entry(key.clone()).or_default().push(d);
                    }
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let deliveries = row
                    .dedupe_key
                    .as_ref()
                    .and_then(|k| by_key.remove(k))
                    .unwrap_or_default();
                reminder_dto(row, deliveries)
            })
            .collect())
    }
}
