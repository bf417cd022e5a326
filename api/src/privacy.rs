//! A resident's rights over their data (PIPL arts. 45 and 47): a copy of everything held
//! about them, built by the workers and downloadable for a limited time; and closing their
//! account, carried out by the workers after a cooling-off period they can cancel in.

use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    entities::{data_export, erasure_request},
    new_id,
};
use courtyard_store::audit;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::BearerAuth,
    error::{ApiError, ApiResult, status::*},
    state::AppState,
};

/// Where an export stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Being built by the workers.
    Pending,
    /// Ready to download until `expires_at`.
    Ready,
    /// Could not be built; ask again.
    Failed,
    /// Its download time passed; ask for a new one.
    Expired,
}

/// A resident's data export.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DataExport {
    /// Id.
    pub id: Uuid,
    /// pending, ready, failed or expired.
    pub status: ExportStatus,
    /// Asked for.
    pub requested_at: DateTime<Utc>,
    /// Built.
    pub ready_at: Option<DateTime<Utc>>,
    /// Downloadable until.
    pub expires_at: Option<DateTime<Utc>>,
    /// The document's size in bytes.
    pub size_bytes: Option<i64>,
    /// Where to download it from (with the same bearer token) while it is ready.
    pub download_path: Option<String>,
}

/// Where `row` stands at `now` (a ready export past its time has expired).
fn status_of(row: &data_export::Model, now: DateTime<Utc>) -> ExportStatus {
    match row.status.as_str() {
        "ready" if row.expires_at.is_some_and(|at| at <= now) => ExportStatus::Expired,
        "ready" => ExportStatus::Ready,
        "failed" => ExportStatus::Failed,
        _ => ExportStatus::Pending,
    }
}

fn export_dto(row: data_export::Model, now: DateTime<Utc>) -> DataExport {
    let status = status_of(&row, now);
    DataExport {
        id: row.id,
        status,
        requested_at: row.requested_at,
        ready_at: row.ready_at,
        expires_at: row.expires_at,
        size_bytes: row.size_bytes,
        download_path: (status == ExportStatus::Ready)
            .then(|| format!("/v1/me/data-exports/{}/download", row.id)),
    }
}

/// An export asked for.
#[derive(ApiResponse)]
pub enum ExportAccepted {
    /// Accepted: the workers build it (poll it until `ready`). A resident with an export
    /// still being built gets that one.
    #[oai(status = 202)]
    Accepted(Json<DataExport>),
}

/// The export's document.
#[derive(ApiResponse)]
pub enum ExportFile {
    /// Everything held about the resident, as one JSON document (`format`:
    /// `courtyard-personal-data/1`; sections `profile`, `memberships`, `devices`,
    /// `preferences`, `consents`, `wechat_consents`, `sessions`, `tickets`,
    /// `service_packages`, `messages`, `deliveries`, `bills`, `payments`,
    /// `erasure_requests`).
    #[oai(status = 200)]
    Ok(
        Json<serde_json::Value>,
        /// `attachment; filename="…"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Where a request to close an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Waiting out the cooling-off; can still be cancelled.
    Scheduled,
    /// Cancelled by the resident.
    Cancelled,
    /// Carried out.
    Done,
}

/// A request to close one's account and erase one's personal data.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErasureRequest {
    /// Id.
    pub id: Uuid,
    /// scheduled, cancelled or done.
    pub status: ErasureStatus,
    /// Asked for.
    pub requested_at: DateTime<Utc>,
    /// When it is carried out unless cancelled before.
    pub due_at: DateTime<Utc>,
    /// Cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
}

fn erasure_dto(row: erasure_request::Model) -> ErasureRequest {
    ErasureRequest {
        id: row.id,
        status: match row.status.as_str() {
            "cancelled" => ErasureStatus::Cancelled,
            "done" => ErasureStatus::Done,
            _ => ErasureStatus::Scheduled,
        },
        requested_at: row.requested_at,
        due_at: row.due_at,
        cancelled_at: row.cancelled_at,
    }
}

/// A closing asked for.
#[derive(ApiResponse)]
pub enum ErasureAccepted {
    /// Scheduled: carried out at `due_at` unless cancelled before. Asking again returns
    /// the request already scheduled.
    #[oai(status = 202)]
    Accepted(Json<ErasureRequest>),
}

/// The privacy endpoints of `/v1/me`.
pub struct PrivacyApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl PrivacyApi {
    /// Ask for a copy of my data
    ///
    /// Residents only (PIPL art. 45): the workers gather everything held about the
    /// resident (profile, memberships, devices, preferences, consents, sessions, tickets
    /// with their history, photos' links and ratings, bookings, packages, messages,
    /// deliveries, the bills and payments of their households) into one JSON document,
    /// downloadable for 24 hours once ready.
    #[oai(
        path = "/me/data-exports",
        method = "post",
        operation_id = "request_data_export"
    )]
    async fn request_export(&self, auth: BearerAuth) -> ApiResult<ExportAccepted, { AUTHED }> {
        let resident = auth.0.resident()?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let pending = data_export::Entity::find()
            .filter(data_export::Column::ResidentId.eq(resident.id))
            .filter(data_export::Column::Status.eq("pending"))
            .one(&txn)
            .await?;
        let row = match pending {
            Some(row) => row,
            None => {
                let row = data_export::ActiveModel {
                    id: Set(new_id()),
                    company_id: Set(resident.company_id),
                    resident_id: Set(resident.id),
                    status: Set("pending".into()),
                    requested_at: Set(now),
                    ready_at: Set(None),
                    expires_at: Set(None),
                    document: Set(None),
                    size_bytes: Set(None),
                    error: Set(None),
                }
                .insert(&txn)
                .await?;
                let entry = resident
                    .audit("request_data_export", "data_export")
                    .object(row.id);
                audit::record(&txn, &entry).await?;
                row
            }
        };
        txn.commit().await?;
        Ok(ExportAccepted::Accepted(Json(export_dto(row, now))))
    }

    /// See a data export
    ///
    /// Residents only, their own exports.
    #[oai(
        path = "/me/data-exports/:export_id",
        method = "get",
        operation_id = "get_data_export"
    )]
    async fn get_export(
        &self,
        auth: BearerAuth,
        export_id: Path<Uuid>,
    ) -> ApiResult<Json<DataExport>, { AUTHED | NOT_FOUND }> {
        let resident = auth.0.resident()?;
        let row = own_export(&self.state, resident.id, *export_id).await?;
        Ok(Json(export_dto(row, self.state.clock.now())))
    }

    /// Download a data export
    ///
    /// Residents only: the JSON document while the export is ready (24 hours after it
    /// was built); 409 while it is being built, and once it expired.
    #[oai(
        path = "/me/data-exports/:export_id/download",
        method = "get",
        operation_id = "download_data_export"
    )]
    async fn download_export(
        &self,
        auth: BearerAuth,
        export_id: Path<Uuid>,
    ) -> ApiResult<ExportFile, { AUTHED | NOT_FOUND | CONFLICT }> {
        let resident = auth.0.resident()?;
        let row = own_export(&self.state, resident.id, *export_id).await?;
        let now = self.state.clock.now();
        let status = status_of(&row, now);
        let document = match (status, row.document) {
            (ExportStatus::Ready, Some(document)) => document,
            (ExportStatus::Expired, _) | (ExportStatus::Ready, None) => {
                return Err(ApiError::Conflict {
                    kind: "export-expired",
                    detail: "this export's download time has passed; ask for a new one".into(),
                }
                .into());
            }
            (ExportStatus::Failed, _) => {
                return Err(ApiError::Conflict {
                    kind: "export-failed",
                    detail: "this export could not be built; ask for a new one".into(),
                }
                .into());
            }
            (ExportStatus::Pending, _) => {
                return Err(ApiError::Conflict {
                    kind: "export-pending",
                    detail: "this export is still being built; try again shortly".into(),
                }
                .into());
            }
        };
        let document: serde_json::Value = serde_json::from_str(&document)
            .map_err(|e| anyhow::anyhow!("a stored export is not JSON: {e}"))?;
        Ok(ExportFile::Ok(
            Json(document),
            format!(
                "attachment; filename=\"courtyard-data-{}.json\"",
                now.format("%Y%m%d")
            ),
        ))
    }

    /// Ask to close my account
    ///
    /// Residents only (PIPL art. 47): after a cooling-off of 7 days, during which it can be
    /// cancelled, the resident's personal data is erased: name, phone, birthday and WeChat
    /// binding anonymised; devices, sessions, memberships, preferences and consents deleted.
    /// Tickets, bills and payments stay in the company's records, detached from the person.
    #[oai(
        path = "/me/erasure-request",
        method = "post",
        operation_id = "request_erasure"
    )]
    async fn request_erasure(&self, auth: BearerAuth) -> ApiResult<ErasureAccepted, { AUTHED }> {
        let resident = auth.0.resident()?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let scheduled = erasure_request::Entity::find()
            .filter(erasure_request::Column::ResidentId.eq(resident.id))
            .filter(erasure_request::Column::Status.eq("scheduled"))
            .one(&txn)
            .await?;
        let row = match scheduled {
            Some(row) => row,
            None => {
                let days = self.state.settings.retention.erasure_cooling_off_days;
                let row = erasure_request::ActiveModel {
                    id: Set(new_id()),
                    company_id: Set(resident.company_id),
                    resident_id: Set(resident.id),
                    requested_by_kind: Set("resident".into()),
                    requested_by: Set(resident.id),
                    requested_at: Set(now),
                    due_at: Set(now + Duration::days(days.max(0))),
                    status: Set("scheduled".into()),
                    cancelled_at: Set(None),
                    carried_out_at: Set(None),
                }
                .insert(&txn)
                .await?;
                let entry = resident
                    .audit("request_erasure", "erasure_request")
                    .object(row.id)
                    .details(serde_json::json!({ "due_at": row.due_at }));
                audit::record(&txn, &entry).await?;
                row
            }
        };
        txn.commit().await?;
        Ok(ErasureAccepted::Accepted(Json(erasure_dto(row))))
    }

    /// See my request to close my account
    ///
    /// Residents only: the latest request.
    #[oai(
        path = "/me/erasure-request",
        method = "get",
        operation_id = "get_erasure_request"
    )]
    async fn get_erasure(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<ErasureRequest>, { AUTHED | NOT_FOUND }> {
        let resident = auth.0.resident()?;
        let row = erasure_request::Entity::find()
            .filter(erasure_request::Column::ResidentId.eq(resident.id))
            .order_by_desc(erasure_request::Column::RequestedAt)
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("erasure request"))?;
        Ok(Json(erasure_dto(row)))
    }

    /// Cancel my request to close my account
    ///
    /// Residents only, before it is carried out; the account stays as it is.
    #[oai(
        path = "/me/erasure-request",
        method = "delete",
        operation_id = "cancel_erasure"
    )]
    async fn cancel_erasure(
        &self,
        auth: BearerAuth,
    ) -> ApiResult<Json<ErasureRequest>, { AUTHED | NOT_FOUND }> {
        let resident = auth.0.resident()?;
        let now = self.state.clock.now();
        let txn = courtyard_store::begin_write(&self.state.db).await?;
        let Some(row) = erasure_request::Entity::find()
            .filter(erasure_request::Column::ResidentId.eq(resident.id))
            .filter(erasure_request::Column::Status.eq("scheduled"))
            .one(&txn)
            .await?
        else {
            return Err(ApiError::NotFound("scheduled erasure request").into());
        };
        erasure_request::Entity::update_many()
            .col_expr(erasure_request::Column::Status, Expr::value("cancelled"))
            .col_expr(erasure_request::Column::CancelledAt, Expr::value(now))
            .filter(erasure_request::Column::Id.eq(row.id))
            .filter(erasure_request::Column::Status.eq("scheduled"))
            .exec(&txn)
            .await?;
        let entry = resident
            .audit("cancel_erasure", "erasure_request")
            .object(row.id);
        audit::record(&txn, &entry).await?;
        txn.commit().await?;
        let row = erasure_request::Model {
            status: "cancelled".into(),
            cancelled_at: Some(now),
            ..row
        };
        Ok(Json(erasure_dto(row)))
    }
}

async fn own_export(
    state: &AppState,
    resident_id: Uuid,
    id: Uuid,
) -> Result<data_export::Model, ApiError> {
    data_export::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|e| e.resident_id == resident_id)
        .ok_or(ApiError::NotFound("data export"))
}
