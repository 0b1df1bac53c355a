//! The HTTP server: the items API, health and readiness probes, Prometheus metrics, and in
//! webhook mode Telegram's updates, all on one listener (`server.listen`).
//!
//! The router is built here; the application binds the listener, merges in the webhook
//! route when needed and runs it until the process stops.

pub mod items;
mod limits;

pub use limits::{ServerLimits, serve};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::app::Core;
use crate::metrics::Metrics;
use crate::notify::IngestBell;

/// Bearer token for `POST /api/items`.
pub const API_TOKEN_VAR: &str = "ECOBRIEF_API_TOKEN";
/// Secret Telegram must send with every webhook request.
pub const WEBHOOK_SECRET_VAR: &str = "ECOBRIEF_WEBHOOK_SECRET";

/// Routes of our own; a webhook URL path may not take one of them.
pub const RESERVED_PATHS: &[&str] = &["/api/items", "/healthz", "/readyz", "/metrics"];

/// How long `/readyz` waits for the database before calling it not ready (an ingest may
/// hold it).
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Secrets the server needs. Passed in rather than read from the environment inside the
/// library, so tests (one process, many servers) never race on `set_var`.
#[derive(Clone, Default)]
pub struct Secrets {
    pub api_token: Option<String>,
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values: this may end up in a log line.
        f.debug_struct("Secrets")
            .field("api_token", &self.api_token.as_ref().map(|_| "…"))
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Secrets {
    /// `ECOBRIEF_API_TOKEN` and `ECOBRIEF_WEBHOOK_SECRET`; unset or blank is `None`.
    pub fn from_env() -> Secrets {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Secrets {
            api_token: var(API_TOKEN_VAR),
            webhook_secret: var(WEBHOOK_SECRET_VAR),
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ServerState {
    pub core: Core,
    pub metrics: Arc<Metrics>,
    /// `None`: the API answers 503 until a token is configured.
    pub api_token: Option<Arc<str>>,
    pub max_body_bytes: usize,
    /// Rung after a push stored documents.
    pub ingested: IngestBell,
}

impl ServerState {
    /// The state for `core`, with its metrics and `server.max_body_bytes`.
    pub fn new(core: Core, api_token: Option<String>, ingested: IngestBell) -> ServerState {
        ServerState {
            metrics: Arc::clone(&core.metrics),
            max_body_bytes: core.settings.server.max_body_bytes,
            core,
            api_token: api_token.filter(|t| !t.is_empty()).map(Arc::from),
            ingested,
        }
    }
}

/// Our routes: `POST /api/items`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn router(state: ServerState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route(
            "/api/items",
            post(items::post_items).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Binds `address`; the error names the address and the setting to change.
pub async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address).await.map_err(|e| {
        format!(
            "cannot listen on {address} (server.listen): {e}; free the port, choose another \
             server.listen, or set server.enabled = false"
        )
    })
}

/// Equality that takes the same time wherever the first difference is, so a token cannot
/// be guessed byte by byte from response times. Only the length can leak.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    // Keeps the optimiser from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

/// Telegram's rule for `secret_token`: 1–256 of `A-Z a-z 0-9 _ -`. Checked here because
/// teloxide panics on a bad one.
pub fn check_webhook_secret(secret: &str) -> Result<(), String> {
    if !(1..=256).contains(&secret.len()) {
        return Err(format!(
            "{WEBHOOK_SECRET_VAR} must be 1 to 256 characters long (it has {})",
            secret.len()
        ));
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{WEBHOOK_SECRET_VAR} may only contain A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        ));
    }
    Ok(())
}

/// Checks the webhook path Telegram posts to: our routes are taken, and the router only
/// accepts plain path characters.
pub fn check_webhook_path(path: &str) -> Result<(), String> {
    if RESERVED_PATHS.contains(&path) {
        return Err(format!(
            "the webhook URL path {path} is one of ecobrief's own routes ({}); use another, e.g. /telegram/webhook",
            RESERVED_PATHS.join(", ")
        ));
    }
    let plain = path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~%".contains(&b))
        && !path
            .split('/')
            .any(|segment| segment.starts_with(['{', ':', '*']));
    if !plain {
        return Err(format!(
            "the webhook URL path {path:?} may only contain letters, digits and / - _ . ~"
        ));
    }
    Ok(())
}

/// Largest webhook update read (axum's default limit, which teloxide's handler has too).
const WEBHOOK_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// How much of a malformed update the log line quotes.
const WEBHOOK_PREVIEW_CHARS: usize = 120;

/// Wraps teloxide's webhook router with our own check of
/// `X-Telegram-Bot-Api-Secret-Token`, in constant time (teloxide's own check, which still
/// runs after ours, compares with `!=`), and of the body: one that is not a JSON update
/// is refused with a 400 and logged as one short line (teloxide would log all of it, over
/// several lines).
pub fn guard_webhook(webhook: Router, secret: String) -> Router {
    webhook.layer(axum::middleware::from_fn_with_state(
        Arc::<str>::from(secret),
        webhook_secret_check,
    ))
}

async fn webhook_secret_check(
    State(secret): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get("x-telegram-bot-api-secret-token")
        .map(HeaderValue::as_bytes);
    match given {
        Some(given) if constant_time_eq(given, secret.as_bytes()) => {}
        _ => {
            tracing::warn!("webhook request without the right secret token refused");
            return (
                StatusCode::UNAUTHORIZED,
                "missing or wrong X-Telegram-Bot-Api-Secret-Token\n",
            )
                .into_response();
        }
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, WEBHOOK_MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!("webhook: update body refused: {e}");
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read the update (at most {WEBHOOK_MAX_BODY_BYTES} bytes): {e}\n"),
            )
                .into_response();
        }
    };
    if let Err(reason) = check_update(&body) {
        tracing::warn!("{}", malformed_update_line(&body, &reason));
        return (
            StatusCode::BAD_REQUEST,
            format!("not a Telegram update: {reason}\n"),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(body)))
        .await
}

/// What every Telegram update is: a JSON object with an integer `update_id`. The rest is
/// teloxide's to read.
fn check_update(body: &[u8]) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Update {
        #[allow(dead_code)]
        update_id: i64,
    }
    std::str::from_utf8(body).map_err(|e| format!("not UTF-8 ({e})"))?;
    serde_json::from_slice::<Update>(body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `webhook: malformed update (N bytes, reason): "start of the first line"`, escaped, so it
/// stays one line whatever the body holds.
fn malformed_update_line(body: &[u8], reason: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let first = text.lines().next().unwrap_or_default();
    let mut preview: String = first.chars().take(WEBHOOK_PREVIEW_CHARS).collect();
    if preview.len() < text.len() {
        preview.push('…');
    }
    format!(
        "webhook: malformed update ({} bytes, {}): \"{}\"",
        body.len(),
        reason.escape_debug(),
        preview.escape_debug()
    )
}

/// The process is up and answering.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database takes a write and Telegram answered the last request (or none
/// was made yet).
async fn readyz(State(state): State<ServerState>) -> Response {
    // Its own connection, on a blocking thread: an ingest or a slow reader elsewhere
    // cannot hold it up, only another writer for the busy timeout.
    let write = state.core.db.run(|store| {
        let now = chrono::Utc::now().to_rfc3339();
        store.set_meta_value("ready_check", &now)
    });
    let not_ready = |reason: String| (StatusCode::SERVICE_UNAVAILABLE, reason).into_response();
    match tokio::time::timeout(READY_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return not_ready(format!("database not writable: {e}\n")),
        Err(_) => {
            return not_ready(format!(
                "database busy: no write within {} s\n",
                READY_TIMEOUT.as_secs()
            ));
        }
    }
    if state.metrics.telegram_reachable() == Some(false) {
        return not_ready("Telegram Bot API unreachable on the last request\n".to_string());
    }
    (StatusCode::OK, "ready\n").into_response()
}

/// Prometheus text exposition.
async fn metrics(State(state): State<ServerState>) -> Response {
    let subscribers = match state.core.db.run(|store| store.subscriber_count()).await {
        Ok(n) => n,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot count subscribers: {e}\n"),
            )
                .into_response();
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(subscribers),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn a_malformed_update_is_one_short_line() {
        assert!(check_update(br#"{"update_id": 5, "message": {}}"#).is_ok());
        let body = format!("not json\r\n{}\nsecond line", "x".repeat(500));
        let reason = check_update(body.as_bytes()).unwrap_err();
        let line = malformed_update_line(body.as_bytes(), &reason);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(line.starts_with(&format!("webhook: malformed update ({} bytes", body.len())));
        assert!(!line.contains("second line"), "{line}");
        assert!(line.chars().count() < 250, "{line}");
        assert!(check_update(br#"{"message": {}}"#).is_err());
        assert!(check_update(b"[1, 2]").is_err());
        assert!(check_update(b"\xff\xfe").is_err());
    }

    #[test]
    fn webhook_secret_and_path_rules() {
        assert!(check_webhook_secret("abc_DEF-123").is_ok());
        assert!(check_webhook_secret("").is_err());
        assert!(check_webhook_secret("has space").is_err());
        assert!(check_webhook_path("/telegram/webhook").is_ok());
        assert!(check_webhook_path("/metrics").is_err());
        assert!(check_webhook_path("/a/:id").is_err());
    }
}
