//! A package month's steps: subscribe (every visit's slot place taken, the month's bill
//! issued), renew for the next month (skipped visits carried over by policy), cancel (the
//! places of the visits not issued given back, the bill cancelled or their share refunded).
//! The visits themselves are issued by the workers (`package_visits`).

use chrono::{NaiveDate, NaiveDateTime};
use courtyard_domain::{
    entities::{community, payment, service, service_package, service_team},
    fees::bills::Period,
    new_id,
    services::{
        Pricing, ServicePolicy,
        packages::{self, PackageState, WeeklySlot},
    },
};
use courtyard_store::{
    bookings::{
        NewBill,
        packages::{self as store, NewPackage as StoreNew, PackageCancel, PackageError},
    },
    idempotency::Claim,
};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::dto::*;
use crate::{
    authz::Principal,
    error::ApiError,
    idempotency,
    services::{day_slots, policy_of, service_for},
    state::AppState,
    tickets::{Reporter, actor_of, butler_of, rules_of},
};

/// A package month the caller may see: a resident of its household, or staff of its
/// community (404 otherwise).
pub(super) async fn load(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<service_package::Model, ApiError> {
    // The office's: field staff get their visits as bookings.
    if matches!(principal, Principal::Staff(s) if !s.role.manages_roll()) {
        return Err(ApiError::forbidden());
    }
    let row = service_package::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("package"))?;
    principal
        .household(state, row.household_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("package"),
            other => other,
        })?;
    Ok(row)
}

/// The API form of a stored package month.
pub(super) async fn view(state: &AppState, p: service_package::Model) -> Result<Package, ApiError> {
    let visits = store::visits(&state.db, p.id).await?;
    let statuses = store::visit_statuses(&state.db, &p, &visits, state.clock.now()).await?;
    let paid = store::paid(&state.db, &p).await?;
    Ok(package_dto(p, visits, &statuses, paid))
}

fn package_error(e: PackageError) -> ApiError {
    match e {
        PackageError::VisitFull(day) => ApiError::Conflict {
            kind: "slot-full",
            detail: format!(
                "the weekly slot has no place left on {day}; choose another weekday or time"
            ),
        },
        PackageError::Renewed => ApiError::Conflict {
            kind: "package-renewed",
            detail: "this month is renewed already, or no longer active".into(),
        },
        PackageError::Duplicate => ApiError::Conflict {
            kind: "package-exists",
            detail: "the household has this package for that month already".into(),
        },
        PackageError::Book(e) => crate::bookings::book_error(e),
    }
}

/// What a month needs: the service, its team, the community's rules.
struct Terms {
    service: service::Model,
    team: service_team::Model,
    community: community::Model,
    policy: ServicePolicy,
    visits: u32,
    price_fen: i64,
}

async fn terms(state: &AppState, service: service::Model) -> Result<Terms, ApiError> {
    if service.pricing != Pricing::Package.as_str() {
        return Err(ApiError::invalid(
            "service_id",
            "not a monthly package; book it with POST /v1/bookings",
        ));
    }
    let team = service_team::Entity::find_by_id(service.team_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service team"))?;
    if !service.active || !team.active {
        return Err(ApiError::invalid(
            "service_id",
            "this service is not offered now",
        ));
    }
    let community = state
        .communities
        .get(&state.db, service.community_id)
        .await?
        .ok_or(ApiError::NotFound("community"))?;
    let visits = service
        .visits_per_month
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| anyhow::anyhow!("package {} has no visits a month", service.id))?;
    let price_fen = service
        .price_fen
        .ok_or_else(|| anyhow::anyhow!("package {} has no price", service.id))?;
    Ok(Terms {
        policy: policy_of(&community),
        service,
        team,
        community,
        visits,
        price_fen,
    })
}

/// A month's rows: the package, its visits on the weekly slot (each slot found among the
/// team's slots of its day), its bill.
struct Month {
    package: service_package::Model,
    visits: Vec<courtyard_domain::entities::package_visit::Model>,
    bill: NewBill,
}

#[allow(clippy::too_many_arguments)]
async fn plan(
    state: &AppState,
    t: &Terms,
    reporter: &Reporter,
    household_id: Uuid,
    slot: WeeklySlot,
    period: Period,
    from: NaiveDate,
    carried: u32,
    previous_id: Option<Uuid>,
) -> Result<Month, ApiError> {
    let (_, hours, tz) = rules_of(&t.community)?;
    let month = packages::plan_month(slot, period, from, &hours, t.visits, carried, t.price_fen)
        .map_err(|e| ApiError::invalid("period", e.0))?;
    let now = state.clock.now();
    let id = new_id();
    let mut visits = Vec::with_capacity(month.dates.len());
    for (n, day) in month.dates.iter().enumerate() {
        let wanted =
            courtyard_domain::calendar::resolve_local(tz, NaiveDateTime::new(*day, slot.start));
        let slots = day_slots(state, &t.community, &t.team, *day).await?;
        let found = slots
            .iter()
            .find(|s| s.starts_at == wanted)
            .ok_or_else(|| {
                let starts: Vec<String> = slots
                    .iter()
                    .map(|s| s.starts_at.with_timezone(&tz).format("%H:%M").to_string())
                    .collect();
                ApiError::invalid(
                    "start_time",
                    format!(
                        "{} is not a slot start of this team on {day} ({})",
                        slot.start.format("%H:%M"),
                        starts.join(", ")
                    ),
                )
            })?;
        visits.push(courtyard_domain::entities::package_visit::Model {
            id: new_id(),
            package_id: id,
            position: n as i32 + 1,
            visit_on: *day,
            slot_id: found.id,
            starts_at: found.starts_at,
            booking_id: None,
            issued_at: None,
        });
    }
    let butler = match &reporter.household {
        Some(h) => butler_of(state, h).await?,
        None => None,
    };
    let package = service_package::Model {
        id,
        company_id: reporter.company_id,
        community_id: t.community.id,
        household_id,
        resident_id: reporter.resident_id,
        registered_by: reporter.registered_by,
        source: reporter.source.as_str().into(),
        butler_id: butler,
        service_id: t.service.id,
        service_name: t.service.name.clone(),
        team_id: t.team.id,
        period: period.to_string(),
        weekday: i16::from(slot.weekday),
        start_time: slot.start.format("%H:%M").to_string(),
        visits: visits.len() as i32,
        carried: month.carried as i32,
        price_fen: month.price_fen,
        bill_id: None,
        state: PackageState::Active.as_str().into(),
        previous_id,
        renewed_by_id: None,
        refund_id: None,
        created_at: now,
        updated_at: now,
        cancelled_at: None,
    };
    // Paid ahead: due today; the visits are issued once it is paid.
    let today = now.with_timezone(&tz).date_naive();
    let bill = NewBill::for_household(
        (t.community.id, household_id),
        &format!("{}（{period}）", t.service.name),
        "month",
        1,
        month.price_fen,
        &period.to_string(),
        today,
        now,
    );
    Ok(Month {
        package,
        visits,
        bill,
    })
}

/// Subscribes a household (the work behind `create_package`, after its key is claimed).
pub(super) async fn subscribe(
    state: &AppState,
    principal: &Principal,
    body: &NewPackage,
    claim: Option<&Claim>,
) -> Result<Package, ApiError> {
    let reporter = Reporter::resolve(
        state,
        principal,
        Some(body.household_id),
        None,
        body.resident_id,
        None,
    )
    .await?;
    let household = reporter
        .household
        .clone()
        .ok_or(ApiError::NotFound("household"))?;
    let service = service_for(state, principal, body.service_id)
        .await
        .ok()
        .filter(|s| s.community_id == household.community_id)
        .ok_or_else(|| {
            ApiError::invalid("service_id", "no such service in the household's community")
        })?;
    let t = terms(state, service).await?;
    let slot = WeeklySlot::new(body.weekday, &body.start_time)
        .map_err(|(f, e)| ApiError::invalid(f, e.0))?;
    let (_, hours, tz) = rules_of(&t.community)?;
    let now = state.clock.now();
    // The first visit no sooner than the booking lead time allows.
    let from = (now + chrono::Duration::minutes(i64::from(t.policy.lead_minutes)))
        .with_timezone(&tz)
        .date_naive()
        + chrono::Duration::days(1);
    let this = Period::of(now.with_timezone(&tz).date_naive());
    let period = match body.period.as_deref() {
        Some(raw) => {
            let p = Period::parse(raw).map_err(|e| ApiError::invalid("period", e.0))?;
            if p < this || p > this.next() {
                return Err(ApiError::invalid(
                    "period",
                    format!("subscribe for {this} or {}", this.next()),
                ));
            }
            p
        }
        None if slot.dates(this, from, &hours).is_empty() => this.next(),
        None => this,
    };
    let month = plan(
        state,
        &t,
        &reporter,
        household.id,
        slot,
        period,
        from,
        0,
        None,
    )
    .await?;
    let audit = principal
        .staff_audit("create_package", "package")
        .map(|entry| package_entry(entry, &month, None));
    write(state, month, claim, None, audit).await
}

/// A staff member's subscription or renewal on the audit trail: the month, its community
/// and resident, what it costs.
fn package_entry(
    entry: courtyard_store::audit::Entry,
    month: &Month,
    renews: Option<Uuid>,
) -> courtyard_store::audit::Entry {
    let p = &month.package;
    let entry = entry
        .object(p.id)
        .community(p.community_id)
        .details(serde_json::json!({
            "household_id": p.household_id,
            "service_id": p.service_id,
            "period": p.period,
            "visits": p.visits,
            "carried": p.carried,
            "price_fen": p.price_fen,
            "bill_id": month.bill.bill.id,
            "renews": renews,
        }));
    match p.resident_id {
        Some(resident) => entry.resident(resident),
        None => entry,
    }
}

async fn write(
    state: &AppState,
    month: Month,
    claim: Option<&Claim>,
    renews: Option<Uuid>,
    audit: Option<courtyard_store::audit::Entry>,
) -> Result<Package, ApiError> {
    let mut saved_row = month.package.clone();
    saved_row.bill_id = Some(month.bill.bill.id);
    let statuses = vec![packages::VisitStatus::Scheduled; month.visits.len()];
    let dto = package_dto(saved_row, month.visits.clone(), &statuses, false);
    let saved = claim.map(|_| idempotency::saved(201, &dto));
    store::subscribe(
        &state.db,
        StoreNew {
            package: &month.package,
            visits: &month.visits,
            bill: &month.bill,
            key: claim.zip(saved.as_ref()),
            renews,
            audit: audit.as_ref(),
        },
    )
    .await
    .map_err(package_error)?;
    tracing::info!(package = %month.package.id, period = %month.package.period, visits = month.visits.len(), "package subscribed");
    Ok(dto)
}

/// Renews a month for the next one, on the same weekly slot: skipped visits carried over
/// when the policy says so.
pub(super) async fn renew(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Package, ApiError> {
    let p = load(state, principal, id).await?;
    if p.state == PackageState::Cancelled.as_str() || p.renewed_by_id.is_some() {
        return Err(package_error(PackageError::Renewed));
    }
    let service = service::Entity::find_by_id(p.service_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("service"))?;
    let t = terms(state, service).await?;
    let (_, _, tz) = rules_of(&t.community)?;
    let period = Period::parse(&p.period).map_err(|e| anyhow::anyhow!(e.0))?;
    let this = Period::of(state.clock.now().with_timezone(&tz).date_naive());
    let next = period.next();
    if next < this {
        return Err(ApiError::Conflict {
            kind: "package-over",
            detail: format!("{} is long over; subscribe again", p.period),
        });
    }
    let slot =
        WeeklySlot::new(p.weekday as u8, &p.start_time).map_err(|(_, e)| anyhow::anyhow!(e.0))?;
    let visits = store::visits(&state.db, p.id).await?;
    let statuses = store::visit_statuses(&state.db, &p, &visits, state.clock.now()).await?;
    let skipped = packages::VisitCounts::of(statuses).skipped;
    let carried = packages::carry_over(t.policy.package_unused, skipped);
    let reporter = Reporter {
        company_id: p.company_id,
        community: t.community.clone(),
        household: Some(principal.household(state, p.household_id).await?),
        resident_id: p.resident_id,
        registered_by: p.registered_by,
        source: courtyard_domain::tickets::Source::parse(&p.source)
            .unwrap_or(courtyard_domain::tickets::Source::App),
    };
    let from = next
        .first_day()
        .max(state.clock.now().with_timezone(&tz).date_naive() + chrono::Duration::days(1));
    let month = plan(
        state,
        &t,
        &reporter,
        p.household_id,
        slot,
        next,
        from,
        carried,
        Some(p.id),
    )
    .await?;
    let audit = principal
        .staff_audit("renew_package", "package")
        .map(|entry| package_entry(entry, &month, Some(p.id)));
    write(state, month, None, Some(p.id), audit).await
}

/// Cancels a month: the visits not issued lapse (their places back); an unpaid bill is
/// cancelled, a paid one refunded their share. Issued visits stay bookings of their own.
pub(super) async fn cancel(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    note: Option<String>,
) -> Result<Package, ApiError> {
    let p = load(state, principal, id).await?;
    if p.state != PackageState::Active.as_str() {
        return Err(ApiError::Conflict {
            kind: "wrong-state",
            detail: format!("cannot cancel a package that is {}", p.state),
        });
    }
    let visits = store::visits(&state.db, p.id).await?;
    let not_issued = visits.iter().filter(|v| v.booking_id.is_none()).count() as u32;
    let bill = match p.bill_id {
        Some(id) => {
            courtyard_domain::entities::bill::Entity::find_by_id(id)
                .one(&state.db)
                .await?
        }
        None => None,
    };
    let actor = actor_of(principal).id;
    let reason = note.unwrap_or_else(|| "包月服务已取消".into());
    let mut change = PackageCancel {
        cancel_bill: None,
        refund: None,
        audit: None,
    };
    let mut paid_by = None;
    match bill {
        Some(b) if b.state == "paid" => {
            let back = packages::cancel_refund(b.amount_fen, p.visits as u32, not_issued);
            if back > 0 {
                let payment = match b.payment_id {
                    Some(pid) => payment::Entity::find_by_id(pid).one(&state.db).await?,
                    None => None,
                }
                .ok_or_else(|| anyhow::anyhow!("paid bill {} has no payment", b.id))?;
                change.refund = Some((
                    payment.id,
                    back,
                    format!("包月取消退款（未上门 {not_issued} 次）"),
                    actor.unwrap_or_default(),
                ));
                paid_by = Some(payment);
            }
        }
        Some(b) if b.state == "open" => {
            change.cancel_bill = Some((b.id, actor, reason.clone()));
        }
        _ => {}
    }
    change.audit = principal
        .staff_audit("cancel_package", "package")
        .map(|entry| {
            let entry = entry
                .object(p.id)
                .community(p.community_id)
                .details(serde_json::json!({
                    "household_id": p.household_id,
                    "period": p.period,
                    "not_issued": not_issued,
                    "cancel_bill": change.cancel_bill.as_ref().map(|c| c.0),
                    "refund_fen": change.refund.as_ref().map(|r| r.1),
                }));
            match p.resident_id {
                Some(resident) => entry.resident(resident),
                None => entry,
            }
        });
    let now = state.clock.now();
    let (saved, refund) = store::cancel(&state.db, &p, change, now)
        .await
        .map_err(package_error)?
        .ok_or_else(|| ApiError::Conflict {
            kind: "changed-meanwhile",
            detail: "the package changed while you were acting on it; reload and try again".into(),
        })?;
    if let (Some(refund), Some(payment)) = (refund, paid_by) {
        crate::payments::refunds::send(state, &payment, refund).await?;
    }
    tracing::info!(package = %p.id, not_issued, "package cancelled");
    view(state, saved).await
}
