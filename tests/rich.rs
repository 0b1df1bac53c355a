//! The rich edition (Bot API 10.1 `sendRichMessage`) against the fake Bot API: one rich
//! message when the day fits, every title, key point, quick item and impact target in
//! it, markup in item text shown as text, and the text edition of what was not yet sent
//! when the Bot API refuses the rich message.

mod common;

use chrono::NaiveDate;
use common::fake_telegram::{FakeTelegram, Fault, Limits, PinEvent};
use common::{ADMIN, GROUP, TestApp, spawn_core_with};
use ecobrief::message::{Edition, PartBody};
use ecobrief::render::rich::{RichLimits, check_rich_html, rich_to_readable};
use ecobrief::store::delivery::{
    COVER_PART, OutboxPart, PartKind, PartState, PublicationKey, PublicationState,
};

fn day() -> NaiveDate {
    "2026-03-12".parse().unwrap()
}

fn rich_target(config: &mut ecobrief::config::Config) {
    for target in &mut config.telegram.targets {
        target.edition = Edition::Rich;
    }
}

fn key(run: i64) -> PublicationKey {
    PublicationKey {
        brief_date: day(),
        chat: GROUP.to_string(),
        thread_id: 0,
        run,
    }
}

/// The brief's parts, without the cover photo (part 0) that opens the post.
fn brief_parts(outbox: &[OutboxPart]) -> Vec<OutboxPart> {
    outbox
        .iter()
        .filter(|p| p.part != COVER_PART)
        .cloned()
        .collect()
}

/// The sample brief's coverImage, which the rich edition shows as its first block.
const SAMPLE_COVER: &str = "https://example.com/ecobrief/2026/03-12/cover-7Qh2xLrA.png";
const COVER_BLOCK: &str = "<img src=\"tg://photo?id=cover\">\n";

/// The summary admins get after a post, once it has come.
async fn admin_summary(fake: &FakeTelegram) -> common::fake_telegram::Sent {
    let is_summary = |s: &common::fake_telegram::Sent| {
        s.chat_id.as_i64() == Some(ADMIN) && s.text.contains("📮")
    };
    fake.wait_for(
        std::time::Duration::from_secs(15),
        "the admin summary",
        |sent| sent.iter().any(is_summary),
    )
    .await
    .into_iter()
    .find(is_summary)
    .unwrap()
}

fn part_numbers(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .filter_map(|t| {
            t.rsplit_once("\n\n(")
                .map(|(_, n)| n.trim_end_matches(')').to_string())
        })
        .collect()
}

#[test]
fn the_rich_edition_has_every_title_key_point_quick_item_and_target_of_the_day() {
    let t = spawn_core_with(|_| {});
    t.app
        .ingest_paths(&[common::repo_path("samples")], None)
        .unwrap();
    let (brief, parts) = t.app.brief_rich(day()).unwrap();
    assert_eq!(parts.len(), 1, "the sample day fits one rich message");
    let html = &parts[0].message.html;
    let stats = check_rich_html(html).unwrap();
    assert!(stats.exceeds(&RichLimits::TELEGRAM).is_none(), "{stats:?}");
    assert_eq!(stats.media, 1, "the cover");
    let header = html.strip_prefix(COVER_BLOCK).expect("the cover opens it");
    assert!(header.starts_with("<h1>📰 "), "{html}");
    assert_eq!(parts[0].message.media.len(), 1);
    assert_eq!(parts[0].message.media[0].url, SAMPLE_COVER);
    assert!(html.contains("<table>") && html.contains("<th>📈</th>"));
    assert!(html.contains("<footer>"));
    let readable = rich_to_readable(html);
    for item in brief.items() {
        assert!(readable.contains(&item.title), "title {:?}", item.title);
        for point in &item.key_points {
            assert!(readable.contains(point.as_str()), "key point {point:?}");
        }
        for impact in &item.impacts {
            assert!(
                readable.contains(&impact.target),
                "target {:?}",
                impact.target
            );
        }
    }
    // The fallback is the text edition of the same content: the same texts as the text
    // edition, without part numbers.
    let (_, text) = t.app.brief_messages(day()).unwrap();
    let fallback: Vec<String> = parts[0].fallback.iter().map(|m| m.text.clone()).collect();
    let unnumbered: Vec<String> = text
        .iter()
        .map(|m| {
            m.text
                .rsplit_once("\n\n(")
                .map_or(m.text.clone(), |(t, _)| t.to_string())
        })
        .collect();
    assert_eq!(fallback, unnumbered);
}

#[test]
fn markup_in_item_text_cannot_inject_rich_html() {
    let t = spawn_core_with(|_| {});
    let doc = t.write(
        "brief-2026-03-12.md",
        "---\ntitle: 注入测试\ndate: 2026-03-12\n---\n\n## 宏观\n\n### 标题 <details><p>x</p> & \"引号\"\n\n- **时间**：08:00\n- **核心要点**：\n  - 要点 </li></ul><h1>假</h1>\n- **影响**：\n  - 对<b>股市</b>：利多。理由\n\n### 第二条\n\n- **时间**：09:00\n- **核心要点**：\n  - 正常\n",
    );
    t.app.ingest_paths(&[doc], None).unwrap();
    let (_, parts) = t.app.brief_rich(day()).unwrap();
    let html = &parts[0].message.html;
    check_rich_html(html).expect("still well-formed");
    assert!(!html.contains("<details><p>x"), "{html}");
    assert!(!html.contains("<h1>假"), "{html}");
    let readable = rich_to_readable(html);
    assert!(
        readable.contains("要点 </li></ul><h1>假</h1>"),
        "{readable}"
    );
}

#[test]
fn a_day_over_the_limits_is_packed_into_several_rich_messages_each_within_them() {
    let t = spawn_core_with(|_| {});
    let mut doc = String::from("---\ntitle: 长\ndate: 2026-03-12\n---\n\n## 宏观\n\n");
    for i in 0..120 {
        doc.push_str(&format!(
            "### 条目{i}\n\n- **时间**：08:00\n- **核心要点**：\n"
        ));
        for k in 0..6 {
            doc.push_str(&format!("  - 要点{i}-{k} {}\n", "很长的说明文字".repeat(8)));
        }
        doc.push_str("- **影响**：\n  - 对股市：利多。理由\n\n");
    }
    let path = t.write("brief-2026-03-12.md", doc);
    t.app.ingest_paths(&[path], None).unwrap();
    let (brief, parts) = t.app.brief_rich(day()).unwrap();
    assert!(parts.len() > 1, "{}", parts.len());
    let mut readable = String::new();
    for (i, part) in parts.iter().enumerate() {
        let stats = check_rich_html(&part.message.html).unwrap();
        assert!(stats.exceeds(&RichLimits::TELEGRAM).is_none(), "{stats:?}");
        assert!(
            part.message
                .html
                .ends_with(&format!("<p>({}/{})</p>", i + 1, parts.len()))
        );
        readable.push_str(&rich_to_readable(&part.message.html));
    }
    for item in brief.items() {
        assert!(readable.contains(&item.title));
    }
}

#[tokio::test]
async fn a_rich_target_gets_one_rich_message_and_the_outbox_says_so() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let calls = fake.calls("sendRichMessage");
    assert_eq!(calls.len(), 1);
    let sent = &calls[0].body;
    assert_eq!(sent["chat_id"].to_string(), GROUP.to_string());
    let html = sent["rich_message"]["html"].as_str().unwrap();
    assert!(html.starts_with(&format!("{COVER_BLOCK}<h1>📰 ")), "{html}");
    assert_eq!(
        sent["rich_message"]["media"],
        serde_json::json!([{ "id": "cover", "media": { "type": "photo", "media": SAMPLE_COVER } }]),
        "the cover as InputRichMessageMedia"
    );
    assert!(
        fake.calls("sendPhoto").is_empty(),
        "no photo message of its own"
    );
    assert!(
        fake.sent_to(&GROUP.to_string())
            .iter()
            .all(|s| s.rich_html.is_some()),
        "no text message to the group"
    );
    let parts = brief_parts(&app.store().outbox_parts(&key(1)).unwrap());
    assert_eq!(parts.len(), 1);
    assert!(matches!(parts[0].message, PartBody::Rich(_)));
    assert!(!parts[0].fallback.is_empty());
    // A second post is refused as for text.
    assert!(app.post(day(), false).await.is_err());
    assert_eq!(fake.calls("sendRichMessage").len(), 1);
}

#[tokio::test]
async fn an_older_bot_api_without_send_rich_message_gets_the_text_edition_admins_told_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.set_rich_unsupported(true);
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(fake.calls("sendRichMessage").len(), 1, "tried once");
    let texts: Vec<String> = fake
        .sent_to(&GROUP.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect();
    // Exactly the text edition: the same parts a text target gets.
    assert_eq!(part_numbers(&texts), vec!["1/2", "2/2"]);
    assert!(texts[0].starts_with("📰 "));
    let notices: Vec<String> = fake
        .sent_to(&ADMIN.to_string())
        .into_iter()
        .map(|s| s.text)
        .filter(|t| t.contains("富文本"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let parts = brief_parts(&app.store().outbox_parts(&key(1)).unwrap());
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| matches!(p.message, PartBody::Text(_))));
    let publication = app
        .store()
        .latest_publication(day(), GROUP.to_string().as_str(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(publication.state, PublicationState::Done);
    assert_eq!(publication.parts, 2);
}

#[tokio::test]
async fn a_400_on_the_rich_content_sends_the_text_edition_and_a_text_target_is_untouched() {
    let fake = FakeTelegram::start(Limits::default()).await;
    // Refused with its cover block, and again without it: the content is what is wrong.
    for _ in 0..2 {
        fake.fail_next(
            "sendRichMessage",
            Fault::BadRequest("Bad Request: can't parse rich message".to_string()),
        );
    }
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let tries = fake.calls("sendRichMessage");
    assert_eq!(tries.len(), 2);
    assert!(tries[0].body["rich_message"]["media"].is_array());
    assert!(tries[1].body["rich_message"].get("media").is_none());
    let texts: Vec<String> = fake
        .sent_to(&GROUP.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert_eq!(part_numbers(&texts), vec!["1/2", "2/2"]);

    // Positive control: a text target never calls sendRichMessage.
    let plain = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&plain).start().await;
    app.post(day(), false).await.unwrap();
    assert!(plain.calls("sendRichMessage").is_empty());
    assert_eq!(
        plain.calls("sendMessage").len(),
        2 + 1,
        "two parts and the summary"
    );
}

#[tokio::test]
async fn a_chat_not_found_on_a_rich_part_is_a_failure_not_a_fallback() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.fail_next("sendRichMessage", Fault::ChatNotFound);
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(!report.complete());
    assert!(fake.sent_to(&GROUP.to_string()).is_empty());
    // The record still holds the rich part, so the next post resumes it as rich.
    let parts = brief_parts(&app.store().outbox_parts(&key(1)).unwrap());
    assert!(matches!(parts[0].message, PartBody::Rich(_)));
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(fake.calls("sendRichMessage").len(), 2);
}

fn rich_pinned_target(config: &mut ecobrief::config::Config) {
    rich_target(config);
    config.telegram.targets[0].pin = true;
}

#[tokio::test]
async fn a_rich_target_with_a_cover_and_pin_gets_one_rich_message_opening_with_the_photo_pinned() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config(rich_pinned_target)
        .start()
        .await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        report.targets[0].cover,
        Some(ecobrief::publish::CoverReport::Sent)
    );

    // The cover is the rich message's first block, not a photo message of its own.
    assert!(fake.photos().is_empty(), "{:?}", fake.photos());
    let sent = fake.sent_to(&GROUP.to_string());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let rich = &sent[0];
    assert!(rich.rich_html.as_deref().unwrap().starts_with(COVER_BLOCK));
    assert_eq!(fake.calls("sendRichMessage").len(), 1);

    // The rich message is pinned (silently).
    assert_eq!(
        fake.pin_events(),
        vec![PinEvent::Pinned {
            chat: GROUP.to_string(),
            message_id: rich.message_id,
            silent: true
        }]
    );
    assert_eq!(
        app.store()
            .pinned_brief(&GROUP.to_string(), 0, day())
            .unwrap(),
        Some(rich.message_id)
    );

    // The outbox: the cover as part 0, recorded as shown by the rich part.
    let parts = app.store().outbox_parts(&key(1)).unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0].part, COVER_PART);
    assert!(matches!(parts[0].kind, PartKind::Cover { .. }));
    assert_eq!(parts[0].state, PartState::InRich);
    assert!(matches!(parts[1].message, PartBody::Rich(_)));
    assert_eq!(parts[1].state, PartState::Sent);
}

#[tokio::test]
async fn a_cover_telegram_cannot_fetch_leaves_the_rich_message_without_it() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.refuse_photo(SAMPLE_COVER);
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert!(
        matches!(&report.targets[0].cover, Some(ecobrief::publish::CoverReport::Failed(e)) if e.contains("HTTP URL")),
        "{report:?}"
    );
    // Refused with the photo, taken without it: still the rich edition.
    let tries = fake.calls("sendRichMessage");
    assert_eq!(tries.len(), 2);
    let sent = fake.sent_to(&GROUP.to_string());
    assert_eq!(sent.len(), 1);
    let html = sent[0].rich_html.as_deref().unwrap();
    assert!(
        html.starts_with("<h1>📰 ") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        fake.calls("sendPhoto").is_empty(),
        "not tried again as a photo"
    );
    let parts = app.store().outbox_parts(&key(1)).unwrap();
    assert_eq!(parts[0].state, PartState::Failed, "the cover");
    let summary = admin_summary(&fake).await;
    assert!(summary.text.contains("封面图未发送"), "{}", summary.text);
}

#[tokio::test]
async fn a_refused_rich_message_falls_back_to_text_after_the_cover_and_pins_the_first_text() {
    let fake = FakeTelegram::start(Limits::default()).await;
    fake.set_rich_unsupported(true);
    let app = TestApp::builder(&fake)
        .config(rich_pinned_target)
        .start()
        .await;
    let report = app.post(day(), false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let texts = fake.sent_to(&GROUP.to_string());
    assert_eq!(
        part_numbers(&texts.iter().map(|s| s.text.clone()).collect::<Vec<_>>()),
        vec!["1/2", "2/2"]
    );
    // The photo went once, before the text edition, and the fallback kept it as it was.
    assert_eq!(fake.calls("sendPhoto").len(), 1);
    assert!(fake.photos()[0].message_id < texts[0].message_id);
    let parts = app.store().outbox_parts(&key(1)).unwrap();
    let covers: Vec<_> = parts
        .iter()
        .filter(|p| matches!(p.kind, PartKind::Cover { .. }))
        .collect();
    assert_eq!(covers.len(), 1);
    assert_eq!(covers[0].state, PartState::Sent);
    assert_eq!(
        parts.len(),
        3,
        "the cover and the two text parts: {parts:?}"
    );
    assert_eq!(
        fake.pin_events(),
        vec![PinEvent::Pinned {
            chat: GROUP.to_string(),
            message_id: texts[0].message_id,
            silent: true
        }],
        "the first text part is pinned"
    );
    let publication = app
        .store()
        .latest_publication(day(), GROUP.to_string().as_str(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(publication.parts, 2, "the cover is not counted as a part");
}

#[tokio::test]
async fn a_day_our_checker_refuses_goes_out_as_text_and_the_admins_are_told_why() {
    let fake = FakeTelegram::start(Limits::default()).await;
    // One item with 520 key points: a list of 520 blocks, over the 500 a rich message
    // may hold, and an item is never cut across rich messages.
    let mut doc = String::from(
        "---\ntitle: 要点极多的一天\ndate: 2026-04-01\n---\n\n## 宏观\n\n### 超长条目\n\n- **时间**：08:00\n- **核心要点**：\n",
    );
    for k in 0..520 {
        doc.push_str(&format!("  - 要点{k}\n"));
    }
    doc.push_str("\n### 普通条目\n\n- **时间**：09:00\n- **核心要点**：\n  - 一切如常\n");
    let app = TestApp::builder(&fake)
        .config_in(move |c, dir| {
            rich_target(c);
            let folder = dir.join("long");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("brief-2026-04-01.md"), &doc).unwrap();
            c.sources.push(ecobrief::config::SourceConfig::Dir {
                path: folder,
                name: Some("long".into()),
            });
        })
        .start()
        .await;
    let date: NaiveDate = "2026-04-01".parse().unwrap();
    let report = app.post(date, false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    assert!(
        report.targets[0]
            .rich_refused
            .as_deref()
            .is_some_and(|why| why.contains("500")),
        "{report:?}"
    );
    assert!(fake.calls("sendRichMessage").is_empty(), "never sent rich");
    let texts: Vec<String> = fake
        .sent_to(&GROUP.to_string())
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert!(
        texts.len() > 1 && texts[0].contains("要点极多的一天"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("要点519")));
    let summary = admin_summary(&fake).await;
    assert!(
        summary.text.contains("富文本版未通过检查，已改发文本版"),
        "{}",
        summary.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_names_each_targets_edition_and_shows_the_rich_one_through_the_bot() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake).config(rich_target).start().await;
    fake.push_text(ADMIN, ADMIN, "/preview 2026-03-12");
    let wait = std::time::Duration::from_secs(15);
    let sent = fake
        .wait_for(wait, "the rich preview", |sent| {
            sent.iter()
                .any(|s| s.chat_id.as_i64() == Some(ADMIN) && s.rich_html.is_some())
        })
        .await;
    let to_admin: Vec<_> = sent
        .iter()
        .filter(|s| s.chat_id.as_i64() == Some(ADMIN))
        .collect();
    // The text edition first, then which edition each target gets, then the rich one.
    let editions = to_admin
        .iter()
        .position(|s| s.text.contains("各目标的版本"))
        .expect("the editions line");
    assert!(to_admin[editions].text.contains(&format!("{GROUP}：rich")));
    let rich = to_admin.iter().position(|s| s.rich_html.is_some()).unwrap();
    assert!(to_admin[0].rich_html.is_none() && to_admin[0].text.starts_with("📰 "));
    assert!(editions < rich);
    assert!(
        to_admin[rich]
            .rich_html
            .as_deref()
            .unwrap()
            .starts_with(&format!("{COVER_BLOCK}<h1>📰 "))
    );
    assert!(
        fake.sent_to(&GROUP.to_string()).is_empty(),
        "nothing posted"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_in_a_private_chat_follows_private_edition_and_falls_back_to_text() {
    const MEMBER: i64 = 5003;
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config(|c| c.telegram.private_edition = Edition::Rich)
        .start()
        .await;
    let wait = std::time::Duration::from_secs(15);
    fake.push_text(MEMBER, MEMBER, "/brief 2026-03-12");
    fake.wait_for(wait, "the rich brief", |sent| {
        sent.iter()
            .any(|s| s.chat_id.as_i64() == Some(MEMBER) && s.rich_html.is_some())
    })
    .await;
    assert_eq!(fake.calls("sendRichMessage").len(), 1);
    // An older Bot API: the same command gets the text edition, numbered.
    fake.set_rich_unsupported(true);
    fake.push_text(MEMBER, MEMBER, "/brief 2026-03-12");
    let sent = fake
        .wait_for(wait, "the text edition", |sent| {
            sent.iter()
                .filter(|s| s.chat_id.as_i64() == Some(MEMBER) && s.rich_html.is_none())
                .count()
                == 2
        })
        .await;
    let texts: Vec<String> = sent
        .into_iter()
        .filter(|s| s.chat_id.as_i64() == Some(MEMBER) && s.rich_html.is_none())
        .map(|s| s.text)
        .collect();
    assert_eq!(part_numbers(&texts), vec!["1/2", "2/2"]);
    assert_eq!(fake.calls("sendRichMessage").len(), 2, "tried, then text");
    app.shutdown().await;
}
