//! [`NetworkPolicy`]: who the client is and whether it may call. The client's address is the
//! TCP peer, unless the peer is a configured trusted proxy: then `X-Forwarded-For` is read from
//! the right, skipping trusted proxies, and the first address that is not one is the client
//! (what a client writes into the header itself is never believed). An allowlist (CIDR), when
//! set, admits only clients inside it; the operational endpoints (`/metrics`, `/readyz`) may have
//! an allowlist of their own. Rate limits and audit rows use the same address. A hop
//! with a port (`192.0.2.1:51234`, `[2001:db8::1]:443`, as some load balancers write it) is
//! read as its address.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Allowed client networks and trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    /// Who may read `/metrics` and `/readyz` (empty: as `allowed`).
    ops: Vec<IpNet>,
}

fn parse_nets(what: &str, nets: &[String]) -> Result<Vec<IpNet>, String> {
    nets.iter()
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{what}: {n} is not an address or a CIDR network"))
        })
        .collect()
}

/// `::ffff:a.b.c.d` is `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` hop: an address, or an address with a port as some load balancers
/// write it (`192.0.2.1:51234`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<IpAddr>().ok())
        })
}

impl NetworkPolicy {
    /// From CIDR strings (a bare address is a /32 or /128).
    pub fn parse(allowed: &[String], trusted_proxies: &[String]) -> Result<Self, String> {
        Ok(Self {
            allowed: parse_nets("allowed_networks", allowed)?,
            trusted_proxies: parse_nets("trusted_proxies", trusted_proxies)?,
            ops: Vec::new(),
        })
    }

    /// With the networks that may read the operational endpoints (`/metrics`, `/readyz`).
    pub fn with_ops_networks(mut self, ops: &[String]) -> Result<Self, String> {
        self.ops = parse_nets("ops_allowed_networks", ops)?;
        Ok(self)
    }

    /// Whether `ip` may read the operational endpoints: inside `ops_allowed_networks` when set,
    /// else as [`allows`](Self::allows).
    pub fn allows_ops(&self, ip: Option<IpAddr>) -> bool {
        if self.ops.is_empty() {
            return self.allows(ip);
        }
        ip.is_some_and(|ip| self.ops.iter().any(|n| n.contains(&ip)))
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or what trusted proxies say it is.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusted(peer) {
            return Some(peer);
        }
        // Every X-Forwarded-For header, in order, as one list; read from the right.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = canonical(ip);
                    if !self.trusted(client) {
                        break;
                    }
                }
                // Garbage: believe nothing further left; the last proxy is who we know.
                None => break,
            }
        }
        Some(client)
    }

    /// Whether `ip` may call (always, without an allowlist; never an unknown address with one).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.allowed.is_empty() {
            return true;
        }
        ip.is_some_and(|ip| self.allowed.iter().any(|n| n.contains(&ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let p = NetworkPolicy::parse(&[], &["10.0.0.0/8".into()]).unwrap();
        // From an untrusted peer the header is the client's own claim: ignored.
        assert_eq!(
            p.client_ip(ip("203.0.113.9"), &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // Through the proxy: the address the proxy saw.
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4"])),
            ip("1.2.3.4")
        );
        // A client prepending a lie: the rightmost untrusted hop wins.
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), &headers(&["6.6.6.6, 1.2.3.4", "10.0.0.7"])),
            ip("1.2.3.4")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4, nonsense"])),
            ip("10.0.0.2")
        );
        assert_eq!(
            p.client_ip(ip("::ffff:10.0.0.2"), &headers(&["1.2.3.4"])),
            ip("1.2.3.4")
        );
        assert_eq!(p.client_ip(None, &headers(&["1.2.3.4"])), None);
    }

    #[test]
    fn rejects_treating_a_hop_with_a_port_as_the_proxy() {
        let p = NetworkPolicy::parse(&[], &["10.0.0.0/8".into()]).unwrap();
        for (hop, client) in [
            ("1.2.3.4:51234", "1.2.3.4"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
        ] {
            assert_eq!(p.client_ip(ip("10.0.0.2"), &headers(&[hop])), ip(client));
        }
        assert_eq!(
            p.client_ip(ip("10.0.0.2"), &headers(&["1.2.3.4:port"])),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn rejects_metrics_readers_outside_the_ops_allowlist() {
        let p = NetworkPolicy::parse(&[], &[])
            .unwrap()
            .with_ops_networks(&["127.0.0.1".into()])
            .unwrap();
        assert!(p.allows(ip("203.0.113.1")), "the API stays open");
        assert!(!p.allows_ops(ip("203.0.113.1")));
        assert!(p.allows_ops(ip("127.0.0.1")));
        let walled = NetworkPolicy::parse(&["10.0.0.0/8".into()], &[]).unwrap();
        assert!(
            !walled.allows_ops(ip("203.0.113.1")),
            "as the API without its own list"
        );
    }

    #[test]
    fn rejects_clients_outside_the_allowlist() {
        let open = NetworkPolicy::default();
        assert!(open.allows(None));
        let p =
            NetworkPolicy::parse(&["192.168.0.0/16".into(), "2001:db8::/32".into()], &[]).unwrap();
        assert!(p.allows(ip("192.168.4.5")));
        assert!(p.allows(ip("2001:db8::1")));
        assert!(!p.allows(ip("192.169.0.1")));
        assert!(!p.allows(None));
        assert!(NetworkPolicy::parse(&["300.0.0.0/8".into()], &[]).is_err());
    }
}
