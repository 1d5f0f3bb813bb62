//! The client address for the request log: the peer, or what a trusted proxy (nginx) says it is.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use ipnet::IpNet;

// Named once: looking a header up by `&str` parses (and copies) the name on every request.
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The addresses listed in header `name`, right-most first; unparsable entries skipped.
fn header_ips<'a>(req: &'a HttpRequest, name: &HeaderName) -> impl Iterator<Item = IpAddr> + 'a {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .rsplit(',')
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
}

/// The peer address, unless the peer is a trusted proxy: then `X-Real-IP`, or else the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    if let Some(real) = header_ips(req, &X_REAL_IP).next() {
        return Some(real);
    }
    Some(
        header_ips(req, &X_FORWARDED_FOR)
            .find(|ip| !trusted(*ip, proxies))
            .unwrap_or(peer),
    )
}

/// Writes the client address, or `-` when unknown.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// Appends the address as `Display` writes it; IPv4 (nearly every request) without `fmt`.
    pub fn push_to(self, out: &mut String) {
        match self.0 {
            Some(IpAddr::V4(ip)) => {
                let mut digits = itoa::Buffer::new();
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(digits.format(octet));
                }
            }
            Some(ip @ IpAddr::V6(_)) => {
                use std::fmt::Write as _;
                let _ = write!(out, "{ip}");
            }
            None => out.push('-'),
        }
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies() -> Vec<IpNet> {
        vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]
    }

    #[test]
    fn believes_only_trusted_peers() {
        let from_proxy = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9, 10.0.0.7"))
            .to_http_request();
        assert_eq!(
            ClientIp(client_ip(&from_proxy, &proxies())).to_string(),
            "203.0.113.9"
        );

        let real_ip = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-real-ip", "198.51.100.4"))
            .to_http_request();
        assert_eq!(
            ClientIp(client_ip(&real_ip, &proxies())).to_string(),
            "198.51.100.4"
        );

        let spoofed = TestRequest::default()
            .peer_addr("203.0.113.50:5000".parse().unwrap())
            .insert_header(("x-real-ip", "1.2.3.4"))
            .to_http_request();
        assert_eq!(
            ClientIp(client_ip(&spoofed, &proxies())).to_string(),
            "203.0.113.50"
        );
    }

    #[test]
    fn push_to_writes_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "10.20.255.7",
            "255.255.255.255",
            "::1",
            "2001:db8::1",
        ] {
            let mut out = String::new();
            ClientIp(Some(ip.parse().unwrap())).push_to(&mut out);
            assert_eq!(out, ip);
        }
        let mut out = String::new();
        ClientIp(None).push_to(&mut out);
        assert_eq!(out, ClientIp(None).to_string());
    }
}
