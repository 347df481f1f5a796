//! `/openapi.json`: the OpenAPI 3.1 document of the API, generated from the handlers'
//! annotations and the wire types' schemas (utoipa), never written by hand.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sipauth provisioning API",
        description = "Verifies the caller's bearer token (an ID token, an RFC 9068 access token, or an opaque token by introspection) and hands out SIP credentials, creating the SIP account on first use."
    ),
    paths(
        crate::api::provision,
        crate::api::provision_with_body,
        crate::api::deprovision,
        crate::api::list_devices,
        crate::api::revoke_device,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
    ),
    components(schemas(
        sipauth_wire::ProvisionRequest,
        sipauth_wire::ProvisionResponse,
        sipauth_wire::DeviceName,
        sipauth_wire::DeviceList,
        sipauth_wire::DeviceInfo,
        sipauth_wire::ApiError
    )),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

/// `GET /openapi.json`.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
