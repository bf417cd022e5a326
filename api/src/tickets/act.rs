//! Moving a ticket through its lifecycle: load with the caller's capacities, check the
//! transition in `domain`, apply it in one transaction.

use super::*;

/// Loads a ticket the caller may see, with the capacities they hold on it. Another
/// community's or household's ticket answers 404; staff of the community who hold no
/// capacity on it (a cleaner looking at an engineer's order) get 403.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(ticket::Model, Vec<Party>), ApiError> {
    let row = ticket::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    let mut parties = Vec::new();
    match principal {
        Principal::Resident(r) => {
            let member = match row.household_id {
                Some(h) => household_member::Entity::find_by_id((h, r.id))
                    .one(&state.db)
                    .await?
                    .is_some(),
                None => false,
            };
            if row.company_id != r.company_id || !(member || row.resident_id == Some(r.id)) {
                return Err(ApiError::NotFound("ticket"));
            }
            parties.push(Party::Resident);
        }
        Principal::Staff(s) => {
            if row.company_id != s.company_id || !s.in_scope(row.community_id) {
                return Err(ApiError::NotFound("ticket"));
            }
            if row.assignee_id == Some(s.id) {
                parties.push(Party::Assignee);
            }
            if row.butler_id == Some(s.id) {
                parties.push(Party::Butler);
            }
            match s.role {
                StaffRole::FrontDesk => parties.push(Party::Desk),
                StaffRole::Admin | StaffRole::Supervisor => parties.push(Party::Manager),
                _ => {}
            }
            if parties.is_empty() {
                return Err(ApiError::Forbidden(
                    "this ticket is not assigned to you".into(),
                ));
            }
        }
    }
    Ok((row, parties))
}

/// The state machine's facts of a ticket (a booking's with its time and payment).
pub async fn facts(state: &AppState, row: &ticket::Model) -> Result<Facts, ApiError> {
    Ok(courtyard_store::bookings::facts(&state.db, row).await?)
}

pub fn state_of(row: &ticket::Model) -> Result<TicketState, ApiError> {
    Ok(store_tickets::state_of(row).map_err(|e| anyhow::anyhow!(e))?)
}

/// The state `action` leads to, or the 403/409 that refuses it.
pub async fn check(
    state: &AppState,
    row: &ticket::Model,
    action: Action,
    parties: &[Party],
) -> Result<TicketState, ApiError> {
    transition(state_of(row)?, action, parties, facts(state, row).await?).map_err(refusal)
}

/// A refused transition as a problem: 403 for the wrong person, 409 naming the state.
pub fn refusal(e: TransitionError) -> ApiError {
    match e {
        TransitionError::NotAllowed { .. } => ApiError::Forbidden(e.to_string()),
        TransitionError::WrongState { .. } => ApiError::Conflict {
            kind: "wrong-state",
            detail: e.to_string(),
        },
        TransitionError::PriceNotAccepted => ApiError::Conflict {
            kind: "price-not-accepted",
            detail: e.to_string(),
        },
        TransitionError::NoPriceToAnswer => ApiError::Conflict {
            kind: "no-price",
            detail: e.to_string(),
        },
        TransitionError::WorkStarted => ApiError::Conflict {
            kind: "work-started",
            detail: e.to_string(),
        },
        TransitionError::TimeNotConfirmed => ApiError::Conflict {
            kind: "time-not-confirmed",
            detail: e.to_string(),
        },
        TransitionError::Unpaid => ApiError::Conflict {
            kind: "booking-unpaid",
            detail: e.to_string(),
        },
        TransitionError::NoTimeToAnswer => ApiError::Conflict {
            kind: "no-time-proposed",
            detail: e.to_string(),
        },
        TransitionError::NotQuoted => ApiError::Conflict {
            kind: "not-quoted",
            detail: e.to_string(),
        },
    }
}

/// Loads, checks and applies `action`.
pub async fn act(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: Action,
    note: Option<String>,
    change: impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>),
) -> Result<ticket::Model, ApiError> {
    let (row, parties) = load(state, principal, id).await?;
    transact(state, principal, row, parties, action, note, None, change).await
}

/// Rates a completed ticket (in the app or on the callback): closes it when satisfied,
/// reopens it for rework when not.
pub(super) async fn rate(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    stars: Rating,
    satisfied: bool,
    comment: Option<String>,
    via: &'static str,
) -> Result<ticket::Model, ApiError> {
    let (row, parties) = load(state, principal, id).await?;
    let action = match via {
        "app" => Action::Rate { satisfied },
        _ => Action::RecordCallback { satisfied },
    };
    let data = json!({ "stars": stars.stars(), "satisfied": satisfied, "via": via });
    transact(
        state,
        principal,
        row,
        parties,
        action,
        comment.clone(),
        Some(data),
        move |t, now| {
            t.rating = Set(Some(i32::from(stars.stars())));
            t.satisfied = Set(Some(satisfied));
            t.rating_comment = Set(comment);
            t.rated_via = Set(Some(via.into()));
            t.rated_at = Set(Some(now));
            if satisfied {
                t.closed_at = Set(Some(now));
            }
        },
    )
    .await
}

/// Applies a checked transition in one transaction: the ticket (only if nobody changed its
/// state meanwhile), the event(s), the clocks it stops and starts, and the outbox row.
#[allow(clippy::too_many_arguments)]
pub async fn transact(
    state: &AppState,
    principal: &Principal,
    row: ticket::Model,
    parties: Vec<Party>,
    action: Action,
    note: Option<String>,
    data: Option<serde_json::Value>,
    change: impl FnOnce(&mut ticket::ActiveModel, DateTime<Utc>),
) -> Result<ticket::Model, ApiError> {
    let from = state_of(&row)?;
    let kind = TicketKind::parse(&row.kind).map_err(|e| anyhow::anyhow!(e))?;
    if kind == TicketKind::ServiceBooking && matches!(action, Action::Complete | Action::Cancel) {
        // A booking's completion charges for the work and its cancellation gives the slot
        // back and refunds: both are the bookings area's.
        return Err(ApiError::Conflict {
            kind: "booking-step",
            detail: format!(
                "{} a service booking at /v1/bookings/{}/{}",
                action.name(),
                row.id,
                action.name()
            ),
        });
    }
    let to = check(state, &row, action, &parties).await?;
    let now = state.clock.now();
    let reopen = to == TicketState::Reopened;
    // Reopening starts new work clocks; completing starts the callback clock.
    let community = if reopen || to == TicketState::Completed {
        Some(
            community::Entity::find_by_id(row.community_id)
                .one(&state.db)
                .await?
                .ok_or(ApiError::NotFound("community"))?,
        )
    } else {
        None
    };
    let mut active = row.clone().into_active_model();
    active.state = Set(to.as_str().into());
    active.updated_at = Set(now);
    let round = if reopen {
        row.rework_count + 1
    } else {
        row.rework_count
    };
    if reopen {
        active.rework_count = Set(round);
        active.arrived_at = Set(None);
        active.completed_at = Set(None);
        active.answered_at = Set(None);
    }
    change(&mut active, now);
    let price = match &active.price_status {
        sea_orm::ActiveValue::Set(p) | sea_orm::ActiveValue::Unchanged(p) => p.clone(),
        sea_orm::ActiveValue::NotSet => None,
    };
    let rated = matches!(action, Action::Rate { .. } | Action::RecordCallback { .. });
    let clocks = match &community {
        Some(community) => {
            let (policy, hours, tz) = rules_of(community)?;
            Some(if reopen {
                work_clocks(subject_of(&row, kind)?, now, &policy, &hours, tz)
            } else {
                vec![callback_clock(kind, now, &policy, &hours, tz)]
            })
        }
        None => None,
    };
    let id = row.id;
    let audit = principal
        .staff_audit(operation_of(action), "ticket")
        .map(|entry| {
            ticket_entry(entry, &row).details(json!({ "from": from.as_str(), "to": to.as_str() }))
        });
    let saved = store_tickets::apply(
        &state.db,
        Transition {
            row,
            active,
            actor: actor_of(principal),
            event: event_action(action, price.as_deref()),
            // A rating keeps the state in its own entry; what it leads to is the next.
            event_to: if rated { from } else { to },
            follow: rated.then_some(if to == TicketState::Closed {
                EventAction::Closed
            } else {
                EventAction::Reopened
            }),
            from,
            to,
            note,
            data,
            meets: clock_met_by(action),
            starts: clocks.map(|clocks| (round, clocks)),
            audit,
        },
        now,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        kind: "changed-meanwhile",
        detail: "the ticket changed while you were acting on it; reload and try again".into(),
    })?;
    tracing::info!(ticket = %id, action = action.name(), from = %from, to = %to, "ticket transition");
    Ok(saved)
}

/// An audit entry about `row`: the ticket, its community, its resident.
pub fn ticket_entry(entry: Entry, row: &ticket::Model) -> Entry {
    let entry = entry.object(row.id).community(row.community_id);
    match row.resident_id {
        Some(resident) => entry.resident(resident),
        None => entry,
    }
}

/// The operation that takes an action, as the audit trail names it.
pub fn operation_of(action: Action) -> &'static str {
    match action {
        Action::Dispatch => "dispatch_ticket",
        Action::Reassign => "reassign_ticket",
        Action::Accept => "accept_ticket",
        Action::Arrive => "arrive_ticket",
        Action::Price => "price_ticket",
        Action::AnswerPrice => "answer_price",
        Action::Answer => "answer_complaint",
        Action::Complete => "complete_ticket",
        Action::Rate { .. } => "rate_ticket",
        Action::RecordCallback { .. } | Action::CallbackUnreached | Action::CallbackDue => {
            "record_callback"
        }
        Action::Cancel => "cancel_ticket",
        Action::ConfirmTime => "confirm_booking",
        Action::ProposeTime => "propose_booking_slot",
        Action::AnswerTime { .. } => "answer_booking_proposal",
    }
}

/// The history entry of an action.
pub fn event_action(action: Action, price: Option<&str>) -> EventAction {
    match action {
        Action::Dispatch => EventAction::Dispatched,
        Action::Reassign => EventAction::Reassigned,
        Action::Accept => EventAction::Accepted,
        Action::Arrive => EventAction::Arrived,
        Action::Price => EventAction::Priced,
        Action::AnswerPrice if price == Some(PriceStatus::Declined.as_str()) => {
            EventAction::PriceDeclined
        }
        Action::AnswerPrice => EventAction::PriceAccepted,
        Action::Answer => EventAction::Answered,
        Action::Complete => EventAction::Completed,
        Action::Rate { .. } => EventAction::Rated,
        Action::RecordCallback { .. } => EventAction::CallbackRecorded,
        Action::CallbackUnreached => EventAction::CallbackUnreached,
        Action::CallbackDue => EventAction::CallbackDue,
        Action::Cancel => EventAction::Cancelled,
        Action::ConfirmTime => EventAction::Confirmed,
        Action::ProposeTime => EventAction::TimeProposed,
        Action::AnswerTime { accept: true } => EventAction::TimeAccepted,
        Action::AnswerTime { accept: false } => EventAction::TimeDeclined,
    }
}

pub fn subject_of(row: &ticket::Model, kind: TicketKind) -> Result<Subject, ApiError> {
    let bad = |e: courtyard_domain::people::InvalidValue| ApiError::Unexpected(anyhow::anyhow!(e));
    Ok(match kind {
        TicketKind::Repair => Subject::Repair {
            urgency: Urgency::parse(row.urgency.as_deref().unwrap_or("ordinary")).map_err(bad)?,
            public_area: row.household_id.is_none(),
            // The agreed window was for the first visit; rework follows the rules.
            agreed_by: None,
        },
        TicketKind::Complaint => Subject::Complaint {
            category: ComplaintCategory::parse(&row.category).map_err(bad)?,
            severity: Severity::parse(row.severity.as_deref().unwrap_or("ordinary"))
                .map_err(bad)?,
        },
        TicketKind::ServiceBooking => Subject::Booking,
    })
}
