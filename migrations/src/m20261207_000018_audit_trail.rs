use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: one guard for UPDATE, DELETE and TRUNCATE. A row leaves only by housekeeping,
/// once it is older than the retention horizon housekeeping has set.
const PG_GUARD: &str = r#"
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.created_at < (SELECT purge_before FROM audit_horizon WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (%)', TG_OP;
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard();
"#;

const SQLITE_GUARD: [&str; 2] = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (UPDATE)'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     WHEN NOT (OLD.created_at < (SELECT purge_before FROM audit_horizon WHERE id = 1)) \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (DELETE)'); END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Nothing wrote the first table; the trail is a new one with who, from where and on
        // whom (a new name: SQLite's other pooled connections may still know the old one).
        manager
            .drop_table(Table::drop().table("audit_log").take())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(pk_uuid("id"))
                    .col(uuid_null("company_id"))
                    .col(string_len("actor_kind", 16))
                    .col(uuid_null("actor_id"))
                    .col(string_len_null("actor_role", 32))
                    .col(string_len("action", 64))
                    .col(string_len("object_type", 32))
                    .col(uuid_null("object_id"))
                    .col(uuid_null("community_id"))
                    .col(uuid_null("resident_id"))
                    .col(string_len_null("request_id", 64))
                    .col(string_len_null("client_ip", 64))
                    .col(json("details"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        for columns in [
            &["company_id", "created_at"][..],
            &["company_id", "actor_id", "created_at"],
            &["company_id", "resident_id", "created_at"],
            &["company_id", "action", "created_at"],
            &["created_at"],
        ] {
            manager
                .create_index(index("audit_events", columns, false))
                .await?;
        }
        // The one row housekeeping moves forward: audit rows older than `purge_before` may go.
        manager
            .create_table(
                Table::create()
                    .table("audit_horizon")
                    .col(integer("id").primary_key())
                    .col(timestamp_with_time_zone("purge_before"))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO audit_horizon (id, purge_before) VALUES (1, '1970-01-01 00:00:00+00:00')",
        )
        .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(PG_GUARD).await?;
            }
            _ => {
                for statement in SQLITE_GUARD {
                    db.execute_unprepared(statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER audit_events_no_truncate ON audit_events; \
                 DROP TRIGGER audit_events_append_only ON audit_events; \
                 DROP FUNCTION audit_events_guard()",
            )
            .await?;
        }
        for table in ["audit_horizon", "audit_events"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(uuid("staff_id"))
                    .col(string("action"))
                    .col(string("object_type"))
                    .col(uuid_null("object_id"))
                    .col(json("details"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("audit_log", &["company_id", "created_at"], false))
            .await
    }
}
