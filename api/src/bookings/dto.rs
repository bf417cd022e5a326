//! The bookings area's request and response bodies.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{booking, booking_claim, laundry_item, ticket},
    services::{
        PayWhen, Pricing, TimeStatus,
        laundry::{ClaimKind, ClaimState, LaundryStage},
    },
    tickets::{PriceStatus, TicketState},
};
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use crate::{page_of, vocab::Vocab};

/// A booking to make.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewBooking {
    /// The service, from the community's price list.
    pub service_id: Uuid,
    /// The household it is for (one of the resident's).
    pub household_id: Uuid,
    /// The slot asked for, from the service's slots.
    pub slot_id: Uuid,
    /// Per hour: how many hours (at least the service's minimum; default the minimum).
    #[oai(validator(minimum(value = "1"), maximum(value = "12")))]
    pub hours: Option<u32>,
    /// What to know before coming (at most 2,000 characters).
    #[oai(validator(max_length = 2000))]
    pub notes: Option<String>,
    /// Front desk: the resident it is booked for (a member of the household).
    pub resident_id: Option<Uuid>,
}

impl Example for NewBooking {
    fn example() -> Self {
        Self {
            service_id: Uuid::nil(),
            household_id: Uuid::nil(),
            slot_id: Uuid::nil(),
            hours: Some(3),
            notes: Some("家里有猫，请随手关门".into()),
            resident_id: None,
        }
    }
}

/// Another slot, proposed by staff.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Proposal {
    /// The slot proposed (the same team's).
    pub slot_id: Uuid,
    /// Why (the slot asked for is full, the team is away).
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for Proposal {
    fn example() -> Self {
        Self {
            slot_id: Uuid::nil(),
            note: Some("原时段人员已满，改约次日上午".into()),
        }
    }
}

/// The resident's answer to a proposed slot.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ProposalAnswer {
    /// Take the proposed slot (the order is issued) or keep asking for the first one.
    pub accept: bool,
    /// A note.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for ProposalAnswer {
    fn example() -> Self {
        Self {
            accept: true,
            note: None,
        }
    }
}

/// The work done, as it is charged.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Completion {
    /// Per hour: the hours worked (1–24; at least the minimum is charged; default the
    /// hours booked).
    #[oai(validator(minimum(value = "1"), maximum(value = "24")))]
    pub hours: Option<u32>,
    /// Per item: how many items (1–500).
    #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
    pub items: Option<u32>,
    /// What was done.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for Completion {
    fn example() -> Self {
        Self {
            hours: Some(3),
            items: None,
            note: Some("已完成全屋清洁".into()),
        }
    }
}

/// A note with a step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StepNote {
    /// Note.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

/// A proposed slot waiting for the resident.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ProposedSlot {
    /// The slot.
    pub slot_id: Uuid,
    /// Starts.
    pub starts_at: DateTime<Utc>,
    /// Ends.
    pub ends_at: DateTime<Utc>,
}

/// A service booking. Its history, clocks and photos are its ticket's
/// (`GET /v1/tickets/{id}`, kind `service_booking`, the same id).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Booking {
    /// Id (the ticket's).
    pub id: Uuid,
    /// The community.
    pub community_id: Uuid,
    /// The household.
    pub household_id: Uuid,
    /// The service booked.
    pub service_id: Uuid,
    /// Its name when booked.
    pub service_name: String,
    /// The team doing it.
    pub team_id: Uuid,
    /// The slot holding its place.
    pub slot_id: Uuid,
    /// When the work starts.
    pub starts_at: DateTime<Utc>,
    /// When the slot ends.
    pub ends_at: DateTime<Utc>,
    /// Another slot proposed by staff, waiting for the resident's answer.
    #[oai(skip_serializing_if_is_none)]
    pub proposed: Option<ProposedSlot>,
    /// Where its time stands.
    pub time_status: Vocab<TimeStatus>,
    /// Where the ticket stands.
    pub state: Vocab<TicketState>,
    /// Who has the work order (the team leader, or whom it was given to).
    #[oai(skip_serializing_if_is_none)]
    pub assignee_id: Option<Uuid>,
    /// How it is priced.
    pub pricing: Vocab<Pricing>,
    /// The price, or of one hour or item, fen, as booked; absent when quoted.
    #[oai(skip_serializing_if_is_none)]
    pub unit_fen: Option<i64>,
    /// Hours booked (per hour), else 1.
    pub quantity: u32,
    /// When it is paid.
    pub pay: Vocab<PayWhen>,
    /// What it is expected to cost, fen; absent until items are counted or a quote given.
    #[oai(skip_serializing_if_is_none)]
    pub estimate_fen: Option<i64>,
    /// A quoted service's price, fen.
    #[oai(skip_serializing_if_is_none)]
    pub quote_fen: Option<i64>,
    /// Where that quote stands.
    #[oai(skip_serializing_if_is_none)]
    pub quote_status: Option<Vocab<PriceStatus>>,
    /// Hours worked or items counted.
    #[oai(skip_serializing_if_is_none)]
    pub worked_quantity: Option<u32>,
    /// What the work came to, fen.
    #[oai(skip_serializing_if_is_none)]
    pub amount_fen: Option<i64>,
    /// The bill to pay (at booking, after the work, or a late cancellation's fee): pay it
    /// with `POST /v1/payments`.
    #[oai(skip_serializing_if_is_none)]
    pub bill_id: Option<Uuid>,
    /// Whether that bill is paid.
    pub paid: bool,
    /// A late cancellation's fee, fen.
    #[oai(skip_serializing_if_is_none)]
    pub cancel_fee_fen: Option<i64>,
    /// The refund of a paid booking that was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub refund_id: Option<Uuid>,
    /// The resident's notes.
    pub notes: String,
    /// Booked.
    pub created_at: DateTime<Utc>,
    /// The time confirmed.
    #[oai(skip_serializing_if_is_none)]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Completed.
    #[oai(skip_serializing_if_is_none)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Stars given (1–5).
    #[oai(skip_serializing_if_is_none)]
    pub rating: Option<u8>,
    /// Whether the resident was satisfied.
    #[oai(skip_serializing_if_is_none)]
    pub satisfied: Option<bool>,
    /// The monthly package this visit belongs to (`GET /v1/packages/{id}`).
    #[oai(skip_serializing_if_is_none)]
    pub package_id: Option<Uuid>,
    /// A laundry order's steps and items.
    #[oai(skip_serializing_if_is_none)]
    pub laundry: Option<LaundryOrder>,
    /// Claims recorded on it (an item missing or damaged).
    pub claims: Vec<BookingClaim>,
}

page_of!(BookingPage, Booking);

/// The API form of a booking, its ticket, its bill's state and a proposed slot's times.
pub fn booking_dto(
    b: booking::Model,
    t: &ticket::Model,
    bill_paid: bool,
    proposed: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Booking {
    Booking {
        id: b.ticket_id,
        community_id: b.community_id,
        household_id: b.household_id,
        service_id: b.service_id,
        service_name: b.service_name,
        team_id: b.team_id,
        slot_id: b.slot_id,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        proposed: b
            .proposed_slot_id
            .zip(proposed)
            .map(|(slot_id, (starts_at, ends_at))| ProposedSlot {
                slot_id,
                starts_at,
                ends_at,
            }),
        time_status: Vocab::stored(&b.time_status),
        state: Vocab::stored(&t.state),
        assignee_id: t.assignee_id,
        pricing: Vocab::stored(&b.pricing),
        unit_fen: b.unit_fen,
        quantity: u32::try_from(b.quantity).unwrap_or(1),
        pay: Vocab::stored(&b.pay),
        estimate_fen: b.estimate_fen,
        quote_fen: t.price_fen,
        quote_status: t.price_status.as_deref().map(Vocab::stored),
        worked_quantity: b.worked_quantity.and_then(|q| u32::try_from(q).ok()),
        amount_fen: b.amount_fen,
        bill_id: b.bill_id,
        paid: bill_paid,
        cancel_fee_fen: b.cancel_fee_fen,
        refund_id: b.refund_id,
        notes: t.description.clone(),
        created_at: b.created_at,
        confirmed_at: b.confirmed_at,
        completed_at: t.completed_at,
        cancelled_at: t.cancelled_at,
        rating: t.rating.and_then(|r| u8::try_from(r).ok()),
        satisfied: t.satisfied,
        package_id: b.package_id,
        laundry: None,
        claims: Vec::new(),
    }
}

/// An item counted at pickup.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewLaundryItem {
    /// What it is (`羊毛大衣`), 1–60 characters.
    #[oai(validator(min_length = 1, max_length = 60))]
    pub name: String,
    /// Its condition at pickup (`左袖口有污渍`); absent when unremarkable.
    #[oai(validator(max_length = 200))]
    pub condition: Option<String>,
    /// Links to photos taken at pickup.
    #[oai(validator(max_items = 10, max_length = 500))]
    pub photos: Option<Vec<String>>,
}

/// An item as checked on its return.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemCheck {
    /// The item (from the order's `laundry.items`).
    pub item_id: Uuid,
    /// Whether it came back.
    pub returned: bool,
    /// Whether it came back damaged.
    #[oai(default)]
    pub damaged: bool,
    /// Its condition now.
    #[oai(validator(max_length = 200))]
    pub condition: Option<String>,
    /// Links to photos taken on return.
    #[oai(validator(max_items = 10, max_length = 500))]
    pub photos: Option<Vec<String>>,
}

/// A laundry order's next step. `picked_up` (the assignee at the door) counts the items;
/// `at_vendor` gives the return date; `returned` checks every item (a missing or damaged
/// one becomes a claim). Delivery completes the booking (`POST …/complete`).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct LaundryStep {
    /// The step: `picked_up`, `at_vendor` or `returned`.
    pub stage: Vocab<LaundryStage>,
    /// `picked_up`: the items counted, 1–200.
    #[oai(validator(max_items = 200))]
    pub items: Option<Vec<NewLaundryItem>>,
    /// `at_vendor`: when the vendor returns it (today to 30 days ahead).
    pub return_on: Option<NaiveDate>,
    /// `returned`: every item, checked.
    #[oai(validator(max_items = 200))]
    pub checks: Option<Vec<ItemCheck>>,
    /// Note.
    #[oai(validator(max_length = 2000))]
    pub note: Option<String>,
}

impl Example for LaundryStep {
    fn example() -> Self {
        Self {
            stage: Vocab::Known(LaundryStage::PickedUp),
            items: Some(vec![
                NewLaundryItem {
                    name: "羊毛大衣".into(),
                    condition: Some("左袖口有污渍".into()),
                    photos: None,
                },
                NewLaundryItem {
                    name: "衬衫".into(),
                    condition: None,
                    photos: None,
                },
            ]),
            return_on: None,
            checks: None,
            note: None,
        }
    }
}

/// One item of a laundry order.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LaundryItem {
    /// Id.
    pub id: Uuid,
    /// 1, 2, … as counted.
    pub position: u32,
    /// What it is.
    pub name: String,
    /// Its condition at pickup (empty when unremarkable).
    pub condition: String,
    /// Photos at pickup.
    pub photos: Vec<String>,
    /// Whether it came back; absent until checked.
    #[oai(skip_serializing_if_is_none)]
    pub returned: Option<bool>,
    /// Whether it came back damaged; absent until checked.
    #[oai(skip_serializing_if_is_none)]
    pub damaged: Option<bool>,
    /// Its condition on return.
    #[oai(skip_serializing_if_is_none)]
    pub condition_on_return: Option<String>,
    /// Photos on return.
    pub photos_on_return: Vec<String>,
}

/// A laundry order's progress.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LaundryOrder {
    /// The last step recorded; absent before pickup.
    #[oai(skip_serializing_if_is_none)]
    pub stage: Option<Vocab<LaundryStage>>,
    /// When the vendor returns it.
    #[oai(skip_serializing_if_is_none)]
    pub return_on: Option<NaiveDate>,
    /// The items counted at pickup.
    pub items: Vec<LaundryItem>,
}

/// A claim to record on a booking: an item missing or damaged.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewClaim {
    /// The laundry item it is about, if any.
    pub item_id: Option<Uuid>,
    /// Missing or damaged.
    pub kind: Vocab<ClaimKind>,
    /// What happened, 1–2,000 characters.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub note: String,
    /// Links to photos.
    #[oai(validator(max_items = 10, max_length = 500))]
    pub photos: Option<Vec<String>>,
}

impl Example for NewClaim {
    fn example() -> Self {
        Self {
            item_id: None,
            kind: Vocab::Known(ClaimKind::Damaged),
            note: "衬衫领口洗后开线".into(),
            photos: None,
        }
    }
}

/// How the office settles a claim.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ClaimSettlement {
    /// `settled` or `rejected`.
    pub state: Vocab<ClaimState>,
    /// Compensation agreed, fen (0 to 10,000,000).
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000")))]
    pub compensation_fen: Option<i64>,
    /// What was agreed, or why it was rejected, 1–2,000 characters.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub resolution: String,
}

impl Example for ClaimSettlement {
    fn example() -> Self {
        Self {
            state: Vocab::Known(ClaimState::Settled),
            compensation_fen: Some(8_000),
            resolution: "按衣物原价五折赔付".into(),
        }
    }
}

/// A claim on a booking.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BookingClaim {
    /// Id.
    pub id: Uuid,
    /// The booking.
    pub booking_id: Uuid,
    /// The laundry item it is about.
    #[oai(skip_serializing_if_is_none)]
    pub item_id: Option<Uuid>,
    /// Missing or damaged.
    pub kind: Vocab<ClaimKind>,
    /// What happened.
    pub note: String,
    /// Photos.
    pub photos: Vec<String>,
    /// Open, settled or rejected.
    pub state: Vocab<ClaimState>,
    /// Compensation agreed, fen.
    #[oai(skip_serializing_if_is_none)]
    pub compensation_fen: Option<i64>,
    /// What was agreed, or why it was rejected.
    #[oai(skip_serializing_if_is_none)]
    pub resolution: Option<String>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Settled or rejected.
    #[oai(skip_serializing_if_is_none)]
    pub settled_at: Option<DateTime<Utc>>,
}

fn links(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The API form of a laundry item.
pub fn laundry_item_dto(i: laundry_item::Model) -> LaundryItem {
    LaundryItem {
        id: i.id,
        position: u32::try_from(i.position).unwrap_or_default(),
        photos: links(Some(&i.photos_in)),
        photos_on_return: links(i.photos_out.as_ref()),
        name: i.name,
        condition: i.condition_in,
        returned: i.returned,
        damaged: i.damaged,
        condition_on_return: i.condition_out,
    }
}

/// The API form of a claim.
pub fn claim_dto(c: booking_claim::Model) -> BookingClaim {
    BookingClaim {
        id: c.id,
        booking_id: c.booking_id,
        item_id: c.item_id,
        kind: Vocab::stored(&c.kind),
        photos: links(Some(&c.photos)),
        note: c.note,
        state: Vocab::stored(&c.state),
        compensation_fen: c.compensation_fen,
        resolution: c.resolution,
        created_at: c.created_at,
        settled_at: c.settled_at,
    }
}
