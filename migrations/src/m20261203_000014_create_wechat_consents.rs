use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // WeChat one-time subscription consents (一次性订阅): each accepted
        // `wx.requestSubscribeMessage` allows one message of its category; a send takes one.
        manager
            .create_table(
                Table::create()
                    .table("wechat_consents")
                    .col(uuid("resident_id"))
                    .col(string("category"))
                    .col(integer("remaining"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("resident_id").col("category"))
                    .foreign_key(&mut fk("wechat_consents", "resident_id", "residents"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("wechat_consents", &["category", "remaining"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("wechat_consents").take())
            .await
    }
}
