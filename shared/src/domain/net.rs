//! Where a tenant may send our requests. Provider addresses are tenant-set (an amoCRM account,
//! a Bitrix24 portal, a Verbox REST URL): without a rule, anyone with an account could make our
//! servers call inside their own network (cloud metadata at 169.254.169.254, a database on
//! 10.0.0.5) and read parts of the answer back in failure reasons. So they must be https and
//! public; a development server may lift both for local stand-ins.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What provider addresses may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Plain http and private, loopback or link-local targets are allowed (`chatsource serve
    /// --allow-private-urls`; development and tests only).
    pub allow_private: bool,
}

impl UrlPolicy {
    /// For development and tests on local stand-ins.
    pub const PRIVATE_ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: true,
    };
}

/// Whether an address is one anybody on the internet could reach: not loopback, private,
/// link-local, shared (carrier NAT), unspecified, multicast, broadcast or reserved, nor an
/// IPv6 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xff00) == 0xff00 // multicast
        || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible and the like
}

/// Why a provider address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{0}` is not a URL")]
    NotAUrl(String),
    #[error("`{0}` must be an https URL")]
    NotHttps(String),
    #[error("`{0}` points to an internal address; use the provider's public address")]
    Internal(String),
}

/// A provider's API address as a URL we may call: https to a public host, unless the policy
/// allows otherwise. Names are checked here as far as they can be without a lookup
/// (`localhost`); what a name resolves to is checked when saving and again at each request.
pub fn check_provider_url(url: &str, policy: UrlPolicy) -> Result<url::Url, AddressError> {
    let parsed = url::Url::parse(url).map_err(|_| AddressError::NotAUrl(url.to_owned()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(AddressError::NotHttps(url.to_owned()));
    }
    if policy.allow_private {
        return Ok(parsed);
    }
    if parsed.scheme() != "https" {
        return Err(AddressError::NotHttps(url.to_owned()));
    }
    let internal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => !is_public_v4(ip),
        Some(url::Host::Ipv6(ip)) => !is_public_v6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || !name.contains('.')
        }
        None => true,
    };
    if internal {
        return Err(AddressError::Internal(url.to_owned()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_of_every_kind_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "95.213.1.1",
            "172.32.0.1",
            "2a00:1450::1",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn provider_urls_are_https_to_public_hosts_unless_the_server_allows_private_ones() {
        let strict = UrlPolicy::default();
        assert!(check_provider_url("https://acme.amocrm.ru", strict).is_ok());
        for refused in [
            "http://acme.amocrm.ru",
            "https://127.0.0.1:8443",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/",
            "https://intranet/",
            "https://10.0.0.5/",
            "ftp://acme.amocrm.ru",
        ] {
            assert!(check_provider_url(refused, strict).is_err(), "{refused}");
        }
        let dev = UrlPolicy {
            allow_private: true,
        };
        assert!(check_provider_url("http://127.0.0.1:4000", dev).is_ok());
        assert!(check_provider_url("ftp://127.0.0.1", dev).is_err());
    }
}
