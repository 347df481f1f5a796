//! The app's components: [`App`] discovers the providers and mounts the [`OAuth2Provider`] of
//! the one chosen; [`Account`] is the page inside it (a sign-in button per provider, the SIP
//! settings, the phone, sign out). Element ids are what the browser tests read.
//!
//! Several providers on one page (the guide's "Sign in with Google / Sign in with Microsoft"):
//! each has its own session (its own storage keys, `sipauth_p<N>_`), the button pressed is
//! remembered before the redirect, and the callback is completed by that provider's session
//! alone, on the one callback path.

use std::sync::Arc;

use leptos::prelude::*;
use sipauth::{
    AuthorizationOptions, ClientRegistration, CredentialMapping, HttpClient, PasswordStrategy,
    ProviderConfig, SessionOptions,
};
use sipauth::{SessionStore, WebStorage, WebStore};
use sipauth_leptos::{use_oauth2_provider, OAuth2Config, OAuth2Provider};
use wasm_bindgen::JsCast;

/// The guide's default callback path, registered at the provider as `ORIGIN/oauth/callback`.
const CALLBACK_PATH: &str = "/oauth/callback";

/// The content of `<meta name="NAME">`, when present and not empty.
fn meta(name: &str) -> Option<String> {
    web_sys::window()?
        .document()?
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()??
        .get_attribute("content")
        .filter(|v| !v.trim().is_empty())
}

/// Where the provider last chosen is remembered (`localStorage`), with several providers.
const CHOSEN_KEY: &str = "sipauth_example_provider";

/// A provider the page offers: `<meta name="sipauth-provider" data-label="…"
/// data-issuer="…" data-client-id="…">` (one per provider, in order), or the single provider of
/// `sipauth-issuer` and `sipauth-client-id`.
#[derive(Clone)]
struct Offered {
    label: String,
    issuer: String,
    client_id: String,
}

fn offered() -> Result<Vec<Offered>, String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let tags = document
        .query_selector_all("meta[name=\"sipauth-provider\"]")
        .map_err(|_| "cannot read the page's meta tags".to_string())?;
    let mut list = Vec::new();
    for i in 0..tags.length() {
        let Some(tag) = tags
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
        else {
            continue;
        };
        let get = |name: &str| {
            tag.get_attribute(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(format!("a sipauth-provider meta tag has no {name}"))
        };
        list.push(Offered {
            label: get("data-label")?,
            issuer: get("data-issuer")?,
            client_id: get("data-client-id")?,
        });
    }
    if list.is_empty() {
        list.push(Offered {
            label: String::new(),
            issuer: meta("sipauth-issuer").ok_or("the page names no issuer (sipauth-issuer)")?,
            client_id: meta("sipauth-client-id")
                .ok_or("the page names no client id (sipauth-client-id)")?,
        });
    }
    Ok(list)
}

/// The provider chosen last (by its button), when it is one of `count`.
fn chosen(count: usize) -> usize {
    WebStore::new(WebStorage::Local, "")
        .load(CHOSEN_KEY)
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|i| *i < count)
        .unwrap_or(0)
}

/// Every provider's configuration, in the page's order.
async fn configurations() -> Result<Vec<(String, OAuth2Config)>, String> {
    let offered = offered()?;
    let several = offered.len() > 1;
    let mut all = Vec::with_capacity(offered.len());
    for (i, p) in offered.into_iter().enumerate() {
        // One provider keeps the default keys; several get theirs apart.
        let prefix = if several {
            format!("sipauth_p{i}_")
        } else {
            "sipauth_".into()
        };
        all.push((p.label.clone(), configuration(&p, prefix).await?));
    }
    Ok(all)
}

/// One provider's session configuration: the provider from discovery, a public client with
/// PKCE whose redirect is this origin's callback, the session in `localStorage` and pending
/// sign-ins in `sessionStorage`, under `prefix`.
async fn configuration(offered: &Offered, prefix: String) -> Result<OAuth2Config, String> {
    let Offered {
        issuer, client_id, ..
    } = offered.clone();
    let origin = web_sys::window()
        .ok_or("no window")?
        .location()
        .origin()
        .map_err(|_| "no origin".to_string())?;
    let client = ClientRegistration::public(client_id, format!("{origin}{CALLBACK_PATH}"));
    let http = HttpClient::new().map_err(|e| e.to_string())?;
    let provider = ProviderConfig::discover(&http, &issuer, client)
        .await
        .map_err(|e| format!("discovery of {issuer} failed: {e}"))?
        .with_scopes(["openid", "email", "profile"]);
    let domain = meta("sipauth-sip-domain").unwrap_or_else(|| "sip.example.com".into());
    let ws_uri = meta("sipauth-ws-uri").unwrap_or_else(|| format!("wss://{domain}/ws"));
    // With a provisioning service (`sipauth serve`), its answer names the account, the
    // password and the servers; a path such as the guide's "/api/sip/provision" is this
    // origin's (an app served by `sipauth serve --static-dir`).
    let strategy = match meta("sipauth-api-endpoint") {
        Some(endpoint) => PasswordStrategy::api_endpoint(&endpoint, sipauth::sip::ApiMethod::Post)
            .map_err(|e| format!("sipauth-api-endpoint: {e}"))?,
        None => PasswordStrategy::AccessToken,
    };
    let mapping = CredentialMapping::new(domain, ws_uri, strategy);
    // The session names its keys (`<prefix>session`, `<prefix>pending_...`): no store prefix.
    let options = SessionOptions {
        store: Arc::new(WebStore::new(WebStorage::Local, "")),
        pending_store: Some(Arc::new(WebStore::new(WebStorage::Session, ""))),
        key_prefix: prefix,
        ..SessionOptions::default()
    };
    Ok(OAuth2Config {
        provider,
        mapping,
        options,
    })
}

/// The whole page.
// Leptos' #[component] makes its props public whatever the function says.
#[allow(unreachable_pub)]
#[component]
pub fn App() -> impl IntoView {
    let config = LocalResource::new(configurations);
    view! {
        <main>
            <h1>"sipauth · Leptos example"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    config
                        .get()
                        .map(|config| match config {
                            Ok(providers) => {
                                let chosen = chosen(providers.len());
                                let config = providers[chosen].1.clone();
                                view! {
                                    <OAuth2Provider config=config callback_path=CALLBACK_PATH>
                                        <Account providers=providers chosen=chosen />
                                    </OAuth2Provider>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p id="error" role="alert">{e}</p> }.into_any(),
                        })
                }}
            </Suspense>
        </main>
    }
}

/// Sign in (a button per provider), or the SIP settings and sign out. `chosen` is the provider
/// whose session this page shows.
#[component]
fn Account(providers: Vec<(String, OAuth2Config)>, chosen: usize) -> impl IntoView {
    let auth = match use_oauth2_provider() {
        Ok(auth) => auth,
        Err(e) => return view! { <p role="alert">{e.to_string()}</p> }.into_any(),
    };
    let (state, error, expires_at) = (auth.state(), auth.error(), auth.token_expires_at());
    let (signed_in, credentials) = (auth.is_authenticated(), auth.credentials());
    let failure = RwSignal::new(None::<String>);
    let last_logout = auth.last_logout();
    let auth_for_errors = auth.clone();
    // Another provider's button: remember it, then its own session starts the sign-in (its
    // pending record under its keys), and the page that comes back mounts that provider.
    let sign_in_with = {
        let auth = auth.clone();
        let providers = providers.clone();
        move |i: usize| {
            let started = if i == chosen {
                auth.login(&AuthorizationOptions::default()).map(|_| ())
            } else {
                let config = providers[i].1.clone();
                let _ = WebStore::new(WebStorage::Local, "").save(CHOSEN_KEY, &i.to_string());
                sipauth::Session::builder(config.provider, config.mapping)
                    .options(config.options)
                    .build()
                    .and_then(|session| session.login(&AuthorizationOptions::default()))
                    .and_then(|request| sipauth::browser::redirect(request.url.as_str()))
            };
            if let Err(e) = started {
                failure.set(Some(e.to_string()));
            }
        }
    };
    let labels: Vec<String> = providers.iter().map(|(label, _)| label.clone()).collect();
    let label = StoredValue::new(labels.get(chosen).cloned().unwrap_or_default());
    let several = labels.len() > 1;
    // The same in a popup window: this page stays.
    let sign_in_popup = {
        let auth = auth.clone();
        move |_| {
            let auth = auth.clone();
            leptos::task::spawn_local(async move {
                if let Err(e) = auth.login_popup(&AuthorizationOptions::default()).await {
                    failure.set(Some(e.to_string()));
                }
            });
        }
    };
    // Signing out: the phone unregisters, the SIP account at the service ends (its password
    // stops working at once), then the tokens are revoked and the session forgotten.
    let sign_out = {
        let auth = auth.clone();
        move |_| {
            let auth = auth.clone();
            crate::phone::stop();
            leptos::task::spawn_local(async move {
                if let Err(e) = auth.session.deprovision().await {
                    failure.set(Some(e.to_string()));
                }
                if let Err(e) = auth.logout().await {
                    failure.set(Some(e.to_string()));
                }
            });
        }
    };
    view! {
        <p>"State: " <span id="state">{move || format!("{:?}", state.get())}</span></p>
        <Show
            when=move || signed_in.get()
            fallback=move || {
                let sign_in_with = sign_in_with.clone();
                let buttons = labels
                    .iter()
                    .enumerate()
                    .map(|(i, label)| {
                        let sign_in_with = sign_in_with.clone();
                        // One provider: the plain "Sign in"; several: one button each.
                        let (id, text) = if labels.len() == 1 {
                            ("sign-in".to_string(), "Sign in".to_string())
                        } else {
                            (format!("sign-in-{i}"), format!("Sign in with {label}"))
                        };
                        view! {
                            <button id=id type="button" on:click=move |_| sign_in_with(i)>
                                {text}
                            </button>
                            " "
                        }
                    })
                    .collect_view();
                // The provider ended the session (reported by the provisioning service).
                let notice = move || {
                    (last_logout.get() == Some(sipauth::LogoutReason::BackChannelLogout)).then(|| {
                        let (title, advice) = sipauth::wire::explain("signed_out");
                        view! {
                            <p id="signed-out" role="status">
                                <strong>{title}</strong>
                                " "
                                {advice}
                            </p>
                        }
                    })
                };
                view! {
                    {notice}
                    {buttons}
                    <button id="sign-in-popup" type="button" on:click=sign_in_popup.clone()>
                        "Sign in in a new window"
                    </button>
                }
            }
        >
            {move || {
                credentials
                    .get()
                    .map(|c| {
                        view! {
                            <dl>
                                {several
                                    .then(|| {
                                        view! {
                                            <dt>"Signed in with"</dt>
                                            <dd id="provider">{label.get_value()}</dd>
                                        }
                                    })}
                                <dt>"Display name"</dt>
                                <dd id="display-name">{c.display_name.clone()}</dd>
                                <dt>"SIP URI"</dt>
                                <dd id="sip-uri">{c.sip_uri.clone()}</dd>
                                <dt>"WebSocket server"</dt>
                                <dd id="ws-server">{c.ws_server_uri.clone()}</dd>
                                <dt>"Realm"</dt>
                                <dd id="realm">{c.realm.clone()}</dd>
                                <dt>"Authorization username"</dt>
                                <dd id="authorization-username">
                                    {c.authorization_username.clone()}
                                </dd>
                            </dl>
                        }
                    })
            }}
            <p>
                "Access token valid until (Unix time) "
                <span id="token-expires-at">
                    {move || expires_at.get().map(|t| t.to_string()).unwrap_or_default()}
                </span>
            </p>
            <crate::phone::Phone credentials=credentials />
            <button id="sign-out" type="button" on:click=sign_out.clone()>
                "Sign out"
            </button>
        </Show>
        {move || {
            let (code, description) = match (failure.get(), error.get()) {
                (Some(f), _) => ("client_error".to_string(), f),
                (None, Some(e)) => (e.code, e.description),
                (None, None) => return None,
            };
            // The guide's error table, in the words the service's own pages use.
            let (title, advice) = sipauth::wire::explain(&code);
            let dismiss = {
                let auth = auth_for_errors.clone();
                move |_| {
                    failure.set(None);
                    // A failed sign-in or refresh left the session in Error: start clean.
                    if auth.session.state() == sipauth::AuthState::Error {
                        let _ = auth.clear_auth();
                    }
                }
            };
            let retry = {
                // The provider whose sign-in failed is the one this page shows.
                let auth = auth_for_errors.clone();
                move |_| {
                    failure.set(None);
                    let _ = auth.clear_auth();
                    if let Err(e) = auth.login(&AuthorizationOptions::default()) {
                        failure.set(Some(e.to_string()));
                    }
                }
            };
            Some(
                view! {
                    <div id="error" role="alert" data-code=code.clone()>
                        <h2 id="error-title">{title}</h2>
                        <p id="error-advice">{advice}</p>
                        <p>
                            <small>"Code: " <code>{code.clone()}</code> " — " {description}</small>
                        </p>
                        <button id="dismiss" type="button" on:click=dismiss>
                            "Dismiss"
                        </button>
                        " "
                        <button id="try-again" type="button" on:click=retry>
                            "Try again"
                        </button>
                    </div>
                },
            )
        }}
    }
    .into_any()
}
