//! Amounts as a receipt writes them: figures in yuan and the Chinese capital amount (大写),
//! in integer fen throughout.

/// The amount in Chinese capital numerals as written on receipts and cheques, without the
/// leading 人民币: 23500 → 贰佰叁拾伍元整, 10525 → 壹佰零伍元贰角伍分, 100005 → 壹仟元零伍分.
///
/// One 零 stands for any run of zeros between non-zero digits, including a zero 元 digit
/// before a non-zero 角 (1000010 → 壹万元零壹角); an amount that ends at 角 takes no 整.
pub fn capital_amount(fen: i64) -> String {
    const DIGITS: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];
    const IN_GROUP: [&str; 4] = ["", "拾", "佰", "仟"];
    const GROUPS: [&str; 5] = ["", "万", "亿", "万亿", "亿亿"];

    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    let fen = fen.unsigned_abs();
    let yuan = fen / 100;
    let jiao = (fen / 10 % 10) as usize;
    let fen = (fen % 10) as usize;

    let digits: Vec<usize> = yuan
        .to_string()
        .bytes()
        .map(|b| usize::from(b - b'0'))
        .collect();
    // A zero seen since the last digit written; it becomes one 零 before the next digit.
    let mut zero_pending = false;
    if yuan > 0 {
        for (i, &digit) in digits.iter().enumerate() {
            let place = digits.len() - 1 - i;
            if digit == 0 {
                zero_pending = true;
            } else {
                if zero_pending {
                    out.push('零');
                    zero_pending = false;
                }
                out.push_str(DIGITS[digit]);
                out.push_str(IN_GROUP[place % 4]);
            }
            // The end of a group of four: name it (万, 亿) unless all four were zeros.
            if place.is_multiple_of(4)
                && place > 0
                && digits[i.saturating_sub(3)..=i].iter().any(|&d| d != 0)
            {
                out.push_str(GROUPS[place / 4]);
            }
        }
        out.push('元');
    }

    match (jiao, fen) {
        (0, 0) if yuan == 0 => out.push_str("零元整"),
        (0, 0) => out.push('整'),
        _ => {
            if yuan > 0 && (zero_pending || jiao == 0) {
                out.push('零');
            }
            if jiao > 0 {
                out.push_str(DIGITS[jiao]);
                out.push('角');
            }
            if fen > 0 {
                out.push_str(DIGITS[fen]);
                out.push('分');
            }
        }
    }
    out
}
