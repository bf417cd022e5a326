//! Tickets as the API shows them: list pages, views with clock summaries, the detail.

use super::*;

/// A ticket as the API shows it.
pub fn ticket_dto(t: ticket::Model, clocks: &[ticket_clock::Model]) -> Ticket {
    let next_due_at = clocks
        .iter()
        .filter(|c| c.met_at.is_none() && c.round == t.rework_count)
        .map(|c| c.due_at)
        .min();
    let breached = clocks
        .iter()
        .any(|c| c.breached_at.is_some() && c.clock != ClockKind::Callback.as_str());
    ticket_view(ticket::Model {
        next_due_at,
        breached,
        ..t
    })
}

/// A ticket as the API shows it, with its clock summary.
pub fn ticket_view(t: ticket::Model) -> Ticket {
    let open = TicketState::parse(&t.state).is_ok_and(TicketState::is_open);
    let (next_due_at, breached) = (t.next_due_at.filter(|_| open), t.breached);
    Ticket {
        id: t.id,
        kind: Vocab::stored(&t.kind),
        community_id: t.community_id,
        household_id: t.household_id,
        resident_id: t.resident_id,
        source: Vocab::stored(&t.source),
        category: Vocab::stored(&t.category),
        urgency: t.urgency.as_deref().map(Vocab::stored),
        severity: t.severity.as_deref().map(Vocab::stored),
        location: t.location,
        description: t.description,
        preferred_from: t.preferred_from,
        preferred_to: t.preferred_to,
        state: Vocab::stored(&t.state),
        department: t.department.as_deref().map(Vocab::stored),
        assignee_id: t.assignee_id,
        butler_id: t.butler_id,
        price: t.price_fen.map(|fen| Price {
            fen,
            status: Vocab::stored(t.price_status.as_deref().unwrap_or_default()),
            note: t.price_note.clone(),
        }),
        rework_count: t.rework_count,
        rating: match (t.rating, t.satisfied, t.rated_at) {
            (Some(stars), Some(satisfied), Some(at)) => Some(TicketRating {
                stars,
                satisfied,
                comment: t.rating_comment.clone(),
                via: Vocab::stored(t.rated_via.as_deref().unwrap_or_default()),
                at,
            }),
            _ => None,
        },
        next_due_at,
        breached,
        created_at: t.created_at,
        updated_at: t.updated_at,
        dispatched_at: t.dispatched_at,
        answered_at: t.answered_at,
        arrived_at: t.arrived_at,
        completed_at: t.completed_at,
        closed_at: t.closed_at,
        cancelled_at: t.cancelled_at,
    }
}

/// The full view of a ticket.
pub async fn detail(state: &AppState, row: ticket::Model) -> Result<TicketDetail, ApiError> {
    let resident = match row.resident_id {
        Some(id) => resident::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|r| PersonRef {
                id: r.id,
                name: r.name,
                phone: Some(mask_phone(&r.phone)),
            }),
        None => None,
    };
    let staff_ref = |s: staff::Model| PersonRef {
        id: s.id,
        name: s.name,
        // Residents call the assignee and butler; staff phones are work numbers.
        phone: s.phone,
    };
    let mut people: HashMap<Uuid, staff::Model> = staff::Entity::find()
        .filter(staff::Column::Id.is_in(row.assignee_id.into_iter().chain(row.butler_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let assignee = row
        .assignee_id
        .and_then(|id| people.get(&id).cloned())
        .map(staff_ref);
    let butler = row
        .butler_id
        .and_then(|id| people.remove(&id))
        .map(staff_ref);
    let clocks = ticket_clock::Entity::find()
        .filter(ticket_clock::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_clock::Column::Round)
        .order_by_asc(ticket_clock::Column::StartedAt)
        .all(&state.db)
        .await?;
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_event::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|e| TicketEvent {
            id: e.id,
            action: Vocab::stored(&e.action),
            actor_kind: Vocab::stored(&e.actor_kind),
            actor_id: e.actor_id,
            from_state: e.from_state.as_deref().map(Vocab::stored),
            to_state: e.to_state.as_deref().map(Vocab::stored),
            note: e.note,
            at: e.created_at,
        })
        .collect();
    let photos = ticket_photo::Entity::find()
        .filter(ticket_photo::Column::TicketId.eq(row.id))
        .order_by_asc(ticket_photo::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|p| PhotoRef {
            url: format!("/v1/tickets/{}/photos/{}", p.ticket_id, p.id),
            id: p.id,
            stage: Vocab::stored(&p.stage),
            content_type: p.content_type,
            size_bytes: p.size_bytes,
        })
        .collect();
    let sla = clocks
        .iter()
        .map(|c| SlaClock {
            clock: Vocab::stored(&c.clock),
            round: c.round,
            started_at: c.started_at,
            due_at: c.due_at,
            met_at: c.met_at,
            breached_at: c.breached_at,
        })
        .collect();
    Ok(TicketDetail {
        ticket: ticket_dto(row, &clocks),
        resident,
        assignee,
        butler,
        clocks: sla,
        events,
        photos,
    })
}
