//! Helpers for the services and bookings operations (see `mod.rs`).

use std::fmt::Display;

use reqwest::Method;
use serde_json::Value;

use super::with_query;
use crate::{Reply, TestApp};

impl TestApp {
    /// `GET /v1/communities/{community_id}/service-policy`: Get the booking policy.
    pub async fn get_service_policy(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}/service-policy");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/communities/{community_id}/service-policy`: Change the booking policy.
    pub async fn put_service_policy(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/service-policy");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/service-teams`: Add a service team.
    pub async fn create_service_team(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/service-teams");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/service-teams`: List service teams.
    pub async fn list_service_teams(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/service-teams"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/service-teams/{team_id}`: Change a service team.
    pub async fn update_service_team(
        &self,
        token: &str,
        team_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/service-teams/{team_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/services`: Add a service to the price list.
    pub async fn create_service(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/services");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/services`: The price list.
    pub async fn list_services(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/services"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/services/{service_id}`: Get a service.
    pub async fn get_service(&self, token: &str, service_id: impl Display) -> Reply {
        let path = format!("/v1/services/{service_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/services/{service_id}`: Change a service.
    pub async fn update_service(
        &self,
        token: &str,
        service_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/services/{service_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/services/{service_id}/slots`: A service's slots on a day.
    pub async fn list_service_slots(
        &self,
        token: &str,
        service_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/services/{service_id}/slots"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/service-slots/{slot_id}`: Change a slot's capacity.
    pub async fn update_service_slot(
        &self,
        token: &str,
        slot_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/service-slots/{slot_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings`: Book a service.
    pub async fn create_booking(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/bookings".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/bookings`: List bookings.
    pub async fn list_bookings(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/bookings".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/bookings/{booking_id}`: Get a booking.
    pub async fn get_booking(&self, token: &str, booking_id: impl Display) -> Reply {
        let path = format!("/v1/bookings/{booking_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/bookings/{booking_id}/confirm`: Confirm a booking's time.
    pub async fn confirm_booking(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/confirm");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/proposal`: Propose another slot.
    pub async fn propose_booking_slot(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/proposal");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/proposal-answer`: Answer a proposed slot.
    pub async fn answer_booking_proposal(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/proposal-answer");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/complete`: Complete a booking.
    pub async fn complete_booking(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/complete");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/cancel`: Cancel a booking.
    pub async fn cancel_booking(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/cancel");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/laundry`: Record a laundry step.
    pub async fn record_laundry_step(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/laundry");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/bookings/{booking_id}/claims`: Record a claim.
    pub async fn create_booking_claim(
        &self,
        token: &str,
        booking_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/bookings/{booking_id}/claims");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `PATCH /v1/booking-claims/{claim_id}`: Settle a claim.
    pub async fn settle_booking_claim(
        &self,
        token: &str,
        claim_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/booking-claims/{claim_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/packages`: Subscribe to a monthly package.
    pub async fn create_package(&self, token: &str, body: &Value) -> Reply {
        self.request(Method::POST, "/v1/packages", Some(token), Some(body))
            .await
    }

    /// `GET /v1/packages`: List packages.
    pub async fn list_packages(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/packages".into(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/packages/{package_id}`: Get a package month.
    pub async fn get_package(&self, token: &str, package_id: impl Display) -> Reply {
        let path = format!("/v1/packages/{package_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/packages/{package_id}/renew`: Renew for the next month.
    pub async fn renew_package(&self, token: &str, package_id: impl Display) -> Reply {
        let path = format!("/v1/packages/{package_id}/renew");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `POST /v1/packages/{package_id}/cancel`: Cancel a package month.
    pub async fn cancel_package(
        &self,
        token: &str,
        package_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/packages/{package_id}/cancel");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/service-teams/{team_id}/calendar`: A team's calendar.
    pub async fn get_team_calendar(
        &self,
        token: &str,
        team_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/service-teams/{team_id}/calendar"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/service-report`: Services report.
    pub async fn get_service_report(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/service-report"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/bookings.csv`: Export bookings as CSV.
    pub async fn export_bookings(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/bookings.csv"),
            query,
        );
        self.request(Method::GET, &path, Some(token), None).await
    }
}
