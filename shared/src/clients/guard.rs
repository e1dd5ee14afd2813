//! The guard on where our requests go (`domain::net`), at request time: the client every
//! provider call uses resolves names itself and refuses to connect to an internal address,
//! whatever a name resolved to when its settings were saved (a name can be re-pointed), and
//! follows no redirect (a public address could send us inside).

use crate::domain::net::{AddressError, UrlPolicy, is_public};
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
        .tls_backend_preconfigured(super::tls::config())
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
pub async fn check_address(url: &str, policy: UrlPolicy) -> Result<url::Url, AddressError> {
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
        return Err(AddressError::Internal(url.to_owned()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_never_connects_to_what_a_name_resolves_to_inside() {
        let strict = UrlPolicy::default();
        // The name rules refuse `localhost`; the client itself is the last line: whatever a
        // name resolves to at request time, an internal address is not connected to.
        let client = http_client(Duration::from_secs(2), strict);
        let called = client.get("https://localhost:1/").send().await.unwrap_err();
        let chain = format!("{called:?}");
        assert!(chain.contains("no public address"), "{chain}");
        let dev = UrlPolicy::PRIVATE_ALLOWED;
        assert!(
            check_address("http://localhost:8443/api", dev)
                .await
                .is_ok()
        );
        assert!(
            check_address("https://localhost:8443/api", strict)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        // A public address answering "go to 169.254.169.254" is not obeyed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\n\r\n",
                )
                .await;
        });
        let client = http_client(Duration::from_secs(2), UrlPolicy::PRIVATE_ALLOWED);
        let answer = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(
            answer.status(),
            302,
            "the redirect is answered, not followed"
        );
    }
}
