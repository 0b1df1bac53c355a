//! The publish plan of each day and target: a scheduled publish that found no brief waits
//! for it until a deadline; this record keeps that wait (and whether admins were told it
//! is late) across restarts, and how the day ended.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError};

/// How a day ended for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOutcome {
    /// The brief (or, at the deadline, what there was) was posted.
    Posted,
    /// The deadline passed without a brief and `on_missing_brief = "skip"`.
    Skipped,
    /// The deadline passed with no items at all: nothing to post.
    Empty,
    /// Delivery failed; the delivery record has the details.
    Failed,
}

impl DayOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DayOutcome::Posted => "posted",
            DayOutcome::Skipped => "skipped",
            DayOutcome::Empty => "empty",
            DayOutcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<DayOutcome> {
        Ok(match text {
            "posted" => DayOutcome::Posted,
            "skipped" => DayOutcome::Skipped,
            "empty" => DayOutcome::Empty,
            "failed" => DayOutcome::Failed,
            other => return Err(StoreError::Corrupt(format!("day outcome {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPlan {
    pub brief_date: NaiveDate,
    pub chat: String,
    pub thread_id: i64,
    /// The scheduled publish instant (unix seconds) the wait counts from.
    pub scheduled_at: i64,
    /// When the wait ends and `on_missing_brief` applies.
    pub deadline: i64,
    /// When waiting began; `None` when the brief was there at the publish time.
    pub waiting_since: Option<i64>,
    pub late_notified: bool,
    /// `None` while the day is still open (waiting, or about to be posted).
    pub outcome: Option<DayOutcome>,
    pub outcome_at: Option<i64>,
}

fn plan_from_row(row: &rusqlite::Row<'_>) -> Result<DayPlan> {
    let day: String = row.get(0)?;
    Ok(DayPlan {
        brief_date: day
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("date {day:?}: {e}")))?,
        chat: row.get(1)?,
        thread_id: row.get(2)?,
        scheduled_at: row.get(3)?,
        deadline: row.get(4)?,
        waiting_since: row.get(5)?,
        late_notified: row.get::<_, i64>(6)? != 0,
        outcome: row
            .get::<_, Option<String>>(7)?
            .map(|s| DayOutcome::parse(&s))
            .transpose()?,
        outcome_at: row.get(8)?,
    })
}

const COLUMNS: &str = "brief_date, chat, thread_id, scheduled_at, deadline, waiting_since, late_notified, outcome, outcome_at";

impl Store {
    /// Opens the plan of a day for a target, unless one exists (a restart, a second
    /// tick): the first scheduled instant and its deadline stand.
    pub fn open_day_plan(
        &mut self,
        date: NaiveDate,
        chat: &str,
        thread_id: i64,
        scheduled_at: i64,
        deadline: i64,
    ) -> Result<DayPlan> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO day_plans (brief_date, chat, thread_id, scheduled_at, deadline)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![date.to_string(), chat, thread_id, scheduled_at, deadline],
        )?;
        let plan = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM day_plans WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3"
            ))?
            .query_row(params![date.to_string(), chat, thread_id], |row| {
                Ok(plan_from_row(row))
            })??;
        tx.commit()?;
        Ok(plan)
    }

    pub fn day_plan(&self, date: NaiveDate, chat: &str, thread_id: i64) -> Result<Option<DayPlan>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM day_plans WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3"
            ))?
            .query_row(params![date.to_string(), chat, thread_id], |row| {
                Ok(plan_from_row(row))
            })
            .optional()?
            .transpose()
    }

    /// Plans of days not yet ended, oldest first.
    pub fn open_day_plans(&self) -> Result<Vec<DayPlan>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM day_plans WHERE outcome IS NULL ORDER BY brief_date, chat, thread_id"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(plan_from_row(row)?);
        }
        Ok(out)
    }

    /// Marks the day as waiting for its brief (keeps the first `since`).
    pub fn mark_day_waiting(
        &self,
        date: NaiveDate,
        chat: &str,
        thread_id: i64,
        since: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE day_plans SET waiting_since = COALESCE(waiting_since, ?4)
                 WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3",
            )?
            .execute(params![date.to_string(), chat, thread_id, since])?;
        Ok(())
    }

    /// Records that admins were told the day's brief is late. Returns false when they
    /// already were (so they are told once, restarts included).
    pub fn mark_late_notified(&self, date: NaiveDate, chat: &str, thread_id: i64) -> Result<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE day_plans SET late_notified = 1
                 WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND late_notified = 0",
            )?
            .execute(params![date.to_string(), chat, thread_id])?;
        Ok(changed > 0)
    }

    pub fn end_day_plan(
        &self,
        date: NaiveDate,
        chat: &str,
        thread_id: i64,
        outcome: DayOutcome,
        at: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE day_plans SET outcome = ?4, outcome_at = ?5
                 WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3",
            )?
            .execute(params![
                date.to_string(),
                chat,
                thread_id,
                outcome.as_str(),
                at
            ])?;
        Ok(())
    }

    /// When the newest structured brief document was stored (unix seconds) and its day.
    pub fn last_brief_arrival(&self) -> Result<Option<(NaiveDate, i64)>> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT brief_date, ingested_at FROM documents WHERE kind = 'brief'
                 ORDER BY ingested_at DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(day, at)| {
            day.parse()
                .map(|d| (d, at))
                .map_err(|e| StoreError::Corrupt(format!("date {day:?}: {e}")))
        })
        .transpose()
    }
}
