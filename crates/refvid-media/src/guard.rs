//! The address guard: which IP addresses outbound requests may reach.
//!
//! Only globally routable unicast addresses pass. Everything a request could use to reach the
//! operator's own network is refused: loopback, private, link-local (cloud metadata), CGNAT,
//! unique-local, multicast, broadcast, unspecified, documentation and benchmark ranges, and
//! IPv6 forms that embed any of those IPv4 addresses (mapped, compatible, 6to4, NAT64).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a public address a request may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0                                   // "this network"
        || (a == 100 && (64..128).contains(&b))     // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))       // benchmarking 198.18/15
        || a >= 240; // reserved, broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let [first, second, ..] = ip.segments();
    // Only global unicast 2000::/3 is routed on the internet; this alone excludes ::, ::1,
    // fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64, 64:ff9b:1::/48 and 5f00::/16.
    let global_unicast = (first & 0xe000) == 0x2000;
    // 2001::/23: IETF protocol assignments (Teredo, benchmarking, ORCHID); 2001:db8::/32 and
    // 3fff::/20: documentation.
    let ietf_or_documentation = second < 0x0200 || second == 0x0db8;
    let blocked =
        (first == 0x2001 && ietf_or_documentation) || (first == 0x3fff && second < 0x1000);
    global_unicast && !blocked
}

/// The IPv4 address carried inside an IPv6 one, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()), // ::ffff:a.b.c.d mapped
        [0, 0, 0, 0, 0, 0, _, _] if s[6] != 0 || s[7] > 1 => Some(tail()), // ::a.b.c.d compatible
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()), // NAT64 64:ff9b::/96
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )), // 6to4
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.1.1.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:2::1",
            "2001:1ff::1",
            "3fff::1",
            "3fff:fff::1",
            "64:ff9b:1::1",
            "5f00::1",
            "ff0e::1",
            "4000::1",
            "::ffff:0.0.0.0",
            "::ffff:100.64.0.1",
            "::10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "2002:a00:1::1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
            "64:ff9b::8.8.8.8",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            "3ffe::1",
        ] {
            assert!(public(ip), "{ip} must pass");
        }
    }

    #[test]
    fn odd_ipv4_spellings_in_urls_normalise_to_the_real_address() {
        for url in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://[::ffff:7f00:1]/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let ip: IpAddr = match parsed.host().unwrap() {
                url::Host::Ipv4(v4) => v4.into(),
                url::Host::Ipv6(v6) => v6.into(),
                url::Host::Domain(d) => panic!("{url} parsed as domain {d}"),
            };
            assert!(!is_public(ip), "{url} -> {ip}");
        }
    }

    #[test]
    fn url_host_spellings_normalise_to_exact_addresses() {
        for (url, expected) in [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://017700000001/", "127.0.0.1"),
            ("http://0x7F.0.0.0x1/", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://0xa9fea9fe/", "169.254.169.254"),
            ("http://3232235777/", "192.168.1.1"),
            ("http://10.1/", "10.0.0.1"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
        ] {
            let host = url::Url::parse(url).unwrap().host().unwrap().to_owned();
            let ip: IpAddr = match host {
                url::Host::Ipv4(v4) => v4.into(),
                url::Host::Ipv6(v6) => v6.into(),
                url::Host::Domain(d) => panic!("{url} parsed as domain {d}"),
            };
            assert_eq!(ip, expected.parse::<IpAddr>().unwrap(), "{url}");
            assert!(!is_public(ip), "{url}");
        }
    }
}
