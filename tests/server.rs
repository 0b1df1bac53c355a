//! The HTTP server: the items API, probes, metrics, and webhook mode, over real HTTP.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::NaiveDate;
use ecobrief::application::{Application, Purpose, StartError, StartOptions};
use ecobrief::config::{Config, TelegramMode};
use ecobrief::notify::IngestBell;
use ecobrief::server::{self, Secrets, ServerState};
use serde_json::{Value, json};
use tokio::sync::watch;

use common::fake_telegram::{FakeTelegram, Fault, Limits};
use common::{GROUP, TestApp, TestAppBuilder, TestCore, fixture, repo_path, spawn_core_with};

const TOKEN: &str = "api-token-for-tests";
const WAIT: Duration = Duration::from_secs(15);

/// Our server alone on a fresh core (nothing ingested), on a free port.
struct ApiServer {
    test: TestCore,
    base: String,
    _stop: watch::Sender<bool>,
}

async fn api_server(api_token: Option<&str>, adjust: impl FnOnce(&mut Config)) -> ApiServer {
    let test = spawn_core_with(adjust);
    let state = ServerState::new(
        test.app.clone(),
        api_token.map(str::to_string),
        IngestBell::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(server::serve(
        listener,
        server::router(state),
        stopping,
        server::ServerLimits::default(),
    ));
    ApiServer {
        test,
        base,
        _stop: stop,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

impl ApiServer {
    async fn push(
        &self,
        content_type: &str,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let response = client()
            .post(format!("{}/api/items{query}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Keys of every stored item of March and April 2026 (where the test documents fall).
    fn stored_keys(&self) -> HashSet<String> {
        let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let store = self.test.store();
        first
            .iter_days()
            .take(61)
            .flat_map(|d| store.items_for_date(d).unwrap())
            .map(|(_, item)| item.key)
            .collect()
    }

    /// The items stored on `date`.
    fn items_on(&self, date: NaiveDate) -> Vec<ecobrief::model::Item> {
        self.test
            .store()
            .items_for_date(date)
            .unwrap()
            .into_iter()
            .map(|(_, item)| item)
            .collect()
    }
}

fn keys(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn api_requires_the_bearer_token() {
    let disabled = api_server(None, |_| {}).await;
    let response = client()
        .post(format!("{}/api/items", disabled.base))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("央行降息。")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("ECOBRIEF_API_TOKEN")
    );

    let server = api_server(Some(TOKEN), |_| {}).await;
    let url = format!("{}/api/items", server.base);
    let missing = client()
        .post(&url)
        .header("content-type", "text/plain")
        .body("央行降息。")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .split_whitespace()
            .next(),
        Some("Bearer")
    );
    for wrong in ["api-token-for-testS", "api-token-for-tests-and-more", ""] {
        let response = client()
            .post(&url)
            .bearer_auth(wrong)
            .header("content-type", "text/plain")
            .body("央行降息。")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "token {wrong:?}");
    }
    let basic = client()
        .post(&url)
        .basic_auth("user", Some(TOKEN))
        .header("content-type", "text/plain")
        .body("央行降息。")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert!(
        server.stored_keys().is_empty(),
        "nothing stored without the token"
    );

    let (status, body) = server
        .push(
            "text/plain",
            "?name=commentary-2026-03-20.txt",
            "央行降息，市场情绪回暖。",
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn api_stores_each_document_shape() {
    let server = api_server(Some(TOKEN), |_| {}).await;

    let brief = std::fs::read(repo_path("samples/brief-2026-03-12.md")).unwrap();
    let (status, body) = server
        .push(
            "text/markdown; charset=utf-8",
            "?name=brief-2026-03-12.md",
            brief,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let brief_keys = keys(&body);
    assert!(brief_keys.len() > 3, "a brief has many items: {body}");

    let article = std::fs::read(fixture("article-rfc3339.md")).unwrap();
    let (status, body) = server.push("text/markdown", "", article).await;
    assert_eq!(status, 201, "{body}");
    let article_keys = keys(&body);
    assert_eq!(article_keys.len(), 1);

    // Undated commentary: its day comes from the name given in the query.
    let commentary = std::fs::read(fixture("commentary-2026-04-02.txt")).unwrap();
    let (status, body) = server
        .push("text/plain", "?name=commentary-2026-04-02.txt", commentary)
        .await;
    assert_eq!(status, 201, "{body}");
    let commentary_keys = keys(&body);
    let day = NaiveDate::from_ymd_opt(2026, 4, 2).unwrap();
    let on_day: Vec<String> = server.items_on(day).into_iter().map(|i| i.key).collect();
    assert!(on_day.contains(&commentary_keys[0]), "dated from ?name=");

    let item = json!({
        "title": "铜价创一年新高",
        "date": "2026-03-15T09:30:00+08:00",
        "section": "大宗商品",
        "summary": "伦铜盘中突破每吨一万美元。",
        "key_points": ["供应扰动", "  ", "需求回暖"],
        "impacts": ["对有色金属：利多。供给偏紧", "投资启示：关注回调机会"],
        "source_url": "https://example.com/copper-2026-03-15",
        "categories": ["商品"],
        "tags": ["铜"]
    });
    let (status, body) = server.push("application/json", "", item.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let json_keys = keys(&body);
    let stored = server.items_on(NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
    let copper = stored
        .iter()
        .find(|i| i.key == json_keys[0])
        .expect("the JSON item is stored on its day");
    assert_eq!(copper.title, "铜价创一年新高");
    assert_eq!(copper.section, "大宗商品");
    assert_eq!(copper.key_points, vec!["供应扰动", "需求回暖"]);
    assert_eq!(copper.impacts.len(), 1);
    assert_eq!(copper.impacts[0].target, "有色金属");
    assert_eq!(copper.advice, vec!["关注回调机会"]);
    assert_eq!(
        copper.source_url.as_deref(),
        Some("https://example.com/copper-2026-03-15")
    );

    let all = server.stored_keys();
    for key in brief_keys
        .iter()
        .chain(&article_keys)
        .chain(&commentary_keys)
        .chain(&json_keys)
    {
        assert!(all.contains(key), "{key} stored");
    }

    // The same JSON item again replaces it rather than adding a copy.
    let (status, body) = server.push("application/json", "", item.to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(keys(&body), json_keys);
    assert_eq!(server.stored_keys().len(), all.len());

    // Another JSON item, and another document under the default name, are added beside
    // the earlier ones: pushes share no "file" whose new version would replace them.
    let other = serde_json::json!({ "title": "铝价走弱", "date": "2026-03-16" });
    let (status, body) = server.push("application/json", "", other.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let other_keys = keys(&body);
    let now = server.stored_keys();
    assert!(now.contains(&other_keys[0]), "second JSON item stored");
    assert_eq!(
        now.len(),
        all.len() + 1,
        "nothing pushed earlier was replaced"
    );
    for key in &all {
        assert!(now.contains(key), "{key} still stored");
    }
    // Two undated documents under the same default name: both kept (on today's date).
    let mut plain = Vec::new();
    for text in ["另一条评论。内容。\n", "第三条评论。内容。\n"] {
        let (status, body) = server.push("text/plain", "", text.to_string()).await;
        assert_eq!(status, 201, "{body}");
        plain.extend(keys(&body));
    }
    let today: Vec<String> = server
        .items_on(server.test.app.today())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert!(
        plain.iter().all(|k| today.contains(k)),
        "{plain:?} both stored"
    );

    // Counted for /metrics under the API source.
    let metrics = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ecobrief_items_ingested_total{source=\"api\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn api_refuses_bad_bodies_with_the_reason() {
    let server = api_server(Some(TOKEN), |c| c.server.max_body_bytes = 1024).await;

    let (status, body) = server.push("text/plain", "", "长".repeat(2000)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("1024-byte limit"),
        "{body}"
    );

    let (status, body) = server
        .push(
            "text/markdown",
            "?name=broken.md",
            "---\ntitle: 没有结束\ndate: 2026-03-12\n\n正文。\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let reason = body["error"].as_str().unwrap();
    assert!(reason.contains("broken.md"), "{reason}");
    assert!(reason.contains("never closed"), "{reason}");

    let (status, body) = server.push("text/plain", "", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("empty"), "{body}");

    let (status, body) = server
        .push(
            "application/json",
            "",
            json!({ "title": "x", "date": "2026-03-12", "keypoints": [] }).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("keypoints"),
        "{body}"
    );

    let (status, body) = server
        .push(
            "application/json",
            "",
            json!({ "title": "x", "date": "下周一" }).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{body}"
    );

    let (status, body) = server
        .push(
            "application/json",
            "",
            json!({ "title": "x", "date": "2026-03-12", "impacts": ["大涨"] }).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("impacts[0]"),
        "{body}"
    );

    let (status, body) = server.push("application/json", "", "{not json").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = server.push("application/pdf", "", "%PDF").await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("text/markdown"),
        "{body}"
    );

    assert!(server.stored_keys().is_empty(), "nothing bad was stored");
}

#[tokio::test]
async fn probes_and_metrics() {
    let server = api_server(Some(TOKEN), |_| {}).await;
    let get = |path: &str| client().get(format!("{}{path}", server.base)).send();

    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap().trim(), "ok");

    // Telegram not contacted yet: ready on the database alone.
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let stamp = server.test.store().meta_value("ready_check").unwrap();
    assert!(stamp.is_some(), "readyz wrote to the database");

    let metrics = server.test.app.metrics.clone();
    metrics.set_telegram_reachable(false);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("Telegram"));
    metrics.set_telegram_reachable(true);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    metrics.message_sent();
    let response = get("/metrics").await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("ecobrief_messages_sent_total 1"), "{text}");
    assert!(text.contains("ecobrief_subscribers 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_counts_sends_retries_and_failures() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let test = TestApp::builder(&fake).start().await;
    let metrics = test.core.metrics.clone();
    fake.fail_next("sendmessage", Fault::Status(502));
    let day = NaiveDate::from_ymd_opt(2026, 3, 12).unwrap();
    let report = test.post(day, false).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let text = metrics.render(0);
    assert!(text.contains("ecobrief_briefs_published_total 1"), "{text}");
    assert!(
        text.contains("ecobrief_messages_retried_total{reason=\"server\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("ecobrief_last_publish_timestamp_seconds 0"),
        "{text}"
    );
    // The fake keeps photos (the cover) apart from text messages; both are messages sent.
    let sent = (fake.sent().len() + fake.photos().len()) as u64;
    assert!(
        text.contains(&format!("ecobrief_messages_sent_total {sent}")),
        "every confirmed message counted ({sent}): {text}"
    );
    assert_eq!(metrics.telegram_reachable(), Some(true));

    // A blocked target: the failure is counted by reason, and no brief is published.
    fake.block(&GROUP.to_string());
    let report = test.post(day, true).await.unwrap();
    assert!(!report.complete());
    let text = metrics.render(0);
    assert!(
        text.contains("ecobrief_messages_failed_total{reason=\"forbidden\"} 1"),
        "{text}"
    );
    assert!(text.contains("ecobrief_briefs_published_total 1"), "{text}");
}

/// The whole application talking to `fake`, its HTTP server on a free port it reports,
/// with the given secrets.
async fn spawn_served_bot(
    fake: &FakeTelegram,
    secrets: Secrets,
    adjust: impl FnOnce(&mut Config) + 'static,
) -> (TestApp, SocketAddr) {
    let test = TestApp::builder(fake)
        .secrets(secrets)
        .config(adjust)
        .start()
        .await;
    let addr = test.address.expect("the HTTP server runs");
    (test, addr)
}

/// Why the application refused to start.
async fn start_error(builder: TestAppBuilder) -> StartError {
    match builder.try_start().await {
        Ok(_) => panic!("the application started"),
        Err(e) => e,
    }
}

/// Webhook mode at `url`.
fn webhook(url: &str) -> impl FnOnce(&mut Config) + 'static {
    let url = url.to_string();
    move |c: &mut Config| {
        c.telegram.mode = TelegramMode::Webhook;
        c.telegram.webhook_url = Some(url);
    }
}

async fn wait_until_serving(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(r) = client().get(format!("http://{addr}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_the_bot_replies() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let (bot, addr) = spawn_served_bot(&fake, Secrets::default(), |_| {}).await;
    wait_until_serving(addr).await;
    let get_metrics = || async {
        client()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(
        metric(&get_metrics().await, "ecobrief_messages_sent_total"),
        0
    );

    fake.push_text(GROUP, 5001, "/topic 黄金");
    fake.wait_for(WAIT, "the /topic reply", |sent| {
        sent.iter().any(|s| s.text.contains("🔎 黄金"))
    })
    .await;
    // The reply is counted once Telegram confirmed it, just after the fake recorded it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if metric(&get_metrics().await, "ecobrief_messages_sent_total") > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sent counter never moved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = client()
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // Without ECOBRIEF_API_TOKEN the API is off.
    let api = client()
        .post(format!("http://{addr}/api/items"))
        .bearer_auth("anything")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 503);
    bot.shutdown().await;
}

const SECRET: &str = "webhook-secret_123";
/// The public URL Telegram is told; a reverse proxy would forward it to our listener, at
/// the same path, which the tests post to directly.
const PUBLIC_URL: &str = "https://bot.example.com/telegram/webhook";

fn topic_update(update_id: i64) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": 77,
            "date": 1_700_000_000,
            "chat": { "id": GROUP, "type": "supergroup", "title": "Group" },
            "from": { "id": 5001, "is_bot": false, "first_name": "User" },
            "text": "/topic 黄金",
            "entities": [{ "type": "bot_command", "offset": 0, "length": 6 }]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_needs_the_secret() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let secrets = Secrets {
        api_token: Some(TOKEN.to_string()),
        webhook_secret: Some(SECRET.to_string()),
    };
    let (bot, addr) = spawn_served_bot(&fake, secrets, webhook(PUBLIC_URL)).await;
    wait_until_serving(addr).await;
    let set = fake.calls("setwebhook");
    assert_eq!(set.len(), 1, "setWebhook called once");
    // teloxide sends setWebhook as multipart (for an optional certificate), which the fake
    // does not parse; that the secret is enforced is checked below instead.

    let hook = format!("http://{addr}/telegram/webhook");
    let missing = client()
        .post(&hook)
        .json(&topic_update(1))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = client()
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "webhook-secret_124")
        .json(&topic_update(2))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Give a refused update the time a handled one would take: nothing may be sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fake.sent().is_empty(), "a refused update is not handled");

    let right = client()
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&topic_update(3))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let sent = fake
        .wait_for(WAIT, "the /topic reply by webhook", |sent| {
            sent.iter().any(|s| s.text.contains("🔎 黄金"))
        })
        .await;
    assert_eq!(sent.len(), 1, "one update, one reply");
    assert!(
        fake.calls("getupdates").is_empty(),
        "no polling in webhook mode"
    );

    // The API shares the listener.
    let api = client()
        .post(format!(
            "http://{addr}/api/items?name=commentary-2026-03-20.txt"
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("央行降息，市场情绪回暖。")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 201);

    bot.shutdown().await;
    assert_eq!(
        fake.calls("deletewebhook").len(),
        1,
        "webhook removed at stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_refuses_to_start_without_its_settings() {
    let fake = FakeTelegram::start(Limits::default()).await;

    // The secret is checked when the application is built.
    let error = start_error(
        TestApp::builder(&fake)
            .secrets(Secrets::default())
            .config(webhook(PUBLIC_URL)),
    )
    .await;
    assert!(matches!(error, StartError::Webhook(_)), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("ECOBRIEF_WEBHOOK_SECRET"), "{error}");

    let with_secret = |secret: &str| Secrets {
        api_token: None,
        webhook_secret: Some(secret.to_string()),
    };
    let error = start_error(
        TestApp::builder(&fake)
            .secrets(with_secret("has spaces"))
            .config(webhook(PUBLIC_URL)),
    )
    .await;
    assert!(matches!(error, StartError::Webhook(_)), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("A-Z, a-z, 0-9"), "{error}");

    // The URL and the server setting are checked with the rest of the config.
    let settings_error = |builder: TestAppBuilder| {
        let (_dir, settings) = builder.settings();
        match settings {
            Ok(_) => panic!("the settings were accepted"),
            Err(e) => e.to_string(),
        }
    };
    let error = settings_error(
        TestApp::builder(&fake)
            .secrets(with_secret(SECRET))
            .config(webhook("https://bot.example.com/metrics")),
    );
    assert!(error.contains("/metrics"), "{error}");
    assert!(error.contains("telegram.webhook_url"), "{error}");

    let error = settings_error(
        TestApp::builder(&fake)
            .secrets(with_secret(SECRET))
            .config(|c| c.telegram.mode = TelegramMode::Webhook),
    );
    assert!(error.contains("telegram.webhook_url"), "{error}");

    let error = settings_error(
        TestApp::builder(&fake)
            .secrets(with_secret(SECRET))
            .config(webhook(PUBLIC_URL))
            .config(|c| c.server.enabled = false),
    );
    assert!(error.contains("server.enabled"), "{error}");
    assert!(error.contains("telegram.mode"), "{error}");
    assert!(
        fake.calls("setwebhook").is_empty(),
        "checked before Telegram is asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let listen = address.clone();
    let (_dir, settings) = TestApp::builder(&fake)
        .config(move |c| c.server.listen = listen)
        .settings();
    let settings = settings.expect("settings parse");
    // No listener handed in: the application binds server.listen itself.
    let options = StartOptions::new(
        Purpose::Serve,
        Some(common::fake_telegram::TOKEN.to_string()),
    );
    let (_stop, stopping) = watch::channel(false);
    let error = match Application::build(settings, options, stopping).await {
        Ok(_) => panic!("the application started on a taken port"),
        Err(e) => e,
    };
    assert!(matches!(error, StartError::Listen(_)), "{error:?}");
    let error = error.to_string();
    assert!(
        error.contains(&address) && error.contains("server.listen"),
        "{error}"
    );
    drop(taken);
}
