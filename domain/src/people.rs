//! People: residents and staff, and the values that describe them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a value given for a person was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A mainland-China mobile number, normalised to its 11 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `13812341234`, `+86 138-1234-1234`, `0086 13812341234` and similar.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("0086"))
            .unwrap_or(&digits);
        let valid = digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.as_bytes()[0] == b'1'
            && (b'3'..=b'9').contains(&digits.as_bytes()[1]);
        if valid {
            Ok(Self(digits.to_owned()))
        } else {
            Err(InvalidValue(
                "a phone number is an 11-digit mainland mobile number such as 13812341234".into(),
            ))
        }
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to staff who do not need the full number: `138****1234`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Masks a stored phone number (`138****1234`); anything too short is masked whole.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "*".repeat(phone.chars().count().max(4))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs and debug output see the masked form; the full number needs `as_str`.
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

/// A person's display name: trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 || len > 64 {
            return Err(InvalidValue("a name has 1 to 64 characters".into()));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidValue(
                "a name cannot contain control characters".into(),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A closed set of string values: stored as text, documented by the API as a string enum.
pub trait Vocabulary: Copy + Sized + Send + Sync + 'static {
    /// The type's name (the API's schema name).
    const NAME: &'static str;
    /// Every value, in declaration order.
    fn values() -> &'static [Self];
    /// The stored and wire form.
    fn text(self) -> &'static str;
    /// Parses the stored and wire form.
    fn parse_text(raw: &str) -> Result<Self, InvalidValue>;
}

/// Defines a closed set of string values with parsing and display.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored and wire form.
            pub fn parse(raw: &str) -> Result<Self, $crate::people::InvalidValue> {
                match raw.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::people::InvalidValue(format!(
                        "`{other}` is not one of: {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::people::Vocabulary for $name {
            const NAME: &'static str = stringify!($name);
            fn values() -> &'static [Self] {
                Self::ALL
            }
            fn text(self) -> &'static str {
                self.as_str()
            }
            fn parse_text(raw: &str) -> Result<Self, $crate::people::InvalidValue> {
                Self::parse(raw)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// A resident's language for messages and the app.
    Locale { ZhCn = "zh-CN", En = "en" }
}

impl Default for Locale {
    // The macro-built enum cannot take `#[default]` on one variant.
    #[allow(clippy::derivable_impls)]
    fn default() -> Self {
        Locale::ZhCn
    }
}

string_enum! {
    /// How a resident belongs to a household.
    MembershipRole { Owner = "owner", Tenant = "tenant", Family = "family" }
}

string_enum! {
    /// What a staff member does; decides what they may see and do.
    StaffRole {
        /// Runs the company: every community, staff and settings.
        Admin = "admin",
        /// Watches SLA and satisfaction in their communities.
        Supervisor = "supervisor",
        /// Registers requests, dispatches, makes callbacks.
        FrontDesk = "front_desk",
        /// Cares for households and buildings (贴心管家).
        Butler = "butler",
        /// Engineering department (工程部).
        Engineer = "engineer",
        /// Cleaning (清洁).
        Cleaner = "cleaner",
        /// Greenery (绿化).
        Gardener = "gardener",
    }
}

impl StaffRole {
    /// Whether this role manages organisation data (communities, households, residents).
    pub fn manages_roll(self) -> bool {
        matches!(
            self,
            StaffRole::Admin | StaffRole::Supervisor | StaffRole::FrontDesk
        )
    }

    /// The roles that may reveal a resident's full phone number (to call them back), by an
    /// explicit, audited request: every staff view shows phones masked.
    pub const PHONE_REVEALERS: &'static [StaffRole] = &[
        StaffRole::Admin,
        StaffRole::Supervisor,
        StaffRole::FrontDesk,
        StaffRole::Butler,
    ];

    /// Whether this role works in the field (engineering, cleaning, greenery): masked
    /// phones only, no search by phone, no birthdays.
    pub fn is_field_staff(self) -> bool {
        matches!(
            self,
            StaffRole::Engineer | StaffRole::Cleaner | StaffRole::Gardener
        )
    }

    /// Whether this role sees residents' birthdays: butlers (for greetings) and admins.
    pub fn sees_birthdays(self) -> bool {
        matches!(self, StaffRole::Admin | StaffRole::Butler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised() {
        for raw in [
            "13812341234",
            "+86 138-1234-1234",
            "0086 13812341234",
            "(138)12341234",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).unwrap().as_str(),
                "13812341234",
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_phone_numbers_are_refused() {
        for raw in [
            "",
            "1381234123",
            "138123412345",
            "23812341234",
            "12812341234",
            "1381234123a",
        ] {
            assert!(PhoneNumber::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn phone_numbers_display_masked() {
        let phone = PhoneNumber::parse("13812341234").unwrap();
        assert_eq!(phone.masked(), "138****1234");
        assert_eq!(phone.to_string(), "138****1234");
        assert_eq!(mask_phone("123"), "****");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  张三 ").unwrap().as_str(), "张三");
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"名".repeat(65)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in StaffRole::ALL {
            assert_eq!(StaffRole::parse(role.as_str()).unwrap(), *role);
        }
        assert!(
            StaffRole::parse("janitor")
                .unwrap_err()
                .0
                .contains("front_desk")
        );
        assert!(StaffRole::PHONE_REVEALERS.contains(&StaffRole::Butler));
        assert!(!StaffRole::PHONE_REVEALERS.contains(&StaffRole::Engineer));
        for role in StaffRole::ALL {
            // Field staff neither reveal phones nor see birthdays.
            if role.is_field_staff() {
                assert!(!StaffRole::PHONE_REVEALERS.contains(role), "{role}");
                assert!(!role.sees_birthdays(), "{role}");
            }
        }
        assert!(StaffRole::Butler.sees_birthdays() && StaffRole::Admin.sees_birthdays());
        assert!(!StaffRole::FrontDesk.sees_birthdays());
    }
}
