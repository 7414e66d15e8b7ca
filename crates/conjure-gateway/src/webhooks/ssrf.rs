//! Keeping webhooks off the gateway's own network (server-side request forgery).
//!
//! A member chooses the URL the gateway POSTs to; without a check, `http://169.254.169.254/` or
//! `http://10.0.0.5:5432/` would make the gateway a member's way into the network it runs in.
//! So a webhook goes only to a *public* address: [`classify`] names what a non-public address
//! is (loopback, private, link-local, unique-local, multicast, unspecified, shared, reserved,
//! documentation...), for IPv4 and IPv6 alike, looking through IPv4-mapped, IPv4-compatible,
//! NAT64 and 6to4 IPv6 addresses to the IPv4 address they carry. IPv6 is checked by an allow
//! list (global unicast `2000::/3` less its special blocks), IPv4 by a deny list of every
//! special-purpose block in the IANA registry that is not globally reachable.
//!
//! The check runs when an endpoint is registered and again at every delivery, because DNS may
//! have changed in between. At delivery it is done by [`CheckedResolver`], the HTTP client's DNS
//! resolver: the addresses it returns are the ones it checked and the only ones the client may
//! connect to, so there is no second lookup between the check and the connection (DNS
//! rebinding). Literal IP hosts never reach a resolver and are checked with [`classify`] directly.
//! `allow_private` (the gateway's `--allow-private-webhooks`, for tests and private networks)
//! turns the refusals off. Redirects are never followed (see the worker), so a public endpoint
//! cannot bounce the gateway to a private one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why an address is not public: what kind of address it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonPublic {
    Unspecified,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    UniqueLocal,
    SiteLocal,
    Multicast,
    Broadcast,
    Documentation,
    Benchmarking,
    Reserved,
}

impl NonPublic {
    /// How an error message names it ("a loopback address").
    pub fn describe(self) -> &'static str {
        match self {
            NonPublic::Unspecified => "unspecified",
            NonPublic::Loopback => "loopback",
            NonPublic::Private => "private",
            NonPublic::SharedAddressSpace => "shared (carrier-grade NAT)",
            NonPublic::LinkLocal => "link-local",
            NonPublic::UniqueLocal => "unique-local",
            NonPublic::SiteLocal => "site-local",
            NonPublic::Multicast => "multicast",
            NonPublic::Broadcast => "broadcast",
            NonPublic::Documentation => "documentation",
            NonPublic::Benchmarking => "benchmarking",
            NonPublic::Reserved => "reserved",
        }
    }
}

/// `Ok` for an address a webhook may be sent to, else what kind of non-public address it is.
pub fn classify(ip: IpAddr) -> Result<(), NonPublic> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Result<(), NonPublic> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        (0, _, _) => NonPublic::Unspecified,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => NonPublic::Private,
        (100, 64..=127, _) => NonPublic::SharedAddressSpace,
        (127, _, _) => NonPublic::Loopback,
        (169, 254, _) => NonPublic::LinkLocal,
        // 192.0.0.0/24: IETF protocol assignments; 192.88.99.0/24: the retired 6to4 relays.
        (192, 0, 0) | (192, 88, 99) => NonPublic::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => NonPublic::Documentation,
        (198, 18 | 19, _) => NonPublic::Benchmarking,
        (224..=239, _, _) => NonPublic::Multicast,
        _ if ip.is_broadcast() => NonPublic::Broadcast,
        (240..=255, _, _) => NonPublic::Reserved,
        _ => return Ok(()),
    };
    Err(kind)
}

fn classify_v6(ip: Ipv6Addr) -> Result<(), NonPublic> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let kind = if ip.is_unspecified() {
        NonPublic::Unspecified
    } else if ip.is_loopback() {
        NonPublic::Loopback
    } else if s[0] & 0xff00 == 0xff00 {
        NonPublic::Multicast
    } else if s[0] & 0xfe00 == 0xfc00 {
        NonPublic::UniqueLocal
    } else if s[0] & 0xffc0 == 0xfe80 {
        NonPublic::LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 {
        NonPublic::SiteLocal
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xfff0 == 0x3ff0 {
        // 2001:db8::/32 and 3fff::/20.
        NonPublic::Documentation
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        // 2001::/23, IETF protocol assignments: Teredo (2001::/32, which tunnels to any IPv4
        // address), benchmarking, ORCHID and the like; none is a web server's address.
        NonPublic::Reserved
    } else if s[0] & 0xe000 == 0x2000 {
        // Global unicast, 2000::/3.
        return Ok(());
    } else {
        // Everything else (discard-only 100::/64, NAT64's local-use 64:ff9b:1::/48, unassigned
        // space) is not an address a public server answers on.
        NonPublic::Reserved
    };
    Err(kind)
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it: IPv4-mapped
/// (`::ffff:a.b.c.d`), the deprecated IPv4-compatible (`::a.b.c.d`, not `::` or `::1`), NAT64's
/// well-known prefix (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        [0x2002, _, _, _, _, _, _, _] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

/// Why a URL cannot be a webhook endpoint (before any address is looked at).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlProblem {
    Unparsable(String),
    Scheme(String),
    NoHost,
    TooLong,
}

impl std::fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlProblem::Unparsable(e) => write!(f, "it does not parse as a URL ({e})"),
            UrlProblem::Scheme(s) => write!(f, "its scheme is `{s}`, not http or https"),
            UrlProblem::NoHost => f.write_str("it has no host"),
            UrlProblem::TooLong => write!(f, "it is longer than {MAX_URL_LEN} characters"),
        }
    }
}

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// What the address check needs from a URL: its host, and the literal address if the host
/// is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A literal address: checked as it is, no resolver involved.
    Literal(IpAddr),
    /// A name: checked on every resolution.
    Name(String),
}

/// Parses an endpoint URL: http(s), with a host.
pub fn parse_url(text: &str) -> Result<(Url, Target), UrlProblem> {
    if text.len() > MAX_URL_LEN {
        return Err(UrlProblem::TooLong);
    }
    let url = Url::parse(text.trim()).map_err(|e| UrlProblem::Unparsable(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlProblem::Scheme(url.scheme().to_owned()));
    }
    let target = match url.host() {
        Some(Host::Ipv4(ip)) => Target::Literal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Target::Literal(IpAddr::V6(ip)),
        Some(Host::Domain(name)) if !name.is_empty() => Target::Name(name.to_owned()),
        _ => return Err(UrlProblem::NoHost),
    };
    Ok((url, target))
}

/// The first address in `addrs` that is not public, with its kind.
pub fn first_non_public(addrs: &[SocketAddr]) -> Option<(IpAddr, NonPublic)> {
    addrs.iter().find_map(|a| classify(a.ip()).err().map(|kind| (a.ip(), kind)))
}

/// An address refused by the resolver: the error the HTTP client reports as the cause of a
/// failed connection, found again by the worker in the error's source chain.
#[derive(Debug)]
pub struct Refused {
    pub host: String,
    pub addr: IpAddr,
    pub kind: NonPublic,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.kind.describe();
        if self.host == self.addr.to_string() {
            write!(f, "`{}` is a {kind} address", self.addr)
        } else {
            write!(f, "`{}` resolves to {}, a {kind} address", self.host, self.addr)
        }
    }
}

impl std::error::Error for Refused {}

/// The HTTP client's resolver: the system's lookup, then the check. With `allow_private` it
/// only looks up. Either way the client connects only to the addresses returned here.
#[derive(Clone, Copy, Debug)]
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some((addr, kind)) = first_non_public(&addrs) {
                // Refused if any address is non-public, not just the first: a name that
                // resolves to both would otherwise reach the private one on a retry.
                return Err(Box::new(Refused { host, addr, kind }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Result<(), NonPublic> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_refused_with_their_kind() {
        use NonPublic::*;
        let table = [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.254", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.254", SharedAddressSpace),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("2001::1", Reserved),
            ("100::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::192.168.0.1", Private),
            ("2002:c0a8:0101::1", Private),
            ("2002:7f00:0001::1", Loopback),
        ];
        for (ip, expected) in table {
            assert_eq!(kind(ip), Err(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert_eq!(kind(ip), Ok(()), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(
            matches!(parse_url("ftp://example.com/x"), Err(UrlProblem::Scheme(s)) if s == "ftp")
        );
        assert!(matches!(parse_url("file:///etc/passwd"), Err(UrlProblem::Scheme(_))));
        assert!(matches!(parse_url("not a url"), Err(UrlProblem::Unparsable(_))));
        assert!(matches!(
            parse_url("http://"),
            Err(UrlProblem::Unparsable(_) | UrlProblem::NoHost)
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(parse_url(&long).unwrap_err(), UrlProblem::TooLong);
        let (_, t) = parse_url("https://hooks.example.com/in").unwrap();
        assert_eq!(t, Target::Name("hooks.example.com".to_owned()));
        let (_, t) = parse_url("http://[::ffff:127.0.0.1]:8080/").unwrap();
        assert_eq!(
            t,
            Target::Literal("127.0.0.1".parse::<Ipv4Addr>().unwrap().to_ipv6_mapped().into())
        );
        // Alternative spellings of an IPv4 address are normalised by the URL parser, so the
        // check sees the address the client would connect to.
        let (_, t) = parse_url("http://2130706433/").unwrap();
        assert_eq!(t, Target::Literal("127.0.0.1".parse().unwrap()));
        let (_, t) = parse_url("http://0x7f.1/").unwrap();
        assert_eq!(t, Target::Literal("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn any_non_public_address_among_several_is_found() {
        let addrs: Vec<SocketAddr> =
            vec!["1.1.1.1:443".parse().unwrap(), "10.0.0.1:443".parse().unwrap()];
        assert_eq!(
            first_non_public(&addrs),
            Some(("10.0.0.1".parse().unwrap(), NonPublic::Private))
        );
        assert_eq!(first_non_public(&addrs[..1]), None);
    }
}
