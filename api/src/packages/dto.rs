//! The packages area's request and response bodies.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{package_visit, service_package},
    services::packages::{PackageState, VisitCounts, VisitStatus},
};
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use crate::{page_of, vocab::Vocab};

/// A monthly package to subscribe to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPackage {
    /// The service: a `package` of the community's price list.
    pub service_id: Uuid,
    /// The household it is for (one of the resident's).
    pub household_id: Uuid,
    /// The weekly slot's weekday, 1 (Monday) to 7 (Sunday).
    #[oai(validator(minimum(value = "1"), maximum(value = "7")))]
    pub weekday: u8,
    /// The weekly slot's start, local `HH:MM`: one of the team's slot starts.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start_time: String,
    /// The month, `YYYY-MM` (default: this month if a visit day is left, else the next).
    #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
    pub period: Option<String>,
    /// Front desk: the resident it is for (a member of the household).
    pub resident_id: Option<Uuid>,
}

impl Example for NewPackage {
    fn example() -> Self {
        Self {
            service_id: Uuid::nil(),
            household_id: Uuid::nil(),
            weekday: 2,
            start_time: "09:00".into(),
            period: Some("2026-12".into()),
            resident_id: None,
        }
    }
}

/// A note with a package step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PackageNote {
    /// Note (why it is cancelled).
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

/// One visit of a package month.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PackageVisit {
    /// 1, 2, … in the month.
    pub position: u32,
    /// The day.
    pub date: NaiveDate,
    /// When the work starts.
    pub starts_at: DateTime<Utc>,
    /// Where it stands.
    pub status: Vocab<VisitStatus>,
    /// Its booking, once issued (a few days ahead).
    #[oai(skip_serializing_if_is_none)]
    pub booking_id: Option<Uuid>,
}

/// One month of a household's monthly package.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Package {
    /// Id.
    pub id: Uuid,
    /// The community.
    pub community_id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// The service.
    pub service_id: Uuid,
    /// Its name when subscribed.
    pub service_name: String,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// The weekly slot's weekday, 1 (Monday) to 7.
    pub weekday: u8,
    /// The weekly slot's start, local `HH:MM`.
    pub start_time: String,
    /// Visits this month (fewer than the catalog's when it started late; carried ones
    /// included).
    pub visits: u32,
    /// Of those, carried over from the month before.
    pub carried: u32,
    /// Visits done.
    pub used: u32,
    /// Visits still to come.
    pub remaining: u32,
    /// Visits the resident skipped.
    pub skipped: u32,
    /// What the month costs, fen.
    pub price_fen: i64,
    /// The month's bill: pay it with `POST /v1/payments`; visits are issued once it is paid.
    #[oai(skip_serializing_if_is_none)]
    pub bill_id: Option<Uuid>,
    /// Whether that bill is paid.
    pub paid: bool,
    /// Active, cancelled or ended.
    pub state: Vocab<PackageState>,
    /// The month it renews.
    #[oai(skip_serializing_if_is_none)]
    pub previous_id: Option<Uuid>,
    /// The next month's package, once renewed.
    #[oai(skip_serializing_if_is_none)]
    pub renewed_by_id: Option<Uuid>,
    /// The refund of a paid month that was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub refund_id: Option<Uuid>,
    /// The visits, in order.
    pub visit_list: Vec<PackageVisit>,
    /// Subscribed.
    pub created_at: DateTime<Utc>,
    /// Cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

page_of!(PackagePage, Package);

/// The API form of a package month, its visits with where each stands.
pub fn package_dto(
    p: service_package::Model,
    visits: Vec<package_visit::Model>,
    statuses: &[VisitStatus],
    paid: bool,
) -> Package {
    let counts = VisitCounts::of(statuses.iter().copied());
    Package {
        id: p.id,
        community_id: p.community_id,
        household_id: p.household_id,
        service_id: p.service_id,
        service_name: p.service_name,
        period: p.period,
        weekday: u8::try_from(p.weekday).unwrap_or(1),
        start_time: p.start_time,
        visits: u32::try_from(p.visits).unwrap_or_default(),
        carried: u32::try_from(p.carried).unwrap_or_default(),
        used: counts.used,
        remaining: counts.remaining,
        skipped: counts.skipped,
        price_fen: p.price_fen,
        bill_id: p.bill_id,
        paid,
        state: Vocab::stored(&p.state),
        previous_id: p.previous_id,
        renewed_by_id: p.renewed_by_id,
        refund_id: p.refund_id,
        visit_list: visits
            .into_iter()
            .zip(statuses)
            .map(|(v, s)| PackageVisit {
                position: u32::try_from(v.position).unwrap_or_default(),
                date: v.visit_on,
                starts_at: v.starts_at,
                status: Vocab::Known(*s),
                booking_id: v.booking_id,
            })
            .collect(),
        created_at: p.created_at,
        cancelled_at: p.cancelled_at,
    }
}
