//! SIP client configurations from provisioned credentials, as JSON values the CLI and the web page
//! can print or offer for download: the guide's `getSipConfig` shape, a JsSIP `UA` configuration,
//! SIP.js `UserAgent` options, and a baresip account line. Each contains the password: that is its
//! purpose; callers decide whether to show it.

use serde_json::{json, Value};

use super::credentials::ProvisionedCredentials;

/// The guide's `getSipConfig(credentials)`: `uri` (the WebSocket server), `sipUri`, `password`,
/// `displayName`, `authorizationUsername`, `realm`.
pub fn sip_config(c: &ProvisionedCredentials) -> Value {
    json!({
        "uri": c.ws_server_uri,
        "sipUri": c.sip_uri,
        "password": c.password.secret(),
        "displayName": c.display_name,
        "authorizationUsername": c.authorization_username,
        "realm": c.realm,
    })
}

/// A JsSIP `UA` configuration. `sockets` holds WebSocket URIs: wrap each in
/// `new JsSIP.WebSocketInterface(uri)` before passing the object to `new JsSIP.UA(...)`.
pub fn jssip_config(c: &ProvisionedCredentials) -> Value {
    json!({
        "uri": c.sip_uri,
        "password": c.password.secret(),
        "display_name": c.display_name,
        "authorization_user": c.authorization_username,
        "realm": c.realm,
        "sockets": [c.ws_server_uri],
        "register": true,
    })
}

/// SIP.js `UserAgentOptions`.
pub fn sipjs_config(c: &ProvisionedCredentials) -> Value {
    json!({
        "uri": c.sip_uri,
        "displayName": c.display_name,
        "authorizationUsername": c.authorization_username,
        "authorizationPassword": c.password.secret(),
        "transportOptions": { "server": c.ws_server_uri },
    })
}

/// A baresip `accounts` line, with the WebSocket server as the outbound proxy.
pub fn baresip_account(c: &ProvisionedCredentials) -> String {
    let (transport, host_port) = match c.ws_server_uri.split_once("://") {
        Some((scheme, rest)) => (scheme, rest.split('/').next().unwrap_or(rest)),
        None => ("wss", c.ws_server_uri.as_str()),
    };
    format!(
        "\"{}\" <{}>;auth_user={};auth_pass={};outbound=\"sip:{};transport={}\";regint=3600",
        c.display_name,
        c.sip_uri,
        c.authorization_username,
        c.password.secret(),
        host_port,
        transport,
    )
}
