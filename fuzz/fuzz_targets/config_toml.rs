//! Configuration files: the service's TOML (`sipauth serve --config`) and the command's
//! profiles (`[profiles.NAME]`), with their line-numbered errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = sipauth_server::ServiceConfig::from_toml(&text) {
        let _ = config.check();
    }
    for name in ["default", "work"] {
        let _ = sipauth_cli::config::profile_from_text(&text, std::path::Path::new("f.toml"), name);
    }
});
