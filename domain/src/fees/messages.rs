//! What residents are told about their bills, in zh-CN and en.

use chrono::NaiveDate;

use super::bills::Period;
use crate::{money::yuan, people::Locale};

/// A message's title and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillText {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// "Your bill for November is out".
pub fn bill_issued(
    locale: Locale,
    community: &str,
    address: &str,
    period: Period,
    amount_fen: i64,
    due_on: NaiveDate,
) -> BillText {
    let amount = yuan(amount_fen);
    match locale {
        Locale::ZhCn => BillText {
            title: format!("{}账单已出", period_zh(period)),
            body: format!(
                "{community}{address}：{}账单 {amount}，请于{}前在 App「缴费」中缴纳。",
                period_zh(period),
                due_on.format("%Y年%-m月%-d日"),
            ),
        },
        Locale::En => BillText {
            title: format!("Your bill for {} is ready", period_en(period)),
            body: format!(
                "{community} {address}: the bill for {} is {amount}, due by {}. Pay it under Fees in the app.",
                period_en(period),
                due_on.format("%-d %B %Y"),
            ),
        },
    }
}

/// "Payment received": the amount and the receipt's number.
pub fn payment_received(locale: Locale, amount_fen: i64, receipt: &str) -> BillText {
    let amount = yuan(amount_fen);
    match locale {
        Locale::ZhCn => BillText {
            title: "缴费成功".into(),
            body: format!("已收到您的缴费 {amount}，收据编号 {receipt}，可在 App「缴费」中查看。"),
        },
        Locale::En => BillText {
            title: "Payment received".into(),
            body: format!(
                "We received your payment of {amount}. Receipt {receipt} is under Fees in the app."
            ),
        },
    }
}

fn period_zh(period: Period) -> String {
    period.first_day().format("%Y年%-m月").to_string()
}

fn period_en(period: Period) -> String {
    period.first_day().format("%B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_is_announced_with_its_month_amount_and_due_date() {
        let nov = Period::parse("2026-11").unwrap_or_else(|e| panic!("{e:?}"));
        let due = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap_or_default();
        let zh = bill_issued(Locale::ZhCn, "翠湖花园", "3栋1单元1203", nov, 37_453, due);
        assert_eq!(zh.title, "2026年11月账单已出");
        assert_eq!(
            zh.body,
            "翠湖花园3栋1单元1203：2026年11月账单 ¥374.53，请于2026年12月15日前在 App「缴费」中缴纳。"
        );
        let en = bill_issued(Locale::En, "Emerald", "3-1-1203", nov, 100, due);
        assert_eq!(en.title, "Your bill for November 2026 is ready");
        assert!(
            en.body.contains("¥1.00, due by 15 December 2026"),
            "{}",
            en.body
        );
        let paid = payment_received(Locale::ZhCn, 23_500, "2026-000001");
        assert_eq!(paid.title, "缴费成功");
        assert!(paid.body.contains("¥235.00") && paid.body.contains("2026-000001"));
    }
}
