//! The reminder area's bodies: a community's schedule, the reminder record of a household
//! or bill (each entry with what reached the residents), staff contacts, follow-ups.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{delivery, fee_reminder, follow_up},
    fees::reminders::{ContactChannel, ReminderPolicy},
};
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use crate::{error::ApiError, page_of, vocab::Vocab};

/// A community's overdue-reminder schedule (催缴).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ReminderPolicyDto {
    /// Whether reminders go out at all (default true).
    pub enabled: bool,
    /// Days before the due date the "due soon" notice goes, 0–30 (0: none; default 3).
    #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
    pub due_soon_days: u32,
    /// Days after the due date each overdue step goes, ascending, 1–365 each, each once
    /// (default 1, 7, 15, 30).
    #[oai(validator(
        max_items = 12,
        unique_items,
        minimum(value = "1"),
        maximum(value = "365")
    ))]
    pub overdue_days: Vec<u32>,
    /// The first overdue day whose step adds SMS to the inbox and push, 1–365 (default 15).
    #[oai(validator(minimum(value = "1"), maximum(value = "365")))]
    pub sms_from_day: u32,
    /// Start of the daytime window in community time, `HH:MM` (default `"09:00"`).
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub window_from: String,
    /// End of the window, exclusive (default `"20:00"`).
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub window_to: String,
    /// Whether the last step puts a follow-up on the household's butler's task list
    /// (default true).
    pub follow_up: bool,
}

impl Example for ReminderPolicyDto {
    fn example() -> Self {
        reminder_policy_dto(&ReminderPolicy::default())
    }
}

/// The API form of a schedule.
pub fn reminder_policy_dto(p: &ReminderPolicy) -> ReminderPolicyDto {
    ReminderPolicyDto {
        enabled: p.enabled,
        due_soon_days: p.due_soon_days,
        overdue_days: p.overdue_days.clone(),
        sms_from_day: p.sms_from_day,
        window_from: p.window_from.clone(),
        window_to: p.window_to.clone(),
        follow_up: p.follow_up,
    }
}

/// The schedule a body describes, checked.
pub fn parse_reminder_policy(dto: &ReminderPolicyDto) -> Result<ReminderPolicy, ApiError> {
    let policy = ReminderPolicy {
        enabled: dto.enabled,
        due_soon_days: dto.due_soon_days,
        overdue_days: dto.overdue_days.clone(),
        sms_from_day: dto.sms_from_day,
        window_from: dto.window_from.clone(),
        window_to: dto.window_to.clone(),
        follow_up: dto.follow_up,
    };
    policy
        .validate()
        .map_err(|(field, e)| ApiError::invalid(field, e.0))?;
    Ok(policy)
}

/// A bill a reminder was about, as it was then.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RemindedBill {
    /// The bill.
    pub bill_id: Uuid,
    /// Its month, `YYYY-MM`.
    pub period: String,
    /// Its amount, fen.
    pub amount_fen: i64,
}

/// What became of one channel of an automatic reminder.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderDelivery {
    /// The resident it went to.
    pub resident_id: Uuid,
    /// `apns`, `fcm`, `sms` or `wechat` (`push` for a push the resident turned off).
    pub channel: String,
    /// `pending`, `sending`, `retrying`, `sent`, `failed`, `dead`, `invalid_token` or
    /// `suppressed`.
    pub status: String,
    /// Why it failed or was suppressed (`paid`: the bills were paid before it went).
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// When it was sent.
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One entry of the reminder record (催缴记录).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderEntry {
    /// Id.
    pub id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// `auto` for the schedule's reminders; `phone`, `visit` or `letter` for staff
    /// contacts.
    pub channel: Vocab<ContactChannel>,
    /// The schedule's step: `due_soon`, `overdue_1`, `overdue_7`, ...
    #[oai(skip_serializing_if_is_none)]
    pub step: Option<String>,
    /// The month whose due date the step counts from, `YYYY-MM`.
    #[oai(skip_serializing_if_is_none)]
    pub anchor_period: Option<String>,
    /// What the bills came to then, fen.
    pub owed_fen: i64,
    /// Their late fees then, fen.
    pub late_fee_fen: i64,
    /// The bills it was about.
    pub bills: Vec<RemindedBill>,
    /// The staff member who made a contact.
    #[oai(skip_serializing_if_is_none)]
    pub staff_id: Option<Uuid>,
    /// The staff member's note.
    #[oai(skip_serializing_if_is_none)]
    pub note: Option<String>,
    /// The date the resident promised to pay by.
    #[oai(skip_serializing_if_is_none)]
    pub promised_on: Option<NaiveDate>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// For automatic reminders: each channel's outcome per resident.
    pub deliveries: Vec<ReminderDelivery>,
}

/// The API form of a record entry.
pub fn reminder_dto(row: fee_reminder::Model, deliveries: Vec<delivery::Model>) -> ReminderEntry {
    let bills = row
        .bills
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            Some(RemindedBill {
                bill_id: Uuid::parse_str(b["bill_id"].as_str()?).ok()?,
                period: b["period"].as_str()?.to_owned(),
                amount_fen: b["amount_fen"].as_i64()?,
            })
        })
        .collect();
    ReminderEntry {
        id: row.id,
        household_id: row.household_id,
        channel: Vocab::stored(&row.channel),
        step: row.step,
        anchor_period: row.anchor_period,
        owed_fen: row.owed_fen,
        late_fee_fen: row.late_fee_fen,
        bills,
        staff_id: row.staff_id,
        note: row.note,
        promised_on: row.promised_on,
        created_at: row.created_at,
        deliveries: deliveries
            .into_iter()
            .map(|d| ReminderDelivery {
                resident_id: d.resident_id,
                channel: d.channel,
                status: d.status,
                reason: d.last_error,
                sent_at: d.sent_at,
                updated_at: d.updated_at,
            })
            .collect(),
    }
}

/// A contact staff made about a household's arrears.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewContact {
    /// `phone`, `visit` or `letter`.
    pub channel: Vocab<ContactChannel>,
    /// What was said or agreed.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub note: String,
    /// The date the resident promised to pay by.
    #[oai(skip_serializing_if_is_none)]
    pub promised_on: Option<NaiveDate>,
}

impl Example for NewContact {
    fn example() -> Self {
        Self {
            channel: ContactChannel::Phone.into(),
            note: "业主表示月底前缴清".into(),
            promised_on: NaiveDate::from_ymd_opt(2026, 12, 31),
        }
    }
}

impl NewContact {
    /// The channel, which is not `auto`.
    pub fn contact_channel(&self) -> Result<ContactChannel, ApiError> {
        match self.channel.get("channel")? {
            ContactChannel::Auto => Err(ApiError::invalid(
                "channel",
                "staff record phone, visit or letter contacts; auto is the schedule's",
            )),
            other => Ok(other),
        }
    }
}

/// A task on a butler's list.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FollowUp {
    /// Id.
    pub id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// `3栋1单元1203`.
    pub address: String,
    /// The butler whose list it is on (none: nobody is assigned to the household).
    #[oai(skip_serializing_if_is_none)]
    pub butler_id: Option<Uuid>,
    /// `arrears`: visit or call about the arrears.
    pub reason: String,
    /// The reminder that raised it.
    #[oai(skip_serializing_if_is_none)]
    pub reminder_id: Option<Uuid>,
    /// Raised.
    pub created_at: DateTime<Utc>,
    /// Done.
    #[oai(skip_serializing_if_is_none)]
    pub done_at: Option<DateTime<Utc>>,
    /// Who did it.
    #[oai(skip_serializing_if_is_none)]
    pub done_by: Option<Uuid>,
    /// What came of it.
    #[oai(skip_serializing_if_is_none)]
    pub done_note: Option<String>,
}

/// The API form of a follow-up.
pub fn follow_up_dto(row: follow_up::Model, address: String) -> FollowUp {
    FollowUp {
        id: row.id,
        household_id: row.household_id,
        address,
        butler_id: row.butler_id,
        reason: row.reason,
        reminder_id: row.reminder_id,
        created_at: row.created_at,
        done_at: row.done_at,
        done_by: row.done_by,
        done_note: row.done_note,
    }
}

/// A follow-up done.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct FollowUpDone {
    /// What came of it.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub note: String,
}

impl Example for FollowUpDone {
    fn example() -> Self {
        Self {
            note: "已上门，业主承诺本周缴清".into(),
        }
    }
}

page_of!(ReminderPage, ReminderEntry);
page_of!(FollowUpPage, FollowUp);
