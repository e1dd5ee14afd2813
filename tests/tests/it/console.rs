//! The console's doors: signing in with an API key opens a server-side session; sign-out and
//! revoking the key end it at once; a post needs the session's CSRF token and our own origin;
//! the API keys page and API; the OpenAPI document names exactly the routes the API answers.

use chatsource_tests::console::Console;
use chatsource_tests::server::{API_KEY, start};
use serde_json::{Value, json};

async fn status_of(console: &Console, path: &str) -> (u16, Option<String>) {
    let page = console.get(path).await;
    (page.status, page.location)
}

#[tokio::test]
async fn pages_need_a_session_and_the_sign_in_brings_you_back() {
    let server = start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(format!("{}/keys?lang=en", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()["location"],
        "/login?next=%2Fkeys%3Flang%3Den"
    );
    let login = client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(login.text().await.unwrap().contains("type=\"password\""));
    // A wrong key is refused, and says so.
    let wrong = client
        .post(format!("{}/login", server.base))
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept-language", "en")
        .body("key=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("opens no account"));
    // The cookie is opaque, HttpOnly and SameSite=Lax (Secure except on loopback).
    let console = Console::sign_in(&server).await;
    assert_eq!(status_of(&console, "/keys").await.0, 200);
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let out = console.post("/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    // The same cookie, replayed: refused.
    assert_eq!(status_of(&console, "/keys").await.0, 303);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_site_changes_nothing() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let client = reqwest::Client::new();
    let session = console.cookie().to_owned();
    let forged = client
        .post(format!("{}/keys", server.base))
        .header("cookie", &session)
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=sneaky")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let cross = client
        .post(format!("{}/keys", server.base))
        .header("cookie", &session)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name=sneaky&_csrf={}", console.csrf()))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 400);
    let keys = server.demo("GET", "/api/keys", None).await;
    assert!(
        !keys.json.to_string().contains("sneaky"),
        "no key was made: {}",
        keys.json
    );
}

#[tokio::test]
async fn keys_are_named_show_their_last_use_and_a_revoked_one_and_its_sessions_stop_at_once() {
    let server = start().await;
    let made = server
        .demo("POST", "/api/keys", Some(json!({"name": "CRM sync"})))
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    let key = made.json["key"].as_str().unwrap().to_owned();
    let id = made.json["id"].as_str().unwrap().to_owned();
    assert!(made.json["last_used_at"].is_null());
    // Used once: its use is written down; listed without the key itself.
    assert_eq!(
        server.api(&key, "GET", "/api/sites", None).await.status,
        200
    );
    let listed = server.demo("GET", "/api/keys", None).await.json;
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap()
        .clone();
    assert_eq!(entry["name"], "CRM sync");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(
        !listed.to_string().contains(&key),
        "keys are never shown again"
    );

    // A console signed in with it.
    let console = Console::sign_in_with(&server, &key).await;
    assert_eq!(status_of(&console, "/keys").await.0, 200);
    let revoked = server
        .demo("DELETE", &format!("/api/keys/{id}"), None)
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.json);
    assert_eq!(
        server.api(&key, "GET", "/api/sites", None).await.status,
        401
    );
    assert_eq!(
        status_of(&console, "/keys").await.0,
        303,
        "its console session ended with it"
    );
    // The last live key stays: the account is never locked out.
    let own: Value = server.demo("GET", "/api/keys", None).await.json;
    let live: Vec<&Value> = own["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .collect();
    assert_eq!(live.len(), 1);
    let last = server
        .demo(
            "DELETE",
            &format!("/api/keys/{}", live[0]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        (last.status, last.json["error"].as_str()),
        (409, Some("last_key"))
    );
    assert_eq!(server.demo("GET", "/api/sites", None).await.status, 200);
    let _ = API_KEY;
}

#[tokio::test]
async fn the_keys_page_makes_a_key_shown_once_and_revokes_one() {
    let server = start().await;
    let console = Console::sign_in(&server).await;
    let made = console.post("/keys", &[("name", "Anna's laptop")]).await;
    assert_eq!(made.status, 200);
    let key = made
        .html
        .split("id=\"new-key\" type=\"text\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the new key, shown once")
        .to_owned();
    assert!(key.starts_with("cs_"));
    assert_eq!(
        server.api(&key, "GET", "/api/sites", None).await.status,
        200
    );
    let listed = console.get("/keys?lang=en").await;
    assert!(listed.html.contains("Anna&#39;s laptop") || listed.html.contains("Anna's laptop"));
    assert!(!listed.html.contains(&key), "never shown again");
}

#[tokio::test]
async fn the_openapi_document_names_exactly_the_routes_the_api_answers() {
    let server = start().await;
    let doc = reqwest::get(format!("{}/api/openapi.json", server.base))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    // Every documented route answers as a route (not "no such path", not "wrong method").
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "nope");
        let answer = server.demo(method, &concrete, Some(json!({}))).await;
        assert!(
            !(answer.status == 404
                && answer.json["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("No such path")))
                && answer.status != 405,
            "{method} {path}: {} {}",
            answer.status,
            answer.json
        );
    }
    // And every route the router knows is documented: the table is the one both use.
    let mut table: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    table.sort();
    documented.sort();
    assert_eq!(documented, table);
    // Every documented query parameter is taken (the handler reads nothing undeclared: it
    // asserts so in debug builds); a misspelt one is refused, naming itself and the right ones.
    let appeals = &paths["/api/appeals"]["get"]["parameters"];
    let names: Vec<&str> = appeals
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "from", "to", "channel", "via", "status", "q", "limit", "cursor",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let all = server
        .demo(
            "GET",
            "/api/appeals?channel=telegram&via=messenger_mapping&status=complete&q=anna&limit=5",
            None,
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.json);
    let misspelt = server
        .demo("GET", "/api/appeals?chanel=telegram", None)
        .await;
    assert_eq!(misspelt.status, 400, "{}", misspelt.json);
    assert_eq!(misspelt.json["field"], "chanel");
    assert_eq!(misspelt.json["reason"], "unknown_field");
    assert!(
        misspelt.json["message"]
            .as_str()
            .unwrap()
            .contains("channel"),
        "{}",
        misspelt.json
    );
    let none_taken = server.demo("GET", "/api/sites?limit=5", None).await;
    assert_eq!(none_taken.status, 400, "{}", none_taken.json);
    for path in ["/api/raw-events?limit=0", "/api/raw-events?limit=x"] {
        let bad = server.demo("GET", path, None).await;
        assert_eq!(
            (bad.status, bad.json["field"].as_str()),
            (400, Some("limit")),
            "{path}"
        );
    }

    // A path that is no route is not answered as one.
    for path in ["/api/nothing", "/api/sites/x/y", "/api/keys/x/y"] {
        let answer = server.demo("GET", path, None).await;
        assert_eq!(answer.status, 404, "{path}");
    }
}
