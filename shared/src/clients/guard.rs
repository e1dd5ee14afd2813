//! The guard on where our requests go (`domain::net`), at request time: the client every
//! provider call uses resolves names itself and refuses to connect to an internal address,
//! whatever a name resolved to when its settings were saved (a name can be re-pointed), and
//! follows no redirect (a public address could send us inside).

use crate::domain::net::{UrlPolicy, is_public};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A resolver that keeps only public addresses, and fails a name that has none.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The client every provider call goes through: bounded waits, our name on the requests, no
/// redirects, and (unless the policy allows private targets) public addresses only.
pub fn http_client(timeout: Duration, policy: UrlPolicy) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .user_agent("chatsource")
        .redirect(reqwest::redirect::Policy::none());
    if !policy.allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().expect("an HTTP client with rustls")
}

/// Whether a provider address may be saved: the URL rules, then (unless the policy allows
/// private targets) what its name resolves to must all be public. A name that does not resolve
/// now (a typo, a machine offline) is let through: nothing internal is known of it, and every
/// request checks again.
pub async fn check_address(url: &str, policy: UrlPolicy) -> Result<url::Url, String> {
    let parsed = crate::domain::net::check_provider_url(url, policy)?;
    if policy.allow_private {
        return Ok(parsed);
    }
    let Some(url::Host::Domain(name)) = parsed.host().map(|h| h.to_owned()) else {
        return Ok(parsed);
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::lookup_host((name.as_str(), port)),
    )
    .await;
    let Ok(Ok(found)) = lookup else {
        return Ok(parsed);
    };
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(format!(
            "`{url}` points to an internal address; use the provider's public address"
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_when_saved_and_when_called() {
        let strict = UrlPolicy::default();
        // `localhost.` with a dot slips past the name rules; its lookup does not.
        let saved = check_address("https://localhost.:8443/api", strict).await;
        assert!(saved.is_err(), "{saved:?}");
        let client = http_client(Duration::from_secs(2), strict);
        let called = client
            .get("https://localhost.:1/")
            .send()
            .await
            .unwrap_err();
        let chain = format!("{:?}", called);
        assert!(chain.contains("no public address"), "{chain}");
        let dev = UrlPolicy {
            allow_private: true,
        };
        assert!(
            check_address("http://localhost:8443/api", dev)
                .await
                .is_ok()
        );
    }
}
