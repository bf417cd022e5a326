//! Building the HTTP application: settings → database (migrated) → state → routes, and the
//! OpenAPI export. The `courtyard` binary (the `app` crate) binds and runs it.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context;
use courtyard_domain::{Clock, Settings, auth::random_secret};
use courtyard_providers::{
    login_codes::{self, CodeSender},
    wechat_pay::Gateway,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

pub use courtyard_store::connect_and_migrate;

use crate::{
    audit::log::AuditApi,
    auth::{AuthApi, tokens::TokenKeys},
    bookings::BookingsApi,
    communities::CommunitiesApi,
    consents::ConsentsApi,
    dead_letters::DeadLettersApi,
    fees::{BillsApi, FeeRemindersApi, FeeReportsApi, FeeSetupApi, FeeStatementApi},
    households::HouseholdsApi,
    imports::ImportsApi,
    limits::FixedWindowLimiter,
    me::MeApi,
    notices::NoticesApi,
    notifications::NotificationsApi,
    ops,
    packages::PackagesApi,
    payments::{PaymentsApi, RefundsApi, notify::wechat_notify},
    privacy::PrivacyApi,
    residents::ResidentsApi,
    services::{ServiceReportsApi, ServicesApi},
    staff::StaffApi,
    state::{AppState, Inner},
    telemetry,
    tickets::{
        TicketsApi,
        photos::{LocalDiskStore, PhotosApi},
        reports::TicketReportsApi,
    },
};

/// Largest request body accepted (a roll CSV of 50,000 rows fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Whether a missing JWT secret is refused or replaced by a random one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPolicy {
    /// `serve`: every API process behind a load balancer must sign with the same key, so a
    /// random per-process one would break logins; start-up fails instead.
    Required,
    /// `demo` and the OpenAPI export: one process, a random key is fine.
    RandomIfMissing,
}

/// Builds the shared state. `code_sender` None sends login codes the way the settings say
/// (the configured SMS provider, else the log).
pub async fn build_state(
    settings: Settings,
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    code_sender: Option<Arc<dyn CodeSender>>,
    secret_policy: SecretPolicy,
) -> anyhow::Result<AppState> {
    let secret = match (&settings.auth.jwt_secret, secret_policy) {
        (Some(secret), _) => secret.expose_secret().to_owned(),
        (None, SecretPolicy::Required) => anyhow::bail!(
            "no auth.jwt_secret configured (COURTYARD_AUTH__JWT_SECRET): every API process must \
             sign tokens with the same secret; `courtyard demo` generates one for itself"
        ),
        (None, SecretPolicy::RandomIfMissing) => {
            tracing::warn!(
                "no auth.jwt_secret configured: using a random one; tokens end with this process"
            );
            random_secret()
        }
    };
    let tokens = TokenKeys::new(
        secret.as_bytes(),
        settings.auth.access_token_ttl_secs,
        settings.auth.refresh_token_ttl_days,
    );
    let code_sender = match code_sender {
        Some(sender) => sender,
        None => login_codes::from_settings(settings.notifications.sms.as_ref(), clock.clone())
            .context("configuring the login-code SMS")?,
    };
    let redis = match &settings.redis.url {
        None => None,
        Some(url) => {
            let client =
                redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
            Some(
                redis::aio::ConnectionManager::new(client)
                    .await
                    .context("connecting to Redis")?,
            )
        }
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let payments = Arc::new(
        Gateway::from_settings(&settings.payments, clock.clone())
            .context("configuring the payment provider")?,
    );
    let public_limiter = FixedWindowLimiter::new(settings.server.public_rate_limit_per_minute, 60);
    Ok(AppState::new(Inner {
        reads: crate::audit::ReadTrail::spawn(db.clone()),
        db,
        clock,
        tokens,
        code_sender,
        redis,
        http,
        public_limiter,
        proxies: crate::client_ip::ProxyTrust::parse(&settings.server.trusted_proxies)?,
        metrics: metrics_handle(),
        communities: Default::default(),
        photos: Arc::new(LocalDiskStore::new(&settings.storage.photo_dir)),
        payments,
        circuits: Arc::new(courtyard_domain::circuits::Circuits::new(
            settings.notifications.circuit_policy(),
        )),
        settings,
    }))
}

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (an embedding program's): render an empty registry.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}

/// Every area of the API, one `#[OpenApi]` struct each.
pub type Apis = (
    AuthApi,
    MeApi,
    CommunitiesApi,
    HouseholdsApi,
    ResidentsApi,
    StaffApi,
    ImportsApi,
    NotificationsApi,
    (NoticesApi, DeadLettersApi),
    TicketsApi,
    TicketReportsApi,
    PhotosApi,
    // poem-openapi implements `OpenApi` for tuples of up to 16: areas with several
    // structs are grouped.
    (
        FeeSetupApi,
        BillsApi,
        FeeReportsApi,
        FeeStatementApi,
        FeeRemindersApi,
    ),
    (PaymentsApi, RefundsApi),
    (ServicesApi, ServiceReportsApi, BookingsApi, PackagesApi),
    (AuditApi, PrivacyApi, ConsentsApi),
);

/// The OpenAPI service: every area of the API.
pub fn openapi_service(state: &AppState) -> OpenApiService<Apis, ()> {
    let apis = (
        AuthApi {
            state: state.clone(),
        },
        MeApi {
            state: state.clone(),
        },
        CommunitiesApi {
            state: state.clone(),
        },
        HouseholdsApi {
            state: state.clone(),
        },
        ResidentsApi {
            state: state.clone(),
        },
        StaffApi {
            state: state.clone(),
        },
        ImportsApi {
            state: state.clone(),
        },
        NotificationsApi {
            state: state.clone(),
        },
        (
            NoticesApi {
                state: state.clone(),
            },
            DeadLettersApi {
                state: state.clone(),
            },
        ),
        TicketsApi {
            state: state.clone(),
        },
        TicketReportsApi {
            state: state.clone(),
        },
        PhotosApi {
            state: state.clone(),
        },
        (
            FeeSetupApi {
                state: state.clone(),
            },
            BillsApi {
                state: state.clone(),
            },
            FeeReportsApi {
                state: state.clone(),
            },
            FeeStatementApi {
                state: state.clone(),
            },
            FeeRemindersApi {
                state: state.clone(),
            },
        ),
        (
            PaymentsApi {
                state: state.clone(),
            },
            RefundsApi {
                state: state.clone(),
            },
        ),
        (
            ServicesApi {
                state: state.clone(),
            },
            ServiceReportsApi {
                state: state.clone(),
            },
            BookingsApi {
                state: state.clone(),
            },
            PackagesApi {
                state: state.clone(),
            },
        ),
        (
            AuditApi {
                state: state.clone(),
            },
            PrivacyApi {
                state: state.clone(),
            },
            ConsentsApi {
                state: state.clone(),
            },
        ),
    );
    OpenApiService::new(apis, "Courtyard API", env!("CARGO_PKG_VERSION"))
        .summary("Residential property management: residents, butlers, admins")
        .description(
            "Every error is RFC 7807 `application/problem+json` with a stable `type`. Lists use \
             cursor pagination (`cursor`, `limit`, `next_cursor`). Timestamps are RFC 3339 UTC.",
        )
}

/// The whole HTTP application.
pub fn routes(state: &AppState) -> impl poem::Endpoint + 'static {
    let api = openapi_service(state);
    // The document as `openapi/courtyard.yaml` has it, with the framework's answers.
    let completed = crate::contract::complete(&api.spec_yaml());
    crate::contract::remember_paths(&completed);
    crate::strict_json::remember(&completed);
    crate::created::remember(&completed);
    let document = serde_json::to_string(&completed).unwrap_or_default();
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let docs = api.swagger_ui();
    Route::new()
        .at("/healthz", ops::healthz)
        .at("/readyz", ops::readyz)
        .at("/metrics", ops::metrics)
        .at("/openapi.json", spec)
        // WeChat Pay's protocol, not part of the API document: signed raw body in, 204 or
        // `{"code":"FAIL"}` out.
        .at("/v1/payments/wechat/notify", poem::post(wechat_notify))
        .nest("/docs", docs)
        .nest(
            "/",
            api.around(crate::strict_json::around)
                .around(crate::created::around),
        )
        .around(limit_body)
        .around(telemetry::around)
        .around(crate::locale::around)
        .data(state.clone())
}

/// Refuses bodies over [`MAX_BODY_BYTES`] with 413, whether announced by `Content-Length`
/// or streamed in chunks.
async fn limit_body<E: poem::Endpoint>(
    next: E,
    mut req: poem::Request,
) -> poem::Result<poem::Response> {
    use poem::{IntoResponse, http::StatusCode};
    let too_large = || {
        poem::Error::from_string(
            "the request body is too large (16 MiB at most)",
            StatusCode::PAYLOAD_TOO_LARGE,
        )
    };
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match announced {
        Some(length) if length > MAX_BODY_BYTES => return Err(too_large()),
        Some(_) => {}
        None if req
            .headers()
            .contains_key(poem::http::header::TRANSFER_ENCODING) =>
        {
            let body = req
                .take_body()
                .into_bytes_limit(MAX_BODY_BYTES)
                .await
                .map_err(|_| too_large())?;
            req.set_body(body);
        }
        None => {}
    }
    Ok(next.call(req).await?.into_response())
}

/// The OpenAPI document as YAML, generated from the code over a throwaway in-memory database.
pub async fn export_openapi() -> anyhow::Result<String> {
    let mut settings = Settings::default();
    settings.database.url = secrecy::SecretString::from("sqlite::memory:");
    settings.database.max_connections = 1;
    settings.auth.jwt_secret = Some(secrecy::SecretString::from("export-only"));
    let db = connect_and_migrate(&settings).await?;
    let state = build_state(
        settings,
        db,
        Arc::new(courtyard_domain::SystemClock),
        None,
        SecretPolicy::RandomIfMissing,
    )
    .await?;
    let spec = openapi_service(&state).spec_yaml();
    Ok(crate::contract::to_yaml(&crate::contract::complete(&spec)))
}
