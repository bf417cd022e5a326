//! Reading the audit trail back: admins see their company's rows, supervisors the rows of
//! their communities. Filters by actor, resident, action, request and period; cursor pages;
//! a CSV export of the same query (itself recorded in the trail).

use chrono::{DateTime, Utc};
use courtyard_domain::entities::audit_entry;
use courtyard_store::audit::{self, Filter};
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json, types::Example};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, MANAGERS},
    error::{ApiError, ApiResult, status::*},
    exports::{CsvExport, csv_export},
    page_of,
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, cut_page, decode_cursor},
    state::AppState,
};

/// The most rows one CSV export holds.
const EXPORT_ROWS: u64 = 50_000;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AuditActorKind {
    /// A staff member.
    Staff,
    /// A resident.
    Resident,
    /// Not known: a failed login.
    Anonymous,
    /// The system: housekeeping, a carried-out erasure.
    System,
}

impl AuditActorKind {
    fn of(raw: &str) -> Self {
        match raw {
            "staff" => Self::Staff,
            "resident" => Self::Resident,
            "system" => Self::System,
            _ => Self::Anonymous,
        }
    }
}

/// One event of the audit trail.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AuditEntry {
    /// Id (time-ordered).
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: staff, resident, anonymous (a failed login) or system.
    pub actor_kind: AuditActorKind,
    /// Their id.
    pub actor_id: Option<Uuid>,
    /// A staff actor's role.
    pub actor_role: Option<String>,
    /// The operation (its operation id in this document) or event (`login_failed`, …).
    pub action: String,
    /// What kind of object: `resident`, `ticket`, `bill`, …
    pub object_type: String,
    /// Which one.
    pub object_id: Option<Uuid>,
    /// Its community.
    pub community_id: Option<Uuid>,
    /// The resident whose personal data it was.
    pub resident_id: Option<Uuid>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// Details of the event (never secrets; phones masked).
    pub details: serde_json::Value,
}

impl Example for AuditEntry {
    fn example() -> Self {
        Self {
            id: Uuid::nil(),
            at: DateTime::UNIX_EPOCH,
            actor_kind: AuditActorKind::Staff,
            actor_id: Some(Uuid::nil()),
            actor_role: Some("front_desk".into()),
            action: "get_resident".into(),
            object_type: "resident".into(),
            object_id: Some(Uuid::nil()),
            community_id: Some(Uuid::nil()),
            resident_id: Some(Uuid::nil()),
            request_id: Some("5f0c6f9e-6a47-4bb4-a3f1-1f3f0d8f2b11".into()),
            client_ip: Some("203.0.113.7".into()),
            details: serde_json::json!({}),
        }
    }
}

impl From<audit_entry::Model> for AuditEntry {
    fn from(row: audit_entry::Model) -> Self {
        Self {
            id: row.id,
            at: row.created_at,
            actor_kind: AuditActorKind::of(&row.actor_kind),
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            action: row.action,
            object_type: row.object_type,
            object_id: row.object_id,
            community_id: row.community_id,
            resident_id: row.resident_id,
            request_id: row.request_id,
            client_ip: row.client_ip,
            details: row.details,
        }
    }
}

page_of!(AuditPage, AuditEntry);

/// Audit-log operations.
pub struct AuditApi {
    /// Shared state.
    pub state: AppState,
}

/// The query every audit operation takes.
struct Asked {
    actor_id: Option<Uuid>,
    resident_id: Option<Uuid>,
    action: Option<String>,
    request_id: Option<String>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl AuditApi {
    fn filter(&self, auth: &BearerAuth, asked: Asked) -> Result<Filter, ApiError> {
        let staff = auth.0.staff(MANAGERS)?;
        if let (Some(from), Some(until)) = (asked.from, asked.until)
            && from >= until
        {
            return Err(ApiError::invalid("from", "from must be before to"));
        }
        Ok(Filter {
            company_id: staff.company_id,
            communities: staff.community_filter().map(<[Uuid]>::to_vec),
            actor_id: asked.actor_id,
            resident_id: asked.resident_id,
            action: asked.action,
            request_id: asked.request_id,
            from: asked.from,
            until: asked.until,
        })
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// List the audit trail
    ///
    /// Admins and supervisors (their communities' events only): who read or changed what,
    /// on whose data, when and from where, oldest first. Every staff write, every staff read
    /// of a resident's personal data (detail, revealed phone, household members, a ticket or
    /// booking with the resident's contact, photos, bills, payments, exports) and every
    /// login is here. Reads arrive within a second.
    #[oai(path = "/audit-log", method = "get", operation_id = "list_audit_log")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this actor's events.
        actor_id: Query<Option<Uuid>>,
        /// Only events about this resident's data.
        resident_id: Query<Option<Uuid>>,
        /// Only this action (an operation id such as `get_resident`, or `login_failed`).
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
        action: Query<Option<String>>,
        /// Only this request's events.
        #[oai(validator(min_length = 1, max_length = 64))]
        request_id: Query<Option<String>>,
        /// From (RFC 3339, inclusive).
        from: Query<Option<DateTime<Utc>>>,
        /// Until (RFC 3339, exclusive).
        to: Query<Option<DateTime<Utc>>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<AuditPage>, { AUTHED | VALIDATION }> {
        let filter = self.filter(
            &auth,
            Asked {
                actor_id: actor_id.0,
                resident_id: resident_id.0,
                action: action.0,
                request_id: request_id.0,
                from: from.0,
                until: to.0,
            },
        )?;
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let after = decode_cursor(cursor.as_deref())?;
        let mut rows = audit::page(&self.state.db, &filter, after, limit as u64 + 1).await?;
        let next_cursor = cut_page(&mut rows, limit, |r| r.id);
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntry::from).collect(),
            next_cursor,
        }))
    }

    /// Export the audit trail as CSV
    ///
    /// The same query as the list, as one CSV file (at most 50,000 rows, oldest first).
    /// The export is itself recorded in the trail.
    #[oai(
        path = "/audit-log.csv",
        method = "get",
        operation_id = "export_audit_log"
    )]
    async fn export(
        &self,
        auth: BearerAuth,
        /// Only this actor's events.
        actor_id: Query<Option<Uuid>>,
        /// Only events about this resident's data.
        resident_id: Query<Option<Uuid>>,
        /// Only this action.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
        action: Query<Option<String>>,
        /// Only this request's events.
        #[oai(validator(min_length = 1, max_length = 64))]
        request_id: Query<Option<String>>,
        /// From (RFC 3339, inclusive).
        from: Query<Option<DateTime<Utc>>>,
        /// Until (RFC 3339, exclusive).
        to: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<CsvExport, { AUTHED | VALIDATION }> {
        let filter = self.filter(
            &auth,
            Asked {
                actor_id: actor_id.0,
                resident_id: resident_id.0,
                action: action.0,
                request_id: request_id.0,
                from: from.0,
                until: to.0,
            },
        )?;
        let rows = audit::page(&self.state.db, &filter, None, EXPORT_ROWS).await?;
        let entry = auth
            .0
            .audit("export_audit_log", "audit_log")
            .details(serde_json::json!({ "rows": rows.len(), "resident_id": filter.resident_id }));
        audit::record(&self.state.db, &entry).await?;
        let text = |v: Option<String>| v.unwrap_or_default();
        let id = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
        Ok(csv_export(
            "audit-log.csv",
            &[
                "at",
                "actor_kind",
                "actor_id",
                "actor_role",
                "action",
                "object_type",
                "object_id",
                "community_id",
                "resident_id",
                "request_id",
                "client_ip",
                "details",
            ],
            rows.into_iter().map(|r| {
                vec![
                    r.created_at.to_rfc3339(),
                    r.actor_kind,
                    id(r.actor_id),
                    text(r.actor_role),
                    r.action,
                    r.object_type,
                    id(r.object_id),
                    id(r.community_id),
                    id(r.resident_id),
                    text(r.request_id),
                    text(r.client_ip),
                    r.details.to_string(),
                ]
            }),
        )?)
    }
}
