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
/// them (a developer's profile) the default chain decides; `sam local` passes the profile's
/// credentials in the environment, so it takes the first way, as Lambda does.
/// `AWS_ENDPOINT_URL`, when set, points every client at a local server (moto in tests).
async fn sdk_config() -> aws_config::SdkConfig {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"));
    let from_env = set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some();
    let endpoint = set("AWS_ENDPOINT_URL");
    let roots = roots_for(from_env, endpoint.as_deref(), set("AWS_CA_BUNDLE"));
    let http = sdk_http_client(roots);
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

/// The roots AWS service endpoints chain to (DynamoDB, SQS, STS and S3 all present Amazon
/// Trust Services certificates): Amazon Root CA 1 to 4 and the Starfield root that
/// cross-signs them, the set AWS tells clients to trust. Copied from Debian's ca-certificates
/// (Mozilla's list).
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("amazon-trust-services.pem");

/// Which roots the SDK's HTTPS client trusts.
#[derive(Debug, PartialEq)]
enum Roots {
    /// Amazon's five alone, on Lambda: the SDK's default read and decoded every root in the
    /// system's store at its first request (some 150 certificates; 15% of a cold start's
    /// CPU in the profile) to talk to endpoints that chain to these five.
    Amazon,
    /// The system's store: off Lambda (a developer's profile, perhaps behind a company's
    /// TLS-inspecting proxy whose root is installed), or for an endpoint override over HTTPS
    /// (an emulator with a certificate of its own). `sam local` looks like Lambda here: its
    /// credentials come in the environment; `AWS_CA_BUNDLE` covers it behind such a proxy.
    System,
    /// Amazon's five and the PEM bundle at this path (`AWS_CA_BUNDLE`, the variable the AWS
    /// CLI and the other SDKs read; the Rust SDK itself does not): the way out for a Lambda
    /// whose egress re-signs TLS (a firewall's inspection).
    AmazonAnd(String),
}

/// `on_lambda`: the credentials came from the environment, as Lambda gives them.
fn roots_for(on_lambda: bool, endpoint: Option<&str>, ca_bundle: Option<String>) -> Roots {
    let tls_override = endpoint.is_some_and(|url| {
        url.trim_start()
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
    });
    match ca_bundle {
        Some(path) => Roots::AmazonAnd(path),
        None if on_lambda && !tls_override => Roots::Amazon,
        None => Roots::System,
    }
}

/// The bundle at `path`, once every certificate in it parses: the SDK's client panics on its
/// first request over a bundle it cannot parse, which would fail every request after it.
fn read_bundle(path: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bundle = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&bundle)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM bundle: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    match roots.add_parsable_certificates(certs) {
        (_, 0) => Ok(bundle),
        (_, bad) => Err(format!("{bad} certificate(s) in it do not parse")),
    }
}

/// The SDK's HTTPS client (the provider clients keep the system's roots, `clients::tls`: they
/// talk to any site).
fn sdk_http_client(roots: Roots) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let amazon = || TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES);
    let trust = match roots {
        Roots::Amazon => amazon(),
        Roots::System => TrustStore::default(),
        Roots::AmazonAnd(path) => match read_bundle(&path) {
            Ok(bundle) => amazon().with_pem_certificate(bundle),
            Err(why) => {
                tracing::error!(
                    path,
                    why,
                    "AWS_CA_BUNDLE unusable; trusting the system's roots"
                );
                TrustStore::default()
            }
        },
    };
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    // Building a TLS context only stores what it is given; it cannot fail today.
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    }
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
    use super::{AMAZON_TRUST_SERVICES, Roots, read_bundle, roots_for};
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
    fn a_ca_bundle_is_taken_only_when_every_certificate_in_it_parses() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let good = file("good.pem", AMAZON_TRUST_SERVICES);
        assert_eq!(read_bundle(&good).unwrap(), AMAZON_TRUST_SERVICES);
        let text = std::str::from_utf8(AMAZON_TRUST_SERVICES).unwrap();
        let cut = file("cut.pem", text.replacen("MII", "MIIAAAA", 1).as_bytes());
        assert!(read_bundle(&cut).is_err(), "a damaged certificate");
        assert!(read_bundle(&file("empty.pem", b"# nothing\n")).is_err());
        assert!(read_bundle(&file("der.bin", &[0x30, 0x82, 0x01, 0x0a])).is_err());
        let missing = dir.path().join("missing.pem");
        assert!(read_bundle(&missing.to_string_lossy()).is_err());
    }

    #[test]
    fn lambda_trusts_amazons_roots_and_everything_else_the_systems_or_a_given_bundle() {
        let moto = Some("http://127.0.0.1:5000");
        let emulator = Some(" HTTPS://localhost.localstack.cloud:4566");
        assert_eq!(roots_for(true, None, None), Roots::Amazon);
        assert_eq!(roots_for(true, moto, None), Roots::Amazon);
        assert_eq!(roots_for(true, emulator, None), Roots::System);
        assert_eq!(roots_for(true, Some("htt"), None), Roots::Amazon);
        assert_eq!(roots_for(false, None, None), Roots::System);
        assert_eq!(
            roots_for(true, None, Some("/opt/ca.pem".into())),
            Roots::AmazonAnd("/opt/ca.pem".into())
        );
        assert_eq!(
            roots_for(false, emulator, Some("/opt/ca.pem".into())),
            Roots::AmazonAnd("/opt/ca.pem".into())
        );
    }
}
