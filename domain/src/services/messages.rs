//! What people read of a booking's steps: the resident follows the time, the team and the
//! work; the team leader gets the work order; prices and amounts in yuan written from fen.

use chrono_tz::Tz;

use crate::{
    money::yuan,
    notifications::Rendered,
    people::Locale,
    ticket_messages::{Role, TicketText},
    tickets::EventAction,
};

/// The message one recipient gets of a booking's `action`, in their locale.
pub fn render(
    role: Role,
    action: EventAction,
    t: &TicketText<'_>,
    locale: Locale,
    tz: Tz,
) -> Rendered {
    let zh = locale == Locale::ZhCn;
    let service = t
        .service
        .unwrap_or(if zh { "上门服务" } else { "home service" });
    let when = t.starts_at.map_or_else(String::new, |at| {
        let local = at.with_timezone(&tz);
        if zh {
            local.format("%m月%d日 %H:%M").to_string()
        } else {
            local.format("%b %-d, %H:%M").to_string()
        }
    });
    let place = if zh {
        format!("{}{}", t.community, t.address)
    } else {
        match (t.address.is_empty(), t.community.is_empty()) {
            (false, false) => format!("{}, {}", t.address, t.community),
            (false, true) => t.address.to_owned(),
            _ => t.community.to_owned(),
        }
    };
    let price = t.price_fen.map_or_else(String::new, yuan);
    let items = t.items.unwrap_or_default();
    let back = t.return_on.map_or_else(String::new, |d| {
        if zh {
            d.format("%m月%d日").to_string()
        } else {
            d.format("%b %-d").to_string()
        }
    });
    // On return: how many items were claimed missing or damaged, if any.
    let claims = match t.items {
        Some(n) if n > 0 && zh => format!("其中 {n} 件缺失或损坏，已登记理赔。"),
        Some(n) if n > 0 => format!(" {n} items were missing or damaged and a claim is recorded."),
        _ => String::new(),
    };
    let msg = |title: &str, body: String| Rendered {
        title: title.to_owned(),
        body,
    };
    use EventAction::*;
    if zh {
        let worker = t
            .assignee
            .map_or_else(|| "服务人员".to_owned(), |n| format!("服务人员 {n}"));
        match (role, action) {
            (Role::Resident, Reported) => msg(
                "预约已登记",
                format!("您预约的{service}（{when}）已由客服登记，确认时间后为您派单。"),
            ),
            (Role::Resident, Confirmed) => msg(
                "预约已确认",
                format!("您预约的{service}已确认：{when}，{worker} 将准时上门。"),
            ),
            (Role::Resident, TimeProposed) => msg(
                "预约时间调整",
                format!("您预约的{service}原时段已满，建议改为 {when}，请在应用中确认是否接受。"),
            ),
            (Role::Resident, Dispatched | Reassigned) => msg(
                "服务已派单",
                format!("您预约的{service}（{when}）已安排 {worker}。"),
            ),
            (Role::Resident, Accepted) => msg(
                "服务人员已接单",
                format!("{worker} 已接单，将于 {when} 上门。"),
            ),
            (Role::Resident, Arrived) => msg("服务人员已到达", format!("{worker} 已上门。")),
            (Role::Resident, Priced) => msg(
                "服务报价",
                format!("本次{service}费用为 {price}，请在应用中确认是否接受，确认后开始服务。"),
            ),
            (Role::Resident, Completed) => msg(
                "服务已完成",
                format!("您的{service}已完成，请在应用中为本次服务评价。"),
            ),
            (Role::Resident, Cancelled) => msg(
                "预约已取消",
                format!("您预约的{service}（{when}）已取消，如有疑问请联系客服。"),
            ),
            (Role::Resident, PickedUp) => msg(
                "衣物已取件",
                format!("{worker} 已上门取件，共 {items} 件，已逐件登记衣物状况，可在应用中查看。"),
            ),
            (Role::Resident, AtVendor) => msg(
                "衣物送洗中",
                format!("您的衣物已送至洗衣厂，预计 {back} 送回。"),
            ),
            (Role::Resident, Returned) => msg(
                "衣物已洗好",
                format!("您的衣物已洗好返回并逐件验收，即将送还上门。{claims}"),
            ),
            (Role::Resident, ClaimRecorded) => msg(
                "已登记理赔",
                format!("您的{service}订单已登记 {items} 项缺失或损坏，客服将与您联系处理。"),
            ),
            (Role::Resident, ClaimSettled) => msg(
                "理赔已处理",
                format!("您的{service}订单的理赔已处理，请在应用中查看结果。"),
            ),
            (_, ClaimRecorded) => msg(
                "服务理赔登记",
                format!("{place} {service}登记了 {items} 项缺失或损坏，请跟进处理。"),
            ),
            (Role::Resident, _) => msg(
                "预约进度更新",
                format!("您预约的{service}有新进展，请在应用中查看。"),
            ),
            (Role::Assignee, Confirmed | TimeAccepted | Dispatched | Reassigned) => msg(
                "新服务工单",
                format!("新服务工单：{place} {service}，{when}，请及时接单。"),
            ),
            (_, Reported) => msg(
                "新服务预约",
                format!("新服务预约：{place} {service}，{when}，请与业主确认时间。"),
            ),
            (_, PriceAccepted) => msg(
                "报价已接受",
                format!("业主已接受报价 {price}：{place} {service}，可以开始服务。"),
            ),
            (_, PriceDeclined) => msg(
                "报价未接受",
                format!("业主未接受报价 {price}：{place} {service}，请与业主沟通。"),
            ),
            (_, Reopened) => msg(
                "服务返工",
                format!("{place} {service}业主不满意，需返工，请尽快处理。"),
            ),
            (_, Closed) => msg(
                "服务已关闭",
                format!("{place} {service}业主满意，工单已关闭。"),
            ),
            (_, Cancelled) => msg(
                "服务已取消",
                format!("{place} {service}（{when}）已取消，无需上门。"),
            ),
            (_, SlaWarned) => msg(
                "服务即将超时",
                format!("服务即将超时：{place} {service}，请尽快处理。"),
            ),
            (_, SlaBreached) => msg(
                "服务超时",
                format!("服务超时：{place} {service}已超过时限，已上报主管。"),
            ),
            _ => msg("服务工单更新", format!("{place} {service}有新进展。")),
        }
    } else {
        let worker = t.assignee.unwrap_or("Our staff");
        match (role, action) {
            (Role::Resident, Reported) => msg(
                "Booking registered",
                format!(
                    "The front desk registered your {service} booking ({when}); we will confirm the time."
                ),
            ),
            (Role::Resident, Confirmed) => msg(
                "Booking confirmed",
                format!("Your {service} is confirmed for {when}; {worker} will come on time."),
            ),
            (Role::Resident, TimeProposed) => msg(
                "Another time proposed",
                format!(
                    "The slot you asked for is full; we propose {when} for your {service}. Please accept or decline it in the app."
                ),
            ),
            (Role::Resident, Dispatched | Reassigned) => msg(
                "Booking assigned",
                format!("{worker} will do your {service} ({when})."),
            ),
            (Role::Resident, Accepted) => msg(
                "Booking accepted",
                format!("{worker} accepted your {service} and will come at {when}."),
            ),
            (Role::Resident, Arrived) => msg("Staff arrived", format!("{worker} has arrived.")),
            (Role::Resident, Priced) => msg(
                "Price quoted",
                format!(
                    "Your {service} comes to {price}. Please accept or decline it in the app; work starts once you accept."
                ),
            ),
            (Role::Resident, Completed) => msg(
                "Service done",
                format!("Your {service} is done. Please rate it in the app."),
            ),
            (Role::Resident, Cancelled) => msg(
                "Booking cancelled",
                format!(
                    "Your {service} booking ({when}) was cancelled. Contact the front desk with any questions."
                ),
            ),
            (Role::Resident, PickedUp) => msg(
                "Laundry picked up",
                format!(
                    "{worker} picked up {items} items and recorded the condition of each; see the app."
                ),
            ),
            (Role::Resident, AtVendor) => msg(
                "Laundry at the cleaners",
                format!("Your laundry is at the cleaners and comes back on {back}."),
            ),
            (Role::Resident, Returned) => msg(
                "Laundry back",
                format!(
                    "Your laundry is back and was checked item by item; we will deliver it soon.{claims}"
                ),
            ),
            (Role::Resident, ClaimRecorded) => msg(
                "Claim recorded",
                format!(
                    "{items} missing or damaged items were recorded on your {service} order; the front desk will contact you."
                ),
            ),
            (Role::Resident, ClaimSettled) => msg(
                "Claim settled",
                format!("The claim on your {service} order was settled; see the app."),
            ),
            (_, ClaimRecorded) => msg(
                "Claim recorded",
                format!(
                    "{items} missing or damaged items recorded for {service} at {place}; please follow up."
                ),
            ),
            (Role::Resident, _) => msg(
                "Booking update",
                format!("Your {service} booking has an update; see the app."),
            ),
            (Role::Assignee, Confirmed | TimeAccepted | Dispatched | Reassigned) => msg(
                "New service order",
                format!("New service order: {service} at {place}, {when}. Please accept it."),
            ),
            (_, Reported) => msg(
                "New booking",
                format!(
                    "New booking: {service} at {place}, {when}. Please confirm the time with the resident."
                ),
            ),
            (_, PriceAccepted) => msg(
                "Price accepted",
                format!("The resident accepted {price} for {service} at {place}; work may start."),
            ),
            (_, PriceDeclined) => msg(
                "Price declined",
                format!(
                    "The resident declined {price} for {service} at {place}; please talk to them."
                ),
            ),
            (_, Reopened) => msg(
                "Rework needed",
                format!(
                    "The resident is not satisfied with {service} at {place}; please do it again."
                ),
            ),
            (_, Closed) => msg(
                "Booking closed",
                format!("The resident is satisfied with {service} at {place}."),
            ),
            (_, Cancelled) => msg(
                "Booking cancelled",
                format!("{service} at {place} ({when}) was cancelled; no visit needed."),
            ),
            (_, SlaWarned) => msg(
                "Booking nearly overdue",
                format!("{service} at {place} is nearly overdue."),
            ),
            (_, SlaBreached) => msg(
                "Booking overdue",
                format!("{service} at {place} is overdue; the supervisor was told."),
            ),
            _ => msg(
                "Booking update",
                format!("{service} at {place} has an update."),
            ),
        }
    }
}
