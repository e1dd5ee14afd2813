//! Lambda wiring every function shares: JSON logs, the DynamoDB-backed [`App`] built once per
//! cold start, and the runtime loop.

use crate::app::App;
use crate::app::config::{Config, ConfigError};
use crate::queue::sqs::SqsQueue;
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
        // The span a line was written in (a webhook delivery, a job) carries the ids.
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .init();
}

pub async fn app_from_env() -> Result<App, ConfigError> {
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let kv = DynamoKv::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table_name.clone(),
    );
    let mut app = App::new(Store::new(Arc::new(kv)))
        .with_public_url(config.public_url)
        .with_admin_key(config.admin_key)
        .with_url_policy(config.url_policy)
        .with_metrika_url(config.metrika_url);
    // The API and the worker are given the export bucket (the API presigns, the worker writes).
    if let Some(bucket) = config.export_bucket {
        app = app.with_objects(Arc::new(crate::store::s3::S3Objects::new(
            &sdk,
            bucket,
            s3_client(),
        )));
    }
    // Functions that queue or consume jobs are given the queues' URLs by the template.
    if let Some(urls) = config.queues {
        let client = aws_sdk_sqs::Client::new(&sdk);
        app = app.with_queue(Arc::new(SqsQueue::new(
            client,
            urls.queue_url,
            urls.dead_letter_url,
        )));
    }
    Ok(app)
}

/// The SDK configuration. On Lambda the role's credentials are in the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and so is the region
/// (`AWS_REGION`): read from there, as the default chain's first link would, without building
/// the rest of the chain (profile files, SSO, web identity, the container and instance
/// metadata endpoints) nor reading the profile for settings the template never makes. Without
/// them (a developer's profile, `sam local` with one) the default chain decides.
/// `AWS_ENDPOINT_URL`, when set, points every client at a local server (moto in tests).
async fn sdk_config() -> aws_config::SdkConfig {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"));
    let from_env = set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some();
    let endpoint = set("AWS_ENDPOINT_URL");
    let http = sdk_http_client(endpoint.as_deref());
    match region {
        Some(region) if from_env => {
            let mut sdk = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .http_client(http)
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                    ),
                );
            if let Some(url) = endpoint {
                sdk = sdk.endpoint_url(url);
            }
            sdk.build()
        }
        _ => {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(http)
                .load()
                .await
        }
    }
}

/// The roots AWS service endpoints chain to (DynamoDB, SQS and S3 all present Amazon Trust
/// Services certificates): Amazon Root CA 1 to 4 and the Starfield root that cross-signs them,
/// the set AWS tells clients to trust. Copied from Debian's ca-certificates (Mozilla's list).
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("amazon-trust-services.pem");

/// The SDK's HTTPS client: it trusts Amazon's roots alone. With the system's, it read and
/// decoded every root in the system's store on its first request (some 150 certificates; a
/// sixth of a cold start's CPU in the profile) to talk to endpoints that chain to these five.
/// An endpoint override over HTTPS (an emulator with a certificate of its own) keeps the
/// system's roots; the provider clients keep theirs too (`clients::tls`): they talk to any site.
fn sdk_http_client(
    endpoint: Option<&str>,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = if needs_system_roots(endpoint) {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES)
    };
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    // Building a TLS context only stores what it is given; it cannot fail today.
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    }
}

/// Whether an endpoint override is reached over TLS with a certificate of its own.
fn needs_system_roots(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|url| {
        url.trim_start()
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
    })
}

/// Runs an HTTP handler as this Lambda's function: logs, configuration and clients once per
/// cold start, then every invocation borrows them.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = crate::edge::web::HttpResponse> + Send + 'static,
{
    init_logs();
    let app: &'static App = Box::leak(Box::new(app_from_env().await?));
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(crate::edge::web::even_a_panic(handler(app, req)).await)
    }))
    .await
}

/// The export bucket's HTTP client: the provider clients' TLS set-up (roots read at the first
/// handshake), no address guard (the bucket is ours, named by the template).
fn s3_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::clients::tls::config())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{AMAZON_TRUST_SERVICES, needs_system_roots};
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// The SDK's client panics at its first request on a root it cannot parse: all five must
    /// be whole certificates that rustls takes as trust anchors.
    #[test]
    fn the_sdk_trusts_amazons_five_roots() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        assert_eq!(roots.add_parsable_certificates(certs), (5, 0));
    }

    #[test]
    fn only_an_https_endpoint_override_keeps_the_systems_roots() {
        assert!(!needs_system_roots(None));
        assert!(!needs_system_roots(Some("http://127.0.0.1:5000")));
        assert!(needs_system_roots(Some(
            "https://localhost.localstack.cloud:4566"
        )));
        assert!(needs_system_roots(Some(" HTTPS://emulator")));
        assert!(!needs_system_roots(Some("htt")));
    }
}
