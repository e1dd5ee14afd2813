//! The Directories pages as a marketer uses them: a source made on its form, a campaign that
//! picks it by name with UTM rules, edited, refused without a name (said in Russian and in
//! English), deleted; what the pages made is what the API holds.

use chatsource_tests::console::Console;
use chatsource_tests::server::{TestServer, start};
use serde_json::{Value, json};

/// The value of the option a person picks by its `name` in the select `select`.
fn option_for(html: &str, select: &str, name: &str) -> String {
    let list = html
        .split(&format!("<select id=\"{select}\" name=\"{select}\""))
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .unwrap_or_else(|| panic!("a select {select}"));
    list.split("<option value=\"")
        .find(|option| option.contains(&format!(">{name}</option>")))
        .and_then(|option| option.split('"').next())
        .unwrap_or_else(|| panic!("{name} among the choices of {select}: {list}"))
        .to_owned()
}

async fn listed(server: &TestServer, kind: &str, name: &str) -> Option<Value> {
    let answer = server.demo("GET", &format!("/api/{kind}"), None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .cloned()
}

#[tokio::test]
async fn a_campaign_made_edited_and_deleted_on_the_directories_pages_is_what_the_api_holds() {
    let server = start().await;
    let console = Console::sign_in(&server).await;

    let page = console.get("/directories?lang=ru").await;
    assert_eq!(page.status, 200);
    for text in [
        "Справочники",
        "Источники",
        "Кампании",
        "Yandex Direct",
        "Demo shop",
    ] {
        assert!(page.html.contains(text), "{text} on the list");
    }
    assert!(
        page.html.contains("/t/site_demo_shop/script.js"),
        "the site's script tag"
    );

    // A source, its utm_source values comma-separated.
    let form = console.get("/directories/sources/new").await;
    assert!(
        form.html.contains("<label for=\"name\">"),
        "a labelled name"
    );
    let made = console
        .post(
            "/directories/sources",
            &[("name", "VK Ads"), ("utm_sources", "vk, vk-ads,")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.html);
    assert_eq!(made.location.as_deref(), Some("/directories#sources"));
    let source = listed(&server, "sources", "VK Ads")
        .await
        .expect("the source");
    assert_eq!(source["utm_sources"], json!(["vk", "vk-ads"]));

    // A campaign picking that source and the shop by name.
    let form = console.get("/directories/campaigns/new").await;
    let source_id = option_for(&form.html, "source_id", "VK Ads");
    let site_id = option_for(&form.html, "site_id", "Demo shop");
    assert_eq!(source_id, source["id"].as_str().unwrap());
    let made = console
        .post(
            "/directories/campaigns",
            &[
                ("name", "Summer"),
                ("source_id", &source_id),
                ("site_id", &site_id),
                ("utm.source", "vk"),
                ("utm.medium", "cpc"),
                ("utm.campaign", "summer"),
                ("utm.content", ""),
                ("utm.term", " "),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.html);
    let campaign = listed(&server, "campaigns", "Summer").await.expect("made");
    assert_eq!(campaign["source_id"], source_id);
    assert_eq!(campaign["site_id"], "site_demo_shop");
    assert_eq!(
        campaign["utm"],
        json!({"source": "vk", "medium": "cpc", "campaign": "summer"})
    );
    let id = campaign["id"].as_str().unwrap().to_owned();
    let list = console.get("/directories").await;
    assert!(
        list.html.contains("utm_medium=cpc"),
        "its rules on the list"
    );
    assert!(
        list.html
            .contains(&format!("href=\"/directories/campaigns/{id}\""))
    );

    // Edited: renamed, its site unset, one tag cleared and another added.
    let path = format!("/directories/campaigns/{id}");
    let form = console.get(&path).await;
    assert!(form.html.contains("value=\"Summer\""));
    assert_eq!(option_for(&form.html, "source_id", "VK Ads"), source_id);
    assert!(
        form.html
            .contains(&format!("<option value=\"{source_id}\" selected>VK Ads"))
    );
    let edit = [
        ("name", "Summer 2025"),
        ("source_id", source_id.as_str()),
        ("site_id", ""),
        ("utm.source", "vk"),
        ("utm.medium", ""),
        ("utm.campaign", "summer"),
        ("utm.content", ""),
        ("utm.term", "sale"),
    ];
    let saved = console.post(&path, &edit).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let campaign = listed(&server, "campaigns", "Summer 2025")
        .await
        .expect("renamed");
    assert_eq!(campaign["id"], id.as_str());
    assert_eq!(campaign["site_id"], Value::Null);
    assert_eq!(
        campaign["utm"],
        json!({"source": "vk", "campaign": "summer", "term": "sale"})
    );

    // No name: the form comes back with what was typed and the error at the name.
    let mut nameless = edit;
    nameless[0].1 = " ";
    for (lang, said) in [("ru", "Заполните поле."), ("en", "Fill this in.")] {
        let refused = console
            .post(&format!("{path}?lang={lang}"), &nameless)
            .await;
        assert_eq!(refused.status, 200, "{lang}");
        assert!(
            refused
                .html
                .contains(&format!("<p class=\"error\" id=\"name-error\">{said}</p>")),
            "{lang}: {}",
            refused.html
        );
        assert!(refused.html.contains("aria-invalid=\"true\""), "{lang}");
        assert!(
            refused.html.contains("value=\"sale\""),
            "{lang}: what was typed stays"
        );
    }
    assert!(
        listed(&server, "campaigns", "Summer 2025").await.is_some(),
        "unchanged"
    );

    // A bad domain is said in the user's language too, next to its field.
    let refused = console
        .post(
            "/directories/sites?lang=en",
            &[("name", "Blog"), ("domain", "blog")],
        )
        .await;
    assert!(
        refused.html.contains("This is not a site address"),
        "{}",
        refused.html
    );

    // A source that no longer exists is refused at its select.
    let refused = console
        .post(
            "/directories/campaigns?lang=ru",
            &[("name", "Ghost"), ("source_id", "src_gone")],
        )
        .await;
    assert!(
        refused
            .html
            .contains("<p class=\"error\" id=\"source_id-error\">Выберите из списка"),
        "{}",
        refused.html
    );
    assert!(listed(&server, "campaigns", "Ghost").await.is_none());

    // Deleted, after the page asks.
    let form = console.get(&path).await;
    assert!(form.html.contains("data-confirm="));
    let gone = console.post(&format!("{path}/delete"), &[]).await;
    assert_eq!(gone.status, 303);
    assert!(listed(&server, "campaigns", "Summer 2025").await.is_none());
    assert_eq!(console.get(&path).await.status, 404);
}
