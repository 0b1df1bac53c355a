//! Items by impact target: what `/topic 股市` shows when 股市 is no topic but a target of
//! the impact tags. The `impact_targets` and `item_targets` tables are kept by triggers on
//! `impacts` (migrations 6 and 10), so these are index look-ups and range scans, never a scan of
//! every item.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::model::Item;

/// A stored impact target: its stable id and the spelling it was first stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactTarget {
    pub id: i64,
    pub name: String,
}

fn target_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImpactTarget> {
    Ok(ImpactTarget {
        id: row.get(0)?,
        name: row.get(1)?,
    })
}

impl Store {
    /// The target whose folded text is `key` (see [`crate::topics::fold_target`]).
    pub fn impact_target(&self, key: &str) -> Result<Option<ImpactTarget>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM impact_targets WHERE key = ?1")?;
        Ok(stmt.query_row([key], target_from_row).optional()?)
    }

    /// The target with this id (from a 更多 button), if there is one.
    pub fn impact_target_by_id(&self, id: i64) -> Result<Option<ImpactTarget>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, name FROM impact_targets WHERE id = ?1")?;
        Ok(stmt.query_row([id], target_from_row).optional()?)
    }

    /// The newest items with an impact on target `id`, `limit` from `offset`.
    pub fn items_for_impact_target(
        &self,
        id: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Item>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT items.* FROM item_targets JOIN items ON items.id = item_targets.item_id
             WHERE item_targets.target_id = ?1
             ORDER BY item_targets.sort_at DESC, item_targets.item_id DESC
             LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query(params![
            id,
            i64::try_from(limit).unwrap_or(i64::MAX),
            i64::try_from(offset).unwrap_or(i64::MAX)
        ])?;
        self.items_with_impacts(rows)
    }

    /// How many stored items have an impact on target `id`: the target's count, kept by
    /// triggers on `item_targets` (migration 10).
    pub fn count_for_impact_target(&self, id: i64) -> Result<usize> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT items FROM impact_targets WHERE id = ?1")?;
        let n: Option<i64> = stmt.query_row([id], |r| r.get(0)).optional()?;
        Ok(n.map_or(0, |n| usize::try_from(n).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::{TopicCatalog, fold_target};

    const TOPICS: &str = "[[topic]]\nid = \"gold\"\nname = \"黄金\"\nkeywords = [\"黄金\"]";

    fn brief(items: &[(&str, &str, &[&str])]) -> String {
        let mut text =
            String::from("---\ntitle: 测试简报\ndate: 2026-04-01\ntype: brief\n---\n\n## 市场\n");
        for (title, time, targets) in items {
            text.push_str(&format!(
                "\n### {title}\n\n- **时间：** {time}\n- **核心要点：**\n  - {title}的要点\n\n**影响：**\n"
            ));
            for target in *targets {
                text.push_str(&format!("- 对{target}：利多。理由\n"));
            }
        }
        text
    }

    fn save(store: &mut Store, text: &str, name: &str) {
        let topics = TopicCatalog::from_toml(TOPICS).unwrap();
        let settings = crate::settings::Settings::from_config(crate::config::Config::default())
            .expect("default settings");
        let options = crate::ingest::IngestOptions::from_settings(&settings, None);
        let doc = crate::ingest::parse_bytes(name, text.as_bytes(), None, &options).unwrap();
        store.save_document(&doc, &topics).unwrap();
    }

    #[test]
    fn items_are_listed_under_their_targets_newest_first_and_follow_edits() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        save(
            &mut store,
            &brief(&[
                ("甲", "08:00", &["股市", "AI"]),
                ("乙", "09:00", &["股市", "股市"]),
                ("丙", "10:00", &["通胀"]),
            ]),
            "brief-2026-04-01.md",
        );
        let stocks = store
            .impact_target(&fold_target(" #股市 "))
            .unwrap()
            .unwrap();
        assert_eq!(stocks.name, "股市");
        assert_eq!(
            store.count_for_impact_target(stocks.id).unwrap(),
            2,
            "one row per item"
        );
        let titles: Vec<String> = store
            .items_for_impact_target(stocks.id, 5, 0)
            .unwrap()
            .into_iter()
            .map(|i| i.title)
            .collect();
        assert_eq!(titles, ["乙", "甲"]);
        assert!(
            store.impact_target("ai").unwrap().is_some(),
            "ASCII case is folded"
        );
        assert_eq!(
            store.impact_target_by_id(stocks.id).unwrap(),
            Some(stocks.clone())
        );
        assert!(store.impact_target_by_id(999_999).unwrap().is_none());

        // The edited brief drops 甲's impact on 股市: the list follows, the id stays.
        save(
            &mut store,
            &brief(&[("甲", "08:00", &["AI"]), ("乙", "09:00", &["股市"])]),
            "brief-2026-04-01.md",
        );
        assert_eq!(store.count_for_impact_target(stocks.id).unwrap(), 1);
        assert_eq!(
            store.impact_target("股市").unwrap().map(|t| t.id),
            Some(stocks.id)
        );
        let tx = store.write().unwrap();
        tx.execute("DELETE FROM impacts WHERE target = '股市'", [])
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(store.count_for_impact_target(stocks.id).unwrap(), 0);
    }
}
