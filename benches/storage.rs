//! Long storage benchmarks (issue 11): what SQLite costs per item, how fast a fixed batch
//! of fresh documents is ingested into an empty, a 100k-item and a 1M-item database, the
//! WAL's size during those ingests, the topic queries at 1M items, and the peak RSS of a
//! 100k-file `ecobrief ingest`.
//!
//! Run by hand, in release: `cargo bench --bench storage` (not part of `cargo test`).
//! The 100k- and 1M-item databases and the 100k-file folder are built once and kept under
//! `<target>/storage-bench/`, named by the schema version and [`GENERATOR_VERSION`], so a
//! schema change (or a change to the generated content) builds them again and removes the
//! stale ones. Figures go to stdout as Markdown table rows, ready for README's Performance
//! section; progress goes to stderr.
//!
//! Environment: `ECOBRIEF_STORAGE_BATCH` (documents per timed ingest, default 5,000),
//! `ECOBRIEF_STORAGE_RUNS` (timed runs per database, default 3; the median is shown),
//! `ECOBRIEF_STORAGE_SKIP_RSS=1` skips the 100k-file child run, and
//! `ECOBRIEF_STORAGE_ONLY=rates` runs the timed ingests alone and `ECOBRIEF_STORAGE_BASES=0,1M`
//! picks the databases they go into (for profiling them); `ECOBRIEF_STORAGE_ONLY=size` runs
//! the size figures alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ecobrief::app::Core;
use ecobrief::model::ParsedDocument;
use ecobrief::store::Store;
use ecobrief::topics::TopicCatalog;

#[path = "support/synth.rs"]
mod synth;
use synth::Synth;
#[path = "support/corpus.rs"]
mod corpus;
use corpus::{
    WORDS, bench_settings, date, feed_page, write_ingest_corpus, write_ingest_corpus_from,
};

/// Bump when what the generators write changes, so cached databases and folders are
/// built again.
const GENERATOR_VERSION: u32 = 1;
/// Items per generated feed document in the cached databases: many items per document
/// fill a store far faster than one each, and every item is indexed as an article's is.
const ITEMS_PER_DOCUMENT: usize = 20;
/// Documents saved per write transaction while building a cached database.
const BUILD_DOCUMENTS_PER_WRITE: usize = 250;
const SMALL_DB_ITEMS: usize = 100_000;
const LARGE_DB_ITEMS: usize = 1_000_000;
/// Files of the corpus whose SQLite size is compared with its source bytes.
const SIZE_CORPUS_FILES: [usize; 2] = [2_000, 10_000];
const RSS_FILES: usize = 100_000;
const QUERY_CALLS: usize = 300;

fn main() {
    let batch = env_usize("ECOBRIEF_STORAGE_BATCH", 5_000);
    let runs = env_usize("ECOBRIEF_STORAGE_RUNS", 3).max(1);
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).expect("create the storage-bench folder");
    let schema = current_schema_version(&dir);
    let key = format!("s{schema}-g{GENERATOR_VERSION}");
    remove_stale(&dir, &key);
    progress(&format!(
        "storage bench: schema {schema}, generator {GENERATOR_VERSION}, cache in {}",
        dir.display()
    ));
    println!(
        "storage bench, {} (schema version {schema}; {} cores, machine may be shared: timings are noisy)",
        chrono::Utc::now().date_naive(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| figure | value |");
    println!("|---|---|");

    let only = std::env::var("ECOBRIEF_STORAGE_ONLY").unwrap_or_default();
    let rates_only = only == "rates";
    if !rates_only {
        // Issue 11 measured 2,000 of these files; the pipeline benchmark ingests 10,000.
        for files in SIZE_CORPUS_FILES {
            size_per_item(&dir, files);
        }
        if only == "size" {
            return;
        }
    }

    let small = cached_db(&dir, &key, SMALL_DB_ITEMS, None);
    let large = cached_db(&dir, &key, LARGE_DB_ITEMS, Some(&small));
    for (label, path) in [("100k", &small), ("1M", &large)] {
        let (bytes, items) = db_size(path);
        figure(
            &format!("bytes per item, cached {label}-item database (generated feed items)"),
            format!(
                "{:.0} B/item ({} items, {})",
                bytes as f64 / items as f64,
                thousands(items as u64),
                megabytes(bytes)
            ),
        );
    }

    // The fixed batch: fresh documents (numbers far above any stored) as files, dated
    // after every stored item (what a running bot ingests: today's news), and the same
    // documents dated among the stored items (a backfill of an old archive), whose
    // time-ordered index entries land all over the indexes instead of at their ends.
    let batch_dir = tempfile::tempdir_in(&dir).expect("temp dir for the batch");
    let new_days = batch_dir.path().join("new-days");
    let backfill = batch_dir.path().join("backfill");
    let written = write_ingest_corpus_from(&new_days, 7, 200_000, batch, date(2026, 1, 1));
    write_ingest_corpus_from(&backfill, 7, 200_000, batch, date(2024, 1, 1));
    // `ECOBRIEF_STORAGE_BASES=1M` (or `0,1M`, …) times only those databases.
    let bases =
        std::env::var("ECOBRIEF_STORAGE_BASES").unwrap_or_else(|_| "0,100k,1M,1M-backfill".into());
    let bases: Vec<&str> = bases.split(',').map(str::trim).collect();
    let configs: Vec<(&str, &str, Option<&PathBuf>, &PathBuf)> = [
        ("0", "an empty database", None, &new_days),
        ("100k", "a 100k-item database", Some(&small), &new_days),
        ("1M", "a 1M-item database", Some(&large), &new_days),
        (
            "1M-backfill",
            "a 1M-item database (dated among its items: a backfill)",
            Some(&large),
            &backfill,
        ),
    ]
    .into_iter()
    .filter(|(name, ..)| bases.contains(name))
    .collect();
    // Round by round, each database once a round: the machine's speed drifts over
    // minutes, and the runs of one database in a row would take that drift as its own.
    let mut seen: Vec<Vec<Run>> = vec![Vec::new(); configs.len()];
    for round in 0..runs {
        for (config, (name, _, base, folder)) in configs.iter().enumerate() {
            progress(&format!("round {} of {runs}: {name}", round + 1));
            seen[config].push(ingest_run(&dir, *base, folder, written.files));
        }
    }
    let mut rates = Vec::new();
    for ((name, label, ..), runs_seen) in configs.iter().zip(seen) {
        let rate = summarize(runs_seen, written.files);
        figure(
            &format!(
                "ingest {} fresh documents ({} items) into {label}",
                thousands(written.files as u64),
                thousands(written.items as u64)
            ),
            format!(
                "**{} documents/s**, {} items/s (median of {runs}: {}); with the WAL then checkpointed: {} documents/s; WAL max {}; checkpoints {} on the thread, {} in commits",
                thousands(rate.documents_per_s as u64),
                thousands(
                    (rate.documents_per_s * written.items as f64 / written.files as f64) as u64
                ),
                rate.runs
                    .iter()
                    .map(|s| format!("{s:.2} s"))
                    .collect::<Vec<_>>()
                    .join(", "),
                thousands(rate.settled_per_s as u64),
                megabytes(rate.wal_max),
                rate.checkpoints.background,
                rate.checkpoints.in_commit
            ),
        );
        rates.push((*name, rate.documents_per_s, rate.settled_per_s));
    }
    let rate_of = |name: &str| {
        rates
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|r| (r.1, r.2))
    };
    for (name, label) in [("1M", "1M items"), ("1M-backfill", "1M items, backfill")] {
        if let (Some(empty), Some(large)) = (rate_of("0"), rate_of(name)) {
            figure(
                &format!("ingest rate into {label} / into empty"),
                format!(
                    "**{:.0}%**; with the WAL checkpointed: {:.0}%",
                    100.0 * large.0 / empty.0,
                    100.0 * large.1 / empty.1
                ),
            );
        }
    }
    drop(batch_dir);
    if rates_only {
        return;
    }

    topic_queries(&large);

    if std::env::var_os("ECOBRIEF_STORAGE_SKIP_RSS").is_none() {
        ingest_child(&dir, &key);
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn figure(name: &str, value: String) {
    println!("| {name} | {value} |");
    let _ = std::io::stdout().flush();
}

fn progress(line: &str) {
    eprintln!("storage: {line}");
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

// ---------------------------------------------------------------------------------------
// The cache folder
// ---------------------------------------------------------------------------------------

/// `<target>/storage-bench`, beside cargo's own scratch folder (so `CARGO_TARGET_DIR` is
/// honoured and `cargo clean` removes it).
fn bench_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("storage-bench")
}

/// The schema version this build of ecobrief creates: that of a new, empty database.
fn current_schema_version(dir: &Path) -> i64 {
    let scratch = tempfile::tempdir_in(dir).expect("temp dir");
    let store = Store::open(&scratch.path().join("schema.db")).expect("store opens");
    store.schema_version().expect("schema version")
}

/// Removes cached databases and folders of other keys (another schema or generator), and
/// what an interrupted run left.
fn remove_stale(dir: &Path, key: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(key) && !name.contains(".building") {
            continue;
        }
        progress(&format!("removing stale {name}"));
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// The file's size after a full checkpoint (the WAL folded in and truncated), and its
/// item count.
fn db_size(path: &Path) -> (u64, usize) {
    checkpoint(path);
    let items = Store::open(path)
        .and_then(|s| s.item_count())
        .expect("count items");
    let bytes = std::fs::metadata(path).expect("database size").len();
    (bytes, items)
}

fn checkpoint(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open for checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
}

fn topics() -> TopicCatalog {
    let settings = bench_settings(PathBuf::from("unused.db"));
    TopicCatalog::load(&settings.topics_file).expect("topics load")
}

// ---------------------------------------------------------------------------------------
// Bytes per item
// ---------------------------------------------------------------------------------------

/// The pipeline benchmark's mix of files ingested into an empty database: SQLite bytes
/// per item and per source byte, and what each table and index takes.
fn size_per_item(dir: &Path, count: usize) {
    let files = tempfile::tempdir_in(dir).expect("temp dir for the corpus");
    let corpus = write_ingest_corpus(files.path(), 2, 0, count);
    let db_dir = tempfile::tempdir_in(dir).expect("temp dir for the database");
    let db = db_dir.path().join("size.db");
    let core = Core::open(bench_settings(db.clone())).expect("core opens");
    let tally = core
        .ingest_paths_each(&[files.path().to_path_buf()], None, |_| {})
        .expect("ingest runs");
    assert_eq!(tally.failed, 0);
    drop(core);
    let (bytes, items) = db_size(&db);
    assert_eq!(items, corpus.items);
    figure(
        &format!(
            "bytes per item, {} files ({} items, {} of text) ingested, after a checkpoint",
            thousands(corpus.files as u64),
            thousands(corpus.items as u64),
            megabytes(corpus.bytes)
        ),
        format!(
            "**{:.0} B/item**, {} of SQLite = **{:.2}× the source bytes**",
            bytes as f64 / items as f64,
            megabytes(bytes),
            bytes as f64 / corpus.bytes as f64
        ),
    );
    let conn = rusqlite::Connection::open(&db).expect("open for dbstat");
    if std::env::var_os("ECOBRIEF_STORAGE_KEEP").is_some() {
        let _ = std::fs::copy(&db, dir.join(format!("size-{count}.db")));
    }
    let parts: rusqlite::Result<Vec<(String, i64)>> = conn
        .prepare(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY SUM(pgsize) DESC LIMIT 12",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        });
    match parts {
        Ok(parts) => figure(
            "… of which (tables and indexes, largest first)",
            parts
                .iter()
                .map(|(name, size)| format!("{name} {:.0}%", 100.0 * *size as f64 / bytes as f64))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Err(e) => progress(&format!("no per-table sizes (dbstat): {e}")),
    }
}

// ---------------------------------------------------------------------------------------
// Cached databases
// ---------------------------------------------------------------------------------------

/// The cached database of `items` generated items, built if missing (from a copy of
/// `start` when given, which holds the first of the same stream).
fn cached_db(dir: &Path, key: &str, items: usize, start: Option<&Path>) -> PathBuf {
    let path = dir.join(format!("items-{items}-{key}.db"));
    if path.exists() {
        progress(&format!("using cached {}", path.display()));
        return path;
    }
    let building = dir.join(format!("items-{items}-{key}.building.db"));
    let _ = std::fs::remove_file(&building);
    let started = Instant::now();
    let first = match start {
        Some(start) => {
            std::fs::copy(start, &building).expect("copy the smaller database");
            Store::open(&building)
                .and_then(|s| s.item_count())
                .expect("count items")
        }
        None => 0,
    };
    build(&building, first, items);
    checkpoint(&building);
    std::fs::rename(&building, &path).expect("rename the built database");
    progress(&format!(
        "built {} in {:.0?}",
        path.display(),
        started.elapsed()
    ));
    path
}

/// Adds items `first..items` of the generated stream, [`ITEMS_PER_DOCUMENT`] per
/// document, through the store's own save path. The documents are generated on another
/// thread, so generation and SQLite use both cores.
fn build(path: &Path, first: usize, items: usize) {
    let topics = topics();
    let mut store = Store::open(path).expect("store opens");
    store.sync_topics(&topics).expect("topics sync");
    let (send, receive) = std::sync::mpsc::sync_channel::<ParsedDocument>(256);
    let generator = std::thread::spawn(move || {
        // One seed per starting point: the 1M database's items after the first 100k are
        // its own, whatever the 100k database was built from.
        let mut synth = Synth::new(11 + first as u64, WORDS);
        let mut n = first;
        while n < items {
            let count = ITEMS_PER_DOCUMENT.min(items - n);
            if send
                .send(feed_page(&mut synth, n, count, LARGE_DB_ITEMS))
                .is_err()
            {
                return;
            }
            n += count;
        }
    });
    let started = Instant::now();
    let mut stored = first;
    let mut last_report = Instant::now();
    let mut receive = receive.into_iter().peekable();
    while receive.peek().is_some() {
        let mut batch = store.batch().expect("batch starts");
        for doc in receive.by_ref().take(BUILD_DOCUMENTS_PER_WRITE) {
            stored += doc.items.len();
            batch.save(&doc, &topics).expect("document saves");
        }
        batch.commit().expect("batch commits");
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            let done = (stored - first) as f64;
            let rate = done / started.elapsed().as_secs_f64();
            progress(&format!(
                "building {}: {} of {} items, {:.0} items/s, about {:.0} s left",
                path.display(),
                thousands(stored as u64),
                thousands(items as u64),
                rate,
                (items - stored) as f64 / rate
            ));
        }
    }
    generator.join().expect("generator thread");
    assert_eq!(store.item_count().expect("count items"), items);
}

// ---------------------------------------------------------------------------------------
// Ingest rate and the WAL
// ---------------------------------------------------------------------------------------

struct Rate {
    documents_per_s: f64,
    /// Counting the checkpoint after the ingest too, until the WAL is empty.
    settled_per_s: f64,
    runs: Vec<f64>,
    wal_max: u64,
    /// Of the median run.
    checkpoints: ecobrief::store::CheckpointCounts,
}

/// Polls the size of `<db>-wal` until dropped; `max` is the largest size seen.
struct WalWatch {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalWatch {
    fn start(db: &Path) -> WalWatch {
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max) = (Arc::clone(&stop), Arc::clone(&max));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(meta) = std::fs::metadata(&wal) {
                        max.fetch_max(meta.len(), Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        WalWatch {
            stop,
            max,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

/// One timed ingest.
#[derive(Clone, Copy)]
struct Run {
    seconds: f64,
    /// Until the WAL was checkpointed as well.
    settled: f64,
    wal_max: u64,
    checkpoints: ecobrief::store::CheckpointCounts,
}

/// Ingests the batch folder into a fresh copy of `base` (or an empty database), timing
/// `ingest_dir_each` alone, then with the final checkpoint.
fn ingest_run(dir: &Path, base: Option<&PathBuf>, batch: &Path, files: usize) -> Run {
    let db_dir = tempfile::tempdir_in(dir).expect("temp dir for the database");
    let db = db_dir.path().join("ingest.db");
    if let Some(base) = base {
        progress(&format!("copying {}", base.display()));
        std::fs::copy(base, &db).expect("copy the cached database");
        // On disk before the clock starts: else the first checkpoint's fsync writes
        // the whole copy, and the figure measures the copy.
        std::fs::File::open(&db)
            .and_then(|f| f.sync_all())
            .expect("sync the copy");
    }
    let core = Core::open(bench_settings(db.clone())).expect("core opens");
    let watch = WalWatch::start(&db);
    let started = Instant::now();
    // As the bot's poll of a folder source reads it (file stamps, `NORMAL` commits).
    let mut tally = ecobrief::app::IngestTally::default();
    core.ingest_dir_each(batch, "bench", &mut |file| tally.add(&file))
        .expect("ingest runs");
    let seconds = started.elapsed().as_secs_f64();
    let checkpoints = core.db.checkpoint_counts();
    // What the checkpoint thread has left, done now: the WAL back in the database.
    core.db.checkpoint_now().expect("final checkpoint");
    let settled = started.elapsed().as_secs_f64();
    let wal_max = watch.finish();
    assert_eq!(tally.files, files);
    assert_eq!(tally.failed, 0);
    assert_eq!(tally.new_items, tally.items, "every document is fresh");
    progress(&format!(
        "{files} files in {seconds:.2} s, {settled:.2} s with the checkpoint"
    ));
    Run {
        seconds,
        settled,
        wal_max,
        checkpoints,
    }
}

/// Median rates of some runs; the checkpoint counts are the median run's.
fn summarize(mut runs: Vec<Run>, files: usize) -> Rate {
    let seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    let settled = median(runs.iter().map(|r| r.settled).collect());
    let wal_max = runs.iter().map(|r| r.wal_max).max().unwrap_or(0);
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let middle = runs[runs.len() / 2];
    Rate {
        documents_per_s: files as f64 / middle.seconds,
        settled_per_s: files as f64 / settled,
        runs: seconds,
        wal_max,
        checkpoints: middle.checkpoints,
    }
}

// ---------------------------------------------------------------------------------------
// Topic queries at 1M items
// ---------------------------------------------------------------------------------------

fn time_calls<T>(calls: usize, mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..calls.min(20) {
        std::hint::black_box(f());
    }
    let mut micros = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        std::hint::black_box(f());
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    median(micros)
}

fn topic_queries(db: &Path) {
    let store = Store::open(db).expect("store opens");
    let items = store.item_count().expect("count items");
    let counts = store.topic_counts(None).expect("topic counts");
    let (biggest, biggest_count) = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(id, n)| (id.clone(), *n))
        .expect("some topic has items");
    let gold = counts.get("gold").copied().unwrap_or(0);
    for (id, n) in [("gold", gold), (biggest.as_str(), biggest_count)] {
        let count = time_calls(QUERY_CALLS, || store.count_for_topic(id).expect("count"));
        figure(
            &format!(
                "`count_for_topic({id})` at {} items ({} in the topic), median of {QUERY_CALLS}",
                thousands(items as u64),
                thousands(n as u64)
            ),
            format!("**{:.3} ms**", count / 1000.0),
        );
        for offset in [0, 100] {
            let page = time_calls(QUERY_CALLS, || {
                store.items_for_topic(id, 5, offset).expect("topic page")
            });
            figure(
                &format!("`items_for_topic({id}, 5, offset {offset})` at 1M items, median"),
                format!("{:.3} ms", page / 1000.0),
            );
        }
    }
    drop(store);
    let core = Core::open(bench_settings(db.to_path_buf())).expect("core opens");
    let reply = time_calls(QUERY_CALLS, || {
        core.topic_reply("gold", 5, 0).expect("reply")
    });
    figure(
        "`/topic gold` reply (page, count and render) at 1M items, median",
        format!("{:.3} ms", reply / 1000.0),
    );
}

// ---------------------------------------------------------------------------------------
// Peak RSS of a 100k-file ingest, in a child process
// ---------------------------------------------------------------------------------------

/// The 100k-file folder, written once.
fn cached_folder(dir: &Path, key: &str) -> (PathBuf, corpus::Corpus) {
    // The files do not depend on the schema: keyed by the generator only, but named with
    // the whole key so that stale folders are cleaned like the databases.
    let path = dir.join(format!("files-{RSS_FILES}-{key}"));
    let done = path.join(".complete");
    if let Ok(text) = std::fs::read_to_string(&done) {
        let mut parts = text.split_whitespace().map(|p| p.parse().unwrap_or(0));
        let (items, bytes) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        progress(&format!("using cached {}", path.display()));
        return (
            path,
            corpus::Corpus {
                files: RSS_FILES,
                items: items as usize,
                bytes,
            },
        );
    }
    let _ = std::fs::remove_dir_all(&path);
    progress(&format!("writing {RSS_FILES} files to {}", path.display()));
    let corpus = write_ingest_corpus(&path, 5, 0, RSS_FILES);
    std::fs::write(&done, format!("{} {}", corpus.items, corpus.bytes)).expect("mark complete");
    (path, corpus)
}

/// Runs the release `ecobrief ingest` on the 100k-file folder into an empty database and
/// polls its VmHWM (the kernel's high-water mark of its RSS, so the last reading before
/// it exits is its peak) and the WAL's size.
fn ingest_child(dir: &Path, key: &str) {
    let (folder, corpus) = cached_folder(dir, key);
    let work = tempfile::tempdir_in(dir).expect("temp dir for the child");
    let db = work.path().join("child.db");
    let config = work.path().join("ecobrief.toml");
    let manifest = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\ntopics_file = \"{manifest}/config/topics.toml\"\n\n[render]\ntemplates_dir = \"{manifest}/templates\"\n",
            db.display().to_string()
        ),
    )
    .expect("write the child's config");
    progress(&format!(
        "ecobrief ingest of {} files in a child process",
        RSS_FILES
    ));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(&folder)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ecobrief ingest");
    let status_file = format!("/proc/{}/status", child.id());
    let watch = WalWatch::start(&db);
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait for ecobrief ingest") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed().as_secs_f64();
    let wal_max = watch.finish();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(status.success(), "ecobrief ingest failed: {stderr}");
    figure(
        &format!(
            "`ecobrief ingest` of {} files ({} items, {}) into an empty database, release",
            thousands(RSS_FILES as u64),
            thousands(corpus.items as u64),
            megabytes(corpus.bytes)
        ),
        format!(
            "peak RSS (VmHWM) **{:.1} MB**; {:.1} s = {} files/s; WAL max {}",
            peak_kib as f64 * 1024.0 / 1e6,
            elapsed,
            thousands((RSS_FILES as f64 / elapsed) as u64),
            megabytes(wal_max)
        ),
    );
}
