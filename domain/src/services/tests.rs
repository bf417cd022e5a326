use chrono::{NaiveDate, TimeZone};

use super::*;
use crate::tickets::{
    Action, BookingFacts, Facts, Party, PriceStatus, TicketKind, TicketState, TransitionError,
    transition,
};

fn hours() -> WorkingHours {
    WorkingHours::parse(
        "09:00",
        "18:00",
        &[1, 2, 3, 4, 5, 6],
        &["2026-12-25".into()],
    )
    .unwrap()
}

const TZ: Tz = chrono_tz::Asia::Shanghai;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn a_day_is_cut_into_whole_slots_of_working_hours() {
    let plan = SlotPlan::new(120, 3).unwrap();
    // Tuesday 2026-12-08: 09-11, 11-13, 13-15, 15-17 (17-19 would pass closing time).
    let day = plan.day(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(), &hours(), TZ);
    assert_eq!(day.len(), 4);
    assert_eq!(
        day[0],
        (local(2026, 12, 8, 9, 0), local(2026, 12, 8, 11, 0))
    );
    assert_eq!(
        day[3],
        (local(2026, 12, 8, 15, 0), local(2026, 12, 8, 17, 0))
    );
    // Sunday and a holiday have none.
    assert!(
        plan.day(NaiveDate::from_ymd_opt(2026, 12, 13).unwrap(), &hours(), TZ)
            .is_empty()
    );
    assert!(
        plan.day(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(), &hours(), TZ)
            .is_empty()
    );
    // Half-hour slots fill the day exactly.
    let short = SlotPlan::new(30, 1).unwrap();
    assert_eq!(
        short
            .day(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(), &hours(), TZ)
            .len(),
        18
    );
}

#[test]
fn slot_plans_are_checked() {
    assert_eq!(SlotPlan::new(45, 1).unwrap_err().0, "slot_minutes");
    assert_eq!(SlotPlan::new(0, 1).unwrap_err().0, "slot_minutes");
    assert_eq!(SlotPlan::new(600, 1).unwrap_err().0, "slot_minutes");
    assert_eq!(SlotPlan::new(60, 0).unwrap_err().0, "size");
    assert_eq!(SlotPlan::new(60, 101).unwrap_err().0, "size");
}

#[test]
fn prices_are_checked_and_charged_in_fen() {
    let hourly = Price::new(Pricing::PerHour, Some(5_000), Some(2)).unwrap();
    assert_eq!(hourly.quantity(None).unwrap(), 2);
    assert_eq!(hourly.quantity(Some(3)).unwrap(), 3);
    assert!(hourly.quantity(Some(1)).is_err());
    assert!(hourly.quantity(Some(13)).is_err());
    assert_eq!(hourly.estimate(3), Some(15_000));
    assert_eq!(hourly.amount(Worked::Hours(4)).unwrap(), 20_000);
    // At least the minimum is charged.
    assert_eq!(hourly.amount(Worked::Hours(1)).unwrap(), 10_000);
    assert!(hourly.amount(Worked::Job).is_err());

    let fixed = Price::new(Pricing::Fixed, Some(19_900), None).unwrap();
    assert_eq!(fixed.estimate(1), Some(19_900));
    assert_eq!(fixed.amount(Worked::Job).unwrap(), 19_900);
    assert!(fixed.quantity(Some(2)).is_err());

    let laundry = Price::new(Pricing::PerItem, Some(1_500), None).unwrap();
    assert_eq!(laundry.estimate(1), None);
    assert_eq!(laundry.amount(Worked::Items(7)).unwrap(), 10_500);
    assert!(laundry.amount(Worked::Items(0)).is_err());

    let quoted = Price::new(Pricing::Quoted, None, None).unwrap();
    assert_eq!(quoted.estimate(1), None);
    assert_eq!(quoted.amount(Worked::Quote(35_000)).unwrap(), 35_000);

    assert_eq!(
        Price::new(Pricing::Quoted, Some(1), None).unwrap_err().0,
        "price_fen"
    );
    assert_eq!(
        Price::new(Pricing::Fixed, None, None).unwrap_err().0,
        "price_fen"
    );
    assert_eq!(
        Price::new(Pricing::Fixed, Some(0), None).unwrap_err().0,
        "price_fen"
    );
    assert_eq!(
        Price::new(Pricing::PerHour, Some(1), Some(13))
            .unwrap_err()
            .0,
        "min_quantity"
    );
    assert!(Pricing::Fixed.can_prepay() && !Pricing::PerHour.can_prepay());
    assert_eq!(Pricing::Fixed.default_pay(), PayWhen::Before);
    assert_eq!(Pricing::Quoted.default_pay(), PayWhen::After);
}

#[test]
fn cancelling_is_free_until_the_notice_then_costs_the_share() {
    let policy = ServicePolicy::default();
    let slot = local(2026, 12, 9, 9, 0);
    // 25 hours before: free.
    let early = policy.cancellation(slot, slot - Duration::hours(25), false, Some(15_000));
    assert_eq!(
        early,
        Cancellation {
            late: false,
            fee_fen: 0
        }
    );
    // 23 hours before: 20 % of ¥150.
    let late = policy.cancellation(slot, slot - Duration::hours(23), false, Some(15_000));
    assert_eq!(
        late,
        Cancellation {
            late: true,
            fee_fen: 3_000
        }
    );
    // Staff cancel free at any time.
    let staff = policy.cancellation(slot, slot - Duration::hours(1), true, Some(15_000));
    assert_eq!(staff.fee_fen, 0);
    // Rounded half up to the fen; at least the minimum, never more than the price.
    let odd = ServicePolicy {
        late_cancel_fee_percent: 15,
        late_cancel_min_fen: 500,
        ..ServicePolicy::default()
    };
    assert_eq!(
        odd.cancellation(slot, slot, false, Some(10_010)).fee_fen,
        1_502
    );
    assert_eq!(
        odd.cancellation(slot, slot, false, Some(1_000)).fee_fen,
        500
    );
    assert_eq!(odd.cancellation(slot, slot, false, Some(300)).fee_fen, 300);
    // An amount not known yet (items, a quote): the minimum.
    assert_eq!(odd.cancellation(slot, slot, false, None).fee_fen, 500);
    assert_eq!(policy.cancellation(slot, slot, false, None).fee_fen, 0);
}

#[test]
fn slots_are_bookable_inside_the_window_only() {
    let policy = ServicePolicy::default();
    let now = local(2026, 12, 8, 9, 0);
    assert!(policy.bookable(now + Duration::minutes(119), now).is_err());
    assert!(policy.bookable(now + Duration::minutes(120), now).is_ok());
    assert!(policy.bookable(now + Duration::days(14), now).is_ok());
    assert!(policy.bookable(now + Duration::days(15), now).is_err());
}

#[test]
fn clocks_run_on_working_time_from_booking_and_from_the_slot() {
    let policy = ServicePolicy {
        confirm: Span::WorkingDays(0.5),
        ..ServicePolicy::default()
    };
    // Booked at 16:00 on a Saturday: half a working day (4.5 h) runs into Monday.
    let booked = local(2026, 12, 12, 16, 0);
    let confirm = policy.confirm_clock(booked, &hours(), TZ);
    assert_eq!(confirm.kind, ClockKind::Confirm);
    assert_eq!(confirm.due_at, local(2026, 12, 14, 11, 30));
    let slot = (local(2026, 12, 14, 13, 0), local(2026, 12, 14, 15, 0));
    let [arrive, resolve] = policy.work_clocks(booked, slot, &hours(), TZ);
    assert_eq!(arrive.kind, ClockKind::Arrive);
    assert_eq!(arrive.due_at, local(2026, 12, 14, 13, 15));
    assert_eq!(resolve.kind, ClockKind::Resolve);
    assert_eq!(resolve.due_at, local(2026, 12, 14, 16, 0));
}

#[test]
fn policies_are_checked_naming_the_field() {
    assert!(ServicePolicy::default().check().is_ok());
    let bad = |p: ServicePolicy| p.check().unwrap_err().0;
    assert_eq!(
        bad(ServicePolicy {
            late_cancel_fee_percent: 101,
            ..Default::default()
        }),
        "late_cancel_fee_percent"
    );
    assert_eq!(
        bad(ServicePolicy {
            book_ahead_days: 0,
            ..Default::default()
        }),
        "book_ahead_days"
    );
    assert_eq!(
        bad(ServicePolicy {
            pay_within_minutes: 1,
            ..Default::default()
        }),
        "pay_within_minutes"
    );
    assert_eq!(
        bad(ServicePolicy {
            confirm: Span::Minutes(0),
            ..Default::default()
        }),
        "confirm"
    );
    assert_eq!(
        bad(ServicePolicy {
            late_cancel_min_fen: -1,
            ..Default::default()
        }),
        "late_cancel_min_fen"
    );
}

fn booking(time: TimeStatus, quoted: bool, unpaid: bool) -> Facts {
    Facts {
        kind: TicketKind::ServiceBooking,
        price: None,
        booking: Some(BookingFacts {
            time,
            quoted,
            unpaid,
        }),
    }
}

#[test]
fn the_time_is_confirmed_before_the_order_is_issued() {
    use TicketState::*;
    let desk = [Party::Desk];
    let resident = [Party::Resident];
    let requested = booking(TimeStatus::Requested, false, false);
    // Dispatching a booking straight away is refused: confirm its time.
    assert_eq!(
        transition(Submitted, Action::Dispatch, &desk, requested),
        Err(TransitionError::TimeNotConfirmed)
    );
    assert_eq!(
        transition(Submitted, Action::ConfirmTime, &desk, requested),
        Ok(Dispatched)
    );
    // Residents do not confirm; staff cannot confirm what waits for the resident.
    assert!(matches!(
        transition(Submitted, Action::ConfirmTime, &resident, requested),
        Err(TransitionError::NotAllowed { .. })
    ));
    let proposed = booking(TimeStatus::Proposed, false, false);
    assert_eq!(
        transition(Submitted, Action::ConfirmTime, &desk, proposed),
        Err(TransitionError::NoTimeToAnswer)
    );
    assert_eq!(
        transition(Submitted, Action::ProposeTime, &desk, requested),
        Ok(Submitted)
    );
    assert_eq!(
        transition(
            Submitted,
            Action::AnswerTime { accept: true },
            &resident,
            proposed
        ),
        Ok(Dispatched)
    );
    assert_eq!(
        transition(
            Submitted,
            Action::AnswerTime { accept: false },
            &resident,
            proposed
        ),
        Ok(Submitted)
    );
    assert_eq!(
        transition(
            Submitted,
            Action::AnswerTime { accept: true },
            &resident,
            requested
        ),
        Err(TransitionError::NoTimeToAnswer)
    );
    // Once issued, the time steps are over.
    assert!(matches!(
        transition(
            Dispatched,
            Action::ProposeTime,
            &desk,
            booking(TimeStatus::Confirmed, false, false)
        ),
        Err(TransitionError::WrongState { .. })
    ));
    // A booking paid at booking is confirmed once paid.
    let unpaid = booking(TimeStatus::Requested, false, true);
    assert_eq!(
        transition(Submitted, Action::ConfirmTime, &desk, unpaid),
        Err(TransitionError::Unpaid)
    );
    // A reopened booking goes back to the team by dispatch.
    assert_eq!(
        transition(
            Reopened,
            Action::Dispatch,
            &desk,
            booking(TimeStatus::Confirmed, false, false)
        ),
        Ok(Dispatched)
    );
    // Time steps are for bookings only.
    let repair = Facts {
        kind: TicketKind::Repair,
        price: None,
        booking: None,
    };
    assert!(matches!(
        transition(Submitted, Action::ConfirmTime, &desk, repair),
        Err(TransitionError::WrongState { .. })
    ));
}

#[test]
fn a_quoted_booking_completes_only_at_an_accepted_price() {
    use TicketState::*;
    let assignee = [Party::Assignee];
    let quoted = booking(TimeStatus::Confirmed, true, false);
    assert_eq!(
        transition(OnSite, Action::Complete, &assignee, quoted),
        Err(TransitionError::PriceNotAccepted)
    );
    let proposed = Facts {
        price: Some(PriceStatus::Proposed),
        ..quoted
    };
    assert_eq!(
        transition(OnSite, Action::Complete, &assignee, proposed),
        Err(TransitionError::PriceNotAccepted)
    );
    let accepted = Facts {
        price: Some(PriceStatus::Accepted),
        ..quoted
    };
    assert_eq!(
        transition(OnSite, Action::Complete, &assignee, accepted),
        Ok(Completed)
    );
    assert_eq!(
        transition(OnSite, Action::Price, &assignee, quoted),
        Ok(OnSite)
    );
    // A catalog price is not quoted again.
    let hourly = booking(TimeStatus::Confirmed, false, false);
    assert_eq!(
        transition(OnSite, Action::Price, &assignee, hourly),
        Err(TransitionError::NotQuoted)
    );
    assert_eq!(
        transition(OnSite, Action::Complete, &assignee, hourly),
        Ok(Completed)
    );
}

#[test]
fn a_package_is_paid_ahead_and_its_visits_cost_nothing_more() {
    assert_eq!(Pricing::Package.default_pay(), PayWhen::Before);
    assert!(Pricing::Package.can_prepay() && !Pricing::Package.can_pay_after());
    let price = Price::new(Pricing::Package, Some(40_000), None).unwrap();
    assert_eq!(price.estimate(1), Some(40_000));
    assert_eq!(price.amount(Worked::Job), Ok(0));
    assert!(Price::new(Pricing::Package, None, None).is_err());
    let mut policy = ServicePolicy::default();
    assert_eq!(policy.visit_issue_days, 2);
    policy.visit_issue_days = 0;
    assert_eq!(policy.check().unwrap_err().0, "visit_issue_days");
    // A policy stored before packages existed reads with their defaults.
    let old = serde_json::json!({ "cancel_notice_hours": 12 });
    let read = ServicePolicy::from_stored(Some(&old));
    assert_eq!(read.cancel_notice_hours, 12);
    assert_eq!(read.package_unused, packages::UnusedVisits::Lapse);
}

#[test]
fn utilisation_is_places_taken_of_places_offered() {
    assert_eq!(utilisation_bp(0, 0), None);
    assert_eq!(utilisation_bp(0, 8), Some(0));
    assert_eq!(utilisation_bp(3, 8), Some(3_750));
    assert_eq!(utilisation_bp(1, 3), Some(3_333));
    assert_eq!(utilisation_bp(2, 3), Some(6_667));
    assert_eq!(utilisation_bp(8, 8), Some(10_000));
}
