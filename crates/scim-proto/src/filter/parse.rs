//! The RFC 7644 §3.4.2.2 filter parser: a hand-written scanner and a recursive-descent parser
//! whose recursion is bounded by [`MAX_FILTER_DEPTH`] (only parentheses, `not` and value paths
//! recurse; `and`/`or` chains are loops).
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string
//! ```

use super::{parse_attr_path, CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use std::fmt;

/// A syntax error: what was wrong and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pos: usize,
    msg: String,
    /// The text from `pos` on, shortened, to show the client where.
    near: Option<String>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.msg, self.pos)?;
        match &self.near {
            Some(near) => write!(f, " (remaining text: '{near}')"),
            None => f.write_str(" (end of input)"),
        }
    }
}

/// Parses a whole filter.
pub(super) fn parse_filter(src: &str) -> Result<Filter, SyntaxError> {
    let mut p = Parser::new(src, 0);
    if src.len() > MAX_FILTER_LEN {
        return Err(p.err_at(
            0,
            format!(
                "the filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
                src.len()
            ),
        ));
    }
    if src.trim().is_empty() {
        return Err(p.err_at(0, "the filter is empty"));
    }
    let filter = p.parse_or(false)?;
    let t = p.peek()?;
    match t.kind {
        Kind::End => Ok(filter),
        Kind::RParen => Err(p.err_at(t.start, "unbalanced parenthesis: ')' without a matching '('")),
        Kind::RBracket => Err(p.err_at(t.start, "unbalanced bracket: ']' without a matching '['")),
        _ => Err(p.err_at(
            t.start,
            format!(
                "expected 'and', 'or' or the end of the filter, found {}",
                p.describe(t)
            ),
        )),
    }
}

/// Parses the `valFilter` of a PATCH path starting at byte `start` (just after `[`), through
/// the closing `]`. Returns the filter and the offset after the `]`.
pub(super) fn parse_value_filter(src: &str, start: usize) -> Result<(Filter, usize), SyntaxError> {
    let mut p = Parser::new(src, start);
    p.depth = 1;
    let filter = p.parse_or(true)?;
    p.expect_close(Kind::RBracket, start.saturating_sub(1))?;
    Ok((filter, p.pos))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A `"..."` literal, still escaped; `start..end` includes the quotes.
    Str,
    /// A run of anything else up to whitespace or a delimiter: attribute paths, operators,
    /// keywords, literals, numbers.
    Word,
    End,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_delim(b: u8) -> bool {
    is_ws(b) || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, pos: usize) -> Self {
        Parser { src, pos, depth: 0 }
    }

    fn err_at(&self, pos: usize, msg: impl Into<String>) -> SyntaxError {
        let rest = self.src.get(pos..).unwrap_or_default();
        let near = if rest.is_empty() {
            None
        } else {
            let mut s: String = rest.chars().take(40).collect();
            if s.len() < rest.len() {
                s.push_str("...");
            }
            Some(s)
        };
        SyntaxError {
            pos,
            msg: msg.into(),
            near,
        }
    }

    fn text(&self, t: Tok) -> &'a str {
        self.src.get(t.start..t.end).unwrap_or_default()
    }

    fn describe(&self, t: Tok) -> String {
        match t.kind {
            Kind::End => "the end of the filter".into(),
            _ => format!("'{}'", self.text(t)),
        }
    }

    /// The next token, without consuming it (whitespace before it is consumed).
    fn peek(&mut self) -> Result<Tok, SyntaxError> {
        let bytes = self.src.as_bytes();
        while bytes.get(self.pos).is_some_and(|&b| is_ws(b)) {
            self.pos += 1;
        }
        let start = self.pos;
        let single = |kind| Tok {
            kind,
            start,
            end: start + 1,
        };
        let tok = match bytes.get(start) {
            None => Tok {
                kind: Kind::End,
                start,
                end: start,
            },
            Some(b'(') => single(Kind::LParen),
            Some(b')') => single(Kind::RParen),
            Some(b'[') => single(Kind::LBracket),
            Some(b']') => single(Kind::RBracket),
            Some(b'"') => {
                let mut i = start + 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(self.err_at(start, "unterminated string"));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                Tok {
                    kind: Kind::Str,
                    start,
                    end: i + 1,
                }
            }
            Some(_) => {
                let mut i = start;
                while bytes.get(i).is_some_and(|&b| !is_delim(b)) {
                    i += 1;
                }
                Tok {
                    kind: Kind::Word,
                    start,
                    end: i,
                }
            }
        };
        Ok(tok)
    }

    fn is_keyword(&self, t: Tok, kw: &str) -> bool {
        t.kind == Kind::Word && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn enter(&mut self, pos: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.err_at(
                pos,
                format!("the filter nests deeper than {MAX_FILTER_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Consumes the `)` or `]` that closes the one opened at `open`.
    fn expect_close(&mut self, kind: Kind, open: usize) -> Result<(), SyntaxError> {
        let t = self.peek()?;
        if t.kind == kind {
            self.pos = t.end;
            return Ok(());
        }
        let (what, close) = if kind == Kind::RParen {
            ("parenthesis", ')')
        } else {
            ("bracket", ']')
        };
        let opener = if kind == Kind::RParen { '(' } else { '[' };
        Err(match t.kind {
            Kind::End => self.err_at(
                t.start,
                format!("unbalanced {what}: '{opener}' at position {open} is never closed"),
            ),
            Kind::RParen | Kind::RBracket => self.err_at(
                t.start,
                format!(
                    "unbalanced {what}: expected '{close}' to close '{opener}' at position {open}, found {}",
                    self.describe(t)
                ),
            ),
            _ => self.err_at(
                t.start,
                format!(
                    "expected 'and', 'or' or '{close}' (closing '{opener}' at position {open}), found {}",
                    self.describe(t)
                ),
            ),
        })
    }

    /// `or` binds loosest; a chain is built left-associative in a loop.
    fn parse_or(&mut self, in_value_filter: bool) -> Result<Filter, SyntaxError> {
        let mut left = self.parse_and(in_value_filter)?;
        loop {
            let t = self.peek()?;
            if !self.is_keyword(t, "or") {
                return Ok(left);
            }
            self.pos = t.end;
            let right = self.parse_and(in_value_filter)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn parse_and(&mut self, in_value_filter: bool) -> Result<Filter, SyntaxError> {
        let mut left = self.parse_unary(in_value_filter)?;
        loop {
            let t = self.peek()?;
            if !self.is_keyword(t, "and") {
                return Ok(left);
            }
            self.pos = t.end;
            let right = self.parse_unary(in_value_filter)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// A parenthesised filter, `not (...)`, or an attribute expression / value path.
    fn parse_unary(&mut self, in_value_filter: bool) -> Result<Filter, SyntaxError> {
        let t = self.peek()?;
        match t.kind {
            Kind::LParen => {
                self.enter(t.start)?;
                self.pos = t.end;
                let inner = self.parse_or(in_value_filter)?;
                self.expect_close(Kind::RParen, t.start)?;
                self.leave();
                Ok(inner)
            }
            Kind::Word if self.is_keyword(t, "not") => {
                self.pos = t.end;
                let next = self.peek()?;
                if next.kind == Kind::LParen {
                    self.enter(t.start)?;
                    self.pos = next.end;
                    let inner = self.parse_or(in_value_filter)?;
                    self.expect_close(Kind::RParen, next.start)?;
                    self.leave();
                    return Ok(Filter::Not(Box::new(inner)));
                }
                // An attribute may be called `not` (`not pr`, `not eq "x"`); anything else after
                // `not` is the common mistake of omitting the parentheses.
                let is_attr_exp = next.kind == Kind::LBracket
                    || self.is_keyword(next, "pr")
                    || (next.kind == Kind::Word && CompareOp::from_keyword(self.text(next)).is_some());
                if !is_attr_exp {
                    return Err(self.err_at(
                        next.start,
                        "'not' must be followed by a filter in parentheses: not (...)",
                    ));
                }
                self.pos = t.start;
                self.parse_attr_exp(t, in_value_filter)
            }
            Kind::Word => self.parse_attr_exp(t, in_value_filter),
            Kind::End => Err(self.err_at(
                t.start,
                "expected an attribute path, '(' or 'not (' but the filter ends",
            )),
            Kind::RParen => Err(self.err_at(
                t.start,
                "unbalanced parenthesis: expected an attribute path, '(' or 'not (', found ')'",
            )),
            _ => Err(self.err_at(
                t.start,
                format!(
                    "expected an attribute path, '(' or 'not (', found {}",
                    self.describe(t)
                ),
            )),
        }
    }

    /// `attrPath pr`, `attrPath compareOp compValue` or `attrPath "[" valFilter "]"`; `t` is the
    /// attribute path word.
    fn parse_attr_exp(&mut self, t: Tok, in_value_filter: bool) -> Result<Filter, SyntaxError> {
        let word = self.text(t);
        let path = parse_attr_path(word).map_err(|mut why| {
            if word.contains('+') || word.contains('%') {
                // What is left of an undecoded query string (Entra's `+`, Okta's `%20`).
                why.push_str(" (the filter must be URL-decoded before parsing)");
            }
            self.err_at(t.start, why)
        })?;
        self.pos = t.end;
        let n = self.peek()?;
        match n.kind {
            Kind::LBracket => {
                if in_value_filter {
                    return Err(self.err_at(
                        n.start,
                        "value filters cannot be nested: '[' inside '[...]'",
                    ));
                }
                if path.sub.is_some() {
                    return Err(self.err_at(
                        n.start,
                        format!(
                            "a value filter '[...]' follows an attribute name, not a sub-attribute ('{}')",
                            path
                        ),
                    ));
                }
                self.enter(n.start)?;
                self.pos = n.end;
                let inner = self.parse_or(true)?;
                self.expect_close(Kind::RBracket, n.start)?;
                self.leave();
                if self.src.as_bytes().get(self.pos) == Some(&b'.') {
                    return Err(self.err_at(
                        self.pos,
                        "a sub-attribute after ']' is only allowed in PATCH paths; in a filter, \
                         put the condition inside the brackets (emails[type eq \"work\" and value co \"x\"])",
                    ));
                }
                Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(inner),
                })
            }
            Kind::Word if self.is_keyword(n, "pr") => {
                self.pos = n.end;
                Ok(Filter::Present(path))
            }
            Kind::Word => match CompareOp::from_keyword(self.text(n)) {
                Some(op) => {
                    self.pos = n.end;
                    let value = self.parse_comp_value(op, word)?;
                    Ok(Filter::Compare { path, op, value })
                }
                None => Err(self.err_at(
                    n.start,
                    format!(
                        "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or 'pr' after '{word}', found {}",
                        self.describe(n)
                    ),
                )),
            },
            _ => Err(self.err_at(
                n.start,
                format!(
                    "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or 'pr' after '{word}', found {}",
                    self.describe(n)
                ),
            )),
        }
    }

    fn parse_comp_value(&mut self, op: CompareOp, attr: &str) -> Result<CompValue, SyntaxError> {
        let t = self.peek()?;
        let value = match t.kind {
            Kind::Str => CompValue::String(self.decode_string(t)?),
            Kind::Word => {
                let w = self.text(t);
                if w.eq_ignore_ascii_case("true") {
                    CompValue::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    CompValue::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    CompValue::Null
                } else if is_json_number(w) {
                    match parse_number(w) {
                        Some(n) => CompValue::Number(n),
                        None => return Err(self.err_at(t.start, "number out of range")),
                    }
                } else {
                    return Err(self.err_at(
                        t.start,
                        format!(
                            "expected a value (a \"string\", a number, true, false or null) after '{attr} {}', found '{w}' (strings are written in double quotes)",
                            op.as_str()
                        ),
                    ));
                }
            }
            _ => {
                return Err(self.err_at(
                    t.start,
                    format!(
                        "expected a value (a \"string\", a number, true, false or null) after '{attr} {}', found {}",
                        op.as_str(),
                        self.describe(t)
                    ),
                ))
            }
        };
        self.pos = t.end;
        Ok(value)
    }

    /// Decodes a JSON string literal (RFC 7159 §7): `\" \\ \/ \b \f \n \r \t \uXXXX`, with
    /// surrogate pairs. Raw control characters are tolerated.
    fn decode_string(&self, t: Tok) -> Result<String, SyntaxError> {
        let body_start = t.start + 1;
        let body = self
            .src
            .get(body_start..t.end.saturating_sub(1))
            .unwrap_or_default();
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let at = body_start + i;
            let decoded = match chars.next().map(|(_, e)| e) {
                Some('"') => '"',
                Some('\\') => '\\',
                Some('/') => '/',
                Some('b') => '\u{8}',
                Some('f') => '\u{c}',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('t') => '\t',
                Some('u') => {
                    let hi = self.hex4(&mut chars, at)?;
                    if (0xD800..0xDC00).contains(&hi) {
                        // A high surrogate must be followed by `\u` and a low surrogate.
                        let lo = match (chars.next(), chars.next()) {
                            (Some((_, '\\')), Some((_, 'u'))) => self.hex4(&mut chars, at)?,
                            _ => {
                                return Err(self.err_at(
                                    at,
                                    "invalid string: a high surrogate \\uD800-\\uDBFF must be followed by a low surrogate \\uDC00-\\uDFFF",
                                ))
                            }
                        };
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self.err_at(
                                at,
                                "invalid string: a high surrogate \\uD800-\\uDBFF must be followed by a low surrogate \\uDC00-\\uDFFF",
                            ));
                        }
                        let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(code)
                            .ok_or_else(|| self.err_at(at, "invalid string: bad surrogate pair"))?
                    } else {
                        char::from_u32(hi).ok_or_else(|| {
                            self.err_at(
                                at,
                                "invalid string: lone low surrogate \\uDC00-\\uDFFF",
                            )
                        })?
                    }
                }
                Some(other) => {
                    return Err(self.err_at(
                        at,
                        format!("invalid escape '\\{other}' in string (JSON escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"),
                    ))
                }
                None => return Err(self.err_at(at, "unterminated string")),
            };
            out.push(decoded);
        }
        Ok(out)
    }

    fn hex4(
        &self,
        chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
        at: usize,
    ) -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = chars
                .next()
                .and_then(|(_, c)| c.to_digit(16))
                .ok_or_else(|| self.err_at(at, "invalid string: \\u must be followed by 4 hex digits"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }
}

/// A JSON number (already checked by [`is_json_number`]): an integer when it fits `i64`/`u64`,
/// else an `f64` parsed by the standard library, which rounds correctly, so that the shortest
/// representation serde_json prints parses back to the same value (serde_json's own parser,
/// without its `float_roundtrip` feature, can be off by one ulp). `None` when out of range.
fn parse_number(s: &str) -> Option<serde_json::Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(u.into());
    }
    s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// RFC 7159 §6: `[ minus ] int [ frac ] [ exp ]`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        for ok in ["0", "-0", "12", "-1.5", "1e3", "1E+3", "2.5e-7"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "+1", "0x10", "1.2.3", "NaN"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn error_display_has_position_and_remaining_text() {
        let e = parse_filter("userName xx \"x\"").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("after 'userName'"), "{s}");
        assert!(s.contains("at position 9"), "{s}");
        assert!(s.contains("remaining text: 'xx \"x\"'"), "{s}");
    }
}
