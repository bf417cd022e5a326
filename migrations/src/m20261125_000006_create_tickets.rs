use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns of `deliveries` as migration 4 made them, in order.
const DELIVERY_COLUMNS: &str = "id, message_id, resident_id, notice_id, channel, device_id, \
    dedupe_key, status, attempts, last_error, provider_id, created_at, updated_at, due_at, \
    claimed_at, sent_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A community's ticket rules; NULL means the service manuals' defaults.
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .add_column(json_null("ticket_policy"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("tickets")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(uuid("community_id"))
                    .col(string("kind"))
                    .col(uuid_null("household_id"))
                    .col(uuid_null("resident_id"))
                    .col(uuid_null("registered_by"))
                    .col(string("source"))
                    .col(string("category"))
                    .col(string_null("urgency"))
                    .col(string_null("severity"))
                    .col(string_null("location"))
                    .col(text("description"))
                    .col(timestamp_with_time_zone_null("preferred_from"))
                    .col(timestamp_with_time_zone_null("preferred_to"))
                    .col(string("state"))
                    .col(string_null("department"))
                    .col(uuid_null("assignee_id"))
                    .col(uuid_null("butler_id"))
                    .col(big_integer_null("price_fen"))
                    .col(string_null("price_status"))
                    .col(string_null("price_note"))
                    .col(integer("rework_count"))
                    .col(integer_null("rating"))
                    .col(boolean_null("satisfied"))
                    .col(string_null("rating_comment"))
                    .col(string_null("rated_via"))
                    .col(timestamp_with_time_zone_null("rated_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("dispatched_at"))
                    .col(timestamp_with_time_zone_null("answered_at"))
                    .col(timestamp_with_time_zone_null("arrived_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    // Kept with the row so lists read one table: the earliest open SLA
                    // deadline of the current round, and whether any work clock ran out.
                    .col(timestamp_with_time_zone_null("next_due_at"))
                    .col(boolean("breached").default(false))
                    .foreign_key(&mut fk("tickets", "community_id", "communities"))
                    .foreign_key(&mut fk("tickets", "household_id", "households"))
                    .take(),
            )
            .await?;
        for columns in [
            &["community_id", "state", "id"][..],
            &["community_id", "created_at"],
            &["resident_id", "id"],
            &["household_id", "id"],
            &["assignee_id", "state"],
            &["butler_id", "state"],
        ] {
            manager
                .create_index(index("tickets", columns, false))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("ticket_events")
                    .col(pk_uuid("id"))
                    .col(uuid("ticket_id"))
                    .col(string("actor_kind"))
                    .col(uuid_null("actor_id"))
                    .col(string("action"))
                    .col(string_null("from_state"))
                    .col(string_null("to_state"))
                    .col(text_null("note"))
                    .col(json_null("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        &mut fk("ticket_events", "ticket_id", "tickets")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ticket_events", &["ticket_id", "id"], false))
            .await?;
        // One row per SLA clock and round (a reopened ticket's rework runs new clocks).
        manager
            .create_table(
                Table::create()
                    .table("ticket_clocks")
                    .col(uuid("ticket_id"))
                    .col(string("clock"))
                    .col(integer("round"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("warn_at"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(timestamp_with_time_zone_null("met_at"))
                    .col(timestamp_with_time_zone_null("warned_at"))
                    .col(timestamp_with_time_zone_null("breached_at"))
                    .primary_key(Index::create().col("ticket_id").col("clock").col("round"))
                    .foreign_key(
                        &mut fk("ticket_clocks", "ticket_id", "tickets")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ticket_clocks", &["met_at", "warn_at"], false))
            .await?;
        manager
            .create_index(index("ticket_clocks", &["met_at", "due_at"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("ticket_photos")
                    .col(pk_uuid("id"))
                    .col(uuid("ticket_id"))
                    .col(string("stage"))
                    .col(string("content_type"))
                    .col(big_integer("size_bytes"))
                    .col(string("storage_key"))
                    .col(string("uploaded_by_kind"))
                    .col(uuid("uploaded_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        &mut fk("ticket_photos", "ticket_id", "tickets")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("ticket_photos", &["ticket_id", "id"], false))
            .await?;
        // Idempotency-Key: the saved response of a create, per caller and key.
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(uuid("caller_id"))
                    .col(string("key"))
                    .col(string("request_hash"))
                    .col(integer("status"))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("caller_id").col("key"))
                    .take(),
            )
            .await?;
        // Staff get messages too (assignments, SLA warnings); their inbox is apart from
        // residents' so a message's recipient is always a row of one table.
        manager
            .create_table(
                Table::create()
                    .table("staff_messages")
                    .col(pk_uuid("id"))
                    .col(uuid("staff_id"))
                    .col(uuid("community_id"))
                    .col(uuid_null("ticket_id"))
                    .col(string_uniq("dedupe_key"))
                    .col(string("category"))
                    .col(string("title"))
                    .col(text("body"))
                    .col(json("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("read_at"))
                    .foreign_key(
                        &mut fk("staff_messages", "staff_id", "staff")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("staff_messages", &["staff_id", "id"], false))
            .await?;
        // A delivery now belongs to a resident's or a staff member's message: its
        // `message_id` points into `messages` or `staff_messages` as `recipient_kind` says,
        // so the foreign key to `messages` goes. SQLite cannot drop a constraint: the table
        // is rebuilt (nothing references it).
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS fk_deliveries_message_id",
                )
                .await?;
                manager
                    .alter_table(
                        Table::alter()
                            .table("deliveries")
                            .add_column(string("recipient_kind").default("resident"))
                            .take(),
                    )
                    .await?;
            }
            _ => {
                let create = Table::create()
                    .table("deliveries_new")
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
                    .col(string("recipient_kind").default("resident"))
                    .to_string(SqliteQueryBuilder);
                // One call in one transaction: one connection runs it all (the pool's other
                // connections may still see the old table for a moment), and a crash half
                // way leaves the old table as it was, never a dropped one.
                db.execute_unprepared(&format!(
                    "BEGIN; \
                     {create}; \
                     INSERT INTO deliveries_new ({DELIVERY_COLUMNS}) \
                     SELECT {DELIVERY_COLUMNS} FROM deliveries; \
                     DROP TABLE deliveries; \
                     ALTER TABLE deliveries_new RENAME TO deliveries; \
                     CREATE INDEX ix_deliveries_message_id ON deliveries (message_id); \
                     CREATE INDEX ix_deliveries_notice_id_status ON deliveries (notice_id, status); \
                     CREATE INDEX ix_deliveries_status_due_at ON deliveries (status, due_at); \
                     COMMIT;"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "staff_messages",
            "idempotency_keys",
            "ticket_photos",
            "ticket_clocks",
            "ticket_events",
            "tickets",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .drop_column("ticket_policy")
                    .take(),
            )
            .await?;
        // Deliveries keep `recipient_kind` and stay without the foreign key: staff rows
        // would break it.
        Ok(())
    }
}
