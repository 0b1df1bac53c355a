//! Shared test helpers: one `spawn_app` that opens a real App on a fresh SQLite file.
#![allow(dead_code)]

pub mod fake_telegram;

use std::path::{Path, PathBuf};

use ecobrief::app::App;
use ecobrief::config::{Config, SourceConfig};
use ecobrief::render::text::OutgoingMessage;
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

pub struct TestApp {
    pub dir: TempDir,
    pub app: App,
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

pub fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let app = App::open(config).expect("app opens");
    TestApp { dir, app }
}

impl TestApp {
    /// Writes a file under the test's temp dir and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }
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
    }];
    config.telegram.admins = vec![ADMIN];
    config.telegram.group_interval_ms = 0;
    config.telegram.private_interval_ms = 0;
    config.telegram.request_timeout_seconds = 5;
    config.telegram.max_retries = 3;
    config.telegram.poll_timeout_seconds = 1;
}

/// A publisher on a fresh app (samples ingested) talking to `fake`.
pub fn spawn_publisher(
    fake: &fake_telegram::FakeTelegram,
    adjust: impl FnOnce(&mut Config),
) -> (
    TempDir,
    ecobrief::publish::Publisher,
    tokio::sync::watch::Sender<bool>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    test_telegram(&mut config, &fake.url);
    adjust(&mut config);
    let telegram = config.telegram.clone();
    let mut app = App::open(config).expect("app opens");
    app.ingest_sources().expect("samples ingest");
    let api = ecobrief::publish::botapi::BotApi::new(
        &fake.url,
        fake_telegram::TOKEN,
        std::time::Duration::from_secs(5),
    )
    .expect("client");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let publisher = ecobrief::publish::Publisher::new(
        std::sync::Arc::new(std::sync::Mutex::new(app)),
        api,
        telegram,
        stopping,
    );
    (dir, publisher, stop)
}

/// A running bot (`telegram::serve`) against `fake`, stopped on drop of `stop`.
pub struct TestBot {
    pub dir: TempDir,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), ecobrief::telegram::ServeError>>,
}

pub async fn spawn_bot(
    fake: &fake_telegram::FakeTelegram,
    adjust: impl FnOnce(&mut Config),
) -> TestBot {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    test_telegram(&mut config, &fake.url);
    config.schedule.enabled = false;
    // Any free port: tests run in parallel, and 8080 may be taken.
    config.server.listen = "127.0.0.1:0".to_string();
    adjust(&mut config);
    let mut app = App::open(config).expect("app opens");
    app.ingest_sources().expect("samples ingest");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(ecobrief::telegram::serve(
        app,
        Some(fake_telegram::TOKEN.to_string()),
        stopping,
    ));
    TestBot { dir, stop, task }
}

impl TestBot {
    /// Stops the bot and waits for it; returns its folder (the database) for inspection.
    pub async fn shutdown(self) -> TempDir {
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), self.task)
            .await
            .expect("bot stops within 20 s")
            .expect("bot task");
        result.expect("bot ran");
        self.dir
    }
}
