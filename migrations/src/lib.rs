//! Courtyard's schema: one migration set that runs on SQLite and PostgreSQL. Money is
//! integer fen, areas integer hundredths of m², timestamps UTC.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_organisation;
mod m20261125_000002_create_people;
mod m20261125_000003_create_credentials;
mod m20261125_000004_create_notifications;
mod m20261125_000005_create_scheduled_runs;
mod m20261125_000006_create_tickets;
mod m20261201_000007_create_idempotency_records;
mod m20261202_000008_create_fees;
mod m20261202_000009_create_payments;
mod m20261202_000010_payment_checks;
mod m20261202_000011_create_refunds;
mod m20261203_000012_late_fee_waivers;
mod m20261203_000013_create_fee_reminders;
mod m20261203_000014_create_wechat_consents;
mod m20261204_000015_create_services;
mod m20261205_000016_packages_and_laundry;
mod m20261206_000017_event_recipients;
mod m20261207_000018_audit_trail;
mod m20261207_000019_privacy;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_organisation::Migration),
            Box::new(m20261125_000002_create_people::Migration),
            Box::new(m20261125_000003_create_credentials::Migration),
            Box::new(m20261125_000004_create_notifications::Migration),
            Box::new(m20261125_000005_create_scheduled_runs::Migration),
            Box::new(m20261125_000006_create_tickets::Migration),
            Box::new(m20261201_000007_create_idempotency_records::Migration),
            Box::new(m20261202_000008_create_fees::Migration),
            Box::new(m20261202_000009_create_payments::Migration),
            Box::new(m20261202_000010_payment_checks::Migration),
            Box::new(m20261202_000011_create_refunds::Migration),
            Box::new(m20261203_000012_late_fee_waivers::Migration),
            Box::new(m20261203_000013_create_fee_reminders::Migration),
            Box::new(m20261203_000014_create_wechat_consents::Migration),
            Box::new(m20261204_000015_create_services::Migration),
            Box::new(m20261205_000016_packages_and_laundry::Migration),
            Box::new(m20261206_000017_event_recipients::Migration),
            Box::new(m20261207_000018_audit_trail::Migration),
            Box::new(m20261207_000019_privacy::Migration),
        ]
    }
}

/// A foreign key from `table.column` to `target.id`.
pub(crate) fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

/// An index on `columns` of `table`, unique or not.
pub(crate) fn index(
    table: &'static str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("ix_{table}_{}", columns.join("_")))
        .table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}
