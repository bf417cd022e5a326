//! The senders' side of the channels' circuit breakers ([`courtyard_domain::circuits`]):
//! which provider answers count against the provider, and the one log line and the
//! published state for each opening and closing.

use std::time::Duration;

use courtyard_domain::circuits::{Admit, Transition, Verdict};
use courtyard_providers::SendOutcome;

use crate::pipeline::Pipeline;

/// What `outcome` says about its provider, and why; nothing for a message refused as such
/// (which may never have left: no topic, no template configured).
pub fn verdict(outcome: &SendOutcome) -> Option<(Verdict, &str)> {
    match outcome {
        SendOutcome::Unavailable { reason, .. } => Some((Verdict::Down, reason)),
        // Answers about the device: the provider is there.
        SendOutcome::Sent { .. }
        | SendOutcome::InvalidRecipient { .. }
        | SendOutcome::Retry { .. } => Some((Verdict::Up, "")),
        SendOutcome::Failed { .. } => None,
    }
}

/// Whether `channel`'s senders may take work now.
pub fn admit(p: &Pipeline, channel: &str) -> Admit {
    p.circuits.admit(channel, p.clock.now())
}

/// Takes a batch's answers into account, logging and publishing each transition once.
pub async fn observe<'a>(
    p: &Pipeline,
    channel: &str,
    outcomes: impl IntoIterator<Item = &'a SendOutcome>,
) {
    let now = p.clock.now();
    let mut last = None;
    for outcome in outcomes {
        let Some((verdict, reason)) = verdict(outcome) else {
            continue;
        };
        if let Some(transition) = p.circuits.observe(channel, verdict, reason, now) {
            match &transition {
                Transition::Opened(open) if open.since == now => tracing::warn!(
                    channel,
                    reason = %open.reason,
                    next_probe = %open.until,
                    "provider unavailable: circuit opened; the channel's sends wait, their attempts unused"
                ),
                Transition::Opened(open) => tracing::info!(
                    channel,
                    reason = %open.reason,
                    next_probe = %open.until,
                    "provider still unavailable: circuit stays open"
                ),
                Transition::Closed { after } => tracing::warn!(
                    channel,
                    open_secs = after.num_seconds(),
                    "provider answers again: circuit closed"
                ),
            }
            last = Some(transition);
        }
    }
    let Some(transition) = last else { return };
    let open = match transition {
        Transition::Opened(open) => Some(open),
        Transition::Closed { .. } => None,
    };
    // Kept a while past the next probe, so a process that died with the circuit open does
    // not show it open for ever.
    let ttl = open.as_ref().map_or(Duration::ZERO, |open| {
        (open.until - now).to_std().unwrap_or_default() + Duration::from_secs(60)
    });
    if let Err(e) = p.queue.publish_circuit(channel, open.as_ref(), ttl).await {
        tracing::debug!(channel, error = ?e, "could not publish the circuit's state");
    }
}

/// A probe that sent nothing (no job, or its delivery was settled elsewhere): the next
/// lane may probe at once.
pub fn release_probe(p: &Pipeline, channel: &str) {
    p.circuits.release_probe(channel);
}
