//! moto, the AWS emulator: one server per test process on a free loopback port, gone when the
//! process ends, and fresh DynamoDB tables and SQS queues declared exactly as `template.yaml`
//! declares `Table` and the enrichment queues.
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
    let properties = resource_properties(template, "Table", "AWS::DynamoDB::Table")?;
    serde_yaml::from_value(properties).map_err(|e| format!("`Table` properties: {e}"))
}

/// The `Properties` of one resource of a template, checked to be of the given type.
fn resource_properties(
    template: &str,
    name: &str,
    kind: &str,
) -> Result<serde_yaml::Value, String> {
    #[derive(Deserialize)]
    struct Template {
        #[serde(rename = "Resources")]
        resources: BTreeMap<String, serde_yaml::Value>,
    }
    #[derive(Deserialize)]
    struct Resource {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Properties", default)]
        properties: serde_yaml::Value,
    }
    let template: Template =
        serde_yaml::from_str(template).map_err(|e| format!("not a template: {e}"))?;
    let resource = template
        .resources
        .get(name)
        .ok_or_else(|| format!("no `{name}` resource"))?
        .clone();
    let resource: Resource =
        serde_yaml::from_value(resource).map_err(|e| format!("resource `{name}`: {e}"))?;
    if resource.kind != kind {
        return Err(format!(
            "resource `{name}` is a {}, not an {kind}",
            resource.kind
        ));
    }
    Ok(resource.properties)
}

/// The template's work queue and its dead-letter queue: `sqs_queues` makes test queues from
/// these resources.
pub const QUEUE_RESOURCE: &str = "EnrichmentQueue";
pub const DEAD_LETTER_QUEUE_RESOURCE: &str = "EnrichmentDeadLetterQueue";

/// An `AWS::SQS::Queue` of the template as queue attributes: CloudFormation names a queue's
/// properties as SQS names its attributes, so every literal property becomes the attribute of
/// the same name; the redrive policy names its target resource, which a test replaces with a
/// queue of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub attributes: BTreeMap<String, String>,
    pub redrive_policy: Option<RedriveSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedriveSpec {
    /// The resource `deadLetterTargetArn` points at (`!GetAtt <resource>.Arn`).
    pub dead_letter_resource: String,
    pub max_receive_count: u32,
}

/// Reads `Resources.<name>` of a template as an SQS queue. A property this cannot translate
/// (a tag other than the redrive target, a list or map) is an error rather than dropped, so a
/// new property in the template cannot leave the test queues behind silently.
pub fn parse_queue_spec(template: &str, name: &str) -> Result<QueueSpec, String> {
    let properties = resource_properties(template, name, "AWS::SQS::Queue")?;
    let properties: BTreeMap<String, serde_yaml::Value> = match properties {
        serde_yaml::Value::Null => BTreeMap::new(),
        other => serde_yaml::from_value(other).map_err(|e| format!("`{name}` properties: {e}"))?,
    };
    let mut spec = QueueSpec {
        attributes: BTreeMap::new(),
        redrive_policy: None,
    };
    for (property, value) in properties {
        let literal = match &value {
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        match (property.as_str(), literal) {
            ("RedrivePolicy", _) => {
                spec.redrive_policy = Some(
                    parse_redrive(&value).map_err(|e| format!("`{name}` RedrivePolicy: {e}"))?,
                );
            }
            // Test queues get names of their own.
            ("QueueName", _) => {}
            (_, Some(literal)) => {
                spec.attributes.insert(property, literal);
            }
            (_, None) => {
                return Err(format!(
                    "`{name}` property {property} is not a literal; teach tests/src/moto.rs to \
                     translate it"
                ));
            }
        }
    }
    Ok(spec)
}

fn parse_redrive(value: &serde_yaml::Value) -> Result<RedriveSpec, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Redrive {
        dead_letter_target_arn: serde_yaml::Value,
        max_receive_count: u32,
    }
    let redrive: Redrive = serde_yaml::from_value(value.clone()).map_err(|e| e.to_string())?;
    let target = match &redrive.dead_letter_target_arn {
        serde_yaml::Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
            .value
            .as_str()
            .and_then(|at| at.strip_suffix(".Arn"))
            .map(str::to_owned),
        _ => None,
    };
    Ok(RedriveSpec {
        dead_letter_resource: target.ok_or("deadLetterTargetArn is not `!GetAtt <queue>.Arn`")?,
        max_receive_count: redrive.max_receive_count,
    })
}

/// The work queue as `template.yaml` declares it (read once per process).
pub fn queue_spec() -> &'static QueueSpec {
    static SPEC: OnceLock<QueueSpec> = OnceLock::new();
    SPEC.get_or_init(|| template_queue_spec(QUEUE_RESOURCE))
}

/// The dead-letter queue as `template.yaml` declares it (read once per process).
pub fn dead_letter_queue_spec() -> &'static QueueSpec {
    static SPEC: OnceLock<QueueSpec> = OnceLock::new();
    SPEC.get_or_init(|| template_queue_spec(DEAD_LETTER_QUEUE_RESOURCE))
}

fn template_queue_spec(name: &str) -> QueueSpec {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_queue_spec(&text, name).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An SQS client on moto and the URLs of a new, empty queue and dead-letter queue of their
/// own, made from the `EnrichmentQueue` and `EnrichmentDeadLetterQueue` resources of
/// `template.yaml`: their attributes, and the queue's redrive policy (its `maxReceiveCount`)
/// pointing at the new dead-letter queue.
pub async fn sqs_queues() -> (aws_sdk_sqs::Client, String, String) {
    static QUEUES: AtomicU32 = AtomicU32::new(0);
    let client = aws_sdk_sqs::Client::new(&sdk_config().await);
    let name = format!(
        "chatsource-test-{}-{}",
        std::process::id(),
        QUEUES.fetch_add(1, Ordering::Relaxed)
    );
    let (queue, dead_letter) = (queue_spec(), dead_letter_queue_spec());
    let redrive = queue
        .redrive_policy
        .as_ref()
        .unwrap_or_else(|| panic!("`{QUEUE_RESOURCE}` has no RedrivePolicy"));
    assert_eq!(
        redrive.dead_letter_resource, DEAD_LETTER_QUEUE_RESOURCE,
        "`{QUEUE_RESOURCE}` redrives to another queue"
    );
    assert!(
        dead_letter.redrive_policy.is_none(),
        "a dead-letter queue with a dead-letter queue of its own"
    );
    let dead_letter_url =
        create_queue(&client, &format!("{name}-dlq"), &dead_letter.attributes).await;
    let dead_letter_arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading the ARN of {dead_letter_url}: {e:?}"))
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap_or_else(|| panic!("moto gave {dead_letter_url} no ARN"));
    let mut attributes = queue.attributes.clone();
    attributes.insert(
        "RedrivePolicy".into(),
        serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": redrive.max_receive_count,
        })
        .to_string(),
    );
    let queue_url = create_queue(&client, &name, &attributes).await;
    (client, queue_url, dead_letter_url)
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &BTreeMap<String, String>,
) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(
            aws_sdk_sqs::types::QueueAttributeName::from(attribute.as_str()),
            value,
        );
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating queue {name} on moto: {e:?}"))
        .queue_url
        .unwrap_or_else(|| panic!("moto gave queue {name} no URL"))
}

fn start() -> Result<Moto, String> {
    // moto's server through `tests/moto/serialized.py`, which makes its DynamoDB keep
    // DynamoDB's promise of atomic transactions (see there).
    let program = process::find(
        "MOTO_PYTHON",
        &[repo_root().join(".venv/bin/python")],
        "python3",
        "run the tests with `scripts/test` (see README.md), which installs moto[server] into \
         .venv, or set MOTO_PYTHON to a Python that has it",
    )?;
    let port = process::free_port();
    let args = [
        repo_root()
            .join("tests/moto/serialized.py")
            .display()
            .to_string(),
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
