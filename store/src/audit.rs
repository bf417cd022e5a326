//! The audit trail: who did or read what, on whose data, from where. A write's entry is
//! recorded by [`record`] on the transaction of the write it describes, so the two commit
//! or roll back together; reads arrive in batches through [`record_many`]. Rows are never
//! updated, and deleted only by [`purge_before`] once older than the retention horizon (the
//! database's triggers refuse anything else).

use chrono::{DateTime, Utc};
use courtyard_domain::{entities::audit_entry, new_id};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A staff member (with their role).
    Staff,
    /// A resident.
    Resident,
    /// Someone not (yet) known: a failed login.
    Anonymous,
    /// The system itself: housekeeping, a carried-out erasure.
    System,
}

impl ActorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Staff => "staff",
            ActorKind::Resident => "resident",
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The client's address (behind trusted proxies, the one they forwarded).
    pub client_ip: Option<String>,
    /// When the request arrived (the application clock).
    pub at: DateTime<Utc>,
}

/// One audit event, before it is stored.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The company whose data it is (`None` only for an unknown account's failed login).
    pub company_id: Option<Uuid>,
    /// Who.
    pub actor_kind: ActorKind,
    /// Their id.
    pub actor_id: Option<Uuid>,
    /// A staff actor's role.
    pub actor_role: Option<&'static str>,
    /// The operation id or event name.
    pub action: &'static str,
    /// What kind of object: `resident`, `ticket`, `bill`, …
    pub object_type: &'static str,
    /// Which one.
    pub object_id: Option<Uuid>,
    /// Its community, when it has one (a supervisor sees their communities' rows).
    pub community_id: Option<Uuid>,
    /// The resident whose personal data it is.
    pub resident_id: Option<Uuid>,
    /// Where the request came from.
    pub origin: Origin,
    /// Anything else worth keeping (never a secret, never a full phone number).
    pub details: Value,
}

impl Entry {
    /// An entry of `action` on an object, by an actor, from `origin`.
    pub fn new(
        actor_kind: ActorKind,
        actor_id: Option<Uuid>,
        company_id: Option<Uuid>,
        action: &'static str,
        object_type: &'static str,
        origin: Origin,
    ) -> Self {
        Self {
            company_id,
            actor_kind,
            actor_id,
            actor_role: None,
            action,
            object_type,
            object_id: None,
            community_id: None,
            resident_id: None,
            origin,
            details: Value::Object(Default::default()),
        }
    }

    /// The object's id.
    pub fn object(mut self, id: Uuid) -> Self {
        self.object_id = Some(id);
        self
    }

    /// The object's community.
    pub fn community(mut self, id: Uuid) -> Self {
        self.community_id = Some(id);
        self
    }

    /// The resident whose data it is.
    pub fn resident(mut self, id: Uuid) -> Self {
        self.resident_id = Some(id);
        self
    }

    /// Extra details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The same event on another action (a step recorded under the operation that took it).
    pub fn with_action(mut self, action: &'static str) -> Self {
        self.action = action;
        self
    }

    fn row(&self) -> audit_entry::ActiveModel {
        audit_entry::ActiveModel {
            id: Set(new_id()),
            company_id: Set(self.company_id),
            actor_kind: Set(self.actor_kind.as_str().into()),
            actor_id: Set(self.actor_id),
            actor_role: Set(self.actor_role.map(Into::into)),
            action: Set(self.action.into()),
            object_type: Set(self.object_type.into()),
            object_id: Set(self.object_id),
            community_id: Set(self.community_id),
            resident_id: Set(self.resident_id),
            request_id: Set(self.origin.request_id.clone()),
            client_ip: Set(self.origin.client_ip.clone()),
            details: Set(self.details.clone()),
            created_at: Set(self.origin.at),
        }
    }
}

/// Stores one entry, on the connection (or transaction) of the action it describes.
pub async fn record(conn: &impl ConnectionTrait, entry: &Entry) -> Result<(), DbErr> {
    audit_entry::Entity::insert(entry.row())
        .exec_without_returning(conn)
        .await
        .map(drop)
}

/// Stores a batch of entries in one statement per 500 rows.
pub async fn record_many(conn: &impl ConnectionTrait, entries: &[Entry]) -> Result<(), DbErr> {
    for chunk in entries.chunks(500) {
        audit_entry::Entity::insert_many(chunk.iter().map(Entry::row))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// What an audit query asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One company's rows.
    pub company_id: Uuid,
    /// Only rows of these communities (a supervisor's); `None` for all of the company's.
    pub communities: Option<Vec<Uuid>>,
    /// Only this actor's.
    pub actor_id: Option<Uuid>,
    /// Only rows about this resident.
    pub resident_id: Option<Uuid>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this request's.
    pub request_id: Option<String>,
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// One page of rows matching `filter`, in id (creation) order after `after`.
pub async fn page(
    conn: &impl ConnectionTrait,
    filter: &Filter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, DbErr> {
    use audit_entry::Column as C;
    let mut select = audit_entry::Entity::find().filter(C::CompanyId.eq(filter.company_id));
    if let Some(communities) = &filter.communities {
        select = select.filter(C::CommunityId.is_in(communities.iter().copied()));
    }
    if let Some(actor) = filter.actor_id {
        select = select.filter(C::ActorId.eq(actor));
    }
    if let Some(resident) = filter.resident_id {
        select = select.filter(C::ResidentId.eq(resident));
    }
    if let Some(action) = &filter.action {
        select = select.filter(C::Action.eq(action.as_str()));
    }
    if let Some(request_id) = &filter.request_id {
        select = select.filter(C::RequestId.eq(request_id.as_str()));
    }
    if let Some(from) = filter.from {
        select = select.filter(C::CreatedAt.gte(from));
    }
    if let Some(until) = filter.until {
        select = select.filter(C::CreatedAt.lt(until));
    }
    if let Some(after) = after {
        select = select.filter(C::Id.gt(after));
    }
    select.order_by_asc(C::Id).limit(limit).all(conn).await
}

/// Moves the retention horizon to `before` and deletes up to `batch` rows older than it;
/// returns how many went. The horizon never moves back.
pub async fn purge_before(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    use sea_orm::{DbBackend, Statement};
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            DbBackend::Postgres => {
                "UPDATE audit_horizon SET purge_before = $1 WHERE id = 1 AND purge_before < $1"
            }
            _ => "UPDATE audit_horizon SET purge_before = ?1 WHERE id = 1 AND purge_before < ?1",
        },
        [before.into()],
    ))
    .await?;
    let ids: Vec<Uuid> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::Id)
        .filter(audit_entry::Column::CreatedAt.lt(before))
        .order_by_asc(audit_entry::Column::CreatedAt)
        .limit(batch)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = audit_entry::Entity::delete_many()
        .filter(audit_entry::Column::Id.is_in(ids))
        .filter(audit_entry::Column::CreatedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}
