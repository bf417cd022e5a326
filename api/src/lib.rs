//! Courtyard's HTTP API: poem + poem-openapi. One `#[OpenApi]` struct per area, combined in
//! [`startup::openapi_service`]; the exported document lives in `openapi/courtyard.yaml`.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod bookings;
pub mod client_ip;
pub mod communities;
pub mod consents;
pub mod contract;
pub mod created;
pub mod dead_letters;
pub mod error;
pub mod exports;
pub mod fees;
pub mod households;
pub mod idempotency;
pub mod imports;
pub mod limits;
pub mod locale;
pub mod me;
pub mod notices;
pub mod notifications;
pub mod ops;
pub mod packages;
pub mod pagination;
pub mod payments;
pub mod privacy;
pub mod residents;
pub mod services;
pub mod staff;
pub mod startup;
pub mod state;
pub mod strict_json;
pub mod telemetry;
pub mod tickets;
pub mod vocab;

use poem_openapi::Tags;

/// The areas of the API, as tags in the document.
#[derive(Tags)]
pub enum ApiTags {
    /// Logging in and out: SMS codes and WeChat for residents, passwords for staff.
    Auth,
    /// The caller's own profile and households.
    Me,
    /// Communities (小区), buildings (楼栋) and units (单元).
    Communities,
    /// Households (户) and who lives in them.
    Households,
    /// Residents (业主/住户).
    Residents,
    /// Staff accounts, roles, community scopes and butler assignments.
    Staff,
    /// Bulk import of the household roll from CSV.
    Imports,
    /// One's push devices, channel preferences, quiet hours and in-app inbox.
    Notifications,
    /// Notices to residents (outages, pest control, emergencies, activities), their delivery
    /// counts and trails, and dead letters.
    Notices,
    /// Repairs (报修) and complaints (投诉): reporting, dispatch, the work, prices, SLA
    /// clocks, ratings and callbacks (回访).
    Tickets,
    /// Fees (物业费, 水电气, 车位): fee items and policy, meter readings, one-off charges,
    /// bill runs and bills.
    Fees,
    /// Payments of bills: WeChat Pay (or the dev provider), offline payments recorded at the
    /// front desk, receipts.
    Payments,
    /// Household services (有偿服务): teams, the public price list, slots with capacity and
    /// the booking policy.
    Services,
    /// Service bookings: booked in a slot, the time confirmed (or another slot proposed and
    /// accepted) before the order is issued, the work, payment, cancellation, callback.
    Bookings,
    /// The audit trail: staff reads of residents' personal data, staff actions, logins.
    Audit,
}
