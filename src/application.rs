//! Start-up in one place: [`Application::build`] opens the core, takes the one-instance
//! lock, checks the token, and builds the notifier, publisher, job runner, schedule, HTTP
//! server and bot once; [`Application::run_until_stopped`] runs them until the stop
//! signal. `main` and the tests use this same builder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{AppError, Core};
use crate::config::TelegramMode;
use crate::notify::{IngestBell, Notices, Notifier};
use crate::publish::{PublishError, Publisher, Trigger};
use crate::runner::{Clock, JobQueue, PublishOutcome, Runner, Startup, SystemClock};
use crate::schedule::{ScheduleError, Scheduler};
use crate::server::Secrets;
use crate::settings::Settings;
use crate::telegram::{BotContext, ConnectError, Dispatch, Updates};

/// Exit status for a missing or rejected token.
pub const EXIT_TOKEN: u8 = 2;

/// Longest wait for the HTTP server to finish its requests in flight at stop.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the job runner to record the part in flight at stop.
const RUNNER_STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Missing or rejected token: exit status 2.
    #[error("{0}")]
    Token(String),
    /// The Bot API did not answer (a wrong `api_url`, no network).
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    AlreadyRunning(String),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The HTTP server could not listen.
    #[error("{0}")]
    Listen(String),
    /// Webhook mode is misconfigured or Telegram refused the webhook.
    #[error("webhook mode: {0}")]
    Webhook(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<ConnectError> for StartError {
    fn from(e: ConnectError) -> StartError {
        match e {
            ConnectError::Token(line) => StartError::Token(line),
            ConnectError::Unreachable(line) => StartError::Unreachable(line),
        }
    }
}

/// What the application does besides what the settings say.
pub enum Purpose {
    /// `ecobrief run`: updates, commands, the schedule, the HTTP server.
    Serve,
    /// `ecobrief publish`: post one day through the same pipeline, then stop.
    PublishOnce,
}

/// How [`Application::build`] runs besides the settings.
pub struct StartOptions {
    pub purpose: Purpose,
    /// The bot token (from @BotFather).
    pub token: Option<String>,
    /// The API token and webhook secret; `ecobrief run` reads them from the environment.
    pub secrets: Secrets,
    /// A listener already bound for the HTTP server (tests bind port 0 and read the
    /// port); `None` binds `server.listen`.
    pub listener: Option<TcpListener>,
    /// Where job logic reads the time.
    pub clock: Arc<dyn Clock>,
}

impl StartOptions {
    pub fn new(purpose: Purpose, token: Option<String>) -> StartOptions {
        StartOptions {
            purpose,
            token,
            secrets: Secrets::default(),
            listener: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Holds an exclusive `flock` on the database file itself for as long as the process
/// runs: two instances posting from one store are the classic cause of double posts.
/// The lock is on the file's inode, so the same database reached through a symlink,
/// another spelling of its path or another mount is still one database. SQLite's own
/// locks are `fcntl` locks, independent of `flock`, so a command-line `ecobrief ingest`
/// beside the bot still works.
pub struct InstanceLock {
    _file: std::fs::File,
}

pub fn lock_instance(database: &std::path::Path) -> Result<InstanceLock, StartError> {
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartError::AlreadyRunning(format!(
                "cannot create the database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    // An empty file is a valid new SQLite database: creating it here is harmless.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(database)
        .map_err(|e| {
            StartError::AlreadyRunning(format!(
                "cannot open the database {} to lock it: {e}",
                database.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(InstanceLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::AlreadyRunning(format!(
            "another `ecobrief run` or `ecobrief publish` is already using the database {}; stop it first",
            database.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StartError::AlreadyRunning(format!(
            "cannot lock the database {}: {e}",
            database.display()
        ))),
    }
}

/// Everything built, not yet running.
pub struct Application {
    core: Core,
    publisher: Arc<Publisher>,
    jobs: JobQueue,
    runner: Runner,
    notices: Notices,
    startup: Startup,
    scheduler: Option<(JobQueue, Arc<dyn Clock>)>,
    server: Option<(TcpListener, axum::Router)>,
    dispatch: Option<Dispatch>,
    stop: watch::Receiver<bool>,
    _lock: InstanceLock,
}

impl Application {
    /// Builds the application. Configuration and the port fail first, before Telegram is
    /// contacted; nothing runs until [`Application::run_until_stopped`].
    pub async fn build(
        settings: Settings,
        options: StartOptions,
        stop: watch::Receiver<bool>,
    ) -> Result<Application, StartError> {
        let StartOptions {
            purpose,
            token,
            secrets,
            listener,
            clock,
        } = options;
        let serving = matches!(purpose, Purpose::Serve);
        let _lock = lock_instance(&settings.database)?;
        let core = tokio::task::spawn_blocking(move || Core::open(settings))
            .await
            .map_err(|e| AppError::Task(e.to_string()))??;
        let settings = Arc::clone(&core.settings);
        let webhook_secret = match (serving, settings.telegram.mode) {
            (true, TelegramMode::Webhook) => {
                let secret = secrets
                    .webhook_secret
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        StartError::Webhook(format!(
                            "set {} in the environment: Telegram sends it with every update, \
                             and requests without it are refused",
                            crate::server::WEBHOOK_SECRET_VAR
                        ))
                    })?;
                crate::server::check_webhook_secret(&secret).map_err(StartError::Webhook)?;
                Some(secret)
            }
            _ => None,
        };
        let listener = match (serving && settings.server.enabled, listener) {
            (false, _) => None,
            (true, Some(listener)) => Some(listener),
            (true, None) => Some(
                crate::server::bind(settings.server.listen)
                    .await
                    .map_err(StartError::Listen)?,
            ),
        };
        let (api, username) =
            crate::telegram::connect(&settings.telegram, token.as_deref()).await?;
        // getMe just answered: Telegram is reachable.
        core.metrics.set_telegram_reachable(true);
        if serving {
            crate::telegram::register_commands(&api, &settings.telegram.admins).await;
        }
        let (notifier, notices) = Notifier::channel(!settings.telegram.admins.is_empty());
        let bell = IngestBell::default();
        let publisher = Arc::new(Publisher::new(core.clone(), api, stop.clone()));
        let (runner, jobs) = Runner::new(
            core.clone(),
            Arc::clone(&publisher),
            notifier,
            Arc::clone(&clock),
            bell.clone(),
            stop.clone(),
        );
        let mut server = None;
        let mut dispatch = None;
        if serving {
            let ctx = Arc::new(BotContext::new(
                core.clone(),
                Arc::clone(&publisher),
                jobs.clone(),
                username,
            ));
            let updates = match (&webhook_secret, &listener) {
                (Some(secret), Some(listener)) => Updates::Webhook {
                    url: settings.telegram.webhook_url.clone().ok_or_else(|| {
                        StartError::Webhook("set telegram.webhook_url".to_string())
                    })?,
                    secret: secret.clone(),
                    address: listener.local_addr().map_err(|e| {
                        StartError::Listen(format!("the HTTP server's address is unknown: {e}"))
                    })?,
                },
                _ => Updates::Polling,
            };
            let (prepared, webhook_route) = Dispatch::prepare(
                ctx,
                token.as_deref().unwrap_or_default(),
                updates,
                stop.clone(),
            )
            .await
            .map_err(StartError::Webhook)?;
            dispatch = Some(prepared);
            if let Some(listener) = listener {
                let state = crate::server::ServerState::new(core.clone(), secrets.api_token, bell);
                let mut router = crate::server::router(state);
                if let Some(route) = webhook_route {
                    router = router.merge(route);
                }
                server = Some((listener, router));
            }
        }
        let scheduler = (serving && settings.schedule.enabled).then(|| (jobs.clone(), clock));
        Ok(Application {
            core,
            publisher,
            jobs,
            runner,
            notices,
            startup: Startup {
                resume: serving,
                catch_up: serving && settings.schedule.enabled,
            },
            scheduler,
            server,
            dispatch,
            stop,
            _lock,
        })
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Hands jobs to the runner (tests drive the schedule through it).
    pub fn jobs(&self) -> JobQueue {
        self.jobs.clone()
    }

    /// Where the HTTP server listens, when it does.
    pub fn server_address(&self) -> Option<SocketAddr> {
        self.server
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// Sends notices to the admins as they come.
    fn spawn_notices(
        publisher: Arc<Publisher>,
        mut notices: Notices,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(text) = notices.recv().await {
                publisher.tell_admins(&text).await;
            }
        })
    }

    /// Runs until the stop signal: the job runner (resume, first refresh, catch-up, then
    /// each job), the schedule, the HTTP server and the dispatcher.
    pub async fn run_until_stopped(self) -> Result<(), StartError> {
        let Application {
            core: _,
            publisher,
            jobs: _,
            runner,
            notices,
            startup,
            scheduler,
            server,
            dispatch,
            stop,
            _lock,
        } = self;
        let settings = Arc::clone(&publisher.core().settings);
        let notices = Application::spawn_notices(Arc::clone(&publisher), notices);
        let runner = tokio::spawn(runner.run(startup));
        let scheduler = match scheduler {
            Some((queue, clock)) => {
                Some(Scheduler::start(queue, &settings.schedule, settings.tz, clock).await?)
            }
            None => None,
        };
        let server = server.map(|(listener, router)| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!("HTTP server listening on {address}");
            }
            tokio::spawn(crate::server::serve(
                listener,
                router,
                stop.clone(),
                crate::server::ServerLimits::from(&settings.server),
            ))
        });
        tracing::info!("ecobrief is running");
        match dispatch {
            Some(dispatch) => dispatch.run().await,
            None => {
                let mut stop = stop.clone();
                let _ = stop.wait_for(|s| *s).await;
            }
        }

        // Stopping: no new parts are started; the one in flight finishes and is recorded.
        if let Some(s) = scheduler {
            s.stop().await;
        }
        if tokio::time::timeout(RUNNER_STOP_TIMEOUT, runner)
            .await
            .is_err()
        {
            tracing::warn!("the job runner did not stop in time");
        }
        publisher.idle().await;
        notices.abort();
        if let Some(mut server) = server {
            // The server stops on the same signal; a client holding a request open must
            // not keep the process alive.
            match tokio::time::timeout(SERVER_STOP_TIMEOUT, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::error!("HTTP server: {e}"),
                Ok(Err(e)) => tracing::error!("HTTP server task: {e}"),
                Err(_) => {
                    tracing::warn!("HTTP server did not stop in time; closing it");
                    server.abort();
                }
            }
        }
        tracing::info!("ecobrief stopped");
        Ok(())
    }

    /// `ecobrief publish`: refreshes the sources, composes and posts `date` now through
    /// the job runner, then stops.
    pub async fn publish_once(
        self,
        date: NaiveDate,
        force: bool,
    ) -> Result<PublishOutcome, PublishError> {
        let Application {
            publisher,
            jobs,
            runner,
            notices,
            startup,
            ..
        } = self;
        let notices = Application::spawn_notices(Arc::clone(&publisher), notices);
        let runner = tokio::spawn(runner.run(startup));
        let outcome = jobs.publish(date, Trigger::CommandLine, force).await;
        drop(jobs);
        runner.abort();
        let _ = runner.await;
        // The runner held the last notifier: notices it queued (a source failing) still
        // reach the admins, then the task ends.
        if tokio::time::timeout(SERVER_STOP_TIMEOUT, notices)
            .await
            .is_err()
        {
            tracing::warn!("notices to admins did not finish in time");
        }
        outcome.unwrap_or_else(|| {
            Err(PublishError::App(AppError::Task(
                "the job runner stopped".to_string(),
            )))
        })
    }
}
