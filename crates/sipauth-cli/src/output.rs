//! What the commands print: credentials in every format, status, and the rule that `--json`
//! prints exactly one JSON document on standard output. Human messages go to standard error,
//! through [`say`], which passes text from outside (provider error descriptions, callback
//! parameters, device codes) through [`sanitize`] first: no escape sequence, carriage return or
//! other control character from a server reaches the terminal.

use serde_json::Value;
use sipauth::sip::client_config;
use sipauth::ProvisionedCredentials;

use crate::error::CliError;
use crate::opt::CredentialsFormat;

/// The credentials as the documented JSON contract ([`sipauth_wire::SipCredentials`]):
/// `sipUri`, `username`, `password`, `displayName`, `realm`, `wsServerUri`,
/// `authorizationUsername`, `sipDomain`, `expiresAt`, and `user` (the verified claims).
pub fn credentials_json(c: &ProvisionedCredentials) -> Value {
    serde_json::to_value(c.to_wire()).unwrap_or(Value::Null)
}

/// Text made safe for a terminal: control characters (C0 but tab, DEL, C1, so ESC and CSI too)
/// and Unicode direction overrides are shown as `\u{..}` escapes; newlines become spaces. One
/// line, exactly what was sent, nothing the terminal would act on.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push(' '),
            '\t' => out.push(c),
            c if c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// Writes a line to standard error, sanitised.
pub fn say(text: &str) {
    for line in text.split('\n') {
        eprintln!("{}", sanitize(line));
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Renders credentials in a format. The password shows in table form only with `show_password`;
/// machine formats always carry it (that is what they are for). `linphone` needs the service's
/// registrar for native clients (`sipServer`).
pub fn render_credentials(
    c: &ProvisionedCredentials,
    format: CredentialsFormat,
    show_password: bool,
) -> Result<String, CliError> {
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    let sip_server = c.sip_server.as_deref().unwrap_or_default();
    let expires_at = c.expires_at.map(|t| t.to_string()).unwrap_or_default();
    let rights = c.rights.as_deref().map(|r| r.join(",")).unwrap_or_default();
    Ok(match format {
        CredentialsFormat::Json => pretty(credentials_json(c)),
        CredentialsFormat::Jssip => pretty(client_config::jssip_config(c)),
        CredentialsFormat::Sipjs => pretty(client_config::sipjs_config(c)),
        CredentialsFormat::Baresip => client_config::baresip_account(c),
        CredentialsFormat::Linphone => client_config::linphonerc(c).ok_or_else(|| {
            CliError::other(
                "--format linphone needs a registrar for native clients, and these credentials name none (linphone has no SIP over WebSocket): the provisioning service hands one out with its --sip-server",
            )
        })?,
        CredentialsFormat::Env => [
            ("SIP_URI", c.sip_uri.as_str()),
            ("SIP_USERNAME", &c.username),
            ("SIP_PASSWORD", c.password.secret()),
            ("SIP_DISPLAY_NAME", &c.display_name),
            ("SIP_REALM", &c.realm),
            ("SIP_WS_URI", &c.ws_server_uri),
            ("SIP_SERVER", sip_server),
            ("SIP_AUTHORIZATION_USERNAME", &c.authorization_username),
            ("SIP_EXPIRES_AT", &expires_at),
            ("SIP_RIGHTS", &rights),
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
            let mut rows = vec![
                ("SIP URI", c.sip_uri.clone()),
                ("Username", c.username.clone()),
                ("Password", password),
                ("Display name", c.display_name.clone()),
                ("Realm", c.realm.clone()),
                ("WebSocket", c.ws_server_uri.clone()),
            ];
            if !sip_server.is_empty() {
                rows.push(("SIP server", sip_server.to_string()));
            }
            rows.push(("Auth username", c.authorization_username.clone()));
            if let Some(at) = c.expires_at {
                rows.push(("Expires at", at.to_string()));
            }
            if let Some(r) = &c.rights {
                let shown = if r.is_empty() { "none".into() } else { r.join(", ") };
                rows.push(("Call rights", shown));
            }
            rows.iter()
                .map(|(k, v)| format!("{k:<14} {}", sanitize(v)))
                .collect::<Vec<_>>()
                .join("\n")
        }
    })
}

/// `sipauth status --json` ([`sipauth_wire::SessionView`]).
pub fn status_json(snapshot: &sipauth::SessionSnapshot) -> Value {
    let view = sipauth_wire::SessionView {
        signed_in: snapshot.is_authenticated(),
        state: serde_json::to_value(snapshot.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        user: snapshot
            .user_info
            .as_ref()
            .and_then(|u| serde_json::to_value(u).ok()),
        sip_uri: snapshot.sip_credentials.as_ref().map(|c| c.sip_uri.clone()),
        token_expires_at: snapshot.token_expires_at,
        refreshable: snapshot
            .tokens
            .as_ref()
            .is_some_and(|t| t.refresh_token.is_some()),
    };
    serde_json::to_value(view).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn rejects_terminal_escapes_in_the_credentials_table() {
        let mut c = sipauth::ProvisionedCredentials::from_provisioning(
            &sipauth_wire::ProvisionResponse {
                username: Some("alice".into()),
                password: Some("pw".into()),
                sip_domain: Some("sip.example.com".into()),
                ws_server_uri: Some("wss://sip.example.com/ws".into()),
                ..Default::default()
            },
            sipauth::UserInfo::default(),
        )
        .expect("a complete answer");
        c.display_name = "Alice\u{1b}[2J\u{1b}]0;owned\u{7}".into();
        let table = super::render_credentials(&c, crate::opt::CredentialsFormat::Table, false)
            .expect("a table");
        assert!(
            !table.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{table:?}"
        );
        assert!(table.contains("Alice\\u{1b}[2J"), "{table}");
    }

    #[test]
    fn rejects_terminal_escapes_from_outside() {
        let hostile = "denied\u{1b}[2J\u{1b}]0;pwned\u{7}\rfake line\u{9b}31m\u{202e}txt";
        let clean = sanitize(hostile);
        assert!(
            !clean.chars().any(|c| c.is_control() && c != '\t'),
            "{clean:?}"
        );
        assert!(!clean.contains('\u{202e}'));
        assert!(clean.starts_with("denied\\u{1b}[2J"), "{clean}");
        assert_eq!(
            sanitize("Alice Example <alice@example.com>"),
            "Alice Example <alice@example.com>"
        );
    }
}
