//! The token itself: format, generation and hashing. A token is a bearer credential
//! (RFC 6750 §2.1), so whoever holds it acts for its tenant; only its SHA-256 is ever kept.

use crate::error::RegistryError;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;

/// Prefix of every token this service issues, so a leaked one is recognisable (secret scanners,
/// log reviews) and an IdP admin sees at a glance what belongs in the bearer field.
pub const TOKEN_PREFIX: &str = "SCIM_";

/// A token's plaintext. It exists only between generation and the one time it is shown;
/// `Debug` never prints it, so it cannot reach a log through `{:?}`.
pub struct TokenSecret(String);

impl TokenSecret {
    /// `SCIM_` and 256 bits from the OS CSPRNG, base64url without padding (RFC 4648 §5), so the
    /// token is safe in headers, URLs and shell arguments.
    pub fn generate() -> Result<TokenSecret, RegistryError> {
        let bytes: [u8; 32] = random_bytes()?;
        Ok(TokenSecret(format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// The plaintext, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the registry stores in place of the token.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// The lowercase hex SHA-256 of a presented or generated token. A token carries 256 random bits,
/// so a fast unsalted hash is enough: there is nothing to guess, unlike a password.
pub fn sha256_hex(token: &str) -> String {
    // Written digit by digit: the formatting machinery cost more than the hash on every request.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(token.as_bytes()) {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `N` bytes from the OS CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RegistryError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RegistryError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A short record id for logs and for `scimctl token revoke ID`: 64 random bits as hex.
pub(crate) fn new_token_id() -> Result<String, RegistryError> {
    let bytes: [u8; 8] = random_bytes()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_url_safe_and_distinct() {
        let a = TokenSecret::generate().unwrap();
        let b = TokenSecret::generate().unwrap();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        // 32 bytes are 43 base64 characters without padding.
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert!(a.expose()[TOKEN_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn debug_never_shows_the_plaintext() {
        let secret = TokenSecret::generate().unwrap();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        // FIPS 180-2 test vector for "abc".
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn token_ids_are_sixteen_hex_digits() {
        let id = new_token_id().unwrap();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
