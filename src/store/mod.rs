//! Store: one SQLite file (bundled SQLite, WAL mode) holding documents, items, their
//! impacts and topic links.

mod checkpoint;
pub mod days;
pub mod delivery;
pub mod impacts;
mod keys;
mod migrations;
mod packed;
pub mod retention;
pub mod sources;
mod v10;
mod v11;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::model::{
    Direction, DocumentMeta, Horizon, Impact, Intensity, Item, ItemKind, Leaning, ParsedDocument,
    Stance,
};
use crate::topics::TopicCatalog;
pub use checkpoint::{CheckpointCounts, WalBudget};
use keys::{KeyText, StoredKey, path_hash, summary_from_parts, summary_in_body};
use packed::{PackedText, UnpackedText};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this ecobrief knows ({known}); upgrade ecobrief"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "cannot back up the database to {path} before migrating it: {source}; free space there or move the database"
    )]
    Backup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database holds malformed data: {0}")]
    Corrupt(String),
    #[error("database task stopped: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One connection to the database file, with the queries and writes of every stage.
/// Get one from a [`Db`]; it is never shared between threads.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Set while a [`Store::rereadable_batch`] has relaxed the connection's settings, and
    /// left set if putting them back failed: such a connection is not reused.
    relaxed: std::cell::Cell<bool>,
}

/// Connections kept open for reuse; more may be open at once, the rest are closed.
const MAX_IDLE_CONNECTIONS: usize = 8;
/// Page size of a new database file (see [`Store::init`]).
const PAGE_SIZE: i64 = 8192;
/// Page cache of each connection, in KiB (see `Store::configure`).
const PAGE_CACHE_KIB: i64 = 24 * 1024;
/// WAL pages after which a commit checkpoints: 16 MiB with the 8 KiB pages of a new file
/// (8 MiB in a file made before, with 4 KiB pages).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 2048;
/// What a WAL larger than this is cut back to when it is reused.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 32 << 20;
/// Days either side of an item's day within which a stored item with the same key is the
/// same item (it moves to the document saving it), one index seek per day
/// (`items_by_day_key`, see v11.rs). This loses no match: a key made from a title or a
/// text hashes its day, and a link's item is its own document, keyed by the link, which
/// the document upsert replaces whatever the day. The days either side are slack for a
/// key made some other way; a key that matched further away would be kept as a second
/// item, never lost.
pub const SAME_ITEM_DAYS: i64 = 3;

/// How long a write waits for another writer before it fails with "database is locked".
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The database: a cheap handle that gives each task its own connection. WAL mode lets
/// readers run beside a writer, and every write transaction starts with `BEGIN
/// IMMEDIATE`, so writers queue on the busy timeout instead of failing. There is no lock
/// of ours around it: a parse or a slow reader never holds up anybody else.
///
/// Every call blocks on SQLite, so async code uses [`Db::run`], which moves the work to
/// a blocking thread.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    /// Only touched for a push or a pop, on blocking threads.
    idle: Mutex<Vec<Store>>,
    /// Checkpoints the WAL off the writers' threads (see `checkpoint.rs`).
    checkpointer: checkpoint::Checkpointer,
}

/// A connection on loan from a [`Db`]; it goes back to the pool when dropped.
pub struct Conn {
    store: Option<Store>,
    db: Arc<DbInner>,
}

impl std::ops::Deref for Conn {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Only `drop` takes it out.
        self.store
            .as_ref()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Store {
        self.store
            .as_mut()
            .unwrap_or_else(|| unreachable!("connection taken"))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let mut idle = lock_pool(&self.db.idle);
            if idle.len() < MAX_IDLE_CONNECTIONS
                && store.conn.is_autocommit()
                && !store.relaxed.get()
            {
                // An idle connection keeps no page cache: the next transaction after
                // another connection's write starts with an empty cache anyway (WAL),
                // and eight idle caches of a full scan would be 256 MiB for nothing.
                // Failing to free only costs memory.
                let _ = store.conn.release_memory();
                idle.push(store);
            }
        }
    }
}

fn lock_pool(idle: &Mutex<Vec<Store>>) -> std::sync::MutexGuard<'_, Vec<Store>> {
    // A panic while holding it cannot leave the list inconsistent.
    idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Db {
    /// Opens (creating if needed) the database file, brings its schema up to date, and
    /// keeps that connection for reuse.
    pub fn open(path: &Path) -> Result<Db> {
        Db::open_with(path, WalBudget::default())
    }

    /// [`Db::open`] with other WAL checkpoint thresholds (tests use small ones).
    pub fn open_with(path: &Path, budget: WalBudget) -> Result<Db> {
        let mut first = Store::open(path)?;
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let checkpointer = checkpoint::Checkpointer::start(Store::connect(path)?.conn, budget)
            .map_err(|e| StoreError::Task(format!("cannot start the checkpoint thread: {e}")))?;
        checkpointer.attach(&mut first.conn).map_err(open_err)?;
        Ok(Db {
            inner: Arc::new(DbInner {
                path: path.to_path_buf(),
                idle: Mutex::new(vec![first]),
                checkpointer,
            }),
        })
    }

    /// Copies the whole WAL back into the database file and truncates it, after any
    /// checkpoint the thread is running (blocking). What an ingest's figures count as
    /// finished, and what a backup wants first.
    pub fn checkpoint_now(&self) -> Result<()> {
        let mut conn = self.get()?;
        self.inner.checkpointer.exclusive(|| conn.checkpoint_wal())
    }

    /// For the end of a command-line run or of the bot: stops the checkpoint thread and
    /// waits for it (blocking). SQLite folds the WAL back into the file and removes it
    /// when the last connection closes, which the thread's would otherwise be, after the
    /// process has gone. Later commits checkpoint only at the limit, in their own
    /// connection.
    pub fn close(&self) {
        self.inner.checkpointer.stop_and_wait();
    }

    /// How many WAL checkpoints ran on the checkpoint thread and in commits.
    pub fn checkpoint_counts(&self) -> CheckpointCounts {
        self.inner.checkpointer.counts()
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A connection of its own for the caller (blocking: call from a blocking thread).
    pub fn get(&self) -> Result<Conn> {
        let reused = lock_pool(&self.inner.idle).pop();
        let store = match reused {
            Some(store) => store,
            None => {
                let mut store = Store::connect(&self.inner.path)?;
                self.inner
                    .checkpointer
                    .attach(&mut store.conn)
                    .map_err(|source| StoreError::Open {
                        path: self.inner.path.clone(),
                        source,
                    })?;
                store
            }
        };
        Ok(Conn {
            store: Some(store),
            db: Arc::clone(&self.inner),
        })
    }

    /// Runs `f` on a connection of its own (blocking).
    pub fn with<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut conn = self.get()?;
        f(&mut conn)
    }

    /// Runs `f` on a connection of its own, on a blocking thread, so that no async
    /// worker ever waits on SQLite.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.with(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// What saving one document did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Same content as stored from the same file: nothing written.
    Unchanged { items: usize },
    /// The same text is already stored from another file (`of`): nothing written, and the
    /// document stays with that file.
    Duplicate { items: usize, of: String },
    /// Written. `replaced` names the other files whose document, or some of whose items
    /// (the same URL, or the same title on the same day), this one took over.
    Saved { items: usize, replaced: Vec<String> },
}

fn to_json(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_string())
}

fn from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list column: {e}")))
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Bullish => "bullish",
        Direction::Bearish => "bearish",
        Direction::Neutral => "neutral",
        Direction::Unknown => "unknown",
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| StoreError::Corrupt(format!("value {text:?}: {e}")))
}

fn enum_str<T: serde::Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Removes the stored item with key `?1` on one of the days `?2`..`?8` (see
/// [`same_item_days`]), naming the document it was in. The prefix condition is what
/// `items_by_day_key` holds, so each day is one index seek.
const TAKE_ITEM: &str = "DELETE FROM items
     WHERE brief_date IN (?2, ?3, ?4, ?5, ?6, ?7, ?8)
       AND substr(key, 1, 8) = substr(?1, 1, 8) AND key = ?1
     RETURNING doc_id, (SELECT source_path FROM documents WHERE documents.id = items.doc_id)";

/// How many days [`same_item_days`] gives (the save path's look-up binds each).
const SAME_ITEM_WINDOW: usize = 7;
const _: () = assert!(SAME_ITEM_WINDOW as i64 == 2 * SAME_ITEM_DAYS + 1);

/// The days a key is looked up on: the item's day and [`SAME_ITEM_DAYS`] either side, as
/// `brief_date` is stored (a day past the calendar's end is the item's own day again).
fn same_item_days(day: NaiveDate) -> [String; SAME_ITEM_WINDOW] {
    std::array::from_fn(|i| {
        day.checked_add_signed(chrono::TimeDelta::days(i as i64 - SAME_ITEM_DAYS))
            .unwrap_or(day)
            .to_string()
    })
}

/// The instant an item sorts by: its time, else the start of its day (UTC), so that
/// undated items of a day sort after the timed news of the day before.
fn sort_at(item: &Item) -> i64 {
    item.published_at.map_or_else(
        || {
            item.brief_date
                .and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp())
        },
        |t| t.timestamp(),
    )
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, path.to_path_buf())
    }

    /// Another connection to a database [`Store::open`] has set up.
    fn connect(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::configure(&conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            relaxed: std::cell::Cell::new(false),
        })
    }

    /// Settings every connection needs (they are per connection, except WAL).
    fn configure(conn: &Connection, path: &Path) -> Result<()> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets readers (the bot answering /topic) run while a writer ingests. FULL
        // sync makes a committed delivery record survive a power cut, not only a crash.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Page cache, per connection (SQLite's default is 2 MB). An ingest into a large
        // database touches index pages all over the file: with 2 MB, pages were spilled
        // and read back within one transaction (issue 11's profile: spills 19%, pread
        // 18%). 24 MiB holds the interior pages of every index of a 1M-item database and
        // one ingest transaction's dirty pages (see `app::ITEMS_PER_WRITE`). It is filled
        // only as pages are read, and a connection gives it back when it returns to the
        // pool (`Conn::drop`), so idle connections cost nothing. It is most of what a
        // 100k-file ingest holds (measured: 32 MiB made that 71 MB, over its 64 MB).
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
            .map_err(open_err)?;
        // For a connection outside a `Db` (the CLI's `db` commands, tests): checkpoint
        // once the WAL holds 16 MiB (default: 4 MB) rather than after nearly every ingest
        // transaction. A `Db`'s connections hand their checkpoints to its checkpoint
        // thread instead (`checkpoint.rs`), which replaces this.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(open_err)?;
        // A WAL is reused from its start after a checkpoint, never shrunk, so one big
        // transaction (a topic rebuild, a migration) would leave a file that big for
        // good; this cuts it back to 32 MiB when it is reused.
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)
            .map_err(open_err)?;
        // Not set: `mmap_size` stays 0, since mapped pages count in the process's RSS and
        // page misses, not copies, are what an ingest waits on; `temp_store` stays a file,
        // so the sorts of a migration's index build and a VACUUM's copy cannot take
        // unbounded memory (only an ingest batch, whose savepoint journals are small,
        // keeps them in memory: `Store::rereadable_batch`).
        Ok(())
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        // A new file gets 8 KiB pages: an item row is about 1 KB, and 4 KiB pages hold
        // only three of them, a fifth of every page left empty. This only takes effect
        // before the file's first page is written (before WAL mode is set); an existing
        // file keeps its page size.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
        Store::configure(&conn, &path)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        let known = migrations::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known,
            });
        }
        if version > 0 && version < known {
            backup_before_migrating(&conn, &path, version, known)?;
        }
        for (index, migration) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version as usize)
        {
            let to = index as i64 + 1;
            if version > 0 {
                tracing::info!("database {}: migrating to schema {to}", path.display());
            }
            match migration {
                migrations::Migration::Sql(sql) => {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(open_err)?;
                    tx.execute_batch(sql).map_err(open_err)?;
                    tx.pragma_update(None, "user_version", to)
                        .map_err(open_err)?;
                    tx.commit().map_err(open_err)?;
                }
                migrations::Migration::Rust(step) => {
                    // Tables are rebuilt: foreign keys (which cannot change inside a
                    // transaction) are off while the step runs and checked before it
                    // commits.
                    conn.pragma_update(None, "foreign_keys", "OFF")
                        .map_err(open_err)?;
                    let outcome = run_rust_step(&mut conn, *step, to);
                    conn.pragma_update(None, "foreign_keys", "ON")
                        .map_err(open_err)?;
                    outcome?;
                }
            }
        }
        if version > 0 && version < known {
            // A rebuilt table leaves its old pages free in the file: they are reused by
            // later writes, or given back by `ecobrief db vacuum`.
            let free: i64 = conn
                .query_row(
                    "SELECT freelist_count * page_size FROM pragma_freelist_count, pragma_page_size",
                    [],
                    |r| r.get(0),
                )
                .map_err(open_err)?;
            tracing::info!(
                "database {}: at schema {known}; {:.1} MB of the file is free space, reused by later writes (`ecobrief db vacuum` gives it back now)",
                path.display(),
                free as f64 / 1e6
            );
        }
        Ok(Store {
            conn,
            path,
            relaxed: std::cell::Cell::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock first, so a busy
    /// database is waited for (the busy timeout) rather than failing part-way through
    /// with "database is locked", as a transaction that reads before it writes would.
    pub(crate) fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Checkpoints the whole WAL and truncates it (waits for readers and writers, up to
    /// the busy timeout).
    pub fn checkpoint_wal(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Starts a batch of writes that commits as one transaction; each document in it is
    /// saved all-or-nothing.
    pub fn batch(&mut self) -> Result<Batch<'_>> {
        Ok(Batch {
            tx: self.write()?,
            _relaxed: None,
        })
    }

    /// A batch of what can be read again from where it came from (the files of a folder
    /// source, a feed's fetch), committed without waiting for the disk: `synchronous =
    /// NORMAL`, so a power cut (not a crash of ecobrief) may undo its last commits, and
    /// the next poll reads them again (a folder's file stamps are in the same
    /// transactions). The WAL is still synced before every checkpoint, and any later
    /// commit of a delivery record (`FULL`) syncs everything before it. Each document's
    /// savepoint journal is kept in memory (`temp_store = MEMORY`): it holds the pages one
    /// document changes, and as a temporary file it was 180,000 writes per 5,000 files.
    /// The connection's settings come back when the batch ends.
    pub fn rereadable_batch(&mut self) -> Result<Batch<'_>> {
        // Flagged first: if the second setting fails, the first is put back all the same.
        self.relaxed.set(true);
        let relaxed = RelaxedSettings {
            conn: &self.conn,
            flag: &self.relaxed,
        };
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")?;
        // On an error here `relaxed` is dropped first, which puts the settings back.
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        Ok(Batch {
            tx,
            _relaxed: Some(relaxed),
        })
    }

    /// Saves one document in its own transaction.
    pub fn save_document(
        &mut self,
        doc: &ParsedDocument,
        topics: &TopicCatalog,
    ) -> Result<SaveOutcome> {
        let mut batch = self.batch()?;
        let outcome = batch.save(doc, topics)?;
        batch.commit()?;
        Ok(outcome)
    }

    pub fn meta_value(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta_value(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Rebuilds every topic link when the topics changed since they were made.
    /// Returns whether anything was rebuilt.
    pub fn sync_topics(&mut self, topics: &TopicCatalog) -> Result<bool> {
        if self.meta_value("topics_fingerprint")?.as_deref() == Some(topics.fingerprint.as_str()) {
            return Ok(false);
        }
        let tx = self.write()?;
        tx.execute("DELETE FROM item_topics", [])?;
        {
            let mut select = tx.prepare("SELECT * FROM items")?;
            let mut impacts = tx.prepare_cached(IMPACTS_SQL)?;
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO item_topics (topic_id, sort_at, item_id) VALUES (?1, ?2, ?3)",
            )?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                let item_id: i64 = row.get("id")?;
                let mut item = item_from_row(row)?;
                item.impacts = load_impacts(&mut impacts, item_id)?;
                let at = sort_at(&item);
                for id in topics.topics_for(&item) {
                    insert.execute(params![id, at, item_id])?;
                }
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('topics_fingerprint', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [&topics.fingerprint],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The structured brief document of `date`, if one was ingested.
    pub fn brief_document(&self, date: NaiveDate) -> Result<Option<DocumentMeta>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, kind, brief_date, title, summary, cover_image, sections, source_path, content_hash
             FROM documents WHERE brief_date = ?1 AND kind = 'brief'
             ORDER BY ingested_at DESC LIMIT 1",
        )?;
        let row = stmt
            .query_row([date.to_string()], |row| {
                Ok((
                    row.get::<_, KeyText>(0)?.0,
                    row.get::<_, String>(2)?,
                    // Only articles' and commentaries' titles are left to their item.
                    row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, KeyText>(8)?.0,
                ))
            })
            .optional()?;
        let Some((key, day, title, summary, cover_image, sections, source_path, content_hash)) =
            row
        else {
            return Ok(None);
        };
        Ok(Some(DocumentMeta {
            key,
            kind: ItemKind::Brief,
            brief_date: parse_day(&day)?,
            title,
            summary: from_json(&summary)?,
            cover_image,
            sections: from_json(&sections)?,
            source_path,
            content_hash,
        }))
    }

    /// Every item that belongs to the brief of `date`, each with the key of its document.
    pub fn items_for_date(&self, date: NaiveDate) -> Result<Vec<(String, Item)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT items.*, documents.key AS doc_key FROM items
             JOIN documents ON documents.id = items.doc_id
             WHERE items.brief_date = ?1 ORDER BY documents.key, items.position, items.sort_at",
        )?;
        let mut impacts = self.conn.prepare_cached(IMPACTS_SQL)?;
        let mut rows = stmt.query([date.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let doc_key: KeyText = row.get("doc_key")?;
            let item_id: i64 = row.get("id")?;
            let mut item = item_from_row(row)?;
            item.impacts = load_impacts(&mut impacts, item_id)?;
            out.push((doc_key.0, item));
        }
        Ok(out)
    }

    /// The newest items of a topic, `limit` from `offset`.
    pub fn items_for_topic(
        &self,
        topic_id: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Item>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT items.* FROM item_topics JOIN items ON items.id = item_topics.item_id
             WHERE item_topics.topic_id = ?1
             ORDER BY item_topics.sort_at DESC, item_topics.item_id DESC
             LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query(params![topic_id, limit as i64, offset as i64])?;
        self.items_with_impacts(rows)
    }

    /// The items of `rows` (`SELECT items.*`), each with its impacts.
    pub(crate) fn items_with_impacts(&self, mut rows: rusqlite::Rows<'_>) -> Result<Vec<Item>> {
        let mut impacts = self.conn.prepare_cached(IMPACTS_SQL)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let item_id: i64 = row.get("id")?;
            let mut item = item_from_row(row)?;
            item.impacts = load_impacts(&mut impacts, item_id)?;
            out.push(item);
        }
        Ok(out)
    }

    /// How many items a topic has: one row of `topic_counts`, kept by triggers on
    /// `item_topics` (migration 10), so it costs the same at any size.
    pub fn count_for_topic(&self, topic_id: &str) -> Result<usize> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT items FROM topic_counts WHERE topic_id = ?1")?;
        let n: Option<i64> = stmt.query_row([topic_id], |r| r.get(0)).optional()?;
        Ok(n.map_or(0, |n| usize::try_from(n).unwrap_or(0)))
    }

    /// Item counts per topic id, for items at or after `since` (all items when `None`).
    pub fn topic_counts(&self, since: Option<DateTime<Utc>>) -> Result<HashMap<String, usize>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT topic_id, COUNT(*) FROM item_topics WHERE sort_at >= ?1 GROUP BY topic_id",
        )?;
        let since = since.map_or(i64::MIN, |t| t.timestamp());
        let rows = stmt.query_map([since], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, n) = row?;
            out.insert(id, n as usize);
        }
        Ok(out)
    }

    pub fn item_count(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
        Ok(n as usize)
    }
}

/// Runs one Rust migration step in its own transaction, reaching schema `to`.
fn run_rust_step(
    conn: &mut Connection,
    step: fn(&Transaction<'_>) -> Result<()>,
    to: i64,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated the file since its version was read.
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= to {
        return Ok(());
    }
    step(&tx)?;
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()?;
    if let Some(table) = broken {
        return Err(StoreError::Corrupt(format!(
            "migration to schema {to} left rows of {table} without their parent"
        )));
    }
    tx.pragma_update(None, "user_version", to)?;
    tx.commit()?;
    Ok(())
}

/// Where the copy of a database is kept before it is migrated to schema `to`.
pub fn backup_path(db: &Path, to: i64) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(format!(".before-v{to}.bak"));
    PathBuf::from(name)
}

/// Copies the database (`VACUUM INTO`, a consistent copy without the WAL) before it is
/// migrated from schema `from`, so an upgrade can be undone by putting the copy back. A
/// copy left by an earlier attempt is replaced: the file has not changed schema since.
fn backup_before_migrating(conn: &Connection, db: &Path, from: i64, known: i64) -> Result<()> {
    let backup = backup_path(db, known);
    let mut partial = backup.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let io_err = |e: std::io::Error| StoreError::Backup {
        path: backup.clone(),
        source: e,
    };
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
        _ => {}
    }
    tracing::info!(
        "database {}: schema {from} is older than this ecobrief's {known}; backing it up to {} before migrating",
        db.display(),
        backup.display()
    );
    let target = partial.to_str().ok_or_else(|| StoreError::Backup {
        path: backup.clone(),
        source: std::io::Error::other("the backup path is not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", [target])?;
    std::fs::rename(&partial, &backup).map_err(io_err)?;
    tracing::info!(
        "database {}: backed up to {}",
        db.display(),
        backup.display()
    );
    Ok(())
}

fn parse_day(text: &str) -> Result<NaiveDate> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

const IMPACTS_SQL: &str = "SELECT target, label, direction, leaning, horizon, intensity, note
     FROM impacts WHERE item_id = ?1 ORDER BY position";

fn load_impacts(stmt: &mut rusqlite::CachedStatement<'_>, item_id: i64) -> Result<Vec<Impact>> {
    let mut rows = stmt.query([item_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let opt = |i: usize| -> rusqlite::Result<Option<String>> { row.get(i) };
        out.push(Impact {
            target: row.get(0)?,
            label: row.get(1)?,
            stance: Stance {
                direction: parse_enum(&row.get::<_, String>(2)?)?,
                leaning: opt(3)?.map(|s| parse_enum::<Leaning>(&s)).transpose()?,
                horizon: opt(4)?.map(|s| parse_enum::<Horizon>(&s)).transpose()?,
                intensity: opt(5)?.map(|s| parse_enum::<Intensity>(&s)).transpose()?,
            },
            note: row.get(6)?,
        });
    }
    Ok(out)
}

fn item_from_row(row: &Row<'_>) -> Result<Item> {
    let kind: String = row.get("kind")?;
    let published_at: Option<i64> = row.get("published_at")?;
    let key: KeyText = row.get("key")?;
    let body = row.get::<_, UnpackedText>("body")?.0;
    let shared = match (row.get("summary_at")?, row.get("summary_len")?) {
        (Some(at), Some(len)) => Some((at, len)),
        _ => None,
    };
    let summary = summary_from_parts(&body, shared, row.get("summary")?).ok_or_else(|| {
        StoreError::Corrupt(format!("item {}: summary points outside its body", key.0))
    })?;
    Ok(Item {
        key: key.0,
        kind: ItemKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))?,
        brief_date: parse_day(&row.get::<_, String>("brief_date")?)?,
        published_at: published_at.and_then(|t| DateTime::from_timestamp(t, 0)),
        section: row.get("section")?,
        position: row.get("position")?,
        title: row.get("title")?,
        key_points: from_json(&row.get::<_, UnpackedText>("key_points")?.0)?,
        insights: from_json(&row.get::<_, UnpackedText>("insights")?.0)?,
        impacts: Vec::new(),
        advice: from_json(&row.get::<_, String>("advice")?)?,
        summary,
        body,
        source_name: row.get("source_name")?,
        source_url: row.get("source_url")?,
        categories: from_json(&row.get::<_, String>("categories")?)?,
        tags: from_json(&row.get::<_, String>("tags")?)?,
        tables: serde_json::from_str(&row.get::<_, String>("tables")?)
            .map_err(|e| StoreError::Corrupt(format!("item tables: {e}")))?,
    })
}

/// A group of writes committed together (see [`Store::batch`]).
pub struct Batch<'a> {
    tx: Transaction<'a>,
    /// Declared after `tx`, so dropped after it: the settings come back once the
    /// transaction has ended, committed or rolled back.
    _relaxed: Option<RelaxedSettings<'a>>,
}

/// Puts back what [`Store::rereadable_batch`] relaxed.
struct RelaxedSettings<'a> {
    conn: &'a Connection,
    flag: &'a std::cell::Cell<bool>,
}

impl Drop for RelaxedSettings<'_> {
    fn drop(&mut self) {
        match self
            .conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA temp_store = DEFAULT;")
        {
            Ok(()) => self.flag.set(false),
            Err(e) => tracing::warn!("cannot restore the connection's settings: {e}"),
        }
    }
}

impl Batch<'_> {
    /// Saves a document and replaces the items it had before; a failure leaves the store
    /// as it was before this document.
    pub fn save(&mut self, doc: &ParsedDocument, topics: &TopicCatalog) -> Result<SaveOutcome> {
        let meta = &doc.meta;
        let doc_key = StoredKey(&meta.key);
        let content_hash = StoredKey(&meta.content_hash);
        let path_hash = path_hash(&meta.source_path);
        let stored: Option<(KeyText, i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT content_hash, (SELECT COUNT(*) FROM items WHERE doc_id = documents.id), source_path
                 FROM documents WHERE key = ?1",
            )?
            .query_row([&doc_key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        // The same text from another file: the document stays with that file. (What this
        // file gave before, under another key, goes: the file now says nothing new.)
        let twin: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT source_path FROM documents
                 WHERE substr(content_hash, 1, 8) = substr(?1, 1, 8) AND content_hash = ?1
                   AND source_path <> ?2 LIMIT 1",
            )?
            .query_row(params![content_hash, meta.source_path], |r| r.get(0))
            .optional()?;
        if let Some(of) = twin {
            self.tx
                .prepare_cached("DELETE FROM documents WHERE path_hash = ?1 AND source_path = ?2")?
                .execute(params![path_hash, meta.source_path])?;
            return Ok(SaveOutcome::Duplicate {
                items: doc.items.len(),
                of,
            });
        }
        // Unchanged only if the text is the same and no item has since moved to another
        // document (same URL, or same title on the same day).
        let mut replaced = Vec::new();
        if let Some((hash, count, path)) = stored {
            if hash.0 == meta.content_hash
                && count as usize == doc.items.len()
                && path == meta.source_path
            {
                return Ok(SaveOutcome::Unchanged {
                    items: doc.items.len(),
                });
            }
            if path != meta.source_path {
                replaced.push(path);
            }
        }
        let sp = self.tx.savepoint()?;
        let now = Utc::now().timestamp();
        // A file edited so that its key changed (new title, URL or date) replaces what the
        // same file gave before, rather than leaving both.
        sp.prepare_cached(
            "DELETE FROM documents WHERE path_hash = ?1 AND source_path = ?2 AND key <> ?3",
        )?
        .execute(params![path_hash, meta.source_path, doc_key])?;
        // An article's or commentary's title is its one item's: kept there only.
        let title = (meta.kind == ItemKind::Brief
            || doc
                .items
                .first()
                .is_none_or(|item| item.title != meta.title))
        .then_some(meta.title.as_str());
        let doc_id: i64 = sp
            .prepare_cached(
                "INSERT INTO documents (key, kind, brief_date, title, summary, cover_image, sections,
                   source_path, path_hash, content_hash, ingested_at, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, brief_date = excluded.brief_date,
                   title = excluded.title, summary = excluded.summary, cover_image = excluded.cover_image,
                   sections = excluded.sections, source_path = excluded.source_path,
                   path_hash = excluded.path_hash, content_hash = excluded.content_hash,
                   ingested_at = excluded.ingested_at, origin = excluded.origin
                 RETURNING id",
            )?
            .query_row(
                params![
                    doc_key,
                    meta.kind.as_str(),
                    meta.brief_date.to_string(),
                    title,
                    to_json(&meta.summary),
                    meta.cover_image,
                    to_json(&meta.sections),
                    meta.source_path,
                    path_hash,
                    content_hash,
                    now,
                    doc.origin.as_str()
                ],
                |r| r.get(0),
            )?;
        // The document's previous items go; those still in it come back below.
        sp.prepare_cached("DELETE FROM items WHERE doc_id = ?1")?
            .execute([doc_id])?;
        for item in &doc.items {
            let item_key = StoredKey(&item.key);
            // An item may have moved here from another document (same URL or title). That
            // document keeps the item's title if it was its own (see `title` above).
            let days = same_item_days(item.brief_date);
            let taken_from: Vec<(i64, String)> = sp
                .prepare_cached(TAKE_ITEM)?
                .query_map(
                    params![
                        item_key, days[0], days[1], days[2], days[3], days[4], days[5], days[6]
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            for (from_doc, path) in taken_from {
                sp.prepare_cached(
                    "UPDATE documents SET title = ?2 WHERE id = ?1 AND title IS NULL",
                )?
                .execute(params![from_doc, item.title])?;
                if path != meta.source_path && !replaced.contains(&path) {
                    replaced.push(path);
                }
            }
            let at = sort_at(item);
            let shared = summary_in_body(&item.summary, &item.body);
            let summary_rest =
                shared.map_or(item.summary.as_str(), |(_, len)| &item.summary[len..]);
            let item_id: i64 = sp
                .prepare_cached(
                    "INSERT INTO items (key, doc_id, kind, brief_date, published_at, sort_at, section, position, title,
                       key_points, insights, advice, summary, summary_at, summary_len, body, source_name,
                       source_url, categories, tags, updated_at, tables)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                       ?18, ?19, ?20, ?21, ?22)
                     RETURNING id",
                )?
                .query_row(
                    params![
                        item_key,
                        doc_id,
                        item.kind.as_str(),
                        item.brief_date.to_string(),
                        item.published_at.map(|t| t.timestamp()),
                        at,
                        item.section,
                        item.position,
                        item.title,
                        PackedText(&to_json(&item.key_points)),
                        PackedText(&to_json(&item.insights)),
                        to_json(&item.advice),
                        summary_rest,
                        shared.map(|(start, _)| start as i64),
                        shared.map(|(_, len)| len as i64),
                        PackedText(&item.body),
                        item.source_name,
                        item.source_url,
                        to_json(&item.categories),
                        to_json(&item.tags),
                        now,
                        serde_json::to_string(&item.tables).unwrap_or_else(|_| "[]".to_string())
                    ],
                    |r| r.get(0),
                )?;
            let mut insert_impact = sp.prepare_cached(
                "INSERT INTO impacts (item_id, position, target, label, direction, leaning, horizon, intensity, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (position, impact) in item.impacts.iter().enumerate() {
                insert_impact.execute(params![
                    item_id,
                    position as i64,
                    impact.target,
                    impact.label,
                    direction_str(impact.stance.direction),
                    impact.stance.leaning.as_ref().and_then(enum_str),
                    impact.stance.horizon.as_ref().and_then(enum_str),
                    impact.stance.intensity.as_ref().and_then(enum_str),
                    impact.note
                ])?;
            }
            let mut insert_topic = sp.prepare_cached(
                "INSERT OR IGNORE INTO item_topics (topic_id, sort_at, item_id) VALUES (?1, ?2, ?3)",
            )?;
            for id in topics.topics_for(item) {
                insert_topic.execute(params![id, at, item_id])?;
            }
        }
        sp.commit()?;
        Ok(SaveOutcome::Saved {
            items: doc.items.len(),
            replaced,
        })
    }

    pub fn commit(self) -> Result<()> {
        let Batch { tx, _relaxed } = self;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Db;

    fn settings(store: &super::Store) -> (i64, i64) {
        let read = |name| {
            store
                .conn
                .pragma_query_value(None, name, |r| r.get::<_, i64>(0))
                .expect("pragma")
        };
        (read("synchronous"), read("temp_store"))
    }

    /// FULL is 2; temp_store's default is 0, MEMORY 2.
    const DURABLE: (i64, i64) = (2, 0);

    #[test]
    fn a_rereadable_batch_relaxes_the_connection_only_while_it_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("relaxed.db")).expect("open");
        let mut conn = db.get().expect("connection");
        assert_eq!(settings(&conn), DURABLE);
        {
            let batch = conn.rereadable_batch().expect("batch");
            let inside = batch
                .tx
                .pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))
                .expect("pragma");
            assert_eq!(inside, 1, "NORMAL inside the batch");
            batch.commit().expect("commit");
        }
        assert_eq!(settings(&conn), DURABLE, "after a commit");
        assert!(!conn.relaxed.get());
        {
            let _rolled_back = conn.rereadable_batch().expect("batch");
        }
        assert_eq!(settings(&conn), DURABLE, "after a rollback");
        // An ordinary batch is durable throughout.
        let batch = conn.batch().expect("batch");
        let inside = batch
            .tx
            .pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))
            .expect("pragma");
        assert_eq!(inside, 2);
    }
}
