//! Which URLs sipauth accepts: HTTPS everywhere, plain HTTP only for loopback hosts (RFC 8252
//! §7.3, RFC 9700 §2.6). This module owns that one rule; callers name the setting being checked so
//! the error says which one is wrong.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::ConfigError;

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Parses an absolute URL, naming the setting in the error.
pub fn parse(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        field,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// Checks that an endpoint URL is `https`, or `http` on a loopback host, and has no fragment.
pub fn require_secure(field: &'static str, url: &Url) -> Result<(), ConfigError> {
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
            reason: format!("scheme {other:?} is not http(s)"),
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
pub fn require_redirect(url: &Url) -> Result<(), ConfigError> {
    const FIELD: &str = "redirect_uri";
    match url.scheme() {
        "http" | "https" => require_secure(FIELD, url),
        scheme if scheme.contains('.') && url.fragment().is_none() => Ok(()),
        scheme => Err(ConfigError::InvalidUrl {
            field: FIELD,
            value: url.to_string(),
            reason: format!(
                "scheme {scheme:?} is neither https, loopback http, nor a reverse-DNS private-use scheme"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
