//! Migration 11 (issue 11): the item-key index that grew at random places goes.
//!
//! Schema 10 kept a unique index over the items' keys. A key is a SHA-256, so each new
//! item's entry landed at a random place in that index and, in a large database, dirtied
//! a page of its own: at a million items that index was almost half of what an ingest
//! wrote to the WAL and back into the file. Schema 11 finds an item by its day and key
//! instead (`items_by_day_key`), an index whose new entries go where today's items are,
//! at its end. The save path looks a key up within [`super::SAME_ITEM_DAYS`] days of the
//! item's day (why no match is lost: see that constant).
//!
//! The small tables keyed by text (`meta`, `publications`, `chat_migrations`,
//! `source_state`, `pin_notices`) become `WITHOUT ROWID`: their key index was a second
//! b-tree, a page each even when empty.
//!
//! A unique constraint cannot be dropped in SQLite, so `items` is rebuilt (SQLite's
//! documented twelve steps, foreign keys off; the caller checks them before it commits),
//! in chunks of [`CHUNK`] rows with a progress line each on a large database.

use rusqlite::{Transaction, params};

use super::migrations::{copied_all, progress};
use super::{Result, StoreError};

/// Rows copied per statement; a progress line is logged after each chunk.
#[cfg(not(test))]
const CHUNK: i64 = 50_000;
/// Small in tests, so that chunk boundaries are crossed.
#[cfg(test)]
const CHUNK: i64 = 2;

/// Schema 10's `items` without `UNIQUE` on `key` (same columns, same order).
const ITEMS: &str = r#"
CREATE TABLE items_v11 (
    id           INTEGER PRIMARY KEY,
    key          BLOB NOT NULL,
    doc_id       INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
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
    summary_at   INTEGER,
    summary_len  INTEGER,
    body         TEXT NOT NULL,
    source_name  TEXT,
    source_url   TEXT,
    categories   TEXT NOT NULL,
    tags         TEXT NOT NULL,
    tables       TEXT NOT NULL DEFAULT '[]',
    updated_at   INTEGER NOT NULL
);
"#;

const ITEM_COLUMNS: &str = "id, key, doc_id, kind, brief_date, published_at, sort_at, section, \
    position, title, key_points, insights, advice, summary, summary_at, summary_len, body, \
    source_name, source_url, categories, tags, tables, updated_at";

/// After the copy. `legacy_alter_table` keeps the rename from rewriting (and first
/// checking) the triggers on `impacts`, which name `items` and find the new table by that
/// name; the child tables' foreign keys name `items` too.
const ITEMS_FINISH: &str = r#"
DROP TABLE items;
PRAGMA legacy_alter_table = ON;
ALTER TABLE items_v11 RENAME TO items;
PRAGMA legacy_alter_table = OFF;
-- Items by day (a day's brief, pruning) and, within a day, by key (the save path's
-- look-up of an item that moves between documents). 8 bytes of a key pick it among a
-- day's items (the look-up compares the whole key too), at a third of the index's size.
CREATE INDEX items_by_day_key ON items (brief_date, substr(key, 1, 8));
CREATE INDEX items_by_doc ON items (doc_id);
"#;

/// The small tables keyed by text, as `WITHOUT ROWID` tables (same columns).
const KEYED_TABLES: &str = r#"
CREATE TABLE meta_v11 (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta_v11 (key, value) SELECT key, value FROM meta;
DROP TABLE meta;
ALTER TABLE meta_v11 RENAME TO meta;

CREATE TABLE publications_v11 (
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
) WITHOUT ROWID;
INSERT INTO publications_v11 (brief_date, chat, thread_id, run, trigger, state, parts,
    retries, failures, last_error, started_at, finished_at)
  SELECT brief_date, chat, thread_id, run, trigger, state, parts,
    retries, failures, last_error, started_at, finished_at FROM publications;
DROP TABLE publications;
ALTER TABLE publications_v11 RENAME TO publications;

CREATE TABLE chat_migrations_v11 (
    chat    TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO chat_migrations_v11 (chat, chat_id) SELECT chat, chat_id FROM chat_migrations;
DROP TABLE chat_migrations;
ALTER TABLE chat_migrations_v11 RENAME TO chat_migrations;

CREATE TABLE source_state_v11 (
    source               TEXT PRIMARY KEY,
    etag                 TEXT,
    last_modified        TEXT,
    content_hash         TEXT,
    last_success         INTEGER,
    last_error           TEXT,
    last_error_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_notified     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO source_state_v11 (source, etag, last_modified, content_hash, last_success,
    last_error, last_error_at, consecutive_failures, failing_notified)
  SELECT source, etag, last_modified, content_hash, last_success,
    last_error, last_error_at, consecutive_failures, failing_notified FROM source_state;
DROP TABLE source_state;
ALTER TABLE source_state_v11 RENAME TO source_state;

CREATE TABLE pin_notices_v11 (
    chat    TEXT PRIMARY KEY,
    error   TEXT NOT NULL,
    told_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO pin_notices_v11 (chat, error, told_at) SELECT chat, error, told_at FROM pin_notices;
DROP TABLE pin_notices;
ALTER TABLE pin_notices_v11 RENAME TO pin_notices;
"#;

/// Runs migration 11 inside `tx` (foreign keys are off while it runs; the caller checks
/// them before committing).
pub(super) fn day_key_index(tx: &Transaction<'_>) -> Result<()> {
    day_key_index_in_chunks(tx, CHUNK)
}

/// The text keys of the tables made `WITHOUT ROWID`, which refuse a NULL key. A rowid
/// table's `TEXT PRIMARY KEY` let one in (ecobrief never wrote one; a hand edit could).
const TEXT_KEYS: [(&str, &str); 4] = [
    ("meta", "key"),
    ("chat_migrations", "chat"),
    ("source_state", "source"),
    ("pin_notices", "chat"),
];

fn day_key_index_in_chunks(tx: &Transaction<'_>, chunk: i64) -> Result<()> {
    for (table, column) in TEXT_KEYS {
        let missing: i64 = tx.query_row(
            &format!("SELECT COUNT(*) FROM {table} WHERE {column} IS NULL"),
            [],
            |r| r.get(0),
        )?;
        if missing > 0 {
            return Err(StoreError::Corrupt(format!(
                "migration 11: {missing} row(s) of table {table} have no {column}, which \
                 schema 11 cannot keep; remove them (`DELETE FROM {table} WHERE {column} IS \
                 NULL` in sqlite3) and start ecobrief again"
            )));
        }
    }
    tx.execute_batch(ITEMS)?;
    copy_items(tx, chunk)?;
    tx.execute_batch(ITEMS_FINISH)?;
    tx.execute_batch(KEYED_TABLES)?;
    Ok(())
}

fn copy_items(tx: &Transaction<'_>, chunk: i64) -> Result<()> {
    let total: i64 = tx.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
    // The last id of the next chunk; the chunk is then copied in one statement.
    let mut chunk_end = tx.prepare(
        "SELECT MAX(id), COUNT(*) FROM (SELECT id FROM items WHERE id > ?1 ORDER BY id LIMIT ?2)",
    )?;
    let mut copy = tx.prepare(&format!(
        "INSERT INTO items_v11 ({ITEM_COLUMNS}) SELECT {ITEM_COLUMNS} FROM items
         WHERE id > ?1 AND id <= ?2"
    ))?;
    let mut done = 0;
    let mut after = i64::MIN;
    loop {
        let (end, rows): (Option<i64>, i64) =
            chunk_end.query_row(params![after, chunk], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let Some(end) = end else { break };
        done += copy.execute(params![after, end])? as i64;
        after = end;
        progress("items", done, total, chunk);
        if rows < chunk {
            break;
        }
    }
    copied_all(11, "items", done, total)
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, TransactionBehavior};

    use super::super::migrations::{MIGRATIONS, Migration};
    use super::super::{SaveOutcome, Store, backup_path};
    use crate::model::ParsedDocument;
    use crate::topics::TopicCatalog;

    const TOPICS: &str = "[[topic]]\nid = \"stocks\"\nname = \"股市\"\nkeywords = [\"股市\"]";

    /// The one article of these tests, about one link, dated `date`, from file `path`. With
    /// `doc`, its document key is set to that: ecobrief gives every document of a link the
    /// same key, so only documents keyed by hand reach the day window of the item look-up.
    fn keyed_article(path: &str, date: &str, doc: Option<&str>) -> ParsedDocument {
        let settings = crate::settings::Settings::from_config(crate::config::Config::default())
            .expect("default settings");
        let options = crate::ingest::IngestOptions::from_settings(&settings, None);
        let text = format!(
            "---\ntitle: 央行宣布降准\ndate: {date} 10:00\n---\n\n央行今日宣布下调存款准备金率，股市应声上涨。\n\n**影响：**\n- 对股市：利多。流动性改善\n\n[财经](https://news.example.com/a1.html)\n"
        );
        let mut parsed = crate::ingest::parse_bytes(path, text.as_bytes(), None, &options)
            .expect("the article parses");
        if let Some(doc) = doc {
            parsed.meta.key = crate::ingest::content_hash(doc);
        }
        parsed.meta.content_hash = crate::ingest::content_hash(&text);
        parsed
    }

    fn article(path: &str, date: &str, doc: &str) -> ParsedDocument {
        keyed_article(path, date, Some(doc))
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    /// A schema-10 file: migrations 1 to 10 as they ran then, and the connection as a
    /// store of that schema (the save path is the same one; only the indexes differ).
    fn schema_10(path: &std::path::Path) -> Store {
        let mut conn = Connection::open(path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        for (n, migration) in MIGRATIONS.iter().take(10).enumerate() {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("tx");
            match migration {
                Migration::Sql(sql) => tx.execute_batch(sql).expect("sql migration"),
                Migration::Rust(step) => step(&tx).expect("rust migration"),
            }
            tx.pragma_update(None, "user_version", n as i64 + 1)
                .expect("version");
            tx.commit().expect("commit");
        }
        conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
        Store {
            conn,
            path: path.to_path_buf(),
            relaxed: std::cell::Cell::new(false),
        }
    }

    /// The rows the migration must keep: items and what hangs off them.
    const ROW_COUNTS: [&str; 4] = [
        "SELECT COUNT(*) FROM items",
        "SELECT COUNT(*) FROM impacts",
        "SELECT COUNT(*) FROM item_topics",
        "SELECT COUNT(*) FROM item_targets",
    ];

    #[test]
    fn a_v10_database_keeps_every_row_and_loses_the_random_key_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bot.db");
        let topics = TopicCatalog::from_toml(TOPICS).unwrap();
        {
            let mut v10 = schema_10(&db);
            for (n, day) in ["2026-04-01", "2026-04-02", "2026-04-03"]
                .iter()
                .enumerate()
            {
                let mut doc = article(&format!("a{n}.md"), day, &format!("doc {n}"));
                // Three links, so three items.
                let item = &mut doc.items[0];
                item.source_url = Some(format!("https://news.example.com/{n}.html"));
                item.key =
                    crate::ingest::item_key(item.source_url.as_deref(), "", doc.meta.brief_date);
                v10.save_document(&doc, &topics).unwrap();
            }
            v10.set_meta_value("topics_fingerprint", "f").unwrap();
            v10.conn
                .execute_batch(
                    "INSERT INTO publications (brief_date, chat, thread_id, run, trigger, state, parts, started_at)
                       VALUES ('2026-04-01', '@g', 0, 1, 'schedule', 'sent', 2, 5);
                     INSERT INTO chat_migrations (chat, chat_id) VALUES ('@g', -100);
                     INSERT INTO source_state (source, etag) VALUES ('feed:x', 'e1');
                     INSERT INTO pin_notices (chat, error, told_at) VALUES ('@g', 'no rights', 6);",
                )
                .unwrap();
            // Positive controls for the checks below: schema 10 has the unique index, and
            // its `meta` is a rowid table.
            assert_eq!(
                count(
                    &v10.conn,
                    "SELECT wr FROM pragma_table_list WHERE name = 'meta'"
                ),
                0
            );
            assert_eq!(
                count(
                    &v10.conn,
                    "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_autoindex_items_1'"
                ),
                1
            );
        }
        let before = {
            let conn = Connection::open(&db).unwrap();
            ROW_COUNTS.map(|sql| count(&conn, sql))
        };
        assert_eq!(before[0], 3);
        assert!(before[1..].iter().all(|&n| n == 3), "{before:?}");

        let mut store = Store::open(&db).unwrap();
        assert_eq!(store.schema_version().unwrap(), 11);
        assert!(backup_path(&db, 11).exists(), "backed up first");
        let conn = &store.conn;
        let after = ROW_COUNTS.map(|sql| count(conn, sql));
        assert_eq!(after, before);
        assert_eq!(
            count(conn, "SELECT COUNT(*) FROM items WHERE length(key) = 32"),
            3
        );
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        assert_eq!(
            count(
                conn,
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_autoindex_items_1'"
            ),
            0
        );
        // The save path's look-up seeks the new index on both columns.
        let plan: String = conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {}", super::super::TAKE_ITEM),
                ["x", "1", "2", "3", "4", "5", "6", "7"],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("items_by_day_key (brief_date=? AND <expr>=?)"),
            "{plan}"
        );
        // The keyed tables kept their rows and have no second b-tree any more.
        for table in [
            "meta",
            "publications",
            "chat_migrations",
            "source_state",
            "pin_notices",
        ] {
            assert_eq!(
                count(conn, &format!("SELECT COUNT(*) FROM {table}")),
                1,
                "{table}"
            );
            assert_eq!(
                count(
                    conn,
                    &format!("SELECT wr FROM pragma_table_list WHERE name = '{table}'")
                ),
                1,
                "{table} is WITHOUT ROWID"
            );
        }
        assert_eq!(
            store.meta_value("topics_fingerprint").unwrap().as_deref(),
            Some("f")
        );
        assert_eq!(count(conn, "PRAGMA legacy_alter_table"), 0, "set back");
        // The triggers on impacts still find the items: a new item is listed and counted.
        let stocks = store.impact_target("股市").unwrap().expect("target").id;
        assert_eq!(store.count_for_impact_target(stocks).unwrap(), 3);
        store
            .save_document(&article("a9.md", "2026-04-04", "doc 9"), &topics)
            .unwrap();
        assert_eq!(store.count_for_impact_target(stocks).unwrap(), 4);
        // Cascades reach the rebuilt table.
        store.conn.execute("DELETE FROM documents", []).unwrap();
        assert_eq!(count(&store.conn, "SELECT COUNT(*) FROM item_targets"), 0);
        assert_eq!(store.count_for_topic("stocks").unwrap(), 0);
    }

    #[test]
    fn a_null_text_key_stops_the_migration_with_the_table_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bot.db");
        {
            let v10 = schema_10(&db);
            v10.conn
                .execute("INSERT INTO meta (key, value) VALUES (NULL, 'x')", [])
                .unwrap();
        }
        let Err(error) = Store::open(&db) else {
            panic!("the migration ran over a NULL key")
        };
        let text = error.to_string();
        assert!(text.contains("table meta have no key"), "{text}");
        assert!(
            text.contains("DELETE FROM meta WHERE key IS NULL"),
            "{text}"
        );
        // Nothing changed: still schema 10, and the row is there to be seen.
        let conn = Connection::open(&db).unwrap();
        assert_eq!(count(&conn, "PRAGMA user_version"), 10);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM meta WHERE key IS NULL"),
            1
        );
        // Positive control: without that row it migrates.
        conn.execute("DELETE FROM meta WHERE key IS NULL", [])
            .unwrap();
        drop(conn);
        assert_eq!(Store::open(&db).unwrap().schema_version().unwrap(), 11);
    }

    #[test]
    fn an_item_moves_to_the_document_saving_it_within_the_days_and_not_past_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("bot.db")).unwrap();
        let topics = TopicCatalog::from_toml(TOPICS).unwrap();
        let key_count = |store: &Store| {
            count(
                &store.conn,
                "SELECT COUNT(*) FROM items GROUP BY key ORDER BY 1 DESC LIMIT 1",
            )
        };
        store
            .save_document(&article("feed-page", "2026-04-01", "feed page"), &topics)
            .unwrap();
        // The same item key from another document dated three days later: the item moves.
        let outcome = store
            .save_document(&article("article.md", "2026-04-04", "article"), &topics)
            .unwrap();
        assert_eq!(store.item_count().unwrap(), 1);
        assert_eq!(key_count(&store), 1);
        assert!(
            matches!(&outcome, SaveOutcome::Saved { replaced, .. } if replaced == &["feed-page"]),
            "{outcome:?}"
        );
        // Four days past the stored one, it is kept as a second item with that key.
        store
            .save_document(&article("later.md", "2026-04-08", "later"), &topics)
            .unwrap();
        assert_eq!(store.item_count().unwrap(), 2);
        assert_eq!(key_count(&store), 2);
        // Within three days of both (04-04 and 04-08): both move, and both files are named.
        let outcome = store
            .save_document(&article("middle.md", "2026-04-06", "middle"), &topics)
            .unwrap();
        assert_eq!(store.item_count().unwrap(), 1);
        assert!(
            matches!(&outcome, SaveOutcome::Saved { replaced, .. }
                if replaced == &["article.md", "later.md"]),
            "{outcome:?}"
        );
        // The window reaches back as far: three days earlier moves, four days earlier not.
        store
            .save_document(&article("early.md", "2026-04-03", "early"), &topics)
            .unwrap();
        assert_eq!(store.item_count().unwrap(), 1);
        store
            .save_document(&article("earliest.md", "2026-03-30", "earliest"), &topics)
            .unwrap();
        assert_eq!(store.item_count().unwrap(), 2);
    }

    #[test]
    fn a_link_saved_again_a_month_later_from_another_file_is_still_one_item() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("bot.db")).unwrap();
        let topics = TopicCatalog::from_toml(TOPICS).unwrap();
        store
            .save_document(&keyed_article("a.md", "2026-04-01", None), &topics)
            .unwrap();
        // As ecobrief keys them, the two files' documents are one: the link's.
        let outcome = store
            .save_document(&keyed_article("b.md", "2026-05-01", None), &topics)
            .unwrap();
        assert!(
            matches!(&outcome, SaveOutcome::Saved { replaced, .. } if replaced == &["a.md"]),
            "{outcome:?}"
        );
        assert_eq!(store.item_count().unwrap(), 1);
        assert_eq!(count(&store.conn, "SELECT COUNT(*) FROM documents"), 1);
        assert_eq!(
            count(
                &store.conn,
                "SELECT COUNT(*) FROM items WHERE brief_date = '2026-05-01'"
            ),
            1
        );
    }
}
