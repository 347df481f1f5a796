//! What the commands print: credentials in every format, status, and the rule that `--json`
//! prints exactly one JSON document on standard output. Human messages go to standard error.

use serde_json::{json, Value};
use sipauth::sip::client_config;
use sipauth::ProvisionedCredentials;

use crate::opt::CredentialsFormat;

/// The credentials as the documented JSON contract: `sipUri`, `username`, `password`,
/// `displayName`, `realm`, `wsServerUri`, `authorizationUsername`, `sipDomain`, `expiresAt`,
/// and `user` (the verified claims).
pub fn credentials_json(c: &ProvisionedCredentials) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        if let Some(user) = map.remove("userInfo") {
            map.insert("user".into(), user);
        }
    }
    v
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Renders credentials in a format. The password shows in table form only with `show_password`;
/// machine formats always carry it (that is what they are for).
pub fn render_credentials(
    c: &ProvisionedCredentials,
    format: CredentialsFormat,
    show_password: bool,
) -> String {
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    match format {
        CredentialsFormat::Json => pretty(credentials_json(c)),
        CredentialsFormat::Jssip => pretty(client_config::jssip_config(c)),
        CredentialsFormat::Sipjs => pretty(client_config::sipjs_config(c)),
        CredentialsFormat::Baresip => client_config::baresip_account(c),
        CredentialsFormat::Env => [
            ("SIP_URI", c.sip_uri.as_str()),
            ("SIP_USERNAME", &c.username),
            ("SIP_PASSWORD", c.password.secret()),
            ("SIP_DISPLAY_NAME", &c.display_name),
            ("SIP_REALM", &c.realm),
            ("SIP_WS_URI", &c.ws_server_uri),
            ("SIP_AUTHORIZATION_USERNAME", &c.authorization_username),
        ]
        .iter()
        .map(|(k, v)| format!("export {k}={}", shell_quote(v)))
        .collect::<Vec<_>>()
        .join("\n"),
        CredentialsFormat::Table => {
            let password = if show_password {
                c.password.secret().to_string()
            } else {
                "[hidden: --show-password]".into()
            };
            [
                ("SIP URI", c.sip_uri.clone()),
                ("Username", c.username.clone()),
                ("Password", password),
                ("Display name", c.display_name.clone()),
                ("Realm", c.realm.clone()),
                ("WebSocket", c.ws_server_uri.clone()),
                ("Auth username", c.authorization_username.clone()),
            ]
            .iter()
            .map(|(k, v)| format!("{k:<14} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
        }
    }
}

/// `sipauth status --json`.
pub fn status_json(snapshot: &sipauth::SessionSnapshot) -> Value {
    json!({
        "signedIn": snapshot.is_authenticated(),
        "state": snapshot.state,
        "user": snapshot.user_info,
        "sipUri": snapshot.sip_credentials.as_ref().map(|c| c.sip_uri.clone()),
        "tokenExpiresAt": snapshot.token_expires_at,
        "refreshable": snapshot.tokens.as_ref().is_some_and(|t| t.refresh_token.is_some()),
    })
}
