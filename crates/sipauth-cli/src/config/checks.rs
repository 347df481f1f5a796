//! Stage one, the checks: every setting that can be checked without the network (URLs, the
//! WebSocket server, the redirect path, secret files), so a bad value fails with exit 5 before
//! any request.

use crate::error::CliError;
use crate::opt::Profile;

/// A secret given inline or in a file (whose one trailing newline is ignored).
pub fn secret(
    inline: &Option<String>,
    file: &Option<String>,
    flag: &str,
) -> Result<Option<String>, CliError> {
    if let Some(value) = inline.as_deref().filter(|v| !v.is_empty()) {
        return Ok(Some(value.to_string()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("{flag}-file {path}: {e}")))?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(CliError::config(format!("{flag}-file {path} is empty")));
    }
    Ok(Some(text.to_string()))
}

/// Checks every setting that can be checked without the network, so a bad value fails at once
/// with exit 5, before any sign-in or request: URLs (HTTPS except loopback, no credentials),
/// the WebSocket server (wss except loopback), the redirect path, secret files.
pub fn check_settings(p: &Profile) -> Result<(), CliError> {
    let urls: [(&'static str, &Option<String>); 8] = [
        ("--issuer", &p.provider.issuer),
        ("--base-url", &p.provider.base_url),
        ("--api-endpoint", &p.strategy.api_endpoint),
        (
            "--authorization-endpoint",
            &p.provider.authorization_endpoint,
        ),
        ("--token-endpoint", &p.provider.token_endpoint),
        ("--userinfo-endpoint", &p.provider.userinfo_endpoint),
        ("--revocation-endpoint", &p.provider.revocation_endpoint),
        ("--jwks-uri", &p.provider.jwks_uri),
    ];
    for (flag, value) in urls {
        if let Some(value) = value {
            sipauth::parse_secure_url(flag, value).map_err(|e| CliError::config(e.to_string()))?;
        }
    }
    if let Some(ws) = &p.sip.ws_uri {
        sipauth::sip::check_ws_uri(ws, false).map_err(|e| {
            CliError::config(format!(
                "--ws-uri: {e} [{}]",
                sipauth::Error::from(e.clone()).code()
            ))
        })?;
    }
    if let Some(path) = &p.redirect.redirect_path {
        redirect_path(path)?;
    }
    secret(
        &p.provider.client_secret,
        &p.provider.client_secret_file,
        "--client-secret",
    )?;
    Ok(())
}

/// Checks a loopback redirect path: absolute, no query or fragment, nothing the URL parser
/// would rewrite (so the path the provider redirects to is exactly the one we listen on).
pub fn redirect_path(path: &str) -> Result<&str, CliError> {
    let bad = |why: &str| CliError::config(format!("--redirect-path \"{path}\": {why}"));
    if !path.starts_with('/') {
        return Err(bad("must start with '/'"));
    }
    if path.contains(['?', '#']) {
        return Err(bad("may not contain a query or fragment"));
    }
    let parsed =
        url::Url::parse(&format!("http://127.0.0.1{path}")).map_err(|e| bad(&e.to_string()))?;
    if parsed.path() != path || path.contains('%') || path.contains("//") {
        return Err(bad(
            "may contain only letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ /",
        ));
    }
    Ok(path)
}

pub(super) fn required<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, CliError> {
    value.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| {
        CliError::config(format!(
            "{flag} is required (or SIPAUTH_{}, or in the profile)",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        ))
    })
}
