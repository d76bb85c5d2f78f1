//! Entity tags: RFC 7644 §3.14 versioning with RFC 7232 `ETag`, `If-Match` and `If-None-Match`.
//!
//! Every resource carries an integer version; its entity tag is the weak tag `W/"<version>"`.
//! SCIM service providers "MAY" use weak tags (RFC 7644 §3.14), and a weak tag is the honest
//! choice here: two versions with the same number are semantically equal, not byte-for-byte equal
//! (attribute order and projection vary between representations).

use crate::error::{Result, ScimError};

/// The weak entity tag of a version: `W/"3"` (RFC 7232 §2.3, RFC 7644 §3.14).
pub fn weak_etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version named by an entity tag: accepts `W/"3"` and `"3"` (RFC 7232 §2.3
/// `entity-tag = [ weak ] opaque-tag`), and, as a courtesy to clients that drop the quotes, a bare
/// `3`. Anything else (tags this server never issued) is `None`.
pub fn parse_etag_version(tag: &str) -> Option<u64> {
    let tag = tag.trim();
    let opaque = tag
        .strip_prefix("W/")
        .or_else(|| tag.strip_prefix("w/"))
        .unwrap_or(tag);
    let inner = match opaque.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => opaque,
    };
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok()
}

/// Splits an `If-Match` / `If-None-Match` field value into its entity tags (RFC 7232 §3.1:
/// `1#entity-tag`), honouring quotes so a comma inside an opaque tag does not split it.
fn split_tags(header: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, c) in header.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                tags.push(header[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    tags.push(header[start..].trim());
    tags.retain(|t| !t.is_empty());
    tags
}

/// Whether any tag of the field value names `current_version`, or the field is `*`.
/// Comparison is weak (RFC 7232 §2.3.2): SCIM tags are weak, and RFC 7644 §3.14's own examples
/// send `If-Match: W/"..."`, which a strong comparison would never match.
fn any_matches(header: &str, current_version: u64) -> bool {
    split_tags(header)
        .into_iter()
        .any(|t| t == "*" || parse_etag_version(t) == Some(current_version))
}

/// RFC 7644 §3.14 and RFC 7232 §3.1: `If-Match` on a modifying request.
///
/// No header (or an empty one) imposes no condition; `*` matches any existing resource; otherwise
/// one of the listed tags must name the current version, else 412 Precondition Failed.
pub fn check_if_match(header: Option<&str>, current_version: u64) -> Result<()> {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Ok(());
    };
    if any_matches(header, current_version) {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {} does not match the current version {}",
            header.trim(),
            weak_etag(current_version)
        ))
        .with_hint(crate::hint::STALE_VERSION))
    }
}

/// RFC 7644 §3.14 and RFC 7232 §3.2: `If-None-Match` on a GET. `true` when the client's copy is
/// current (a tag names the current version, or the header is `*`): the caller then answers
/// 304 Not Modified without a body.
pub fn if_none_match_hits(header: Option<&str>, current_version: u64) -> bool {
    match header {
        Some(h) if !h.trim().is_empty() => any_matches(h, current_version),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_etag_format() {
        assert_eq!(weak_etag(3), "W/\"3\"");
        assert_eq!(weak_etag(0), "W/\"0\"");
    }

    #[test]
    fn parse_versions() {
        let cases: &[(&str, Option<u64>)] = &[
            ("W/\"3\"", Some(3)),
            ("\"3\"", Some(3)),
            ("3", Some(3)),
            (" W/\"42\" ", Some(42)),
            ("w/\"7\"", Some(7)),
            ("W/\"\"", None),
            ("W/\"abc\"", None),
            ("\"3", None),
            ("W/\"-1\"", None),
            ("W/\"99999999999999999999999\"", None),
            ("*", None),
            ("", None),
        ];
        for (tag, want) in cases {
            assert_eq!(parse_etag_version(tag), *want, "{tag}");
        }
    }

    #[test]
    fn if_match() {
        let cases: &[(Option<&str>, u64, bool)] = &[
            (None, 3, true),
            (Some(""), 3, true),
            (Some("*"), 3, true),
            (Some("W/\"3\""), 3, true),
            (Some("\"3\""), 3, true),
            (Some("W/\"2\""), 3, false),
            (Some("W/\"1\", W/\"3\""), 3, true),
            (Some("W/\"1\",W/\"2\""), 3, false),
            (Some("\"a,b\", W/\"3\""), 3, true),
            (Some("garbage"), 3, false),
        ];
        for (h, v, ok) in cases {
            let r = check_if_match(*h, *v);
            assert_eq!(r.is_ok(), *ok, "{h:?} vs {v}");
            if let Err(e) = r {
                assert_eq!(e.status, 412);
                assert!(e.detail.ends_with(crate::hint::STALE_VERSION), "{}", e.detail);
            }
        }
    }

    #[test]
    fn if_none_match() {
        let cases: &[(Option<&str>, u64, bool)] = &[
            (None, 3, false),
            (Some(""), 3, false),
            (Some("*"), 3, true),
            (Some("W/\"3\""), 3, true),
            (Some("W/\"2\""), 3, false),
            (Some("W/\"2\", \"3\""), 3, true),
        ];
        for (h, v, hit) in cases {
            assert_eq!(if_none_match_hits(*h, *v), *hit, "{h:?} vs {v}");
        }
    }
}
