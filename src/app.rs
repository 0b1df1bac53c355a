//! The core: settings, the database handle, topics and templates, opened together, and
//! the pipeline's operations on top of them (ingest into the store, compose and render a
//! day, answer a topic).
//!
//! [`Core`] is a bundle of read-only handles: cloning it is cheap and every clone can be
//! used from any thread at once. There is no lock around it: each call takes its own
//! database connection, parses outside any transaction, and writes in short `BEGIN
//! IMMEDIATE` transactions. Every method blocks (SQLite, file reads, parsing), so async
//! code calls them through [`Core::blocking`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};

use crate::compose::{Brief, ComposeError, compose};
use crate::config::ConfigError;
use crate::ingest::{IngestError, IngestErrorKind, IngestOptions, collect_files};
use crate::message::OutgoingMessage;
use crate::metrics::Metrics;
use crate::model::ParsedDocument;
use crate::render::{RenderError, Renderer};
use crate::settings::{Settings, SourceSpec};
use crate::store::delivery::Subscriber;
use crate::store::sources::FileStamp;
use crate::store::{Db, SaveOutcome, Store, StoreError};
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
    #[error("the work stopped unexpectedly: {0}")]
    Task(String),
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
    /// Nothing was written: the file is as it was when last read, or it is a duplicate.
    pub unchanged: bool,
    pub warnings: Vec<String>,
    /// What the file was read as, when it was read this time.
    pub read_as: Option<ReadAs>,
    /// Another file already gave the same text; nothing was stored from this one.
    pub duplicate_of: Option<String>,
    /// Other files whose document (or some of whose items) this file took over.
    pub replaced: Vec<String>,
}

/// What a file was read as: its shape, its day and the rule that dated it.
#[derive(Debug, Clone, Copy)]
pub struct ReadAs {
    pub kind: crate::model::ItemKind,
    pub day: NaiveDate,
    pub dated_by: crate::model::DatedBy,
}

impl ReadAs {
    fn of(doc: &ParsedDocument) -> ReadAs {
        ReadAs {
            kind: doc.meta.kind,
            day: doc.meta.brief_date,
            dated_by: doc.dated_by,
        }
    }
}

impl FileIngested {
    /// The one line `ecobrief ingest` prints for the file (its warnings follow it).
    fn line(&self, path: &str) -> String {
        if let Some(first) = &self.duplicate_of {
            return format!(
                "dup    {path}: same text as {first}; nothing new stored ({} items there)",
                self.items
            );
        }
        let mut line = format!("ok     {path} ({} items", self.items);
        if let Some(read) = self.read_as {
            line.push_str(&format!(
                ", {} of {} by {}",
                read.kind.as_str(),
                read.day,
                read.dated_by.describe()
            ));
        }
        if self.unchanged {
            line.push_str(", unchanged");
        }
        line.push(')');
        if !self.replaced.is_empty() {
            line.push_str(&format!(
                "; replaces what {} gave",
                self.replaced.join(", ")
            ));
        }
        line
    }
}

#[derive(Debug, Default)]
pub struct IngestReport {
    pub files: Vec<FileOutcome>,
}

impl FileOutcome {
    /// The file's line (`ok  path (N items, …)`, `dup …` or `error  path: reason`), then
    /// its warnings.
    pub fn lines(&self) -> Vec<String> {
        match &self.result {
            Ok(done) => std::iter::once(done.line(&self.path))
                .chain(
                    done.warnings
                        .iter()
                        .map(|w| format!("warn   {}: {w}", self.path)),
                )
                .collect(),
            Err(e) => vec![format!("error  {e}")],
        }
    }
}

/// The counts of an ingest run, kept as files go by: a run over many files need not keep
/// every file's outcome (see [`Core::ingest_paths_each`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestTally {
    pub files: usize,
    pub failed: usize,
    /// Items stored from the files read (a duplicate file's are counted with its twin).
    pub items: usize,
    /// Items saved new or changed (not those of unchanged files).
    pub new_items: usize,
}

impl IngestTally {
    pub fn add(&mut self, file: &FileOutcome) {
        self.files += 1;
        match &file.result {
            Err(_) => self.failed += 1,
            Ok(done) => {
                if done.duplicate_of.is_none() {
                    self.items += done.items;
                }
                if !done.unchanged {
                    self.new_items += done.items;
                }
            }
        }
    }
}

impl IngestReport {
    fn tally(&self) -> IngestTally {
        let mut tally = IngestTally::default();
        self.files.iter().for_each(|f| tally.add(f));
        tally
    }

    pub fn failed(&self) -> usize {
        self.tally().failed
    }

    /// Items stored from the files read (a duplicate file's are counted with its twin).
    pub fn items(&self) -> usize {
        self.tally().items
    }

    /// Items saved new or changed (not those of unchanged files).
    pub fn new_items(&self) -> usize {
        self.tally().new_items
    }

    /// One line per file: `ok  path (N items)` or `error  path: reason`, and warnings.
    pub fn lines(&self) -> Vec<String> {
        self.files.iter().flat_map(FileOutcome::lines).collect()
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

/// Files read and parsed before one write transaction saves them: bounds both the memory
/// an ingest holds and how long it holds the write lock (about 0.1–0.2 s for 1,000 small
/// documents here). Measured when each commit was an fsync: 200 files per commit 13%
/// slower than 2,000 on 10,000 documents. A folder's batches now commit without one
/// (`Store::rereadable_batch`), so the size matters less.
const FILES_PER_WRITE: usize = 1000;

/// A batch also ends once its documents hold this many items, or this many bytes of
/// text. A transaction's size is what bounds the WAL (a checkpoint cannot shrink it below
/// the last transaction) and what the page cache must hold to avoid spilling pages
/// mid-transaction. In a large database every item dirties a few index pages of its own
/// (random keys), so the item count, not the file count, sets the transaction's size:
/// 500 items dirty at most a few thousand pages, inside the 24 MiB page cache and well
/// inside the 64 MiB WAL budget (see `store/checkpoint.rs`). A folder of 1,000 big briefs
/// is then several transactions.
const ITEMS_PER_WRITE: usize = 500;
const TEXT_BYTES_PER_WRITE: usize = 2 << 20;

/// The text a document brings into a batch: what its rows will hold, near enough.
fn document_text_bytes(doc: &ParsedDocument) -> usize {
    let lines = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    let meta = &doc.meta;
    let items: usize = doc
        .items
        .iter()
        .map(|item| {
            item.title.len()
                + item.summary.len()
                + item.body.len()
                + lines(&item.key_points)
                + lines(&item.insights)
                + lines(&item.advice)
                + item
                    .impacts
                    .iter()
                    .map(|i| i.target.len() + i.label.len() + i.note.len())
                    .sum::<usize>()
                + item
                    .tables
                    .iter()
                    .map(|t| lines(&t.header) + t.rows.iter().map(|r| lines(r)).sum::<usize>())
                    .sum::<usize>()
        })
        .sum();
    items + meta.title.len() + lines(&meta.summary) + lines(&meta.sections)
}

/// What reading one file (outside any transaction) found to do.
enum FilePlan {
    Failed(String),
    /// Skipped by its stamp: nothing to write.
    Unchanged {
        items: usize,
    },
    /// Same content under a new stamp (touched, or copied back): only the stamp changes.
    Restamp {
        stamp: FileStamp,
        items: usize,
    },
    Parsed {
        doc: Box<ParsedDocument>,
        stamp: Option<FileStamp>,
    },
}

/// What a topic reply is about: a topic of `topics.toml`, or an impact target that is no
/// topic (`股市` in `📈 股市 利多`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSubject {
    Topic {
        id: String,
    },
    /// The target's stable id in the store (what a 更多 button carries) and its name.
    ImpactTarget {
        id: i64,
        name: String,
    },
}

/// One page of a topic reply.
#[derive(Debug, Clone)]
pub struct TopicPage {
    pub subject: TopicSubject,
    pub message: OutgoingMessage,
    /// Where the next page starts, when there is one.
    pub next_offset: Option<usize>,
    /// Items the topic has in all.
    pub total: usize,
}

/// Whether a day can be published: its brief has come, or only other items, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayReadiness {
    /// The day's structured brief is stored.
    Brief,
    /// Items, but no brief document (yet).
    ItemsOnly(usize),
    Empty,
}

/// The read-only handles every stage and edge shares.
#[derive(Clone)]
pub struct Core {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub topics: Arc<TopicCatalog>,
    pub renderer: Arc<Renderer>,
    /// Shared with the publisher and the HTTP server.
    pub metrics: Arc<Metrics>,
}

impl Core {
    /// Opens everything the settings name; topic links are rebuilt if the topics changed.
    pub fn open(settings: Settings) -> Result<Core, AppError> {
        let topics = TopicCatalog::load(&settings.topics_file)?;
        let renderer = Renderer::load(&settings.render, settings.tz)?;
        let db = Db::open(&settings.database)?;
        db.with(|store| store.sync_topics(&topics))?;
        let metrics = Metrics::new(settings.sources.iter().map(|s| s.id.as_str()));
        Ok(Core {
            settings: Arc::new(settings),
            db,
            topics: Arc::new(topics),
            renderer: Arc::new(renderer),
            metrics: Arc::new(metrics),
        })
    }

    /// Runs `f` with this core on a blocking thread: for async code, which must never
    /// wait on SQLite, file reads or parsing on a runtime worker.
    pub async fn blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<AppError> + Send + 'static,
        F: FnOnce(&Core) -> Result<T, E> + Send + 'static,
    {
        let core = self.clone();
        tokio::task::spawn_blocking(move || f(&core))
            .await
            .map_err(|e| E::from(AppError::Task(e.to_string())))?
    }

    /// Today in the configured timezone.
    pub fn today(&self) -> NaiveDate {
        self.settings.today()
    }

    pub fn options(&self, date: Option<NaiveDate>) -> IngestOptions {
        IngestOptions::from_settings(&self.settings, date)
    }

    /// Ingests files and folders; each file is saved whole or not at all, and a bad file
    /// does not stop the others. Every file is read and parsed: files named on the
    /// command line are meant to be read (and `date` may change what they give).
    pub fn ingest_paths(
        &self,
        paths: &[PathBuf],
        date: Option<NaiveDate>,
    ) -> Result<IngestReport, AppError> {
        let mut report = IngestReport::default();
        self.ingest_paths_each(paths, date, |file| report.files.push(file))?;
        Ok(report)
    }

    /// [`Core::ingest_paths`], handing each file's outcome to `each` as soon as its write
    /// transaction is committed, rather than keeping them all: what `ecobrief ingest` of a
    /// large tree uses, so its memory does not grow with the number of files.
    pub fn ingest_paths_each(
        &self,
        paths: &[PathBuf],
        date: Option<NaiveDate>,
        mut each: impl FnMut(FileOutcome),
    ) -> Result<IngestTally, AppError> {
        let options = self.options(date);
        let mut tally = IngestTally::default();
        let mut sink = |file: FileOutcome| {
            tally.add(&file);
            each(file);
        };
        let mut files = Vec::new();
        for path in paths {
            match collect_files(std::slice::from_ref(path), &options.extensions) {
                Ok(found) => files.extend(found),
                Err(e) => sink(FileOutcome {
                    path: e.path.clone(),
                    result: Err(e.to_string()),
                }),
            }
        }
        self.ingest_files(files, &options, None, &mut sink)?;
        Ok(tally)
    }

    /// Ingests one folder source. A file whose size and mtime match what was recorded when
    /// it was last read is skipped without reading it; a file whose content hash matches
    /// (touched, or copied back) is skipped without parsing it. Both are reported as
    /// `unchanged` with the items stored from them.
    pub fn ingest_dir(&self, dir: &Path, source: &str) -> Result<IngestReport, DirSourceError> {
        let mut report = IngestReport::default();
        self.ingest_dir_each(dir, source, &mut |file| report.files.push(file))?;
        Ok(report)
    }

    /// [`Core::ingest_dir`], handing each file's outcome to `each` once its write
    /// transaction is committed instead of keeping them: what the bot's folder poll uses,
    /// so its memory does not grow with the number of files.
    pub fn ingest_dir_each(
        &self,
        dir: &Path,
        source: &str,
        each: &mut dyn FnMut(FileOutcome),
    ) -> Result<(), DirSourceError> {
        let options = self.options(None);
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
        self.db
            .with(|store| store.reset_file_stamps_unless(&fingerprint))
            .map_err(AppError::from)?;
        let files = collect_files(&[dir.to_path_buf()], &options.extensions).map_err(|e| {
            DirSourceError::Unreadable {
                name: source.to_string(),
                path: dir.display().to_string(),
                reason: e.kind.to_string(),
            }
        })?;
        self.ingest_files(files, &options, Some(source), each)?;
        Ok(())
    }

    /// Reads and parses `files` with no transaction open, then saves them in short write
    /// transactions of at most [`FILES_PER_WRITE`] files, [`ITEMS_PER_WRITE`] items or
    /// [`TEXT_BYTES_PER_WRITE`] bytes of text, so neither memory nor the WAL grows with the
    /// size of the run. With `source` (a folder source), file
    /// stamps skip unchanged files and new items are counted for `/metrics`.
    fn ingest_files(
        &self,
        files: Vec<PathBuf>,
        options: &IngestOptions,
        source: Option<&str>,
        each: &mut dyn FnMut(FileOutcome),
    ) -> Result<(), AppError> {
        let mut conn = self.db.get()?;
        let mut saved_items = 0;
        let mut files = files.into_iter().peekable();
        while files.peek().is_some() {
            // Read and parse (no transaction open) until the batch is full by any measure.
            let mut plans = Vec::new();
            let (mut batch_items, mut batch_bytes) = (0, 0);
            while plans.len() < FILES_PER_WRITE
                && batch_items < ITEMS_PER_WRITE
                && batch_bytes < TEXT_BYTES_PER_WRITE
            {
                let Some(file) = files.next() else { break };
                let path = file.display().to_string();
                let plan = match source {
                    Some(_) => plan_stamped(&conn, &file, &path, options)?,
                    None => match crate::ingest::read_document(&file, options) {
                        Ok(doc) => FilePlan::Parsed {
                            doc: Box::new(doc),
                            stamp: None,
                        },
                        Err(IngestError { path, kind }) => {
                            FilePlan::Failed(format!("{path}: {kind}"))
                        }
                    },
                };
                if let FilePlan::Parsed { doc, .. } = &plan {
                    batch_items += doc.items.len();
                    batch_bytes += document_text_bytes(doc);
                }
                plans.push((path, plan));
            }
            // A folder source's files are read again at its next poll (see
            // `Store::rereadable_batch`); files named once (`ecobrief ingest`) are not, so
            // their commits wait for the disk.
            let mut batch = match source {
                Some(_) => conn.rereadable_batch()?,
                None => conn.batch()?,
            };
            let mut done = Vec::with_capacity(plans.len());
            for (path, plan) in plans {
                let result = match plan {
                    FilePlan::Failed(e) => Err(e),
                    FilePlan::Unchanged { items } => Ok(unchanged(items)),
                    FilePlan::Restamp { stamp, items } => {
                        batch.stamp_file(&path, &stamp)?;
                        Ok(unchanged(items))
                    }
                    FilePlan::Parsed { doc, stamp } => {
                        let result = match batch.save(&doc, &self.topics) {
                            Ok(outcome) => Ok(saved_file(&doc, outcome)),
                            Err(e) => Err(format!("{path}: not saved: {e}")),
                        };
                        // A file that failed is not stamped: it is read again (and its
                        // error shown) next time.
                        if let (Ok(_), Some(stamp)) = (&result, stamp) {
                            batch.stamp_file(&path, &stamp)?;
                        }
                        result
                    }
                };
                match &result {
                    Err(e) => tracing::warn!("{e}"),
                    Ok(done) if !done.unchanged => saved_items += done.items,
                    Ok(_) => {}
                }
                done.push(FileOutcome { path, result });
            }
            batch.commit()?;
            // Said only once written: a line never claims what a failed commit lost.
            done.drain(..).for_each(&mut *each);
        }
        if let Some(source) = source {
            self.metrics.items_ingested(source, saved_items as u64);
        }
        Ok(())
    }

    /// Parses and stores one document received from elsewhere (the HTTP API, a URL
    /// source). `name` is used in messages and for a date in its name. Returns the keys of
    /// the stored items.
    pub fn ingest_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        source: &str,
        origin: crate::model::Origin,
    ) -> Result<Vec<String>, IngestOutcomeError> {
        let options = self.options(None);
        if bytes.len() as u64 > options.max_file_bytes {
            return Err(IngestOutcomeError::Invalid(format!(
                "{name}: {} bytes, larger than the {}-byte limit (ingest.max_file_bytes)",
                bytes.len(),
                options.max_file_bytes
            )));
        }
        let mut doc = crate::ingest::parse_bytes(name, bytes, None, &options)
            .map_err(|kind| IngestOutcomeError::Invalid(format!("{name}: {kind}")))?;
        doc.origin = origin;
        self.store_document(&doc, source)
    }

    /// Stores a parsed document (one transaction) and counts it for `/metrics`.
    pub fn store_document(
        &self,
        doc: &ParsedDocument,
        source: &str,
    ) -> Result<Vec<String>, IngestOutcomeError> {
        // A document pushed over HTTP or fetched from a URL has no file of its own: its
        // "path" (a request name, a URL) is shared by many documents over time, so the
        // rule that a file edited to a new key replaces what it gave before must not apply.
        // The key in the path keeps each document its own.
        let mut doc = doc.clone();
        doc.meta.source_path = format!("{}#{}", doc.meta.source_path, doc.meta.key);
        self.db
            .with(|store| store.save_document(&doc, &self.topics))
            .map_err(|e| IngestOutcomeError::Store(e.to_string()))?;
        self.metrics.items_ingested(source, doc.items.len() as u64);
        Ok(doc.items.iter().map(|i| i.key.clone()).collect())
    }

    /// Saves a fetch's documents in one transaction; returns (items, items new or
    /// changed). Only new or changed items count for `/metrics`, so a feed polled every
    /// ten minutes does not inflate the counter with the entries it already gave.
    pub fn store_documents(
        &self,
        docs: &[ParsedDocument],
        source: &str,
    ) -> Result<(usize, usize), StoreError> {
        let mut saved = 0;
        // What `store.keep_days` would prune is not stored again: a feed keeps old
        // entries long after they were pruned, and they must not come back each poll.
        let keep_from = self.keep_from();
        self.db.with(|store| {
            // A fetch is made again at the next poll: see `Store::rereadable_batch`.
            let mut batch = store.rereadable_batch()?;
            for doc in docs
                .iter()
                .filter(|d| keep_from.is_none_or(|from| d.meta.brief_date >= from))
            {
                if let SaveOutcome::Saved { items, .. } = batch.save(doc, &self.topics)? {
                    saved += items;
                }
            }
            batch.commit()
        })?;
        self.metrics.items_ingested(source, saved as u64);
        Ok((docs.iter().map(|d| d.items.len()).sum(), saved))
    }

    /// The first day that `store.keep_days` keeps, counted back from today; `None` when
    /// everything is kept.
    pub fn keep_from(&self) -> Option<NaiveDate> {
        self.keep_from_day(self.today())
    }

    fn keep_from_day(&self, today: NaiveDate) -> Option<NaiveDate> {
        self.settings
            .keep_days
            .map(|days| today - chrono::Duration::days(i64::from(days)))
    }

    /// Prunes what `store.keep_days` no longer keeps on `today` (see
    /// [`crate::store::retention`]); `None` when everything is kept. Blocking: call it
    /// from a blocking thread.
    pub fn prune(
        &self,
        today: NaiveDate,
        dry_run: bool,
    ) -> Result<Option<crate::store::retention::PruneReport>, AppError> {
        let Some(cutoff) = self.keep_from_day(today) else {
            return Ok(None);
        };
        let mut conn = self.db.get()?;
        let report = conn.prune(cutoff, dry_run)?;
        if !dry_run {
            conn.set_last_prune(today)?;
        }
        Ok(Some(report))
    }

    /// Ingests the folders listed as sources (what `preview` and the CLI use). Feed and
    /// URL sources are not polled here: this path works offline, so `preview` never waits
    /// on the network. The bot polls every kind through `sources::poll_all`.
    pub fn ingest_folders(&self) -> Result<IngestReport, AppError> {
        let mut report = IngestReport::default();
        for source in &self.settings.sources {
            let SourceSpec::Dir { path } = &source.kind else {
                continue;
            };
            match self.ingest_dir(path, &source.id) {
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

    /// Whether `date` has its brief, only other items, or nothing.
    pub fn readiness(&self, date: NaiveDate) -> Result<DayReadiness, AppError> {
        self.db
            .with(|store| {
                if store.brief_document(date)?.is_some() {
                    return Ok(DayReadiness::Brief);
                }
                Ok(match store.item_count_for_date(date)? {
                    0 => DayReadiness::Empty,
                    n => DayReadiness::ItemsOnly(n),
                })
            })
            .map_err(AppError::from)
    }

    pub fn compose(&self, date: NaiveDate) -> Result<Brief, AppError> {
        let (backbone, items) = self
            .db
            .with(|store| Ok((store.brief_document(date)?, store.items_for_date(date)?)))?;
        Ok(compose(date, backbone.as_ref(), items, &self.settings)?)
    }

    /// The brief of `date` as the group would receive it.
    pub fn brief_messages(
        &self,
        date: NaiveDate,
    ) -> Result<(Brief, Vec<OutgoingMessage>), AppError> {
        let brief = self.compose(date)?;
        let messages = self
            .renderer
            .brief_messages(&brief, &self.settings.brief.group)?;
        Ok((brief, messages))
    }

    /// The brief of `date` as the rich edition (each message with its text edition).
    pub fn brief_rich(
        &self,
        date: NaiveDate,
    ) -> Result<(Brief, Vec<crate::render::RichPart>), AppError> {
        let brief = self.compose(date)?;
        let cover = self.cover_url(&brief);
        let parts =
            self.renderer
                .brief_rich(&brief, &self.settings.brief.group, cover.as_deref())?;
        Ok((brief, parts))
    }

    /// The cover photo that opens the day: the brief's `coverImage`, when
    /// `brief.cover = "photo"` and the image is an http(s) URL (Telegram fetches it
    /// itself). Anything else is posted without a cover, with a log line.
    pub fn cover_url(&self, brief: &Brief) -> Option<String> {
        if self.settings.brief.cover == crate::config::CoverMode::None {
            return None;
        }
        let image = brief.cover_image.as_deref().map(str::trim)?;
        match reqwest::Url::parse(image) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url.to_string()),
            _ => {
                tracing::warn!(
                    "the brief of {}: coverImage {image:?} is not an http(s) URL; posting without a cover photo",
                    brief.date
                );
                None
            }
        }
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

    /// The reply `/topic NAME` gives: the newest `limit` items from `offset`. NAME is a
    /// topic's id, name or alias; failing that, an impact target that stored items carry.
    pub fn topic_reply(
        &self,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<TopicPage, AppError> {
        let topic = match self.resolve_topic(name) {
            Ok(topic) => topic,
            Err(unknown) => {
                let key = crate::topics::fold_target(name);
                let target = self.db.with(|store| store.impact_target(&key))?;
                return match target {
                    Some(target) => match self.impact_page(target.id, limit, offset)? {
                        Some(page) if page.total > 0 => Ok(page),
                        _ => Err(unknown),
                    },
                    None => Err(unknown),
                };
            }
        };
        self.topic_page(topic, limit, offset)
    }

    /// A page of the topic with this id, or `None` when there is no such topic (a button
    /// made before `topics.toml` changed).
    pub fn topic_page_by_id(
        &self,
        id: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Option<TopicPage>, AppError> {
        match self.topics.get(id) {
            Some(topic) => Ok(Some(self.topic_page(topic, limit, offset)?)),
            None => Ok(None),
        }
    }

    fn topic_page(
        &self,
        topic: &Topic,
        limit: usize,
        offset: usize,
    ) -> Result<TopicPage, AppError> {
        let (items, total) = self.db.with(|store| {
            Ok((
                store.items_for_topic(&topic.id, limit, offset)?,
                store.count_for_topic(&topic.id)?,
            ))
        })?;
        let (message, shown) = self.renderer.topic_reply(topic, &items, total, offset)?;
        Ok(TopicPage {
            subject: TopicSubject::Topic {
                id: topic.id.clone(),
            },
            message,
            next_offset: next_offset(offset, shown, total),
            total,
        })
    }

    /// A page of the items with an impact on the stored target `id`, newest first, or
    /// `None` when no target has that id.
    pub fn impact_page(
        &self,
        id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Option<TopicPage>, AppError> {
        let found = self.db.with(|store| {
            let Some(target) = store.impact_target_by_id(id)? else {
                return Ok(None);
            };
            Ok(Some((
                store.items_for_impact_target(id, limit, offset)?,
                store.count_for_impact_target(id)?,
                target,
            )))
        })?;
        let Some((items, total, target)) = found else {
            return Ok(None);
        };
        // Rendered as a topic reply: the same template, the same paging.
        let heading = Topic {
            id: String::new(),
            name: format!("「{}」相关影响", target.name),
            aliases: Vec::new(),
            keywords: Vec::new(),
            exclude: Vec::new(),
        };
        let (message, shown) = self.renderer.topic_reply(&heading, &items, total, offset)?;
        Ok(Some(TopicPage {
            subject: TopicSubject::ImpactTarget {
                id: target.id,
                name: target.name,
            },
            message,
            next_offset: next_offset(offset, shown, total),
            total,
        }))
    }

    /// Topics with their item counts over the last `days` days (all items when `None`).
    pub fn topic_counts_since(&self, days: Option<u32>) -> Result<Vec<(Topic, usize)>, AppError> {
        let since = days.map(|d| Utc::now() - chrono::Duration::days(i64::from(d)));
        let counts = self.db.with(|store| store.topic_counts(since))?;
        Ok(self
            .topics
            .topics()
            .iter()
            .map(|t| (t.clone(), counts.get(&t.id).copied().unwrap_or(0)))
            .collect())
    }

    /// Every topic with its stored item count, in catalog order.
    pub fn topic_counts(&self) -> Result<Vec<(Topic, usize)>, AppError> {
        self.topic_counts_since(None)
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
}

/// Where the page after one that showed `shown` items from `offset` starts, if any.
fn next_offset(offset: usize, shown: usize, total: usize) -> Option<usize> {
    let next = offset.saturating_add(shown);
    (shown > 0 && next < total).then_some(next)
}

fn unchanged(items: usize) -> FileIngested {
    FileIngested {
        items,
        unchanged: true,
        warnings: Vec::new(),
        read_as: None,
        duplicate_of: None,
        replaced: Vec::new(),
    }
}

/// How a parsed file ended once saved.
fn saved_file(doc: &ParsedDocument, outcome: SaveOutcome) -> FileIngested {
    let mut done = FileIngested {
        items: doc.items.len(),
        unchanged: false,
        warnings: doc.warnings.clone(),
        read_as: Some(ReadAs::of(doc)),
        duplicate_of: None,
        replaced: Vec::new(),
    };
    match outcome {
        SaveOutcome::Unchanged { .. } => done.unchanged = true,
        SaveOutcome::Duplicate { of, .. } => {
            // Nothing of this file is stored, so nothing of it is warned about either.
            done.unchanged = true;
            done.warnings.clear();
            done.duplicate_of = Some(of);
        }
        SaveOutcome::Saved { replaced, .. } => done.replaced = replaced,
    }
    done
}

/// Decides what to do with one file of a folder source, reading only: its stamp (size,
/// mtime) or its content hash may show it unchanged; otherwise it is parsed. The outer
/// error is a database failure (ends the run).
fn plan_stamped(
    store: &Store,
    file: &Path,
    path: &str,
    options: &IngestOptions,
) -> Result<FilePlan, StoreError> {
    let fail = |kind: IngestErrorKind| {
        FilePlan::Failed(
            IngestError {
                path: path.to_string(),
                kind,
            }
            .to_string(),
        )
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
    let stamp = store.file_stamp(path)?;
    if let (Some(stamp), Some(mtime)) = (&stamp, mtime)
        && stamp.size == size
        && stamp.mtime == mtime
    {
        return Ok(FilePlan::Unchanged {
            items: store.items_from_path(path)?,
        });
    }
    let bytes = match crate::ingest::read_limited(file, options.max_file_bytes) {
        Ok(bytes) => bytes,
        Err(kind) => return Ok(fail(kind)),
    };
    let new_stamp = FileStamp {
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        mtime: mtime.unwrap_or(0),
        content_hash: bytes_hash(&bytes),
    };
    if stamp.is_some_and(|s| s.content_hash == new_stamp.content_hash) {
        return Ok(FilePlan::Restamp {
            stamp: new_stamp,
            items: store.items_from_path(path)?,
        });
    }
    let mtime = modified.map(chrono::DateTime::<Utc>::from);
    Ok(
        match crate::ingest::parse_bytes(path, &bytes, mtime, options) {
            Ok(doc) => FilePlan::Parsed {
                doc: Box::new(doc),
                stamp: Some(new_stamp),
            },
            Err(kind) => fail(kind),
        },
    )
}

/// SHA-256 (hex) of raw bytes: what a folder file or a fetched body held.
pub fn bytes_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
