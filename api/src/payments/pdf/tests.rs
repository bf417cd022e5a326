//! The receipt PDF read back with pdftotext, and its amounts in capitals.

use std::process::Command;

use super::*;

#[test]
fn capital_amount_writes_one_zero_for_each_run_of_zeros() {
    let cases = [
        (0, "零元整"),
        (5, "伍分"),
        (50, "伍角"),
        (101, "壹元零壹分"),
        (110, "壹元壹角"),
        (1050, "壹拾元零伍角"),
        (10525, "壹佰零伍元贰角伍分"),
        (23500, "贰佰叁拾伍元整"),
        (37453, "叁佰柒拾肆元伍角叁分"),
        (100005, "壹仟元零伍分"),
        (1_000_010, "壹万元零壹角"),
        (10_000_000, "壹拾万元整"),
        (10_050_000, "壹拾万零伍佰元整"),
        (100_100_000, "壹佰万零壹仟元整"),
        (100_000_000 * 100, "壹亿元整"),
        (100_010_000 * 100, "壹亿零壹万元整"),
        (100_000_001 * 100, "壹亿零壹元整"),
        (101_000_000 * 100, "壹亿零壹佰万元整"),
        (-23500, "负贰佰叁拾伍元整"),
    ];
    for (fen, expected) in cases {
        assert_eq!(capital_amount(fen), expected, "{fen} fen");
    }
}

#[test]
fn capital_amount_covers_the_whole_i64_range() {
    assert!(
        capital_amount(i64::MAX).starts_with("玖亿亿贰仟贰佰叁拾叁万亿"),
        "{}",
        capital_amount(i64::MAX)
    );
    assert!(capital_amount(i64::MAX).ends_with("元零柒分"));
    assert!(capital_amount(i64::MIN).starts_with("负玖亿亿"));
    assert!(capital_amount(i64::MIN).ends_with("元零捌分"));
}

#[test]
fn wrap_breaks_long_names_inside_the_column() {
    let face = FACE.as_ref().expect("the embedded font parses");
    let name = "公共区域电梯维修分摊费用（三号楼一单元二〇二六年度专项维修资金补缴）";
    let lines = face.wrap(name, TABLE_SIZE, 59.0);
    assert!(lines.len() > 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|line| face.width(line, TABLE_SIZE) <= 59.0)
    );
    assert_eq!(lines.concat(), name);
}

#[test]
fn wrap_keeps_latin_words_whole() {
    let face = FACE.as_ref().expect("the embedded font parses");
    let width = face.width("POS voucher 888", TEXT_SIZE);
    let lines = face.wrap("POS voucher 88812 paid", TEXT_SIZE, width);
    assert_eq!(lines, ["POS voucher", "88812 paid"]);
}

const LINES: [ReceiptPdfLine<'static>; 4] = [
    ReceiptPdfLine {
        period: "2026-11",
        name: "物业费",
        quantity: "89.510",
        unit: "m²",
        unit_price: "2.3500",
        amount_fen: 21035,
    },
    ReceiptPdfLine {
        period: "2026-11",
        name: "水费（第1阶梯）",
        quantity: "18.000",
        unit: "吨",
        unit_price: "3.4500",
        amount_fen: 6210,
    },
    ReceiptPdfLine {
        period: "2026-11",
        name: "水费（第2阶梯）",
        quantity: "12.300",
        unit: "吨",
        unit_price: "4.8300",
        amount_fen: 5941,
    },
    ReceiptPdfLine {
        period: "2026-10",
        name: "滞纳金",
        quantity: "1.000",
        unit: "项",
        unit_price: "42.6700",
        amount_fen: 4267,
    },
];

fn receipt<'a>(lines: &'a [ReceiptPdfLine<'a>], total_fen: i64) -> ReceiptPdf<'a> {
    ReceiptPdf {
        company: "翠湖物业服务有限公司",
        number: "2026-000123",
        community: "翠湖花园",
        address: "3栋1单元1203",
        payer: Some("王小明"),
        method: "微信支付",
        transaction_id: Some("4200002026112512345678901234"),
        reference: None,
        paid_at: "2026-11-25 10:05",
        lines,
        total_fen,
    }
}

/// The text poppler extracts from the PDF, one form feed after each page.
fn pdftotext(pdf: &[u8], name: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "courtyard-receipt-{}-{name}.pdf",
        std::process::id()
    ));
    std::fs::write(&path, pdf).expect("the PDF is written to the temp dir");
    let output = Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| {
        panic!("pdftotext could not be run ({e}): install poppler-utils (apt-get install -y poppler-utils)")
    });
    assert!(
        output.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("pdftotext prints UTF-8")
}

#[test]
fn a_receipt_reads_back_in_chinese() {
    let total = LINES.iter().map(|line| line.amount_fen).sum();
    assert_eq!(total, 37453);
    let pdf = render(&receipt(&LINES, total)).expect("the receipt renders");
    // Only the glyphs drawn are embedded, not the 1 MB font.
    assert!(
        pdf.len() < 100_000,
        "a one-page receipt is {} bytes",
        pdf.len()
    );

    let text = pdftotext(&pdf, "one-page");
    for expected in [
        "翠湖物业服务有限公司",
        "收据 RECEIPT",
        "2026-000123",
        "翠湖花园",
        "3栋1单元1203",
        "王小明",
        "微信支付",
        "4200002026112512345678901234",
        "2026-11-25 10:05",
        "物业费",
        "水费（第2阶梯）",
        "滞纳金",
        "m²",
        "89.510",
        "2.3500",
        "210.35",
        "¥374.53",
        "人民币叁佰柒拾肆元伍角叁分",
        "第 1 页 / 共 1 页",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is missing from:\n{text}"
        );
    }
    assert_eq!(text.matches('\u{c}').count(), 1, "one page:\n{text}");
}

#[test]
fn an_offline_receipt_without_company_or_ids_renders() {
    let r = ReceiptPdf {
        company: "",
        payer: None,
        method: "现金",
        transaction_id: None,
        reference: Some("POS-88812"),
        ..receipt(&LINES[..1], 21035)
    };
    let text = pdftotext(&render(&r).expect("the receipt renders"), "offline");
    for expected in ["现金", "POS-88812", "¥210.35", "人民币贰佰壹拾元零叁角伍分"] {
        assert!(
            text.contains(expected),
            "{expected:?} is missing from:\n{text}"
        );
    }
    assert!(!text.contains("交易单号"), "{text}");
}

#[test]
fn eighty_lines_run_over_several_pages() {
    let names: Vec<String> = (1..=80)
        .map(|i| format!("{}{i:02}", ["物业费", "水费", "电费", "滞纳金"][i % 4]))
        .collect();
    let lines: Vec<ReceiptPdfLine<'_>> = names
        .iter()
        .map(|name| ReceiptPdfLine {
            period: "2026-11",
            name,
            quantity: "1.000",
            unit: "项",
            unit_price: "12.3400",
            amount_fen: 1234,
        })
        .collect();
    let pdf = render(&receipt(&lines, 80 * 1234)).expect("the receipt renders");

    let text = pdftotext(&pdf, "eighty-lines");
    let pages = text.matches('\u{c}').count();
    assert!(pages >= 2, "{pages} page(s):\n{text}");
    for name in &names {
        assert!(
            text.contains(name.as_str()),
            "{name} is missing from:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("第 {pages} 页 / 共 {pages} 页")),
        "{text}"
    );
    assert!(text.contains("（续）"), "{text}");
    assert!(text.contains("¥987.20"), "{text}");
    assert!(text.contains("人民币玖佰捌拾柒元贰角"), "{text}");
    // The column titles repeat on every page, the last line keeping the totals company.
    assert_eq!(text.matches("单价(元)").count(), pages, "{text}");
}

#[test]
fn a_character_outside_the_font_is_refused_not_boxed() {
    // Written as escapes so that the font script, which keeps every character of this
    // file, does not add them.
    let payer = "\u{1F3E0}\u{2A6D6}";
    let r = ReceiptPdf {
        payer: Some(payer),
        ..receipt(&LINES, 37453)
    };
    match render(&r) {
        Err(PdfError::MissingGlyphs { chars }) => assert_eq!(chars, payer),
        other => panic!(
            "expected MissingGlyphs, got {:?}",
            other.map(|pdf| pdf.len())
        ),
    }
}
