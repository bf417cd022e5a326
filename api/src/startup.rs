//! Building and running the application: settings → database (migrated) → state → routes.

use std::{
    future::Future,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context;
use courtyard_domain::{Clock, Settings, SystemClock, auth::random_secret};
use courtyard_migrations::{Migrator, MigratorTrait};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use poem_openapi::OpenApiService;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::ExposeSecret;

use courtyard_workers::{
    Pipeline, Workers,
    deliver::{Deliverer, Providers},
    lease::{Lease, LocalLease, RedisLease},
    queue::{MemoryQueue, Queue, RedisQueue},
};

use crate::{
    auth::{AuthApi, tokens::TokenKeys},
    communities::CommunitiesApi,
    households::HouseholdsApi,
    imports::ImportsApi,
    limits::FixedWindowLimiter,
    me::MeApi,
    notices::NoticesApi,
    notifications::NotificationsApi,
    ops,
    photos::{LocalDiskStore, PhotosApi},
    residents::ResidentsApi,
    sms::{CodeSender, LogCodeSender},
    staff::StaffApi,
    state::{AppState, Inner},
    telemetry,
    ticket_reports::TicketReportsApi,
    tickets::TicketsApi,
};

/// Largest request body accepted (a roll CSV of 50,000 rows fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the application is built with besides settings; tests swap these.
pub struct Dependencies {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where login codes go.
    pub code_sender: Arc<dyn CodeSender>,
    /// The notification providers; none builds them from the settings.
    pub deliverer: Option<Arc<dyn Deliverer>>,
    /// Whether the workers run in this process.
    pub workers: bool,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            code_sender: Arc::new(LogCodeSender),
            deliverer: None,
            workers: true,
        }
    }
}

/// Connects to the configured database and applies every pending migration.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(settings.database.url.expose_secret().to_owned());
    options
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    Ok(db)
}

/// Builds the shared state from settings and dependencies.
pub async fn build_state(
    settings: Settings,
    db: DatabaseConnection,
    deps: &Dependencies,
) -> anyhow::Result<AppState> {
    let secret = match &settings.auth.jwt_secret {
        Some(secret) => secret.expose_secret().to_owned(),
        None => {
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
    let public_limiter = FixedWindowLimiter::new(settings.server.public_rate_limit_per_minute, 60);
    Ok(AppState::new(Inner {
        db,
        clock: deps.clock.clone(),
        tokens,
        code_sender: deps.code_sender.clone(),
        redis,
        http,
        public_limiter,
        metrics: metrics_handle(),
        communities: Default::default(),
        photos: Arc::new(LocalDiskStore::new(&settings.storage.photo_dir)),
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
    NoticesApi,
    TicketsApi,
    TicketReportsApi,
    PhotosApi,
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
        NoticesApi {
            state: state.clone(),
        },
        TicketsApi {
            state: state.clone(),
        },
        TicketReportsApi {
            state: state.clone(),
        },
        PhotosApi {
            state: state.clone(),
        },
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
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .at("/healthz", ops::healthz)
        .at("/readyz", ops::readyz)
        .at("/metrics", ops::metrics)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api)
        .around(limit_body)
        .around(telemetry::around)
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

/// The queue the settings call for: Redis Streams when Redis is configured, else in-process.
pub async fn queue_for(settings: &Settings) -> anyhow::Result<Arc<dyn Queue>> {
    Ok(match &settings.redis.url {
        Some(url) => {
            let client =
                redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
            Arc::new(RedisQueue::connect(client, &settings.redis.key_prefix).await?)
        }
        None => Arc::new(MemoryQueue::new()),
    })
}

/// A built application, bound to its port and ready to run.
pub struct Application {
    port: u16,
    acceptor: poem::listener::TcpAcceptor,
    state: AppState,
    workers: Option<Workers>,
}

impl Application {
    /// Connects, migrates, binds `server.host:server.port` (0 picks a free port).
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        let db = connect_and_migrate(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let state = build_state(settings, db, &deps).await?;
        let workers = if deps.workers {
            let queue = queue_for(&state.settings).await?;
            let workers = Workers::new(Pipeline {
                db: state.db.clone(),
                queue,
                clock: deps.clock.clone(),
                deliverer: match &deps.deliverer {
                    Some(deliverer) => deliverer.clone(),
                    None => Arc::new(Providers::from_settings(
                        &state.settings,
                        deps.clock.clone(),
                    )?),
                },
                settings: state.settings.notifications.clone(),
            });
            let lease: Arc<dyn Lease> = match &state.settings.redis.url {
                Some(url) => {
                    let client = redis::Client::open(url.expose_secret())
                        .context("parsing the Redis URL")?;
                    let prefix = &state.settings.redis.key_prefix;
                    Arc::new(
                        RedisLease::connect(client, prefix, "scheduler", workers.consumer())
                            .await?,
                    )
                }
                None => Arc::new(LocalLease),
            };
            Some(workers.with_lease(lease))
        } else {
            None
        };
        let acceptor = TcpListener::bind(address.clone())
            .into_acceptor()
            .await
            .with_context(|| format!("binding {address}"))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("no local address")?;
        Ok(Self {
            port,
            acceptor,
            state,
            workers,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests use its database handle).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the in-process workers) until `shutdown` completes, then lets in-flight
    /// requests (up to 30 s) and the workers' current batches finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = routes(&self.state);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = async move {
            let served = Server::new_with_acceptor(self.acceptor)
                .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
                .await;
            // The server has drained: let the workers finish their current batches.
            let _ = stop.send(true);
            served
        };
        // Joined, not spawned: dropping this future (a crash, a test's kill) stops both.
        let workers = async move {
            if let Some(workers) = self.workers {
                workers.run(stopped).await;
            }
        };
        let (served, ()) = tokio::join!(server, workers);
        served
    }

    /// The in-process workers, if any.
    pub fn workers(&self) -> Option<&Workers> {
        self.workers.as_ref()
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight work");
}

/// The OpenAPI document as YAML, generated from the code over a throwaway in-memory database.
pub async fn export_openapi() -> anyhow::Result<String> {
    let mut settings = Settings::default();
    settings.database.url = secrecy::SecretString::from("sqlite::memory:");
    settings.database.max_connections = 1;
    settings.auth.jwt_secret = Some(secrecy::SecretString::from("export-only"));
    let db = connect_and_migrate(&settings).await?;
    let state = build_state(settings, db, &Dependencies::default()).await?;
    Ok(openapi_service(&state).spec_yaml())
}
