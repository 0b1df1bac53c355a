//! Retention: feed, url and pushed items older than `store.keep_days` are pruned with
//! their impacts and topic links; structured briefs and the record of what was posted stay;
//! a pruned feed entry does not come back.

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use common::fake_telegram::{FakeTelegram, Limits};
use common::{TestApp, at, day, spawn_core_with};
use ecobrief::model::{Item, ItemKind, Origin, ParsedDocument};
use ecobrief::runner::ManualClock;

/// A one-item article document of `origin`, dated `date`.
fn article(origin: Origin, date: NaiveDate, n: usize) -> ParsedDocument {
    let title = format!("黄金价格第{n}次上涨");
    let key = ecobrief::ingest::item_key(Some(&format!("https://x.example/{n}")), &title, date);
    let item = Item {
        summary: "对黄金：利多".to_string(),
        impacts: vec![ecobrief::model::Impact {
            target: "黄金".to_string(),
            stance: ecobrief::model::Stance::UNKNOWN,
            label: String::new(),
            note: "上涨".to_string(),
        }],
        ..Item::new(ItemKind::Article, key.clone(), date, title.clone())
    };
    ParsedDocument {
        meta: ecobrief::model::DocumentMeta {
            key: ecobrief::ingest::content_hash(&format!("article\u{1f}{key}")),
            kind: ItemKind::Article,
            brief_date: date,
            title,
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: format!("https://x.example/{n}"),
            content_hash: ecobrief::ingest::content_hash(&format!("{origin:?}{n}")),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: ecobrief::model::DatedBy::Entry,
        origin,
    }
}

/// A count read through a connection of the test's own.
fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn old_feed_url_and_pushed_items_go_and_briefs_and_the_record_stay() {
    let t = spawn_core_with(|c| c.store.keep_days = 30);
    let today = t.app.today();
    let old = today - chrono::Duration::days(45);
    let recent = today - chrono::Duration::days(5);
    let mut store = t.store();
    let db = t.app.settings.database.clone();
    for (n, origin) in [Origin::Feed, Origin::Url, Origin::Push]
        .into_iter()
        .enumerate()
    {
        store
            .save_document(&article(origin, old, n), &t.app.topics)
            .unwrap();
        store
            .save_document(&article(origin, recent, n + 10), &t.app.topics)
            .unwrap();
    }
    // A structured brief of the old day, from a folder: kept for good.
    let brief = format!(
        "---\ntitle: 旧简报\ndate: {old}\n---\n## 市场\n### 一\n- **时间：** 09:00\n- **核心要点：**\n  - 甲\n### 二\n- **时间：** 10:00\n- **影响：**\n  - 对股市：利多\n"
    );
    let path = t.write("old-brief.md", brief);
    t.app.ingest_paths(&[path], None).unwrap();
    let items_before = count(&db, "SELECT COUNT(*) FROM items");
    assert_eq!(items_before, 8);
    assert!(count(&db, "SELECT COUNT(*) FROM item_topics") > 0);

    // What was posted on the old day and on a recent one, and an old digest.
    let raw = rusqlite::Connection::open(&db).unwrap();
    for d in [old, recent] {
        raw.execute(
            "INSERT INTO outbox (brief_date, chat, thread_id, run, part, body, state, message_id)
             VALUES (?1, '@g', 0, 1, 0, '{\"text\":\"x\"}', 'sent', 7)",
            [d.to_string()],
        )
        .unwrap();
    }
    raw.execute(
        "INSERT INTO digests (brief_date, user_id, state) VALUES (?1, 1, 'sent')",
        [old.to_string()],
    )
    .unwrap();
    let dry = t.app.prune(today, true).unwrap().unwrap();
    assert_eq!((dry.documents, dry.items), (3, 3), "{dry:?}");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM items"),
        items_before,
        "dry: nothing goes"
    );

    let report = t.app.prune(today, false).unwrap().unwrap();
    assert_eq!((report.documents, report.items), (3, 3), "{report:?}");
    assert_eq!((report.digests, report.outbox_bodies), (1, 1), "{report:?}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM digests"), 0);
    // The record that the old day was posted stays, without its body.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE body = '' AND message_id = 7"
        ),
        1
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox WHERE body <> ''"),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM items"), 5);
    // The impacts and topic links of pruned items went with them.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM impacts WHERE item_id NOT IN (SELECT id FROM items)"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM item_topics WHERE item_id NOT IN (SELECT id FROM items)"
        ),
        0
    );
    assert!(
        store.brief_document(old).unwrap().is_some(),
        "the old brief stays"
    );
    assert_eq!(store.items_for_date(old).unwrap().len(), 2, "its items too");
    assert_eq!(
        store.items_for_date(recent).unwrap().len(),
        3,
        "recent items stay"
    );
    let stats = store.stats(today).unwrap();
    let feed = stats
        .origins
        .iter()
        .find(|o| o.origin == Origin::Feed)
        .unwrap();
    assert_eq!((feed.items, feed.last_30_days), (1, 1));
    let folder = stats
        .origins
        .iter()
        .find(|o| o.origin == Origin::Folder)
        .unwrap();
    assert_eq!(folder.items, 2);
    store.vacuum().unwrap();

    // A pruned entry that the feed still carries is not stored again; a new one is.
    let again = [
        article(Origin::Feed, old, 0),
        article(Origin::Feed, today, 99),
    ];
    let (_, saved) = t.app.store_documents(&again, "feed").unwrap();
    assert_eq!(saved, 1);
    assert!(
        store
            .items_for_date(old)
            .unwrap()
            .iter()
            .all(|(_, i)| i.kind == ItemKind::Brief)
    );
}

#[test]
fn keep_days_zero_keeps_everything() {
    let t = spawn_core_with(|c| c.store.keep_days = 0);
    let old = day("2001-01-01");
    let mut store = t.store();
    store
        .save_document(&article(Origin::Feed, old, 1), &t.app.topics)
        .unwrap();
    assert!(t.app.prune(t.app.today(), false).unwrap().is_none());
    assert_eq!(store.items_for_date(old).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_prunes_after_an_ingest_once_a_day() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let clock = Arc::new(ManualClock::new(at("2026-03-12T09:00:00+08:00")));
    let app = TestApp::builder(&fake)
        .clock(clock.clone())
        .config(|c| c.store.keep_days = 30)
        .start()
        .await;
    let mut store = app.store();
    let topics =
        ecobrief::topics::TopicCatalog::load(&common::repo_path("config/topics.toml")).unwrap();
    // The start-up ingest already pruned today.
    app.ingest(false).await;
    assert_eq!(store.last_prune().unwrap(), Some(day("2026-03-12")));
    // An old entry saved now stays until the next day's prune: once a day.
    store
        .save_document(&article(Origin::Feed, day("2026-01-02"), 2), &topics)
        .unwrap();
    app.ingest(false).await;
    assert_eq!(store.items_for_date(day("2026-01-02")).unwrap().len(), 1);
    clock.set(at("2026-03-13T09:00:00+08:00"));
    app.ingest(false).await;
    assert!(
        store.items_for_date(day("2026-01-02")).unwrap().is_empty(),
        "pruned after the next day's first ingest"
    );
    assert_eq!(store.last_prune().unwrap(), Some(day("2026-03-13")));
    app.shutdown().await;
}

#[test]
fn the_db_commands_report_prune_and_refuse_to_vacuum_beside_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
            .current_dir(common::repo_path(""))
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["db", "stats"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("feed") && text.contains("WAL") && text.contains("keep_days = 400"),
        "{text}"
    );
    let out = run(&["db", "prune", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("would remove 0 documents"), "{text}");
    let lock = ecobrief::application::lock_instance(&db).unwrap();
    let out = run(&["db", "vacuum"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop the bot"), "{err}");
    drop(lock);
    // Positive control: with the bot stopped, it runs.
    let out = run(&["db", "vacuum"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("vacuumed"));
}
