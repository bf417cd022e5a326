//! Fees (物业费, 水电气, 车位): a community's fee policy and items, meter readings, one-off
//! charges, bill runs and bills. Staff set up and bill; residents see their households'
//! bills. Money is integer fen; the amounts are computed by `courtyard_domain::fees` and
//! written by `courtyard_store::fees`.

use courtyard_domain::{entities::household, people::StaffRole};
use uuid::Uuid;

use crate::{authz::Principal, error::ApiError, state::AppState};

pub mod bills;
mod dto;
pub mod reminders;
pub mod reports;
pub mod setup;
pub mod statement;

pub use bills::BillsApi;
pub use reminders::FeeRemindersApi;
pub use reports::FeeReportsApi;
pub use setup::FeeSetupApi;
pub use statement::FeeStatementApi;

/// Staff who keep the fee roll: readings, charges, the bills of a household.
pub(crate) const FEE_KEEPERS: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::Supervisor,
    StaffRole::FrontDesk,
];
/// Staff who may enter meter readings: the fee keepers and engineering, who read the meters.
pub(crate) const METER_READERS: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::Supervisor,
    StaffRole::FrontDesk,
    StaffRole::Engineer,
];
/// Staff who may see a household's bills: the fee keepers and its butler's colleagues.
pub(crate) const BILL_READERS: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::Supervisor,
    StaffRole::FrontDesk,
    StaffRole::Butler,
];

/// A household the caller may see: staff with one of `roles` in its community, or a
/// resident member of it (when `residents` is true).
pub(crate) async fn household_for(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    roles: &[StaffRole],
    residents: bool,
) -> Result<household::Model, ApiError> {
    match principal {
        Principal::Staff(_) => {
            principal.staff(roles)?;
        }
        Principal::Resident(_) if !residents => {
            return Err(ApiError::Forbidden("only staff may do this".into()));
        }
        Principal::Resident(_) => {}
    }
    principal.household(state, id).await
}
