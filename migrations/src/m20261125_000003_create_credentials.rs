use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("login_codes")
                    .col(pk_uuid("id"))
                    .col(string("phone"))
                    .col(string("code_hash"))
                    .col(string("ip"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("consumed_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("login_codes", &["phone", "created_at"], false))
            .await?;
        manager
            .create_index(index("login_codes", &["ip", "created_at"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .col(pk_uuid("id"))
                    .col(uuid("family_id"))
                    .col(string("subject_kind"))
                    .col(uuid("subject_id"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("refresh_tokens", &["family_id"], false))
            .await?;
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_log", "refresh_tokens", "login_codes"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
