//! Pieces every form of the console is made of: a labelled field that shows its own error (in
//! the user's language), choices by name, a copyable value, the CSRF token. Every input has a
//! label, and an error is tied to its field (`aria-describedby`), so screen readers say it.

use super::{Ctx, Failure, Lang};
use maud::{Markup, html};

/// The hidden field every post carries.
pub fn csrf(ctx: &Ctx<'_>) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.csrf); }
}

/// The error of `name`, if the last post failed on it.
pub fn error_of<'a>(failure: Option<&'a Failure>, name: &str) -> Option<&'a Failure> {
    failure.filter(|f| f.is_about(name))
}

/// A failure that is not about one field: shown above the form.
pub fn form_error(lang: Lang, failure: Option<&Failure>, fields: &[&str]) -> Markup {
    match failure {
        Some(f) if !fields.iter().any(|name| f.is_about(name)) => {
            html! { p.notice.bad role="alert" { (f.say(lang)) } }
        }
        _ => html! {},
    }
}

/// What a text field needs besides its name.
pub struct Text<'a> {
    pub label: &'a str,
    pub value: &'a str,
    pub hint: Option<&'a str>,
    pub kind: &'a str,
    pub required: bool,
    pub placeholder: Option<&'a str>,
}

impl<'a> Text<'a> {
    pub fn new(label: &'a str, value: &'a str) -> Text<'a> {
        Text {
            label,
            value,
            hint: None,
            kind: "text",
            required: false,
            placeholder: None,
        }
    }
}

/// A labelled input named `name` (its id too: `name` with dots as dashes).
pub fn text(lang: Lang, name: &str, field: Text<'_>, failure: Option<&Failure>) -> Markup {
    let id = id_of(name);
    let error = error_of(failure, name);
    let described = error
        .map(|_| format!("{id}-error"))
        .or_else(|| field.hint.map(|_| format!("{id}-hint")));
    html! {
        div.field {
            label for=(id) { (field.label) }
            input id=(id) name=(name) type=(field.kind) value=(field.value)
                required[field.required] placeholder=[field.placeholder]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
            @if let Some(e) = error {
                p.error id={ (id) "-error" } { (e.say(lang)) }
            } @else if let Some(hint) = field.hint {
                p.hint id={ (id) "-hint" } { (hint) }
            }
        }
    }
}

/// A labelled choice among `options` (value, what people read), `selected` preselected; with
/// `none`, a first option for "nothing" (an empty value).
pub fn select(
    lang: Lang,
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: Option<&str>,
    none: Option<&str>,
    failure: Option<&Failure>,
) -> Markup {
    let id = id_of(name);
    let error = error_of(failure, name);
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| format!("{id}-error"))] {
                @if let Some(none) = none {
                    option value="" selected[selected.is_none_or(str::is_empty)] { (none) }
                }
                @for (value, text) in options {
                    option value=(value) selected[selected == Some(value.as_str())] { (text) }
                }
            }
            @if let Some(e) = error {
                p.error id={ (id) "-error" } { (e.say(lang)) }
            }
        }
    }
}

/// A labelled checkbox (`on` when ticked).
pub fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    let id = id_of(name);
    html! {
        div.field {
            label.check for=(id) {
                input id=(id) name=(name) type="checkbox" checked[checked];
                (label)
            }
        }
    }
}

/// A value to paste elsewhere (a webhook URL, a script tag), with a copy button.
pub fn copyable(lang: Lang, id: &str, label: &str, value: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            div.copyable {
                input id=(id) type="text" readonly value=(value);
                button.secondary type="button" data-copy={ "#" (id) } data-copied=(lang.t("Copied")) {
                    (lang.t("Copy"))
                }
            }
        }
    }
}

/// An element id for a field name (`amocrm.base_url` -> `amocrm-base_url`).
pub fn id_of(name: &str) -> String {
    name.replace(['.', '[', ']'], "-")
}

/// Zones offered in the time-zone lists (any IANA name may be typed): Russia's, its
/// neighbours', and a few common elsewhere.
pub const ZONES: [&str; 22] = [
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Yakutsk",
    "Asia/Vladivostok",
    "Asia/Magadan",
    "Asia/Kamchatka",
    "Europe/Minsk",
    "Asia/Almaty",
    "Asia/Tashkent",
    "Asia/Bishkek",
    "Asia/Tbilisi",
    "Asia/Yerevan",
    "Asia/Baku",
    "Europe/Istanbul",
    "Europe/Berlin",
    "UTC",
];

/// A date as the date field sends it, or as a person types it where there is no picker.
pub fn parse_date(value: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike;
    ["%Y-%m-%d", "%d.%m.%Y"]
        .into_iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(value.trim(), f).ok())
        .filter(|d| (1970..=9999).contains(&d.year()))
}

/// A date of a period form (the journal's, the report's, a run's), described by the form's
/// `period-hint`; `given` is shown as the date field wants it when it reads as a date.
pub fn period_date(
    lang: Lang,
    name: &str,
    label: &str,
    given: &str,
    required: bool,
    failure: Option<&Failure>,
) -> Markup {
    let value = parse_date(given).map_or_else(|| given.to_owned(), |d| d.to_string());
    let error = error_of(failure, name);
    let described = match error {
        Some(_) => format!("{name}-error period-hint"),
        None => "period-hint".to_owned(),
    };
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type="date" value=(value) required[required]
                aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
            @if let Some(e) = error {
                p.error id={ (name) "-error" } { (e.say(lang)) }
            }
        }
    }
}

/// The `tz` of a period form: typed, or picked from [`ZONES`].
pub fn period_zone(lang: Lang, given: &str, failure: Option<&Failure>) -> Markup {
    let error = error_of(failure, "tz");
    let described = match error {
        Some(_) => "tz-error period-hint",
        None => "period-hint",
    };
    html! {
        div.field {
            label for="tz" { (lang.t("Time zone")) }
            input id="tz" name="tz" type="text" list="zones" required
                value=(given) autocomplete="off"
                aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
            datalist id="zones" {
                @for zone in ZONES { option value=(zone) {} }
            }
            @if let Some(e) = error {
                p.error id="tz-error" { (e.say(lang)) }
            }
        }
    }
}

/// The services a filter offers: (token, title).
pub fn provider_options() -> Vec<(String, String)> {
    shared::domain::appeal::Provider::ALL
        .iter()
        .map(|p| (p.as_str().to_owned(), p.title().to_owned()))
        .collect()
}

/// The channels a filter offers, in words, and `current` too when it is none of the known
/// ones (a channel only seen in the data keeps its choice).
pub fn channel_options(lang: Lang, current: Option<&str>) -> Vec<(String, String)> {
    let known = &super::i18n::CHANNELS;
    let mut channels: Vec<(String, String)> = known
        .iter()
        .map(|c| ((*c).to_owned(), super::i18n::channel_name(lang, c)))
        .collect();
    if let Some(other) = current.filter(|c| !known.contains(c)) {
        channels.push((other.to_owned(), other.to_owned()));
    }
    channels
}
