//! The `courtyard` application: the API and, in the same process unless told otherwise,
//! the workers. This is the one crate that sees both; `api` and `workers` never import each
//! other.

pub mod demo;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use courtyard_api::{
    startup::{self, SecretPolicy},
    state::AppState,
};
use courtyard_domain::{Clock, Settings, SystemClock};
use courtyard_providers::login_codes::CodeSender;
use courtyard_workers::{
    Pipeline, Workers,
    deliver::{Deliverer, Providers},
    lease::{Lease, LocalLease, RedisLease},
    queue::{MemoryQueue, Queue, RedisQueue},
};
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
use secrecy::ExposeSecret;

pub use courtyard_api::startup::MAX_BODY_BYTES;

/// What the application is built with besides settings; tests swap these.
pub struct Dependencies {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where login codes go; none sends them as the settings say (SMS provider, else log).
    pub code_sender: Option<Arc<dyn CodeSender>>,
    /// The notification providers; none builds them from the settings.
    pub deliverer: Option<Arc<dyn Deliverer>>,
    /// Whether the workers run in this process.
    pub workers: bool,
    /// What a missing JWT secret means.
    pub secret_policy: SecretPolicy,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            code_sender: None,
            deliverer: None,
            workers: true,
            secret_policy: SecretPolicy::Required,
        }
    }
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

/// The scheduler lease: shared through Redis when configured, else this process's own.
pub async fn lease_for(settings: &Settings, holder: &str) -> anyhow::Result<Arc<dyn Lease>> {
    Ok(match &settings.redis.url {
        Some(url) => {
            let client =
                redis::Client::open(url.expose_secret()).context("parsing the Redis URL")?;
            Arc::new(
                RedisLease::connect(client, &settings.redis.key_prefix, "scheduler", holder)
                    .await?,
            )
        }
        None => Arc::new(LocalLease),
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
        let db = startup::connect_and_migrate(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let state = startup::build_state(
            settings,
            db,
            deps.clock.clone(),
            deps.code_sender.clone(),
            deps.secret_policy,
        )
        .await?;
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
                retention: state.settings.retention.clone(),
                // One provider for both: the dev provider's keys are made at start-up.
                payments: state.payments.clone(),
                // The API's /readyz and /metrics show this process's open circuits.
                circuits: state.circuits.clone(),
            });
            let lease = lease_for(&state.settings, workers.consumer()).await?;
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
        let app = startup::routes(&self.state);
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

    /// Whether login codes really leave the server (false: no SMS provider, codes are
    /// only logged).
    pub fn sends_login_codes(&self) -> bool {
        self.state.code_sender.delivers()
    }

    /// The in-process workers, if any.
    pub fn workers(&self) -> Option<&Workers> {
        self.workers.as_ref()
    }
}

/// The workers alone (`courtyard workers`, `courtyard-workers`), until Ctrl-C or SIGTERM;
/// the database must already be migrated (the API does that at start-up).
pub async fn run_workers(settings: Settings) -> anyhow::Result<()> {
    // The same providers as the API's in-process workers: the real clients the settings
    // configure, the log for the rest.
    let pipeline = Pipeline::from_settings(&settings, Arc::new(SystemClock)).await?;
    let workers = Workers::new(pipeline);
    // With Redis, processes take turns at the scheduler through a lease, as the API's do.
    let lease = lease_for(&settings, workers.consumer()).await?;
    let workers = workers.with_lease(lease);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(workers.run(stopped));
    shutdown_signal().await;
    let _ = stop.send(true);
    workers.await.context("joining workers")?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (how container runtimes stop a process).
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
