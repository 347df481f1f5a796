//! The HTML document every page of the service shares (the web sign-in page, the development
//! identity provider): language, viewport for phones, a title, inline styles, an optional banner
//! announced to screen readers, the main region. Pages decide only their content.

use maud::{html, Markup, DOCTYPE};

/// A whole page.
pub(crate) fn document(title: &str, style: &str, banner: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (style) }
            }
            body {
                @if let Some(text) = banner {
                    div.banner role="note" { (text) }
                }
                main { (body) }
            }
        }
    }
}
