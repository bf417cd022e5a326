//! Circuit breakers, one per notification channel: what keeps a provider-wide failure (its
//! TLS certificate not trusted, our credentials refused, a storm of 5xx or 429 answers, the
//! connection refused) from being taken for every device's failure.
//!
//! A channel's circuit opens after `failures` consecutive answers that were the provider's
//! (or ours) rather than a device's. While it is open the channel's senders take no work, so
//! its deliveries wait without using up their attempts and without falling back to SMS.
//! After the cool-down one probe send is let through (half-open): an answer from the
//! provider closes the circuit, another provider-wide failure opens it again for twice as
//! long (up to `max_cooldown`). Each transition is logged once by the caller.
//!
//! The state is this process's (each worker process judges its own connections); what is
//! open is shared with the API's `/readyz` and `/metrics` through [`Circuits::open`], and
//! through Redis for workers in other processes.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The channels that have circuits (the senders' channels).
pub const CHANNELS: [&str; 4] = ["apns", "fcm", "sms", "wechat"];

/// The Redis key under which workers publish `channel`'s open circuit.
pub fn redis_key(prefix: &str, channel: &str) -> String {
    format!("{prefix}circuit:{channel}")
}

/// What one provider answer says about the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The provider answered about the message or the device (sent, bad token, a payload
    /// refused, a device-specific throttle): it is up.
    Up,
    /// The provider, or our side of the connection to it, failed as a whole.
    Down,
}

/// Whether a sender may take work from its channel now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The circuit is closed: take batches as usual.
    All,
    /// The cool-down is over: take one send, whose answer decides.
    Probe,
    /// The circuit is open: take nothing.
    Wait,
}

/// A change of a circuit's state, for the caller to log (once) and publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The circuit opened (or opened again after a failed probe).
    Opened(OpenCircuit),
    /// The circuit closed: the provider answered again.
    Closed {
        /// How long it had been open.
        after: chrono::Duration,
    },
}

/// An open circuit, as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCircuit {
    /// When it first opened.
    pub since: DateTime<Utc>,
    /// When the next probe may go.
    pub until: DateTime<Utc>,
    /// The last provider-wide failure.
    pub reason: String,
}

/// When circuits open and how long they stay open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive provider-wide failures that open a circuit (at least 1).
    pub failures: u32,
    /// The first cool-down.
    pub cooldown: Duration,
    /// The longest cool-down.
    pub max_cooldown: Duration,
    /// How long a probe may stay unanswered before another is let through (the lease of a
    /// claimed delivery: a probe lost with its worker).
    pub probe_timeout: Duration,
}

#[derive(Debug, Clone)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        open: OpenCircuit,
        cooldown: Duration,
        probe_since: Option<DateTime<Utc>>,
    },
}

impl Default for State {
    fn default() -> Self {
        Self::Closed { failures: 0 }
    }
}

/// The circuits of every channel.
#[derive(Debug)]
pub struct Circuits {
    policy: Policy,
    states: Mutex<BTreeMap<String, State>>,
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Circuits {
    /// Every circuit closed.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            states: Mutex::new(BTreeMap::new()),
        }
    }

    fn with<T>(&self, channel: &str, f: impl FnOnce(&mut State) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        f(states.entry(channel.to_owned()).or_default())
    }

    /// Whether `channel`'s senders may take work at `now`; a [`Admit::Probe`] answer is given
    /// to one caller at a time, until [`Circuits::observe`] or [`Circuits::release_probe`].
    pub fn admit(&self, channel: &str, now: DateTime<Utc>) -> Admit {
        let timeout = span(self.policy.probe_timeout);
        self.with(channel, |state| match state {
            State::Closed { .. } => Admit::All,
            State::Open {
                open, probe_since, ..
            } => {
                let probing = probe_since.is_some_and(|since| now - since < timeout);
                if now < open.until || probing {
                    Admit::Wait
                } else {
                    *probe_since = Some(now);
                    Admit::Probe
                }
            }
        })
    }

    /// A probe that found nothing to send: the next caller may probe at once.
    pub fn release_probe(&self, channel: &str) {
        self.with(channel, |state| {
            if let State::Open { probe_since, .. } = state {
                *probe_since = None;
            }
        });
    }

    /// Takes one answer of `channel`'s provider into account; returns the transition it made.
    pub fn observe(
        &self,
        channel: &str,
        verdict: Verdict,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let policy = self.policy;
        self.with(channel, |state| match (verdict, &mut *state) {
            (Verdict::Up, State::Closed { failures }) => {
                *failures = 0;
                None
            }
            (Verdict::Up, State::Open { open, .. }) => {
                let after = now - open.since;
                *state = State::Closed { failures: 0 };
                Some(Transition::Closed { after })
            }
            (Verdict::Down, State::Closed { failures }) => {
                *failures += 1;
                if *failures < policy.failures.max(1) {
                    return None;
                }
                let cooldown = policy.cooldown.min(policy.max_cooldown);
                let open = OpenCircuit {
                    since: now,
                    until: now + span(cooldown),
                    reason: reason.to_owned(),
                };
                *state = State::Open {
                    open: open.clone(),
                    cooldown,
                    probe_since: None,
                };
                Some(Transition::Opened(open))
            }
            (
                Verdict::Down,
                State::Open {
                    open,
                    cooldown,
                    probe_since,
                },
            ) => {
                // Only the probe's failure (or any failure after the cool-down) extends it:
                // the stragglers of the batches in flight when it opened do not.
                if probe_since.is_none() && now < open.until {
                    return None;
                }
                *cooldown = (*cooldown * 2).min(policy.max_cooldown);
                open.until = now + span(*cooldown);
                open.reason = reason.to_owned();
                *probe_since = None;
                Some(Transition::Opened(open.clone()))
            }
        })
    }

    /// The open circuit of `channel`, if it is open.
    pub fn open_circuit(&self, channel: &str) -> Option<OpenCircuit> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match states.get(channel) {
            Some(State::Open { open, .. }) => Some(open.clone()),
            _ => None,
        }
    }

    /// Every open circuit, by channel.
    pub fn open(&self) -> BTreeMap<String, OpenCircuit> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .iter()
            .filter_map(|(channel, state)| match state {
                State::Open { open, .. } => Some((channel.clone(), open.clone())),
                State::Closed { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn circuits() -> Circuits {
        Circuits::new(Policy {
            failures: 3,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(12),
            probe_timeout: Duration::from_secs(60),
        })
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn opens_after_consecutive_provider_failures_only() {
        let c = circuits();
        assert_eq!(c.observe("apns", Verdict::Down, "503", t(0)), None);
        assert_eq!(c.observe("apns", Verdict::Down, "503", t(0)), None);
        // An answer about a device in between: the provider is up, the count starts again.
        assert_eq!(c.observe("apns", Verdict::Up, "", t(0)), None);
        assert_eq!(c.observe("apns", Verdict::Down, "503", t(0)), None);
        assert_eq!(c.observe("apns", Verdict::Down, "503", t(0)), None);
        assert_eq!(c.admit("apns", t(0)), Admit::All);
        let opened = c.observe("apns", Verdict::Down, "TLS", t(1));
        assert_eq!(
            opened,
            Some(Transition::Opened(OpenCircuit {
                since: t(1),
                until: t(6),
                reason: "TLS".into()
            }))
        );
        assert_eq!(c.admit("apns", t(2)), Admit::Wait);
        // Other channels are their own.
        assert_eq!(c.admit("fcm", t(2)), Admit::All);
        assert_eq!(c.open().len(), 1);
    }

    #[test]
    fn stragglers_do_not_extend_an_open_circuit() {
        let c = circuits();
        for _ in 0..3 {
            c.observe("sms", Verdict::Down, "refused", t(0));
        }
        assert_eq!(c.observe("sms", Verdict::Down, "refused", t(1)), None);
        assert_eq!(c.open_circuit("sms").map(|o| o.until), Some(t(5)));
    }

    #[test]
    fn one_probe_after_the_cooldown_decides() {
        let c = circuits();
        for _ in 0..3 {
            c.observe("fcm", Verdict::Down, "500", t(0));
        }
        assert_eq!(c.admit("fcm", t(4)), Admit::Wait);
        assert_eq!(c.admit("fcm", t(5)), Admit::Probe);
        // One probe at a time.
        assert_eq!(c.admit("fcm", t(5)), Admit::Wait);
        // The probe fails: open for twice as long.
        let again = c.observe("fcm", Verdict::Down, "500", t(6));
        assert!(
            matches!(again, Some(Transition::Opened(ref o)) if o.until == t(16) && o.since == t(0))
        );
        assert_eq!(c.admit("fcm", t(15)), Admit::Wait);
        assert_eq!(c.admit("fcm", t(16)), Admit::Probe);
        // Twice again, capped at the longest cool-down.
        let capped = c.observe("fcm", Verdict::Down, "500", t(16));
        assert!(matches!(capped, Some(Transition::Opened(ref o)) if o.until == t(28)));
        assert_eq!(c.admit("fcm", t(28)), Admit::Probe);
        // The provider answers: closed, and the count starts from nothing.
        assert_eq!(
            c.observe("fcm", Verdict::Up, "", t(29)),
            Some(Transition::Closed {
                after: chrono::Duration::seconds(29)
            })
        );
        assert_eq!(c.admit("fcm", t(29)), Admit::All);
        assert_eq!(c.observe("fcm", Verdict::Down, "500", t(30)), None);
        assert!(c.open().is_empty());
    }

    #[test]
    fn a_probe_that_found_nothing_or_was_lost_lets_another_go() {
        let c = circuits();
        for _ in 0..3 {
            c.observe("wechat", Verdict::Down, "-1", t(0));
        }
        assert_eq!(c.admit("wechat", t(5)), Admit::Probe);
        c.release_probe("wechat");
        assert_eq!(c.admit("wechat", t(5)), Admit::Probe);
        // Never answered (its worker died): another after the probe timeout.
        assert_eq!(c.admit("wechat", t(64)), Admit::Wait);
        assert_eq!(c.admit("wechat", t(65)), Admit::Probe);
    }
}
