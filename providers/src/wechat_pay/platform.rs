//! WeChat Pay's side of the protocol: sign an answer or a notification with the platform
//! key, encrypt a resource with the APIv3 key. The dev provider and the test mock build
//! their notifications here, so what they send goes through the verification and
//! decryption production runs, not a shortcut around it.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rsa::{
    PrivateKey,
    pkcs8::{EncodePublicKey, LineEnding},
};
use serde_json::Value;

use super::{
    ConfigError,
    notify::{AEAD_AES_256_GCM, EncryptedResource, Envelope, EventType},
    sign,
    types::china_time,
};

/// Why WeChat Pay's side could not sign or encrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The RSA signature failed.
    #[error("could not sign: {0}")]
    Sign(String),
    /// The APIv3 key is not 32 bytes.
    #[error("the APIv3 key is {0} bytes, not 32")]
    ApiV3KeyLength(usize),
    /// The resource could not be encrypted or serialised.
    #[error("could not encrypt the resource: {0}")]
    Encrypt(String),
}

/// A WeChat Pay signing key: the private half of a WeChat Pay public key (or platform
/// certificate) and its id (`PUB_KEY_ID_...`, or the certificate serial).
#[derive(Clone)]
pub struct PlatformKey {
    key_id: String,
    key: PrivateKey,
}

impl std::fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PlatformKey {
    /// A key from its PKCS#8 or PKCS#1 PEM.
    pub fn from_pem(key_id: impl Into<String>, pem: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            key_id: key_id.into(),
            key: sign::parse_private_key(pem)?,
        })
    }

    /// A fresh 2048-bit key (a second or so without optimisations).
    pub fn generate(key_id: impl Into<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            key_id: key_id.into(),
            key: generate_rsa_key()?,
        })
    }

    /// The id the `Wechatpay-Serial` header names.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half as SPKI PEM, what the merchant configures.
    pub fn public_key_pem(&self) -> String {
        self.key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            // Encoding a key we hold in memory does not fail.
            .unwrap_or_default()
    }

    /// The `Wechatpay-Timestamp`, `-Nonce`, `-Signature` and `-Serial` headers for `body`
    /// sent at `now`.
    pub fn sign_reply(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<(&'static str, String)>, PlatformError> {
        self.sign_reply_with(body, now.timestamp(), &sign::nonce())
    }

    /// As [`sign_reply`](Self::sign_reply) with a chosen timestamp and nonce.
    pub fn sign_reply_with(
        &self,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> Result<Vec<(&'static str, String)>, PlatformError> {
        let timestamp = timestamp.to_string();
        let message = sign::reply_message(&timestamp, nonce, body);
        let signature =
            sign::sign(&self.key, &message).map_err(|e| PlatformError::Sign(e.to_string()))?;
        Ok(vec![
            ("Wechatpay-Timestamp", timestamp),
            ("Wechatpay-Nonce", nonce.to_owned()),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Serial", self.key_id.clone()),
        ])
    }
}

/// A fresh 2048-bit RSA key from the operating system's RNG.
pub(super) fn generate_rsa_key() -> Result<PrivateKey, ConfigError> {
    PrivateKey::new(&mut getrandom::SysRng, 2048)
        .map_err(|e| ConfigError::KeyGeneration(e.to_string()))
}

/// Encrypts `plaintext` as a notification resource: AES-256-GCM under the APIv3 key with a
/// fresh 12-character nonce and `original_type` as associated data, as WeChat Pay does.
pub fn encrypt_resource(
    api_v3_key: &[u8],
    original_type: &str,
    plaintext: &[u8],
) -> Result<EncryptedResource, PlatformError> {
    let nonce = sign::nonce()[..12].to_owned();
    encrypt_resource_with(api_v3_key, original_type, plaintext, &nonce)
}

/// As [`encrypt_resource`] with a chosen 12-byte nonce.
pub fn encrypt_resource_with(
    api_v3_key: &[u8],
    original_type: &str,
    plaintext: &[u8],
    nonce: &str,
) -> Result<EncryptedResource, PlatformError> {
    let aead = Aes256Gcm::new_from_slice(api_v3_key)
        .map_err(|_| PlatformError::ApiV3KeyLength(api_v3_key.len()))?;
    let iv = Nonce::try_from(nonce.as_bytes())
        .map_err(|_| PlatformError::Encrypt("the nonce is not 12 bytes".into()))?;
    let ciphertext = aead
        .encrypt(
            &iv,
            Payload {
                msg: plaintext,
                aad: original_type.as_bytes(),
            },
        )
        .map_err(|e| PlatformError::Encrypt(e.to_string()))?;
    Ok(EncryptedResource {
        algorithm: AEAD_AES_256_GCM.into(),
        ciphertext: BASE64.encode(ciphertext),
        nonce: nonce.to_owned(),
        associated_data: original_type.to_owned(),
        original_type: original_type.to_owned(),
    })
}

/// A notification as WeChat Pay posts it: headers and the exact body they sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNotification {
    /// `Wechatpay-*` headers (plus `Content-Type`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON envelope.
    pub body: String,
}

impl SignedNotification {
    /// The headers as an HTTP header map.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        map
    }
}

/// A signed, encrypted notification of `event` carrying `resource` (the plaintext JSON of a
/// transaction or refund, in WeChat Pay's field names), created at `now`.
pub fn notification(
    key: &PlatformKey,
    api_v3_key: &[u8],
    event: EventType,
    resource: &Value,
    now: DateTime<Utc>,
) -> Result<SignedNotification, PlatformError> {
    let (original_type, summary) = match event {
        EventType::TransactionSuccess => ("transaction", "支付成功"),
        EventType::RefundSuccess => ("refund", "退款成功"),
        EventType::RefundAbnormal => ("refund", "退款异常"),
        EventType::RefundClosed => ("refund", "退款关闭"),
    };
    let plaintext =
        serde_json::to_vec(resource).map_err(|e| PlatformError::Encrypt(e.to_string()))?;
    let envelope = Envelope {
        id: format!("EV-{}", uuid::Uuid::new_v4().simple()),
        create_time: china_time(now),
        event_type: event.as_str().into(),
        resource_type: "encrypt-resource".into(),
        summary: summary.into(),
        resource: encrypt_resource(api_v3_key, original_type, &plaintext)?,
    };
    let body =
        serde_json::to_string(&envelope).map_err(|e| PlatformError::Encrypt(e.to_string()))?;
    let mut headers = key.sign_reply(body.as_bytes(), now)?;
    headers.push(("Content-Type", "application/json".into()));
    Ok(SignedNotification { headers, body })
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::Aead;

    use super::*;
    use crate::wechat_pay::test_keys::{API_V3_KEY, PLATFORM_KEY, PLATFORM_PUBLIC};

    #[test]
    fn the_public_half_is_the_fixture_public_key() {
        let key = PlatformKey::from_pem("PUB_KEY_ID_1", PLATFORM_KEY).expect("key");
        assert_eq!(key.public_key_pem().trim(), PLATFORM_PUBLIC.trim());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_resource_decrypts_with_the_same_key_nonce_and_associated_data() {
        let resource = encrypt_resource_with(
            API_V3_KEY.as_bytes(),
            "transaction",
            br#"{"a":1}"#,
            "fdasflkja484",
        )
        .expect("encrypt");
        assert_eq!(resource.algorithm, "AEAD_AES_256_GCM");
        let aead = Aes256Gcm::new_from_slice(API_V3_KEY.as_bytes()).expect("key");
        let nonce = Nonce::try_from("fdasflkja484".as_bytes()).expect("nonce");
        let ciphertext = BASE64.decode(&resource.ciphertext).expect("base64");
        // Ciphertext and a 16-byte tag.
        assert_eq!(ciphertext.len(), 7 + 16);
        let plain = aead
            .decrypt(
                &nonce,
                Payload {
                    msg: &ciphertext,
                    aad: b"transaction",
                },
            )
            .expect("decrypt");
        assert_eq!(plain, br#"{"a":1}"#);
        assert!(encrypt_resource(b"short", "refund", b"{}").is_err());
    }
}
