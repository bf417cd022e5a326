//! Fees in the database: a community's policy and items as the bill run reads them, meter
//! readings, and the bill run itself.

pub mod bill_run;
pub mod charges;
pub mod closing;
pub(crate) mod insert;
pub mod reading_import;
pub mod readings;

use courtyard_domain::{
    entities::{community, fee_item},
    fees::{
        bills::ItemRate,
        items::{FeeKind, Meter, Rate, load_tiers},
        policy::FeePolicy,
    },
    people::InvalidValue,
};

/// A community's fee policy; the defaults when it has none.
pub fn policy_of(community: &community::Model) -> FeePolicy {
    FeePolicy::from_stored(community.fee_policy.as_ref())
}

/// A stored fee item as the bill run prices it.
pub fn item_rate(row: &fee_item::Model) -> Result<ItemRate, InvalidValue> {
    let kind = FeeKind::parse(&row.kind)?;
    let meter = row.meter.as_deref().map(Meter::parse).transpose()?;
    Ok(ItemRate {
        id: row.id,
        name: row.name.clone(),
        rate: Rate::new(kind, meter, load_tiers(&row.tiers)?)?,
    })
}
