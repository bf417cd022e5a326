//! The fees area's request and response bodies. Money is integer fen (`*_fen`); rates and
//! quantities are decimal strings (`"2.35"` yuan per unit, `"89.510"` units), exact, never
//! floating point.

use chrono::{DateTime, NaiveDate, Utc};
use courtyard_domain::{
    entities::{bill, bill_line, bill_run, fee_item, household_charge, meter_reading},
    fees::{
        Band, LateFeePolicy, Quantity, Tiers, UnitPrice,
        bills::{BillRunState, BillState},
        items::{FeeKind, FeeUnit, Meter, load_tiers},
        policy::FeePolicy,
        price_text,
    },
};
use poem_openapi::{ApiResponse, Object, payload::Json, types::Example};
use uuid::Uuid;

use crate::{
    error::{ApiError, FieldContext},
    page_of,
    vocab::Vocab,
};

/// A community's fee policy.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct FeePolicyDto {
    /// The day of the month after a bill's month on which it falls due, 1–28 (default 15).
    #[oai(validator(minimum(value = "1"), maximum(value = "28")))]
    pub due_day: u32,
    /// Late fees (滞纳金), off by default.
    pub late_fee: LateFeeDto,
}

/// A community's late-fee rule.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LateFeeDto {
    /// Whether late fees are charged at all (default false).
    pub enabled: bool,
    /// Daily rate in parts per million of the unpaid principal, 0–10,000 (万分之三 a day =
    /// 300, the default).
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub daily_rate_ppm: i64,
    /// Days after the due date before a late fee starts, 0–365 (default 0).
    #[oai(validator(minimum(value = "0"), maximum(value = "365")))]
    pub grace_days: i64,
    /// The most a late fee comes to, in percent of the principal, 0–100 (default 30).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub cap_percent: i64,
}

impl Example for FeePolicyDto {
    fn example() -> Self {
        policy_dto(&FeePolicy {
            late_fee: LateFeePolicy {
                enabled: true,
                grace_days: 5,
                ..LateFeePolicy::default()
            },
            ..FeePolicy::default()
        })
    }
}

/// The API form of a policy.
pub fn policy_dto(policy: &FeePolicy) -> FeePolicyDto {
    FeePolicyDto {
        due_day: policy.due_day,
        late_fee: LateFeeDto {
            enabled: policy.late_fee.enabled,
            daily_rate_ppm: policy.late_fee.daily_ppm,
            grace_days: policy.late_fee.grace_days,
            cap_percent: policy.late_fee.cap_percent,
        },
    }
}

/// A policy from its API form, checked.
pub fn parse_policy(dto: &FeePolicyDto) -> Result<FeePolicy, ApiError> {
    let policy = FeePolicy {
        due_day: dto.due_day,
        late_fee: LateFeePolicy {
            enabled: dto.late_fee.enabled,
            daily_ppm: dto.late_fee.daily_rate_ppm,
            grace_days: dto.late_fee.grace_days,
            cap_percent: dto.late_fee.cap_percent,
        },
    };
    policy
        .validate()
        .map_err(|(field, e)| ApiError::invalid(field, e.0))?;
    Ok(policy)
}

/// One price band of a fee item.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TierDto {
    /// The band's upper bound of the month's consumption in the item's unit, up to three
    /// decimals; absent on the last band.
    #[oai(
        validator(pattern = r"^\d{1,9}(\.\d{1,3})?$"),
        skip_serializing_if_is_none
    )]
    pub up_to: Option<String>,
    /// Price per unit in yuan, up to four decimals (`"3.45"`, `"0.5283"`).
    #[oai(validator(pattern = r"^\d{1,6}(\.\d{1,4})?$"))]
    pub unit_price: String,
}

/// A new fee item.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewFeeItem {
    /// Name shown on bills (物业费, 水费), unique in the community.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: String,
    /// How the quantity is found.
    pub kind: Vocab<FeeKind>,
    /// The meter of a `metered` item; absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub meter: Option<Vocab<Meter>>,
    /// A flat price per unit in yuan (`"2.35"` per m² a month). Give this or `tiers`.
    #[oai(validator(pattern = r"^\d{1,6}(\.\d{1,4})?$"))]
    pub unit_price: Option<String>,
    /// A tiered price (阶梯价), metered items only: bands in increasing order, the last
    /// without `up_to`.
    #[oai(validator(min_items = 1, max_items = 10))]
    pub tiers: Option<Vec<TierDto>>,
}

impl Example for NewFeeItem {
    fn example() -> Self {
        Self {
            name: "水费".into(),
            kind: FeeKind::Metered.into(),
            meter: Some(Meter::Water.into()),
            unit_price: None,
            tiers: Some(vec![
                TierDto {
                    up_to: Some("18".into()),
                    unit_price: "3.45".into(),
                },
                TierDto {
                    up_to: None,
                    unit_price: "4.83".into(),
                },
            ]),
        }
    }
}

/// Changes to a fee item; absent fields stay. A new price applies to bills generated from
/// now on; issued bills keep theirs.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FeeItemPatch {
    /// Name.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: Option<String>,
    /// A flat price per unit in yuan.
    #[oai(validator(pattern = r"^\d{1,6}(\.\d{1,4})?$"))]
    pub unit_price: Option<String>,
    /// A tiered price (metered items only).
    #[oai(validator(min_items = 1, max_items = 10))]
    pub tiers: Option<Vec<TierDto>>,
    /// Whether bill runs charge it.
    #[oai(skip_serializing_if_is_none)]
    pub active: Option<bool>,
}

/// The price bands from `unit_price` or `tiers` (exactly one of them).
pub fn parse_tiers(
    unit_price: Option<&str>,
    tiers: Option<&[TierDto]>,
) -> Result<Option<Tiers>, ApiError> {
    match (unit_price, tiers) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "tiers",
            "give either unit_price or tiers, not both",
        )),
        (Some(price), None) => Ok(Some(Tiers::flat(
            UnitPrice::parse_yuan(price).field("unit_price")?,
        ))),
        (None, Some(bands)) => {
            let bands = bands
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Ok(Band {
                        up_to: b
                            .up_to
                            .as_deref()
                            .map(Quantity::parse)
                            .transpose()
                            .field(&format!("tiers[{i}].up_to"))?,
                        price: UnitPrice::parse_yuan(&b.unit_price)
                            .field(&format!("tiers[{i}].unit_price"))?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok(Some(Tiers::new(bands).field("tiers")?))
        }
        (None, None) => Ok(None),
    }
}

/// A fee item.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FeeItem {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: Vocab<FeeKind>,
    /// The meter of a metered item.
    #[oai(skip_serializing_if_is_none)]
    pub meter: Option<Vocab<Meter>>,
    /// What a line's quantity counts.
    pub unit: Vocab<FeeUnit>,
    /// The price bands; a flat price is one band without `up_to`.
    pub tiers: Vec<TierDto>,
    /// Whether bill runs charge it.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The API form of a fee item row.
pub fn fee_item_dto(row: fee_item::Model) -> FeeItem {
    let kind = Vocab::<FeeKind>::stored(&row.kind);
    let meter = row.meter.as_deref().map(Vocab::<Meter>::stored);
    let unit = match (&kind, &meter) {
        (Vocab::Known(k), m) => {
            let m = m.as_ref().and_then(|m| match m {
                Vocab::Known(m) => Some(*m),
                Vocab::Unknown(_) => None,
            });
            Vocab::Known(k.unit(m))
        }
        _ => Vocab::Known(FeeUnit::Item),
    };
    let tiers = load_tiers(&row.tiers)
        .map(|t| {
            t.bands()
                .iter()
                .map(|b| TierDto {
                    up_to: b.up_to.map(Quantity::display),
                    unit_price: b.price.text(),
                })
                .collect()
        })
        .unwrap_or_default();
    FeeItem {
        id: row.id,
        community_id: row.community_id,
        name: row.name,
        kind,
        meter,
        unit,
        tiers,
        active: row.active,
        created_at: row.created_at,
    }
}

/// A meter reading to record. Entering the same household, meter and month again
/// updates it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewReading {
    /// Which meter.
    pub meter: Vocab<Meter>,
    /// The month it is for, `YYYY-MM`.
    #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
    pub period: String,
    /// The meter's value, up to three decimals; not below the previous reading unless
    /// `replaced_from` is given.
    #[oai(validator(pattern = r"^\d{1,9}(\.\d{1,3})?$"))]
    pub value: String,
    /// A new meter was fitted: its value when fitted (usually `"0"`). This month's
    /// consumption counts from it.
    #[oai(validator(pattern = r"^\d{1,9}(\.\d{1,3})?$"))]
    pub replaced_from: Option<String>,
}

impl Example for NewReading {
    fn example() -> Self {
        Self {
            meter: Meter::Water.into(),
            period: "2026-11".into(),
            value: "1250.5".into(),
            replaced_from: None,
        }
    }
}

/// A meter reading.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReadingDto {
    /// Id.
    pub id: Uuid,
    /// Household.
    pub household_id: Uuid,
    /// Meter.
    pub meter: Vocab<Meter>,
    /// Month, `YYYY-MM`.
    pub period: String,
    /// The value read.
    pub value: String,
    /// For a meter replacement, the new meter's value when fitted.
    #[oai(skip_serializing_if_is_none)]
    pub replaced_from: Option<String>,
    /// `manual` or `import`.
    pub source: String,
    /// Last entered.
    pub updated_at: DateTime<Utc>,
}

/// The API form of a reading row.
pub fn reading_dto(row: meter_reading::Model) -> ReadingDto {
    let show = |milli: i64| {
        Quantity::from_milli(milli)
            .map(Quantity::display)
            .unwrap_or_default()
    };
    ReadingDto {
        id: row.id,
        household_id: row.household_id,
        meter: Vocab::stored(&row.meter),
        period: row.period,
        value: show(row.value_milli),
        replaced_from: row.initial_milli.map(show),
        source: row.source,
        updated_at: row.updated_at,
    }
}

/// A recorded reading.
#[derive(ApiResponse)]
pub enum ReadingRecorded {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<ReadingDto>),
    /// The month's reading was updated.
    #[oai(status = 200)]
    Updated(Json<ReadingDto>),
}

/// What a readings import did (or, for a dry run, would do).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReadingImportReport {
    /// Data rows read.
    pub rows: u32,
    /// Whether nothing was written (dry run).
    pub dry_run: bool,
    /// Readings recorded for the first time.
    pub created: u32,
    /// Readings that replaced a month's stored value.
    pub updated: u32,
}

/// A one-off charge for a household's next bill.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewCharge {
    /// What it is for, shown as the bill line.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub description: String,
    /// Amount in fen, 1–10,000,000 (¥100,000).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    pub amount_fen: i64,
}

impl Example for NewCharge {
    fn example() -> Self {
        Self {
            description: "门禁卡补办".into(),
            amount_fen: 2_000,
        }
    }
}

/// A one-off charge.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChargeDto {
    /// Id.
    pub id: Uuid,
    /// Household.
    pub household_id: Uuid,
    /// What it is for.
    pub description: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// The repair whose accepted price it is.
    #[oai(skip_serializing_if_is_none)]
    pub ticket_id: Option<Uuid>,
    /// The bill it went on; absent while it waits for the next bill.
    #[oai(skip_serializing_if_is_none)]
    pub bill_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The API form of a charge row.
pub fn charge_dto(row: household_charge::Model) -> ChargeDto {
    ChargeDto {
        id: row.id,
        household_id: row.household_id,
        description: row.description,
        amount_fen: row.amount_fen,
        ticket_id: row.ticket_id,
        bill_id: row.bill_id,
        created_at: row.created_at,
    }
}

/// A bill run to start.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewBillRun {
    /// The month to bill, `YYYY-MM`.
    #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
    pub period: String,
}

impl Example for NewBillRun {
    fn example() -> Self {
        Self {
            period: "2026-11".into(),
        }
    }
}

/// A bill run and its progress.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BillRunDto {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Month, `YYYY-MM`.
    pub period: String,
    /// Where it stands.
    pub state: Vocab<BillRunState>,
    /// Households in the community.
    pub households_total: i32,
    /// Households looked at so far.
    pub households_done: i32,
    /// Bills this run created (households billed before are skipped).
    pub bills_created: i32,
    /// Metered items left off bills for want of this month's (or a previous) reading.
    pub readings_missing: i32,
    /// Why it failed.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// Requested.
    pub created_at: DateTime<Utc>,
    /// Started.
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The API form of a run row.
pub fn run_dto(row: bill_run::Model) -> BillRunDto {
    BillRunDto {
        id: row.id,
        community_id: row.community_id,
        period: row.period,
        state: Vocab::stored(&row.state),
        households_total: row.households_total,
        households_done: row.households_done,
        bills_created: row.bills_created,
        readings_missing: row.readings_missing,
        error: row.error,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
    }
}

/// A queued bill run.
#[derive(ApiResponse)]
pub enum BillRunAccepted {
    /// Queued; follow its progress at `Location`.
    #[oai(status = 202)]
    Accepted(Json<BillRunDto>, #[oai(header = "Location")] String),
}

/// One line of a bill.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BillLineDto {
    /// 1, 2, ... in the order shown.
    pub position: i32,
    /// Item name or charge description.
    pub name: String,
    /// The fee item, for item lines.
    #[oai(skip_serializing_if_is_none)]
    pub fee_item_id: Option<Uuid>,
    /// The one-off charge, for charge lines.
    #[oai(skip_serializing_if_is_none)]
    pub charge_id: Option<Uuid>,
    /// For a tiered price, the band (1 for the first).
    #[oai(skip_serializing_if_is_none)]
    pub band: Option<i32>,
    /// What the quantity counts.
    pub unit: Vocab<FeeUnit>,
    /// Quantity, three decimals (`"89.510"`).
    pub quantity: String,
    /// Price per unit in yuan, four decimals (`"2.3500"`).
    pub unit_price: String,
    /// Amount in fen: quantity × unit price, rounded half up to the fen.
    pub amount_fen: i64,
}

/// A household's bill for one month.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BillDto {
    /// Id.
    pub id: Uuid,
    /// Community.
    pub community_id: Uuid,
    /// Household.
    pub household_id: Uuid,
    /// Month, `YYYY-MM`.
    pub period: String,
    /// Where it stands.
    pub state: Vocab<BillState>,
    /// Total in fen, the sum of the lines.
    pub amount_fen: i64,
    /// Due date, in the community's calendar.
    pub due_on: NaiveDate,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Paid, waived or cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was waived or cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub close_reason: Option<String>,
    /// The cancelled bill this one re-issues.
    #[oai(skip_serializing_if_is_none)]
    pub replaces_id: Option<Uuid>,
    /// When an admin waived its late fee.
    #[oai(skip_serializing_if_is_none)]
    pub late_fee_waived_at: Option<DateTime<Utc>>,
    /// Why its late fee was waived.
    #[oai(skip_serializing_if_is_none)]
    pub late_fee_waive_reason: Option<String>,
    /// The lines.
    pub lines: Vec<BillLineDto>,
}

/// The API form of a bill and its lines.
pub fn bill_dto(row: bill::Model, lines: Vec<bill_line::Model>) -> BillDto {
    BillDto {
        id: row.id,
        community_id: row.community_id,
        household_id: row.household_id,
        period: row.period,
        state: Vocab::stored(&row.state),
        amount_fen: row.amount_fen,
        due_on: row.due_on,
        issued_at: row.issued_at,
        closed_at: row.closed_at,
        close_reason: row.close_reason,
        replaces_id: row.replaces_id,
        late_fee_waived_at: row.late_fee_waived_at,
        late_fee_waive_reason: row.late_fee_waive_reason,
        lines: lines
            .into_iter()
            .map(|l| BillLineDto {
                position: l.position,
                name: l.name,
                fee_item_id: l.fee_item_id,
                charge_id: l.charge_id,
                band: l.band,
                unit: Vocab::stored(&l.unit),
                quantity: Quantity::from_milli(l.quantity_milli)
                    .map(Quantity::display)
                    .unwrap_or_default(),
                unit_price: price_text(l.unit_price_centi_fen),
                amount_fen: l.amount_fen,
            })
            .collect(),
    }
}

/// Why an admin waives or cancels a bill.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CloseBill {
    /// The reason, kept with the bill.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

impl Example for CloseBill {
    fn example() -> Self {
        Self {
            reason: "业主委员会决议减免".into(),
        }
    }
}

page_of!(FeeItemPage, FeeItem);
page_of!(ReadingPage, ReadingDto);
page_of!(ChargePage, ChargeDto);
page_of!(BillRunPage, BillRunDto);
page_of!(BillPage, BillDto);
