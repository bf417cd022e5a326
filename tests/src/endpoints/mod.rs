//! One helper per API operation, named by its `operationId` (as zero-to-production's
//! `TestApp` has): tests call `app.dispatch_ticket(token, id, body)` rather than building
//! paths. A test in `openapi.rs` fails when an operation of the document has no helper.
//! Bodies are JSON values, so a test can also send what a client should not.

use std::fmt::Display;

use reqwest::Method;
use serde_json::Value;

use crate::{Reply, TestApp};

mod money;
mod privacy;
mod services;

/// `path?k=v&...`, each value percent-encoded.
pub(crate) fn with_query(path: String, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return path;
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

impl TestApp {
    /// `POST /v1/auth/sms-codes`: Send a login code by SMS.
    pub async fn send_login_code(&self, body: &Value) -> Reply {
        let path = "/v1/auth/sms-codes".to_owned();
        self.request(Method::POST, &path, None, Some(body)).await
    }

    /// `POST /v1/auth/wechat-login`: Log in from the WeChat mini-program.
    pub async fn wechat_login(&self, body: &Value) -> Reply {
        let path = "/v1/auth/wechat-login".to_owned();
        self.request(Method::POST, &path, None, Some(body)).await
    }

    /// `POST /v1/auth/refresh`: Rotate a refresh token.
    pub async fn refresh_tokens(&self, body: &Value) -> Reply {
        let path = "/v1/auth/refresh".to_owned();
        self.request(Method::POST, &path, None, Some(body)).await
    }

    /// `POST /v1/auth/logout`: Log out.
    pub async fn logout(&self, body: &Value) -> Reply {
        let path = "/v1/auth/logout".to_owned();
        self.request(Method::POST, &path, None, Some(body)).await
    }

    /// `GET /v1/me`: Who am I.
    pub async fn get_me(&self, token: &str) -> Reply {
        let path = "/v1/me".to_owned();
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/me`: Update my profile.
    pub async fn update_me(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/me".to_owned();
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities`: Create a community.
    pub async fn create_community(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/communities".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities`: List communities.
    pub async fn list_communities(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/communities".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}`: Get a community.
    pub async fn get_community(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/communities/{community_id}`: Update a community.
    pub async fn update_community(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/communities/{community_id}`: Delete an empty community.
    pub async fn delete_community(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `POST /v1/communities/{community_id}/buildings`: Add a building.
    pub async fn create_building(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/buildings");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/buildings`: List a community's buildings.
    pub async fn list_buildings(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/buildings"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/buildings/{building_id}`: Rename a building.
    pub async fn update_building(
        &self,
        token: &str,
        building_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/buildings/{building_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/buildings/{building_id}`: Delete an empty building.
    pub async fn delete_building(&self, token: &str, building_id: impl Display) -> Reply {
        let path = format!("/v1/buildings/{building_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `POST /v1/buildings/{building_id}/units`: Add a unit to a building.
    pub async fn create_unit(&self, token: &str, building_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/buildings/{building_id}/units");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/buildings/{building_id}/units`: List a building's units.
    pub async fn list_units(
        &self,
        token: &str,
        building_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/buildings/{building_id}/units"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/units/{unit_id}`: Rename a unit.
    pub async fn update_unit(&self, token: &str, unit_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/units/{unit_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/units/{unit_id}`: Delete an empty unit.
    pub async fn delete_unit(&self, token: &str, unit_id: impl Display) -> Reply {
        let path = format!("/v1/units/{unit_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `POST /v1/units/{unit_id}/households`: Add a household to a unit.
    pub async fn create_household(
        &self,
        token: &str,
        unit_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/units/{unit_id}/households");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/households`: List a community's households.
    pub async fn list_households(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/households"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}`: Get a household.
    pub async fn get_household(&self, token: &str, household_id: impl Display) -> Reply {
        let path = format!("/v1/households/{household_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/households/{household_id}`: Update a household.
    pub async fn update_household(
        &self,
        token: &str,
        household_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/households/{household_id}`: Delete a household.
    pub async fn delete_household(&self, token: &str, household_id: impl Display) -> Reply {
        let path = format!("/v1/households/{household_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /v1/households/{household_id}/members`: List a household's members.
    pub async fn list_household_members(&self, token: &str, household_id: impl Display) -> Reply {
        let path = format!("/v1/households/{household_id}/members");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/households/{household_id}/members/{resident_id}`: Add a resident to a household, or change their role in it.
    pub async fn put_household_member(
        &self,
        token: &str,
        household_id: impl Display,
        resident_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/members/{resident_id}");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/households/{household_id}/members/{resident_id}`: Remove a resident from a household.
    pub async fn delete_household_member(
        &self,
        token: &str,
        household_id: impl Display,
        resident_id: impl Display,
    ) -> Reply {
        let path = format!("/v1/households/{household_id}/members/{resident_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `POST /v1/residents`: Register a resident.
    pub async fn create_resident(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/residents".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/residents`: List a community's residents.
    pub async fn list_residents(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/residents"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/residents/{resident_id}`: Get a resident.
    pub async fn get_resident(&self, token: &str, resident_id: impl Display) -> Reply {
        let path = format!("/v1/residents/{resident_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/residents/{resident_id}`: Update a resident.
    pub async fn update_resident(
        &self,
        token: &str,
        resident_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/residents/{resident_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/residents/{resident_id}`: Delete a resident.
    pub async fn delete_resident(&self, token: &str, resident_id: impl Display) -> Reply {
        let path = format!("/v1/residents/{resident_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `POST /v1/staff`: Create a staff account.
    pub async fn create_staff(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/staff".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/staff`: List staff.
    pub async fn list_staff(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/staff".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/staff/{staff_id}`: Get a staff member.
    pub async fn get_staff(&self, token: &str, staff_id: impl Display) -> Reply {
        let path = format!("/v1/staff/{staff_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /v1/staff/{staff_id}`: Update a staff member.
    pub async fn update_staff(&self, token: &str, staff_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/staff/{staff_id}");
        self.request(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /v1/staff/{staff_id}`: Deactivate a staff member.
    pub async fn deactivate_staff(&self, token: &str, staff_id: impl Display) -> Reply {
        let path = format!("/v1/staff/{staff_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /v1/staff/{staff_id}/assignments`: Get a butler's assignments.
    pub async fn get_butler_assignments(&self, token: &str, staff_id: impl Display) -> Reply {
        let path = format!("/v1/staff/{staff_id}/assignments");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/staff/{staff_id}/assignments`: Replace a butler's assignments.
    pub async fn put_butler_assignments(
        &self,
        token: &str,
        staff_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/staff/{staff_id}/assignments");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/roll-imports`: Import households and residents from CSV.
    pub async fn import_roll(
        &self,
        token: &str,
        community_id: impl Display,
        csv: &str,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(
            format!("/v1/communities/{community_id}/roll-imports"),
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

    /// `POST /v1/me/wechat-consents`: Record WeChat subscription consents.
    pub async fn record_wechat_consent(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/me/wechat-consents".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/me/devices`: Register or refresh a push device.
    pub async fn register_device(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/me/devices".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/me/devices`: List my devices.
    pub async fn list_devices(&self, token: &str) -> Reply {
        let path = "/v1/me/devices".to_owned();
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `DELETE /v1/me/devices/{device_id}`: Remove a device.
    pub async fn delete_device(&self, token: &str, device_id: impl Display) -> Reply {
        let path = format!("/v1/me/devices/{device_id}");
        self.request(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /v1/me/notification-preferences`: Get my notification preferences.
    pub async fn get_preferences(&self, token: &str) -> Reply {
        let path = "/v1/me/notification-preferences".to_owned();
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/me/notification-preferences`: Set my notification preferences.
    pub async fn put_preferences(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/me/notification-preferences".to_owned();
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/me/messages`: List my inbox.
    pub async fn list_messages(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/me/messages".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/me/messages/unread-count`: Count my unread messages.
    pub async fn count_unread_messages(&self, token: &str) -> Reply {
        let path = "/v1/me/messages/unread-count".to_owned();
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/me/messages/{message_id}/read`: Mark a message read.
    pub async fn mark_message_read(&self, token: &str, message_id: impl Display) -> Reply {
        let path = format!("/v1/me/messages/{message_id}/read");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `GET /v1/me/staff-messages`: List my staff inbox.
    pub async fn list_staff_messages(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/me/staff-messages".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/me/staff-messages/read`: Mark staff messages read.
    pub async fn mark_staff_messages_read(&self, token: &str, body: &Value) -> Reply {
        let path = "/v1/me/staff-messages/read".to_owned();
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/communities/{community_id}/notices`: Create a notice.
    pub async fn create_notice(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/notices");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/notices`: List a community's notices.
    pub async fn list_notices(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/notices"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/notices/{notice_id}`: Get a notice with its delivery counts.
    pub async fn get_notice(&self, token: &str, notice_id: impl Display) -> Reply {
        let path = format!("/v1/notices/{notice_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/notices/{notice_id}/cancel`: Cancel a scheduled notice.
    pub async fn cancel_notice(&self, token: &str, notice_id: impl Display) -> Reply {
        let path = format!("/v1/notices/{notice_id}/cancel");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `GET /v1/notices/{notice_id}/recipients`: Trail of a notice's recipients.
    pub async fn list_notice_recipients(
        &self,
        token: &str,
        notice_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/notices/{notice_id}/recipients"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/dead-letters`: List dead letters.
    pub async fn list_dead_letters(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/dead-letters".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/dead-letters/{delivery_id}/replay`: Replay a dead letter.
    pub async fn replay_dead_letter(&self, token: &str, delivery_id: impl Display) -> Reply {
        let path = format!("/v1/dead-letters/{delivery_id}/replay");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `POST /v1/repairs`: Report a repair.
    pub async fn create_repair(
        &self,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let path = "/v1/repairs".to_owned();
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|k| ("Idempotency-Key", k))
            .into_iter()
            .collect();
        self.request_with_headers(Method::POST, &path, Some(token), body, &headers)
            .await
    }

    /// `POST /v1/complaints`: File a complaint.
    pub async fn create_complaint(
        &self,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let path = "/v1/complaints".to_owned();
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|k| ("Idempotency-Key", k))
            .into_iter()
            .collect();
        self.request_with_headers(Method::POST, &path, Some(token), body, &headers)
            .await
    }

    /// `GET /v1/tickets`: List tickets.
    pub async fn list_tickets(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/tickets".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/me/tasks`: A staff member's task list.
    pub async fn list_my_tasks(&self, token: &str, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/v1/me/tasks".to_owned(), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/tickets/{ticket_id}`: Get a ticket.
    pub async fn get_ticket(&self, token: &str, ticket_id: impl Display) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `POST /v1/tickets/{ticket_id}/dispatch`: Dispatch a ticket.
    pub async fn dispatch_ticket(
        &self,
        token: &str,
        ticket_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/dispatch");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/reassign`: Reassign a ticket.
    pub async fn reassign_ticket(
        &self,
        token: &str,
        ticket_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/reassign");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/accept`: Accept a work order.
    pub async fn accept_ticket(&self, token: &str, ticket_id: impl Display) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/accept");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `POST /v1/tickets/{ticket_id}/arrive`: Arrive on site.
    pub async fn arrive_ticket(&self, token: &str, ticket_id: impl Display) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/arrive");
        self.request(Method::POST, &path, Some(token), None).await
    }

    /// `POST /v1/tickets/{ticket_id}/price`: State the price of paid work.
    pub async fn price_ticket(&self, token: &str, ticket_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/price");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/price-answer`: Accept or decline the price.
    pub async fn answer_price(&self, token: &str, ticket_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/price-answer");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/answer`: Answer the front desk about a complaint.
    pub async fn answer_complaint(
        &self,
        token: &str,
        ticket_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/answer");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/complete`: Complete the work.
    pub async fn complete_ticket(
        &self,
        token: &str,
        ticket_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/complete");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/rating`: Rate the work.
    pub async fn rate_ticket(&self, token: &str, ticket_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/rating");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/callback`: Record a phone callback (回访).
    pub async fn record_callback(
        &self,
        token: &str,
        ticket_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/callback");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `POST /v1/tickets/{ticket_id}/cancel`: Cancel a ticket.
    pub async fn cancel_ticket(&self, token: &str, ticket_id: impl Display, body: &Value) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/cancel");
        self.request(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/communities/{community_id}/callbacks`: The front desk's callback list (回访).
    pub async fn list_callbacks(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/callbacks"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/ticket-kpis`: Ticket KPIs.
    pub async fn ticket_kpis(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/ticket-kpis"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/tickets.csv`: Export tickets as CSV.
    pub async fn export_tickets(
        &self,
        token: &str,
        community_id: impl Display,
        query: &[(&str, &str)],
    ) -> Reply {
        let path = with_query(format!("/v1/communities/{community_id}/tickets.csv"), query);
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `GET /v1/communities/{community_id}/ticket-policy`: Get the ticket policy.
    pub async fn get_ticket_policy(&self, token: &str, community_id: impl Display) -> Reply {
        let path = format!("/v1/communities/{community_id}/ticket-policy");
        self.request(Method::GET, &path, Some(token), None).await
    }

    /// `PUT /v1/communities/{community_id}/ticket-policy`: Change the ticket policy.
    pub async fn put_ticket_policy(
        &self,
        token: &str,
        community_id: impl Display,
        body: &Value,
    ) -> Reply {
        let path = format!("/v1/communities/{community_id}/ticket-policy");
        self.request(Method::PUT, &path, Some(token), Some(body))
            .await
    }

    /// `GET /v1/tickets/{ticket_id}/photos/{photo_id}`: Get a ticket photo.
    pub async fn get_ticket_photo(
        &self,
        token: &str,
        ticket_id: impl Display,
        photo_id: impl Display,
    ) -> Reply {
        let path = format!("/v1/tickets/{ticket_id}/photos/{photo_id}");
        self.request(Method::GET, &path, Some(token), None).await
    }
}
