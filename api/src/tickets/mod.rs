//! Repairs (报修) and complaints (投诉): one ticket lifecycle. Residents report and rate;
//! the front desk registers phone and walk-in reports, dispatches and makes callbacks;
//! assignees accept, arrive, price and complete; butlers answer complaints. Every transition
//! goes through `courtyard_domain::tickets::transition`, and writes the ticket, an event,
//! its SLA clocks and (when someone is to be told) an outbox row in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use courtyard_domain::{
    entities::{
        butler_assignment, community, household, household_member, resident, staff,
        staff_community, ticket, ticket_clock, ticket_event, ticket_photo,
    },
    new_id,
    org::WorkingHours,
    people::{StaffRole, mask_phone},
    photos::PhotoStage,
    ticket_messages::ActorKind,
    tickets::{
        Action, ClockKind, ComplaintCategory, Department, EventAction, Facts, Party, PriceStatus,
        RatedVia, Rating, RepairCategory, Severity, Source, Subject, TicketCategory, TicketKind,
        TicketPolicy, TicketState, TransitionError, Urgency, callback_clock, clock_met_by,
        transition, work_clocks,
    },
};
use courtyard_store::audit::Entry;
use courtyard_store::idempotency::Claim;
use courtyard_store::tickets::{self as store_tickets, Actor, NewTicket, Transition, list_page};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::{Example, ToJSON},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{ALL_STAFF, BearerAuth, Principal},
    error::{ApiError, ApiResult, FieldContext, status::*},
    idempotency::{self, Start},
    pagination::{DEFAULT_LIMIT, MAX_LIMIT, cut_page, decode_cursor},
    state::AppState,
    vocab::Vocab,
};

mod act;
mod create;
mod dto;
mod handlers;
pub mod photos;
pub mod reports;
mod rules;
mod views;

pub use act::*;
pub use create::Reporter;
use create::*;
pub use dto::*;
pub use handlers::*;
pub use rules::*;
pub use views::*;
