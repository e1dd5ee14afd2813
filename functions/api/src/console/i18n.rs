//! The console's two languages. Texts are written in English in the pages and looked up here
//! for Russian; a text missing here shows in English (and a test lists the missing ones).

use http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From `?lang=`, else the cookie the switch set, else the browser's languages (Russian
    /// for the languages of Russian-speaking users, English otherwise).
    pub fn choose(query: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(lang) =
            shared::edge::web::query_param(query, "lang").and_then(|l| Lang::parse(&l))
        {
            return lang;
        }
        if let Some(lang) =
            super::auth::cookie(headers, super::auth::LANG_COOKIE).and_then(|l| Lang::parse(&l))
        {
            return lang;
        }
        let accepted = headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("ru");
        for tag in accepted.split(',') {
            let primary = tag.split(';').next().unwrap_or_default().trim();
            let primary = primary
                .split('-')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match primary.as_str() {
                "ru" | "uk" | "be" | "kk" => return Lang::Ru,
                "en" => return Lang::En,
                _ => {}
            }
        }
        Lang::En
    }

    /// `text` in this language.
    pub fn t(self, text: &'static str) -> &'static str {
        match self {
            Lang::En => text,
            Lang::Ru => russian(text).unwrap_or(text),
        }
    }
}

/// Every page's English -> Russian table: each module of the console keeps its own `RU`
/// (sorted by the English text), so pages are translated where they are written.
static TABLES: &[&[(&str, &str)]] = &[
    RU,
    super::appeals::RU,
    super::directories::RU,
    super::integrations::RU,
    super::raw::RU,
    super::reattribute::RU,
    super::reports::RU,
    super::settings::RU,
];

fn russian(text: &str) -> Option<&'static str> {
    TABLES.iter().find_map(|table| {
        table
            .binary_search_by_key(&text, |(en, _)| en)
            .ok()
            .map(|i| table[i].1)
    })
}

/// The texts every page shares, English -> Russian, sorted by the English text (a test keeps
/// every table sorted and checks every text the pages use is in one).
pub static RU: &[(&str, &str)] = &[
    ("API key", "API-ключ"),
    ("API keys", "API-ключи"),
    ("Actions", "Действия"),
    ("Appeals", "Обращения"),
    ("Avito", "Авито"),
    ("Back to the console", "Вернуться в консоль"),
    ("Campaign", "Кампания"),
    ("Channel", "Канал"),
    ("Check this value.", "Проверьте значение."),
    ("Click ids", "Идентификаторы кликов"),
    (
        "Connect the integration first.",
        "Сначала подключите интеграцию.",
    ),
    ("Copied", "Скопировано"),
    ("Copy", "Копировать"),
    ("Create a key", "Создать ключ"),
    ("Created", "Создан"),
    ("Directories", "Справочники"),
    ("Employee", "Сотрудник"),
    ("Fill this in.", "Заполните поле."),
    ("Full name", "Имя"),
    (
        "Give a full https address, like https://example.ru.",
        "Укажите полный https-адрес, например https://example.ru.",
    ),
    (
        "Here is the new key. Copy it now: it is not shown again.",
        "Вот новый ключ. Скопируйте его сейчас: больше он не будет показан.",
    ),
    ("Integrations", "Интеграции"),
    ("Key", "Ключ"),
    ("Last used", "Последнее использование"),
    ("Name", "Название"),
    ("Never", "Никогда"),
    ("New API key", "Новый API-ключ"),
    ("No such page.", "Такой страницы нет."),
    ("Not found", "Не найдено"),
    ("Odnoklassniki", "Одноклассники"),
    (
        "Paste one of your account's API keys. chatsource serve prints one when it starts; the keys page makes more.",
        "Вставьте один из API-ключей аккаунта. chatsource serve печатает ключ при запуске; на странице ключей можно создать ещё.",
    ),
    (
        "Pick one from the list: the one given no longer exists.",
        "Выберите из списка: указанной записи больше нет.",
    ),
    (
        "Please try again in a minute; if it keeps failing, tell your administrator.",
        "Попробуйте ещё раз через минуту; если не получится, сообщите администратору.",
    ),
    ("Quarantined", "В карантине"),
    ("Raw data", "Сырые данные"),
    ("Reports", "Отчёты"),
    ("Revoke", "Отозвать"),
    (
        "Revoke this key? Whatever uses it, and every console signed in with it, stops at once.",
        "Отозвать ключ? Всё, что им пользуется, и все входы в консоль с ним сразу перестанут работать.",
    ),
    ("Revoked", "Отозван"),
    ("Save", "Сохранить"),
    ("Sections", "Разделы"),
    ("Service", "Сервис"),
    ("Sign in", "Войти"),
    ("Sign out", "Выйти"),
    ("Site", "Сайт"),
    ("Skip to content", "К содержимому"),
    (
        "Something failed on our side",
        "Что-то сломалось на нашей стороне",
    ),
    ("Source", "Источник"),
    ("Status", "Статус"),
    (
        "That key opens no account, or it was revoked.",
        "Этот ключ не открывает ни одного аккаунта или отозван.",
    ),
    (
        "The form was old or not sent from this console. Reload the page and send it again.",
        "Форма устарела или отправлена не из этой консоли. Обновите страницу и отправьте её снова.",
    ),
    (
        "There is no such record: it may have been deleted.",
        "Такой записи нет: возможно, её удалили.",
    ),
    (
        "This address points inside a private network; give the provider's public address.",
        "Этот адрес ведёт во внутреннюю сеть; укажите публичный адрес провайдера.",
    ),
    ("This did not work", "Не получилось"),
    (
        "This is the last live key: create another one before revoking it.",
        "Это последний действующий ключ: создайте другой, прежде чем отзывать его.",
    ),
    ("This is too long.", "Слишком длинно."),
    ("VK", "ВКонтакте"),
    ("Website", "Сайт"),
    (
        "What it is for, e.g. CRM sync",
        "Для чего он, например «синхронизация с CRM»",
    ),
];

/// Every channel a person picks from (the site first); a channel not listed still shows, as
/// its token.
pub const CHANNELS: [&str; 11] = [
    "site",
    "telegram",
    "whatsapp",
    "vk",
    "viber",
    "instagram",
    "facebook",
    "ok",
    "avito",
    "max",
    "imessage",
];

/// The messenger channels: every channel but the site (what a messenger mapping may name).
pub const MESSENGERS: &[&str] = CHANNELS.split_first().expect("the site, then messengers").1;

/// A channel token in words.
pub fn channel_name(lang: Lang, token: &str) -> String {
    match token {
        "site" => lang.t("Website"),
        "telegram" => "Telegram",
        "whatsapp" => "WhatsApp",
        "vk" => lang.t("VK"),
        "viber" => "Viber",
        "instagram" => "Instagram",
        "facebook" => "Facebook",
        "ok" => lang.t("Odnoklassniki"),
        "avito" => lang.t("Avito"),
        "max" => "MAX",
        "imessage" => "iMessage",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_sorted_so_lookups_find_every_text() {
        for table in TABLES {
            let mut sorted = table.to_vec();
            sorted.sort_by_key(|(en, _)| *en);
            sorted.dedup_by_key(|(en, _)| *en);
            assert_eq!(
                &sorted, table,
                "keep each RU sorted by its English text, each once"
            );
            for (en, ru) in *table {
                let tables = TABLES.iter().filter(|t| t.iter().any(|(e, _)| e == en));
                assert_eq!(
                    tables.count(),
                    1,
                    "{en} is in two tables: shared words belong in i18n::RU"
                );
                assert_eq!(russian(en), Some(*ru));
            }
        }
    }

    #[test]
    fn every_text_the_pages_use_has_its_russian() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the console's sources") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("source");
            let mut rest = text.as_str();
            while let Some(at) = rest.find(".t(\"") {
                rest = &rest[at + 4..];
                let end = rest.find('"').expect("a closing quote");
                let phrase = &rest[..end];
                if russian(phrase).is_none() {
                    missing.push(format!("{}: {phrase}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "without Russian: {missing:#?}");
    }
}
