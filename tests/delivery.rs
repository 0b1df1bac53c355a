//! Delivery over real HTTP against the fake Bot API: every part once, in order, whatever
//! Telegram answers.

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use common::fake_telegram::{FakeTelegram, Fault, Limits};
use common::{ADMIN, GROUP, spawn_publisher};
use ecobrief::publish::{PublishError, Trigger, with_app};

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

fn group_texts(fake: &FakeTelegram) -> Vec<String> {
    fake.sent_to(&GROUP.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[tokio::test]
async fn posts_every_part_in_order_once_and_refuses_a_second_post() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    let report = publisher
        .publish(day(), Trigger::CommandLine, false)
        .await
        .unwrap();
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

    match publisher.publish(day(), Trigger::CommandLine, false).await {
        Err(PublishError::AlreadyPosted(d)) => assert_eq!(d, day()),
        other => panic!("{other:?}"),
    }
    assert_eq!(group_texts(&fake).len(), 2, "nothing sent twice");

    publisher
        .publish(day(), Trigger::CommandLine, true)
        .await
        .unwrap();
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
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |c| c.render.message_budget = 900);
    fake.fail_next("sendMessage", Fault::Status(502));
    fake.fail_next("sendMessage", Fault::Drop);
    fake.fail_next("sendMessage", Fault::Status(500));
    let report = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
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
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    let new_id = -1_009_999;
    fake.migrate(&GROUP.to_string(), new_id);
    let report = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
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
    let stored = with_app(publisher.app(), |app| {
        app.store.migrated_chat(&GROUP.to_string())
    })
    .unwrap();
    assert_eq!(stored, Some(new_id), "the new id is remembered");
}

#[tokio::test]
async fn chat_not_found_fails_the_target_and_tells_admins() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    fake.fail_next("sendMessage", Fault::ChatNotFound);
    let report = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
    assert!(!report.complete());
    let admin = fake.sent_to(&ADMIN.to_string());
    assert!(
        admin.iter().any(|m| m.text.contains("chat not found")),
        "{admin:?}"
    );
    // Not posted yet: the next run resumes it, from the part that failed.
    assert!(!publisher.is_posted(day()).unwrap());
    let again = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
    assert!(again.complete());
    assert_eq!(part_numbers(&group_texts(&fake)), vec!["1/2", "2/2"]);
}

#[tokio::test]
async fn subscribers_get_one_digest_and_a_blocked_one_is_deactivated() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    with_app(publisher.app(), |app| {
        app.store.subscribe(501, 501, "gold").unwrap();
        app.store.subscribe(501, 501, "oil").unwrap();
        app.store.subscribe(502, 502, "crypto").unwrap();
        app.store.subscribe(503, 503, "gold").unwrap();
    });
    fake.block("503");
    let report = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
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
    assert_eq!(
        with_app(publisher.app(), |app| app.store.subscriber_count()).unwrap(),
        2
    );

    publisher
        .publish(day(), Trigger::Command { user_id: ADMIN }, true)
        .await
        .unwrap();
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
    // `publish` ingests nothing itself: load the samples first.
    let ingest = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .arg("--config")
        .arg(&config)
        .arg("ingest")
        .arg(repo.join("samples"))
        .output()
        .unwrap();
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stdout)
    );

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

#[tokio::test]
async fn failed_posts_of_recent_days_resume_at_start_and_older_ones_do_not() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    fake.fail_next("sendMessage", Fault::ChatNotFound);
    let failed = publisher
        .publish(day(), Trigger::Schedule, false)
        .await
        .unwrap();
    assert!(!failed.complete());
    // Started a week later: too old to post into the group now.
    let later = day() + chrono::Duration::days(7);
    assert!(publisher.resume_unfinished(later).await.is_empty());
    assert!(group_texts(&fake).is_empty());
    // Started the same day: finished from the part that failed.
    let resumed = publisher.resume_unfinished(day()).await;
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0].complete());
    assert_eq!(part_numbers(&group_texts(&fake)), vec!["1/2", "2/2"]);
}

#[tokio::test]
async fn a_stop_during_a_long_429_wait_ends_the_post_quickly_and_keeps_it_pending() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, stop) = spawn_publisher(&fake, |_| {});
    fake.fail_next("sendMessage", Fault::RetryAfter(600));
    let publisher = std::sync::Arc::new(publisher);
    let running = tokio::spawn({
        let publisher = std::sync::Arc::clone(&publisher);
        async move { publisher.publish(day(), Trigger::Schedule, false).await }
    });
    fake.wait_calls("sendMessage", 1, Duration::from_secs(10))
        .await;
    stop.send(true).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops within 5 s, not after the 600 s wait")
        .unwrap()
        .unwrap();
    assert!(
        report.targets[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("stopped")
    );
    assert!(group_texts(&fake).is_empty());
    let state = with_app(publisher.app(), |app| {
        app.store.latest_publication(day(), &GROUP.to_string(), 0)
    })
    .unwrap()
    .unwrap()
    .state;
    assert_eq!(
        state,
        ecobrief::store::delivery::PublicationState::Pending,
        "resumed at the next start"
    );
}
