//! Filters: RFC 7644 §3.4.2.2 grammar, parser, printer and evaluator; and the PATCH path grammar
//! of RFC 7644 §3.5.2 (`attrPath / valuePath [subAttr]`), which embeds filters.
//!
//! - [`Filter::parse`] reads the whole §3.4.2.2 ABNF (case-insensitive operators, attribute names
//!   and literals; URN-qualified paths; value paths) with bounded length and nesting, so no input
//!   can exhaust the stack; errors say where and why.
//! - `Display` prints a canonical form that parses back to an equal [`Filter`].
//! - [`Filter::validate`] checks a filter against a resource type; [`Filter::matches`] evaluates it
//!   against a resource in canonical form, typed by the schema (`caseExact`, booleans, numbers,
//!   chronological `dateTime`).
//! - [`Filter::equality_lookups`] tells a store which `attr eq "value"` conditions every match must
//!   satisfy, so it can answer from an index.
//! - [`PatchPath::parse`] reads a PATCH `path`.

mod eval;
mod parse;
mod print;

use crate::error::{Result, ScimError};
use crate::path::{is_attr_name, AttrPath};
use crate::schema::{ResolvedAttr, ResourceSchema};
use serde_json::{Map, Value};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// A parsed filter. Attribute paths keep the client's spelling; [`Filter::validate`] resolves
/// them against a resource type.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath "[" valFilter "]"`: paths inside `filter` are relative to `attr`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// RFC 7644 §3.4.2.2 comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// Every operator, in the order RFC 7644 §3.4.2.2 Table 3 lists them.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The canonical (lowercase) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator spelled `word`, case-insensitively (RFC 7644 §3.4.2.2: "Attribute names and
    /// attribute operators used in filters are case insensitive").
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// `gt`, `ge`, `lt`, `le`: the operators that order values.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    /// `co`, `sw`, `ew`: the operators on substrings.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// RFC 7644 §3.4.2.2 `compValue = false / null / true / number / string`.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A PATCH path (RFC 7644 §3.5.2): `attrPath`, or `valuePath [subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (possibly with a sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// The value filter in brackets, paths relative to `attr`.
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets: `emails[type eq "work"].value`.
    pub sub_after_filter: Option<String>,
}

impl Filter {
    /// Parses a filter. Errors are 400 `invalidFilter` with the position and the reason.
    ///
    /// RFC 7644 §3.4.2.2: precedence is `not` > `and` > `or`, `and`/`or` associate to the left,
    /// `not` takes a parenthesised filter (`not (a pr)`, `not(a pr)`), value paths
    /// (`emails[type eq "work"]`) cannot nest. Attribute names, operators and the literals
    /// `true`/`false`/`null` are case-insensitive. Strings are JSON strings (RFC 7159 §7).
    /// Spaces and tabs between tokens are accepted in any number. The input must already be
    /// URL-decoded: `+` is not a space here.
    ///
    /// Input longer than [`MAX_FILTER_LEN`] bytes or nested deeper than [`MAX_FILTER_DEPTH`]
    /// (parentheses, `not`, value paths) is rejected, so parsing never exhausts the stack.
    pub fn parse(input: &str) -> Result<Filter> {
        parse::parse_filter(input)
            .map_err(|e| ScimError::invalid_filter(e.to_string()).with_hint(crate::hint::CLIENT_FAULT))
    }

    /// Checks that every attribute the filter names exists on the resource type (400
    /// `invalidFilter` otherwise) and that value paths name multi-valued or complex attributes.
    ///
    /// Also rejects, with `invalidFilter`:
    /// - `gt`/`ge`/`lt`/`le` on boolean and binary attributes (RFC 7644 §3.4.2.2: "MUST"), and
    ///   `co`/`sw`/`ew` on boolean and numeric attributes;
    /// - comparing a complex attribute that has no `value` sub-attribute (`name eq "x"`); one
    ///   that has one compares that (`emails eq "x"` is `emails.value eq "x"`);
    /// - values of the wrong type for the attribute (`active eq 3`, `userName eq true`,
    ///   an unparseable `dateTime`); booleans also accept the strings `"true"`/`"false"` that
    ///   Entra sends, numbers accept numeric strings.
    pub fn validate(&self, schema: &ResourceSchema<'_>) -> Result<()> {
        eval::validate(self, schema, None)
    }

    /// Validates the filter of a value path or PATCH path (`emails[type eq "work"]`), whose
    /// paths are relative to `attr` (which must be multi-valued or complex and have no
    /// sub-attribute). Same rules as [`Filter::validate`].
    pub fn validate_value_filter(&self, schema: &ResourceSchema<'_>, attr: &ResolvedAttr<'_>) -> Result<()> {
        eval::validate_value_filter(self, schema, attr)
    }

    /// Evaluates the filter against a resource (canonical attribute names), with the comparison
    /// rules of the attribute's type and `caseExact` (RFC 7644 §3.4.2.2).
    ///
    /// - A multi-valued attribute matches when any of its values does; `emails.value` looks at
    ///   every element of `emails`; a value path matches when one element satisfies its whole
    ///   filter.
    /// - `ne` is `not eq`: an absent attribute matches `ne`. `eq null` matches an absent
    ///   attribute. `pr` needs a non-empty value.
    /// - Strings compare by the schema's `caseExact` (case folding otherwise); references and
    ///   binaries always exactly (RFC 7643 §2.3.6, §2.3.7); booleans also match the strings
    ///   `"True"`/`"false"`; numbers numerically; `dateTime`s chronologically (RFC 3339, any offset).
    /// - A path the schema does not know never matches, whatever the operator. A filter that did
    ///   not pass [`Filter::validate`] is evaluated by the same rules and never panics; a
    ///   comparison that makes no sense for the attribute's type is false.
    pub fn matches(&self, resource: &Map<String, Value>, schema: &ResourceSchema<'_>) -> bool {
        eval::matches(self, resource, schema)
    }

    /// Evaluates the filter of a value path or PATCH path against one value of `attr` (an
    /// element of a multi-valued attribute, or the object of a single complex one), for the
    /// PATCH engine: `emails[type eq "work"]` tests each element of `emails`.
    pub fn matches_value(&self, schema: &ResourceSchema<'_>, attr: &ResolvedAttr<'_>, value: &Value) -> bool {
        eval::matches_value(self, schema, attr, value)
    }

    /// Whether the filter names the top-level attribute `name` (compared case-insensitively,
    /// with or without a schema URN) anywhere, value paths included. Lets a store skip building
    /// derived attributes (`meta`, `groups`, `members`) that a filter does not look at.
    pub fn names_attribute(&self, name: &str) -> bool {
        match self {
            Filter::Compare { path, .. } | Filter::Present(path) => path.attr.eq_ignore_ascii_case(name),
            Filter::ValuePath { attr, .. } => attr.attr.eq_ignore_ascii_case(name),
            Filter::And(a, b) | Filter::Or(a, b) => a.names_attribute(name) || b.names_attribute(name),
            Filter::Not(f) => f.names_attribute(name),
        }
    }

    /// The `(canonical attribute path, value)` pairs that every resource matching this filter
    /// must satisfy as an equality, for a store that answers them from an index.
    ///
    /// Collected from `attr eq "string"` at the top of the filter and on every side of `and`s
    /// (recursively): `userName eq "a" and active eq true` yields `[("userName", "a")]`;
    /// `id eq "1" and manager eq "2"` yields `[("id", "1"), ("urn:...:enterprise:2.0:User:manager.value", "2")]`.
    /// Nothing is collected under `or`, `not` or a value path, nor for `eq` on booleans,
    /// numbers and `dateTime`s (whose equality is not textual), nor for unknown attributes.
    ///
    /// The path is [`ResolvedAttr::canonical`] (extension attributes URN-qualified; `emails eq`
    /// becomes `emails.value`). The value is the client's, un-normalised: a store compares it
    /// according to the attribute's `caseExact` (resolve the path to get it) and, if it
    /// fetches candidates by one pair, must still run [`Filter::matches`] on them.
    pub fn equality_lookups(&self, schema: &ResourceSchema<'_>) -> Vec<(String, String)> {
        eval::equality_lookups(self, schema)
    }
}

impl PatchPath {
    /// Parses a PATCH `path`. Errors are 400 `invalidPath`.
    ///
    /// RFC 7644 §3.5.2: `PATH = attrPath / valuePath [subAttr]`, e.g. `members`,
    /// `name.givenName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`. Surrounding
    /// whitespace is ignored. The filter in brackets follows [`Filter::parse`]; its syntax errors
    /// are reported as `invalidPath` too, since the path is what is wrong. A path that is exactly
    /// an extension URN is returned as [`AttrPath::parse`] splits it (URN up to the last `:`,
    /// attribute `User`): the PATCH engine recognises it.
    pub fn parse(input: &str) -> Result<PatchPath> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ScimError::invalid_path("the PATCH path is empty"));
        }
        if s.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_path(format!(
                "the PATCH path is {} bytes long; the limit is {MAX_FILTER_LEN}",
                s.len()
            )));
        }
        let Some(open) = s.find('[') else {
            if s.contains(']') {
                return Err(ScimError::invalid_path(format!(
                    "'{s}' is not a valid PATCH path: ']' without '['"
                )));
            }
            return Ok(PatchPath {
                attr: parse_attr_path(s).map_err(ScimError::invalid_path)?,
                filter: None,
                sub_after_filter: None,
            });
        };
        let head = s.get(..open).unwrap_or_default().trim_end();
        let attr = parse_attr_path(head).map_err(ScimError::invalid_path)?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "'{s}' is not a valid PATCH path: a value filter follows an attribute name, \
                 not a sub-attribute (write 'emails[type eq \"work\"].value')"
            )));
        }
        let (filter, end) = parse::parse_value_filter(s, open + 1)
            .map_err(|e| ScimError::invalid_path(format!("invalid value filter in PATCH path '{s}': {e}")))?;
        let rest = s.get(end..).unwrap_or_default();
        let sub_after_filter = if rest.is_empty() {
            None
        } else {
            match rest.strip_prefix('.') {
                Some(name) if is_attr_name(name) => Some(name.to_string()),
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "'{s}' is not a valid PATCH path: after ']' only '.subAttribute' may \
                         follow, found '{rest}'"
                    )))
                }
            }
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub_after_filter,
        })
    }
}

/// [`AttrPath::parse`], guarded: attribute paths are ASCII (RFC 7643 §2.1 ATTRNAME, RFC 8141
/// URNs), and rejecting anything else first keeps non-ASCII input away from byte slicing.
/// Returns the reason as text so each caller picks its `scimType`.
fn parse_attr_path(s: &str) -> std::result::Result<AttrPath, String> {
    if !s.is_ascii() || s.is_empty() {
        return Err(format!(
            "'{s}' is not a valid attribute path: attribute names are ASCII letters, digits, '-' and '_'"
        ));
    }
    AttrPath::parse(s).map_err(|e| e.detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_op_keywords_are_case_insensitive() {
        for op in CompareOp::ALL {
            assert_eq!(CompareOp::from_keyword(op.as_str()), Some(op));
            assert_eq!(CompareOp::from_keyword(&op.as_str().to_uppercase()), Some(op));
        }
        assert_eq!(CompareOp::from_keyword("pr"), None);
    }

    #[test]
    fn non_ascii_paths_are_rejected_not_panicking() {
        // AttrPath::parse slices the first 4 bytes; a multi-byte char there must not reach it.
        assert!(parse_attr_path("ab€x").is_err());
        assert!(PatchPath::parse("ab€x").is_err());
        assert!(Filter::parse("ab€x pr").is_err());
    }
}

#[cfg(test)]
mod names_attribute_tests {
    use super::Filter;

    #[test]
    fn finds_top_level_names_anywhere_in_the_tree() {
        let f = Filter::parse(r#"userName sw "a" and not (groups[value eq "g"]) or META.lastModified gt "2024-01-01T00:00:00Z""#)
            .unwrap();
        assert!(f.names_attribute("userName"));
        assert!(f.names_attribute("groups"));
        assert!(f.names_attribute("meta"));
        assert!(!f.names_attribute("members"));
        assert!(!f.names_attribute("id"));
        let urn = Filter::parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:id eq "x""#).unwrap();
        assert!(urn.names_attribute("id"));
    }
}
