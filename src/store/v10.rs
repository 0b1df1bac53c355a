//! Migration 10 (issue 11): documents, items, impacts and the topic and target links
//! rebuilt around integer row ids, each key and hash kept once as 32 bytes, a summary that
//! repeats its body kept as a pointer into it, and item counts per topic and per target
//! kept by triggers.
//!
//! The rows are copied in chunks of [`CHUNK`] items, with a progress line per chunk on a
//! large database, all in the one transaction that the migration runs in: a crash or an
//! error leaves the file as it was (and the caller made a backup before).

use rusqlite::{Transaction, params};

use super::keys::{StoredKey, path_hash, sql_stored_key, summary_in_body};
use super::migrations::{copied_all, progress};
use super::{Result, StoreError};

/// Rows copied per statement; a progress line is logged after each chunk.
#[cfg(not(test))]
const CHUNK: i64 = 20_000;
/// Small in tests, so that chunk boundaries are crossed.
#[cfg(test)]
const CHUNK: i64 = 2;

/// The old tables move aside (their triggers go first: they would follow the rename).
const SET_ASIDE: &str = r#"
DROP TRIGGER impacts_list_target;
DROP TRIGGER impacts_unlist_target;
ALTER TABLE item_targets RENAME TO v9_item_targets;
ALTER TABLE item_topics RENAME TO v9_item_topics;
ALTER TABLE impacts RENAME TO v9_impacts;
ALTER TABLE items RENAME TO v9_items;
ALTER TABLE documents RENAME TO v9_documents;
"#;

/// The new tables. Keys and content hashes are BLOBs of 32 bytes when they are SHA-256 hex
/// (see `keys.rs`). Indexes come after the copy (building them once is cheaper).
const CREATE: &str = r#"
-- `title` is NULL for an article or commentary whose title is its item's (the item at
-- position 0), which is every one of them; `path_hash` (8 bytes of SHA-256 of the path)
-- is what the path index holds, instead of a second copy of every path.
CREATE TABLE documents (
    id           INTEGER PRIMARY KEY,
    key          BLOB NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    brief_date   TEXT NOT NULL,
    title        TEXT,
    summary      TEXT NOT NULL,
    cover_image  TEXT,
    sections     TEXT NOT NULL,
    source_path  TEXT NOT NULL,
    path_hash    INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    ingested_at  INTEGER NOT NULL,
    origin       TEXT NOT NULL DEFAULT 'folder'
);

-- The summary is `substr` of the body at byte `summary_at`, `summary_len` bytes long,
-- followed by `summary` (when both are NULL, `summary` is the whole text).
CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    key          BLOB NOT NULL UNIQUE,
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

CREATE TABLE impacts (
    item_id   INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    target    TEXT NOT NULL,
    label     TEXT NOT NULL,
    direction TEXT NOT NULL,
    leaning   TEXT,
    horizon   TEXT,
    intensity TEXT,
    note      TEXT NOT NULL,
    PRIMARY KEY (item_id, position)
) WITHOUT ROWID;

CREATE TABLE item_topics (
    topic_id TEXT NOT NULL,
    sort_at  INTEGER NOT NULL,
    item_id  INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    PRIMARY KEY (topic_id, sort_at, item_id)
) WITHOUT ROWID;

CREATE TABLE item_targets (
    target_id INTEGER NOT NULL REFERENCES impact_targets (id),
    sort_at   INTEGER NOT NULL,
    item_id   INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    PRIMARY KEY (target_id, sort_at, item_id)
) WITHOUT ROWID;
"#;

/// After the copy: the old tables go, then the indexes, the counts and the triggers.
const FINISH: &str = r#"
DROP TABLE v9_item_targets;
DROP TABLE v9_item_topics;
DROP TABLE v9_impacts;
DROP TABLE v9_items;
DROP TABLE v9_documents;

-- Briefs by day (`brief_document`, the late-brief check): only briefs are looked up so.
CREATE INDEX documents_briefs ON documents (brief_date) WHERE kind = 'brief';
CREATE INDEX documents_by_path ON documents (path_hash);
-- Duplicates are found by their text's hash; 8 bytes of it pick the candidates.
CREATE INDEX documents_by_hash ON documents (substr(content_hash, 1, 8));
-- Pruning looks for old documents of the pruned origins; folders' are never pruned.
CREATE INDEX documents_by_origin ON documents (origin, brief_date) WHERE origin <> 'folder';
CREATE INDEX items_by_date ON items (brief_date);
CREATE INDEX items_by_doc ON items (doc_id);
CREATE INDEX item_topics_by_item ON item_topics (item_id);
CREATE INDEX item_targets_by_item ON item_targets (item_id);

-- Items per topic and per target, so "共 N 条" is one row read at any size. Kept by
-- triggers on the link rows, so every writer (saves, replacements, pruning's cascades,
-- sync_topics) keeps them right.
CREATE TABLE topic_counts (
    topic_id TEXT PRIMARY KEY,
    items    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO topic_counts (topic_id, items)
    SELECT topic_id, COUNT(*) FROM item_topics GROUP BY topic_id;
ALTER TABLE impact_targets ADD COLUMN items INTEGER NOT NULL DEFAULT 0;
UPDATE impact_targets SET items = (SELECT COUNT(*) FROM item_targets WHERE target_id = id);

CREATE TRIGGER item_topics_count AFTER INSERT ON item_topics
BEGIN
    INSERT OR IGNORE INTO topic_counts (topic_id, items) VALUES (NEW.topic_id, 0);
    UPDATE topic_counts SET items = items + 1 WHERE topic_id = NEW.topic_id;
END;

CREATE TRIGGER item_topics_uncount AFTER DELETE ON item_topics
BEGIN
    UPDATE topic_counts SET items = items - 1 WHERE topic_id = OLD.topic_id;
END;

CREATE TRIGGER item_targets_count AFTER INSERT ON item_targets
BEGIN
    UPDATE impact_targets SET items = items + 1 WHERE id = NEW.target_id;
END;

CREATE TRIGGER item_targets_uncount AFTER DELETE ON item_targets
BEGIN
    UPDATE impact_targets SET items = items - 1 WHERE id = OLD.target_id;
END;

-- Migration 6's triggers, over item ids.
CREATE TRIGGER impacts_list_target AFTER INSERT ON impacts
BEGIN
    INSERT OR IGNORE INTO impact_targets (key, name)
        VALUES (lower(trim(NEW.target)), trim(NEW.target));
    INSERT OR IGNORE INTO item_targets (target_id, sort_at, item_id)
        SELECT t.id, i.sort_at, i.id FROM impact_targets t, items i
        WHERE t.key = lower(trim(NEW.target)) AND i.id = NEW.item_id;
END;

CREATE TRIGGER impacts_unlist_target AFTER DELETE ON impacts
BEGIN
    DELETE FROM item_targets
    WHERE item_id = OLD.item_id
      AND target_id = (SELECT id FROM impact_targets WHERE key = lower(trim(OLD.target)))
      AND NOT EXISTS (SELECT 1 FROM impacts
                      WHERE item_id = OLD.item_id AND lower(trim(target)) = lower(trim(OLD.target)));
END;
"#;

/// Runs migration 10 inside `tx` (foreign keys are off while it runs; the caller checks
/// them before committing).
pub(super) fn integer_ids(tx: &Transaction<'_>) -> Result<()> {
    integer_ids_in_chunks(tx, CHUNK)
}

fn integer_ids_in_chunks(tx: &Transaction<'_>, chunk: i64) -> Result<()> {
    tx.execute_batch(SET_ASIDE)?;
    tx.execute_batch(CREATE)?;
    copy_documents(tx, chunk)?;
    copy_items(tx, chunk)?;
    tx.execute_batch(FINISH)?;
    Ok(())
}

fn row_count(tx: &Transaction<'_>, table: &str) -> Result<i64> {
    Ok(tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
}

/// Documents keep their rowid as their id, so items find theirs by the old key.
fn copy_documents(tx: &Transaction<'_>, chunk: i64) -> Result<()> {
    let total = row_count(tx, "v9_documents")?;
    let mut select = tx.prepare(
        "SELECT rowid, source_path FROM v9_documents WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let mut insert = tx.prepare(&format!(
        "INSERT INTO documents (id, key, kind, brief_date, title, summary, cover_image, sections,
           source_path, path_hash, content_hash, ingested_at, origin)
         SELECT d.rowid, {key}, d.kind, d.brief_date,
           CASE WHEN d.kind <> 'brief' AND d.title IS (SELECT i.title FROM v9_items i
                 WHERE i.doc_key = d.key ORDER BY i.position LIMIT 1) THEN NULL ELSE d.title END,
           d.summary, d.cover_image, d.sections, d.source_path, ?2, {hash}, d.ingested_at, d.origin
         FROM v9_documents d WHERE d.rowid = ?1",
        key = sql_stored_key("d.key"),
        hash = sql_stored_key("d.content_hash"),
    ))?;
    let mut done = 0;
    let mut after = i64::MIN;
    loop {
        let mut rows = select.query(params![after, chunk])?;
        let mut copied = 0;
        while let Some(row) = rows.next()? {
            after = row.get(0)?;
            let path: String = row.get(1)?;
            insert.execute(params![after, path_hash(&path)])?;
            copied += 1;
        }
        done += copied;
        progress("documents", done, total, chunk);
        if copied < chunk {
            break;
        }
    }
    copied_all(10, "documents", done, total)
}

/// Items keep their rowid as their id; their impacts and links follow per chunk.
fn copy_items(tx: &Transaction<'_>, chunk: i64) -> Result<()> {
    let total = row_count(tx, "v9_items")?;
    let mut select = tx.prepare(
        "SELECT i.rowid, i.key, d.rowid, i.kind, i.brief_date, i.published_at, i.sort_at,
                i.section, i.position, i.title, i.key_points, i.insights, i.advice, i.summary,
                i.body, i.source_name, i.source_url, i.categories, i.tags, i.tables, i.updated_at
         FROM v9_items i LEFT JOIN v9_documents d ON d.key = i.doc_key
         WHERE i.rowid > ?1 ORDER BY i.rowid LIMIT ?2",
    )?;
    let mut insert = tx.prepare(
        "INSERT INTO items (id, key, doc_id, kind, brief_date, published_at, sort_at, section,
           position, title, key_points, insights, advice, summary, summary_at, summary_len, body,
           source_name, source_url, categories, tags, tables, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
           ?18, ?19, ?20, ?21, ?22, ?23)",
    )?;
    let mut impacts = tx.prepare(
        "INSERT INTO impacts (item_id, position, target, label, direction, leaning, horizon, intensity, note)
         SELECT i.rowid, m.position, m.target, m.label, m.direction, m.leaning, m.horizon, m.intensity, m.note
         FROM v9_items i JOIN v9_impacts m ON m.item_key = i.key
         WHERE i.rowid > ?1 AND i.rowid <= ?2",
    )?;
    let mut topics = tx.prepare(
        "INSERT INTO item_topics (topic_id, sort_at, item_id)
         SELECT t.topic_id, t.sort_at, i.rowid
         FROM v9_items i JOIN v9_item_topics t ON t.item_key = i.key
         WHERE i.rowid > ?1 AND i.rowid <= ?2",
    )?;
    let mut targets = tx.prepare(
        "INSERT INTO item_targets (target_id, sort_at, item_id)
         SELECT t.target_id, t.sort_at, i.rowid
         FROM v9_items i JOIN v9_item_targets t ON t.item_key = i.key
         WHERE i.rowid > ?1 AND i.rowid <= ?2",
    )?;
    let mut done = 0;
    let mut after = i64::MIN;
    loop {
        let from = after;
        let mut rows = select.query(params![from, chunk])?;
        let mut copied = 0;
        while let Some(row) = rows.next()? {
            after = row.get(0)?;
            let key: String = row.get(1)?;
            let Some(doc_id) = row.get::<_, Option<i64>>(2)? else {
                return Err(StoreError::Corrupt(format!(
                    "migration 10: item {key} has no document"
                )));
            };
            let summary: String = row.get(13)?;
            let body: String = row.get(14)?;
            let shared = summary_in_body(&summary, &body);
            let rest = shared.map_or(summary.as_str(), |(_, len)| &summary[len..]);
            insert.execute(params![
                after,
                StoredKey(&key),
                doc_id,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, String>(9)?,
                row.get::<_, String>(10)?,
                row.get::<_, String>(11)?,
                row.get::<_, String>(12)?,
                rest,
                shared.map(|(at, _)| at as i64),
                shared.map(|(_, len)| len as i64),
                body,
                row.get::<_, Option<String>>(15)?,
                row.get::<_, Option<String>>(16)?,
                row.get::<_, String>(17)?,
                row.get::<_, String>(18)?,
                row.get::<_, String>(19)?,
                row.get::<_, i64>(20)?,
            ])?;
            copied += 1;
        }
        // The chunk's impacts and links: items with rowids in (from, after].
        impacts.execute(params![from, after])?;
        topics.execute(params![from, after])?;
        targets.execute(params![from, after])?;
        done += copied;
        progress("items", done, total, chunk);
        if copied < chunk {
            break;
        }
    }
    copied_all(10, "items", done, total)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rusqlite::{Connection, params};

    use super::super::migrations::{MIGRATIONS, Migration};
    use super::super::{Store, backup_path};
    use crate::model::{Item, ParsedDocument};
    use crate::topics::TopicCatalog;

    const TOPICS: &str = "[[topic]]\nid = \"gold\"\nname = \"黄金\"\nkeywords = [\"黄金\"]\n\n[[topic]]\nid = \"stocks\"\nname = \"股市\"\nkeywords = [\"股市\"]";

    fn parse(name: &str, text: &str) -> ParsedDocument {
        let settings = crate::settings::Settings::from_config(crate::config::Config::default())
            .expect("default settings");
        let options = crate::ingest::IngestOptions::from_settings(&settings, None);
        crate::ingest::parse_bytes(name, text.as_bytes(), None, &options).unwrap()
    }

    /// Writes `doc` as ecobrief wrote it under schema 9 (the save of that version).
    fn save_v9(conn: &Connection, doc: &ParsedDocument, topics: &TopicCatalog) {
        let m = &doc.meta;
        let json = |v: &[String]| serde_json::to_string(v).unwrap();
        conn.execute(
            "INSERT INTO documents (key, kind, brief_date, title, summary, cover_image, sections,
               source_path, content_hash, ingested_at, origin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1700000000, ?10)",
            params![
                m.key,
                m.kind.as_str(),
                m.brief_date.to_string(),
                m.title,
                json(&m.summary),
                m.cover_image,
                json(&m.sections),
                m.source_path,
                m.content_hash,
                doc.origin.as_str()
            ],
        )
        .unwrap();
        for item in &doc.items {
            let at = super::super::sort_at(item);
            conn.execute(
                "INSERT INTO items (key, doc_key, kind, brief_date, published_at, sort_at, section,
                   position, title, key_points, insights, advice, summary, body, source_name,
                   source_url, categories, tags, updated_at, tables)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, 1700000000, ?19)",
                params![
                    item.key,
                    m.key,
                    item.kind.as_str(),
                    item.brief_date.to_string(),
                    item.published_at.map(|t| t.timestamp()),
                    at,
                    item.section,
                    item.position,
                    item.title,
                    json(&item.key_points),
                    json(&item.insights),
                    json(&item.advice),
                    item.summary,
                    item.body,
                    item.source_name,
                    item.source_url,
                    json(&item.categories),
                    json(&item.tags),
                    serde_json::to_string(&item.tables).unwrap()
                ],
            )
            .unwrap();
            for (position, impact) in item.impacts.iter().enumerate() {
                conn.execute(
                    "INSERT INTO impacts (item_key, position, target, label, direction, leaning,
                       horizon, intensity, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        item.key,
                        position as i64,
                        impact.target,
                        impact.label,
                        super::super::direction_str(impact.stance.direction),
                        impact
                            .stance
                            .leaning
                            .as_ref()
                            .and_then(super::super::enum_str),
                        impact
                            .stance
                            .horizon
                            .as_ref()
                            .and_then(super::super::enum_str),
                        impact
                            .stance
                            .intensity
                            .as_ref()
                            .and_then(super::super::enum_str),
                        impact.note
                    ],
                )
                .unwrap();
            }
            for id in topics.topics_for(item) {
                conn.execute(
                    "INSERT OR IGNORE INTO item_topics (topic_id, sort_at, item_key) VALUES (?1, ?2, ?3)",
                    params![id, at, item.key],
                )
                .unwrap();
            }
        }
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_v9_database_with_data_is_backed_up_then_migrated_with_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bot.db");
        let topics = TopicCatalog::from_toml(TOPICS).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let brief = parse(
            "brief-2026-04-01.md",
            "---\ntitle: 测试简报\ndate: 2026-04-01\nsummary: \"- 今日要点一\\n- 今日要点二\"\ncover: https://img.example/c.png\n---\n\n## 市场\n\n### 黄金再创新高\n\n- **时间：** 08:00\n- **核心要点：**\n  - 黄金上涨\n\n**影响：**\n- 对股市：利多。资金回流\n- 对黄金：利多。避险\n\n### 股市震荡\n\n- **时间：** 09:00\n- **核心要点：**\n  - 股市回落\n\n**影响：**\n- 对股市：利空。获利了结\n",
        );
        let commentary = parse(
            "commentary-2026-04-01.txt",
            "黄金价格今日大幅上涨，市场避险情绪升温，投资者纷纷买入黄金。分析人士认为短期仍有上行空间。\n第二段：股市方面，资金流向防御板块，成交量明显放大，机构继续看好后市表现。\n",
        );
        let article = parse(
            "article-1.md",
            "---\ntitle: 央行宣布降准\ndate: 2026-04-01 10:00\ncategories:\n  - macro\n---\n\n央行今日宣布下调存款准备金率0.5个百分点，释放长期资金约一万亿元，股市应声上涨。\n\n**影响：**\n- 对股市：利多。流动性改善\n\n[财经](https://news.example.com/a1.html)\n",
        );
        let docs = [brief, commentary, article];
        {
            let conn = Connection::open(&db).unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            for (n, migration) in MIGRATIONS.iter().take(9).enumerate() {
                let Migration::Sql(sql) = migration else {
                    panic!("migration {} is not SQL", n + 1)
                };
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 9).unwrap();
            for doc in &docs {
                save_v9(&conn, doc, &topics);
            }
            conn.execute(
                "INSERT INTO outbox (brief_date, chat, thread_id, run, part, body, state, message_id)
                 VALUES ('2026-04-01', '@g', 0, 1, 1, '{\"text\":\"x\"}', 'sent', 7)",
                [],
            )
            .unwrap();
            // Positive control for the count checks below: the v9 triggers listed targets.
            assert_eq!(count(&conn, "SELECT COUNT(*) FROM item_targets"), 4);
        }
        let items_v9 = 4;
        let topic_links_v9 = {
            let conn = Connection::open(&db).unwrap();
            count(&conn, "SELECT COUNT(*) FROM item_topics")
        };
        assert!(topic_links_v9 >= 4, "{topic_links_v9}");

        let store = Store::open(&db).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);

        // The backup is the v9 file as it was.
        let backup = backup_path(&db, MIGRATIONS.len() as i64);
        let old = Connection::open(&backup).unwrap();
        assert_eq!(
            old.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .unwrap(),
            9
        );
        assert_eq!(count(&old, "SELECT COUNT(*) FROM items"), items_v9);
        let integrity: String = old
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");

        // Every item reads back as it was parsed, impacts included, with its document.
        let mut stored: Vec<(String, Item)> = store.items_for_date(day).unwrap();
        let mut expected: Vec<(String, Item)> = docs
            .iter()
            .flat_map(|d| d.items.iter().map(|i| (d.meta.key.clone(), i.clone())))
            .collect();
        stored.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        expected.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        assert_eq!(stored, expected);
        assert!(
            docs[1].items[0].summary.chars().count() > 10,
            "the commentary has a summary to share with its body"
        );
        let conn = Connection::open(&db).unwrap();
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM items WHERE summary_at IS NOT NULL"
            ),
            2,
            "the commentary's and the article's summaries (their first paragraphs) are kept as pointers into their bodies"
        );
        let meta = store.brief_document(day).unwrap().unwrap();
        assert_eq!(meta, docs[0].meta);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM documents"), 3);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM item_topics"),
            topic_links_v9
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM item_targets"), 4);
        let impacts: usize = docs
            .iter()
            .flat_map(|d| &d.items)
            .map(|i| i.impacts.len())
            .sum();
        assert!(impacts >= 4, "{impacts}");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM impacts"), impacts as i64);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM outbox WHERE message_id = 7"),
            1
        );
        for table in ["v9_items", "v9_documents", "v9_impacts"] {
            assert_eq!(
                count(
                    &conn,
                    &format!("SELECT COUNT(*) FROM sqlite_schema WHERE name = '{table}'")
                ),
                0
            );
        }
        // Topic and target pages and their counts work on the migrated rows.
        let gold = store.items_for_topic("gold", 10, 0).unwrap();
        assert_eq!(gold.len(), store.count_for_topic("gold").unwrap());
        assert!(gold.len() >= 2, "{gold:?}");
        let stocks = store.impact_target("股市").unwrap().unwrap();
        assert_eq!(store.count_for_impact_target(stocks.id).unwrap(), 3);
        assert_eq!(
            store
                .items_for_impact_target(stocks.id, 10, 0)
                .unwrap()
                .len(),
            3
        );
        // Cascades work on the new tables, and the counts follow them.
        conn.execute("PRAGMA foreign_keys = ON", []).unwrap();
        conn.execute("DELETE FROM documents", []).unwrap();
        for table in ["items", "impacts", "item_topics", "item_targets"] {
            assert_eq!(
                count(&conn, &format!("SELECT COUNT(*) FROM {table}")),
                0,
                "{table}"
            );
        }
        assert_eq!(store.count_for_topic("gold").unwrap(), 0);
        assert_eq!(store.count_for_impact_target(stocks.id).unwrap(), 0);

        // A second open neither migrates nor backs up again.
        std::fs::remove_file(&backup).unwrap();
        drop(store);
        Store::open(&db).unwrap();
        assert!(!backup.exists());
    }

    #[test]
    fn a_new_database_is_not_backed_up() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        Store::open(&db).unwrap();
        assert!(!backup_path(&db, MIGRATIONS.len() as i64).exists());
        // Positive control: the path is where an upgrade would write it.
        assert!(backup_path(&db, 10).ends_with("new.db.before-v10.bak"));
    }
}
