//! Shared test helpers: one `spawn_app` that opens a real App on a fresh SQLite file.
#![allow(dead_code)]

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
