//! The page's side of a redirect sign-in (feature `web` on wasm32): send the browser to the
//! provider ([`redirect`]), read the callback from the current URL ([`current_url`],
//! [`is_callback`]), and take the code and state out of the address bar and history once the
//! callback was handled ([`forget_callback`]), so a reload or the back button cannot replay it.
//! The sign-in itself is the [`crate::Session`]'s; pending sign-ins belong in `sessionStorage`
//! ([`crate::SessionOptions::pending_store`] with a [`crate::storage::WebStore`]).

use crate::error::{ConfigError, Error};

fn window() -> Result<web_sys::Window, Error> {
    web_sys::window().ok_or_else(|| ConfigError::Missing("a browser window").into())
}

fn js(what: &'static str) -> impl Fn(wasm_bindgen::JsValue) -> Error {
    move |_| ConfigError::Missing(what).into()
}

/// Sends the browser to `url` (the authorization URL).
pub fn redirect(url: &str) -> Result<(), Error> {
    window()?
        .location()
        .assign(url)
        .map_err(js("location.assign"))
}

/// The page's address.
pub fn current_url() -> Result<String, Error> {
    window()?.location().href().map_err(js("location.href"))
}

/// Whether the page is the callback: its path is `callback_path` and it carries `code`,
/// `error` or `state`, in the query or, with `response_mode=fragment`, in the fragment.
pub fn is_callback(callback_path: &str) -> Result<bool, Error> {
    let url = url::Url::parse(&current_url()?)
        .map_err(|_| Error::from(ConfigError::Missing("a parseable location")))?;
    let names = |pairs: url::form_urlencoded::Parse<'_>| {
        pairs
            .into_iter()
            .any(|(k, _)| k == "code" || k == "error" || k == "state")
    };
    let in_fragment = url
        .fragment()
        .is_some_and(|f| names(url::form_urlencoded::parse(f.as_bytes())));
    Ok(url.path() == callback_path && (names(url.query_pairs()) || in_fragment))
}

/// Replaces the current history entry with `path` (no query, no fragment): the code and
/// state leave the address bar and cannot be replayed by a reload or the back button.
pub fn forget_callback(path: &str) -> Result<(), Error> {
    window()?
        .history()
        .map_err(js("history"))?
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path))
        .map_err(js("history.replaceState"))
}
