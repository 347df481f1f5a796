//! SIP client configurations from provisioned credentials, as JSON values the CLI and the web page
//! can print or offer for download: the guide's `getSipConfig` shape, a JsSIP `UA` configuration,
//! SIP.js `UserAgent` options, a baresip account line and a linphonerc. Each contains the password: that is its
//! purpose; callers decide whether to show it.

use serde_json::{json, Value};

use super::credentials::ProvisionedCredentials;
use super::server::SipServer;

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

/// A baresip `accounts` line. The outbound proxy is the registrar for native clients when the
/// credentials name one (`sipServer`: baresip registers over UDP, TCP or TLS), else the
/// WebSocket server with its path (`sip:host:port/ws;transport=ws`, for a baresip built with
/// WebSocket support).
pub fn baresip_account(c: &ProvisionedCredentials) -> String {
    let outbound = match c.sip_server.as_deref().map(SipServer::parse) {
        Some(Ok(server)) => server.to_string(),
        _ => websocket_outbound(&c.ws_server_uri),
    };
    format!(
        "\"{}\" <{}>;auth_user={};auth_pass={};outbound=\"{}\";regint=3600",
        c.display_name.replace(['"', '\\'], ""),
        c.sip_uri,
        c.authorization_username,
        c.password.secret(),
        outbound,
    )
}

/// `ws[s]://host:port/path` as a SIP URI with the path kept: `sip:host:port/path;transport=ws[s]`.
fn websocket_outbound(ws: &str) -> String {
    match url::Url::parse(ws) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            let port = url
                .port_or_known_default()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            let path = match url.path() {
                "/" => "",
                p => p,
            };
            format!("sip:{host}{port}{path};transport={}", url.scheme())
        }
        Err(_) => format!("sip:{ws};transport=wss"),
    }
}

/// A linphonerc (the configuration file of `linphonec -c FILE` and `linphone-daemon
/// --config FILE`, Debian's linphone 5) with one account: its proxy is the registrar for
/// native clients (`sipServer`; linphone has no SIP over WebSocket), so it is `None` when the
/// credentials name none. The file holds the password in clear: write it 0600.
pub fn linphonerc(c: &ProvisionedCredentials) -> Option<String> {
    let server = SipServer::parse(c.sip_server.as_deref()?).ok()?;
    let identity = format!(
        "\"{}\" <{}>",
        c.display_name.replace(['"', '\\', '\n', '\r'], ""),
        c.sip_uri
    );
    let line = |v: &str| v.replace(['\n', '\r'], "");
    Some(format!(
        "[sip]\n\
         sip_port=-1\n\
         sip_tcp_port=-1\n\
         sip_tls_port=-1\n\
         default_proxy=0\n\
         \n\
         [auth_info_0]\n\
         username={username}\n\
         userid={userid}\n\
         passwd={password}\n\
         realm={realm}\n\
         domain={domain}\n\
         \n\
         [proxy_0]\n\
         reg_proxy=<{proxy}>\n\
         reg_identity={identity}\n\
         reg_expires=3600\n\
         reg_sendregister=1\n\
         realm={realm}\n",
        username = line(&c.username),
        userid = line(&c.authorization_username),
        password = line(c.password.secret()),
        realm = line(&c.realm),
        domain = line(&c.sip_domain),
        proxy = server,
        identity = line(&identity),
    ))
}
