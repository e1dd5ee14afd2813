#!/usr/bin/env python3
"""Builds the API Gateway (HTTP API, payload v2) events in events/<provider>/ from the bodies
in events/<provider>/bodies/, for `sam local invoke -e` and `chatsource invoke`.

The bodies are the one source of truth; the Rust tests check that every event carries its
body unchanged, so run this after editing a body:  python3 events/build.py
"""
import base64, json, pathlib

ROOT = pathlib.Path(__file__).parent
# The demo integration `chatsource serve` seeds (shared/src/demo.rs).
HOOKS = {
    "jivo": ("/hooks/jivo/int_demo_jivo/demo_jivo_secret", "POST /hooks/jivo/{integration_id}/{secret}",
             {"integration_id": "int_demo_jivo", "secret": "demo_jivo_secret"}, "application/json"),
}
API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.eu-central-1.amazonaws.com"


def event(path, route, params, content_type, body: bytes, base64_body=False):
    text = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": content_type,
            "content-length": str(len(body)),
            "host": DOMAIN,
            "user-agent": "chatsource-sample",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "chatsource-sample"},
            "requestId": "sample-request-id",
            "routeKey": route,
            "stage": "$default",
            "time": "03/Jun/2024:10:20:00 +0000",
            "timeEpoch": 1717410000000,
        },
        "pathParameters": params,
        "body": text,
        "isBase64Encoded": base64_body,
    }


for provider, (path, route, params, ctype) in HOOKS.items():
    for body_file in sorted((ROOT / provider / "bodies").iterdir()):
        out = ROOT / provider / (body_file.stem + ".json")
        out.write_text(json.dumps(event(path, route, params, ctype, body_file.read_bytes()),
                                  ensure_ascii=False, indent=2) + "\n")
        print(out.relative_to(ROOT.parent))
