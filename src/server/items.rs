//! `POST /api/items`: lets an existing pipeline push a document (a brief, an article, a
//! commentary) or one JSON item, instead of dropping files into a watched folder.

use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ServerState, constant_time_eq};
use crate::app::IngestOutcomeError;
use crate::ingest::frontmatter::parse_doc_date;
use crate::ingest::impact::{ImpactLine, parse_impact_line};
use crate::ingest::text::normalize_space;
use crate::ingest::{article::clean_summary, content_hash, item_key};
use crate::model::{DatedBy, DocumentMeta, Item, ItemKind, ParsedDocument};

/// The `source` label items pushed here are counted under in `/metrics`.
pub use crate::metrics::API_SOURCE;

/// How long a JSON item's summary may be when shown in the brief (as for articles).
const SUMMARY_CHARS: usize = 160;
/// Longest `?name=` kept; it only names the document in messages and may carry its date.
const MAX_NAME_CHARS: usize = 120;

/// One item as JSON. Unknown fields are refused, so a misspelt field (`keypoints`) is an
/// error the sender sees rather than data silently dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonItem {
    pub title: String,
    /// `YYYY-MM-DD` (the brief's day) or RFC 3339 (when it happened; the day follows in the
    /// configured timezone).
    pub date: String,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub key_points: Vec<String>,
    /// `对股市：利多。…` lines, as in a document's `影响` list.
    #[serde(default)]
    pub impacts: Vec<String>,
    #[serde(default)]
    pub source_url: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl JsonItem {
    /// The item as a one-item article document. `Err` is a message for the sender.
    pub fn into_document(self, tz: chrono_tz::Tz, raw: &str) -> Result<ParsedDocument, String> {
        let title = normalize_space(&self.title);
        if title.is_empty() {
            return Err("title is empty".to_string());
        }
        let date = parse_doc_date(&self.date, tz).ok_or_else(|| {
            format!(
                "date {:?} is not a date; write it as YYYY-MM-DD or RFC 3339 (2026-03-12T08:30:00+08:00)",
                self.date
            )
        })?;
        let source_url = match self.source_url.map(|u| u.trim().to_string()) {
            Some(u) if u.is_empty() => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u),
            Some(u) => {
                return Err(format!(
                    "source_url {u:?} is not an http:// or https:// URL"
                ));
            }
            None => None,
        };
        let key = item_key(source_url.as_deref(), &title, date.day);
        let mut item = Item {
            published_at: date.instant,
            section: self
                .section
                .map(|s| normalize_space(&s))
                .unwrap_or_default(),
            summary: self
                .summary
                .map(|s| clean_summary(&s, SUMMARY_CHARS))
                .unwrap_or_default(),
            key_points: clean_list(self.key_points),
            source_url,
            categories: clean_list(self.categories),
            tags: clean_list(self.tags),
            ..Item::new(ItemKind::Article, key.clone(), date.day, title.clone())
        };
        for (i, line) in self.impacts.iter().enumerate() {
            match parse_impact_line(line.trim()) {
                Some(ImpactLine::Impact(impact)) => item.impacts.push(impact),
                Some(ImpactLine::Advice(advice)) => item.advice.push(advice),
                None => {
                    return Err(format!(
                        "impacts[{i}] {line:?} is not an impact line; write it as 对股市：利多。理由"
                    ));
                }
            }
        }
        Ok(ParsedDocument {
            meta: DocumentMeta {
                // The identity an article file with this item gets (SHA-256 of "article",
                // 0x1f, the item key), so pushing the same article again, as JSON or as
                // markdown, replaces it instead of adding a second copy
                // (`store::SAME_ITEM_DAYS` relies on it).
                key: content_hash(&format!("article\u{1f}{key}")),
                kind: ItemKind::Article,
                brief_date: date.day,
                title,
                summary: Vec::new(),
                cover_image: None,
                sections: Vec::new(),
                source_path: format!("{API_SOURCE}:json"),
                content_hash: content_hash(raw),
            },
            items: vec![item],
            warnings: Vec::new(),
            dated_by: DatedBy::Entry,
            origin: crate::model::Origin::Push,
        })
    }
}

fn clean_list(list: Vec<String>) -> Vec<String> {
    list.iter()
        .map(|s| normalize_space(s))
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Debug, Default, Deserialize)]
struct ItemsQuery {
    name: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"ecobrief\""),
    );
    response
}

/// The token after `Bearer ` (scheme in any case), if the header has one.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
}

/// What the body is, from its Content-Type.
enum BodyKind {
    Document,
    Json,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "text/markdown" | "text/x-markdown" | "text/plain" => Some(BodyKind::Document),
        "application/json" => Some(BodyKind::Json),
        _ => None,
    }
}

/// Characters a `?name=` may not hold: control characters (CR, LF, NUL, tab…), which
/// would break log lines and messages, and bidirectional-formatting characters, which
/// make a name display other than it reads (`brief`, U+202E, `dm.exe` shows as
/// `briefexe.md`).
fn refused_in_name(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// The document name for messages and for a date in it: the `?name=` file name without
/// any folder part, else a default that says where it came from. `Err` (a message for the
/// sender) when the name holds a character [`refused_in_name`].
fn document_name(uri: &axum::http::Uri) -> Result<String, String> {
    let name = Query::<ItemsQuery>::try_from_uri(uri)
        .ok()
        .and_then(|Query(q)| q.name);
    if let Some((at, c)) = name
        .iter()
        .flat_map(|n| n.chars().enumerate())
        .find(|(_, c)| refused_in_name(*c))
    {
        let what = if c.is_control() {
            "a control character"
        } else {
            "a bidirectional-formatting character"
        };
        return Err(format!(
            "query parameter name: character {} is U+{:04X}, {what}; send a plain file name \
             such as brief-2026-03-12.md, without line breaks, NUL, other control characters \
             or direction marks",
            at + 1,
            u32::from(c)
        ));
    }
    Ok(name
        .map(|n| {
            let base = n.rsplit(['/', '\\']).next().unwrap_or_default();
            base.trim().chars().take(MAX_NAME_CHARS).collect::<String>()
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "api-document.md".to_string()))
}

pub(super) async fn post_items(State(state): State<ServerState>, request: Request) -> Response {
    let Some(expected) = state.api_token.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "API disabled: set {} in the environment of ecobrief and restart it",
                super::API_TOKEN_VAR
            ),
        );
    };
    // Authentication before the body is read: an unknown sender cannot make us buffer it.
    match bearer(request.headers()) {
        None => {
            return unauthorized(
                "missing bearer token: send the header `Authorization: Bearer <ECOBRIEF_API_TOKEN>`",
            );
        }
        Some(token) if !constant_time_eq(token, expected.as_bytes()) => {
            return unauthorized("wrong bearer token");
        }
        Some(_) => {}
    }
    let Some(kind) = body_kind(request.headers()) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type: send text/markdown or text/plain (a document) or application/json (one item)",
        );
    };
    let name = match document_name(request.uri()) {
        Ok(name) => name,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let limit = state.max_body_bytes;
    // `Bytes` honours the route's DefaultBodyLimit; its rejection is turned into a message
    // that names the limit and the setting.
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body larger than the {limit}-byte limit (server.max_body_bytes); send a smaller document"
                ),
            );
        }
        Err(rejection) => {
            return error(
                rejection.status(),
                format!("cannot read the body: {}", rejection.body_text()),
            );
        }
    };
    let core = state.core.clone();
    let stored = tokio::task::spawn_blocking(move || match kind {
        BodyKind::Document => {
            core.ingest_bytes(&name, &body, API_SOURCE, crate::model::Origin::Push)
        }
        BodyKind::Json => {
            let raw = String::from_utf8_lossy(&body);
            let item: JsonItem = serde_json::from_slice(&body)
                .map_err(|e| IngestOutcomeError::Invalid(format!("JSON item: {e}")))?;
            let doc = item
                .into_document(core.settings.tz, &raw)
                .map_err(|e| IngestOutcomeError::Invalid(format!("JSON item: {e}")))?;
            core.store_document(&doc, API_SOURCE)
        }
    })
    .await;
    match stored {
        Ok(Ok(keys)) => {
            tracing::info!("API: stored {} item(s)", keys.len());
            state.ingested.ring();
            (StatusCode::CREATED, axum::Json(json!({ "items": keys }))).into_response()
        }
        Ok(Err(IngestOutcomeError::Invalid(message))) => error(StatusCode::BAD_REQUEST, message),
        Ok(Err(e @ IngestOutcomeError::Store(_))) => {
            tracing::error!("API: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{e}; try again later"),
            )
        }
        Err(e) => {
            tracing::error!("API: the ingest task failed: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the document could not be processed; see the ecobrief log",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn document_name_keeps_only_the_file_name() {
        let name = |uri: &str| document_name(&uri.parse().unwrap()).unwrap();
        assert_eq!(
            name("/api/items?name=..%2F..%2Fbrief-2026-03-12.md"),
            "brief-2026-03-12.md"
        );
        assert_eq!(name("/api/items?other=1"), "api-document.md");
        assert_eq!(name("/api/items"), "api-document.md");
        assert_eq!(name("/api/items?name=%E7%AE%80%E6%8A%A5.md"), "简报.md");
    }

    #[test]
    fn document_name_refuses_control_and_bidi_characters() {
        for bad in [
            "a%0D%0Ab.md",
            "a%00.md",
            "a%09.md",
            "a%7F.md",
            "a%C2%85.md",
            "brief%E2%80%AEdm.exe",
            "%E2%81%A6x%E2%81%A9.md",
            "x%E2%80%8F.md",
            "x%D8%9C.md",
            "folder%0A%2Fbrief.md",
        ] {
            let e =
                document_name(&format!("/api/items?name={bad}").parse().unwrap()).expect_err(bad);
            assert!(
                e.contains("query parameter name") && e.contains("U+"),
                "{e}"
            );
        }
        let e = document_name(&"/api/items?name=ab%0D".parse().unwrap()).unwrap_err();
        assert!(
            e.contains("character 3 is U+000D, a control character"),
            "{e}"
        );
    }

    #[test]
    fn json_item_becomes_an_article() {
        let item: JsonItem = serde_json::from_str(
            r#"{"title":"金价走高","date":"2026-03-12","impacts":["对黄金：利多。避险","投资启示：观望"]}"#,
        )
        .unwrap();
        let doc = item.into_document(chrono_tz::Asia::Shanghai, "{}").unwrap();
        assert_eq!(doc.items.len(), 1);
        assert_eq!(doc.items[0].impacts.len(), 1);
        assert_eq!(doc.items[0].advice, vec!["观望".to_string()]);
        assert_eq!(doc.items[0].brief_date.to_string(), "2026-03-12");
    }

    #[test]
    fn json_item_errors_name_the_field() {
        let bad: JsonItem = serde_json::from_str(r#"{"title":"x","date":"yesterday"}"#).unwrap();
        let e = bad.into_document(chrono_tz::UTC, "").unwrap_err();
        assert!(e.contains("date"), "{e}");
        let bad: JsonItem =
            serde_json::from_str(r#"{"title":"x","date":"2026-03-12","impacts":["涨"]}"#).unwrap();
        let e = bad.into_document(chrono_tz::UTC, "").unwrap_err();
        assert!(e.contains("impacts[0]"), "{e}");
    }
}
