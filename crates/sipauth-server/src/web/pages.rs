//! The sign-in page's HTML (maud, compiled with the binary): the provider buttons, the account
//! page, and friendly error pages for the guide's error codes. Accessible (labels, headings,
//! focus outlines, contrast), usable on a phone, and working without JavaScript; the only script
//! is the copy button's one line. [`CONTENT_SECURITY_POLICY`] allows exactly this style and this
//! script (by hash), nothing from elsewhere, and no framing.

use std::sync::LazyLock;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, PreEscaped};
use sha2::{Digest, Sha256};
use sipauth::ProvisionedCredentials;
use sipauth_wire::ErrorCode;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#fafafa;color:#111;line-height:1.5}\
.banner{background:#8a1c1c;color:#fff;padding:.6rem 1rem;font-weight:600}\
main{max-width:40rem;margin:1.5rem auto;padding:0 1rem}\
.button,button{display:inline-block;padding:.7rem 1rem;margin:.3rem 0;font-size:1rem;border-radius:.4rem;border:1px solid #1a3d7c;background:#1a55b0;color:#fff;text-decoration:none;cursor:pointer}\
.button:focus,button:focus,a:focus,summary:focus,input:focus{outline:3px solid #f0a500;outline-offset:2px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
code{background:#eee;padding:0 .2rem}ul.providers{list-style:none;padding:0}\
@media (max-width:30rem){dl{grid-template-columns:1fr}}";

/// The copy button's script (a listener: inline event handlers would need `'unsafe-hashes'`).
const COPY_SCRIPT: &str = "document.getElementById('copy').addEventListener('click',function(){navigator.clipboard.writeText(document.getElementById('sip-password').textContent)})";

/// The pages' policy: this style and this script by their SHA-256, images and forms from here
/// only, no framing (clickjacking), no `<base>`.
pub(super) static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = |text: &str| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(text)));
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        hash(STYLE),
        hash(COPY_SCRIPT)
    )
});

fn page(title: &str, dev: bool, body: Markup) -> Markup {
    crate::html::document(
        &format!("{title} · sipauth"),
        STYLE,
        dev.then_some("Development mode (sipauth serve --dev): demo users, not for production."),
        body,
    )
}

fn no_store(markup: Markup) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], markup).into_response()
}

/// The sign-in page.
pub(super) fn home(providers: &[&str], dev: bool) -> Response {
    no_store(page(
        "Sign in",
        dev,
        html! {
            h1 { "Your SIP account" }
            p { "Sign in to get your SIP settings for a softphone." }
            ul.providers {
                @for (i, name) in providers.iter().enumerate() {
                    li { a.button href={ "/auth/login/" (i) } { "Sign in with " (name) } }
                }
            }
        },
    ))
}

/// `YYYY-MM-DD HH:MM UTC` for Unix seconds (the proleptic Gregorian calendar, days to civil
/// date by H. Hinnant's algorithm).
fn utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

fn expiry(at: Option<i64>) -> String {
    at.map_or_else(|| "unknown".into(), utc)
}

/// The account page (with credentials per device, `devices` lists the person's devices).
pub(super) fn account(
    c: &ProvisionedCredentials,
    token_expires_at: Option<i64>,
    provider: &str,
    csrf: &str,
    devices: Option<&[sipauth_provision::Device]>,
    dev: bool,
) -> Response {
    no_store(page(
        "Your SIP account",
        dev,
        html! {
            h1 { "Your SIP account" }
            p { "Signed in as " strong { (c.display_name) } " with " (provider) "." }
            dl {
                dt { "Display name" } dd { (c.display_name) }
                dt { "SIP URI" } dd { code #sip-uri { (c.sip_uri) } }
                dt { "WebSocket server" } dd { code { (c.ws_server_uri) } }
                @if let Some(server) = &c.sip_server {
                    dt { "SIP server (desk and native phones)" } dd { code { (server) } }
                }
                dt { "Realm" } dd { code { (c.realm) } }
                @if let Some(rights) = &c.rights {
                    dt { "Call rights" }
                    dd #rights {
                        @if rights.is_empty() { "Calls to colleagues only" }
                        @else { (rights.join(", ")) }
                    }
                }
                dt { "Authorization username" } dd { code { (c.authorization_username) } }
                dt { "Password" }
                dd {
                    details {
                        summary { "Show password" }
                        code #sip-password { (c.password.secret()) }
                        " "
                        button #copy type="button" aria-label="Copy the password" { "Copy" }
                        script { (PreEscaped(COPY_SCRIPT)) }
                    }
                }
                @if let Some(exp) = c.expires_at {
                    dt { "Password expires" } dd { (expiry(Some(exp))) }
                }
                dt { "Sign-in expires" } dd { (expiry(token_expires_at)) }
            }
            h2 { "Client configurations" }
            ul {
                li { a href="/account/jssip.json" download="jssip.json" { "JsSIP configuration (JSON)" } }
                li { a href="/account/sipjs.json" download="sipjs.json" { "SIP.js configuration (JSON)" } }
                li { a href="/account/baresip.conf" download="baresip.conf" { "baresip account line" } }
                @if c.sip_server.is_some() {
                    li { a href="/account/linphonerc" download="linphonerc" { "linphone configuration (linphonerc)" } }
                }
            }
            @if let Some(devices) = devices {
                h2 { "Your devices" }
                p { "Each device has its own password. Revoke one you lost: the others keep working." }
                table #devices {
                    tr { th { "Name" } th { "Digest username" } th { "Last provisioned" } th { "User agent" } th {} }
                    @for d in devices {
                        tr {
                            td { (d.name) }
                            td { code { (d.authorization_username) } }
                            td { (utc(d.last_provisioned_at)) }
                            td { (d.user_agent.as_deref().unwrap_or("-")) }
                            td {
                                form method="post" action={ "/account/devices/" (d.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
                h3 { "Add a device" }
                form #add-device method="post" action="/account/devices" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="device-name" { "Name " }
                    input #device-name type="text" name="name" maxlength="64" required placeholder="Desk phone";
                    " "
                    button type="submit" { "Add a device" }
                }
            }
            h2 { "Check registration" }
            form method="post" action="/account/check" {
                input type="hidden" name="csrf" value=(csrf);
                p { "The service registers these credentials at " code { (c.ws_server_uri) } " and tells you what the SIP server said." }
                button #check-registration type="submit" { "Check registration" }
            }
            h2 { "Sign out" }
            form method="post" action="/auth/logout" {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    input type="checkbox" id="remove_account" name="remove_account" value="1";
                    " "
                    label for="remove_account" { "Also remove my SIP account" }
                }
                button type="submit" { "Sign out" }
            }
        },
    ))
}

/// A device just added from the account page: its own credentials, to type into it.
pub(super) fn device_added(c: &ProvisionedCredentials, name: &str, dev: bool) -> Response {
    no_store(page(
        "Device added",
        dev,
        html! {
            h1 { "Device added: " (name) }
            p { "Enter these in the device. Adding it again by the same name shows the same password." }
            dl {
                dt { "SIP URI" } dd { code { (c.sip_uri) } }
                dt { "Authorization username" } dd { code #device-auth-username { (c.authorization_username) } }
                dt { "Password" } dd { code #device-password { (c.password.secret()) } }
                dt { "Realm" } dd { code { (c.realm) } }
                dt { "WebSocket server" } dd { code { (c.ws_server_uri) } }
                @if let Some(server) = &c.sip_server {
                    dt { "SIP server (desk and native phones)" } dd { code { (server) } }
                }
            }
            p { a href="/account" { "Back to your account" } }
        },
    ))
}

/// The result of "Check registration".
pub(super) fn registration_check(
    outcome: &Result<sipauth_register::Outcome, sipauth_register::CheckError>,
    ws_uri: &str,
    dev: bool,
) -> Response {
    use sipauth_register::{CheckError, Outcome};
    let (state, title, detail) = match outcome {
        Ok(Outcome::Registered { .. }) => (
            "registered",
            "Registered",
            "The SIP server accepted these credentials: a phone configured with them registers.".to_string(),
        ),
        Ok(Outcome::Refused { status, reason }) => (
            "refused",
            "Refused",
            format!("The SIP server answered {status} {reason}: it does not accept these credentials. Does it read the service's accounts (docs/kamailio.md)?"),
        ),
        Err(CheckError::Unreachable(_) | CheckError::Timeout(_)) => (
            "unreachable",
            "No SIP server answers",
            format!("No SIP server answers at {ws_uri}. Start one that reads this service's accounts: Kamailio with the tested configuration (docs/kamailio.md), or, for development, restart with `sipauth serve --dev --with-kamailio`."),
        ),
        Err(e) => ("failed", "The check failed", e.to_string()),
    };
    no_store(page(
        "Check registration",
        dev,
        html! {
            h1 { "Check registration" }
            p #check-result data-outcome=(state) role="status" { strong { (title) } }
            p { (detail) }
            p { a.button href="/account" { "Back to your account" } }
        },
    ))
}

/// A friendly error page; the code is shown for support.
pub(super) fn error(status: StatusCode, code: &str, dev: bool) -> Response {
    let (title, advice) = if status == StatusCode::FORBIDDEN
        && ErrorCode::parse(code) == Some(ErrorCode::AccessDenied)
    {
        ("You do not have SIP access", "Your account is not allowed to use SIP here, or it was disabled. Ask your administrator.")
    } else {
        sipauth_wire::explain(code)
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        page(
            title,
            dev,
            html! {
                h1 { (title) }
                p { (advice) }
                p { "Code: " code { (code) } }
                p { a.button href=(super::HOME) { "Back to sign-in" } }
            },
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    async fn account_page(rights: Option<Vec<String>>) -> String {
        let answer = sipauth_wire::ProvisionResponse {
            username: Some("otto".into()),
            password: Some("pw".into()),
            sip_domain: Some("sip.example.com".into()),
            ws_server_uri: Some("wss://sip.example.com/ws".into()),
            rights,
            ..Default::default()
        };
        let c = sipauth::ProvisionedCredentials::from_provisioning(&answer, Default::default())
            .unwrap();
        let page = super::account(&c, None, "Example", "csrf", None, false);
        let body = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_account_page_lists_the_call_rights_when_the_service_maps_any() {
        let page = account_page(Some(vec!["international".into(), "outbound".into()])).await;
        assert!(page.contains("Call rights"), "{page}");
        assert!(page.contains("international, outbound"), "{page}");
        let none = account_page(Some(vec![])).await;
        assert!(none.contains("Calls to colleagues only"), "{none}");
        let unmapped = account_page(None).await;
        assert!(!unmapped.contains("Call rights"), "{unmapped}");
    }

    #[test]
    fn utc_dates_are_right() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::utc(1_796_177_786), "2026-12-02 02:16 UTC");
    }
}
