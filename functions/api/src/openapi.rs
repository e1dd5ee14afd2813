//! `GET /api/openapi.json`: the management API described in OpenAPI 3.1, written from the
//! route table the router itself uses (`routes`), so every route is in it and nothing else.

use crate::routes::{Op, ROUTES};
use serde_json::{Map, Value, json};

pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES.iter() {
        let mut operation = json!({
            "summary": route.summary,
            "operationId": operation_id(route.op),
            "responses": responses(route.status.as_u16()),
        });
        let in_path = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
        let in_query = route.query.iter().map(|p| {
            json!({"name": p.name, "in": "query", "required": false,
                   "description": p.about, "schema": {"type": "string"}})
        });
        let params: Vec<Value> = in_path.chain(in_query).collect();
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if matches!(route.method.as_str(), "POST" | "PATCH") && takes_body(route.op) {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        match route.op {
            Op::OpenApi => operation["security"] = json!([]),
            Op::CreateAccount => operation["security"] = json!([{"adminKey": []}]),
            _ => {}
        }
        let entry = paths
            .entry(route.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "chatsource management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything the console does, as JSON. Errors are {\"error\": code, \"message\": sentence}; a refused input is `invalid_request` and also names its `field` and a `reason` (required, too_long, unknown_reference, invalid_url, internal_address, invalid_value, unknown_field).",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "One of the account's API keys"},
                "adminKey": {"type": "http", "scheme": "bearer", "description": "The server's admin key"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "The input field or query parameter refused"},
                        "reason": {"type": "string", "description": "Why it was refused"},
                    },
                },
            },
        },
        "paths": paths,
    })
}

fn responses(status: u16) -> Value {
    let mut responses = json!({
        "4XX": {"description": "Refused, with the reason", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    });
    responses[status.to_string()] = if status == 204 {
        json!({"description": "Done"})
    } else {
        json!({"description": "Done", "content": {"application/json": {"schema": {"type": "object"}}}})
    };
    responses
}

fn takes_body(op: Op) -> bool {
    matches!(
        op,
        Op::Create(_) | Op::Update(_) | Op::CreateKey | Op::CreateAccount | Op::UpdateAccount
    )
}

fn operation_id(op: Op) -> String {
    let text = format!("{op:?}");
    // `List(Site)` -> `listSite`
    let mut id = String::new();
    for (i, part) in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if i == 0 {
            id.push_str(&part[..1].to_ascii_lowercase());
            id.push_str(&part[1..]);
        } else {
            id.push_str(part);
        }
    }
    id
}
