//! `Idempotency-Key` for any operation that creates: per (principal, route, key) the
//! request's fingerprint and, once done, its status, chosen headers and body.
//!
//! [`begin`] claims the key before any work (a committed row with no status), so a second
//! request with the same key finds it: the same fingerprint still in flight is told so
//! (the API answers 409), a finished one gets the saved response back, another fingerprint
//! is refused (422). The work's own transaction [`complete`]s the claim, so the saved
//! response commits with what it created; a request that fails [`abandon`]s its claim so
//! the client may retry. A claim older than [`STALE_AFTER`] (its process died) is taken
//! over.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use courtyard_domain::entities::idempotency_record;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a claim may stay in flight before another request with its key takes over.
pub const STALE_AFTER: Duration = Duration::minutes(2);

/// One key of one principal on one route, with the request's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Resident or staff id.
    pub principal_id: Uuid,
    /// `POST /v1/repairs`.
    pub route: &'static str,
    /// The `Idempotency-Key`.
    pub key: String,
    /// [`fingerprint`] of the request.
    pub fingerprint: String,
}

/// SHA-256 of an operation and its body.
pub fn fingerprint(operation: &str, body: &str) -> String {
    hex::encode(Sha256::digest(format!("{operation}\n{body}")))
}

/// A response saved under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// HTTP status.
    pub status: u16,
    /// The headers a replay repeats (`Location`, ...).
    pub headers: BTreeMap<String, String>,
    /// The body, as sent.
    pub body: String,
}

/// What [`begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key is this request's now: do the work, then [`complete`] it.
    Claimed,
    /// The same request finished before: answer with its response.
    Replay(Saved),
    /// The same request is still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

/// Claims `claim`'s key, or says why not.
pub async fn begin(
    db: &impl ConnectionTrait,
    claim: &Claim,
    now: DateTime<Utc>,
) -> Result<Begun, DbErr> {
    let inserted = idempotency_record::Entity::insert(idempotency_record::ActiveModel {
        principal_id: Set(claim.principal_id),
        route: Set(claim.route.to_owned()),
        key: Set(claim.key.clone()),
        fingerprint: Set(claim.fingerprint.clone()),
        status: Set(None),
        headers: Set(None),
        body: Set(None),
        created_at: Set(now),
        completed_at: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_record::Column::PrincipalId,
            idempotency_record::Column::Route,
            idempotency_record::Column::Key,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if inserted > 0 {
        return Ok(Begun::Claimed);
    }
    let Some(row) = idempotency_record::Entity::find_by_id((
        claim.principal_id,
        claim.route.to_owned(),
        claim.key.clone(),
    ))
    .one(db)
    .await?
    else {
        // Abandoned between our insert and this read: the key is free again.
        return Box::pin(begin(db, claim, now)).await;
    };
    if row.fingerprint != claim.fingerprint {
        return Ok(Begun::Mismatch);
    }
    match (row.status, row.body) {
        (Some(status), body) => Ok(Begun::Replay(Saved {
            status: u16::try_from(status).unwrap_or(200),
            headers: row
                .headers
                .as_deref()
                .and_then(|h| serde_json::from_str(h).ok())
                .unwrap_or_default(),
            body: body.unwrap_or_default(),
        })),
        (None, _) if row.created_at < now - STALE_AFTER => {
            let taken = idempotency_record::Entity::update_many()
                .col_expr(idempotency_record::Column::CreatedAt, Expr::value(now))
                .filter(keyed(claim))
                .filter(idempotency_record::Column::Status.is_null())
                .filter(idempotency_record::Column::CreatedAt.eq(row.created_at))
                .exec(db)
                .await?;
            Ok(if taken.rows_affected == 1 {
                Begun::Claimed
            } else {
                Begun::InFlight
            })
        }
        (None, _) => Ok(Begun::InFlight),
    }
}

/// Saves the response under the claimed key, in the transaction that did the work.
pub async fn complete(
    txn: &impl ConnectionTrait,
    claim: &Claim,
    saved: &Saved,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let headers = (!saved.headers.is_empty())
        .then(|| serde_json::to_string(&saved.headers))
        .transpose()
        .map_err(|e| DbErr::Custom(format!("encoding saved headers: {e}")))?;
    idempotency_record::Entity::update_many()
        .col_expr(
            idempotency_record::Column::Status,
            Expr::value(i32::from(saved.status)),
        )
        .col_expr(idempotency_record::Column::Headers, Expr::value(headers))
        .col_expr(
            idempotency_record::Column::Body,
            Expr::value(saved.body.clone()),
        )
        .col_expr(idempotency_record::Column::CompletedAt, Expr::value(now))
        .filter(keyed(claim))
        .exec(txn)
        .await?;
    Ok(())
}

/// Gives up a claim whose request failed, so that a retry runs afresh.
pub async fn abandon(db: &impl ConnectionTrait, claim: &Claim) -> Result<(), DbErr> {
    idempotency_record::Entity::delete_many()
        .filter(keyed(claim))
        .filter(idempotency_record::Column::Status.is_null())
        .exec(db)
        .await?;
    Ok(())
}

fn keyed(claim: &Claim) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(idempotency_record::Column::PrincipalId.eq(claim.principal_id))
        .add(idempotency_record::Column::Route.eq(claim.route))
        .add(idempotency_record::Column::Key.eq(claim.key.as_str()))
}
