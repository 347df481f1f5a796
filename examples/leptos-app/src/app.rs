//! The app's components: [`App`] discovers the provider and mounts the [`OAuth2Provider`];
//! [`Account`] is the page inside it (sign in, the SIP settings, the phone, sign out). Element ids are
//! what the browser test reads.

use std::sync::Arc;

use leptos::prelude::*;
use sipauth::{
    AuthorizationOptions, ClientRegistration, CredentialMapping, HttpClient, PasswordStrategy,
    ProviderConfig, SessionOptions,
};
use sipauth::{WebStorage, WebStore};
use sipauth_leptos::{use_oauth2_provider, OAuth2Config, OAuth2Provider};

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

/// The session's configuration: the provider from discovery, a public client with PKCE whose
/// redirect is this origin's callback, the session in `localStorage` and pending sign-ins in
/// `sessionStorage`.
async fn configuration() -> Result<OAuth2Config, String> {
    let issuer = meta("sipauth-issuer").ok_or("the page names no issuer (sipauth-issuer)")?;
    let client_id =
        meta("sipauth-client-id").ok_or("the page names no client id (sipauth-client-id)")?;
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
    // The session names its keys (`sipauth_session`, `sipauth_pending_...`): no store prefix.
    let options = SessionOptions {
        store: Arc::new(WebStore::new(WebStorage::Local, "")),
        pending_store: Some(Arc::new(WebStore::new(WebStorage::Session, ""))),
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
    let config = LocalResource::new(configuration);
    view! {
        <main>
            <h1>"sipauth · Leptos example"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    config
                        .get()
                        .map(|config| match config {
                            Ok(config) => {
                                view! {
                                    <OAuth2Provider config=config callback_path=CALLBACK_PATH>
                                        <Account />
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

/// Sign in, or the SIP settings and sign out.
#[component]
fn Account() -> impl IntoView {
    let auth = match use_oauth2_provider() {
        Ok(auth) => auth,
        Err(e) => return view! { <p role="alert">{e.to_string()}</p> }.into_any(),
    };
    let (state, error, expires_at) = (auth.state(), auth.error(), auth.token_expires_at());
    let (signed_in, credentials) = (auth.is_authenticated(), auth.credentials());
    let failure = RwSignal::new(None::<String>);
    let auth_for_errors = auth.clone();
    let sign_in = {
        let auth = auth.clone();
        move |_| {
            if let Err(e) = auth.login(&AuthorizationOptions::default()) {
                failure.set(Some(e.to_string()));
            }
        }
    };
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
                view! {
                    <button id="sign-in" type="button" on:click=sign_in.clone()>
                        "Sign in"
                    </button>
                    " "
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
