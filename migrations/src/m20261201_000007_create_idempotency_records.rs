use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Idempotency-Key for every operation that creates: per principal, route and key,
        // the request's fingerprint and, once done, the saved status, chosen headers and
        // body. A row with no status is a request in flight (its claim).
        manager
            .create_table(
                Table::create()
                    .table("idempotency_records")
                    .col(uuid("principal_id"))
                    .col(string("route"))
                    .col(string("key"))
                    .col(string("fingerprint"))
                    .col(integer_null("status"))
                    .col(text_null("headers"))
                    .col(text_null("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .primary_key(Index::create().col("principal_id").col("route").col("key"))
                    .take(),
            )
            .await?;
        // The ticket creates' saved responses carry over, so a retry across the upgrade
        // still replays (their fingerprints are computed the same way).
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO idempotency_records (principal_id, route, key, fingerprint, \
                 status, headers, body, created_at, completed_at) \
                 SELECT caller_id, \
                 CASE WHEN body LIKE '%\"kind\":\"complaint\"%' THEN 'POST /v1/complaints' \
                 ELSE 'POST /v1/repairs' END, \
                 key, request_hash, status, NULL, body, created_at, created_at \
                 FROM idempotency_keys",
            )
            .await?;
        manager
            .drop_table(Table::drop().table("idempotency_keys").take())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
        manager
            .drop_table(Table::drop().table("idempotency_records").take())
            .await
    }
}
