use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A community's overdue-reminder schedule (steps, daytime window); NULL means the
        // defaults.
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .add_column(json_null("reminder_policy"))
                    .take(),
            )
            .await?;
        // The reminder record (催缴记录): every automatic reminder (one per household, step
        // and anchoring month, by its dedupe key) and every contact staff record (phone,
        // visit, letter), with what was owed then.
        manager
            .create_table(
                Table::create()
                    .table("fee_reminders")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(string("channel"))
                    .col(string_null("step"))
                    .col(string_null("anchor_period"))
                    .col(string_null("dedupe_key"))
                    .col(big_integer("owed_fen"))
                    .col(big_integer("late_fee_fen"))
                    .col(json("bills"))
                    .col(uuid_null("staff_id"))
                    .col(text_null("note"))
                    .col(date_null("promised_on"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("fee_reminders", "household_id", "households"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("fee_reminders", &["dedupe_key"], true))
            .await?;
        manager
            .create_index(index(
                "fee_reminders",
                &["household_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "fee_reminders",
                &["community_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("fee_reminder_bills")
                    .col(uuid("reminder_id"))
                    .col(uuid("bill_id"))
                    .primary_key(Index::create().col("reminder_id").col("bill_id"))
                    .foreign_key(&mut fk(
                        "fee_reminder_bills",
                        "reminder_id",
                        "fee_reminders",
                    ))
                    .foreign_key(&mut fk("fee_reminder_bills", "bill_id", "bills"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("fee_reminder_bills", &["bill_id"], false))
            .await?;
        // Tasks on a butler's list: after the last automatic step, visit or call about the
        // arrears. One per reminder that raised it.
        manager
            .create_table(
                Table::create()
                    .table("follow_ups")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(uuid_null("butler_id"))
                    .col(string("reason"))
                    .col(uuid_null("reminder_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("done_at"))
                    .col(uuid_null("done_by"))
                    .col(text_null("done_note"))
                    .foreign_key(&mut fk("follow_ups", "household_id", "households"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("follow_ups", &["reminder_id"], true))
            .await?;
        manager
            .create_index(index("follow_ups", &["community_id", "done_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["follow_ups", "fee_reminder_bills", "fee_reminders"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .drop_column("reminder_policy")
                    .take(),
            )
            .await
    }
}
