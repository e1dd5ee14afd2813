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
