//! Who is calling and what they may touch. Every handler takes a [`BearerAuth`] and asks it
//! for a role ([`Principal::staff`]) and a scope ([`StaffPrincipal::community`],
//! [`Principal::household`]). Objects outside the caller's scope answer 404, so ids of other
//! communities and households reveal nothing.

use courtyard_domain::{
    entities::{community, household, household_member, staff, staff_community},
    people::StaffRole,
};
use courtyard_store::audit::{ActorKind, Entry, Origin};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{auth::tokens::SubjectKind, error::ApiError, state::AppState};

/// Bearer JWT from `POST /v1/auth/...`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
    let now = state.clock.now();
    let claims = state.tokens.verify(&bearer.token, now)?;
    let origin = crate::audit::origin_of(&state.proxies, req, now);
    match claims.kind {
        SubjectKind::Resident => Ok(Principal::Resident(ResidentPrincipal {
            id: claims.sub,
            company_id: claims.cid,
            origin,
        })),
        SubjectKind::Staff => {
            let staff = staff::Entity::find_by_id(claims.sub)
                .one(&state.db)
                .await
                .map_err(ApiError::from)?
                .filter(|s| s.active)
                .ok_or_else(|| ApiError::Unauthorized("this staff account is not active".into()))?;
            let role = StaffRole::parse(&staff.role)
                .map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e)))?;
            let communities = staff_community::Entity::find()
                .select_only()
                .column(staff_community::Column::CommunityId)
                .filter(staff_community::Column::StaffId.eq(staff.id))
                .into_tuple::<Uuid>()
                .all(&state.db)
                .await
                .map_err(ApiError::from)?;
            Ok(Principal::Staff(StaffPrincipal {
                id: staff.id,
                company_id: staff.company_id,
                role,
                communities,
                origin,
            }))
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A resident.
    Resident(ResidentPrincipal),
    /// A staff member.
    Staff(StaffPrincipal),
}

/// A resident caller.
#[derive(Debug, Clone)]
pub struct ResidentPrincipal {
    /// Resident id.
    pub id: Uuid,
    /// Their company.
    pub company_id: Uuid,
    /// Where the request came from, for the audit trail.
    pub origin: Origin,
}

/// A staff caller, with the communities they work in.
#[derive(Debug, Clone)]
pub struct StaffPrincipal {
    /// Staff id.
    pub id: Uuid,
    /// Their company.
    pub company_id: Uuid,
    /// Their role.
    pub role: StaffRole,
    /// Communities they are scoped to (admins see every community of their company).
    pub communities: Vec<Uuid>,
    /// Where the request came from, for the audit trail.
    pub origin: Origin,
}

impl Principal {
    /// The caller as staff with one of `roles`, or 403.
    pub fn staff(&self, roles: &[StaffRole]) -> Result<&StaffPrincipal, ApiError> {
        match self {
            Principal::Staff(staff) if roles.contains(&staff.role) => Ok(staff),
            _ => Err(ApiError::forbidden()),
        }
    }

    /// The caller as a resident, or 403.
    pub fn resident(&self) -> Result<&ResidentPrincipal, ApiError> {
        match self {
            Principal::Resident(resident) => Ok(resident),
            Principal::Staff(_) => Err(ApiError::Forbidden("only residents may do this".into())),
        }
    }

    /// An audit entry of `action` on an object of `object_type`, by the caller.
    pub fn audit(&self, action: &'static str, object_type: &'static str) -> Entry {
        match self {
            Principal::Resident(r) => r.audit(action, object_type),
            Principal::Staff(s) => s.audit(action, object_type),
        }
    }

    /// An audit entry of `action` when the caller is staff: residents' own steps on their
    /// tickets and bookings are in those objects' histories, not in the audit trail.
    pub fn staff_audit(&self, action: &'static str, object_type: &'static str) -> Option<Entry> {
        self.as_staff().map(|s| s.audit(action, object_type))
    }

    /// The caller as staff, whatever their role.
    pub fn as_staff(&self) -> Option<&StaffPrincipal> {
        match self {
            Principal::Staff(staff) => Some(staff),
            Principal::Resident(_) => None,
        }
    }

    /// The company the caller belongs to.
    pub fn company_id(&self) -> Uuid {
        match self {
            Principal::Resident(r) => r.company_id,
            Principal::Staff(s) => s.company_id,
        }
    }

    /// A household the caller may see: staff of its community, or a resident member of it.
    pub async fn household(
        &self,
        state: &AppState,
        id: Uuid,
    ) -> Result<household::Model, ApiError> {
        match self {
            Principal::Staff(staff) => {
                let household = household::Entity::find_by_id(id)
                    .one(&state.db)
                    .await?
                    .ok_or(ApiError::NotFound("household"))?;
                staff.community(state, household.community_id).await?;
                Ok(household)
            }
            Principal::Resident(resident) => {
                // One statement: the household, if the resident is a member.
                let member = household_member::Entity::find()
                    .select_only()
                    .column(household_member::Column::HouseholdId)
                    .filter(household_member::Column::ResidentId.eq(resident.id))
                    .filter(household_member::Column::HouseholdId.eq(id));
                household::Entity::find_by_id(id)
                    .filter(
                        household::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(member)),
                    )
                    .one(&state.db)
                    .await?
                    .ok_or(ApiError::NotFound("household"))
            }
        }
    }
}

/// Every staff role.
pub const ALL_STAFF: &[StaffRole] = StaffRole::ALL;
/// Roles that keep the roll (buildings, households, residents).
pub const ROLL_KEEPERS: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::Supervisor,
    StaffRole::FrontDesk,
];
/// Roles that manage people and assignments.
pub const MANAGERS: &[StaffRole] = &[StaffRole::Admin, StaffRole::Supervisor];
/// Admins only.
pub const ADMINS: &[StaffRole] = &[StaffRole::Admin];

impl ResidentPrincipal {
    /// An audit entry of `action` on an object of `object_type`, by this resident (about
    /// their own data).
    pub fn audit(&self, action: &'static str, object_type: &'static str) -> Entry {
        Entry::new(
            ActorKind::Resident,
            Some(self.id),
            Some(self.company_id),
            action,
            object_type,
            self.origin.clone(),
        )
        .resident(self.id)
    }
}

impl StaffPrincipal {
    /// An audit entry of `action` on an object of `object_type`, by this staff member.
    pub fn audit(&self, action: &'static str, object_type: &'static str) -> Entry {
        let mut entry = Entry::new(
            ActorKind::Staff,
            Some(self.id),
            Some(self.company_id),
            action,
            object_type,
            self.origin.clone(),
        );
        entry.actor_role = Some(self.role.as_str());
        entry
    }

    /// Whether the caller works in `community_id` (admins: any community of their company,
    /// which the caller must check against the row).
    pub fn in_scope(&self, community_id: Uuid) -> bool {
        self.role == StaffRole::Admin || self.communities.contains(&community_id)
    }

    /// A community the caller works in, or 404.
    pub async fn community(
        &self,
        state: &AppState,
        id: Uuid,
    ) -> Result<community::Model, ApiError> {
        if !self.in_scope(id) {
            return Err(ApiError::NotFound("community"));
        }
        community::Entity::find_by_id(id)
            .one(&state.db)
            .await?
            .filter(|c| c.company_id == self.company_id)
            .ok_or(ApiError::NotFound("community"))
    }

    /// The communities the caller may list, or `None` for "all of the company's".
    pub fn community_filter(&self) -> Option<&[Uuid]> {
        (self.role != StaffRole::Admin).then_some(self.communities.as_slice())
    }
}
