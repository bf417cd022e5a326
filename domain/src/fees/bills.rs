//! Bills: a billing period, a bill's states, a month's consumption from meter readings, and
//! the lines of one household's bill for one period.

use std::{collections::HashMap, fmt};

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use super::{
    Quantity, UnitPrice,
    items::{FeeKind, FeeUnit, Meter, Rate},
};
use crate::people::{InvalidValue, string_enum};

/// A billing month, `2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// `YYYY-MM`, from 2000-01 to 2999-12.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let err = || InvalidValue(format!("`{raw}` is not a month written YYYY-MM"));
        let (year, month) = raw.trim().split_once('-').ok_or_else(err)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(err());
        }
        let year: i32 = year.parse().map_err(|_| err())?;
        let month: u32 = month.parse().map_err(|_| err())?;
        Self::new(year, month).map_err(|_| err())
    }

    /// The month `month` (1–12) of `year`.
    pub fn new(year: i32, month: u32) -> Result<Self, InvalidValue> {
        if !(2000..=2999).contains(&year) || !(1..=12).contains(&month) {
            return Err(InvalidValue(format!(
                "{year}-{month} is not a billing month"
            )));
        }
        Ok(Self { year, month })
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The first day of the month.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// The month after.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                month: self.month + 1,
                ..self
            }
        }
    }

    /// `months` months earlier.
    pub fn minus_months(self, months: u32) -> Self {
        let index = self.year * 12 + self.month as i32 - 1 - months as i32;
        Self {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

string_enum! {
    /// Where a bill stands.
    BillState {
        /// Issued and not yet paid.
        Open = "open",
        /// Paid in full.
        Paid = "paid",
        /// Waived by an admin, with a reason.
        Waived = "waived",
        /// Cancelled by an admin (and usually re-issued).
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// Where a bill run stands.
    BillRunState {
        /// Waiting for a worker.
        Queued = "queued",
        /// A worker is generating bills.
        Running = "running",
        /// Every household was looked at.
        Done = "done",
        /// Stopped for good (the community or month could not be read).
        Failed = "failed",
    }
}

impl BillState {
    /// Whether a bill in this state may be waived or cancelled: only an open one; a paid
    /// bill is refunded instead, and a closed one stays as it is.
    pub fn can_close(self) -> bool {
        self == BillState::Open
    }
}

/// One meter reading of a household for a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The meter's value, in thousandths of its unit.
    pub value: Quantity,
    /// A new meter was fitted: consumption counts from its `initial` value, not from the
    /// previous reading.
    pub replacement: Option<Quantity>,
}

/// Why a reading is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadingError {
    /// Lower than the previous reading without being marked as a meter replacement.
    BelowPrevious {
        /// The previous reading.
        previous: Quantity,
    },
    /// A replacement whose value is below the new meter's initial value.
    BelowInitial,
}

impl std::fmt::Display for ReadingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadingError::BelowPrevious { previous } => write!(
                f,
                "the reading is below the meter's previous reading ({}); mark a new meter with replaced_from",
                previous.display()
            ),
            ReadingError::BelowInitial => f.write_str(
                "the reading is below the new meter's value when fitted (replaced_from)",
            ),
        }
    }
}

impl Reading {
    /// Checks this reading against the previous one of the same meter.
    pub fn check(&self, previous: Option<Quantity>) -> Result<(), ReadingError> {
        match (self.replacement, previous) {
            (Some(initial), _) if self.value < initial => Err(ReadingError::BelowInitial),
            (None, Some(previous)) if self.value < previous => {
                Err(ReadingError::BelowPrevious { previous })
            }
            _ => Ok(()),
        }
    }

    /// The month's consumption: from the previous reading, or from the new meter's initial
    /// value; none for a first reading (it only sets where the meter starts) or one that no
    /// longer fits the previous reading.
    pub fn consumption(&self, previous: Option<Quantity>) -> Option<Quantity> {
        let from = match self.replacement {
            Some(initial) => initial,
            None => previous?,
        };
        Quantity::from_milli(self.value.milli() - from.milli()).ok()
    }
}

/// A household's facts that quantities are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseholdFacts {
    /// Floor area.
    pub floor_area: Quantity,
    /// Parking spaces rented or owned.
    pub parking_spaces: i64,
}

/// A fee item as the bill run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRate {
    /// `fee_items.id`.
    pub id: Uuid,
    /// Its name (物业费, 水费, ...), copied onto each line.
    pub name: String,
    /// Kind, meter and price.
    pub rate: Rate,
}

/// A one-off charge waiting for its household's next bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// `household_charges.id`.
    pub id: Uuid,
    /// What it is for.
    pub description: String,
    /// Its amount in fen.
    pub amount_fen: i64,
}

/// One line of a bill, frozen when the bill is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The fee item, for item lines.
    pub fee_item_id: Option<Uuid>,
    /// The one-off charge, for charge lines.
    pub charge_id: Option<Uuid>,
    /// The item's name or the charge's description.
    pub name: String,
    /// For tiered prices, the band (1 for the first); none otherwise.
    pub band: Option<i32>,
    /// What the quantity counts.
    pub unit: FeeUnit,
    /// Quantity.
    pub quantity: Quantity,
    /// Unit price.
    pub unit_price: UnitPrice,
    /// Amount in fen, rounded half up on this line alone.
    pub amount_fen: i64,
}

/// What one household owes for one month: one line per flat item, one per band a metered
/// item reaches, one per one-off charge. An item whose quantity is zero or unknown (no
/// parking space; no reading this month) adds no line.
pub fn bill_lines(
    household: HouseholdFacts,
    items: &[ItemRate],
    consumption: &HashMap<Meter, Quantity>,
    charges: &[Charge],
) -> Vec<Line> {
    let mut lines = Vec::new();
    for item in items {
        let quantity = match item.rate.kind {
            FeeKind::Area => Some(household.floor_area),
            FeeKind::Fixed => Some(Quantity(Quantity::PER_UNIT)),
            FeeKind::PerSpace => Quantity::units(household.parking_spaces).ok(),
            FeeKind::Metered => item.rate.meter.and_then(|m| consumption.get(&m).copied()),
        };
        let Some(quantity) = quantity.filter(|q| q.milli() > 0) else {
            continue;
        };
        let tiered = item.rate.tiers.bands().len() > 1;
        for (index, (quantity, unit_price, amount_fen)) in
            item.rate.tiers.lines(quantity).into_iter().enumerate()
        {
            lines.push(Line {
                fee_item_id: Some(item.id),
                charge_id: None,
                name: item.name.clone(),
                band: tiered.then_some(index as i32 + 1),
                unit: item.rate.unit(),
                quantity,
                unit_price,
                amount_fen,
            });
        }
    }
    for charge in charges {
        lines.push(Line {
            fee_item_id: None,
            charge_id: Some(charge.id),
            name: charge.description.clone(),
            band: None,
            unit: FeeUnit::Item,
            quantity: Quantity(Quantity::PER_UNIT),
            // One item at its amount: exact, whatever the amount.
            unit_price: UnitPrice(charge.amount_fen.saturating_mul(UnitPrice::PER_FEN)),
            amount_fen: charge.amount_fen,
        });
    }
    lines
}

/// The total of a bill's lines.
pub fn total(lines: &[Line]) -> i64 {
    lines.iter().map(|l| l.amount_fen).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fees::{Band, Tiers};

    fn q(raw: &str) -> Quantity {
        Quantity::parse(raw).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn p(raw: &str) -> UnitPrice {
        UnitPrice::parse_yuan(raw).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn item(name: &str, kind: FeeKind, meter: Option<Meter>, tiers: Tiers) -> ItemRate {
        ItemRate {
            id: Uuid::new_v4(),
            name: name.into(),
            rate: Rate::new(kind, meter, tiers).unwrap_or_else(|e| panic!("{e:?}")),
        }
    }

    #[test]
    fn periods_parse_and_step() {
        let nov = Period::parse("2026-11").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(nov.to_string(), "2026-11");
        assert_eq!(nov.next().to_string(), "2026-12");
        assert_eq!(nov.next().next().to_string(), "2027-01");
        assert_eq!(nov.minus_months(11).to_string(), "2025-12");
        assert_eq!(nov.minus_months(0), nov);
        assert!(nov < nov.next());
        for bad in [
            "2026-13", "2026-00", "26-11", "2026-1", "2026/11", "", "1999-12",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Period::of(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap_or_default()).to_string(),
            "2026-02"
        );
    }

    #[test]
    fn readings_refuse_going_backwards_unless_the_meter_was_replaced() {
        let r = |v: &str| Reading {
            value: q(v),
            replacement: None,
        };
        assert_eq!(r("120").check(Some(q("100"))), Ok(()));
        assert_eq!(
            r("90").check(Some(q("100"))),
            Err(ReadingError::BelowPrevious { previous: q("100") })
        );
        assert_eq!(r("90").check(None), Ok(()));
        let replaced = Reading {
            value: q("3.5"),
            replacement: Some(q("0")),
        };
        assert_eq!(replaced.check(Some(q("100"))), Ok(()));
        assert_eq!(replaced.consumption(Some(q("100"))), Some(q("3.5")));
        let bad = Reading {
            value: q("1"),
            replacement: Some(q("2")),
        };
        assert_eq!(bad.check(None), Err(ReadingError::BelowInitial));
        assert_eq!(r("120.25").consumption(Some(q("100"))), Some(q("20.25")));
        assert_eq!(
            r("120").consumption(None),
            None,
            "a first reading is a baseline"
        );
        assert_eq!(r("90").consumption(Some(q("100"))), None);
    }

    #[test]
    fn a_households_bill_has_a_line_per_item_band_and_charge() {
        let water_tiers = Tiers::new(vec![
            Band {
                up_to: Some(q("18")),
                price: p("3.45"),
            },
            Band {
                up_to: None,
                price: p("4.83"),
            },
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let items = vec![
            item("物业费", FeeKind::Area, None, Tiers::flat(p("2.35"))),
            item("水费", FeeKind::Metered, Some(Meter::Water), water_tiers),
            item(
                "电费",
                FeeKind::Metered,
                Some(Meter::Power),
                Tiers::flat(p("0.5283")),
            ),
            item("垃圾清运费", FeeKind::Fixed, None, Tiers::flat(p("10"))),
            item("车位管理费", FeeKind::PerSpace, None, Tiers::flat(p("150"))),
        ];
        let household = HouseholdFacts {
            floor_area: q("89.51"),
            parking_spaces: 0,
        };
        let consumption = HashMap::from([(Meter::Water, q("20.5"))]);
        let charge = Charge {
            id: Uuid::new_v4(),
            description: "维修：更换水龙头".into(),
            amount_fen: 8_000,
        };
        let lines = bill_lines(household, &items, &consumption, &[charge]);
        let amounts: Vec<(&str, Option<i32>, i64)> = lines
            .iter()
            .map(|l| (l.name.as_str(), l.band, l.amount_fen))
            .collect();
        assert_eq!(
            amounts,
            vec![
                ("物业费", None, 21_035),    // 89.51 m² × 2.35
                ("水费", Some(1), 6_210),    // 18 t × 3.45
                ("水费", Some(2), 1_208),    // 2.5 t × 4.83 = 12.075 → 12.08
                ("垃圾清运费", None, 1_000), // one month
                ("维修：更换水龙头", None, 8_000),
            ],
            "no power reading and no parking space: no line for either"
        );
        assert_eq!(total(&lines), 37_453);
        assert_eq!(lines[1].unit, FeeUnit::Ton);
        assert_eq!(lines[4].unit, FeeUnit::Item);
        let with_space = HouseholdFacts {
            parking_spaces: 2,
            ..household
        };
        let lines = bill_lines(with_space, &items[4..], &HashMap::new(), &[]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].quantity, q("2"));
        assert_eq!(lines[0].amount_fen, 30_000);
    }
}
