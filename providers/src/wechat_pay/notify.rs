//! Payment and refund notifications: verify the signature over the raw body first (key by
//! `Wechatpay-Serial`, timestamp within 300 s), then decrypt the AEAD_AES_256_GCM resource
//! with the APIv3 key. What the caller must still check — the order number and the amount
//! against its own payment — is its business; [`WechatPayClient::check_merchant`] checks the
//! merchant id and AppID against the configuration.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{Refund, Transaction, VerifyError, WechatPayClient, sign::SignedHeaders};

/// The only algorithm API v3 encrypts resources with.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// A `Wechatpay-*` header is missing.
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    /// `Wechatpay-Serial` names no key we trust.
    #[error("no WeChat Pay key has the serial `{0}`")]
    UnknownSerial(String),
    /// The timestamp is more than 300 s from now (or not a number): a replay or a bad clock.
    #[error("the notification's timestamp `{0}` is more than 300 s from now")]
    StaleTimestamp(String),
    /// The signature does not verify over the body as received.
    #[error("the notification's signature does not verify")]
    BadSignature,
    /// The resource does not decrypt (wrong key, tampered ciphertext, nonce or associated
    /// data, or not AEAD_AES_256_GCM).
    #[error("the notification's resource does not decrypt")]
    BadCiphertext,
    /// The envelope or the decrypted resource is not the JSON expected.
    #[error("the notification is not the JSON expected: {0}")]
    BadJson(String),
    /// Verified, but an event this client does not handle.
    #[error("unhandled notification event `{0}`")]
    UnknownEvent(String),
}

impl From<VerifyError> for NotifyError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::MissingHeader(name) => Self::MissingHeader(name),
            VerifyError::UnknownSerial(serial) => Self::UnknownSerial(serial),
            VerifyError::StaleTimestamp { timestamp, .. } => Self::StaleTimestamp(timestamp),
            VerifyError::BadSignature => Self::BadSignature,
        }
    }
}

/// A resource as the envelope carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 of ciphertext followed by the 16-byte tag.
    pub ciphertext: String,
    /// The 12-character nonce.
    pub nonce: String,
    /// Authenticated, not encrypted (`transaction`, `refund`).
    #[serde(default)]
    pub associated_data: String,
    /// `transaction` or `refund`.
    #[serde(default)]
    pub original_type: String,
}

/// The notification envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Notification id (`EV-...`).
    pub id: String,
    /// When it was created (RFC 3339, +08:00).
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, ...
    pub event_type: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// What happened, in words.
    #[serde(default)]
    pub summary: String,
    /// The encrypted resource.
    pub resource: EncryptedResource,
}

/// Which event a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `TRANSACTION.SUCCESS`: an order was paid.
    TransactionSuccess,
    /// `REFUND.SUCCESS`: the money is back with the payer.
    RefundSuccess,
    /// `REFUND.ABNORMAL`: the refund failed.
    RefundAbnormal,
    /// `REFUND.CLOSED`: the refund was closed.
    RefundClosed,
}

impl EventType {
    /// Parses WeChat Pay's name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "TRANSACTION.SUCCESS" => Self::TransactionSuccess,
            "REFUND.SUCCESS" => Self::RefundSuccess,
            "REFUND.ABNORMAL" => Self::RefundAbnormal,
            "REFUND.CLOSED" => Self::RefundClosed,
            _ => return None,
        })
    }

    /// WeChat Pay's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransactionSuccess => "TRANSACTION.SUCCESS",
            Self::RefundSuccess => "REFUND.SUCCESS",
            Self::RefundAbnormal => "REFUND.ABNORMAL",
            Self::RefundClosed => "REFUND.CLOSED",
        }
    }
}

/// The decrypted resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyResource {
    /// The paid order.
    Transaction(Transaction),
    /// The refund.
    Refund(Refund),
}

/// A verified, decrypted notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Notification id; WeChat Pay repeats it when it retries.
    pub id: String,
    /// When WeChat Pay created it.
    pub create_time: Option<DateTime<Utc>>,
    /// The event.
    pub event_type: EventType,
    /// What happened, in words.
    pub summary: String,
    /// The resource.
    pub resource: NotifyResource,
}

/// A notification for another merchant or mini-program than ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the notification's {field} `{got}` is not ours (`{expected}`)")]
pub struct MerchantMismatch {
    /// `mchid` or `appid`.
    pub field: &'static str,
    /// Ours.
    pub expected: String,
    /// Theirs.
    pub got: String,
}

/// Decrypts a resource with the APIv3 key's cipher.
pub fn decrypt_resource(
    aead: &Aes256Gcm,
    resource: &EncryptedResource,
) -> Result<Vec<u8>, NotifyError> {
    if resource.algorithm != AEAD_AES_256_GCM {
        return Err(NotifyError::BadCiphertext);
    }
    let ciphertext = BASE64
        .decode(resource.ciphertext.trim())
        .map_err(|_| NotifyError::BadCiphertext)?;
    let nonce =
        Nonce::try_from(resource.nonce.as_bytes()).map_err(|_| NotifyError::BadCiphertext)?;
    aead.decrypt(
        &nonce,
        Payload {
            msg: &ciphertext,
            aad: resource.associated_data.as_bytes(),
        },
    )
    .map_err(|_| NotifyError::BadCiphertext)
}

impl WechatPayClient {
    /// Verifies a notification over its raw body, then decrypts and parses its resource.
    /// `headers` are the request's (poem's and reqwest's are the same `http` type).
    pub fn verify_notification(
        &self,
        headers: &HeaderMap,
        raw_body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError> {
        let signed = SignedHeaders::from_headers(headers)?;
        self.inner.verifier.verify(&signed, raw_body, now)?;
        let envelope: Envelope =
            serde_json::from_slice(raw_body).map_err(|e| NotifyError::BadJson(e.to_string()))?;
        let event_type = EventType::parse(&envelope.event_type)
            .ok_or_else(|| NotifyError::UnknownEvent(envelope.event_type.clone()))?;
        let plaintext = decrypt_resource(&self.inner.aead, &envelope.resource)?;
        let bad_json = |e: serde_json::Error| NotifyError::BadJson(e.to_string());
        let resource = match event_type {
            EventType::TransactionSuccess => {
                NotifyResource::Transaction(serde_json::from_slice(&plaintext).map_err(bad_json)?)
            }
            EventType::RefundSuccess | EventType::RefundAbnormal | EventType::RefundClosed => {
                NotifyResource::Refund(serde_json::from_slice(&plaintext).map_err(bad_json)?)
            }
        };
        Ok(Notification {
            id: envelope.id,
            create_time: DateTime::parse_from_rfc3339(&envelope.create_time)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            event_type,
            summary: envelope.summary,
            resource,
        })
    }

    /// Whether the notification is for our merchant id (and AppID, for a payment).
    pub fn check_merchant(&self, notification: &Notification) -> Result<(), MerchantMismatch> {
        let mismatch = |field, expected: &str, got: &str| {
            (expected != got).then(|| MerchantMismatch {
                field,
                expected: expected.to_owned(),
                got: got.to_owned(),
            })
        };
        let found = match &notification.resource {
            NotifyResource::Transaction(t) => mismatch("mchid", &self.inner.mchid, &t.mchid)
                .or_else(|| mismatch("appid", &self.inner.appid, &t.appid)),
            NotifyResource::Refund(r) => mismatch(
                "mchid",
                &self.inner.mchid,
                r.mchid.as_deref().unwrap_or_default(),
            ),
        };
        found.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use courtyard_domain::SystemClock;
    use serde_json::json;

    use super::*;
    use crate::wechat_pay::{
        TradeState,
        platform::{PlatformKey, SignedNotification, notification},
        test_keys::{self, API_V3_KEY, PLATFORM_KEY, PUBLIC_KEY_ID, STRANGER_KEY},
    };

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
            .single()
            .expect("time")
    }

    fn client() -> WechatPayClient {
        WechatPayClient::new(test_keys::config(), Arc::new(SystemClock)).expect("client")
    }

    fn platform(pem: &str) -> PlatformKey {
        PlatformKey::from_pem(PUBLIC_KEY_ID, pem).expect("key")
    }

    fn paid() -> serde_json::Value {
        json!({
            "mchid": "1900000109", "appid": "wxd678efh567hg6787",
            "out_trade_no": "1217752501201407033233368018",
            "transaction_id": "4200000891202103228088184743", "trade_type": "JSAPI",
            "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
            "attach": "", "success_time": "2026-12-01T16:00:00+08:00",
            "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
            "amount": { "total": 12_500, "payer_total": 12_500, "currency": "CNY",
                        "payer_currency": "CNY" },
        })
    }

    fn signed(
        key: &PlatformKey,
        event: EventType,
        resource: &serde_json::Value,
    ) -> SignedNotification {
        notification(key, API_V3_KEY.as_bytes(), event, resource, now()).expect("notification")
    }

    #[test]
    fn a_payment_notification_round_trips() {
        let sent = signed(
            &platform(PLATFORM_KEY),
            EventType::TransactionSuccess,
            &paid(),
        );
        let client = client();
        let got = client
            .verify_notification(&sent.header_map(), sent.body.as_bytes(), now())
            .expect("verified");
        assert_eq!(got.event_type, EventType::TransactionSuccess);
        let NotifyResource::Transaction(order) = &got.resource else {
            panic!("not a transaction: {got:?}");
        };
        assert_eq!(order.trade_state, TradeState::Success);
        assert_eq!(order.amount.total, 12_500);
        assert_eq!(order.amount.payer_total, Some(12_500));
        assert_eq!(order.payer_openid(), Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
        assert_eq!(client.check_merchant(&got), Ok(()));
    }

    #[test]
    fn a_refund_notification_round_trips_and_is_checked_for_the_merchant() {
        let refund = json!({
            "mchid": "1900000999", "transaction_id": "4200000891202103228088184743",
            "out_trade_no": "1217752501201407033233368018", "refund_id": "50200207182018070300011301001",
            "out_refund_no": "R-1", "refund_status": "ABNORMAL",
            "user_received_account": "支付用户零钱",
            "amount": { "total": 12_500, "refund": 500, "payer_total": 12_500, "payer_refund": 500 },
        });
        let sent = signed(&platform(PLATFORM_KEY), EventType::RefundAbnormal, &refund);
        let client = client();
        let got = client
            .verify_notification(&sent.header_map(), sent.body.as_bytes(), now())
            .expect("verified");
        let NotifyResource::Refund(r) = &got.resource else {
            panic!("not a refund: {got:?}");
        };
        assert_eq!(r.status, crate::wechat_pay::RefundStatus::Abnormal);
        assert_eq!(r.amount.payer_refund, Some(500));
        assert_eq!(
            client.check_merchant(&got).map_err(|m| m.field),
            Err("mchid")
        );
    }

    #[test]
    fn signature_serial_and_time_are_checked_before_anything_is_read() {
        let client = client();
        let sent = signed(
            &platform(PLATFORM_KEY),
            EventType::TransactionSuccess,
            &paid(),
        );
        let verify = |headers: &HeaderMap, body: &str, at| {
            client.verify_notification(headers, body.as_bytes(), at)
        };
        let tampered = sent.body.replace("TRANSACTION.SUCCESS", "REFUND.SUCCESS");
        assert_eq!(
            verify(&sent.header_map(), &tampered, now()),
            Err(NotifyError::BadSignature)
        );
        let forged = signed(
            &platform(STRANGER_KEY),
            EventType::TransactionSuccess,
            &paid(),
        );
        assert_eq!(
            verify(&forged.header_map(), &forged.body, now()),
            Err(NotifyError::BadSignature)
        );
        let unknown = PlatformKey::from_pem("PUB_KEY_ID_OTHER", PLATFORM_KEY).expect("key");
        let unknown = signed(&unknown, EventType::TransactionSuccess, &paid());
        assert_eq!(
            verify(&unknown.header_map(), &unknown.body, now()),
            Err(NotifyError::UnknownSerial("PUB_KEY_ID_OTHER".into()))
        );
        let late = now() + chrono::Duration::seconds(301);
        assert!(matches!(
            verify(&sent.header_map(), &sent.body, late),
            Err(NotifyError::StaleTimestamp(_))
        ));
        assert_eq!(
            verify(&HeaderMap::new(), &sent.body, now()),
            Err(NotifyError::MissingHeader("Wechatpay-Timestamp"))
        );
    }

    /// Re-signs an envelope after changing its resource, as only someone holding both the
    /// platform key and the wrong APIv3 key could: the AEAD must still refuse it.
    fn resigned(change: impl Fn(&mut Envelope)) -> Result<Notification, NotifyError> {
        let key = platform(PLATFORM_KEY);
        let sent = signed(&key, EventType::TransactionSuccess, &paid());
        let mut envelope: Envelope = serde_json::from_str(&sent.body).expect("envelope");
        change(&mut envelope);
        let body = serde_json::to_string(&envelope).expect("json");
        let headers = key.sign_reply(body.as_bytes(), now()).expect("sign");
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name, value.parse().expect("value"));
        }
        client().verify_notification(&map, body.as_bytes(), now())
    }

    #[test]
    fn a_tampered_resource_does_not_decrypt() {
        assert!(resigned(|_| {}).is_ok());
        assert_eq!(
            resigned(|e| e.resource.associated_data = "refund".into()),
            Err(NotifyError::BadCiphertext)
        );
        assert_eq!(
            resigned(|e| {
                let mut bytes = BASE64.decode(&e.resource.ciphertext).expect("base64");
                bytes[3] ^= 1;
                e.resource.ciphertext = BASE64.encode(bytes);
            }),
            Err(NotifyError::BadCiphertext)
        );
        assert_eq!(
            resigned(|e| e.resource.nonce = "000000000000".into()),
            Err(NotifyError::BadCiphertext)
        );
        assert_eq!(
            resigned(|e| e.resource.algorithm = "AEAD_AES_128_GCM".into()),
            Err(NotifyError::BadCiphertext)
        );
        assert_eq!(
            resigned(|e| e.event_type = "PROFITSHARING.SUCCESS".into()),
            Err(NotifyError::UnknownEvent("PROFITSHARING.SUCCESS".into()))
        );
    }

    #[test]
    fn a_resource_that_is_not_a_transaction_is_bad_json() {
        let sent = signed(
            &platform(PLATFORM_KEY),
            EventType::TransactionSuccess,
            &json!({ "mchid": "1900000109" }),
        );
        assert!(matches!(
            client().verify_notification(&sent.header_map(), sent.body.as_bytes(), now()),
            Err(NotifyError::BadJson(_))
        ));
        let key = platform(PLATFORM_KEY);
        let body = "not json";
        let mut map = HeaderMap::new();
        for (name, value) in key.sign_reply(body.as_bytes(), now()).expect("sign") {
            map.insert(name, value.parse().expect("value"));
        }
        assert!(matches!(
            client().verify_notification(&map, body.as_bytes(), now()),
            Err(NotifyError::BadJson(_))
        ));
    }
}
