//! Local stand-ins for the notification providers. Each one listens on `127.0.0.1:0`, speaks HTTP/1
//! and h2c (HTTP/2 with prior knowledge), checks what the real provider checks (signatures,
//! headers, payload shape) and answers with the provider's real error bodies, records every
//! request, and can be told to fail chosen recipients.
//!
//! The push mocks also have a [`Mode::Bench`] for load: the same checks, but each distinct
//! credential's signature is verified once (its age and the token rules still every time),
//! and only arrival times and statuses are kept instead of full request copies.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use courtyard_domain::{Clock, SystemClock};
use poem::{
    Endpoint, EndpointExt, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio::sync::oneshot;

pub mod apns;
pub mod fcm;
pub mod sms;
pub mod wechat;
pub mod wechat_pay;

pub use apns::MockApns;
pub use fcm::{MockFcm, service_account_json};
pub use wechat_pay::MockWechatPay;

/// How much a push mock keeps and re-checks per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every check on every request, every request recorded with headers and body (tests).
    #[default]
    Full,
    /// For load: each distinct credential's signature verified once, payload shape and
    /// headers checked on every request, only [`Arrival`]s kept.
    Bench,
}

/// When a request arrived at a mock and what it was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// When the handler saw it.
    pub at: Instant,
    /// The status answered.
    pub status: u16,
}

/// The text of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The wall clock, for mocks started without a test clock.
fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A mock server running on a spawned task; stops when dropped.
struct Running {
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `endpoint` on a free local port.
async fn serve(endpoint: impl Endpoint + 'static) -> Running {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a local port");
    let addr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .expect("a socket address");
    let (tx, rx) = oneshot::channel::<()>();
    let endpoint = endpoint.map_to_response();
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move {
                    let _ = rx.await;
                },
                Some(Duration::from_secs(1)),
            )
            .await;
    });
    Running {
        base_url: format!("http://{addr}"),
        shutdown: Some(tx),
    }
}

/// An answer programmed for one recipient.
#[derive(Debug, Clone)]
struct Programmed<T> {
    answer: T,
    /// `None`: every time.
    remaining: Option<usize>,
}

/// Programmed answers by recipient token.
#[derive(Debug)]
struct Programme<T>(HashMap<String, Programmed<T>>);

impl<T> Default for Programme<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<T: Clone> Programme<T> {
    fn set(&mut self, token: &str, answer: T, times: Option<usize>) {
        self.0.insert(
            token.to_owned(),
            Programmed {
                answer,
                remaining: times,
            },
        );
    }

    /// The answer due for `token` now, counting it down.
    fn take(&mut self, token: &str) -> Option<T> {
        let entry = self.0.get_mut(token)?;
        let answer = entry.answer.clone();
        match entry.remaining.as_mut() {
            None => {}
            Some(0) => {
                self.0.remove(token);
                return None;
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.0.remove(token);
                }
            }
        }
        Some(answer)
    }
}

/// Header names and values, lower-cased names, for assertions.
fn header_map(headers: &poem::http::HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}
