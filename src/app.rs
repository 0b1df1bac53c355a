//! The application: configuration, store, topics and templates opened together, and the
//! operations the command line (and the bot) offer on top of the pipeline.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};

use crate::compose::{Brief, ComposeError, compose};
use crate::config::{Config, ConfigError, SourceConfig};
use crate::ingest::{IngestError, IngestErrorKind, IngestOptions, collect_files, read_document};
use crate::render::text::OutgoingMessage;
use crate::render::{RenderError, Renderer};
use crate::store::delivery::Subscriber;
use crate::store::sources::FileStamp;
use crate::store::{Batch, SaveOutcome, Store, StoreError};
use crate::topics::{Topic, TopicCatalog, TopicsError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Topics(#[from] TopicsError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error("no topic named {name:?}{}", suggestion_text(.suggestions))]
    UnknownTopic {
        name: String,
        suggestions: Vec<String>,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; run `ecobrief topics` for the list".to_string()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// Why a single document was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestOutcomeError {
    /// The document itself is bad: a clear message for whoever sent it.
    #[error("{0}")]
    Invalid(String),
    #[error("not saved: {0}")]
    Store(String),
}

/// How one file of an ingest run ended.
#[derive(Debug)]
pub struct FileOutcome {
    pub path: String,
    pub result: Result<FileIngested, String>,
}

#[derive(Debug)]
pub struct FileIngested {
    pub items: usize,
    pub unchanged: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default)]
pub struct IngestReport {
    pub files: Vec<FileOutcome>,
}

impl IngestReport {
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| f.result.is_err()).count()
    }

    pub fn items(&self) -> usize {
        self.files
            .iter()
            .filter_map(|f| f.result.as_ref().ok())
            .map(|f| f.items)
            .sum()
    }

    /// One line per file: `ok  path (N items)` or `error  path: reason`, and warnings.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for file in &self.files {
            match &file.result {
                Ok(done) => {
                    let state = if done.unchanged { ", unchanged" } else { "" };
                    out.push(format!(
                        "ok     {} ({} items{state})",
                        file.path, done.items
                    ));
                    for w in &done.warnings {
                        out.push(format!("warn   {}: {w}", file.path));
                    }
                }
                Err(e) => out.push(format!("error  {e}")),
            }
        }
        out
    }
}

/// Why a folder source could not be ingested at all (single files fail on their own lines).
#[derive(Debug, thiserror::Error)]
pub enum DirSourceError {
    #[error(
        "source {name}: cannot read the folder {path}: {reason}; check that it exists and that ecobrief may read it"
    )]
    Unreadable {
        name: String,
        path: String,
        reason: String,
    },
    #[error(transparent)]
    App(#[from] AppError),
}

/// Saves a document read from `path` inside `batch`.
fn save_read(
    batch: &mut Batch<'_>,
    doc: &crate::model::ParsedDocument,
    path: &str,
    topics: &TopicCatalog,
) -> Result<FileIngested, String> {
    match batch.save(doc, topics) {
        Ok(outcome) => Ok(FileIngested {
            items: doc.items.len(),
            unchanged: matches!(outcome, SaveOutcome::Unchanged { .. }),
            warnings: doc.warnings.clone(),
        }),
        Err(e) => Err(format!("{path}: not saved: {e}")),
    }
}

/// One file of a folder source: skipped when its stamp (size, mtime) or its content hash
/// says it is unchanged, otherwise read, parsed, saved and stamped. The outer error is a
/// database failure (ends the run), the inner one this file's problem.
fn ingest_stamped(
    batch: &mut Batch<'_>,
    file: &Path,
    path: &str,
    options: &IngestOptions,
    topics: &TopicCatalog,
) -> Result<Result<FileIngested, String>, StoreError> {
    let fail = |kind: IngestErrorKind| {
        Err(IngestError {
            path: path.to_string(),
            kind,
        }
        .to_string())
    };
    let metadata = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) => return Ok(fail(e.into())),
    };
    let modified = metadata.modified().ok();
    // Nanoseconds fit an i64 until 2262; a clock before 1970 just never matches.
    let mtime = modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    let size = i64::try_from(metadata.len()).unwrap_or(i64::MAX);
    let stamp = batch.file_stamp(path)?;
    let unchanged = |batch: &mut Batch<'_>| -> Result<Result<FileIngested, String>, StoreError> {
        Ok(Ok(FileIngested {
            items: batch.items_from_path(path)?,
            unchanged: true,
            warnings: Vec::new(),
        }))
    };
    if let (Some(stamp), Some(mtime)) = (&stamp, mtime)
        && stamp.size == size
        && stamp.mtime == mtime
    {
        return unchanged(batch);
    }
    let bytes = match read_limited(file, options.max_file_bytes) {
        Ok(bytes) => bytes,
        Err(kind) => return Ok(fail(kind)),
    };
    let new_stamp = FileStamp {
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        mtime: mtime.unwrap_or(0),
        content_hash: bytes_hash(&bytes),
    };
    if stamp.is_some_and(|s| s.content_hash == new_stamp.content_hash) {
        batch.stamp_file(path, &new_stamp)?;
        return unchanged(batch);
    }
    let mtime = modified.map(chrono::DateTime::<Utc>::from);
    let doc = match crate::ingest::parse_bytes(path, &bytes, mtime, options) {
        Ok(doc) => doc,
        Err(kind) => return Ok(fail(kind)),
    };
    let result = save_read(batch, &doc, path, topics);
    // A file that failed is not stamped: it is read again (and its error shown) next time.
    if result.is_ok() {
        batch.stamp_file(path, &new_stamp)?;
    }
    Ok(result)
}

/// Reads at most `limit` bytes; a larger file is refused without reading it whole.
fn read_limited(file: &Path, limit: u64) -> Result<Vec<u8>, IngestErrorKind> {
    use std::io::Read;
    let handle = std::fs::File::open(file)?;
    let mut bytes = Vec::new();
    handle
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(IngestErrorKind::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// SHA-256 (hex) of raw bytes: what a folder file or a fetched body held.
pub fn bytes_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One page of a topic reply.
#[derive(Debug, Clone)]
pub struct TopicPage {
    pub topic_id: String,
    pub message: OutgoingMessage,
    /// Where the next page starts, when there is one.
    pub next_offset: Option<usize>,
}

pub struct App {
    pub config: Config,
    /// Shared with the publisher and the HTTP server.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub store: Store,
    pub topics: TopicCatalog,
    pub renderer: Renderer,
}

impl App {
    /// Opens everything the config names; topic links are rebuilt if the topics changed.
    pub fn open(config: Config) -> Result<App, AppError> {
        config.validate()?;
        let topics = TopicCatalog::load(&config.topics_file)?;
        let renderer = Renderer::load(&config.render, config.tz())?;
        let mut store = Store::open(&config.database)?;
        store.sync_topics(&topics)?;
        Ok(App {
            config,
            metrics: std::sync::Arc::new(crate::metrics::Metrics::new()),
            store,
            topics,
            renderer,
        })
    }

    /// Today in the configured timezone.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.config.tz()).date_naive()
    }

    /// Ingests files and folders in one transaction; each file is saved whole or not at all,
    /// and a bad file does not stop the others. Every file is read and parsed: files named
    /// on the command line are meant to be read (and `date` may change what they give).
    pub fn ingest_paths(
        &mut self,
        paths: &[PathBuf],
        date: Option<NaiveDate>,
    ) -> Result<IngestReport, AppError> {
        let options = IngestOptions::from_config(&self.config, date);
        let mut report = IngestReport::default();
        let mut files = Vec::new();
        for path in paths {
            match collect_files(std::slice::from_ref(path), &options.extensions) {
                Ok(found) => files.extend(found),
                Err(e) => report.files.push(FileOutcome {
                    path: e.path.clone(),
                    result: Err(e.to_string()),
                }),
            }
        }
        self.ingest_files(files, &options, None, &mut report)?;
        Ok(report)
    }

    /// Ingests one folder source. A file whose size and mtime match what was recorded when
    /// it was last read is skipped without reading it; a file whose content hash matches
    /// (touched, or copied back) is skipped without parsing it. Both are reported as
    /// `unchanged` with the items stored from them.
    pub fn ingest_dir(&mut self, dir: &Path, source: &str) -> Result<IngestReport, DirSourceError> {
        let options = IngestOptions::from_config(&self.config, None);
        // Stamps taken under other parse settings (or another ecobrief version, whose
        // parser may differ) do not prove that the stored items are what a read gives now.
        let fingerprint = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            env!("CARGO_PKG_VERSION"),
            options.tz.name(),
            options.quick_section,
            options.commentary_section,
            options.max_file_bytes
        );
        self.store
            .reset_file_stamps_unless(&fingerprint)
            .map_err(AppError::from)?;
        let files = collect_files(&[dir.to_path_buf()], &options.extensions).map_err(|e| {
            DirSourceError::Unreadable {
                name: source.to_string(),
                path: dir.display().to_string(),
                reason: e.kind.to_string(),
            }
        })?;
        let mut report = IngestReport::default();
        self.ingest_files(files, &options, Some(source), &mut report)?;
        Ok(report)
    }

    /// Reads, parses and saves `files` in one transaction. With `source` (a folder
    /// source), file stamps skip unchanged files and new items are counted for `/metrics`.
    fn ingest_files(
        &mut self,
        files: Vec<PathBuf>,
        options: &IngestOptions,
        source: Option<&str>,
        report: &mut IngestReport,
    ) -> Result<(), AppError> {
        let mut batch = self.store.batch()?;
        let mut saved_items = 0;
        for file in files {
            let path = file.display().to_string();
            let result = match source {
                Some(_) => ingest_stamped(&mut batch, &file, &path, options, &self.topics)?,
                None => match read_document(&file, options) {
                    Ok(doc) => save_read(&mut batch, &doc, &path, &self.topics),
                    Err(IngestError { path, kind }) => Err(format!("{path}: {kind}")),
                },
            };
            if let Err(e) = &result {
                tracing::warn!("{e}");
            }
            if let Ok(done) = &result
                && !done.unchanged
            {
                saved_items += done.items;
            }
            report.files.push(FileOutcome { path, result });
        }
        batch.commit()?;
        if let Some(source) = source {
            self.metrics.items_ingested(source, saved_items as u64);
        }
        Ok(())
    }

    /// Parses and stores one document received from elsewhere (the HTTP API, a URL
    /// source). `name` is used in messages and for a date in its name. Returns the keys of
    /// the stored items.
    pub fn ingest_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
        source: &str,
    ) -> Result<Vec<String>, IngestOutcomeError> {
        let options = IngestOptions::from_config(&self.config, None);
        if bytes.len() as u64 > options.max_file_bytes {
            return Err(IngestOutcomeError::Invalid(format!(
                "{name}: {} bytes, larger than the {}-byte limit (ingest.max_file_bytes)",
                bytes.len(),
                options.max_file_bytes
            )));
        }
        let doc = crate::ingest::parse_bytes(name, bytes, None, &options)
            .map_err(|kind| IngestOutcomeError::Invalid(format!("{name}: {kind}")))?;
        self.store_document(&doc, source)
    }

    /// Stores a parsed document (one transaction) and counts it for `/metrics`.
    pub fn store_document(
        &mut self,
        doc: &crate::model::ParsedDocument,
        source: &str,
    ) -> Result<Vec<String>, IngestOutcomeError> {
        // A document pushed over HTTP or fetched from a URL has no file of its own: its
        // "path" (a request name, a URL) is shared by many documents over time, so the
        // rule that a file edited to a new key replaces what it gave before must not apply.
        // The key in the path keeps each document its own.
        let mut doc = doc.clone();
        doc.meta.source_path = format!("{}#{}", doc.meta.source_path, doc.meta.key);
        self.store
            .save_document(&doc, &self.topics)
            .map_err(|e| IngestOutcomeError::Store(e.to_string()))?;
        self.metrics.items_ingested(source, doc.items.len() as u64);
        Ok(doc.items.iter().map(|i| i.key.clone()).collect())
    }

    /// Ingests the folders listed as sources in the config (what `preview` and the CLI
    /// use). Feed and URL sources are not polled here: this path is synchronous and works
    /// offline, so `preview` never waits on the network. The bot polls them, with the
    /// folders, through `sources::poll_all` (the ingest schedule and `/ingest`).
    pub fn ingest_sources(&mut self) -> Result<IngestReport, AppError> {
        let dirs: Vec<(PathBuf, String)> = self
            .config
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceConfig::Dir { path, .. } => Some((path.clone(), s.id())),
                SourceConfig::Feed { .. } | SourceConfig::Url { .. } => None,
            })
            .collect();
        let mut report = IngestReport::default();
        for (path, id) in dirs {
            match self.ingest_dir(&path, &id) {
                Ok(r) => report.files.extend(r.files),
                Err(DirSourceError::App(e)) => return Err(e),
                Err(e @ DirSourceError::Unreadable { .. }) => {
                    tracing::warn!("{e}");
                    report.files.push(FileOutcome {
                        path: path.display().to_string(),
                        result: Err(e.to_string()),
                    });
                }
            }
        }
        Ok(report)
    }

    pub fn compose(&self, date: NaiveDate) -> Result<Brief, AppError> {
        let backbone = self.store.brief_document(date)?;
        let items = self.store.items_for_date(date)?;
        Ok(compose(date, backbone.as_ref(), items, &self.config)?)
    }

    /// The brief of `date` as the group would receive it.
    pub fn brief_messages(
        &self,
        date: NaiveDate,
    ) -> Result<(Brief, Vec<OutgoingMessage>), AppError> {
        let brief = self.compose(date)?;
        let messages = self
            .renderer
            .brief_messages(&brief, &self.config.brief.group)?;
        Ok((brief, messages))
    }

    pub fn resolve_topic(&self, name: &str) -> Result<&Topic, AppError> {
        self.topics
            .resolve(name)
            .ok_or_else(|| AppError::UnknownTopic {
                name: name.to_string(),
                suggestions: self
                    .topics
                    .suggest(name, 3)
                    .into_iter()
                    .map(|t| format!("{} ({})", t.name, t.id))
                    .collect(),
            })
    }

    /// The reply `/topic NAME` gives: the newest `limit` items from `offset`.
    pub fn topic_reply(
        &self,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<TopicPage, AppError> {
        let topic = self.resolve_topic(name)?;
        let items = self.store.items_for_topic(&topic.id, limit, offset)?;
        let total = self.store.count_for_topic(&topic.id)?;
        let (message, shown) = self.renderer.topic_reply(topic, &items, total, offset)?;
        let next = offset.saturating_add(shown);
        Ok(TopicPage {
            topic_id: topic.id.clone(),
            message,
            next_offset: (shown > 0 && next < total).then_some(next),
        })
    }

    /// Topics with their item counts over the last `days` days (all items when `None`).
    pub fn topic_counts_since(&self, days: Option<u32>) -> Result<Vec<(Topic, usize)>, AppError> {
        let since = days.map(|d| Utc::now() - chrono::Duration::days(i64::from(d)));
        let counts = self.store.topic_counts(since)?;
        Ok(self
            .topics
            .topics()
            .iter()
            .map(|t| (t.clone(), counts.get(&t.id).copied().unwrap_or(0)))
            .collect())
    }

    /// Each subscriber's digest of `date`: the day's items in their topics, or `None`
    /// when there are none (no message is sent then). The day is composed once.
    pub fn digests<'s>(
        &self,
        date: NaiveDate,
        subscribers: &'s [Subscriber],
    ) -> Result<Vec<(&'s Subscriber, Option<OutgoingMessage>)>, AppError> {
        let brief = match self.compose(date) {
            Ok(brief) => brief,
            Err(AppError::Compose(ComposeError::NoItems(_))) => {
                return Ok(subscribers.iter().map(|s| (s, None)).collect());
            }
            Err(e) => return Err(e),
        };
        let tagged: Vec<(&crate::model::Item, Vec<&str>)> = brief
            .items()
            .map(|item| (item, self.topics.topics_for(item)))
            .collect();
        let mut out = Vec::with_capacity(subscribers.len());
        for s in subscribers {
            let items: Vec<crate::model::Item> = tagged
                .iter()
                .filter(|(_, ids)| ids.iter().any(|id| s.topics.iter().any(|t| t == id)))
                .map(|(item, _)| (*item).clone())
                .collect();
            if items.is_empty() {
                out.push((s, None));
                continue;
            }
            let names: Vec<String> = s
                .topics
                .iter()
                .filter_map(|id| self.topics.get(id).map(|t| t.name.clone()))
                .collect();
            out.push((s, Some(self.renderer.digest(date, &names, &items)?)));
        }
        Ok(out)
    }

    /// Every topic with its stored item count, in catalog order.
    pub fn topic_counts(&self) -> Result<Vec<(Topic, usize)>, AppError> {
        self.topic_counts_since(None)
    }
}
