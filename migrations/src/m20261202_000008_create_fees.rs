use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // A community's fee policy (due day, late fees); NULL means the defaults.
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .add_column(json_null("fee_policy"))
                    .take(),
            )
            .await?;
        // Parking spaces a household pays a per-space fee for.
        manager
            .alter_table(
                Table::alter()
                    .table("households")
                    .add_column(integer("parking_spaces").default(0))
                    .take(),
            )
            .await?;

        // What a community charges for. Rates are JSON bands of integers: upper bound in
        // thousandths of the unit, price in hundredths of a fen.
        manager
            .create_table(
                Table::create()
                    .table("fee_items")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(string("name"))
                    .col(string("kind"))
                    .col(string_null("meter"))
                    .col(json("tiers"))
                    .col(boolean("active").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("fee_items", "community_id", "communities"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("fee_items", &["community_id", "name"], true))
            .await?;

        // One reading per household, meter and month; a replacement carries the new
        // meter's initial value.
        manager
            .create_table(
                Table::create()
                    .table("meter_readings")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(string("meter"))
                    .col(string("period"))
                    .col(big_integer("value_milli"))
                    .col(big_integer_null("initial_milli"))
                    .col(string("source"))
                    .col(uuid_null("entered_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("meter_readings", "community_id", "communities"))
                    .foreign_key(&mut fk("meter_readings", "household_id", "households"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "meter_readings",
                &["household_id", "meter", "period"],
                true,
            ))
            .await?;
        manager
            .create_index(index("meter_readings", &["community_id", "period"], false))
            .await?;

        // A bill run: one admin action generating a community's bills for a month, run as
        // a job that reports its progress here.
        manager
            .create_table(
                Table::create()
                    .table("bill_runs")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(string("period"))
                    .col(string("state"))
                    .col(uuid("requested_by"))
                    .col(integer("households_total").default(0))
                    .col(integer("households_done").default(0))
                    .col(integer("bills_created").default(0))
                    .col(integer("readings_missing").default(0))
                    .col(text_null("error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("heartbeat_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .foreign_key(&mut fk("bill_runs", "community_id", "communities"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("bill_runs", &["community_id", "created_at"], false))
            .await?;
        // One unfinished run per community and month.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_bill_runs_community_period_unfinished \
             ON bill_runs (community_id, period) WHERE state IN ('queued', 'running')",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("bills")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(string("period"))
                    .col(string("state"))
                    .col(big_integer("amount_fen"))
                    .col(date("due_on"))
                    .col(uuid_null("run_id"))
                    .col(uuid_null("replaces_id"))
                    .col(timestamp_with_time_zone("issued_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(uuid_null("closed_by"))
                    .col(text_null("close_reason"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("bills", "community_id", "communities"))
                    .foreign_key(&mut fk("bills", "household_id", "households"))
                    .take(),
            )
            .await?;
        // At most one live bill per household and month: a run that generates the same
        // month again (or two at once) creates nothing new; a cancelled bill makes room for
        // its re-issue.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_bills_household_period_live ON bills (household_id, period) \
             WHERE state <> 'cancelled'",
        )
        .await?;
        manager
            .create_index(index("bills", &["community_id", "period", "state"], false))
            .await?;
        manager
            .create_index(index("bills", &["household_id", "period"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("bill_lines")
                    .col(uuid("id").primary_key())
                    .col(uuid("bill_id"))
                    .col(integer("position"))
                    .col(uuid_null("fee_item_id"))
                    .col(uuid_null("charge_id"))
                    .col(string("name"))
                    .col(integer_null("band"))
                    .col(string("unit"))
                    .col(big_integer("quantity_milli"))
                    .col(big_integer("unit_price_centi_fen"))
                    .col(big_integer("amount_fen"))
                    .foreign_key(&mut fk("bill_lines", "bill_id", "bills"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("bill_lines", &["bill_id", "position"], true))
            .await?;

        // One-off charges (an accepted repair price, a replacement key card): they wait for
        // their household's next bill, which sets `bill_id`.
        manager
            .create_table(
                Table::create()
                    .table("household_charges")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(string("description"))
                    .col(big_integer("amount_fen"))
                    .col(uuid_null("ticket_id"))
                    .col(uuid_null("bill_id"))
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("household_charges", "household_id", "households"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("household_charges", &["ticket_id"], true))
            .await?;
        manager
            .create_index(index(
                "household_charges",
                &["community_id", "bill_id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "household_charges",
            "bill_lines",
            "bills",
            "bill_runs",
            "meter_readings",
            "fee_items",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("households")
                    .drop_column("parking_spaces")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .drop_column("fee_policy")
                    .take(),
            )
            .await
    }
}
