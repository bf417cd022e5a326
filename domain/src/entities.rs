//! sea-orm entities, one module per table.

pub mod audit_entry;
pub mod building;
pub mod butler_assignment;
pub mod community;
pub mod company;
pub mod delivery;
pub mod device;
pub mod household;
pub mod household_member;
pub mod idempotency_record;
pub mod login_code;
pub mod message;
pub mod notice;
pub mod notification_preference;
pub mod outbox_entry;
pub mod refresh_token;
pub mod resident;
pub mod scheduled_run;
pub mod staff;
pub mod staff_community;
pub mod staff_message;
pub mod ticket;
pub mod ticket_clock;
pub mod ticket_event;
pub mod ticket_photo;
pub mod unit;
