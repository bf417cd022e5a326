//! Tickets: one lifecycle for repairs (报修), complaints (投诉) and service bookings (有偿服务). The state machine (who may
//! do what, from which state), the SLA policy with its defaults from the service manuals,
//! the clocks computed from it with the community's working hours, and the value types a
//! ticket is made of. Pure: the API and the workers call these, never re-implement them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{
    org::WorkingHours,
    people::{InvalidValue, StaffRole, string_enum},
};

pub use crate::money::Fen;

mod lifecycle;
mod sla;
#[cfg(test)]
mod tests;

pub use lifecycle::*;
pub use sla::*;

string_enum! {
    /// What a ticket is.
    TicketKind {
        /// A repair (报修).
        Repair = "repair",
        /// A complaint (投诉).
        Complaint = "complaint",
        /// A paid household service booked by the resident (有偿服务).
        ServiceBooking = "service_booking",
    }
}

string_enum! {
    /// Where a ticket is in its lifecycle.
    TicketState {
        /// Reported, not yet given to anyone.
        Submitted = "submitted",
        /// Given to a department and a staff member, who has not accepted yet.
        Dispatched = "dispatched",
        /// The assignee took it.
        Accepted = "accepted",
        /// The assignee is at the door.
        OnSite = "on_site",
        /// Work done (or the complaint answered); the resident may rate it in the app.
        Completed = "completed",
        /// Not rated in the app in time: on the front desk's callback list (回访).
        AwaitingCallback = "awaiting_callback",
        /// The resident is satisfied.
        Closed = "closed",
        /// Withdrawn before work started.
        Cancelled = "cancelled",
        /// The resident was not satisfied: back to the same department for rework.
        Reopened = "reopened",
    }
}

impl TicketState {
    /// Whether nothing more happens to the ticket.
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Closed | TicketState::Cancelled)
    }

    /// Whether someone still follows the ticket (task lists, "open tickets"): not final.
    pub fn is_open(self) -> bool {
        !self.is_final()
    }

    /// The states in which the work itself is still to do: the work clocks run (the SLA
    /// watch pages people) and the ticket counts towards its assignee's load at dispatch.
    pub const IN_WORK: [TicketState; 5] = [
        TicketState::Submitted,
        TicketState::Dispatched,
        TicketState::Accepted,
        TicketState::OnSite,
        TicketState::Reopened,
    ];

    /// Whether the work is still to do (one of [`TicketState::IN_WORK`]).
    pub fn is_in_work(self) -> bool {
        Self::IN_WORK.contains(&self)
    }
}

string_enum! {
    /// What is broken.
    RepairCategory {
        /// Water: leaks, pipes, taps.
        Water = "water",
        /// Electricity.
        Electricity = "electricity",
        /// Gas.
        Gas = "gas",
        /// Doors and locks.
        DoorLock = "door_lock",
        /// Appliances.
        Appliance = "appliance",
        /// Walls, windows, ceilings.
        Structure = "structure",
        /// Lifts, lights, gates and other shared facilities.
        PublicFacility = "public_facility",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// A ticket's category, of any kind: a repair's or a complaint's.
    TicketCategory {
        /// Water (repair).
        Water = "water",
        /// Electricity (repair).
        Electricity = "electricity",
        /// Gas (repair).
        Gas = "gas",
        /// Door or lock (repair).
        DoorLock = "door_lock",
        /// Appliance (repair).
        Appliance = "appliance",
        /// Structure (repair).
        Structure = "structure",
        /// Public facility (repair).
        PublicFacility = "public_facility",
        /// Service attitude (complaint).
        ServiceAttitude = "service_attitude",
        /// Engineering (complaint).
        Engineering = "engineering",
        /// Neighbour behaviour (complaint).
        NeighbourBehaviour = "neighbour_behaviour",
        /// Environment (complaint).
        Environment = "environment",
        /// Security (complaint).
        Security = "security",
        /// Cleaning (service booking).
        Cleaning = "cleaning",
        /// Greenery (service booking).
        Greenery = "greenery",
        /// Laundry (service booking).
        Laundry = "laundry",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// Where a rating was given.
    RatedVia {
        /// By the resident in the app.
        App = "app",
        /// On the front desk's phone callback.
        Phone = "phone",
    }
}

string_enum! {
    /// How soon a repair must be done.
    Urgency {
        /// Leak, flooding, outage, blocked toilet: on site in 15 minutes, fixed in 6 hours.
        Emergency = "emergency",
        /// Bulb, lock, small part: half a working day.
        Simple = "simple",
        /// One working day, or the agreed window (never over 7 working days).
        Ordinary = "ordinary",
    }
}

string_enum! {
    /// What a complaint is about.
    ComplaintCategory {
        /// Staff attitude.
        ServiceAttitude = "service_attitude",
        /// Engineering work.
        Engineering = "engineering",
        /// Neighbours' noise, smell and the like: staff at the door in 15 minutes.
        NeighbourBehaviour = "neighbour_behaviour",
        /// Environment and cleanliness.
        Environment = "environment",
        /// Security.
        Security = "security",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How serious a complaint is.
    Severity {
        /// Ordinary.
        Ordinary = "ordinary",
        /// Serious.
        Serious = "serious",
    }
}

string_enum! {
    /// The department a work order goes to.
    Department {
        /// Engineering (工程部).
        Engineering = "engineering",
        /// Cleaning (清洁).
        Cleaning = "cleaning",
        /// Greenery (绿化).
        Greenery = "greenery",
    }
}

impl Department {
    /// The staff role that works in this department.
    pub fn role(self) -> StaffRole {
        match self {
            Department::Engineering => StaffRole::Engineer,
            Department::Cleaning => StaffRole::Cleaner,
            Department::Greenery => StaffRole::Gardener,
        }
    }

    /// The department of a field role, if it is one.
    pub fn of_role(role: StaffRole) -> Option<Self> {
        match role {
            StaffRole::Engineer => Some(Department::Engineering),
            StaffRole::Cleaner => Some(Department::Cleaning),
            StaffRole::Gardener => Some(Department::Greenery),
            _ => None,
        }
    }
}

string_enum! {
    /// How a ticket reached us.
    Source {
        /// The resident's app or mini-program.
        App = "app",
        /// A phone call the front desk registered.
        Phone = "phone",
        /// A visit to the front desk.
        WalkIn = "walk_in",
    }
}

string_enum! {
    /// Where a paid repair's price stands.
    PriceStatus {
        /// Staff stated a price; the resident has not answered.
        Proposed = "proposed",
        /// The resident accepted the price.
        Accepted = "accepted",
        /// The resident declined the price.
        Declined = "declined",
    }
}

string_enum! {
    /// An SLA clock on a ticket.
    ClockKind {
        /// A booking's time confirmed with the resident (or another slot proposed).
        Confirm = "confirm",
        /// Staff at the door.
        Arrive = "arrive",
        /// The butler answers the front desk about a complaint.
        Answer = "answer",
        /// Fixed (repair) or replied to (complaint).
        Resolve = "resolve",
        /// The resident rates it, in the app or on the callback.
        Callback = "callback",
    }
}

string_enum! {
    /// What happened to a ticket: the event history's `action`.
    EventAction {
        /// Reported.
        Reported = "reported",
        /// Given to a department and a staff member.
        Dispatched = "dispatched",
        /// Given to someone else.
        Reassigned = "reassigned",
        /// The assignee took it.
        Accepted = "accepted",
        /// The assignee arrived.
        Arrived = "arrived",
        /// A price was stated.
        Priced = "priced",
        /// The resident accepted the price.
        PriceAccepted = "price_accepted",
        /// The resident declined the price.
        PriceDeclined = "price_declined",
        /// The butler answered the front desk about a complaint.
        Answered = "answered",
        /// Work done or complaint replied to.
        Completed = "completed",
        /// The resident rated it in the app.
        Rated = "rated",
        /// The front desk recorded a phone callback.
        CallbackRecorded = "callback_recorded",
        /// The front desk called and did not reach the resident.
        CallbackUnreached = "callback_unreached",
        /// Not rated in the app in time: on the front desk's list.
        CallbackDue = "callback_due",
        /// Unsatisfied: back for rework.
        Reopened = "reopened",
        /// Satisfied: done.
        Closed = "closed",
        /// Withdrawn.
        Cancelled = "cancelled",
        /// A booking's time was confirmed and its work order issued to the team.
        Confirmed = "confirmed",
        /// Staff proposed another slot for a booking.
        TimeProposed = "time_proposed",
        /// The resident accepted the proposed slot: the work order is issued.
        TimeAccepted = "time_accepted",
        /// The resident declined the proposed slot.
        TimeDeclined = "time_declined",
        /// A laundry order was picked up at the door, its items counted.
        PickedUp = "picked_up",
        /// A laundry order went to the vendor, with its return date.
        AtVendor = "at_vendor",
        /// A laundry order came back from the vendor and was checked.
        Returned = "returned",
        /// A claim was recorded on a booking: an item missing or damaged.
        ClaimRecorded = "claim_recorded",
        /// A claim was settled or rejected by the office.
        ClaimSettled = "claim_settled",
        /// A photo was added.
        PhotoAdded = "photo_added",
        /// An SLA clock is about to run out.
        SlaWarned = "sla_warned",
        /// An SLA clock ran out: escalated to the supervisor.
        SlaBreached = "sla_breached",
    }
}

impl EventAction {
    /// Whether the workers tell someone of this event (who is theirs to decide): answers,
    /// ratings, callbacks and photos are for the history and the front desk only.
    pub fn tells_someone(self) -> bool {
        !matches!(
            self,
            EventAction::Answered
                | EventAction::Rated
                | EventAction::CallbackRecorded
                | EventAction::CallbackUnreached
                | EventAction::CallbackDue
                | EventAction::PhotoAdded
                | EventAction::TimeDeclined
        )
    }
}

/// A star rating, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// Parses 1 to 5.
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        match u8::try_from(raw) {
            Ok(stars @ 1..=5) => Ok(Self(stars)),
            _ => Err(InvalidValue(format!(
                "{raw} is not a rating of 1 to 5 stars"
            ))),
        }
    }

    /// The stars.
    pub fn stars(self) -> u8 {
        self.0
    }
}

/// A community's ticket policy (the defaults when none is stored), working hours and time
/// zone, as its row stores them.
pub fn rules_of(
    community: &crate::entities::community::Model,
) -> Result<(TicketPolicy, crate::org::WorkingHours, Tz), InvalidValue> {
    let policy = community
        .ticket_policy
        .clone()
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default();
    let days: Vec<u8> = serde_json::from_value(community.work_days.clone()).unwrap_or_default();
    let holidays: Vec<String> =
        serde_json::from_value(community.holidays.clone()).unwrap_or_default();
    let hours = crate::org::WorkingHours::parse(
        &community.work_start,
        &community.work_end,
        &days,
        &holidays,
    )
    .map_err(|e| InvalidValue(format!("community {} working hours: {e}", community.id)))?;
    let tz = crate::org::Timezone::parse(&community.timezone)
        .map_err(|e| InvalidValue(format!("community {} time zone: {e}", community.id)))?
        .tz();
    Ok((policy, hours, tz))
}
