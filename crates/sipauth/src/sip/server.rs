//! The registrar for native (non-WebSocket) SIP clients, as the provisioning service hands it
//! out (`sipServer`): `sip:host[:port][;transport=udp|tcp|tls]` or `sips:host[:port]`. One
//! parser for the library (checking a service's answer), the client configurations (baresip's
//! outbound, linphone's proxy) and `register-check --server`.

use std::fmt;

use crate::error::CredentialError;

/// How a native client reaches the registrar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    /// UDP (the default of a `sip:` URI without `transport=`).
    Udp,
    /// TCP.
    Tcp,
    /// TLS (`transport=tls`, or a `sips:` URI).
    Tls,
}

impl SipTransport {
    /// The `transport=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
            SipTransport::Tls => "tls",
        }
    }

    /// The port a registrar listens on when the URI names none (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            SipTransport::Tls => 5061,
            _ => 5060,
        }
    }
}

/// A registrar's address, parsed from a `sip:`/`sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipServer {
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The port given, if any.
    pub port: Option<u16>,
    /// The transport.
    pub transport: SipTransport,
}

impl SipServer {
    /// Parses `sip:host[:port][;transport=udp|tcp|tls]` or `sips:host[:port]` (other URI
    /// parameters, such as `lr`, are allowed and ignored; no user part, headers or spaces).
    pub fn parse(uri: &str) -> Result<Self, CredentialError> {
        let bad = |reason: &'static str| CredentialError::InvalidSipValue {
            field: "sipServer",
            reason,
        };
        if uri.len() > 512 || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("it is too long or holds a space or control character"));
        }
        let (secure, rest) = if let Some(rest) = strip_prefix_ci(uri, "sips:") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(uri, "sip:") {
            (false, rest)
        } else {
            return Err(bad("it is not a sip: or sips: URI"));
        };
        if rest.contains(['@', '?', '"', '<', '>']) {
            return Err(bad("a registrar URI has no user part, headers or brackets"));
        }
        let mut parts = rest.split(';');
        let hostport = parts.next().unwrap_or_default();
        let mut transport = if secure {
            SipTransport::Tls
        } else {
            SipTransport::Udp
        };
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.eq_ignore_ascii_case("transport") {
                transport = match value.to_ascii_lowercase().as_str() {
                    "udp" if !secure => SipTransport::Udp,
                    "tcp" if !secure => SipTransport::Tcp,
                    "tls" => SipTransport::Tls,
                    "tcp" | "udp" => return Err(bad("a sips: URI needs TLS")),
                    _ => return Err(bad("its transport is not udp, tcp or tls")),
                };
            }
        }
        let (host, port) = split_host_port(hostport).ok_or(bad("its host or port is not valid"))?;
        Ok(SipServer {
            host,
            port,
            transport,
        })
    }

    /// `host:port` for a socket (the default port when none was given; IPv6 in brackets).
    pub fn socket_address(&self) -> String {
        let port = self.port.unwrap_or(self.transport.default_port());
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

impl fmt::Display for SipServer {
    /// `sip:host:port;transport=…`: the canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sip:{};transport={}",
            self.socket_address(),
            self.transport.as_str()
        )
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn split_host_port(hostport: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6.to_string(), port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && (host.contains(':')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    if !valid_host {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
    };
    Some((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_a_service_hands_out() {
        let s = SipServer::parse("sip:127.0.0.1:5070;transport=udp").unwrap();
        assert_eq!(s.socket_address(), "127.0.0.1:5070");
        assert_eq!(s.transport, SipTransport::Udp);
        let s = SipServer::parse("sip:PBX.example.com;transport=TCP;lr").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.transport),
            ("pbx.example.com", None, SipTransport::Tcp)
        );
        assert_eq!(s.to_string(), "sip:pbx.example.com:5060;transport=tcp");
        let s = SipServer::parse("sips:pbx.example.com").unwrap();
        assert_eq!(s.socket_address(), "pbx.example.com:5061");
        assert_eq!(s.transport, SipTransport::Tls);
        let s = SipServer::parse("sip:[::1]:5070").unwrap();
        assert_eq!(s.socket_address(), "[::1]:5070");
    }

    #[test]
    fn rejects_what_is_no_registrar_uri() {
        for bad in [
            "ws://127.0.0.1:8088/ws",
            "127.0.0.1:5060",
            "sip:alice@pbx.example.com",
            "sip:pbx.example.com:0",
            "sip:pbx.example.com:99999",
            "sip:pbx.example.com;transport=ws",
            "sips:pbx.example.com;transport=udp",
            "sip:pbx example.com",
            "sip:",
            "sip:[::1",
            "sip:pbx.example.com?x=1",
            "sip:pbx_ex.com",
        ] {
            assert!(SipServer::parse(bad).is_err(), "{bad}");
        }
    }
}
