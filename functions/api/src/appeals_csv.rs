//! `GET /api/appeals?format=csv` (or `Accept: text/csv`), with the journal's filters and
//! `excel=1`, and `GET /api/exports/{id}`. The rows are `shared::app::appeals_csv`'s one
//! exporter: the local server streams it ([`CsvAnswer`]); on a Lambda ([`answer`]) an export
//! that fits one answer (size, time) is answered, and a larger one is queued as a job that
//! writes it to the export bucket: `202 {"export": {"id", "status": "queued"}}`, and
//! `GET /api/exports/{id}` then hands out a link.

use crate::appeals;
use crate::call::Call;
use http::{HeaderMap, Response, StatusCode, header};
use serde_json::{Value, json};
use shared::app::appeals_csv::{self, CONTENT_TYPE, CsvWriter};
use shared::domain::csv::Dialect;
use shared::domain::ids::ExportId;
use shared::edge::web::{self, ApiError, HttpResponse, Invalid};
use shared::store::CsvExportState;
use std::time::{Duration, Instant};

/// Whether a request asks for CSV: `format=csv`, or no `format` and an `Accept` naming
/// `text/csv`. Anything else (JSON, or a `format` to refuse) is the listing's to answer.
pub fn asks_for_csv(query: Option<&str>, headers: &HeaderMap) -> bool {
    match web::query_param(query, "format").as_deref() {
        Some("csv") => true,
        Some(_) => false,
        None => accepts_csv(headers),
    }
}

fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let mut parts = media.split(';').map(str::trim);
            let csv = parts
                .next()
                .is_some_and(|t| t.eq_ignore_ascii_case("text/csv"));
            // `q=0` says "not this".
            csv && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

/// Whether the call is for CSV, refusing a `format` that is neither and `excel` without CSV.
pub fn wants_csv(call: &Call<'_>, headers: Option<&HeaderMap>) -> Result<bool, ApiError> {
    let csv = match call.param("format").as_deref() {
        None => headers.is_some_and(accepts_csv),
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "format",
                Invalid::InvalidValue,
                format!("format `{other}`: use csv or json."),
            ));
        }
    };
    if !csv && call.param("excel").is_some() {
        return Err(ApiError::invalid(
            "excel",
            Invalid::InvalidValue,
            "excel=1 shapes the CSV export: add format=csv.",
        ));
    }
    Ok(csv)
}

/// A CSV export asked for and accepted (filters read, the caller authenticated), ready to be
/// written: the local server streams it.
pub struct CsvAnswer {
    pub writer: CsvWriter,
    pub file_name: String,
}

impl CsvAnswer {
    /// The answer with `body`: 200, `text/csv`, saved under its file name.
    pub fn response<B>(&self, body: B) -> Response<B> {
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE),
        );
        if let Ok(v) = format!("attachment; filename=\"{}\"", self.file_name).parse() {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        response
    }
}

/// Reads the request's filters and dialect: the same filters (and the same refusals) as the
/// JSON listing; a CSV has every matching appeal, so it takes no page parameters.
pub fn prepare(call: &Call<'_>, headers: &HeaderMap) -> Result<CsvAnswer, ApiError> {
    wants_csv(call, Some(headers))?;
    for paging in ["limit", "cursor"] {
        if call.param(paging).is_some() {
            return Err(ApiError::invalid(
                paging,
                Invalid::InvalidValue,
                format!(
                    "A CSV export holds every matching appeal; {paging} pages the JSON listing."
                ),
            ));
        }
    }
    let excel = match call.param("excel").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "excel",
                Invalid::InvalidValue,
                format!("excel `{other}`: use 1 (Excel: `;` and a byte order mark) or 0."),
            ));
        }
    };
    let filter = appeals::filter(call)?;
    Ok(CsvAnswer {
        writer: CsvWriter::new(call.account.id.clone(), filter, Dialect { excel }),
        file_name: format!("appeals-{}.csv", call.now.format("%Y-%m-%d-%H%M%S")),
    })
}

/// The Lambda's answer: the whole CSV if it fits one answer, else the export queued.
pub async fn answer(call: &Call<'_>, headers: &HeaderMap) -> HttpResponse {
    match inline_or_queued(call, headers).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn inline_or_queued(call: &Call<'_>, headers: &HeaderMap) -> Result<HttpResponse, ApiError> {
    let mut prepared = prepare(call, headers)?;
    let limits = call.app.export_limits;
    let started = Instant::now();
    let mut body = String::new();
    let mut answer_bytes = 0;
    while let Some(chunk) = prepared.writer.next_chunk(call.app).await? {
        answer_bytes += json_len(&chunk);
        body.push_str(&chunk);
        let out_of_room = answer_bytes > limits.inline_bytes
            || started.elapsed() > limits.inline_time
            || call.deadline.remaining() < Duration::from_secs(2);
        if out_of_room {
            return queued(call, prepared).await;
        }
    }
    Ok(prepared.response(body))
}

/// The bytes `s` takes in the Lambda's JSON answer, where quotes, backslashes and control
/// characters (CR and LF end every row) are escaped.
fn json_len(s: &str) -> usize {
    s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

async fn queued(call: &Call<'_>, prepared: CsvAnswer) -> Result<HttpResponse, ApiError> {
    let CsvAnswer { writer, .. } = prepared;
    let (filter, dialect) = writer.into_request();
    let export = appeals_csv::queue(call.app, &call.account.id, filter, dialect, call.now).await?;
    let link = format!("/api/exports/{}", export.id);
    let mut response = web::json(
        StatusCode::ACCEPTED,
        &json!({"export": {"id": export.id, "status": "queued", "status_url": link}}),
    );
    if let Ok(v) = link.parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /api/exports/{id}`: `queued`, `failed` (with the reason) or `done` with a link that
/// works for an hour.
pub async fn status(call: &Call<'_>, id: &str) -> Result<Value, ApiError> {
    let not_found = || ApiError::not_found(format!("No export {id}."));
    let id = ExportId::parse(id).map_err(|_| not_found())?;
    let status = appeals_csv::status(call.app, &call.account.id, &id, call.now)
        .await?
        .ok_or_else(not_found)?;
    let export = &status.export;
    let mut out = json!({
        "id": export.id,
        "created_at": export.created_at,
        "excel": export.dialect.excel,
    });
    match &export.state {
        CsvExportState::Queued => {
            out["status"] = json!("queued");
            out["rows_written"] = json!(export.progress.as_ref().map_or(0, |p| p.rows));
        }
        CsvExportState::Done => {
            out["status"] = json!("done");
            out["rows"] = json!(export.rows);
            out["bytes"] = json!(export.bytes);
            out["finished_at"] = json!(export.finished_at);
            out["url"] = json!(status.url);
            out["url_expires_at"] = json!(status.url_expires_at);
        }
        CsvExportState::Failed { reason } => {
            out["status"] = json!("failed");
            out["reason"] = json!(reason);
            out["finished_at"] = json!(export.finished_at);
        }
    }
    Ok(json!({ "export": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn csv_is_asked_for_by_format_or_by_accept_and_format_wins() {
        let none = HeaderMap::new();
        assert!(asks_for_csv(Some("format=csv&from=x"), &none));
        assert!(!asks_for_csv(Some("from=x"), &none));
        assert!(asks_for_csv(None, &accept("text/csv")));
        assert!(asks_for_csv(
            None,
            &accept("application/json, Text/CSV; q=0.5")
        ));
        assert!(!asks_for_csv(
            None,
            &accept("text/csv;q=0, application/json")
        ));
        assert!(!asks_for_csv(None, &accept("text/html,*/*;q=0.8")));
        assert!(!asks_for_csv(Some("format=json"), &accept("text/csv")));
        assert!(!asks_for_csv(Some("format=xml"), &none));
    }

    #[test]
    fn the_json_size_counts_what_the_lambda_escapes() {
        assert_eq!(json_len("ab"), 2);
        // `\"a\"\r\n` in the JSON: two bytes for each of the four escaped ones.
        assert_eq!(json_len("\"a\"\r\n"), 9);
        assert_eq!(json_len("\u{1}"), "\\u0001".len());
        assert_eq!(json_len("Мария"), "Мария".len());
        // Never under what serde_json (the Lambda runtime's) writes; over only for the rare
        // `\b` and `\f`, which it writes in two bytes.
        for s in [
            "a,b\r\n",
            "\"x\"\\",
            "\t\u{7f}\u{1f}",
            "\u{8}\u{c}",
            "Ёж;\n",
        ] {
            let written = serde_json::to_string(s).unwrap().len() - 2;
            assert!(json_len(s) >= written, "{s:?}");
        }
    }
}
