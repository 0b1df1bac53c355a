//! The post's extras over real HTTP against the fake Bot API: the cover photo that opens
//! it, the pinned brief, and item times shown in each reader's own zone.

mod common;

use std::path::Path;

use chrono::{NaiveDate, TimeZone};
use common::fake_telegram::{FakeTelegram, Fault, Limits, PinEvent};
use common::{ADMIN, GROUP, TestApp, entity_text};
use ecobrief::message::OutgoingMessage;
use ecobrief::store::delivery::{COVER_PART, PartKind, PartState, PublicationKey};

/// The sample brief's day, title and cover image.
fn day() -> NaiveDate {
    "2026-03-12".parse().unwrap()
}
const TITLE: &str = "美国通胀超预期压制降息前景，金铜齐创历史新高";
const COVER: &str = "https://example.com/ecobrief/2026/03-12/cover-7Qh2xLrA.png";

/// A second day's brief, in the brief shape, written for these tests.
fn next_day() -> NaiveDate {
    "2026-03-13".parse().unwrap()
}
const NEXT_DAY_BRIEF: &str = "---
title: 次日简报：油价回落
date: 2026-03-13
coverImage: \"https://example.com/ecobrief/2026/03-13/cover.png\"
summary: \"- 油价回落\"
---
# 次日简报：油价回落

## 大宗商品

### 布伦特原油回落

- **时间：** 2026-03-13 07:10
- **核心要点：**
  - 布伦特原油回落 1%
";

fn with_next_day(config: &mut ecobrief::config::Config, dir: &Path) {
    let folder = dir.join("more");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("brief-2026-03-13.md"), NEXT_DAY_BRIEF).unwrap();
    config.sources.push(ecobrief::config::SourceConfig::Dir {
        path: folder,
        name: None,
    });
}

fn pin_group(config: &mut ecobrief::config::Config) {
    config.telegram.targets[0].pin = true;
}

fn group() -> String {
    GROUP.to_string()
}

fn admin_texts(fake: &FakeTelegram) -> Vec<String> {
    fake.sent_to(&ADMIN.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect()
}

/// The message ids of the text parts sent to the group, in order.
fn group_part_ids(fake: &FakeTelegram) -> Vec<i64> {
    fake.sent_to(&group())
        .iter()
        .map(|s| s.message_id)
        .collect()
}

fn key(date: NaiveDate, run: i64) -> PublicationKey {
    PublicationKey {
        brief_date: date,
        chat: group(),
        thread_id: 0,
        run,
    }
}

#[tokio::test]
async fn the_cover_photo_goes_first_with_the_title_and_date_as_its_caption() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");

    let photos = fake.photos();
    assert_eq!(photos.len(), 1, "{photos:?}");
    let photo = &photos[0];
    assert_eq!(photo.chat_id.as_i64(), Some(GROUP));
    assert_eq!(photo.photo, COVER);
    assert_eq!(photo.caption, format!("📰 {TITLE}\n2026年3月12日 星期四"));
    // As entities: the title bold, the date italic, offsets in UTF-16 ("📰" is two units).
    let entities = photo.caption_entities.as_array().unwrap();
    let kinds: Vec<(&str, u64, u64)> = entities
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["offset"].as_u64().unwrap(),
                e["length"].as_u64().unwrap(),
            )
        })
        .collect();
    let title_units = format!("📰 {TITLE}").encode_utf16().count() as u64;
    assert_eq!(
        kinds,
        vec![
            ("bold", 0, title_units),
            (
                "italic",
                title_units + 1,
                "2026年3月12日 星期四".encode_utf16().count() as u64
            )
        ]
    );
    // Before every text part, which still go out whole and numbered.
    let parts = group_part_ids(&fake);
    assert_eq!(parts.len(), 2);
    assert!(photo.message_id < parts[0], "the photo opens the post");
    let summary = admin_texts(&fake);
    assert_eq!(summary.len(), 1);
    assert!(summary[0].contains("2/2 条已发送"), "{}", summary[0]);
    assert!(!summary[0].contains("封面图"), "{}", summary[0]);

    // The outbox records the photo as a part of its own, before the text parts.
    let outbox = app.store().outbox_parts(&key(day(), 1)).unwrap();
    let cover = outbox.iter().find(|p| p.part == COVER_PART).unwrap();
    assert_eq!(
        cover.kind,
        PartKind::Cover {
            url: COVER.to_string()
        }
    );
    assert_eq!(cover.state, PartState::Sent);
    assert_eq!(cover.message_id, Some(photo.message_id));
    assert_eq!(
        outbox.iter().filter(|p| p.kind == PartKind::Text).count(),
        2
    );
}

#[tokio::test]
async fn cover_none_posts_the_text_only() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config(|c| c.brief.cover = ecobrief::config::CoverMode::None)
        .start()
        .await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(group_part_ids(&fake).len(), 2, "positive control: posted");
    assert!(fake.photos().is_empty());
    assert!(fake.calls("sendPhoto").is_empty());
}

#[tokio::test]
async fn a_refused_cover_does_not_hold_up_the_parts_and_admins_hear_of_it() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.refuse_photo(COVER);
    let app = TestApp::builder(&fake).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(
        report.complete(),
        "the post is complete without its cover: {report:?}"
    );
    assert_eq!(
        fake.calls("sendPhoto").len(),
        1,
        "the photo was tried, once"
    );
    assert!(fake.photos().is_empty());
    assert_eq!(group_part_ids(&fake).len(), 2, "every text part went out");
    let summary = admin_texts(&fake);
    assert_eq!(summary.len(), 1);
    assert!(summary[0].contains("2/2 条已发送"), "{}", summary[0]);
    assert!(
        summary[0].contains("封面图未发送")
            && summary[0].contains("wrong file identifier/HTTP URL specified"),
        "{}",
        summary[0]
    );
    let outbox = app.store().outbox_parts(&key(day(), 1)).unwrap();
    assert_eq!(outbox[0].part, COVER_PART);
    assert_eq!(outbox[0].state, PartState::Failed);
}

#[tokio::test]
async fn an_unreachable_cover_is_given_up_on_and_the_parts_still_go_out() {
    let fake = FakeTelegram::start(Limits::default()).await;
    // More 5xx answers than max_retries (3): the photo is given up on, not the post.
    for _ in 0..4 {
        fake.fail_next("sendPhoto", Fault::Status(502));
    }
    let app = TestApp::builder(&fake).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(fake.calls("sendPhoto").len(), 4);
    assert_eq!(group_part_ids(&fake).len(), 2);
    assert!(admin_texts(&fake)[0].contains("封面图未发送"));
}

#[tokio::test]
async fn a_restart_after_the_cover_was_sent_does_not_send_it_again() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    // The photo goes out; the first text part fails for good, so the post stops there.
    fake.fail_next("sendMessage", Fault::ChatNotFound);
    let report = app.post(day(), false).await.unwrap();
    assert!(!report.complete(), "{report:?}");
    assert_eq!(fake.photos().len(), 1);
    assert!(group_part_ids(&fake).is_empty());

    let dir = app.shutdown().await;
    let app = TestApp::builder(&fake).dir(dir).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        group_part_ids(&fake).len(),
        2,
        "the parts went out after the restart"
    );
    assert_eq!(fake.photos().len(), 1, "the photo was not sent again");
    assert_eq!(fake.calls("sendPhoto").len(), 1);
}

#[tokio::test]
async fn pins_the_first_part_silently_and_unpins_yesterdays() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config(pin_group)
        .config_in(with_next_day)
        .start()
        .await;
    // An admin's own pin, which the bot must leave alone.
    fake.pin_by_hand(&group(), 9_999);

    app.post(day(), false).await.unwrap();
    let day_one_parts = group_part_ids(&fake).len();
    let first = group_part_ids(&fake)[0];
    assert_eq!(
        fake.pin_events(),
        vec![PinEvent::Pinned {
            chat: group(),
            message_id: first,
            silent: true
        }],
        "the first text part (not the photo), silently"
    );
    assert_eq!(
        app.store().pinned_brief(&group(), 0, day()).unwrap(),
        Some(first)
    );

    let report = app.post(next_day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let next_first = group_part_ids(&fake)[day_one_parts];
    let events = fake.pin_events();
    assert_eq!(
        events[1..],
        [
            PinEvent::Pinned {
                chat: group(),
                message_id: next_first,
                silent: true
            },
            PinEvent::Unpinned {
                chat: group(),
                message_id: first
            }
        ],
        "{events:?}"
    );
    assert_eq!(fake.pinned(&group()), vec![9_999, next_first]);
    let store = app.store();
    assert_eq!(store.pinned_brief(&group(), 0, day()).unwrap(), None);
    assert_eq!(
        store.pinned_brief(&group(), 0, next_day()).unwrap(),
        Some(next_first)
    );
}

#[tokio::test]
async fn without_pin_rights_the_post_succeeds_and_admins_are_told_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.set_pin_rights(&group(), false);
    let app = TestApp::builder(&fake)
        .config(pin_group)
        .config_in(with_next_day)
        .start()
        .await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(group_part_ids(&fake).len(), 2);
    let first = admin_texts(&fake);
    assert_eq!(first.len(), 1);
    // Positive control: the first time, admins are told, with Telegram's words.
    assert!(
        first[0].contains("置顶失败")
            && first[0].contains("not enough rights to manage pinned messages in the chat")
            && first[0].contains("can_pin_messages"),
        "{}",
        first[0]
    );

    let report = app.post(next_day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        fake.calls("pinChatMessage").len(),
        2,
        "the second day tried to pin too"
    );
    let summaries = admin_texts(&fake);
    assert_eq!(summaries.len(), 2, "a summary for each day");
    assert!(summaries[1].contains("条已发送"), "{}", summaries[1]);
    assert!(
        !summaries[1].contains("置顶失败"),
        "told once: {}",
        summaries[1]
    );

    // Rights given back: the pin works, and a later loss would be told again.
    fake.set_pin_rights(&group(), true);
    app.post(next_day(), true).await.unwrap();
    assert_eq!(fake.pinned(&group()).len(), 1);
}

/// The entities of `kind` in the group's messages, with the text each covers.
fn date_time_entities(messages: &[OutgoingMessage]) -> Vec<(String, i64, String)> {
    messages
        .iter()
        .flat_map(|m| {
            m.entities
                .iter()
                .filter(|e| e.kind == "date_time")
                .map(move |e| {
                    (
                        entity_text(m, e.offset, e.length),
                        e.unix_time.unwrap(),
                        e.date_time_format.clone().unwrap(),
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn local_times_send_date_time_entities_over_the_configured_zone_text() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config(|c| c.render.local_times = true)
        .start()
        .await;
    let report = app.post(day(), false).await.unwrap();
    assert!(
        report.complete(),
        "the fake accepted the entities: {report:?}"
    );
    let messages: Vec<OutgoingMessage> = fake
        .sent_to(&group())
        .into_iter()
        .map(|s| OutgoingMessage {
            text: s.text,
            entities: serde_json::from_value(s.entities).unwrap(),
        })
        .collect();
    common::assert_telegram_valid(&messages);
    let times = date_time_entities(&messages);
    let shanghai = chrono_tz::Asia::Shanghai;
    let unix = |y, mo, d, h, mi| {
        shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp()
    };
    // The visible text is the configured zone's; the entity carries the instant.
    assert!(
        times.contains(&(
            "03:20".to_string(),
            unix(2026, 3, 12, 3, 20),
            "t".to_string()
        )),
        "{times:?}"
    );
    // An item of the day before shows its date, in the text and in the format.
    assert!(
        times.contains(&(
            "3月11日 22:10".to_string(),
            unix(2026, 3, 11, 22, 10),
            "dt".to_string()
        )),
        "{times:?}"
    );
    for (text, at, _) in &times {
        let local = shanghai.timestamp_opt(*at, 0).unwrap();
        assert!(
            text.ends_with(&local.format("%H:%M").to_string()),
            "{text} is {local}"
        );
    }
    // Every timed item has one.
    let timed = messages
        .iter()
        .map(|m| m.text.matches("🕘 ").count())
        .sum::<usize>();
    assert!(timed >= 2);
    assert_eq!(times.len(), timed);
}

#[tokio::test]
async fn without_local_times_there_is_no_date_time_entity() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).start().await;
    app.post(day(), false).await.unwrap();
    let sent = fake.sent_to(&group());
    assert!(
        sent.iter().any(|s| s.text.contains("🕘 03:20")),
        "positive control"
    );
    assert!(
        sent.iter()
            .all(|s| !s.entities.to_string().contains("date_time")),
        "no date_time entity"
    );
}
