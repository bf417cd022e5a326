//! The state machine: who may do what to a ticket, from which state, and where it leads.

use super::*;
use crate::services::TimeStatus;

/// In what capacity someone acts on a ticket. One person can hold several (a butler who is
/// also the assignee of a complaint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The resident the ticket is for, or a member of its household.
    Resident,
    /// The staff member it is assigned to.
    Assignee,
    /// The household's butler (贴心管家).
    Butler,
    /// Front desk (客服).
    Desk,
    /// Supervisors and admins.
    Manager,
    /// The workers (SLA watch, callback window).
    System,
}

/// What someone does to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give it to a department and staff member.
    Dispatch,
    /// Give it to someone else.
    Reassign,
    /// Take it.
    Accept,
    /// Arrive at the door.
    Arrive,
    /// State the price of paid work.
    Price,
    /// Accept or decline the price.
    AnswerPrice,
    /// The butler answers the front desk (complaints).
    Answer,
    /// Finish the work / reply to the complaint.
    Complete,
    /// Rate in the app.
    Rate {
        /// Whether the resident is satisfied.
        satisfied: bool,
    },
    /// Record the phone callback's result.
    RecordCallback {
        /// Whether the resident is satisfied.
        satisfied: bool,
    },
    /// Record a callback attempt that did not reach the resident.
    CallbackUnreached,
    /// The rating window passed.
    CallbackDue,
    /// Withdraw it.
    Cancel,
    /// Confirm a booking's time with the resident: the work order is issued.
    ConfirmTime,
    /// Propose another slot for a booking.
    ProposeTime,
    /// The resident accepts (the work order is issued) or declines a proposed slot.
    AnswerTime {
        /// Whether the resident takes the proposed slot.
        accept: bool,
    },
}

impl Action {
    /// The action's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Dispatch => "dispatch",
            Action::Reassign => "reassign",
            Action::Accept => "accept",
            Action::Arrive => "arrive",
            Action::Price => "price",
            Action::AnswerPrice => "answer the price",
            Action::Answer => "answer",
            Action::Complete => "complete",
            Action::Rate { .. } => "rate",
            Action::RecordCallback { .. } => "record the callback",
            Action::CallbackUnreached => "record a callback attempt",
            Action::CallbackDue => "open the callback",
            Action::Cancel => "cancel",
            Action::ConfirmTime => "confirm the time of",
            Action::ProposeTime => "propose another time for",
            Action::AnswerTime { .. } => "answer the proposed time of",
        }
    }

    /// Who may do it.
    fn allowed(self) -> &'static [Party] {
        use Party::*;
        match self {
            Action::Dispatch | Action::Reassign => &[Desk, Manager],
            Action::Accept | Action::Arrive => &[Assignee],
            Action::Price => &[Assignee, Desk, Manager],
            Action::AnswerPrice | Action::Rate { .. } => &[Resident],
            Action::Answer => &[Butler],
            Action::Complete => &[Assignee],
            Action::RecordCallback { .. } | Action::CallbackUnreached => &[Desk, Manager],
            Action::CallbackDue => &[System],
            // The workers cancel a booking left unpaid past its payment window.
            Action::Cancel => &[Resident, Desk, Manager, System],
            Action::ConfirmTime | Action::ProposeTime => &[Desk, Manager],
            Action::AnswerTime { .. } => &[Resident],
        }
    }
}

/// What a transition needs to know about the ticket besides its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Repair, complaint or service booking.
    pub kind: TicketKind,
    /// The price, if staff stated one.
    pub price: Option<PriceStatus>,
    /// A service booking's own facts; none for repairs and complaints.
    pub booking: Option<BookingFacts>,
}

/// What the state machine needs to know about a service booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingFacts {
    /// Where its time stands.
    pub time: crate::services::TimeStatus,
    /// Priced on site: the work completes only at an accepted price.
    pub quoted: bool,
    /// Paid before the work and not paid yet: the time is not confirmed until it is.
    pub unpaid: bool,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The caller does not hold a capacity that may do this (403).
    #[error("you may not {action} this ticket")]
    NotAllowed {
        /// What was attempted.
        action: &'static str,
    },
    /// Not from the ticket's current state (409).
    #[error("cannot {action} a ticket that is {state}")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The ticket's state.
        state: TicketState,
    },
    /// Paid work cannot complete before the resident accepts the price (409).
    #[error("the resident has not accepted the price of this paid repair")]
    PriceNotAccepted,
    /// Nothing to answer: no price was stated, or it was already answered (409).
    #[error("there is no price waiting for an answer")]
    NoPriceToAnswer,
    /// Work has started: too late to cancel (409).
    #[error("work has started on this ticket; it can no longer be cancelled")]
    WorkStarted,
    /// A booking's work order is issued only once its time is confirmed (409).
    #[error("the booking's time is not confirmed yet: confirm it, or propose another slot")]
    TimeNotConfirmed,
    /// A booking paid before the work is confirmed only once paid (409).
    #[error("this booking is paid at booking and is not paid yet")]
    Unpaid,
    /// A booking priced in the catalog is not priced again (409).
    #[error("this service has its price in the catalog; only a quoted service is priced on site")]
    NotQuoted,
    /// No proposed slot waits for the resident's answer (409).
    #[error("there is no proposed time waiting for an answer")]
    NoTimeToAnswer,
}

/// The state after `action`, done by someone holding `parties`, or why not. Actions that do
/// not move the ticket (price, answer, a missed callback) return the state unchanged.
pub fn transition(
    state: TicketState,
    action: Action,
    parties: &[Party],
    facts: Facts,
) -> Result<TicketState, TransitionError> {
    use TicketState::*;
    if !action.allowed().iter().any(|p| parties.contains(p)) {
        return Err(TransitionError::NotAllowed {
            action: action.name(),
        });
    }
    let wrong = || TransitionError::WrongState {
        action: action.name(),
        state,
    };
    let complaint = facts.kind == TicketKind::Complaint;
    let booking = facts.booking;
    let time = booking.map(|b| b.time);
    match action {
        Action::Dispatch => match state {
            // A booking's order is issued by confirming its time.
            Submitted if booking.is_some() => Err(TransitionError::TimeNotConfirmed),
            Submitted | Reopened => Ok(Dispatched),
            _ => Err(wrong()),
        },
        Action::ConfirmTime | Action::ProposeTime | Action::AnswerTime { .. }
            if state != Submitted || booking.is_none() =>
        {
            Err(wrong())
        }
        Action::ConfirmTime => match booking {
            Some(b) if b.unpaid => Err(TransitionError::Unpaid),
            Some(b) if b.time == TimeStatus::Requested => Ok(Dispatched),
            // A proposal waits for the resident, who accepts it.
            _ => Err(TransitionError::NoTimeToAnswer),
        },
        Action::ProposeTime => Ok(Submitted),
        Action::AnswerTime { accept } => match time {
            Some(TimeStatus::Proposed) if !accept => Ok(Submitted),
            Some(TimeStatus::Proposed) if booking.is_some_and(|b| b.unpaid) => {
                Err(TransitionError::Unpaid)
            }
            Some(TimeStatus::Proposed) => Ok(Dispatched),
            _ => Err(TransitionError::NoTimeToAnswer),
        },
        Action::Reassign => match state {
            Dispatched | Accepted | OnSite => Ok(Dispatched),
            _ => Err(wrong()),
        },
        Action::Accept => match state {
            Dispatched => Ok(Accepted),
            _ => Err(wrong()),
        },
        Action::Arrive => match state {
            Accepted => Ok(OnSite),
            _ => Err(wrong()),
        },
        Action::Price if booking.is_some_and(|b| !b.quoted) => Err(TransitionError::NotQuoted),
        Action::Price => match state {
            Dispatched | Accepted | OnSite if facts.price != Some(PriceStatus::Accepted) => {
                Ok(state)
            }
            Dispatched | Accepted | OnSite => Err(TransitionError::WrongState {
                action: "change the accepted price of",
                state,
            }),
            _ => Err(wrong()),
        },
        Action::AnswerPrice => match state {
            Dispatched | Accepted | OnSite if facts.price == Some(PriceStatus::Proposed) => {
                Ok(state)
            }
            Dispatched | Accepted | OnSite => Err(TransitionError::NoPriceToAnswer),
            _ => Err(wrong()),
        },
        Action::Answer => match state {
            Dispatched | Accepted | OnSite if complaint => Ok(state),
            _ => Err(wrong()),
        },
        Action::Complete => match state {
            OnSite | Accepted if complaint => Ok(Completed),
            // A quoted service completes only at an accepted price.
            OnSite
                if booking.is_some_and(|b| b.quoted)
                    && facts.price != Some(PriceStatus::Accepted) =>
            {
                Err(TransitionError::PriceNotAccepted)
            }
            OnSite => match facts.price {
                None | Some(PriceStatus::Accepted) => Ok(Completed),
                Some(_) => Err(TransitionError::PriceNotAccepted),
            },
            _ => Err(wrong()),
        },
        Action::Rate { satisfied } | Action::RecordCallback { satisfied } => match state {
            Completed | AwaitingCallback if satisfied => Ok(Closed),
            Completed | AwaitingCallback => Ok(Reopened),
            _ => Err(wrong()),
        },
        Action::CallbackUnreached => match state {
            AwaitingCallback | Completed => Ok(state),
            _ => Err(wrong()),
        },
        Action::CallbackDue => match state {
            Completed => Ok(AwaitingCallback),
            _ => Err(wrong()),
        },
        Action::Cancel => match state {
            Submitted | Dispatched | Accepted => Ok(Cancelled),
            // Paid work has not started while its price waits for an answer.
            OnSite
                if !complaint && matches!(facts.price, Some(p) if p != PriceStatus::Accepted) =>
            {
                Ok(Cancelled)
            }
            OnSite => Err(TransitionError::WorkStarted),
            _ => Err(wrong()),
        },
    }
}
