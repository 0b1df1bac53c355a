//! Fetching one remote source: a conditional GET with a per-source time limit, a body
//! limit enforced while the body streams in, and retries with jittered exponential
//! backoff for the failures that may pass (no connection, timeouts, 5xx, 429).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Sent with every request, so operators of the sites we poll can tell who we are.
pub const USER_AGENT: &str = concat!(
    "ecobrief/",
    env!("CARGO_PKG_VERSION"),
    " (+https://t.me/ecodailyreport)"
);

/// First pause before a retry; each further retry doubles it, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest `Retry-After` we honour; a server asking for more is simply polled next time.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a fetch failed. Shown after the source's name and URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(
        "no complete answer within {seconds} s (fetch.timeout_seconds); check that the server is up, or raise the timeout"
    )]
    Timeout { seconds: u64 },
    #[error("cannot connect: {0}; check the URL and the network")]
    Network(String),
    #[error("HTTP {status}{}", status_hint(*.status))]
    Status {
        status: u16,
        retry_after: Option<RetryAfter>,
    },
    #[error(
        "the body is larger than the {limit}-byte limit (fetch.max_bytes); raise the limit if the document really is that big"
    )]
    TooLarge { limit: u64 },
    #[error("invalid request: {0}; check the URL")]
    Request(String),
}

/// A server's `Retry-After`, carried with a 429 or 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

fn status_hint(status: u16) -> &'static str {
    match status {
        404 | 410 => " (not found); check the URL",
        401 | 403 => " (access refused); the server does not let us read it",
        429 => {
            " (too many requests); the server asks us to slow down: raise fetch.interval_minutes"
        }
        400..=499 => "; check the URL",
        _ => " (server error); it is retried on the next poll",
    }
}

impl FetchError {
    /// Only failures that may pass on their own are retried: a 4xx (other than 429) or an
    /// oversized body will be the same on the next try.
    fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Network(_) => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            FetchError::TooLarge { .. } | FetchError::Request(_) => false,
        }
    }
}

/// The slots a fetch waits for: one of all fetches' (`ingest.max_concurrent_fetches`)
/// and one of its host's (`ingest.max_fetches_per_host`). Tokio semaphores, so a task
/// waiting for a slot holds no thread and no lock.
#[derive(Debug, Clone)]
pub struct FetchSlots {
    pub global: Arc<Semaphore>,
    pub host: Arc<Semaphore>,
}

impl FetchSlots {
    /// Waits for both slots; they are free again when the returned permits drop. The
    /// host's is taken first, so a fetch waiting for its busy host holds no global slot
    /// that fetches to other hosts could use (and every fetch takes them in one order).
    async fn take(&self) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        // Our semaphores are never closed, so neither wait fails; if one did, the fetch
        // would go on without a slot rather than never.
        let host = Arc::clone(&self.host).acquire_owned().await.ok()?;
        let global = Arc::clone(&self.global).acquire_owned().await.ok()?;
        Some((host, global))
    }
}

/// How to fetch one source.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub url: String,
    pub timeout: Duration,
    pub max_bytes: u64,
    pub retries: u32,
    /// Validators from the last successful fetch, sent back for a conditional GET.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The slots each attempt waits for; none, no limit.
    pub slots: Option<FetchSlots>,
}

#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing changed since the validators we sent.
    NotModified,
    Body {
        bytes: Vec<u8>,
        content_type: Option<String>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// The client all sources share: our User-Agent, and no overall timeout of its own (each
/// source brings its own).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().user_agent(USER_AGENT).build()
}

/// Fetches `spec.url`, retrying what may pass with jittered exponential backoff.
pub async fn fetch(client: &reqwest::Client, spec: &FetchSpec) -> Result<Fetched, FetchError> {
    let mut attempt = 0;
    loop {
        let error = match fetch_once(client, spec).await {
            Ok(fetched) => return Ok(fetched),
            Err(e) => e,
        };
        if attempt >= spec.retries || !error.retryable() {
            return Err(error);
        }
        // A server asking to wait longer than we would is simply polled next time.
        if let FetchError::Status {
            retry_after: Some(RetryAfter(wait)),
            ..
        } = &error
            && *wait > MAX_RETRY_AFTER
        {
            return Err(error);
        }
        let pause = match &error {
            FetchError::Status {
                retry_after: Some(RetryAfter(wait)),
                ..
            } if *wait <= MAX_RETRY_AFTER => *wait,
            _ => backoff(attempt),
        };
        tracing::debug!(
            "{}: {error}; retrying in {pause:?}",
            crate::config::redact_url(&spec.url)
        );
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

/// The pause before retry `attempt + 1`: exponential, times a random factor in [0.5, 1.5)
/// so that sources failing together (a network blip) do not retry in lockstep.
pub fn backoff(attempt: u32) -> Duration {
    let exponential = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_BACKOFF);
    exponential.mul_f64(0.5 + jitter())
}

/// A number in [0, 1) from the clock's nanoseconds: enough to spread retries, and it
/// needs no random-number crate.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // Mix the bits: the low digits of a clock are often coarse (whole microseconds).
    let mixed = nanos.wrapping_mul(2_654_435_761) >> 8;
    f64::from(mixed % 1_000_000) / 1_000_000.0
}

/// One try: the whole exchange, body included, must fit in `spec.timeout` (counted once
/// the fetch has its slots). The slots are held for this try only, not while waiting to
/// retry.
async fn fetch_once(client: &reqwest::Client, spec: &FetchSpec) -> Result<Fetched, FetchError> {
    let _slots = match &spec.slots {
        Some(slots) => slots.take().await,
        None => None,
    };
    match tokio::time::timeout(spec.timeout, exchange(client, spec)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            seconds: spec.timeout.as_secs(),
        }),
    }
}

async fn exchange(client: &reqwest::Client, spec: &FetchSpec) -> Result<Fetched, FetchError> {
    let mut request = client.get(&spec.url);
    if let Some(etag) = &spec.etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    if let Some(modified) = &spec.last_modified {
        request = request.header(IF_MODIFIED_SINCE, modified);
    }
    let mut response = request.send().await.map_err(request_error)?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            retry_after: retry_after(response.headers()).map(RetryAfter),
        });
    }
    // A declared length over the limit is refused before any of the body is read.
    if response
        .content_length()
        .is_some_and(|n| n > spec.max_bytes)
    {
        return Err(FetchError::TooLarge {
            limit: spec.max_bytes,
        });
    }
    let headers = response.headers();
    let content_type = header_text(headers, CONTENT_TYPE);
    let etag = header_text(headers, ETAG);
    let last_modified = header_text(headers, LAST_MODIFIED);
    // The declared length may be absent or wrong (chunked bodies): count what arrives,
    // and stop as soon as it passes the limit rather than after buffering it all.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if (bytes.len() + chunk.len()) as u64 > spec.max_bytes {
            return Err(FetchError::TooLarge {
                limit: spec.max_bytes,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body {
        bytes,
        content_type,
        etag,
        last_modified,
    })
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `Retry-After` in seconds (the HTTP-date form is rare for feeds and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_text(headers, RETRY_AFTER)?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn request_error(e: reqwest::Error) -> FetchError {
    // reqwest's text names the URL, query and all: the caller names it, redacted.
    let e = e.without_url();
    if e.is_builder() {
        return FetchError::Request(e.to_string());
    }
    // The error's own text is terse ("error sending request"); its causes say why.
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    FetchError::Network(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 0..3 {
            let base = BASE_BACKOFF * 2u32.pow(attempt);
            let pause = backoff(attempt);
            assert!(pause >= base / 2 && pause < base * 3 / 2, "{pause:?}");
        }
        assert!(backoff(30) < MAX_BACKOFF * 3 / 2);
    }
}
