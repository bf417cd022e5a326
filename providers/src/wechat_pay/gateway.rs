//! The payment provider the API and the workers are given: WeChat Pay, or the dev provider
//! of the embedded default. Both verify notifications with the same client code; the dev
//! provider places no order anywhere and confirms a payment by producing the signed,
//! encrypted notification WeChat Pay would send.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    Clock,
    settings::{PaymentProviderKind, PaymentSettings},
};
use reqwest::header::HeaderMap;

use super::{
    ConfigError, MerchantMismatch, Notification, NotifyError, OutRefundNo, OutTradeNo,
    PrepayRequest, Refund, RefundAmount, RefundRequest, RefundStatus, RequestPaymentParams,
    Transaction, WechatPayClient, WechatPayConfig, WechatPayError, dev::DevWechatPay,
};

/// The dev provider's merchant id and AppID.
pub const DEV_MCHID: &str = "1900000109";
/// The dev provider's AppID.
pub const DEV_APPID: &str = "wxd678efh567hg6787";

/// Where online payments go.
pub enum Gateway {
    /// WeChat Pay.
    WechatPay(WechatPayClient),
    /// The dev provider: `client` trusts `dev`'s keys.
    Dev {
        /// Verifies and signs as production does.
        client: WechatPayClient,
        /// WeChat Pay's side, local.
        dev: Box<DevWechatPay>,
    },
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.provider())
    }
}

impl Gateway {
    /// The configured provider.
    pub fn from_settings(
        settings: &PaymentSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        match settings.provider {
            PaymentProviderKind::Dev => {
                let (dev, config) =
                    DevWechatPay::generate(DEV_MCHID, DEV_APPID, &settings.notify_url)?;
                Ok(Gateway::Dev {
                    client: WechatPayClient::new(config, clock)?,
                    dev: Box::new(dev),
                })
            }
            PaymentProviderKind::WechatPay => {
                let Some(w) = &settings.wechat_pay else {
                    return Err(ConfigError::Missing(
                        "payments.wechat_pay (provider is wechat_pay)".into(),
                    ));
                };
                let mut config = WechatPayConfig::new(
                    w.mchid.clone(),
                    w.appid.clone(),
                    w.merchant_serial_no.clone(),
                    w.merchant_private_key_pem.clone(),
                    w.api_v3_key.clone(),
                    w.public_key_id.clone(),
                    w.public_key_pem.clone(),
                    settings.notify_url.clone(),
                );
                config.base_url = w.base_url.clone();
                config.platform_certificates = w
                    .platform_certificates
                    .iter()
                    .map(|(serial, pem)| (serial.clone(), pem.clone()))
                    .collect();
                Ok(Gateway::WechatPay(WechatPayClient::new(config, clock)?))
            }
        }
    }

    /// `wechat_pay` or `dev`, as payments record it.
    pub fn provider(&self) -> &'static str {
        match self {
            Gateway::WechatPay(_) => "wechat_pay",
            Gateway::Dev { .. } => "dev",
        }
    }

    fn client(&self) -> &WechatPayClient {
        match self {
            Gateway::WechatPay(client) | Gateway::Dev { client, .. } => client,
        }
    }

    /// The dev provider's side, when this is the dev provider.
    pub fn dev(&self) -> Option<&DevWechatPay> {
        match self {
            Gateway::Dev { dev, .. } => Some(dev),
            Gateway::WechatPay(_) => None,
        }
    }

    /// Places an order; its prepay id.
    pub async fn prepay(&self, order: &PrepayRequest) -> Result<String, WechatPayError> {
        match self {
            Gateway::WechatPay(client) => client.prepay(order).await,
            Gateway::Dev { dev, .. } => Ok(dev.prepay_id(&order.out_trade_no)),
        }
    }

    /// What `wx.requestPayment` takes for `prepay_id`.
    pub fn request_payment_params(
        &self,
        prepay_id: &str,
    ) -> Result<RequestPaymentParams, WechatPayError> {
        self.client().request_payment_params(prepay_id)
    }

    /// The provider's view of an order; none from the dev provider, which keeps no orders
    /// (its payments are confirmed by notification only).
    pub async fn query(
        &self,
        out_trade_no: &OutTradeNo,
    ) -> Result<Option<Transaction>, WechatPayError> {
        match self {
            Gateway::WechatPay(client) => client.query_order(out_trade_no).await.map(Some),
            Gateway::Dev { .. } => Ok(None),
        }
    }

    /// Closes an unpaid order; [`WechatPayError::OrderPaid`] when it was paid.
    pub async fn close(&self, out_trade_no: &OutTradeNo) -> Result<(), WechatPayError> {
        match self {
            Gateway::WechatPay(client) => client.close_order(out_trade_no).await,
            Gateway::Dev { .. } => Ok(()),
        }
    }

    /// Asks for a refund (retry with the same `out_refund_no`). The dev provider returns it
    /// `PROCESSING`; its `REFUND.SUCCESS` notification comes from [`DevWechatPay`].
    pub async fn refund(&self, request: &RefundRequest) -> Result<Refund, WechatPayError> {
        match self {
            Gateway::WechatPay(client) => client.refund(request).await,
            Gateway::Dev { .. } => Ok(Refund {
                mchid: None,
                refund_id: format!("dev-{}", request.out_refund_no),
                out_refund_no: request.out_refund_no.to_string(),
                transaction_id: None,
                out_trade_no: request.out_trade_no.to_string(),
                status: RefundStatus::Processing,
                user_received_account: None,
                create_time: None,
                success_time: None,
                amount: RefundAmount {
                    total: request.total.fen(),
                    refund: request.refund.fen(),
                    payer_total: None,
                    payer_refund: None,
                    currency: None,
                },
            }),
        }
    }

    /// The provider's view of a refund; none from the dev provider.
    pub async fn query_refund(
        &self,
        out_refund_no: &OutRefundNo,
    ) -> Result<Option<Refund>, WechatPayError> {
        match self {
            Gateway::WechatPay(client) => client.query_refund(out_refund_no).await.map(Some),
            Gateway::Dev { .. } => Ok(None),
        }
    }

    /// Verifies and decrypts a notification.
    pub fn verify_notification(
        &self,
        headers: &HeaderMap,
        raw_body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotifyError> {
        self.client().verify_notification(headers, raw_body, now)
    }

    /// Whether a notification is for our merchant and AppID.
    pub fn check_merchant(&self, notification: &Notification) -> Result<(), MerchantMismatch> {
        self.client().check_merchant(notification)
    }
}
