//! The development identity provider's pages: the login page (one button per demo user, and
//! Cancel) and its error page, each under a banner saying this is not a real identity provider.
//! Plain HTML forms: no JavaScript, keyboard-usable, readable on a phone.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::DevUser;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f6f6;color:#111}\
.banner{background:#8a1c1c;color:#fff;padding:.75rem 1rem;font-weight:600}\
main{max-width:28rem;margin:2rem auto;padding:0 1rem}\
button{display:block;width:100%;margin:.5rem 0;padding:.8rem;font-size:1rem;border-radius:.4rem;border:1px solid #333;background:#fff;color:#111;cursor:pointer}\
button:focus{outline:3px solid #1a55b0;outline-offset:2px}\
button.cancel{border-color:#777;color:#333}";

fn page(title: &str, body: Markup) -> Markup {
    crate::html::document(
        &format!("{title} · sipauth development identity provider"),
        STYLE,
        Some("Development identity provider (sipauth serve --dev): not for production. Anyone can sign in as a demo user."),
        body,
    )
}

/// The login page of one authorization request.
pub(super) fn login(issuer: &str, request: &str, client: &str, users: &[DevUser]) -> Response {
    let markup = page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p { "Signing in to " strong { (client) } " at " code { (issuer) } "." }
            form method="post" action={ (issuer) "/login" } {
                input type="hidden" name="request" value=(request);
                @for user in users {
                    button type="submit" name="user" value=(user.login) {
                        "Continue as " (user.name)
                    }
                }
                button.cancel type="submit" name="cancel" value="1" { "Cancel" }
            }
        },
    );
    ([(axum::http::header::CACHE_CONTROL, "no-store")], markup).into_response()
}

/// An error page.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Sign-in error",
            html! {
                h1 { "This sign-in cannot continue" }
                p { (message) }
            },
        ),
    )
        .into_response()
}
