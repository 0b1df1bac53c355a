//! The job runner: the one sequence in which ingest and publish happen.
//!
//! The schedule, `/ingest`, `/post`, `ecobrief publish` and the start-up all hand jobs to
//! one task, which runs them one after another, so an ingest and a publish never run into
//! each other. A publish is the whole pipeline: it reads the sources first (folders
//! always; feeds and urls that are due, up to `schedule.refresh_deadline_seconds`), then
//! composes the day, then delivers it.
//!
//! A scheduled publish (and catch-up at start) waits for the day's brief: when no
//! structured brief of the day has arrived, the day's plan is recorded as waiting, admins
//! are told once that it is late, and the day is checked again after every ingest, every
//! push to the API and every tick. When the brief arrives it is posted; at the deadline
//! (`schedule.wait_for_brief_minutes` after the scheduled instant) `on_missing_brief`
//! decides. The plan lives in the database, so a restart neither forgets the wait nor
//! repeats its notice. An admin's `/post` and `ecobrief publish` post at once.
//!
//! Job logic reads the time from an injected [`Clock`], so tests drive "now" directly;
//! tokio-cron-scheduler only decides when a job is handed in.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tokio::sync::{mpsc, oneshot, watch};

use crate::app::{AppError, Core, DayReadiness};
use crate::compose::ComposeError;
use crate::config::OnMissingBrief;
use crate::notify::{IngestBell, Notifier};
use crate::publish::{PublishError, PublishReport, Publisher, Trigger};
use crate::sources::SourcesReport;
use crate::store::days::{DayOutcome, DayPlan};
use crate::store::delivery::PublicationState;

/// How often open days are checked again without any event (a brief written to the
/// database by a command-line `ecobrief ingest`, a deadline passing).
const TICK: Duration = Duration::from_secs(15);

/// Where job logic reads the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told (tests, simulations).
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock {
            millis: AtomicI64::new(at.timestamp_millis()),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.millis.store(at.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.millis.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// The day a run at `at` publishes: its date in the configured zone.
pub fn publish_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The latest scheduled time in `(now - grace, now]`, if the schedule had one.
pub fn missed_run(
    cron: &croner::Cron,
    tz: Tz,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<DateTime<Utc>> {
    let now_local = now.with_timezone(&tz);
    let previous = cron.find_previous_occurrence(&now_local, true).ok()?;
    let grace = chrono::Duration::from_std(grace).ok()?;
    (now_local.signed_duration_since(previous) < grace).then(|| previous.with_timezone(&Utc))
}

/// How a publish ended.
#[derive(Debug)]
pub enum PublishOutcome {
    /// Delivered (see the report for each target); `with_brief` is false when the day
    /// had no structured brief and what there was got posted.
    Posted {
        report: PublishReport,
        with_brief: bool,
    },
    /// Scheduled, but the brief has not come: waiting until `deadline`.
    Waiting { deadline: DateTime<Utc> },
    /// The deadline passed without a brief and the rule is to skip.
    Skipped,
    /// Nothing to post (no items for the day).
    Empty,
    /// Every target has this day already.
    AlreadyPosted,
}

struct PublishRequest {
    date: NaiveDate,
    trigger: Trigger,
    force: bool,
    /// The scheduled instant, for a scheduled publish or catch-up.
    scheduled_at: Option<DateTime<Utc>>,
}

enum Job {
    Ingest {
        force: bool,
        done: Option<oneshot::Sender<SourcesReport>>,
    },
    Publish {
        request: PublishRequest,
        done: Option<oneshot::Sender<Result<PublishOutcome, PublishError>>>,
    },
    Recheck,
}

/// Hands jobs to the runner. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct JobQueue {
    tx: mpsc::UnboundedSender<Job>,
}

impl JobQueue {
    fn send(&self, job: Job) {
        if self.tx.send(job).is_err() {
            tracing::warn!("the job runner has stopped; job dropped");
        }
    }

    /// Polls the sources (every one when `force`), then checks waiting days. `None` when
    /// the runner stopped first.
    pub async fn ingest(&self, force: bool) -> Option<SourcesReport> {
        let (done, answer) = oneshot::channel();
        self.send(Job::Ingest {
            force,
            done: Some(done),
        });
        answer.await.ok()
    }

    /// A publish asked for by a person: refresh, compose, deliver at once.
    pub async fn publish(
        &self,
        date: NaiveDate,
        trigger: Trigger,
        force: bool,
    ) -> Option<Result<PublishOutcome, PublishError>> {
        let (done, answer) = oneshot::channel();
        self.send(Job::Publish {
            request: PublishRequest {
                date,
                trigger,
                force,
                scheduled_at: None,
            },
            done: Some(done),
        });
        answer.await.ok()
    }

    /// The schedule's publish of the day of `at` (the scheduled instant); it waits for a
    /// late brief. Returns when the job is done.
    pub async fn scheduled_publish(
        &self,
        at: DateTime<Utc>,
        trigger: Trigger,
        tz: Tz,
    ) -> Option<Result<PublishOutcome, PublishError>> {
        let (done, answer) = oneshot::channel();
        self.send(Job::Publish {
            request: PublishRequest {
                date: publish_date(at, tz),
                trigger,
                force: false,
                scheduled_at: Some(at),
            },
            done: Some(done),
        });
        answer.await.ok()
    }

    /// The schedule's ingest; does not wait for it.
    pub fn scheduled_ingest(&self) {
        self.send(Job::Ingest {
            force: false,
            done: None,
        });
    }

    /// Checks the days waiting for their brief now.
    pub fn recheck(&self) {
        self.send(Job::Recheck);
    }
}

/// The task that runs the jobs.
pub struct Runner {
    core: Core,
    publisher: Arc<Publisher>,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    jobs: mpsc::UnboundedReceiver<Job>,
    bell: IngestBell,
    stop: watch::Receiver<bool>,
}

/// What the runner does before its first job.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// Resume interrupted posts (a bot's start; not `ecobrief publish`).
    pub resume: bool,
    /// Catch up a publish time missed while the process was down.
    pub catch_up: bool,
}

impl Runner {
    pub fn new(
        core: Core,
        publisher: Arc<Publisher>,
        notifier: Notifier,
        clock: Arc<dyn Clock>,
        bell: IngestBell,
        stop: watch::Receiver<bool>,
    ) -> (Runner, JobQueue) {
        let (tx, jobs) = mpsc::unbounded_channel();
        (
            Runner {
                core,
                publisher,
                notifier,
                clock,
                jobs,
                bell,
                stop,
            },
            JobQueue { tx },
        )
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs until the process is asked to stop: first the start-up (resume an
    /// interrupted post, read the sources, catch up a missed publish), then each job in
    /// turn.
    pub async fn run(mut self, startup: Startup) {
        let settings = Arc::clone(&self.core.settings);
        if startup.resume {
            let today = publish_date(self.clock.now(), settings.tz);
            self.publisher.resume_unfinished(today).await;
        }
        if !self.stopping() && (startup.resume || startup.catch_up) {
            self.refresh(false).await;
            self.recheck().await;
        }
        if startup.catch_up && settings.schedule.enabled && !self.stopping() {
            let now = self.clock.now();
            if let Some(missed) = missed_run(
                &settings.schedule.publish,
                settings.tz,
                now,
                settings.schedule.catch_up,
            ) {
                let date = publish_date(missed, settings.tz);
                if !self.publisher.is_posted(date).await.unwrap_or(true) {
                    tracing::info!("catching up the {missed} publish of {date}");
                    let request = PublishRequest {
                        date,
                        trigger: Trigger::CatchUp,
                        force: false,
                        scheduled_at: Some(missed),
                    };
                    self.scheduled(request, false).await;
                }
            }
        }
        let mut stop = self.stop.clone();
        loop {
            if self.stopping() {
                break;
            }
            let job = tokio::select! {
                job = self.jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                _ = self.bell.heard() => Job::Recheck,
                _ = tokio::time::sleep(TICK) => Job::Recheck,
                _ = stop.wait_for(|s| *s) => break,
            };
            self.handle(job).await;
        }
        tracing::debug!("job runner stopped");
    }

    async fn handle(&mut self, job: Job) {
        match job {
            Job::Ingest { force, done } => {
                let report = self.refresh(force).await;
                self.recheck().await;
                self.prune_if_due().await;
                if let Some(done) = done {
                    let _ = done.send(report);
                }
            }
            Job::Publish { request, done } => {
                let outcome = if request.scheduled_at.is_some() {
                    Ok(self.scheduled(request, true).await)
                } else {
                    self.refresh(false).await;
                    self.manual(request).await
                };
                if let Err(e) = &outcome {
                    tracing::warn!("publish: {e}");
                }
                if let Some(done) = done {
                    let _ = done.send(outcome);
                }
            }
            Job::Recheck => self.recheck().await,
        }
    }

    /// Prunes what `store.keep_days` no longer keeps, once a day, after an ingest: in the
    /// runner's sequence, so never during a publish.
    async fn prune_if_due(&self) {
        if self.core.settings.keep_days.is_none() {
            return;
        }
        let today = self
            .clock
            .now()
            .with_timezone(&self.core.settings.tz)
            .date_naive();
        let result = self
            .core
            .blocking(move |core| {
                let last = core.db.with(|store| store.last_prune())?;
                if last.is_some_and(|day| day >= today) {
                    return Ok::<_, AppError>(None);
                }
                core.prune(today, false)
            })
            .await;
        match result {
            Ok(Some(report)) if report.documents > 0 => tracing::info!(
                "pruned {} documents ({} items), {} digests and {} outbox bodies older than store.keep_days",
                report.documents,
                report.items,
                report.digests,
                report.outbox_bodies
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("pruning old items: {e}; tried again after the next ingest"),
        }
    }

    /// Reads the sources: folders always, feeds and urls that are due (all when
    /// `force`), waiting at most the refresh deadline for the network.
    async fn refresh(&self, force: bool) -> SourcesReport {
        let deadline = tokio::time::Instant::now() + self.core.settings.schedule.refresh_deadline;
        let report =
            crate::sources::poll_and_notify(&self.core, &self.notifier, force, Some(deadline))
                .await;
        if report.failed() > 0 {
            tracing::warn!("ingest: {} sources failed", report.failed());
        }
        if report.new_items() > 0 {
            tracing::info!("ingest: {} items new or changed", report.new_items());
        }
        report
    }

    /// A publish asked for by a person: what the sources hold now, at once.
    async fn manual(&self, request: PublishRequest) -> Result<PublishOutcome, PublishError> {
        let date = request.date;
        let readiness = self.core.blocking(move |core| core.readiness(date)).await?;
        if readiness == DayReadiness::Empty {
            return Err(PublishError::App(AppError::Compose(ComposeError::NoItems(
                date,
            ))));
        }
        let report = self
            .publisher
            .publish(date, request.trigger, request.force)
            .await?;
        self.close_plans(date).await;
        Ok(PublishOutcome::Posted {
            report,
            with_brief: readiness == DayReadiness::Brief,
        })
    }

    /// The schedule's publish (or catch-up) of a day: opens the day's plan, then posts if
    /// the brief is there, or waits for it. `refresh` is false when the sources were just
    /// read.
    async fn scheduled(&self, request: PublishRequest, refresh: bool) -> PublishOutcome {
        let settings = Arc::clone(&self.core.settings);
        let date = request.date;
        let at = request.scheduled_at.unwrap_or_else(|| self.clock.now());
        if refresh {
            self.refresh(false).await;
        }
        match self.publisher.is_posted(date).await {
            Ok(true) => return PublishOutcome::AlreadyPosted,
            Ok(false) => {}
            Err(e) => tracing::error!("reading the delivery record of {date}: {e}"),
        }
        let deadline =
            at + chrono::Duration::from_std(settings.schedule.wait_for_brief).unwrap_or_default();
        let targets: Vec<(String, i64)> = settings
            .telegram
            .targets
            .iter()
            .map(|t| (t.chat_key(), t.thread()))
            .collect();
        let opened = self
            .core
            .db
            .run(move |store| {
                for (chat, thread) in &targets {
                    store.open_day_plan(
                        date,
                        chat,
                        *thread,
                        at.timestamp(),
                        deadline.timestamp(),
                    )?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = opened {
            tracing::error!("recording the plan of {date}: {e}");
        }
        self.evaluate(date, request.trigger).await
    }

    /// Checks every open day again: posts those whose brief came, applies the deadline.
    async fn recheck(&self) {
        let plans = match self.core.db.run(|store| store.open_day_plans()).await {
            Ok(plans) => plans,
            Err(e) => {
                tracing::error!("reading the open days: {e}");
                return;
            }
        };
        let mut dates: Vec<NaiveDate> = plans.iter().map(|p| p.brief_date).collect();
        dates.dedup();
        for date in dates {
            if self.stopping() {
                return;
            }
            self.evaluate(date, Trigger::Schedule).await;
        }
    }

    async fn open_plans(&self, date: NaiveDate) -> Vec<DayPlan> {
        match self.core.db.run(|store| store.open_day_plans()).await {
            Ok(plans) => plans.into_iter().filter(|p| p.brief_date == date).collect(),
            Err(e) => {
                tracing::error!("reading the plan of {date}: {e}");
                Vec::new()
            }
        }
    }

    /// Decides an open day: post (brief there, or deadline with `post`), wait, or end it.
    async fn evaluate(&self, date: NaiveDate, trigger: Trigger) -> PublishOutcome {
        let plans = self.open_plans(date).await;
        let Some(deadline) = plans.iter().map(|p| p.deadline).min() else {
            return PublishOutcome::AlreadyPosted;
        };
        let settings = Arc::clone(&self.core.settings);
        let now = self.clock.now();
        let deadline_at = DateTime::from_timestamp(deadline, 0).unwrap_or(now);
        let readiness = match self.core.blocking(move |core| core.readiness(date)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("checking the brief of {date}: {e}");
                return PublishOutcome::Waiting {
                    deadline: deadline_at,
                };
            }
        };
        let too_late = now.timestamp()
            > deadline.saturating_add(
                i64::try_from(settings.schedule.catch_up.as_secs()).unwrap_or(i64::MAX),
            );
        if too_late {
            // Long past its deadline (the process was down): not posted late.
            self.end_plans(date, DayOutcome::Skipped).await;
            self.notifier.tell_admins(format!(
                "⏭ {date} 的简报错过了发布时间和等待期限（{}），未发布。如需补发：/post {date}",
                self.local(deadline_at)
            ));
            return PublishOutcome::Skipped;
        }
        match readiness {
            DayReadiness::Brief => self.post(date, trigger, true).await,
            _ if now < deadline_at => {
                self.mark_waiting(date, &plans, now, deadline_at, readiness)
                    .await;
                PublishOutcome::Waiting {
                    deadline: deadline_at,
                }
            }
            DayReadiness::ItemsOnly(n)
                if settings.schedule.on_missing_brief == OnMissingBrief::Post =>
            {
                self.notifier.tell_admins(format!(
                    "⚠️ {date} 的简报到 {} 仍未到达，按设置发布现有的 {n} 条内容（没有简报正文）。",
                    self.local(deadline_at)
                ));
                self.post(date, trigger, false).await
            }
            DayReadiness::ItemsOnly(n) => {
                self.end_plans(date, DayOutcome::Skipped).await;
                self.notifier.tell_admins(format!(
                    "⏭ {date} 的简报到 {} 仍未到达，按设置（on_missing_brief = \"skip\"）今天不发布；已有 {n} 条内容。如需发布：/post {date}",
                    self.local(deadline_at)
                ));
                PublishOutcome::Skipped
            }
            DayReadiness::Empty => {
                self.end_plans(date, DayOutcome::Empty).await;
                self.notifier.tell_admins(format!(
                    "⚠️ {date} 到 {} 仍没有任何内容（没有简报，也没有其他条目），今天没有发布。",
                    self.local(deadline_at)
                ));
                PublishOutcome::Empty
            }
        }
    }

    fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.core.settings.tz)
            .format("%m-%d %H:%M")
            .to_string()
    }

    /// Records the wait and tells admins once that the brief is late.
    async fn mark_waiting(
        &self,
        date: NaiveDate,
        plans: &[DayPlan],
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        readiness: DayReadiness,
    ) {
        let keys: Vec<(String, i64)> = plans
            .iter()
            .map(|p| (p.chat.clone(), p.thread_id))
            .collect();
        let since = now.timestamp();
        let first_notice = self
            .core
            .db
            .run(move |store| {
                let mut first = false;
                for (chat, thread) in &keys {
                    store.mark_day_waiting(date, chat, *thread, since)?;
                    first |= store.mark_late_notified(date, chat, *thread)?;
                }
                Ok(first)
            })
            .await;
        match first_notice {
            Ok(true) => {
                let rule = match (self.core.settings.schedule.on_missing_brief, readiness) {
                    (OnMissingBrief::Skip, _) => "届时仍未到达则今天不发布".to_string(),
                    (OnMissingBrief::Post, DayReadiness::ItemsOnly(n)) => {
                        format!("届时仍未到达则发布现有的 {n} 条内容")
                    }
                    (OnMissingBrief::Post, _) => "届时仍未到达则发布届时已有的内容".to_string(),
                };
                self.notifier.tell_admins(format!(
                    "⏰ {date} 的简报还没有到。简报一到就会发布，最晚等到 {}；{rule}。",
                    self.local(deadline)
                ));
            }
            Ok(false) => {}
            Err(e) => tracing::error!("recording the wait of {date}: {e}"),
        }
    }

    async fn post(&self, date: NaiveDate, trigger: Trigger, with_brief: bool) -> PublishOutcome {
        match self.publisher.publish(date, trigger, false).await {
            Ok(report) => {
                self.close_plans(date).await;
                PublishOutcome::Posted { report, with_brief }
            }
            Err(PublishError::AlreadyPosted(_)) => {
                self.close_plans(date).await;
                PublishOutcome::AlreadyPosted
            }
            Err(PublishError::App(AppError::Compose(ComposeError::NoItems(_)))) => {
                // Items vanished between the check and the post (a file edited): the day
                // stays open and is checked again.
                PublishOutcome::Empty
            }
            Err(e) => {
                tracing::error!("publishing {date}: {e}");
                self.end_plans(date, DayOutcome::Failed).await;
                self.notifier
                    .tell_admins(format!("⚠️ {date} 定时发布失败：{e}"));
                PublishOutcome::Empty
            }
        }
    }

    /// Ends the open plans of `date` after a delivery: posted where the target's post is
    /// done, failed where it failed; a post stopped part-way stays open for the restart.
    async fn close_plans(&self, date: NaiveDate) {
        let at = self.clock.now().timestamp();
        let closed = self
            .core
            .db
            .run(move |store| {
                for plan in store.open_day_plans()? {
                    if plan.brief_date != date {
                        continue;
                    }
                    let outcome =
                        match store.latest_publication(date, &plan.chat, plan.thread_id)? {
                            Some(p) if p.state == PublicationState::Done => DayOutcome::Posted,
                            Some(p) if p.state == PublicationState::Failed => DayOutcome::Failed,
                            _ => continue,
                        };
                    store.end_day_plan(date, &plan.chat, plan.thread_id, outcome, at)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = closed {
            tracing::error!("recording how {date} ended: {e}");
        }
    }

    async fn end_plans(&self, date: NaiveDate, outcome: DayOutcome) {
        let at = self.clock.now().timestamp();
        let ended = self
            .core
            .db
            .run(move |store| {
                for plan in store.open_day_plans()? {
                    if plan.brief_date == date {
                        store.end_day_plan(date, &plan.chat, plan.thread_id, outcome, at)?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = ended {
            tracing::error!("recording how {date} ended: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn catch_up_only_within_the_grace_period() {
        let cron = crate::settings::parse_cron("0 0 8 * * *").unwrap();
        let tz = Tz::Asia__Shanghai;
        let grace = Duration::from_secs(6 * 3600);
        let missed = missed_run(&cron, tz, at("2026-03-12T09:30:00+08:00"), grace).unwrap();
        assert_eq!(missed, at("2026-03-12T08:00:00+08:00"));
        assert!(missed_run(&cron, tz, at("2026-03-12T15:00:00+08:00"), grace).is_none());
        assert!(
            missed_run(&cron, tz, at("2026-03-12T07:59:00+08:00"), grace).is_none(),
            "not yet due"
        );
    }

    #[test]
    fn daylight_saving_gaps_and_repeats() {
        // New York: 02:30 does not exist on 2026-03-08.
        let cron = crate::settings::parse_cron("0 30 2 * * *").unwrap();
        let tz = Tz::America__New_York;
        let grace = Duration::from_secs(3600 * 3);
        // In the gap, the run moves to the first valid time after it (03:00 EDT).
        let gap = missed_run(&cron, tz, at("2026-03-08T04:00:00-04:00"), grace).unwrap();
        assert_eq!(publish_date(gap, tz).to_string(), "2026-03-08");
        // 01:30 happens twice on 2026-11-01; it runs once, at the first (EDT).
        let cron = crate::settings::parse_cron("0 30 1 * * *").unwrap();
        let next = cron
            .find_next_occurrence(&at("2026-11-01T00:00:00-04:00").with_timezone(&tz), false)
            .unwrap();
        assert_eq!(next.with_timezone(&Utc), at("2026-11-01T01:30:00-04:00"));
        let after = cron.find_next_occurrence(&next, false).unwrap();
        assert_eq!(
            publish_date(after.with_timezone(&Utc), tz).to_string(),
            "2026-11-02"
        );
    }
}
