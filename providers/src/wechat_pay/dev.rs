//! The dev provider behind the embedded defaults: no WeChat Pay anywhere, the same protocol.
//! Start-up generates a merchant key, a WeChat Pay key and an APIv3 key; the client is
//! configured with the WeChat Pay key's public half, so a demo "confirm payment" is a
//! signed, encrypted notification that the notify endpoint verifies and decrypts exactly as
//! it would one from WeChat Pay. Nothing here is a secret worth keeping: the keys live in
//! memory for one run.

use std::fmt;

use chrono::{DateTime, Utc};
use courtyard_domain::money::Fen;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    ConfigError, EventType, OutTradeNo, RefundRequest, WechatPayConfig,
    platform::{self, PlatformError, PlatformKey, SignedNotification},
    types::china_time,
};

/// The WeChat Pay public key id the dev provider signs under.
pub const DEV_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_COURTYARD_DEV";
/// Nothing listens here: a dev client's calls fail fast instead of reaching WeChat Pay.
pub const DEV_BASE_URL: &str = "http://127.0.0.1:9";

/// WeChat Pay's side for one dev run.
pub struct DevWechatPay {
    mchid: String,
    appid: String,
    platform: PlatformKey,
    api_v3_key: SecretString,
}

impl fmt::Debug for DevWechatPay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevWechatPay")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl DevWechatPay {
    /// Fresh keys for merchant `mchid` and mini-program `appid`, and the client
    /// configuration that trusts them.
    pub fn generate(
        mchid: &str,
        appid: &str,
        notify_url: &str,
    ) -> Result<(Self, WechatPayConfig), ConfigError> {
        let platform = PlatformKey::generate(DEV_PUBLIC_KEY_ID)?;
        let merchant = platform::generate_rsa_key()?;
        let merchant_pem = merchant
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| ConfigError::KeyGeneration(e.to_string()))?
            .to_string();
        // 32 random characters: two fresh UUIDs' hex, cut.
        let api_v3_key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )[..32]
            .to_owned();
        let mut config = WechatPayConfig::new(
            mchid,
            appid,
            "COURTYARDDEVMERCHANTSERIAL",
            SecretString::from(merchant_pem),
            SecretString::from(api_v3_key.clone()),
            DEV_PUBLIC_KEY_ID,
            platform.public_key_pem(),
            notify_url,
        );
        config.base_url = DEV_BASE_URL.into();
        let dev = Self {
            mchid: mchid.into(),
            appid: appid.into(),
            platform,
            api_v3_key: SecretString::from(api_v3_key),
        };
        Ok((dev, config))
    }

    /// A stable prepay id for an order (the dev provider places nothing).
    pub fn prepay_id(&self, out_trade_no: &OutTradeNo) -> String {
        let digest = Sha256::digest(format!("{}:{out_trade_no}", self.mchid));
        format!("wxdev{}", &hex::encode(digest)[..30])
    }

    /// The `TRANSACTION.SUCCESS` notification WeChat Pay would post once the payer paid
    /// `total` for `out_trade_no` at `now`.
    pub fn payment_notification(
        &self,
        out_trade_no: &OutTradeNo,
        total: Fen,
        payer_openid: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedNotification, PlatformError> {
        let resource = json!({
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": self.transaction_id(out_trade_no),
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": china_time(now),
            "payer": { "openid": payer_openid },
            "amount": {
                "total": total.fen(),
                "payer_total": total.fen(),
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        });
        self.sign(EventType::TransactionSuccess, &resource, now)
    }

    /// The `REFUND.*` notification (`event`) for a refund asked for with `request`.
    pub fn refund_notification(
        &self,
        request: &RefundRequest,
        event: EventType,
        now: DateTime<Utc>,
    ) -> Result<SignedNotification, PlatformError> {
        let status = match event {
            EventType::RefundSuccess => "SUCCESS",
            EventType::RefundAbnormal => "ABNORMAL",
            EventType::RefundClosed => "CLOSED",
            EventType::TransactionSuccess => {
                return Err(PlatformError::Encrypt(
                    "TRANSACTION.SUCCESS does not carry a refund".into(),
                ));
            }
        };
        let digest = Sha256::digest(format!("{}:{}", self.mchid, request.out_refund_no));
        let mut resource = json!({
            "mchid": self.mchid,
            "out_trade_no": request.out_trade_no,
            "transaction_id": self.transaction_id(&request.out_trade_no),
            "out_refund_no": request.out_refund_no,
            "refund_id": format!("50{}", digits(&digest, 27)),
            "refund_status": status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": request.total.fen(),
                "refund": request.refund.fen(),
                "payer_total": request.total.fen(),
                "payer_refund": request.refund.fen(),
            },
        });
        if event == EventType::RefundSuccess {
            resource["success_time"] = json!(china_time(now));
        }
        self.sign(event, &resource, now)
    }

    fn transaction_id(&self, out_trade_no: &OutTradeNo) -> String {
        let digest = Sha256::digest(format!("{}:{out_trade_no}:paid", self.mchid));
        format!("4200{}", digits(&digest, 24))
    }

    fn sign(
        &self,
        event: EventType,
        resource: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<SignedNotification, PlatformError> {
        platform::notification(
            &self.platform,
            self.api_v3_key.expose_secret().as_bytes(),
            event,
            resource,
            now,
        )
    }
}

/// `n` decimal digits drawn from `bytes` (WeChat Pay's ids are all digits).
fn digits(bytes: &[u8], n: usize) -> String {
    bytes
        .iter()
        .cycle()
        .take(n)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use courtyard_domain::SystemClock;

    use super::*;
    use crate::wechat_pay::{
        NotifyResource, OutRefundNo, RefundStatus, TradeState, WechatPayClient,
    };

    #[test]
    fn a_dev_confirmation_goes_through_the_production_verification() {
        let (dev, config) =
            DevWechatPay::generate("1900000109", "wxdev", "https://localhost/notify")
                .expect("dev keys");
        assert_eq!(config.base_url, DEV_BASE_URL);
        let client = WechatPayClient::new(config, Arc::new(SystemClock)).expect("client");
        let order = OutTradeNo::parse("BILL-2026-0001").expect("order");
        let total = Fen::parse(12_500).expect("fen");
        let now = Utc::now();
        assert_eq!(dev.prepay_id(&order), dev.prepay_id(&order));

        let paid = dev
            .payment_notification(&order, total, "o-dev-openid", now)
            .expect("notification");
        let got = client
            .verify_notification(&paid.header_map(), paid.body.as_bytes(), now)
            .expect("verified");
        client.check_merchant(&got).expect("ours");
        let NotifyResource::Transaction(t) = got.resource else {
            panic!("not a transaction");
        };
        assert_eq!(t.trade_state, TradeState::Success);
        assert_eq!(t.amount.total, 12_500);
        assert_eq!(t.out_trade_no, "BILL-2026-0001");

        let request = RefundRequest {
            out_trade_no: order,
            out_refund_no: OutRefundNo::parse("R-1").expect("refund no"),
            reason: None,
            refund: Fen::parse(500).expect("fen"),
            total,
        };
        let refunded = dev
            .refund_notification(&request, EventType::RefundSuccess, now)
            .expect("notification");
        let got = client
            .verify_notification(&refunded.header_map(), refunded.body.as_bytes(), now)
            .expect("verified");
        let NotifyResource::Refund(r) = got.resource else {
            panic!("not a refund");
        };
        assert_eq!(r.status, RefundStatus::Success);
        assert_eq!(r.amount.refund, 500);
        assert_eq!(r.transaction_id, t.transaction_id);
    }
}
