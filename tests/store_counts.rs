//! The item counts per topic and per impact target (`共 N 条`) are kept in a table by
//! triggers; they must equal a count of the link rows after every kind of write.

use chrono::NaiveDate;
use ecobrief::ingest::{content_hash, item_key};
use ecobrief::model::{DocumentMeta, Impact, Item, ItemKind, Origin, ParsedDocument, Stance};
use ecobrief::store::Store;
use ecobrief::topics::TopicCatalog;

const TOPICS: &str = "[[topic]]\nid = \"gold\"\nname = \"黄金\"\nkeywords = [\"黄金\"]\n\n[[topic]]\nid = \"oil\"\nname = \"原油\"\nkeywords = [\"原油\"]";

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// A one-item article from `path`, about `title`, with impacts on `targets`.
fn article(
    path: &str,
    date: NaiveDate,
    title: &str,
    targets: &[&str],
    origin: Origin,
) -> ParsedDocument {
    let url = format!("https://x.example/{path}");
    let key = item_key(Some(&url), title, date);
    let item = Item {
        summary: format!("{title}的摘要"),
        body: format!("{title}。正文"),
        source_url: Some(url),
        impacts: targets
            .iter()
            .map(|t| Impact {
                target: t.to_string(),
                stance: Stance::UNKNOWN,
                label: String::new(),
                note: "理由".to_string(),
            })
            .collect(),
        ..Item::new(ItemKind::Article, key.clone(), date, title.to_string())
    };
    ParsedDocument {
        meta: DocumentMeta {
            key: content_hash(&format!("article\u{1f}{key}")),
            kind: ItemKind::Article,
            brief_date: date,
            title: title.to_string(),
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: path.to_string(),
            content_hash: content_hash(&format!("{title}{targets:?}")),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: ecobrief::model::DatedBy::Entry,
        origin,
    }
}

/// Every topic's and target's kept count against a count of its link rows.
fn assert_counts_match(store: &Store, db: &std::path::Path, topic_ids: &[&str]) {
    let raw = rusqlite::Connection::open(db).unwrap();
    for id in topic_ids {
        let links: i64 = raw
            .query_row(
                "SELECT COUNT(*) FROM item_topics WHERE topic_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            store.count_for_topic(id).unwrap() as i64,
            links,
            "topic {id}"
        );
    }
    let mut stmt = raw
        .prepare(
            "SELECT t.id, (SELECT COUNT(*) FROM item_targets l WHERE l.target_id = t.id)
             FROM impact_targets t",
        )
        .unwrap();
    let rows: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(!rows.is_empty());
    for (id, links) in rows {
        assert_eq!(
            store.count_for_impact_target(id).unwrap() as i64,
            links,
            "target {id}"
        );
    }
}

#[test]
fn topic_and_target_counts_follow_saves_replacements_duplicates_prunes_and_topic_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("counts.db");
    let mut store = Store::open(&db).unwrap();
    let topics = TopicCatalog::from_toml(TOPICS).unwrap();
    let ids = ["gold", "oil", "none"];
    let old = day("2025-01-02");
    let recent = day("2026-04-01");

    for n in 0..6 {
        let date = if n % 2 == 0 { old } else { recent };
        let origin = if n < 4 { Origin::Feed } else { Origin::Folder };
        let title = format!("黄金与原油第{n}次波动");
        store
            .save_document(
                &article(&format!("a{n}"), date, &title, &["股市", "债市"], origin),
                &topics,
            )
            .unwrap();
    }
    assert_eq!(
        store.count_for_topic("gold").unwrap(),
        6,
        "positive control"
    );
    assert_eq!(store.count_for_topic("none").unwrap(), 0);
    assert_counts_match(&store, &db, &ids);

    // Replaced: the same file now says something else (no gold, one target fewer).
    store
        .save_document(
            &article("a1", recent, "原油单独上涨", &["股市"], Origin::Feed),
            &topics,
        )
        .unwrap();
    assert_eq!(store.count_for_topic("gold").unwrap(), 5);
    assert_counts_match(&store, &db, &ids);

    // Saved again unchanged, and the same text from another file: nothing changes.
    let same = article(
        "a3",
        recent,
        "黄金与原油第3次波动",
        &["股市", "债市"],
        Origin::Feed,
    );
    store.save_document(&same, &topics).unwrap();
    let mut twin = same.clone();
    twin.meta.source_path = "elsewhere".to_string();
    twin.meta.key = content_hash("another key");
    store.save_document(&twin, &topics).unwrap();
    assert_eq!(store.count_for_topic("gold").unwrap(), 5);
    assert_counts_match(&store, &db, &ids);

    // An item that moves to another document (same URL and title) is counted once.
    let mut moved = article(
        "a5",
        recent,
        "黄金与原油第5次波动",
        &["债市"],
        Origin::Folder,
    );
    moved.meta.source_path = "moved-here".to_string();
    moved.meta.key = content_hash("moved");
    store.save_document(&moved, &topics).unwrap();
    assert_eq!(store.count_for_topic("gold").unwrap(), 5);
    assert_counts_match(&store, &db, &ids);

    // Pruning old feed documents: their links go by cascade, the counts with them.
    let report = store.prune(day("2026-01-01"), false).unwrap();
    assert_eq!(report.items, 2, "{report:?}");
    assert_eq!(store.count_for_topic("gold").unwrap(), 3);
    assert_counts_match(&store, &db, &ids);

    // Other topics: sync_topics rebuilds every link, and the counts follow.
    let fewer =
        TopicCatalog::from_toml("[[topic]]\nid = \"oil\"\nname = \"原油\"\nkeywords = [\"原油\"]")
            .unwrap();
    assert!(store.sync_topics(&fewer).unwrap());
    assert_eq!(store.count_for_topic("gold").unwrap(), 0);
    assert_eq!(store.count_for_topic("oil").unwrap(), 4);
    assert_counts_match(&store, &db, &ids);
}
