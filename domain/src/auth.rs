//! Credentials: staff passwords (argon2id), one-time login codes and refresh tokens. Only
//! hashes are stored; the plain values exist once, on their way to the person.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::people::InvalidValue;

/// A staff password as typed: 8–128 characters.
pub struct Password(String);

impl Password {
    /// Parses a new password.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let len = raw.chars().count();
        if !(8..=128).contains(&len) {
            return Err(InvalidValue("a password has 8 to 128 characters".into()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Hashes the password with argon2id and a random salt, as a PHC string.
    pub fn hash(&self) -> anyhow::Result<String> {
        Argon2::default()
            .hash_password(self.0.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    }
}

/// Checks `candidate` against a stored PHC string; a malformed hash never matches.
pub fn verify_password(candidate: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(candidate.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash for a password that no account has, so a login for an unknown user costs as much
/// as one for a known user and timing does not tell them apart.
pub fn dummy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0qbhr9qCc2G0MeO5Zxd7mF8bRfqoDZgHQ6CxQ9bS1lE"
}

/// A fresh six-digit login code.
pub fn new_login_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000))
}

/// Whether a submitted value has the shape of a login code (six digits).
pub fn is_login_code(raw: &str) -> bool {
    raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit())
}

/// The stored hash of a login code, salted with the code's row id and phone.
pub fn hash_login_code(code_id: &uuid::Uuid, phone: &str, code: &str) -> String {
    sha256_hex(&[code_id.as_bytes(), phone.as_bytes(), code.as_bytes()])
}

/// A fresh opaque refresh token (256 random bits, URL-safe).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored hash of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    sha256_hex(&[token.as_bytes()])
}

/// A random secret for signing dev tokens when none is configured.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = Password::parse("correct horse").unwrap().hash().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("anything", dummy_password_hash()));
        assert!(Password::parse("short").is_err());
    }

    #[test]
    fn login_codes_are_six_digits() {
        for _ in 0..100 {
            assert!(is_login_code(&new_login_code()));
        }
        assert!(!is_login_code("12345"));
        assert!(!is_login_code("12345a"));
    }

    #[test]
    fn code_hashes_depend_on_row_and_phone() {
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let h = hash_login_code(&a, "13812341234", "123456");
        assert_eq!(h, hash_login_code(&a, "13812341234", "123456"));
        assert_ne!(h, hash_login_code(&b, "13812341234", "123456"));
        assert_ne!(h, hash_login_code(&a, "13812341235", "123456"));
    }

    #[test]
    fn refresh_tokens_are_unique() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(hash_refresh_token(&a), hash_refresh_token(&b));
    }
}
