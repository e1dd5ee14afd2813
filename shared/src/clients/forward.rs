//! The relay of a kept webhook body to a forward URL (a bot platform sharing a Jivo channel):
//! one POST with the body's bytes and content type exactly as they reached us.

use super::CallError;
use crate::domain::net::{UrlPolicy, check_provider_url};
use std::time::Duration;

/// How long a forward URL may take to answer. Nobody waits on it (the provider had its answer
/// long before), so it may be longer than Jivo's own 3 s for bots; a slower one is retried.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts `body` to `url` through `http` (the app's client: names resolving inside are not
/// connected to, redirects are not followed). The address rules are checked again here, so a
/// URL saved under a laxer policy is not called under a strict one.
///
/// Failures say what to do next: no answer, 408, 429 and 5xx are passing; any other answer
/// outside 2xx (a redirect included: it is not followed) is a refusal that a retry will not
/// change.
pub async fn relay(
    http: &reqwest::Client,
    policy: UrlPolicy,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<(), CallError> {
    let name = host(url);
    let parsed = check_provider_url(url, policy).map_err(|e| CallError::Refused(e.to_string()))?;
    let mut request = http.post(parsed).timeout(TIMEOUT).body(body);
    if let Some(content_type) = content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| CallError::from_reqwest(&name, &e))?;
    let status = answer.status().as_u16();
    if answer.status().is_success() {
        return Ok(());
    }
    // Only the status is told: a forward URL's answer is the bot platform's business.
    Err(match status {
        408 => CallError::TimedOut(format!("{name} answered HTTP 408")),
        _ => CallError::from_status(&name, status, ""),
    })
}

/// How a forward URL is named in failure reasons and logs: its host only, since a bot
/// platform's webhook URL often carries its own token in the path.
pub fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .map_or_else(
            || "the forward URL".to_owned(),
            |h| format!("forward URL {h}"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::guard::http_client;

    /// A one-shot server answering `status`; what it read comes back through the channel.
    async fn answering(status: u16) -> (String, tokio::sync::oneshot::Receiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap();
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        });
        (format!("http://{addr}/hook/tok"), rx)
    }

    #[tokio::test]
    async fn a_body_goes_verbatim_and_answers_are_sorted_by_what_to_do_next() {
        let http = http_client(Duration::from_secs(2), UrlPolicy::PRIVATE_ALLOWED);
        let (url, seen) = answering(200).await;
        let body = br#"{"event_name":"chat_accepted"}"#.to_vec();
        relay(
            &http,
            UrlPolicy::PRIVATE_ALLOWED,
            &url,
            Some("application/json; charset=utf-8"),
            body,
        )
        .await
        .unwrap();
        let seen = seen.await.unwrap().to_ascii_lowercase();
        assert!(seen.starts_with("post /hook/tok "), "{seen}");
        assert!(
            seen.contains("content-type: application/json; charset=utf-8"),
            "{seen}"
        );
        assert!(
            seen.ends_with(r#"{"event_name":"chat_accepted"}"#),
            "{seen}"
        );
        for (status, retry) in [(500, true), (503, true), (429, true), (408, true)] {
            let (url, _) = answering(status).await;
            let e = relay(&http, UrlPolicy::PRIVATE_ALLOWED, &url, None, vec![])
                .await
                .unwrap_err();
            let passing = matches!(
                e,
                CallError::Unavailable(_) | CallError::RateLimited(_) | CallError::TimedOut(_)
            );
            assert_eq!(passing, retry, "{status}: {e}");
        }
        for status in [400, 401, 403, 404, 302] {
            let (url, _) = answering(status).await;
            let e = relay(&http, UrlPolicy::PRIVATE_ALLOWED, &url, None, vec![])
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    CallError::Refused(_) | CallError::NotFound(_) | CallError::Unauthorized(_)
                ),
                "{status}: {e}"
            );
            assert!(!e.to_string().contains("/hook/tok"), "no path in {e}");
        }
    }

    #[tokio::test]
    async fn a_strict_policy_refuses_plain_http_and_inside_addresses_at_request_time() {
        let strict = UrlPolicy::default();
        let http = http_client(Duration::from_secs(2), strict);
        for url in ["http://bot.example.com/hook", "https://127.0.0.1/hook"] {
            let e = relay(&http, strict, url, None, vec![]).await.unwrap_err();
            assert!(matches!(e, CallError::Refused(_)), "{url}: {e}");
        }
    }
}
