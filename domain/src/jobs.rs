//! Job payloads: what a producer (an API handler, a scheduled job) writes into the outbox
//! and the workers read back. Each is a serde type with its outbox kind, shared by both
//! sides so neither builds JSON by hand.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// A payload that travels through the outbox under a kind.
pub trait OutboxJob: Serialize + DeserializeOwned {
    /// The outbox row's `kind`.
    const KIND: &'static str;
}

/// Fan a notice out to its audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeFanout {
    /// The notice.
    pub notice_id: Uuid,
}

impl OutboxJob for NoticeFanout {
    const KIND: &'static str = "notice.fanout";
}

/// Tell the people one ticket event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketNotify {
    /// The `ticket_events` row.
    pub event_id: Uuid,
    /// The outbox row to settle when done; the relay adds it, the producer leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
}

impl TicketNotify {
    /// The job for one event.
    pub fn of(event_id: Uuid) -> Self {
        Self {
            event_id,
            outbox_id: None,
        }
    }
}

impl OutboxJob for TicketNotify {
    const KIND: &'static str = "ticket.notify";
}

/// (Re)enqueue deliveries, e.g. a dead letter an admin replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveriesEnqueue {
    /// The delivery rows.
    pub delivery_ids: Vec<Uuid>,
}

impl OutboxJob for DeliveriesEnqueue {
    const KIND: &'static str = "deliveries.enqueue";
}

/// Generate a community's bills for a month (a `bill_runs` row), reporting progress there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillRun {
    /// The `bill_runs` row.
    pub run_id: Uuid,
    /// The outbox row to settle when done; the relay adds it, the producer leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
}

impl OutboxJob for BillRun {
    const KIND: &'static str = "bills.run";
}

/// Tell the members of each bill's household that it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillsIssued {
    /// The bills.
    pub bill_ids: Vec<Uuid>,
    /// The outbox row to settle when done; the relay adds it, the producer leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
}

impl OutboxJob for BillsIssued {
    const KIND: &'static str = "bills.issued";
}

/// Tell the payer (or, for an offline payment, the household's members) that a payment
/// went through, with its receipt number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceived {
    /// The payment.
    pub payment_id: Uuid,
    /// The outbox row to settle when done; the relay adds it, the producer leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
}

impl OutboxJob for PaymentReceived {
    const KIND: &'static str = "payments.received";
}

/// The kinds whose outbox row stays due until their job settles it (the job carries the
/// row's id in `outbox_id`), because nothing else would show the job was lost.
pub const SETTLED_BY_THE_JOB: &[&str] = &[
    TicketNotify::KIND,
    BillRun::KIND,
    BillsIssued::KIND,
    PaymentReceived::KIND,
];

/// Who a notice is for; all empty means the whole community.
#[derive(Debug, Default, Deserialize, Serialize, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Whole buildings.
    #[serde(default)]
    pub building_ids: Vec<Uuid>,
    /// Whole units.
    #[serde(default)]
    pub unit_ids: Vec<Uuid>,
    /// Single households.
    #[serde(default)]
    pub household_ids: Vec<Uuid>,
}

impl Audience {
    /// No building, unit or household named: everyone in the community.
    pub fn is_whole_community(&self) -> bool {
        self.building_ids.is_empty() && self.unit_ids.is_empty() && self.household_ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_keep_their_wire_shape() {
        let id = Uuid::nil();
        assert_eq!(
            serde_json::to_value(TicketNotify::of(id)).unwrap_or_default(),
            serde_json::json!({ "event_id": id })
        );
        let relayed: TicketNotify =
            serde_json::from_value(serde_json::json!({ "event_id": id, "outbox_id": id }))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(relayed.outbox_id, Some(id));
        assert_eq!(
            serde_json::to_value(NoticeFanout { notice_id: id }).unwrap_or_default(),
            serde_json::json!({ "notice_id": id })
        );
        let audience: Audience =
            serde_json::from_value(serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(audience.is_whole_community());
    }
}
