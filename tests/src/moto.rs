//! moto, the AWS emulator: one server per test process on a free loopback port, gone when the
//! process ends, and fresh DynamoDB tables declared exactly as `template.yaml` declares `Table`.
//!
//! Clients get the endpoint, a region and dummy credentials from here, never from the
//! developer's environment, so a configured AWS profile can neither leak in nor be touched.

use crate::process;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// moto answers in under a second here (TOOLCHAIN.md); a loaded CI machine gets more room.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

struct Moto {
    endpoint: String,
    // Kept for the life of the process: never dropped (statics are not); its watchdog stops it.
    _daemon: process::Daemon,
}

/// Started once; a failure too, so every test reports it at once rather than retrying.
static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The URL of this process's moto server (`http://127.0.0.1:<port>`), started on first use.
/// Blocks while it starts; async callers may prefer [`sdk_config`].
pub fn endpoint() -> &'static str {
    started().unwrap_or_else(|e| panic!("{e}"))
}

fn started() -> Result<&'static str, &'static str> {
    MOTO.get_or_init(start)
        .as_ref()
        .map(|moto| moto.endpoint.as_str())
        .map_err(String::as_str)
}

/// Environment variables that point unmodified code (a child process) at moto.
pub fn env_vars() -> [(&'static str, String); 4] {
    [
        ("AWS_ENDPOINT_URL", endpoint().to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
    ]
}

/// SDK configuration for any AWS client (`aws_sdk_sqs::Client::new(&moto::sdk_config().await)`).
pub async fn sdk_config() -> SdkConfig {
    // Started off the runtime's threads; a failure is reported on the test's own thread.
    let endpoint = tokio::task::spawn_blocking(started)
        .await
        .expect("starting moto")
        .unwrap_or_else(|e| panic!("{e}"));
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "moto",
        )))
        .build()
}

/// A DynamoDB client on moto and the name of a new, empty table of its own, made from the
/// `Table` resource of `template.yaml` (keys, indexes, billing mode, TTL).
pub async fn dynamodb_table() -> (aws_sdk_dynamodb::Client, String) {
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let name = format!(
        "chatsource-test-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let spec = table_spec();
    let key_schema = |keys: &[KeyElement]| -> Vec<KeySchemaElement> {
        keys.iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(&k.attribute_name)
                    .key_type(KeyType::from(k.key_type.as_str()))
                    .build()
                    .expect("key schema element")
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::from(spec.billing_mode.as_str()))
        .set_key_schema(Some(key_schema(&spec.key_schema)));
    for a in &spec.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .expect("attribute definition"),
        );
    }
    for index in &spec.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .expect("global secondary index"),
        );
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating table {name} on moto: {e:?}"));
    if let Some(ttl) = spec
        .time_to_live_specification
        .as_ref()
        .filter(|t| t.enabled)
    {
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(true)
                    .build()
                    .expect("ttl specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("enabling TTL on {name}: {e:?}"));
    }
    (client, name)
}

/// The `Properties` of the `Table` resource of `template.yaml`, in the template's own words.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeSpec>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    pub time_to_live_specification: Option<TtlSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    pub projection_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the repository")
}

pub fn template_path() -> PathBuf {
    repo_root().join("template.yaml")
}

/// The table as `template.yaml` declares it (read once per process).
pub fn table_spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = template_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        parse_table_spec(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// Reads `Resources.Table` of a template. CloudFormation tags (`!Ref`, `!Sub`, `!GetAtt`)
/// elsewhere in the file parse as tagged values and are ignored; inside the table's key
/// properties they are an error, since a test table needs literal names.
pub fn parse_table_spec(template: &str) -> Result<TableSpec, String> {
    #[derive(Deserialize)]
    struct Template {
        #[serde(rename = "Resources")]
        resources: BTreeMap<String, serde_yaml::Value>,
    }
    #[derive(Deserialize)]
    struct Resource {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Properties")]
        properties: serde_yaml::Value,
    }
    let template: Template =
        serde_yaml::from_str(template).map_err(|e| format!("not a template: {e}"))?;
    let table = template
        .resources
        .get("Table")
        .ok_or("no `Table` resource")?
        .clone();
    let table: Resource =
        serde_yaml::from_value(table).map_err(|e| format!("resource `Table`: {e}"))?;
    if table.kind != "AWS::DynamoDB::Table" {
        return Err(format!(
            "resource `Table` is a {}, not an AWS::DynamoDB::Table",
            table.kind
        ));
    }
    serde_yaml::from_value(table.properties).map_err(|e| format!("`Table` properties: {e}"))
}

fn start() -> Result<Moto, String> {
    let program = process::find(
        "MOTO_SERVER",
        &[repo_root().join(".venv/bin/moto_server")],
        "moto_server",
        "run the tests with `scripts/test` (see README.md), which installs moto[server] into \
         .venv, or set MOTO_SERVER to a moto_server executable",
    )?;
    let port = process::free_port();
    let args = [
        "-H".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    let daemon = process::start("moto", &program, &args, port, "/moto-api/", STARTUP_TIMEOUT)?;
    Ok(Moto {
        endpoint: format!("http://{}", daemon.addr),
        _daemon: daemon,
    })
}
