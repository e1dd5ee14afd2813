//! The Settings page: the account's name, time zone and repeat window, and the Yandex Metrika
//! upload (counter, goal, token, the switch) with how its last upload went; saved through
//! `PATCH /api/account`.

use super::widgets::{self, Text};
use super::{Ctx, Failure, Form, Lang, api, failed_page, layout, redirect, when};
use http::Method;
use maud::{Markup, html};
use serde_json::{Value, json};
use shared::edge::web::HttpResponse;

/// English -> Russian for this page, sorted by the English text.
pub static RU: &[(&str, &str)] = &[
    (
        "A chat counts as a repeat when the same person wrote within this many days before it.",
        "Обращение считается повторным, если тот же человек писал в течение этого числа дней до него.",
    ),
    ("Account", "Аккаунт"),
    ("Account name", "Название аккаунта"),
    (
        "Chats whose visit has a Metrika ClientID or a Yandex Direct click are sent as offline conversions of this goal. Each hourly upload covers the chats up to three hours old; the first covers the last 21 days.",
        "Обращения, у визита которых есть ClientID Метрики или клик Яндекс Директа, передаются как офлайн-конверсии этой цели. Ежечасная выгрузка берёт обращения старше трёх часов; первая — за последние 21 день.",
    ),
    ("Counter number", "Номер счётчика"),
    (
        "Days in reports and exports begin and end in this zone. Pick one or type any IANA name, like Asia/Yekaterinburg.",
        "Дни в отчётах и выгрузках начинаются и заканчиваются в этом поясе. Выберите из списка или введите любое имя IANA, например Asia/Yekaterinburg.",
    ),
    ("Forget the saved token", "Удалить сохранённый токен"),
    ("Goal identifier", "Идентификатор цели"),
    ("Last upload", "Последняя выгрузка"),
    ("Not set yet.", "Ещё не задан."),
    ("OAuth token", "OAuth-токен"),
    ("Repeat window, days", "Окно повторных обращений, дней"),
    ("Sent up to", "Отправлено по"),
    (
        "Set. Leave empty to keep it; type a new one to replace it.",
        "Задан. Оставьте поле пустым, чтобы сохранить его, или введите новый.",
    ),
    ("Settings", "Настройки"),
    (
        "The identifier of a JavaScript-event goal in Metrika, like chat.",
        "Идентификатор цели «JavaScript-событие» в Метрике, например chat.",
    ),
    ("Time zone", "Часовой пояс"),
    (
        "Upload chats to Metrika every hour",
        "Выгружать обращения в Метрику каждый час",
    ),
    ("Yandex Metrika", "Яндекс Метрика"),
    ("conversions", "конверсий"),
];

/// The form's inputs: also the fields an API failure may be about.
const INPUTS: [&str; 7] = [
    "name",
    "time_zone",
    "repeat_window_days",
    "metrika.counter_id",
    "metrika.goal",
    "metrika.token",
    "metrika.upload",
];

pub async fn get(ctx: &Ctx<'_>) -> HttpResponse {
    match api::call(ctx, Method::GET, "/api/account", None).await {
        Ok(account) => {
            let saved = shared::edge::web::query_param(ctx.query, "saved").is_some();
            page(ctx, &account, &Values::of_account(&account), None, saved)
        }
        Err(e) => failed_page(ctx.lang, &e),
    }
}

pub async fn post(ctx: &Ctx<'_>, form: &Form) -> HttpResponse {
    let values = Values::of_form(form);
    match api::call(ctx, Method::PATCH, "/api/account", Some(&values.patch())).await {
        Ok(_) => redirect("/settings?saved=1"),
        Err(e) => match api::call(ctx, Method::GET, "/api/account", None).await {
            Ok(account) => page(ctx, &account, &values, Some(&e), false),
            Err(e) => failed_page(ctx.lang, &e),
        },
    }
}

/// The form's values, as typed or as the API holds them.
#[derive(Default)]
struct Values {
    name: String,
    time_zone: String,
    repeat_window_days: String,
    counter_id: String,
    goal: String,
    /// A new token typed in; empty keeps the stored one.
    token: String,
    forget_token: bool,
    upload: bool,
}

impl Values {
    fn of_account(a: &Value) -> Values {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Values {
            name: text(&a["name"]),
            time_zone: text(&a["time_zone"]),
            repeat_window_days: text(&a["repeat_window_days"]),
            counter_id: text(&a["metrika"]["counter_id"]),
            goal: text(&a["metrika"]["goal"]),
            token: String::new(),
            forget_token: false,
            upload: a["metrika"]["upload"] == true,
        }
    }

    fn of_form(form: &Form) -> Values {
        let get = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
        Values {
            name: get("name"),
            time_zone: get("time_zone"),
            repeat_window_days: get("repeat_window_days"),
            counter_id: get("metrika.counter_id"),
            goal: get("metrika.goal"),
            token: get("metrika.token"),
            forget_token: form.get("metrika.forget_token") == Some("on"),
            upload: form.get("metrika.upload") == Some("on"),
        }
    }

    /// The merge patch the form sends: numbers as typed (the API says which is not one).
    fn patch(&self) -> Value {
        let or_null = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
        let token = match (self.forget_token, self.token.as_str()) {
            (true, _) => "unset",
            (false, "") => "set",
            (false, typed) => typed,
        };
        json!({
            "name": self.name,
            "time_zone": self.time_zone,
            "repeat_window_days": self.repeat_window_days,
            "metrika": {
                "counter_id": or_null(&self.counter_id),
                "goal": or_null(&self.goal),
                "token": token,
                "upload": self.upload,
            },
        })
    }
}

fn page(
    ctx: &Ctx<'_>,
    account: &Value,
    v: &Values,
    failure: Option<&Failure>,
    saved: bool,
) -> HttpResponse {
    let lang = ctx.lang;
    let token_set = account["metrika"]["token"] == "set";
    let content = html! {
        @if saved { p.notice.good role="status" { (lang.t("Saved.")) } }
        (widgets::form_error(lang, failure, &INPUTS))
        form.card method="post" action="/settings" novalidate {
            // The heading first: the card's first child loses its top margin.
            h2 { (lang.t("Account")) }
            (widgets::csrf(ctx))
            (widgets::text(lang, "name", Text { required: true, ..Text::new(lang.t("Account name"), &v.name) }, failure))
            (time_zone(lang, &v.time_zone, failure))
            (widgets::text(lang, "repeat_window_days", Text {
                kind: "number",
                hint: Some(lang.t("A chat counts as a repeat when the same person wrote within this many days before it.")),
                ..Text::new(lang.t("Repeat window, days"), &v.repeat_window_days)
            }, failure))
            h2 { (lang.t("Yandex Metrika")) }
            p.hint { (lang.t("Chats whose visit has a Metrika ClientID or a Yandex Direct click are sent as offline conversions of this goal. Each hourly upload covers the chats up to three hours old; the first covers the last 21 days.")) }
            (widgets::text(lang, "metrika.counter_id", Text {
                placeholder: Some("12345678"),
                ..Text::new(lang.t("Counter number"), &v.counter_id)
            }, failure))
            (widgets::text(lang, "metrika.goal", Text {
                hint: Some(lang.t("The identifier of a JavaScript-event goal in Metrika, like chat.")),
                ..Text::new(lang.t("Goal identifier"), &v.goal)
            }, failure))
            (widgets::text(lang, "metrika.token", Text {
                kind: "password",
                hint: Some(if token_set {
                    lang.t("Set. Leave empty to keep it; type a new one to replace it.")
                } else {
                    lang.t("Not set yet.")
                }),
                ..Text::new(lang.t("OAuth token"), &v.token)
            }, failure))
            @if token_set {
                (widgets::checkbox("metrika.forget_token", lang.t("Forget the saved token"), v.forget_token))
            }
            (widgets::checkbox("metrika.upload", lang.t("Upload chats to Metrika every hour"), v.upload))
            @if let Some(e) = widgets::error_of(failure, "metrika.upload") {
                p.error role="alert" { (e.say(lang)) }
            }
            div.actions { button type="submit" { (lang.t("Save")) } }
        }
        (upload_status(lang, &account["metrika_upload"]))
    };
    layout::page(ctx, layout::Section::Settings, lang.t("Settings"), content)
}

/// A text input with the common zones to pick from, any other name typed in.
fn time_zone(lang: Lang, value: &str, failure: Option<&Failure>) -> Markup {
    let error = widgets::error_of(failure, "time_zone");
    let described = if error.is_some() {
        "time_zone-error"
    } else {
        "time_zone-hint"
    };
    html! {
        div.field {
            label for="time_zone" { (lang.t("Time zone")) }
            input id="time_zone" name="time_zone" type="text" list="zones" value=(value)
                autocomplete="off" spellcheck="false"
                aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
            datalist id="zones" {
                @for zone in widgets::ZONES { option value=(zone) {} }
            }
            @if let Some(e) = error {
                p.error id="time_zone-error" { (e.say(lang)) }
            } @else {
                p.hint id="time_zone-hint" { (lang.t("Days in reports and exports begin and end in this zone. Pick one or type any IANA name, like Asia/Yekaterinburg.")) }
            }
        }
    }
}

/// How the hourly upload is doing: its last success and, if the last attempt failed, why.
fn upload_status(lang: Lang, upload: &Value) -> Markup {
    html! {
        dl.facts.card {
            dt { (lang.t("Last upload")) }
            dd {
                @if upload["last_upload_at"].is_null() {
                    span.muted { (lang.t("Never")) }
                } @else {
                    (when(lang, &upload["last_upload_at"])) ", "
                    (upload["uploaded"].as_u64().unwrap_or(0)) " " (lang.t("conversions"))
                }
            }
            @if !upload["uploaded_through"].is_null() {
                dt { (lang.t("Sent up to")) }
                dd { (when(lang, &upload["uploaded_through"])) }
            }
            @if !upload["last_error"].is_null() {
                dt { (lang.t("Last error")) }
                dd.bad role="alert" {
                    (when(lang, &upload["last_error"]["at"])) ": "
                    (upload["last_error"]["reason"].as_str().unwrap_or_default())
                }
            }
        }
    }
}
