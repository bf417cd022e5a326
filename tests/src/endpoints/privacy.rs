//! Helpers for the audit trail and residents' data rights.

use std::fmt::Display;

use reqwest::Method;
use serde_json::json;

use super::with_query;
use crate::{Reply, TestApp};

impl TestApp {
    /// `POST /v1/residents/{resident_id}/phone-reveal`: Reveal a resident's phone number.
    pub async fn reveal_resident_phone(&self, token: &str, resident_id: impl Display) -> Reply {
        let path = format!("/v1/residents/{resident_id}/phone-reveal");
        self.request(Method::POST, &path, Some(token), Some(&json!({})))
            .await
    }

    /// `GET /v1/audit-log`: List the audit trail.
    pub async fn list_audit_log(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/audit-log".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/audit-log.csv`: Export the audit trail as CSV.
    pub async fn export_audit_log(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/audit-log.csv".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/me/data-exports`: Ask for a copy of my data.
    pub async fn request_data_export(&self, token: &str) -> Reply {
        self.request(
            Method::POST,
            "/v1/me/data-exports",
            Some(token),
            Some(&json!({})),
        )
        .await
    }

    /// `GET /v1/me/data-exports/{export_id}`: See a data export.
    pub async fn get_data_export(&self, token: &str, export_id: impl Display) -> Reply {
        let path = format!("/v1/me/data-exports/{export_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/me/data-exports/{export_id}/download`: Download a data export.
    pub async fn download_data_export(&self, token: &str, export_id: impl Display) -> Reply {
        let path = format!("/v1/me/data-exports/{export_id}/download");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/me/erasure-request`: Ask to close my account.
    pub async fn request_erasure(&self, token: &str) -> Reply {
        self.request(
            Method::POST,
            "/v1/me/erasure-request",
            Some(token),
            Some(&json!({})),
        )
        .await
    }

    /// `GET /v1/me/erasure-request`: See my request to close my account.
    pub async fn get_erasure_request(&self, token: &str) -> Reply {
        self.request(Method::GET, "/v1/me/erasure-request", Some(token), None)
            .await
    }

    /// `DELETE /v1/me/erasure-request`: Cancel my request to close my account.
    pub async fn cancel_erasure(&self, token: &str) -> Reply {
        self.request(Method::DELETE, "/v1/me/erasure-request", Some(token), None)
            .await
    }

    /// `GET /v1/me/consents`: What I agreed to.
    pub async fn get_consents(&self, token: &str) -> Reply {
        self.request(Method::GET, "/v1/me/consents", Some(token), None)
            .await
    }

    /// `PUT /v1/me/consents/sms-notices`: Give or withdraw consent to service notices by SMS.
    pub async fn put_sms_consent(&self, token: &str, body: &serde_json::Value) -> Reply {
        self.request(
            Method::PUT,
            "/v1/me/consents/sms-notices",
            Some(token),
            Some(body),
        )
        .await
    }
}
