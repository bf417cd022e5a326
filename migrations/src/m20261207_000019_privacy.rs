use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A resident row is never deleted while tickets or devices point at it: erasure
/// anonymises the row instead (`erased_at`), so nothing is left pointing at nobody.
/// (`devices.owner_id` names a resident or a staff member, so no foreign key can say it.)
const PG_GUARD: &str = r#"
CREATE FUNCTION residents_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tickets WHERE resident_id = OLD.id)
        OR EXISTS (SELECT 1 FROM devices WHERE owner_kind = 'resident' AND owner_id = OLD.id) THEN
        RAISE EXCEPTION 'residents: % is still referenced by tickets or devices; erase it instead', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER residents_referenced BEFORE DELETE ON residents
    FOR EACH ROW EXECUTE FUNCTION residents_delete_guard();
"#;

const SQLITE_GUARD: &str = "CREATE TRIGGER residents_referenced BEFORE DELETE ON residents \
    WHEN EXISTS (SELECT 1 FROM tickets WHERE resident_id = OLD.id) \
      OR EXISTS (SELECT 1 FROM devices WHERE owner_kind = 'resident' AND owner_id = OLD.id) \
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: residents still referenced by tickets or devices'); END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("residents")
                    .add_column(timestamp_with_time_zone_null("erased_at"))
                    .take(),
            )
            .await?;
        // A resident's request to close their account, carried out after a cooling-off.
        manager
            .create_table(
                Table::create()
                    .table("erasure_requests")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(uuid("resident_id"))
                    .col(string_len("requested_by_kind", 16))
                    .col(uuid("requested_by"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone("due_at"))
                    // scheduled, cancelled or done.
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    .col(timestamp_with_time_zone_null("carried_out_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("erasure_requests", &["status", "due_at"], false))
            .await?;
        manager
            .create_index(index("erasure_requests", &["resident_id"], false))
            .await?;
        // A resident's copy of their data (PIPL art. 45), built by the workers.
        manager
            .create_table(
                Table::create()
                    .table("data_exports")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(uuid("resident_id"))
                    // pending, ready or failed.
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone_null("ready_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(text_null("document"))
                    .col(big_integer_null("size_bytes"))
                    .col(text_null("error"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("data_exports", &["status", "requested_at"], false))
            .await?;
        manager
            .create_index(index("data_exports", &["resident_id"], false))
            .await?;
        // What each resident agreed to, and when: one row per grant or withdrawal.
        manager
            .create_table(
                Table::create()
                    .table("resident_consents")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    // privacy_policy or sms_notices.
                    .col(string_len("kind", 32))
                    .col(string_len_null("version", 32))
                    .col(boolean("granted"))
                    .col(string_len_null("client_ip", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "resident_consents",
                &["resident_id", "kind", "created_at"],
                false,
            ))
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => db.execute_unprepared(PG_GUARD).await?,
            _ => db.execute_unprepared(SQLITE_GUARD).await?,
        };
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER residents_referenced ON residents; \
                 DROP FUNCTION residents_delete_guard()",
            )
            .await?;
        } else {
            db.execute_unprepared("DROP TRIGGER residents_referenced")
                .await?;
        }
        for table in ["resident_consents", "data_exports", "erasure_requests"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("residents")
                    .drop_column("erased_at")
                    .take(),
            )
            .await
    }
}
