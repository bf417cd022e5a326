//! `Idempotency-Key` at the edge: the store's claim and saved response
//! (`courtyard_store::idempotency`) as problems and typed replays, for any operation.

use courtyard_store::idempotency::{self, Begun, Claim, Saved};
use poem_openapi::types::{ParseFromJSON, ToJSON};

use crate::{
    authz::Principal,
    error::{ApiError, FieldError},
    state::AppState,
};

/// What a create does about its `Idempotency-Key`.
pub enum Start<T> {
    /// Do the work; with a key, complete the claim in the work's transaction.
    Proceed(Option<Claim>),
    /// The same request finished before: its response.
    Replay(T),
}

/// The principal's id: the scope of their keys.
pub fn principal_id(principal: &Principal) -> uuid::Uuid {
    match principal {
        Principal::Resident(r) => r.id,
        Principal::Staff(s) => s.id,
    }
}

/// Claims `key` for this request on `route`, or answers with the first request's
/// response; 422 when the key was used for another request, 409 while that one runs.
pub async fn start<T: ParseFromJSON>(
    state: &AppState,
    principal: &Principal,
    route: &'static str,
    operation: &str,
    key: Option<&str>,
    body: &str,
) -> Result<Start<T>, ApiError> {
    let Some(key) = key else {
        return Ok(Start::Proceed(None));
    };
    let claim = Claim {
        principal_id: principal_id(principal),
        route,
        key: key.to_owned(),
        fingerprint: idempotency::fingerprint(operation, body),
    };
    match idempotency::begin(&state.db, &claim, state.clock.now()).await? {
        Begun::Claimed => Ok(Start::Proceed(Some(claim))),
        Begun::Replay(saved) => Ok(Start::Replay(replayed(&saved)?)),
        Begun::InFlight => Err(ApiError::Conflict {
            kind: "idempotency-key-in-use",
            detail: "a request with this Idempotency-Key is in progress; retry shortly".into(),
        }),
        Begun::Mismatch => Err(ApiError::Validation {
            detail: "this Idempotency-Key was used for a different request".into(),
            errors: vec![FieldError {
                field: "Idempotency-Key".into(),
                message: "use a new key for a new request".into(),
                row: None,
            }],
        }),
    }
}

/// Gives the claim up when the work failed, so that a retry runs afresh; the work's error
/// is what the caller answers with.
pub async fn finish<T>(
    state: &AppState,
    claim: Option<&Claim>,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if result.is_err()
        && let Some(claim) = claim
        && let Err(e) = idempotency::abandon(&state.db, claim).await
    {
        tracing::warn!(error = ?e, "could not release an Idempotency-Key claim; it expires");
    }
    result
}

/// The saved form of a response.
pub fn saved<T: ToJSON>(status: u16, body: &T) -> Saved {
    Saved {
        status,
        headers: Default::default(),
        body: body.to_json_string(),
    }
}

fn replayed<T: ParseFromJSON>(saved: &Saved) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_str(&saved.body).map_err(|e| anyhow::anyhow!("saved response: {e}"))?;
    T::parse_from_json(Some(value))
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("saved response: {}", e.message())))
}
