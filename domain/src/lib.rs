//! Courtyard's shared domain: sea-orm entities, domain types (parsed at the edge, valid
//! inside), pure rules and the `Settings` that API and workers share.

pub mod auth;
pub mod calendar;
pub mod circuits;
pub mod clock;
pub mod entities;
pub mod fees;
pub mod imports;
pub mod jobs;
pub mod money;
pub mod notifications;
pub mod org;
pub mod payments;
pub mod people;
pub mod photos;
pub mod services;
pub mod settings;
pub mod ticket_messages;
pub mod tickets;

pub use clock::{Clock, ManualClock, SystemClock};
pub use settings::Settings;

/// A new time-ordered id (UUID v7): sortable, so it doubles as the cursor for pagination.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
