//! Reporting a repair or filing a complaint: who it is from and for, the idempotency
//! record, and the one transaction (one statement on PostgreSQL) that writes a new ticket.

use super::*;

/// Who a new ticket is from and for.
pub struct Reporter {
    pub company_id: Uuid,
    pub community: community::Model,
    pub household: Option<household::Model>,
    pub resident_id: Option<Uuid>,
    pub registered_by: Option<Uuid>,
    pub source: Source,
}

impl Reporter {
    /// Resolves the household, community and resident of a new ticket, checking the
    /// caller may report for them.
    pub async fn resolve(
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

    pub fn new_ticket(
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
    let operation = if row.kind == TicketKind::Complaint.as_str() {
        "create_complaint"
    } else {
        "create_repair"
    };
    let audit = principal
        .staff_audit(operation, "ticket")
        .map(|entry| ticket_entry(entry, &row));
    store_tickets::create(
        &state.db,
        NewTicket {
            row: &row,
            actor: actor_of(principal),
            events: &events,
            data,
            clocks: &clocks,
            key,
            audit: audit.as_ref(),
        },
    )
    .await?;
    tracing::info!(ticket = %row.id, kind = %row.kind, "ticket reported");
    Ok(dto)
}
