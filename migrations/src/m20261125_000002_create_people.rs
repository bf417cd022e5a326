use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("residents")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(string("name"))
                    .col(string("phone"))
                    .col(date_null("birthday"))
                    .col(string("locale"))
                    .col(string_null("wechat_openid"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("residents", "company_id", "companies"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("residents", &["company_id", "phone"], true))
            .await?;
        manager
            .create_index(index("residents", &["phone"], false))
            .await?;
        manager
            .create_index(index("residents", &["wechat_openid"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("household_members")
                    .col(uuid("household_id"))
                    .col(uuid("resident_id"))
                    .col(uuid("community_id"))
                    .col(string("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("household_id").col("resident_id"))
                    .foreign_key(
                        &mut fk("household_members", "household_id", "households")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .foreign_key(
                        &mut fk("household_members", "resident_id", "residents")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("household_members", &["resident_id"], false))
            .await?;
        manager
            .create_index(index(
                "household_members",
                &["community_id", "resident_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("staff")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(string("name"))
                    .col(string_uniq("username"))
                    .col(string_null("phone"))
                    .col(string("password_hash"))
                    .col(string("role"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("staff", "company_id", "companies"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("staff_communities")
                    .col(uuid("staff_id"))
                    .col(uuid("community_id"))
                    .primary_key(Index::create().col("staff_id").col("community_id"))
                    .foreign_key(
                        &mut fk("staff_communities", "staff_id", "staff")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .foreign_key(&mut fk("staff_communities", "community_id", "communities"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("staff_communities", &["community_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("butler_assignments")
                    .col(pk_uuid("id"))
                    .col(uuid("staff_id"))
                    .col(uuid("community_id"))
                    .col(uuid_null("building_id"))
                    .col(uuid_null("household_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        &mut fk("butler_assignments", "staff_id", "staff")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .foreign_key(&mut fk("butler_assignments", "community_id", "communities"))
                    .foreign_key(
                        &mut fk("butler_assignments", "building_id", "buildings")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .foreign_key(
                        &mut fk("butler_assignments", "household_id", "households")
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("butler_assignments", &["staff_id"], false))
            .await?;
        manager
            .create_index(index("butler_assignments", &["building_id"], false))
            .await?;
        manager
            .create_index(index("butler_assignments", &["household_id"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "butler_assignments",
            "staff_communities",
            "staff",
            "household_members",
            "residents",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
