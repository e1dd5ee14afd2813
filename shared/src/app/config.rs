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
        Ok(Config {
            table_name: set("TABLE_NAME").ok_or(ConfigError("TABLE_NAME"))?,
            public_url: set("PUBLIC_BASE_URL"),
            admin_key: set("ADMIN_API_KEY").map(Secret::new),
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
        assert!(c.public_url.is_none() && c.admin_key.is_none());
    }
}
