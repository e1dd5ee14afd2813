//! `template.yaml`: valid once SAM has expanded it (and the check can fail), and declaring
//! the table the store's code queries.

use chatsource_tests::moto::{KeyElement, repo_root, table_spec, template_path};
use shared::store::Index;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `CHATSOURCE_PYTHON`, else the repository's `.venv` (where `scripts/test` installs the
/// tools), else `python3`.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CHATSOURCE_PYTHON").filter(|p| !p.is_empty()) {
        return python.into();
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

fn validate(template: &Path) -> Output {
    let script = repo_root().join("tests/support/validate_template.py");
    Command::new(python())
        .arg(&script)
        .arg(template)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {} {}: {e}; run scripts/test, which sets up .venv",
                python().display(),
                script.display()
            )
        })
}

fn template() -> String {
    std::fs::read_to_string(template_path()).expect("reading template.yaml")
}

/// The template with one change inside one block (a resource, or the functions' globals);
/// the text must occur there exactly once, so a reworded template cannot turn a negative
/// test into a no-op.
fn broken(resource: &str, from: &str, to: &str) -> String {
    let text = template();
    let header = format!("\n  {resource}:\n");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("no `{resource}:` block in template.yaml"))
        + header.len();
    // The block runs until the next line indented by less than three spaces.
    let end = start
        + text[start..]
            .split_inclusive('\n')
            .take_while(|line| line.trim().is_empty() || line.starts_with("   "))
            .map(str::len)
            .sum::<usize>();
    let block = &text[start..end];
    assert_eq!(
        block.matches(from).count(),
        1,
        "`{from}` should occur exactly once in `{resource}`"
    );
    format!(
        "{}{}{}",
        &text[..start],
        block.replace(from, to),
        &text[end..]
    )
}

fn assert_rejected(text: &str, because: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, text).expect("write template copy");
    let out = validate(&path);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the validator accepted a template with {because}:\n{said}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the validator failed for another reason than the template:\n{said}"
    );
    assert!(
        said.contains(because),
        "the validator failed without naming `{because}`:\n{said}"
    );
}

#[test]
fn the_template_is_valid_once_sam_expands_it() {
    let out = validate(&template_path());
    assert!(
        out.status.success(),
        "template.yaml is invalid:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_reference_inside_a_function_fails_validation() {
    let text = broken(
        "ApiFunction",
        "ADMIN_API_KEY: !Ref AdminApiKey",
        "ADMIN_API_KEY: !Ref AdminApiKee",
    );
    assert_rejected(&text, "AdminApiKee");
}

#[test]
fn a_broken_reference_in_the_function_globals_fails_validation() {
    let text = broken(
        "Function",
        "TABLE_NAME: !Ref Table",
        "TABLE_NAME: !Ref Tabel",
    );
    assert_rejected(&text, "Tabel");
}

#[test]
fn a_misspelled_function_property_fails_validation() {
    let text = broken("JivoWebhookFunction", "      Policies:", "      Polices:");
    assert_rejected(&text, "Polices");
}

#[test]
fn the_table_declares_the_keys_and_indexes_the_store_queries() {
    let spec = table_spec();
    let (pk, sk) = Index::Primary.attributes();
    let keys = |schema: &[KeyElement]| {
        schema
            .iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
            .collect::<Vec<_>>()
    };
    let hash_range = |pk: &str, sk: &str| {
        vec![
            (pk.to_owned(), "HASH".to_owned()),
            (sk.to_owned(), "RANGE".to_owned()),
        ]
    };
    assert_eq!(keys(&spec.key_schema), hash_range(pk, sk));

    let mut want_attributes = vec![pk, sk];
    let mut want_indexes = Vec::new();
    for index in [Index::Gsi1, Index::Gsi2] {
        let (ipk, isk) = index.attributes();
        want_attributes.extend([ipk, isk]);
        let name = index.name().expect("a secondary index has a name");
        want_indexes.push((name.to_owned(), hash_range(ipk, isk), "ALL".to_owned()));
    }
    let mut attributes: Vec<(&str, &str)> = spec
        .attribute_definitions
        .iter()
        .map(|a| (a.attribute_name.as_str(), a.attribute_type.as_str()))
        .collect();
    attributes.sort_unstable();
    want_attributes.sort_unstable();
    let want_attributes: Vec<(&str, &str)> =
        want_attributes.into_iter().map(|a| (a, "S")).collect();
    assert_eq!(
        attributes, want_attributes,
        "exactly the key attributes, as strings"
    );

    let indexes: Vec<_> = spec
        .global_secondary_indexes
        .iter()
        .map(|i| {
            (
                i.index_name.clone(),
                keys(&i.key_schema),
                i.projection.projection_type.clone(),
            )
        })
        .collect();
    assert_eq!(indexes, want_indexes);

    let ttl = spec.time_to_live_specification.as_ref().expect("a TTL");
    assert!(ttl.enabled);
    assert_eq!(ttl.attribute_name, "expires_at");
    assert_eq!(spec.billing_mode, "PAY_PER_REQUEST");
}

/// `chatsource serve` routes a path to the function API Gateway would call: every HttpApi
/// event of every function in the template reaches that function's binary locally, every
/// local function is deployed, and the functions without HTTP events are the ones `serve`
/// runs in the background.
#[test]
fn the_local_server_routes_every_path_to_the_function_the_template_routes_it_to() {
    let doc: serde_yaml::Value = serde_yaml::from_str(&template()).expect("template.yaml is YAML");
    let (mut deployed, mut background) = (Vec::new(), Vec::new());
    for (name, resource) in doc["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name:?} names no Binary"));
        let events = resource["Properties"]["Events"]
            .as_mapping()
            .expect("Events");
        let http = events
            .values()
            .any(|e| e["Type"].as_str() == Some("HttpApi"));
        if http {
            deployed.push(binary.to_owned());
        } else {
            background.push(binary.to_owned());
        }
        for event in events
            .values()
            .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        {
            let template_path = event["Properties"]["Path"].as_str().expect("Path");
            // A concrete request path for the route: `{proxy+}` spans segments; `$default`
            // takes whatever no other route does (the console's pages).
            let template_path = match template_path {
                "$default" => "/appeals",
                other => other,
            };
            let path = template_path
                .split('/')
                .map(|s| match s {
                    "{proxy+}" => "a/b",
                    s if s.starts_with('{') => "x",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            let local = chatsource::Function::for_path(&path).map(chatsource::Function::name);
            assert_eq!(local, Some(binary), "{template_path} (as {path})");
        }
    }
    let mut local: Vec<_> = chatsource::Function::ALL
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    local.sort();
    deployed.sort();
    assert_eq!(
        local, deployed,
        "the local functions and the template's differ"
    );
    // Functions no HTTP request reaches run inside `chatsource serve` (the worker loop).
    background.sort();
    assert_eq!(
        background,
        chatsource::BACKGROUND,
        "the background functions differ"
    );
}

/// `sam build` (BuildMethod rust-cargolambda) and `scripts/lambda-build` build with
/// cargo-lambda, which adds `panic = "abort"` to the release profile unless the workspace
/// manifest names a strategy itself (measured: 51 rustc runs with `-C panic=abort` before).
/// The deployed functions would then die on a panic instead of answering it
/// (`edge::web::even_a_panic`), while every test here, built by cargo, unwinds.
#[test]
fn the_deployed_functions_unwind_a_panic_as_the_tested_ones_do() {
    let manifest = template_path().with_file_name("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest).expect("reading Cargo.toml");
    let release: Vec<String> = manifest
        .lines()
        .skip_while(|line| line.trim() != "[profile.release]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .map(|line| line.split('#').next().unwrap_or("").replace(' ', ""))
        .collect();
    assert!(
        release.iter().any(|line| line == "panic=\"unwind\""),
        "[profile.release] must say panic = \"unwind\", or cargo-lambda builds the functions \
         with panic = \"abort\"; it has: {release:?}"
    );
}
