//! Lambda wiring every function shares: JSON logs and the DynamoDB-backed [`App`].

use crate::app::App;
use crate::config::{Config, ConfigError};
use crate::store::Store;
use crate::store::dynamodb::DynamoKv;
use std::sync::Arc;

/// Structured JSON logs, one object per line, as CloudWatch Logs Insights reads them.
/// `RUST_LOG` sets the level (default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .init();
}

pub async fn app_from_env() -> Result<App, ConfigError> {
    let config = Config::from_env()?;
    // AWS_ENDPOINT_URL, when set, points every client at a local server (moto in tests).
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kv = DynamoKv::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name);
    Ok(App::new(Store::new(Arc::new(kv)))
        .with_public_url(config.public_url)
        .with_admin_key(config.admin_key))
}
