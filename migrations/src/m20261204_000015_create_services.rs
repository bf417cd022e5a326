use sea_orm_migration::{prelude::*, schema::*};

use crate::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A community's booking rules (confirmation and work clocks, cancellation notice
        // and fee, payment windows); NULL means the defaults.
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .add_column(json_null("service_policy"))
                    .take(),
            )
            .await?;
        // A booking's bill is a bill of its own, beside the household's monthly one: bills
        // have a kind, and the one-live-bill-a-month rule is the monthly bills'.
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ux_bills_household_period_live")
            .await?;
        db.execute_unprepared("ALTER TABLE bills ADD COLUMN kind varchar NOT NULL DEFAULT 'fees'")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_bills_household_period_fees ON bills (household_id, period) \
             WHERE state <> 'cancelled' AND kind = 'fees'",
        )
        .await?;
        // Teams: the leader gets the work orders; the size is each slot's capacity.
        manager
            .create_table(
                Table::create()
                    .table("service_teams")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(string("name"))
                    .col(string("department"))
                    .col(uuid("leader_id"))
                    .col(integer("size"))
                    .col(integer("slot_minutes"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("service_teams", "community_id", "communities"))
                    .foreign_key(&mut fk("service_teams", "leader_id", "staff"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("service_teams", &["community_id", "name"], true))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("service_team_members")
                    .col(uuid("team_id"))
                    .col(uuid("staff_id"))
                    .primary_key(Index::create().col("team_id").col("staff_id"))
                    .foreign_key(&mut fk("service_team_members", "team_id", "service_teams"))
                    .foreign_key(&mut fk("service_team_members", "staff_id", "staff"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("service_team_members", &["staff_id"], false))
            .await?;
        // The public price list.
        manager
            .create_table(
                Table::create()
                    .table("services")
                    .col(uuid("id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("team_id"))
                    .col(string("category"))
                    .col(string("name"))
                    .col(text("description"))
                    .col(string("pricing"))
                    .col(big_integer_null("price_fen"))
                    .col(integer("min_quantity"))
                    .col(integer("duration_minutes"))
                    .col(string("pay"))
                    .col(json("photos"))
                    .col(boolean("active"))
                    .col(integer("position"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("services", "community_id", "communities"))
                    .foreign_key(&mut fk("services", "team_id", "service_teams"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("services", &["community_id", "name"], true))
            .await?;
        // Slots: a place is taken by `booked = booked + 1 WHERE booked < capacity`; the
        // check keeps any other write from overbooking.
        manager
            .create_table(
                Table::create()
                    .table("service_slots")
                    .col(uuid("id").primary_key())
                    .col(uuid("team_id"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(timestamp_with_time_zone("ends_at"))
                    .col(integer("capacity"))
                    .col(integer("booked"))
                    .col(timestamp_with_time_zone("created_at"))
                    .check(
                        Expr::col("booked")
                            .gte(0)
                            .and(Expr::col("booked").lte(Expr::col("capacity"))),
                    )
                    .foreign_key(&mut fk("service_slots", "team_id", "service_teams"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("service_slots", &["team_id", "starts_at"], true))
            .await?;
        // A booking is a ticket (kind `service_booking`, the same id) with these facts.
        manager
            .create_table(
                Table::create()
                    .table("bookings")
                    .col(uuid("ticket_id").primary_key())
                    .col(uuid("community_id"))
                    .col(uuid("household_id"))
                    .col(uuid("service_id"))
                    .col(string("service_name"))
                    .col(uuid("team_id"))
                    .col(uuid("slot_id"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(timestamp_with_time_zone("ends_at"))
                    .col(uuid_null("proposed_slot_id"))
                    .col(string("time_status"))
                    .col(timestamp_with_time_zone_null("confirmed_at"))
                    .col(string("pricing"))
                    .col(big_integer_null("unit_fen"))
                    .col(integer("quantity"))
                    .col(string("pay"))
                    .col(big_integer_null("estimate_fen"))
                    .col(integer_null("worked_quantity"))
                    .col(big_integer_null("amount_fen"))
                    .col(uuid_null("bill_id"))
                    .col(big_integer_null("cancel_fee_fen"))
                    .col(uuid_null("refund_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("bookings", "ticket_id", "tickets"))
                    .foreign_key(&mut fk("bookings", "household_id", "households"))
                    .foreign_key(&mut fk("bookings", "service_id", "services"))
                    .foreign_key(&mut fk("bookings", "team_id", "service_teams"))
                    .foreign_key(&mut fk("bookings", "slot_id", "service_slots"))
                    .foreign_key(&mut fk("bookings", "proposed_slot_id", "service_slots"))
                    .foreign_key(&mut fk("bookings", "bill_id", "bills"))
                    .take(),
            )
            .await?;
        for columns in [
            &["team_id", "starts_at"][..],
            &["community_id", "starts_at"],
            &["household_id", "starts_at"],
            &["service_id", "starts_at"],
            &["bill_id"],
        ] {
            manager
                .create_index(index("bookings", columns, false))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "bookings",
            "service_slots",
            "services",
            "service_team_members",
            "service_teams",
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ux_bills_household_period_fees")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_bills_household_period_live ON bills (household_id, period) \
             WHERE state <> 'cancelled'",
        )
        .await?;
        manager
            .alter_table(Table::alter().table("bills").drop_column("kind").take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("communities")
                    .drop_column("service_policy")
                    .take(),
            )
            .await
    }
}
