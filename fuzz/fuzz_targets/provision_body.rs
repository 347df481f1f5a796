//! The provisioning API's request body: the one rule the service applies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sipauth_wire::ProvisionRequest::from_body(data);
    let _ = serde_json::from_slice::<sipauth_wire::ProvisionResponse>(data);
});
