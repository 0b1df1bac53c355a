//! Sources: folders, feeds and URLs polled for documents, on the ingest schedule and by
//! `/ingest`.
//!
//! [`poll_all`] polls every configured source and returns a [`SourcesReport`]; it does not
//! talk to Telegram: admins hear about health changes through a [`Notifier`]
//! ([`poll_and_notify`]). HTTP runs on the async workers; reading folders, parsing what
//! was fetched and every store write run on blocking threads, each with its own database
//! connection, so nothing else waits for a poll.
//!
//! Each source is polled on its own task and fails on its own: a bad feed (HTML instead of
//! XML, a timeout, an oversized body) gives that source an error and leaves the other
//! sources and every stored item alone. Nothing is saved from a body that did not parse.

pub mod charset;
pub mod feed;
pub mod feed_dates;
pub mod feed_repair;
pub mod http;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;

use crate::app::{AppError, Core, DirSourceError, IngestOutcomeError, bytes_hash};
use crate::config::FetchConfig;
use crate::notify::Notifier;
use crate::settings::{FetchLimits, Source, SourceSpec};
use crate::store::sources::{HealthChange, SourceState, Validators};
use http::{FetchError, FetchSlots, FetchSpec, Fetched};
use tokio::sync::Semaphore;

/// A source polled a little less than its interval ago is still due: the ingest cron
/// fires on the minute, and a poll that took a few seconds must not push the next one a
/// whole cron period later.
const INTERVAL_SLACK_SECONDS: i64 = 30;

/// Why polling one source failed. Every message names the source and says what to check.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {name}: {url}: {error}")]
    Fetch {
        name: String,
        url: String,
        error: FetchError,
    },
    #[error("source {name}: cannot set up the HTTP client: {message}")]
    Client { name: String, message: String },
    #[error(
        "source {name}: expected a feed, got an HTML page from {url}; set the source's url to the RSS, Atom or JSON Feed address, not the web page"
    )]
    HtmlPage { name: String, url: String },
    #[error(
        "source {name}: {url} is not a valid feed ({message}); check that it serves RSS 2.0, Atom or JSON Feed"
    )]
    BadFeed {
        name: String,
        url: String,
        message: String,
    },
    #[error(
        "source {name}: expected a document (markdown or plain text), got an HTML page from {url}; point the source at the raw document"
    )]
    HtmlDocument { name: String, url: String },
    #[error(
        "source {name}: {url} sent content type {content_type:?}, not a text document; a url source must serve markdown or plain text"
    )]
    WrongContentType {
        name: String,
        url: String,
        content_type: String,
    },
    #[error("source {name}: {message}")]
    Document { name: String, message: String },
    #[error(
        "source {name}: not saved: {message}; nothing from this poll was kept, it is tried again on the next one"
    )]
    Store { name: String, message: String },
    #[error("{0}")]
    Folder(String),
    #[error("source {name}: the poll stopped unexpectedly: {message}")]
    Task { name: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Dir,
    Feed,
    Url,
}

impl SourceKind {
    fn of(source: &Source) -> SourceKind {
        match source.kind {
            SourceSpec::Dir { .. } => SourceKind::Dir,
            SourceSpec::Feed { .. } => SourceKind::Feed,
            SourceSpec::Url { .. } => SourceKind::Url,
        }
    }
}

/// How polling one source ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Polled less than its `interval_minutes` ago (and not forced): not polled.
    Skipped,
    /// The server answered 304 to our validators: nothing was downloaded or parsed.
    NotModified,
    /// The body (or every file of a folder) is the same as last time: nothing parsed.
    Unchanged,
    /// Read, parsed and saved.
    Ingested,
    Failed,
    /// Still being fetched when the caller's deadline came (a publish goes on without
    /// it); it finishes, and records its health, on its own.
    Late,
}

/// One source's part of a poll.
#[derive(Debug, Clone)]
pub struct SourceReport {
    /// `SourceConfig::id`: the name, else the path or URL.
    pub source: String,
    pub kind: SourceKind,
    pub outcome: Outcome,
    /// Items in what was read (for a folder, also those of its unchanged files).
    pub items: usize,
    /// Items saved new or changed.
    pub new_items: usize,
    pub error: Option<String>,
    /// For a folder, one line per file (`ok …`, `error …`; at most 100 `ok` lines and
    /// 100 others, then a count of the rest); for a feed, entries left out.
    pub lines: Vec<String>,
    /// This poll made the source count as failing: admins are told, once.
    pub became_failing: bool,
    /// This poll ended a failure admins were told about: they are told, once.
    pub recovered: bool,
    /// Failures in a row before this poll.
    pub previous_failures: i64,
}

impl SourceReport {
    /// The line `/ingest` shows for this source.
    pub fn summary_line(&self) -> String {
        match self.outcome {
            Outcome::Skipped => format!("⏭ {}：未到抓取间隔，跳过", self.source),
            Outcome::NotModified => format!("➖ {}：没有更新（304）", self.source),
            Outcome::Unchanged => format!("➖ {}：内容未变（{} 条）", self.source, self.items),
            Outcome::Ingested => format!(
                "✅ {}：{} 条，新增或更新 {} 条",
                self.source, self.items, self.new_items
            ),
            Outcome::Failed => format!("❌ {}", self.error.as_deref().unwrap_or("失败")),
            Outcome::Late => format!("⏳ {}：仍在抓取，完成后入库", self.source),
        }
    }

    /// What admins are told about this source, if its health changed.
    pub fn admin_notice(&self) -> Option<String> {
        if self.became_failing {
            Some(format!(
                "⚠️ 来源「{}」抓取失败：{}\n恢复后会再通知一次，其间不再重复提醒。",
                self.source,
                self.error.as_deref().unwrap_or("未知错误")
            ))
        } else if self.recovered {
            Some(format!(
                "✅ 来源「{}」已恢复（此前连续失败 {} 次）。",
                self.source, self.previous_failures
            ))
        } else {
            None
        }
    }
}

/// Every configured source's part of one poll, in config order.
#[derive(Debug, Clone, Default)]
pub struct SourcesReport {
    pub sources: Vec<SourceReport>,
}

impl SourcesReport {
    pub fn get(&self, source: &str) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.source == source)
    }

    pub fn failed(&self) -> usize {
        self.sources
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .count()
    }

    pub fn new_items(&self) -> usize {
        self.sources.iter().map(|s| s.new_items).sum()
    }
}

/// What a successful poll of one source gave.
struct Done {
    outcome: Outcome,
    items: usize,
    new_items: usize,
    lines: Vec<String>,
    /// Stored for the next poll; `None` keeps what is stored (a 304, a folder).
    validators: Option<Validators>,
}

impl Done {
    fn empty(outcome: Outcome, validators: Option<Validators>) -> Done {
        Done {
            outcome,
            items: 0,
            new_items: 0,
            lines: Vec::new(),
            validators,
        }
    }
}

/// Polls every configured source that is due (every one when `force`), each on its own
/// task, and records each one's health. Never fails as a whole: a source that cannot be
/// polled is reported as failed. Fetches wait for slots: at most
/// `ingest.max_concurrent_fetches` at once, and `ingest.max_fetches_per_host` to one host
/// (each attempt holds its slots; a retry's backoff does not). With a `deadline`, feeds
/// and urls still being fetched then are reported [`Outcome::Late`] and left to finish
/// on their own; folders are always waited for.
pub async fn poll_all(
    core: &Core,
    force: bool,
    deadline: Option<tokio::time::Instant>,
) -> SourcesReport {
    let sources = core.settings.sources.clone();
    let tz = core.settings.tz;
    let states = core.db.run(|store| store.source_states()).await;
    let states: HashMap<String, SourceState> = match states {
        Ok(states) => states.into_iter().map(|s| (s.source.clone(), s)).collect(),
        Err(e) => {
            // Without the state every source looks due and unconditional: more work,
            // still correct.
            tracing::warn!("reading the sources' state: {e}");
            HashMap::new()
        }
    };
    let client = http::client().map_err(|e| e.to_string());
    let mut slots = FetchGate::new(core.settings.fetch_limits);
    let now = Utc::now().timestamp();
    let mut tasks = Vec::with_capacity(sources.len());
    for source in sources {
        let state = states.get(&source.id).cloned();
        let kind = SourceKind::of(&source);
        if !force && !is_due(&source, state.as_ref(), now) {
            tasks.push((source.id, kind, None));
            continue;
        }
        let id = source.id.clone();
        let source_slots = slots.for_source(&source);
        let task = tokio::spawn(poll_one(
            core.clone(),
            client.clone(),
            source,
            state,
            tz,
            source_slots,
        ));
        tasks.push((id, kind, Some(task)));
    }
    let mut report = SourcesReport::default();
    for (id, kind, task) in tasks {
        let Some(mut task) = task else {
            report
                .sources
                .push(finish(core, &id, kind, Ok(Done::empty(Outcome::Skipped, None))).await);
            continue;
        };
        // Folders are always read whole; only the network has a deadline.
        let joined = match deadline.filter(|_| kind != SourceKind::Dir) {
            Some(deadline) => match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::info!(
                        "source {id}: still fetching at the deadline; going on without it"
                    );
                    report.sources.push(late(&id, kind));
                    continue;
                }
            },
            None => task.await,
        };
        let source_report = match joined {
            Ok(r) => r,
            // A panicking poll is a bug; it still ends as this source's failure only.
            Err(e) => {
                finish(
                    core,
                    &id,
                    kind,
                    Err(SourceError::Task {
                        name: id.clone(),
                        message: e.to_string(),
                    }),
                )
                .await
            }
        };
        report.sources.push(source_report);
    }
    report
}

/// The fetch slots of one poll: one semaphore for all fetches, one per host (a host is
/// its name and port: sources behind one bridge share it).
struct FetchGate {
    limits: FetchLimits,
    global: Arc<Semaphore>,
    hosts: HashMap<String, Arc<Semaphore>>,
}

impl FetchGate {
    fn new(limits: FetchLimits) -> FetchGate {
        FetchGate {
            limits,
            global: Arc::new(Semaphore::new(limits.global)),
            hosts: HashMap::new(),
        }
    }

    /// The slots a remote source's fetches wait for; a folder needs none.
    fn for_source(&mut self, source: &Source) -> Option<FetchSlots> {
        let url = match &source.kind {
            SourceSpec::Dir { .. } => return None,
            SourceSpec::Feed { url, .. } | SourceSpec::Url { url, .. } => url,
        };
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default().to_ascii_lowercase(),
            url.port_or_known_default().unwrap_or_default()
        );
        let per_host = self.limits.per_host;
        let host = self
            .hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(per_host)));
        Some(FetchSlots {
            global: Arc::clone(&self.global),
            host: Arc::clone(host),
        })
    }
}

fn late(id: &str, kind: SourceKind) -> SourceReport {
    SourceReport {
        source: id.to_string(),
        kind,
        outcome: Outcome::Late,
        items: 0,
        new_items: 0,
        error: None,
        lines: Vec::new(),
        became_failing: false,
        recovered: false,
        previous_failures: 0,
    }
}

/// Polls the sources and tells admins about sources that started failing or recovered:
/// what the ingest schedule, a publish and `/ingest` run.
pub async fn poll_and_notify(
    core: &Core,
    notifier: &Notifier,
    force: bool,
    deadline: Option<tokio::time::Instant>,
) -> SourcesReport {
    let report = poll_all(core, force, deadline).await;
    for source in &report.sources {
        if let Some(notice) = source.admin_notice() {
            notifier.tell_admins(notice);
        }
    }
    report
}

/// Whether `source` should be polled at `now` (unix seconds): folders always (a scan of
/// unchanged files is cheap), remote sources once per `interval_minutes`.
fn is_due(source: &Source, state: Option<&SourceState>, now: i64) -> bool {
    let fetch = match &source.kind {
        SourceSpec::Dir { .. } => return true,
        SourceSpec::Feed { fetch, .. } | SourceSpec::Url { fetch, .. } => fetch,
    };
    let Some(last) = state.and_then(SourceState::last_polled) else {
        return true;
    };
    let interval = i64::try_from(fetch.interval_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
    now.saturating_sub(last)
        .saturating_add(INTERVAL_SLACK_SECONDS)
        >= interval
}

async fn poll_one(
    core: Core,
    client: Result<reqwest::Client, String>,
    source: Source,
    state: Option<SourceState>,
    tz: Tz,
    slots: Option<FetchSlots>,
) -> SourceReport {
    let kind = SourceKind::of(&source);
    let id = source.id;
    let result = match source.kind {
        SourceSpec::Dir { path } => poll_dir(&core, path, &id).await,
        SourceSpec::Feed { url, fetch } | SourceSpec::Url { url, fetch } => match client {
            Ok(client) => {
                let remote = Remote {
                    core: &core,
                    client: &client,
                    id: &id,
                    kind,
                    url: url.as_str(),
                    fetch: &fetch,
                    tz,
                    slots,
                };
                remote.poll(state.unwrap_or_default()).await
            }
            Err(message) => Err(SourceError::Client {
                name: id.clone(),
                message,
            }),
        },
    };
    finish(&core, &id, kind, result).await
}

/// Records the poll's result in the source's health and makes its report.
async fn finish(
    core: &Core,
    id: &str,
    kind: SourceKind,
    result: Result<Done, SourceError>,
) -> SourceReport {
    let at = Utc::now().timestamp();
    let (done, error) = match result {
        Ok(done) => (done, None),
        Err(e) => {
            tracing::warn!("{e}");
            (Done::empty(Outcome::Failed, None), Some(e.to_string()))
        }
    };
    let source = id.to_string();
    let change = match (&error, done.outcome) {
        // Skipping a source is not a poll: its health stays as it was.
        (None, Outcome::Skipped | Outcome::Late) => Ok(HealthChange::default()),
        (None, _) => {
            let validators = done.validators.clone();
            core.db
                .run(move |store| store.record_source_success(&source, at, validators.as_ref()))
                .await
        }
        (Some(message), _) => {
            core.metrics.source_fetch_error(id);
            let message = message.clone();
            core.db
                .run(move |store| store.record_source_failure(&source, at, &message))
                .await
        }
    };
    let change = change.unwrap_or_else(|e| {
        // The poll itself stands; only its health record (and a notice) is lost.
        tracing::error!("source {id}: recording its health: {e}");
        HealthChange::default()
    });
    if change.became_failing {
        tracing::warn!("source {id} is failing");
    }
    if change.recovered {
        tracing::info!(
            "source {id} recovered after {} failures",
            change.previous_failures
        );
    }
    SourceReport {
        source: id.to_string(),
        kind,
        outcome: done.outcome,
        items: done.items,
        new_items: done.new_items,
        error,
        lines: done.lines,
        became_failing: change.became_failing,
        recovered: change.recovered,
        previous_failures: change.previous_failures,
    }
}

/// Lines of each kind a folder's poll keeps: `ok` lines, and problem lines (errors,
/// warnings, duplicates, which the `/ingest` reply shows first). Past this they are
/// counted, not kept, so a poll of a huge folder holds its counts and these lines only.
const KEPT_FILE_LINES: usize = 100;

/// What a folder's poll keeps of its files as they go by.
#[derive(Default)]
struct DirPoll {
    tally: crate::app::IngestTally,
    /// Files that were not unchanged.
    changed: usize,
    lines: Vec<String>,
    kept_ok: usize,
    kept_problems: usize,
    more_ok: usize,
    more_problems: usize,
}

impl DirPoll {
    fn add(&mut self, file: crate::app::FileOutcome) {
        self.tally.add(&file);
        if !file.result.as_ref().is_ok_and(|d| d.unchanged) {
            self.changed += 1;
        }
        for line in file.lines() {
            let (kept, more) = if line.starts_with("ok ") {
                (&mut self.kept_ok, &mut self.more_ok)
            } else {
                (&mut self.kept_problems, &mut self.more_problems)
            };
            if *kept < KEPT_FILE_LINES {
                *kept += 1;
                self.lines.push(line);
            } else {
                *more += 1;
            }
        }
    }

    fn into_lines(mut self) -> Vec<String> {
        if self.more_problems > 0 {
            self.lines.push(format!(
                "warn   {} more problem lines not kept (ecobrief ingest of the folder lists them all)",
                self.more_problems
            ));
        }
        if self.more_ok > 0 {
            self.lines.push(format!(
                "ok     {} more files read (lines not kept)",
                self.more_ok
            ));
        }
        self.lines
    }
}

/// A folder: its files are read, parsed and saved on a blocking thread (unchanged ones
/// are skipped by their stamps), in short write transactions; each file's outcome is
/// counted as its batch commits, and a bounded number of its lines kept.
async fn poll_dir(core: &Core, path: PathBuf, id: &str) -> Result<Done, SourceError> {
    let name = id.to_string();
    let scanned = core
        .blocking(move |core| {
            let mut poll = DirPoll::default();
            let result = core.ingest_dir_each(&path, &name, &mut |file| poll.add(file));
            Ok::<_, AppError>(result.map(|()| poll))
        })
        .await
        .map_err(|e| SourceError::Task {
            name: id.to_string(),
            message: e.to_string(),
        })?;
    let poll = match scanned {
        Ok(poll) => poll,
        Err(e @ DirSourceError::Unreadable { .. }) => {
            return Err(SourceError::Folder(e.to_string()));
        }
        Err(DirSourceError::App(e)) => {
            return Err(SourceError::Store {
                name: id.to_string(),
                message: e.to_string(),
            });
        }
    };
    let all_unchanged = poll.tally.files > 0 && poll.changed == 0;
    Ok(Done {
        outcome: if all_unchanged {
            Outcome::Unchanged
        } else {
            Outcome::Ingested
        },
        items: poll.tally.items,
        new_items: poll.tally.new_items,
        lines: poll.into_lines(),
        validators: None,
    })
}

/// A feed or url source being polled.
struct Remote<'a> {
    core: &'a Core,
    client: &'a reqwest::Client,
    id: &'a str,
    kind: SourceKind,
    url: &'a str,
    fetch: &'a FetchConfig,
    tz: Tz,
    slots: Option<FetchSlots>,
}

impl Remote<'_> {
    async fn poll(&self, state: SourceState) -> Result<Done, SourceError> {
        let spec = FetchSpec {
            url: self.url.to_string(),
            timeout: Duration::from_secs(self.fetch.timeout_seconds.max(1)),
            max_bytes: self.fetch.max_bytes,
            retries: self.fetch.retries,
            // Validators are only stored after a body was processed, so a 304 always
            // means "what you already have".
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
            slots: self.slots.clone(),
        };
        let fetched =
            http::fetch(self.client, &spec)
                .await
                .map_err(|error| SourceError::Fetch {
                    name: self.id.to_string(),
                    url: crate::config::redact_url(self.url),
                    error,
                })?;
        let (bytes, content_type, etag, last_modified) = match fetched {
            Fetched::NotModified => return Ok(Done::empty(Outcome::NotModified, None)),
            Fetched::Body {
                bytes,
                content_type,
                etag,
                last_modified,
            } => (bytes, content_type, etag, last_modified),
        };
        let validators = Validators {
            etag,
            last_modified,
            content_hash: Some(bytes_hash(&bytes)),
        };
        // Servers without validators still send the same bytes when nothing changed.
        if state.content_hash.is_some() && state.content_hash == validators.content_hash {
            return Ok(Done::empty(Outcome::Unchanged, Some(validators)));
        }
        // Parsing and saving block: they run on a blocking thread.
        let (core, id, url, kind, tz) = (
            self.core.clone(),
            self.id.to_string(),
            self.url.to_string(),
            self.kind,
            self.tz,
        );
        let mut done = tokio::task::spawn_blocking(move || {
            let remote = Parsing {
                core: &core,
                id: &id,
                url: &without_credentials(&url),
                shown: &crate::config::redact_url(&url),
                tz,
            };
            match kind {
                SourceKind::Feed => remote.ingest_feed(&bytes, content_type.as_deref()),
                SourceKind::Url | SourceKind::Dir => {
                    remote.ingest_document(&bytes, content_type.as_deref())
                }
            }
        })
        .await
        .map_err(|e| SourceError::Task {
            name: self.id.to_string(),
            message: e.to_string(),
        })??;
        done.validators = Some(validators);
        Ok(done)
    }
}

/// What a fetched body is turned into, on a blocking thread.
struct Parsing<'a> {
    core: &'a Core,
    id: &'a str,
    /// The URL without `user:password@`: the base for relative links and the document's
    /// name, so credentials never reach an item or the database.
    url: &'a str,
    /// The URL as shown in errors: no credentials, no query.
    shown: &'a str,
    tz: Tz,
}

impl Parsing<'_> {
    fn ingest_feed(&self, bytes: &[u8], content_type: Option<&str>) -> Result<Done, SourceError> {
        if is_html_page(bytes, content_type) {
            return Err(SourceError::HtmlPage {
                name: self.id.to_string(),
                url: self.shown.to_string(),
            });
        }
        let parsed =
            feed::parse_served_feed(bytes, content_type, self.url, self.id, self.tz, Utc::now())
                .map_err(|e| SourceError::BadFeed {
                    name: self.id.to_string(),
                    url: self.shown.to_string(),
                    message: e.to_string(),
                })?;
        let mut notes = parsed.notes;
        if let Some(from) = self.core.keep_from() {
            let old = parsed
                .documents
                .iter()
                .filter(|d| d.meta.brief_date < from)
                .count();
            if old > 0 {
                notes.push(format!(
                    "{old} entries dated before {from} left out: older than store.keep_days"
                ));
            }
        }
        let (items, new_items) = self
            .core
            .store_documents(&parsed.documents, self.id)
            .map_err(|e| SourceError::Store {
                name: self.id.to_string(),
                message: e.to_string(),
            })?;
        Ok(Done {
            outcome: Outcome::Ingested,
            items,
            new_items,
            lines: notes,
            validators: None,
        })
    }

    fn ingest_document(
        &self,
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<Done, SourceError> {
        let media = content_type.map(media_type);
        if media.as_deref() == Some("text/html") || is_html_page(bytes, None) {
            return Err(SourceError::HtmlDocument {
                name: self.id.to_string(),
                url: self.shown.to_string(),
            });
        }
        if let Some(media) = media
            && !is_document_type(&media)
        {
            return Err(SourceError::WrongContentType {
                name: self.id.to_string(),
                url: self.shown.to_string(),
                content_type: media,
            });
        }
        let name = document_name(self.url);
        let keys = self
            .core
            .ingest_bytes(&name, bytes, self.id, crate::model::Origin::Url)
            .map_err(|e| match e {
                IngestOutcomeError::Invalid(message) => SourceError::Document {
                    name: self.id.to_string(),
                    message,
                },
                IngestOutcomeError::Store(message) => SourceError::Store {
                    name: self.id.to_string(),
                    message,
                },
            })?;
        Ok(Done {
            outcome: Outcome::Ingested,
            items: keys.len(),
            // The body differs from the last one processed, so its items were written.
            new_items: keys.len(),
            lines: Vec::new(),
            validators: None,
        })
    }
}

/// `text/html; charset=utf-8` → `text/html`.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What a url source may serve: text (markdown, plain), or a type that says nothing.
fn is_document_type(media: &str) -> bool {
    (media.starts_with("text/") && media != "text/html")
        || matches!(
            media,
            "application/octet-stream" | "application/markdown" | "application/x-markdown"
        )
}

/// A web page rather than a feed: its body starts like HTML, or it is served as
/// `text/html` and does not start like a feed (some servers do label real feeds
/// `text/html`, and those still parse).
fn is_html_page(bytes: &[u8], content_type: Option<&str>) -> bool {
    // NULs dropped: a UTF-16 or UTF-32 feed's ASCII then reads as ASCII (`<\0r\0s\0s\0`),
    // and its byte order mark (not UTF-8) as replacement characters.
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)])
        .replace('\0', "")
        .trim_start_matches(['\u{feff}', '\u{fffd}', ' ', '\t', '\r', '\n'])
        .to_ascii_lowercase();
    let feed_root = ["<rss", "<feed", "<rdf:rdf"]
        .iter()
        .any(|root| head.contains(root))
        || head.starts_with('{');
    if feed_root {
        return false;
    }
    let html_start = head.contains("<!doctype html") || head.contains("<html");
    html_start || content_type.map(media_type).as_deref() == Some("text/html")
}

/// The name a fetched document is ingested under: its URL without query and fragment.
/// It ends in the URL's last path segment, so a date there (`brief-2026-03-12.md`) counts
/// as the document's day, and stays unique per URL (two pipelines that both publish
/// `latest.md` do not replace each other's documents).
fn document_name(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => crate::config::redact_url(url),
    }
}

/// `url` without `user:password@`.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => crate::config::redact_url(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_pages_are_told_from_feeds() {
        assert!(is_html_page(b"<!DOCTYPE html><html><body>", None));
        assert!(is_html_page(b"\n  <html lang=\"zh\">", Some("text/plain")));
        assert!(is_html_page(
            b"<p>hello</p>",
            Some("text/html; charset=utf-8")
        ));
        assert!(!is_html_page(
            b"<?xml version=\"1.0\"?><rss version=\"2.0\">",
            Some("text/html")
        ));
        assert!(!is_html_page(
            b"{\"version\": \"https://jsonfeed.org/version/1.1\"}",
            None
        ));
        // A UTF-16 feed that a server labels text/html is still a feed.
        let utf16: Vec<u8> = "\u{feff}<?xml version=\"1.0\"?><rss version=\"2.0\">"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert!(!is_html_page(&utf16, Some("text/html")));
    }

    #[test]
    fn document_names_keep_the_last_segment() {
        assert_eq!(
            document_name("https://example.com/daily/brief-2026-03-12.md?token=1#top"),
            "https://example.com/daily/brief-2026-03-12.md"
        );
        let day = crate::ingest::frontmatter::date_in_file_name(
            &std::path::Path::new(&document_name("https://example.com/b/brief-2026-03-12.md"))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            chrono_tz::Tz::Asia__Shanghai,
        );
        assert_eq!(
            day.map(|d| d.day.to_string()).as_deref(),
            Some("2026-03-12")
        );
    }

    #[test]
    fn remote_sources_wait_for_their_interval() {
        let source = Source {
            id: "feed".to_string(),
            kind: SourceSpec::Feed {
                url: reqwest::Url::parse("https://example.com/rss").unwrap(),
                fetch: FetchConfig::default(),
            },
        };
        let state = SourceState {
            last_success: Some(1_000),
            ..SourceState::default()
        };
        assert!(!is_due(&source, Some(&state), 1_000 + 60));
        assert!(is_due(&source, Some(&state), 1_000 + 600 - 5), "slack");
        assert!(is_due(&source, None, 0));
    }
}
