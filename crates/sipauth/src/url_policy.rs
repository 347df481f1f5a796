//! Which URLs sipauth accepts: HTTPS everywhere, plain HTTP only for loopback hosts (RFC 8252
//! §7.3, RFC 9700 §2.6). This module owns that one rule; callers name the setting being checked so
//! the error says which one is wrong.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::ConfigError;

/// True for 127.0.0.0/8, ::1 and `localhost`: the one loopback check.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `value` with any `user:password@` part of its authority replaced by `[redacted]@`, for
/// error messages: a URL given with credentials must not echo them.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
        None => value.to_string(),
    }
}

/// Parses an absolute URL, naming the setting in the error. A URL carrying credentials
/// (`https://user:secret@host/`) is refused: they would be sent as Basic authentication to
/// whatever the URL names, and end up in logs.
pub(crate) fn parse(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        field,
        value: redact_userinfo(value),
        reason: e.to_string(),
    })?;
    refuse_credentials(field, &url)?;
    Ok(url)
}

fn refuse_credentials(field: &'static str, url: &Url) -> Result<(), ConfigError> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    Err(ConfigError::InvalidUrl {
        field,
        value: redact_userinfo(url.as_str()),
        reason: "a URL may not carry a user name or password".into(),
    })
}

/// Checks that an endpoint URL is `https`, or `http` on a loopback host, has no credentials and
/// no fragment.
pub(crate) fn require_secure(field: &'static str, url: &Url) -> Result<(), ConfigError> {
    refuse_credentials(field, url)?;
    if url.fragment().is_some() {
        return Err(ConfigError::InvalidUrl {
            field,
            value: url.to_string(),
            reason: "a fragment is not allowed".into(),
        });
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" | "https" => Err(ConfigError::InsecureUrl {
            field,
            url: url.to_string(),
        }),
        other => Err(ConfigError::InvalidUrl {
            field,
            value: url.to_string(),
            reason: format!("scheme \"{other}\" is not http or https"),
        }),
    }
}

/// Parses and checks an endpoint URL in one step.
pub fn parse_secure(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = parse(field, value)?;
    require_secure(field, &url)?;
    Ok(url)
}

/// Checks a redirect URI: `https`, loopback `http`, or a private-use scheme in reverse-DNS form
/// (`com.example.app:/callback`, RFC 8252 §7.1); never a fragment.
pub(crate) fn require_redirect(url: &Url) -> Result<(), ConfigError> {
    const FIELD: &str = "redirect_uri";
    match url.scheme() {
        "http" | "https" => require_secure(FIELD, url),
        scheme if scheme.contains('.') && url.fragment().is_none() => Ok(()),
        scheme => Err(ConfigError::InvalidUrl {
            field: FIELD,
            value: url.to_string(),
            reason: format!(
                "scheme \"{scheme}\" is neither https, loopback http, nor a reverse-DNS private-use scheme"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_urls_with_credentials_without_echoing_them() {
        for value in [
            "https://user:hunter2@idp.example.com/",
            "http://alice:hunter2@127.0.0.1:8080",
            "https://token-only@idp.example.com",
        ] {
            let err = parse_secure("issuer", value).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("token-only"), "{text}");
            assert!(text.contains("user name or password"), "{text}");
        }
        assert_eq!(
            redact_userinfo("https://u:p@h/x@y"),
            "https://[redacted]@h/x@y"
        );
        assert_eq!(redact_userinfo("https://h/x@y"), "https://h/x@y");
    }

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://idp.example.com/auth",
            "http://127.0.0.1:8080/cb",
            "http://127.5.0.1/cb",
            "http://[::1]:9/cb",
            "http://localhost/cb",
        ] {
            parse_secure("x", ok).unwrap();
        }
    }

    #[test]
    fn rejects_plain_http_on_other_hosts() {
        for bad in [
            "http://idp.example.com/auth",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
        ] {
            let err = parse_secure("authorization_endpoint", bad).unwrap_err();
            assert!(matches!(
                err,
                ConfigError::InsecureUrl {
                    field: "authorization_endpoint",
                    ..
                }
            ));
        }
    }

    #[test]
    fn rejects_fragments_and_odd_schemes() {
        assert!(parse_secure("x", "https://a.example/#frag").is_err());
        assert!(parse_secure("x", "ftp://a.example/").is_err());
        assert!(parse_secure("x", "not a url").is_err());
    }

    #[test]
    fn redirect_allows_private_use_schemes() {
        require_redirect(&Url::parse("com.example.phone:/callback").unwrap()).unwrap();
        assert!(require_redirect(&Url::parse("myapp:/callback").unwrap()).is_err());
        assert!(require_redirect(&Url::parse("http://example.com/cb").unwrap()).is_err());
    }
}
