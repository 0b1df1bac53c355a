//! Delivery over real HTTP against the fake Bot API: every part once, in order, whatever
//! Telegram answers.

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use common::fake_telegram::{FakeTelegram, Fault, Limits};
use common::{ADMIN, GROUP, TestApp};
use ecobrief::publish::PublishError;
use ecobrief::store::delivery::PublicationState;

fn day() -> NaiveDate {
    "2026-03-12".parse().unwrap()
}

/// The part numbers `(i/n)` of the messages, in the order they arrived.
fn part_numbers(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .filter_map(|t| {
            t.rsplit_once("\n\n(")
                .map(|(_, n)| n.trim_end_matches(')').to_string())
        })
        .collect()
}

/// The state of the day's latest post to the group.
fn post_state(app: &TestApp) -> Option<PublicationState> {
    app.store()
        .latest_publication(day(), &GROUP.to_string(), 0)
        .unwrap()
        .map(|p| p.state)
}

fn group_texts(fake: &FakeTelegram) -> Vec<String> {
    fake.sent_to(&GROUP.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[tokio::test]
async fn posts_every_part_in_order_once_and_refuses_a_second_post() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let texts = group_texts(&fake);
    assert_eq!(part_numbers(&texts), vec!["1/2", "2/2"]);
    assert!(texts[0].starts_with("📰 "));
    // Admins get one private summary.
    let summary = fake.sent_to(&ADMIN.to_string());
    assert_eq!(summary.len(), 1);
    assert!(
        summary[0].text.contains("2/2 条已发送"),
        "{}",
        summary[0].text
    );

    match app.post(day(), false).await {
        Err(PublishError::AlreadyPosted(d)) => assert_eq!(d, day()),
        other => panic!("{other:?}"),
    }
    assert_eq!(group_texts(&fake).len(), 2, "nothing sent twice");

    app.post(day(), true).await.unwrap();
    assert_eq!(
        part_numbers(&group_texts(&fake)),
        vec!["1/2", "2/2", "1/2", "2/2"],
        "force posts again"
    );
}

#[tokio::test]
async fn a_429_storm_5xx_and_a_dropped_connection_still_deliver_each_part_once_in_order() {
    // Telegram allows one message per 1.2 s to this chat; we do not pace at all, so most
    // sends are answered 429 first. Two 5xx answers and a dropped connection come on top.
    let fake = FakeTelegram::start(Limits {
        per_chat_interval: Duration::from_millis(1200),
        ..Limits::default()
    })
    .await;
    let app = TestApp::builder(&fake)
        .config(|c| c.render.message_budget = 900)
        .start()
        .await;
    fake.fail_next("sendMessage", Fault::Status(502));
    fake.fail_next("sendMessage", Fault::Drop);
    fake.fail_next("sendMessage", Fault::Status(500));
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let texts = group_texts(&fake);
    let n = texts.len();
    assert!(n >= 4, "a small budget makes several parts");
    let expected: Vec<String> = (1..=n).map(|i| format!("{i}/{n}")).collect();
    assert_eq!(part_numbers(&texts), expected, "each part once, in order");
    assert!(fake.rate_limited() > 0, "the storm happened");
    let target = &report.targets[0];
    assert!(
        target.retries as usize >= fake.rate_limited() + 2,
        "{target:?}"
    );
    assert_eq!(target.failures, 0);
}

#[tokio::test]
async fn a_group_migrated_to_a_supergroup_gets_the_part_at_its_new_id() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    let new_id = -1_009_999;
    fake.migrate(&GROUP.to_string(), new_id);
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        part_numbers(
            &fake
                .sent_to(&new_id.to_string())
                .into_iter()
                .map(|s| s.text)
                .collect::<Vec<_>>()
        ),
        vec!["1/2", "2/2"]
    );
    let stored = app.store().migrated_chat(&GROUP.to_string()).unwrap();
    assert_eq!(stored, Some(new_id), "the new id is remembered");
}

#[tokio::test]
async fn chat_not_found_fails_the_target_and_tells_admins() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    fake.fail_next("sendMessage", Fault::ChatNotFound);
    let report = app.post(day(), false).await.unwrap();
    assert!(!report.complete());
    let admin = fake.sent_to(&ADMIN.to_string());
    assert!(
        admin.iter().any(|m| m.text.contains("chat not found")),
        "{admin:?}"
    );
    // Not posted yet: the next run resumes it, from the part that failed.
    assert_eq!(post_state(&app), Some(PublicationState::Failed));
    let again = app.post(day(), false).await.unwrap();
    assert!(again.complete());
    assert_eq!(part_numbers(&group_texts(&fake)), vec!["1/2", "2/2"]);
}

#[tokio::test]
async fn subscribers_get_one_digest_and_a_blocked_one_is_deactivated() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    {
        let mut store = app.store();
        store.subscribe(501, 501, "gold").unwrap();
        store.subscribe(501, 501, "oil").unwrap();
        store.subscribe(502, 502, "crypto").unwrap();
        store.subscribe(503, 503, "gold").unwrap();
    }
    fake.block("503");
    let report = app.post(day(), false).await.unwrap();
    assert_eq!(report.digests.sent, 2, "{report:?}");
    assert_eq!(report.digests.deactivated, 1);
    let digest = fake.sent_to("501");
    assert_eq!(digest.len(), 1);
    assert!(
        digest[0].text.contains("现货黄金刷新历史高位") && digest[0].text.contains("OPEC+"),
        "{}",
        digest[0].text
    );
    assert!(!digest[0].text.contains("比特币"));
    assert_eq!(app.store().subscriber_count().unwrap(), 2);

    app.post(day(), true).await.unwrap();
    assert_eq!(
        fake.sent_to("501").len(),
        1,
        "one digest per day, even after a forced re-post"
    );
}

/// The real binary, killed while part 3 is in flight, then started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_post_resumes_without_repeating_sent_parts() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ecobrief.toml");
    let repo = common::repo_path("");
    std::fs::write(
        &config,
        format!(
            r#"database = "{db}"
topics_file = "{repo}/config/topics.toml"
[[sources]]
kind = "dir"
path = "{repo}/samples"
[render]
templates_dir = "{repo}/templates"
message_budget = 1200
[telegram]
group_interval_ms = 0
private_interval_ms = 0
request_timeout_seconds = 60
[[telegram.targets]]
chat = "{GROUP}"
"#,
            db = dir.path().join("db.sqlite").display(),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let run = |config: std::path::PathBuf, url: String| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"));
        cmd.arg("--config")
            .arg(config)
            .args(["publish", "--date", "2026-03-12"])
            .env("ECOBRIEF_BOT_TOKEN", common::fake_telegram::TOKEN)
            .env("ECOBRIEF_API_URL", url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    // Nothing is ingested beforehand: `publish` reads the configured sources itself.
    fake.fail_next("sendMessage", Fault::Pass);
    fake.fail_next("sendMessage", Fault::Pass);
    fake.fail_next("sendMessage", Fault::Hang);
    let mut child = run(config.clone(), fake.url.clone()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fake.calls("sendMessage").len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "part 3 never went out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = group_texts(&fake);
    assert_eq!(
        before.len(),
        2,
        "parts 1 and 2 were delivered before the kill"
    );

    let (cfg, url) = (config.clone(), fake.url.clone());
    let out = tokio::task::spawn_blocking(move || run(cfg, url).output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts = group_texts(&fake);
    let n = texts.len();
    assert!(n >= 4, "{n} parts");
    let expected: Vec<String> = (1..=n).map(|i| format!("{i}/{n}")).collect();
    assert_eq!(
        part_numbers(&texts),
        expected,
        "3..n sent after the restart; 1 and 2 not repeated"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{n}/{n} 条已发送")));
}

#[tokio::test]
async fn a_missing_or_rejected_token_exits_2_with_one_line() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let run = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"));
        cmd.current_dir(common::repo_path(""))
            .arg("--db")
            .arg(&db)
            .args(["publish", "--date", "2026-03-12"])
            .env_remove("ECOBRIEF_BOT_TOKEN")
            .env_remove("TELOXIDE_TOKEN")
            .env("ECOBRIEF_API_URL", &fake.url);
        if let Some(t) = token {
            cmd.env("ECOBRIEF_BOT_TOKEN", t);
        }
        cmd
    };
    let missing = tokio::task::spawn_blocking({
        let mut cmd = run(None);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ECOBRIEF_BOT_TOKEN"));
    let secret = "999:wrong-secret-value";
    let rejected = tokio::task::spawn_blocking({
        let mut cmd = run(Some(secret));
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(rejected.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(stderr.contains("rejected"), "{stderr}");
    assert!(!stderr.contains(secret), "the token is never printed");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_posts_of_recent_days_resume_at_start_and_older_ones_do_not() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    fake.fail_next("sendMessage", Fault::ChatNotFound);
    let failed = app.post(day(), false).await.unwrap();
    assert!(!failed.complete());
    let dir = app.shutdown().await;
    // Started a week later: too old to post into the group now.
    let later = common::at("2026-03-19T09:00:00+08:00");
    let clock = std::sync::Arc::new(ecobrief::runner::ManualClock::new(later));
    let app = TestApp::builder(&fake).dir(dir).clock(clock).start().await;
    let dir = app.shutdown().await;
    assert!(group_texts(&fake).is_empty(), "nothing sent a week late");
    // Started the same day: finished from the part that failed.
    let same_day = common::at("2026-03-12T09:00:00+08:00");
    let clock = std::sync::Arc::new(ecobrief::runner::ManualClock::new(same_day));
    let app = TestApp::builder(&fake).dir(dir).clock(clock).start().await;
    assert_eq!(part_numbers(&group_texts(&fake)), vec!["1/2", "2/2"]);
    assert_eq!(post_state(&app), Some(PublicationState::Done));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_long_429_wait_ends_the_post_quickly_and_keeps_it_pending() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    fake.fail_next("sendMessage", Fault::RetryAfter(600));
    let jobs = app.jobs.clone();
    let running = tokio::spawn(async move {
        jobs.publish(day(), ecobrief::publish::Trigger::CommandLine, false)
            .await
    });
    fake.wait_calls("sendMessage", 1, Duration::from_secs(10))
        .await;
    app.stop.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops within 5 s, not after the 600 s wait")
        .unwrap()
        .expect("the runner answers before it stops")
        .unwrap();
    let ecobrief::runner::PublishOutcome::Posted { report, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        report.targets[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("stopped")
    );
    assert!(group_texts(&fake).is_empty());
    assert_eq!(
        post_state(&app),
        Some(PublicationState::Pending),
        "resumed at the next start"
    );
}
