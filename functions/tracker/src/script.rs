//! The site script: one readable source (`assets/chatsource.js`), served minified with the
//! site's configuration written in.

use serde::Serialize;
use shared::domain::secret::sha256_hex;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("../assets/chatsource.js");

/// What the script needs to know; `__CONFIG__` in the source becomes this object.
#[derive(Debug, Serialize)]
pub struct ScriptConfig {
    pub site: String,
    /// Where page views are posted (`<base>/t/<site>/sessions`).
    pub endpoint: String,
    /// amoCRM custom fields that receive the session id (`amo_social_button.setMeta`).
    #[serde(rename = "amoFields")]
    pub amo_fields: Vec<u64>,
}

/// The source without comment-only lines, indentation and blank lines. The source keeps its
/// comments on lines of their own (its header says so), so no JavaScript parser is needed;
/// line breaks stay, so automatic semicolon insertion reads the code as written.
pub fn minified() -> &'static str {
    static MINIFIED: OnceLock<String> = OnceLock::new();
    MINIFIED.get_or_init(|| {
        SOURCE
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("//"))
            .fold(String::with_capacity(SOURCE.len()), |mut out, line| {
                out.push_str(line);
                out.push('\n');
                out
            })
    })
}

/// The script for one site.
pub fn render(config: &ScriptConfig) -> String {
    // `</` could end an inline <script> if someone pastes the body into a page.
    let json = serde_json::to_string(config)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    minified().replacen("__CONFIG__", &json, 1)
}

/// A strong validator for the rendered script.
pub fn etag(body: &str) -> String {
    format!("\"{}\"", &sha256_hex(body.as_bytes())[..20])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn demo() -> String {
        render(&ScriptConfig {
            site: "site_demo_shop".into(),
            endpoint:
                "https://abc.execute-api.eu-central-1.amazonaws.com/t/site_demo_shop/sessions"
                    .into(),
            amo_fields: vec![],
        })
    }

    #[test]
    fn the_served_script_has_its_config_and_no_comment_lines() {
        let script = demo();
        assert!(script.contains(r#"var C = {"site":"site_demo_shop","endpoint":"https://abc"#));
        assert!(!script.contains("__CONFIG__"));
        assert!(
            script
                .lines()
                .all(|l| !l.starts_with("//") && l == l.trim())
        );
        assert!(
            !script.contains("/*"),
            "block comments would survive the line-based minifier"
        );
    }

    #[test]
    fn the_script_stays_small() {
        let script = demo();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(script.as_bytes()).unwrap();
        let gzipped = gz.finish().unwrap().len();
        // Budgets, so growth is a decision: BENCHMARKS.md has the current figures.
        assert!(script.len() < 6 * 1024, "minified: {} bytes", script.len());
        assert!(gzipped < 2 * 1024, "gzipped: {gzipped} bytes");
    }
}
