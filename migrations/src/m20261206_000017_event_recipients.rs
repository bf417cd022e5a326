use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Who held the ticket as of each event, so its notification is addressed from the
        // event and not from whatever the ticket has become by the time its job runs.
        for column in ["assignee_id", "butler_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("ticket_events")
                        .add_column(uuid_null(column))
                        .take(),
                )
                .await?;
        }
        // Earlier events: the best that is known, the ticket as it is now.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE ticket_events SET \
                 assignee_id = (SELECT t.assignee_id FROM tickets AS t WHERE t.id = ticket_events.ticket_id), \
                 butler_id = (SELECT t.butler_id FROM tickets AS t WHERE t.id = ticket_events.ticket_id)",
            )
            .await?;
        // The sweeper reads lost deliveries oldest first.
        manager
            .create_index(index("deliveries", &["due_at"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deliveries_due_at")
                    .table("deliveries")
                    .to_owned(),
            )
            .await?;
        for column in ["butler_id", "assignee_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("ticket_events")
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
