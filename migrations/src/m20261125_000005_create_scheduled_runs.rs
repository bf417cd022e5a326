use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per scheduled job, community and local date it ran for: the record that
        // makes a day's run happen once, and a missed one happen on restart.
        manager
            .create_table(
                Table::create()
                    .table("scheduled_runs")
                    .col(string("job"))
                    .col(uuid("community_id"))
                    .col(date("local_date"))
                    .col(integer("items"))
                    .col(timestamp_with_time_zone("ran_at"))
                    .primary_key(
                        Index::create()
                            .col("job")
                            .col("community_id")
                            .col("local_date"),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("scheduled_runs").take())
            .await
    }
}
