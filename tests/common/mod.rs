//! The one test harness. [`TestApp::builder`] starts the real `Application` (the same
//! builder `ecobrief run` uses) on a fresh SQLite file, talking over HTTP to the fake Bot
//! API, with the HTTP server on a free port. [`spawn_core`] opens just the core, for
//! tests of the pipeline itself (ingest, render). Tests speak in domain verbs: write a
//! source file, post a day, fire the schedule, push a document, wait for a message.
#![allow(dead_code)]

pub mod fake_telegram;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use ecobrief::app::Core;
use ecobrief::application::{Application, Purpose, StartError, StartOptions};
use ecobrief::config::{Config, SourceConfig};
use ecobrief::message::OutgoingMessage;
use ecobrief::publish::{PublishError, PublishReport, Trigger};
use ecobrief::runner::{Clock, JobQueue, ManualClock, PublishOutcome, SystemClock};
use ecobrief::server::Secrets;
use ecobrief::settings::Settings;
use ecobrief::store::Conn;
use tempfile::TempDir;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures").join(name)
}

/// A config that uses the repo's topics, templates and samples and a database in `dir`.
pub fn test_config(dir: &Path) -> Config {
    let mut config = Config {
        database: dir.join("test.db"),
        topics_file: repo_path("config/topics.toml"),
        sources: vec![SourceConfig::Dir {
            path: repo_path("samples"),
            name: None,
        }],
        ..Config::default()
    };
    config.render.templates_dir = repo_path("templates");
    config
}

/// The core alone (no Telegram), for pipeline tests.
pub struct TestCore {
    pub dir: TempDir,
    pub app: Core,
}

pub fn spawn_core() -> TestCore {
    spawn_core_with(|_| {})
}

pub fn spawn_core_with(adjust: impl FnOnce(&mut Config)) -> TestCore {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let settings = Settings::from_config(config).expect("settings parse");
    let app = Core::open(settings).expect("core opens");
    TestCore { dir, app }
}

impl TestCore {
    /// Writes a file under the test's temp dir and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        write_file(self.dir.path(), name, bytes)
    }

    /// A database connection of the test's own.
    pub fn store(&self) -> Conn {
        self.app.db.get().expect("a connection")
    }
}

fn write_file(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Checks what Telegram enforces on every message.
pub fn assert_telegram_valid(messages: &[OutgoingMessage]) {
    for (i, m) in messages.iter().enumerate() {
        let chars = m.text.chars().count();
        assert!(chars <= 4096, "message {i} has {chars} code points");
        assert!(!m.text.trim().is_empty(), "message {i} is empty");
        assert!(
            m.entities.len() <= 100,
            "message {i} has {} entities",
            m.entities.len()
        );
        let utf16: Vec<u16> = m.text.encode_utf16().collect();
        for e in &m.entities {
            assert!(e.length > 0, "message {i}: empty entity {e:?}");
            let end = e.offset + e.length;
            assert!(
                end <= utf16.len(),
                "message {i}: entity {e:?} past the end ({})",
                utf16.len()
            );
            for at in [e.offset, end] {
                if at < utf16.len() {
                    assert!(
                        !(0xDC00..0xE000).contains(&utf16[at]),
                        "message {i}: entity {e:?} splits a surrogate pair"
                    );
                }
            }
        }
    }
}

/// The text an entity covers.
pub fn entity_text(message: &OutgoingMessage, offset: usize, length: usize) -> String {
    let utf16: Vec<u16> = message.text.encode_utf16().collect();
    String::from_utf16_lossy(&utf16[offset..offset + length])
}

/// The group the tests post to, and an admin's user id.
pub const GROUP: i64 = -1_001_000;
pub const ADMIN: i64 = 42;

/// Telegram settings for tests: one group target, one admin, no pacing of our own (so the
/// fake's rate limits are what is tested), short timeouts.
pub fn test_telegram(config: &mut Config, api_url: &str) {
    config.telegram.api_url = api_url.to_string();
    config.telegram.targets = vec![ecobrief::config::TargetConfig {
        chat: GROUP.to_string(),
        thread_id: None,
        disable_notification: false,
        link_preview: false,
        edition: ecobrief::message::Edition::Text,
        pin: false,
    }];
    config.telegram.admins = vec![ADMIN];
    config.telegram.group_interval_ms = 0;
    config.telegram.private_interval_ms = 0;
    config.telegram.request_timeout_seconds = 5;
    config.telegram.max_retries = 3;
    config.telegram.poll_timeout_seconds = 1;
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

pub fn day(text: &str) -> NaiveDate {
    text.parse().expect("a YYYY-MM-DD day")
}

/// A change to the config, given the test's folder.
type ConfigChange = Box<dyn FnOnce(&mut Config, &Path)>;

/// How a [`TestApp`] is set up before it starts.
pub struct TestAppBuilder {
    api_url: String,
    adjust: Vec<ConfigChange>,
    secrets: Secrets,
    clock: Option<Arc<ManualClock>>,
    dir: Option<TempDir>,
    purpose_serve: bool,
}

/// The running application under test.
pub struct TestApp {
    pub dir: TempDir,
    pub core: Core,
    pub jobs: JobQueue,
    /// The HTTP server's address, when it runs.
    pub address: Option<SocketAddr>,
    pub clock: Option<Arc<ManualClock>>,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl TestApp {
    /// A builder for an app that talks to `fake`: schedule off, samples as the one
    /// folder source, the HTTP server on a free port.
    pub fn builder(fake: &fake_telegram::FakeTelegram) -> TestAppBuilder {
        TestAppBuilder {
            api_url: fake.url.clone(),
            adjust: Vec::new(),
            secrets: Secrets::default(),
            clock: None,
            dir: None,
            purpose_serve: true,
        }
    }
}

impl TestAppBuilder {
    pub fn config(mut self, adjust: impl FnOnce(&mut Config) + 'static) -> Self {
        self.adjust.push(Box::new(move |c, _| adjust(c)));
        self
    }

    /// Adjusts the config knowing the test's folder (for source folders inside it).
    pub fn config_in(mut self, adjust: impl FnOnce(&mut Config, &Path) + 'static) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Job logic reads this clock instead of the real time.
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Reuses a folder (and so the database) from an earlier run: a restart.
    pub fn dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// The settings this builder makes (for tests of start-up errors).
    pub fn settings(self) -> (TempDir, Result<Settings, ecobrief::config::ConfigError>) {
        let dir = self
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let mut config = test_config(dir.path());
        test_telegram(&mut config, &self.api_url);
        config.schedule.enabled = false;
        config.server.listen = "127.0.0.1:0".to_string();
        for adjust in self.adjust {
            adjust(&mut config, dir.path());
        }
        (dir, Settings::from_config(config))
    }

    /// Builds and starts the application; returns once its start-up (resume, first
    /// read of the sources, catch-up) is done.
    pub async fn start(self) -> TestApp {
        self.try_start().await.expect("the application starts")
    }

    pub async fn try_start(mut self) -> Result<TestApp, StartError> {
        let secrets = std::mem::take(&mut self.secrets);
        let clock = self.clock.clone();
        let serve = self.purpose_serve;
        let (dir, settings) = self.settings();
        let settings = settings.expect("settings parse");
        // Any free port: tests run in parallel, and 8080 may be taken.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut options = StartOptions::new(
            if serve {
                Purpose::Serve
            } else {
                Purpose::PublishOnce
            },
            Some(fake_telegram::TOKEN.to_string()),
        );
        options.secrets = secrets;
        options.listener = Some(listener);
        options.clock = match &clock {
            Some(clock) => Arc::clone(clock) as Arc<dyn Clock>,
            None => Arc::new(SystemClock),
        };
        let application = Application::build(settings, options, stopping).await?;
        let core = application.core().clone();
        let jobs = application.jobs();
        let address = application.server_address();
        let task = tokio::spawn(application.run_until_stopped());
        let app = TestApp {
            dir,
            core,
            jobs,
            address,
            clock,
            stop,
            task,
        };
        // Jobs run after the start-up: this one's answer means it is over.
        app.jobs.ingest(false).await;
        Ok(app)
    }
}

impl TestApp {
    /// Writes a file under the test's temp dir and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        write_file(self.dir.path(), name, bytes)
    }

    /// A database connection of the test's own.
    pub fn store(&self) -> Conn {
        self.core.db.get().expect("a connection")
    }

    /// `http://127.0.0.1:PORT` of the HTTP server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address.expect("the server runs"))
    }

    /// Posts `date` as `/post` would (through the job runner); the report, or why not.
    pub async fn post(&self, date: NaiveDate, force: bool) -> Result<PublishReport, PublishError> {
        match self
            .jobs
            .publish(date, Trigger::CommandLine, force)
            .await
            .expect("the runner answers")?
        {
            PublishOutcome::Posted { report, .. } => Ok(report),
            PublishOutcome::AlreadyPosted => Err(PublishError::AlreadyPosted(date)),
            other => panic!("a manual post ended as {other:?}"),
        }
    }

    /// The schedule firing at `at`; returns when that job is done.
    pub async fn fire_publish(&self, at: DateTime<Utc>) -> PublishOutcome {
        self.jobs
            .scheduled_publish(at, Trigger::Schedule, self.core.settings.tz)
            .await
            .expect("the runner answers")
            .expect("a scheduled publish reports its outcome")
    }

    /// The ingest schedule firing (or `/ingest` when `force`); returns when it is done.
    pub async fn ingest(&self, force: bool) -> ecobrief::sources::SourcesReport {
        self.jobs.ingest(force).await.expect("the runner answers")
    }

    /// Moves the injected clock and lets the runner check waiting days.
    pub async fn set_time(&self, now: DateTime<Utc>) {
        self.clock.as_ref().expect("a manual clock").set(now);
        // An ingest job ends with the same check, and answers when it is done.
        self.jobs.ingest(false).await;
    }

    /// Stops the application and waits for it; returns its folder (the database) for
    /// inspection or a restart.
    pub async fn shutdown(self) -> TempDir {
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the application stops within 30 s")
            .expect("the application task");
        result.expect("the application ran");
        self.dir
    }
}
