//! A local stand-in for one amoCRM (Kommo) account, answering as the documented API does:
//! OAuth2 with single-use refresh tokens (`POST /oauth2/access_token`), the v4 reads the
//! enrichment worker makes (account, talks, leads, contacts, users, custom field lists) as HAL
//! JSON, `application/problem+json` errors, and the 7 requests/s limit answered with 429.
//!
//! Where the docs are silent the choice is written beside the code. In short: lead and contact
//! ids that do not exist answer 204 with no body (amoCRM's habit, reported by client authors),
//! talks and users answer 404; a known path with another method answers 405; requests over the
//! limit are refused and do not use up the window; `GET /oauth` is a consent page that agrees
//! at once and redirects as amoCRM does.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `type` of every OAuth error body (as in the bodies amoCRM users report, e.g.
/// amocrm/amocrm-api-php#123).
pub const OAUTH_PROBLEM: &str = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson";
/// Authorization codes live 20 minutes.
pub const CODE_LIFETIME: Duration = Duration::from_secs(20 * 60);

pub struct Config {
    pub account_id: u64,
    pub subdomain: String,
    pub client_id: String,
    pub client_secret: String,
    /// Must equal the `redirect_uri` sent in token requests (and is where `GET /oauth` sends
    /// the user back).
    pub redirect_uri: String,
    /// `expires_in` of issued access tokens; they stop working after it.
    pub access_lifetime: Duration,
    /// Requests admitted per sliding second, all routes together; 0 turns the limit off.
    pub rate_limit_per_second: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            account_id: 30123456,
            subdomain: "acme-shop".into(),
            client_id: "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b".into(),
            client_secret: "k8N2vQ7xR4tY1uW9zB3cD6fG0hJ5mL2pS8aE4iO7nV1".into(),
            redirect_uri: "https://chatsource.example/oauth/amocrm".into(),
            access_lifetime: Duration::from_secs(86_400),
            rate_limit_per_second: 7,
        }
    }
}

pub struct Amocrm {
    config: Config,
    base_url: String,
    /// `127.0.0.1:<port>`, what amoCRM calls the `referer` (the account's host).
    host: String,
    started_at: u64,
    data: Mutex<Data>,
    tokens: Mutex<Tokens>,
    window: Mutex<VecDeque<Instant>>,
    calls: Mutex<HashMap<String, u32>>,
    refreshes: AtomicU32,
    rate_limited: AtomicU32,
    fail_next: AtomicU32,
    minted: AtomicU64,
    /// Milliseconds a refresh's answer is held back after the token was consumed.
    hold_refresh_ms: AtomicU64,
}

#[derive(Default)]
struct Tokens {
    codes: HashMap<String, Code>,
    /// Live access tokens and when they expire; a killed one is removed.
    access: HashMap<String, Instant>,
    long_lived: HashSet<String>,
    refresh: HashMap<String, Refresh>,
}

struct Code {
    issued: Instant,
    spent: bool,
    expired: bool,
}

enum Refresh {
    Live {
        access: String,
    },
    /// Used once already, or revoked with the integration: both answer "Token has been revoked".
    Spent,
}

struct Data {
    users: BTreeMap<u64, (String, String)>,
    contacts: BTreeMap<u64, Contact>,
    leads: BTreeMap<u64, Lead>,
    talks: BTreeMap<u64, Talk>,
    /// Field definitions per entity ("leads", "contacts").
    fields: HashMap<&'static str, BTreeMap<u64, Field>>,
    next_field_id: u64,
    next_enum_id: u64,
}

struct Contact {
    name: String,
    /// (field id, value, enum code): phones and e-mails carry their enum, custom values none.
    values: Vec<(u64, String, Option<&'static str>)>,
    created_at: u64,
}

struct Lead {
    name: String,
    responsible_user_id: u64,
    contact_id: u64,
    /// (field id, value), UTM codes already resolved to their field's id.
    values: Vec<(u64, String)>,
    created_at: u64,
}

struct Talk {
    contact_id: u64,
    lead_id: u64,
    origin: String,
    is_in_work: bool,
    created_at: u64,
    updated_at: u64,
}

struct Field {
    name: String,
    code: Option<String>,
    field_type: String,
    predefined: bool,
    /// (enum id, enum code) of multitext fields such as PHONE and EMAIL.
    enums: Vec<(u64, String)>,
}

impl Amocrm {
    pub async fn start(config: Config) -> Arc<Amocrm> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let amocrm = Arc::new(Amocrm {
            config,
            base_url: format!("http://{addr}"),
            host: addr.to_string(),
            started_at: unix_now(),
            data: Mutex::new(Data {
                users: BTreeMap::new(),
                contacts: BTreeMap::new(),
                leads: BTreeMap::new(),
                talks: BTreeMap::new(),
                fields: HashMap::from([("leads", BTreeMap::new()), ("contacts", BTreeMap::new())]),
                next_field_id: 900_001,
                next_enum_id: 1_800_001,
            }),
            tokens: Mutex::new(Tokens::default()),
            window: Mutex::new(VecDeque::new()),
            calls: Mutex::new(HashMap::new()),
            refreshes: AtomicU32::new(0),
            rate_limited: AtomicU32::new(0),
            fail_next: AtomicU32::new(0),
            minted: AtomicU64::new(0),
            hold_refresh_ms: AtomicU64::new(0),
        });
        let router = axum::Router::new()
            .route("/oauth2/access_token", axum::routing::post(token))
            .route("/oauth", get(consent))
            .route("/api/v4/account", get(account))
            .route("/api/v4/talks/{id}", get(talk))
            .route("/api/v4/leads/custom_fields", get(lead_fields))
            .route("/api/v4/contacts/custom_fields", get(contact_fields))
            .route("/api/v4/leads/{id}", get(lead))
            .route("/api/v4/contacts/{id}", get(contact))
            .route("/api/v4/users/{id}", get(user))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&amocrm),
                gate,
            ))
            .with_state(Arc::clone(&amocrm));
        tokio::spawn(async move { axum::serve(listener, router).await });
        amocrm
    }

    /// `http://127.0.0.1:<port>`: the account's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The configuration it was started with (client id, secret, redirect URI for requests).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A fresh authorization code, as amoCRM hands one to the redirect URI (valid once, 20
    /// minutes).
    pub fn authorization_code(&self) -> String {
        let code = self.mint("def50200");
        let issued = Instant::now();
        self.tokens().codes.insert(
            code.clone(),
            Code {
                issued,
                spent: false,
                expired: false,
            },
        );
        code
    }

    /// Every code handed out so far is past its 20 minutes.
    pub fn expire_authorization_codes(&self) {
        for code in self.tokens().codes.values_mut() {
            code.expired = true;
        }
    }

    /// Calls per route, whatever they were answered (429s included): "POST
    /// /oauth2/access_token", "GET /api/v4/talks/{id}", "GET /api/v4/leads/custom_fields"…
    /// Numeric path segments count as `{id}`; the query is left out.
    pub fn calls(&self, route: &str) -> u32 {
        self.calls
            .lock()
            .expect("lock")
            .get(route)
            .copied()
            .unwrap_or(0)
    }

    /// Successful refresh_token grants so far.
    pub fn refreshes(&self) -> u32 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Requests answered 429 so far.
    pub fn rate_limited(&self) -> u32 {
        self.rate_limited.load(Ordering::SeqCst)
    }

    /// The next `n` calls to `/api/v4/...` answer 500 (after the rate limit, before auth).
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// From now on a refresh consumes its token at once and answers only `hold` later, as a
    /// slow token endpoint does: a caller that gives up or dies meanwhile never sees the pair.
    pub fn hold_refresh_answers(&self, hold: Duration) {
        self.hold_refresh_ms
            .store(hold.as_millis() as u64, Ordering::SeqCst);
    }

    /// The account owner revokes the integration: every access, refresh and long-lived token and
    /// every unused authorization code stops working. Codes handed out afterwards work.
    pub fn revoke_all(&self) {
        let mut tokens = self.tokens();
        tokens.access.clear();
        tokens.long_lived.clear();
        for refresh in tokens.refresh.values_mut() {
            *refresh = Refresh::Spent;
        }
        for code in tokens.codes.values_mut() {
            code.spent = true;
        }
    }

    /// Expires every access token issued so far (as if a day passed); refresh tokens and
    /// long-lived tokens stay valid.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for expires_at in self.tokens().access.values_mut() {
            *expires_at = now;
        }
    }

    /// A long-lived token (Kommo "long-lived token": no refresh, valid until `revoke_all`).
    pub fn long_lived_token(&self) -> String {
        let token = self.mint("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.");
        self.tokens().long_lived.insert(token.clone());
        token
    }

    pub fn add_user(&self, id: u64, name: &str, email: &str) {
        self.data()
            .users
            .insert(id, (name.to_owned(), email.to_owned()));
    }

    /// A contact; its phones and e-mails become the predefined multitext fields PHONE and EMAIL
    /// (the first phone `WORK`, the others `MOB`; e-mails `WORK`), defined on first use.
    pub fn add_contact(
        &self,
        id: u64,
        name: &str,
        phones: &[&str],
        emails: &[&str],
        custom: &[(u64, &str)],
    ) {
        let mut data = self.data();
        let mut values = Vec::new();
        for (i, phone) in phones.iter().enumerate() {
            let kind = if i == 0 { "WORK" } else { "MOB" };
            values.push((
                data.field_by_code("contacts", "PHONE"),
                (*phone).to_owned(),
                Some(kind),
            ));
        }
        for email in emails {
            values.push((
                data.field_by_code("contacts", "EMAIL"),
                (*email).to_owned(),
                Some("WORK"),
            ));
        }
        for &(field, value) in custom {
            data.field_by_id("contacts", field);
            values.push((field, value.to_owned(), None));
        }
        let contact = Contact {
            name: name.to_owned(),
            values,
            created_at: unix_now(),
        };
        data.contacts.insert(id, contact);
    }

    /// A lead. `utm` holds (field code, value) pairs such as ("UTM_SOURCE", "yandex"): each code
    /// is a lead field of type `tracking_data` named like the code in lower case, defined on
    /// first use unless `add_custom_field` defined it. `custom` holds (field id, value) pairs;
    /// an id not defined yet becomes a text field "Field <id>" without a code (the session
    /// field's shape). `contact_id` 0 means no contact.
    pub fn add_lead(
        &self,
        id: u64,
        name: &str,
        responsible_user_id: u64,
        contact_id: u64,
        utm: &[(&str, &str)],
        custom: &[(u64, &str)],
    ) {
        let mut data = self.data();
        let mut values = Vec::new();
        for &(code, value) in utm {
            values.push((data.field_by_code("leads", code), value.to_owned()));
        }
        for &(field, value) in custom {
            data.field_by_id("leads", field);
            values.push((field, value.to_owned()));
        }
        let lead = Lead {
            name: name.to_owned(),
            responsible_user_id,
            contact_id,
            values,
            created_at: unix_now(),
        };
        data.leads.insert(id, lead);
    }

    /// A talk (conversation); `lead_id` 0 means the talk is about no lead.
    pub fn add_talk(
        &self,
        talk_id: u64,
        contact_id: u64,
        lead_id: u64,
        origin: &str,
        is_in_work: bool,
    ) {
        let now = unix_now();
        let talk = Talk {
            contact_id,
            lead_id,
            origin: origin.to_owned(),
            is_in_work,
            created_at: now,
            updated_at: now,
        };
        self.data().talks.insert(talk_id, talk);
    }

    /// An operator opens or closes a talk (`is_in_work`, `updated_at` change).
    pub fn set_talk_in_work(&self, talk_id: u64, is_in_work: bool) {
        let mut data = self.data();
        let talk = data.talks.get_mut(&talk_id).expect("no such talk");
        talk.is_in_work = is_in_work;
        talk.updated_at = unix_now();
    }

    /// A custom field definition listed by `GET /api/v4/{entity}/custom_fields`; it also names
    /// the values of seeded entities with this id (or this code).
    pub fn add_custom_field(
        &self,
        entity: &str,
        id: u64,
        name: &str,
        code: Option<&str>,
        field_type: &str,
    ) {
        let entity = entity_key(entity);
        let mut data = self.data();
        let enums = code.map(|c| data.standard_enums(c)).unwrap_or_default();
        let field = Field {
            name: name.to_owned(),
            code: code.map(str::to_owned),
            field_type: field_type.to_owned(),
            predefined: false,
            enums,
        };
        data.fields
            .get_mut(entity)
            .expect("entity")
            .insert(id, field);
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().expect("lock")
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("lock")
    }

    /// An unguessable token: a prefix that looks like amoCRM's (`def50200…` for codes and
    /// refresh tokens, a JWT header for access tokens) and 128 random bits.
    fn mint(&self, prefix: &str) -> String {
        let n = self.minted.fetch_add(1, Ordering::SeqCst);
        let random = std::collections::hash_map::RandomState::new();
        let (a, b) = (random.hash_one((n, prefix)), random.hash_one(!n));
        format!("{prefix}{a:016x}{b:016x}")
    }

    fn href(&self, path: &str) -> Value {
        json!({"self": {"href": format!("{}{path}", self.base_url)}})
    }

    /// Whether the request carries a live access token or long-lived token.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
        else {
            return false;
        };
        let tokens = self.tokens();
        tokens.long_lived.contains(token)
            || tokens
                .access
                .get(token)
                .is_some_and(|expires_at| Instant::now() < *expires_at)
    }

    /// A new access/refresh pair, in the documented response shape (Kommo adds `server_time`).
    fn issue(&self, tokens: &mut Tokens) -> Value {
        let access = self.mint("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.");
        let refresh = self.mint("def50200");
        let lifetime = self.config.access_lifetime;
        tokens
            .access
            .insert(access.clone(), Instant::now() + lifetime);
        tokens.refresh.insert(
            refresh.clone(),
            Refresh::Live {
                access: access.clone(),
            },
        );
        json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "server_time": unix_now(),
               "access_token": access, "refresh_token": refresh})
    }

    /// Admits the request unless `rate_limit_per_second` requests were admitted within the last
    /// second. Refused requests do not use up the window, so a client that backs off recovers.
    fn admit(&self) -> bool {
        let limit = self.config.rate_limit_per_second as usize;
        if limit == 0 {
            return true;
        }
        let now = Instant::now();
        let mut window = self.window.lock().expect("lock");
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }
}

impl Data {
    /// The id of the entity's field with this code, defining it on first use: PHONE and EMAIL as
    /// amoCRM's predefined contact fields, any other code as a lead tracking (UTM) field.
    fn field_by_code(&mut self, entity: &'static str, code: &str) -> u64 {
        let existing = self.fields[entity]
            .iter()
            .find(|(_, f)| f.code.as_deref() == Some(code));
        if let Some((id, _)) = existing {
            return *id;
        }
        let id = self.free_field_id();
        let enums = self.standard_enums(code);
        let (name, field_type, predefined) = match code {
            "PHONE" => ("Телефон".to_owned(), "multitext", true),
            "EMAIL" => ("Email".to_owned(), "multitext", true),
            _ => (code.to_lowercase(), "tracking_data", false),
        };
        let field = Field {
            name,
            code: Some(code.to_owned()),
            field_type: field_type.to_owned(),
            predefined,
            enums,
        };
        self.fields
            .get_mut(entity)
            .expect("entity")
            .insert(id, field);
        id
    }

    /// Defines a field given only by id as a text field without a code, unless it exists.
    fn field_by_id(&mut self, entity: &'static str, id: u64) {
        let fields = self.fields.get_mut(entity).expect("entity");
        fields.entry(id).or_insert_with(|| Field {
            name: format!("Field {id}"),
            code: None,
            field_type: "text".to_owned(),
            predefined: false,
            enums: Vec::new(),
        });
    }

    fn free_field_id(&mut self) -> u64 {
        while self
            .fields
            .values()
            .any(|f| f.contains_key(&self.next_field_id))
        {
            self.next_field_id += 1;
        }
        self.next_field_id += 1;
        self.next_field_id - 1
    }

    /// The enum values amoCRM gives its predefined PHONE and EMAIL fields.
    fn standard_enums(&mut self, code: &str) -> Vec<(u64, String)> {
        let codes: &[&str] = match code {
            "PHONE" => &["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"],
            "EMAIL" => &["WORK", "PRIV", "OTHER"],
            _ => &[],
        };
        codes
            .iter()
            .map(|c| {
                self.next_enum_id += 1;
                (self.next_enum_id - 1, (*c).to_owned())
            })
            .collect()
    }

    /// `custom_fields_values` as GET returns it: one entry per field in first-use order, its
    /// values in order; `null` when the entity has none.
    fn values(&self, entity: &str, values: &[(u64, Value)], with_computed: bool) -> Value {
        let mut order: Vec<u64> = Vec::new();
        let mut grouped: HashMap<u64, Vec<Value>> = HashMap::new();
        for (field, value) in values {
            if !grouped.contains_key(field) {
                order.push(*field);
            }
            grouped.entry(*field).or_default().push(value.clone());
        }
        if order.is_empty() {
            return Value::Null;
        }
        let entries = order.iter().map(|id| {
            let field = &self.fields[entity][id];
            let mut entry = json!({"field_id": id, "field_name": field.name, "field_code": field.code,
                                   "field_type": field.field_type, "values": grouped[id]});
            if with_computed {
                entry["is_computed"] = json!(false);
            }
            entry
        });
        Value::Array(entries.collect())
    }

    /// A PHONE or EMAIL value with its enum.
    fn enum_value(&self, field: u64, value: &str, enum_code: &str) -> Value {
        let enum_id = self.fields["contacts"][&field]
            .enums
            .iter()
            .find(|(_, c)| c == enum_code)
            .map(|(id, _)| *id);
        json!({"value": value, "enum_id": enum_id, "enum_code": enum_code})
    }
}

fn entity_key(entity: &str) -> &'static str {
    match entity {
        "leads" => "leads",
        "contacts" => "contacts",
        other => panic!("custom fields exist for \"leads\" or \"contacts\", not {other:?}"),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// "GET /api/v4/talks/{id}" for `GET /api/v4/talks/8841?x=1`.
fn route_key(method: &Method, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", path.join("/"))
}

/// Counts, rate-limits and (for the API) injects faults, before any route sees the request.
async fn gate(State(s): State<Arc<Amocrm>>, request: Request, next: Next) -> Response {
    let key = route_key(request.method(), request.uri().path());
    // The consent page is amoCRM's web application in the user's browser, not its API: the
    // API's limit does not count it.
    let consent_page = key == "GET /oauth";
    *s.calls.lock().expect("lock").entry(key).or_default() += 1;
    if !consent_page && !s.admit() {
        s.rate_limited.fetch_add(1, Ordering::SeqCst);
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "You have sent too many requests in a given amount of time. Please try again later.",
        );
    }
    let api = request.uri().path().starts_with("/api/v4/");
    if api
        && s.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        // Kommo's documented 500 body: no `type`, a trace id.
        let body = json!({"title": "ErrInternalServer", "status": 500, "trace_id": s.mint(""),
                          "detail": "Our team is probably already working on the problem."});
        return respond(StatusCode::INTERNAL_SERVER_ERROR, PROBLEM_JSON, &body);
    }
    next.run(request).await
}

const HAL_JSON: &str = "application/hal+json";
const PROBLEM_JSON: &str = "application/problem+json";

fn respond(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response()
}

fn hal(body: &Value) -> Response {
    respond(StatusCode::OK, HAL_JSON, body)
}

/// The API's error shape: `{"title", "type": "https://httpstatus.es/<status>", "status", "detail"}`.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({"title": title, "type": format!("https://httpstatus.es/{}", status.as_u16()),
                      "status": status.as_u16(), "detail": detail});
    respond(status, PROBLEM_JSON, &body)
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Invalid user name or password",
    )
}

/// amoCRM answers an id it does not hold, for leads and contacts, with 204 and no body.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn not_found(State(s): State<Arc<Amocrm>>, uri: Uri) -> Response {
    let detail = format!("Cannot GET {}{}", s.base_url, uri.path());
    problem(StatusCode::NOT_FOUND, "Not Found", &detail)
}

async fn method_not_allowed() -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        "Method Not Allowed",
    )
}

/// An OAuth error: `{"hint", "title": "Некорректный запрос", "type", "status", "detail"}`.
fn oauth_problem(status: StatusCode, hint: &str) -> Response {
    let body = json!({"hint": hint, "title": "Некорректный запрос", "type": OAUTH_PROBLEM,
                      "status": status.as_u16(),
                      "detail": "В запросе отсутствует ряд параметров или параметры невалидны"});
    respond(status, PROBLEM_JSON, &body)
}

/// A wrong client secret (amocrm/amocrm-api-php#235).
fn invalid_client() -> Response {
    let body = json!({"title": "Некорректный клиент", "type": OAUTH_PROBLEM, "status": 401,
                      "detail": "Авторизация клиента не прошла"});
    respond(StatusCode::UNAUTHORIZED, PROBLEM_JSON, &body)
}

/// The token request's fields, from a JSON body (as documented) or a form body.
fn grant_fields(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        return url::form_urlencoded::parse(body).into_owned().collect();
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return HashMap::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            _ => None,
        })
        .collect()
}

/// `POST /oauth2/access_token`. Checks in the order the OAuth server does: grant type,
/// client, redirect URI, then the code or refresh token.
async fn token(State(s): State<Arc<Amocrm>>, headers: HeaderMap, body: Bytes) -> Response {
    let before = s.refreshes();
    let response = grant(&s, &headers, &body);
    let hold = s.hold_refresh_ms.load(Ordering::SeqCst);
    if hold > 0 && s.refreshes() > before {
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    response
}

fn grant(s: &Amocrm, headers: &HeaderMap, body: &Bytes) -> Response {
    let fields = grant_fields(headers, body);
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let grant = field("grant_type");
    if !matches!(grant, Some("authorization_code" | "refresh_token")) {
        return oauth_problem(StatusCode::BAD_REQUEST, "Check the `grant_type` parameter");
    }
    if field("client_id") != Some(s.config.client_id.as_str()) {
        return oauth_problem(StatusCode::BAD_REQUEST, "Check the `client_id` parameter");
    }
    match field("client_secret") {
        None => {
            return oauth_problem(
                StatusCode::BAD_REQUEST,
                "Check the `client_secret` parameter",
            );
        }
        Some(secret) if secret != s.config.client_secret => return invalid_client(),
        Some(_) => {}
    }
    if field("redirect_uri") != Some(s.config.redirect_uri.as_str()) {
        return oauth_problem(
            StatusCode::BAD_REQUEST,
            "Redirect URI is not associated with client",
        );
    }
    let mut tokens = s.tokens();
    if grant == Some("authorization_code") {
        let Some(code) = field("code") else {
            return oauth_problem(StatusCode::BAD_REQUEST, "Check the `code` parameter");
        };
        let Some(code) = tokens.codes.get_mut(code) else {
            return oauth_problem(
                StatusCode::BAD_REQUEST,
                "Cannot decrypt the authorization code",
            );
        };
        if code.spent {
            return oauth_problem(
                StatusCode::BAD_REQUEST,
                "Authorization code has been revoked",
            );
        }
        if code.expired || code.issued.elapsed() > CODE_LIFETIME {
            return oauth_problem(StatusCode::BAD_REQUEST, "Authorization code has expired");
        }
        code.spent = true;
        let pair = s.issue(&mut tokens);
        return respond(StatusCode::OK, "application/json", &pair);
    }
    let Some(refresh) = field("refresh_token") else {
        return oauth_problem(
            StatusCode::BAD_REQUEST,
            "Check the `refresh_token` parameter",
        );
    };
    // Globally single-use (maintainer, amocrm/amocrm-api-php#475): using it kills it and its
    // access token; a second use answers 401 "Token has been revoked" (#123, #269). The pair
    // issued by the first use stays valid.
    match tokens.refresh.insert(refresh.to_owned(), Refresh::Spent) {
        Some(Refresh::Live { access }) => {
            tokens.access.remove(&access);
            s.refreshes.fetch_add(1, Ordering::SeqCst);
            let pair = s.issue(&mut tokens);
            respond(StatusCode::OK, "application/json", &pair)
        }
        Some(Refresh::Spent) => oauth_problem(StatusCode::UNAUTHORIZED, "Token has been revoked"),
        None => {
            tokens.refresh.remove(refresh); // never issued: leave no trace of the guess
            oauth_problem(StatusCode::UNAUTHORIZED, "Cannot decrypt the refresh token")
        }
    }
}

/// `GET /oauth?client_id=…&state=…`: the consent page, where the user picks the account and
/// agrees at once. amoCRM then redirects to the redirect URI with `code`, `state`, `referer`
/// (the account's host; here `127.0.0.1:<port>`), `platform` (1: amoCRM) and `client_id`.
async fn consent(State(s): State<Arc<Amocrm>>, uri: Uri) -> Response {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if query.get("client_id") != Some(&s.config.client_id) {
        return oauth_problem(StatusCode::BAD_REQUEST, "Check the `client_id` parameter");
    }
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("code", &s.authorization_code());
    if let Some(state) = query.get("state") {
        params.append_pair("state", state);
    }
    params.append_pair("referer", &s.host);
    params.append_pair("platform", "1");
    params.append_pair("client_id", &s.config.client_id);
    let separator = if s.config.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{}", s.config.redirect_uri, params.finish());
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Body::empty())
        .expect("response")
}

async fn account(State(s): State<Arc<Amocrm>>, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let data = s.data();
    let current_user_id = data.users.keys().next().copied().unwrap_or(0);
    let c = &s.config;
    hal(&json!({
        "id": c.account_id, "name": c.subdomain, "subdomain": c.subdomain,
        "created_at": s.started_at, "created_by": 0, "updated_at": s.started_at, "updated_by": 0,
        "current_user_id": current_user_id, "country": "RU", "currency": "RUB",
        "currency_symbol": "₽", "customers_mode": "disabled", "is_unsorted_on": true,
        "mobile_feature_version": 0, "is_loss_reason_enabled": true, "is_helpbot_enabled": false,
        "is_technical_account": false, "contact_name_display_order": 1,
        "_links": s.href("/api/v4/account"),
    }))
}

/// `GET /api/v4/talks/{id}`: the documented talk model; 404 for an unknown talk.
async fn talk(
    State(s): State<Arc<Amocrm>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let data = s.data();
    let Some((id, t)) = id
        .parse()
        .ok()
        .and_then(|id| Some((id, data.talks.get(&id)?)))
    else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "Talk not found");
    };
    let (entity_id, entity_type, leads) = match t.lead_id {
        0 => (Value::Null, Value::Null, json!([])),
        lead => (json!(lead), json!("lead"), json!([{"id": lead}])),
    };
    let chat_id = format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        s.config.account_id & 0xffff_ffff,
        (id >> 48) & 0xffff,
        id & 0xffff_ffff_ffff
    );
    hal(&json!({
        "talk_id": id, "created_at": t.created_at, "updated_at": t.updated_at, "rate": 0,
        "contact_id": t.contact_id, "chat_id": chat_id, "entity_id": entity_id,
        "entity_type": entity_type, "is_in_work": t.is_in_work, "is_read": true,
        "origin": t.origin, "missed_at": null, "account_id": s.config.account_id,
        "_links": s.href(&format!("/api/v4/talks/{id}")),
        "_embedded": {"contacts": [{"id": t.contact_id}], "leads": leads},
    }))
}

fn with(uri: &Uri, what: &str) -> bool {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "with" && v.split(',').any(|w| w.trim() == what))
}

/// `GET /api/v4/leads/{id}[?with=contacts]`.
async fn lead(
    State(s): State<Arc<Amocrm>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let data = s.data();
    let Some((id, l)) = id
        .parse()
        .ok()
        .and_then(|id| Some((id, data.leads.get(&id)?)))
    else {
        return no_content();
    };
    let values: Vec<(u64, Value)> = l
        .values
        .iter()
        .map(|(field, value)| (*field, json!({"value": value})))
        .collect();
    let mut embedded = json!({"tags": [], "companies": []});
    if with(&uri, "contacts") {
        embedded["contacts"] = match l.contact_id {
            0 => json!([]),
            c => {
                json!([{"id": c, "is_main": true, "_links": s.href(&format!("/api/v4/contacts/{c}"))}])
            }
        };
    }
    hal(&json!({
        "id": id, "name": l.name, "price": 0, "responsible_user_id": l.responsible_user_id,
        "group_id": 0, "status_id": 60_000_001, "pipeline_id": 6_000_001, "loss_reason_id": null,
        "created_by": 0, "updated_by": 0, "created_at": l.created_at, "updated_at": l.created_at,
        "closed_at": null, "closest_task_at": null, "is_deleted": false,
        "custom_fields_values": data.values("leads", &values, true), "score": null,
        "account_id": s.config.account_id, "labor_cost": null,
        "_links": s.href(&format!("/api/v4/leads/{id}")), "_embedded": embedded,
    }))
}

/// `GET /api/v4/contacts/{id}`.
async fn contact(
    State(s): State<Arc<Amocrm>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let data = s.data();
    let Some((id, c)) = id
        .parse()
        .ok()
        .and_then(|id| Some((id, data.contacts.get(&id)?)))
    else {
        return no_content();
    };
    let values: Vec<(u64, Value)> = c
        .values
        .iter()
        .map(|(field, value, kind)| match kind {
            Some(kind) => (*field, data.enum_value(*field, value, kind)),
            None => (*field, json!({"value": value})),
        })
        .collect();
    let (first, last) = c.name.split_once(' ').unwrap_or((&c.name, ""));
    hal(&json!({
        "id": id, "name": c.name, "first_name": first, "last_name": last,
        "responsible_user_id": 0, "group_id": 0, "created_by": 0, "updated_by": 0,
        "created_at": c.created_at, "updated_at": c.created_at, "closest_task_at": null,
        "is_deleted": false, "is_unsorted": false,
        "custom_fields_values": data.values("contacts", &values, false),
        "account_id": s.config.account_id,
        "_links": s.href(&format!("/api/v4/contacts/{id}")),
        "_embedded": {"tags": [], "companies": []},
    }))
}

/// `GET /api/v4/users/{id}`; 404 for an unknown user.
async fn user(
    State(s): State<Arc<Amocrm>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let data = s.data();
    let Some((id, (name, email))) = id
        .parse()
        .ok()
        .and_then(|id| Some((id, data.users.get(&id)?)))
    else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "User not found");
    };
    let all = json!({"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"});
    hal(&json!({
        "id": id, "name": name, "email": email, "lang": "ru",
        "rights": {"leads": all, "contacts": all, "companies": all,
                   "tasks": {"edit": "A", "delete": "A"}, "mail_access": true,
                   "catalog_access": true, "is_admin": false, "is_free": false,
                   "is_active": true, "group_id": null, "role_id": null},
        "_links": s.href(&format!("/api/v4/users/{id}")),
    }))
}

async fn lead_fields(State(s): State<Arc<Amocrm>>, headers: HeaderMap, uri: Uri) -> Response {
    fields(&s, &headers, &uri, "leads")
}

async fn contact_fields(State(s): State<Arc<Amocrm>>, headers: HeaderMap, uri: Uri) -> Response {
    fields(&s, &headers, &uri, "contacts")
}

/// `GET /api/v4/{entity}/custom_fields?page=&limit=`: by id, 50 a page unless `limit` says
/// otherwise (at most 250; more is cut to 250), `_links.next` while pages remain, 204 for a
/// page past the end.
fn fields(s: &Amocrm, headers: &HeaderMap, uri: &Uri, entity: &'static str) -> Response {
    if !s.authorized(headers) {
        return unauthorized();
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<usize>().ok());
    let page = number("page").filter(|p| *p >= 1).unwrap_or(1);
    let limit = number("limit").filter(|l| *l >= 1).unwrap_or(50).min(250);
    let data = s.data();
    let all = &data.fields[entity];
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|(id, f)| field_json(s, entity, *id, f))
        .collect();
    if items.is_empty() {
        return no_content();
    }
    let pages = all.len().div_ceil(limit);
    let path = |p: usize| format!("/api/v4/{entity}/custom_fields?page={p}&limit={limit}");
    let mut links = s.href(&path(page));
    if page < pages {
        links["next"] = s.href(&path(page + 1))["self"].clone();
    }
    if page > 1 {
        links["first"] = s.href(&path(1))["self"].clone();
        links["prev"] = s.href(&path(page - 1))["self"].clone();
    }
    hal(&json!({
        "_total_items": all.len(), "_page": page, "_page_count": pages, "_links": links,
        "_embedded": {"custom_fields": items},
    }))
}

fn field_json(s: &Amocrm, entity: &str, id: u64, f: &Field) -> Value {
    let enums = if f.enums.is_empty() {
        Value::Null
    } else {
        let enums = f.enums.iter().enumerate();
        let enums =
            enums.map(|(i, (id, code))| json!({"id": id, "value": code, "sort": (i + 1) * 2}));
        Value::Array(enums.collect())
    };
    json!({
        "id": id, "name": f.name, "type": f.field_type, "account_id": s.config.account_id,
        "code": f.code, "sort": 500, "is_api_only": false, "enums": enums, "group_id": null,
        "required_statuses": [], "is_deletable": !f.predefined, "is_predefined": f.predefined,
        "entity_type": entity, "remind": null, "triggers": [], "currency": null,
        "hidden_statuses": [], "chained_lists": null, "tracking_callback": null,
        "_links": s.href(&format!("/api/v4/{entity}/custom_fields/{id}")),
    })
}
