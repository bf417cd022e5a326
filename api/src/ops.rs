//! Operations endpoints outside the API document: liveness, readiness, metrics.

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use std::collections::BTreeMap;

use courtyard_domain::circuits::{CHANNELS, OpenCircuit, redis_key};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
#[handler]
pub fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The notification channels' open circuits: this process's workers' and, with Redis,
/// those other worker processes published.
async fn open_circuits(state: &AppState) -> BTreeMap<String, OpenCircuit> {
    let mut open = state.circuits.open();
    if let Some(conn) = &state.redis {
        let prefix = &state.settings.redis.key_prefix;
        let keys: Vec<String> = CHANNELS.iter().map(|c| redis_key(prefix, c)).collect();
        let mut conn = conn.clone();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for (channel, value) in CHANNELS.iter().zip(values) {
            if let Some(circuit) = value.and_then(|v| serde_json::from_str(&v).ok()) {
                open.entry((*channel).to_owned()).or_insert(circuit);
            }
        }
    }
    open
}

/// Readiness: the database (and Redis, when configured) answer. The notification
/// providers' circuits are shown (`degraded` while one is open) without failing readiness:
/// the API serves, and the sends wait for the provider.
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
    let open = open_circuits(&state).await;
    let providers: serde_json::Map<String, serde_json::Value> = CHANNELS
        .iter()
        .map(|channel| {
            let circuit = match open.get(*channel) {
                Some(c) => json!({
                    "circuit": "open",
                    "since": c.since,
                    "next_probe": c.until,
                    "reason": c.reason,
                }),
                None => json!({ "circuit": "closed" }),
            };
            ((*channel).to_owned(), circuit)
        })
        .collect();
    let status = match (ready, open.is_empty()) {
        (false, _) => "unavailable",
        (true, true) => "ready",
        (true, false) => "degraded",
    };
    let body = json!({
        "status": status,
        "database": if database { "ok" } else { "down" },
        "redis": match redis { None => "not configured", Some(true) => "ok", Some(false) => "down" },
        "providers": providers,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics; `courtyard_provider_circuit_open{channel}` is 1 while a channel's
/// circuit is open.
#[handler]
pub async fn metrics(state: Data<&AppState>) -> Response {
    let open = open_circuits(&state).await;
    for channel in CHANNELS {
        let value = if open.contains_key(channel) { 1.0 } else { 0.0 };
        ::metrics::gauge!("courtyard_provider_circuit_open", "channel" => channel).set(value);
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
