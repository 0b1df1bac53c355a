//! Publish: the brief, digests and replies delivered to Telegram, once.
//!
//! Every part of a post is recorded in the outbox before it is sent and marked with its
//! message id after, so a restart resumes from the first part not sent and never repeats
//! one that was confirmed. Only failures where Telegram surely did not take the message
//! (429, 5xx, no connection) are retried automatically. A timeout after the request went
//! out is ambiguous; we resend it (at-least-once), since a missing part is worse than a
//! rare repeated one.
//!
//! Every message goes through one routine, [`Publisher::send_paced`]: pace, send, handle
//! 429/5xx/migration, report an outcome enum. Posts, digests and replies differ only in
//! their retry budget and in what they record around each attempt.

pub mod botapi;
pub mod pacer;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;
use tokio::sync::watch;

use crate::app::{AppError, Core};
use crate::message::{ChatRef, Edition, OutgoingMessage, PartBody};
use crate::metrics::Metrics;
use crate::settings::{Target, TelegramSettings};
use crate::store::delivery::{
    COVER_PART, DigestState, NewPart, OutboxPart, PartClaim, PartKind, PartState, PublicationKey,
    PublicationState,
};
use crate::store::{Store, StoreError};
use botapi::{ApiError, BotApi, SendOptions};
use pacer::{PaceLimits, Pacer};

/// Longest single wait a 429 may ask for before the part counts as failed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
/// Rate-limit answers tolerated for one part.
const MAX_RATE_LIMITS_PER_PART: u32 = 50;
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest 429 wait a reply or digest accepts: they are not worth holding a task longer.
const MAX_REPLY_WAIT: Duration = Duration::from_secs(60);
/// Chat migrations followed for one part (a group migrates once; more is a loop).
const MAX_MIGRATIONS: u32 = 3;
/// Tries to write one delivery record before giving up.
const RECORD_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the brief of {0} is already posted; use force to post it again")]
    AlreadyPosted(NaiveDate),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What triggered a publication, for the record and the admin summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    CatchUp,
    Resume,
    Command { user_id: i64 },
    CommandLine,
}

impl Trigger {
    pub fn label(&self) -> String {
        match self {
            Trigger::Schedule => "schedule".to_string(),
            Trigger::CatchUp => "catch-up".to_string(),
            Trigger::Resume => "resume".to_string(),
            Trigger::Command { user_id } => format!("/post by {user_id}"),
            Trigger::CommandLine => "command line".to_string(),
        }
    }

    /// Scheduled publishes wait for a late brief; a person asking posts at once.
    pub fn waits_for_brief(&self) -> bool {
        matches!(self, Trigger::Schedule | Trigger::CatchUp)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetReport {
    pub chat: String,
    pub thread_id: i64,
    pub parts: usize,
    pub sent: usize,
    /// Parts already sent before this call (a resumed run).
    pub already_sent: usize,
    pub retries: u32,
    pub failures: u32,
    pub error: Option<String>,
    /// The cover photo, when the post has one.
    pub cover: Option<CoverReport>,
    /// Pinning the day's first part, when the target asks for it and it was tried.
    pub pin: Option<PinReport>,
    /// A rich target that got the text edition because our own checker refused the rich
    /// edition of the day (too many blocks, a template fault): why.
    pub rich_refused: Option<String>,
}

/// How the cover photo ended. A cover that fails never holds up the text parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoverReport {
    Sent,
    /// Telegram refused it (or gave up on it): the text parts went out without it.
    Failed(String),
    /// Not sent: text parts went out before it could be (it is never sent after them).
    Skipped,
}

/// How pinning the day's first part ended. It never fails the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinReport {
    /// Pinned silently; `unpinned` earlier briefs were unpinned.
    Pinned { unpinned: usize },
    /// Pinning (or unpinning the previous brief) failed; `told` when this is the first
    /// time for this chat, so admins hear of it once.
    Failed { error: String, told: bool },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestReport {
    pub sent: usize,
    pub skipped: usize,
    pub failed: usize,
    pub deactivated: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub date: NaiveDate,
    pub trigger: Trigger,
    pub targets: Vec<TargetReport>,
    pub digests: DigestReport,
}

impl PublishReport {
    pub fn complete(&self) -> bool {
        self.targets.iter().all(|t| t.error.is_none())
    }

    /// The private summary admins get after a publish.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "📮 {} 简报发布（{}）",
            self.date,
            self.trigger.label()
        )];
        for t in &self.targets {
            let thread = if t.thread_id != 0 {
                format!(" #{}", t.thread_id)
            } else {
                String::new()
            };
            lines.push(format!(
                "{}{thread}：{}/{} 条已发送，重试 {}，失败 {}{}",
                t.chat,
                t.sent + t.already_sent,
                t.parts,
                t.retries,
                t.failures,
                t.error
                    .as_ref()
                    .map(|e| format!("\n⚠️ {e}"))
                    .unwrap_or_default()
            ));
            match &t.cover {
                Some(CoverReport::Failed(e)) => {
                    lines.push(format!("⚠️ 封面图未发送（正文照常发送）：{e}"));
                }
                Some(CoverReport::Skipped) => {
                    lines.push("封面图未发送：正文已先发出".to_string());
                }
                Some(CoverReport::Sent) | None => {}
            }
            if let Some(why) = &t.rich_refused {
                lines.push(format!("⚠️ 富文本版未通过检查，已改发文本版：{why}"));
            }
            if let Some(PinReport::Failed { error, told: true }) = &t.pin {
                lines.push(format!(
                    "⚠️ 置顶失败（简报照常发布）：{error}。请把机器人设为管理员并授予“置顶消息”权限（can_pin_messages）。此提示只发一次。"
                ));
            }
        }
        let d = &self.digests;
        lines.push(format!(
            "订阅摘要：发送 {}，无相关内容 {}，失败 {}，停用 {}",
            d.sent, d.skipped, d.failed, d.deactivated
        ));
        lines.join("\n")
    }
}

/// How far one send may go on its own before it reports a failure.
#[derive(Debug, Clone, Copy)]
struct RetryBudget {
    /// 429 answers waited out.
    rate_limits: u32,
    /// Longest `retry_after` waited out.
    max_wait: Duration,
    /// 5xx, unreachable and ambiguous answers retried, with growing pauses.
    transient: u32,
    /// Whether a "group upgraded to supergroup" answer is followed to the new chat.
    follow_migration: bool,
}

impl RetryBudget {
    fn reply(rate_limits: u32) -> RetryBudget {
        RetryBudget {
            rate_limits,
            max_wait: MAX_REPLY_WAIT,
            transient: 0,
            follow_migration: false,
        }
    }
}

/// How one message ended.
#[derive(Debug)]
pub enum SendOutcome {
    /// Telegram took it: its message id.
    Sent(i64),
    /// Given up on, with Telegram's last answer.
    Failed(ApiError),
    /// The process is stopping: not sent now.
    Stopped,
    /// Its delivery record could not be written: not sent, to avoid a double post.
    NotRecorded,
    /// An earlier run already sent it.
    AlreadySent,
}

/// Before each attempt: whether to go on.
enum Attempt {
    Go,
    AlreadySent,
    NotRecorded,
}

/// What a caller of [`Publisher::send_paced`] records around each attempt.
trait SendRecord {
    /// Just before a request goes out.
    async fn before_attempt(&mut self) -> Attempt;
    /// After an answer that means "not sent, trying again": why.
    async fn not_sent(&mut self, note: &str);
    /// After Telegram said the chat moved.
    async fn migrated(&mut self, new_id: i64);
}

/// Replies and digests record nothing per attempt.
struct NoRecord;

impl SendRecord for NoRecord {
    async fn before_attempt(&mut self) -> Attempt {
        Attempt::Go
    }
    async fn not_sent(&mut self, _note: &str) {}
    async fn migrated(&mut self, _new_id: i64) {}
}

/// Sends of a day's post: each attempt is in the outbox.
struct PartRecord<'a> {
    publisher: &'a Publisher,
    key: &'a PublicationKey,
    part: i64,
    target: &'a Target,
    what: &'a str,
}

impl SendRecord for PartRecord<'_> {
    async fn before_attempt(&mut self) -> Attempt {
        let (key, part) = (self.key.clone(), self.part);
        match self
            .publisher
            .with_retries(self.what, move |store| store.claim_part(&key, part))
            .await
        {
            Some(PartClaim::Claimed) => Attempt::Go,
            Some(PartClaim::AlreadySent) => Attempt::AlreadySent,
            Some(PartClaim::Missing) | None => Attempt::NotRecorded,
        }
    }

    async fn not_sent(&mut self, note: &str) {
        let (key, part, note) = (self.key.clone(), self.part, note.to_string());
        self.publisher
            .with_retries(self.what, move |store| {
                store.set_part_state(&key, part, PartState::Pending, None, Some(&note))
            })
            .await;
    }

    async fn migrated(&mut self, new_id: i64) {
        tracing::warn!(
            "{} became supergroup {new_id}; sending there",
            self.target.chat
        );
        let chat = self.target.chat_key();
        self.publisher
            .with_retries(self.what, move |store| {
                store.set_migrated_chat(&chat, new_id)
            })
            .await;
    }
}

/// The `reason` label of a send that failed or is retried, for `/metrics`.
fn reason(e: &ApiError) -> &'static str {
    match e {
        ApiError::RetryAfter(_) => "429",
        ApiError::Migrated(_) => "migrated",
        ApiError::Forbidden(_) => "forbidden",
        ApiError::Unauthorized => "unauthorized",
        ApiError::BadRequest(_) if e.is_chat_not_found() => "chat_not_found",
        ApiError::BadRequest(_) => "bad_request",
        ApiError::MethodNotFound(_) => "method_not_found",
        ApiError::Server(..) => "server",
        ApiError::Unreachable(_) => "unreachable",
        ApiError::Ambiguous(_) => "ambiguous",
        ApiError::Decode(_) => "decode",
        ApiError::Stopped => "stopped",
    }
}

/// Records for `/readyz` whether Telegram answered: any answer, even an error, means it
/// is reachable; no connection or no answer means it is not. A send not attempted
/// (stopping) says nothing.
fn observe<T>(metrics: &Metrics, outcome: &Result<T, ApiError>) {
    match outcome {
        Err(ApiError::Unreachable(_) | ApiError::Ambiguous(_)) => {
            metrics.set_telegram_reachable(false)
        }
        Err(ApiError::Stopped) => {}
        Ok(_) | Err(_) => metrics.set_telegram_reachable(true),
    }
}

fn options_for(target: &Target) -> SendOptions {
    SendOptions {
        thread_id: target.thread_id,
        disable_notification: target.disable_notification,
        link_preview: target.link_preview,
        ..SendOptions::default()
    }
}

/// How one subscriber's digest ended.
enum DigestOutcome {
    Sent,
    Failed,
    Deactivated,
    Stopped,
}

/// Delivers posts and replies.
pub struct Publisher {
    core: Core,
    api: BotApi,
    pacer: Arc<Pacer>,
    telegram: TelegramSettings,
    /// Publishes are sequenced by the job runner; this guards the rule "one at a time"
    /// for any other caller too. It is an async lock, held only by a publish.
    publish_lock: tokio::sync::Mutex<()>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
}

impl Publisher {
    pub fn new(core: Core, api: BotApi, shutdown: watch::Receiver<bool>) -> Publisher {
        let telegram = core.settings.telegram.clone();
        let pacer = Arc::new(Pacer::new(PaceLimits {
            group_interval: telegram.group_interval,
            private_interval: telegram.private_interval,
            global_per_second: telegram.global_per_second.max(1),
        }));
        let metrics = Arc::clone(&core.metrics);
        Publisher {
            core,
            api,
            pacer,
            telegram,
            publish_lock: tokio::sync::Mutex::new(()),
            shutdown,
            metrics,
        }
    }

    /// The counters `/metrics` shows (the core's, shared).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Turns true when the process is asked to stop.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Waits for a publish in progress to end.
    pub async fn idle(&self) {
        drop(self.publish_lock.lock().await);
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Whether every target has a finished post of `date`.
    pub async fn is_posted(&self, date: NaiveDate) -> Result<bool, StoreError> {
        let targets: Vec<(String, i64)> = self
            .telegram
            .targets
            .iter()
            .map(|t| (t.chat_key(), t.thread()))
            .collect();
        self.core
            .db
            .run(move |store| {
                for (chat, thread) in &targets {
                    match store.latest_publication(date, chat, *thread)? {
                        Some(p) if p.state == PublicationState::Done => {}
                        _ => return Ok(false),
                    }
                }
                Ok(!targets.is_empty())
            })
            .await
    }

    /// Posts the brief of `date` to every target, then sends subscribers their digests
    /// and admins a summary. A day already posted is refused unless `force`; a day left
    /// half-posted is resumed where it stopped. A day with no items is refused before
    /// anything is recorded, so it is never marked posted.
    pub async fn publish(
        &self,
        date: NaiveDate,
        trigger: Trigger,
        force: bool,
    ) -> Result<PublishReport, PublishError> {
        let _one_at_a_time = self.publish_lock.lock().await;
        if !force && self.is_posted(date).await? {
            return Err(PublishError::AlreadyPosted(date));
        }
        let targets = self.telegram.targets.clone();
        let label = trigger.label();
        let keys = self
            .core
            .blocking(move |core| prepare(core, &targets, date, &label, force))
            .await?;
        let mut targets = Vec::new();
        for (key, target, rich_refused) in keys {
            let mut report = self.deliver(&key, &target).await;
            report.rich_refused = rich_refused;
            targets.push(report);
        }
        let mut report = PublishReport {
            date,
            trigger,
            targets,
            digests: DigestReport::default(),
        };
        if report.complete() && !report.targets.is_empty() {
            self.metrics.brief_published(chrono::Utc::now().timestamp());
        }
        if report.complete() && !self.stopping() {
            report.digests = self.send_digests(date).await;
        }
        if !self.stopping() {
            self.tell_admins(&report.summary()).await;
        }
        Ok(report)
    }

    /// At start: posts a previous process left unfinished (pending, or failed on an
    /// error that may have cleared) are finished, if they are of `today` or the day before;
    /// older ones are left alone rather than posted late into the group. Then digests a
    /// stop or crash left unsent for those days go out.
    pub async fn resume_unfinished(&self, today: NaiveDate) -> Vec<PublishReport> {
        let oldest = today.pred_opt().unwrap_or(today);
        let unfinished = self
            .core
            .db
            .run(|store| store.unfinished_publications())
            .await
            .unwrap_or_else(|e| {
                tracing::error!("reading unfinished posts: {e}");
                Vec::new()
            });
        let mut dates: Vec<NaiveDate> = unfinished
            .iter()
            .map(|p| p.key.brief_date)
            .filter(|d| *d >= oldest)
            .collect();
        dates.dedup();
        let mut reports = Vec::new();
        for date in dates {
            match self.publish(date, Trigger::Resume, false).await {
                Ok(report) => reports.push(report),
                Err(e) => tracing::warn!("resuming the post of {date}: {e}"),
            }
        }
        for date in [oldest, today] {
            if !self.stopping() && self.is_posted(date).await.unwrap_or(false) {
                self.send_digests(date).await;
            }
        }
        reports
    }

    /// The chat a target's messages go to now: the new id after a migration.
    async fn chat_for(&self, target: &Target) -> ChatRef {
        let chat = target.chat_key();
        let migrated = self
            .core
            .db
            .run(move |store| store.migrated_chat(&chat))
            .await
            .ok()
            .flatten();
        migrated.map_or_else(|| target.chat.clone(), ChatRef::Id)
    }

    /// Runs `work` unless a stop is requested first; `None` when stopping.
    async fn unless_stopped<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let mut stop = self.shutdown.clone();
        if *stop.borrow() {
            return None;
        }
        tokio::select! {
            out = work => Some(out),
            _ = stop.wait_for(|s| *s) => None,
        }
    }

    /// Runs a delivery-record write on its own connection, retrying briefly (the
    /// database may be busy past its timeout). `None` when it could not be written: the
    /// caller must not go on as if it had been, or a restart would resend what was
    /// confirmed.
    async fn with_retries<T, F>(&self, what: &str, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: Fn(&mut Store) -> Result<T, StoreError> + Send + Clone + 'static,
    {
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.core.db.run(f.clone()).await {
                Ok(value) => return Some(value),
                Err(e) if attempt == RECORD_ATTEMPTS => {
                    tracing::error!("recording {what}: {e}");
                }
                Err(e) => {
                    tracing::warn!("recording {what} (attempt {attempt}): {e}");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        None
    }

    /// The one routine every message goes through: waits for its pacing slot, sends,
    /// and handles Telegram's answer within `budget`. A 429 is waited out (not a
    /// failure); a 5xx, no connection or no answer is retried with growing pauses; a
    /// migrated group is followed (`chat` is updated). Stops between attempts, never
    /// mid-request, when the process is asked to stop.
    async fn send_paced(
        &self,
        chat: &mut ChatRef,
        message: &PartBody,
        options: &SendOptions,
        budget: RetryBudget,
        record: &mut impl SendRecord,
        retries: &mut u32,
    ) -> SendOutcome {
        let mut rate_limits = 0;
        let mut transient = budget.transient;
        let mut migrations = 0;
        let mut backoff = Duration::from_secs(1);
        let outcome = loop {
            if self
                .unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
                .await
                .is_none()
            {
                break SendOutcome::Stopped;
            }
            match record.before_attempt().await {
                Attempt::Go => {}
                Attempt::AlreadySent => break SendOutcome::AlreadySent,
                Attempt::NotRecorded => break SendOutcome::NotRecorded,
            }
            let sent = match (&options.photo, message) {
                // A cover's caption is always a text message (the outbox checks it).
                (Some(photo), PartBody::Text(caption)) => {
                    self.api.send_photo(chat, photo, caption, options).await
                }
                _ => self.api.send_part(chat, message, options).await,
            };
            observe(&self.metrics, &sent);
            match sent {
                Ok(message_id) => break SendOutcome::Sent(message_id),
                Err(ApiError::RetryAfter(wait))
                    if wait <= budget.max_wait && rate_limits < budget.rate_limits =>
                {
                    // Not sent: wait as told (in the pacer), not counted as a failure.
                    rate_limits += 1;
                    *retries += 1;
                    self.metrics.message_retried("429");
                    record.not_sent("429").await;
                    self.pacer.hold(&chat.key(), wait).await;
                }
                Err(ApiError::Migrated(new_id))
                    if budget.follow_migration && migrations < MAX_MIGRATIONS =>
                {
                    migrations += 1;
                    self.metrics.message_retried("migrated");
                    record.migrated(new_id).await;
                    record.not_sent("migrated").await;
                    *chat = ChatRef::Id(new_id);
                }
                Err(
                    e @ (ApiError::Server(..) | ApiError::Unreachable(_) | ApiError::Ambiguous(_)),
                ) if transient > 0 => {
                    // Surely not sent, or (a timeout) perhaps sent: either way it is
                    // sent again; at-least-once.
                    transient -= 1;
                    *retries += 1;
                    self.metrics.message_retried(reason(&e));
                    let text = e.to_string();
                    tracing::warn!("sending to {chat}: {text}; retrying in {backoff:?}");
                    record.not_sent(&text).await;
                    if self
                        .unless_stopped(tokio::time::sleep(backoff))
                        .await
                        .is_none()
                    {
                        break SendOutcome::Stopped;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => break SendOutcome::Failed(e),
            }
        };
        match &outcome {
            SendOutcome::Sent(_) => self.metrics.message_sent(),
            SendOutcome::Failed(e) => self.metrics.message_failed(reason(e)),
            SendOutcome::Stopped => self.metrics.message_failed("stopped"),
            SendOutcome::NotRecorded => self.metrics.message_failed("not_recorded"),
            SendOutcome::AlreadySent => {}
        }
        outcome
    }

    /// Sends the parts of one run that are not sent yet, in order. Stops between parts
    /// (never mid-request) when the process is asked to stop.
    async fn deliver(&self, key: &PublicationKey, target: &Target) -> TargetReport {
        let mut report = TargetReport {
            chat: target.chat_key(),
            thread_id: key.thread_id,
            ..TargetReport::default()
        };
        let what = format!("the post of {} to {}", key.brief_date, key.chat);
        // Read again after the rich parts were replaced by their text edition.
        'parts: loop {
            let parts = {
                let key = key.clone();
                match self
                    .core
                    .db
                    .run(move |store| store.outbox_parts(&key))
                    .await
                {
                    Ok(parts) => parts,
                    Err(e) => {
                        report.error = Some(e.to_string());
                        return report;
                    }
                }
            };
            // The cover photo (part 0) goes first and on its own path: it never holds up
            // the parts, and a rich fallback never replaces it.
            let (covers, parts): (Vec<OutboxPart>, Vec<OutboxPart>) = parts
                .into_iter()
                .partition(|p| matches!(p.kind, PartKind::Cover { .. }));
            report.parts = parts.len();
            report.already_sent = parts.iter().filter(|p| p.state == PartState::Sent).count();
            let fallback: Vec<(i64, Vec<OutgoingMessage>)> = parts
                .iter()
                .filter(|p| p.state != PartState::Sent)
                .map(|p| match &p.message {
                    PartBody::Text(m) => (p.part, vec![m.clone()]),
                    PartBody::Rich(_) => (p.part, p.fallback.clone()),
                })
                .collect();
            let mut chat = self.chat_for(target).await;
            let options = options_for(target);
            let budget = RetryBudget {
                rate_limits: MAX_RATE_LIMITS_PER_PART,
                max_wait: MAX_RETRY_AFTER,
                transient: self.telegram.max_retries,
                follow_migration: true,
            };
            if let Some(cover) = covers.into_iter().next() {
                let text_started = report.already_sent > 0;
                let stop = self
                    .deliver_cover(
                        key,
                        target,
                        &mut chat,
                        cover,
                        text_started,
                        &what,
                        &mut report,
                    )
                    .await;
                if let Some((state, error)) = stop {
                    self.finish(key, state, &report, Some(error.clone()), &what)
                        .await;
                    report.error = Some(error);
                    return report;
                }
            }
            // A first part sent by an earlier run (or pass) that stopped before pinning it.
            if report.pin.is_none()
                && let Some(first) = parts.first()
                && first.state == PartState::Sent
                && let Some(id) = first.message_id
            {
                self.pin_brief(key, target, &chat, id, &mut report).await;
            }
            let first_part = parts.first().map(|p| p.part);
            for part in parts.into_iter().filter(|p| p.state != PartState::Sent) {
                let mut record = PartRecord {
                    publisher: self,
                    key,
                    part: part.part,
                    target,
                    what: &what,
                };
                let outcome = self
                    .send_paced(
                        &mut chat,
                        &part.message,
                        &options,
                        budget,
                        &mut record,
                        &mut report.retries,
                    )
                    .await;
                // A rich part with the cover photo as a block, and the same without it.
                let without_photo = match &part.message {
                    PartBody::Rich(m) if !m.media.is_empty() => {
                        Some(PartBody::Rich(m.without_media()))
                    }
                    _ => None,
                };
                if without_photo.is_some() && matches!(outcome, SendOutcome::Sent(_)) {
                    report.cover = Some(CoverReport::Sent);
                }
                let (state, error) = match outcome {
                    SendOutcome::AlreadySent => {
                        report.already_sent += 1;
                        continue;
                    }
                    SendOutcome::Sent(message_id) => {
                        let record_key = key.clone();
                        let number = part.part;
                        let recorded = self
                            .with_retries(&what, move |store| {
                                store.set_part_state(
                                    &record_key,
                                    number,
                                    PartState::Sent,
                                    Some(message_id),
                                    None,
                                )
                            })
                            .await;
                        if recorded.is_some() {
                            report.sent += 1;
                            if Some(number) == first_part {
                                self.pin_brief(key, target, &chat, message_id, &mut report)
                                    .await;
                            }
                            continue;
                        }
                        // Sent, but not recorded: stop, so that at most this one part is
                        // sent again after a restart.
                        report.sent += 1;
                        (
                            PublicationState::Failed,
                            "a sent part could not be recorded; stopped".to_string(),
                        )
                    }
                    SendOutcome::Stopped => (
                        // Not sent now; it stays pending for the next start.
                        PublicationState::Pending,
                        "stopped before finishing; the rest is sent on the next start".to_string(),
                    ),
                    SendOutcome::NotRecorded => (
                        PublicationState::Failed,
                        "the delivery record could not be written; stopped to avoid double posts"
                            .to_string(),
                    ),
                    // The photo block may be what was refused (a cover URL Telegram
                    // cannot fetch): the same part without it is tried once, before the
                    // whole post falls back to text.
                    SendOutcome::Failed(e) if e.refuses_content() && without_photo.is_some() => {
                        tracing::warn!(
                            "part {} of {what}: {e}; sending it again without the cover photo",
                            part.part
                        );
                        report.cover = Some(CoverReport::Failed(e.to_string()));
                        let without = without_photo.unwrap_or_else(|| part.message.clone());
                        let (key_for_store, number, note) = (key.clone(), part.part, e.to_string());
                        if self
                            .with_retries(&what, move |store| {
                                store.drop_rich_cover(&key_for_store, number, &without, &note)
                            })
                            .await
                            .is_some()
                        {
                            continue 'parts;
                        }
                        (
                            PublicationState::Failed,
                            "the part without its photo could not be recorded; stopped".to_string(),
                        )
                    }
                    SendOutcome::Failed(e)
                        if e.refuses_rich() && matches!(part.message, PartBody::Rich(_)) =>
                    {
                        if self
                            .fall_back_to_text(key, target, part.part, &fallback, &e, &what)
                            .await
                        {
                            report.already_sent = 0;
                            continue 'parts;
                        }
                        (
                            PublicationState::Failed,
                            "the text edition could not be recorded; stopped".to_string(),
                        )
                    }
                    SendOutcome::Failed(e) => {
                        let text = if e.is_chat_not_found() {
                            format!(
                                "{}: chat not found; check telegram.targets and that the bot is a member",
                                target.chat
                            )
                        } else {
                            format!("{}: {e}", target.chat)
                        };
                        tracing::error!("part {} of {what}: {text}", part.part);
                        report.failures += 1;
                        let (key, number, note) = (key.clone(), part.part, text.clone());
                        self.with_retries(&what, move |store| {
                            store.set_part_state(&key, number, PartState::Failed, None, Some(&note))
                        })
                        .await;
                        (PublicationState::Failed, text)
                    }
                };
                self.finish(key, state, &report, Some(error.clone()), &what)
                    .await;
                report.error = Some(error);
                return report;
            }
            break;
        }
        self.finish(key, PublicationState::Done, &report, None, &what)
            .await;
        report
    }

    /// The Bot API refused a rich part (an older server without `sendRichMessage`, or a
    /// 400 on its content): the parts not yet sent, from `from_part` on, are replaced in
    /// the outbox by their text edition (numbered when more than one), and admins are
    /// told, once for this post. False when the record could not be written.
    async fn fall_back_to_text(
        &self,
        key: &PublicationKey,
        target: &Target,
        from_part: i64,
        remaining: &[(i64, Vec<OutgoingMessage>)],
        refusal: &ApiError,
        what: &str,
    ) -> bool {
        let mut texts: Vec<OutgoingMessage> = remaining
            .iter()
            .filter(|(part, _)| *part >= from_part)
            .flat_map(|(_, texts)| texts.iter().cloned())
            .collect();
        let total = texts.len();
        if total > 1 {
            for (i, text) in texts.iter_mut().enumerate() {
                // At the end, so the entities' offsets stay as they are.
                text.text.push_str(&format!("\n\n({}/{total})", i + 1));
            }
        }
        tracing::warn!(
            "{}: the Bot API refused a rich message ({refusal}); sending the text edition",
            target.chat
        );
        let key_for_store = key.clone();
        let recorded = self
            .with_retries(what, move |store| {
                store.replace_with_text(&key_for_store, from_part, &texts)
            })
            .await
            .is_some();
        self.tell_admins(&format!(
            "⚠️ {} 的 {} 简报：Bot API 拒绝了富文本消息（{refusal}），余下 {total} 条改发文本版。",
            target.chat, key.brief_date
        ))
        .await;
        recorded
    }

    /// Sends the cover photo (part 0) before the text parts. A cover Telegram refuses, or
    /// one given up on, is recorded as failed and the text parts go on; `Some` only when
    /// the whole post must stop here (stopping, or a record that cannot be written), with
    /// the run's state and why. A cover never goes out after a text part.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_cover(
        &self,
        key: &PublicationKey,
        target: &Target,
        chat: &mut ChatRef,
        cover: OutboxPart,
        text_started: bool,
        what: &str,
        report: &mut TargetReport,
    ) -> Option<(PublicationState, String)> {
        let PartKind::Cover { url } = &cover.kind else {
            return None;
        };
        match cover.state {
            PartState::Sent => {
                report.cover = Some(CoverReport::Sent);
                return None;
            }
            PartState::Failed => {
                report.cover = Some(CoverReport::Failed(
                    cover.last_error.clone().unwrap_or_default(),
                ));
                return None;
            }
            // Shown by the first rich part; said when that part goes out.
            PartState::InRich => {
                if text_started {
                    report.cover = Some(CoverReport::Sent);
                }
                return None;
            }
            PartState::Pending | PartState::Sending if text_started => {
                report.cover = Some(CoverReport::Skipped);
                return None;
            }
            PartState::Pending | PartState::Sending => {}
        }
        let options = SendOptions {
            photo: Some(url.clone()),
            ..options_for(target)
        };
        let budget = RetryBudget {
            rate_limits: MAX_RATE_LIMITS_PER_PART,
            max_wait: MAX_RETRY_AFTER,
            transient: self.telegram.max_retries,
            follow_migration: true,
        };
        let mut record = PartRecord {
            publisher: self,
            key,
            part: COVER_PART,
            target,
            what,
        };
        let outcome = self
            .send_paced(
                chat,
                &cover.message,
                &options,
                budget,
                &mut record,
                &mut report.retries,
            )
            .await;
        let (state, message_id, note) = match outcome {
            SendOutcome::AlreadySent => {
                report.cover = Some(CoverReport::Sent);
                return None;
            }
            SendOutcome::Sent(id) => (PartState::Sent, Some(id), None),
            SendOutcome::Failed(e) => {
                let text = e.to_string();
                tracing::warn!("the cover photo of {what}: {text}; sending the text without it");
                (PartState::Failed, None, Some(text))
            }
            SendOutcome::Stopped => {
                return Some((
                    PublicationState::Pending,
                    "stopped before finishing; the rest is sent on the next start".to_string(),
                ));
            }
            SendOutcome::NotRecorded => {
                return Some((
                    PublicationState::Failed,
                    "the delivery record could not be written; stopped to avoid double posts"
                        .to_string(),
                ));
            }
        };
        let (record_key, record_note) = (key.clone(), note.clone());
        let recorded = self
            .with_retries(what, move |store| {
                store.set_part_state(
                    &record_key,
                    COVER_PART,
                    state,
                    message_id,
                    record_note.as_deref(),
                )
            })
            .await;
        report.cover = Some(match note {
            Some(text) => CoverReport::Failed(text),
            None => CoverReport::Sent,
        });
        if recorded.is_none() {
            return Some((
                PublicationState::Failed,
                "a sent part could not be recorded; stopped".to_string(),
            ));
        }
        None
    }

    /// Pins the day's first part silently and unpins the briefs pinned before it, when the
    /// target asks for it. Never fails the post: a refusal (no `can_pin_messages`, any
    /// other error) is logged, and admins are told in the summary once per chat.
    async fn pin_brief(
        &self,
        key: &PublicationKey,
        target: &Target,
        chat: &ChatRef,
        message_id: i64,
        report: &mut TargetReport,
    ) {
        if !target.pin || message_id == 0 {
            return;
        }
        let (chat_key, thread, date) = (key.chat.clone(), key.thread_id, key.brief_date);
        let what = format!("the pin of {date} in {chat_key}");
        let pinned = {
            let chat_key = chat_key.clone();
            self.core
                .db
                .run(move |store| store.pinned_brief(&chat_key, thread, date))
                .await
        };
        let outcome = match pinned {
            Ok(Some(id)) if id == message_id => Ok(0),
            Ok(_) => {
                self.pin_and_unpin(chat, &chat_key, thread, date, message_id)
                    .await
            }
            Err(e) => Err(e.to_string()),
        };
        report.pin = Some(match outcome {
            Ok(unpinned) => {
                let chat_key = chat_key.clone();
                self.with_retries(&what, move |store| store.clear_pin_problem(&chat_key))
                    .await;
                PinReport::Pinned { unpinned }
            }
            Err(error) => {
                tracing::warn!("{what}: {error}; the post goes on");
                let (chat_key, note) = (chat_key.clone(), error.clone());
                let told = self
                    .with_retries(&what, move |store| store.note_pin_problem(&chat_key, &note))
                    .await
                    .unwrap_or(false);
                PinReport::Failed { error, told }
            }
        });
    }

    /// pinChatMessage, then unpinChatMessage for each brief pinned before; how many were
    /// unpinned, or the first error.
    async fn pin_and_unpin(
        &self,
        chat: &ChatRef,
        chat_key: &str,
        thread: i64,
        date: NaiveDate,
        message_id: i64,
    ) -> Result<usize, String> {
        self.unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
            .await
            .ok_or_else(|| ApiError::Stopped.to_string())?;
        let pinned = self.api.pin_chat_message(chat, message_id, true).await;
        observe(&self.metrics, &pinned);
        pinned.map_err(|e| e.to_string())?;
        let what = format!("the pin of {date} in {chat_key}");
        let key = chat_key.to_string();
        self.with_retries(&what, move |store| {
            store.record_pin(&key, thread, date, message_id)
        })
        .await;
        let key = chat_key.to_string();
        let stale = self
            .core
            .db
            .run(move |store| store.stale_pins(&key, thread, message_id))
            .await
            .map_err(|e| e.to_string())?;
        let mut unpinned = 0;
        for old in stale {
            self.unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
                .await
                .ok_or_else(|| ApiError::Stopped.to_string())?;
            let outcome = self.api.unpin_chat_message(chat, old.message_id).await;
            observe(&self.metrics, &outcome);
            match outcome {
                Ok(()) => {}
                // Unpinned by hand or deleted meanwhile: nothing left to unpin.
                Err(ApiError::BadRequest(d)) if d.to_ascii_lowercase().contains("not found") => {}
                Err(e) => {
                    return Err(format!(
                        "unpinning the brief of {} (message {}): {e}",
                        old.brief_date, old.message_id
                    ));
                }
            }
            let key = chat_key.to_string();
            self.with_retries(&what, move |store| {
                store.record_unpin(&key, thread, old.message_id)
            })
            .await;
            unpinned += 1;
        }
        Ok(unpinned)
    }

    async fn finish(
        &self,
        key: &PublicationKey,
        state: PublicationState,
        report: &TargetReport,
        error: Option<String>,
        what: &str,
    ) {
        let key = key.clone();
        let (retries, failures) = (i64::from(report.retries), i64::from(report.failures));
        self.with_retries(what, move |store| {
            store.finish_publication(&key, state, retries, failures, error.as_deref())
        })
        .await;
    }

    /// Sends each active subscriber one message listing the day's items in their topics.
    pub async fn send_digests(&self, date: NaiveDate) -> DigestReport {
        let mut report = DigestReport::default();
        let work = self
            .core
            .blocking(move |core| -> Result<_, AppError> {
                let pending: Vec<_> = core.db.with(|store| {
                    let mut pending = Vec::new();
                    for s in store.active_subscribers()? {
                        if store.digest_state(date, s.user_id)? != Some(DigestState::Sent) {
                            pending.push(s);
                        }
                    }
                    Ok(pending)
                })?;
                let mut work = Vec::new();
                let mut skipped = 0;
                for (s, message) in core.digests(date, &pending)? {
                    match message {
                        Some(message) => work.push((s.user_id, s.chat_id, message)),
                        None => skipped += 1,
                    }
                }
                Ok((work, skipped))
            })
            .await;
        let work = match work {
            Ok((work, skipped)) => {
                report.skipped = skipped;
                work
            }
            Err(e) => {
                tracing::error!("preparing digests of {date}: {e}");
                return report;
            }
        };
        // Several sends in flight, so one slow or unreachable subscriber never holds up
        // the others; the pacer keeps the total within Telegram's overall rate.
        let concurrency = self.telegram.global_per_second.max(1) as usize;
        let outcomes =
            futures_util::StreamExt::collect::<Vec<_>>(futures_util::StreamExt::buffer_unordered(
                futures_util::stream::iter(work.into_iter().map(|(user_id, chat_id, message)| {
                    self.digest_one(date, user_id, chat_id, message)
                })),
                concurrency,
            ))
            .await;
        for outcome in outcomes {
            match outcome {
                DigestOutcome::Sent => report.sent += 1,
                DigestOutcome::Failed => report.failed += 1,
                DigestOutcome::Deactivated => {
                    report.failed += 1;
                    report.deactivated += 1;
                }
                DigestOutcome::Stopped => {}
            }
        }
        report
    }

    async fn digest_one(
        &self,
        date: NaiveDate,
        user_id: i64,
        chat_id: i64,
        message: OutgoingMessage,
    ) -> DigestOutcome {
        let mut chat = ChatRef::Id(chat_id);
        let outcome = self
            .send_paced(
                &mut chat,
                &PartBody::Text(message),
                &SendOptions::default(),
                RetryBudget::reply(5),
                &mut NoRecord,
                &mut 0,
            )
            .await;
        let (state, message_id, error, result) = match outcome {
            // Not sent, nothing recorded: the next start sends it.
            SendOutcome::Stopped | SendOutcome::NotRecorded | SendOutcome::AlreadySent => {
                return DigestOutcome::Stopped;
            }
            SendOutcome::Sent(id) => (DigestState::Sent, Some(id), None, DigestOutcome::Sent),
            SendOutcome::Failed(ApiError::Forbidden(reason)) => (
                DigestState::Failed,
                None,
                Some(reason),
                DigestOutcome::Deactivated,
            ),
            SendOutcome::Failed(e) => (
                DigestState::Failed,
                None,
                Some(e.to_string()),
                DigestOutcome::Failed,
            ),
        };
        let deactivate = matches!(result, DigestOutcome::Deactivated);
        let recorded = self
            .with_retries("a digest", move |store| {
                if deactivate {
                    store.deactivate_subscriber(user_id, error.as_deref().unwrap_or(""))?;
                }
                store.set_digest_state(date, user_id, state, message_id, error.as_deref())
            })
            .await;
        match recorded {
            Some(()) => result,
            None => DigestOutcome::Failed,
        }
    }

    /// Sends a private message to every configured admin; errors are logged, never raised.
    /// A notice is retried after a 5xx or no connection, a few times: it may be the only
    /// word an admin gets of a failure.
    pub async fn tell_admins(&self, text: &str) {
        let message = PartBody::Text(OutgoingMessage::plain(text));
        let budget = RetryBudget {
            transient: 2,
            ..RetryBudget::reply(3)
        };
        for admin in &self.telegram.admins {
            let mut chat = ChatRef::Id(*admin);
            let outcome = self
                .send_paced(
                    &mut chat,
                    &message,
                    &SendOptions::default(),
                    budget,
                    &mut NoRecord,
                    &mut 0,
                )
                .await;
            if let SendOutcome::Failed(e) = outcome {
                tracing::warn!("telling admin {admin}: {e}");
            }
        }
    }

    /// Sends a reply, paced; a 429 is waited out a few times before giving up.
    pub async fn reply(
        &self,
        chat: &ChatRef,
        message: &OutgoingMessage,
        options: SendOptions,
    ) -> Result<i64, ApiError> {
        self.reply_part(chat, &PartBody::Text(message.clone()), options)
            .await
    }

    /// Sends a reply of either edition (a private `/brief` may be rich), paced like
    /// [`Publisher::reply`].
    pub async fn reply_part(
        &self,
        chat: &ChatRef,
        message: &PartBody,
        options: SendOptions,
    ) -> Result<i64, ApiError> {
        let mut chat = chat.clone();
        match self
            .send_paced(
                &mut chat,
                message,
                &options,
                RetryBudget::reply(3),
                &mut NoRecord,
                &mut 0,
            )
            .await
        {
            SendOutcome::Sent(id) => Ok(id),
            SendOutcome::Failed(e) => Err(e),
            SendOutcome::Stopped | SendOutcome::NotRecorded | SendOutcome::AlreadySent => {
                Err(ApiError::Stopped)
            }
        }
    }

    /// Replaces a message (topic paging), paced like a send: edits count against the same
    /// limits, and teloxide's Throttle would not pace them.
    pub async fn edit(
        &self,
        chat: &ChatRef,
        message_id: i64,
        message: &OutgoingMessage,
        markup: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        self.paced_edit(
            chat,
            self.api.edit_message(chat, message_id, message, markup),
        )
        .await
    }

    /// Waits for the pacer of `chat`, then makes the edit `call`. An edit is not a message
    /// sent; it only tells whether Telegram answers.
    async fn paced_edit(
        &self,
        chat: &ChatRef,
        call: impl std::future::Future<Output = Result<(), ApiError>>,
    ) -> Result<(), ApiError> {
        self.unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
            .await
            .ok_or(ApiError::Stopped)?;
        let outcome = call.await;
        observe(&self.metrics, &outcome);
        outcome
    }

    /// Replaces an ephemeral message (topic paging seen by one member), paced like an edit.
    pub async fn edit_ephemeral(
        &self,
        message: &botapi::EphemeralRef,
        text: &OutgoingMessage,
        markup: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let chat = ChatRef::Id(message.chat_id);
        self.paced_edit(
            &chat,
            self.api.edit_ephemeral_message(message, text, markup),
        )
        .await
    }
}

/// Finds or records the run to deliver for each target (blocking: it composes and
/// renders the day, and writes the outbox).
fn prepare(
    core: &Core,
    targets: &[Target],
    date: NaiveDate,
    trigger: &str,
    force: bool,
) -> Result<Vec<(PublicationKey, Target, Option<String>)>, PublishError> {
    let mut conn = core.db.get()?;
    let mut messages: Option<Vec<OutgoingMessage>> = None;
    let mut rich: Option<Vec<NewPart>> = None;
    // The day's cover, found with the first brief composed (both editions share it).
    let mut cover: Option<Option<Cover>> = None;
    let mut keys = Vec::new();
    for target in targets {
        let chat = target.chat_key();
        let thread = target.thread();
        let latest = conn.latest_publication(date, &chat, thread)?;
        let run = match latest {
            // A run that stopped or failed part-way goes on from its first unsent part,
            // with the texts recorded when it started.
            Some(p) if p.state != PublicationState::Done && !force => {
                keys.push((p.key, target.clone(), None));
                continue;
            }
            Some(p) if p.state == PublicationState::Done && !force => continue,
            Some(p) => p.key.run + 1,
            None => 1,
        };
        let mut rich_refused = None;
        let rich_parts = match (target.edition, &rich) {
            (Edition::Text, _) => None,
            (Edition::Rich, Some(parts)) => Some(parts.clone()),
            (Edition::Rich, None) => match core.brief_rich(date) {
                Ok((brief, parts)) => {
                    if cover.is_none() {
                        cover = Some(cover_of(core, &brief)?);
                    }
                    let parts: Vec<NewPart> = parts
                        .into_iter()
                        .map(|p| NewPart {
                            body: PartBody::Rich(p.message),
                            fallback: p.fallback,
                        })
                        .collect();
                    rich = Some(parts.clone());
                    Some(parts)
                }
                // Our own checker refused the rich edition: this target gets the text,
                // and the admins' summary says why.
                Err(e) => {
                    tracing::warn!(
                        "{}: the rich edition of {date}: {e}; posting the text edition",
                        target.chat
                    );
                    rich_refused = Some(e.to_string());
                    None
                }
            },
        };
        let parts = match rich_parts {
            Some(parts) => parts,
            None => match &messages {
                Some(m) => m.iter().cloned().map(NewPart::text).collect(),
                None => {
                    let (brief, m) = core.brief_messages(date)?;
                    if cover.is_none() {
                        cover = Some(cover_of(core, &brief)?);
                    }
                    messages = Some(m.clone());
                    m.into_iter().map(NewPart::text).collect()
                }
            },
        };
        // The post opens with the cover photo as part 0; in a rich post, part 0 is
        // recorded as shown by the first rich part (see `PartState::InRich`).
        let day_cover = match &cover {
            Some(known) => known.clone(),
            None => {
                let brief = core.compose(date)?;
                let known = cover_of(core, &brief)?;
                cover = Some(known.clone());
                known
            }
        };
        let key = PublicationKey {
            brief_date: date,
            chat,
            thread_id: thread,
            run,
        };
        conn.start_publication_with_cover(
            &key,
            trigger,
            &parts,
            day_cover
                .as_ref()
                .map(|(url, caption)| (url.as_str(), caption)),
        )?;
        keys.push((key, target.clone(), rich_refused));
    }
    Ok(keys)
}

/// A cover photo's URL and its caption.
type Cover = (String, OutgoingMessage);

/// The cover photo that opens a text post (part 0): the URL [`Core::cover_url`] gives,
/// with its caption.
fn cover_of(core: &Core, brief: &crate::compose::Brief) -> Result<Option<Cover>, PublishError> {
    let Some(url) = core.cover_url(brief) else {
        return Ok(None);
    };
    let caption = core.renderer.cover_caption(brief).map_err(AppError::from)?;
    Ok(Some((url, caption)))
}

/// An inline keyboard with one "更多" button carrying `data`.
pub fn more_button(data: &str) -> serde_json::Value {
    json!({ "inline_keyboard": [[{ "text": "更多 ▸", "callback_data": data }]] })
}
