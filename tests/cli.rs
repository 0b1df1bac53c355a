//! The `ecobrief` binary as a user runs it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::repo_path;
use ecobrief::message::OutgoingMessage;

fn ecobrief(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .current_dir(repo_path(""))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn preview_prints_the_sample_day_as_json_messages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let out = ecobrief(
        &db,
        &["preview", "--date", "2026-03-12", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let messages: Vec<OutgoingMessage> =
        serde_json::from_str(&stdout(&out)).expect("a JSON array of messages");
    assert!(messages.len() >= 2);
    common::assert_telegram_valid(&messages);
    let raw: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first = &raw[0]["entities"][0];
    assert_eq!(first["type"], "bold");
    assert!(first["offset"].is_u64() && first["length"].is_u64());

    let text = ecobrief(&db, &["preview", "--date", "2026-03-12"]);
    assert!(text.status.success());
    assert!(
        stdout(&text).contains("──────── message 2/"),
        "separator between messages"
    );
}

#[test]
fn preview_of_an_empty_day_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = ecobrief(
        &dir.path().join("e.db"),
        &["preview", "--date", "2031-01-01"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no items for 2031-01-01"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "never an empty post");
}

#[test]
fn ingest_reports_each_file_and_fails_if_any_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.db");
    let bad = dir.path().join("broken.md");
    std::fs::write(&bad, "---\ntitle: x\n").unwrap();
    let samples = repo_path("samples");
    let out = ecobrief(
        &db,
        &["ingest", samples.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("ok     ") && text.contains("brief-2026-03-12.md ("),
        "{text}"
    );
    assert!(
        text.contains("broken.md: line 1: front matter is opened with --- but never closed"),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    // The command stops its checkpoint thread before it exits, so the last connection
    // folds the WAL back into the file and removes it: what it stored is on disk.
    let wal = dir.path().join("i.db-wal");
    assert!(!wal.exists(), "the ingest left its WAL behind");

    let topic = ecobrief(&db, &["topic", "GOLD", "--format", "json"]);
    assert!(topic.status.success(), "{}", stderr(&topic));
    let replies: Vec<OutgoingMessage> = serde_json::from_str(&stdout(&topic)).unwrap();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].text.contains("黄金"));

    let unknown = ecobrief(&db, &["topic", "no-such-topic"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no topic named"));

    let topics = ecobrief(&db, &["topics"]);
    assert!(stdout(&topics).lines().count() >= 12);
}

#[test]
fn check_config_passes_on_the_shipped_config_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ok = ecobrief(&dir.path().join("c.db"), &["check-config"]);
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("ok     templates"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "timezone = \"Mars/Olympus\"\n").unwrap();
    let out = ecobrief(
        &dir.path().join("c.db"),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains("timezone") && err.contains("Mars/Olympus"),
        "{err}"
    );

    std::fs::write(&bad, "[schedule]\npublish_cron = \"every day at 8\"\n").unwrap();
    let out = ecobrief(
        &dir.path().join("c.db"),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schedule.publish_cron"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&bad, "[[telegram.targets]]\nchat = \"ecodailyreport\"\n").unwrap();
    let out = ecobrief(
        &dir.path().join("c.db"),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    assert!(
        stderr(&out).contains("telegram.targets[0].chat"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&bad, "[render]\nbudjet = 10\n").unwrap();
    let out = ecobrief(
        &dir.path().join("c.db"),
        &["--config", bad.to_str().unwrap(), "check-config"],
    );
    assert!(stderr(&out).contains("budjet"), "{}", stderr(&out));
}

/// Runs the binary with only a config file (no `--db`), and a token that is never used.
fn with_config(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .current_dir(repo_path(""))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("ECOBRIEF_BOT_TOKEN", "1:unused")
        .env_remove("ECOBRIEF_API_URL")
        .output()
        .expect("binary runs")
}

#[test]
fn check_config_refuses_what_start_up_refuses_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ok.db");
    let folder = dir.path().display().to_string();
    let cases = [
        ("database = \"\"\n".to_string(), "database"),
        (format!("database = {folder:?}\n"), "database"),
        (
            format!(
                "database = {:?}\n[telegram]\napi_url = \"api.telegram.org\"\n",
                db.display().to_string()
            ),
            "telegram.api_url",
        ),
        (
            format!(
                "database = {:?}\n[schedule]\npublish_cron = \"0 0 8 30 2 *\"\n",
                db.display().to_string()
            ),
            "schedule.publish_cron",
        ),
        (
            format!(
                "database = {:?}\n[server]\nmax_body_bytes = 0\n",
                db.display().to_string()
            ),
            "server.max_body_bytes",
        ),
        (
            format!(
                "database = {:?}\n[[sources]]\nkind = \"feed\"\nurl = \"https://feeds.example/a\"\nfetch = {{ timeout_seconds = 0 }}\n",
                db.display().to_string()
            ),
            "sources[0].fetch.timeout_seconds",
        ),
        (
            format!(
                "database = {:?}\n[[sources]]\nkind = \"dir\"\npath = \"samples\"\n[[sources]]\nkind = \"feed\"\nurl = \"https://feeds.example/b\"\nfetch = {{ timeout_seconds = -5 }}\n",
                db.display().to_string()
            ),
            "sources[1].fetch.timeout_seconds",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&config, text).unwrap();
        for command in ["check-config", "run"] {
            let out = with_config(&config, &[command]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{command} with {text:?}: {err}");
            assert!(
                err.contains(key) && err.contains(&format!("bad-{i}.toml")),
                "{command} with {text:?} names {key}: {err}"
            );
        }
    }
    // Positive control: the same file with good values passes check-config.
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!("database = {:?}\n", db.display().to_string()),
    )
    .unwrap();
    let out = with_config(&good, &["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_unreachable_bot_api_is_not_blamed_on_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "database = {:?}\nsources = []\n[telegram]\napi_url = \"http://127.0.0.1:9\"\nrequest_timeout_seconds = 2\n",
            dir.path().join("c.db").display().to_string()
        ),
    )
    .unwrap();
    let out = with_config(&config, &["publish", "--date", "2026-03-12"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot reach the Bot API"), "{err}");
    assert!(
        !err.contains("1:unused"),
        "the token is never printed: {err}"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    for args in [
        vec!["topics"],
        vec!["preview", "--date", "2026-03-12"],
        vec!["check-config"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ecobrief"))
            .current_dir(repo_path(""))
            .arg("--db")
            .arg(&db)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes anything, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Positive control: with a reader, the same command prints its output.
    let topics = ecobrief(&db, &["topics"]);
    assert!(stdout(&topics).contains("gold"));
}

/// Logs read by a file or a journal carry no colour codes: stderr here is a pipe.
#[test]
fn logs_on_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.md");
    std::fs::write(&broken, "---\ntitle: 未闭合\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .current_dir(repo_path(""))
        .arg("--db")
        .arg(dir.path().join("log.db"))
        .arg("ingest")
        .arg(&broken)
        .env("ECOBRIEF_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .expect("binary runs");
    let log = stderr(&out);
    // Positive control: there is a log line to look at, with its level word.
    assert!(log.contains("WARN") && log.contains("broken.md"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
