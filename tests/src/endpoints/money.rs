//! The helpers of the fee and payment operations.

use std::fmt::Display;

use reqwest::Method;
use serde_json::Value;

use super::with_query;
use crate::{Reply, TestApp};

impl TestApp {
    /// `GET /v1/communities/{community_id}/fee-policy`: Get the fee policy.
    pub async fn get_fee_policy(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}/fee-policy");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/communities/{community_id}/fee-policy`: Change the fee policy.
    pub async fn put_fee_policy(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/fee-policy");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/fee-items`: Add a fee item.
    pub async fn create_fee_item(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/fee-items");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/fee-items`: List fee items.
    pub async fn list_fee_items(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/fee-items"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/fee-items/{fee_item_id}`: Change a fee item.
    pub async fn update_fee_item(
        &self,
        token: &str,
        fee_item_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/fee-items/{fee_item_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/households/{household_id}/meter-readings`: Record a meter reading.
    pub async fn record_meter_reading(
        &self,
        token: &str,
        household_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/meter-readings");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/households/{household_id}/meter-readings`: List a household's meter readings.
    pub async fn list_meter_readings(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/households/{household_id}/meter-readings"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/households/{household_id}/charges`: Add a one-off charge.
    pub async fn create_charge(
        &self,
        token: &str,
        household_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/charges");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/households/{household_id}/charges`: List a household's one-off charges.
    pub async fn list_charges(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/households/{household_id}/charges"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/communities/{community_id}/bill-runs`: Generate a month's bills.
    pub async fn create_bill_run(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/bill-runs");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/bill-runs`: List a community's bill runs.
    pub async fn list_bill_runs(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/bill-runs"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/bill-runs/{bill_run_id}`: Get a bill run and its progress.
    pub async fn get_bill_run(&self, token: &str, bill_run_id: impl Display) -> Reply {
        let path = format!("/v1/bill-runs/{bill_run_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}/bills`: List a household's bills.
    pub async fn list_household_bills(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/households/{household_id}/bills"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/me/bills`: List my bills.
    pub async fn list_my_bills(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/me/bills".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/bills/{bill_id}`: Get a bill with its lines.
    pub async fn get_bill(&self, token: &str, bill_id: impl Display) -> Reply {
        let path = format!("/v1/bills/{bill_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/bills/{bill_id}/waive`: Waive a bill.
    pub async fn waive_bill(&self, token: &str, bill_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/bills/{bill_id}/waive");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bills/{bill_id}/reissue`: Cancel a bill and issue it again.
    pub async fn reissue_bill(&self, token: &str, bill_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/bills/{bill_id}/reissue");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/payments`: Pay bills.
    pub async fn create_payment(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/payments".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/payments/{payment_id}`: Get a payment.
    pub async fn get_payment(&self, token: &str, payment_id: impl Display) -> Reply {
        let path = format!("/v1/payments/{payment_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}/payments`: List a household's payments.
    pub async fn list_household_payments(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/households/{household_id}/payments"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/households/{household_id}/offline-payments`: Record an offline payment.
    pub async fn record_offline_payment(
        &self,
        token: &str,
        household_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/offline-payments");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/payments/{payment_id}/receipt`: Get a payment's receipt.
    pub async fn get_receipt(&self, token: &str, payment_id: impl Display) -> Reply {
        let path = format!("/v1/payments/{payment_id}/receipt");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/payments/{payment_id}/dev-confirm`: Confirm a payment with the dev provider.
    pub async fn dev_confirm_payment(&self, token: &str, payment_id: impl Display) -> Reply {
        let path = format!("/v1/payments/{payment_id}/dev-confirm");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `POST /v1/payments/{payment_id}/refunds`: Refund a payment.
    pub async fn create_refund(
        &self,
        token: &str,
        payment_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/payments/{payment_id}/refunds");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/payments/{payment_id}/refunds`: List a payment's refunds.
    pub async fn list_refunds(&self, token: &str, payment_id: impl Display) -> Reply {
        let path = format!("/v1/payments/{payment_id}/refunds");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/payments/{payment_id}/receipt.pdf`: Download a payment's receipt as PDF.
    pub async fn get_receipt_pdf(&self, token: &str, payment_id: impl Display) -> crate::Download {
        let path = format!("/v1/payments/{payment_id}/receipt.pdf");
        self.download(&path, token).await
    }

    /// `GET /v1/communities/{community_id}/arrears`: List arrears.
    pub async fn list_arrears(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/arrears"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/collection`: Get the collection rate of a month.
    pub async fn get_collection(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/collection"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/bills/{bill_id}/late-fee-waiver`: Waive a bill's late fee.
    pub async fn waive_late_fee(&self, token: &str, bill_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/bills/{bill_id}/late-fee-waiver");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/meter-reading-imports`: Import meter readings from CSV.
    pub async fn import_meter_readings(
        &self,
        token: &str,
        community_id: impl Display,
        csv: &str,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/meter-reading-imports"),
            query,
        );
        self.request_raw(
            Method::POST,
            &path,
            Some(token),
            "text/csv",
            csv.as_bytes().to_vec(),
        )
        .await
    }

    /// `GET /v1/communities/{community_id}/arrears.csv`: Export arrears as CSV.
    pub async fn export_arrears(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/arrears.csv"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/bills.csv`: Export a month's bills as CSV.
    pub async fn export_bills(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/bills.csv"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}/fee-statement`: Get a household's fee statement.
    pub async fn get_fee_statement(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/households/{household_id}/fee-statement"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}/fee-statement.csv`: Export a household's fee statement as CSV.
    pub async fn export_fee_statement(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/households/{household_id}/fee-statement.csv"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/stray-payments`: List payments to refund.
    pub async fn list_stray_payments(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/stray-payments"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/reminder-policy`: Get the reminder schedule.
    pub async fn get_reminder_policy(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}/reminder-policy");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/communities/{community_id}/reminder-policy`: Change the reminder schedule.
    pub async fn put_reminder_policy(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/reminder-policy");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/households/{household_id}/reminders`: List a household's reminder record.
    pub async fn list_household_reminders(
        &self,
        token: &str,
        household_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/households/{household_id}/reminders"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/households/{household_id}/reminders`: Record a contact about arrears.
    pub async fn record_reminder_contact(
        &self,
        token: &str,
        household_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/reminders");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/bills/{bill_id}/reminders`: List a bill's reminders.
    pub async fn list_bill_reminders(&self, token: &str, bill_id: impl Display) -> Reply {
        let path = format!("/v1/bills/{bill_id}/reminders");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/reminders.csv`: Export the reminder record as CSV.
    pub async fn export_reminders(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/reminders.csv"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/follow-ups`: List follow-ups.
    pub async fn list_follow_ups(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/follow-ups"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/follow-ups/{follow_up_id}/done`: Mark a follow-up done.
    pub async fn complete_follow_up(
        &self,
        token: &str,
        follow_up_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/follow-ups/{follow_up_id}/done");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }
}
