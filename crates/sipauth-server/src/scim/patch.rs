//! SCIM PATCH (RFC 7644 §3.5.2) on a resource's attributes: `add`, `replace` and `remove`,
//! with and without a path, value filters (`emails[type eq "work"].value`), in any case (Entra
//! ID writes `Replace`), and what the big providers send beyond the RFC: a path-less `replace`
//! whose value is an object, an `add` through a value filter that matches nothing (a new value
//! is made from the filter's `eq` terms), a `remove` of `members` naming the members in its
//! value. Attributes the schema does not know (extensions) are ignored; the result is
//! normalised and checked by `resource.rs` like a PUT body.

use serde_json::{Map, Value};
use sipauth_provision::EntryKind;

use super::error::ScimError;
use super::filter::{parse_path, Filter, Op, PatchPath};
use super::resource::{find_attr, schema_of, Attr};

/// The most operations one PATCH may carry.
pub(crate) const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Add,
    Replace,
    Remove,
}

/// Applies the `Operations` of a PatchOp body to `resource` (attribute map, canonical names).
pub(crate) fn apply(
    kind: EntryKind,
    resource: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ScimError> {
    let ops = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| ScimError::invalid_syntax("a PatchOp needs an Operations array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "at most {MAX_OPERATIONS} operations"
        )));
    }
    for op in ops {
        let op = op
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("an operation must be an object"))?;
        let field = |name: &str| {
            op.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let verb = match field("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(v) if v == "add" => Verb::Add,
            Some(v) if v == "replace" => Verb::Replace,
            Some(v) if v == "remove" => Verb::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(
                    "op must be add, replace or remove",
                ))
            }
        };
        let value = field("value");
        match field("path")
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
        {
            None => {
                if verb == Verb::Remove {
                    return Err(ScimError::no_target("remove needs a path"));
                }
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::invalid_value(
                        "an operation without a path takes an object value",
                    ));
                };
                for (k, v) in values {
                    // A key may itself be a path (Entra: "name.givenName"), or a schema URN.
                    if super::filter::is_urn(k) && v.is_object() {
                        continue;
                    }
                    let path = parse_path(k).map_err(|e| ScimError::invalid_path(e.0))?;
                    at_path(kind, resource, verb, &path, Some(v))?;
                }
            }
            Some(path) => {
                let path = parse_path(path).map_err(|e| ScimError::invalid_path(e.0))?;
                if verb != Verb::Remove && value.is_none() {
                    return Err(ScimError::invalid_value("add and replace need a value"));
                }
                at_path(kind, resource, verb, &path, value)?;
            }
        }
    }
    Ok(())
}

fn canonical_key(kind: EntryKind, name: &str) -> Option<(String, Option<&'static Attr>)> {
    if name.eq_ignore_ascii_case("externalId") {
        return Some(("externalId".into(), None));
    }
    let (_, attrs) = schema_of(kind);
    find_attr(attrs, name).map(|a| (a.name.to_string(), Some(a)))
}

fn at_path(
    kind: EntryKind,
    resource: &mut Map<String, Value>,
    verb: Verb,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some((key, attr)) = canonical_key(kind, &path.attr) else {
        // An attribute sipauth does not keep (an extension's): nothing to do.
        return Ok(());
    };
    if attr.is_some_and(|a| a.mutability == "readOnly") {
        return Ok(());
    }
    let sub = match &path.sub {
        Some(s) => match attr.and_then(|a| find_attr(a.subs, s)) {
            Some(sa) => Some(sa.name.to_string()),
            None => return Ok(()),
        },
        None => None,
    };
    let multi = attr.is_some_and(|a| a.multi);
    match (&path.filter, &sub) {
        (None, None) => whole(resource, &key, multi, verb, value),
        (None, Some(sub)) => {
            let target = resource.entry(key.clone()).or_insert_with(|| {
                if multi {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            match target {
                Value::Object(o) => set_sub(o, sub, verb, value),
                Value::Array(items) => {
                    if items.is_empty() && verb != Verb::Remove {
                        items.push(Value::Object(Map::new()));
                    }
                    for o in items.iter_mut().filter_map(Value::as_object_mut) {
                        set_sub(o, sub, verb, value);
                    }
                }
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "{key} has no sub-attributes"
                    )))
                }
            }
            Ok(())
        }
        (Some(filter), sub) => {
            let items = match resource.get_mut(&key) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            };
            let mut matched = 0;
            if let Some(items) = items {
                if verb == Verb::Remove && sub.is_none() {
                    let before = items.len();
                    items.retain(|i| !i.as_object().is_some_and(|o| filter.matches(o)));
                    matched = before - items.len();
                } else {
                    for o in items.iter_mut().filter_map(Value::as_object_mut) {
                        if !filter.matches(o) {
                            continue;
                        }
                        matched += 1;
                        match sub {
                            Some(sub) => set_sub(o, sub, verb, value),
                            None => {
                                if let Some(Value::Object(v)) = value {
                                    if verb == Verb::Replace {
                                        o.clear();
                                    }
                                    for (k, x) in v {
                                        o.insert(k.clone(), x.clone());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if matched == 0 {
                match verb {
                    Verb::Remove => {}
                    // Nothing matched: a new value from the filter's `eq` terms.
                    Verb::Add | Verb::Replace => {
                        let mut made = Map::new();
                        if !eq_terms(filter, &mut made) {
                            return Err(ScimError::no_target("no value matches the filter"));
                        }
                        match (sub, value) {
                            (Some(sub), Some(v)) => {
                                made.insert(sub.clone(), v.clone());
                            }
                            (None, Some(Value::Object(v))) => {
                                made.extend(v.clone());
                            }
                            _ => return Err(ScimError::no_target("no value matches the filter")),
                        }
                        let items = resource
                            .entry(key)
                            .or_insert_with(|| Value::Array(Vec::new()));
                        match items {
                            Value::Array(items) => items.push(Value::Object(made)),
                            _ => {
                                return Err(ScimError::invalid_path("not a multi-valued attribute"))
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// The `attr eq value` terms of a filter made only of them and `and`, into `into`.
fn eq_terms(filter: &Filter, into: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare(p, Op::Eq, v) if p.sub.is_none() => {
            into.insert(p.attr.clone(), v.clone());
            true
        }
        Filter::And(a, b) => eq_terms(a, into) && eq_terms(b, into),
        _ => false,
    }
}

fn set_sub(o: &mut Map<String, Value>, sub: &str, verb: Verb, value: Option<&Value>) {
    o.retain(|k, _| !k.eq_ignore_ascii_case(sub) || k == sub);
    match (verb, value) {
        (Verb::Remove, _) | (_, None) => {
            o.remove(sub);
        }
        (_, Some(v)) => {
            o.insert(sub.to_string(), v.clone());
        }
    }
}

fn whole(
    resource: &mut Map<String, Value>,
    key: &str,
    multi: bool,
    verb: Verb,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match verb {
        Verb::Remove => {
            match (value, resource.get_mut(key)) {
                // Entra ID and others: remove these members.
                (Some(Value::Array(gone)), Some(Value::Array(items))) if multi => {
                    let ids: Vec<&Value> = gone.iter().filter_map(|g| g.get("value")).collect();
                    items.retain(|i| !i.get("value").is_some_and(|v| ids.contains(&v)));
                }
                _ => {
                    resource.remove(key);
                }
            }
            Ok(())
        }
        Verb::Replace => {
            if let Some(v) = value {
                resource.insert(key.to_string(), v.clone());
            }
            Ok(())
        }
        Verb::Add => {
            let Some(v) = value else {
                return Ok(());
            };
            match (resource.get_mut(key), v) {
                (Some(Value::Array(items)), _) if multi => {
                    let new: Vec<Value> = match v {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    };
                    for n in new {
                        if !items.contains(&n) {
                            items.push(n);
                        }
                    }
                }
                (Some(Value::Object(o)), Value::Object(add)) => {
                    for (k, x) in add {
                        o.insert(k.clone(), x.clone());
                    }
                }
                _ => {
                    resource.insert(key.to_string(), v.clone());
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(kind: EntryKind, start: Value, ops: Value) -> Result<Value, ScimError> {
        let mut r = start.as_object().cloned().unwrap();
        apply(
            kind,
            &mut r,
            json!({"schemas": [super::super::resource::PATCH_SCHEMA], "Operations": ops})
                .as_object()
                .unwrap(),
        )?;
        Ok(Value::Object(r))
    }

    #[test]
    fn applies_what_entra_sends() {
        // Entra ID's documented requests (learn.microsoft.com, "Tutorial: Develop and plan
        // provisioning for a SCIM endpoint").
        let user = json!({"userName": "a@contoso.com", "active": true, "emails": [{"type": "work", "value": "a@contoso.com", "primary": true}]});
        let r = patch(EntryKind::User, user.clone(), json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Add", "path": "name.familyName", "value": "updatedFamilyName"},
        ])).unwrap();
        assert_eq!(r["active"], "False", "normalised to a boolean afterwards");
        assert_eq!(r["emails"][0]["value"], "updatedEmail@microsoft.com");
        assert_eq!(r["name"]["familyName"], "updatedFamilyName");
        let r = patch(EntryKind::User, user, json!([
            {"op": "replace", "value": {"active": false, "displayName": "X", "name.givenName": "G"}},
        ])).unwrap();
        assert_eq!(r["active"], false);
        assert_eq!(r["displayName"], "X");
        assert_eq!(r["name"]["givenName"], "G");
        let group = json!({"displayName": "g", "members": [{"value": "u1"}, {"value": "u2"}]});
        let r = patch(
            EntryKind::Group,
            group.clone(),
            json!([
                {"op": "Add", "path": "members", "value": [{"value": "u3"}]},
                {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            ]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "u2"}, {"value": "u3"}]));
        let r = patch(
            EntryKind::Group,
            group,
            json!([
                {"op": "remove", "path": "members[value eq \"u2\"]"},
            ]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "u1"}]));
    }

    #[test]
    fn adds_through_a_filter_that_matches_nothing() {
        let r = patch(
            EntryKind::User,
            json!({"userName": "a"}),
            json!([
                {"op": "add", "path": "emails[type eq \"work\"].value", "value": "a@w"},
            ]),
        )
        .unwrap();
        assert_eq!(r["emails"], json!([{"type": "work", "value": "a@w"}]));
    }

    #[test]
    fn ignores_extensions_and_read_only_attributes() {
        let start = json!({"userName": "a"});
        let r = patch(EntryKind::User, start.clone(), json!([
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7"},
            {"op": "add", "path": "groups", "value": [{"value": "g"}]},
        ])).unwrap();
        assert_eq!(r, start);
    }

    #[test]
    fn rejects_malformed_operations() {
        for ops in [
            json!({"op": "add"}),
            json!([{"op": "move", "path": "userName", "value": "x"}]),
            json!([{"op": "remove"}]),
            json!([{"op": "add", "value": "not an object"}]),
            json!([{"op": "replace", "path": "userName"}]),
            json!([{"op": "add", "path": "emails[type eq", "value": "x"}]),
            json!(["add"]),
        ] {
            assert!(
                patch(EntryKind::User, json!({"userName": "a"}), ops.clone()).is_err(),
                "{ops}"
            );
        }
    }
}
