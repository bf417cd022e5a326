use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Adds one column (SQLite alters one column a statement).
async fn add(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: ColumnDef,
) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(Table::alter().table(table).add_column(&mut column).take())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A monthly package's visits a month (pricing `package`).
        add(manager, "services", integer_null("visits_per_month")).await?;
        // A package visit's booking points at its package; a laundry order has a step and
        // a return date.
        add(manager, "bookings", uuid_null("package_id")).await?;
        add(manager, "bookings", string_null("laundry_stage")).await?;
        add(manager, "bookings", date_null("return_on")).await?;
        // One month of a monthly package: its weekly slot, its price and its bill.
        manager
            .create_table(
                Table::create()
                    .table("service_packages")
                    .col(uuid("id").primary_key())
                    .col(uuid("company_id"))
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(uuid_null("resident_id"))
                    .col(uuid_null("registered_by"))
                    .col(string("source"))
                    .col(uuid_null("butler_id"))
                    .col(uuid("service_id"))
                    .col(string("service_name"))
                    .col(uuid("team_id"))
                    .col(string("period"))
                    .col(small_integer("weekday"))
                    .col(string("start_time"))
                    .col(integer("visits"))
                    .col(integer("carried"))
                    .col(big_integer("price_fen"))
                    .col(uuid_null("bill_id"))
                    .col(string("state"))
                    .col(uuid_null("previous_id"))
                    .col(uuid_null("renewed_by_id"))
                    .col(uuid_null("refund_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    .foreign_key(&mut fk("service_packages", "community_id", "communities"))
                    .foreign_key(&mut fk("service_packages", "household_id", "households"))
                    .foreign_key(&mut fk("service_packages", "service_id", "services"))
                    .foreign_key(&mut fk("service_packages", "team_id", "service_teams"))
                    .foreign_key(&mut fk("service_packages", "bill_id", "bills"))
                    .take(),
            )
            .await?;
        // One live package a household, service and month; a cancelled one can be taken
        // again.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_service_packages_live ON service_packages \
                 (household_id, service_id, period) WHERE state <> 'cancelled'",
            )
            .await?;
        manager
            .create_index(index(
                "service_packages",
                &["community_id", "period"],
                false,
            ))
            .await?;
        // A package's visits: each holds its slot's place from subscription; its booking is
        // issued a few days ahead.
        manager
            .create_table(
                Table::create()
                    .table("package_visits")
                    .col(uuid("id").primary_key())
                    .col(uuid("package_id"))
                    .col(integer("position"))
                    .col(date("visit_on"))
                    .col(uuid("slot_id"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(uuid_null("booking_id"))
                    .col(timestamp_with_time_zone_null("issued_at"))
                    .foreign_key(&mut fk("package_visits", "package_id", "service_packages"))
                    .foreign_key(&mut fk("package_visits", "slot_id", "service_slots"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("package_visits", &["package_id", "visit_on"], true))
            .await?;
        manager
            .create_index(index("package_visits", &["starts_at"], false))
            .await?;
        // A laundry order's items as counted at pickup and checked on return.
        manager
            .create_table(
                Table::create()
                    .table("laundry_items")
                    .col(uuid("id").primary_key())
                    .col(uuid("booking_id"))
                    .col(integer("position"))
                    .col(string("name"))
                    .col(string("condition_in"))
                    .col(json("photos_in"))
                    .col(boolean_null("returned"))
                    .col(boolean_null("damaged"))
                    .col(string_null("condition_out"))
                    .col(json_null("photos_out"))
                    .foreign_key(&mut fk("laundry_items", "booking_id", "tickets"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("laundry_items", &["booking_id", "position"], true))
            .await?;
        // Claims on an order: an item missing or damaged.
        manager
            .create_table(
                Table::create()
                    .table("booking_claims")
                    .col(uuid("id").primary_key())
                    .col(uuid("booking_id"))
                    .col(uuid_null("item_id"))
                    .col(string("kind"))
                    .col(text("note"))
                    .col(json("photos"))
                    .col(string("state"))
                    .col(big_integer_null("compensation_fen"))
                    .col(text_null("resolution"))
                    .col(string("raised_by_kind"))
                    .col(uuid_null("raised_by"))
                    .col(uuid_null("settled_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("settled_at"))
                    .foreign_key(&mut fk("booking_claims", "booking_id", "tickets"))
                    .foreign_key(&mut fk("booking_claims", "item_id", "laundry_items"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("booking_claims", &["booking_id"], false))
            .await?;
        // A claim's item is claimed once.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_booking_claims_item ON booking_claims (item_id) \
                 WHERE item_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "booking_claims",
            "laundry_items",
            "package_visits",
            "service_packages",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        for (table, column) in [
            ("bookings", "return_on"),
            ("bookings", "laundry_stage"),
            ("bookings", "package_id"),
            ("services", "visits_per_month"),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
