//! The appeals journal, an appeal's card and the raw data page, read as a signed-in user reads
//! them (over HTTP, in Russian and in English).

use chatsource_tests::console::{Console, Page};
use chatsource_tests::server::{TestServer, jivo_body, start};

async fn ok(server: &TestServer, sample: &str) {
    let answer = server.post_raw(&server.jivo_url(), jivo_body(sample)).await;
    assert_eq!(answer.status, 200, "{sample}: {}", answer.json);
}

/// The first link to a page under `prefix` (`/appeals/`, `/raw/`), without its query.
fn first_link(page: &Page, prefix: &str) -> String {
    let at = page
        .html
        .find(&format!("href=\"{prefix}"))
        .unwrap_or_else(|| panic!("a link to {prefix}: {}", page.html));
    let rest = &page.html[at + 6..];
    let end = rest.find(['"', '?']).expect("the link's end");
    rest[..end].to_owned()
}

fn shows(page: &Page, text: &str) {
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(text), "no {text:?} in {}", page.html);
}

#[tokio::test]
async fn a_posted_chat_is_in_the_journal_by_its_campaigns_name_and_its_card_says_how_it_was_attributed()
 {
    let server = start().await;
    ok(&server, "chat_finished").await;
    ok(&server, "telegram_chat_finished").await;
    let console = Console::sign_in(&server).await;

    let journal = console.get("/appeals?lang=ru").await;
    shows(&journal, "<h1>Обращения</h1>");
    shows(
        &journal,
        "<td data-label=\"Кампания\">Spring sale (Yandex Direct)</td>",
    );
    shows(&journal, "<td data-label=\"Источник\">Yandex Direct</td>");
    shows(
        &journal,
        "<td data-label=\"Кампания\">Telegram channel</td>",
    );
    shows(&journal, "Jivo on the demo shop");
    shows(&journal, "Олег");
    shows(&journal, "<label for=\"q\">Телефон, e-mail или имя</label>");

    // Search by the phone written another way: only Мария's appeal.
    let found = console.get("/appeals?q=8+(916)+123+45+67").await;
    shows(&found, "Мария Ковалёва");
    assert!(!found.html.contains("Павел"), "{}", found.html);
    let card_path = first_link(&found, "/appeals/");

    let card = console.get(&format!("{card_path}?lang=ru")).await;
    shows(&card, "<h1>Мария Ковалёва</h1>");
    shows(&card, "Переписка");
    shows(&card, "Здравствуйте, есть ли угловой диван в наличии?");
    shows(
        &card,
        "Добрый день! Да, оставьте телефон — пришлю варианты.",
    );
    shows(&card, "<li class=\"visitor\">");
    shows(&card, "<li class=\"employee\">");
    shows(&card, "Посетитель");
    shows(&card, "Сотрудник · Олег");
    shows(&card, "03.06.2024 10:20 UTC");
    shows(
        &card,
        "Вместе с чатом пришёл идентификатор сессии <strong>sess_7f3c2a9e41b0</strong>, но такой сессии не найдено.",
    );
    shows(
        &card,
        "UTM-метки из самого чата подошли под правила кампании <strong>Spring sale (Yandex Direct)</strong>.",
    );
    shows(&card, "spring_sale");
    shows(&card, "https://shop.example.ru/catalog/sofas?yclid=7315542");
    let visitor_first = card.html.find("Здравствуйте").expect("visitor");
    let employee_next = card.html.find("Добрый день").expect("employee");
    assert!(
        visitor_first < employee_next,
        "the transcript is in time order"
    );

    let english = console.get(&format!("{card_path}?lang=en")).await;
    shows(&english, "Transcript");
    shows(&english, "Visitor");
    shows(&english, "2024-06-03 10:20 UTC");
    shows(
        &english,
        "The chat carried session <strong>sess_7f3c2a9e41b0</strong>, but no such session was found.",
    );
    shows(
        &english,
        "own UTM tags matched the campaign <strong>Spring sale (Yandex Direct)</strong>.",
    );

    // The Telegram chat: decided by the integration's messenger mapping.
    let telegram = console.get("/appeals?via=messenger_mapping&lang=en").await;
    shows(&telegram, "Павел");
    assert!(!telegram.html.contains("Мария"), "{}", telegram.html);
    let telegram_card = console
        .get(&format!("{}?lang=en", first_link(&telegram, "/appeals/")))
        .await;
    shows(&telegram_card, "This is a <strong>Telegram</strong> chat:");
    shows(
        &telegram_card,
        "sends such chats to the campaign <strong>Telegram channel</strong>.",
    );
}

#[tokio::test]
async fn the_journal_keeps_its_filters_in_the_address_and_says_which_one_is_wrong() {
    let server = start().await;
    ok(&server, "chat_finished").await;
    let console = Console::sign_in(&server).await;

    shows(
        &console.get("/appeals?from=2024-06-03&to=2024-06-03").await,
        "Мария Ковалёва",
    );
    let before = console.get("/appeals?to=02.06.2024").await;
    shows(&before, "Нет обращений по этим фильтрам.");
    shows(&before, "value=\"2024-06-02\"");
    shows(&before, "UTC");
    let filtered = console
        .get("/appeals?campaign_id=cmp_demo_spring&via=utm&status=complete")
        .await;
    shows(&filtered, "Мария Ковалёва");
    shows(&filtered, "<option value=\"cmp_demo_spring\" selected>");
    // The card's way back returns to the journal as it was filtered.
    let card = console.get(&first_link(&filtered, "/appeals/")).await;
    shows(&card, "Мария Ковалёва");
    let with_back = filtered
        .html
        .split("href=\"/appeals/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a card link");
    let card = console
        .get(&format!("/appeals/{}", with_back.replace("&amp;", "&")))
        .await;
    shows(
        &card,
        "href=\"/appeals?campaign_id=cmp_demo_spring&amp;via=utm&amp;status=complete\"",
    );

    let bad_date = console.get("/appeals?from=yesterday").await;
    shows(&bad_date, "Укажите дату, например 31.12.2024.");
    shows(&bad_date, "id=\"from-error\"");
    let bad_via = console.get("/appeals?via=sesion&lang=en").await;
    shows(&bad_via, "id=\"via-error\"");
    shows(&bad_via, "Check this value.");
    let bad_provider = console.get("/appeals?provider=icq&lang=en").await;
    shows(&bad_provider, "provider `icq`");
    shows(
        &bad_provider,
        "class=\"button secondary\" href=\"/appeals\"",
    );
    assert_eq!(console.get("/appeals/no_such_appeal").await.status, 404);
}

#[tokio::test]
async fn a_malformed_body_is_shown_quarantined_with_its_reason_and_replayed_from_the_raw_data_page()
{
    let server = start().await;
    let bad = server
        .post_raw(&server.jivo_url(), jivo_body("malformed"))
        .await;
    assert_eq!(bad.status, 400);
    let console = Console::sign_in(&server).await;

    let raw = console.get("/raw").await;
    shows(&raw, "<h1>Сырые данные</h1>");
    shows(&raw, "В карантине");
    shows(&raw, "not JSON");
    shows(&raw, "Jivo on the demo shop");
    let event = first_link(&raw, "/raw/");

    let one = console.get(&format!("{event}?lang=en")).await;
    shows(&one, "Webhook body");
    shows(&one, "<textarea id=\"body\" readonly");
    // The body as text, escaped.
    shows(&one, "{&quot;event_name&quot;: &quot;chat_finished&quot;");
    shows(&one, "not JSON");

    let replayed = console.post(&format!("{event}/replay"), &[]).await;
    assert_eq!(replayed.status, 303, "{}", replayed.html);
    let back = replayed.location.expect("back to the event");
    assert!(back.starts_with(&event), "{back}");
    let outcome = console.get(&back).await;
    shows(&outcome, "Повторная обработка не помогла");

    // A body that was handled replays into its appeal again.
    ok(&server, "chat_finished").await;
    let all = console
        .get("/raw?integration_id=int_demo_jivo&status=all&lang=en")
        .await;
    shows(&all, "Processed");
    shows(&all, "Quarantined");
    let processed = all
        .html
        .split("<tr>")
        .find(|row| row.contains("badge ok"))
        .expect("a processed row");
    let id = processed
        .split("href=\"/raw/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("its link");
    let replayed = console.post(&format!("/raw/{id}/replay"), &[]).await;
    let outcome = console
        .get(&format!("{}&lang=en", replayed.location.expect("a 303")))
        .await;
    shows(&outcome, "appeals made or updated: 1.");
    shows(&outcome, "href=\"/appeals/");

    let nothing = console.get("/raw?status=all").await;
    shows(
        &nothing,
        "Выберите интеграцию, чтобы увидеть все её события.",
    );
    assert_eq!(console.get("/raw/raw_nothing").await.status, 404);
}
