use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // When the reconciliation job last asked the provider about a pending payment, so it
        // asks each at most once a minute.
        manager
            .alter_table(
                Table::alter()
                    .table("payments")
                    .add_column(timestamp_with_time_zone_null("checked_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("payments")
                    .drop_column("checked_at")
                    .take(),
            )
            .await
    }
}
