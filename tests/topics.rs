//! Topics and impact targets as members ask for them, and admin reports that always
//! arrive: the real application against the fake Bot API, on fixtures written here.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::fake_telegram::{FakeTelegram, Limits, Sent};
use common::{ADMIN, TestApp};
use ecobrief::config::{Config, FetchConfig, SourceConfig};

const MEMBER: i64 = 5002;
const WAIT: Duration = Duration::from_secs(30);

async fn wait_text(fake: &FakeTelegram, chat: i64, needle: &str) -> Sent {
    let found = |s: &Sent| s.chat_id.as_i64() == Some(chat) && s.text.contains(needle);
    let sent = fake
        .wait_for(WAIT, needle, |sent| sent.iter().any(found))
        .await;
    sent.into_iter().rev().find(found).unwrap()
}

/// The `callback_data` of a message's 更多 button.
fn button(sent: &Sent) -> String {
    let markup = sent.reply_markup.as_ref().expect("a 更多 button");
    markup["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .expect("callback data")
        .to_string()
}

/// A structured brief of `day` with one item per entry: (title, time, impact lines).
fn brief(day: &str, items: &[(String, String, Vec<String>)]) -> String {
    let mut text =
        format!("---\ntitle: 测试简报 {day}\ndate: {day}\ntype: brief\n---\n\n## 市场\n");
    for (title, time, impacts) in items {
        text.push_str(&format!(
            "\n### {title}\n\n- **时间：** {time}\n- **核心要点：**\n  - {title}，要点一\n\n**影响：**\n"
        ));
        for line in impacts {
            text.push_str(&format!("- {line}\n"));
        }
    }
    text
}

/// Seven items on 股市 (newest at 08:07), one on 通胀, in a folder source of the test's.
fn stock_market_brief() -> String {
    let mut items: Vec<(String, String, Vec<String>)> = (1..=7)
        .map(|i| {
            (
                format!("股市测试条目{i}"),
                format!("08:0{i}"),
                vec![
                    format!(
                        "对股市：{}。理由{i}",
                        if i % 2 == 0 { "利空" } else { "利多" }
                    ),
                    "对航运股：中性。观望".to_string(),
                ],
            )
        })
        .collect();
    items.push((
        "物价测试条目".to_string(),
        "07:30".to_string(),
        vec!["对通胀：偏高。油价上行".to_string()],
    ));
    brief("2027-01-05", &items)
}

fn add_folder(config: &mut Config, dir: &Path, name: &str, files: &[(&str, String)]) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for (file, text) in files {
        std::fs::write(folder.join(file), text).unwrap();
    }
    config.sources.push(SourceConfig::Dir {
        path: folder,
        name: Some(name.to_string()),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_targets_answer_as_topics_and_page_with_short_buttons() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake)
        .config_in(|c, dir| {
            add_folder(
                c,
                dir,
                "stocks",
                &[("brief-2027-01-05.md", stock_market_brief())],
            )
        })
        .start()
        .await;

    // 股市 is no topic: the items carrying it, newest first, with their tags.
    fake.push_text(MEMBER, MEMBER, "/topic 股市");
    let first = wait_text(&fake, MEMBER, "「股市」相关影响").await;
    assert!(first.text.contains("共 7 条"), "{}", first.text);
    let newest = first.text.find("股市测试条目7").expect("the newest item");
    let older = first.text.find("股市测试条目3").expect("the fifth item");
    assert!(newest < older, "newest first: {}", first.text);
    assert!(!first.text.contains("股市测试条目2"), "five to a page");
    assert!(first.text.contains("📈 股市 利多") && first.text.contains("📉 股市 利空"));
    let data = button(&first);
    assert!(data.starts_with("i:") && data.ends_with(":5"), "{data}");
    fake.push_callback(MEMBER, MEMBER, first.message_id, &data);
    let sent = fake
        .wait_for(WAIT, "page 2", |sent| sent.iter().any(|s| s.edited))
        .await;
    let page2 = sent.iter().find(|s| s.edited).unwrap();
    assert_eq!(page2.message_id, first.message_id);
    assert!(page2.text.contains("第 6–7 条") && page2.text.contains("股市测试条目1"));
    assert!(page2.reply_markup.is_none(), "the last page has no button");

    // A target with a topic goes to the topic (an alias); one without, to its items.
    fake.push_text(MEMBER, MEMBER, "/topic 科技股");
    wait_text(&fake, MEMBER, "🔎 科技 ·").await;
    fake.push_text(MEMBER, MEMBER, "/topic 通胀");
    let inflation = wait_text(&fake, MEMBER, "「通胀」相关影响").await;
    assert!(inflation.text.contains("物价测试条目") && inflation.text.contains("通胀 偏高"));
    fake.push_text(MEMBER, MEMBER, "/topic 没有的对象");
    wait_text(&fake, MEMBER, "没有这个专题：没有的对象").await;
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_character_target_pages_and_stale_buttons_get_a_polite_answer() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    // Longer than ingest takes from an impact line, so stored through the store itself:
    // the button must not depend on how long a target may be.
    let long = "长江中下游地区新能源汽车及动力电池上游原材料供应链相关企业群";
    assert_eq!(long.chars().count(), 30);
    let options = ecobrief::ingest::IngestOptions::from_settings(&bot.core.settings, None);
    let items: Vec<_> = (1..=6)
        .map(|i| {
            (
                format!("供应链测试条目{i}"),
                format!("09:0{i}"),
                vec!["对股市：利多。理由".to_string()],
            )
        })
        .collect();
    let text = brief("2027-02-01", &items);
    let mut doc =
        ecobrief::ingest::parse_bytes("brief-2027-02-01.md", text.as_bytes(), None, &options)
            .expect("the fixture parses");
    for item in &mut doc.items {
        item.impacts[0].target = long.to_string();
    }
    bot.store().save_document(&doc, &bot.core.topics).unwrap();

    fake.push_text(MEMBER, MEMBER, &format!("/topic {long}"));
    let first = wait_text(&fake, MEMBER, &format!("「{long}」相关影响")).await;
    let data = button(&first);
    assert!(data.len() <= 64, "{} bytes: {data}", data.len());
    fake.push_callback(MEMBER, MEMBER, first.message_id, &data);
    let sent = fake
        .wait_for(WAIT, "page 2", |sent| sent.iter().any(|s| s.edited))
        .await;
    assert!(
        sent.iter()
            .any(|s| s.edited && s.text.contains("供应链测试条目1"))
    );
    fake.wait_calls("answerCallbackQuery", 1, WAIT).await;

    // Forged: data this message's button does not carry (an id no target has).
    fake.push_text(MEMBER, MEMBER, &format!("/topic {long}"));
    let again = fake
        .wait_for(WAIT, "a second reply", |sent| {
            sent.iter()
                .filter(|s| !s.edited && s.text.contains("相关影响"))
                .count()
                == 2
        })
        .await;
    let again = again
        .into_iter()
        .rfind(|s| !s.edited && s.text.contains("相关影响"))
        .unwrap();
    fake.push_callback(MEMBER, MEMBER, again.message_id, "i:999999:5");
    fake.wait_calls("answerCallbackQuery", 2, WAIT).await;
    // Stale: the button is real, but the items it pages have since gone.
    for item in &mut doc.items {
        item.impacts[0].target = "股市".to_string();
    }
    doc.meta.content_hash.push('x');
    bot.store().save_document(&doc, &bot.core.topics).unwrap();
    fake.push_callback(MEMBER, MEMBER, again.message_id, &button(&again));
    let answers = fake.wait_calls("answerCallbackQuery", 3, WAIT).await;
    let notices: Vec<&str> = answers[1..]
        .iter()
        .map(|c| c.body["text"].as_str().unwrap_or(""))
        .collect();
    assert!(notices[0].contains("按钮已失效"), "{notices:?}");
    assert!(notices[1].contains("没有更多内容"), "{notices:?}");
    // Neither edited anything: the one edit is the real page 2 from before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sent().iter().filter(|s| s.edited).count(), 1);
    assert!(
        answers[0].body.get("text").is_none(),
        "a real page needs no notice"
    );
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_passes_over_golden_week_but_not_over_gold_beside_it() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let article = |title: &str, time: &str| {
        format!("---\ntitle: \"{title}\"\ndate: {time}\n---\n假期相关数据。\n")
    };
    let bot = TestApp::builder(&fake)
        .config_in(move |c, dir| {
            add_folder(
                c,
                dir,
                "holiday",
                &[
                    (
                        "a.md",
                        article("国庆黄金周出游人数创新高", "2027-10-08 09:00:00"),
                    ),
                    (
                        "b.md",
                        article("黄金周消费火爆，金价上涨", "2027-10-08 10:00:00"),
                    ),
                    ("c.md", article("黄金周后黄金大涨", "2027-10-08 11:00:00")),
                    ("d.md", article("A股迎来黄金时代", "2027-10-08 12:00:00")),
                ],
            )
        })
        .start()
        .await;
    fake.push_text(MEMBER, MEMBER, "/topic 黄金");
    let reply = wait_text(&fake, MEMBER, "🔎 黄金").await;
    assert!(
        reply.text.contains("黄金周消费火爆，金价上涨"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("黄金周后黄金大涨"), "{}", reply.text);
    assert!(!reply.text.contains("出游人数"), "{}", reply.text);
    assert!(!reply.text.contains("黄金时代"), "{}", reply.text);
    // The A-share item is still an A-share item.
    fake.push_text(MEMBER, MEMBER, "/topic A股");
    let shares = wait_text(&fake, MEMBER, "🔎 A股").await;
    assert!(shares.text.contains("A股迎来黄金时代"), "{}", shares.text);
    bot.shutdown().await;
}

#[test]
fn stored_items_are_retagged_when_the_topics_change() {
    let dir = tempfile::tempdir().unwrap();
    let topics = dir.path().join("topics.toml");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (file, title) in [("a.md", "国庆黄金周出游人数创新高"), ("b.md", "金价上涨")]
    {
        std::fs::write(
            docs.join(file),
            format!("---\ntitle: \"{title}\"\ndate: 2027-10-08 09:00:00\n---\n正文。\n"),
        )
        .unwrap();
    }
    let open = |exclude: &str| {
        std::fs::write(
            &topics,
            format!(
                "[[topic]]\nid = \"gold\"\nname = \"黄金\"\nkeywords = [\"黄金\", \"金价\"]\nexclude = [{exclude}]\n"
            ),
        )
        .unwrap();
        let mut config = common::test_config(dir.path());
        config.topics_file = topics.clone();
        config.sources = vec![SourceConfig::Dir {
            path: docs.clone(),
            name: None,
        }];
        let settings = ecobrief::settings::Settings::from_config(config).unwrap();
        ecobrief::app::Core::open(settings).unwrap()
    };
    let core = open("");
    core.ingest_folders().unwrap();
    assert_eq!(core.topic_reply("gold", 5, 0).unwrap().total, 2);
    drop(core);
    // Same database, new topics: the links are rebuilt at open, nothing is re-ingested.
    let core = open("\"黄金周\"");
    let page = core.topic_reply("gold", 5, 0).unwrap();
    assert_eq!(page.total, 1);
    assert!(page.message.text.contains("金价上涨"));
}

#[test]
fn the_cli_answers_an_impact_target() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("brief-2027-01-05.md"), stock_market_brief()).unwrap();
    let db = dir.path().join("cli.db");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
            .current_dir(common::repo_path(""))
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("the binary runs")
    };
    let ingest = run(&["ingest", docs.to_str().unwrap()]);
    assert!(ingest.status.success(), "{:?}", ingest);
    let topic = run(&["topic", "股市", "--limit", "2"]);
    let out = String::from_utf8_lossy(&topic.stdout);
    assert!(topic.status.success(), "{topic:?}");
    assert!(
        out.contains("「股市」相关影响") && out.contains("股市测试条目7"),
        "{out}"
    );
    let unknown = run(&["topic", "没有的对象"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no topic named"));
}

/// A local feed server that answers every request with a 500, counting them.
async fn failing_feed_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "upstream down",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

fn failing_feeds(config: &mut Config, url: &str, count: usize) {
    for i in 0..count {
        config.sources.push(SourceConfig::Feed {
            url: format!("{url}/feeds/{i:02}.xml"),
            name: Some(format!("failing-feed-{i:02}")),
            fetch: FetchConfig {
                timeout_seconds: 2,
                retries: 0,
                ..FetchConfig::default()
            },
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_status_arrive_with_sixty_failing_sources() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (url, hits) = failing_feed_server().await;
    let feeds = url.clone();
    let bot = TestApp::builder(&fake)
        .config(move |c| failing_feeds(c, &feeds, 60))
        .start()
        .await;
    assert!(hits.load(Ordering::SeqCst) >= 60, "the feeds were polled");

    fake.push_text(ADMIN, ADMIN, "/ingest");
    let ingest = wait_text(&fake, ADMIN, "读取完成").await;
    assert!(
        ingest.text.contains("来源 61 个：成功 1，失败 60"),
        "{}",
        ingest.text
    );
    assert!(
        ingest.text.contains("…另有 50 个失败的来源"),
        "{}",
        ingest.text
    );
    assert!(ingest.text.contains("failing-feed-09") && !ingest.text.contains("failing-feed-10"));
    assert!(
        ingest.text.contains("samples"),
        "the other sources: {}",
        ingest.text
    );

    fake.push_text(ADMIN, ADMIN, "/status");
    let status = wait_text(&fake, ADMIN, "运行状态").await;
    assert!(
        status
            .text
            .contains("来源 61 个：正常 1，失败 60，尚未读取 0"),
        "{}",
        status.text
    );
    assert!(
        status.text.contains("…另有 50 个失败的来源"),
        "{}",
        status.text
    );
    for sent in fake.sent() {
        assert!(sent.text.chars().count() <= 4096);
    }
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_longer_than_a_message_arrives_in_numbered_parts() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (url, _hits) = failing_feed_server().await;
    let bot = TestApp::builder(&fake)
        .config(move |c| {
            failing_feeds(c, &url, 12);
            // The smallest budget: the bounded report no longer fits one message.
            c.render.message_budget = 200;
        })
        .start()
        .await;
    fake.push_text(ADMIN, ADMIN, "/status");
    // The parts of /status: from its first line on, to the admin, leaving out the
    // notices about failing sources that may still be going out beside them.
    let parts = |sent: &[Sent]| -> Vec<Sent> {
        let Some(start) = sent.iter().position(|s| s.text.starts_with("📊 运行状态")) else {
            return Vec::new();
        };
        sent[start..]
            .iter()
            .filter(|s| s.chat_id.as_i64() == Some(ADMIN) && !s.text.starts_with("⚠️"))
            .cloned()
            .collect()
    };
    let total = |parts: &[Sent]| -> Option<usize> {
        let first = parts.first()?;
        let (_, n) = first.text.rsplit_once("(1/")?;
        n.strip_suffix(')')?.parse().ok()
    };
    let sent = fake
        .wait_for(WAIT, "every part of /status", |sent| {
            let parts = parts(sent);
            total(&parts).is_some_and(|n| parts.len() >= n)
        })
        .await;
    let parts = parts(&sent);
    let n = total(&parts).unwrap();
    assert!(n >= 3, "{parts:#?}");
    assert_eq!(parts.len(), n, "{parts:#?}");
    for (i, part) in parts.iter().enumerate() {
        assert!(part.text.chars().count() <= 200 + 13, "{}", part.text);
        assert!(
            part.text.ends_with(&format!("({}/{n})", i + 1)),
            "{}",
            part.text
        );
    }
    let whole: String = parts.iter().map(|p| p.text.as_str()).collect();
    assert!(whole.contains("来源 13 个：正常 1，失败 12"), "{whole}");
    assert!(whole.contains("另有 2 个失败的来源"), "{whole}");
    bot.shutdown().await;
}

/// Eight gold items in a folder, and `telegram.ephemeral_replies` on.
async fn ephemeral_gold_app(fake: &FakeTelegram) -> TestApp {
    TestApp::builder(fake)
        .config_in(|c, dir| {
            c.telegram.ephemeral_replies = true;
            let files: Vec<(String, String)> = (0..8)
                .map(|i| {
                    (
                        format!("gold-{i}.md"),
                        format!("---\ntitle: \"金价第{i}次走高\"\ndate: 2026-03-1{i} 10:00:00\n---\n黄金继续上涨。\n"),
                    )
                })
                .collect();
            let files: Vec<(&str, String)> =
                files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
            add_folder(c, dir, "gold", &files);
        })
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_topic_answers_only_the_asker_and_pages_in_place() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = ephemeral_gold_app(&fake).await;
    fake.push_text(common::GROUP, MEMBER, "/topic gold");
    let first = wait_text(&fake, common::GROUP, "🔎 黄金").await;
    assert_eq!(first.ephemeral_to, Some(MEMBER), "seen by the asker only");
    let call = fake.calls("sendmessage").into_iter().last().unwrap();
    assert_eq!(
        call.body["ephemeral_message_parameters"],
        serde_json::json!({ "receiver_user_id": MEMBER }),
        "the Bot API 10.3 shape"
    );
    assert!(
        fake.sent().iter().all(|s| s.ephemeral_to.is_some()),
        "no answer in the group for everyone: {:?}",
        fake.sent()
    );
    let data = button(&first);
    assert!(
        data.starts_with('e') && data.ends_with(":t:gold:5"),
        "{data}"
    );
    assert!(data.len() <= 64);

    // Another member presses the button (seen in a forwarded screenshot, say): refused,
    // nothing edited.
    fake.push_ephemeral_callback(MEMBER + 1, &data);
    let answers = fake.wait_calls("answerCallbackQuery", 1, WAIT).await;
    assert!(
        answers[0].body["text"]
            .as_str()
            .is_some_and(|t| t.contains("失效")),
        "{:?}",
        answers[0].body
    );
    // The asker's press pages the same ephemeral message (positive control for the
    // refusal: the same data works for the right member).
    fake.push_ephemeral_callback(MEMBER, &data);
    let sent = fake
        .wait_for(WAIT, "the next page", |sent| sent.iter().any(|s| s.edited))
        .await;
    let edits: Vec<&Sent> = sent.iter().filter(|s| s.edited).collect();
    assert_eq!(edits.len(), 1, "only the asker's press edits");
    let page2 = edits[0];
    assert_eq!(page2.ephemeral_to, Some(MEMBER));
    assert_eq!(page2.message_id, first.message_id, "edited in place");
    assert!(page2.text.contains("第 6–"), "{}", page2.text);
    assert!(fake.calls("editmessagetext").is_empty());
    assert_eq!(fake.calls("editephemeralmessagetext").len(), 1);
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_replies_stay_ordinary_in_private_and_fall_back_when_refused() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = ephemeral_gold_app(&fake).await;
    // /topics in the group: ephemeral too.
    fake.push_text(common::GROUP, MEMBER, "/topics");
    let list = wait_text(&fake, common::GROUP, "黄金").await;
    assert_eq!(list.ephemeral_to, Some(MEMBER));
    // In a private chat the answer is private anyway: an ordinary message.
    fake.push_text(MEMBER, MEMBER, "/topic gold");
    let private = wait_text(&fake, MEMBER, "🔎 黄金").await;
    assert_eq!(private.ephemeral_to, None);
    assert_eq!(button(&private), "t:gold:5");
    // A Bot API that refuses the ephemeral message: the group gets an ordinary answer.
    fake.fail_next(
        "sendmessage",
        common::fake_telegram::Fault::BadRequest(
            "Bad Request: can't send ephemeral messages here".into(),
        ),
    );
    fake.push_text(common::GROUP, MEMBER, "/topic gold");
    let sent = fake
        .wait_for(WAIT, "an ordinary answer in the group", |sent| {
            sent.iter().any(|s| {
                s.chat_id.as_i64() == Some(common::GROUP)
                    && s.ephemeral_to.is_none()
                    && s.text.contains("🔎 黄金")
            })
        })
        .await;
    let public = sent
        .iter()
        .find(|s| s.chat_id.as_i64() == Some(common::GROUP) && s.ephemeral_to.is_none())
        .unwrap();
    assert_eq!(button(public), "t:gold:5");
    bot.shutdown().await;
}
