//! The lifecycle, the clocks, working time and the value types, without I/O.

use super::*;
use chrono::NaiveDateTime;

use crate::calendar::resolve_local;

fn hours() -> WorkingHours {
    // Mon–Fri 09:00–18:00; 2026-10-01 (a Thursday) is a holiday.
    WorkingHours::parse("09:00", "18:00", &[1, 2, 3, 4, 5], &["2026-10-01".into()]).unwrap()
}

fn shanghai(raw: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M").unwrap();
    resolve_local(chrono_tz::Asia::Shanghai, local)
}

const REPAIR: Facts = Facts {
    kind: TicketKind::Repair,
    price: None,
    booking: None,
};

#[test]
fn a_repair_walks_from_report_to_close() {
    use TicketState::*;
    let steps = [
        (Action::Dispatch, Party::Desk, Dispatched),
        (Action::Accept, Party::Assignee, Accepted),
        (Action::Arrive, Party::Assignee, OnSite),
        (Action::Complete, Party::Assignee, Completed),
        (Action::CallbackDue, Party::System, AwaitingCallback),
        (
            Action::RecordCallback { satisfied: false },
            Party::Desk,
            Reopened,
        ),
        (Action::Dispatch, Party::Manager, Dispatched),
        (Action::Accept, Party::Assignee, Accepted),
        (Action::Arrive, Party::Assignee, OnSite),
        (Action::Complete, Party::Assignee, Completed),
        (Action::Rate { satisfied: true }, Party::Resident, Closed),
    ];
    let mut state = Submitted;
    for (action, party, next) in steps {
        state = transition(state, action, &[party], REPAIR).unwrap();
        assert_eq!(state, next, "{action:?}");
    }
    assert!(state.is_final());
}

#[test]
fn only_the_right_party_may_act() {
    use TicketState::*;
    let not = |state, action, party| {
        matches!(
            transition(state, action, &[party], REPAIR),
            Err(TransitionError::NotAllowed { .. })
        )
    };
    assert!(not(OnSite, Action::Complete, Party::Resident));
    assert!(not(
        Completed,
        Action::Rate { satisfied: true },
        Party::Assignee
    ));
    assert!(not(Submitted, Action::Dispatch, Party::Assignee));
    assert!(not(Dispatched, Action::Accept, Party::Butler));
    assert!(not(Completed, Action::CallbackDue, Party::Manager));
    assert!(not(
        Completed,
        Action::RecordCallback { satisfied: true },
        Party::Resident
    ));
    // Holding one allowed capacity among others is enough.
    assert_eq!(
        transition(
            Dispatched,
            Action::Accept,
            &[Party::Butler, Party::Assignee],
            REPAIR
        ),
        Ok(Accepted)
    );
}

#[test]
fn wrong_state_names_the_current_state() {
    let err = transition(
        TicketState::Submitted,
        Action::Complete,
        &[Party::Assignee],
        REPAIR,
    )
    .unwrap_err();
    assert_eq!(
        err,
        TransitionError::WrongState {
            action: "complete",
            state: TicketState::Submitted
        }
    );
    assert_eq!(
        err.to_string(),
        "cannot complete a ticket that is submitted"
    );
    assert!(
        transition(
            TicketState::Closed,
            Action::Rate { satisfied: true },
            &[Party::Resident],
            REPAIR
        )
        .is_err()
    );
}

#[test]
fn paid_work_completes_only_with_an_accepted_price() {
    let with = |price| Facts {
        kind: TicketKind::Repair,
        price: Some(price),
        booking: None,
    };
    let complete = |facts| {
        transition(
            TicketState::OnSite,
            Action::Complete,
            &[Party::Assignee],
            facts,
        )
    };
    assert_eq!(
        complete(with(PriceStatus::Proposed)),
        Err(TransitionError::PriceNotAccepted)
    );
    assert_eq!(
        complete(with(PriceStatus::Declined)),
        Err(TransitionError::PriceNotAccepted)
    );
    assert_eq!(
        complete(with(PriceStatus::Accepted)),
        Ok(TicketState::Completed)
    );
    // A price waiting for an answer can be answered; an accepted one cannot be changed.
    let answer = |facts| {
        transition(
            TicketState::OnSite,
            Action::AnswerPrice,
            &[Party::Resident],
            facts,
        )
    };
    assert!(answer(with(PriceStatus::Proposed)).is_ok());
    assert_eq!(
        answer(with(PriceStatus::Accepted)),
        Err(TransitionError::NoPriceToAnswer)
    );
    assert_eq!(answer(REPAIR), Err(TransitionError::NoPriceToAnswer));
    assert!(
        transition(
            TicketState::OnSite,
            Action::Price,
            &[Party::Assignee],
            with(PriceStatus::Accepted)
        )
        .is_err()
    );
}

#[test]
fn cancelling_is_only_before_work_starts() {
    let cancel = |state, facts| transition(state, Action::Cancel, &[Party::Resident], facts);
    assert_eq!(
        cancel(TicketState::Accepted, REPAIR),
        Ok(TicketState::Cancelled)
    );
    assert_eq!(
        cancel(TicketState::OnSite, REPAIR),
        Err(TransitionError::WorkStarted)
    );
    // Paid work whose price the resident has not accepted has not started.
    let declined = Facts {
        kind: TicketKind::Repair,
        price: Some(PriceStatus::Declined),
        booking: None,
    };
    assert_eq!(
        cancel(TicketState::OnSite, declined),
        Ok(TicketState::Cancelled)
    );
    assert!(cancel(TicketState::Completed, REPAIR).is_err());
}

#[test]
fn complaints_are_answered_and_replied_to() {
    let facts = Facts {
        kind: TicketKind::Complaint,
        price: None,
        booking: None,
    };
    assert_eq!(
        transition(
            TicketState::Accepted,
            Action::Answer,
            &[Party::Butler],
            facts
        ),
        Ok(TicketState::Accepted)
    );
    assert_eq!(
        transition(
            TicketState::Accepted,
            Action::Complete,
            &[Party::Assignee],
            facts
        ),
        Ok(TicketState::Completed)
    );
    // Repairs have no butler answer, and are completed on site.
    assert!(
        transition(
            TicketState::Accepted,
            Action::Answer,
            &[Party::Butler],
            REPAIR
        )
        .is_err()
    );
    assert!(
        transition(
            TicketState::Accepted,
            Action::Complete,
            &[Party::Assignee],
            REPAIR
        )
        .is_err()
    );
}

#[test]
fn working_minutes_skip_nights_weekends_and_holidays() {
    let h = hours();
    let tz = chrono_tz::Asia::Shanghai;
    // Within the day.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-09-28 10:00"), tz, 60),
        shanghai("2026-09-28 11:00")
    );
    // Over the evening: 2 h left on Monday, 1 h on Tuesday.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-09-28 16:00"), tz, 180),
        shanghai("2026-09-29 10:00")
    );
    // Reported at night: the clock starts at opening time.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-09-28 22:30"), tz, 30),
        shanghai("2026-09-29 09:30")
    );
    // Wednesday 17:00 + 2 h: Thursday is a holiday, so Friday 10:00.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-09-30 17:00"), tz, 120),
        shanghai("2026-10-02 10:00")
    );
    // Friday 17:00 + 1 working day (9 h): Monday 17:00.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-10-02 17:00"), tz, 9 * 60),
        shanghai("2026-10-05 17:00")
    );
    // Saturday: counted from Monday's opening.
    assert_eq!(
        h.add_working_minutes(shanghai("2026-10-03 11:00"), tz, 0),
        shanghai("2026-10-05 09:00")
    );
}

#[test]
fn repair_clocks_follow_the_manuals() {
    let (h, tz, p) = (hours(), chrono_tz::Asia::Shanghai, TicketPolicy::default());
    let at = shanghai("2026-09-28 16:00"); // Monday
    let repair = |urgency, public_area, agreed_by| Subject::Repair {
        urgency,
        public_area,
        agreed_by,
    };
    let emergency = work_clocks(repair(Urgency::Emergency, false, None), at, &p, &h, tz);
    assert_eq!(emergency.len(), 2);
    assert_eq!(emergency[0].kind, ClockKind::Arrive);
    assert_eq!(emergency[0].due_at, at + Duration::minutes(15));
    // Warned with 20 % of the span left: 12 minutes in.
    assert_eq!(emergency[0].warn_at, at + Duration::minutes(12));
    assert_eq!(emergency[1].due_at, at + Duration::hours(6));
    // Even in a public area an emergency is an emergency.
    assert_eq!(
        work_clocks(repair(Urgency::Emergency, true, None), at, &p, &h, tz)[0].kind,
        ClockKind::Arrive
    );
    let simple = work_clocks(repair(Urgency::Simple, false, None), at, &p, &h, tz);
    // Half of a 9-hour day: 2 h on Monday, 2.5 h on Tuesday.
    assert_eq!(simple[0].due_at, shanghai("2026-09-29 11:30"));
    let ordinary = work_clocks(repair(Urgency::Ordinary, false, None), at, &p, &h, tz);
    assert_eq!(ordinary[0].due_at, shanghai("2026-09-29 16:00"));
    let public = work_clocks(repair(Urgency::Ordinary, true, None), at, &p, &h, tz);
    // Three working days, skipping the 1 October holiday.
    assert_eq!(public[0].due_at, shanghai("2026-10-02 16:00"));
    // An agreed time is kept ...
    let agreed = shanghai("2026-09-30 10:00");
    assert_eq!(
        work_clocks(
            repair(Urgency::Ordinary, false, Some(agreed)),
            at,
            &p,
            &h,
            tz
        )[0]
        .due_at,
        agreed
    );
    // ... but never past 7 working days.
    let far = shanghai("2026-11-30 10:00");
    assert_eq!(
        work_clocks(repair(Urgency::Ordinary, false, Some(far)), at, &p, &h, tz)[0].due_at,
        shanghai("2026-10-08 16:00")
    );
}

#[test]
fn complaint_clocks_follow_the_manuals() {
    let (h, tz, p) = (hours(), chrono_tz::Asia::Shanghai, TicketPolicy::default());
    let at = shanghai("2026-09-28 10:00");
    let clocks = work_clocks(
        Subject::Complaint {
            category: ComplaintCategory::NeighbourBehaviour,
            severity: Severity::Ordinary,
        },
        at,
        &p,
        &h,
        tz,
    );
    let due = |kind| clocks.iter().find(|c| c.kind == kind).unwrap().due_at;
    assert_eq!(due(ClockKind::Answer), at + Duration::hours(4));
    assert_eq!(due(ClockKind::Arrive), at + Duration::minutes(15));
    // Four working days, the holiday skipped.
    assert_eq!(due(ClockKind::Resolve), shanghai("2026-10-05 10:00"));
    let attitude = |severity| {
        work_clocks(
            Subject::Complaint {
                category: ComplaintCategory::ServiceAttitude,
                severity,
            },
            at,
            &p,
            &h,
            tz,
        )
    };
    assert_eq!(attitude(Severity::Ordinary).len(), 2);
    assert_eq!(
        attitude(Severity::Ordinary)[1].due_at,
        shanghai("2026-09-28 14:30")
    );
    assert_eq!(
        attitude(Severity::Serious)[1].due_at,
        shanghai("2026-09-30 10:00")
    );
    let callback = callback_clock(TicketKind::Complaint, at, &p, &h, tz);
    assert_eq!(callback.due_at, at + Duration::days(3));
    let callback = callback_clock(TicketKind::Repair, at, &p, &h, tz);
    assert_eq!(callback.due_at, at + Duration::hours(48));
}

#[test]
fn policies_round_trip_and_are_checked() {
    let mut policy = TicketPolicy::default();
    policy
        .departments
        .insert(RepairCategory::PublicFacility, Department::Cleaning);
    let json = serde_json::to_value(&policy).unwrap();
    assert_eq!(
        json["emergency_arrive"],
        serde_json::json!({ "minutes": 15 })
    );
    assert_eq!(
        json["simple_fix"],
        serde_json::json!({ "working_days": 0.5 })
    );
    let back: TicketPolicy = serde_json::from_value(json).unwrap();
    assert_eq!(back, policy);
    assert_eq!(
        back.department_for(RepairCategory::PublicFacility),
        Department::Cleaning
    );
    assert_eq!(
        back.department_for(RepairCategory::Water),
        Department::Engineering
    );
    // Missing fields take the defaults.
    let partial: TicketPolicy =
        serde_json::from_value(serde_json::json!({ "emergency_arrive": { "minutes": 10 } }))
            .unwrap();
    assert_eq!(partial.emergency_arrive, Span::Minutes(10));
    assert_eq!(partial.emergency_fix, Span::Minutes(360));
    policy.simple_fix = Span::WorkingDays(0.3);
    assert!(policy.check().is_err());
    policy.simple_fix = Span::Minutes(0);
    assert!(policy.check().is_err());
}

#[test]
fn ratings_and_money_are_parsed() {
    assert_eq!(Rating::parse(5).unwrap().stars(), 5);
    assert!(Rating::parse(0).is_err());
    assert!(Rating::parse(6).is_err());
    assert_eq!(Fen::parse(1250).unwrap().display_yuan(), "¥12.50");
    assert!(Fen::parse(0).is_err());
    assert!(Fen::parse(-5).is_err());
}

#[test]
fn ticket_categories_are_the_repair_complaint_and_service_categories() {
    let mut union: Vec<&str> = RepairCategory::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(ComplaintCategory::ALL.iter().map(|c| c.as_str()))
        .chain(
            crate::services::ServiceCategory::ALL
                .iter()
                .map(|c| c.as_str()),
        )
        .collect();
    union.sort_unstable();
    union.dedup();
    let mut all: Vec<&str> = TicketCategory::ALL.iter().map(|c| c.as_str()).collect();
    all.sort_unstable();
    assert_eq!(all, union);
}
