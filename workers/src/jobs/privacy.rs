//! Residents' data rights, run by the scheduler every tick: builds the data exports they
//! asked for, empties exports whose download time passed, and carries out the account
//! closings whose cooling-off ended (each erasure and its audit row in one transaction).

use anyhow::Context;
use chrono::Duration;
use courtyard_domain::entities::data_export;
use courtyard_store::{
    audit::{self, ActorKind, Entry, Origin},
    privacy,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};

use crate::pipeline::Pipeline;

/// The job's name in logs.
pub const NAME: &str = "privacy";
/// Exports built per tick (each reads a resident's whole history).
const EXPORTS: u64 = 5;
/// Erasures carried out per tick.
const ERASURES: u64 = 50;

/// Does what is due; returns how many exports and erasures it finished.
pub async fn run_once(p: &Pipeline) -> anyhow::Result<usize> {
    let now = p.clock.now();
    let mut done = 0;
    let pending = data_export::Entity::find()
        .filter(data_export::Column::Status.eq("pending"))
        .order_by_asc(data_export::Column::RequestedAt)
        .limit(EXPORTS)
        .all(&p.db)
        .await
        .context("loading pending exports")?;
    for export in pending {
        let built = privacy::export_document(&p.db, export.resident_id, now).await;
        let (status, document, error) = match built {
            Ok(Some(document)) => ("ready", Some(document.to_string()), None),
            Ok(None) => (
                "failed",
                None,
                Some("the resident no longer exists".to_owned()),
            ),
            Err(e) => {
                tracing::warn!(export = %export.id, error = %e, "building a data export failed");
                (
                    "failed",
                    None,
                    Some("the export could not be built".to_owned()),
                )
            }
        };
        let size = document.as_ref().map(|d| d.len() as i64);
        data_export::Entity::update_many()
            .col_expr(data_export::Column::Status, Expr::value(status))
            .col_expr(data_export::Column::Document, Expr::value(document))
            .col_expr(data_export::Column::SizeBytes, Expr::value(size))
            .col_expr(data_export::Column::Error, Expr::value(error))
            .col_expr(data_export::Column::ReadyAt, Expr::value(now))
            .col_expr(
                data_export::Column::ExpiresAt,
                Expr::value(now + Duration::hours(p.retention.export_hours)),
            )
            .filter(data_export::Column::Id.eq(export.id))
            .filter(data_export::Column::Status.eq("pending"))
            .exec(&p.db)
            .await
            .context("storing a data export")?;
        tracing::info!(export = %export.id, status, bytes = size, "data export built");
        done += 1;
    }
    // An expired export keeps its row (when it was asked for and built), not its data.
    data_export::Entity::update_many()
        .col_expr(
            data_export::Column::Document,
            Expr::value(Option::<String>::None),
        )
        .filter(data_export::Column::ExpiresAt.lte(now))
        .filter(data_export::Column::Document.is_not_null())
        .exec(&p.db)
        .await
        .context("emptying expired exports")?;

    for request in privacy::due_erasures(&p.db, now, ERASURES).await? {
        let txn = courtyard_store::begin_write(&p.db).await?;
        let erased = privacy::erase(&txn, request.resident_id, now).await?;
        let entry = Entry::new(
            ActorKind::System,
            None,
            Some(request.company_id),
            "erase_resident",
            "resident",
            Origin {
                at: now,
                ..Origin::default()
            },
        )
        .object(request.resident_id)
        .resident(request.resident_id)
        .details(serde_json::json!({
            "erasure_request_id": request.id,
            "requested_at": request.requested_at,
            "devices": erased.devices,
            "refresh_tokens": erased.refresh_tokens,
            "memberships": erased.memberships,
            "tickets_detached": erased.tickets_detached,
            "payments_detached": erased.payments_detached,
            "messages_emptied": erased.messages_emptied,
            "deliveries_suppressed": erased.deliveries_suppressed,
        }));
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        tracing::info!(resident = %request.resident_id, "resident's personal data erased");
        done += 1;
    }
    Ok(done)
}
