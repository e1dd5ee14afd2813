//! The Integrations section: the list with each integration's health, a provider to pick for a
//! new one, and one settings form per provider (defaults and messenger mapping picked by name,
//! the provider's own block, connecting a CRM, the URLs and script to paste with the steps that
//! go with them, health), every change made through the management API's own routes.

use super::i18n;
use super::layout::{self, Section};
use super::widgets::{self, Text};
use super::{Ctx, Failure, Form, Lang, api, failed_page, not_found, redirect, when};
use http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use shared::domain::appeal::Provider;
use shared::domain::integration::{Bitrix24Settings, TrafficType, VerboxSettings};
use shared::edge::web::{self, HttpResponse};
use std::collections::{BTreeMap, BTreeSet};

/// English -> Russian for this page, sorted by the English text.
#[rustfmt::skip]
pub static RU: &[(&str, &str)] = &[
    ("(deal created). Save its application token here.", "(создание сделки). Сохраните здесь его токен приложения."),
    ("(lead created) or, if your open lines create deals,", "(создание лида) или, если открытые линии создают сделки,"),
    ("A campaign", "Кампания"),
    ("A chat from a messenger, without a visit or tags, goes to the campaign of its channel, or to a source and a site.", "Чат из мессенджера без визита и меток относится к кампании своего канала или к источнику и сайту."),
    ("A chat that brings no visit recorded by the site script and no UTM tags, from a messenger not in the table below, goes here.", "Сюда относится чат без визита, записанного скриптом сайта, и без UTM-меток, если его мессенджера нет в таблице ниже."),
    ("A field just made is not listed? Read the list again.", "Нет только что созданного поля? Прочитать список заново."),
    ("A new secret is set: the old URLs no longer work. Paste the new URL into the service.", "Задан новый секрет: старые адреса больше не работают. Вставьте новый адрес в настройки сервиса."),
    ("A private integration? Connect with its long-lived token instead", "Приватная интеграция? Подключите её долгосрочным токеном"),
    ("A source and a site", "Источник и сайт"),
    ("Account address", "Адрес аккаунта"),
    ("Active: receive its webhooks", "Активна: принимать вебхуки"),
    ("Add a channel", "Добавить канал"),
    ("Add a widget", "Добавить виджет"),
    ("Add each messenger channel's widget id to the Jivo channels table below.", "Добавьте ID виджета каждого канала-мессенджера в таблицу «Каналы Jivo» ниже."),
    ("Advanced", "Дополнительно"),
    ("Application ID (client_id)", "Код приложения (client_id)"),
    ("Application key (client_secret)", "Ключ приложения (client_secret)"),
    ("Application token of the outbound webhook", "Токен приложения исходящего вебхука"),
    ("Back to integrations", "К списку интеграций"),
    ("Bitrix24", "Битрикс24"),
    ("Bitrix24 portal", "Портал Битрикс24"),
    ("Both are shown by the local application in Bitrix24.", "Оба значения показаны в карточке локального приложения в Битрикс24."),
    ("Chats (talks) of amoCRM or Kommo; their details are read through its API.", "Чаты (беседы) amoCRM или Kommo; подробности читаются через API."),
    ("Chats from the site widget and the messengers connected to Jivo.", "Чаты из виджета на сайте и мессенджеров, подключённых к Jivo."),
    ("Chats without a visit or tags", "Чаты без визита и меток"),
    ("Choose…", "Выберите…"),
    ("Connect", "Подключить"),
    ("Connect again", "Подключить заново"),
    ("Connect first: the field is picked from the CRM's own list.", "Сначала подключите интеграцию: поле выбирается из списка полей самой CRM."),
    ("Connect opens amoCRM's consent page: allow access as the account's administrator, and amoCRM brings you back here.", "«Подключить» откроет страницу доступа amoCRM: разрешите доступ как администратор аккаунта, и amoCRM вернёт вас сюда."),
    ("Connect opens the portal's consent page: allow access as the portal's administrator, and Bitrix24 brings you back here.", "«Подключить» откроет страницу доступа портала: разрешите доступ как администратор портала, и Битрикс24 вернёт вас сюда."),
    ("Connected", "Подключена"),
    ("Connected: chats now get their contacts and sessions from the CRM.", "Подключено: теперь контакты и сессии чатов берутся из CRM."),
    ("Connection", "Подключение"),
    ("Contact fields", "Поля контакта"),
    ("Create a REST API token there too and save it below: dialogs that arrive without messages get their transcript.", "Там же создайте токен REST API и сохраните его ниже: диалоги, пришедшие без сообщений, получат переписку."),
    ("Create the integration", "Создать интеграцию"),
    ("Deals", "Сделки"),
    ("Default employee", "Сотрудник по умолчанию"),
    ("Delete the integration", "Удалить интеграцию"),
    ("Delete this integration? Its URLs stop working; the appeals it made stay.", "Удалить интеграцию? Её адреса перестанут работать; созданные ею обращения останутся."),
    ("Each chat service or CRM you use gets an integration: it gives you the URL to paste there and decides where its chats go.", "Для каждого чат-сервиса или CRM создаётся своя интеграция: она даёт адрес, который нужно вставить в сервис, и решает, к чему относить его чаты."),
    ("Events arrive and make appeals, but some could not be handled: see the last error and the quarantined bodies.", "События приходят и становятся обращениями, но некоторые обработать не удалось: посмотрите последнюю ошибку и тела в карантине."),
    ("Events arrive, but none has made an appeal yet.", "События приходят, но обращений из них пока нет."),
    ("Every event carries it; events without it are refused.", "Он есть в каждом событии; события без него отклоняются."),
    ("Finished dialogs and offline questions from Verbox, Talk-Me or Me-Talk.", "Завершённые диалоги и офлайн-вопросы из Verbox, Talk-Me или Me-Talk."),
    ("Forward URLs", "Адреса пересылки"),
    ("From Integration and API → REST API in Verbox. With it, a dialog that arrives without its messages gets its transcript.", "В Verbox: «Интеграция и API» → REST API. С ним диалог, пришедший без сообщений, получит переписку."),
    ("From the integration's Keys and access tab in amoCRM.", "На вкладке «Ключи и доступы» интеграции в amoCRM."),
    ("General", "Основное"),
    ("Give both the widget id and its channel.", "Укажите и ID виджета, и его канал."),
    ("Handler path for the local application", "Путь обработчика для локального приложения"),
    ("Health", "Состояние"),
    ("In Bitrix24, make a local application (Developer resources → Other → Local application): server-side, with the crm, imopenlines, im and contact_center scopes, and the handler path below. Save its ID and key here.", "В Битрикс24 создайте локальное приложение («Разработчикам» → «Другое» → «Локальное приложение»): серверное, с правами crm, imopenlines, im и contact_center и путём обработчика, указанным ниже. Сохраните здесь его код и ключ."),
    ("In Jivo, open the settings of each channel (the site widget and every messenger) → Integration settings for developers → Webhooks, and paste the webhook URL.", "В Jivo откройте настройки каждого канала связи (виджета на сайте и каждого мессенджера) → «Интеграция для разработчиков» → Webhooks и вставьте адрес вебхука."),
    ("In Verbox, open Integration and API and paste the URL for finished dialogs as the webhook of finished dialogs; with offline requests on, the second URL as the webhook of offline questions.", "В Verbox откройте «Интеграция и API» и вставьте адрес для завершённых диалогов как вебхук завершённых диалогов; если офлайн-заявки включены — второй адрес как вебхук офлайн-вопросов."),
    ("In amoCRM, create an integration (Settings → Integrations → Create integration) with the redirect URI below, and save its ID and secret key here.", "В amoCRM создайте интеграцию («Настройки» → «Интеграции» → «Создать интеграцию») со ссылкой для перенаправления, указанной ниже, и сохраните здесь её ID и секретный ключ."),
    ("In amoCRM, subscribe the URL for events to these web hooks (Settings → Integrations → Web hooks):", "В amoCRM подпишите адрес для событий на эти вебхуки («Настройки» → «Интеграции» → «Web hooks»):"),
    ("Install", "Установка"),
    ("Integration ID (client_id)", "ID интеграции (client_id)"),
    ("It works once the form is saved with offline requests on.", "Адрес заработает, когда форма будет сохранена с включёнными офлайн-заявками."),
    ("Jivo channels", "Каналы Jivo"),
    ("Jivo has one webhook URL per channel. To keep a bot platform (Metabot24 and the like) on the same channel, paste its webhook URL here, one per line, and ours into Jivo: every body Jivo sends is relayed to it as it came, retried if it fails. What the bot platform answers does not reach Jivo.", "В Jivo у канала один адрес вебхука. Чтобы бот-платформа (Metabot24 и подобные) работала на том же канале, вставьте сюда её адрес вебхука, по одному в строке, а в Jivo — наш: каждое тело, которое присылает Jivo, пересылается ей как есть, с повторами при сбое. Ответ бот-платформы в Jivo не передаётся."),
    ("Jivo sends every chat with the id of its channel (widget_id). Name the messenger of each messenger channel's id, so its chats are told from the site widget's; ids not listed are the site widget. The raw data page shows the ids that came.", "Jivo присылает каждый чат с ID его канала (widget_id). Укажите мессенджер для ID каждого канала-мессенджера, чтобы его чаты отличались от чатов виджета на сайте; ID не из списка считаются виджетом на сайте. Пришедшие ID видны на странице «Сырые данные»."),
    ("Jobs waiting for it", "Ждущих задач"),
    ("Last appeal", "Последнее обращение"),
    ("Last appeal made", "Последнее созданное обращение"),
    ("Last error", "Последняя ошибка"),
    ("Last event", "Последнее событие"),
    ("Last event received", "Последнее полученное событие"),
    ("Lead fields", "Поля сделки"),
    ("Leads", "Лиды"),
    ("Leads checked up to", "Лиды проверены по"),
    ("Leads whose events were lost are found by the hourly reconciliation; Reconcile now runs it at once.", "Лиды, события о которых потерялись, находит ежечасная сверка; кнопка «Сверить сейчас» запускает её сразу."),
    ("Long-lived token", "Долгосрочный токен"),
    ("Make a new secret", "Сменить секрет"),
    ("Make a new secret? The current URLs stop working at once.", "Сменить секрет? Текущие адреса сразу перестанут работать."),
    ("Make an outbound webhook (Developer resources → Other → Outbound webhook) with the URL for events, on the event", "Создайте исходящий вебхук («Разработчикам» → «Другое» → «Исходящий вебхук») с адресом для событий на событие"),
    ("Needs connecting again", "Нужно подключить заново"),
    ("New integration", "Новая интеграция"),
    ("No events yet. Paste the URL below into the service; the first chat shows here.", "Событий пока нет. Вставьте адрес ниже в настройки сервиса — первый чат появится здесь."),
    ("No integrations yet.", "Интеграций пока нет."),
    ("No site yet. To get its script, add the site in", "Сайтов пока нет. Чтобы получить скрипт, добавьте сайт в разделе"),
    ("Nobody", "Не выбран"),
    ("None", "Нет"),
    ("None yet", "Пока нет"),
    ("Not connected", "Не подключена"),
    ("Not saved yet: type it again.", "Не сохранено: введите ещё раз."),
    ("Not stored", "Не задан"),
    ("Now:", "Сейчас:"),
    ("OAuth server", "OAuth-сервер"),
    ("Off", "Выключена"),
    ("Offline requests: a second URL receives the questions left in the offline form", "Офлайн-заявки: второй адрес принимает вопросы из офлайн-формы"),
    ("On", "Включена"),
    ("Once saved, this page shows the URL to paste into the service and the steps to take there.", "После сохранения здесь появятся адрес для вставки в сервис и шаги настройки."),
    ("Open lines create", "Открытые линии создают"),
    ("Open-line chats that create leads or deals in Bitrix24.", "Чаты открытых линий, создающие лиды или сделки в Битрикс24."),
    ("Pick a field from the list.", "Выберите поле из списка."),
    ("Pick the channel of this row.", "Выберите канал в этой строке."),
    ("Pick the service the chats come from.", "Выберите сервис, из которого приходят чаты."),
    ("Pick the session field below: the site script puts the visit's id in it.", "Выберите ниже поле сессии: скрипт сайта запишет в него ID визита."),
    ("Portal address", "Адрес портала"),
    ("Press Connect and allow access as an administrator of the account.", "Нажмите «Подключить» и разрешите доступ как администратор аккаунта."),
    ("Press Connect and allow access as an administrator of the portal.", "Нажмите «Подключить» и разрешите доступ как администратор портала."),
    ("Put the site script on every page of the site, after the main code: it hands the visit to the chat, so the chat is attributed to its ad.", "Поставьте скрипт на все страницы сайта после основного кода: он передаёт визит в чат, и чат относится к своей рекламе."),
    ("REST API address", "Адрес REST API"),
    ("REST API token", "Токен REST API"),
    ("Reconcile now", "Сверить сейчас"),
    ("Reconciliation is queued: leads that never reached chatsource become appeals within minutes.", "Сверка поставлена в очередь: лиды, которые не дошли до chatsource, станут обращениями в течение нескольких минут."),
    ("Redirect URI for the integration in amoCRM", "Ссылка для перенаправления (для интеграции в amoCRM)"),
    ("Remove", "Убрать"),
    ("Remove this row", "Убрать строку"),
    ("Save and connect first: the field is picked from the CRM's own list.", "Сначала сохраните и подключите интеграцию: поле выбирается из списка полей самой CRM."),
    ("Save the application's ID and secret first, then connect.", "Сначала сохраните ID и секрет приложения, затем подключайте."),
    ("Saved, it connects at once; Connect is then not needed.", "После сохранения интеграция подключится сразу, кнопка «Подключить» не понадобится."),
    ("Saved.", "Сохранено."),
    ("Saved: leave empty to keep it", "Сохранён: оставьте пустым, чтобы не менять"),
    ("Script for", "Скрипт для"),
    ("Secret and removal", "Секрет и удаление"),
    ("Secret key (client_secret)", "Секретный ключ (client_secret)"),
    ("See them in raw data", "Посмотреть в сырых данных"),
    ("Session field", "Поле сессии"),
    ("Set up", "Настроить"),
    ("Since", "Начиная с"),
    ("State", "Статус"),
    ("Steps", "Что сделать"),
    ("Stored", "Сохранён"),
    ("Talk-Me and Me-Talk have their own address; Verbox's is the default.", "У Talk-Me и Me-Talk свой адрес; по умолчанию указан адрес Verbox."),
    ("The address of the account: on amocrm.ru, kommo.com, or its own domain.", "Адрес аккаунта: на amocrm.ru, kommo.com или собственном домене."),
    ("The default employee gets the chats whose operator matches no employee. Switched off, the integration's URLs refuse every delivery.", "Сотруднику по умолчанию достаются чаты, оператор которых не совпал ни с одним сотрудником. Выключенная интеграция отклоняет все входящие вебхуки."),
    ("The integration is created. Now paste its URL into the service, as the steps below say.", "Интеграция создана. Теперь вставьте её адрес в сервис, как описано в шагах ниже."),
    ("The integration is deleted.", "Интеграция удалена."),
    ("The lead or contact field the site script fills with the visit's id, through amoCRM's chat button.", "Поле сделки или контакта, в которое скрипт сайта записывает ID визита через кнопку чата amoCRM."),
    ("The lead's (or deal's) field the site fills with the visit's id.", "Поле лида (или сделки), в которое сайт записывает ID визита."),
    ("The portal's address, or its own domain.", "Адрес портала или его собственный домен."),
    ("The secret is the last part of the integration's URLs. A new one stops the old URLs at once: paste the new ones into the service.", "Секрет — последняя часть адресов интеграции. После смены старые адреса сразу перестают работать: вставьте новые в сервис."),
    ("They go to", "Куда относить"),
    ("This channel is in the table twice.", "Этот канал указан в таблице дважды."),
    ("This widget is in the table twice.", "Этот виджет указан в таблице дважды."),
    ("URL for events", "Адрес для событий"),
    ("URL for finished dialogs", "Адрес для завершённых диалогов"),
    ("URL for offline questions", "Адрес для офлайн-вопросов"),
    ("Webhook URL for Jivo", "Адрес вебхука для Jivo"),
    ("Webhooks need Jivo's Pro plan.", "Для вебхуков нужен тариф Pro в Jivo."),
    ("Where messenger chats go", "Куда относить чаты из мессенджеров"),
    ("Why", "Причина"),
    ("Widget id", "ID виджета"),
    ("Working: events arrive and make appeals.", "Работает: события приходят и становятся обращениями."),
    ("amoCRM account", "Аккаунт amoCRM"),
    ("e.g. Chats of the shop's site", "например, «Чаты сайта магазина»"),
    ("not in the list any more", "больше нет в списке"),
    ("or source", "или источник"),
];

/// `GET /integrations/...`: `rest` is the path after `/integrations`.
pub async fn get(ctx: &Ctx<'_>, rest: &[&str]) -> HttpResponse {
    match rest {
        [] => list(ctx).await,
        ["new"] => pick(ctx),
        ["new", provider] => match Provider::parse(provider) {
            Some(p) => form_page(ctx, p, None, &Draft::blank(p), None).await,
            None => not_found(ctx.lang),
        },
        [id] if plain_id(id) => edit(ctx, id, None).await,
        _ => not_found(ctx.lang),
    }
}

/// `POST /integrations/...`, the form's CSRF token already checked.
pub async fn post(ctx: &Ctx<'_>, rest: &[&str], form: &Form) -> HttpResponse {
    match rest {
        ["new", provider] => match Provider::parse(provider) {
            Some(p) => create(ctx, p, form).await,
            None => not_found(ctx.lang),
        },
        [id, rest @ ..] if plain_id(id) => match rest {
            [] => save(ctx, id, form).await,
            ["connect"] => connect(ctx, id).await,
            ["rotate-secret"] => act(ctx, id, "rotate-secret", "rotated").await,
            ["reconcile"] => act(ctx, id, "reconcile", "reconciling").await,
            ["delete"] => delete(ctx, id).await,
            _ => not_found(ctx.lang),
        },
        _ => not_found(ctx.lang),
    }
}

/// An id as the API makes them; anything else (a `?` say) never reaches an API path.
fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---------------------------------------------------------------------------------------
// The list and the provider choice
// ---------------------------------------------------------------------------------------

async fn list(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let all = match api::call(ctx, Method::GET, "/api/integrations", None).await {
        Ok(all) => all,
        Err(e) => return failed_page(lang, &e),
    };
    let items = all["items"].as_array().cloned().unwrap_or_default();
    let content = html! {
        @if done(ctx) == Some("deleted") {
            p.notice.good role="status" { (lang.t("The integration is deleted.")) }
        }
        p.hint { (lang.t("Each chat service or CRM you use gets an integration: it gives you the URL to paste there and decides where its chats go.")) }
        div.actions { a.button href="/integrations/new" { (lang.t("New integration")) } }
        @if items.is_empty() {
            div.card { p { (lang.t("No integrations yet.")) } }
        } @else {
            table.stack {
                thead { tr {
                    th { (lang.t("Name")) } th { (lang.t("Service")) } th { (lang.t("State")) }
                    th { (lang.t("Last event")) } th { (lang.t("Last appeal")) }
                    th { (lang.t("Last error")) } th { (lang.t("Quarantined")) }
                } }
                tbody {
                    @for item in &items { (list_row(lang, item)) }
                }
            }
        }
    };
    layout::page(ctx, Section::Integrations, lang.t("Integrations"), content)
}

fn list_row(lang: Lang, item: &Value) -> Markup {
    let id = item["id"].as_str().unwrap_or_default();
    let health = &item["health"];
    html! {
        tr {
            td data-label=(lang.t("Name")) {
                a href={ "/integrations/" (id) } { (item["name"].as_str().unwrap_or(id)) }
            }
            td data-label=(lang.t("Service")) { (provider_title(lang, provider_of(item))) }
            td data-label=(lang.t("State")) { (state_badges(lang, item)) }
            td data-label=(lang.t("Last event")) { (moment(lang, &health["last_event_at"])) }
            td data-label=(lang.t("Last appeal")) { (moment(lang, &health["last_appeal_at"])) }
            td data-label=(lang.t("Last error")) {
                @if health["last_error"].is_object() {
                    (moment(lang, &health["last_error"]["at"]))
                    br;
                    span.muted lang="en" { (cut(health["last_error"]["reason"].as_str().unwrap_or_default(), 120)) }
                } @else {
                    span.muted { (lang.t("None")) }
                }
            }
            td.num data-label=(lang.t("Quarantined")) { (quarantined(health)) }
        }
    }
}

/// `GET /integrations/new`: which service the new integration is for.
fn pick(ctx: &Ctx<'_>) -> HttpResponse {
    let lang = ctx.lang;
    let choices = [
        (
            Provider::Jivo,
            lang.t("Chats from the site widget and the messengers connected to Jivo."),
        ),
        (
            Provider::Verbox,
            lang.t("Finished dialogs and offline questions from Verbox, Talk-Me or Me-Talk."),
        ),
        (
            Provider::Amocrm,
            lang.t("Chats (talks) of amoCRM or Kommo; their details are read through its API."),
        ),
        (
            Provider::Bitrix24,
            lang.t("Open-line chats that create leads or deals in Bitrix24."),
        ),
    ];
    let content = html! {
        p.hint { (lang.t("Pick the service the chats come from.")) }
        div.grid {
            @for (provider, what) in choices {
                div.card {
                    h2 { (provider_title(lang, provider)) }
                    p { (what) }
                    a.button href={ "/integrations/new/" (provider.as_str()) }
                        aria-label={ (lang.t("Set up")) " " (provider_title(lang, provider)) } {
                        (lang.t("Set up"))
                    }
                }
            }
        }
    };
    layout::page(
        ctx,
        Section::Integrations,
        lang.t("New integration"),
        content,
    )
}

// ---------------------------------------------------------------------------------------
// The form: what it holds, read from the API's view or from a post, and written back
// ---------------------------------------------------------------------------------------

/// Fields of each provider's block the form shows as they are, by their API names.
fn plain_fields(p: Provider) -> &'static [&'static str] {
    match p {
        Provider::Jivo => &[],
        Provider::Verbox => &["verbox.rest_url"],
        Provider::Amocrm => &[
            "amocrm.base_url",
            "amocrm.client_id",
            "amocrm.session_field_id",
        ],
        Provider::Bitrix24 => &[
            "bitrix24.portal_url",
            "bitrix24.client_id",
            "bitrix24.entity",
            "bitrix24.session_field",
            "bitrix24.oauth_url",
        ],
    }
}

/// Write-only fields: the API says only whether they are set; an empty field keeps them.
fn secret_fields(p: Provider) -> &'static [&'static str] {
    match p {
        Provider::Jivo => &[],
        Provider::Verbox => &["verbox.rest_token"],
        Provider::Amocrm => &["amocrm.client_secret", "amocrm.long_lived_token"],
        Provider::Bitrix24 => &["bitrix24.client_secret", "bitrix24.application_token"],
    }
}

/// The input keys the form owns; what else the view has (URLs, health...) it leaves alone.
const OWNED: [&str; 9] = [
    "provider",
    "name",
    "active",
    "default_employee_id",
    "traffic_type",
    "default_campaign_id",
    "default_source_id",
    "default_site_id",
    "messenger_mapping",
];

/// One row of the messenger mapping: a channel and where its chats go.
#[derive(Default, Clone)]
struct Target {
    channel: String,
    campaign: String,
    source: String,
    site: String,
}

/// What the form shows: the saved integration, or what was just typed (secrets aside).
struct Draft {
    provider: Provider,
    name: String,
    active: bool,
    employee: String,
    traffic: String,
    campaign: String,
    source: String,
    site: String,
    mapping: Vec<Target>,
    /// Jivo: widget id -> channel.
    widgets: Vec<(String, String)>,
    /// Forward URLs, one a line.
    forwards: String,
    offline: bool,
    plain: BTreeMap<&'static str, String>,
    /// Secrets stored (as the API says: set).
    stored: BTreeSet<&'static str>,
    /// Secrets typed in this post: sent, never shown again.
    typed: BTreeMap<&'static str, String>,
}

impl Draft {
    fn blank(provider: Provider) -> Draft {
        let mut plain = BTreeMap::new();
        for name in plain_fields(provider) {
            let value = match *name {
                "verbox.rest_url" => VerboxSettings::DEFAULT_REST_URL,
                "bitrix24.oauth_url" => Bitrix24Settings::DEFAULT_OAUTH_URL,
                "bitrix24.entity" => "lead",
                _ => "",
            };
            plain.insert(*name, value.to_owned());
        }
        Draft {
            provider,
            name: String::new(),
            active: true,
            employee: String::new(),
            traffic: match TrafficType::default_for(provider) {
                TrafficType::Source => "source",
                TrafficType::Campaign => "campaign",
            }
            .into(),
            campaign: String::new(),
            source: String::new(),
            site: String::new(),
            mapping: Vec::new(),
            widgets: Vec::new(),
            forwards: String::new(),
            offline: false,
            plain,
            stored: BTreeSet::new(),
            typed: BTreeMap::new(),
        }
    }

    /// The integration as saved (`GET /api/integrations/{id}`).
    fn of_view(provider: Provider, view: &Value) -> Draft {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let mapping = view["messenger_mapping"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(channel, t)| Target {
                channel: channel.clone(),
                campaign: text(&t["campaign_id"]),
                source: text(&t["source_id"]),
                site: text(&t["site_id"]),
            })
            .collect();
        let widgets = view["jivo"]["channels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(widget, channel)| (widget.clone(), text(channel)))
            .collect();
        Draft {
            provider,
            name: text(&view["name"]),
            active: view["active"].as_bool().unwrap_or(true),
            employee: text(&view["default_employee_id"]),
            traffic: text(&view["traffic_type"]),
            campaign: text(&view["default_campaign_id"]),
            source: text(&view["default_source_id"]),
            site: text(&view["default_site_id"]),
            mapping,
            widgets,
            forwards: view["forward_urls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect::<Vec<_>>()
                .join("\n"),
            offline: view["verbox"]["offline_requests"]
                .as_bool()
                .unwrap_or(false),
            plain: plain_fields(provider)
                .iter()
                .map(|name| (*name, text(at(view, name))))
                .collect(),
            stored: stored_secrets(provider, Some(view)),
            typed: BTreeMap::new(),
        }
    }

    /// What was posted; `saved` is the integration as it stands (none for a new one).
    fn of_form(provider: Provider, form: &Form, saved: Option<&Value>) -> Draft {
        let field = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
        let column = |name: &str| form.all(name);
        let (channels, campaigns, sources, sites) = (
            column("mm_channel"),
            column("mm_campaign"),
            column("mm_source"),
            column("mm_site"),
        );
        let cell = |values: &[&str], i: usize| values.get(i).map_or("", |v| v.trim()).to_owned();
        let mapping = (0..channels.len())
            .map(|i| Target {
                channel: cell(&channels, i),
                campaign: cell(&campaigns, i),
                source: cell(&sources, i),
                site: cell(&sites, i),
            })
            .filter(|t| {
                !(t.channel.is_empty()
                    && t.campaign.is_empty()
                    && t.source.is_empty()
                    && t.site.is_empty())
            })
            .collect();
        let (ids, widget_channels) = (column("jw_widget"), column("jw_channel"));
        let widgets = (0..ids.len())
            .map(|i| (cell(&ids, i), cell(&widget_channels, i)))
            .filter(|(w, c)| !(w.is_empty() && c.is_empty()))
            .collect();
        Draft {
            provider,
            name: form.get("name").unwrap_or_default().to_owned(),
            active: form.get("active").is_some(),
            employee: field("default_employee_id"),
            traffic: match form.get("traffic_type") {
                Some("source") => "source".into(),
                _ => "campaign".into(),
            },
            campaign: field("default_campaign_id"),
            source: field("default_source_id"),
            site: field("default_site_id"),
            mapping,
            widgets,
            forwards: form
                .get("forward_urls")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            offline: form.get("verbox.offline_requests").is_some(),
            plain: plain_fields(provider)
                .iter()
                .map(|name| (*name, field(name)))
                .collect(),
            stored: stored_secrets(provider, saved),
            typed: secret_fields(provider)
                .iter()
                .filter_map(|name| {
                    let value = field(name);
                    (!value.is_empty()).then_some((*name, value))
                })
                .collect(),
        }
    }

    fn plain(&self, name: &str) -> &str {
        self.plain.get(name).map_or("", String::as_str)
    }

    /// The input the API takes, or the first thing wrong with it that the form can tell
    /// itself (said in the user's language, at its field).
    fn input(&self, lang: Lang) -> Result<Value, Failure> {
        let mut doc = Map::new();
        doc.insert("provider".into(), json!(self.provider.as_str()));
        doc.insert("name".into(), json!(self.name.trim()));
        doc.insert("active".into(), json!(self.active));
        doc.insert("traffic_type".into(), json!(self.traffic));
        put(&mut doc, "default_employee_id", &self.employee);
        // Only the default the traffic type uses is kept: the form shows no other.
        if self.traffic == "source" {
            put(&mut doc, "default_source_id", &self.source);
            put(&mut doc, "default_site_id", &self.site);
        } else {
            put(&mut doc, "default_campaign_id", &self.campaign);
        }
        let mut mapping = Map::new();
        for (i, t) in self.mapping.iter().enumerate() {
            if t.channel.is_empty() {
                return Err(local(
                    &format!("mm_row.{i}"),
                    lang.t("Pick the channel of this row."),
                ));
            }
            if mapping.contains_key(&t.channel) {
                return Err(local(
                    &format!("messenger_mapping.{}", t.channel),
                    lang.t("This channel is in the table twice."),
                ));
            }
            let mut target = Map::new();
            put(&mut target, "campaign_id", &t.campaign);
            put(&mut target, "source_id", &t.source);
            put(&mut target, "site_id", &t.site);
            mapping.insert(t.channel.clone(), Value::Object(target));
        }
        doc.insert("messenger_mapping".into(), Value::Object(mapping));
        let block = match self.provider {
            Provider::Jivo => self.jivo_block(lang)?,
            Provider::Verbox => {
                let mut b = Map::new();
                b.insert("offline_requests".into(), json!(self.offline));
                put(&mut b, "rest_url", self.plain("verbox.rest_url"));
                self.secret(&mut b, "verbox.rest_token");
                b
            }
            Provider::Amocrm => {
                let mut b = Map::new();
                b.insert("base_url".into(), json!(self.required("amocrm.base_url")?));
                put(&mut b, "client_id", self.plain("amocrm.client_id"));
                self.secret(&mut b, "amocrm.client_secret");
                self.secret(&mut b, "amocrm.long_lived_token");
                let field = self.plain("amocrm.session_field_id");
                if !field.is_empty() {
                    let id: u64 = field.parse().map_err(|_| {
                        local(
                            "amocrm.session_field_id",
                            lang.t("Pick a field from the list."),
                        )
                    })?;
                    b.insert("session_field_id".into(), json!(id));
                }
                b
            }
            Provider::Bitrix24 => {
                let mut b = Map::new();
                let portal = self.required("bitrix24.portal_url")?;
                b.insert("portal_url".into(), json!(portal));
                put(&mut b, "client_id", self.plain("bitrix24.client_id"));
                self.secret(&mut b, "bitrix24.client_secret");
                self.secret(&mut b, "bitrix24.application_token");
                let entity = match self.plain("bitrix24.entity") {
                    "deal" => "deal",
                    _ => "lead",
                };
                b.insert("entity".into(), json!(entity));
                put(
                    &mut b,
                    "session_field",
                    self.plain("bitrix24.session_field"),
                );
                put(&mut b, "oauth_url", self.plain("bitrix24.oauth_url"));
                b
            }
        };
        doc.insert(self.provider.as_str().into(), Value::Object(block));
        if self.provider == Provider::Jivo
            && let Some(urls) = self.forward_urls()
        {
            doc.insert("forward_urls".into(), urls);
        }
        Ok(Value::Object(doc))
    }

    fn jivo_block(&self, lang: Lang) -> Result<Map<String, Value>, Failure> {
        let mut channels = Map::new();
        for (i, (widget, channel)) in self.widgets.iter().enumerate() {
            let at = format!("jw_row.{i}");
            if widget.is_empty() || channel.is_empty() {
                return Err(local(
                    &at,
                    lang.t("Give both the widget id and its channel."),
                ));
            }
            if channels.contains_key(widget) {
                return Err(local(&at, lang.t("This widget is in the table twice.")));
            }
            channels.insert(widget.clone(), json!(channel));
        }
        let mut block = Map::new();
        block.insert("channels".into(), Value::Object(channels));
        Ok(block)
    }

    /// The forward URLs typed, one a line (none: the key is left out, so a patch removes them).
    fn forward_urls(&self) -> Option<Value> {
        let urls: Vec<&str> = self
            .forwards
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        (!urls.is_empty()).then(|| json!(urls))
    }

    fn required(&self, name: &str) -> Result<String, Failure> {
        let value = self.plain(name);
        if value.is_empty() {
            return Err(Failure {
                status: 400,
                code: "required".into(),
                message: String::new(),
                field: Some(name.into()),
            });
        }
        Ok(value.to_owned())
    }

    /// A write-only field: what was typed, else "set" to keep the stored one.
    fn secret(&self, block: &mut Map<String, Value>, name: &'static str) {
        let key = name.split_once('.').map_or(name, |(_, k)| k);
        if let Some(typed) = self.typed.get(name) {
            block.insert(key.into(), json!(typed));
        } else if self.stored.contains(name) {
            block.insert(key.into(), json!("set"));
        }
    }
}

fn stored_secrets(provider: Provider, view: Option<&Value>) -> BTreeSet<&'static str> {
    let Some(view) = view else {
        return BTreeSet::new();
    };
    secret_fields(provider)
        .iter()
        .copied()
        .filter(|name| at(view, name) == "set")
        .collect()
}

/// `block.key` of a view.
fn at<'v>(view: &'v Value, name: &str) -> &'v Value {
    match name.split_once('.') {
        Some((block, key)) => &view[block][key],
        None => &view[name],
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.into(), json!(value));
    }
}

/// Something that went wrong not at one field, already in the user's language.
fn problem(message: &str) -> Failure {
    Failure {
        status: 400,
        code: "form".into(),
        message: message.into(),
        field: None,
    }
}

/// A mistake the form finds itself, already in the user's language.
fn local(field: &str, message: &str) -> Failure {
    Failure {
        status: 400,
        code: "form".into(),
        message: message.into(),
        field: Some(field.into()),
    }
}

/// The JSON merge patch that turns `saved` into `wanted`: changed keys, and `null` for what
/// is gone (a mapping row removed, a default no longer used).
fn patch(saved: &Value, wanted: &Value) -> Value {
    match (saved, wanted) {
        (Value::Object(s), Value::Object(w)) => {
            let mut out = Map::new();
            for (key, value) in w {
                match s.get(key) {
                    Some(before) if before == value => {}
                    Some(before) if !before.is_null() => {
                        out.insert(key.clone(), patch(before, value));
                    }
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            for (key, before) in s {
                if !w.contains_key(key) && !before.is_null() {
                    out.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => wanted.clone(),
    }
}

/// The part of a saved integration's view the form owns.
fn owned(view: &Value, provider: Provider) -> Value {
    let mut out = Map::new();
    // The Jivo form lists forward URLs; the other forms leave them as the API set them.
    let forwards = (provider == Provider::Jivo).then_some("forward_urls");
    for key in OWNED
        .iter()
        .copied()
        .chain([provider.as_str()])
        .chain(forwards)
    {
        if let Some(value) = view.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------
// Posts
// ---------------------------------------------------------------------------------------

async fn create(ctx: &Ctx<'_>, provider: Provider, form: &Form) -> HttpResponse {
    let draft = Draft::of_form(provider, form, None);
    let input = match draft.input(ctx.lang) {
        Ok(input) => input,
        Err(f) => return form_page(ctx, provider, None, &draft, Some(&f)).await,
    };
    match api::call(ctx, Method::POST, "/api/integrations", Some(&input)).await {
        Ok(created) => {
            let id = created["id"].as_str().unwrap_or_default();
            redirect(&format!("/integrations/{id}?done=created"))
        }
        Err(f) => form_page(ctx, provider, None, &draft, Some(&f)).await,
    }
}

async fn save(ctx: &Ctx<'_>, id: &str, form: &Form) -> HttpResponse {
    let path = format!("/api/integrations/{id}");
    let saved = match api::call(ctx, Method::GET, &path, None).await {
        Ok(saved) => saved,
        Err(e) => return failed_page(ctx.lang, &e),
    };
    let provider = provider_of(&saved);
    let draft = Draft::of_form(provider, form, Some(&saved));
    let input = match draft.input(ctx.lang) {
        Ok(input) => input,
        Err(f) => return form_page(ctx, provider, Some(&saved), &draft, Some(&f)).await,
    };
    let change = patch(&owned(&saved, provider), &input);
    match api::call(ctx, Method::PATCH, &path, Some(&change)).await {
        Ok(_) => redirect(&format!("/integrations/{id}?done=saved")),
        Err(f) => form_page(ctx, provider, Some(&saved), &draft, Some(&f)).await,
    }
}

/// Connect: off to the CRM's consent page (`303` to its authorize URL); it sends the browser
/// to our OAuth callback, which exchanges the code.
async fn connect(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let lang = ctx.lang;
    let saved = match api::call(ctx, Method::GET, &format!("/api/integrations/{id}"), None).await {
        Ok(saved) => saved,
        Err(e) => return failed_page(lang, &e),
    };
    let provider = provider_of(&saved);
    let block = &saved[provider.as_str()];
    if block["client_id"].as_str().is_none_or(str::is_empty) || block["client_secret"] != "set" {
        let why = problem(lang.t("Save the application's ID and secret first, then connect."));
        return edit(ctx, id, Some(&why)).await;
    }
    let start = format!("/api/integrations/{id}/oauth/start");
    match api::call(ctx, Method::POST, &start, None).await {
        Ok(started) => match started["authorize_url"].as_str() {
            Some(url) => redirect(url),
            None => {
                edit(
                    ctx,
                    id,
                    Some(&problem(lang.t("Something failed on our side"))),
                )
                .await
            }
        },
        Err(f) => edit(ctx, id, Some(&f)).await,
    }
}

/// An action without a form of its own (a new secret, reconciling now): done, and back to the
/// form saying so.
async fn act(ctx: &Ctx<'_>, id: &str, action: &str, done: &str) -> HttpResponse {
    let path = format!("/api/integrations/{id}/{action}");
    match api::call(ctx, Method::POST, &path, None).await {
        Ok(_) => redirect(&format!("/integrations/{id}?done={done}")),
        Err(f) => edit(ctx, id, Some(&f)).await,
    }
}

async fn delete(ctx: &Ctx<'_>, id: &str) -> HttpResponse {
    let path = format!("/api/integrations/{id}");
    match api::call(ctx, Method::DELETE, &path, None).await {
        Ok(_) => redirect("/integrations?done=deleted"),
        Err(f) => edit(ctx, id, Some(&f)).await,
    }
}

// ---------------------------------------------------------------------------------------
// The form page
// ---------------------------------------------------------------------------------------

/// `GET /integrations/{id}`, or the same page saying why an action did not work.
async fn edit(ctx: &Ctx<'_>, id: &str, failure: Option<&Failure>) -> HttpResponse {
    let path = format!("/api/integrations/{id}");
    let saved = match api::call(ctx, Method::GET, &path, None).await {
        Ok(saved) => saved,
        Err(e) => return failed_page(ctx.lang, &e),
    };
    let provider = provider_of(&saved);
    let draft = Draft::of_view(provider, &saved);
    form_page(ctx, provider, Some(&saved), &draft, failure).await
}

/// The directory's records to pick from, by name: (id, name).
struct Lists {
    campaigns: Vec<(String, String)>,
    sources: Vec<(String, String)>,
    sites: Vec<(String, String)>,
    employees: Vec<(String, String)>,
}

async fn lists(ctx: &Ctx<'_>) -> Result<Lists, Failure> {
    async fn names(ctx: &Ctx<'_>, path: &str) -> Result<Vec<(String, String)>, Failure> {
        let all = api::call(ctx, Method::GET, path, None).await?;
        let mut out: Vec<(String, String)> = all["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                let name = item["name"].as_str().unwrap_or(&id).to_owned();
                match item["domain"].as_str() {
                    Some(domain) => (id, format!("{name} ({domain})")),
                    None => (id, name),
                }
            })
            .collect();
        out.sort_by_key(|(_, name)| name.to_lowercase());
        Ok(out)
    }
    Ok(Lists {
        campaigns: names(ctx, "/api/campaigns").await?,
        sources: names(ctx, "/api/sources").await?,
        sites: names(ctx, "/api/sites").await?,
        employees: names(ctx, "/api/employees").await?,
    })
}

/// The CRM's own fields, to pick the session field from.
enum Choices {
    /// A new integration: nothing to ask yet.
    NotSaved,
    NotConnected,
    Failed(String),
    /// (value, what people read, group).
    Listed(Vec<(String, String, &'static str)>),
}

async fn crm_fields(ctx: &Ctx<'_>, provider: Provider, saved: Option<&Value>) -> Choices {
    let Some(saved) = saved else {
        return Choices::NotSaved;
    };
    if saved["connection"]["status"] != "connected" {
        return Choices::NotConnected;
    }
    let lang = ctx.lang;
    let id = saved["id"].as_str().unwrap_or_default();
    // The API keeps the list a few minutes; "read again" asks the CRM now (a field just made).
    let fresh = web::query_param(ctx.query, "fields").is_some_and(|f| f == "fresh");
    let path = format!(
        "/api/integrations/{id}/{}/fields{}",
        provider.as_str(),
        if fresh { "?fresh=true" } else { "" }
    );
    let fields = match api::call(ctx, Method::GET, &path, None).await {
        Ok(fields) => fields,
        Err(f) => return Choices::Failed(f.say(lang)),
    };
    let items = fields["items"].as_array().cloned().unwrap_or_default();
    let listed = items
        .iter()
        .filter_map(|f| match provider {
            Provider::Amocrm => {
                let id = f["id"].as_u64()?;
                let group = match f["entity"].as_str() {
                    Some("contact") => lang.t("Contact fields"),
                    _ => lang.t("Lead fields"),
                };
                Some((
                    id.to_string(),
                    f["name"].as_str().unwrap_or_default().to_owned(),
                    group,
                ))
            }
            _ => {
                let code = f["code"].as_str()?.to_owned();
                let name = f["name"].as_str().unwrap_or(&code);
                let label = if name == code {
                    code.clone()
                } else {
                    format!("{name} ({code})")
                };
                Some((code, label, ""))
            }
        })
        .collect();
    Choices::Listed(listed)
}

async fn form_page(
    ctx: &Ctx<'_>,
    provider: Provider,
    saved: Option<&Value>,
    draft: &Draft,
    failure: Option<&Failure>,
) -> HttpResponse {
    let lang = ctx.lang;
    let lists = match lists(ctx).await {
        Ok(lists) => lists,
        Err(e) => return failed_page(lang, &e),
    };
    let choices = match provider {
        Provider::Amocrm | Provider::Bitrix24 => crm_fields(ctx, provider, saved).await,
        _ => Choices::NotSaved,
    };
    let id = saved.and_then(|s| s["id"].as_str()).unwrap_or_default();
    let action = match saved {
        Some(_) => format!("/integrations/{id}"),
        None => format!("/integrations/new/{}", provider.as_str()),
    };
    let redirect_uri = saved
        .and_then(|s| s["oauth_redirect_uri"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let base = web::base_url(ctx.headers, ctx.app.public_url.as_deref());
            format!("{base}/oauth/{}/callback", provider.as_str())
        });
    let content = html! {
        (notice(ctx, provider))
        @if let Some(f) = failure.filter(|f| !at_a_field(f)) {
            p.notice.bad role="alert" { (f.say(lang)) }
        }
        @if let Some(saved) = saved {
            (health_card(lang, saved))
            @if matches!(provider, Provider::Amocrm | Provider::Bitrix24) {
                (connection_card(ctx, provider, saved))
            }
            (install_card(lang, provider, saved, draft))
        } @else {
            p.hint { (lang.t("Once saved, this page shows the URL to paste into the service and the steps to take there.")) }
        }
        form method="post" action=(action) novalidate {
            (widgets::csrf(ctx))
            (general(lang, draft, &lists, failure))
            (provider_block(lang, draft, &choices, &redirect_uri, failure))
            (defaults(lang, draft, &lists, failure))
            (mapping(lang, draft, &lists, failure))
            div.actions {
                button type="submit" {
                    @if saved.is_some() { (lang.t("Save")) } @else { (lang.t("Create the integration")) }
                }
                a href="/integrations" { (lang.t("Back to integrations")) }
            }
        }
        @if saved.is_some() {
            (danger_card(ctx, id))
        }
    };
    let title = match saved {
        Some(s) => s["name"].as_str().unwrap_or(id).to_owned(),
        None => format!(
            "{} · {}",
            lang.t("New integration"),
            provider_title(lang, provider)
        ),
    };
    // The Connect button's post is sent on to the CRM's consent page: the page allows it.
    let origins: Vec<String> = saved
        .and_then(|s| crm_origin(s, provider))
        .into_iter()
        .collect();
    let page_ctx = with_form_actions(ctx, origins);
    let mut page = layout::page(&page_ctx, Section::Integrations, &title, content);
    if let Some(f) = failure {
        *page.status_mut() = StatusCode::from_u16(f.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::BAD_REQUEST);
    }
    page
}

/// The CRM's origin of a saved amoCRM or Bitrix24 integration (where Connect goes).
fn crm_origin(saved: &Value, provider: Provider) -> Option<String> {
    let address = match provider {
        Provider::Amocrm => saved["amocrm"]["base_url"].as_str()?,
        Provider::Bitrix24 => saved["bitrix24"]["portal_url"].as_str()?,
        _ => return None,
    };
    let origin = url::Url::parse(address).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The same request, its page allowed to send forms on to `origins` too.
fn with_form_actions<'a>(ctx: &Ctx<'a>, origins: Vec<String>) -> Ctx<'a> {
    Ctx {
        app: ctx.app,
        lang: ctx.lang,
        signed_in: super::auth::SignedIn {
            account: ctx.signed_in.account.clone(),
            csrf: ctx.signed_in.csrf.clone(),
        },
        csrf: ctx.csrf.clone(),
        path: ctx.path.clone(),
        query: ctx.query,
        headers: ctx.headers,
        deadline: ctx.deadline,
        extra_form_actions: ctx
            .extra_form_actions
            .iter()
            .cloned()
            .chain(origins)
            .collect(),
    }
}

fn done(ctx: &Ctx<'_>) -> Option<&'static str> {
    let done = web::query_param(ctx.query, "done")?;
    [
        "created",
        "saved",
        "rotated",
        "reconciling",
        "deleted",
        "connected",
    ]
    .into_iter()
    .find(|known| *known == done)
}

/// What the last post did, said once on the page it led to.
fn notice(ctx: &Ctx<'_>, provider: Provider) -> Markup {
    let lang = ctx.lang;
    let text = match done(ctx) {
        Some("created") => lang.t("The integration is created. Now paste its URL into the service, as the steps below say."),
        Some("saved") => lang.t("Saved."),
        Some("connected") => lang.t("Connected: chats now get their contacts and sessions from the CRM."),
        Some("rotated") => lang.t("A new secret is set: the old URLs no longer work. Paste the new URL into the service."),
        Some("reconciling") if provider == Provider::Bitrix24 => lang.t("Reconciliation is queued: leads that never reached chatsource become appeals within minutes."),
        _ => return html! {},
    };
    html! { p.notice.good role="status" { (text) } }
}

/// Whether the form shows this failure at one of its fields (else it goes above the form).
fn at_a_field(f: &Failure) -> bool {
    let Some(field) = f.field.as_deref().filter(|f| !f.is_empty()) else {
        return false;
    };
    const FIELDS: [&str; 12] = [
        "name",
        "default_employee_id",
        "default_campaign_id",
        "default_source_id",
        "default_site_id",
        "verbox.rest_url",
        "amocrm.base_url",
        "amocrm.session_field_id",
        "bitrix24.portal_url",
        "bitrix24.oauth_url",
        "bitrix24.session_field",
        "traffic_type",
    ];
    FIELDS.contains(&field)
        || ["messenger_mapping.", "mm_row.", "jw_row.", "forward_urls"]
            .iter()
            .any(|prefix| field.starts_with(prefix))
}

// ---------------------------------------------------------------------------------------
// Parts of the form
// ---------------------------------------------------------------------------------------

fn general(lang: Lang, draft: &Draft, lists: &Lists, failure: Option<&Failure>) -> Markup {
    html! {
        section.card {
            h2 { (lang.t("General")) }
            div.grid {
                (widgets::text(lang, "name", Text {
                    required: true,
                    placeholder: Some(lang.t("e.g. Chats of the shop's site")),
                    ..Text::new(lang.t("Name"), &draft.name)
                }, failure))
                (widgets::select(lang, "default_employee_id", lang.t("Default employee"),
                    &lists.employees, Some(&draft.employee), Some(lang.t("Nobody")), failure))
            }
            (widgets::checkbox("active", lang.t("Active: receive its webhooks"), draft.active))
            p.hint { (lang.t("The default employee gets the chats whose operator matches no employee. Switched off, the integration's URLs refuse every delivery.")) }
        }
    }
}

fn defaults(lang: Lang, draft: &Draft, lists: &Lists, failure: Option<&Failure>) -> Markup {
    let kinds = [
        ("campaign".to_owned(), lang.t("A campaign").to_owned()),
        (
            "source".to_owned(),
            lang.t("A source and a site").to_owned(),
        ),
    ];
    html! {
        section.card {
            h2 { (lang.t("Chats without a visit or tags")) }
            p.hint { (lang.t("A chat that brings no visit recorded by the site script and no UTM tags, from a messenger not in the table below, goes here.")) }
            (widgets::select(lang, "traffic_type", lang.t("They go to"), &kinds, Some(&draft.traffic), None, failure))
            div data-show-when="traffic_type=campaign" {
                (widgets::select(lang, "default_campaign_id", lang.t("Campaign"),
                    &lists.campaigns, Some(&draft.campaign), Some(lang.t("None")), failure))
            }
            div data-show-when="traffic_type=source" { div.grid {
                (widgets::select(lang, "default_source_id", lang.t("Source"),
                    &lists.sources, Some(&draft.source), Some(lang.t("None")), failure))
                (widgets::select(lang, "default_site_id", lang.t("Site"),
                    &lists.sites, Some(&draft.site), Some(lang.t("None")), failure))
            } }
        }
    }
}

/// The messengers to choose from, with any other channel the draft already names.
fn channel_options(lang: Lang, extra: &[&str]) -> Vec<(String, String)> {
    let mut tokens: Vec<&str> = i18n::MESSENGERS.to_vec();
    for token in extra {
        if !token.is_empty() && !tokens.contains(token) {
            tokens.push(token);
        }
    }
    tokens
        .into_iter()
        .map(|t| (t.to_owned(), i18n::channel_name(lang, t)))
        .collect()
}

/// A select of a table row: no id (rows are copied), labelled by `label`.
fn cell_select(
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    none: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        select name=(name) aria-label=(label) aria-invalid=[error.map(|_| "true")]
            aria-describedby=[error] {
            option value="" selected[selected.is_empty()] { (none) }
            @for (value, text) in options {
                option value=(value) selected[selected == value] { (text) }
            }
        }
    }
}

fn mapping(lang: Lang, draft: &Draft, lists: &Lists, failure: Option<&Failure>) -> Markup {
    let extra: Vec<&str> = draft.mapping.iter().map(|t| t.channel.as_str()).collect();
    let channels = channel_options(lang, &extra);
    let row = |i: Option<usize>, t: &Target| {
        // Where an error of this row is: the whole row, or one of its choices.
        let error = failure.filter(|f| {
            let field = f.field.as_deref().unwrap_or_default();
            let here = format!("messenger_mapping.{}", t.channel);
            (!t.channel.is_empty() && (field == here || field.starts_with(&format!("{here}."))))
                || i.is_some_and(|i| field == format!("mm_row.{i}"))
        });
        let field = error.and_then(|f| f.field.as_deref()).unwrap_or_default();
        let id = format!("mm-error-{}", i.unwrap_or(usize::MAX));
        // A row without a target is the campaign's to fix; any other row error the channel's.
        let whole = !field.ends_with("_id");
        let required = error.is_some_and(|e| e.code == "required");
        let on = |choice: &str| {
            let here = match choice {
                "channel" => whole && !required,
                "campaign_id" => field.ends_with(choice) || (whole && required),
                _ => field.ends_with(choice),
            };
            error.filter(|_| here).map(|_| id.as_str())
        };
        html! {
            tr {
                td data-label=(lang.t("Channel")) {
                    (cell_select("mm_channel", lang.t("Channel"), &channels, &t.channel, lang.t("Choose…"), on("channel")))
                    @if let Some(e) = error {
                        p.error id=(id) { (e.say(lang)) }
                    }
                }
                td data-label=(lang.t("Campaign")) {
                    (cell_select("mm_campaign", lang.t("Campaign"), &lists.campaigns, &t.campaign, "—", on("campaign_id")))
                }
                td data-label=(lang.t("or source")) {
                    (cell_select("mm_source", lang.t("Source"), &lists.sources, &t.source, "—", on("source_id")))
                }
                td data-label=(lang.t("Site")) {
                    (cell_select("mm_site", lang.t("Site"), &lists.sites, &t.site, "—", on("site_id")))
                }
                td {
                    button.secondary type="button" data-remove-row aria-label=(lang.t("Remove this row")) {
                        (lang.t("Remove"))
                    }
                }
            }
        }
    };
    let blank = Target::default();
    html! {
        section.card {
            h2 { (lang.t("Where messenger chats go")) }
            p.hint { (lang.t("A chat from a messenger, without a visit or tags, goes to the campaign of its channel, or to a source and a site.")) }
            table.stack id="mapping" {
                thead { tr {
                    th { (lang.t("Channel")) } th { (lang.t("Campaign")) } th { (lang.t("or source")) }
                    th { (lang.t("Site")) } th { span.skip-label { (lang.t("Actions")) } }
                } }
                tbody {
                    @for (i, t) in draft.mapping.iter().enumerate() { (row(Some(i), t)) }
                    (row(None, &blank))
                }
                template { (row(None, &blank)) }
            }
            div.actions {
                button.secondary type="button" data-add-row="#mapping" { (lang.t("Add a channel")) }
            }
        }
    }
}

fn provider_block(
    lang: Lang,
    draft: &Draft,
    choices: &Choices,
    redirect_uri: &str,
    failure: Option<&Failure>,
) -> Markup {
    match draft.provider {
        Provider::Jivo => jivo_block(lang, draft, failure),
        Provider::Verbox => html! {
            section.card {
                h2 { "Verbox" }
                (widgets::checkbox("verbox.offline_requests", lang.t("Offline requests: a second URL receives the questions left in the offline form"), draft.offline))
                (secret(lang, draft, "verbox.rest_token", lang.t("REST API token"),
                    lang.t("From Integration and API → REST API in Verbox. With it, a dialog that arrives without its messages gets its transcript.")))
                details {
                    summary { (lang.t("Advanced")) }
                    (widgets::text(lang, "verbox.rest_url", Text {
                        kind: "url",
                        hint: Some(lang.t("Talk-Me and Me-Talk have their own address; Verbox's is the default.")),
                        ..Text::new(lang.t("REST API address"), draft.plain("verbox.rest_url"))
                    }, failure))
                }
            }
        },
        Provider::Amocrm => html! {
            section.card {
                h2 { (lang.t("amoCRM account")) }
                (widgets::copyable(lang, "redirect-uri", lang.t("Redirect URI for the integration in amoCRM"), redirect_uri))
                (widgets::text(lang, "amocrm.base_url", Text {
                    kind: "url",
                    required: true,
                    placeholder: Some("https://acme.amocrm.ru"),
                    hint: Some(lang.t("The address of the account: on amocrm.ru, kommo.com, or its own domain.")),
                    ..Text::new(lang.t("Account address"), draft.plain("amocrm.base_url"))
                }, failure))
                div.grid {
                    (widgets::text(lang, "amocrm.client_id", Text::new(lang.t("Integration ID (client_id)"), draft.plain("amocrm.client_id")), None))
                    (secret(lang, draft, "amocrm.client_secret", lang.t("Secret key (client_secret)"),
                        lang.t("From the integration's Keys and access tab in amoCRM.")))
                }
                (session_field(lang, "amocrm.session_field_id", draft.plain("amocrm.session_field_id"), choices,
                    lang.t("The lead or contact field the site script fills with the visit's id, through amoCRM's chat button."), failure))
                details {
                    summary { (lang.t("A private integration? Connect with its long-lived token instead")) }
                    (secret(lang, draft, "amocrm.long_lived_token", lang.t("Long-lived token"),
                        lang.t("Saved, it connects at once; Connect is then not needed.")))
                }
            }
        },
        Provider::Bitrix24 => {
            let entities = [
                ("lead".to_owned(), lang.t("Leads").to_owned()),
                ("deal".to_owned(), lang.t("Deals").to_owned()),
            ];
            html! {
                section.card {
                    h2 { (lang.t("Bitrix24 portal")) }
                    (widgets::copyable(lang, "redirect-uri", lang.t("Handler path for the local application"), redirect_uri))
                    (widgets::text(lang, "bitrix24.portal_url", Text {
                        kind: "url",
                        required: true,
                        placeholder: Some("https://acme.bitrix24.ru"),
                        hint: Some(lang.t("The portal's address, or its own domain.")),
                        ..Text::new(lang.t("Portal address"), draft.plain("bitrix24.portal_url"))
                    }, failure))
                    div.grid {
                        (widgets::text(lang, "bitrix24.client_id", Text::new(lang.t("Application ID (client_id)"), draft.plain("bitrix24.client_id")), None))
                        (secret(lang, draft, "bitrix24.client_secret", lang.t("Application key (client_secret)"),
                            lang.t("Both are shown by the local application in Bitrix24.")))
                    }
                    (secret(lang, draft, "bitrix24.application_token", lang.t("Application token of the outbound webhook"),
                        lang.t("Every event carries it; events without it are refused.")))
                    (widgets::select(lang, "bitrix24.entity", lang.t("Open lines create"), &entities,
                        Some(draft.plain("bitrix24.entity")), None, failure))
                    (session_field(lang, "bitrix24.session_field", draft.plain("bitrix24.session_field"), choices,
                        lang.t("The lead's (or deal's) field the site fills with the visit's id."), failure))
                    details {
                        summary { (lang.t("Advanced")) }
                        (widgets::text(lang, "bitrix24.oauth_url", Text {
                            kind: "url",
                            ..Text::new(lang.t("OAuth server"), draft.plain("bitrix24.oauth_url"))
                        }, failure))
                    }
                }
            }
        }
    }
}

fn jivo_block(lang: Lang, draft: &Draft, failure: Option<&Failure>) -> Markup {
    let extra: Vec<&str> = draft.widgets.iter().map(|(_, c)| c.as_str()).collect();
    let channels = channel_options(lang, &extra);
    let row = |i: Option<usize>, widget: &str, channel: &str| {
        let error = failure.filter(|f| i.is_some_and(|i| f.is_about(&format!("jw_row.{i}"))));
        let id = format!("jw-error-{}", i.unwrap_or(usize::MAX));
        html! {
            tr {
                td data-label=(lang.t("Widget id")) {
                    input type="text" name="jw_widget" value=(widget) aria-label=(lang.t("Widget id"))
                        inputmode="numeric" aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[error.map(|_| id.as_str())];
                    @if let Some(e) = error {
                        p.error id=(id) { (e.say(lang)) }
                    }
                }
                td data-label=(lang.t("Channel")) {
                    (cell_select("jw_channel", lang.t("Channel"), &channels, channel, lang.t("Choose…"), None))
                }
                td {
                    button.secondary type="button" data-remove-row aria-label=(lang.t("Remove this row")) {
                        (lang.t("Remove"))
                    }
                }
            }
        }
    };
    html! {
        section.card {
            h2 { (lang.t("Jivo channels")) }
            p.hint { (lang.t("Jivo sends every chat with the id of its channel (widget_id). Name the messenger of each messenger channel's id, so its chats are told from the site widget's; ids not listed are the site widget. The raw data page shows the ids that came.")) }
            table.stack id="jivo-widgets" {
                thead { tr {
                    th { (lang.t("Widget id")) } th { (lang.t("Channel")) }
                    th { span.skip-label { (lang.t("Actions")) } }
                } }
                tbody {
                    @for (i, (widget, channel)) in draft.widgets.iter().enumerate() {
                        (row(Some(i), widget, channel))
                    }
                    (row(None, "", ""))
                }
                template { (row(None, "", "")) }
            }
            div.actions {
                button.secondary type="button" data-add-row="#jivo-widgets" { (lang.t("Add a widget")) }
            }
        }
        (forward_field(lang, draft, failure))
    }
}

/// Jivo's forward URLs (a bot platform on the same channel), one a line.
fn forward_field(lang: Lang, draft: &Draft, failure: Option<&Failure>) -> Markup {
    let error = failure.filter(|f| {
        f.field
            .as_deref()
            .is_some_and(|field| field.starts_with("forward_urls"))
    });
    let described = match error {
        Some(_) => "forward_urls-error",
        None => "forward_urls-hint",
    };
    html! {
        section.card {
            div.field {
                label for="forward_urls" { (lang.t("Forward URLs")) }
                textarea id="forward_urls" name="forward_urls" rows="3"
                    placeholder="https://bot-platform.example/hook" spellcheck="false"
                    aria-invalid=[error.map(|_| "true")] aria-describedby=(described) {
                    (draft.forwards)
                }
                @if let Some(e) = error {
                    p.error id="forward_urls-error" { (e.say(lang)) }
                } @else {
                    p.hint id="forward_urls-hint" { (lang.t("Jivo has one webhook URL per channel. To keep a bot platform (Metabot24 and the like) on the same channel, paste its webhook URL here, one per line, and ours into Jivo: every body Jivo sends is relayed to it as it came, retried if it fails. What the bot platform answers does not reach Jivo.")) }
                }
            }
        }
    }
}

/// A write-only field: never filled in; it says whether a value is stored.
fn secret(lang: Lang, draft: &Draft, name: &'static str, label: &str, hint: &str) -> Markup {
    let id = widgets::id_of(name);
    let stored = draft.stored.contains(name);
    let retype = draft.typed.contains_key(name);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type="password" value="" autocomplete="new-password"
                placeholder=[stored.then(|| lang.t("Saved: leave empty to keep it"))]
                aria-describedby={ (id) "-hint" };
            p.hint id={ (id) "-hint" } {
                @if retype { strong { (lang.t("Not saved yet: type it again.")) } " " }
                @if stored { span.badge.ok { (lang.t("Stored")) } } @else { span.badge { (lang.t("Not stored")) } }
                " " (hint)
            }
        }
    }
}

/// The session field: picked from the CRM's own list once connected.
fn session_field(
    lang: Lang,
    name: &str,
    current: &str,
    choices: &Choices,
    hint: &str,
    failure: Option<&Failure>,
) -> Markup {
    let id = widgets::id_of(name);
    let error = widgets::error_of(failure, name);
    let keep = html! { input type="hidden" name=(name) value=(current); };
    let why = match choices {
        Choices::Listed(fields) => {
            let mut groups: Vec<&str> = Vec::new();
            for (_, _, group) in fields {
                if !groups.contains(group) {
                    groups.push(group);
                }
            }
            let known = fields.iter().any(|(value, _, _)| value == current);
            return html! {
                div.field {
                    label for=(id) { (lang.t("Session field")) }
                    select id=(id) name=(name) aria-invalid=[error.map(|_| "true")]
                        aria-describedby={ (id) "-hint" } {
                        option value="" selected[current.is_empty()] { (lang.t("None")) }
                        @if !current.is_empty() && !known {
                            option value=(current) selected { (current) " — " (lang.t("not in the list any more")) }
                        }
                        @for group in &groups {
                            @if group.is_empty() {
                                @for (value, text, _) in fields.iter().filter(|f| f.2.is_empty()) {
                                    option value=(value) selected[value == current] { (text) }
                                }
                            } @else {
                                optgroup label=(group) {
                                    @for (value, text, _) in fields.iter().filter(|f| f.2 == *group) {
                                        option value=(value) selected[value == current] { (text) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(e) = error {
                        p.error { (e.say(lang)) }
                    }
                    p.hint id={ (id) "-hint" } {
                        (hint) " "
                        a href={ "?fields=fresh#" (id) } { (lang.t("A field just made is not listed? Read the list again.")) }
                    }
                }
            };
        }
        Choices::NotSaved => {
            lang.t("Save and connect first: the field is picked from the CRM's own list.")
        }
        Choices::NotConnected => {
            lang.t("Connect first: the field is picked from the CRM's own list.")
        }
        Choices::Failed(why) => why.as_str(),
    };
    html! {
        div.field {
            p { strong { (lang.t("Session field")) } }
            @if !current.is_empty() {
                p { (lang.t("Now:")) " " code { (current) } }
            }
            p.hint { (why) " " (hint) }
            (keep)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cards of a saved integration
// ---------------------------------------------------------------------------------------

/// Whether the last error came after the last appeal made.
fn error_after_appeal(health: &Value) -> bool {
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    match (
        at(&health["last_error"]["at"]),
        at(&health["last_appeal_at"]),
    ) {
        (Some(error), Some(appeal)) => error > appeal,
        (Some(_), None) => true,
        _ => false,
    }
}

fn health_card(lang: Lang, saved: &Value) -> Markup {
    let health = &saved["health"];
    let id = saved["id"].as_str().unwrap_or_default();
    let (class, summary) = if health["last_event_at"].is_null() {
        (
            "notice",
            lang.t(
                "No events yet. Paste the URL below into the service; the first chat shows here.",
            ),
        )
    } else if health["last_appeal_at"].is_null() {
        (
            "notice",
            lang.t("Events arrive, but none has made an appeal yet."),
        )
    } else if health["quarantined"].as_u64().unwrap_or(0) > 0 || error_after_appeal(health) {
        (
            "notice warn",
            lang.t("Events arrive and make appeals, but some could not be handled: see the last error and the quarantined bodies."),
        )
    } else {
        (
            "notice good",
            lang.t("Working: events arrive and make appeals."),
        )
    };
    html! {
        section.card aria-labelledby="health" {
            h2 id="health" { (lang.t("Health")) }
            p class=(class) role="status" { (summary) }
            dl.facts {
                dt { (lang.t("Last event received")) }
                dd { (moment(lang, &health["last_event_at"])) }
                dt { (lang.t("Last appeal made")) }
                dd { (moment(lang, &health["last_appeal_at"])) }
                dt { (lang.t("Last error")) }
                dd {
                    @if health["last_error"].is_object() {
                        (moment(lang, &health["last_error"]["at"])) ": "
                        span lang="en" { (health["last_error"]["reason"].as_str().unwrap_or_default()) }
                    } @else {
                        span.muted { (lang.t("None")) }
                    }
                }
                dt { (lang.t("Quarantined")) }
                dd {
                    (quarantined(health))
                    @if health["quarantined"].as_u64().unwrap_or(0) > 0 {
                        " · " a href={ "/raw?status=quarantined&integration_id=" (id) } { (lang.t("See them in raw data")) }
                    }
                }
            }
        }
    }
}

fn connection_card(ctx: &Ctx<'_>, provider: Provider, saved: &Value) -> Markup {
    let lang = ctx.lang;
    let id = saved["id"].as_str().unwrap_or_default();
    let connection = &saved["connection"];
    let status = connection["status"].as_str().unwrap_or("not_connected");
    let waiting = connection["waiting_jobs"].as_u64().unwrap_or(0);
    html! {
        section.card aria-labelledby="connection" {
            h2 id="connection" { (lang.t("Connection")) }
            dl.facts {
                dt { (lang.t("Status")) }
                dd { (connection_badge(lang, status)) }
                @if !connection["since"].is_null() {
                    dt { (lang.t("Since")) }
                    dd { (moment(lang, &connection["since"])) }
                }
                @if let Some(reason) = connection["reason"].as_str() {
                    dt { (lang.t("Why")) }
                    dd lang="en" { (reason) }
                }
                @if waiting > 0 || status == "needs_reauth" {
                    dt { (lang.t("Jobs waiting for it")) }
                    dd { (waiting) }
                }
                @if provider == Provider::Bitrix24 && !saved["reconciliation"]["created_up_to"].is_null() {
                    dt { (lang.t("Leads checked up to")) }
                    dd { (moment(lang, &saved["reconciliation"]["created_up_to"])) }
                }
            }
            div.actions {
                form method="post" action={ "/integrations/" (id) "/connect" } {
                    (widgets::csrf(ctx))
                    button type="submit" {
                        @if status == "not_connected" { (lang.t("Connect")) } @else { (lang.t("Connect again")) }
                    }
                }
                @if provider == Provider::Bitrix24 && status == "connected" {
                    form method="post" action={ "/integrations/" (id) "/reconcile" } {
                        (widgets::csrf(ctx))
                        button.secondary type="submit" { (lang.t("Reconcile now")) }
                    }
                }
            }
            p.hint {
                @if provider == Provider::Bitrix24 {
                    (lang.t("Connect opens the portal's consent page: allow access as the portal's administrator, and Bitrix24 brings you back here."))
                } @else {
                    (lang.t("Connect opens amoCRM's consent page: allow access as the account's administrator, and amoCRM brings you back here."))
                }
            }
        }
    }
}

fn install_card(lang: Lang, provider: Provider, saved: &Value, draft: &Draft) -> Markup {
    let urls = &saved["webhook_urls"];
    let url = |key: &str| urls[key].as_str().unwrap_or_default().to_owned();
    let scripts: Vec<(String, String)> = saved["site_scripts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["domain"].as_str().unwrap_or_default().to_owned(),
                s["script"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // The offline URL exists while the toggle is on; shown with the toggle, saved or not.
    let offline = match urls["offline"].as_str() {
        Some(u) => u.to_owned(),
        None => url("chats").trim_end_matches("/chats").to_owned() + "/offline",
    };
    html! {
        section.card aria-labelledby="install" {
            h2 id="install" { (lang.t("Install")) }
            @match provider {
                Provider::Jivo => {
                    (widgets::copyable(lang, "hook-chats", lang.t("Webhook URL for Jivo"), &url("chats")))
                }
                Provider::Verbox => {
                    (widgets::copyable(lang, "hook-chats", lang.t("URL for finished dialogs"), &url("chats")))
                    div data-show-when="verbox.offline_requests=on" hidden[!draft.offline] {
                        (widgets::copyable(lang, "hook-offline", lang.t("URL for offline questions"), &offline))
                        @if urls["offline"].is_null() {
                            p.hint { (lang.t("It works once the form is saved with offline requests on.")) }
                        }
                    }
                }
                _ => {
                    (widgets::copyable(lang, "hook-events", lang.t("URL for events"), &url("events")))
                }
            }
            @if scripts.is_empty() {
                p.hint {
                    (lang.t("No site yet. To get its script, add the site in")) " "
                    a href="/directories" { (lang.t("Directories")) } "."
                }
            } @else {
                @for (i, (domain, script)) in scripts.iter().enumerate() {
                    (widgets::copyable(lang, &format!("site-script-{i}"),
                        &format!("{} {domain}", lang.t("Script for")), script))
                }
            }
            h3 { (lang.t("Steps")) }
            (steps(lang, provider))
        }
    }
}

/// What to do in the service, in short.
fn steps(lang: Lang, provider: Provider) -> Markup {
    let script = lang.t("Put the site script on every page of the site, after the main code: it hands the visit to the chat, so the chat is attributed to its ad.");
    match provider {
        Provider::Jivo => html! {
            ol {
                li { (lang.t("In Jivo, open the settings of each channel (the site widget and every messenger) → Integration settings for developers → Webhooks, and paste the webhook URL.")) }
                li { (lang.t("Webhooks need Jivo's Pro plan.")) }
                li { (lang.t("Add each messenger channel's widget id to the Jivo channels table below.")) }
                li { (script) }
            }
        },
        Provider::Verbox => html! {
            ol {
                li { (lang.t("In Verbox, open Integration and API and paste the URL for finished dialogs as the webhook of finished dialogs; with offline requests on, the second URL as the webhook of offline questions.")) }
                li { (lang.t("Create a REST API token there too and save it below: dialogs that arrive without messages get their transcript.")) }
                li { (script) }
            }
        },
        Provider::Amocrm => html! {
            ol {
                li { (lang.t("In amoCRM, create an integration (Settings → Integrations → Create integration) with the redirect URI below, and save its ID and secret key here.")) }
                li { (lang.t("Press Connect and allow access as an administrator of the account.")) }
                li {
                    (lang.t("In amoCRM, subscribe the URL for events to these web hooks (Settings → Integrations → Web hooks):")) " "
                    code { "add_talk" } ", " code { "update_talk" } ", " code { "add_message" } "."
                }
                li { (lang.t("Pick the session field below: the site script puts the visit's id in it.")) }
                li { (script) }
            }
        },
        Provider::Bitrix24 => html! {
            ol {
                li { (lang.t("In Bitrix24, make a local application (Developer resources → Other → Local application): server-side, with the crm, imopenlines, im and contact_center scopes, and the handler path below. Save its ID and key here.")) }
                li {
                    (lang.t("Make an outbound webhook (Developer resources → Other → Outbound webhook) with the URL for events, on the event")) " "
                    code { "ONCRMLEADADD" } " " (lang.t("(lead created) or, if your open lines create deals,")) " "
                    code { "ONCRMDEALADD" } " " (lang.t("(deal created). Save its application token here."))
                }
                li { (lang.t("Press Connect and allow access as an administrator of the portal.")) }
                li { (lang.t("Leads whose events were lost are found by the hourly reconciliation; Reconcile now runs it at once.")) }
                li { (script) }
            }
        },
    }
}

fn danger_card(ctx: &Ctx<'_>, id: &str) -> Markup {
    let lang = ctx.lang;
    html! {
        section.card aria-labelledby="danger" {
            h2 id="danger" { (lang.t("Secret and removal")) }
            p.hint { (lang.t("The secret is the last part of the integration's URLs. A new one stops the old URLs at once: paste the new ones into the service.")) }
            div.actions {
                form method="post" action={ "/integrations/" (id) "/rotate-secret" }
                    data-confirm=(lang.t("Make a new secret? The current URLs stop working at once.")) {
                    (widgets::csrf(ctx))
                    button.secondary type="submit" { (lang.t("Make a new secret")) }
                }
                form method="post" action={ "/integrations/" (id) "/delete" }
                    data-confirm=(lang.t("Delete this integration? Its URLs stop working; the appeals it made stay.")) {
                    (widgets::csrf(ctx))
                    button.danger type="submit" { (lang.t("Delete the integration")) }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small pieces
// ---------------------------------------------------------------------------------------

fn provider_of(view: &Value) -> Provider {
    view["provider"]
        .as_str()
        .and_then(Provider::parse)
        .unwrap_or(Provider::Jivo)
}

fn provider_title(lang: Lang, provider: Provider) -> &'static str {
    match provider {
        Provider::Bitrix24 => lang.t("Bitrix24"),
        other => other.title(),
    }
}

fn state_badges(lang: Lang, item: &Value) -> Markup {
    let active = item["active"].as_bool().unwrap_or(false);
    html! {
        @if active {
            span.badge.ok { (lang.t("On")) }
        } @else {
            span.badge { (lang.t("Off")) }
        }
        @if let Some(status) = item["connection"]["status"].as_str() {
            " " (connection_badge(lang, status))
        }
    }
}

fn connection_badge(lang: Lang, status: &str) -> Markup {
    match status {
        "connected" => html! { span.badge.ok { (lang.t("Connected")) } },
        "needs_reauth" => html! { span.badge.bad { (lang.t("Needs connecting again")) } },
        _ => html! { span.badge.warn { (lang.t("Not connected")) } },
    }
}

/// A moment of the health view, or that there has been none.
fn moment(lang: Lang, value: &Value) -> Markup {
    match value.as_str() {
        Some(at) => html! { time datetime=(at) { (when(lang, value)) } },
        None => html! { span.muted { (lang.t("None yet")) } },
    }
}

fn quarantined(health: &Value) -> String {
    let n = health["quarantined"].as_u64().unwrap_or(0);
    if health["quarantined_more"] == true {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_what_differs_and_removes_what_is_gone() {
        let saved = json!({"name": "Jivo", "default_employee_id": null,
            "messenger_mapping": {"telegram": {"campaign_id": "c1"}, "vk": {"campaign_id": "c2"}},
            "jivo": {"channels": {"1": "telegram"}}});
        let wanted = json!({"name": "Jivo", "default_campaign_id": "c3",
            "messenger_mapping": {"telegram": {"source_id": "s1", "site_id": "t1"}},
            "jivo": {"channels": {"1": "telegram"}}});
        assert_eq!(
            patch(&saved, &wanted),
            json!({"default_campaign_id": "c3",
                   "messenger_mapping": {"telegram": {"campaign_id": null, "source_id": "s1", "site_id": "t1"},
                                         "vk": null}})
        );
    }

    #[test]
    fn jivo_forward_urls_are_one_a_line_and_none_leaves_them_to_a_patch_to_remove() {
        let form = |urls: &str| {
            Form(
                [("name", "Jivo"), ("forward_urls", urls)]
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let typed = Draft::of_form(
            Provider::Jivo,
            &form(" https://a.example/1 \r\n\n https://b.example/2"),
            None,
        );
        let input = typed.input(Lang::En).unwrap();
        assert_eq!(
            input["forward_urls"],
            json!(["https://a.example/1", "https://b.example/2"])
        );
        let cleared = Draft::of_form(Provider::Jivo, &form("  "), None)
            .input(Lang::En)
            .unwrap();
        assert!(cleared.get("forward_urls").is_none());
        let saved = json!({"forward_urls": ["https://a.example/1"]});
        assert_eq!(
            patch(&owned(&saved, Provider::Jivo), &cleared)["forward_urls"],
            Value::Null
        );
        let shown = Draft::of_view(Provider::Jivo, &saved);
        assert_eq!(shown.forwards, "https://a.example/1");
    }

    #[test]
    fn a_posted_form_becomes_the_input_and_an_empty_secret_keeps_the_stored_one() {
        let form = Form(
            [
                ("name", " Shop "),
                ("active", "on"),
                ("traffic_type", "campaign"),
                ("default_campaign_id", "cmp_1"),
                ("mm_channel", "telegram"),
                ("mm_campaign", "cmp_2"),
                ("mm_source", ""),
                ("mm_site", ""),
                ("mm_channel", ""),
                ("mm_campaign", ""),
                ("mm_source", ""),
                ("mm_site", ""),
                ("verbox.rest_token", ""),
                ("verbox.rest_url", "https://admin.verbox.ru/json/v1.0"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        );
        let saved = json!({"verbox": {"rest_token": "set"}});
        let draft = Draft::of_form(Provider::Verbox, &form, Some(&saved));
        let input = draft.input(Lang::En).expect("valid");
        assert_eq!(input["name"], "Shop");
        assert_eq!(
            input["messenger_mapping"],
            json!({"telegram": {"campaign_id": "cmp_2"}})
        );
        assert_eq!(input["verbox"]["rest_token"], "set");
        assert_eq!(input["verbox"]["offline_requests"], false);
        assert!(input.get("default_source_id").is_none());
    }

    #[test]
    fn a_channel_mapped_twice_is_refused_at_its_row() {
        let form = Form(
            [
                ("mm_channel", "telegram"),
                ("mm_campaign", "a"),
                ("mm_channel", "telegram"),
                ("mm_campaign", "b"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        );
        let draft = Draft::of_form(Provider::Jivo, &form, None);
        let failure = draft.input(Lang::En).expect_err("twice");
        assert_eq!(failure.field.as_deref(), Some("messenger_mapping.telegram"));
        assert!(at_a_field(&failure));
    }
}
