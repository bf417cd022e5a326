use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Quiet hours live on the resident, in the community's time zone.
        manager
            .alter_table(
                Table::alter()
                    .table("residents")
                    .add_column(string_null("quiet_start"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("residents")
                    .add_column(string_null("quiet_end"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("devices")
                    .col(pk_uuid("id"))
                    .col(string("owner_kind"))
                    .col(uuid("owner_id"))
                    .col(string("platform"))
                    .col(string("provider"))
                    .col(string("token"))
                    .col(string_null("topic"))
                    .col(boolean("sandbox"))
                    .col(string("locale"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone_null("invalidated_at"))
                    .col(string_null("invalid_reason"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("devices", &["provider", "token"], true))
            .await?;
        manager
            .create_index(index("devices", &["owner_id", "active"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notification_preferences")
                    .col(uuid("resident_id"))
                    .col(string("category"))
                    .col(json("channels"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("resident_id").col("category"))
                    .foreign_key(
                        &mut fk("notification_preferences", "resident_id", "residents")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notices")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(uuid("community_id"))
                    .col(string("category"))
                    .col(string("title"))
                    .col(text("body"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone_null("starts_at"))
                    .col(timestamp_with_time_zone_null("restores_at"))
                    .col(json("audience"))
                    .col(json("channels"))
                    .col(boolean("urgent"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("send_at"))
                    .col(uuid("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    .col(integer("targeted"))
                    .foreign_key(&mut fk("notices", "community_id", "communities"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("notices", &["community_id", "id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(uuid("community_id"))
                    .col(uuid_null("notice_id"))
                    .col(string_uniq("dedupe_key"))
                    .col(string("category"))
                    .col(string("title"))
                    .col(text("body"))
                    .col(json("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("read_at"))
                    .foreign_key(
                        &mut fk("messages", "resident_id", "residents")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("messages", &["resident_id", "id"], false))
            .await?;
        manager
            .create_index(index("messages", &["notice_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("deliveries")
                    .col(pk_uuid("id"))
                    .col(uuid("message_id"))
                    .col(uuid("resident_id"))
                    .col(uuid_null("notice_id"))
                    .col(string("channel"))
                    .col(uuid_null("device_id"))
                    .col(string_uniq("dedupe_key"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(string_null("last_error"))
                    .col(string_null("provider_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(timestamp_with_time_zone_null("claimed_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .foreign_key(
                        &mut fk("deliveries", "message_id", "messages")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("deliveries", &["message_id"], false))
            .await?;
        manager
            .create_index(index("deliveries", &["notice_id", "status"], false))
            .await?;
        manager
            .create_index(index("deliveries", &["status", "due_at"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .col(pk_uuid("id"))
                    .col(string("kind"))
                    .col(json("payload"))
                    .col(timestamp_with_time_zone("available_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("relayed_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("outbox", &["relayed_at", "available_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "outbox",
            "deliveries",
            "messages",
            "notices",
            "notification_preferences",
            "devices",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        for column in ["quiet_start", "quiet_end"] {
            manager
                .alter_table(Table::alter().table("residents").drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
