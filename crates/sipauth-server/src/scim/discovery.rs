//! The SCIM discovery documents (RFC 7644 §4): `ServiceProviderConfig` (what sipauth
//! supports: PATCH, filters up to [`MAX_RESULTS`], ETags; no bulk, sort or password change),
//! `ResourceTypes` and `Schemas`, written from the attribute tables in `resource.rs`, so what
//! is published is what is read.

use serde_json::{json, Value};
use sipauth_provision::EntryKind;

use super::resource::{schema_of, Attr, Kind, GROUP_SCHEMA, USER_SCHEMA};

/// The most resources one list answer carries.
pub(crate) const MAX_RESULTS: usize = 1000;

pub(crate) fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/sipauth/sipauth/blob/main/docs/lifecycle.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The secret in the issuer's scim_token_file, as a bearer token",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

pub(crate) fn resource_type(kind: EntryKind, base: &str) -> Value {
    let (schema, _) = schema_of(kind);
    let endpoint = super::resource::endpoint(kind);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{endpoint}"),
        "description": match kind {
            EntryKind::User => "A person: their SIP account follows `active` and DELETE",
            EntryKind::Group => "A group: its displayName counts as a `groups` value for the policy",
        },
        "schema": schema,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())}
    })
}

fn attribute(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Complex => "complex",
            Kind::Reference => "reference",
        },
        "multiValued": a.multi,
        "description": a.name,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability,
        "returned": "default",
        "uniqueness": a.uniqueness,
    });
    if !a.subs.is_empty() {
        v["subAttributes"] = Value::Array(a.subs.iter().map(attribute).collect());
    }
    if !a.reference_types.is_empty() {
        v["referenceTypes"] = json!(a.reference_types);
    }
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    v
}

pub(crate) fn schema(kind: EntryKind, base: &str) -> Value {
    let (id, attrs) = schema_of(kind);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": kind.name(),
        "description": format!("{} (the attributes sipauth keeps)", kind.name()),
        "attributes": attrs.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

/// The schema of an id.
pub(crate) fn schema_by_id(id: &str, base: &str) -> Option<Value> {
    match id {
        USER_SCHEMA => Some(schema(EntryKind::User, base)),
        GROUP_SCHEMA => Some(schema(EntryKind::Group, base)),
        _ => None,
    }
}
