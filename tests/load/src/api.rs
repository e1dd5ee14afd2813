//! Reads what the server kept through the management API: every appeal and raw event of the
//! demo Jivo integration, page by page.

use crate::server::API_KEY;
use serde_json::Value;
use std::time::Duration;

const INTEGRATION: &str = "int_demo_jivo";

/// What the server holds for the integration.
pub struct Kept {
    pub appeals: Vec<Value>,
    pub raw_events: Vec<Value>,
}

/// Reads until two reads a second apart agree: webhooks are handled before they are answered,
/// but the proof must not depend on that.
pub async fn settled(base: &str) -> Result<Kept, String> {
    let mut last = read(base).await?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = read(base).await?;
        let same = now.appeals.len() == last.appeals.len()
            && now.raw_events.len() == last.raw_events.len()
            && statuses(&now.raw_events) == statuses(&last.raw_events);
        last = now;
        if same {
            return Ok(last);
        }
    }
    Err("the server's appeals and raw events were still changing after 30 s".into())
}

async fn read(base: &str) -> Result<Kept, String> {
    Ok(Kept {
        appeals: all(base, "/api/appeals").await?,
        raw_events: all(base, "/api/raw-events").await?,
    })
}

fn statuses(raw_events: &[Value]) -> Vec<&str> {
    raw_events
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect()
}

/// Follows `next_cursor` to the end, 200 at a time (the API's largest page).
async fn all(base: &str, path: &str) -> Result<Vec<Value>, String> {
    let client = reqwest::Client::new();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}{path}?integration_id={INTEGRATION}&limit=200");
        if let Some(c) = cursor.take() {
            url.push_str("&cursor=");
            url.push_str(&escape(&c));
        }
        let response = client
            .get(url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("GET {path} answered {status}: {text}"));
        }
        let page: Value =
            serde_json::from_str(&text).map_err(|e| format!("GET {path}: not JSON ({e})"))?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// Percent-encodes all but URL-unreserved characters: cursors are opaque to a client.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
