//! Versioned schema. Each entry runs once, in order, inside a transaction; the version
//! reached is kept in `PRAGMA user_version`. Never edit a shipped entry: add a new one.
//! An entry is SQL, or a Rust step for what SQL alone does badly (copying a large table
//! in chunks with progress lines, re-encoding values).

use rusqlite::Transaction;

use super::{Result, StoreError};

pub enum Migration {
    Sql(&'static str),
    /// Runs with foreign keys off (so tables can be rebuilt); they are checked before
    /// the step commits.
    Rust(fn(&Transaction<'_>) -> Result<()>),
}

use Migration::Sql;

pub const MIGRATIONS: &[Migration] = &[
    // 1: documents, items, impacts, topic links.
    Sql(r#"
CREATE TABLE documents (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    brief_date   TEXT NOT NULL,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL,
    cover_image  TEXT,
    sections     TEXT NOT NULL,
    source_path  TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    ingested_at  INTEGER NOT NULL
);
CREATE INDEX documents_by_date ON documents (brief_date, kind);
CREATE INDEX documents_by_path ON documents (source_path);

CREATE TABLE items (
    key          TEXT PRIMARY KEY,
    doc_key      TEXT NOT NULL REFERENCES documents (key) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    brief_date   TEXT NOT NULL,
    published_at INTEGER,
    sort_at      INTEGER NOT NULL,
    section      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    title        TEXT NOT NULL,
    key_points   TEXT NOT NULL,
    insights     TEXT NOT NULL,
    advice       TEXT NOT NULL,
    summary      TEXT NOT NULL,
    body         TEXT NOT NULL,
    source_name  TEXT,
    source_url   TEXT,
    categories   TEXT NOT NULL,
    tags         TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX items_by_date ON items (brief_date);
CREATE INDEX items_by_doc ON items (doc_key);

CREATE TABLE impacts (
    item_key  TEXT NOT NULL REFERENCES items (key) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    target    TEXT NOT NULL,
    label     TEXT NOT NULL,
    direction TEXT NOT NULL,
    leaning   TEXT,
    horizon   TEXT,
    intensity TEXT,
    note      TEXT NOT NULL,
    PRIMARY KEY (item_key, position)
) WITHOUT ROWID;

-- sort_at is copied from items so that "newest items of a topic" is one index range scan.
CREATE TABLE item_topics (
    topic_id TEXT NOT NULL,
    sort_at  INTEGER NOT NULL,
    item_key TEXT NOT NULL REFERENCES items (key) ON DELETE CASCADE,
    PRIMARY KEY (topic_id, sort_at, item_key)
) WITHOUT ROWID;
CREATE INDEX item_topics_by_item ON item_topics (item_key);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#),
    // 2: delivery. One publication per (day, chat, thread, run); its parts in the outbox,
    // recorded before they are sent and marked with Telegram's message id after.
    Sql(r#"
CREATE TABLE publications (
    brief_date  TEXT NOT NULL,
    chat        TEXT NOT NULL,
    thread_id   INTEGER NOT NULL DEFAULT 0,
    run         INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    state       TEXT NOT NULL,
    parts       INTEGER NOT NULL,
    retries     INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (brief_date, chat, thread_id, run)
);

CREATE TABLE outbox (
    brief_date TEXT NOT NULL,
    chat       TEXT NOT NULL,
    thread_id  INTEGER NOT NULL DEFAULT 0,
    run        INTEGER NOT NULL,
    part       INTEGER NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    message_id INTEGER,
    last_error TEXT,
    sent_at    INTEGER,
    PRIMARY KEY (brief_date, chat, thread_id, run, part)
) WITHOUT ROWID;

-- A target whose group became a supergroup: configured chat -> its new id.
CREATE TABLE chat_migrations (
    chat    TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL
);

CREATE TABLE subscribers (
    user_id     INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    inactive_reason TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE subscriptions (
    user_id  INTEGER NOT NULL REFERENCES subscribers (user_id) ON DELETE CASCADE,
    topic_id TEXT NOT NULL,
    PRIMARY KEY (user_id, topic_id)
) WITHOUT ROWID;

-- One digest per subscriber per day, so a restart never sends a second one.
CREATE TABLE digests (
    brief_date TEXT NOT NULL,
    user_id    INTEGER NOT NULL,
    state      TEXT NOT NULL,
    message_id INTEGER,
    last_error TEXT,
    PRIMARY KEY (brief_date, user_id)
) WITHOUT ROWID;
"#),
    // 3: sources. Per-source fetch state (conditional GET, health) and, for folders, what
    // each file looked like when last read, so unchanged files are skipped cheaply.
    Sql(r#"
CREATE TABLE source_state (
    source               TEXT PRIMARY KEY,
    etag                 TEXT,
    last_modified        TEXT,
    content_hash         TEXT,
    last_success         INTEGER,
    last_error           TEXT,
    last_error_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_notified     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE source_files (
    path         TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    mtime        INTEGER NOT NULL,
    content_hash TEXT NOT NULL
) WITHOUT ROWID;
"#),
    // 4: the day's publish plan per target: when a scheduled publish began waiting for
    // the day's brief, whether admins were told it is late, and how the day ended. Kept so
    // that a restart neither forgets a wait nor repeats its notice.
    Sql(r#"
CREATE TABLE day_plans (
    brief_date     TEXT NOT NULL,
    chat           TEXT NOT NULL,
    thread_id      INTEGER NOT NULL,
    scheduled_at   INTEGER NOT NULL,
    deadline       INTEGER NOT NULL,
    waiting_since  INTEGER,
    late_notified  INTEGER NOT NULL DEFAULT 0,
    outcome        TEXT,
    outcome_at     INTEGER,
    PRIMARY KEY (brief_date, chat, thread_id)
) WITHOUT ROWID;
CREATE INDEX day_plans_open ON day_plans (outcome, brief_date);
"#),
    // 5: an item's markdown tables (JSON: [{header, rows}]); documents by their text, so
    // a second file with the same bytes is known as a duplicate.
    Sql(r#"
ALTER TABLE items ADD COLUMN tables TEXT NOT NULL DEFAULT '[]';
CREATE INDEX documents_by_hash ON documents (content_hash);
"#),
    // 6: impact targets. Each distinct target (trimmed, ASCII letters lower-cased) gets a
    // small id that never changes, which a 更多 button carries instead of the target's text
    // (callback data is capped at 64 bytes). Items are listed under their targets with the
    // item's sort key, so "newest items with this target" is one index range scan, as for
    // topics. Triggers keep the list in step with `impacts`, whichever code writes it; an
    // item's rows go with the item.
    Sql(r#"
CREATE TABLE impact_targets (
    id   INTEGER PRIMARY KEY,
    key  TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

CREATE TABLE item_targets (
    target_id INTEGER NOT NULL REFERENCES impact_targets (id),
    sort_at   INTEGER NOT NULL,
    item_key  TEXT NOT NULL REFERENCES items (key) ON DELETE CASCADE,
    PRIMARY KEY (target_id, sort_at, item_key)
) WITHOUT ROWID;
CREATE INDEX item_targets_by_item ON item_targets (item_key);

CREATE TRIGGER impacts_list_target AFTER INSERT ON impacts
BEGIN
    INSERT OR IGNORE INTO impact_targets (key, name)
        VALUES (lower(trim(NEW.target)), trim(NEW.target));
    INSERT OR IGNORE INTO item_targets (target_id, sort_at, item_key)
        SELECT t.id, i.sort_at, i.key FROM impact_targets t, items i
        WHERE t.key = lower(trim(NEW.target)) AND i.key = NEW.item_key;
END;

CREATE TRIGGER impacts_unlist_target AFTER DELETE ON impacts
BEGIN
    DELETE FROM item_targets
    WHERE item_key = OLD.item_key
      AND target_id = (SELECT id FROM impact_targets WHERE key = lower(trim(OLD.target)))
      AND NOT EXISTS (SELECT 1 FROM impacts
                      WHERE item_key = OLD.item_key AND lower(trim(target)) = lower(trim(OLD.target)));
END;

INSERT OR IGNORE INTO impact_targets (key, name)
    SELECT lower(trim(target)), trim(target) FROM impacts;
INSERT OR IGNORE INTO item_targets (target_id, sort_at, item_key)
    SELECT t.id, i.sort_at, i.key FROM impacts m
    JOIN items i ON i.key = m.item_key
    JOIN impact_targets t ON t.key = lower(trim(m.target));
"#),
    // 7: the edition of each outbox part (text or rich, issue 10), and for a rich part the
    // text edition of the same content, sent instead when the Bot API refuses the rich
    // message (JSON list of text messages).
    Sql(r#"
ALTER TABLE outbox ADD COLUMN edition TEXT NOT NULL DEFAULT 'text';
ALTER TABLE outbox ADD COLUMN fallback TEXT;
"#),
    // 8: where each document came from, which decides how long it is kept
    // (`store.keep_days`). Documents stored before are classified by their source path:
    // `…#key` names are pushed or url documents, a bare http(s) or `feed-entry:` name is a
    // feed entry's; anything else stays a folder's, which is never pruned.
    Sql(r#"
ALTER TABLE documents ADD COLUMN origin TEXT NOT NULL DEFAULT 'folder';
UPDATE documents SET origin = 'url'
    WHERE source_path LIKE 'http%' AND instr(source_path, '#') > 0;
UPDATE documents SET origin = 'push'
    WHERE source_path NOT LIKE 'http%' AND instr(source_path, '#') > 0;
UPDATE documents SET origin = 'feed'
    WHERE instr(source_path, '#') = 0
      AND (source_path LIKE 'http%' OR source_path LIKE 'feed-entry:%');
CREATE INDEX documents_by_origin ON documents (origin, brief_date);
"#),
    // 9: the cover photo is a part of the outbox like the text parts: part 0, before parts
    // 1..n, with its URL (the body is its caption). The brief pinned per target and day, so
    // the next day's post unpins exactly the message it pinned (never an admin's pin), and
    // whether admins were told that pinning fails there (they are told once).
    Sql(r#"
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE outbox ADD COLUMN media_url TEXT;

CREATE TABLE pins (
    chat        TEXT NOT NULL,
    thread_id   INTEGER NOT NULL,
    brief_date  TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    pinned_at   INTEGER NOT NULL,
    unpinned_at INTEGER,
    PRIMARY KEY (chat, thread_id, message_id)
) WITHOUT ROWID;

CREATE TABLE pin_notices (
    chat    TEXT PRIMARY KEY,
    error   TEXT NOT NULL,
    told_at INTEGER NOT NULL
);
"#),
    // 10: integer row ids for every join and index, each key and hash once as 32 bytes,
    // summaries that repeat their body kept as a pointer into it, and item counts per
    // topic and per target kept by triggers (issue 11; see v10.rs).
    Migration::Rust(super::v10::integer_ids),
    // 11: items found by day and key, not by a unique index over random keys; the small
    // text-keyed tables without a second b-tree each (issue 11; see v11.rs).
    Migration::Rust(super::v11::day_key_index),
];

/// Logs a progress line for a chunk of a large table copied by a migration.
pub(super) fn progress(table: &str, done: i64, total: i64, chunk: i64) {
    if total > chunk {
        tracing::info!("migrating {table}: {done} / {total}");
    }
}

/// A copy that ends with fewer rows than its table had is an error, not a loss.
pub(super) fn copied_all(migration: i64, table: &str, done: i64, total: i64) -> Result<()> {
    if done != total {
        return Err(StoreError::Corrupt(format!(
            "migration {migration} copied {done} of {total} {table}"
        )));
    }
    Ok(())
}
