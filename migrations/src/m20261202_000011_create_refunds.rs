use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Refunds of a paid payment, asked for by an admin: `out_refund_no` is reused on
        // every retry, so the provider answers the same refund.
        manager
            .create_table(
                Table::create()
                    .table("refunds")
                    .col(uuid("id").primary_key())
                    .col(uuid("payment_id"))
                    .col(string("out_refund_no"))
                    .col(big_integer("amount_fen"))
                    .col(text("reason"))
                    .col(string("state"))
                    .col(string_null("refund_id"))
                    .col(uuid("requested_by"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("checked_at"))
                    .col(timestamp_with_time_zone_null("succeeded_at"))
                    .foreign_key(&mut fk("refunds", "payment_id", "payments"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("refunds", &["out_refund_no"], true))
            .await?;
        manager
            .create_index(index("refunds", &["payment_id"], false))
            .await?;
        manager
            .create_index(index("refunds", &["state", "created_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("refunds").take())
            .await
    }
}
