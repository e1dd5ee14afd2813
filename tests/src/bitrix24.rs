//! A local stand-in for one Bitrix24 portal's REST API and for the Bitrix24 OAuth server
//! (`oauth.bitrix.info`), answering as the documented API does (bitrix24/b24restdocs). Two
//! listeners, because they are two hosts in reality: the portal (`/oauth/authorize/`,
//! `/rest/{method}`) and the OAuth server (`/oauth/token/`).
//!
//! What it models:
//! * OAuth2: 30-second single-use authorization codes; one refresh chain (a refresh kills the
//!   refresh token used and its access token); errors `invalid_request`, `invalid_client`,
//!   `invalid_grant` as `{"error", "error_description"}`.
//! * REST: parameters from the query string, a JSON body or a PHP-style form body
//!   (`filter[OWNER_ID]=5&select[]=ID`), the token in the `auth` parameter, answers
//!   `{"result", "time"}` (+ `total`/`next` for lists, 50 rows a page), errors
//!   `{"error", "error_description"}`, `batch` with `$result[...]` references.
//! * The leaky bucket per portal: every admitted REST request (a batch is one) adds 1, the
//!   bucket drains `drain_per_second` a second, and a request that would take it past `burst`
//!   is refused with 503 `QUERY_LIMIT_EXCEEDED` without being counted. `burst: 0` turns the
//!   limit off; `drain_per_second: 0` never drains (deterministic tests).
//!
//! Where the docs are silent the choice is written beside the code. In short: top-level
//! parameter names are case-insensitive (CRM and imopenlines upper-case them); a token never
//! issued (or missing) answers `NO_AUTH_FOUND`, a revoked or superseded one `invalid_token`, an
//! expired one `expired_token`; a malformed JSON body counts as no parameters (PHP's
//! `json_decode` failing); PHP's habit of encoding empty arrays as `[]` is kept in `batch`;
//! the order of checks is: limit, injected failure, auth, method.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::cmp::Ordering as Order;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Authorization codes live 30 seconds (settings/oauth/index.md).
pub const CODE_LIFETIME: Duration = Duration::from_secs(30);
/// Rows a page of every list method; also the most commands a batch takes.
pub const PAGE: usize = 50;
/// The scope granted to the app: CRM reads, open lines, chats.
pub const SCOPE: &str = "crm,imopenlines,im,contact_center";
/// The portal's time zone (Moscow): every date it writes carries this offset.
const PORTAL_OFFSET_SECS: i32 = 3 * 3600;
/// Connector-side chat ids are not modelled; each open-line chat gets this plus its chat id.
const EXTERNAL_CHAT_BASE: u64 = 581_000_000;
const MULTIFIELDS: [&str; 5] = ["PHONE", "EMAIL", "WEB", "IM", "LINK"];

pub struct Config {
    /// The portal's domain as Bitrix names it (`domain` in the consent redirect and in events).
    pub domain: String,
    pub member_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The token outbound webhooks carry in `auth[application_token]`.
    pub application_token: String,
    /// Where `/oauth/authorize/` sends the browser when the request names no `redirect_uri`
    /// (the app's registered handler).
    pub redirect_uri: Option<String>,
    /// `expires_in` of access tokens; they answer `expired_token` after it.
    pub access_lifetime: Duration,
    /// Leaky bucket drain Y (requests a second); 0 never drains.
    pub drain_per_second: u32,
    /// Leaky bucket threshold X; 0 turns the limit off.
    pub burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "b24-acme.example.ru".into(),
            member_id: "5c0b9d3e2f4a61b7c8d9e0f1a2b3c4d5".into(),
            client_id: "local.6650a1b2c3d4e5.12345678".into(),
            client_secret: "Qm7TzV2xKc9Lr4NwYb8Hs1DfJg6Pa3Ue5Wk0Xo2Ri7Sn4Vt9Ly".into(),
            application_token: "c0ffee5e1d2a4b3c9d8e7f6a5b4c3d2e".into(),
            redirect_uri: None,
            access_lifetime: Duration::from_secs(3600),
            drain_per_second: 2,
            burst: 50,
        }
    }
}

/// An open-line conversation attached to a CRM entity: one session of one chat.
#[derive(Clone, Debug, Default)]
pub struct OpenLineChat {
    /// "lead" | "deal" | "contact" (| "company").
    pub entity_type: String,
    pub entity_id: u64,
    /// "telegrambot", "livechat", "whatsappbyedna", ...
    pub connector: String,
    pub line_id: u64,
    pub chat_id: u64,
    pub session_id: u64,
    /// The external client as an IM user (`connector: true`): id and full name.
    pub client: (u64, String),
    pub messages: Vec<ChatMessage>,
}

#[derive(Clone, Debug, Default)]
pub struct ChatMessage {
    /// The author's user id; 0 for system messages.
    pub sender: u64,
    pub text: String,
    /// ISO 8601 with offset; empty means "now".
    pub at: String,
}

impl OpenLineChat {
    /// The chat's id on the connector's side (the Telegram chat, the widget's guest chat). The
    /// stand-in does not model it and derives one that differs from every Bitrix id.
    pub fn external_chat_id(&self) -> u64 {
        EXTERNAL_CHAT_BASE + self.chat_id
    }

    /// The chat's `entityId` as `imopenlines.session.history.get` shows it:
    /// `<connector>|<line>|<connector-side chat>|<client user id>`, like the documented
    /// `livechat|58|1981|450` of chat 1982 whose client is user 450.
    pub fn entity_id(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.connector,
            self.line_id,
            self.external_chat_id(),
            self.client.0
        )
    }

    /// `PROVIDER_PARAMS.USER_CODE` of the session's activity, and the lead's `IM` value:
    /// `imol|` + the entity id.
    pub fn user_code(&self) -> String {
        format!("imol|{}", self.entity_id())
    }

    fn owner_type_id(&self) -> u64 {
        match self.entity_type.to_ascii_lowercase().as_str() {
            "lead" => 1,
            "deal" => 2,
            "contact" => 3,
            "company" => 4,
            other => {
                panic!("open-line chats attach to a lead, deal, contact or company, not {other:?}")
            }
        }
    }
}

pub struct Bitrix24 {
    config: Config,
    portal_url: String,
    oauth_url: String,
    /// `127.0.0.1:<port>` of the OAuth server: what Bitrix reports as `server_domain` and as
    /// the token answer's `domain` (`oauth.bitrix.info` in reality).
    oauth_host: String,
    tokens: Mutex<Tokens>,
    data: Mutex<Data>,
    bucket: Mutex<Bucket>,
    calls: Mutex<HashMap<String, usize>>,
    failures: Mutex<HashMap<String, VecDeque<(u16, Value)>>>,
    hits: AtomicUsize,
    refreshes: AtomicUsize,
    rate_limited: AtomicUsize,
    minted: AtomicU64,
}

#[derive(Default)]
struct Tokens {
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
}

struct Code {
    issued: Instant,
    spent: bool,
    expired: bool,
}

struct Access {
    expires_at: Instant,
    /// Revoked with the app or superseded by a refresh: `invalid_token` rather than expired.
    dead: bool,
}

enum Refresh {
    Live { access: String },
    Dead,
}

struct Bucket {
    level: f64,
    at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Lead,
    Deal,
    Contact,
}

struct Data {
    users: BTreeMap<u64, User>,
    /// User fields of leads and deals (`crm.{lead,deal}.userfield.list`), as the portal lists
    /// them: `ENTITY_ID`, `FIELD_NAME`, `USER_TYPE_ID`, `EDIT_FORM_LABEL`...
    user_fields: Vec<Map<String, Value>>,
    entities: HashMap<Kind, BTreeMap<u64, Map<String, Value>>>,
    next_id: HashMap<Kind, u64>,
    next_multifield_id: u64,
    chats: Vec<StoredChat>,
    next_message_id: u64,
    next_activity_id: u64,
}

struct User {
    name: String,
    last_name: String,
    email: String,
}

struct StoredChat {
    /// The chat without its messages, which live in `messages` with their ids.
    chat: OpenLineChat,
    messages: Vec<(u64, ChatMessage)>,
    activity: Map<String, Value>,
}

/// A method's successful answer: `result`, and for lists `total` and `next`.
struct Answer {
    result: Value,
    total: Option<usize>,
    next: Option<usize>,
}

impl Answer {
    fn plain(result: Value) -> Self {
        Answer {
            result,
            total: None,
            next: None,
        }
    }
}

/// A method's error: the HTTP status and `{"error", "error_description"}`.
struct Failure {
    status: StatusCode,
    error: String,
    description: String,
}

impl Failure {
    fn new(status: StatusCode, error: &str, description: &str) -> Self {
        Failure {
            status,
            error: error.to_owned(),
            description: description.to_owned(),
        }
    }

    fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }

    fn response(&self) -> Response {
        respond(self.status, &self.body())
    }
}

/// CRM's errors have an empty code and the text in the description (crm-lead-get.md).
fn crm_error(description: &str) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "", description)
}

fn method_not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "ERROR_METHOD_NOT_FOUND",
        "Method not found!",
    )
}

fn no_auth() -> Failure {
    Failure::new(
        StatusCode::UNAUTHORIZED,
        "NO_AUTH_FOUND",
        "Wrong authorization data",
    )
}

fn access_denied() -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        "ACCESS_DENIED",
        "You cannot open this conversation because you do not have sufficient rights.",
    )
}

impl Bitrix24 {
    /// Starts the portal and the OAuth server, each on a free loopback port.
    pub async fn start(config: Config) -> Arc<Bitrix24> {
        let portal = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let oauth = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let portal_addr = portal.local_addr().expect("addr");
        let oauth_addr = oauth.local_addr().expect("addr");
        let b24 = Arc::new(Bitrix24 {
            config,
            portal_url: format!("http://{portal_addr}"),
            oauth_url: format!("http://{oauth_addr}"),
            oauth_host: oauth_addr.to_string(),
            tokens: Mutex::new(Tokens::default()),
            data: Mutex::new(Data {
                users: BTreeMap::new(),
                user_fields: Vec::new(),
                entities: HashMap::from([
                    (Kind::Lead, BTreeMap::new()),
                    (Kind::Deal, BTreeMap::new()),
                    (Kind::Contact, BTreeMap::new()),
                ]),
                next_id: HashMap::from([
                    (Kind::Lead, 48_211),
                    (Kind::Deal, 7_301),
                    (Kind::Contact, 16_501),
                ]),
                next_multifield_id: 901,
                chats: Vec::new(),
                next_message_id: 19_001,
                next_activity_id: 3_101,
            }),
            bucket: Mutex::new(Bucket {
                level: 0.0,
                at: Instant::now(),
            }),
            calls: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            hits: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            rate_limited: AtomicUsize::new(0),
            minted: AtomicU64::new(0),
        });
        let portal_router = axum::Router::new()
            .route("/rest/{method}", any(rest))
            .route("/oauth/authorize/", get(authorize))
            .route("/oauth/authorize", get(authorize))
            .fallback(portal_fallback)
            .with_state(Arc::clone(&b24));
        let oauth_router = axum::Router::new()
            .route("/oauth/token/", get(token).post(token))
            .route("/oauth/token", get(token).post(token))
            .fallback(oauth_fallback)
            .with_state(Arc::clone(&b24));
        tokio::spawn(async move { axum::serve(portal, portal_router).await });
        tokio::spawn(async move { axum::serve(oauth, oauth_router).await });
        b24
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `http://127.0.0.1:<port>` of the portal (no trailing slash); REST is under `/rest/`.
    pub fn portal_url(&self) -> String {
        self.portal_url.clone()
    }

    /// `http://127.0.0.1:<port>` of the OAuth server (no trailing slash).
    pub fn oauth_url(&self) -> String {
        self.oauth_url.clone()
    }

    /// A fresh authorization code, as the consent redirect hands one over: single use, valid
    /// 30 seconds.
    pub fn authorization_code(&self) -> String {
        let code = self.mint(32);
        let fresh = Code {
            issued: Instant::now(),
            spent: false,
            expired: false,
        };
        self.tokens().codes.insert(code.clone(), fresh);
        code
    }

    /// Every code handed out so far is past its 30 seconds.
    pub fn expire_authorization_codes(&self) {
        for code in self.tokens().codes.values_mut() {
            code.expired = true;
        }
    }

    /// A token pair as the token endpoint answers it, without the HTTP round trip (as if the
    /// app had just exchanged a code): for tests that need a connected portal.
    pub fn issue_tokens(&self) -> Value {
        let mut tokens = self.tokens();
        self.issue(&mut tokens)
    }

    /// REST calls of `method` so far, whatever they were answered (503s included); a batch
    /// counts once as "batch" and each command it ran under its own method. Case and a
    /// `.json` suffix do not matter.
    pub fn calls(&self, method: &str) -> usize {
        let calls = self.calls.lock().expect("lock");
        calls.get(&method_key(method)).copied().unwrap_or(0)
    }

    /// REST requests the rate limiter admitted (and so counted); a batch is one.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Successful refresh_token grants.
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Requests answered 503 `QUERY_LIMIT_EXCEEDED` (by the limiter or by `fail_next`).
    pub fn rate_limited(&self) -> usize {
        self.rate_limited.load(Ordering::SeqCst)
    }

    /// The app is uninstalled: every access token answers `invalid_token`, every refresh token
    /// and unused code `invalid_grant`. Codes minted afterwards work (a reinstall).
    pub fn revoke_all(&self) {
        let mut tokens = self.tokens();
        for access in tokens.access.values_mut() {
            access.dead = true;
        }
        for refresh in tokens.refresh.values_mut() {
            *refresh = Refresh::Dead;
        }
        for code in tokens.codes.values_mut() {
            code.spent = true;
        }
    }

    /// Every access token issued so far expires now (`expired_token`); refresh tokens work.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for access in self.tokens().access.values_mut() {
            access.expires_at = now;
        }
    }

    /// The next call of `method` (also as a batch command) answers `status` and `body`
    /// instead, after the rate limit and before auth. Calls queue up. In a batch, a body with
    /// an `error` becomes the command's `result_error`, any other body (its `result`, if it
    /// has one) the command's result.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        let mut failures = self.failures.lock().expect("lock");
        failures
            .entry(method_key(method))
            .or_default()
            .push_back((status, body));
    }

    /// A portal employee (an operator).
    pub fn add_user(&self, id: u64, name: &str, last_name: &str, email: &str) {
        let user = User {
            name: name.to_owned(),
            last_name: last_name.to_owned(),
            email: email.to_owned(),
        };
        self.data().users.insert(id, user);
    }

    /// Stores a lead from raw fields (any field, `UF_CRM_*` and the multifields `PHONE`,
    /// `EMAIL`, `IM`, `WEB` as arrays of `{ID, VALUE_TYPE, VALUE, TYPE_ID}`) over the standard
    /// fields' defaults. Numbers become strings as Bitrix answers them; `ID` (next of 48211,
    /// 48212…), `DATE_CREATE` (now, +03:00) and `HAS_PHONE`/`HAS_EMAIL`/`HAS_IMOL` are filled
    /// unless given. Returns the id.
    pub fn add_lead(&self, fields: Value) -> u64 {
        self.add_entity(Kind::Lead, fields)
    }

    /// As `add_lead`, for a deal (ids from 7301).
    pub fn add_deal(&self, fields: Value) -> u64 {
        self.add_entity(Kind::Deal, fields)
    }

    /// A user field of leads (`"lead"`) or deals, as a portal administrator makes one
    /// (`UF_CRM_...`); `crm.<entity>.userfield.list` lists it with its label.
    pub fn add_user_field(&self, entity: &str, field_name: &str, label: &str, kind: &str) {
        let mut data = self.data();
        let id = data.user_fields.len() as u64 + 101;
        let entity_id = format!("CRM_{}", entity.to_ascii_uppercase());
        let row = json!({
            "ID": id.to_string(), "ENTITY_ID": entity_id, "FIELD_NAME": field_name,
            "USER_TYPE_ID": kind, "XML_ID": null, "SORT": "100", "MULTIPLE": "N",
            "MANDATORY": "N", "SHOW_FILTER": "E", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
            "IS_SEARCHABLE": "N", "EDIT_FORM_LABEL": label, "LIST_COLUMN_LABEL": label,
        });
        if let Value::Object(row) = row {
            data.user_fields.push(row);
        }
    }

    /// As `add_lead`, for a contact (ids from 16501).
    pub fn add_contact(&self, fields: Value) -> u64 {
        self.add_entity(Kind::Contact, fields)
    }

    /// Changes fields of a lead as a portal user does (`crm.lead.update`): `DATE_MODIFY`
    /// becomes now unless given. The portal would send `ONCRMLEADUPDATE`; the test sends
    /// [`Bitrix24::event_body`] itself.
    pub fn update_lead(&self, id: u64, fields: Value) {
        self.update_entity(Kind::Lead, id, fields);
    }

    /// As `update_lead`, for a deal.
    pub fn update_deal(&self, id: u64, fields: Value) {
        self.update_entity(Kind::Deal, id, fields);
    }

    fn update_entity(&self, kind: Kind, id: u64, fields: Value) {
        let Value::Object(given) = fields else {
            panic!("CRM fields are a JSON object, not {fields}");
        };
        let mut data = self.data();
        let data = &mut *data;
        let row = data
            .entities
            .get_mut(&kind)
            .and_then(|rows| rows.get_mut(&id))
            .unwrap_or_else(|| panic!("no entity {id} of that kind to update"));
        row.insert("DATE_MODIFY".into(), json!(now_iso()));
        for (field, value) in given {
            let field = field.to_ascii_uppercase();
            let value = normalize(&field, value, &mut data.next_multifield_id);
            row.insert(field, value);
        }
    }

    /// An open-line session: its messages get increasing ids in the given order, and the
    /// entity gets an `IMOPENLINES_SESSION` activity. A session in an entity that exists
    /// changes it (`DATE_MODIFY` now), as a returning visitor's new session does.
    pub fn add_openline_chat(&self, mut chat: OpenLineChat) {
        let owner_type = chat.owner_type_id();
        let mut data = self.data();
        let now = now_iso();
        let owner = match chat.entity_type.to_ascii_lowercase().as_str() {
            "lead" => Some(Kind::Lead),
            "deal" => Some(Kind::Deal),
            "contact" => Some(Kind::Contact),
            _ => None,
        };
        if let Some(row) = owner
            .and_then(|kind| data.entities.get_mut(&kind))
            .and_then(|rows| rows.get_mut(&chat.entity_id))
        {
            row.insert("DATE_MODIFY".into(), json!(now.clone()));
        }
        let messages: Vec<(u64, ChatMessage)> = std::mem::take(&mut chat.messages)
            .into_iter()
            .map(|mut message| {
                if message.at.is_empty() {
                    message.at.clone_from(&now);
                }
                data.next_message_id += 1;
                (data.next_message_id - 1, message)
            })
            .collect();
        let first = messages.first().map_or(now.clone(), |(_, m)| m.at.clone());
        let last = messages.last().map_or(now.clone(), |(_, m)| m.at.clone());
        let operator = messages
            .iter()
            .map(|(_, m)| m.sender)
            .find(|s| *s != 0 && *s != chat.client.0)
            .unwrap_or(1);
        data.next_activity_id += 1;
        let activity = json!({
            "ID": (data.next_activity_id - 1).to_string(),
            "OWNER_ID": chat.entity_id.to_string(), "OWNER_TYPE_ID": owner_type.to_string(),
            "TYPE_ID": "6", "PROVIDER_ID": "IMOPENLINES_SESSION",
            "PROVIDER_TYPE_ID": chat.line_id.to_string(), "PROVIDER_GROUP_ID": null,
            "ASSOCIATED_ENTITY_ID": chat.session_id.to_string(),
            "SUBJECT": format!("{}: {}", connector_title(&chat.connector), chat.client.1),
            "CREATED": first, "LAST_UPDATED": last, "START_TIME": first, "END_TIME": last,
            "DEADLINE": last, "COMPLETED": "Y", "STATUS": "2", "RESPONSIBLE_ID": operator.to_string(),
            "PRIORITY": "2", "DESCRIPTION": "", "DESCRIPTION_TYPE": "1", "DIRECTION": "1",
            "LOCATION": "", "ORIGINATOR_ID": null, "ORIGIN_ID": null, "AUTHOR_ID": operator.to_string(),
            "EDITOR_ID": operator.to_string(),
            "PROVIDER_PARAMS": {"USER_CODE": chat.user_code()}, "PROVIDER_DATA": null,
        });
        let Value::Object(activity) = activity else {
            unreachable!("json! object")
        };
        data.chats.push(StoredChat {
            chat,
            messages,
            activity,
        });
    }

    /// The form-urlencoded body of an outbound-webhook event (providers.md 4.2): `event`,
    /// `data[FIELDS][ID]`, `ts` (now) and `auth[domain]`, `auth[member_id]`,
    /// `auth[application_token]`, brackets URL-encoded.
    pub fn event_body(&self, event: &str, id: u64) -> String {
        let c = &self.config;
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("event", event)
            .append_pair("data[FIELDS][ID]", &id.to_string())
            .append_pair("ts", &unix_now().to_string())
            .append_pair("auth[domain]", &c.domain)
            .append_pair("auth[member_id]", &c.member_id)
            .append_pair("auth[application_token]", &c.application_token)
            .finish()
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.tokens.lock().expect("lock")
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().expect("lock")
    }

    /// `len` unguessable hex characters (Bitrix's codes and tokens are lowercase hex-like).
    fn mint(&self, len: usize) -> String {
        let n = self.minted.fetch_add(1, Ordering::SeqCst);
        let random = std::collections::hash_map::RandomState::new();
        let mut out = String::with_capacity(len + 16);
        let mut i = 0u64;
        while out.len() < len {
            out.push_str(&format!("{:016x}", random.hash_one((n, i))));
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// A new pair in the documented shape (settings/oauth/index.md): `domain` is the OAuth
    /// server's, not the portal's; `status` "L" is a local app.
    fn issue(&self, tokens: &mut Tokens) -> Value {
        let access = self.mint(70);
        let refresh = self.mint(70);
        let lifetime = self.config.access_lifetime;
        let expires_at = Instant::now() + lifetime;
        let live = Access {
            expires_at,
            dead: false,
        };
        tokens.access.insert(access.clone(), live);
        let chain = Refresh::Live {
            access: access.clone(),
        };
        tokens.refresh.insert(refresh.clone(), chain);
        json!({
            "access_token": access, "expires_in": lifetime.as_secs(), "scope": SCOPE,
            "domain": self.oauth_host, "server_endpoint": format!("{}/rest/", self.oauth_url),
            "status": "L", "client_endpoint": format!("{}/rest/", self.portal_url),
            "member_id": self.config.member_id, "user_id": 1, "refresh_token": refresh,
        })
    }

    /// Whether the `auth` parameter is a live access token.
    fn authenticate(&self, auth: Option<&str>) -> Result<(), Failure> {
        let Some(token) = auth.filter(|t| !t.is_empty()) else {
            return Err(no_auth());
        };
        match self.tokens().access.get(token) {
            None => Err(no_auth()),
            Some(access) if access.dead => Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token provided is invalid",
            )),
            Some(access) if Instant::now() >= access.expires_at => Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "expired_token",
                "The access token provided has expired",
            )),
            Some(_) => Ok(()),
        }
    }

    /// The leaky bucket: admits (and counts) the request unless it would take the level past
    /// `burst`. Refused requests are not counted, so a client that backs off recovers.
    fn admit(&self) -> bool {
        let burst = self.config.burst;
        if burst > 0 {
            let mut bucket = self.bucket.lock().expect("lock");
            let now = Instant::now();
            let drained = now.duration_since(bucket.at).as_secs_f64()
                * f64::from(self.config.drain_per_second);
            bucket.level = (bucket.level - drained).max(0.0);
            bucket.at = now;
            if bucket.level + 1.0 > f64::from(burst) {
                return false;
            }
            bucket.level += 1.0;
        }
        self.hits.fetch_add(1, Ordering::SeqCst);
        true
    }

    fn count(&self, method: &str) {
        *self
            .calls
            .lock()
            .expect("lock")
            .entry(method.to_owned())
            .or_default() += 1;
    }

    fn injected(&self, method: &str) -> Option<(u16, Value)> {
        let injected = self
            .failures
            .lock()
            .expect("lock")
            .get_mut(method)?
            .pop_front()?;
        if injected.0 == 503 && injected.1["error"] == "QUERY_LIMIT_EXCEEDED" {
            self.rate_limited.fetch_add(1, Ordering::SeqCst);
        }
        Some(injected)
    }

    fn add_entity(&self, kind: Kind, fields: Value) -> u64 {
        let Value::Object(given) = fields else {
            panic!("CRM fields are a JSON object, not {fields}");
        };
        let mut data = self.data();
        let next = data.next_id[&kind];
        let id = given.get("ID").and_then(number).unwrap_or(next);
        data.next_id.insert(kind, next.max(id + 1));
        let mut row = kind.defaults(id);
        for (field, value) in given {
            let field = field.to_ascii_uppercase();
            let value = normalize(&field, value, &mut data.next_multifield_id);
            row.insert(field, value);
        }
        row.insert("ID".into(), json!(id.to_string()));
        if row.get("DATE_CREATE").is_none_or(Value::is_null) {
            row.insert("DATE_CREATE".into(), json!(now_iso()));
        }
        let created = row["DATE_CREATE"].clone();
        for field in kind.dated_like_creation() {
            if row.get(*field).is_none_or(Value::is_null) {
                row.insert((*field).to_owned(), created.clone());
            }
        }
        if kind != Kind::Deal {
            let has = |row: &Map<String, Value>, field: &str| {
                row.get(field)
                    .and_then(Value::as_array)
                    .is_some_and(|items| !items.is_empty())
            };
            let imol = row
                .get("IM")
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items.iter().any(|i| {
                        i["VALUE_TYPE"] == "OPENLINE"
                            || i["VALUE"].as_str().is_some_and(|v| v.starts_with("imol|"))
                    })
                });
            let flags = [
                ("HAS_PHONE", has(&row, "PHONE")),
                ("HAS_EMAIL", has(&row, "EMAIL")),
                ("HAS_IMOL", imol),
            ];
            for (flag, set) in flags {
                if row.get(flag).is_none_or(Value::is_null) {
                    row.insert(flag.into(), json!(if set { "Y" } else { "N" }));
                }
            }
        }
        data.entities.entry(kind).or_default().insert(id, row);
        id
    }

    /// Answers one method (not `batch`); the caller has counted, limited and authenticated.
    fn call(&self, method: &str, params: &Params) -> Result<Answer, Failure> {
        match method {
            "crm.lead.get" => self.crm_get(Kind::Lead, params),
            "crm.deal.get" => self.crm_get(Kind::Deal, params),
            "crm.contact.get" => self.crm_get(Kind::Contact, params),
            "crm.lead.list" => Ok(self.crm_list(Kind::Lead, params)),
            "crm.deal.list" => Ok(self.crm_list(Kind::Deal, params)),
            "crm.contact.list" => Ok(self.crm_list(Kind::Contact, params)),
            "crm.activity.list" => Ok(self.activity_list(params)),
            "crm.lead.userfield.list" => Ok(self.user_field_list("CRM_LEAD", params)),
            "crm.deal.userfield.list" => Ok(self.user_field_list("CRM_DEAL", params)),
            "imopenlines.crm.chat.get" => self.crm_chats(params),
            "imopenlines.session.history.get" => self.history(params),
            "im.dialog.messages.get" => self.dialog_messages(params),
            "user.get" => Ok(self.users(params)),
            _ => Err(method_not_found()),
        }
    }

    /// `crm.{lead,deal,contact}.get {id}`: the stored fields; "ID is not defined or invalid."
    /// for a missing or non-positive id, "Not found" for an unknown one (both 400, code "").
    fn crm_get(&self, kind: Kind, params: &Params) -> Result<Answer, Failure> {
        let Some(id) = params.get("ID").and_then(number).filter(|id| *id > 0) else {
            return Err(crm_error("ID is not defined or invalid."));
        };
        let data = self.data();
        match data.entities.get(&kind).and_then(|rows| rows.get(&id)) {
            Some(row) => Ok(Answer::plain(Value::Object(row.clone()))),
            None => Err(crm_error("Not found")),
        }
    }

    /// `crm.{lead,deal,contact}.list {filter, order, select, start}`.
    fn crm_list(&self, kind: Kind, params: &Params) -> Answer {
        let select = selection(params);
        let data = self.data();
        let rows: Vec<&Map<String, Value>> = data
            .entities
            .get(&kind)
            .map(|rows| rows.values().collect())
            .unwrap_or_default();
        let filter = params.get("FILTER").and_then(Value::as_object);
        list(rows, filter, params, |row| crm_project(row, &select))
    }

    /// `crm.{lead,deal}.userfield.list`: the entity's user fields, 50 a page (labels in the
    /// portal's language whatever `filter[LANG]` asks, as a one-language portal answers).
    fn user_field_list(&self, entity_id: &str, params: &Params) -> Answer {
        let data = self.data();
        let rows = data
            .user_fields
            .iter()
            .filter(|f| f["ENTITY_ID"] == entity_id)
            .collect();
        list(rows, None, params, |row| Value::Object(row.clone()))
    }

    /// `crm.activity.list`: one `IMOPENLINES_SESSION` activity per open-line session.
    fn activity_list(&self, params: &Params) -> Answer {
        let select = selection(params);
        let data = self.data();
        let rows = data.chats.iter().map(|c| &c.activity).collect();
        let filter = params.get("FILTER").and_then(Value::as_object);
        list(rows, filter, params, |row| project(row, &select))
    }

    /// `imopenlines.crm.chat.get {CRM_ENTITY_TYPE, CRM_ENTITY, ACTIVE_ONLY}`: the chats attached
    /// to the entity (`[]` for none). Every chat counts as active, so `ACTIVE_ONLY` changes
    /// nothing.
    fn crm_chats(&self, params: &Params) -> Result<Answer, Failure> {
        let entity_type = params
            .get("CRM_ENTITY_TYPE")
            .and_then(text)
            .map(|t| t.to_ascii_lowercase())
            .filter(|t| ["lead", "deal", "contact", "company"].contains(&t.as_str()));
        let entity = params
            .get("CRM_ENTITY")
            .and_then(number)
            .filter(|id| *id > 0);
        let (Some(entity_type), Some(entity)) = (entity_type, entity) else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "ERROR_ARGUMENT",
                "CRM_ENTITY_TYPE and CRM_ENTITY are required",
            ));
        };
        let data = self.data();
        let mut seen = BTreeSet::new();
        let chats = data
            .chats
            .iter()
            .map(|c| &c.chat)
            .filter(|c| c.entity_type.eq_ignore_ascii_case(&entity_type) && c.entity_id == entity)
            .filter(|c| seen.insert(c.chat_id))
            .map(|c| {
                json!({"CHAT_ID": c.chat_id.to_string(), "CONNECTOR_ID": c.connector,
                       "CONNECTOR_TITLE": connector_title(&c.connector)})
            });
        Ok(Answer::plain(Value::Array(chats.collect())))
    }

    /// `imopenlines.session.history.get {CHAT_ID, SESSION_ID}` in the documented shape
    /// (camelCase users and chat, string ids, PHP's `[]` for empty params). Without
    /// `SESSION_ID` the app's user is not a chat member, so: ACCESS_DENIED (403), as for a
    /// session that is not this chat's.
    fn history(&self, params: &Params) -> Result<Answer, Failure> {
        let Some(chat_id) = params.get("CHAT_ID").and_then(number).filter(|id| *id > 0) else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "CHAT_ID",
                "Chat ID can't be empty",
            ));
        };
        let session_id = params
            .get("SESSION_ID")
            .and_then(number)
            .filter(|id| *id > 0);
        let Some(session_id) = session_id else {
            return Err(access_denied());
        };
        let data = self.data();
        let Some(stored) = data
            .chats
            .iter()
            .find(|c| c.chat.chat_id == chat_id && c.chat.session_id == session_id)
        else {
            return Err(access_denied());
        };
        let chat = &stored.chat;
        let recipient = format!("chat{chat_id}");
        let mut messages = Map::new();
        for (id, m) in &stored.messages {
            let message = json!({
                "id": id.to_string(), "chatid": chat_id.to_string(),
                "senderid": m.sender.to_string(), "recipientid": recipient, "date": m.at,
                "text": m.text, "textlegacy": m.text, "params": [],
            });
            messages.insert(id.to_string(), message);
        }
        let newest_first: Vec<String> = stored
            .messages
            .iter()
            .rev()
            .map(|(id, _)| id.to_string())
            .collect();
        let mut members = vec![chat.client.0];
        for (_, m) in &stored.messages {
            if m.sender != 0 && !members.contains(&m.sender) {
                members.push(m.sender);
            }
        }
        let last_at = stored.messages.last().map(|(_, m)| m.at.clone());
        let mut users = Map::new();
        for id in &members {
            let person = data.person(*id, chat);
            let user = json!({
                "id": id.to_string(), "name": person.name, "active": true,
                "firstName": person.first_name, "lastName": person.last_name,
                "workPosition": null, "color": "#ab7761",
                "avatar": "/bitrix/js/im/images/blank.gif", "avatarId": null, "birthday": false,
                "gender": "M", "phoneDevice": false, "phones": false,
                "extranet": person.connector, "tzOffset": 0, "network": false, "bot": false,
                "connector": person.connector, "profile": format!("/company/personal/user/{id}/"),
                "externalAuthId": if person.connector { "imconnector" } else { "default" },
                "status": null, "idle": false, "lastActivityDate": last_at,
                "mobileLastDate": false, "desktopLastDate": false, "departments": [],
                "absent": false, "services": null,
            });
            users.insert(id.to_string(), user);
        }
        let created = stored
            .messages
            .first()
            .map_or_else(now_iso, |(_, m)| m.at.clone());
        let key = chat_id.to_string();
        let chat_json = json!({
            "id": key, "name": format!("{} - {}", chat.client.1, connector_title(&chat.connector)),
            "owner": "0", "color": "#ab7761", "extranet": false,
            "avatar": "/bitrix/js/im/images/blank.gif", "call": "0", "callNumber": "",
            "entityType": "LINES", "entityId": chat.entity_id(),
            "entityData1": format!("N|NONE|0|N|N|{}|0|0|0|0", chat.session_id),
            "entityData2": "", "entityData3": "N", "public": "",
            "muteList": {chat.client.0.to_string(): false}, "managerList": null,
            "dateCreate": created, "type": "lines", "messageType": "L",
        });
        Ok(Answer::plain(json!({
            "chatId": chat_id, "canJoin": "Y", "canVoteHead": "Y", "sessionId": session_id,
            "sessionVoteHead": 0, "sessionCommentHead": null, "userId": recipient,
            "message": messages, "usersMessage": {recipient.clone(): newest_first},
            "users": users,
            "openlines": {"canvoteashead": {chat.line_id.to_string(): true}},
            "userInGroup": [], "woUserInGroup": [], "chat": {key.clone(): chat_json},
            "userBlockChat": {key.clone(): {chat.client.0.to_string(): false}},
            "userInChat": {key: members}, "files": [],
        })))
    }

    /// `im.dialog.messages.get {DIALOG_ID: "chat<id>", LIMIT, LAST_ID, FIRST_ID}`: newest
    /// first, `LIMIT` 20 by default and at most 50; `LAST_ID` pages to older messages,
    /// `FIRST_ID` to newer ones (the `LIMIT` oldest after it, still newest first). Numbers
    /// are numbers here and users snake_case, as documented.
    fn dialog_messages(&self, params: &Params) -> Result<Answer, Failure> {
        let Some(dialog) = params
            .get("DIALOG_ID")
            .and_then(text)
            .filter(|d| !d.is_empty())
        else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "DIALOG_ID_EMPTY",
                "Dialog ID can't be empty",
            ));
        };
        let data = self.data();
        let chat_id = dialog
            .strip_prefix("chat")
            .and_then(|id| id.parse::<u64>().ok());
        let sessions: Vec<&StoredChat> = data
            .chats
            .iter()
            .filter(|c| Some(c.chat.chat_id) == chat_id)
            .collect();
        let (Some(chat_id), Some(first_session)) = (chat_id, sessions.first()) else {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "ACCESS_ERROR",
                "You do not have access to the specified dialog",
            ));
        };
        let mut all: Vec<&(u64, ChatMessage)> =
            sessions.iter().flat_map(|c| c.messages.iter()).collect();
        all.sort_by_key(|(id, _)| *id);
        let limit = params
            .get("LIMIT")
            .and_then(number)
            .filter(|l| *l > 0)
            .map_or(20, |l| l.min(50)) as usize;
        let first_id = params.get("FIRST_ID").and_then(number);
        let last_id = params.get("LAST_ID").and_then(number).filter(|id| *id > 0);
        let mut selected: Vec<&(u64, ChatMessage)> = match (first_id, last_id) {
            (Some(first), _) => all
                .into_iter()
                .filter(|(id, _)| *id > first)
                .take(limit)
                .collect(),
            (None, Some(last)) => {
                let older = all.into_iter().rev().filter(|(id, _)| *id < last);
                older.take(limit).collect()
            }
            (None, None) => all.into_iter().rev().take(limit).collect(),
        };
        selected.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        let mut authors: Vec<u64> = Vec::new();
        for (_, m) in &selected {
            if m.sender != 0 && !authors.contains(&m.sender) {
                authors.push(m.sender);
            }
        }
        let messages = selected.iter().map(|(id, m)| {
            json!({"id": id, "chat_id": chat_id, "author_id": m.sender, "date": m.at,
                   "text": m.text, "params": null})
        });
        let users = authors.iter().map(|id| {
            let person = data.person(*id, &first_session.chat);
            json!({
                "id": id, "name": person.name, "first_name": person.first_name,
                "last_name": person.last_name, "work_position": "", "color": "#df532d",
                "avatar": "", "gender": "M", "birthday": "", "extranet": person.connector,
                "network": false, "bot": false, "connector": person.connector,
                "external_auth_id": if person.connector { "imconnector" } else { "default" },
                "status": "online", "idle": false, "last_activity_date": false,
                "mobile_last_date": false, "departments": [], "absent": false,
                "phones": {"work_phone": "", "personal_mobile": "", "personal_phone": ""},
            })
        });
        Ok(Answer::plain(json!({
            "messages": messages.collect::<Vec<_>>(), "users": users.collect::<Vec<_>>(),
            "files": [], "chat_id": chat_id,
        })))
    }

    /// `user.get {ID | FILTER}`: the portal's employees (open-line clients are not among
    /// them), a list method (`total`, 50 a page).
    fn users(&self, params: &Params) -> Answer {
        let mut filter = params
            .get("FILTER")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for field in ["ID", "NAME", "LAST_NAME", "EMAIL", "ACTIVE", "USER_TYPE"] {
            if let Some(value) = params.get(field) {
                filter.insert(field.to_owned(), value.clone());
            }
        }
        let data = self.data();
        let rows: Vec<Map<String, Value>> = data
            .users
            .iter()
            .map(|(id, u)| {
                let row = json!({
                    "ID": id.to_string(), "XML_ID": null, "ACTIVE": true, "NAME": u.name,
                    "LAST_NAME": u.last_name, "SECOND_NAME": "", "EMAIL": u.email,
                    "IS_ONLINE": "N", "TIME_ZONE_OFFSET": "10800", "PERSONAL_GENDER": "",
                    "PERSONAL_BIRTHDAY": "", "UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": [1],
                    "USER_TYPE": "employee",
                });
                match row {
                    Value::Object(map) => map,
                    _ => Map::new(),
                }
            })
            .collect();
        list(rows.iter().collect(), Some(&filter), params, |row| {
            Value::Object(row.clone())
        })
    }

    /// `batch {halt, cmd}`: runs the commands in the order given, `$result[name][...]`
    /// references resolved from earlier results; one hit for the limit.
    fn batch(&self, params: &Params) -> Result<Answer, Failure> {
        let halt = params.get("HALT").is_some_and(truthy);
        let mut commands: Vec<(String, String)> = match params.get("CMD") {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(name, cmd)| Some((name.clone(), text(cmd)?)))
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, cmd)| Some((i.to_string(), text(cmd)?)))
                .collect(),
            _ => Vec::new(),
        };
        // serde_json's maps sort their keys; restore the order the client sent.
        commands.sort_by_key(|(name, _)| {
            params
                .cmd_order
                .iter()
                .position(|n| n == name)
                .unwrap_or(usize::MAX)
        });
        if commands.len() > PAGE {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "ERROR_BATCH_LENGTH_EXCEEDED",
                "Max batch length exceeded",
            ));
        }
        let mut results = Map::new();
        let mut errors = Map::new();
        let mut totals = Map::new();
        let mut nexts = Map::new();
        let mut times = Map::new();
        for (name, cmd) in commands {
            let started = SystemTime::now();
            let (method, query) = cmd.split_once('?').unwrap_or((cmd.as_str(), ""));
            let method = method_key(method);
            self.count(&method);
            let outcome = if let Some((_, body)) = self.injected(&method) {
                match body.get("error") {
                    Some(error) => Err(Failure {
                        status: StatusCode::BAD_REQUEST,
                        error: text(error).unwrap_or_default(),
                        description: body
                            .get("error_description")
                            .and_then(text)
                            .unwrap_or_default(),
                    }),
                    None => Ok(Answer::plain(body.get("result").unwrap_or(&body).clone())),
                }
            } else if method == "batch" {
                Err(Failure::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "Method is not allowed for batch usage",
                ))
            } else {
                let mut command = Params::parse(Some(query), None, b"");
                for value in command.map.values_mut() {
                    substitute(value, &results);
                }
                self.call(&method, &command)
            };
            match outcome {
                Ok(answer) => {
                    results.insert(name.clone(), answer.result);
                    if let Some(total) = answer.total {
                        totals.insert(name.clone(), json!(total));
                    }
                    if let Some(next) = answer.next {
                        nexts.insert(name.clone(), json!(next));
                    }
                    times.insert(name, time(started));
                }
                Err(failure) => {
                    errors.insert(name, failure.body());
                    if halt {
                        break;
                    }
                }
            }
        }
        Ok(Answer::plain(json!({
            "result": php_array(results), "result_error": php_array(errors),
            "result_total": php_array(totals), "result_next": php_array(nexts),
            "result_time": php_array(times),
        })))
    }
}

struct Person {
    name: String,
    first_name: String,
    last_name: String,
    connector: bool,
}

impl Data {
    /// A chat participant: the chat's client, a known employee, or an unknown employee.
    fn person(&self, id: u64, chat: &OpenLineChat) -> Person {
        if id == chat.client.0 {
            let full = chat.client.1.clone();
            let (first, last) = full.split_once(' ').unwrap_or((&full, ""));
            return Person {
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                name: full.clone(),
                connector: true,
            };
        }
        match self.users.get(&id) {
            Some(u) => Person {
                name: format!("{} {}", u.name, u.last_name).trim().to_owned(),
                first_name: u.name.clone(),
                last_name: u.last_name.clone(),
                connector: false,
            },
            None => Person {
                name: format!("User {id}"),
                first_name: format!("User {id}"),
                last_name: String::new(),
                connector: false,
            },
        }
    }
}

impl Kind {
    /// The standard fields a new entity has (crm-lead-get.md and siblings), before the given
    /// fields are laid over them.
    fn defaults(self, id: u64) -> Map<String, Value> {
        let utm = json!({"UTM_SOURCE": null, "UTM_MEDIUM": null, "UTM_CAMPAIGN": null,
                         "UTM_CONTENT": null, "UTM_TERM": null});
        let address = json!({"ADDRESS": null, "ADDRESS_2": null, "ADDRESS_CITY": null,
                             "ADDRESS_POSTAL_CODE": null, "ADDRESS_REGION": null,
                             "ADDRESS_PROVINCE": null, "ADDRESS_COUNTRY": null,
                             "ADDRESS_COUNTRY_CODE": null, "ADDRESS_LOC_ADDR_ID": null});
        let common = json!({
            "ASSIGNED_BY_ID": "1", "CREATED_BY_ID": "1", "MODIFY_BY_ID": "1", "OPENED": "Y",
            "SOURCE_ID": null, "SOURCE_DESCRIPTION": null, "ORIGINATOR_ID": null,
            "ORIGIN_ID": null, "COMMENTS": null, "LAST_ACTIVITY_BY": "1",
            "DATE_CREATE": null, "DATE_MODIFY": null, "LAST_ACTIVITY_TIME": null,
        });
        let own = match self {
            Kind::Lead => json!({
                "TITLE": format!("Лид #{id}"), "HONORIFIC": null, "NAME": null,
                "SECOND_NAME": null, "LAST_NAME": null, "COMPANY_TITLE": null,
                "COMPANY_ID": null, "CONTACT_ID": null, "IS_RETURN_CUSTOMER": "N",
                "BIRTHDATE": "", "STATUS_ID": "NEW", "STATUS_DESCRIPTION": null, "POST": null,
                "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00", "IS_MANUAL_OPPORTUNITY": "N",
                "DATE_CLOSED": "", "STATUS_SEMANTIC_ID": "P", "MOVED_BY_ID": "1",
                "MOVED_TIME": null,
            }),
            Kind::Deal => json!({
                "TITLE": format!("Сделка #{id}"), "TYPE_ID": "SALE", "STAGE_ID": "NEW",
                "PROBABILITY": null, "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00",
                "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00", "LEAD_ID": null,
                "COMPANY_ID": "0", "CONTACT_ID": null, "QUOTE_ID": null, "BEGINDATE": null,
                "CLOSEDATE": null, "CLOSED": "N", "ADDITIONAL_INFO": null, "LOCATION_ID": null,
                "CATEGORY_ID": "0", "STAGE_SEMANTIC_ID": "P", "IS_NEW": "Y",
                "IS_RECURRING": "N", "IS_RETURN_CUSTOMER": "N", "IS_REPEATED_APPROACH": "N",
                "MOVED_BY_ID": "1", "MOVED_TIME": null,
            }),
            Kind::Contact => json!({
                "HONORIFIC": null, "NAME": null, "SECOND_NAME": null, "LAST_NAME": null,
                "PHOTO": null, "POST": null, "LEAD_ID": null, "TYPE_ID": "CLIENT",
                "COMPANY_ID": null, "BIRTHDATE": "", "EXPORT": "Y", "ORIGIN_VERSION": null,
                "FACE_ID": null,
            }),
        };
        let mut row = Map::new();
        let mut parts = vec![common, utm, own];
        if self != Kind::Deal {
            parts.push(address);
        }
        for part in parts {
            if let Value::Object(map) = part {
                row.extend(map);
            }
        }
        row
    }

    /// Date fields that equal `DATE_CREATE` on a new entity.
    fn dated_like_creation(self) -> &'static [&'static str] {
        match self {
            Kind::Lead => &["DATE_MODIFY", "LAST_ACTIVITY_TIME", "MOVED_TIME"],
            Kind::Deal => &[
                "DATE_MODIFY",
                "LAST_ACTIVITY_TIME",
                "MOVED_TIME",
                "BEGINDATE",
            ],
            Kind::Contact => &["DATE_MODIFY", "LAST_ACTIVITY_TIME"],
        }
    }
}

/// A given field's value as Bitrix stores and answers it: numbers as strings; multifield
/// entries with string values, an `ID`, `TYPE_ID` (the field) and `VALUE_TYPE` ("WORK") unless
/// given; a bare string in a multifield is its `VALUE`.
fn normalize(field: &str, value: Value, next_multifield_id: &mut u64) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) if MULTIFIELDS.contains(&field) => {
            let items = items.into_iter().map(|item| {
                let mut entry = match item {
                    Value::Object(map) => map,
                    other => Map::from_iter([("VALUE".to_owned(), other)]),
                };
                for value in entry.values_mut() {
                    if let Value::Number(n) = value {
                        *value = Value::String(n.to_string());
                    }
                }
                if entry.get("ID").is_none_or(Value::is_null) {
                    entry.insert("ID".into(), json!(next_multifield_id.to_string()));
                    *next_multifield_id += 1;
                }
                entry.entry("VALUE_TYPE").or_insert(json!("WORK"));
                entry.entry("TYPE_ID").or_insert(json!(field));
                Value::Object(entry)
            });
            Value::Array(items.collect())
        }
        other => other,
    }
}

fn connector_title(connector: &str) -> &str {
    match connector {
        "livechat" => "Live Chat",
        "telegrambot" => "Telegram",
        "viber" => "Viber",
        "vkgroup" => "VK",
        "ok" => "Odnoklassniki",
        "facebook" => "Facebook",
        "facebookcomments" => "Facebook: Comments",
        "fbinstagramdirect" => "Instagram Direct",
        "avito" => "Avito",
        "imessage" => "Apple Messages for Business",
        "whatsappbytwilio" => "WhatsApp (Twilio)",
        "whatsappbyedna" => "WhatsApp (edna)",
        "notifications" => "Bitrix24 SMS and WhatsApp",
        "network" => "Bitrix24.Network",
        other => other,
    }
}

/// A request's parameters: `auth` apart, the rest with upper-cased top-level names, and the
/// order of `cmd`'s names (a batch runs its commands in the order sent).
struct Params {
    auth: Option<String>,
    map: Map<String, Value>,
    cmd_order: Vec<String>,
}

impl Params {
    /// The query string, then the body (JSON for `application/json`, else form-urlencoded
    /// with PHP's bracket keys); body values win.
    fn parse(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Params {
        let mut root = Value::Object(Map::new());
        let mut cmd_order = Vec::new();
        if let Some(query) = query {
            merge_form(&mut root, query.as_bytes(), &mut cmd_order);
        }
        let trimmed = body.trim_ascii();
        let is_json = match content_type {
            Some(ct) => ct.starts_with("application/json"),
            None => trimmed.starts_with(b"{"),
        };
        if is_json {
            if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
                if let Ok(order) = serde_json::from_slice::<CmdOrder>(body) {
                    cmd_order.extend(order.cmd.0);
                }
                if let Value::Object(root) = &mut root {
                    root.extend(map);
                }
            }
        } else if !trimmed.is_empty() {
            merge_form(&mut root, body, &mut cmd_order);
        }
        let Value::Object(root) = root else {
            unreachable!("the root stays an object")
        };
        let mut params = Params {
            auth: None,
            map: Map::new(),
            cmd_order,
        };
        for (key, value) in root {
            if key == "auth" {
                params.auth = text(&value);
            } else {
                params.map.insert(key.to_uppercase(), value);
            }
        }
        params
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }
}

/// The names of a JSON body's `cmd`, in the order sent.
#[derive(serde::Deserialize)]
struct CmdOrder {
    #[serde(default, alias = "CMD")]
    cmd: KeyOrder,
}

#[derive(Default)]
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyOrderVisitor)
    }
}

struct KeyOrderVisitor;

impl<'de> Visitor<'de> for KeyOrderVisitor {
    type Value = KeyOrder;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object or an array of commands")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
        let mut keys = Vec::new();
        while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
            keys.push(key);
        }
        Ok(KeyOrder(keys))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyOrder, A::Error> {
        let mut keys = Vec::new();
        while seq.next_element::<IgnoredAny>()?.is_some() {
            keys.push(keys.len().to_string());
        }
        Ok(KeyOrder(keys))
    }
}

/// Adds form pairs to `root` as PHP does: `a[b][c]=v` nests, `a[]=v` appends.
fn merge_form(root: &mut Value, bytes: &[u8], cmd_order: &mut Vec<String>) {
    for (key, value) in url::form_urlencoded::parse(bytes) {
        let (base, segments) = split_key(&key);
        if base.is_empty() {
            continue;
        }
        if base.eq_ignore_ascii_case("cmd")
            && let Some(name) = segments.first()
            && !cmd_order.iter().any(|n| n == name)
        {
            cmd_order.push((*name).to_owned());
        }
        let mut path = vec![base];
        path.extend(segments);
        insert(root, &path, Value::String(value.into_owned()));
    }
}

/// `filter[>DATE_CREATE]` → ("filter", [">DATE_CREATE"]).
fn split_key(key: &str) -> (&str, Vec<&str>) {
    let Some(open) = key.find('[') else {
        return (key, Vec::new());
    };
    let mut segments = Vec::new();
    let mut rest = &key[open..];
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            break;
        };
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    (&key[..open], segments)
}

fn insert(node: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    match node {
        Value::Object(_) => {}
        // A named key into what `[]` made a list: PHP arrays are both, so it becomes a map.
        Value::Array(items) if !first.is_empty() => {
            let items = std::mem::take(items);
            let map = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect();
            *node = Value::Object(map);
        }
        Value::Array(_) => {}
        _ if first.is_empty() => *node = Value::Array(Vec::new()),
        _ => *node = Value::Object(Map::new()),
    }
    match node {
        Value::Array(items) => {
            items.push(Value::Null);
            if let Some(last) = items.last_mut() {
                insert(last, rest, value);
            }
        }
        Value::Object(map) => {
            let key = if first.is_empty() {
                let next = map.keys().filter_map(|k| k.parse::<u64>().ok()).max();
                next.map_or(0, |n| n + 1).to_string()
            } else {
                (*first).to_owned()
            };
            insert(map.entry(key).or_insert(Value::Null), rest, value);
        }
        _ => {}
    }
}

/// Replaces `$result[name][field]...` in a batch command's values with the earlier result's
/// scalar; a reference that does not resolve stays as written.
fn substitute(value: &mut Value, results: &Map<String, Value>) {
    match value {
        Value::String(s) if s.contains("$result[") => *s = resolve(s, results),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, results)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, results)),
        _ => {}
    }
}

fn resolve(s: &str, results: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("$result[") {
        out.push_str(&rest[..at]);
        let reference = &rest[at..];
        let mut tail = &reference["$result".len()..];
        let mut path = Vec::new();
        while let Some(inner) = tail.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                break;
            };
            path.push(&inner[..close]);
            tail = &inner[close + 1..];
        }
        let found = path.split_first().and_then(|(name, path)| {
            path.iter()
                .try_fold(results.get(*name)?, |node, seg| match node {
                    Value::Object(map) => map.get(*seg),
                    Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
                    _ => None,
                })
        });
        match found.and_then(text) {
            Some(t) => out.push_str(&t),
            None => out.push_str(&reference[..reference.len() - tail.len()]),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A PHP array as `json_encode` writes it: `[]` when empty, a list for keys 0..n, else an
/// object (the batch doc shows `"result_error": []`).
fn php_array(map: Map<String, Value>) -> Value {
    let sequential = (0..map.len()).all(|i| map.contains_key(&i.to_string()));
    if map.is_empty() || sequential {
        let mut items: Vec<(usize, Value)> = map
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        return Value::Array(items.into_iter().map(|(_, v)| v).collect());
    }
    Value::Object(map)
}

/// The `select` parameter, upper-cased.
fn selection(params: &Params) -> Vec<String> {
    params
        .get("SELECT")
        .map(items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(text)
        .map(|s| s.trim().to_uppercase())
        .collect()
}

/// A CRM row as `select` asks: nothing or `*` means the standard fields (no `UF_*`, no
/// multifields); `UF_*` adds the custom ones; other names add themselves; `ID` always.
fn crm_project(row: &Map<String, Value>, select: &[String]) -> Value {
    let all = select.is_empty() || select.iter().any(|s| s == "*");
    let custom = select.iter().any(|s| s == "UF_*");
    let picked = row.iter().filter(|(field, _)| {
        let is_custom = field.starts_with("UF_");
        let is_multi = MULTIFIELDS.contains(&field.as_str());
        field.as_str() == "ID"
            || (all && !is_custom && !is_multi)
            || (custom && is_custom)
            || select.iter().any(|s| s == *field)
    });
    Value::Object(picked.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// A row as `select` asks: nothing or `*` means every field; `ID` always.
fn project(row: &Map<String, Value>, select: &[String]) -> Value {
    let all = select.is_empty() || select.iter().any(|s| s == "*");
    let picked = row
        .iter()
        .filter(|(field, _)| all || field.as_str() == "ID" || select.iter().any(|s| s == *field));
    Value::Object(picked.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// A list method: filter, order (then `ID` ascending), `total`, a 50-row page from `start`
/// with `next` while rows remain. `start: -1` skips the count (no `total`, no `next`).
fn list(
    mut rows: Vec<&Map<String, Value>>,
    filter: Option<&Map<String, Value>>,
    params: &Params,
    shape: impl Fn(&Map<String, Value>) -> Value,
) -> Answer {
    if let Some(filter) = filter {
        rows.retain(|row| {
            filter
                .iter()
                .all(|(key, wanted)| condition(row, key, wanted))
        });
    }
    let order: Vec<(String, bool)> = match params.get("ORDER") {
        Some(Value::Object(order)) => order
            .iter()
            .map(|(field, dir)| {
                let descending = text(dir).is_some_and(|d| d.trim().eq_ignore_ascii_case("desc"));
                (field.trim().to_uppercase(), descending)
            })
            .collect(),
        _ => Vec::new(),
    };
    rows.sort_by(|a, b| {
        for (field, descending) in &order {
            let x = a.get(field).and_then(text);
            let y = b.get(field).and_then(text);
            let o = match (x, y) {
                (Some(x), Some(y)) => compare(&x, &y),
                (None, Some(_)) => Order::Less,
                (Some(_), None) => Order::Greater,
                (None, None) => Order::Equal,
            };
            let o = if *descending { o.reverse() } else { o };
            if o != Order::Equal {
                return o;
            }
        }
        let id = |row: &Map<String, Value>| row.get("ID").and_then(number).unwrap_or(0);
        id(a).cmp(&id(b))
    });
    let start = params
        .get("START")
        .and_then(text)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let counted = start != -1;
    let start = usize::try_from(start).unwrap_or(0);
    let total = rows.len();
    let page = rows.iter().skip(start).take(PAGE).map(|row| shape(row));
    Answer {
        result: Value::Array(page.collect()),
        total: counted.then_some(total),
        next: (counted && start + PAGE < total).then_some(start + PAGE),
    }
}

/// One filter entry: `[op]FIELD` against the row; ops `=` (default; a list means IN), `!`/`!=`,
/// `>`, `>=`, `<`, `<=`, `@`/`!@` (IN / NOT IN), `%`/`!%` (substring). Values compare as
/// instants when both are dates, as numbers when both are numbers, else as text (case
/// ignored). A multifield matches when one of its `VALUE`s does.
fn condition(row: &Map<String, Value>, key: &str, wanted: &Value) -> bool {
    let key = key.trim().to_uppercase();
    let ops = [">=", "<=", "!=", "!@", "!%", ">", "<", "=", "!", "@", "%"];
    let op = ops
        .iter()
        .find(|op| key.starts_with(**op))
        .copied()
        .unwrap_or("");
    let field = &key[op.len()..];
    let have: Vec<String> = match row.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| text(i.get("VALUE").unwrap_or(i)))
            .collect(),
        Some(value) => text(value).into_iter().collect(),
        None => Vec::new(),
    };
    let wants: Vec<String> = items(wanted).into_iter().filter_map(text).collect();
    let equal = || {
        if wants.iter().all(String::is_empty) {
            return have.iter().all(String::is_empty);
        }
        have.iter()
            .any(|h| wants.iter().any(|w| compare(h, w) == Order::Equal))
    };
    let ordered = |accept: &dyn Fn(Order) -> bool| {
        have.iter()
            .any(|h| wants.iter().any(|w| accept(compare(h, w))))
    };
    let contains = || {
        have.iter().any(|h| {
            let h = h.to_lowercase();
            wants.iter().any(|w| h.contains(&w.to_lowercase()))
        })
    };
    match op {
        "" | "=" | "@" => equal(),
        "!" | "!=" | "!@" => !equal(),
        ">" => ordered(&|o| o == Order::Greater),
        ">=" => ordered(&|o| o != Order::Less),
        "<" => ordered(&|o| o == Order::Less),
        "<=" => ordered(&|o| o != Order::Greater),
        "%" => contains(),
        _ => !contains(),
    }
}

fn compare(a: &str, b: &str) -> Order {
    if let (Some(x), Some(y)) = (parse_instant(a), parse_instant(b)) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(Order::Equal);
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// ISO 8601 with an offset, or a local date-time (ISO or `d.m.Y H:i:s`) or date in the
/// portal's zone, as Bitrix reads filter values without an offset.
fn parse_instant(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t);
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%d.%m.%Y"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    portal_offset().from_local_datetime(&naive).single()
}

fn portal_offset() -> FixedOffset {
    FixedOffset::east_opt(PORTAL_OFFSET_SECS).expect("offset")
}

fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&portal_offset())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Now in the portal's zone, as Bitrix writes dates: `2024-06-03T12:40:00+03:00`.
fn now_iso() -> String {
    format_time(Utc::now())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The `time` block of every answer (the resource-limit fields at zero usage).
fn time(started: SystemTime) -> Value {
    let finished = SystemTime::now();
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let (start, finish) = (secs(started), secs(finished));
    json!({
        "start": start, "finish": finish, "duration": finish - start,
        "processing": finish - start, "date_start": format_time(started.into()),
        "date_finish": format_time(finished.into()), "operating_reset_at": start as u64 + 600,
        "operating": 0,
    })
}

/// A scalar parameter as text (booleans as 1/0, as PHP's forms carry them).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<u64> {
    text(value)?.trim().parse().ok()
}

fn truthy(value: &Value) -> bool {
    text(value).is_some_and(|v| matches!(v.trim(), "1" | "Y" | "y" | "true"))
}

/// A list parameter: an array, a PHP map's values (`select[0]=ID`), or one scalar.
fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// `crm.lead.get.json` → `crm.lead.get`; method names are case-insensitive.
fn method_key(method: &str) -> String {
    let method = method.trim().to_ascii_lowercase();
    method
        .strip_suffix(".json")
        .map(str::to_owned)
        .unwrap_or(method)
}

fn respond(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// `/rest/{method}` (also `.json`), any HTTP method.
async fn rest(
    State(s): State<Arc<Bitrix24>>,
    Path(method): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = SystemTime::now();
    let method = method_key(&method);
    s.count(&method);
    if !s.admit() {
        s.rate_limited.fetch_add(1, Ordering::SeqCst);
        return Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "QUERY_LIMIT_EXCEEDED",
            "Too many requests",
        )
        .response();
    }
    if let Some((status, body)) = s.injected(&method) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return respond(status, &body);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = Params::parse(uri.query(), content_type, &body);
    if let Err(failure) = s.authenticate(params.auth.as_deref()) {
        return failure.response();
    }
    let outcome = if method == "batch" {
        s.batch(&params)
    } else {
        s.call(&method, &params)
    };
    match outcome {
        Ok(answer) => {
            let mut body = json!({"result": answer.result});
            if let Some(total) = answer.total {
                body["total"] = json!(total);
            }
            if let Some(next) = answer.next {
                body["next"] = json!(next);
            }
            body["time"] = time(started);
            respond(StatusCode::OK, &body)
        }
        Err(failure) => failure.response(),
    }
}

/// `GET /oauth/authorize/?client_id=…&state=…[&redirect_uri=…]`: the user is signed in and the
/// app installed, so the portal redirects at once with `code`, `state`, `domain`,
/// `member_id`, `scope` and `server_domain`.
async fn authorize(State(s): State<Arc<Bitrix24>>, uri: Uri) -> Response {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if query.get("client_id") != Some(&s.config.client_id) {
        let body = json!({"error": "invalid_client",
                          "error_description": "Application not installed"});
        return respond(StatusCode::BAD_REQUEST, &body);
    }
    let redirect = query
        .get("redirect_uri")
        .filter(|r| !r.is_empty())
        .or(s.config.redirect_uri.as_ref());
    let Some(redirect) = redirect else {
        let body = json!({"error": "invalid_request",
                          "error_description": "The application has no redirect_uri"});
        return respond(StatusCode::BAD_REQUEST, &body);
    };
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("code", &s.authorization_code());
    if let Some(state) = query.get("state") {
        params.append_pair("state", state);
    }
    params.append_pair("domain", &s.config.domain);
    params.append_pair("member_id", &s.config.member_id);
    params.append_pair("scope", SCOPE);
    params.append_pair("server_domain", &s.oauth_host);
    let separator = if redirect.contains('?') { '&' } else { '?' };
    let location = format!("{redirect}{separator}{}", params.finish());
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Body::empty())
        .expect("response")
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    respond(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// `GET|POST /oauth/token/`: parameters in the query (as documented) or a form body. Checks
/// the grant type, the client, then the code or refresh token; a refused request spends
/// nothing.
async fn token(State(s): State<Arc<Bitrix24>>, uri: Uri, body: Bytes) -> Response {
    let mut fields: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    fields.extend(url::form_urlencoded::parse(&body).into_owned());
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let bad = StatusCode::BAD_REQUEST;
    let grant = match field("grant_type") {
        None => {
            let text = "The grant type was not specified in the request";
            return oauth_error(bad, "invalid_request", text);
        }
        Some(grant @ ("authorization_code" | "refresh_token")) => grant,
        Some(other) => {
            let text = format!("Grant type \"{other}\" not supported");
            return oauth_error(bad, "invalid_request", &text);
        }
    };
    let (Some(client_id), Some(secret)) = (field("client_id"), field("client_secret")) else {
        let text = "Client credentials were not found in the headers or body";
        return oauth_error(bad, "invalid_request", text);
    };
    if client_id != s.config.client_id || secret != s.config.client_secret {
        let text = "The client credentials are invalid";
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", text);
    }
    let mut tokens = s.tokens();
    if grant == "authorization_code" {
        let Some(code) = field("code") else {
            let text = "Missing parameter: \"code\" is required";
            return oauth_error(bad, "invalid_request", text);
        };
        let Some(entry) = tokens.codes.get_mut(code).filter(|c| !c.spent) else {
            let text = "Authorization code doesn't exist or is invalid for the client";
            return oauth_error(bad, "invalid_grant", text);
        };
        if entry.expired || entry.issued.elapsed() > CODE_LIFETIME {
            let text = "The authorization code has expired";
            return oauth_error(bad, "invalid_grant", text);
        }
        entry.spent = true;
        let pair = s.issue(&mut tokens);
        return respond(StatusCode::OK, &pair);
    }
    let Some(refresh) = field("refresh_token") else {
        let text = "Missing parameter: \"refresh_token\" is required";
        return oauth_error(bad, "invalid_request", text);
    };
    // One chain: the refresh token works once, and its access token dies with it.
    match tokens.refresh.get(refresh) {
        Some(Refresh::Live { access }) => {
            let access = access.clone();
            tokens.refresh.insert(refresh.to_owned(), Refresh::Dead);
            if let Some(old) = tokens.access.get_mut(&access) {
                old.dead = true;
            }
            s.refreshes.fetch_add(1, Ordering::SeqCst);
            let pair = s.issue(&mut tokens);
            respond(StatusCode::OK, &pair)
        }
        Some(Refresh::Dead) | None => oauth_error(bad, "invalid_grant", "Invalid refresh token"),
    }
}

/// Other portal paths. Under `/rest/` these are inbound-webhook URLs
/// (`/rest/<user>/<secret>/<method>`), none of which exists here: "Wrong authorization data".
async fn portal_fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/rest/") {
        return no_auth().response();
    }
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

async fn oauth_fallback() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}
