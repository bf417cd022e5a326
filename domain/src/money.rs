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
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}
