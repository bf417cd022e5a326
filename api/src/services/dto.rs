//! The services area's request and response bodies.

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{service, service_slot, service_team},
    services::{PayWhen, Pricing, ServiceCategory, ServicePolicy, packages::UnusedVisits},
    tickets::Department,
};
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use crate::{error::ApiError, page_of, tickets::reports::SpanDto, vocab::Vocab};

/// A new service team.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewTeam {
    /// Name, unique in the community.
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: String,
    /// The department it belongs to: cleaning, greenery or engineering.
    pub department: Vocab<Department>,
    /// The staff member who gets the work orders; one of the members.
    pub leader_id: Uuid,
    /// Its members (the leader is added when missing), staff of the community in the
    /// department's role.
    #[oai(validator(max_items = 100))]
    pub member_ids: Vec<Uuid>,
    /// How many crews work at once: each slot takes this many bookings (1–100).
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub size: u32,
    /// The length of one slot, minutes: 30 to 480 in half hours (default 120).
    #[oai(validator(minimum(value = "30"), maximum(value = "480"), multiple_of = "30"))]
    pub slot_minutes: Option<u32>,
}

impl Example for NewTeam {
    fn example() -> Self {
        Self {
            name: "保洁一组".into(),
            department: Vocab::Known(Department::Cleaning),
            leader_id: Uuid::nil(),
            member_ids: vec![],
            size: 3,
            slot_minutes: Some(120),
        }
    }
}

/// Changes to a team; absent fields stay. Slots already written keep their capacity.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TeamPatch {
    /// Name.
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: Option<String>,
    /// The leader; one of the members.
    pub leader_id: Option<Uuid>,
    /// The members, replacing the list.
    #[oai(validator(max_items = 100))]
    pub member_ids: Option<Vec<Uuid>>,
    /// Crews at once (1–100).
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub size: Option<u32>,
    /// Slot length, minutes.
    #[oai(validator(minimum(value = "30"), maximum(value = "480"), multiple_of = "30"))]
    pub slot_minutes: Option<u32>,
    /// Whether it takes bookings.
    pub active: Option<bool>,
}

/// A service team.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Team {
    /// Id.
    pub id: Uuid,
    /// The community.
    pub community_id: Uuid,
    /// Name.
    pub name: String,
    /// Department.
    pub department: Vocab<Department>,
    /// Who gets the work orders.
    pub leader_id: Uuid,
    /// Members, the leader among them.
    pub member_ids: Vec<Uuid>,
    /// Crews at once: each slot's capacity.
    pub size: u32,
    /// Slot length, minutes.
    pub slot_minutes: u32,
    /// Whether it takes bookings.
    pub active: bool,
}

page_of!(TeamPage, Team);

/// The API form of a team row and its members.
pub fn team_dto(row: service_team::Model, member_ids: Vec<Uuid>) -> Team {
    Team {
        id: row.id,
        community_id: row.community_id,
        name: row.name,
        department: Vocab::stored(&row.department),
        leader_id: row.leader_id,
        member_ids,
        size: u32::try_from(row.size).unwrap_or(0),
        slot_minutes: u32::try_from(row.slot_minutes).unwrap_or(0),
        active: row.active,
    }
}

/// A new entry of the price list.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewService {
    /// The team that does it.
    pub team_id: Uuid,
    /// Cleaning, greenery, laundry or other.
    pub category: Vocab<ServiceCategory>,
    /// Name, unique in the community (`日常保洁（钟点）`).
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: String,
    /// What it includes, shown to residents.
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    /// Fixed, per hour, per item, or quoted on site.
    pub pricing: Vocab<Pricing>,
    /// The price, or the price of one hour or item, fen; none for a quoted service.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub price_fen: Option<i64>,
    /// Per hour: the fewest hours booked (1–12, default 1).
    #[oai(validator(minimum(value = "1"), maximum(value = "12")))]
    pub min_quantity: Option<u32>,
    /// How long a job takes, minutes (default: one slot of the team).
    #[oai(validator(minimum(value = "15"), maximum(value = "480")))]
    pub duration_minutes: Option<u32>,
    /// Paid at booking (fixed prices only) or after the work; default by pricing.
    pub pay: Option<Vocab<PayWhen>>,
    /// Links to photos of the service.
    #[oai(validator(max_items = 10, max_length = 500))]
    pub photos: Option<Vec<String>>,
    /// Order on the price list (default 0).
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<u32>,
    /// A monthly package: its visits a month (1–31); `price_fen` is the month's price.
    #[oai(validator(minimum(value = "1"), maximum(value = "31")))]
    pub visits_per_month: Option<u32>,
}

impl Example for NewService {
    fn example() -> Self {
        Self {
            team_id: Uuid::nil(),
            category: Vocab::Known(ServiceCategory::Cleaning),
            name: "日常保洁（钟点）".into(),
            description: Some("地面、厨房、卫生间清洁，自带工具".into()),
            pricing: Vocab::Known(Pricing::PerHour),
            price_fen: Some(5_000),
            min_quantity: Some(2),
            duration_minutes: Some(120),
            pay: Some(Vocab::Known(PayWhen::After)),
            photos: None,
            position: Some(1),
            visits_per_month: None,
        }
    }
}

/// Changes to a price-list entry; absent fields stay. Bookings made before keep the
/// price they were booked at.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ServicePatch {
    /// Name.
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: Option<String>,
    /// Description.
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    /// The price, fen (not for a quoted service).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub price_fen: Option<i64>,
    /// Per hour: the fewest hours.
    #[oai(validator(minimum(value = "1"), maximum(value = "12")))]
    pub min_quantity: Option<u32>,
    /// Photos, replacing the list.
    #[oai(validator(max_items = 10, max_length = 500))]
    pub photos: Option<Vec<String>>,
    /// Order on the price list.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub position: Option<u32>,
    /// Whether residents can book it.
    pub active: Option<bool>,
    /// A monthly package: its visits a month (1–31), for months subscribed from now on.
    #[oai(validator(minimum(value = "1"), maximum(value = "31")))]
    pub visits_per_month: Option<u32>,
}

/// An entry of a community's public price list.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Service {
    /// Id.
    pub id: Uuid,
    /// The community.
    pub community_id: Uuid,
    /// The team that does it.
    pub team_id: Uuid,
    /// Category.
    pub category: Vocab<ServiceCategory>,
    /// Name.
    pub name: String,
    /// What it includes.
    pub description: String,
    /// How it is priced.
    pub pricing: Vocab<Pricing>,
    /// The price, or of one hour or item, fen; absent for a quoted service.
    #[oai(skip_serializing_if_is_none)]
    pub price_fen: Option<i64>,
    /// The price as residents read it (`¥50.00/小时`, `现场报价`).
    pub price_label: String,
    /// Per hour: the fewest hours.
    pub min_quantity: u32,
    /// How long a job takes, minutes.
    pub duration_minutes: u32,
    /// When it is paid.
    pub pay: Vocab<PayWhen>,
    /// Photos.
    pub photos: Vec<String>,
    /// Order on the list.
    pub position: u32,
    /// Whether it can be booked.
    pub active: bool,
    /// A monthly package's visits a month.
    #[oai(skip_serializing_if_is_none)]
    pub visits_per_month: Option<u32>,
}

page_of!(ServicePage, Service);

/// The API form of a price-list row.
pub fn service_dto(row: service::Model) -> Service {
    let pricing = Vocab::<Pricing>::stored(&row.pricing);
    let yuan = row.price_fen.map(courtyard_domain::money::yuan);
    let price_label = match (&pricing, yuan) {
        (Vocab::Known(Pricing::PerHour), Some(y)) => format!("{y}/小时"),
        (Vocab::Known(Pricing::PerItem), Some(y)) => format!("{y}/件"),
        (Vocab::Known(Pricing::Quoted), _) => "现场报价".into(),
        (Vocab::Known(Pricing::Package), Some(y)) => match row.visits_per_month {
            Some(n) => format!("{y}/月（{n} 次）"),
            None => format!("{y}/月"),
        },
        (_, Some(y)) => y,
        (_, None) => "现场报价".into(),
    };
    Service {
        id: row.id,
        community_id: row.community_id,
        team_id: row.team_id,
        category: Vocab::stored(&row.category),
        name: row.name,
        description: row.description,
        pricing,
        price_fen: row.price_fen,
        price_label,
        min_quantity: u32::try_from(row.min_quantity).unwrap_or(1),
        duration_minutes: u32::try_from(row.duration_minutes).unwrap_or(0),
        pay: Vocab::stored(&row.pay),
        photos: serde_json::from_value(row.photos).unwrap_or_default(),
        position: u32::try_from(row.position).unwrap_or(0),
        active: row.active,
        visits_per_month: row.visits_per_month.and_then(|v| u32::try_from(v).ok()),
    }
}

/// One slot of a team's day.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Slot {
    /// Id: book it with this.
    pub id: Uuid,
    /// The team.
    pub team_id: Uuid,
    /// Starts.
    pub starts_at: DateTime<Utc>,
    /// Ends.
    pub ends_at: DateTime<Utc>,
    /// Bookings it takes.
    pub capacity: u32,
    /// Bookings it holds.
    pub booked: u32,
    /// Places left.
    pub free: u32,
    /// Whether it can be booked now (a free place, inside the booking window).
    pub bookable: bool,
}

/// The API form of a slot row.
pub fn slot_dto(row: service_slot::Model, bookable: bool) -> Slot {
    let capacity = u32::try_from(row.capacity).unwrap_or(0);
    let booked = u32::try_from(row.booked).unwrap_or(0);
    let free = capacity.saturating_sub(booked);
    Slot {
        id: row.id,
        team_id: row.team_id,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        capacity,
        booked,
        free,
        bookable: bookable && free > 0,
    }
}

/// A slot's capacity, changed by the office: 0 closes it; never fewer than it holds.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SlotPatch {
    /// Bookings it takes (0–100).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub capacity: u32,
}

/// A community's booking rules. The defaults follow the service manuals.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ServicePolicyDto {
    /// From booking to the time confirmed (or another slot proposed).
    pub confirm: SpanDto,
    /// From the slot's start to the staff at the door.
    pub arrive_grace: SpanDto,
    /// From the slot's end to the work done.
    pub complete_grace: SpanDto,
    /// A resident cancels free until this many hours before the slot (0–336).
    #[oai(validator(minimum(value = "0"), maximum(value = "336")))]
    pub cancel_notice_hours: u32,
    /// A later cancellation costs this share of the price, percent (0–100).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub late_cancel_fee_percent: u8,
    /// ...and at least this much, fen.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000")))]
    pub late_cancel_min_fen: i64,
    /// How far ahead slots open, days (1–90).
    #[oai(validator(minimum(value = "1"), maximum(value = "90")))]
    pub book_ahead_days: u32,
    /// How soon a slot may start after booking, minutes (0–10080).
    #[oai(validator(minimum(value = "0"), maximum(value = "10080")))]
    pub lead_minutes: u32,
    /// A booking paid before and not paid within this many minutes is cancelled (5–1440).
    #[oai(validator(minimum(value = "5"), maximum(value = "1440")))]
    pub pay_within_minutes: u32,
    /// Days a bill for work paid after has before it falls due (1–60).
    #[oai(validator(minimum(value = "1"), maximum(value = "60")))]
    pub pay_after_days: u32,
    /// Monthly packages: visits the resident skipped `lapse` at the month's end (the
    /// default) or `carry` over on renewal.
    #[oai(default = "default_unused")]
    pub package_unused: Vocab<UnusedVisits>,
    /// Monthly packages: a visit's booking is issued this many days before it (1–14,
    /// default 2).
    #[oai(
        default = "default_issue_days",
        validator(minimum(value = "1"), maximum(value = "14"))
    )]
    pub visit_issue_days: u32,
}

fn default_unused() -> Vocab<UnusedVisits> {
    Vocab::Known(ServicePolicy::default().package_unused)
}

fn default_issue_days() -> u32 {
    ServicePolicy::default().visit_issue_days
}

impl Example for ServicePolicyDto {
    fn example() -> Self {
        policy_dto(&ServicePolicy::default())
    }
}

/// The API form of a policy.
pub fn policy_dto(p: &ServicePolicy) -> ServicePolicyDto {
    ServicePolicyDto {
        confirm: SpanDto::from_span(p.confirm),
        arrive_grace: SpanDto::from_span(p.arrive_grace),
        complete_grace: SpanDto::from_span(p.complete_grace),
        cancel_notice_hours: p.cancel_notice_hours,
        late_cancel_fee_percent: p.late_cancel_fee_percent,
        late_cancel_min_fen: p.late_cancel_min_fen,
        book_ahead_days: p.book_ahead_days,
        lead_minutes: p.lead_minutes,
        pay_within_minutes: p.pay_within_minutes,
        pay_after_days: p.pay_after_days,
        package_unused: Vocab::Known(p.package_unused),
        visit_issue_days: p.visit_issue_days,
    }
}

/// A policy from its API form, checked.
pub fn parse_policy(d: &ServicePolicyDto) -> Result<ServicePolicy, ApiError> {
    let policy = ServicePolicy {
        confirm: d.confirm.span("confirm")?,
        arrive_grace: d.arrive_grace.span("arrive_grace")?,
        complete_grace: d.complete_grace.span("complete_grace")?,
        cancel_notice_hours: d.cancel_notice_hours,
        late_cancel_fee_percent: d.late_cancel_fee_percent,
        late_cancel_min_fen: d.late_cancel_min_fen,
        book_ahead_days: d.book_ahead_days,
        lead_minutes: d.lead_minutes,
        pay_within_minutes: d.pay_within_minutes,
        pay_after_days: d.pay_after_days,
        package_unused: d.package_unused.get("package_unused")?,
        visit_issue_days: d.visit_issue_days,
    };
    policy
        .check()
        .map_err(|(field, e)| ApiError::invalid(field, e.0))?;
    Ok(policy)
}
