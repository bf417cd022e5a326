//! The client's address, for the per-IP limits: the socket peer, or, when that peer is one
//! of the configured proxies (`server.trusted_proxies`), the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy. A header from any other peer is
//! ignored, and the addresses a client wrote at the left of the header are never reached
//! while a proxy appended the real one after them.

use std::net::IpAddr;

use anyhow::Context;
use ipnet::IpNet;
use poem::Request;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust(Vec<IpNet>);

/// An address as one family sees it (`::ffff:10.0.0.1` is `10.0.0.1`).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl ProxyTrust {
    /// Parses addresses (`10.0.0.7`) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let nets = entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .with_context(|| {
                        format!("server.trusted_proxies: `{e}` is not an address or CIDR block")
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the `X-Forwarded-For` values the request carried.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // From the right: each trusted proxy appended the address it saw.
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return canonical(ip),
                // Garbage in the chain: what lies left of it cannot be trusted either.
                Err(_) => return peer,
            }
        }
        peer
    }

    /// The client of `req`.
    pub fn client_of(&self, req: &Request) -> IpAddr {
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|addr| addr.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        self.client(peer, forwarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn trust() -> ProxyTrust {
        ProxyTrust::parse(&["10.0.0.0/8".into(), "192.0.2.7".into(), "fd00::/8".into()])
            .expect("trust")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            trust().client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            ProxyTrust::default().client(ip("10.0.0.1"), ["1.2.3.4"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let t = trust();
        // The client forged the leftmost entry; the balancer appended the real address.
        assert_eq!(
            t.client(ip("10.1.2.3"), ["6.6.6.6, 198.51.100.20, 10.9.9.9"]),
            ip("198.51.100.20")
        );
        // Over several header lines, and through an IPv4-mapped peer.
        assert_eq!(
            t.client(ip("::ffff:192.0.2.7"), ["198.51.100.1", "10.0.0.2"]),
            ip("198.51.100.1")
        );
        assert_eq!(t.client(ip("fd00::1"), ["2001:db8::5"]), ip("2001:db8::5"));
        // No header, only proxies, or garbage: the peer.
        assert_eq!(t.client(ip("10.0.0.1"), []), ip("10.0.0.1"));
        assert_eq!(t.client(ip("10.0.0.1"), ["10.0.0.2"]), ip("10.0.0.1"));
        assert_eq!(
            t.client(ip("10.0.0.1"), ["1.2.3.4, nonsense"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_refused_at_start_up() {
        assert!(ProxyTrust::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(ProxyTrust::parse(&["proxy.internal".into()]).is_err());
    }
}
