//! Schedule: the daily publish and the periodic ingest (tokio-cron-scheduler, pinned to
//! 0.15.1), plus catch-up at start, which the scheduler does not do: it forgets runs
//! missed while the process was down.
//!
//! The job and catch-up both call into [`Publisher::publish`], so the day is posted once
//! whichever gets there first.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::publish::{PublishError, PublishReport, Publisher, Trigger};

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "schedule.{key}: {expr:?} is not a valid cron expression (six fields: sec min hour day month weekday, e.g. \"0 0 8 * * *\")"
    )]
    BadCron { key: &'static str, expr: String },
    #[error("scheduler: {0}")]
    Scheduler(String),
}

/// Parses a six-field cron expression the way the scheduler does.
pub fn parse_cron(key: &'static str, expr: &str) -> Result<Cron, ScheduleError> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|_| ScheduleError::BadCron {
            key,
            expr: expr.to_string(),
        })
}

/// The latest scheduled time in `(now - grace, now]`, if the schedule had one.
pub fn missed_run(
    cron: &Cron,
    tz: Tz,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<DateTime<Tz>> {
    let now_local = now.with_timezone(&tz);
    let previous = cron.find_previous_occurrence(&now_local, true).ok()?;
    let grace = chrono::Duration::from_std(grace).ok()?;
    (now_local.signed_duration_since(previous) < grace).then_some(previous)
}

/// The day a run at `at` publishes: its date in the configured zone.
pub fn publish_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// What the publish job does when it fires at `now`.
pub async fn run_publish(
    publisher: &Publisher,
    tz: Tz,
    now: DateTime<Utc>,
    trigger: Trigger,
) -> Option<PublishReport> {
    let date = publish_date(now, tz);
    match publisher.publish(date, trigger, false).await {
        Ok(report) => Some(report),
        Err(PublishError::AlreadyPosted(_)) => {
            tracing::info!("{date} is already posted");
            None
        }
        Err(e) => {
            tracing::error!("publishing {date}: {e}");
            publisher
                .tell_admins(&format!("⚠️ {date} 定时发布失败：{e}"))
                .await;
            None
        }
    }
}

/// At start: posts today's brief if its time passed within the grace period and it is
/// not posted yet.
pub async fn catch_up(
    publisher: &Publisher,
    cron: &Cron,
    tz: Tz,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<PublishReport> {
    let missed = missed_run(cron, tz, now, grace)?;
    let date = missed.date_naive();
    if publisher.is_posted(date).unwrap_or(true) {
        return None;
    }
    tracing::info!(
        "catching up the {} publish of {date}",
        missed.format("%H:%M")
    );
    run_publish(publisher, tz, missed.with_timezone(&Utc), Trigger::CatchUp).await
}

/// The running scheduler.
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Starts the publish and ingest jobs.
    pub async fn start(
        publisher: Arc<Publisher>,
        config: &crate::config::Config,
    ) -> Result<Scheduler, ScheduleError> {
        let tz = config.tz();
        parse_cron("publish_cron", &config.schedule.publish_cron)?;
        parse_cron("ingest_cron", &config.schedule.ingest_cron)?;
        let err =
            |e: tokio_cron_scheduler::JobSchedulerError| ScheduleError::Scheduler(e.to_string());
        let inner = JobScheduler::new().await.map_err(err)?;
        let for_publish = Arc::clone(&publisher);
        let publish = Job::new_async_tz(config.schedule.publish_cron.as_str(), tz, move |_, _| {
            let publisher = Arc::clone(&for_publish);
            Box::pin(async move {
                run_publish(&publisher, tz, Utc::now(), Trigger::Schedule).await;
            })
        })
        .map_err(err)?;
        inner.add(publish).await.map_err(err)?;
        let for_ingest = Arc::clone(&publisher);
        let ingest = Job::new_async_tz(config.schedule.ingest_cron.as_str(), tz, move |_, _| {
            let publisher = Arc::clone(&for_ingest);
            Box::pin(async move {
                // Folders, feeds and URLs, each as its interval allows; admins hear about
                // a source once when it starts failing and once when it recovers.
                let report = crate::sources::poll_and_notify(&publisher, false).await;
                if report.failed() > 0 {
                    tracing::warn!("ingest: {} sources failed", report.failed());
                }
                if report.new_items() > 0 {
                    tracing::info!("ingest: {} items new or changed", report.new_items());
                }
            })
        })
        .map_err(err)?;
        inner.add(ingest).await.map_err(err)?;
        inner.start().await.map_err(err)?;
        Ok(Scheduler { inner })
    }

    pub async fn stop(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!("stopping the scheduler: {e}");
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
        let cron = parse_cron("publish_cron", "0 0 8 * * *").unwrap();
        let tz = Tz::Asia__Shanghai;
        let grace = Duration::from_secs(6 * 3600);
        let missed = missed_run(&cron, tz, at("2026-03-12T09:30:00+08:00"), grace).unwrap();
        assert_eq!(missed.to_rfc3339(), "2026-03-12T08:00:00+08:00");
        assert!(missed_run(&cron, tz, at("2026-03-12T15:00:00+08:00"), grace).is_none());
        assert!(
            missed_run(&cron, tz, at("2026-03-12T07:59:00+08:00"), grace).is_none(),
            "not yet due"
        );
        assert!(parse_cron("publish_cron", "every morning").is_err());
    }
}
