//! The bill run's bulk inserts. On PostgreSQL one `INSERT ... SELECT ... FROM UNNEST(...)`
//! per batch, one array parameter per column (a `VALUES` list costs PostgreSQL tens of
//! microseconds a row to parse and plan); elsewhere sea-orm's multi-row inserts.

use courtyard_domain::entities::{bill, bill_line};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel, Statement, Value};
use uuid::Uuid;

/// Rows per statement.
const ROWS: usize = 1_000;
/// Stands for NULL in a `uuid[]` parameter (sea-query binds arrays without NULL elements).
const NO_ID: Uuid = Uuid::nil();

/// Inserts new bills (open, not closed, held by no payment).
pub async fn bills(conn: &impl ConnectionTrait, rows: &[bill::Model]) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        for chunk in rows.chunks(ROWS / 2) {
            bill::Entity::insert_many(
                chunk
                    .iter()
                    .cloned()
                    .map(IntoActiveModel::into_active_model),
            )
            .exec_without_returning(conn)
            .await?;
        }
        return Ok(());
    }
    const SQL: &str = "INSERT INTO bills \
        (id, community_id, household_id, period, state, amount_fen, due_on, run_id, replaces_id, issued_at, updated_at) \
        SELECT id, community_id, household_id, period, state, amount_fen, due_on, NULLIF(run_id, $12), NULLIF(replaces_id, $12), issued_at, updated_at \
        FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int8[], $7::date[], $8::uuid[], $9::uuid[], $10::timestamptz[], $11::timestamptz[]) \
        AS t (id, community_id, household_id, period, state, amount_fen, due_on, run_id, replaces_id, issued_at, updated_at)";
    for chunk in rows.chunks(ROWS) {
        debug_assert!(
            chunk
                .iter()
                .all(|b| b.closed_at.is_none() && b.payment_id.is_none())
        );
        let values = vec![
            Value::from(chunk.iter().map(|b| b.id).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.community_id).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.household_id).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.period.clone()).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.state.clone()).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.amount_fen).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.due_on).collect::<Vec<_>>()),
            Value::from(
                chunk
                    .iter()
                    .map(|b| b.run_id.unwrap_or(NO_ID))
                    .collect::<Vec<_>>(),
            ),
            Value::from(
                chunk
                    .iter()
                    .map(|b| b.replaces_id.unwrap_or(NO_ID))
                    .collect::<Vec<_>>(),
            ),
            Value::from(chunk.iter().map(|b| b.issued_at).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|b| b.updated_at).collect::<Vec<_>>()),
            Value::from(NO_ID),
        ];
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SQL,
            values,
        ))
        .await?;
    }
    Ok(())
}

/// Inserts bill lines.
pub async fn lines(conn: &impl ConnectionTrait, rows: &[bill_line::Model]) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        for chunk in rows.chunks(ROWS) {
            bill_line::Entity::insert_many(
                chunk
                    .iter()
                    .cloned()
                    .map(IntoActiveModel::into_active_model),
            )
            .exec_without_returning(conn)
            .await?;
        }
        return Ok(());
    }
    const SQL: &str = "INSERT INTO bill_lines \
        (id, bill_id, position, fee_item_id, charge_id, name, band, unit, quantity_milli, unit_price_centi_fen, amount_fen) \
        SELECT id, bill_id, position, NULLIF(fee_item_id, $12), NULLIF(charge_id, $12), name, NULLIF(band, 0), unit, quantity_milli, unit_price_centi_fen, amount_fen \
        FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::uuid[], $5::uuid[], $6::text[], $7::int4[], $8::text[], $9::int8[], $10::int8[], $11::int8[]) \
        AS t (id, bill_id, position, fee_item_id, charge_id, name, band, unit, quantity_milli, unit_price_centi_fen, amount_fen)";
    for chunk in rows.chunks(ROWS * 4) {
        let values = vec![
            Value::from(chunk.iter().map(|l| l.id).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|l| l.bill_id).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|l| l.position).collect::<Vec<_>>()),
            Value::from(
                chunk
                    .iter()
                    .map(|l| l.fee_item_id.unwrap_or(NO_ID))
                    .collect::<Vec<_>>(),
            ),
            Value::from(
                chunk
                    .iter()
                    .map(|l| l.charge_id.unwrap_or(NO_ID))
                    .collect::<Vec<_>>(),
            ),
            Value::from(chunk.iter().map(|l| l.name.clone()).collect::<Vec<_>>()),
            // Bands count from 1: 0 stands for none.
            Value::from(
                chunk
                    .iter()
                    .map(|l| l.band.unwrap_or(0))
                    .collect::<Vec<_>>(),
            ),
            Value::from(chunk.iter().map(|l| l.unit.clone()).collect::<Vec<_>>()),
            Value::from(chunk.iter().map(|l| l.quantity_milli).collect::<Vec<_>>()),
            Value::from(
                chunk
                    .iter()
                    .map(|l| l.unit_price_centi_fen)
                    .collect::<Vec<_>>(),
            ),
            Value::from(chunk.iter().map(|l| l.amount_fen).collect::<Vec<_>>()),
            Value::from(NO_ID),
        ];
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SQL,
            values,
        ))
        .await?;
    }
    Ok(())
}
