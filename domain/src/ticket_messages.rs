//! Who hears of a ticket event, and what they read. The resident follows their ticket's
//! steps (dispatch, arrival, completion: the pushes) and the staff get their work:
//! the assignee a new work order, the household's butler the same moment
//! ("受理人通知贴心管家"), the supervisors a breached SLA. Pure: the workers load the rows
//! and send what these functions decide.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::{
    notifications::Rendered,
    people::{Locale, string_enum},
    tickets::{ClockKind, ComplaintCategory, EventAction, Fen, RepairCategory, TicketKind},
};

string_enum! {
    /// Who did what an event records: `ticket_events.actor_kind`.
    ActorKind {
        /// The resident (or a member of their household).
        Resident = "resident",
        /// A staff member.
        Staff = "staff",
        /// The workers (SLA watch, callback window).
        System = "system",
    }
}

string_enum! {
    /// In what capacity someone hears of an event; a staff member who holds several hears
    /// once, in the first of supervisor, assignee, butler.
    Role {
        /// The resident the ticket is for.
        Resident = "resident",
        /// A supervisor of the ticket's community.
        Supervisor = "supervisor",
        /// The staff member the ticket is assigned to.
        Assignee = "assignee",
        /// The household's butler (贴心管家).
        Butler = "butler",
    }
}

/// Who is told of one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recipients {
    /// The ticket's resident.
    pub resident: bool,
    /// The assignee, if the ticket has one.
    pub assignee: bool,
    /// The butler, if the ticket has one.
    pub butler: bool,
    /// The community's supervisors.
    pub supervisors: bool,
}

impl Recipients {
    /// Whether nobody is told.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What the rule needs to know about an event besides its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFacts {
    /// Who did it.
    pub actor: ActorKind,
    /// The front desk registered the ticket for the resident (phone, walk-in).
    pub registered_by_desk: bool,
    /// Repair, complaint or booking.
    pub kind: TicketKind,
}

/// Who is told of `action`.
pub fn recipients(action: EventAction, facts: EventFacts) -> Recipients {
    use EventAction::*;
    let (resident, assignee, butler, supervisors) = match action {
        // A resident who reported in the app knows; one the front desk registered for is
        // told it is on record. A complaint is routed to the butler as its assignee: they
        // hear of it once, by its dispatch.
        Reported => (
            facts.registered_by_desk,
            true,
            facts.kind != TicketKind::Complaint,
            false,
        ),
        Dispatched | Reassigned => (true, true, true, false),
        // A booking's time confirmed: the resident and the team leader who gets the order;
        // accepted by the resident: the team leader.
        Confirmed => (true, true, false, false),
        TimeAccepted => (false, true, false, false),
        TimeProposed => (true, false, false, false),
        // A laundry order's steps: the resident follows them.
        PickedUp | AtVendor | Returned => (true, false, false, false),
        // A claim: the resident (unless they raised it), the team leader and the butler;
        // its settlement: the resident.
        ClaimRecorded => (facts.actor != ActorKind::Resident, true, true, false),
        ClaimSettled => (true, false, false, false),
        Accepted | Arrived | Priced => (true, false, false, false),
        PriceAccepted | PriceDeclined => (false, true, false, false),
        Completed => (true, false, true, false),
        Reopened | Closed | SlaWarned => (false, true, true, false),
        // Withdrawn by staff or the workers: the resident did not do it themselves.
        Cancelled => (facts.actor != ActorKind::Resident, true, true, false),
        SlaBreached => (false, true, true, true),
        Answered | Rated | CallbackRecorded | CallbackUnreached | CallbackDue | PhotoAdded
        | TimeDeclined => (false, false, false, false),
    };
    Recipients {
        resident,
        assignee,
        butler,
        supervisors,
    }
}

/// The staff to tell, each once in their first role (supervisor, assignee, butler), never
/// the staff member who did it.
pub fn staff_recipients(
    told: Recipients,
    assignee: Option<Uuid>,
    butler: Option<Uuid>,
    supervisors: &[Uuid],
    actor: Option<Uuid>,
) -> Vec<(Uuid, Role)> {
    let mut out: Vec<(Uuid, Role)> = Vec::new();
    let mut add = |id: Uuid, role| {
        if Some(id) != actor && !out.iter().any(|(seen, _)| *seen == id) {
            out.push((id, role));
        }
    };
    if told.supervisors {
        for &id in supervisors {
            add(id, Role::Supervisor);
        }
    }
    if told.assignee
        && let Some(id) = assignee
    {
        add(id, Role::Assignee);
    }
    if told.butler
        && let Some(id) = butler
    {
        add(id, Role::Butler);
    }
    out
}

/// What a ticket message is rendered from.
#[derive(Debug, Clone)]
pub struct TicketText<'a> {
    /// Repair or complaint.
    pub kind: TicketKind,
    /// The stored category (`water`, `service_attitude`, ...).
    pub category: &'a str,
    /// The community's name.
    pub community: &'a str,
    /// The household (`1栋1单元101`) or the public-area location; may be empty.
    pub address: &'a str,
    /// The assignee's name.
    pub assignee: Option<&'a str>,
    /// The stated price.
    pub price_fen: Option<i64>,
    /// The SLA clock an `sla_*` event is about.
    pub clock: Option<ClockKind>,
    /// When that clock is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Reworks so far.
    pub rework: i32,
    /// A booking's service name (`日常保洁（钟点）`).
    pub service: Option<&'a str>,
    /// A booking's slot: when the work is to start.
    pub starts_at: Option<DateTime<Utc>>,
    /// A laundry step's items (counted at pickup, claimed on return).
    pub items: Option<i64>,
    /// When the vendor returns a laundry order.
    pub return_on: Option<chrono::NaiveDate>,
}

/// The category as people say it.
fn category_label(kind: TicketKind, raw: &str, locale: Locale) -> String {
    let zh = locale == Locale::ZhCn;
    let label = match kind {
        TicketKind::Repair => RepairCategory::parse(raw).ok().map(|c| {
            use RepairCategory::*;
            match (c, zh) {
                (Water, true) => "水路",
                (Water, false) => "water",
                (Electricity, true) => "电路",
                (Electricity, false) => "electrical",
                (Gas, true) => "燃气",
                (Gas, false) => "gas",
                (DoorLock, true) => "门锁",
                (DoorLock, false) => "door/lock",
                (Appliance, true) => "家电",
                (Appliance, false) => "appliance",
                (Structure, true) => "房屋结构",
                (Structure, false) => "structural",
                (PublicFacility, true) => "公共设施",
                (PublicFacility, false) => "public facility",
                (Other, true) => "其他",
                (Other, false) => "other",
            }
        }),
        TicketKind::Complaint => ComplaintCategory::parse(raw).ok().map(|c| {
            use ComplaintCategory::*;
            match (c, zh) {
                (ServiceAttitude, true) => "服务态度",
                (ServiceAttitude, false) => "service attitude",
                (Engineering, true) => "工程质量",
                (Engineering, false) => "engineering",
                (NeighbourBehaviour, true) => "邻里行为",
                (NeighbourBehaviour, false) => "neighbour",
                (Environment, true) => "环境卫生",
                (Environment, false) => "environment",
                (Security, true) => "安全",
                (Security, false) => "security",
                (Other, true) => "其他",
                (Other, false) => "other",
            }
        }),
        TicketKind::ServiceBooking => None,
    };
    // A category this build does not know still reads as itself.
    label.map_or_else(|| raw.to_owned(), str::to_owned)
}

/// The clock as a deadline's name.
fn clock_label(kind: TicketKind, clock: Option<ClockKind>, locale: Locale) -> &'static str {
    let complaint = kind == TicketKind::Complaint;
    match (clock, locale) {
        (Some(ClockKind::Arrive), Locale::ZhCn) => "到场",
        (Some(ClockKind::Arrive), Locale::En) => "arrival",
        (Some(ClockKind::Answer), Locale::ZhCn) => "答复前台",
        (Some(ClockKind::Answer), Locale::En) => "front-desk answer",
        (Some(ClockKind::Resolve), Locale::ZhCn) if complaint => "答复业主",
        (Some(ClockKind::Resolve), Locale::En) if complaint => "reply",
        (Some(ClockKind::Resolve), Locale::ZhCn) => "修复",
        (Some(ClockKind::Resolve), Locale::En) => "fix",
        (Some(ClockKind::Callback), Locale::ZhCn) => "回访",
        (Some(ClockKind::Callback), Locale::En) => "callback",
        (Some(ClockKind::Confirm), Locale::ZhCn) => "确认预约时间",
        (Some(ClockKind::Confirm), Locale::En) => "booking confirmation",
        (None, Locale::ZhCn) => "处理",
        (None, Locale::En) => "handling",
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The message one recipient gets of `action`, in their locale; times in the community's
/// time zone `tz`.
pub fn render(
    role: Role,
    action: EventAction,
    t: &TicketText<'_>,
    locale: Locale,
    tz: Tz,
) -> Rendered {
    if t.kind == TicketKind::ServiceBooking {
        return crate::services::messages::render(role, action, t, locale, tz);
    }
    match locale {
        Locale::ZhCn => render_zh(role, action, t, tz),
        Locale::En => render_en(role, action, t, tz),
    }
}

fn render_zh(role: Role, action: EventAction, t: &TicketText<'_>, tz: Tz) -> Rendered {
    use EventAction::*;
    let complaint = t.kind == TicketKind::Complaint;
    let kind = if complaint { "投诉" } else { "报修" };
    let cat = category_label(t.kind, t.category, Locale::ZhCn);
    let subject = format!("{cat}{kind}");
    let place = format!("{}{}", t.community, t.address);
    // Named when someone is assigned; a step is never announced with a blank name.
    let worker = t
        .assignee
        .map_or_else(|| "维修人员".to_owned(), |n| format!("维修人员 {n}"));
    let staff = t
        .assignee
        .map_or_else(|| "工作人员".to_owned(), |n| format!("工作人员 {n}"));
    let price = t
        .price_fen
        .and_then(|f| Fen::parse(f).ok())
        .map_or_else(String::new, Fen::display_yuan);
    let clock = clock_label(t.kind, t.clock, Locale::ZhCn);
    let due = t.due_at.map_or_else(String::new, |d| {
        format!("（{}）", d.with_timezone(&tz).format("%m-%d %H:%M"))
    });
    let msg = |title: &str, body: String| Rendered {
        title: title.to_owned(),
        body,
    };
    match (role, action) {
        (Role::Resident, Reported) if complaint => msg(
            "投诉已登记",
            format!("您的{subject}已由客服登记，我们会尽快处理并答复您。"),
        ),
        (Role::Resident, Reported) => msg(
            "报修已登记",
            format!("您的{subject}已由客服登记，我们会尽快安排维修。"),
        ),
        (Role::Resident, Dispatched | Reassigned) if complaint => msg(
            "投诉已受理",
            match t.assignee {
                Some(name) => format!("您的投诉已转交 {name} 处理，我们会尽快答复您。"),
                None => "您的投诉已转交专人处理，我们会尽快答复您。".to_owned(),
            },
        ),
        (Role::Resident, Dispatched | Reassigned) => {
            let step = if action == Reassigned {
                "已改派"
            } else {
                "已派单"
            };
            let who = t
                .assignee
                .map_or_else(|| "维修人员".to_owned(), |n| format!("维修人员 {n} "));
            msg(
                &format!("报修{step}"),
                format!("您的报修{step}，{who}将尽快联系您。"),
            )
        }
        (Role::Resident, Accepted) if complaint => {
            msg("投诉处理中", format!("{staff} 已接手处理您的投诉。"))
        }
        (Role::Resident, Accepted) => {
            msg("维修人员已接单", format!("{worker} 已接单，将尽快上门。"))
        }
        (Role::Resident, Arrived) if complaint => {
            msg("工作人员已到场", format!("{staff} 已到场处理。"))
        }
        (Role::Resident, Arrived) => msg("维修人员已到达", format!("{worker} 已到达现场。")),
        (Role::Resident, Priced) => msg(
            "维修报价",
            format!("本次维修费用为 {price}，请在应用中确认是否接受，确认后开始施工。"),
        ),
        (Role::Resident, Completed) if complaint => msg(
            "投诉已处理",
            format!("您的{subject}已处理完毕，请在应用中评价处理结果。"),
        ),
        (Role::Resident, Completed) => msg(
            "维修已完成",
            format!("您的{subject}已处理完毕，请在应用中为本次服务评价。"),
        ),
        (Role::Resident, Cancelled) => msg(
            &format!("{kind}已取消"),
            format!("您的{subject}已取消，如有疑问请联系客服。"),
        ),
        (Role::Resident, _) => msg(
            &format!("{kind}进度更新"),
            format!("您的{subject}有新进展，请在应用中查看。"),
        ),
        (Role::Assignee, Reported | Dispatched | Reassigned) if complaint => msg(
            "新投诉",
            format!("新投诉：{place} {subject}，请及时处理并答复前台。"),
        ),
        (Role::Assignee, Reported | Dispatched | Reassigned) => {
            msg("新工单", format!("新工单：{place} {subject}，请及时接单。"))
        }
        (Role::Butler, Reported) => msg(
            &format!("新{kind}"),
            format!("新{kind}：{place} {subject}，请留意跟进。"),
        ),
        (Role::Butler, Dispatched | Reassigned) => {
            let step = if action == Reassigned {
                "已改派"
            } else {
                "已派单"
            };
            let to = t.assignee.map_or_else(String::new, |n| format!("给 {n}"));
            msg(
                &format!("工单{step}"),
                format!("{place} {subject}{step}{to}，请知悉。"),
            )
        }
        (_, PriceAccepted) => msg(
            "报价已接受",
            format!("业主已接受报价 {price}：{place} {subject}，可以开始施工。"),
        ),
        (_, PriceDeclined) => msg(
            "报价未接受",
            format!("业主未接受报价 {price}：{place} {subject}，请与业主沟通。"),
        ),
        (_, Completed) => msg(
            "工单已完成",
            format!("{place} {subject}已完成，等待业主评价。"),
        ),
        (_, Reopened) => {
            let round = if t.rework > 0 {
                format!("（第{}次返工）", t.rework)
            } else {
                String::new()
            };
            msg(
                "工单返工",
                format!("{place} {subject}业主不满意，需返工{round}，请尽快处理。"),
            )
        }
        (_, Closed) => msg(
            "工单已关闭",
            format!("{place} {subject}业主满意，工单已关闭。"),
        ),
        (_, Cancelled) => msg(
            "工单已取消",
            format!("{place} {subject}已取消，无需继续处理。"),
        ),
        (_, SlaWarned) => msg(
            "工单即将超时",
            format!("工单即将超时：{place} {subject}的{clock}时限将至{due}，请尽快处理。"),
        ),
        (Role::Supervisor, SlaBreached) => {
            let who = t
                .assignee
                .map_or_else(String::new, |n| format!("，处理人 {n}"));
            msg(
                "工单超时",
                format!("工单超时：{place} {subject}已超过{clock}时限{due}{who}。"),
            )
        }
        (_, SlaBreached) => msg(
            "工单超时",
            format!("工单超时：{place} {subject}已超过{clock}时限{due}，已上报主管。"),
        ),
        _ => msg("工单更新", format!("{place} {subject}有新进展。")),
    }
}

fn render_en(role: Role, action: EventAction, t: &TicketText<'_>, tz: Tz) -> Rendered {
    use EventAction::*;
    let complaint = t.kind == TicketKind::Complaint;
    let kind = if complaint { "complaint" } else { "repair" };
    let cat = category_label(t.kind, t.category, Locale::En);
    let subject = format!("{cat} {kind}");
    let place = match (t.address.is_empty(), t.community.is_empty()) {
        (false, false) => format!("{}, {}", t.address, t.community),
        (false, true) => t.address.to_owned(),
        _ => t.community.to_owned(),
    };
    let name = t.assignee.unwrap_or("Our staff");
    let price = t
        .price_fen
        .and_then(|f| Fen::parse(f).ok())
        .map_or_else(String::new, Fen::display_yuan);
    let clock = clock_label(t.kind, t.clock, Locale::En);
    let due = t.due_at.map_or_else(String::new, |d| {
        format!(" ({})", d.with_timezone(&tz).format("%m-%d %H:%M"))
    });
    let msg = |title: &str, body: String| Rendered {
        title: title.to_owned(),
        body,
    };
    match (role, action) {
        (Role::Resident, Reported) if complaint => msg(
            "Complaint registered",
            format!(
                "The front desk has registered your {subject}; we will look into it and reply soon."
            ),
        ),
        (Role::Resident, Reported) => msg(
            "Repair registered",
            format!("The front desk has registered your {subject}; we will arrange the work soon."),
        ),
        (Role::Resident, Dispatched | Reassigned) if complaint => msg(
            "Complaint assigned",
            match t.assignee {
                Some(name) => format!("Your complaint is now with {name}; we will reply soon."),
                None => "Your complaint is now with our staff; we will reply soon.".to_owned(),
            },
        ),
        (Role::Resident, Dispatched | Reassigned) => {
            let step = if action == Reassigned {
                "reassigned"
            } else {
                "dispatched"
            };
            let who = t.assignee.unwrap_or("a technician");
            msg(
                &format!("Repair {step}"),
                format!("Your repair has been {step}; {who} will contact you soon."),
            )
        }
        (Role::Resident, Accepted) if complaint => msg(
            "Complaint in hand",
            format!("{name} is handling your complaint."),
        ),
        (Role::Resident, Accepted) => msg(
            "Repair accepted",
            format!("{name} has accepted your repair and will visit soon."),
        ),
        (Role::Resident, Arrived) if complaint => {
            msg("Staff on site", format!("{name} is on site to help."))
        }
        (Role::Resident, Arrived) => msg("Technician arrived", format!("{name} has arrived.")),
        (Role::Resident, Priced) => msg(
            "Repair quote",
            format!(
                "This repair costs {price}. Please accept or decline it in the app; the work starts once you accept."
            ),
        ),
        (Role::Resident, Completed) if complaint => msg(
            "Complaint resolved",
            format!("Your {subject} has been handled. Please rate how it was handled in the app."),
        ),
        (Role::Resident, Completed) => msg(
            "Repair done",
            format!("Your {subject} is done. Please rate the service in the app."),
        ),
        (Role::Resident, Cancelled) => msg(
            &format!("{} cancelled", capitalize(kind)),
            format!(
                "Your {subject} has been cancelled. Please contact the front desk with any questions."
            ),
        ),
        (Role::Resident, _) => msg(
            &format!("{} update", capitalize(kind)),
            format!("There is news on your {subject}; see the app for details."),
        ),
        (Role::Assignee, Reported | Dispatched | Reassigned) if complaint => msg(
            "New complaint",
            format!(
                "New complaint: {subject} at {place}. Please handle it and answer the front desk soon."
            ),
        ),
        (Role::Assignee, Reported | Dispatched | Reassigned) => msg(
            "New work order",
            format!("New work order: {subject} at {place}. Please accept it soon."),
        ),
        (Role::Butler, Reported) => msg(
            &format!("New {kind}"),
            format!("New {kind}: {subject} at {place}. Please keep an eye on it."),
        ),
        (Role::Butler, Dispatched | Reassigned) => {
            let step = if action == Reassigned {
                "reassigned"
            } else {
                "dispatched"
            };
            let to = t.assignee.map_or_else(String::new, |n| format!(" to {n}"));
            msg(
                &format!("Work order {step}"),
                format!("{} at {place} has been {step}{to}.", capitalize(&subject)),
            )
        }
        (_, PriceAccepted) => msg(
            "Quote accepted",
            format!(
                "The resident accepted the {price} quote for the {subject} at {place}; you can start the work."
            ),
        ),
        (_, PriceDeclined) => msg(
            "Quote declined",
            format!(
                "The resident declined the {price} quote for the {subject} at {place}; please talk to them."
            ),
        ),
        (_, Completed) => msg(
            "Work order done",
            format!(
                "{} at {place} is done; waiting for the resident's rating.",
                capitalize(&subject)
            ),
        ),
        (_, Reopened) => {
            let round = if t.rework > 0 {
                format!(" (rework #{})", t.rework)
            } else {
                String::new()
            };
            msg(
                "Rework needed",
                format!(
                    "The resident is not satisfied with the {subject} at {place}{round}. Please handle it soon."
                ),
            )
        }
        (_, Closed) => msg(
            "Work order closed",
            format!(
                "The resident is satisfied with the {subject} at {place}; the work order is closed."
            ),
        ),
        (_, Cancelled) => msg(
            "Work order cancelled",
            format!(
                "{} at {place} has been cancelled; no further work is needed.",
                capitalize(&subject)
            ),
        ),
        (_, SlaWarned) => msg(
            "Deadline near",
            format!(
                "The {clock} deadline{due} for the {subject} at {place} is near. Please handle it soon."
            ),
        ),
        (Role::Supervisor, SlaBreached) => {
            let who = t
                .assignee
                .map_or_else(String::new, |n| format!(" Assignee: {n}."));
            msg(
                "Deadline missed",
                format!(
                    "{} at {place} missed its {clock} deadline{due}.{who}",
                    capitalize(&subject)
                ),
            )
        }
        (_, SlaBreached) => msg(
            "Deadline missed",
            format!(
                "{} at {place} missed its {clock} deadline{due}; the supervisor has been told.",
                capitalize(&subject)
            ),
        ),
        _ => msg(
            "Work order update",
            format!("There is news on the {subject} at {place}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    const APP: EventFacts = EventFacts {
        actor: ActorKind::Resident,
        registered_by_desk: false,
        kind: TicketKind::Repair,
    };
    const STAFF: EventFacts = EventFacts {
        actor: ActorKind::Staff,
        registered_by_desk: false,
        kind: TicketKind::Repair,
    };

    fn who(action: EventAction, facts: EventFacts) -> (bool, bool, bool, bool) {
        let r = recipients(action, facts);
        (r.resident, r.assignee, r.butler, r.supervisors)
    }

    #[test]
    fn the_resident_hears_of_dispatch_arrival_and_completion() {
        use EventAction::*;
        for action in [Dispatched, Reassigned, Accepted, Arrived, Priced, Completed] {
            assert!(recipients(action, STAFF).resident, "{action}");
        }
        for action in [
            PriceAccepted,
            PriceDeclined,
            Reopened,
            Closed,
            SlaWarned,
            SlaBreached,
        ] {
            assert!(!recipients(action, STAFF).resident, "{action}");
        }
        // Reported in the app: they know; registered by the front desk: they are told.
        assert!(!recipients(Reported, APP).resident);
        let desk = EventFacts {
            actor: ActorKind::Staff,
            registered_by_desk: true,
            kind: TicketKind::Repair,
        };
        assert!(recipients(Reported, desk).resident);
        // Cancelled by the resident: not told of their own act; by staff: told.
        assert!(!recipients(Cancelled, APP).resident);
        assert!(recipients(Cancelled, STAFF).resident);
    }

    #[test]
    fn staff_hear_of_their_work_and_supervisors_of_breaches() {
        use EventAction::*;
        // The butler is told the moment the work order goes out (受理人通知贴心管家).
        assert_eq!(who(Dispatched, STAFF), (true, true, true, false));
        assert_eq!(who(Reported, APP), (false, true, true, false));
        // A complaint goes to the butler as its assignee: told once, of its dispatch.
        let complaint = EventFacts {
            kind: TicketKind::Complaint,
            ..APP
        };
        assert_eq!(who(Reported, complaint), (false, true, false, false));
        assert_eq!(who(PriceAccepted, APP), (false, true, false, false));
        assert_eq!(who(PriceDeclined, APP), (false, true, false, false));
        assert_eq!(who(Completed, STAFF), (true, false, true, false));
        assert_eq!(who(Reopened, STAFF), (false, true, true, false));
        assert_eq!(who(Closed, APP), (false, true, true, false));
        let system = EventFacts {
            actor: ActorKind::System,
            registered_by_desk: false,
            kind: TicketKind::Repair,
        };
        assert_eq!(who(SlaWarned, system), (false, true, true, false));
        assert_eq!(who(SlaBreached, system), (false, true, true, true));
        for action in [
            Answered,
            Rated,
            CallbackRecorded,
            CallbackUnreached,
            CallbackDue,
            PhotoAdded,
        ] {
            assert!(recipients(action, STAFF).is_empty(), "{action}");
        }
    }

    #[test]
    fn each_staff_member_hears_once_and_never_of_their_own_act() {
        let [a, b, s1, s2] = [1u128, 2, 3, 4].map(Uuid::from_u128);
        let breach = recipients(
            EventAction::SlaBreached,
            EventFacts {
                actor: ActorKind::System,
                registered_by_desk: false,
                kind: TicketKind::Repair,
            },
        );
        // A complaint's butler is its assignee; a supervisor is also the assignee.
        assert_eq!(
            staff_recipients(breach, Some(a), Some(a), &[s1, s2], None),
            vec![
                (s1, Role::Supervisor),
                (s2, Role::Supervisor),
                (a, Role::Assignee)
            ]
        );
        assert_eq!(
            staff_recipients(breach, Some(s1), Some(b), &[s1], None),
            vec![(s1, Role::Supervisor), (b, Role::Butler)]
        );
        // The butler completed the complaint themselves: nobody else to tell on staff.
        let done = recipients(EventAction::Completed, STAFF);
        assert!(staff_recipients(done, Some(a), Some(a), &[], Some(a)).is_empty());
        // No assignee yet: only the butler.
        let reported = recipients(EventAction::Reported, APP);
        assert_eq!(
            staff_recipients(reported, None, Some(b), &[s1], None),
            vec![(b, Role::Butler)]
        );
    }

    fn text() -> TicketText<'static> {
        TicketText {
            kind: TicketKind::Repair,
            category: "water",
            community: "阳光花园",
            address: "1栋1单元101",
            assignee: Some("李师傅"),
            price_fen: Some(12_050),
            clock: None,
            due_at: None,
            rework: 0,
            service: None,
            starts_at: None,
            items: None,
            return_on: None,
        }
    }

    #[test]
    fn work_orders_name_the_place_and_category() {
        let t = text();
        let r = render(
            Role::Assignee,
            EventAction::Dispatched,
            &t,
            Locale::ZhCn,
            Shanghai,
        );
        assert_eq!(r.title, "新工单");
        assert_eq!(r.body, "新工单：阳光花园1栋1单元101 水路报修，请及时接单。");
        let r = render(
            Role::Butler,
            EventAction::Dispatched,
            &t,
            Locale::ZhCn,
            Shanghai,
        );
        assert_eq!(
            r.body,
            "阳光花园1栋1单元101 水路报修已派单给 李师傅，请知悉。"
        );
        let r = render(
            Role::Assignee,
            EventAction::Dispatched,
            &t,
            Locale::En,
            Shanghai,
        );
        assert_eq!(
            r.body,
            "New work order: water repair at 1栋1单元101, 阳光花园. Please accept it soon."
        );
        let complaint = TicketText {
            kind: TicketKind::Complaint,
            category: "neighbour_behaviour",
            ..text()
        };
        let r = render(
            Role::Assignee,
            EventAction::Reported,
            &complaint,
            Locale::ZhCn,
            Shanghai,
        );
        assert_eq!(r.title, "新投诉");
        assert!(r.body.contains("邻里行为投诉"), "{}", r.body);
    }

    #[test]
    fn residents_read_who_comes_and_what_it_costs() {
        let t = text();
        let zh = |action| render(Role::Resident, action, &t, Locale::ZhCn, Shanghai);
        assert_eq!(
            zh(EventAction::Dispatched).body,
            "您的报修已派单，维修人员 李师傅 将尽快联系您。"
        );
        assert_eq!(
            zh(EventAction::Arrived).body,
            "维修人员 李师傅 已到达现场。"
        );
        assert!(zh(EventAction::Priced).body.contains("¥120.50"));
        assert!(zh(EventAction::Completed).body.contains("评价"));
        let unassigned = TicketText {
            assignee: None,
            ..text()
        };
        assert_eq!(
            render(
                Role::Resident,
                EventAction::Dispatched,
                &unassigned,
                Locale::ZhCn,
                Shanghai
            )
            .body,
            "您的报修已派单，维修人员将尽快联系您。"
        );
        let en = |action| render(Role::Resident, action, &t, Locale::En, Shanghai);
        assert_eq!(
            en(EventAction::Dispatched).body,
            "Your repair has been dispatched; 李师傅 will contact you soon."
        );
        assert!(en(EventAction::Priced).body.contains("¥120.50"));
        assert_eq!(en(EventAction::Completed).title, "Repair done");
    }

    #[test]
    fn deadlines_name_the_clock_and_its_local_time() {
        let t = TicketText {
            clock: Some(ClockKind::Arrive),
            // 14:30 in Shanghai.
            due_at: Some(Utc.with_ymd_and_hms(2026, 11, 25, 6, 30, 0).unwrap()),
            ..text()
        };
        let zh = |role, action| render(role, action, &t, Locale::ZhCn, Shanghai);
        assert_eq!(
            zh(Role::Supervisor, EventAction::SlaBreached).body,
            "工单超时：阳光花园1栋1单元101 水路报修已超过到场时限（11-25 14:30），处理人 李师傅。"
        );
        assert!(
            zh(Role::Butler, EventAction::SlaWarned)
                .body
                .contains("到场时限将至（11-25 14:30）")
        );
        let complaint = TicketText {
            kind: TicketKind::Complaint,
            category: "service_attitude",
            clock: Some(ClockKind::Resolve),
            ..t.clone()
        };
        let en = render(
            Role::Assignee,
            EventAction::SlaBreached,
            &complaint,
            Locale::En,
            Shanghai,
        );
        assert_eq!(
            en.body,
            "Service attitude complaint at 1栋1单元101, 阳光花园 missed its reply deadline (11-25 14:30); the supervisor has been told."
        );
    }

    #[test]
    fn every_role_and_action_renders_something_in_both_locales() {
        let t = text();
        for &action in EventAction::ALL {
            for role in [
                Role::Resident,
                Role::Supervisor,
                Role::Assignee,
                Role::Butler,
            ] {
                for &locale in Locale::ALL {
                    let r = render(role, action, &t, locale, Shanghai);
                    assert!(
                        !r.title.is_empty() && !r.body.is_empty(),
                        "{action} {role:?}"
                    );
                    assert!(!r.body.contains('{'), "{}", r.body);
                }
            }
        }
        // A category this build does not know reads as itself.
        let odd = TicketText {
            category: "chimney",
            ..text()
        };
        assert!(
            render(
                Role::Assignee,
                EventAction::Dispatched,
                &odd,
                Locale::En,
                Shanghai
            )
            .body
            .contains("chimney repair")
        );
    }
}
