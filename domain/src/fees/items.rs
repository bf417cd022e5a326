//! What a community charges for: a fee item has a kind (per m², metered, fixed, per parking
//! space), a unit and a rate, flat or tiered. Rates are stored as JSON bands of integers.

use serde::{Deserialize, Serialize};

use super::{Band, Quantity, Tiers, UnitPrice};
use crate::people::{InvalidValue, string_enum};

string_enum! {
    /// How a fee item's quantity is found for one household and month.
    FeeKind {
        /// Per m² of the household's floor area a month (物业费).
        Area = "area",
        /// Per unit of the month's consumption from meter readings (水电气).
        Metered = "metered",
        /// A fixed amount per household a month.
        Fixed = "fixed",
        /// A fixed amount per parking space a month (车位费).
        PerSpace = "per_space",
    }
}

string_enum! {
    /// A household's meter.
    Meter {
        /// Water, in tons (m³ of water).
        Water = "water",
        /// Electricity, in kWh.
        Power = "power",
        /// Gas, in m³.
        Gas = "gas",
    }
}

string_enum! {
    /// The unit a bill line's quantity is counted in.
    FeeUnit {
        /// Square metres of floor area (a month).
        SquareMetre = "m2",
        /// Tons of water.
        Ton = "ton",
        /// Kilowatt-hours.
        Kwh = "kwh",
        /// Cubic metres of gas.
        CubicMetre = "m3",
        /// One month of a household.
        Month = "month",
        /// One parking space for a month.
        Space = "space",
        /// One charge (a one-off item, a service job, an item of laundry).
        Item = "item",
        /// An hour of a household service (钟点).
        Hour = "hour",
    }
}

impl Meter {
    /// The unit consumption is read in.
    pub fn unit(self) -> FeeUnit {
        match self {
            Meter::Water => FeeUnit::Ton,
            Meter::Power => FeeUnit::Kwh,
            Meter::Gas => FeeUnit::CubicMetre,
        }
    }
}

impl FeeKind {
    /// The unit of this kind's lines (a metered item's comes from its meter).
    pub fn unit(self, meter: Option<Meter>) -> FeeUnit {
        match self {
            FeeKind::Area => FeeUnit::SquareMetre,
            FeeKind::Metered => meter.map_or(FeeUnit::Item, Meter::unit),
            FeeKind::Fixed => FeeUnit::Month,
            FeeKind::PerSpace => FeeUnit::Space,
        }
    }
}

/// A fee item's rate, checked: a meter exactly when metered, tiers only when metered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// The kind.
    pub kind: FeeKind,
    /// The meter of a metered item.
    pub meter: Option<Meter>,
    /// The price bands; one unbounded band for a flat price.
    pub tiers: Tiers,
}

impl Rate {
    /// Checks that the parts fit together.
    pub fn new(kind: FeeKind, meter: Option<Meter>, tiers: Tiers) -> Result<Self, InvalidValue> {
        match (kind, meter) {
            (FeeKind::Metered, None) => {
                return Err(InvalidValue("a metered fee item names its meter".into()));
            }
            (FeeKind::Metered, Some(_)) => {}
            (_, Some(_)) => {
                return Err(InvalidValue("only a metered fee item has a meter".into()));
            }
            (_, None) => {}
        }
        if kind != FeeKind::Metered && tiers.bands().len() > 1 {
            return Err(InvalidValue(
                "only a metered fee item has a tiered price".into(),
            ));
        }
        Ok(Self { kind, meter, tiers })
    }

    /// The unit its lines are counted in.
    pub fn unit(&self) -> FeeUnit {
        self.kind.unit(self.meter)
    }
}

/// One band as stored in `fee_items.tiers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBand {
    /// Upper bound in thousandths of the unit; none for the last band.
    pub up_to_milli: Option<i64>,
    /// Price in hundredths of a fen.
    pub price_centi_fen: i64,
}

/// The stored JSON of `tiers`.
pub fn store_tiers(tiers: &Tiers) -> serde_json::Value {
    let bands: Vec<StoredBand> = tiers
        .bands()
        .iter()
        .map(|b| StoredBand {
            up_to_milli: b.up_to.map(Quantity::milli),
            price_centi_fen: b.price.centi_fen(),
        })
        .collect();
    serde_json::to_value(bands).unwrap_or_default()
}

/// Reads `fee_items.tiers` back.
pub fn load_tiers(stored: &serde_json::Value) -> Result<Tiers, InvalidValue> {
    let bands: Vec<StoredBand> = serde_json::from_value(stored.clone())
        .map_err(|e| InvalidValue(format!("unreadable stored tiers: {e}")))?;
    let bands = bands
        .into_iter()
        .map(|b| {
            Ok(Band {
                up_to: b.up_to_milli.map(Quantity::from_milli).transpose()?,
                price: UnitPrice::from_centi_fen(b.price_centi_fen)?,
            })
        })
        .collect::<Result<Vec<_>, InvalidValue>>()?;
    Tiers::new(bands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(raw: &str) -> Tiers {
        Tiers::flat(UnitPrice::parse_yuan(raw).unwrap_or_else(|e| panic!("{e:?}")))
    }

    #[test]
    fn a_rate_has_a_meter_exactly_when_metered() {
        assert!(Rate::new(FeeKind::Metered, None, flat("3.45")).is_err());
        assert!(Rate::new(FeeKind::Area, Some(Meter::Water), flat("2.35")).is_err());
        let water = Rate::new(FeeKind::Metered, Some(Meter::Water), flat("3.45"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(water.unit(), FeeUnit::Ton);
        let area = Rate::new(FeeKind::Area, None, flat("2.35")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(area.unit(), FeeUnit::SquareMetre);
        let tiered = Tiers::new(vec![
            Band {
                up_to: Some(Quantity::units(10).unwrap_or_else(|e| panic!("{e:?}"))),
                price: UnitPrice::parse_yuan("1").unwrap_or_else(|e| panic!("{e:?}")),
            },
            Band {
                up_to: None,
                price: UnitPrice::parse_yuan("2").unwrap_or_else(|e| panic!("{e:?}")),
            },
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(Rate::new(FeeKind::Fixed, None, tiered.clone()).is_err());
        assert!(Rate::new(FeeKind::Metered, Some(Meter::Gas), tiered).is_ok());
    }

    #[test]
    fn tiers_survive_storage() {
        let tiers = Tiers::new(vec![
            Band {
                up_to: Some(Quantity::parse("18").unwrap_or_else(|e| panic!("{e:?}"))),
                price: UnitPrice::parse_yuan("3.45").unwrap_or_else(|e| panic!("{e:?}")),
            },
            Band {
                up_to: None,
                price: UnitPrice::parse_yuan("4.83").unwrap_or_else(|e| panic!("{e:?}")),
            },
        ])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let stored = store_tiers(&tiers);
        assert_eq!(
            stored,
            serde_json::json!([
                { "up_to_milli": 18000, "price_centi_fen": 34500 },
                { "up_to_milli": null, "price_centi_fen": 48300 }
            ])
        );
        assert_eq!(load_tiers(&stored).ok(), Some(tiers));
        assert!(load_tiers(&serde_json::json!([])).is_err());
    }
}
