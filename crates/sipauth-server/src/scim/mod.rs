//! The SCIM 2.0 service provider (RFC 7643 / RFC 7644) at `/scim/v2`: identity providers
//! (Entra ID, Okta, OneLogin, …) push users and groups, and a user's `active: false` or
//! `DELETE` ends their SIP access in the answer's transaction (the directory is
//! [`sipauth_provision`]'s; see `directory.rs` there) and ends their web sessions.
//!
//! Callers authenticate with an issuer's SCIM secret ([`Scim`]): the secret a request presents
//! selects the issuer whose directory it changes; compared in constant time, never logged,
//! accepted on no other endpoint (user tokens are not accepted here). Rooms: `filter.rs`
//! (filters and paths), `patch.rs` (PATCH), `resource.rs` (schemas, reading and writing
//! resources), `discovery.rs` (the discovery documents), `error.rs` (SCIM error answers).

pub(crate) mod discovery;
pub(crate) mod error;
pub(crate) mod filter;
pub(crate) mod patch;
pub(crate) mod resource;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use sipauth_provision::{DirectoryEntry, EntryKind, ProvisionError};
use subtle::ConstantTimeEq;

use crate::edge;
use crate::state::AppState;
use error::{ScimError, SCIM_JSON};
use resource::{Projection, LIST_SCHEMA};

/// The SCIM parsers as pure functions, for fuzzing and tools: what a provider's filter, path,
/// resource and PATCH body do, with no database.
pub mod protocol {
    use serde_json::{Map, Value};
    use sipauth_provision::EntryKind;

    /// Parses a filter (`userName eq "a" and emails[type eq "work"]`); its error's text.
    pub fn parse_filter(text: &str) -> Result<(), String> {
        super::filter::parse_filter(text)
            .map(|_| ())
            .map_err(|e| e.0)
    }

    /// Parses a PATCH path (`emails[type eq "work"].value`); its error's text.
    pub fn parse_path(text: &str) -> Result<(), String> {
        super::filter::parse_path(text).map(|_| ()).map_err(|e| e.0)
    }

    /// True when `resource` matches the filter `text`.
    pub fn matches(text: &str, resource: &Map<String, Value>) -> Result<bool, String> {
        Ok(super::filter::parse_filter(text)
            .map_err(|e| e.0)?
            .matches(resource))
    }

    /// A user's (or group's) body as the directory would store it, then `patch` (a PatchOp
    /// body) applied to it: the attributes after, or why it was refused.
    pub fn read_and_patch(
        user: bool,
        body: &Map<String, Value>,
        patch: &Map<String, Value>,
    ) -> Result<Map<String, Value>, String> {
        let kind = if user {
            EntryKind::User
        } else {
            EntryKind::Group
        };
        let show = |e: super::ScimError| format!("{e:?}");
        let mut attrs = super::resource::normalize(kind, body).map_err(show)?;
        super::resource::to_write(kind, attrs.clone()).map_err(show)?;
        super::patch::apply(kind, &mut attrs, patch).map_err(show)?;
        let attrs = super::resource::normalize(kind, &attrs).map_err(show)?;
        super::resource::to_write(kind, attrs.clone()).map_err(show)?;
        Ok(attrs)
    }
}

/// The largest SCIM body read.
pub const MAX_SCIM_BODY: usize = 1024 * 1024;

/// Who may call `/scim/v2`: per issuer, the SHA-256 of its SCIM secret; and where the service
/// is reachable (for `meta.location`).
pub struct Scim {
    base: String,
    issuers: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Scim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scim")
            .field("base", &self.base)
            .field(
                "issuers",
                &self.issuers.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl Scim {
    /// SCIM for a service reachable at `public_url` (`https://sipauth.example.com`).
    pub fn new(public_url: &str) -> Self {
        Self {
            base: format!("{}/scim/v2", public_url.trim_end_matches('/')),
            issuers: Vec::new(),
        }
    }

    /// `issuer`'s directory takes requests presenting `secret` (at least 16 bytes).
    pub fn with_issuer(mut self, issuer: &str, secret: &str) -> Result<Self, String> {
        if secret.len() < 16 {
            return Err(format!(
                "the SCIM secret of {issuer} must be at least 16 bytes"
            ));
        }
        self.issuers
            .push((issuer.to_string(), Sha256::digest(secret.as_bytes()).into()));
        Ok(self)
    }

    /// The issuer whose secret `headers` present. Every secret is compared, in constant time.
    fn issuer(&self, headers: &HeaderMap) -> Result<String, ScimError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(ScimError::unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (issuer, want) in &self.issuers {
            if bool::from(digest.ct_eq(want)) {
                found = Some(issuer.clone());
            }
        }
        found.ok_or_else(ScimError::unauthorized)
    }
}

/// The area's routes.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let scim = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/.search", post(search_all))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(put_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(put_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .fallback(not_found);
    Router::new()
        .nest("/scim/v2", scim)
        .route_layer(middleware::from_fn_with_state(state.clone(), edge::guard))
}

/// A SCIM answer: `application/scim+json`, with an ETag for a resource.
fn answer(status: StatusCode, body: Value, etag: Option<String>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// The SCIM settings and the caller's issuer, or the answer refusing them.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<(String, String), ScimError> {
    let scim = state
        .scim
        .as_ref()
        .ok_or_else(|| ScimError::not_found("SCIM"))?;
    Ok((scim.issuer(headers)?, scim.base.clone()))
}

async fn not_found(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match caller(&state, &headers) {
        Err(e) => e.into_response(),
        Ok(_) => ScimError::not_found("resource").into_response(),
    }
}

async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let (_, base) = caller(&state, &headers)?;
    Ok(answer(
        StatusCode::OK,
        discovery::service_provider_config(&base),
        None,
    ))
}

fn list_response(resources: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

const KINDS: [EntryKind; 2] = [EntryKind::User, EntryKind::Group];

async fn resource_types(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let (_, base) = caller(&state, &headers)?;
    let all: Vec<Value> = KINDS
        .iter()
        .map(|k| discovery::resource_type(*k, &base))
        .collect();
    Ok(answer(StatusCode::OK, list_response(all, 2, 1), None))
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let (_, base) = caller(&state, &headers)?;
    let kind = KINDS
        .into_iter()
        .find(|k| k.name() == id)
        .ok_or_else(|| ScimError::not_found("resource type"))?;
    Ok(answer(
        StatusCode::OK,
        discovery::resource_type(kind, &base),
        None,
    ))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ScimError> {
    let (_, base) = caller(&state, &headers)?;
    let all: Vec<Value> = KINDS.iter().map(|k| discovery::schema(*k, &base)).collect();
    Ok(answer(StatusCode::OK, list_response(all, 2, 1), None))
}

async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let (_, base) = caller(&state, &headers)?;
    let found =
        discovery::schema_by_id(&id, &base).ok_or_else(|| ScimError::not_found("schema"))?;
    Ok(answer(StatusCode::OK, found, None))
}

/// A list or search request's parameters.
#[derive(Debug, Default)]
struct ListParams {
    filter: Option<String>,
    start: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl ListParams {
    fn from_query(q: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |name: &str| {
            q.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
                })
                .transpose()
        };
        Ok(Self {
            filter: get("filter"),
            start: number("startIndex")?,
            count: number("count")?,
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
        })
    }

    fn from_search(body: &Map<String, Value>) -> Result<Self, ScimError> {
        let get = |name: &str| filter::get_ci(body, name);
        let list = |name: &str| match get(name) {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(Self {
            filter: get("filter").and_then(Value::as_str).map(str::to_string),
            start: get("startIndex").and_then(Value::as_i64),
            count: get("count").and_then(Value::as_i64),
            attributes: list("attributes"),
            excluded: list("excludedAttributes"),
        })
    }
}

async fn list(
    state: &AppState,
    issuer: &str,
    base: &str,
    kinds: &[EntryKind],
    p: ListParams,
) -> Result<Response, ScimError> {
    let filter = p
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(filter::parse_filter)
        .transpose()
        .map_err(|e| ScimError::invalid_filter(e.0))?;
    let mut entries = Vec::new();
    for kind in kinds {
        entries.extend(state.provisioner.directory_list(issuer, *kind).await?);
    }
    let matching: Vec<Map<String, Value>> = entries
        .iter()
        .map(|e| resource::to_json(e, base))
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    let start = usize::try_from(p.start.unwrap_or(1).max(1)).unwrap_or(1);
    let count = usize::try_from(p.count.unwrap_or(discovery::MAX_RESULTS as i64).max(0))
        .unwrap_or(0)
        .min(discovery::MAX_RESULTS);
    let projection = Projection::new(p.attributes.as_deref(), p.excluded.as_deref());
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|r| Value::Object(projection.apply(r)))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list_response(page, total, start),
        None,
    ))
}

async fn read_json(body: Body) -> Result<Map<String, Value>, ScimError> {
    let bytes = axum::body::to_bytes(body, MAX_SCIM_BODY)
        .await
        .map_err(|_| ScimError::too_large(MAX_SCIM_BODY))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ScimError::invalid_syntax("the body must be a JSON object")),
        Err(_) => Err(ScimError::invalid_syntax("the body is not JSON")),
    }
}

/// The version an `If-Match` header asks for (`*` and absent: any).
fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| *v != "*")
        .map(str::to_string)
}

fn check_if_match(headers: &HeaderMap, entry: &DirectoryEntry) -> Result<(), ScimError> {
    match if_match(headers) {
        Some(want)
            if !want
                .split(',')
                .any(|t| t.trim() == resource::etag(entry.version)) =>
        {
            Err(ScimError::precondition_failed())
        }
        _ => Ok(()),
    }
}

/// Ends the web sessions of the people whose access a change ended (their SIP access ended in
/// the change; the events are counted by the provisioner).
async fn after_change(state: &AppState, ended: &sipauth_provision::Ended) {
    crate::lifecycle::access_ended(state, ended).await;
}

fn one(
    entry: &DirectoryEntry,
    base: &str,
    status: StatusCode,
    projection: &Projection,
) -> Response {
    let json = resource::to_json(entry, base);
    let mut response = answer(
        status,
        Value::Object(projection.apply(json)),
        Some(resource::etag(entry.version)),
    );
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{base}/{}/{}",
            resource::endpoint(entry.kind),
            entry.id
        )) {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    response
}

fn projection_of(q: &HashMap<String, String>) -> Projection {
    let p = ListParams::from_query(q).unwrap_or_default();
    Projection::new(p.attributes.as_deref(), p.excluded.as_deref())
}

async fn get_one(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    let entry = state
        .provisioner
        .directory_get(&issuer, kind, id)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    Ok(one(&entry, &base, StatusCode::OK, &projection_of(q)))
}

async fn create(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    body: Body,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    let body = read_json(body).await?;
    let write = resource::to_write(kind, resource::normalize(kind, &body)?)?;
    let (entry, ended) = state.provisioner.directory_create(&issuer, write).await?;
    after_change(state, &ended).await;
    Ok(one(
        &entry,
        &base,
        StatusCode::CREATED,
        &Projection::default(),
    ))
}

async fn replace(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    id: &str,
    body: Body,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    let body = read_json(body).await?;
    let current = state
        .provisioner
        .directory_get(&issuer, kind, id)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    check_if_match(headers, &current)?;
    let write = resource::to_write(kind, resource::normalize(kind, &body)?)?;
    let (entry, ended) = state
        .provisioner
        .directory_replace(&issuer, id, Some(current.version), write)
        .await?;
    after_change(state, &ended).await;
    Ok(one(&entry, &base, StatusCode::OK, &Projection::default()))
}

async fn patch(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    id: &str,
    body: Body,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    let body = read_json(body).await?;
    // Read, apply, write if unchanged meanwhile; a racing change makes it read again.
    for _ in 0..5 {
        let current = state
            .provisioner
            .directory_get(&issuer, kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name()))?;
        check_if_match(headers, &current)?;
        let mut attrs = current.attributes.clone();
        if kind == EntryKind::Group && !current.related.is_empty() {
            let members: Vec<Value> = current
                .related
                .iter()
                .map(|r| json!({"value": r.id}))
                .collect();
            attrs.insert("members".into(), Value::Array(members));
        }
        patch::apply(kind, &mut attrs, &body)?;
        let write = resource::to_write(kind, resource::normalize(kind, &attrs)?)?;
        match state
            .provisioner
            .directory_replace(&issuer, id, Some(current.version), write)
            .await
        {
            Ok((entry, ended)) => {
                after_change(state, &ended).await;
                return Ok(one(&entry, &base, StatusCode::OK, &Projection::default()));
            }
            Err(ProvisionError::Stale) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::from(ProvisionError::Stale))
}

async fn delete(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    id: &str,
) -> Result<Response, ScimError> {
    let (issuer, _) = caller(state, headers)?;
    if if_match(headers).is_some() {
        let current = state
            .provisioner
            .directory_get(&issuer, kind, id)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name()))?;
        check_if_match(headers, &current)?;
    }
    let ended = state
        .provisioner
        .directory_delete(&issuer, kind, id)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    after_change(state, &ended).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn search(
    state: &AppState,
    headers: &HeaderMap,
    kind: Option<EntryKind>,
    body: Body,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    let body = read_json(body).await?;
    list(
        state,
        &issuer,
        &base,
        kinds_of(kind),
        ListParams::from_search(&body)?,
    )
    .await
}

/// One kind, or every kind (`None`: the root's `/.search`).
fn kinds_of(kind: Option<EntryKind>) -> &'static [EntryKind] {
    match kind {
        Some(EntryKind::User) => &[EntryKind::User],
        Some(EntryKind::Group) => &[EntryKind::Group],
        None => &KINDS,
    }
}

async fn search_all(
    State(s): State<AppState>,
    h: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    search(&s, &h, None, body).await
}

async fn list_of(
    state: &AppState,
    headers: &HeaderMap,
    kind: EntryKind,
    q: &HashMap<String, String>,
) -> Result<Response, ScimError> {
    let (issuer, base) = caller(state, headers)?;
    list(
        state,
        &issuer,
        &base,
        kinds_of(Some(kind)),
        ListParams::from_query(q)?,
    )
    .await
}

macro_rules! handlers {
    ($kind:expr, $list:ident, $create:ident, $search:ident, $get:ident, $put:ident, $patch:ident, $delete:ident) => {
        async fn $list(
            State(s): State<AppState>,
            h: HeaderMap,
            Query(q): Query<HashMap<String, String>>,
        ) -> Result<Response, ScimError> {
            list_of(&s, &h, $kind, &q).await
        }
        async fn $create(
            State(s): State<AppState>,
            h: HeaderMap,
            body: Body,
        ) -> Result<Response, ScimError> {
            create(&s, &h, $kind, body).await
        }
        async fn $search(
            State(s): State<AppState>,
            h: HeaderMap,
            body: Body,
        ) -> Result<Response, ScimError> {
            search(&s, &h, Some($kind), body).await
        }
        async fn $get(
            State(s): State<AppState>,
            h: HeaderMap,
            Path(id): Path<String>,
            Query(q): Query<HashMap<String, String>>,
        ) -> Result<Response, ScimError> {
            get_one(&s, &h, $kind, &id, &q).await
        }
        async fn $put(
            State(s): State<AppState>,
            h: HeaderMap,
            Path(id): Path<String>,
            body: Body,
        ) -> Result<Response, ScimError> {
            replace(&s, &h, $kind, &id, body).await
        }
        async fn $patch(
            State(s): State<AppState>,
            h: HeaderMap,
            Path(id): Path<String>,
            body: Body,
        ) -> Result<Response, ScimError> {
            patch(&s, &h, $kind, &id, body).await
        }
        async fn $delete(
            State(s): State<AppState>,
            h: HeaderMap,
            Path(id): Path<String>,
        ) -> Result<Response, ScimError> {
            delete(&s, &h, $kind, &id).await
        }
    };
}

handlers!(
    EntryKind::User,
    list_users,
    create_user,
    search_users,
    get_user,
    put_user,
    patch_user,
    delete_user
);
handlers!(
    EntryKind::Group,
    list_groups,
    create_group,
    search_groups,
    get_group,
    put_group,
    patch_group,
    delete_group
);
