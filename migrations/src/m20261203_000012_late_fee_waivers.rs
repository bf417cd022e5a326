use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column an ALTER: SQLite takes no more.
async fn add(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).take())
        .await
}

async fn drop(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: &'static str,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).take())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // An admin's waiver of a bill's late fee: who, when and why. A payment made after it
        // carries no late fee for the bill.
        add(
            manager,
            "bills",
            timestamp_with_time_zone_null("late_fee_waived_at"),
        )
        .await?;
        add(manager, "bills", uuid_null("late_fee_waived_by")).await?;
        add(manager, "bills", text_null("late_fee_waive_reason")).await?;
        // Money the provider took for an order we had already ended, whose bills were paid
        // or taken by another payment in the meantime: kept for staff to refund.
        add(
            manager,
            "payments",
            timestamp_with_time_zone_null("stray_paid_at"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "payments", "stray_paid_at").await?;
        drop(manager, "bills", "late_fee_waive_reason").await?;
        drop(manager, "bills", "late_fee_waived_by").await?;
        drop(manager, "bills", "late_fee_waived_at").await
    }
}
