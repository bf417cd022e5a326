//! Service bookings end to end, with the pushes checked where they arrive (the mock APNs,
//! which verifies the provider JWT, headers and payload as Apple does): an hourly cleaning
//! booked, confirmed, done, paid and rated; a slot moved by staff and accepted by the
//! resident; a quoted greenery job whose price is accepted before work; a late cancellation
//! with its fee and the refund of the rest; the last place of a slot asked for by 50
//! requests at once (`flows`); a monthly package issuing its visits on a moved clock
//! (`packages`); a laundry round trip with a damaged-item claim (`laundry`).

mod flows;
mod laundry;
mod office;
mod packages;
mod reports;
mod rework;
