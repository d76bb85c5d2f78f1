//! Attribute paths: RFC 7644 §3.10 `attrPath = [URI ":"] ATTRNAME *1subAttr`.

use crate::error::{Result, ScimError};
use std::fmt;

/// A reference to an attribute, optionally qualified by its schema URN and optionally naming one
/// sub-attribute. Names keep the spelling the client used; resolution against a schema
/// ([`crate::schema::ResourceSchema::resolve`]) is case-insensitive (RFC 7643 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix (`urn:ietf:params:scim:schemas:core:2.0:User`), if the client gave one.
    pub urn: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name (`givenName` in `name.givenName`).
    pub sub: Option<String>,
}

impl AttrPath {
    /// An unqualified path to a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: name.into(),
            sub: None,
        }
    }

    /// An unqualified path to a sub-attribute.
    pub fn sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: name.into(),
            sub: Some(sub.into()),
        }
    }

    /// Parses `[URN:]attr[.sub]`.
    ///
    /// A URN prefix is recognised by its `urn:` scheme; the attribute name follows its last `:`
    /// (attribute names cannot contain `:`, RFC 7643 §2.1 ATTRNAME), so dots inside the URN
    /// (`...:2.0:User`) are never taken for a sub-attribute separator.
    pub fn parse(input: &str) -> Result<AttrPath> {
        let (urn, rest) = if input.len() > 4 && input[..4].eq_ignore_ascii_case("urn:") {
            match input.rfind(':') {
                Some(i) => (Some(input[..i].to_string()), &input[i + 1..]),
                None => (None, input),
            }
        } else {
            (None, input)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(attr) {
            return Err(ScimError::invalid_path(format!(
                "'{input}' is not a valid attribute path: '{attr}' is not an attribute name"
            )));
        }
        if let Some(s) = sub {
            if !is_attr_name(s) {
                return Err(ScimError::invalid_path(format!(
                    "'{input}' is not a valid attribute path: '{s}' is not a sub-attribute name"
                )));
            }
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`.
/// `$ref` is also accepted: the RFC uses it as a sub-attribute name although the ABNF omits `$`.
pub fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_sub_and_urn_paths() {
        assert_eq!(
            AttrPath::parse("userName").unwrap(),
            AttrPath::attr("userName")
        );
        assert_eq!(
            AttrPath::parse("name.givenName").unwrap(),
            AttrPath::sub("name", "givenName")
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr, "manager");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "1abc", "a b", "name.", ".x", "a.b.c", "urn:x:"] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "userName",
            "name.familyName",
            "urn:ietf:params:scim:schemas:core:2.0:User:emails.value",
        ] {
            assert_eq!(AttrPath::parse(s).unwrap().to_string(), s);
        }
    }
}
