//! Source bookkeeping: per-source fetch state (conditional-GET validators, the hash of the
//! last body processed, health) and, for folder sources, what each file looked like when
//! it was last read so that an unchanged file is skipped without reading it.

use rusqlite::{OptionalExtension, params};

use super::{Batch, Result, Store};

/// What the store knows about one source (`SourceConfig::id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    pub source: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 of the last body that was processed successfully.
    pub content_hash: Option<String>,
    /// Unix seconds.
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub consecutive_failures: i64,
    /// Admins were told that this source is failing and not yet that it recovered.
    pub failing_notified: bool,
}

impl SourceState {
    /// When the source was last polled, whatever the result.
    pub fn last_polled(&self) -> Option<i64> {
        self.last_success.max(self.last_error_at)
    }
}

/// What a successful poll leaves behind for the next one. `None` fields keep what is stored
/// (a 304 confirms the validators we sent; it does not replace them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_hash: Option<String>,
}

/// A change in a source's health that admins should hear about, once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthChange {
    pub became_failing: bool,
    pub recovered: bool,
    /// Failures in a row before this poll (for the recovery message).
    pub previous_failures: i64,
}

/// Failures in a row after which admins are told. One: the fetch itself already retries
/// transient errors with backoff, so a failed poll is a real failure.
const FAILING_AFTER: i64 = 1;

/// A file as a folder scan last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub size: i64,
    /// Nanoseconds since the epoch: second resolution would miss an edit made in the
    /// same second as the previous read.
    pub mtime: i64,
    pub content_hash: String,
}

const STATE_COLUMNS: &str = "source, etag, last_modified, content_hash, last_success, last_error,
     last_error_at, consecutive_failures, failing_notified";

fn state_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SourceState> {
    Ok(SourceState {
        source: row.get(0)?,
        etag: row.get(1)?,
        last_modified: row.get(2)?,
        content_hash: row.get(3)?,
        last_success: row.get(4)?,
        last_error: row.get(5)?,
        last_error_at: row.get(6)?,
        consecutive_failures: row.get(7)?,
        failing_notified: row.get::<_, i64>(8)? != 0,
    })
}

impl Store {
    pub fn source_state(&self, source: &str) -> Result<Option<SourceState>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {STATE_COLUMNS} FROM source_state WHERE source = ?1"
            ))?
            .query_row([source], state_from_row)
            .optional()?)
    }

    /// Every source the store has a record of (including ones no longer configured).
    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM source_state ORDER BY source"
        ))?;
        let rows = stmt.query_map([], state_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Records a successful poll at `at` (unix seconds); returns whether the source has
    /// just recovered from a failure admins were told about.
    pub fn record_source_success(
        &mut self,
        source: &str,
        at: i64,
        validators: Option<&Validators>,
    ) -> Result<HealthChange> {
        let tx = self.write()?;
        let before = load_health(&tx, source)?;
        tx.execute(
            "INSERT INTO source_state (source, last_success, consecutive_failures, failing_notified)
             VALUES (?1, ?2, 0, 0)
             ON CONFLICT (source) DO UPDATE SET last_success = excluded.last_success,
               consecutive_failures = 0, failing_notified = 0",
            params![source, at],
        )?;
        if let Some(v) = validators {
            tx.execute(
                "UPDATE source_state SET etag = ?2, last_modified = ?3, content_hash = ?4
                 WHERE source = ?1",
                params![source, v.etag, v.last_modified, v.content_hash],
            )?;
        }
        tx.commit()?;
        Ok(HealthChange {
            became_failing: false,
            recovered: before.1,
            previous_failures: before.0,
        })
    }

    /// Records a failed poll; returns whether admins should now be told it is failing.
    pub fn record_source_failure(
        &mut self,
        source: &str,
        at: i64,
        error: &str,
    ) -> Result<HealthChange> {
        let tx = self.write()?;
        let (failures, notified) = load_health(&tx, source)?;
        let now_failing = failures + 1;
        let tell = !notified && now_failing >= FAILING_AFTER;
        tx.execute(
            "INSERT INTO source_state (source, last_error, last_error_at, consecutive_failures, failing_notified)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source) DO UPDATE SET last_error = excluded.last_error,
               last_error_at = excluded.last_error_at,
               consecutive_failures = excluded.consecutive_failures,
               failing_notified = excluded.failing_notified",
            params![source, error, at, now_failing, i64::from(notified || tell)],
        )?;
        tx.commit()?;
        Ok(HealthChange {
            became_failing: tell,
            recovered: false,
            previous_failures: failures,
        })
    }

    pub fn file_stamp(&self, path: &str) -> Result<Option<FileStamp>> {
        Ok(self
            .conn
            .prepare_cached("SELECT size, mtime, content_hash FROM source_files WHERE path = ?1")?
            .query_row([path], |r| {
                Ok(FileStamp {
                    size: r.get(0)?,
                    mtime: r.get(1)?,
                    content_hash: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Items stored from documents read at `source_path`: what an unchanged file holds.
    pub fn items_from_path(&self, source_path: &str) -> Result<usize> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM items JOIN documents ON documents.id = items.doc_id
                 WHERE documents.path_hash = ?1 AND documents.source_path = ?2",
            )?
            .query_row(
                rusqlite::params![super::keys::path_hash(source_path), source_path],
                |r| r.get(0),
            )?;
        Ok(n as usize)
    }

    /// Forgets every folder file stamp when `fingerprint` (the parse settings and the
    /// ecobrief version) changed since they were taken: files read under other settings
    /// must be parsed again rather than skipped.
    pub fn reset_file_stamps_unless(&mut self, fingerprint: &str) -> Result<bool> {
        const KEY: &str = "source_files_fingerprint";
        if self.meta_value(KEY)?.as_deref() == Some(fingerprint) {
            return Ok(false);
        }
        let tx = self.write()?;
        tx.execute("DELETE FROM source_files", [])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![KEY, fingerprint],
        )?;
        tx.commit()?;
        Ok(true)
    }
}

/// (consecutive failures, failing notified) of a source; zeros for an unknown one.
fn load_health(tx: &rusqlite::Transaction<'_>, source: &str) -> Result<(i64, bool)> {
    Ok(tx
        .prepare_cached(
            "SELECT consecutive_failures, failing_notified FROM source_state WHERE source = ?1",
        )?
        .query_row([source], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? != 0))
        })
        .optional()?
        .unwrap_or((0, false)))
}

impl Batch<'_> {
    /// Remembers how a file looked when it was read, in the same transaction as what was
    /// saved from it: a crash cannot leave a file marked read whose items were lost.
    pub fn stamp_file(&mut self, path: &str, stamp: &FileStamp) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO source_files (path, size, mtime, content_hash) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
                   content_hash = excluded.content_hash",
            )?
            .execute(params![path, stamp.size, stamp.mtime, stamp.content_hash])?;
        Ok(())
    }
}
