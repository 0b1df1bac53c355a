//! The real dispatcher, driven through getUpdates on the fake Bot API.

mod common;

use std::time::Duration;

use common::fake_telegram::{BOT_USERNAME, FakeTelegram, Limits, Sent};
use common::{ADMIN, GROUP, TestApp};

const MEMBER: i64 = 5001;
const WAIT: Duration = Duration::from_secs(15);

fn to(chat: i64) -> impl Fn(&Sent) -> bool {
    move |s| s.chat_id.as_i64() == Some(chat)
}

async fn wait_text(fake: &FakeTelegram, chat: i64, needle: &str) -> Sent {
    let sent = fake
        .wait_for(WAIT, needle, |sent| {
            sent.iter().any(|s| to(chat)(s) && s.text.contains(needle))
        })
        .await;
    sent.into_iter()
        .find(|s| to(chat)(s) && s.text.contains(needle))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_by_name_alias_and_unknown_with_suggestions() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    fake.push_text(GROUP, MEMBER, "/topic 黄金");
    let reply = wait_text(&fake, GROUP, "🔎 黄金").await;
    assert!(reply.text.contains("现货黄金刷新历史高位"));
    assert!(reply.text.contains("➖ 黄金 中性偏高"), "impact tags shown");

    fake.push_text(GROUP, MEMBER, &format!("/topic@{BOT_USERNAME} CRUDE"));
    wait_text(&fake, GROUP, "🔎 原油").await;

    // A command for another bot is ignored; /help afterwards shows we moved on.
    fake.push_text(GROUP, MEMBER, "/topic@some_other_bot 黄金");
    fake.push_text(GROUP, MEMBER, "/topic goldd");
    let unknown = wait_text(&fake, GROUP, "没有这个专题").await;
    assert!(
        unknown.text.contains("黄金"),
        "suggests the closest: {}",
        unknown.text
    );
    assert_eq!(
        fake.sent()
            .iter()
            .filter(|s| s.text.contains("🔎 黄金"))
            .count(),
        1
    );

    fake.push_text(GROUP, MEMBER, &format!("/topic {}", "很长".repeat(100)));
    wait_text(&fake, GROUP, "太长").await;
    fake.push_text(GROUP, MEMBER, "/topic");
    let list = wait_text(&fake, GROUP, "全部专题").await;
    assert!(list.text.contains("黄金") && list.text.contains("gold"));
    bot.shutdown().await;
}

/// A bot with eight more gold articles (in a folder of the test's), so that the topic has
/// more than one page.
async fn with_gold_pages(fake: &FakeTelegram) -> TestApp {
    TestApp::builder(fake)
        .config_in(|c, dir| {
            let extra = dir.join("gold");
            std::fs::create_dir_all(&extra).unwrap();
            for i in 0..8 {
                std::fs::write(
                    extra.join(format!("gold-{i}.md")),
                    format!("---\ntitle: \"金价第{i}次刷新纪录\"\ndate: 2026-03-1{i} 10:00:00\n---\n黄金继续上涨。\n"),
                )
                .unwrap();
            }
            c.sources.push(ecobrief::config::SourceConfig::Dir {
                path: extra,
                name: None,
            });
        })
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_button_pages_through_older_items() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = with_gold_pages(&fake).await;
    fake.push_text(GROUP, MEMBER, "/topic gold");
    let first = wait_text(&fake, GROUP, "🔎 黄金").await;
    let markup = first
        .reply_markup
        .clone()
        .expect("a 更多 button when there is more");
    let data = markup["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(data, "t:gold:5");
    fake.push_callback(GROUP, MEMBER, first.message_id, &data);
    let sent = fake
        .wait_for(WAIT, "the next page", |sent| sent.iter().any(|s| s.edited))
        .await;
    let page2 = sent.into_iter().find(|s| s.edited).unwrap();
    assert_eq!(
        page2.message_id, first.message_id,
        "the same message is replaced"
    );
    assert!(page2.text.contains("第 6–"), "{}", page2.text);
    assert_eq!(
        fake.wait_calls("answerCallbackQuery", 1, WAIT).await.len(),
        1
    );
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_in_private_and_a_pointer_in_the_group() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    fake.push_text(MEMBER, MEMBER, "/brief 2026-03-12");
    fake.wait_for(WAIT, "the whole brief", |sent| {
        sent.iter().filter(|s| to(MEMBER)(s)).count() == 2
    })
    .await;
    let private: Vec<_> = fake.sent().into_iter().filter(|s| to(MEMBER)(s)).collect();
    assert!(private[0].text.starts_with("📰 ") && private[1].text.ends_with("(2/2)"));
    fake.push_text(GROUP, MEMBER, "/brief");
    let pointer = wait_text(&fake, GROUP, "私聊").await;
    assert!(pointer.text.contains(BOT_USERNAME));
    assert_eq!(
        fake.sent().iter().filter(|s| to(GROUP)(s)).count(),
        1,
        "the group is not flooded"
    );
    fake.push_text(MEMBER, MEMBER, "/brief yesterday");
    wait_text(&fake, MEMBER, "日期格式不对").await;
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_by_admin_once_refused_for_others_and_forced_again_with_digest_once() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let chat_admin = 9001;
    fake.set_admins(&GROUP.to_string(), &[chat_admin]);
    let bot = TestApp::builder(&fake).start().await;

    fake.push_text(MEMBER, MEMBER, "/subscribe 黄金");
    wait_text(&fake, MEMBER, "已订阅「黄金」").await;
    fake.push_text(MEMBER, MEMBER, "/subscriptions");
    wait_text(&fake, MEMBER, "你的订阅：黄金").await;

    fake.push_text(GROUP, MEMBER, "/post 2026-03-12");
    wait_text(&fake, GROUP, "仅限管理员").await;
    assert!(
        !fake.sent().iter().any(|s| s.text.starts_with("📰 ")),
        "nothing posted"
    );

    // An administrator of the group (from getChatAdministrators) may post.
    fake.push_text(GROUP, chat_admin, "/post 2026-03-12");
    wait_text(&fake, GROUP, "已发布").await;
    let parts = fake
        .sent()
        .into_iter()
        .filter(|s| to(GROUP)(s) && s.text.contains("(1/2)"))
        .count();
    assert_eq!(parts, 1);
    let digest = wait_text(&fake, MEMBER, "订阅摘要").await;
    assert!(digest.text.contains("现货黄金"));

    fake.push_text(GROUP, chat_admin, "/post 2026-03-12");
    wait_text(&fake, GROUP, "已经发布过了").await;
    fake.push_text(ADMIN, ADMIN, "/post 2026-03-12 force");
    fake.wait_for(WAIT, "a forced second post", |sent| {
        sent.iter()
            .filter(|s| to(GROUP)(s) && s.text.contains("(2/2)"))
            .count()
            == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.sent()
            .iter()
            .filter(|s| to(MEMBER)(s) && s.text.contains("订阅摘要"))
            .count(),
        1,
        "one digest a day"
    );

    fake.push_text(ADMIN, ADMIN, "/status");
    let status = wait_text(&fake, ADMIN, "运行状态").await;
    assert!(
        status.text.contains("2026-03-12") && status.text.contains("订阅用户：1"),
        "{}",
        status.text
    );
    assert!(!fake.calls("setMyCommands").is_empty());
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_store_is_refused() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    // Wait until the first one is up (it has asked for updates).
    fake.wait_calls("getUpdates", 1, WAIT).await;
    let db = bot.dir.path().join("test.db");
    // The same file by another name: a symlink, and another spelling of the path.
    let link = bot.dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let spelled = bot.dir.path().join(".").join("test.db");
    for path in [&db, &link, &spelled] {
        match ecobrief::application::lock_instance(path) {
            Err(e) => assert!(e.to_string().contains("already using"), "{e}"),
            Ok(_) => panic!("a second instance got the lock through {}", path.display()),
        }
    }
    let _dir = bot.shutdown().await;
    if let Err(e) = ecobrief::application::lock_instance(&link) {
        panic!("not free again after a clean stop: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_admins_and_preview_to_the_private_chat() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    // An anonymous admin writes as the group itself (Telegram's GroupAnonymousBot).
    fake.push_update(serde_json::json!({
        "message": {
            "message_id": 77, "date": 1_700_000_000,
            "chat": { "id": GROUP, "type": "supergroup", "title": "Group" },
            "sender_chat": { "id": GROUP, "type": "supergroup", "title": "Group" },
            "from": { "id": 1_087_968_824u64, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot" },
            "text": "/status",
            "entities": [{ "type": "bot_command", "offset": 0, "length": 7 }]
        }
    }));
    wait_text(&fake, GROUP, "运行状态").await;

    fake.push_text(GROUP, ADMIN, "/preview 2026-03-12");
    wait_text(&fake, GROUP, "预览已私聊发给你").await;
    let private: Vec<_> = fake.sent().into_iter().filter(|s| to(ADMIN)(s)).collect();
    assert_eq!(private.len(), 2, "the whole brief, privately");
    assert_eq!(
        fake.sent()
            .iter()
            .filter(|s| to(GROUP)(s) && s.text.starts_with("📰 "))
            .count(),
        0,
        "nothing posted to the group"
    );

    fake.push_text(ADMIN, ADMIN, "/ingest");
    let ingest = wait_text(&fake, ADMIN, "读取").await;
    assert!(ingest.text.contains("失败 0"), "{}", ingest.text);
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_binary_stops_cleanly_on_sigterm() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    let repo = common::repo_path("");
    std::fs::write(
        &config,
        format!(
            "database = \"{}\"\ntopics_file = \"{}/config/topics.toml\"\nsources = []\n[render]\ntemplates_dir = \"{}/templates\"\n[schedule]\ncatch_up_hours = 0\n[telegram]\npoll_timeout_seconds = 1\n[[telegram.targets]]\nchat = \"{GROUP}\"\n",
            dir.path().join("db.sqlite").display(),
            repo.display(),
            repo.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("ECOBRIEF_BOT_TOKEN", common::fake_telegram::TOKEN)
        .env("ECOBRIEF_API_URL", &fake.url)
        .spawn()
        .unwrap();
    fake.wait_calls("getUpdates", 1, WAIT).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(!fake.calls("setMyCommands").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_checks_hold_after_a_migration_and_against_forged_senders() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = TestApp::builder(&fake).start().await;
    // The group became a supergroup; its administrators are those of the new chat.
    let supergroup = -1_002_222;
    let chat_admin = 9002;
    bot.store()
        .set_migrated_chat(&GROUP.to_string(), supergroup)
        .unwrap();
    fake.set_admins(&supergroup.to_string(), &[chat_admin]);
    fake.push_text(supergroup, chat_admin, "/status");
    wait_text(&fake, supergroup, "运行状态").await;

    // "From the group" in a private chat is not an anonymous admin.
    fake.push_update(serde_json::json!({
        "message": {
            "message_id": 78, "date": 1_700_000_000,
            "chat": { "id": MEMBER, "type": "private", "first_name": "M" },
            "sender_chat": { "id": supergroup, "type": "supergroup", "title": "Group" },
            "from": { "id": MEMBER, "is_bot": false, "first_name": "M" },
            "text": "/status",
            "entities": [{ "type": "bot_command", "offset": 0, "length": 7 }]
        }
    }));
    wait_text(&fake, MEMBER, "仅限管理员").await;
    bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_more_callback_edits_nothing() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let bot = with_gold_pages(&fake).await;
    fake.push_text(GROUP, MEMBER, "/topics");
    let list = wait_text(&fake, GROUP, "全部专题").await;
    fake.push_text(GROUP, MEMBER, "/topic gold");
    let page = wait_text(&fake, GROUP, "🔎 黄金").await;
    // On a message without that button, and with data its button does not carry.
    fake.push_callback(GROUP, MEMBER, list.message_id, "t:gold:5");
    fake.push_callback(GROUP, MEMBER, page.message_id, "t:gold:99999");
    fake.wait_calls("answerCallbackQuery", 2, WAIT).await;
    // Positive control: the real button still pages, and it is the only edit.
    fake.push_callback(GROUP, MEMBER, page.message_id, "t:gold:5");
    let sent = fake
        .wait_for(WAIT, "the next page", |sent| sent.iter().any(|s| s.edited))
        .await;
    let edits: Vec<_> = sent.iter().filter(|s| s.edited).collect();
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0].message_id, page.message_id);
    bot.shutdown().await;
}
