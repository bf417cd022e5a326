//! Monthly packages (包月): a resident (or the front desk for them) subscribes a household
//! to N visits a month in a weekly slot, for a price paid ahead; every visit's slot place is
//! held from the start, and each visit is issued as a booking of its own a few days ahead by
//! the workers, once the month is paid. The resident sees the visits used and remaining,
//! renews for the next month and may cancel; unused visits lapse at the month's end, or
//! carry over on renewal, by the community's policy.

use courtyard_domain::entities::{household_member, service_package};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::ToJSON,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    ApiTags,
    authz::{BearerAuth, Principal},
    error::{ApiResult, status::*},
    idempotency::{self, Start},
    pagination::fetch_page,
    state::AppState,
};

mod dto;
mod flow;

pub use dto::*;

/// A package month subscribed or renewed.
#[derive(ApiResponse)]
pub enum PackageCreated {
    /// Subscribed: every visit's place is held; pay the month's bill (`bill_id`) with
    /// `POST /v1/payments` and the visits are issued a few days ahead each.
    #[oai(status = 201)]
    Created(Json<Package>),
}

/// The package endpoints.
pub struct PackagesApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Bookings")]
impl PackagesApi {
    /// Subscribe to a monthly package
    ///
    /// A `package` service of the household's community, in a weekly slot (a weekday and
    /// one of the team's slot starts). Every visit's place is taken at once (a full day
    /// answers 409 `slot-full` naming it). A month that starts late has fewer visits and
    /// costs less, pro rata. The month's bill is due today; a month left unpaid past the
    /// policy's payment window is cancelled. Send an `Idempotency-Key` to make retries safe.
    #[oai(path = "/packages", method = "post", operation_id = "create_package")]
    async fn create_package(
        &self,
        auth: BearerAuth,
        body: Json<NewPackage>,
        /// Makes a retried request return the first one's package instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<PackageCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let claim = match idempotency::start::<Package>(
            &self.state,
            &auth.0,
            "POST /v1/packages",
            "create_package",
            idempotency_key.0.as_deref(),
            &body.0.to_json_string(),
        )
        .await?
        {
            Start::Replay(saved) => return Ok(PackageCreated::Created(Json(saved))),
            Start::Proceed(claim) => claim,
        };
        let done = flow::subscribe(&self.state, &auth.0, &body, claim.as_ref()).await;
        let created = idempotency::finish(&self.state, claim.as_ref(), done).await?;
        Ok(PackageCreated::Created(Json(created)))
    }

    /// List packages
    ///
    /// Residents: their households' package months. Staff: their communities'. Newest
    /// first; filtered by community, household and month.
    #[oai(path = "/packages", method = "get", operation_id = "list_packages")]
    async fn list_packages(
        &self,
        auth: BearerAuth,
        /// Only this community's.
        community_id: Query<Option<Uuid>>,
        /// Only this household's.
        household_id: Query<Option<Uuid>>,
        /// Only this month's, `YYYY-MM`.
        #[oai(validator(pattern = r"^2[0-9]{3}-(0[1-9]|1[0-2])$"))]
        period: Query<Option<String>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<PackagePage>, { AUTHED | VALIDATION }> {
        let mut select = service_package::Entity::find();
        match &auth.0 {
            Principal::Resident(r) => {
                let households = household_member::Entity::find()
                    .select_only()
                    .column(household_member::Column::HouseholdId)
                    .filter(household_member::Column::ResidentId.eq(r.id));
                select = select.filter(
                    service_package::Column::HouseholdId
                        .in_subquery(sea_orm::QueryTrait::into_query(households)),
                );
            }
            Principal::Staff(s) => {
                auth.0.staff(crate::authz::ROLL_KEEPERS)?;
                if let Some(scope) = s.community_filter() {
                    select =
                        select.filter(service_package::Column::CommunityId.is_in(scope.to_vec()));
                }
                select = select.filter(service_package::Column::CompanyId.eq(s.company_id));
            }
        }
        if let Some(id) = *community_id {
            select = select.filter(service_package::Column::CommunityId.eq(id));
        }
        if let Some(id) = *household_id {
            select = select.filter(service_package::Column::HouseholdId.eq(id));
        }
        if let Some(p) = period.0.as_deref() {
            select = select.filter(service_package::Column::Period.eq(p));
        }
        let (rows, next_cursor) = fetch_page(
            &self.state.db,
            select,
            service_package::Column::Id,
            cursor.as_deref(),
            *limit,
            |r| r.id,
        )
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(flow::view(&self.state, row).await?);
        }
        Ok(Json(PackagePage { items, next_cursor }))
    }

    /// Get a package month
    ///
    /// With every visit and where it stands, and the visits used and remaining.
    #[oai(
        path = "/packages/:package_id",
        method = "get",
        operation_id = "get_package"
    )]
    async fn get_package(
        &self,
        auth: BearerAuth,
        package_id: Path<Uuid>,
    ) -> ApiResult<Json<Package>, { AUTHED | NOT_FOUND }> {
        let row = flow::load(&self.state, &auth.0, *package_id).await?;
        Ok(Json(flow::view(&self.state, row).await?))
    }

    /// Renew for the next month
    ///
    /// The same weekly slot next month, with its own bill; the visits skipped this month
    /// carry over when the community's policy says so (by default they lapse). A month is
    /// renewed once (409 `package-renewed`).
    #[oai(
        path = "/packages/:package_id/renew",
        method = "post",
        operation_id = "renew_package"
    )]
    async fn renew_package(
        &self,
        auth: BearerAuth,
        package_id: Path<Uuid>,
    ) -> ApiResult<PackageCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        Ok(PackageCreated::Created(Json(
            flow::renew(&self.state, &auth.0, *package_id).await?,
        )))
    }

    /// Cancel a package month
    ///
    /// The resident or the office. The visits not yet issued lapse and give their places
    /// back; an unpaid bill is cancelled, a paid one refunded the share of those visits.
    /// Visits already issued stay bookings of their own (cancel them one by one).
    #[oai(
        path = "/packages/:package_id/cancel",
        method = "post",
        operation_id = "cancel_package"
    )]
    async fn cancel_package(
        &self,
        auth: BearerAuth,
        package_id: Path<Uuid>,
        body: Json<PackageNote>,
    ) -> ApiResult<Json<Package>, { AUTHED | NOT_FOUND | CONFLICT }> {
        Ok(Json(
            flow::cancel(&self.state, &auth.0, *package_id, body.0.note).await?,
        ))
    }
}
