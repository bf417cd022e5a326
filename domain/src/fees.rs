//! Fee arithmetic, in integers from the rate to the amount: a bill line's amount from its
//! quantity and unit price, tiered (阶梯价) consumption, and late fees (滞纳金) as simple
//! interest on the unpaid principal, capped. One rounding rule, [`round_half_up`], applied
//! once per line. Pure: the bill run and the payment call these.
//!
//! - [`items`]: what a community charges for (fee kinds, meters, units, rates);
//! - [`bills`]: billing periods, bill states and the lines of one household's bill;
//! - [`policy`]: a community's fee policy (due day, late fees);
//! - [`messages`]: what residents are told about their bills;
//! - [`reminders`]: the overdue-reminder schedule (催缴) and its messages.

use serde::{Deserialize, Serialize};

use crate::people::InvalidValue;

pub mod bills;
pub mod items;
pub mod messages;
pub mod policy;
pub mod reminders;

/// `numerator / denominator` rounded half up (away from zero at .5), for the non-negative
/// amounts bills are made of: the one rounding rule of every fee line.
pub fn round_half_up(numerator: i128, denominator: i128) -> i64 {
    debug_assert!(numerator >= 0 && denominator > 0);
    let rounded = (numerator + denominator / 2) / denominator;
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// A quantity in thousandths of its unit (m², ton, kWh, m³, month, space): 89.51 m² is
/// 89,510; 12.5 tons is 12,500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// Thousandths of a unit in one unit.
    pub const PER_UNIT: i64 = 1_000;
    /// Nothing.
    pub const ZERO: Quantity = Quantity(0);

    /// A quantity of `milli` thousandths; never negative.
    pub fn from_milli(milli: i64) -> Result<Self, InvalidValue> {
        if milli < 0 {
            return Err(InvalidValue(format!(
                "a quantity is not negative ({milli})"
            )));
        }
        Ok(Self(milli))
    }

    /// Whole units.
    pub fn units(units: i64) -> Result<Self, InvalidValue> {
        Self::from_milli(units.saturating_mul(Self::PER_UNIT))
    }

    /// A floor area given in hundredths of m² (as households store it).
    pub fn from_centi(centi: i64) -> Result<Self, InvalidValue> {
        Self::from_milli(centi.saturating_mul(10))
    }

    /// Parses a decimal with at most three decimals (`12.5`, `89.51`).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let err = || InvalidValue(format!("`{raw}` is not a quantity with at most 3 decimals"));
        let raw = raw.trim();
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if whole.is_empty()
            || whole.len() > 12
            || frac.len() > 3
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let frac: i64 = format!("{frac:0<3}").parse().map_err(|_| err())?;
        Self::from_milli(whole * Self::PER_UNIT + frac)
    }

    /// Thousandths of a unit.
    pub fn milli(self) -> i64 {
        self.0
    }

    /// `12.500`.
    pub fn display(self) -> String {
        format!("{}.{:03}", self.0 / Self::PER_UNIT, self.0 % Self::PER_UNIT)
    }
}

/// A price per unit in hundredths of a fen (0.0001 元), so rates such as 0.5283 元/kWh are
/// exact: 2.35 元/m² is 23,500; 0.5283 元/kWh is 5,283.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitPrice(i64);

impl UnitPrice {
    /// Hundredths of a fen in one fen.
    pub const PER_FEN: i64 = 100;

    /// A price of `centi_fen` hundredths of a fen a unit; never negative, at most ¥100,000.
    pub fn from_centi_fen(centi_fen: i64) -> Result<Self, InvalidValue> {
        if (0..=1_000_000_000).contains(&centi_fen) {
            Ok(Self(centi_fen))
        } else {
            Err(InvalidValue(format!(
                "{centi_fen} is not a unit price of 0 to ¥100,000 in hundredths of a fen"
            )))
        }
    }

    /// Parses yuan with at most four decimals (`2.35`, `0.5283`).
    pub fn parse_yuan(raw: &str) -> Result<Self, InvalidValue> {
        let err = || {
            InvalidValue(format!(
                "`{raw}` is not a price in yuan with at most 4 decimals"
            ))
        };
        let raw = raw.trim();
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        if whole.is_empty()
            || whole.len() > 6
            || frac.len() > 4
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let frac: i64 = format!("{frac:0<4}").parse().map_err(|_| err())?;
        Self::from_centi_fen(whole * 10_000 + frac)
    }

    /// Hundredths of a fen.
    pub fn centi_fen(self) -> i64 {
        self.0
    }

    /// `¥0.5283`.
    pub fn display_yuan(self) -> String {
        format!("¥{}", price_text(self.0))
    }

    /// `0.5283`: yuan with four decimals, as the API writes prices.
    pub fn text(self) -> String {
        price_text(self.0)
    }
}

/// A price in hundredths of a fen as yuan with four decimals (`0.5283`).
pub fn price_text(centi_fen: i64) -> String {
    format!("{}.{:04}", centi_fen / 10_000, (centi_fen % 10_000).abs())
}

/// The amount in fen of `quantity` at `price`, rounded half up: the amount of one line.
pub fn line_amount(quantity: Quantity, price: UnitPrice) -> i64 {
    round_half_up(
        i128::from(quantity.milli()) * i128::from(price.centi_fen()),
        i128::from(Quantity::PER_UNIT * UnitPrice::PER_FEN),
    )
}

/// One band of a tiered price: consumption up to `up_to` (the last band: without end) at
/// `price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// The band's upper bound of the month's consumption; `None` for the last band.
    pub up_to: Option<Quantity>,
    /// The price in this band.
    pub price: UnitPrice,
}

/// A tiered price (阶梯价): bands in increasing order, the last without an upper bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers(Vec<Band>);

impl Tiers {
    /// Checks the bands: at least one, bounds strictly increasing, only the last unbounded.
    pub fn new(bands: Vec<Band>) -> Result<Self, InvalidValue> {
        let Some((last, rest)) = bands.split_last() else {
            return Err(InvalidValue("a tiered price has at least one band".into()));
        };
        if last.up_to.is_some() {
            return Err(InvalidValue("the last band has no upper bound".into()));
        }
        let mut previous = None;
        for band in rest {
            let Some(up_to) = band.up_to else {
                return Err(InvalidValue(
                    "only the last band is without an upper bound".into(),
                ));
            };
            if previous.is_some_and(|p| up_to <= p) || up_to.milli() == 0 {
                return Err(InvalidValue(
                    "band bounds increase from band to band".into(),
                ));
            }
            previous = Some(up_to);
        }
        Ok(Self(bands))
    }

    /// The bands, in increasing order.
    pub fn bands(&self) -> &[Band] {
        &self.0
    }

    /// The price of the first band: the price of a flat rate.
    pub fn first_price(&self) -> UnitPrice {
        self.0[0].price
    }

    /// A single price for every unit.
    pub fn flat(price: UnitPrice) -> Self {
        Self(vec![Band { up_to: None, price }])
    }

    /// The month's `consumption` split over the bands: one (quantity, price, amount) line per
    /// band it reaches, each rounded on its own.
    pub fn lines(&self, consumption: Quantity) -> Vec<(Quantity, UnitPrice, i64)> {
        let mut lines = Vec::new();
        let mut floor = 0;
        for band in &self.0 {
            let ceiling = band.up_to.map_or(i64::MAX, Quantity::milli);
            let used = consumption.milli().min(ceiling) - floor;
            if used <= 0 {
                break;
            }
            let quantity = Quantity(used);
            lines.push((quantity, band.price, line_amount(quantity, band.price)));
            floor = ceiling;
        }
        lines
    }
}

/// A community's late-fee rule (滞纳金): off unless enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateFeePolicy {
    /// Whether late fees are charged at all.
    pub enabled: bool,
    /// Daily rate in parts per million of the principal (万分之三 a day = 300).
    pub daily_ppm: i64,
    /// Days after the due date before a late fee starts.
    pub grace_days: i64,
    /// The most a late fee may come to, in percent of the principal.
    pub cap_percent: i64,
}

impl Default for LateFeePolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            daily_ppm: 300,
            grace_days: 0,
            cap_percent: 30,
        }
    }
}

impl LateFeePolicy {
    /// The late fee on `principal_fen` unpaid `days_overdue` days after the due date: simple
    /// interest on the principal only (never on earlier late fees), from the end of the
    /// grace days, rounded half up, never above the cap.
    pub fn late_fee(&self, principal_fen: i64, days_overdue: i64) -> i64 {
        if !self.enabled || principal_fen <= 0 {
            return 0;
        }
        let days = (days_overdue - self.grace_days).max(0);
        let fee = round_half_up(
            i128::from(principal_fen) * i128::from(self.daily_ppm) * i128::from(days),
            1_000_000,
        );
        // The cap rounds down: a late fee never exceeds the stated share.
        let cap = principal_fen.saturating_mul(self.cap_percent) / 100;
        fee.min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Quantity {
        Quantity::parse(raw).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn p(raw: &str) -> UnitPrice {
        UnitPrice::parse_yuan(raw).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn rounding_is_half_up_once_per_line() {
        assert_eq!(round_half_up(5, 10), 1);
        assert_eq!(round_half_up(4, 10), 0);
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_half_up(0, 7), 0);
        // 89.51 m² × 2.35 元 = 210.3485 元 → 21,035 fen.
        assert_eq!(line_amount(q("89.51"), p("2.35")), 21_035);
        // Area from a household's hundredths of m².
        let area = Quantity::from_centi(8_951).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(area, q("89.51"));
        // 123.4 kWh × 0.5283 元 = 65.19222 元 → 6,519 fen.
        assert_eq!(line_amount(q("123.4"), p("0.5283")), 6_519);
        // Exactly half a fen rounds up: 1 unit × 0.0050 元.
        assert_eq!(line_amount(q("1"), p("0.005")), 1);
        assert_eq!(line_amount(q("1"), p("0.0049")), 0);
    }

    #[test]
    fn quantities_and_prices_parse_exactly() {
        assert_eq!(q("12.5").milli(), 12_500);
        assert_eq!(q("12.5").display(), "12.500");
        assert_eq!(p("2.35").centi_fen(), 23_500);
        assert_eq!(p("0.5283").display_yuan(), "¥0.5283");
        for bad in ["", "-1", "1.2345", "1e3", "abc", "1.2.3"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "-1", "1.23456", "x", "1,5"] {
            assert!(UnitPrice::parse_yuan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiered_consumption_is_split_over_the_bands() {
        // Water: up to 18 t at 3.45, up to 25 t at 4.83, beyond at 5.83.
        let tiers = Tiers::new(vec![
            Band {
                up_to: Some(q("18")),
                price: p("3.45"),
            },
            Band {
                up_to: Some(q("25")),
                price: p("4.83"),
            },
            Band {
                up_to: None,
                price: p("5.83"),
            },
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let lines = tiers.lines(q("30.5"));
        assert_eq!(
            lines,
            vec![
                (q("18"), p("3.45"), 6_210),
                (q("7"), p("4.83"), 3_381),
                (q("5.5"), p("5.83"), 3_207), // 32.065 元 → 3,207 fen
            ]
        );
        let small = tiers.lines(q("12.25"));
        assert_eq!(small, vec![(q("12.25"), p("3.45"), 4_226)]); // 42.2625 元
        assert_eq!(
            tiers.lines(q("18")).len(),
            1,
            "a bound belongs to its own band"
        );
        assert!(tiers.lines(q("0")).is_empty());
        assert_eq!(Tiers::flat(p("3.45")).lines(q("30.5"))[0].2, 10_523); // 105.225 元
    }

    #[test]
    fn tier_bands_must_increase_and_end_unbounded() {
        let band = |up: Option<&str>, price: &str| Band {
            up_to: up.map(q),
            price: p(price),
        };
        assert!(Tiers::new(vec![]).is_err());
        assert!(Tiers::new(vec![band(Some("10"), "1")]).is_err());
        assert!(
            Tiers::new(vec![
                band(Some("10"), "1"),
                band(Some("5"), "2"),
                band(None, "3")
            ])
            .is_err()
        );
        assert!(Tiers::new(vec![band(None, "1"), band(None, "2")]).is_err());
        assert!(Tiers::new(vec![band(Some("10"), "1"), band(None, "2")]).is_ok());
    }

    #[test]
    fn late_fees_are_simple_interest_after_grace_and_capped() {
        let policy = LateFeePolicy {
            enabled: true,
            daily_ppm: 300, // 万分之三
            grace_days: 5,
            cap_percent: 30,
        };
        // ¥1,000.00 unpaid 15 days, 5 of grace: 100,000 × 0.0003 × 10 = 300 fen.
        assert_eq!(policy.late_fee(100_000, 15), 300);
        assert_eq!(policy.late_fee(100_000, 5), 0, "inside the grace days");
        assert_eq!(policy.late_fee(100_000, 0), 0);
        // Never compounded: twice the days, twice the fee.
        assert_eq!(policy.late_fee(100_000, 25), 600);
        // Capped at 30 % of the principal: 1,005 days would be 30,000 fen + more.
        assert_eq!(policy.late_fee(100_000, 2_000), 30_000);
        // Rounded half up: 12,345 × 0.0003 × 1 = 3.7035 → 4.
        assert_eq!(policy.late_fee(12_345, 6), 4);
        // Off by default.
        assert_eq!(LateFeePolicy::default().late_fee(100_000, 400), 0);
    }
}
