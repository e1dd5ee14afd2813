//! Every route of the management API, as data: the router matches requests against this table
//! and nothing else, and the OpenAPI document (`openapi.rs`) is written from it, so the two
//! cannot drift apart.

use http::{Method, StatusCode};

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List(Kind),
    Create(Kind),
    Get(Kind),
    Update(Kind),
    Delete(Kind),
    RotateSecret,
    OauthStart,
    AmocrmFields,
    Bitrix24Fields,
    Reconcile,
    Skipped,
    Appeals,
    Appeal,
    RawEvents,
    RawEvent,
    Replay,
    Keys,
    CreateKey,
    RevokeKey,
    CreateAccount,
    /// A CSV export made by a job: its status and link.
    CsvExport,
    Account,
    UpdateAccount,
    MetrikaExport,
    GoogleAdsExport,
    ReportAppeals,
    Reattribute,
    ReattributeRuns,
    ReattributeRun,
    OpenApi,
}

/// The account's records that share one create-read-update-delete shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Site,
    Source,
    Campaign,
    Employee,
    Integration,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Site,
        Kind::Source,
        Kind::Campaign,
        Kind::Employee,
        Kind::Integration,
    ];

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Site => "sites",
            Kind::Source => "sources",
            Kind::Campaign => "campaigns",
            Kind::Employee => "employees",
            Kind::Integration => "integrations",
        }
    }
}

pub struct Route {
    pub method: Method,
    /// With `{name}` for a path parameter: `/api/sites/{id}`.
    pub path: String,
    pub op: Op,
    /// The status of a success.
    pub status: StatusCode,
    pub summary: &'static str,
    /// The query parameters it takes; any other is refused (a misspelt filter would otherwise
    /// be ignored, and answer with everything).
    pub query: &'static [Param],
}

/// A query parameter of a route: its name and what it does.
pub struct Param {
    pub name: &'static str,
    pub about: &'static str,
}

const fn param(name: &'static str, about: &'static str) -> Param {
    Param { name, about }
}

fn route(method: Method, path: &str, op: Op, status: StatusCode, summary: &'static str) -> Route {
    Route {
        method,
        path: path.to_owned(),
        op,
        status,
        summary,
        query: &[],
    }
}

impl Route {
    fn with_query(mut self, query: &'static [Param]) -> Route {
        self.query = query;
        self
    }

    /// Whether the route takes query parameter `name`.
    pub fn takes(&self, name: &str) -> bool {
        self.query.iter().any(|p| p.name == name)
    }
}

const LIMIT: Param = param("limit", "How many items, 1 to 200 (50 unless given)");
const CURSOR: Param = param(
    "cursor",
    "The `next_cursor` of the page before, to read the next one",
);
const FRESH: Param = param(
    "fresh",
    "`true` reads the list from the CRM now; otherwise a list read within ten minutes is answered",
);

const APPEALS: &[Param] = &[
    param("from", "Created at or after this time (RFC 3339)"),
    param("to", "Created before this time (RFC 3339)"),
    param("provider", "jivo, verbox, amocrm or bitrix24"),
    param("channel", "site, telegram, whatsapp, vk, ..."),
    param("campaign_id", "Attributed to this campaign"),
    param("source_id", "Attributed to this source"),
    param("integration_id", "Came through this integration"),
    param(
        "via",
        "How the attribution was decided: session, utm, click_id, messenger_mapping or default",
    ),
    param(
        "status",
        "in_progress, pending_enrichment, complete or failed",
    ),
    param(
        "q",
        "A phone (any spelling), an e-mail (or part of one) or a name (or part of one)",
    ),
    param(
        "repeat",
        "true: only repeat appeals (the same person appealed within the repeat window before); false: only first ones",
    ),
    param(
        "format",
        "json (the default) or csv: every matching appeal as CSV, one row each (also with Accept: text/csv); an export too large for one answer on AWS is made by a job: 202 with its id",
    ),
    param(
        "excel",
        "With CSV: 1 writes it for Excel in Russian locales (`;` between fields, a UTF-8 byte order mark)",
    ),
    LIMIT,
    CURSOR,
    param(
        "channel_group",
        "paid, organic, social, referral, direct, messenger or email: the group of the chat's traffic",
    ),
];

const RAW_EVENTS: &[Param] = &[
    param(
        "status",
        "quarantined (the default) or received (kept, handling not finished)",
    ),
    param(
        "integration_id",
        "Every kept event of this integration, whatever its status",
    ),
    LIMIT,
    CURSOR,
];

const REPORT: &[Param] = &[
    param(
        "from",
        "First day (2026-11-01) in the report's time zone, included; default: 29 days before `to`",
    ),
    param(
        "to",
        "Last day, included; default: today; at most 366 days in all",
    ),
    param(
        "tz",
        "An IANA time zone (Asia/Yekaterinburg) the days follow; default: the account's",
    ),
    param(
        "group_by",
        "One or two of day, week, month, campaign, source, site, channel, provider, employee, kind, channel_group (one time at most); default: day",
    ),
    param("integration_id", "Only this integration's appeals"),
    param("site_id", "Only appeals attributed to this site"),
    param("provider", "Only jivo, verbox, amocrm or bitrix24"),
    param("channel", "Only this channel (site, telegram, whatsapp...)"),
];

const METRIKA_EXPORT: &[Param] = &[
    param(
        "from",
        "First day (2026-11-01) in the account's time zone; required",
    ),
    param("to", "Last day, included; required"),
    param(
        "goal",
        "The Metrika goal's identifier (the `Target` column); default: the account's metrika.goal",
    ),
];

const GOOGLE_ADS_EXPORT: &[Param] = &[
    param(
        "from",
        "First day (2026-11-01) in the account's time zone; required",
    ),
    param("to", "Last day, included; required"),
    param(
        "conversion_name",
        "The Google Ads conversion action's name, exactly as written there; required",
    ),
];

/// The table, built once.
pub static ROUTES: std::sync::LazyLock<Vec<Route>> = std::sync::LazyLock::new(all);

fn all() -> Vec<Route> {
    use Method as M;
    use StatusCode as S;
    let mut routes = Vec::new();
    for kind in Kind::ALL {
        let many = format!("/api/{}", kind.plural());
        let one = format!("{many}/{{id}}");
        routes.extend([
            route(M::GET, &many, Op::List(kind), S::OK, "List them"),
            route(M::POST, &many, Op::Create(kind), S::CREATED, "Create one"),
            route(M::GET, &one, Op::Get(kind), S::OK, "Read one"),
            route(
                M::PATCH,
                &one,
                Op::Update(kind),
                S::OK,
                "Change one (JSON merge patch)",
            ),
            route(
                M::DELETE,
                &one,
                Op::Delete(kind),
                S::NO_CONTENT,
                "Delete one",
            ),
        ]);
    }
    routes.extend([
        route(
            M::POST,
            "/api/integrations/{id}/rotate-secret",
            Op::RotateSecret,
            S::OK,
            "A new webhook secret; the old URLs stop working",
        ),
        route(
            M::POST,
            "/api/integrations/{id}/oauth/start",
            Op::OauthStart,
            S::OK,
            "The CRM's consent page to connect it (a signed, single-use state inside)",
        ),
        route(
            M::GET,
            "/api/integrations/{id}/amocrm/fields",
            Op::AmocrmFields,
            S::OK,
            "The amoCRM account's lead and contact custom fields",
        )
        .with_query(&[FRESH]),
        route(
            M::GET,
            "/api/integrations/{id}/bitrix24/fields",
            Op::Bitrix24Fields,
            S::OK,
            "The Bitrix24 portal's lead (or deal) user fields",
        )
        .with_query(&[FRESH]),
        route(
            M::POST,
            "/api/integrations/{id}/reconcile",
            Op::Reconcile,
            S::ACCEPTED,
            "Queue a Bitrix24 reconciliation (and every failed reading) now",
        ),
        route(
            M::GET,
            "/api/integrations/{id}/skipped",
            Op::Skipped,
            S::OK,
            "CRM entities read and found to be no chat, or whose reading failed",
        )
        .with_query(&[LIMIT]),
        route(
            M::GET,
            "/api/appeals",
            Op::Appeals,
            S::OK,
            "Appeals, newest first, filtered",
        )
        .with_query(APPEALS),
        route(M::GET, "/api/appeals/{id}", Op::Appeal, S::OK, "One appeal"),
        route(
            M::GET,
            "/api/raw-events",
            Op::RawEvents,
            S::OK,
            "Kept webhook bodies: quarantined, unfinished, or one integration's",
        )
        .with_query(RAW_EVENTS),
        route(
            M::GET,
            "/api/raw-events/{id}",
            Op::RawEvent,
            S::OK,
            "One kept webhook body",
        ),
        route(
            M::POST,
            "/api/raw-events/{id}/replay",
            Op::Replay,
            S::OK,
            "Handle a kept body again with today's settings",
        ),
        route(
            M::GET,
            "/api/keys",
            Op::Keys,
            S::OK,
            "The account's API keys",
        ),
        route(
            M::POST,
            "/api/keys",
            Op::CreateKey,
            S::CREATED,
            "A new named key, shown this once",
        ),
        route(
            M::DELETE,
            "/api/keys/{id}",
            Op::RevokeKey,
            S::NO_CONTENT,
            "Revoke a key and end the console sessions it opened",
        ),
        route(
            M::POST,
            "/api/accounts",
            Op::CreateAccount,
            S::CREATED,
            "A new account and its first key (with the admin key)",
        ),
        route(
            M::GET,
            "/api/account",
            Op::Account,
            S::OK,
            "The account's settings and how the Metrika upload is doing",
        ),
        route(
            M::PATCH,
            "/api/account",
            Op::UpdateAccount,
            S::OK,
            "Change the account's settings (JSON merge patch)",
        ),
        route(
            M::GET,
            "/api/exports/metrika.csv",
            Op::MetrikaExport,
            S::OK,
            "A period's chats as a Yandex Metrika offline-conversions CSV",
        )
        .with_query(METRIKA_EXPORT),
        route(
            M::GET,
            "/api/exports/google-ads.csv",
            Op::GoogleAdsExport,
            S::OK,
            "A period's chats as a Google Ads offline click-conversions CSV",
        )
        .with_query(GOOGLE_ADS_EXPORT),
        route(
            M::GET,
            "/api/reports/appeals",
            Op::ReportAppeals,
            S::OK,
            "Appeals counted by day, week or month and by what brought them, with first and repeat and how each was attributed",
        )
        .with_query(REPORT),
        route(
            M::POST,
            "/api/reattribute",
            Op::Reattribute,
            S::ACCEPTED,
            "Attribute a period's appeals again with today's settings (a run of queued jobs)",
        ),
        route(
            M::GET,
            "/api/reattribute",
            Op::ReattributeRuns,
            S::OK,
            "The account's latest re-attribution runs and backfills, newest first",
        ),
        route(
            M::GET,
            "/api/reattribute/{id}",
            Op::ReattributeRun,
            S::OK,
            "A re-attribution run: running or done, appeals examined, and what moved where",
        ),
        route(
            M::GET,
            "/api/openapi.json",
            Op::OpenApi,
            S::OK,
            "This description of the API",
        ),
    ]);
    // After every literal `/api/exports/...` route: the table matches in order.
    routes.push(route(
        M::GET,
        "/api/exports/{id}",
        Op::CsvExport,
        S::OK,
        "A queued CSV export of appeals: queued, failed, or done with a link for an hour",
    ));
    routes
}

/// What matching a request against the table found.
pub enum Found<'a> {
    /// The route, and the values of its path parameters in order.
    Route(&'static Route, Vec<&'a str>),
    /// The path exists with other methods.
    WrongMethod,
    NoSuchPath,
}

pub fn find<'a>(method: &Method, segments: &[&'a str]) -> Found<'a> {
    let mut path_exists = false;
    for route in ROUTES.iter() {
        let pattern: Vec<&str> = route.path.split('/').filter(|s| !s.is_empty()).collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matches = pattern.iter().zip(segments).all(|(p, s)| {
            if p.starts_with('{') {
                params.push(*s);
                true
            } else {
                p == s
            }
        });
        if !matches {
            continue;
        }
        if route.method == *method {
            return Found::Route(route, params);
        }
        path_exists = true;
    }
    if path_exists {
        Found::WrongMethod
    } else {
        Found::NoSuchPath
    }
}
