//! Operations endpoints outside the API document: liveness, readiness, metrics.

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
#[handler]
pub fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database (and Redis, when configured) answer.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let database = state.db.execute_unprepared("SELECT 1").await.is_ok();
    let redis = match &state.redis {
        None => None,
        Some(conn) => {
            let mut conn = conn.clone();
            Some(
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok(),
            )
        }
    };
    let ready = database && redis.unwrap_or(true);
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "ok" } else { "down" },
        "redis": match redis { None => "not configured", Some(true) => "ok", Some(false) => "down" },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics.
#[handler]
pub fn metrics(state: Data<&AppState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
