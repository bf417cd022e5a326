//! Money: integer fen (分) from the request to the receipt, never floating point.

use crate::people::InvalidValue;

/// An amount of money in fen (分), positive and at most ¥1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fen(i64);

impl Fen {
    /// Parses a positive amount of fen.
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        if (1..=100_000_000).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(InvalidValue(format!(
                "{raw} is not an amount of 1 to 100,000,000 fen (¥1,000,000)"
            )))
        }
    }

    /// The amount in fen.
    pub fn fen(self) -> i64 {
        self.0
    }

    /// `¥12.50`.
    pub fn display_yuan(self) -> String {
        format!("¥{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Any amount of fen as yuan: `¥1234.56` (no thousands separators); a negative amount keeps
/// its sign (`-¥0.50`).
pub fn yuan(fen: i64) -> String {
    let figures = yuan_figures(fen);
    match figures.strip_prefix('-') {
        Some(abs) => format!("-¥{abs}"),
        None => format!("¥{figures}"),
    }
}

/// Any amount of fen as a decimal number of yuan, for tables and spreadsheets: 37453 →
/// `374.53`, -50 → `-0.50`.
pub fn yuan_figures(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_written_from_integer_fen() {
        assert_eq!(yuan_figures(37453), "374.53");
        assert_eq!(yuan_figures(5), "0.05");
        assert_eq!(yuan_figures(0), "0.00");
        assert_eq!(yuan_figures(-150), "-1.50");
        assert_eq!(yuan_figures(i64::MIN), "-92233720368547758.08");
        assert_eq!(yuan(123_456), "¥1234.56");
        assert_eq!(yuan(-50), "-¥0.50");
        assert_eq!(yuan(i64::MIN), "-¥92233720368547758.08");
    }
}
