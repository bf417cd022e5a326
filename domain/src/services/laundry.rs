//! Laundry (洗衣): picked up at the door with every item counted and its condition recorded,
//! at the vendor with a return date, returned and checked item by item, delivered. A missing
//! or damaged item is a claim on the order. Pure: the order of the steps, what each needs,
//! and which checked items become claims.

use chrono::NaiveDate;

use crate::people::{InvalidValue, string_enum};

string_enum! {
    /// A laundry order's step.
    LaundryStage {
        /// Picked up at the door; the items counted and their condition recorded.
        PickedUp = "picked_up",
        /// At the vendor, with the date it comes back.
        AtVendor = "at_vendor",
        /// Back from the vendor and checked item by item.
        Returned = "returned",
        /// Delivered to the door: the booking completes, charged by the items counted.
        Delivered = "delivered",
    }
}

string_enum! {
    /// What a claim on an order is about.
    ClaimKind {
        /// An item did not come back.
        Missing = "missing",
        /// An item came back damaged.
        Damaged = "damaged",
    }
}

string_enum! {
    /// Where a claim stands.
    ClaimState {
        /// Recorded; the office has not settled it.
        Open = "open",
        /// Settled with the resident (with any compensation agreed).
        Settled = "settled",
        /// Rejected, with the reason.
        Rejected = "rejected",
    }
}

/// Why a laundry step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// Not the next step from where the order is (409).
    #[error("a laundry order {at} cannot be marked {next}")]
    OutOfOrder {
        /// Where it is (`not picked up` before the first step).
        at: String,
        /// What was asked.
        next: LaundryStage,
    },
}

impl LaundryStage {
    /// The step that must come just before this one; none for the pickup.
    pub fn after(self) -> Option<LaundryStage> {
        match self {
            LaundryStage::PickedUp => None,
            LaundryStage::AtVendor => Some(LaundryStage::PickedUp),
            LaundryStage::Returned => Some(LaundryStage::AtVendor),
            LaundryStage::Delivered => Some(LaundryStage::Returned),
        }
    }

    /// Checks that `self` may follow `at` (none: not picked up yet).
    pub fn follows(self, at: Option<LaundryStage>) -> Result<(), StageError> {
        if self.after() == at {
            Ok(())
        } else {
            Err(StageError::OutOfOrder {
                at: at.map_or_else(|| "not picked up yet".into(), |s| format!("{s}")),
                next: self,
            })
        }
    }
}

/// One item as counted at pickup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedItem {
    /// What it is (`羊毛大衣`).
    pub name: String,
    /// Its condition at pickup (`左袖口有污渍`), empty when unremarkable.
    pub condition: String,
}

/// Checks the items counted at pickup: 1 to 200, each named (at most 60 characters), a
/// condition of at most 200.
pub fn check_items(items: &[CountedItem]) -> Result<(), (&'static str, InvalidValue)> {
    if items.is_empty() || items.len() > 200 {
        return Err(("items", InvalidValue("count 1 to 200 items".into())));
    }
    for (i, item) in items.iter().enumerate() {
        let name = item.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err((
                "items",
                InvalidValue(format!("item {}: a name of 1 to 60 characters", i + 1)),
            ));
        }
        if item.condition.chars().count() > 200 {
            return Err((
                "items",
                InvalidValue(format!(
                    "item {}: a condition of at most 200 characters",
                    i + 1
                )),
            ));
        }
    }
    Ok(())
}

/// Checks the vendor's return date: not before the day it goes, at most 30 days after.
pub fn check_return_on(return_on: NaiveDate, today: NaiveDate) -> Result<(), InvalidValue> {
    if return_on < today || return_on > today + chrono::Duration::days(30) {
        return Err(InvalidValue(format!(
            "{return_on} is not a return date from today to 30 days ahead"
        )));
    }
    Ok(())
}

/// One item as checked on its return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Whether it came back.
    pub present: bool,
    /// Whether it came back damaged.
    pub damaged: bool,
}

/// The claim a checked item makes: missing, damaged, or none.
pub fn claim_of(check: Checked) -> Option<ClaimKind> {
    match check {
        Checked { present: false, .. } => Some(ClaimKind::Missing),
        Checked { damaged: true, .. } => Some(ClaimKind::Damaged),
        _ => None,
    }
}

/// Who may record a laundry step other than the pickup (the pickup is the assignee's
/// arrival, `Action::Arrive`), and from which ticket state: the assignee, the front desk or
/// a manager, while the order is out (on site). Completing it delivers it.
pub fn may_step(
    stage: LaundryStage,
    state: crate::tickets::TicketState,
    parties: &[crate::tickets::Party],
) -> Result<(), crate::tickets::TransitionError> {
    use crate::tickets::{Party, TicketState, TransitionError};
    let action = match stage {
        LaundryStage::PickedUp => "record the pickup of",
        LaundryStage::AtVendor => "send to the vendor",
        LaundryStage::Returned => "record the return of",
        LaundryStage::Delivered => "deliver",
    };
    if !parties
        .iter()
        .any(|p| matches!(p, Party::Assignee | Party::Desk | Party::Manager))
    {
        return Err(TransitionError::NotAllowed { action });
    }
    if state != TicketState::OnSite {
        return Err(TransitionError::WrongState { action, state });
    }
    Ok(())
}

/// Who may record a claim on a booking, and when: the resident, the assignee, the front
/// desk or a manager, once the work has started (the items are with the team) and until the
/// booking is closed; on a closed one, staff only (a resident's late call to the office).
pub fn may_claim(
    state: crate::tickets::TicketState,
    parties: &[crate::tickets::Party],
) -> Result<(), crate::tickets::TransitionError> {
    use crate::tickets::{Party, TicketState::*, TransitionError};
    let action = "record a claim on";
    let staff = parties
        .iter()
        .any(|p| matches!(p, Party::Assignee | Party::Desk | Party::Manager));
    if !staff && !parties.contains(&Party::Resident) {
        return Err(TransitionError::NotAllowed { action });
    }
    match state {
        OnSite | Completed | AwaitingCallback | Reopened => Ok(()),
        Closed if staff => Ok(()),
        _ => Err(TransitionError::WrongState { action, state }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::{Party, TicketState, TransitionError};

    #[test]
    fn steps_go_in_order() {
        use LaundryStage::*;
        assert!(PickedUp.follows(None).is_ok());
        assert!(AtVendor.follows(Some(PickedUp)).is_ok());
        assert!(Returned.follows(Some(AtVendor)).is_ok());
        assert!(Delivered.follows(Some(Returned)).is_ok());
        let err = Delivered.follows(Some(AtVendor)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a laundry order at_vendor cannot be marked delivered"
        );
        assert!(AtVendor.follows(None).is_err());
        assert!(PickedUp.follows(Some(PickedUp)).is_err());
        assert!(Returned.follows(Some(Delivered)).is_err());
    }

    #[test]
    fn a_missing_or_damaged_item_is_a_claim() {
        let c = |present, damaged| claim_of(Checked { present, damaged });
        assert_eq!(c(true, false), None);
        assert_eq!(c(true, true), Some(ClaimKind::Damaged));
        assert_eq!(c(false, false), Some(ClaimKind::Missing));
        assert_eq!(c(false, true), Some(ClaimKind::Missing));
    }

    #[test]
    fn items_and_return_dates_are_checked() {
        let item = |name: &str, condition: &str| CountedItem {
            name: name.into(),
            condition: condition.into(),
        };
        assert!(check_items(&[item("大衣", "袖口污渍")]).is_ok());
        assert!(check_items(&[]).is_err());
        assert!(check_items(&[item("  ", "")]).is_err());
        assert!(check_items(&[item("大衣", &"污".repeat(201))]).is_err());
        assert!(check_items(&vec![item("袜子", ""); 201]).is_err());
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert!(check_return_on(today, today).is_ok());
        assert!(check_return_on(today + chrono::Duration::days(30), today).is_ok());
        assert!(check_return_on(today - chrono::Duration::days(1), today).is_err());
        assert!(check_return_on(today + chrono::Duration::days(31), today).is_err());
    }

    #[test]
    fn the_team_and_the_office_record_steps_the_resident_claims_too() {
        use LaundryStage::*;
        assert!(may_step(AtVendor, TicketState::OnSite, &[Party::Assignee]).is_ok());
        assert!(may_step(Returned, TicketState::OnSite, &[Party::Desk]).is_ok());
        assert!(matches!(
            may_step(
                AtVendor,
                TicketState::OnSite,
                &[Party::Resident, Party::Butler]
            ),
            Err(TransitionError::NotAllowed { .. })
        ));
        assert!(matches!(
            may_step(AtVendor, TicketState::Accepted, &[Party::Assignee]),
            Err(TransitionError::WrongState { .. })
        ));
        assert!(may_claim(TicketState::Completed, &[Party::Resident]).is_ok());
        assert!(may_claim(TicketState::OnSite, &[Party::Assignee]).is_ok());
        assert!(may_claim(TicketState::Closed, &[Party::Desk]).is_ok());
        assert!(may_claim(TicketState::Closed, &[Party::Resident]).is_err());
        assert!(may_claim(TicketState::Submitted, &[Party::Desk]).is_err());
        assert!(may_claim(TicketState::Completed, &[Party::Butler]).is_err());
    }
}
