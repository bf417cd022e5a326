//! Reporting a repair or filing a complaint: who it is from and for, the idempotency
//! record, and the one transaction (one statement on PostgreSQL) that writes a new ticket.

use courtyard_store::idempotency::Saved;

use super::*;

/// Who a new ticket is from and for.
pub(super) struct Reporter {
    pub(super) company_id: Uuid,
    pub(super) community: community::Model,
    pub(super) household: Option<household::Model>,
    pub(super) resident_id: Option<Uuid>,
    pub(super) registered_by: Option<Uuid>,
    pub(super) source: Source,
}

impl Reporter {
    /// Resolves the household, community and resident of a new ticket, checking the
    /// caller may report for them.
    pub(super) async fn resolve(
        state: &AppState,
        principal: &Principal,
        household_id: Option<Uuid>,
        community_id: Option<Uuid>,
        resident_id: Option<Uuid>,
        source: Option<&Vocab<Source>>,
    ) -> Result<Self, ApiError> {
        let household = match household_id {
            Some(id) => Some(principal.household(state, id).await?),
            None => None,
        };
        let community_id = match (&household, community_id) {
            (Some(h), _) => h.community_id,
            (None, Some(id)) => id,
            (None, None) => {
                return Err(ApiError::invalid(
                    "household_id",
                    "give the household, or the community of a public-area repair",
                ));
            }
        };
        match principal {
            Principal::Resident(r) => {
                if resident_id.is_some_and(|id| id != r.id) {
                    return Err(ApiError::invalid(
                        "resident_id",
                        "residents report for themselves",
                    ));
                }
                if source.is_some_and(|s| *s != Vocab::Known(Source::App)) {
                    return Err(ApiError::invalid("source", "residents report in the app"));
                }
                // A public-area report: the resident must live in that community.
                if household.is_none() {
                    let lives_there = household_member::Entity::find()
                        .filter(household_member::Column::ResidentId.eq(r.id))
                        .filter(household_member::Column::CommunityId.eq(community_id))
                        .one(&state.db)
                        .await?
                        .is_some();
                    if !lives_there {
                        return Err(ApiError::NotFound("community"));
                    }
                }
                let community = state
                    .communities
                    .get(&state.db, community_id)
                    .await?
                    .filter(|c| c.company_id == r.company_id)
                    .ok_or(ApiError::NotFound("community"))?;
                Ok(Self {
                    company_id: r.company_id,
                    community,
                    household,
                    resident_id: Some(r.id),
                    registered_by: None,
                    source: Source::App,
                })
            }
            Principal::Staff(s) => {
                let staff = principal.staff(&[
                    StaffRole::Admin,
                    StaffRole::Supervisor,
                    StaffRole::FrontDesk,
                ])?;
                let community = staff.community(state, community_id).await?;
                let source = match source {
                    Some(raw) => raw.get("source")?,
                    None => Source::Phone,
                };
                if source == Source::App {
                    return Err(ApiError::invalid(
                        "source",
                        "staff register phone or walk_in reports",
                    ));
                }
                if let Some(id) = resident_id {
                    let member = match &household {
                        Some(h) => household_member::Entity::find_by_id((h.id, id))
                            .one(&state.db)
                            .await?
                            .is_some(),
                        None => household_member::Entity::find()
                            .filter(household_member::Column::ResidentId.eq(id))
                            .filter(household_member::Column::CommunityId.eq(community.id))
                            .one(&state.db)
                            .await?
                            .is_some(),
                    };
                    if !member {
                        return Err(ApiError::invalid(
                            "resident_id",
                            "the resident does not live in this household",
                        ));
                    }
                }
                Ok(Self {
                    company_id: s.company_id,
                    community,
                    household,
                    resident_id,
                    registered_by: Some(s.id),
                    source,
                })
            }
        }
    }

    pub(super) fn new_ticket(
        &self,
        kind: TicketKind,
        category: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> ticket::Model {
        ticket::Model {
            id: new_id(),
            company_id: self.company_id,
            community_id: self.community.id,
            kind: kind.as_str().into(),
            household_id: self.household.as_ref().map(|h| h.id),
            resident_id: self.resident_id,
            registered_by: self.registered_by,
            source: self.source.as_str().into(),
            category: category.into(),
            urgency: None,
            severity: None,
            location: None,
            description: description.trim().into(),
            preferred_from: None,
            preferred_to: None,
            state: TicketState::Submitted.as_str().into(),
            department: None,
            assignee_id: None,
            butler_id: None,
            price_fen: None,
            price_status: None,
            price_note: None,
            rework_count: 0,
            rating: None,
            satisfied: None,
            rating_comment: None,
            rated_via: None,
            rated_at: None,
            created_at: now,
            updated_at: now,
            dispatched_at: None,
            answered_at: None,
            arrived_at: None,
            completed_at: None,
            closed_at: None,
            cancelled_at: None,
            next_due_at: None,
            breached: false,
        }
    }
}

/// Writes a new ticket: the row, its `reported` event (and, for complaints routed to the
/// butler, `dispatched`), its clocks, the outbox row that tells the butler, and the
/// idempotency record, in one transaction.
pub(super) async fn create(
    state: &AppState,
    principal: &Principal,
    claim: Option<&Claim>,
    reporter: &Reporter,
    mut row: ticket::Model,
    subject: Subject,
) -> Result<Ticket, ApiError> {
    let now = row.created_at;
    let community = &reporter.community;
    let (policy, hours, tz) = rules_of(community)?;
    row.butler_id = match &reporter.household {
        Some(h) => butler_of(state, h).await?,
        None => None,
    };
    let mut events = vec![(EventAction::Reported, None, TicketState::Submitted)];
    if row.kind == TicketKind::Complaint.as_str() && row.butler_id.is_some() {
        // Complaints are routed to the butler at once.
        row.assignee_id = row.butler_id;
        row.state = TicketState::Dispatched.as_str().into();
        row.dispatched_at = Some(now);
        events.push((
            EventAction::Dispatched,
            Some(TicketState::Submitted),
            TicketState::Dispatched,
        ));
    }
    let clocks = work_clocks(subject, now, &policy, &hours, tz);
    row.next_due_at = clocks.iter().map(|c| c.due_at).min();
    let dto = ticket_view(row.clone());
    let saved = claim.map(|_| idempotency::saved(201, &dto));
    let key = claim.zip(saved.as_ref());
    let data = reporter
        .registered_by
        .map(|by| json!({ "registered_by": by }));
    let written = if state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        insert_new_ticket_pg(state, principal, key, &row, &events, data, &clocks).await
    } else {
        insert_new_ticket(state, principal, key, &row, &events, data, &clocks).await
    };
    written?;
    tracing::info!(ticket = %row.id, kind = %row.kind, "ticket reported");
    Ok(dto)
}

/// A new ticket's history entry: (action, from, to).
pub(super) type CreationEvent = (EventAction, Option<TicketState>, TicketState);
/// A new ticket's history entries.
pub(super) type NewEvents = [CreationEvent];

/// Writes a new ticket, its events, their outbox rows, its clocks and the idempotency
/// record in one transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_new_ticket(
    state: &AppState,
    principal: &Principal,
    key: Option<(&Claim, &Saved)>,
    row: &ticket::Model,
    events: &NewEvents,
    data: Option<serde_json::Value>,
    clocks: &[courtyard_domain::tickets::Clock],
) -> Result<(), sea_orm::DbErr> {
    let now = row.created_at;
    let txn = state.db.begin().await?;
    if let Some((claim, saved)) = key {
        courtyard_store::idempotency::complete(&txn, claim, saved, now).await?;
    }
    let actor = actor_of(principal);
    row.clone().into_active_model().insert(&txn).await?;
    for &(action, from, to) in events {
        record_event(
            &txn,
            NewEvent {
                ticket_id: row.id,
                actor,
                action,
                from,
                to: Some(to),
                note: None,
                data: data.clone(),
            },
            now,
        )
        .await?;
    }
    if !clocks.is_empty() {
        ticket_clock::Entity::insert_many(
            clocks
                .iter()
                .map(|c| clock_row(row.id, 0, c).into_active_model()),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await
}

/// As [`insert_new_ticket`], on PostgreSQL in one statement: data-modifying CTEs commit
/// together or not at all, and one round trip instead of seven is most of what a report
/// costs the database.
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_new_ticket_pg(
    state: &AppState,
    principal: &Principal,
    key: Option<(&Claim, &Saved)>,
    row: &ticket::Model,
    events: &NewEvents,
    data: Option<serde_json::Value>,
    clocks: &[courtyard_domain::tickets::Clock],
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{Statement, Value};
    const SQL: &str = "WITH t AS (INSERT INTO tickets (id, company_id, community_id, kind, \
        household_id, resident_id, registered_by, source, category, urgency, severity, location, \
        description, preferred_from, preferred_to, state, assignee_id, butler_id, rework_count, \
        created_at, updated_at, dispatched_at, next_due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
        $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0, $19, $19, $20, $34)), \
        e AS (INSERT INTO ticket_events (id, ticket_id, actor_kind, actor_id, action, from_state, \
        to_state, data, created_at) SELECT e.id, $1, $21, $22, e.action, NULLIF(e.from_state, ''), \
        e.to_state, $23::json, $19 FROM UNNEST($24::uuid[], $25::text[], $26::text[], $27::text[]) \
        AS e (id, action, from_state, to_state)), \
        o AS (INSERT INTO outbox (id, kind, payload, available_at, created_at) \
        SELECT o.id, $28, json_build_object('event_id', o.event_id), $19, $19 \
        FROM UNNEST($29::uuid[], $24::uuid[]) AS o (id, event_id)) \
        INSERT INTO ticket_clocks (ticket_id, clock, round, started_at, warn_at, due_at) \
        SELECT $1, c.clock, 0, c.started_at, c.warn_at, c.due_at \
        FROM UNNEST($30::text[], $31::timestamptz[], $32::timestamptz[], $33::timestamptz[]) \
        AS c (clock, started_at, warn_at, due_at)";
    const WITH_KEY: &str = "WITH k AS (UPDATE idempotency_records SET status = $38, \
        body = $39, completed_at = $19 WHERE principal_id = $35 AND route = $36 AND key = $37), ";
    let actor = actor_of(principal);
    let event_ids: Vec<Uuid> = events.iter().map(|_| new_id()).collect();
    let texts = |f: &dyn Fn(&CreationEvent) -> String| {
        Value::from(events.iter().map(f).collect::<Vec<String>>())
    };
    let mut values: Vec<Value> = vec![
        row.id.into(),
        row.company_id.into(),
        row.community_id.into(),
        row.kind.clone().into(),
        row.household_id.into(),
        row.resident_id.into(),
        row.registered_by.into(),
        row.source.clone().into(),
        row.category.clone().into(),
        row.urgency.clone().into(),
        row.severity.clone().into(),
        row.location.clone().into(),
        row.description.clone().into(),
        row.preferred_from.into(),
        row.preferred_to.into(),
        row.state.clone().into(),
        row.assignee_id.into(),
        row.butler_id.into(),
        row.created_at.into(),
        row.dispatched_at.into(),
        actor.kind.as_str().to_owned().into(),
        actor.id.into(),
        data.map(|d| d.to_string()).into(),
        Value::from(event_ids.clone()),
        texts(&|e| e.0.as_str().to_owned()),
        texts(&|e| e.1.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        texts(&|e| e.2.as_str().to_owned()),
        TicketNotify::KIND.to_owned().into(),
        Value::from(events.iter().map(|_| new_id()).collect::<Vec<Uuid>>()),
        Value::from(
            clocks
                .iter()
                .map(|c| c.kind.as_str().to_owned())
                .collect::<Vec<String>>(),
        ),
        Value::from(clocks.iter().map(|c| c.started_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.warn_at).collect::<Vec<_>>()),
        Value::from(clocks.iter().map(|c| c.due_at).collect::<Vec<_>>()),
    ];
    // $34 is the next deadline; $35–$39 complete the Idempotency-Key claim, if any.
    values.push(row.next_due_at.into());
    let sql = match key {
        Some((claim, saved)) => {
            values.extend([
                claim.principal_id.into(),
                claim.route.to_owned().into(),
                claim.key.clone().into(),
                i32::from(saved.status).into(),
                saved.body.clone().into(),
            ]);
            format!("{WITH_KEY}{}", &SQL["WITH ".len()..])
        }
        None => SQL.to_owned(),
    };
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map(|_| ())
}
