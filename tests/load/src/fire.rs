//! Posts a plan's bodies to the demo Jivo hook, a fixed number in flight, and records each answer.

use crate::plan::Request;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const HOOK: &str = "/hooks/jivo/int_demo_jivo/demo_jivo_secret";

/// What became of one request of the plan.
pub struct Outcome {
    pub index: usize,
    /// `None` when no answer came (connection refused or cut: the server was killed).
    pub status: Option<u16>,
    /// The answer's body when it was not 2xx, or the transport error.
    pub detail: String,
    pub latency: Duration,
}

impl Outcome {
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Lets a killer act mid-load: it hears when `after` answers are in, and its `stop` ends
/// dispatching (requests to a dead server only fail).
#[derive(Default)]
pub struct Tripwire {
    pub after: usize,
    pub reached: Notify,
    pub stop: AtomicBool,
}

pub async fn run(
    base: &str,
    requests: &[Request],
    first_index: usize,
    in_flight: usize,
    tripwire: Option<&Tripwire>,
) -> Vec<Outcome> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a plain HTTP client builds");
    let url = format!("{base}{HOOK}");
    let done = AtomicUsize::new(0);
    futures::stream::iter(requests.iter().enumerate())
        .take_while(|_| {
            let go = tripwire.is_none_or(|t| !t.stop.load(Ordering::SeqCst));
            std::future::ready(go)
        })
        .map(|(i, request)| {
            let (client, url, done) = (&client, &url, &done);
            async move {
                let outcome = post(client, url, request, first_index + i).await;
                let answered = done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(t) = tripwire.filter(|t| t.after == answered) {
                    t.reached.notify_one();
                }
                outcome
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await
}

async fn post(client: &reqwest::Client, url: &str, request: &Request, index: usize) -> Outcome {
    let started = Instant::now();
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .body(request.body.clone())
        .send()
        .await;
    let (status, detail) = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await;
            match text {
                Ok(_) if (200..300).contains(&status) => (Some(status), String::new()),
                Ok(body) => (Some(status), body),
                // The status came but the body was cut: not an acknowledgement we can trust.
                Err(e) => (None, format!("{status}, then the body failed: {e}")),
            }
        }
        Err(e) => (None, error_chain(&e)),
    };
    Outcome {
        index,
        status,
        detail,
        latency: started.elapsed(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The `q` quantile (0..=1) of the acknowledged requests' latencies, in milliseconds.
pub fn quantile_ms(outcomes: &[Outcome], q: f64) -> f64 {
    let mut times: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.acknowledged())
        .map(|o| o.latency)
        .collect();
    times.sort();
    quantile(&times, q).as_secs_f64() * 1000.0
}

/// The `q` quantile (0..=1, nearest rank) of `sorted`; zero when it is empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    sorted[(last as f64 * q.clamp(0.0, 1.0)).round() as usize]
}
