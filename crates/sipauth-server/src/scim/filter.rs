//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): a bounded recursive-descent
//! parser (at most [`MAX_FILTER_LEN`] bytes and [`MAX_DEPTH`] levels, so hostile input costs
//! little) into a [`Filter`], evaluated on a resource's JSON with attribute names in any case;
//! and the PATCH path form (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each with an
//! optional schema URN in front).

use serde_json::{Map, Value};

/// The longest filter or path taken.
pub(crate) const MAX_FILTER_LEN: usize = 2048;
/// The deepest nesting taken (parentheses, `not`, value paths).
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a filter or path was refused (`invalidFilter` / `invalidPath`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FilterError(pub String);

fn err<T>(why: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(why.into()))
}

/// `attr` or `attr.sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttrPath {
    /// The attribute (as written).
    pub(crate) attr: String,
    /// The sub-attribute, if any.
    pub(crate) sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
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

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// `attr op value`
    Compare(AttrPath, Op, Value),
    /// `attr pr`
    Present(AttrPath),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches.
    ValuePath(String, Box<Filter>),
}

/// A PATCH operation's target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatchPath {
    /// The attribute.
    pub(crate) attr: String,
    /// Only the values of a multi-valued attribute matching this.
    pub(crate) filter: Option<Filter>,
    /// The sub-attribute.
    pub(crate) sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Value(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return err(format!("longer than {MAX_FILTER_LEN} bytes"));
    }
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'[' => {
                out.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                out.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                // A JSON string: find its end, honouring escapes, and let serde decode it.
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return err("an unterminated string"),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let s: String = serde_json::from_str(&text[start..i])
                    .map_err(|_| FilterError("a malformed string".into()))?;
                out.push(Token::Value(Value::String(s)));
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\r\n()[]\"".contains(&bytes[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                let lower = word.to_ascii_lowercase();
                let token = match lower.as_str() {
                    "true" => Token::Value(Value::Bool(true)),
                    "false" => Token::Value(Value::Bool(false)),
                    "null" => Token::Value(Value::Null),
                    _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                        match serde_json::from_str::<serde_json::Number>(word) {
                            Ok(n) => Token::Value(Value::Number(n)),
                            Err(_) => return err(format!("not a number: {word}")),
                        }
                    }
                    _ => Token::Word(word.to_string()),
                };
                out.push(token);
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.next();
            self.deeper()?;
            if self.next() != Some(Token::Open) {
                return err("`not` takes a parenthesised filter");
            }
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return err("a missing `)`");
            }
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            self.deeper()?;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return err("a missing `)`");
            }
            self.depth -= 1;
            return Ok(inner);
        }
        let Some(Token::Word(word)) = self.next() else {
            return err("an attribute name was expected");
        };
        let path = attr_path(&word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            if path.sub.is_some() {
                return err("a value filter follows an attribute, not a sub-attribute");
            }
            self.next();
            self.deeper()?;
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return err("a missing `]`");
            }
            self.depth -= 1;
            return Ok(Filter::ValuePath(path.attr, Box::new(inner)));
        }
        let Some(Token::Word(op)) = self.next() else {
            return err(format!("an operator was expected after {word}"));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return err(format!("unknown operator {other}")),
        };
        match self.next() {
            Some(Token::Value(v)) => Ok(Filter::Compare(path, op, v)),
            _ => err("a value (a quoted string, number, true, false or null) was expected"),
        }
    }
}

/// `attr` or `attr.sub`, with an optional schema URN in front (`urn:…:User:name.givenName`).
fn attr_path(word: &str) -> Result<AttrPath, FilterError> {
    let bare = strip_urn(word);
    let (attr, sub) = match bare.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (bare, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !valid(attr) || sub.is_some_and(|s| !valid(s)) {
        return err(format!("not an attribute path: {word}"));
    }
    Ok(AttrPath {
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// True when `word` starts with a schema URN (`urn:`, any case). Never slices inside a
/// character: names are the provider's text, not ASCII.
pub(crate) fn is_urn(word: &str) -> bool {
    word.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// The attribute part of a name that may start with a schema URN.
pub(crate) fn strip_urn(word: &str) -> &str {
    if is_urn(word) {
        word.rsplit_once(':').map_or(word, |(_, a)| a)
    } else {
        word
    }
}

/// Parses a filter.
pub(crate) fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
        depth: 0,
    };
    let f = p.or()?;
    if p.at != p.tokens.len() {
        return err("text after the filter");
    }
    Ok(f)
}

/// Parses a PATCH path.
pub(crate) fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return err(format!("longer than {MAX_FILTER_LEN} bytes"));
    }
    let Some(open) = text.find('[') else {
        let p = attr_path(text.trim())?;
        return Ok(PatchPath {
            attr: p.attr,
            filter: None,
            sub: p.sub,
        });
    };
    let close = text
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| FilterError("a missing `]`".into()))?;
    let attr = attr_path(text[..open].trim())?;
    if attr.sub.is_some() {
        return err("a value filter follows an attribute, not a sub-attribute");
    }
    let filter = parse_filter(&text[open + 1..close])?;
    let rest = &text[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(s) => Some(attr_path(s)?.attr),
        None if rest.is_empty() => None,
        None => return err("text after the value filter"),
    };
    Ok(PatchPath {
        attr: attr.attr,
        filter: Some(filter),
        sub,
    })
}

/// The value of `name` in `object`, whatever the case of its key.
pub(crate) fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// True when the values `path` names compare case-sensitively (RFC 7643 `caseExact`): ids,
/// `externalId`, and the ids in `members` and `groups` (a bare `value` is one, inside a value
/// filter).
fn case_exact(path: &AttrPath) -> bool {
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match &path.sub {
        None => ["id", "externalId", "value"]
            .iter()
            .any(|a| is(a, &path.attr)),
        Some(sub) => is(sub, "value") && (is(&path.attr, "members") || is(&path.attr, "groups")),
    }
}

impl Filter {
    /// True when `resource` (its SCIM JSON) matches.
    pub(crate) fn matches(&self, resource: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(a) => !a.matches(resource),
            Filter::Present(path) => values(resource, path)
                .iter()
                .any(|v| !matches!(v, Value::Null) && v != &&Value::String(String::new())),
            Filter::Compare(path, op, want) => {
                let exact = case_exact(path);
                let found = values(resource, path);
                match op {
                    // `ne` holds when no value equals.
                    Op::Ne => !found.iter().any(|v| compare(v, Op::Eq, want, exact)),
                    _ => found.iter().any(|v| compare(v, *op, want, exact)),
                }
            }
            Filter::ValuePath(attr, inner) => match get_ci(resource, attr) {
                Some(Value::Array(items)) => items.iter().any(|item| match item {
                    Value::Object(o) => inner.matches(o),
                    _ => false,
                }),
                Some(Value::Object(o)) => inner.matches(o),
                _ => false,
            },
        }
    }
}

/// Every value `path` names in `resource`: an array's elements (a complex element's `value`,
/// or its sub-attribute).
fn values<'a>(resource: &'a Map<String, Value>, path: &AttrPath) -> Vec<&'a Value> {
    let Some(top) = get_ci(resource, &path.attr) else {
        return Vec::new();
    };
    let pick = |v: &'a Value| -> Option<&'a Value> {
        match (&path.sub, v) {
            (Some(sub), Value::Object(o)) => get_ci(o, sub),
            (Some(_), _) => None,
            (None, Value::Object(o)) => get_ci(o, "value"),
            (None, v) => Some(v),
        }
    };
    match top {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        v => pick(v).into_iter().collect(),
    }
}

fn compare(have: &Value, op: Op, want: &Value, exact: bool) -> bool {
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = match exact {
                true => (h.clone(), w.clone()),
                false => (h.to_lowercase(), w.to_lowercase()),
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Co => h.contains(&w),
                Op::Sw => h.starts_with(&w),
                Op::Ew => h.ends_with(&w),
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
            }
        }
        (Value::Number(h), Value::Number(w)) => {
            let (Some(h), Some(w)) = (h.as_f64(), w.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
                Op::Co | Op::Sw | Op::Ew => false,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            Op::Eq => h == w,
            Op::Ne => h != w,
            _ => false,
        },
        // Entra ID compares booleans it sends as strings.
        (Value::Bool(h), Value::String(w)) => match op {
            Op::Eq => w.eq_ignore_ascii_case(&h.to_string()),
            Op::Ne => !w.eq_ignore_ascii_case(&h.to_string()),
            _ => false,
        },
        (Value::Null, Value::Null) => op == Op::Eq,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "id": "abc", "userName": "Alice@Example.com", "externalId": "X1", "active": true,
            "name": {"givenName": "Alice"},
            "emails": [{"value": "alice@work.example", "type": "work"}, {"value": "a@home.example", "type": "home"}],
            "meta": {"lastModified": "2026-12-01T00:00:00Z"}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn m(f: &str) -> bool {
        parse_filter(f).unwrap().matches(&user())
    }

    #[test]
    fn matches_what_providers_ask() {
        assert!(
            m(r#"userName eq "alice@example.com""#),
            "userName is caseExact false"
        );
        assert!(m(r#"externalId eq "X1""#));
        assert!(!m(r#"externalId eq "x1""#), "externalId is caseExact");
        assert!(m(
            r#"USERNAME Eq "alice@example.com" and externalId eq "X1""#
        ));
        assert!(m(r#"id eq "abc" or userName eq "nobody""#));
        assert!(m(r#"emails[type eq "work" and value co "@work"]"#));
        assert!(m(r#"emails.type eq "home""#));
        assert!(m(r#"name.givenName sw "Al""#));
        assert!(m(r#"not (active eq false)"#));
        assert!(m(r#"meta.lastModified gt "2026-11-01T00:00:00Z""#));
        assert!(!m("title pr") && m("userName pr"));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName ew "example.com""#
        ));
    }

    #[test]
    fn rejects_malformed_and_oversized_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName zz "a""#,
            r#"userName eq "a"#,
            r#"(userName eq "a""#,
            r#"userName eq "a" extra"#,
            r#"emails[type eq "work""#,
            r#"a.b.c eq "x""#,
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?} parsed");
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).unwrap_err().0.contains("nested"));
        let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_LEN));
        assert!(parse_filter(&long).unwrap_err().0.contains("longer"));
    }

    #[test]
    fn parses_patch_paths() {
        let p = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("emails", Some("value"))
        );
        assert!(p.filter.is_some());
        let p = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("name", Some("givenName"))
        );
        let p = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(p.attr, "members");
        assert!(parse_path("emails[type eq \"work\"]x").is_err());
        assert!(parse_path("").is_err());
    }

    #[test]
    fn rejects_names_that_are_not_ascii_without_panicking() {
        // Found by the `scim` fuzz target: a multi-byte character across the URN check.
        assert!(parse_path("na\u{fffd}\u{fffd}yN").is_err());
        assert!(parse_path("urn\u{e9}:x").is_err());
        assert!(parse_filter("n\u{e9}me pr").is_err());
    }
}
