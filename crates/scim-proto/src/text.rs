//! What strings may hold, and the form identifiers compare in.
//!
//! Identifiers (`userName`, `externalId`, a Group's `displayName`, any attribute with
//! `uniqueness: server` or `global`: [`ResourceSchema::identifiers`]) name a resource to people
//! and to IdPs, so two spellings that look the same must be the same name: they compare after
//! Unicode NFC normalisation (UAX #15), so a composed "josé" (U+00E9) and a decomposed one
//! (e + U+0301) collide (409) and find each other with `eq`. Characters that are invisible or
//! reorder text (Unicode general categories Cc and Cf: NUL, U+200B ZERO WIDTH SPACE, U+202E
//! RIGHT-TO-LEFT OVERRIDE, ...) would let two different names look the same, so identifiers
//! refuse them. Other strings refuse only NUL, which no text needs and many consumers
//! truncate at; tabs and line breaks (`addresses.formatted`) and format characters (the
//! zero-width joiner of emoji, Persian names) are kept.
//!
//! Stored values stay as the client sent them: IdPs compare what they read back with what they
//! wrote, and a rewritten value would look like drift to be corrected on every sync.
//!
//! [`ResourceSchema::identifiers`]: crate::schema::ResourceSchema::identifiers

use crate::error::{Result, ScimError};
use std::borrow::Cow;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Most characters of an identifier: Entra's limit for a group name. A group's `displayName`
/// is copied into the item of each of its user members on DynamoDB, so its size multiplies (a
/// user item holds at most 400 KB).
pub const MAX_IDENTIFIER_CHARS: usize = 256;

/// Most characters of any other string value (a base64 certificate fits many times over).
pub const MAX_STRING_CHARS: usize = 16 * 1024;

/// `s` in Unicode Normalization Form C; borrowed when it already is (always for ASCII).
pub fn nfc(s: &str) -> Cow<'_, str> {
    if is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// Checks a string value of any attribute: no NUL, at most [`MAX_STRING_CHARS`] characters.
/// 400 `invalidValue` naming the attribute.
pub fn check_string(label: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(ScimError::invalid_value(format!(
            "'{label}' contains a NUL character (U+0000); remove it from the source value in the IdP"
        )));
    }
    check_length(label, s, MAX_STRING_CHARS)
}

/// Checks an identifier: no control or format character (general categories Cc and Cf), at
/// most [`MAX_IDENTIFIER_CHARS`] characters. 400 `invalidValue` naming the attribute and the
/// character.
pub fn check_identifier(label: &str, s: &str) -> Result<()> {
    if let Some(c) = s.chars().find(|&c| c.is_control() || is_format(c)) {
        return Err(ScimError::invalid_value(format!(
            "'{label}' contains the invisible or control character U+{:04X}, which identifiers may \
             not; remove it from the source value in the IdP",
            u32::from(c)
        )));
    }
    check_length(label, s, MAX_IDENTIFIER_CHARS)
}

fn check_length(label: &str, s: &str, max: usize) -> Result<()> {
    // Bytes bound characters from above: most strings need no count.
    if s.len() > max && s.chars().count() > max {
        return Err(ScimError::invalid_value(format!(
            "'{label}' is longer than {max} characters; shorten the source value in the IdP, or map \
             a shorter source to {label}"
        )));
    }
    Ok(())
}

/// Unicode general category Cf (format characters), Unicode 15.1.
fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_are_one_form() {
        assert_eq!(nfc("jose\u{301}"), "jos\u{e9}");
        assert!(matches!(nfc("jos\u{e9}"), Cow::Borrowed(_)));
        assert!(matches!(nfc("alice"), Cow::Borrowed(_)));
    }

    #[test]
    fn identifiers_refuse_invisible_characters() {
        for bad in [
            "a\0b",
            "a\u{200B}b",
            "admin\u{202E}",
            "\u{FEFF}x",
            "a\tb",
            "a\u{7F}",
        ] {
            let e = check_identifier("userName", bad).unwrap_err();
            assert!(e.detail.contains("userName") && e.detail.contains("U+"), "{e}");
        }
        check_identifier("userName", "jos\u{e9}@example.com").unwrap();
        check_identifier("userName", &"é".repeat(MAX_IDENTIFIER_CHARS)).unwrap();
        assert!(check_identifier("userName", &"a".repeat(MAX_IDENTIFIER_CHARS + 1)).is_err());
    }

    #[test]
    fn other_strings_refuse_only_nul_and_length() {
        check_string("addresses.formatted", "1 Main St\nSpringfield").unwrap();
        check_string("name.givenName", "\u{0645}\u{200C}\u{0646}").unwrap();
        assert!(check_string("title", "a\0").is_err());
        assert!(check_string("title", &"x".repeat(MAX_STRING_CHARS + 1)).is_err());
    }
}
