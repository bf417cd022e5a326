//! The WeChat Pay mock's request check, written from WeChat Pay's documentation with the
//! `rsa` crate directly rather than with the client's signer.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use poem::http::StatusCode;
use rsa::{pkcs1v15::Signature, signature::Verifier};

use super::{
    State,
    wire::{Failure, fail},
};

impl State {
    /// `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",timestamp="..",serial_no="..",
    /// signature=".."` over `METHOD\nURL\ntimestamp\nnonce\nbody\n`.
    pub(super) fn check_signature(
        &self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<(), Failure> {
        let sign_error = |message: &str| fail(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message);
        let fields = authorization
            .and_then(|a| a.strip_prefix("WECHATPAY2-SHA256-RSA2048 "))
            .ok_or_else(|| {
                sign_error("Authorization is missing or not WECHATPAY2-SHA256-RSA2048")
            })?;
        let mut parts = HashMap::new();
        for field in fields.split(',') {
            let (name, value) = field
                .trim()
                .split_once('=')
                .ok_or_else(|| sign_error("malformed Authorization"))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| sign_error("Authorization values are quoted"))?;
            parts.insert(name, value);
        }
        let part = |name: &str| {
            parts
                .get(name)
                .copied()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| sign_error(&format!("Authorization lacks {name}")))
        };
        let (mchid, nonce, timestamp, serial, signature) = (
            part("mchid")?,
            part("nonce_str")?,
            part("timestamp")?,
            part("serial_no")?,
            part("signature")?,
        );
        if mchid != self.mchid {
            return Err(sign_error("mchid is not a merchant here"));
        }
        let key = self
            .merchant_keys
            .get(serial)
            .ok_or_else(|| sign_error("serial_no is not a certificate of this merchant"))?;
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (self.clock.now().timestamp() - t).abs() <= 300);
        if !fresh {
            return Err(sign_error("timestamp is more than 5 minutes off"));
        }
        let message = format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n");
        let verified = BASE64
            .decode(signature)
            .ok()
            .and_then(|s| Signature::try_from(s.as_slice()).ok())
            .is_some_and(|s| key.verify(message.as_bytes(), &s).is_ok());
        if verified {
            Ok(())
        } else {
            Err(sign_error("签名错误，请检查后再试"))
        }
    }
}
