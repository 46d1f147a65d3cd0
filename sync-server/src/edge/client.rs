//! The client's address: the socket's peer, or the first untrusted hop of `X-Forwarded-For`
//! when the peer is a configured trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address a request is attributed to (rate limits, login back-off, logs).
///
/// Without a trusted proxy this is the TCP peer. Behind trusted proxies, `X-Forwarded-For`
/// is read from the right (the hop nearest to this server) and the first address that is
/// not itself a trusted proxy is the client: a client cannot choose its own address by
/// sending the header, since only the entries the proxies appended are believed.
pub fn client_ip(
    peer: Option<&ConnectInfo<SocketAddr>>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> IpAddr {
    let Some(ConnectInfo(peer)) = peer else {
        // Requests built in-process (router tests) have no socket.
        return IpAddr::from([0, 0, 0, 0]);
    };
    let mut ip = canonical(peer.ip());
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&ip)) {
        return ip;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(addr) = hop.parse::<IpAddr>() else {
            // A malformed hop: stop at the last proxy we trust.
            break;
        };
        ip = canonical(addr);
        if !trusted.iter().any(|n| n.contains(&ip)) {
            break;
        }
    }
    ip
}

/// The client's address of a request (see [`client_ip`]), as a handler argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// Its key for limits and back-off ([`address_key`]).
    pub fn key(self) -> String {
        address_key(self.0)
    }
}

impl axum::extract::FromRequestParts<crate::state::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(
            parts.extensions.get::<ConnectInfo<SocketAddr>>(),
            &parts.headers,
            state.rate_limits.trusted_proxies(),
        )))
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The key of an address for limits: IPv4 as is, IPv6 by its /64 network (one host is
/// usually given a whole /64, so per-address keys would be free to rotate).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer = ConnectInfo(SocketAddr::from(([10, 0, 0, 5], 4000)));
        let h = headers("203.0.113.9, 198.51.100.7");
        // No trusted proxy: the peer, whatever the header says.
        assert_eq!(client_ip(Some(&peer), &h, &[]), IpAddr::from([10, 0, 0, 5]));
        // The peer is a trusted proxy: the nearest untrusted hop.
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(Some(&peer), &h, &trusted),
            IpAddr::from([198, 51, 100, 7])
        );
        // A peer outside the trusted networks cannot spoof its address.
        let outsider = ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000)));
        assert_eq!(
            client_ip(Some(&outsider), &h, &trusted),
            IpAddr::from([192, 0, 2, 1])
        );
        // Garbage in the header stops at the proxy.
        assert_eq!(
            client_ip(Some(&peer), &headers("not-an-ip"), &trusted),
            IpAddr::from([10, 0, 0, 5])
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let peer = ConnectInfo(SocketAddr::new(mapped, 1));
        assert_eq!(
            client_ip(Some(&peer), &HeaderMap::new(), &[]),
            IpAddr::from([192, 0, 2, 1])
        );
    }
}
