//! The phone: the signed-in person's SIP credentials registered with JsSIP, through the small
//! JavaScript shim `js/softphone.js` (loaded by the page beside JsSIP). [`Phone`] registers
//! whenever the session's credentials change (a sign-in, a restore, credentials provisioned
//! again before they expire), shows Registered / Unregistered, calls another person by name,
//! answers, hangs up; [`stop`] unregisters (signing out). Element ids are what the browser test
//! reads.

use leptos::prelude::*;
use sipauth::ProvisionedCredentials;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = sipauthPhone, js_name = start)]
    fn phone_start(config: JsValue, onchange: &JsValue);
    #[wasm_bindgen(js_namespace = sipauthPhone, js_name = call)]
    fn phone_call(target: &str, domain: &str);
    #[wasm_bindgen(js_namespace = sipauthPhone, js_name = answer)]
    fn phone_answer();
    #[wasm_bindgen(js_namespace = sipauthPhone, js_name = hangup)]
    fn phone_hangup();
    #[wasm_bindgen(js_namespace = sipauthPhone, js_name = stop)]
    fn phone_stop();
}

/// Unregisters and forgets the user agent.
pub(crate) fn stop() {
    phone_stop();
}

/// What the shim reports, for people.
fn describe(status: &str) -> String {
    match status.split_once(':') {
        Some(("registration_failed", cause)) => format!("Registration failed ({cause})"),
        Some(("ended", cause)) => format!("Registered · call ended ({cause})"),
        _ => match status {
            "registering" => "Registering…".into(),
            "registered" => "Registered".into(),
            "unregistered" => "Unregistered".into(),
            "calling" => "Calling…".into(),
            "ringing" => "Ringing…".into(),
            "incoming" => "Incoming call".into(),
            "in_call" => "In a call".into(),
            other => other.to_string(),
        },
    }
}

/// The credentials as JsSIP's `UA` configuration, for the shim.
fn jssip_config(c: &ProvisionedCredentials) -> JsValue {
    let text = sipauth::sip::client_config::jssip_config(c).to_string();
    js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL)
}

/// Registration, calls and their state, for the signed-in person.
// Leptos' #[component] makes its props public whatever the function says.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn Phone(credentials: Signal<Option<ProvisionedCredentials>>) -> impl IntoView {
    let status = RwSignal::new("unregistered".to_string());
    let callee = RwSignal::new(String::new());
    // Register with each new set of credentials; stop when they are gone.
    Effect::new(move |previous: Option<Option<String>>| {
        let current = credentials.get();
        let key = current
            .as_ref()
            .map(|c| format!("{}|{}", c.sip_uri, c.password.secret()));
        if previous.as_ref() != Some(&key) {
            match &current {
                Some(c) => {
                    let report = Closure::<dyn Fn(String)>::new(move |s: String| {
                        status.try_set(s);
                    })
                    .into_js_value();
                    phone_start(jssip_config(c), &report);
                }
                None => {
                    phone_stop();
                    status.set("unregistered".into());
                }
            }
        }
        key
    });
    let domain = move || {
        credentials
            .get_untracked()
            .map(|c| c.sip_domain)
            .unwrap_or_default()
    };
    let in_call = move || matches!(status.get().as_str(), "calling" | "ringing" | "in_call");
    view! {
        <section aria-label="Phone">
            <h2>"Phone"</h2>
            <p>
                "Status: "
                <span id="phone-status" data-state=move || status.get()>
                    {move || describe(&status.get())}
                </span>
            </p>
            <audio id="remote-audio" autoplay></audio>
            <Show when=move || status.get() == "incoming">
                <button id="answer" type="button" on:click=move |_| phone_answer()>
                    "Answer"
                </button>
            </Show>
            <Show
                when=in_call
                fallback=move || {
                    view! {
                        <form on:submit=move |ev| {
                            ev.prevent_default();
                            phone_call(callee.get_untracked().trim(), &domain());
                        }>
                            <label>
                                "Call "
                                <input
                                    id="callee"
                                    type="text"
                                    placeholder="a name, e.g. bob"
                                    prop:value=move || callee.get()
                                    on:input=move |ev| callee.set(event_target_value(&ev))
                                />
                            </label>
                            " "
                            <button id="call" type="submit">"Call"</button>
                        </form>
                    }
                }
            >
                <button id="hangup" type="button" on:click=move |_| phone_hangup()>
                    "Hang up"
                </button>
            </Show>
        </section>
    }
}
