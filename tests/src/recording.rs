//! A deliverer that records every send and answers as programmed: for tests of the
//! pipeline's own rules (dedupe, retries, dead letters, fallback) apart from any provider.
//! The provider clients themselves are tested against the mock servers in [`crate::mocks`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use courtyard_providers::SendOutcome;
use courtyard_workers::deliver::{Deliverer, SendJob};

/// Records sends; answers `Sent` unless told otherwise for a target.
#[derive(Default)]
pub struct RecordingDeliverer {
    sent: Mutex<Vec<SendJob>>,
    scripted: Mutex<HashMap<String, Vec<SendOutcome>>>,
    delay: Mutex<Option<Duration>>,
}

impl RecordingDeliverer {
    /// A shared recorder.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Answers the next sends to `target` with `outcomes`, in order, then `Sent`.
    pub fn script(&self, target: &str, outcomes: Vec<SendOutcome>) {
        self.scripted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(target.to_owned(), outcomes);
    }

    /// Makes every send take `delay` (to catch a worker mid-batch).
    pub fn slow_down(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = Some(delay);
    }

    /// Every send so far.
    pub fn sent(&self) -> Vec<SendJob> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends to `target` so far.
    pub fn sends_to(&self, target: &str) -> Vec<SendJob> {
        self.sent()
            .into_iter()
            .filter(|s| s.target == target)
            .collect()
    }
}

#[async_trait]
impl Deliverer for RecordingDeliverer {
    async fn deliver(&self, job: &SendJob) -> SendOutcome {
        let delay = *self.delay.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job.clone());
        let mut scripted = self.scripted.lock().unwrap_or_else(|e| e.into_inner());
        match scripted.get_mut(&job.target) {
            Some(outcomes) if !outcomes.is_empty() => outcomes.remove(0),
            _ => SendOutcome::Sent {
                provider_id: Some(format!("rec-{}", job.delivery_id)),
            },
        }
    }
}
