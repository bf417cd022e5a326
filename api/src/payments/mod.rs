//! Payments: a resident pays one or more open bills of a household through WeChat Pay (or
//! the dev provider of the embedded default); the front desk records cash, POS and bank
//! transfers; a succeeded payment has a receipt numbered per company and year. The server
//! computes every amount; WeChat Pay's notification is trusted only once verified.

pub mod dto;
mod handlers;
pub mod notify;
pub mod pdf;
pub mod refunds;

pub use handlers::PaymentsApi;
pub use refunds::RefundsApi;

use std::collections::HashMap;

use courtyard_domain::entities::payment_bill;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

/// The bills each of `payment_ids` covers, in one query.
pub(crate) async fn covered_of(
    state: &AppState,
    payment_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<payment_bill::Model>>, ApiError> {
    let mut covered: HashMap<Uuid, Vec<payment_bill::Model>> = HashMap::new();
    if payment_ids.is_empty() {
        return Ok(covered);
    }
    for c in payment_bill::Entity::find()
        .filter(payment_bill::Column::PaymentId.is_in(payment_ids.iter().copied()))
        .all(&state.db)
        .await?
    {
        covered.entry(c.payment_id).or_default().push(c);
    }
    Ok(covered)
}
