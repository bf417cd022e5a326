//! SHA256withRSA (PKCS#1 v1.5) as API v3 uses it: the merchant signs each request's
//! `Authorization` and the `wx.requestPayment` parameters; WeChat Pay signs every answer and
//! notification, and [`Verifier`] checks those with the key whose id or serial the
//! `Wechatpay-Serial` header names, inside the 300 s window.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use rsa::{
    Pkcs1v15Sign, PrivateKey, PublicKey,
    pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey},
    pkcs8::{DecodePrivateKey, DecodePublicKey},
    sha2::{Digest, Sha256},
};

use super::{MAX_CLOCK_SKEW_SECS, SIGNATURE_SCHEME};

/// Why a configuration cannot make a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The merchant private key is not an RSA private key in PKCS#8 or PKCS#1 PEM.
    #[error("the merchant private key is not an RSA private key PEM")]
    PrivateKey,
    /// A WeChat Pay public key or platform certificate key is not an RSA public key PEM.
    #[error("the WeChat Pay key `{0}` is not an RSA public key PEM")]
    PublicKey(String),
    /// Neither a WeChat Pay public key nor a platform certificate is configured.
    #[error("no WeChat Pay public key or platform certificate is configured")]
    NoVerifyingKey,
    /// The APIv3 key is not 32 bytes.
    #[error("the APIv3 key is {0} bytes, not 32")]
    ApiV3KeyLength(usize),
    /// The base URL does not parse.
    #[error("the WeChat Pay base URL `{0}` is not a URL")]
    BaseUrl(String),
    /// Key generation failed (dev provider only).
    #[error("could not generate an RSA key: {0}")]
    KeyGeneration(String),
    /// A setting the provider needs is missing.
    #[error("missing setting: {0}")]
    Missing(String),
}

/// Why a signed answer or notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A `Wechatpay-*` header is missing or not text.
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    /// `Wechatpay-Serial` names no key we trust.
    #[error("no WeChat Pay key has the serial `{0}`")]
    UnknownSerial(String),
    /// `Wechatpay-Timestamp` is not a number or more than 300 s from now.
    #[error("the signed timestamp `{timestamp}` is more than 300 s from {now}")]
    StaleTimestamp {
        /// The header as received.
        timestamp: String,
        /// Our time.
        now: DateTime<Utc>,
    },
    /// The signature does not verify with the key the serial names.
    #[error("the WeChat Pay signature does not verify")]
    BadSignature,
}

/// Parses an RSA private key from PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 PEM.
pub fn parse_private_key(pem: &str) -> Result<PrivateKey, ConfigError> {
    PrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| PrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| ConfigError::PrivateKey)
}

/// Parses an RSA public key from SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 PEM; `name` is for the
/// error.
pub fn parse_public_key(name: &str, pem: &str) -> Result<PublicKey, ConfigError> {
    PublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| PublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| ConfigError::PublicKey(name.to_owned()))
}

/// Base64 of SHA256withRSA (PKCS#1 v1.5) over `message`.
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, rsa::Error> {
    let digest = Sha256::digest(message);
    // Blinded with the operating system RNG (the crate's `getrandom` feature).
    let signature = key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest)?;
    Ok(BASE64.encode(signature))
}

/// Whether `signature` (base64) is SHA256withRSA over `message` by `key`.
pub fn verify(key: &PublicKey, message: &[u8], signature: &str) -> bool {
    let Ok(signature) = BASE64.decode(signature.trim()) else {
        return false;
    };
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(message),
        &signature,
    )
    .is_ok()
}

/// What a request's signature covers: `METHOD\nURL\ntimestamp\nnonce\nbody\n`, where URL
/// is the path and query as sent and body is empty for a `GET`.
pub fn request_message(
    method: &str,
    canonical_url: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{canonical_url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// What an answer's or notification's signature covers: `timestamp\nnonce\nbody\n`, over
/// the raw body bytes.
pub fn reply_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(nonce.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// What `paySign` covers: `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn pay_sign_message(appid: &str, timestamp: &str, nonce: &str, package: &str) -> String {
    format!("{appid}\n{timestamp}\n{nonce}\n{package}\n")
}

/// The `Authorization` header of a signed request.
pub fn authorization(
    mchid: &str,
    nonce: &str,
    timestamp: i64,
    serial_no: &str,
    signature: &str,
) -> String {
    format!(
        "{SIGNATURE_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",\
         serial_no=\"{serial_no}\",signature=\"{signature}\""
    )
}

/// A fresh 32-character nonce.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

/// The four `Wechatpay-*` headers of a signed answer or notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Wechatpay-Timestamp`, Unix seconds as sent.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature`, base64.
    pub signature: String,
    /// `Wechatpay-Serial`: the public key id or platform certificate serial.
    pub serial: String,
}

impl SignedHeaders {
    /// Reads them from an HTTP header map.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, VerifyError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok(Self {
            timestamp: get("Wechatpay-Timestamp")?,
            nonce: get("Wechatpay-Nonce")?,
            signature: get("Wechatpay-Signature")?,
            serial: get("Wechatpay-Serial")?,
        })
    }

    /// Whether the map carries a signature at all (some error answers come unsigned).
    pub fn present(headers: &HeaderMap) -> bool {
        headers.contains_key("Wechatpay-Signature")
    }
}

/// WeChat Pay's keys by id or serial: the public key and any platform certificates.
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, PublicKey>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("serials", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Trusts these (serial, public key PEM) pairs.
    pub fn new<'a>(
        keys: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut parsed = HashMap::new();
        for (serial, pem) in keys {
            parsed.insert(serial.to_owned(), parse_public_key(serial, pem)?);
        }
        if parsed.is_empty() {
            return Err(ConfigError::NoVerifyingKey);
        }
        Ok(Self { keys: parsed })
    }

    /// Checks the serial, the timestamp window and then the signature over the raw body.
    pub fn verify(
        &self,
        headers: &SignedHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let key = self
            .keys
            .get(&headers.serial)
            .ok_or_else(|| VerifyError::UnknownSerial(headers.serial.clone()))?;
        let fresh = headers
            .timestamp
            .parse::<i64>()
            .is_ok_and(|t| (now.timestamp() - t).abs() <= MAX_CLOCK_SKEW_SECS);
        if !fresh {
            return Err(VerifyError::StaleTimestamp {
                timestamp: headers.timestamp.clone(),
                now,
            });
        }
        let message = reply_message(&headers.timestamp, &headers.nonce, body);
        if verify(key, &message, &headers.signature) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::wechat_pay::test_keys::*;

    // The `GET /v3/certificates` example of WeChat Pay's signature guide (签名生成), signed
    // with the merchant test key by `openssl dgst -sha256 -sign merchant-test-key.pem | base64`;
    // PKCS#1 v1.5 is deterministic, so ours must match byte for byte.
    const DOC_MESSAGE: &str =
        "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
    const OPENSSL_SIGNATURE: &str = "sl8tfuvWd8JkP1/fPESg6K3HEej6qk0jMmaJ/ekmCRWO6cgw3K4w7S2e1Y5i\
        xddPm33unJsL2V5i3iDU6qSjrBT2hX4Wz4UG5J8FUn8z7wPHZHxOVkpFylFduyMQTcm7KJLsUFcgG84En66MGw+q\
        XFA69x6s4KTjm7E2vtVe7wn+9MYR/NIlZ7nwYqy5Yqd4HJpzKIXG4qvW5eRNs8fIE6HEoY/HTdWy3HmaQNeJ8fXX\
        pOGb2rfqLCIfDipBlqYHCTw/s9bvy9IQdh/jHEq6oZ2q8wO2so9Fn76pHqA+O0v+EhxXiJqgE9zRtPlBV/OHtq6L\
        pk6MuzrFFiAf+eoGvg==";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("time")
    }

    #[test]
    fn request_message_matches_the_documented_layout() {
        assert_eq!(
            request_message(
                "GET",
                "/v3/certificates",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                ""
            ),
            DOC_MESSAGE
        );
    }

    #[test]
    fn signing_matches_openssl() {
        let key = parse_private_key(MERCHANT_KEY).expect("key");
        let signature = sign(&key, DOC_MESSAGE.as_bytes()).expect("sign");
        assert_eq!(signature, OPENSSL_SIGNATURE);
        let public = key.to_public_key();
        assert!(verify(&public, DOC_MESSAGE.as_bytes(), &signature));
        assert!(!verify(&public, b"GET\n/v3/certificates\n", &signature));
        assert!(!verify(&public, DOC_MESSAGE.as_bytes(), "not base64!"));
    }

    #[test]
    fn authorization_has_the_documented_shape() {
        assert_eq!(
            authorization("1900009191", "N1", 1554208460, "1DDE55AD98ED71D6", "c2ln"),
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"N1\",\
             timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6\",signature=\"c2ln\""
        );
        let nonce = nonce();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    fn signed(key_pem: &str, serial: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        let key = parse_private_key(key_pem).expect("key");
        let timestamp = timestamp.to_string();
        let message = reply_message(&timestamp, "NONCE", body);
        SignedHeaders {
            signature: sign(&key, &message).expect("sign"),
            timestamp,
            nonce: "NONCE".into(),
            serial: serial.into(),
        }
    }

    #[test]
    fn verifier_accepts_a_good_answer_and_refuses_the_rest() {
        let verifier = Verifier::new([
            (PUBLIC_KEY_ID, PLATFORM_PUBLIC),
            ("5157F09EFDC096DE15EBE81A47057A72", STRANGER_PUBLIC),
        ])
        .expect("verifier");
        let now = at(1_700_000_000);
        let body = br#"{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}"#;
        let good = signed(PLATFORM_KEY, PUBLIC_KEY_ID, now.timestamp() - 299, body);
        assert_eq!(verifier.verify(&good, body, now), Ok(()));
        // A platform certificate chosen by serial verifies as well.
        let by_certificate = signed(
            STRANGER_KEY,
            "5157F09EFDC096DE15EBE81A47057A72",
            now.timestamp(),
            body,
        );
        assert_eq!(verifier.verify(&by_certificate, body, now), Ok(()));

        let tampered = br#"{"prepay_id":"wx26112221580621e9b071c00d9e093b0001"}"#;
        assert_eq!(
            verifier.verify(&good, tampered, now),
            Err(VerifyError::BadSignature)
        );
        let forged = signed(STRANGER_KEY, PUBLIC_KEY_ID, now.timestamp(), body);
        assert_eq!(
            verifier.verify(&forged, body, now),
            Err(VerifyError::BadSignature)
        );
        let unknown = signed(PLATFORM_KEY, "PUB_KEY_ID_UNKNOWN", now.timestamp(), body);
        assert_eq!(
            verifier.verify(&unknown, body, now),
            Err(VerifyError::UnknownSerial("PUB_KEY_ID_UNKNOWN".into()))
        );
        for skew in [-301, 301] {
            let stale = signed(PLATFORM_KEY, PUBLIC_KEY_ID, now.timestamp() + skew, body);
            assert!(matches!(
                verifier.verify(&stale, body, now),
                Err(VerifyError::StaleTimestamp { .. })
            ));
        }
    }

    #[test]
    fn headers_are_read_by_name() {
        let mut map = HeaderMap::new();
        map.insert("wechatpay-timestamp", "1".parse().expect("value"));
        map.insert("wechatpay-nonce", "n".parse().expect("value"));
        map.insert("wechatpay-signature", "s".parse().expect("value"));
        assert_eq!(
            SignedHeaders::from_headers(&map),
            Err(VerifyError::MissingHeader("Wechatpay-Serial"))
        );
        map.insert("wechatpay-serial", "PUB_KEY_ID_1".parse().expect("value"));
        assert_eq!(
            SignedHeaders::from_headers(&map).map(|h| h.serial),
            Ok("PUB_KEY_ID_1".to_owned())
        );
    }

    #[test]
    fn keys_that_are_not_rsa_pem_are_refused() {
        assert_eq!(
            parse_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(ConfigError::PrivateKey)
        );
        assert!(matches!(
            Verifier::new([("PUB_KEY_ID_X", "nope")]),
            Err(ConfigError::PublicKey(_))
        ));
        assert!(matches!(
            Verifier::new(std::iter::empty()),
            Err(ConfigError::NoVerifyingKey)
        ));
    }
}
