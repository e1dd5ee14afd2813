//! The console driven over HTTP as a browser does, without one: sign in with the test API key,
//! keep the session cookie, read pages, post forms with the page's CSRF token. (The browser
//! tests drive real Chromium; this is for checking pages and forms quickly.)

use crate::server::{API_KEY, TestServer};

pub struct Console {
    pub base: String,
    client: reqwest::Client,
    cookie: String,
    csrf: std::sync::Mutex<String>,
}

/// A page as answered: its status, where it sends the browser (a 303), and its HTML.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub html: String,
}

impl Console {
    /// Signed in with the demo account's key, as the sign-in form does.
    pub async fn sign_in(server: &TestServer) -> Console {
        Console::sign_in_with(server, API_KEY).await
    }

    /// Signed in with `key`.
    pub async fn sign_in_with(server: &TestServer, key: &str) -> Console {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let answer = client
            .post(format!("{}/login", server.base))
            .header("origin", &server.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[("key", key), ("next", "/keys")]))
            .send()
            .await
            .expect("sign in");
        assert_eq!(answer.status().as_u16(), 303, "signed in");
        let cookie = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("cs_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let console = Console {
            base: server.base.clone(),
            client,
            cookie,
            csrf: std::sync::Mutex::new(String::new()),
        };
        // Any page carries the CSRF token of the session.
        console.get("/keys").await;
        console
    }

    /// The session cookie (`cs_session=...`).
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// The session's CSRF token, as its pages carry it.
    pub fn csrf(&self) -> String {
        self.csrf.lock().expect("lock").clone()
    }

    pub async fn get(&self, path: &str) -> Page {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("get");
        self.page(answer).await
    }

    /// Posts a form from one of our pages (its origin, the session's CSRF token).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.lock().expect("lock").clone();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("_csrf", &csrf));
        let answer = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&form))
            .send()
            .await
            .expect("post");
        self.page(answer).await
    }

    async fn page(&self, answer: reqwest::Response) -> Page {
        let status = answer.status().as_u16();
        let location = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let html = answer.text().await.unwrap_or_default();
        if let Some(token) = html
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            *self.csrf.lock().expect("lock") = token.to_owned();
        }
        Page {
            status,
            location,
            html,
        }
    }
}

fn encode(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}
