//! Retention: what came from feeds, urls and pushes is kept `store.keep_days`; folders'
//! documents (the structured briefs) and the record of what was posted are kept for good.
//!
//! Pruning deletes old documents in short write transactions ([`PRUNE_BATCH`] documents
//! each), so the WAL stays small and a reader is never held up for long. Their items go
//! with them, and with the items their impacts and topic links (foreign keys cascade).
//! Old digests go; old outbox rows keep their state and message id but lose their bodies.

use chrono::NaiveDate;
use rusqlite::params;

use super::{Result, Store};
use crate::model::Origin;

/// Documents deleted per write transaction.
const PRUNE_BATCH: usize = 2_000;

/// What a prune removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub documents: usize,
    pub items: usize,
    pub digests: usize,
    /// Outbox parts whose message body was dropped (the record that they were sent stays).
    pub outbox_bodies: usize,
}

/// Items of one origin, by age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginStats {
    pub origin: Origin,
    pub items: usize,
    /// Items dated within the last 30 days, within a year, and older.
    pub last_30_days: usize,
    pub last_year: usize,
    pub older: usize,
}

/// `ecobrief db stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub origins: Vec<OriginStats>,
    pub documents: usize,
    pub outbox_parts: usize,
}

/// The origins that are pruned, as SQL text (fixed, never from input).
fn pruned_origins() -> String {
    Origin::ALL
        .iter()
        .filter(|o| o.is_pruned())
        .map(|o| format!("'{}'", o.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl Store {
    /// Removes feed, url and pushed documents dated before `cutoff`, digests before it and
    /// outbox bodies before it. With `dry_run`, only counts.
    pub fn prune(&mut self, cutoff: NaiveDate, dry_run: bool) -> Result<PruneReport> {
        let cutoff = cutoff.to_string();
        let origins = pruned_origins();
        // `origin <> 'folder'` lets the partial index `documents_by_origin` be used.
        let old_documents = format!(
            "SELECT id FROM documents
             WHERE origin IN ({origins}) AND origin <> 'folder' AND brief_date < ?1"
        );
        let mut report = PruneReport {
            items: count(self.conn.query_row(
                &format!("SELECT COUNT(*) FROM items WHERE doc_id IN ({old_documents})"),
                [&cutoff],
                |r| r.get(0),
            )?),
            digests: count(self.conn.query_row(
                "SELECT COUNT(*) FROM digests WHERE brief_date < ?1",
                [&cutoff],
                |r| r.get(0),
            )?),
            outbox_bodies: count(self.conn.query_row(
                "SELECT COUNT(*) FROM outbox WHERE brief_date < ?1 AND body <> ''",
                [&cutoff],
                |r| r.get(0),
            )?),
            ..PruneReport::default()
        };
        if dry_run {
            report.documents = count(self.conn.query_row(
                &format!("SELECT COUNT(*) FROM ({old_documents})"),
                [&cutoff],
                |r| r.get(0),
            )?);
            return Ok(report);
        }
        let delete = format!("DELETE FROM documents WHERE id IN ({old_documents} LIMIT ?2)");
        loop {
            let tx = self.write()?;
            let deleted = tx.execute(&delete, params![cutoff, PRUNE_BATCH as i64])?;
            tx.commit()?;
            report.documents += deleted;
            if deleted < PRUNE_BATCH {
                break;
            }
        }
        let tx = self.write()?;
        tx.execute("DELETE FROM digests WHERE brief_date < ?1", [&cutoff])?;
        tx.execute(
            "UPDATE outbox SET body = '', fallback = NULL WHERE brief_date < ?1 AND body <> ''",
            [&cutoff],
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// Items by origin and age (counted from `today`), documents and outbox parts.
    pub fn stats(&self, today: NaiveDate) -> Result<StoreStats> {
        let month = (today - chrono::Duration::days(30)).to_string();
        let year = (today - chrono::Duration::days(365)).to_string();
        let mut stmt = self.conn.prepare(
            "SELECT documents.origin, COUNT(*),
                    SUM(items.brief_date >= ?1), SUM(items.brief_date >= ?2)
             FROM items JOIN documents ON documents.id = items.doc_id
             GROUP BY documents.origin",
        )?;
        let mut rows = stmt.query(params![month, year])?;
        let mut origins: Vec<OriginStats> = Origin::ALL
            .iter()
            .map(|&origin| OriginStats {
                origin,
                items: 0,
                last_30_days: 0,
                last_year: 0,
                older: 0,
            })
            .collect();
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let Some(origin) = Origin::parse(&name) else {
                continue;
            };
            let items = count(row.get(1)?);
            let last_30_days = count(row.get::<_, Option<i64>>(2)?.unwrap_or(0));
            let last_year = count(row.get::<_, Option<i64>>(3)?.unwrap_or(0));
            if let Some(stats) = origins.iter_mut().find(|s| s.origin == origin) {
                *stats = OriginStats {
                    origin,
                    items,
                    last_30_days,
                    last_year,
                    older: items.saturating_sub(last_year),
                };
            }
        }
        Ok(StoreStats {
            origins,
            documents: count(
                self.conn
                    .query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))?,
            ),
            outbox_parts: count(
                self.conn
                    .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?,
            ),
        })
    }

    /// The day pruning last ran, if ever.
    pub fn last_prune(&self) -> Result<Option<NaiveDate>> {
        Ok(self.meta_value("last_prune")?.and_then(|d| d.parse().ok()))
    }

    pub fn set_last_prune(&self, day: NaiveDate) -> Result<()> {
        self.set_meta_value("last_prune", &day.to_string())
    }

    /// Rebuilds the file, giving the space of deleted rows back to the file system.
    pub fn vacuum(&self) -> Result<()> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }
}
