//! The morning job as one pipeline: the schedule reads the sources before it composes,
//! waits for a late brief, catches up after a late start, and never races the ingest.
//! The real application runs against the fake Bot API; job logic reads an injected clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_telegram::{FakeTelegram, Limits};
use common::{ADMIN, GROUP, TestApp, at, day, repo_path};
use ecobrief::config::{OnMissingBrief, SourceConfig};
use ecobrief::runner::{ManualClock, PublishOutcome};
use ecobrief::store::days::DayOutcome;

const BRIEF_TITLE: &str = "美国通胀超预期压制降息前景";

/// Brief posts (first parts) the group received.
fn posts(fake: &FakeTelegram) -> Vec<String> {
    fake.sent_to(&GROUP.to_string())
        .into_iter()
        .filter(|s| s.text.starts_with("📰 "))
        .map(|s| s.text)
        .collect()
}

/// The group got the day's brief, once.
fn assert_one_brief_post(fake: &FakeTelegram) {
    let posted = posts(fake);
    assert_eq!(posted.len(), 1, "posted once: {posted:?}");
    assert!(posted[0].contains(BRIEF_TITLE), "{}", posted[0]);
}

fn assert_posted_with_brief(outcome: &PublishOutcome) {
    assert!(
        matches!(
            outcome,
            PublishOutcome::Posted {
                with_brief: true,
                ..
            }
        ),
        "{outcome:?}"
    );
}

fn admin_texts(fake: &FakeTelegram, needle: &str) -> usize {
    fake.sent_to(&ADMIN.to_string())
        .iter()
        .filter(|s| s.text.contains(needle))
        .count()
}

/// Waits until admins got `count` messages containing `needle`.
async fn wait_admin(fake: &FakeTelegram, needle: &str, count: usize) {
    fake.wait_for(Duration::from_secs(15), needle, |sent| {
        sent.iter()
            .filter(|s| s.chat_id.as_i64() == Some(ADMIN) && s.text.contains(needle))
            .count()
            >= count
    })
    .await;
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo_path("samples").join(name)).expect("a shipped sample")
}

/// An app whose one source is the folder `inbox/` inside its temp dir (empty at start),
/// with the schedule's rules for the late brief, and a clock at `now`.
async fn inbox_app(
    fake: &FakeTelegram,
    now: &str,
    on_missing: OnMissingBrief,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let clock = Arc::new(ManualClock::new(at(now)));
    let mut builder = TestApp::builder(fake)
        .clock(clock)
        .config_in(move |c, dir| {
            let inbox = dir.join("inbox");
            std::fs::create_dir_all(&inbox).unwrap();
            c.sources = vec![SourceConfig::Dir {
                path: inbox,
                name: Some("inbox".to_string()),
            }];
            c.schedule.wait_for_brief_minutes = 120;
            c.schedule.on_missing_brief = on_missing;
        });
    if let Some(dir) = dir {
        builder = builder.dir(dir);
    }
    builder.start().await
}

const EIGHT: &str = "2026-03-12T08:00:00+08:00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brief_written_a_second_before_the_publish_time_is_in_that_post() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(
        &fake,
        "2026-03-12T07:59:59+08:00",
        OnMissingBrief::Post,
        None,
    )
    .await;
    app.write("inbox/brief-2026-03-12.md", sample("brief-2026-03-12.md"));
    let outcome = app.fire_publish(at(EIGHT)).await;
    assert_posted_with_brief(&outcome);
    assert_one_brief_post(&fake);
    // Fired again (a duplicate tick): nothing more is sent.
    let again = app.fire_publish(at("2026-03-12T08:00:01+08:00")).await;
    assert!(matches!(again, PublishOutcome::AlreadyPosted), "{again:?}");
    assert_eq!(posts(&fake).len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_ingest_in_the_same_second_post_the_new_document() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    // An article of the day is already stored: a racing publish would post it alone.
    app.write("inbox/copper.md", sample("article-2026-03-12-copper.md"));
    app.ingest(false).await;
    app.write("inbox/brief-2026-03-12.md", sample("brief-2026-03-12.md"));
    // Both jobs handed in at once, ingest first: the post still reads the sources.
    app.jobs.scheduled_ingest();
    let outcome = app.fire_publish(at(EIGHT)).await;
    assert_posted_with_brief(&outcome);
    assert_one_brief_post(&fake);
    app.shutdown().await;

    // Publish first, ingest second: the publish reads the new file itself.
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    app.write("inbox/brief-2026-03-12.md", sample("brief-2026-03-12.md"));
    let jobs = app.jobs.clone();
    let publish = tokio::spawn(async move {
        jobs.scheduled_publish(
            at(EIGHT),
            ecobrief::publish::Trigger::Schedule,
            chrono_tz::Asia::Shanghai,
        )
        .await
    });
    app.jobs.scheduled_ingest();
    publish.await.unwrap();
    app.ingest(false).await;
    assert_one_brief_post(&fake);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_publish_time_is_caught_up_after_the_first_read_and_only_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let start = |dir: Option<tempfile::TempDir>, now: &str| {
        let clock = Arc::new(ManualClock::new(at(now)));
        let mut builder = TestApp::builder(&fake).clock(clock).config(|c| {
            c.schedule.enabled = true;
            c.schedule.catch_up_hours = 6;
        });
        if let Some(dir) = dir {
            builder = builder.dir(dir);
        }
        builder.start()
    };
    // Started at 15:00, seven hours late: too late to post.
    let app = start(None, "2026-03-12T15:00:00+08:00").await;
    let dir = app.shutdown().await;
    assert!(posts(&fake).is_empty());
    // Started at 09:30 on a fresh install: the documents are only in the source folder.
    // The catch-up runs after the first read, so the real brief is posted.
    let fresh = tempfile::tempdir().unwrap();
    let app = start(Some(fresh), "2026-03-12T09:30:00+08:00").await;
    assert_one_brief_post(&fake);
    let fresh = app.shutdown().await;
    // A restart posts nothing more.
    let app = start(Some(fresh), "2026-03-12T09:35:00+08:00").await;
    app.ingest(false).await;
    assert_eq!(posts(&fake).len(), 1);
    app.shutdown().await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_brief_is_posted_once_when_it_arrives_and_admins_hear_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    app.write("inbox/copper.md", sample("article-2026-03-12-copper.md"));
    let outcome = app.fire_publish(at(EIGHT)).await;
    assert!(
        matches!(outcome, PublishOutcome::Waiting { .. }),
        "{outcome:?}"
    );
    assert!(posts(&fake).is_empty(), "not posted without its brief");
    let plan = app
        .store()
        .day_plan(day("2026-03-12"), &GROUP.to_string(), 0)
        .unwrap()
        .unwrap();
    assert!(plan.waiting_since.is_some() && plan.late_notified);
    wait_admin(&fake, "简报还没有到", 1).await;
    // Ingests without the brief: still waiting, no second notice.
    app.set_time(at("2026-03-12T08:10:00+08:00")).await;
    app.set_time(at("2026-03-12T08:20:00+08:00")).await;
    assert!(posts(&fake).is_empty());
    // The brief arrives at 08:25 and is posted at the next ingest.
    app.write("inbox/brief-2026-03-12.md", sample("brief-2026-03-12.md"));
    app.set_time(at("2026-03-12T08:25:00+08:00")).await;
    assert_one_brief_post(&fake);
    wait_admin(&fake, "📮", 1).await;
    assert_eq!(
        admin_texts(&fake, "简报还没有到"),
        1,
        "told once that it is late"
    );
    let plan = app
        .store()
        .day_plan(day("2026-03-12"), &GROUP.to_string(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(plan.outcome, Some(DayOutcome::Posted));
    // Past the deadline nothing more happens.
    app.set_time(at("2026-03-12T10:30:00+08:00")).await;
    assert_eq!(posts(&fake).len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_deadline_what_there_is_is_posted_or_the_day_is_skipped() {
    // on_missing_brief = "post": the article is posted at the deadline, admins told.
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    app.write("inbox/copper.md", sample("article-2026-03-12-copper.md"));
    app.fire_publish(at(EIGHT)).await;
    app.set_time(at("2026-03-12T09:59:00+08:00")).await;
    assert!(posts(&fake).is_empty(), "still inside the wait");
    app.set_time(at("2026-03-12T10:00:01+08:00")).await;
    let posted = posts(&fake);
    assert_eq!(posted.len(), 1, "posted at the deadline");
    assert!(posted[0].contains("铜价"), "{}", posted[0]);
    wait_admin(&fake, "按设置发布现有", 1).await;
    app.shutdown().await;

    // on_missing_brief = "skip": nothing posted, admins told, the day ended as skipped.
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Skip, None).await;
    app.write("inbox/copper.md", sample("article-2026-03-12-copper.md"));
    app.fire_publish(at(EIGHT)).await;
    app.set_time(at("2026-03-12T10:00:01+08:00")).await;
    // The late notice, then the skip.
    wait_admin(&fake, "今天不发布", 2).await;
    assert!(posts(&fake).is_empty());
    let plan = app
        .store()
        .day_plan(day("2026-03-12"), &GROUP.to_string(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(plan.outcome, Some(DayOutcome::Skipped));
    app.shutdown().await;

    // No items at all: never recorded as posted, admins told at the deadline.
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    app.fire_publish(at(EIGHT)).await;
    app.set_time(at("2026-03-12T10:00:01+08:00")).await;
    wait_admin(&fake, "没有任何内容", 1).await;
    assert!(posts(&fake).is_empty());
    assert!(
        app.store()
            .latest_publication(day("2026-03-12"), &GROUP.to_string(), 0)
            .unwrap()
            .is_none(),
        "nothing recorded as posted"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_waiting_neither_repeats_the_notice_nor_the_post() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = inbox_app(&fake, EIGHT, OnMissingBrief::Post, None).await;
    app.write("inbox/copper.md", sample("article-2026-03-12-copper.md"));
    app.fire_publish(at(EIGHT)).await;
    wait_admin(&fake, "简报还没有到", 1).await;
    let dir = app.shutdown().await;

    // Back at 08:30 with the schedule on: catch-up finds the day already waiting.
    let clock = Arc::new(ManualClock::new(at("2026-03-12T08:30:00+08:00")));
    let app = TestApp::builder(&fake)
        .dir(dir)
        .clock(Arc::clone(&clock))
        .config_in(|c, dir| {
            c.sources = vec![SourceConfig::Dir {
                path: dir.join("inbox"),
                name: Some("inbox".to_string()),
            }];
            c.schedule.enabled = true;
        })
        .start()
        .await;
    app.ingest(false).await;
    assert!(posts(&fake).is_empty());
    app.write("inbox/brief-2026-03-12.md", sample("brief-2026-03-12.md"));
    app.ingest(false).await;
    app.ingest(false).await;
    let posted = posts(&fake);
    assert_eq!(posted.len(), 1, "posted once");
    assert!(posted[0].contains(BRIEF_TITLE));
    // The post's summary reaches the admin after any notice of the restart would have.
    wait_admin(&fake, "📮", 1).await;
    assert_eq!(admin_texts(&fake, "简报还没有到"), 1, "not told twice");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_the_api_ends_the_wait_at_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let clock = Arc::new(ManualClock::new(at(EIGHT)));
    let app = TestApp::builder(&fake)
        .clock(clock)
        .secrets(ecobrief::server::Secrets {
            api_token: Some("push-token".to_string()),
            webhook_secret: None,
        })
        .config(|c| c.sources = Vec::new())
        .start()
        .await;
    let outcome = app.fire_publish(at(EIGHT)).await;
    assert!(
        matches!(outcome, PublishOutcome::Waiting { .. }),
        "{outcome:?}"
    );
    let response = reqwest::Client::new()
        .post(app.url("/api/items?name=brief-2026-03-12.md"))
        .bearer_auth("push-token")
        .header("content-type", "text/markdown")
        .body(sample("brief-2026-03-12.md"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    // No ingest, no tick: the push itself rings the runner.
    fake.wait_for(Duration::from_secs(15), "the post after the push", |sent| {
        sent.iter().any(|s| s.text.contains(BRIEF_TITLE))
    })
    .await;
    assert_eq!(posts(&fake).len(), 1);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_scheduler_hands_its_publish_to_the_runner() {
    let fake = FakeTelegram::start(Limits::default()).await;
    // Every two seconds, no catch-up: anything the admin hears comes from a tick. Today
    // (the real day) has no items, so the tick waits for its brief and says so.
    let app = TestApp::builder(&fake)
        .config(|c| {
            c.schedule.enabled = true;
            c.schedule.publish_cron = "*/2 * * * * *".to_string();
            c.schedule.catch_up_hours = 0;
        })
        .start()
        .await;
    fake.wait_for(Duration::from_secs(15), "a scheduled tick", |sent| {
        sent.iter()
            .any(|s| s.chat_id.as_i64() == Some(ADMIN) && s.text.contains("简报还没有到"))
    })
    .await;
    app.shutdown().await;
}
