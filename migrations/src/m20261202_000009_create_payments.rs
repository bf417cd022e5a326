use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The payment holding a bill: the pending order for it, then the one that paid it.
        // Taken by compare-and-swap, so a bill is in at most one pending payment.
        manager
            .alter_table(
                Table::alter()
                    .table("bills")
                    .add_column(uuid_null("payment_id"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("payments")
                    .col(uuid("id").primary_key())
                    .col(uuid("company_id"))
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(uuid_null("payer_id"))
                    .col(string("method"))
                    .col(string("provider"))
                    .col(string("state"))
                    .col(big_integer("amount_fen"))
                    .col(big_integer("principal_fen"))
                    .col(big_integer("late_fee_fen"))
                    .col(big_integer("refunded_fen").default(0))
                    .col(string("out_trade_no"))
                    .col(string_null("prepay_id"))
                    .col(string_null("transaction_id"))
                    .col(string_null("reference"))
                    .col(uuid_null("recorded_by"))
                    .col(json("frozen"))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("paid_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("payments", "household_id", "households"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("payments", &["out_trade_no"], true))
            .await?;
        // A WeChat Pay transaction pays once: a second payment claiming it is refused.
        manager
            .create_index(index("payments", &["transaction_id"], true))
            .await?;
        manager
            .create_index(index("payments", &["household_id", "created_at"], false))
            .await?;
        manager
            .create_index(index("payments", &["state", "created_at"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("payment_bills")
                    .col(uuid("payment_id"))
                    .col(uuid("bill_id"))
                    .col(big_integer("principal_fen"))
                    .col(big_integer("late_fee_fen"))
                    .primary_key(Index::create().col("payment_id").col("bill_id"))
                    .foreign_key(&mut fk("payment_bills", "payment_id", "payments"))
                    .foreign_key(&mut fk("payment_bills", "bill_id", "bills"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("payment_bills", &["bill_id"], false))
            .await?;
        // Receipt numbers per company and year, without gaps: the counter row is bumped
        // in the transaction that marks the payment paid.
        manager
            .create_table(
                Table::create()
                    .table("receipt_counters")
                    .col(uuid("company_id"))
                    .col(integer("year"))
                    .col(big_integer("last"))
                    .primary_key(Index::create().col("company_id").col("year"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("receipts")
                    .col(uuid("id").primary_key())
                    .col(uuid("company_id"))
                    .col(uuid("payment_id"))
                    .col(integer("year"))
                    .col(big_integer("seq"))
                    .col(string("number"))
                    .col(json("content"))
                    .col(timestamp_with_time_zone("issued_at"))
                    .foreign_key(&mut fk("receipts", "payment_id", "payments"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("receipts", &["payment_id"], true))
            .await?;
        manager
            .create_index(index("receipts", &["company_id", "year", "seq"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["receipts", "receipt_counters", "payment_bills", "payments"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("bills")
                    .drop_column("payment_id")
                    .take(),
            )
            .await
    }
}
