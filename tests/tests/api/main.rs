//! End-to-end tests: the real server over a real database. Run with
//! `COURTYARD_TEST_DB=postgres` to use PostgreSQL instead of SQLite.

mod audit;
mod auth;
mod authz_matrix;
mod bookings;
mod circuits;
mod communities;
mod deliveries;
mod faults;
mod fee_office;
mod fees;
mod health;
mod idempotency;
mod imports;
mod jobs;
mod notices;
mod openapi;
mod payments;
mod payments_after_close;
mod people;
mod photos;
mod privacy;
mod providers_e2e;
mod push_providers;
mod queue_contract;
mod rate_limits;
mod reminders;
mod scheduler;
mod sms_wechat_providers;
mod task_lists;
mod ticket_notifications;
mod ticket_store;
mod tickets;
