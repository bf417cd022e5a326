//! Structured logs (JSON by default) and request ids.

use courtyard_domain::settings::LogFormat;
use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};
use tracing::Instrument;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = result;
}

/// The request's id: taken from `x-request-id` when the caller sent a sane one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: gives every request an id, a span carrying it, an access log line, metrics,
/// and echoes the id in `x-request-id`.
pub async fn around<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let started = std::time::Instant::now();
    async move {
        let mut response = match next.call(req).await {
            Ok(response) => response.into_response(),
            Err(err) => crate::error::problem_at(err, &path),
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        metrics::counter!("http_requests_total", "method" => method.clone(), "status" => status.to_string()).increment(1);
        metrics::histogram!("http_request_duration_seconds", "method" => method).record(elapsed.as_secs_f64());
        if status >= 500 {
            tracing::error!(status, elapsed_ms = elapsed.as_millis() as u64, "request failed");
        } else {
            tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "request");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}
