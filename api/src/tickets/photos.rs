//! Ticket photos: uploading them (multipart, up to 9 a ticket, each checked by its bytes)
//! and fetching them back, and the [`PhotoStore`] that keeps the bytes (a local directory
//! by default). The bytes are stored first; the rows and the `photo_added` event are then
//! written in one transaction, and when that fails the stored files are deleted again, so a
//! photo row always has its bytes.

use std::io::SeekFrom;

use anyhow::Context;
use courtyard_domain::{
    entities::{ticket, ticket_photo},
    new_id,
    photos::{
        ImageType, MAX_PHOTO_BYTES, MAX_PHOTOS_PER_TICKET, PhotoKey, PhotoStage, SNIFF_BYTES,
        upload_stage,
    },
    tickets::{EventAction, TicketState},
};
use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Multipart, OpenApi,
    param::Path,
    payload::Json,
    registry::{
        MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
    },
    types::{Type, multipart::Upload},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    sea_query::Expr,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, Principal},
    error::{ApiError, ApiResult, FieldError, status::*},
    state::AppState,
    tickets::{PhotoRef, actor_of, load, refusal, ticket_entry},
    vocab::Vocab,
};
pub use courtyard_store::photos::{LocalDiskStore, PhotoStore};
use courtyard_store::tickets::{NewEvent, record_event};

/// Photos to add to a ticket.
#[derive(Debug, Multipart)]
#[oai(deny_unknown_fields)]
pub struct PhotoUpload {
    /// The photos: one file per `photos` field, repeated for several. JPEG, PNG, WebP or
    /// HEIC, told by the file's bytes (the declared type and file name are not used); 10 MiB
    /// each.
    pub photos: Vec<Upload>,
}

/// Photos added.
#[derive(ApiResponse)]
pub enum PhotosAdded {
    /// Added: the new photos, in the order they were sent.
    #[oai(status = 201)]
    Created(Json<Vec<PhotoRef>>),
}

/// A photo's bytes, with the type they were stored as.
pub struct PhotoFile {
    content_type: String,
    bytes: Vec<u8>,
}

/// Photos are never changed under their id, so the caller's own cache may keep them; a
/// shared cache may not, since they are only for the ticket's parties.
const PHOTO_CACHE_CONTROL: &str = "private, max-age=86400";

impl IntoResponse for PhotoFile {
    fn into_response(self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .content_type(self.content_type)
            .header("cache-control", PHOTO_CACHE_CONTROL)
            // Served as the image type its bytes were checked to be, never guessed again.
            .header("x-content-type-options", "nosniff")
            .body(self.bytes)
    }
}

impl ApiResponse for PhotoFile {
    fn meta() -> MetaResponses {
        let binary =
            || MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")));
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The photo's bytes, as the type they were checked to be.",
                status: Some(200),
                status_range: None,
                content: ImageType::ALL
                    .iter()
                    .map(|t| MetaMediaType {
                        content_type: t.content_type(),
                        schema: binary(),
                    })
                    .collect(),
                headers: vec![MetaHeader {
                    name: "Cache-Control".into(),
                    description: Some(format!(
                        "`{PHOTO_CACHE_CONTROL}`: a photo never changes under its id."
                    )),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                }],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// The ticket photo endpoints.
pub struct PhotosApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tickets")]
impl PhotosApi {
    /// Add photos to a ticket
    ///
    /// `multipart/form-data` with one or more `photos` file fields. Each photo is a JPEG,
    /// PNG, WebP or HEIC image (checked by its bytes) of at most 10 MiB; a ticket has at most
    /// 9 photos in all. A request carries at most 16 MiB, so send large photos a few per
    /// request. All or nothing: any refused file refuses the request with one `photos` error
    /// per file, and nothing is added.
    ///
    /// Who and when: the resident, until work starts (submitted, dispatched, accepted), as
    /// report photos; the assignee, as completion photos while accepted or on site (report
    /// photos otherwise); the front desk, supervisors and admins, as report photos. Closed
    /// and cancelled tickets take no photos (409 `/problems/wrong-state`). Adds one
    /// `photo_added` entry to the ticket's history.
    #[oai(
        path = "/tickets/:ticket_id/photos",
        method = "post",
        operation_id = "upload_ticket_photos"
    )]
    async fn upload_ticket_photos(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: PhotoUpload,
    ) -> ApiResult<
        PhotosAdded,
        { AUTHED | NOT_FOUND | CONFLICT | VALIDATION | TOO_LARGE | UNSUPPORTED_MEDIA },
    > {
        let principal = &auth.0;
        let (row, parties) = load(&self.state, principal, *ticket_id).await?;
        let state = TicketState::parse(&row.state).map_err(|e| anyhow::anyhow!(e))?;
        let stage = upload_stage(state, &parties).map_err(refusal)?;
        let files = checked(body.photos).await?;
        check_room(count_photos(&self.state.db, row.id).await?, files.len())?;

        let now = self.state.clock.now();
        let (uploaded_by_kind, uploaded_by) = match principal {
            Principal::Resident(r) => ("resident", r.id),
            Principal::Staff(s) => ("staff", s.id),
        };
        let photos: Vec<ticket_photo::Model> = files
            .iter()
            .map(|f| {
                let id = new_id();
                ticket_photo::Model {
                    id,
                    ticket_id: row.id,
                    stage: stage.as_str().into(),
                    content_type: f.image.content_type().into(),
                    size_bytes: f.size as i64,
                    storage_key: PhotoKey::new(row.id, id, f.image).as_str().into(),
                    uploaded_by_kind: uploaded_by_kind.into(),
                    uploaded_by,
                    created_at: now,
                }
            })
            .collect();

        // In a task of its own, so a client that goes away mid-upload cannot leave stored
        // files without rows: the task finishes or cleans up either way.
        let (app, caller, ticket, rows) = (
            self.state.clone(),
            principal.clone(),
            row.clone(),
            photos.clone(),
        );
        tokio::spawn(
            async move { store(&app, &caller, &ticket, state, stage, files, &rows).await },
        )
        .await
        .map_err(|e| anyhow::anyhow!("the photo upload task failed: {e}"))??;
        tracing::info!(ticket = %row.id, photos = photos.len(), stage = %stage, "ticket photos added");
        Ok(PhotosAdded::Created(Json(
            photos.into_iter().map(photo_ref).collect(),
        )))
    }

    /// Get a ticket photo
    ///
    /// The photo's bytes, with its content type (`image/jpeg`, `image/png`, `image/webp` or
    /// `image/heic`). Anyone who may see the ticket may see its photos; a photo id of
    /// another ticket answers 404.
    #[oai(
        path = "/tickets/:ticket_id/photos/:photo_id",
        method = "get",
        operation_id = "get_ticket_photo"
    )]
    async fn get_ticket_photo(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        photo_id: Path<Uuid>,
    ) -> ApiResult<PhotoFile, { AUTHED | NOT_FOUND }> {
        let (row, _) = load(&self.state, &auth.0, *ticket_id).await?;
        let photo = ticket_photo::Entity::find_by_id(*photo_id)
            .filter(ticket_photo::Column::TicketId.eq(row.id))
            .one(&self.state.db)
            .await?
            .ok_or(ApiError::NotFound("photo"))?;
        if let Some(staff) = auth.0.as_staff() {
            let entry = ticket_entry(staff.audit("get_ticket_photo", "ticket_photo"), &row)
                .object(photo.id)
                .details(json!({ "ticket_id": row.id }));
            self.state.reads.record(entry).await;
        }
        let key = PhotoKey::parse(&photo.storage_key).map_err(|e| anyhow::anyhow!(e))?;
        let bytes = self
            .state
            .photos
            .get(&key)
            .await?
            .with_context(|| format!("photo {} has a row but no bytes at {key}", photo.id))?;
        Ok(PhotoFile {
            content_type: photo.content_type,
            bytes,
        })
    }
}

/// A photo as the API shows it.
pub fn photo_ref(p: ticket_photo::Model) -> PhotoRef {
    PhotoRef {
        url: format!("/v1/tickets/{}/photos/{}", p.ticket_id, p.id),
        id: p.id,
        stage: Vocab::stored(&p.stage),
        content_type: p.content_type,
        size_bytes: p.size_bytes,
    }
}

/// An uploaded file that passed the checks, still in its temporary file.
struct CheckedFile {
    image: ImageType,
    size: usize,
    file: tokio::fs::File,
}

impl CheckedFile {
    async fn read_all(mut self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.size);
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .context("rewinding an upload")?;
        self.file
            .read_to_end(&mut bytes)
            .await
            .context("reading an upload")?;
        Ok(bytes)
    }
}

/// The uploads, each checked for size and (by its first bytes) type; any refused file
/// refuses them all, with one `photos` error per file.
async fn checked(uploads: Vec<Upload>) -> Result<Vec<CheckedFile>, ApiError> {
    if uploads.is_empty() {
        return Err(ApiError::invalid(
            "photos",
            "send one or more files in `photos` fields",
        ));
    }
    let count = uploads.len();
    let mut files = Vec::with_capacity(count);
    let mut errors = Vec::new();
    let mut refuse = |n: usize, message: String| {
        errors.push(FieldError {
            field: "photos".into(),
            message: format!("file {n} of {count}: {message}"),
            row: None,
        });
    };
    for (i, upload) in uploads.into_iter().enumerate() {
        let size = upload.size();
        if size > MAX_PHOTO_BYTES {
            refuse(
                i + 1,
                format!(
                    "{:.1} MiB is over the 10 MiB a photo may be",
                    size as f64 / (1024.0 * 1024.0)
                ),
            );
            continue;
        }
        let mut file = upload.into_file();
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut file)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .await
            .context("reading an upload")?;
        match ImageType::sniff(&head) {
            Some(image) => files.push(CheckedFile { image, size, file }),
            None => refuse(i + 1, "not a JPEG/PNG/WebP/HEIC image".into()),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(ApiError::Validation {
            detail: format!(
                "{} of {count} file(s) refused; no photo was added",
                errors.len()
            ),
            errors,
        })
    }
}

/// Refuses adding `adding` photos to a ticket that has `existing`.
fn check_room(existing: u64, adding: usize) -> Result<(), ApiError> {
    let existing = usize::try_from(existing).unwrap_or(usize::MAX);
    if existing.saturating_add(adding) > MAX_PHOTOS_PER_TICKET {
        return Err(ApiError::invalid(
            "photos",
            format!(
                "a ticket has at most {MAX_PHOTOS_PER_TICKET} photos; this one has {existing} \
                 and {adding} more were sent"
            ),
        ));
    }
    Ok(())
}

async fn count_photos<C: ConnectionTrait>(db: &C, ticket_id: Uuid) -> Result<u64, ApiError> {
    Ok(ticket_photo::Entity::find()
        .filter(ticket_photo::Column::TicketId.eq(ticket_id))
        .count(db)
        .await?)
}

/// Stores the files, then writes their rows; deletes the stored files if anything fails.
async fn store(
    state: &AppState,
    principal: &Principal,
    row: &ticket::Model,
    ticket_state: TicketState,
    stage: PhotoStage,
    files: Vec<CheckedFile>,
    photos: &[ticket_photo::Model],
) -> Result<(), ApiError> {
    let mut stored = Vec::with_capacity(files.len());
    let added = async {
        for (file, photo) in files.into_iter().zip(photos) {
            let key = PhotoKey::new(row.id, photo.id, file.image);
            let bytes = file.read_all().await?;
            state.photos.put(&key, bytes).await?;
            stored.push(key);
        }
        record(state, principal, row, ticket_state, stage, photos).await
    }
    .await;
    if added.is_err() {
        for key in &stored {
            if let Err(e) = state.photos.delete(key).await {
                tracing::warn!(error = ?e, %key, "could not delete the photo of a failed upload");
            }
        }
    }
    added
}

/// Writes the photo rows and their history entry in one transaction, counting again under
/// the ticket's lock: two uploads at once cannot pass 9 together.
async fn record(
    state: &AppState,
    principal: &Principal,
    row: &ticket::Model,
    ticket_state: TicketState,
    stage: PhotoStage,
    photos: &[ticket_photo::Model],
) -> Result<(), ApiError> {
    let now = photos
        .first()
        .map_or_else(|| state.clock.now(), |p| p.created_at);
    let txn = courtyard_store::begin_write(&state.db).await?;
    // Writing the ticket row first takes SQLite's write lock and PostgreSQL's row lock, and
    // writes nothing if the ticket left the state its permission was checked in. The value
    // is unchanged, so transitions checking `updated_at` are not disturbed.
    let locked = ticket::Entity::update_many()
        .col_expr(
            ticket::Column::UpdatedAt,
            Expr::col(ticket::Column::UpdatedAt),
        )
        .filter(ticket::Column::Id.eq(row.id))
        .filter(ticket::Column::State.eq(ticket_state.as_str()))
        .exec(&txn)
        .await?
        .rows_affected;
    if locked == 0 {
        return Err(ApiError::Conflict {
            kind: "changed-meanwhile",
            detail: "the ticket changed while the photos were uploading; reload and try again"
                .into(),
        });
    }
    check_room(count_photos(&txn, row.id).await?, photos.len())?;
    ticket_photo::Entity::insert_many(photos.iter().map(|p| ticket_photo::ActiveModel {
        id: Set(p.id),
        ticket_id: Set(p.ticket_id),
        stage: Set(p.stage.clone()),
        content_type: Set(p.content_type.clone()),
        size_bytes: Set(p.size_bytes),
        storage_key: Set(p.storage_key.clone()),
        uploaded_by_kind: Set(p.uploaded_by_kind.clone()),
        uploaded_by: Set(p.uploaded_by),
        created_at: Set(p.created_at),
    }))
    .exec_without_returning(&txn)
    .await?;
    record_event(
        &txn,
        NewEvent {
            ticket_id: row.id,
            actor: actor_of(principal),
            action: EventAction::PhotoAdded,
            from: Some(ticket_state),
            to: Some(ticket_state),
            note: None,
            data: Some(json!({
                "stage": stage.as_str(),
                "photo_ids": photos.iter().map(|p| p.id).collect::<Vec<_>>(),
            })),
        },
        now,
    )
    .await?;
    if let Some(entry) = principal.staff_audit("upload_ticket_photos", "ticket") {
        let entry = ticket_entry(entry, row).details(json!({
            "stage": stage.as_str(),
            "photo_ids": photos.iter().map(|p| p.id).collect::<Vec<_>>(),
        }));
        courtyard_store::audit::record(&txn, &entry).await?;
    }
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_store_writes_whole_files_under_the_key_and_nothing_else() {
        let root = std::env::temp_dir().join(format!("courtyard-photo-store-{}", new_id()));
        let store = LocalDiskStore::new(&root);
        let key = PhotoKey::new(new_id(), new_id(), ImageType::Png);
        assert_eq!(store.get(&key).await.expect("get"), None);
        store.put(&key, b"first".to_vec()).await.expect("put");
        store
            .put(&key, b"second".to_vec())
            .await
            .expect("put again");
        assert_eq!(
            store.get(&key).await.expect("get"),
            Some(b"second".to_vec())
        );
        let dir = root.join(key.as_str()).parent().expect("dir").to_owned();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files remain: {names:?}");
        store.delete(&key).await.expect("delete");
        store.delete(&key).await.expect("delete again");
        assert_eq!(store.get(&key).await.expect("get"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn room_counts_what_is_there_and_what_comes() {
        assert!(check_room(0, 9).is_ok());
        assert!(check_room(7, 2).is_ok());
        assert!(check_room(9, 1).is_err());
        assert!(check_room(8, 2).is_err());
    }
}
