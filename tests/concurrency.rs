//! Nothing blocks the bot: a long ingest leaves commands and probes answered, and
//! concurrent writers (pushes to the API, a command-line ingest) queue on SQLite's busy
//! timeout instead of failing.

mod common;

use std::time::{Duration, Instant};

use common::fake_telegram::{FakeTelegram, Limits};
use common::{GROUP, TestApp};
use ecobrief::config::SourceConfig;

const MEMBER: i64 = 5001;

/// `count` small articles of one day, each its own file.
fn write_articles(dir: &std::path::Path, count: usize, day: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(
            dir.join(format!("note-{i:05}.md")),
            format!(
                "---\ntitle: \"第{i}号市场快讯：铜价与汇率\"\ndate: {day} 09:{:02}:00\ncategories:\n  - \"sina_commodity\"\n---\n第{i}号快讯。铜价小幅波动，人民币汇率保持稳定，市场等待新的数据。\n",
                i % 60
            ),
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_probes_are_answered_during_a_long_ingest() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .config_in(|c, dir| {
            c.sources.push(SourceConfig::Dir {
                path: dir.join("bulk"),
                name: Some("bulk".to_string()),
            });
        })
        .start()
        .await;
    // Written after the start-up read, so that /ingest has all of them to read.
    write_articles(&app.dir.path().join("bulk"), 10_000, "2026-03-13");
    let jobs = app.jobs.clone();
    let started = Instant::now();
    let ingest = tokio::spawn(async move {
        let report = jobs.ingest(true).await.expect("the runner answers");
        (report, Instant::now())
    });
    // Wait until the ingest is visibly under way (items are being saved).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = app
            .core
            .db
            .run(|s| s.item_count_for_date(common::day("2026-03-13")))
            .await
            .unwrap();
        if stored > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the ingest never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let probe = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status().as_u16(), 200);
    let probe_answered = Instant::now();
    fake.push_text(GROUP, MEMBER, "/topics");
    fake.wait_for(Duration::from_secs(30), "the /topics reply", |sent| {
        sent.iter().any(|s| s.text.contains("全部专题"))
    })
    .await;
    let topics_answered = Instant::now();
    let (report, ingest_done) = ingest.await.unwrap();
    let bulk = report.get("bulk").expect("the bulk folder was read");
    assert_eq!(bulk.items, 10_000, "{:?}", bulk.error);
    assert!(
        probe_answered < ingest_done && topics_answered < ingest_done,
        "answered before the ingest finished (probe {:?}, /topics {:?}, ingest {:?})",
        probe_answered - started,
        topics_answered - started,
        ingest_done - started
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_pushes_beside_a_command_line_ingest_all_succeed() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .secrets(ecobrief::server::Secrets {
            api_token: Some("push-token".to_string()),
            webhook_secret: None,
        })
        .start()
        .await;
    let folder = app.dir.path().join("cli");
    write_articles(&folder, 3_000, "2026-03-14");
    let db = app.dir.path().join("test.db");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .current_dir(common::repo_path(""))
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .arg(&folder)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut pushes = Vec::new();
    for i in 0..50 {
        let request = client
            .post(app.url(&format!("/api/items?name=push-{i}.md")))
            .bearer_auth("push-token")
            .header("content-type", "application/json")
            .body(
                serde_json::json!({
                    "title": format!("推送快讯第{i}条"),
                    "date": "2026-03-15",
                    "summary": "并发推送的测试条目。"
                })
                .to_string(),
            )
            .timeout(Duration::from_secs(30));
        pushes.push(tokio::spawn(request.send()));
    }
    for push in pushes {
        let response = push.await.unwrap().unwrap();
        let status = response.status().as_u16();
        assert_eq!(status, 201, "{}", response.text().await.unwrap_or_default());
    }
    let cli = tokio::task::spawn_blocking(move || cli.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        cli.status.success(),
        "the command-line ingest: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let store = app.store();
    assert_eq!(
        store
            .item_count_for_date(common::day("2026-03-15"))
            .unwrap(),
        50,
        "every push stored"
    );
    assert_eq!(
        store
            .item_count_for_date(common::day("2026-03-14"))
            .unwrap(),
        3_000,
        "every file of the ingest stored"
    );
    drop(store);
    app.shutdown().await;
}
