//! One module per job.

pub mod bills;
pub mod birthdays;
pub mod bookings;
pub mod fanout;
pub mod housekeeping;
pub mod packages;
pub mod payments_reconcile;
pub mod privacy;
pub mod relay;
pub mod reminders;
pub mod send;
pub mod sla_watch;
pub mod sweeper;
pub mod ticket_notify;
