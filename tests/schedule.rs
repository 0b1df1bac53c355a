//! The schedule: a job firing at a given instant, catch-up after a late start, and the
//! real scheduler ticking inside a running bot.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::fake_telegram::{FakeTelegram, Limits};
use common::{ADMIN, GROUP, spawn_bot, spawn_publisher};
use ecobrief::publish::Trigger;
use ecobrief::schedule::{catch_up, parse_cron, run_publish};

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
const GRACE: Duration = Duration::from_secs(6 * 3600);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn posts(fake: &FakeTelegram) -> usize {
    fake.sent_to(&GROUP.to_string())
        .iter()
        .filter(|s| s.text.starts_with("📰 "))
        .count()
}

#[tokio::test]
async fn the_publish_job_at_8_posts_that_day_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    let report = run_publish(
        &publisher,
        TZ,
        at("2026-03-12T08:00:00+08:00"),
        Trigger::Schedule,
    )
    .await;
    assert!(report.expect("posted").complete());
    assert_eq!(posts(&fake), 1);
    // Fired again (a duplicate tick, or /post racing it): nothing more is sent.
    assert!(
        run_publish(
            &publisher,
            TZ,
            at("2026-03-12T08:00:01+08:00"),
            Trigger::Schedule
        )
        .await
        .is_none()
    );
    assert_eq!(posts(&fake), 1);
}

#[tokio::test]
async fn a_late_start_catches_up_within_the_grace_period_only() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (_dir, publisher, _stop) = spawn_publisher(&fake, |_| {});
    let cron = parse_cron("publish_cron", "0 0 8 * * *").unwrap();
    // Started at 15:00, seven hours late: too late to post.
    assert!(
        catch_up(
            &publisher,
            &cron,
            TZ,
            at("2026-03-12T15:00:00+08:00"),
            GRACE
        )
        .await
        .is_none()
    );
    assert_eq!(posts(&fake), 0);
    // Started at 09:30: today's 08:00 post is made now, once.
    let report = catch_up(
        &publisher,
        &cron,
        TZ,
        at("2026-03-12T09:30:00+08:00"),
        GRACE,
    )
    .await;
    assert_eq!(report.expect("caught up").trigger, Trigger::CatchUp);
    assert_eq!(posts(&fake), 1);
    assert!(
        catch_up(
            &publisher,
            &cron,
            TZ,
            at("2026-03-12T09:31:00+08:00"),
            GRACE
        )
        .await
        .is_none()
    );
    assert_eq!(posts(&fake), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_scheduler_fires_the_publish_job() {
    let fake = FakeTelegram::start(Limits::default()).await;
    // Every two seconds, no catch-up: anything the admin hears comes from a tick. Today
    // has no items, so the tick reports that to the admin.
    let bot = spawn_bot(&fake, |c| {
        c.schedule.enabled = true;
        c.schedule.publish_cron = "*/2 * * * * *".to_string();
        c.schedule.catch_up_hours = 0;
    })
    .await;
    let sent = fake
        .wait_for(Duration::from_secs(15), "a scheduled tick", |sent| {
            sent.iter()
                .any(|s| s.chat_id.as_i64() == Some(ADMIN) && s.text.contains("定时发布失败"))
        })
        .await;
    assert!(sent.iter().any(|s| s.text.contains("no items for")));
    bot.shutdown().await;
}
