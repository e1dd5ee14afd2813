#!/usr/bin/env python3
"""Builds the API Gateway (HTTP API, payload v2) events in events/<function>/ for
`sam local invoke -e` and `chatsource invoke`.

Webhook events carry the bodies in events/<provider>/bodies/, which are the one source of
truth: the Rust tests check that every event carries its body unchanged, so run this after
editing a body:  python3 events/build.py
"""
import base64, json, pathlib

ROOT = pathlib.Path(__file__).parent
API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.eu-central-1.amazonaws.com"
JIVO = "/hooks/jivo/int_demo_jivo/demo_jivo_secret"
SESSIONS = "/t/site_demo_shop/sessions"
VERBOX = "/hooks/verbox/int_demo_verbox/demo_verbox_secret"
AMOCRM = "/hooks/amocrm/int_demo_amocrm/demo_amocrm_secret"
BITRIX24 = "/hooks/bitrix24/int_demo_bitrix24/demo_bitrix24_secret"
SITE_ORIGIN = {"origin": "https://shop.example.ru"}

# (directory, event name, method, path, route key, path parameters, extra headers, body file)
# The demo account `chatsource serve` seeds (shared/src/demo.rs) owns these ids.
SPECS = [
    *[("jivo", body.stem, "POST", JIVO, "POST /hooks/jivo/{integration_id}/{secret}",
       {"integration_id": "int_demo_jivo", "secret": "demo_jivo_secret"}, {}, body)
      for body in sorted((ROOT / "jivo" / "bodies").iterdir())],
    *[("verbox", body.stem, "POST", f"{VERBOX}/{hook}",
       f"POST /hooks/verbox/{{integration_id}}/{{secret}}/{hook}",
       {"integration_id": "int_demo_verbox", "secret": "demo_verbox_secret"}, {}, body)
      for body in sorted((ROOT / "verbox" / "bodies").iterdir())
      for hook in ["offline" if body.stem.startswith("offline") else "chats"]],
    *[("amocrm", body.stem, "POST", AMOCRM, "POST /hooks/amocrm/{integration_id}/{secret}",
       {"integration_id": "int_demo_amocrm", "secret": "demo_amocrm_secret"}, {}, body)
      for body in sorted((ROOT / "amocrm" / "bodies").iterdir())],
    *[("bitrix24", body.stem, "POST", BITRIX24, "POST /hooks/bitrix24/{integration_id}/{secret}",
       {"integration_id": "int_demo_bitrix24", "secret": "demo_bitrix24_secret"}, {}, body)
      for body in sorted((ROOT / "bitrix24" / "bodies").iterdir())],
    ("tracker", "script", "GET", "/t/site_demo_shop/script.js", "GET /t/{site_id}/script.js",
     {"site_id": "site_demo_shop"}, {}, None),
    *[("tracker", body.stem, "POST", SESSIONS, "POST /t/{site_id}/sessions",
       {"site_id": "site_demo_shop"}, SITE_ORIGIN, body)
      for body in sorted((ROOT / "tracker" / "bodies").iterdir())],
]


def event(method, path, route, params, extra_headers, body, form=False, base64_body=False):
    headers = {
        "host": DOMAIN,
        "user-agent": "chatsource-sample",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **extra_headers,
    }
    if body is not None:
        headers["content-type"] = ("text/plain" if path.startswith("/t/")
                                   else "application/x-www-form-urlencoded" if form else "application/json")
        headers["content-length"] = str(len(body))
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "chatsource-sample"},
            "requestId": "sample-request-id",
            "routeKey": route,
            "stage": "$default",
            "time": "03/Jun/2024:10:20:00 +0000",
            "timeEpoch": 1717410000000,
        },
        "pathParameters": params,
        **({"body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8"),
            "isBase64Encoded": base64_body} if body is not None
           else {"isBase64Encoded": False}),
    }


# Enrichment jobs, as SQS delivers them to the worker (an SQS event of one record).
JOBS = {
    "verbox_transcript": {
        "account_id": "acc_demo",
        "integration_id": "int_demo_verbox",
        "appeal_id": "apl_00000000000000000000000000000000",
        "task": {"type": "verbox_transcript", "client_id": "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
                 "search_id": 70402, "finished_at": "2024-06-03T15:30:00Z"},
        "created_at": "2024-06-03T15:30:01Z",
    },
    # What the Bitrix24 webhook (or reconciliation) queues: the appeal id is the one the lead
    # would make (AppealId::derive of int_demo_bitrix24, bitrix24, lead:48211).
    "bitrix24_lead": {
        "account_id": "acc_demo",
        "integration_id": "int_demo_bitrix24",
        "appeal_id": "apl_eeb3155aba3756c99480a96b616d98f7",
        "task": {"type": "bitrix24_entity", "entity": "lead", "id": 48211},
        "created_at": "2024-06-03T10:40:01Z",
    },
}


def sqs_event(name, job):
    return {"Records": [{
        "messageId": f"sample-{name}",
        "receiptHandle": f"sample-receipt-{name}",
        "body": json.dumps(job, ensure_ascii=False),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1717428601000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1717428601500"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:chatsource-EnrichmentQueue",
        "awsRegion": "eu-central-1",
    }]}


for name, job in JOBS.items():
    out = ROOT / "worker" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(sqs_event(name, job), ensure_ascii=False, indent=2) + "\n")
    print(out.relative_to(ROOT.parent))

for directory, name, method, path, route, params, headers, body_file in SPECS:
    body = body_file.read_bytes() if body_file else None
    out = ROOT / directory / f"{name}.json"
    form = body_file is not None and body_file.suffix == ".form"
    out.write_text(json.dumps(event(method, path, route, params, headers, body, form),
                              ensure_ascii=False, indent=2) + "\n")
    print(out.relative_to(ROOT.parent))
    # API Gateway may hand a form body over base64-encoded: one sample of that too.
    if (directory, name) == ("amocrm", "talk_closed"):
        out = ROOT / directory / f"{name}_base64.json"
        out.write_text(json.dumps(event(method, path, route, params, headers, body, form, True),
                                  ensure_ascii=False, indent=2) + "\n")
        print(out.relative_to(ROOT.parent))
