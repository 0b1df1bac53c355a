//! Schedule: tokio-cron-scheduler (pinned to 0.15.1; 0.15.0 fires twice in zones east of
//! UTC) fires the daily publish and the periodic ingest on the wall clock, and hands each
//! to the job runner. That is all it does: what a job does is the runner's, which reads
//! the time from an injected clock, and catch-up of runs missed while the process was
//! down (the scheduler forgets them) is the runner's start-up.

use std::sync::Arc;

use chrono_tz::Tz;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::publish::Trigger;
use crate::runner::{Clock, JobQueue};
use crate::settings::ScheduleSettings;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduler: {0}")]
    Scheduler(String),
}

/// The running scheduler.
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Starts the publish and ingest jobs.
    pub async fn start(
        queue: JobQueue,
        schedule: &ScheduleSettings,
        tz: Tz,
        clock: Arc<dyn Clock>,
    ) -> Result<Scheduler, ScheduleError> {
        let err =
            |e: tokio_cron_scheduler::JobSchedulerError| ScheduleError::Scheduler(e.to_string());
        let inner = JobScheduler::new().await.map_err(err)?;
        let for_publish = queue.clone();
        let cron = schedule.publish.clone();
        let publish = Job::new_async_tz(schedule.publish.as_str(), tz, move |_, _| {
            let queue = for_publish.clone();
            // The instant this run was scheduled for (the scheduler fires a little
            // after it): the day and the brief's deadline count from it.
            let now = clock.now().with_timezone(&tz);
            let at = cron
                .find_previous_occurrence(&now, true)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|_| now.with_timezone(&chrono::Utc));
            Box::pin(async move {
                queue.scheduled_publish(at, Trigger::Schedule, tz).await;
            })
        })
        .map_err(err)?;
        inner.add(publish).await.map_err(err)?;
        let ingest = Job::new_async_tz(schedule.ingest.as_str(), tz, move |_, _| {
            queue.scheduled_ingest();
            Box::pin(async {})
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
