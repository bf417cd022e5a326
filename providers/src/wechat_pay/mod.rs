//! WeChat Pay API v3 for JSAPI / mini-program payments: prepay, the `wx.requestPayment`
//! parameters, order query and close, refunds and their query, and the payment and refund
//! notifications. Amounts are integer fen throughout.
//!
//! The split follows Tencent's own SDK (`wechatpay-go`): [`sign`] holds the signer that
//! writes each request's `Authorization` and the verifier that picks WeChat Pay's key by
//! serial (the WeChat Pay public key or a platform certificate, both during a migration)
//! and checks the signature and the 300 s timestamp window; [`WechatPayClient`] is one
//! signed client with a thin typed method per operation and refuses any answer that does
//! not verify; [`notify`] verifies a notification first and only then decrypts its
//! AEAD_AES_256_GCM resource. [`platform`] is WeChat Pay's side of the same primitives
//! (sign an answer, encrypt a resource), used by the [`dev`] provider and the test mock so
//! their notifications go through exactly the verification production runs.

use std::fmt;

use secrecy::SecretString;

mod client;
pub mod dev;
mod gateway;
pub mod notify;
pub mod platform;
pub mod sign;
mod types;

pub use client::{WechatPayClient, WechatPayError};
pub use gateway::{DEV_APPID, DEV_MCHID, Gateway};
pub use notify::{EventType, MerchantMismatch, Notification, NotifyError, NotifyResource};
pub use sign::{ConfigError, VerifyError};
pub use types::{
    OutRefundNo, OutTradeNo, Payer, PrepayRequest, Refund, RefundAmount, RefundRequest,
    RefundStatus, RequestPaymentParams, TradeState, Transaction, TransactionAmount, china_time,
};

/// WeChat Pay's API endpoint.
pub const WECHAT_PAY_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The only signature scheme API v3 has.
pub const SIGNATURE_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a signed timestamp may be from now, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A merchant's WeChat Pay credentials and endpoint. `Debug` shows ids only, never a key.
#[derive(Clone)]
pub struct WechatPayConfig {
    /// Endpoint, [`WECHAT_PAY_BASE_URL`] in production.
    pub base_url: String,
    /// Merchant id (商户号).
    pub mchid: String,
    /// The mini-program's AppID the merchant is bound to.
    pub appid: String,
    /// Serial number of the merchant API certificate whose key signs requests.
    pub merchant_serial_no: String,
    /// The merchant API private key (`apiclient_key.pem`, PKCS#8 or PKCS#1 PEM).
    pub merchant_private_key_pem: SecretString,
    /// The APIv3 key (32 bytes) that encrypts notification resources.
    pub api_v3_key: SecretString,
    /// The WeChat Pay public key's id (`PUB_KEY_ID_...`); empty when the merchant still
    /// verifies with platform certificates only.
    pub wechatpay_public_key_id: String,
    /// The WeChat Pay public key (SPKI PEM, `pub_key.pem`); empty with the id.
    pub wechatpay_public_key_pem: String,
    /// Platform certificates still trusted, as (serial, the certificate's public key PEM
    /// as `openssl x509 -pubkey -noout` prints it).
    pub platform_certificates: Vec<(String, String)>,
    /// Where WeChat Pay posts payment notifications (HTTPS, no query).
    pub notify_url: String,
    /// Where WeChat Pay posts refund notifications; `notify_url` when `None`.
    pub refund_notify_url: Option<String>,
}

impl WechatPayConfig {
    /// Production endpoint with these credentials, verifying with the WeChat Pay public key.
    pub fn new(
        mchid: impl Into<String>,
        appid: impl Into<String>,
        merchant_serial_no: impl Into<String>,
        merchant_private_key_pem: SecretString,
        api_v3_key: SecretString,
        wechatpay_public_key_id: impl Into<String>,
        wechatpay_public_key_pem: impl Into<String>,
        notify_url: impl Into<String>,
    ) -> Self {
        Self {
            base_url: WECHAT_PAY_BASE_URL.into(),
            mchid: mchid.into(),
            appid: appid.into(),
            merchant_serial_no: merchant_serial_no.into(),
            merchant_private_key_pem,
            api_v3_key,
            wechatpay_public_key_id: wechatpay_public_key_id.into(),
            wechatpay_public_key_pem: wechatpay_public_key_pem.into(),
            platform_certificates: Vec::new(),
            notify_url: notify_url.into(),
            refund_notify_url: None,
        }
    }
}

impl fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certificates: Vec<&str> = self
            .platform_certificates
            .iter()
            .map(|(serial, _)| serial.as_str())
            .collect();
        f.debug_struct("WechatPayConfig")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("merchant_private_key_pem", &"[REDACTED]")
            .field("api_v3_key", &"[REDACTED]")
            .field("wechatpay_public_key_id", &self.wechatpay_public_key_id)
            .field("platform_certificates", &certificates)
            .field("notify_url", &self.notify_url)
            .field("refund_notify_url", &self.refund_notify_url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! The throwaway keys in `tests/fixtures/wechat_pay/` (test-only, used by nothing else).

    use secrecy::SecretString;

    use super::WechatPayConfig;

    pub const MERCHANT_KEY: &str =
        include_str!("../../../tests/fixtures/wechat_pay/merchant-test-key.pem");
    pub const PLATFORM_KEY: &str =
        include_str!("../../../tests/fixtures/wechat_pay/platform-test-key.pem");
    pub const PLATFORM_PUBLIC: &str =
        include_str!("../../../tests/fixtures/wechat_pay/platform-test-key.pub.pem");
    pub const STRANGER_KEY: &str =
        include_str!("../../../tests/fixtures/wechat_pay/stranger-test-key.pem");
    pub const STRANGER_PUBLIC: &str =
        include_str!("../../../tests/fixtures/wechat_pay/stranger-test-key.pub.pem");
    pub const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
    pub const API_V3_KEY: &str = "courtyard-test-apiv3-key-32bytes";

    /// A config trusting the platform test key as the WeChat Pay public key.
    pub fn config() -> WechatPayConfig {
        WechatPayConfig::new(
            "1900000109",
            "wxd678efh567hg6787",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            SecretString::from(MERCHANT_KEY),
            SecretString::from(API_V3_KEY),
            PUBLIC_KEY_ID,
            PLATFORM_PUBLIC,
            "https://courtyard.example/api/v1/payments/wechat/notify",
        )
    }

    #[test]
    fn debug_shows_no_key() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!shown.contains(API_V3_KEY), "{shown}");
        assert!(shown.contains("1900000109"), "{shown}");
    }
}
