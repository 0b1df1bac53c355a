//! Publish: the brief, digests and replies delivered to Telegram, once.
//!
//! Every part of a post is recorded in the outbox before it is sent and marked with its
//! message id after, so a restart resumes from the first part not sent and never repeats
//! one that was confirmed. Only failures where Telegram surely did not take the message
//! (429, 5xx, no connection) are retried automatically. A timeout after the request went
//! out is ambiguous; we resend it (at-least-once), since a missing part is worse than a
//! rare repeated one.
//!
//! Scheduled runs, catch-up and `/post` all go through [`Publisher::publish`], which holds
//! one lock and checks the same "already posted" record.

pub mod botapi;
pub mod pacer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;
use tokio::sync::watch;

use crate::app::{App, AppError};
use crate::config::{TargetConfig, TelegramConfig};
use crate::metrics::Metrics;
use crate::render::text::OutgoingMessage;
use crate::store::StoreError;
use crate::store::delivery::{PartState, PublicationKey, PublicationState};
use botapi::{ApiError, BotApi, ChatRef, SendOptions};
use pacer::{PaceLimits, Pacer};

/// The application shared between the bot's tasks. Locked only for short, synchronous
/// work (a query, a render), never across an await.
pub type SharedApp = Arc<Mutex<App>>;

/// Runs `f` with the app locked; a poisoned lock (a panic elsewhere) is recovered, since
/// the store itself stays consistent through its transactions.
pub fn with_app<T>(app: &SharedApp, f: impl FnOnce(&mut App) -> T) -> T {
    let mut guard = match app.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut guard)
}

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
/// The error of a run stopped because the process is stopping; it stays pending.
const STOPPED: &str = "stopped before finishing; the rest is sent on the next start";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the brief of {0} is already posted; use force to post it again")]
    AlreadyPosted(NaiveDate),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("config: telegram.targets[{0}].chat is not a chat id or @username")]
    BadTarget(usize),
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
        }
        let d = &self.digests;
        lines.push(format!(
            "订阅摘要：发送 {}，无相关内容 {}，失败 {}，停用 {}",
            d.sent, d.skipped, d.failed, d.deactivated
        ));
        lines.join("\n")
    }
}

/// Delivers posts and replies.
pub struct Publisher {
    app: SharedApp,
    api: BotApi,
    pacer: Arc<Pacer>,
    telegram: TelegramConfig,
    publish_lock: tokio::sync::Mutex<()>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
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

/// Counts a send that is given up on (or, `Ok`, confirmed).
fn count_final<T>(metrics: &Metrics, outcome: &Result<T, ApiError>) {
    match outcome {
        Ok(_) => metrics.message_sent(),
        Err(e) => metrics.message_failed(reason(e)),
    }
}

fn options_for(target: &TargetConfig) -> SendOptions {
    SendOptions {
        thread_id: target.thread_id,
        disable_notification: target.disable_notification,
        link_preview: target.link_preview,
        reply_markup: None,
    }
}

impl Publisher {
    pub fn new(
        app: SharedApp,
        api: BotApi,
        telegram: TelegramConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Publisher {
        let pacer = Arc::new(Pacer::new(PaceLimits {
            group_interval: Duration::from_millis(telegram.group_interval_ms),
            private_interval: Duration::from_millis(telegram.private_interval_ms),
            global_per_second: telegram.global_per_second.max(1),
        }));
        let metrics = with_app(&app, |a| a.metrics.clone());
        Publisher {
            app,
            api,
            pacer,
            telegram,
            publish_lock: tokio::sync::Mutex::new(()),
            shutdown,
            metrics,
        }
    }

    /// The counters `/metrics` shows (the app's, shared).
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

    pub fn app(&self) -> &SharedApp {
        &self.app
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Whether every target has a finished post of `date`.
    pub fn is_posted(&self, date: NaiveDate) -> Result<bool, StoreError> {
        with_app(&self.app, |app| {
            for target in &self.telegram.targets {
                let thread = target.thread_id.unwrap_or(0);
                match app.store.latest_publication(date, &target.chat, thread)? {
                    Some(p) if p.state == PublicationState::Done => {}
                    _ => return Ok(false),
                }
            }
            Ok(!self.telegram.targets.is_empty())
        })
    }

    /// Posts the brief of `date` to every target, then sends subscribers their digests
    /// and admins a summary. A day already posted is refused unless `force`; a day left
    /// half-posted is resumed where it stopped.
    pub async fn publish(
        &self,
        date: NaiveDate,
        trigger: Trigger,
        force: bool,
    ) -> Result<PublishReport, PublishError> {
        let _one_at_a_time = self.publish_lock.lock().await;
        if !force && self.is_posted(date)? {
            return Err(PublishError::AlreadyPosted(date));
        }
        let keys = self.prepare(date, &trigger, force)?;
        let mut targets = Vec::new();
        for (key, target) in keys {
            targets.push(self.deliver(&key, &target).await);
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

    /// Finds or records the run to deliver for each target.
    fn prepare(
        &self,
        date: NaiveDate,
        trigger: &Trigger,
        force: bool,
    ) -> Result<Vec<(PublicationKey, TargetConfig)>, PublishError> {
        with_app(&self.app, |app| {
            let mut messages: Option<Vec<OutgoingMessage>> = None;
            let mut keys = Vec::new();
            for (index, target) in self.telegram.targets.iter().enumerate() {
                if ChatRef::parse(&target.chat).is_none() {
                    return Err(PublishError::BadTarget(index));
                }
                let thread = target.thread_id.unwrap_or(0);
                let latest = app.store.latest_publication(date, &target.chat, thread)?;
                let run = match latest {
                    // A run that stopped or failed part-way goes on from its first unsent
                    // part, with the texts recorded when it started.
                    Some(p) if p.state != PublicationState::Done && !force => {
                        keys.push((p.key, target.clone()));
                        continue;
                    }
                    Some(p) if p.state == PublicationState::Done && !force => continue,
                    Some(p) => p.key.run + 1,
                    None => 1,
                };
                let parts = match &messages {
                    Some(m) => m.clone(),
                    None => {
                        let (_, m) = app.brief_messages(date)?;
                        messages = Some(m.clone());
                        m
                    }
                };
                let key = PublicationKey {
                    brief_date: date,
                    chat: target.chat.clone(),
                    thread_id: thread,
                    run,
                };
                app.store
                    .start_publication(&key, &trigger.label(), &parts)?;
                keys.push((key, target.clone()));
            }
            Ok(keys)
        })
    }

    /// At start: posts a previous process left unfinished (pending, or failed on an
    /// error that may have cleared) are finished, if they are of `today` or the day before;
    /// older ones are left alone rather than posted late into the group. Then digests a
    /// stop or crash left unsent for those days go out.
    pub async fn resume_unfinished(&self, today: NaiveDate) -> Vec<PublishReport> {
        let oldest = today.pred_opt().unwrap_or(today);
        let unfinished =
            with_app(&self.app, |app| app.store.unfinished_publications()).unwrap_or_default();
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
            if !self.stopping() && self.is_posted(date).unwrap_or(false) {
                self.send_digests(date).await;
            }
        }
        reports
    }

    fn chat_for(&self, target: &TargetConfig) -> Option<ChatRef> {
        let migrated = with_app(&self.app, |app| app.store.migrated_chat(&target.chat))
            .ok()
            .flatten();
        migrated
            .map(ChatRef::Id)
            .or_else(|| ChatRef::parse(&target.chat))
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

    /// Writes a delivery record, retrying briefly (the database may be busy with an
    /// ingest). `false` when it could not be written: the caller must not go on as if it
    /// had been, or a restart would resend what was confirmed.
    async fn record(&self, what: &str, f: impl Fn(&App) -> Result<(), StoreError>) -> bool {
        for attempt in 1..=RECORD_ATTEMPTS {
            match with_app(&self.app, |app| f(app)) {
                Ok(()) => return true,
                Err(e) if attempt == RECORD_ATTEMPTS => {
                    tracing::error!("recording {what}: {e}");
                }
                Err(e) => {
                    tracing::warn!("recording {what} (attempt {attempt}): {e}");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        false
    }

    /// Sends the parts of one run that are not sent yet, in order. Stops between parts
    /// (never mid-request) when the process is asked to stop.
    async fn deliver(&self, key: &PublicationKey, target: &TargetConfig) -> TargetReport {
        let mut report = TargetReport {
            chat: target.chat.clone(),
            thread_id: key.thread_id,
            ..TargetReport::default()
        };
        let parts = match with_app(&self.app, |app| app.store.outbox_parts(key)) {
            Ok(parts) => parts,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        report.parts = parts.len();
        report.already_sent = parts.iter().filter(|p| p.state == PartState::Sent).count();
        let Some(mut chat) = self.chat_for(target) else {
            report.error = Some(format!("{} is not a chat id or @username", target.chat));
            return report;
        };
        let options = options_for(target);
        let what = format!("the post of {} to {}", key.brief_date, key.chat);
        let what = what.as_str();
        for part in parts.into_iter().filter(|p| p.state != PartState::Sent) {
            let mut failures_left = self.telegram.max_retries;
            let mut rate_limits = 0;
            let mut migrations = 0;
            let mut backoff = Duration::from_secs(1);
            let failure = loop {
                if self
                    .unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
                    .await
                    .is_none()
                {
                    break Some(STOPPED.to_string());
                }
                if !self
                    .record(what, |app| {
                        app.store
                            .set_part_state(key, part.part, PartState::Sending, None, None)
                    })
                    .await
                {
                    break Some(
                        "the delivery record could not be written; stopped to avoid double posts"
                            .to_string(),
                    );
                }
                let requeue = |note: String| async move {
                    self.record(what, |app| {
                        app.store.set_part_state(
                            key,
                            part.part,
                            PartState::Pending,
                            None,
                            Some(&note),
                        )
                    })
                    .await
                };
                let outcome = self.api.send_message(&chat, &part.message, &options).await;
                observe(&self.metrics, &outcome);
                match outcome {
                    Ok(message_id) => {
                        self.metrics.message_sent();
                        // Sent: if even this cannot be recorded, stop, so that at most
                        // this one part is sent again after a restart.
                        if !self
                            .record(what, |app| {
                                app.store.set_part_state(
                                    key,
                                    part.part,
                                    PartState::Sent,
                                    Some(message_id),
                                    None,
                                )
                            })
                            .await
                        {
                            break Some("a sent part could not be recorded; stopped".to_string());
                        }
                        report.sent += 1;
                        break None;
                    }
                    Err(ApiError::RetryAfter(wait))
                        if wait <= MAX_RETRY_AFTER && rate_limits < MAX_RATE_LIMITS_PER_PART =>
                    {
                        // Not sent: wait as told (in the pacer), not counted as a failure.
                        rate_limits += 1;
                        report.retries += 1;
                        self.metrics.message_retried("429");
                        requeue("429".to_string()).await;
                        self.pacer.hold(&chat.key(), wait);
                    }
                    Err(ApiError::Migrated(new_id)) if migrations < MAX_MIGRATIONS => {
                        migrations += 1;
                        self.metrics.message_retried("migrated");
                        tracing::warn!("{} became supergroup {new_id}; sending there", target.chat);
                        self.record(what, |app| {
                            app.store.set_migrated_chat(&target.chat, new_id)
                        })
                        .await;
                        requeue("migrated".to_string()).await;
                        chat = ChatRef::Id(new_id);
                    }
                    Err(
                        e @ (ApiError::Server(..)
                        | ApiError::Unreachable(_)
                        | ApiError::Ambiguous(_)),
                    ) if failures_left > 0 => {
                        // Surely not sent, or (a timeout) perhaps sent: either way it is
                        // sent again; at-least-once.
                        failures_left -= 1;
                        report.retries += 1;
                        self.metrics.message_retried(reason(&e));
                        let text = e.to_string();
                        tracing::warn!(
                            "part {} of {what}: {text}; retrying in {backoff:?}",
                            part.part
                        );
                        requeue(text).await;
                        if self
                            .unless_stopped(tokio::time::sleep(backoff))
                            .await
                            .is_none()
                        {
                            break Some(STOPPED.to_string());
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(e) => {
                        self.metrics.message_failed(reason(&e));
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
                        self.record(what, |app| {
                            app.store.set_part_state(
                                key,
                                part.part,
                                PartState::Failed,
                                None,
                                Some(&text),
                            )
                        })
                        .await;
                        break Some(text);
                    }
                }
            };
            if let Some(error) = failure {
                if error == STOPPED {
                    // Not sent now; it stays pending for the next start.
                    self.metrics.message_failed("stopped");
                }
                let state = if error == STOPPED {
                    PublicationState::Pending
                } else {
                    PublicationState::Failed
                };
                self.record(what, |app| {
                    app.store.finish_publication(
                        key,
                        state,
                        i64::from(report.retries),
                        i64::from(report.failures),
                        Some(&error),
                    )
                })
                .await;
                report.error = Some(error);
                return report;
            }
        }
        self.record(what, |app| {
            app.store.finish_publication(
                key,
                PublicationState::Done,
                i64::from(report.retries),
                0,
                None,
            )
        })
        .await;
        report
    }

    /// Sends each active subscriber one message listing the day's items in their topics.
    pub async fn send_digests(&self, date: NaiveDate) -> DigestReport {
        let mut report = DigestReport::default();
        let work = with_app(
            &self.app,
            |app| -> Result<Vec<(i64, i64, OutgoingMessage)>, AppError> {
                let mut pending = Vec::new();
                for s in app.store.active_subscribers()? {
                    if app.store.digest_state(date, s.user_id)?.as_deref() != Some("sent") {
                        pending.push(s);
                    }
                }
                let mut work = Vec::new();
                for (s, message) in app.digests(date, &pending)? {
                    match message {
                        Some(message) => work.push((s.user_id, s.chat_id, message)),
                        None => report.skipped += 1,
                    }
                }
                Ok(work)
            },
        );
        let work = match work {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("preparing digests of {date}: {e}");
                return report;
            }
        };
        // Several sends in flight, so one slow or unreachable subscriber never holds up
        // the others; the pacer keeps the total within Telegram's overall rate.
        let concurrency = Arc::new(tokio::sync::Semaphore::new(
            self.telegram.global_per_second.max(1) as usize,
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (user_id, chat_id, message) in work {
            if self.stopping() {
                break;
            }
            let Ok(permit) = concurrency.clone().acquire_owned().await else {
                break;
            };
            let api = self.api.clone();
            let pacer = self.pacer.clone();
            let app = self.app.clone();
            let mut stop = self.shutdown.clone();
            let metrics = Arc::clone(&self.metrics);
            tasks.spawn(async move {
                let _permit = permit;
                let chat = ChatRef::Id(chat_id);
                let chat_key = chat.key();
                let mut rate_limits = 0;
                let outcome = loop {
                    tokio::select! {
                        _ = pacer.wait(&chat_key, false) => {}
                        _ = stop.wait_for(|s| *s) => break Err(ApiError::Stopped),
                    }
                    let sent = api
                        .send_message(&chat, &message, &SendOptions::default())
                        .await;
                    observe(&metrics, &sent);
                    match sent {
                        Err(ApiError::RetryAfter(wait))
                            if rate_limits < 5 && wait <= MAX_REPLY_WAIT =>
                        {
                            rate_limits += 1;
                            metrics.message_retried("429");
                            pacer.hold(&chat.key(), wait);
                        }
                        other => break other,
                    }
                };
                count_final(&metrics, &outcome);
                if matches!(outcome, Err(ApiError::Stopped)) {
                    // Not sent, nothing recorded: the next start sends it.
                    return Ok(3);
                }
                with_app(&app, |app| match &outcome {
                    Ok(id) => app
                        .store
                        .set_digest_state(date, user_id, "sent", Some(*id), None)
                        .map(|_| 0),
                    Err(ApiError::Forbidden(reason)) => {
                        app.store.deactivate_subscriber(user_id, reason)?;
                        app.store
                            .set_digest_state(date, user_id, "failed", None, Some(reason))
                            .map(|_| 2)
                    }
                    Err(e) => app
                        .store
                        .set_digest_state(date, user_id, "failed", None, Some(&e.to_string()))
                        .map(|_| 1),
                })
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(0)) => report.sent += 1,
                Ok(Ok(3)) => {}
                Ok(Ok(2)) => {
                    report.failed += 1;
                    report.deactivated += 1;
                }
                Ok(Ok(_)) => report.failed += 1,
                Ok(Err(e)) => {
                    tracing::error!("recording a digest: {e}");
                    report.failed += 1;
                }
                Err(e) => {
                    tracing::error!("digest task: {e}");
                    report.failed += 1;
                }
            }
        }
        report
    }

    /// Sends a private message to every configured admin; errors are logged, never raised.
    pub async fn tell_admins(&self, text: &str) {
        let message = OutgoingMessage {
            text: text.to_string(),
            entities: Vec::new(),
        };
        for admin in &self.telegram.admins {
            if let Err(e) = self
                .reply(&ChatRef::Id(*admin), &message, SendOptions::default())
                .await
            {
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
        let mut rate_limits = 0;
        let outcome = loop {
            if self
                .unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
                .await
                .is_none()
            {
                break Err(ApiError::Stopped);
            }
            let sent = self.api.send_message(chat, message, &options).await;
            observe(&self.metrics, &sent);
            match sent {
                Err(ApiError::RetryAfter(wait)) if rate_limits < 3 && wait <= MAX_REPLY_WAIT => {
                    rate_limits += 1;
                    self.metrics.message_retried("429");
                    self.pacer.hold(&chat.key(), wait);
                }
                other => break other,
            }
        };
        count_final(&self.metrics, &outcome);
        outcome
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
        self.unless_stopped(self.pacer.wait(&chat.key(), chat.is_group()))
            .await
            .ok_or(ApiError::Stopped)?;
        // An edit is not a message sent; it only tells whether Telegram answers.
        let outcome = self
            .api
            .edit_message(chat, message_id, message, markup)
            .await;
        observe(&self.metrics, &outcome);
        outcome
    }
}

/// An inline keyboard with one "更多" button carrying `data`.
pub fn more_button(data: &str) -> serde_json::Value {
    json!({ "inline_keyboard": [[{ "text": "更多 ▸", "callback_data": data }]] })
}
