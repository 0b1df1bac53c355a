//! No secret in any output: the real binary, against a Bot API whose error pages echo
//! the request path (token included) and sources whose URLs carry credentials. Every
//! output is searched afterwards: stdout, stderr, the database file and every message
//! Telegram received.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::fake_telegram::{FakeTelegram, Fault, Limits, TOKEN};
use common::{ADMIN, GROUP, repo_path};

const PASSWORD: &str = "hunter2-pass-word";
const QUERY_TOKEN: &str = "qs-SECRET-98765";

/// A feed that always fails and a document that works, both behind credentials.
async fn sources_server() -> String {
    let app = Router::new()
        .route(
            "/feed.xml",
            axum::routing::get(|| async {
                (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
            }),
        )
        .route(
            "/daily/commentary-2026-03-12.txt",
            axum::routing::get(|| async {
                (
                    [("content-type", "text/plain; charset=utf-8")],
                    "美元走弱，金价获得支撑。市场关注下周的通胀数据。",
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://reader:{PASSWORD}@{address}")
}

fn leaks(what: &str, text: &str) -> Vec<String> {
    let encoded_token = TOKEN.replace(':', "%3A");
    [TOKEN, encoded_token.as_str(), PASSWORD, QUERY_TOKEN]
        .iter()
        .filter(|secret| text.contains(*secret))
        .map(|secret| format!("{what} contains {secret:?}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_the_database_or_telegram() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let base = sources_server().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_path("");
    let config = dir.path().join("ecobrief.toml");
    std::fs::write(
        &config,
        format!(
            r#"database = "{db}"
topics_file = "{repo}/config/topics.toml"
[[sources]]
kind = "dir"
path = "{repo}/samples"
[[sources]]
kind = "feed"
url = "{base}/feed.xml?token={QUERY_TOKEN}"
fetch = {{ retries = 0, timeout_seconds = 5 }}
[[sources]]
kind = "url"
url = "{base}/daily/commentary-2026-03-12.txt?token={QUERY_TOKEN}"
fetch = {{ retries = 0, timeout_seconds = 5 }}
[render]
templates_dir = "{repo}/templates"
[schedule]
enabled = false
[server]
listen = "127.0.0.1:0"
[telegram]
admins = [{ADMIN}]
group_interval_ms = 0
private_interval_ms = 0
request_timeout_seconds = 5
max_retries = 3
poll_timeout_seconds = 1
[[telegram.targets]]
chat = "{GROUP}"
"#,
            db = dir.path().join("db.sqlite").display(),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let command = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"));
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("ECOBRIEF_BOT_TOKEN", TOKEN)
            .env("ECOBRIEF_API_URL", &fake.url)
            .env("ECOBRIEF_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    // A post whose first send meets a proxy's error page, and sources that fail or work.
    fake.fail_next("sendMessage", Fault::EchoPath(502));
    let mut publish = command(&["publish", "--date", "2026-03-12"]);
    let published = tokio::task::spawn_blocking(move || publish.output().unwrap())
        .await
        .unwrap();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );

    // The bot, whose getUpdates meets the same page (teloxide then pauses 10 s).
    fake.fail_next("getUpdates", Fault::EchoPath(502));
    let mut child = command(&["run"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fake.calls("getupdates").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "getUpdates never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let read = |pipe: Option<std::process::ChildStdout>| {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
        }
        text
    };
    let run_stdout = read(stdout_pipe);
    let mut run_stderr = String::new();
    if let Some(mut pipe) = stderr_pipe {
        std::io::Read::read_to_string(&mut pipe, &mut run_stderr).unwrap();
    }

    let publish_stderr = String::from_utf8_lossy(&published.stderr).into_owned();
    // Positive controls: the faults happened and were reported, scrubbed.
    assert!(
        publish_stderr.contains("[redacted]"),
        "the echoed path was logged, scrubbed: {publish_stderr}"
    );
    assert!(run_stderr.contains("getUpdates failed"), "{run_stderr}");
    assert!(
        fake.sent_to(&ADMIN.to_string())
            .iter()
            .any(|m| m.text.contains("feed.xml")),
        "admins heard of the failing feed: {:#?}",
        fake.sent_to(&ADMIN.to_string())
            .iter()
            .map(|m| m.text.clone())
            .collect::<Vec<_>>()
    );

    let mut found = Vec::new();
    found.extend(leaks(
        "publish stdout",
        &String::from_utf8_lossy(&published.stdout),
    ));
    found.extend(leaks("publish stderr", &publish_stderr));
    found.extend(leaks("run stdout", &run_stdout));
    found.extend(leaks("run stderr", &run_stderr));
    for file in ["db.sqlite", "db.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            found.extend(leaks(file, &String::from_utf8_lossy(&bytes)));
        }
    }
    for message in fake.sent() {
        found.extend(leaks("a Telegram message", &message.text));
    }
    assert!(found.is_empty(), "{found:#?}");
    // Stored from the url source: under its name without credentials.
    let db = std::fs::read(dir.path().join("db.sqlite")).unwrap();
    let wal = std::fs::read(dir.path().join("db.sqlite-wal")).unwrap_or_default();
    let stored = String::from_utf8_lossy(&db).into_owned() + &String::from_utf8_lossy(&wal);
    assert!(
        stored.contains("commentary-2026-03-12.txt"),
        "the url source's document is stored"
    );
}
