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
                    .table("companies")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("communities")
                    .col(pk_uuid("id"))
                    .col(uuid("company_id"))
                    .col(string("name"))
                    .col(string_null("address"))
                    .col(string("timezone"))
                    .col(string("work_start"))
                    .col(string("work_end"))
                    .col(json("work_days"))
                    .col(json("holidays"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("communities", "company_id", "companies"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("communities", &["company_id", "name"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("buildings")
                    .col(pk_uuid("id"))
                    .col(uuid("community_id"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("buildings", "community_id", "communities"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("buildings", &["community_id", "name"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("units")
                    .col(pk_uuid("id"))
                    .col(uuid("community_id"))
                    .col(uuid("building_id"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("units", "community_id", "communities"))
                    .foreign_key(&mut fk("units", "building_id", "buildings"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("units", &["building_id", "name"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("households")
                    .col(pk_uuid("id"))
                    .col(uuid("community_id"))
                    .col(uuid("building_id"))
                    .col(uuid("unit_id"))
                    .col(string("room_number"))
                    .col(integer_null("floor"))
                    .col(big_integer("floor_area_centi_m2"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("households", "community_id", "communities"))
                    .foreign_key(&mut fk("households", "building_id", "buildings"))
                    .foreign_key(&mut fk("households", "unit_id", "units"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("households", &["unit_id", "room_number"], true))
            .await?;
        manager
            .create_index(index("households", &["community_id", "id"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "households",
            "units",
            "buildings",
            "communities",
            "companies",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
