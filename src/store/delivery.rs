//! The delivery record: publications and their parts (the outbox), chat migrations,
//! subscribers and their daily digests. Every part is written before it is sent and
//! marked after, so a restart knows exactly what is left.

use chrono::{NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, StoreError};
use crate::message::{Edition, OutgoingMessage, PartBody, RichMessage};

/// One publication: the brief of a day to one chat (and forum thread), run `run`
/// (a forced re-post is a new run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationKey {
    pub brief_date: NaiveDate,
    pub chat: String,
    pub thread_id: i64,
    pub run: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicationState {
    Pending,
    Done,
    Failed,
}

impl PublicationState {
    fn as_str(self) -> &'static str {
        match self {
            PublicationState::Pending => "pending",
            PublicationState::Done => "done",
            PublicationState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(PublicationState::Pending),
            "done" => Ok(PublicationState::Done),
            "failed" => Ok(PublicationState::Failed),
            other => Err(StoreError::Corrupt(format!("publication state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub key: PublicationKey,
    pub trigger: String,
    pub state: PublicationState,
    pub parts: i64,
    pub retries: i64,
    pub failures: i64,
    pub last_error: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartState {
    Pending,
    /// Handed to Telegram with no answer yet: after a crash, it may or may not have arrived.
    Sending,
    Sent,
    Failed,
    /// A cover photo that is a block of the first rich part instead of a message of its
    /// own. It becomes pending (and goes as a photo) only if the post falls back to the
    /// text edition before any part is sent.
    InRich,
}

impl PartState {
    fn as_str(self) -> &'static str {
        match self {
            PartState::Pending => "pending",
            PartState::Sending => "sending",
            PartState::Sent => "sent",
            PartState::Failed => "failed",
            PartState::InRich => "in_rich",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(PartState::Pending),
            "sending" => Ok(PartState::Sending),
            "sent" => Ok(PartState::Sent),
            "failed" => Ok(PartState::Failed),
            "in_rich" => Ok(PartState::InRich),
            other => Err(StoreError::Corrupt(format!("part state {other:?}"))),
        }
    }
}

/// A part to record: what is sent, and for a rich part its text edition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPart {
    pub body: PartBody,
    /// The same content as text messages, sent instead when the rich message is refused.
    /// Empty for a text part.
    pub fallback: Vec<OutgoingMessage>,
}

impl NewPart {
    pub fn text(message: OutgoingMessage) -> NewPart {
        NewPart {
            body: PartBody::Text(message),
            fallback: Vec::new(),
        }
    }
}

/// What a part of the outbox is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// A message of the brief's text (parts 1..n).
    Text,
    /// The cover photo that opens the post (part 0): this URL, the message as its caption.
    Cover { url: String },
}

/// The cover photo's part number: before the text parts 1..n.
pub const COVER_PART: i64 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPart {
    pub part: i64,
    pub kind: PartKind,
    /// What is sent; a cover's caption is always a text message.
    pub message: PartBody,
    pub fallback: Vec<OutgoingMessage>,
    pub state: PartState,
    pub attempts: i64,
    pub message_id: Option<i64>,
    pub last_error: Option<String>,
}

/// A brief pinned in a target chat, not yet unpinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub brief_date: NaiveDate,
    pub message_id: i64,
}

/// What [`Store::claim_part`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartClaim {
    /// Marked `sending`: send it now.
    Claimed,
    /// Confirmed before: skip it.
    AlreadySent,
    /// No such part in the record.
    Missing,
}

/// How a subscriber's digest of a day ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestState {
    Sent,
    Failed,
}

impl DigestState {
    fn as_str(self) -> &'static str {
        match self {
            DigestState::Sent => "sent",
            DigestState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "sent" => Ok(DigestState::Sent),
            "failed" => Ok(DigestState::Failed),
            other => Err(StoreError::Corrupt(format!("digest state {other:?}"))),
        }
    }
}

/// A subscriber and the topics they follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub user_id: i64,
    pub chat_id: i64,
    pub topics: Vec<String>,
}

fn publication_from_row(row: &rusqlite::Row<'_>) -> Result<Publication> {
    let date: String = row.get("brief_date")?;
    Ok(Publication {
        key: PublicationKey {
            brief_date: date
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("date {date:?}: {e}")))?,
            chat: row.get("chat")?,
            thread_id: row.get("thread_id")?,
            run: row.get("run")?,
        },
        trigger: row.get("trigger")?,
        state: PublicationState::parse(&row.get::<_, String>("state")?)?,
        parts: row.get("parts")?,
        retries: row.get("retries")?,
        failures: row.get("failures")?,
        last_error: row.get("last_error")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
    })
}

const INSERT_PART: &str =
    "INSERT INTO outbox (brief_date, chat, thread_id, run, part, body, state, edition, fallback)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)";

/// A part's `edition`, `body` and `fallback` columns. A text part's body is the JSON it
/// always was, so a text post is recorded exactly as before the rich edition existed.
fn part_columns(part: &NewPart) -> Result<(&'static str, String, Option<String>)> {
    let json = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let body = match &part.body {
        PartBody::Text(m) => serde_json::to_string(m).map_err(json)?,
        PartBody::Rich(m) => serde_json::to_string(m).map_err(json)?,
    };
    let fallback = match &part.body {
        PartBody::Text(_) => None,
        PartBody::Rich(_) => Some(serde_json::to_string(&part.fallback).map_err(json)?),
    };
    Ok((part.body.edition().as_str(), body, fallback))
}

impl Store {
    /// The newest run of a day's publication to one chat/thread.
    pub fn latest_publication(
        &self,
        date: NaiveDate,
        chat: &str,
        thread_id: i64,
    ) -> Result<Option<Publication>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM publications WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3
             ORDER BY run DESC LIMIT 1",
        )?;
        let mut rows = stmt.query(params![date.to_string(), chat, thread_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(publication_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// The most recently started publication of any day, for `/status`.
    pub fn last_publication(&self) -> Result<Option<Publication>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM publications ORDER BY started_at DESC, run DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([])?;
        match rows.next()? {
            Some(row) => Ok(Some(publication_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// The newest run of each day and chat that is not done: the process stopped while
    /// posting, or a send failed.
    pub fn unfinished_publications(&self) -> Result<Vec<Publication>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM publications p WHERE state <> 'done'
               AND run = (SELECT MAX(run) FROM publications q WHERE q.brief_date = p.brief_date
                          AND q.chat = p.chat AND q.thread_id = p.thread_id)
             ORDER BY brief_date, started_at",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(publication_from_row(row)?);
        }
        Ok(out)
    }

    /// Records a new run with all its parts as pending, in one transaction.
    pub fn start_publication(
        &mut self,
        key: &PublicationKey,
        trigger: &str,
        parts: &[NewPart],
    ) -> Result<()> {
        self.start_publication_with_cover(key, trigger, parts, None)
    }

    /// [`Store::start_publication`], with a cover photo (its URL and caption) recorded as
    /// part 0 when there is one.
    pub fn start_publication_with_cover(
        &mut self,
        key: &PublicationKey,
        trigger: &str,
        parts: &[NewPart],
        cover: Option<(&str, &OutgoingMessage)>,
    ) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO publications (brief_date, chat, thread_id, run, trigger, state, parts, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
            params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                trigger,
                parts.len() as i64,
                Utc::now().timestamp()
            ],
        )?;
        {
            let mut insert = tx.prepare(INSERT_PART)?;
            for (i, part) in parts.iter().enumerate() {
                let (edition, body, fallback) = part_columns(part)?;
                insert.execute(params![
                    key.brief_date.to_string(),
                    key.chat,
                    key.thread_id,
                    key.run,
                    i as i64 + 1,
                    body,
                    edition,
                    fallback
                ])?;
            }
            if let Some((url, caption)) = cover {
                let body = serde_json::to_string(caption)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // A rich part that shows the photo as its first block carries it.
                let in_rich = parts
                    .iter()
                    .any(|p| matches!(&p.body, PartBody::Rich(m) if !m.media.is_empty()));
                let state = if in_rich {
                    PartState::InRich
                } else {
                    PartState::Pending
                };
                tx.execute(
                    "INSERT INTO outbox (brief_date, chat, thread_id, run, part, body, state, kind, media_url)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, 'cover', ?7)",
                    params![
                        key.brief_date.to_string(),
                        key.chat,
                        key.thread_id,
                        key.run,
                        COVER_PART,
                        body,
                        url,
                        state.as_str()
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The Bot API could not take the cover photo inside the rich part `part`: that part
    /// is recorded without it (its text fallback stays), and the cover as failed, with
    /// `error`, so it is not tried again as a photo of its own.
    pub fn drop_rich_cover(
        &mut self,
        key: &PublicationKey,
        part: i64,
        body: &PartBody,
        error: &str,
    ) -> Result<()> {
        let body = match body {
            PartBody::Text(m) => serde_json::to_string(m),
            PartBody::Rich(m) => serde_json::to_string(m),
        }
        .map_err(|e| StoreError::Corrupt(format!("outbox body: {e}")))?;
        let tx = self.write()?;
        tx.execute(
            "UPDATE outbox SET body = ?6
             WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4 AND part = ?5
               AND state <> 'sent'",
            params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                part,
                body
            ],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?5
             WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4
               AND kind = 'cover' AND state = 'in_rich'",
            params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                error
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The Bot API refused a rich part: in one transaction, the parts from `from_part` on
    /// that are not sent are replaced by `texts`, numbered from `from_part`. The record then
    /// reads as a text post, so a restart resumes it exactly as one.
    pub fn replace_with_text(
        &mut self,
        key: &PublicationKey,
        from_part: i64,
        texts: &[OutgoingMessage],
    ) -> Result<()> {
        let tx = self.write()?;
        let keys = params![key.brief_date.to_string(), key.chat, key.thread_id, key.run];
        tx.execute(
            "DELETE FROM outbox WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4
               AND part >= ?5 AND state <> 'sent' AND kind <> 'cover'",
            params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                from_part
            ],
        )?;
        {
            let mut insert = tx.prepare(INSERT_PART)?;
            for (i, text) in texts.iter().enumerate() {
                let (edition, body, fallback) = part_columns(&NewPart::text(text.clone()))?;
                insert.execute(params![
                    key.brief_date.to_string(),
                    key.chat,
                    key.thread_id,
                    key.run,
                    from_part + i as i64,
                    body,
                    edition,
                    fallback
                ])?;
            }
        }
        // The text edition opens with the cover as a photo of its own, unless a rich part
        // that showed it has gone out already.
        tx.execute(
            "UPDATE outbox SET state = 'pending'
             WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4
               AND kind = 'cover' AND state = 'in_rich'
               AND NOT EXISTS (SELECT 1 FROM outbox o
                   WHERE o.brief_date = ?1 AND o.chat = ?2 AND o.thread_id = ?3 AND o.run = ?4
                     AND o.kind <> 'cover' AND o.state = 'sent')",
            keys,
        )?;
        tx.execute(
            "UPDATE publications SET parts = (SELECT COUNT(*) FROM outbox o
                 WHERE o.brief_date = ?1 AND o.chat = ?2 AND o.thread_id = ?3 AND o.run = ?4
                   AND o.kind <> 'cover')
             WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4",
            keys,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn outbox_parts(&self, key: &PublicationKey) -> Result<Vec<OutboxPart>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT part, body, state, attempts, message_id, kind, media_url, last_error, edition,
                    fallback FROM outbox
             WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4 ORDER BY part",
        )?;
        let mut rows = stmt.query(params![
            key.brief_date.to_string(),
            key.chat,
            key.thread_id,
            key.run
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let body: String = row.get(1)?;
            let kind = match (
                row.get::<_, String>(5)?.as_str(),
                row.get::<_, Option<String>>(6)?,
            ) {
                ("text", _) => PartKind::Text,
                ("cover", Some(url)) => PartKind::Cover { url },
                (other, _) => {
                    return Err(StoreError::Corrupt(format!("outbox part kind {other:?}")));
                }
            };
            let edition: String = row.get(8)?;
            let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("outbox body: {e}"));
            let message = match Edition::parse(&edition) {
                Some(Edition::Text) => {
                    PartBody::Text(serde_json::from_str(&body).map_err(corrupt)?)
                }
                Some(Edition::Rich) => {
                    PartBody::Rich(serde_json::from_str::<RichMessage>(&body).map_err(corrupt)?)
                }
                None => return Err(StoreError::Corrupt(format!("outbox edition {edition:?}"))),
            };
            if matches!(kind, PartKind::Cover { .. }) && !matches!(message, PartBody::Text(_)) {
                return Err(StoreError::Corrupt(format!(
                    "outbox part {}: a cover's caption is recorded as {edition}",
                    row.get::<_, i64>(0)?
                )));
            }
            let fallback = match row.get::<_, Option<String>>(9)? {
                Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
                None => Vec::new(),
            };
            out.push(OutboxPart {
                part: row.get(0)?,
                kind,
                message,
                fallback,
                last_error: row.get(7)?,
                state: PartState::parse(&row.get::<_, String>(2)?)?,
                attempts: row.get(3)?,
                message_id: row.get(4)?,
            });
        }
        Ok(out)
    }

    /// Claims a part for sending: in one write transaction, re-reads its state and, unless
    /// it is already sent, marks it `sending` (one more attempt). So a part confirmed by an
    /// earlier run is never sent again, whoever else holds the record.
    pub fn claim_part(&mut self, key: &PublicationKey, part: i64) -> Result<PartClaim> {
        let tx = self.write()?;
        let where_ = "brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4 AND part = ?5";
        let keys = params![
            key.brief_date.to_string(),
            key.chat,
            key.thread_id,
            key.run,
            part
        ];
        let state: Option<String> = tx
            .prepare_cached(&format!("SELECT state FROM outbox WHERE {where_}"))?
            .query_row(keys, |r| r.get(0))
            .optional()?;
        let claim = match state.as_deref().map(PartState::parse).transpose()? {
            None => PartClaim::Missing,
            Some(PartState::Sent) => PartClaim::AlreadySent,
            Some(_) => {
                tx.prepare_cached(&format!(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE {where_}"
                ))?
                .execute(keys)?;
                PartClaim::Claimed
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    /// Marks a part before or after sending it.
    pub fn set_part_state(
        &self,
        key: &PublicationKey,
        part: i64,
        state: PartState,
        message_id: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        let attempt = i64::from(state == PartState::Sending);
        let sent_at = (state == PartState::Sent).then(|| Utc::now().timestamp());
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = ?6, attempts = attempts + ?7,
                   message_id = COALESCE(?8, message_id), last_error = COALESCE(?9, last_error),
                   sent_at = COALESCE(?10, sent_at)
                 WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4 AND part = ?5",
            )?
            .execute(params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                part,
                state.as_str(),
                attempt,
                message_id,
                error,
                sent_at
            ])?;
        Ok(())
    }

    /// Records the outcome of a run.
    pub fn finish_publication(
        &self,
        key: &PublicationKey,
        state: PublicationState,
        retries: i64,
        failures: i64,
        last_error: Option<&str>,
    ) -> Result<()> {
        let finished = (state != PublicationState::Pending).then(|| Utc::now().timestamp());
        self.conn
            .prepare_cached(
                "UPDATE publications SET state = ?5, retries = retries + ?6, failures = failures + ?7,
                   last_error = COALESCE(?8, last_error), finished_at = ?9
                 WHERE brief_date = ?1 AND chat = ?2 AND thread_id = ?3 AND run = ?4",
            )?
            .execute(params![
                key.brief_date.to_string(),
                key.chat,
                key.thread_id,
                key.run,
                state.as_str(),
                retries,
                failures,
                last_error,
                finished
            ])?;
        Ok(())
    }

    /// The message pinned as the brief of `date` in a target chat (the latest, after a
    /// forced re-post), if it is still pinned.
    pub fn pinned_brief(&self, chat: &str, thread_id: i64, date: NaiveDate) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT message_id FROM pins WHERE chat = ?1 AND thread_id = ?2 AND brief_date = ?3
                 AND unpinned_at IS NULL ORDER BY pinned_at DESC LIMIT 1",
            )?
            .query_row(params![chat, thread_id, date.to_string()], |r| r.get(0))
            .optional()?)
    }

    /// Records the brief of `date` pinned as `message_id`.
    pub fn record_pin(
        &self,
        chat: &str,
        thread_id: i64,
        date: NaiveDate,
        message_id: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pins (chat, thread_id, brief_date, message_id, pinned_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (chat, thread_id, message_id) DO UPDATE SET brief_date = excluded.brief_date,
               pinned_at = excluded.pinned_at, unpinned_at = NULL",
            params![chat, thread_id, date.to_string(), message_id, Utc::now().timestamp()],
        )?;
        Ok(())
    }

    /// Briefs pinned in a target chat and not yet unpinned, other than `keep`: the ones
    /// the brief pinned now replaces (the previous day's, or the same day's before a forced
    /// re-post).
    pub fn stale_pins(&self, chat: &str, thread_id: i64, keep: i64) -> Result<Vec<Pin>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT brief_date, message_id FROM pins
             WHERE chat = ?1 AND thread_id = ?2 AND unpinned_at IS NULL AND message_id <> ?3
             ORDER BY pinned_at",
        )?;
        let mut rows = stmt.query(params![chat, thread_id, keep])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let date: String = row.get(0)?;
            out.push(Pin {
                brief_date: date
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("pin date {date:?}: {e}")))?,
                message_id: row.get(1)?,
            });
        }
        Ok(out)
    }

    /// Marks a pinned brief as unpinned.
    pub fn record_unpin(&self, chat: &str, thread_id: i64, message_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE pins SET unpinned_at = ?4 WHERE chat = ?1 AND thread_id = ?2 AND message_id = ?3",
            params![chat, thread_id, message_id, Utc::now().timestamp()],
        )?;
        Ok(())
    }

    /// Records that admins are told pinning fails in `chat`; false when they were told
    /// already (and are not told again).
    pub fn note_pin_problem(&self, chat: &str, error: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "INSERT OR IGNORE INTO pin_notices (chat, error, told_at) VALUES (?1, ?2, ?3)",
            params![chat, error, Utc::now().timestamp()],
        )? > 0)
    }

    /// Pinning works again in `chat`: a later failure is told again.
    pub fn clear_pin_problem(&self, chat: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM pin_notices WHERE chat = ?1", params![chat])?;
        Ok(())
    }

    /// The id a configured chat now has, if its group was migrated to a supergroup.
    pub fn migrated_chat(&self, chat: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT chat_id FROM chat_migrations WHERE chat = ?1")?
            .query_row([chat], |r| r.get(0))
            .optional()?)
    }

    pub fn set_migrated_chat(&self, chat: &str, chat_id: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO chat_migrations (chat, chat_id) VALUES (?1, ?2)
             ON CONFLICT (chat) DO UPDATE SET chat_id = excluded.chat_id",
            params![chat, chat_id],
        )?;
        Ok(())
    }

    /// Adds a topic to a user's subscriptions (re-activating a deactivated subscriber).
    /// Returns false when it was already there.
    pub fn subscribe(&mut self, user_id: i64, chat_id: i64, topic_id: &str) -> Result<bool> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO subscribers (user_id, chat_id, active, created_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, active = 1, inactive_reason = NULL",
            params![user_id, chat_id, Utc::now().timestamp()],
        )?;
        let added = tx.execute(
            "INSERT OR IGNORE INTO subscriptions (user_id, topic_id) VALUES (?1, ?2)",
            params![user_id, topic_id],
        )? > 0;
        tx.commit()?;
        Ok(added)
    }

    /// Returns false when the user did not follow the topic.
    pub fn unsubscribe(&self, user_id: i64, topic_id: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM subscriptions WHERE user_id = ?1 AND topic_id = ?2",
            params![user_id, topic_id],
        )? > 0)
    }

    pub fn subscriptions(&self, user_id: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT topic_id FROM subscriptions WHERE user_id = ?1 ORDER BY topic_id",
        )?;
        let rows = stmt.query_map([user_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Active subscribers that follow at least one topic.
    pub fn active_subscribers(&self) -> Result<Vec<Subscriber>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.user_id, s.chat_id, t.topic_id FROM subscribers s
             JOIN subscriptions t ON t.user_id = s.user_id
             WHERE s.active = 1 ORDER BY s.user_id, t.topic_id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out: Vec<Subscriber> = Vec::new();
        while let Some(row) = rows.next()? {
            let (user_id, chat_id, topic): (i64, i64, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            match out.last_mut() {
                Some(last) if last.user_id == user_id => last.topics.push(topic),
                _ => out.push(Subscriber {
                    user_id,
                    chat_id,
                    topics: vec![topic],
                }),
            }
        }
        Ok(out)
    }

    pub fn subscriber_count(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM subscribers s WHERE active = 1
             AND EXISTS (SELECT 1 FROM subscriptions t WHERE t.user_id = s.user_id)",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// A subscriber who blocked the bot: no more digests until they subscribe again.
    pub fn deactivate_subscriber(&self, user_id: i64, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE subscribers SET active = 0, inactive_reason = ?2 WHERE user_id = ?1",
            params![user_id, reason],
        )?;
        Ok(())
    }

    /// The digest state of a day for a user, if one was started.
    pub fn digest_state(&self, date: NaiveDate, user_id: i64) -> Result<Option<DigestState>> {
        let state: Option<String> = self
            .conn
            .prepare_cached("SELECT state FROM digests WHERE brief_date = ?1 AND user_id = ?2")?
            .query_row(params![date.to_string(), user_id], |r| r.get(0))
            .optional()?;
        state.as_deref().map(DigestState::parse).transpose()
    }

    pub fn set_digest_state(
        &self,
        date: NaiveDate,
        user_id: i64,
        state: DigestState,
        message_id: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO digests (brief_date, user_id, state, message_id, last_error) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (brief_date, user_id) DO UPDATE SET state = excluded.state,
                   message_id = COALESCE(excluded.message_id, message_id), last_error = excluded.last_error",
            )?
            .execute(params![
                date.to_string(),
                user_id,
                state.as_str(),
                message_id,
                error
            ])?;
        Ok(())
    }

    /// Items stored for a day (for `/status`).
    pub fn item_count_for_date(&self, date: NaiveDate) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM items WHERE brief_date = ?1",
            [date.to_string()],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }
}
