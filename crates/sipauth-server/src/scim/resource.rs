//! The SCIM resources sipauth takes (RFC 7643): the User and Group schemas it publishes, a
//! body read into what the directory stores (attribute names in any case, Entra ID's
//! `"active": "False"`, read-only and unknown attributes dropped, types checked), and a stored
//! entry written back as SCIM JSON with `meta`, filtered by `attributes` /
//! `excludedAttributes`.

use serde_json::{json, Map, Value};
use sipauth_provision::{DirectoryEntry, DirectoryWrite, EntryKind, GroupWrite, UserWrite};

use super::error::ScimError;
use super::filter::get_ci;

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
#[cfg(test)]
pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(crate) const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Boolean,
    Complex,
    Reference,
}

/// One attribute of a published schema.
#[derive(Debug)]
pub(crate) struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub mutability: &'static str,
    pub case_exact: bool,
    pub uniqueness: &'static str,
    pub subs: &'static [Attr],
    pub reference_types: &'static [&'static str],
    pub canonical: &'static [&'static str],
}

const fn attr(name: &'static str, kind: Kind) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        mutability: "readWrite",
        case_exact: false,
        uniqueness: "none",
        subs: &[],
        reference_types: &[],
        canonical: &[],
    }
}

pub(crate) const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..attr("userName", Kind::String)
    },
    Attr {
        subs: &[
            attr("formatted", Kind::String),
            attr("familyName", Kind::String),
            attr("givenName", Kind::String),
        ],
        ..attr("name", Kind::Complex)
    },
    attr("displayName", Kind::String),
    Attr {
        multi: true,
        subs: &[
            attr("value", Kind::String),
            Attr {
                canonical: &["work", "home", "other"],
                ..attr("type", Kind::String)
            },
            attr("primary", Kind::Boolean),
        ],
        ..attr("emails", Kind::Complex)
    },
    attr("active", Kind::Boolean),
    Attr {
        multi: true,
        mutability: "readOnly",
        subs: &[
            Attr {
                mutability: "readOnly",
                case_exact: true,
                ..attr("value", Kind::String)
            },
            Attr {
                mutability: "readOnly",
                reference_types: &["Group"],
                ..attr("$ref", Kind::Reference)
            },
            Attr {
                mutability: "readOnly",
                ..attr("display", Kind::String)
            },
        ],
        ..attr("groups", Kind::Complex)
    },
];

pub(crate) const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..attr("displayName", Kind::String)
    },
    Attr {
        multi: true,
        subs: &[
            Attr {
                mutability: "immutable",
                case_exact: true,
                ..attr("value", Kind::String)
            },
            Attr {
                mutability: "immutable",
                reference_types: &["User"],
                ..attr("$ref", Kind::Reference)
            },
            Attr {
                mutability: "readOnly",
                ..attr("display", Kind::String)
            },
            Attr {
                mutability: "immutable",
                canonical: &["User"],
                ..attr("type", Kind::String)
            },
        ],
        ..attr("members", Kind::Complex)
    },
];

/// The schema URN and attributes of a kind.
pub(crate) fn schema_of(kind: EntryKind) -> (&'static str, &'static [Attr]) {
    match kind {
        EntryKind::User => (USER_SCHEMA, USER_ATTRS),
        EntryKind::Group => (GROUP_SCHEMA, GROUP_ATTRS),
    }
}

/// The endpoint of a kind (`Users`, `Groups`).
pub(crate) fn endpoint(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::User => "Users",
        EntryKind::Group => "Groups",
    }
}

pub(crate) fn find_attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A boolean as providers send it: `true`, or Entra ID's `"True"` / `"False"`.
fn boolean(name: &str, v: &Value) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!(
            "{name} must be a boolean"
        ))),
    }
}

/// One attribute's value, normalised; `None` drops it (null, read-only).
fn normalize_value(a: &Attr, v: &Value, whole: bool) -> Result<Option<Value>, ScimError> {
    if v.is_null() || (a.mutability == "readOnly") {
        return Ok(None);
    }
    if a.multi && whole {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(n) = normalize_value(a, item, false)? {
                out.push(n);
            }
        }
        return Ok(Some(Value::Array(out)));
    }
    Ok(Some(match a.kind {
        Kind::Boolean => Value::Bool(boolean(a.name, v)?),
        Kind::String | Kind::Reference => match v {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "{} must be a string",
                    a.name
                )))
            }
        },
        Kind::Complex => {
            let Value::Object(o) = v else {
                return Err(ScimError::invalid_value(format!(
                    "{} must be an object",
                    a.name
                )));
            };
            let mut out = Map::new();
            for (k, sv) in o {
                let Some(sub) = find_attr(a.subs, k) else {
                    continue;
                };
                if let Some(n) = normalize_value(sub, sv, true)? {
                    out.insert(sub.name.to_string(), n);
                }
            }
            Value::Object(out)
        }
    }))
}

/// A resource's attributes as sipauth keeps them: known attributes under their canonical
/// names, `externalId` as a string; `schemas`, `id`, `meta`, read-only and unknown attributes
/// (extensions) dropped.
pub(crate) fn normalize(
    kind: EntryKind,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let (_, attrs) = schema_of(kind);
    let mut out = Map::new();
    for (k, v) in body {
        if k.eq_ignore_ascii_case("externalId") {
            match v {
                Value::String(s) if !s.is_empty() => {
                    out.insert("externalId".into(), Value::String(s.clone()));
                }
                Value::Null => {}
                Value::String(_) => {}
                _ => return Err(ScimError::invalid_value("externalId must be a string")),
            }
            continue;
        }
        let Some(a) = find_attr(attrs, k) else {
            continue;
        };
        if let Some(n) = normalize_value(a, v, true)? {
            out.insert(a.name.to_string(), n);
        }
    }
    Ok(out)
}

fn text<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    get_ci(m, name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// What the directory stores for a normalised resource.
pub(crate) fn to_write(
    kind: EntryKind,
    attrs: Map<String, Value>,
) -> Result<DirectoryWrite, ScimError> {
    let external_id = text(&attrs, "externalId").map(str::to_string);
    match kind {
        EntryKind::User => {
            let user_name = text(&attrs, "userName")
                .map(str::to_string)
                .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
            let name = attrs.get("name").and_then(Value::as_object);
            let display_name = text(&attrs, "displayName")
                .or_else(|| name.and_then(|n| text(n, "formatted")))
                .map(str::to_string)
                .or_else(|| {
                    let parts: Vec<&str> = ["givenName", "familyName"]
                        .iter()
                        .filter_map(|p| name.and_then(|n| text(n, p)))
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                });
            let emails: Vec<&Map<String, Value>> = attrs
                .get("emails")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default();
            let email = emails
                .iter()
                .find(|e| e.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| emails.first())
                .and_then(|e| text(e, "value"))
                .map(str::to_string);
            let active = match attrs.get("active") {
                Some(Value::Bool(b)) => *b,
                _ => true,
            };
            Ok(DirectoryWrite::User(UserWrite {
                user_name,
                external_id,
                active,
                display_name,
                email,
                attributes: attrs,
            }))
        }
        EntryKind::Group => {
            let display_name = text(&attrs, "displayName")
                .map(str::to_string)
                .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
            let mut members: Vec<String> = attrs
                .get("members")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.get("value").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            members.sort();
            members.dedup();
            let mut attributes = attrs;
            attributes.remove("members");
            Ok(DirectoryWrite::Group(GroupWrite {
                display_name,
                external_id,
                members,
                attributes,
            }))
        }
    }
}

/// RFC 3339 UTC time of Unix seconds.
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The ETag of a version.
pub(crate) fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// An entry as SCIM JSON, its location under `base` (`…/scim/v2`).
pub(crate) fn to_json(entry: &DirectoryEntry, base: &str) -> Map<String, Value> {
    let (schema, _) = schema_of(entry.kind);
    let location = format!("{base}/{}/{}", endpoint(entry.kind), entry.id);
    let mut out = Map::new();
    out.insert("schemas".into(), json!([schema]));
    out.insert("id".into(), Value::String(entry.id.clone()));
    for (k, v) in &entry.attributes {
        out.insert(k.clone(), v.clone());
    }
    let (related_name, related_endpoint, related_type) = match entry.kind {
        EntryKind::User => ("groups", "Groups", "Group"),
        EntryKind::Group => ("members", "Users", "User"),
    };
    if !entry.related.is_empty() {
        let related: Vec<Value> = entry
            .related
            .iter()
            .map(|r| {
                let mut m = json!({
                    "value": r.id,
                    "$ref": format!("{base}/{related_endpoint}/{}", r.id),
                });
                // A user's groups carry their names (read-only); a group's members are as
                // written (`display` would differ from what the provider sent).
                match entry.kind {
                    EntryKind::User => m["display"] = json!(r.display),
                    EntryKind::Group => m["type"] = json!(related_type),
                }
                m
            })
            .collect();
        out.insert(related_name.into(), Value::Array(related));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": entry.kind.name(),
            "created": rfc3339(entry.created_at),
            "lastModified": rfc3339(entry.updated_at),
            "location": location,
            "version": etag(entry.version),
        }),
    );
    out
}

/// Which attributes an answer carries (`attributes` / `excludedAttributes`, comma-separated,
/// with an optional schema URN and sub-attribute).
#[derive(Debug, Default, Clone)]
pub(crate) struct Projection {
    only: Vec<(String, Option<String>)>,
    except: Vec<(String, Option<String>)>,
}

fn names(list: Option<&str>) -> Vec<(String, Option<String>)> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(64)
        .map(|raw| {
            let bare = super::filter::strip_urn(raw);
            match bare.split_once('.') {
                Some((a, s)) => (a.to_string(), Some(s.to_string())),
                None => (bare.to_string(), None),
            }
        })
        .collect()
}

impl Projection {
    pub(crate) fn new(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        Self {
            only: names(attributes),
            except: names(excluded),
        }
    }

    /// `resource` with only the attributes asked for (`schemas` and `id` always).
    pub(crate) fn apply(&self, mut resource: Map<String, Value>) -> Map<String, Value> {
        let always = |k: &str| k == "schemas" || k == "id";
        if !self.only.is_empty() {
            resource.retain(|k, v| {
                if always(k) {
                    return true;
                }
                let wanted: Vec<&Option<String>> = self
                    .only
                    .iter()
                    .filter(|(a, _)| a.eq_ignore_ascii_case(k))
                    .map(|(_, s)| s)
                    .collect();
                if wanted.is_empty() {
                    return false;
                }
                if wanted.iter().any(|s| s.is_none()) {
                    return true;
                }
                let keep = |o: &mut Map<String, Value>| {
                    o.retain(|sk, _| {
                        wanted
                            .iter()
                            .any(|s| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(sk)))
                    })
                };
                match v {
                    Value::Object(o) => keep(o),
                    Value::Array(items) => items
                        .iter_mut()
                        .filter_map(Value::as_object_mut)
                        .for_each(keep),
                    _ => {}
                }
                true
            });
        }
        for (a, sub) in &self.except {
            let key = resource.keys().find(|k| k.eq_ignore_ascii_case(a)).cloned();
            let Some(key) = key.filter(|k| !always(k)) else {
                continue;
            };
            match sub {
                None => {
                    resource.remove(&key);
                }
                Some(sub) => match resource.get_mut(&key) {
                    Some(Value::Object(o)) => {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                    Some(Value::Array(items)) => {
                        for o in items.iter_mut().filter_map(Value::as_object_mut) {
                            o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                        }
                    }
                    _ => {}
                },
            }
        }
        resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rfc3339_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_256_000), "2026-12-03T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn reads_what_entra_sends() {
        let body = json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "ExternalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "UserName": "Test_User_ab6490ee@contoso.com",
            "active": "False",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
            "name": {"familyName": "familyName", "givenName": "givenName"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"},
            "groups": [{"value": "forged"}]
        });
        let attrs = normalize(EntryKind::User, body.as_object().unwrap()).unwrap();
        assert_eq!(attrs["userName"], "Test_User_ab6490ee@contoso.com");
        assert_eq!(attrs["active"], false);
        assert!(
            !attrs.contains_key("groups"),
            "read-only: the directory's, not the body's"
        );
        let DirectoryWrite::User(u) = to_write(EntryKind::User, attrs).unwrap() else {
            panic!("a user")
        };
        assert!(!u.active);
        assert_eq!(
            u.external_id.as_deref(),
            Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
        );
        assert_eq!(u.display_name.as_deref(), Some("givenName familyName"));
        assert_eq!(u.email.as_deref(), Some("Test_User_fd0ea19b@contoso.com"));
    }

    #[test]
    fn rejects_wrong_types_and_a_missing_user_name() {
        for body in [
            json!({"userName": "a", "active": "maybe"}),
            json!({"userName": ["a"]}),
            json!({"userName": "a", "name": "x"}),
            json!({"userName": "a", "externalId": 5}),
        ] {
            assert!(
                normalize(EntryKind::User, body.as_object().unwrap()).is_err(),
                "{body}"
            );
        }
        let attrs = normalize(
            EntryKind::User,
            json!({"displayName": "x"}).as_object().unwrap(),
        )
        .unwrap();
        assert!(to_write(EntryKind::User, attrs).is_err());
    }

    #[test]
    fn projects_attributes() {
        let r = json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "g", "familyName": "f"}, "displayName": "d"});
        let only = Projection::new(
            Some("name.givenName,urn:ietf:params:scim:schemas:core:2.0:User:displayName"),
            None,
        )
        .apply(r.as_object().cloned().unwrap());
        assert_eq!(
            Value::Object(only),
            json!({"schemas": [], "id": "1", "name": {"givenName": "g"}, "displayName": "d"})
        );
        let except = Projection::new(None, Some("displayName,name.familyName"))
            .apply(r.as_object().cloned().unwrap());
        assert_eq!(
            Value::Object(except),
            json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "g"}})
        );
    }
}
