//! Configuration of a deployed function, read once from the environment at cold start.

use crate::domain::secret::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Base of the URLs we hand out (`PUBLIC_BASE_URL`); unset: the request's own host.
    pub public_url: Option<String>,
    /// Guards account creation over HTTP (`ADMIN_API_KEY`); unset or empty: disabled.
    pub admin_key: Option<Secret>,
    /// The job queue, for functions that queue or consume jobs (`QUEUE_URL`, which then needs
    /// `DEAD_LETTER_QUEUE_URL`).
    pub queues: Option<QueueUrls>,
    /// `CHATSOURCE_ALLOW_PRIVATE_URLS=1` lets provider addresses be plain http and internal:
    /// for tests on local stand-ins only; the template never sets it.
    pub url_policy: crate::domain::net::UrlPolicy,
    /// The export bucket (`EXPORT_BUCKET`), for CSV exports too large for one answer: the API
    /// queues them, the worker writes them there, the API hands out links.
    pub export_bucket: Option<String>,
    /// `METRIKA_API_URL`: another address for the Yandex Metrika API (a stand-in); unset:
    /// Metrika's own.
    pub metrika_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub queue_url: String,
    pub dead_letter_url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set")]
pub struct ConfigError(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let queues = match set("QUEUE_URL") {
            Some(queue_url) => Some(QueueUrls {
                queue_url,
                dead_letter_url: set("DEAD_LETTER_QUEUE_URL")
                    .ok_or(ConfigError("DEAD_LETTER_QUEUE_URL"))?,
            }),
            None => None,
        };
        Ok(Config {
            table_name: set("TABLE_NAME").ok_or(ConfigError("TABLE_NAME"))?,
            public_url: set("PUBLIC_BASE_URL"),
            admin_key: set("ADMIN_API_KEY").map(Secret::new),
            queues,
            export_bucket: set("EXPORT_BUCKET"),
            url_policy: crate::domain::net::UrlPolicy {
                allow_private: set("CHATSOURCE_ALLOW_PRIVATE_URLS")
                    .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
            },
            metrika_url: set("METRIKA_API_URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_required_and_blank_optionals_are_unset() {
        assert!(Config::from_lookup(|_| None).is_err());
        let c = Config::from_lookup(|n| match n {
            "TABLE_NAME" => Some("t".into()),
            _ => Some(" ".into()),
        })
        .unwrap();
        assert_eq!(c.table_name, "t");
        assert!(c.public_url.is_none() && c.admin_key.is_none() && c.queues.is_none());
        assert!(
            !c.url_policy.allow_private,
            "private targets are never the default"
        );
    }

    #[test]
    fn a_queue_needs_its_dead_letter_queue_too() {
        let missing = Config::from_lookup(|n| match n {
            "TABLE_NAME" | "QUEUE_URL" => Some("q".into()),
            _ => None,
        });
        assert_eq!(
            missing.err().map(|e| e.to_string()).as_deref(),
            Some("environment variable DEAD_LETTER_QUEUE_URL must be set")
        );
        let c = Config::from_lookup(|n| Some(format!("https://sqs/{n}"))).unwrap();
        assert_eq!(
            c.queues,
            Some(QueueUrls {
                queue_url: "https://sqs/QUEUE_URL".into(),
                dead_letter_url: "https://sqs/DEAD_LETTER_QUEUE_URL".into(),
            })
        );
    }
}
