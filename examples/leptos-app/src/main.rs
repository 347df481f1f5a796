//! The example Leptos app: a client-side rendered page that signs in with the provider named in
//! its `<meta>` tags, shows the SIP settings the session made (from `sipauth serve` with the
//! `api` strategy when the page names an endpoint), registers them with JsSIP and calls other
//! people by name (`phone.rs`), refreshes its tokens in the background, survives reloads (the
//! session is in `localStorage`, a started sign-in in `sessionStorage`) and signs out. The page itself, its meta tags and the static server are
//! `testenv/run-leptos-example.sh`'s; the sign-in is `sipauth-leptos`'s.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod phone;

#[cfg(target_arch = "wasm32")]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "this example runs in the browser: testenv/run-leptos-example.sh --issuer URL --client-id ID"
    );
    std::process::exit(2);
}
