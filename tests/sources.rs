//! Sources against a local HTTP server started by each test: feeds in the three shapes,
//! conditional GET, failures and recovery, slow, oversized and malformed answers, a url
//! source, and a folder source whose unchanged files are skipped. Then feeds read as a
//! feed reader reads them (bare `&`, charsets, dates without a zone, older shapes, empty
//! answers, the HTML entity table), and the limits on fetches in flight.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{TestCore, day};
use ecobrief::app::Core;
use ecobrief::config::{FetchConfig, SourceConfig};
use ecobrief::model::Item;
use ecobrief::notify::{Notices, Notifier};
use ecobrief::sources::feed::{FeedDocuments, parse_served_feed};
use ecobrief::sources::{Outcome, SourceReport, SourcesReport, poll_all, poll_and_notify};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::fixture("feeds").join(name)).unwrap()
}

/// What the test server saw and how it should behave.
#[derive(Default)]
struct Server {
    hits: Mutex<HashMap<String, u32>>,
    /// (If-None-Match, If-Modified-Since) of each request to /etag.xml.
    conditional: Mutex<Vec<(Option<String>, Option<String>)>>,
    user_agents: Mutex<Vec<String>>,
    /// /flaky.xml answers 500 while set.
    failing: AtomicBool,
    /// /once.xml answers 503 this many more times.
    fail_next: AtomicU32,
    /// /rss.xml serves its second version (one entry edited) while set.
    rss_v2: AtomicBool,
    /// Bodies a test registers: path → (content type, bytes).
    bodies: Mutex<HashMap<String, (String, Vec<u8>)>>,
    /// Requests to /held/… being answered now, and the most there ever were at once.
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
}

impl Server {
    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Serves `body` at `path` with `content_type`.
    fn serve_body(&self, path: &str, content_type: &str, body: Vec<u8>) {
        self.bodies
            .lock()
            .unwrap()
            .insert(path.to_string(), (content_type.to_string(), body));
    }
}

fn with_type(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

const RSS: &str = "application/rss+xml; charset=utf-8";

async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    *server.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let headers: &HeaderMap = request.headers();
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(agent) = text(header::USER_AGENT) {
        server.user_agents.lock().unwrap().push(agent);
    }
    if let Some((content_type, body)) = server.bodies.lock().unwrap().get(&path).cloned() {
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    if path.starts_with("/held/") {
        // Held long enough that every fetch the limits allow is in flight together.
        let now = server.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        server.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.in_flight.fetch_sub(1, Ordering::SeqCst);
        return with_type(RSS, fixture("rss-empty-channel.xml"));
    }
    match path.as_str() {
        "/rss.xml" => {
            let mut body = String::from_utf8(fixture("rss.xml")).unwrap();
            if server.rss_v2.load(Ordering::SeqCst) {
                body = body.replace("北向资金净买入42亿元", "北向资金净买入57亿元");
            }
            with_type(RSS, body)
        }
        "/atom.xml" => with_type("application/atom+xml", fixture("atom.xml")),
        "/feed.json" => with_type("application/feed+json", fixture("feed.json")),
        "/etag.xml" => {
            let validators = (text(header::IF_NONE_MATCH), text(header::IF_MODIFIED_SINCE));
            let matched = validators.0.as_deref() == Some("\"v1\"");
            server.conditional.lock().unwrap().push(validators);
            if matched {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            (
                [
                    (header::CONTENT_TYPE, RSS),
                    (header::ETAG, "\"v1\""),
                    (header::LAST_MODIFIED, "Mon, 18 May 2026 08:00:00 GMT"),
                ],
                fixture("rss.xml"),
            )
                .into_response()
        }
        "/flaky.xml" if server.failing.load(Ordering::SeqCst) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response()
        }
        "/flaky.xml" => with_type(RSS, fixture("rss.xml")),
        "/once.xml" => {
            let left = server.fail_next.load(Ordering::SeqCst);
            if left > 0 {
                server.fail_next.store(left - 1, Ordering::SeqCst);
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            with_type(RSS, fixture("atom.xml"))
        }
        "/slow.xml" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            with_type(RSS, fixture("rss.xml"))
        }
        "/big.xml" => {
            // Chunked, with no Content-Length: the limit must hold while streaming.
            let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024])));
            with_type(RSS, Body::from_stream(futures_util::stream::iter(chunks)))
        }
        "/big-declared.xml" => with_type(RSS, vec![b' '; 64 * 1024]),
        "/bad.xml" => with_type(
            "application/xml",
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>坏数据</title><item><title>未闭合</titl></item>",
        ),
        "/page.html" => with_type(
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>错误</body></html>",
        ),
        "/page-as-xml.xml" => {
            with_type("application/xml", "\n<html><body>登录后查看</body></html>")
        }
        "/daily/brief-2026-05-21.md" => with_type(
            "text/markdown; charset=utf-8",
            fixture("brief-2026-05-21.md"),
        ),
        "/logo.png" => with_type("image/png", vec![0x89, b'P', b'N', b'G', 0, 0]),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the test server on a free local port; returns its base URL.
async fn serve(server: Arc<Server>) -> String {
    let app = Router::new().fallback(handle).with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Fetch settings for tests: short, and no retries unless a test asks for them.
fn quick() -> FetchConfig {
    FetchConfig {
        interval_minutes: 10,
        timeout_seconds: 5,
        max_bytes: 1024 * 1024,
        retries: 0,
    }
}

fn feed(base: &str, path: &str, name: &str, fetch: FetchConfig) -> SourceConfig {
    SourceConfig::Feed {
        url: format!("{base}{path}"),
        name: Some(name.to_string()),
        fetch,
    }
}

/// A core with only `sources` (its folder holds the database).
fn app_with(sources: Vec<SourceConfig>) -> TestCore {
    common::spawn_core_with(|c| c.sources = sources)
}

/// A core whose only source is the folder `inbox` (named so) beside its database, made
/// empty; a test fills it before the first poll.
fn inbox_core() -> (TestCore, PathBuf) {
    let mut inbox = PathBuf::new();
    let t = common::spawn_core_with(|c| {
        inbox = c.database.with_file_name("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        c.sources = vec![SourceConfig::Dir {
            path: inbox.clone(),
            name: Some("inbox".to_string()),
        }];
    });
    (t, inbox)
}

/// Polls every source (all of them when `force`), with no deadline.
async fn poll(app: &Core, force: bool) -> SourcesReport {
    poll_all(app, force, None).await
}

fn items_of(app: &Core, date: &str) -> Vec<Item> {
    app.db
        .with(|store| store.items_for_date(day(date)))
        .unwrap()
        .into_iter()
        .map(|(_, item)| item)
        .collect()
}

fn item_count(app: &Core) -> usize {
    app.db.with(|store| store.item_count()).unwrap()
}

/// Every notice the admins were sent since the last call.
fn drain(notices: &mut Notices) -> Vec<String> {
    std::iter::from_fn(|| notices.try_recv().ok()).collect()
}

fn source<'r>(report: &'r SourcesReport, name: &str) -> &'r SourceReport {
    report
        .get(name)
        .unwrap_or_else(|| panic!("no report for {name}: {report:#?}"))
}

fn error_of<'r>(report: &'r SourcesReport, name: &str) -> &'r str {
    let s = source(report, name);
    assert_eq!(s.outcome, Outcome::Failed, "{s:#?}");
    s.error.as_deref().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_in_three_shapes_become_items_once() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![
        feed(&base, "/rss.xml", "rss", quick()),
        feed(&base, "/atom.xml", "atom", quick()),
        feed(&base, "/feed.json", "json", quick()),
    ]);

    let report = poll(&t.app, false).await;
    for (name, items) in [("rss", 3), ("atom", 2), ("json", 2)] {
        let s = source(&report, name);
        assert_eq!(s.outcome, Outcome::Ingested, "{s:#?}");
        assert_eq!((s.items, s.new_items), (items, items), "{name}");
    }
    assert_eq!(item_count(&t.app), 7);

    // RSS: HTML in the description becomes text; the +08:00 date keeps its day.
    let rss = items_of(&t.app, "2026-05-18");
    let mlf = rss
        .iter()
        .find(|i| i.title.starts_with("央行开展"))
        .unwrap();
    assert_eq!(
        mlf.source_url.as_deref(),
        Some("https://news.example.com/macro/2026-05-18/mlf.html")
    );
    assert_eq!(
        mlf.published_at.unwrap().to_rfc3339(),
        "2026-05-18T01:20:00+00:00"
    );
    assert!(
        mlf.summary
            .starts_with("人民银行今日开展5000亿元中期借贷便利操作"),
        "{}",
        mlf.summary
    );
    assert!(!mlf.body.contains('<'), "{}", mlf.body);
    assert_eq!(mlf.categories, vec!["sina_china"]);
    assert_eq!(mlf.source_name.as_deref(), Some("财经快讯测试源"));
    let turnover = rss
        .iter()
        .find(|i| i.title.starts_with("沪深两市"))
        .unwrap();
    assert_eq!(turnover.categories, vec!["sina_china", "股市"]);
    assert!(
        turnover.summary.contains("42亿元&券商"),
        "{}",
        turnover.summary
    );
    // Undated, linkless: today's item, keyed by its guid, with no time made up.
    let today = t.app.today();
    let oil = items_of(&t.app, &today.to_string())
        .into_iter()
        .find(|i| i.title.starts_with("国际油价"))
        .expect("undated entry on today's date");
    assert_eq!(oil.published_at, None);
    assert_eq!(oil.source_url, None);

    // Atom: HTML title, `updated` when there is no `published`.
    let atom = items_of(&t.app, "2026-05-19");
    assert!(
        atom.iter()
            .any(|i| i.title == "美联储官员：通胀回落仍需时间"),
        "{atom:#?}"
    );
    let gold = atom
        .iter()
        .find(|i| i.title.starts_with("现货黄金"))
        .unwrap();
    assert_eq!(
        gold.published_at.unwrap().to_rfc3339(),
        "2026-05-19T02:10:00+00:00"
    );
    assert_eq!(
        gold.body,
        "避险需求升温，现货黄金盘中涨1.1%。\n全球黄金ETF持仓连续第五日增加。"
    );

    // JSON Feed: tags are the categories.
    let json = items_of(&t.app, "2026-05-20");
    let chip = json
        .iter()
        .find(|i| i.title.starts_with("多家晶圆厂"))
        .unwrap();
    assert_eq!(chip.categories, vec!["sina_tech", "半导体"]);
    assert_eq!(
        chip.source_url.as_deref(),
        Some("https://tech.example.net/2026/05/20/chip-capex")
    );

    let agents = server.user_agents.lock().unwrap().clone();
    assert!(
        agents
            .iter()
            .all(|a| a.starts_with("ecobrief/") && a.contains("t.me/ecodailyreport")),
        "{agents:?}"
    );

    // The same feeds again: nothing new, nothing duplicated.
    let again = poll(&t.app, true).await;
    for name in ["rss", "atom", "json"] {
        assert_eq!(source(&again, name).outcome, Outcome::Unchanged);
    }
    assert_eq!(item_count(&t.app), 7);

    // One entry edited: the feed is read again, the entry updated in place.
    server.rss_v2.store(true, Ordering::SeqCst);
    let edited = poll(&t.app, true).await;
    let rss = source(&edited, "rss");
    assert_eq!(rss.outcome, Outcome::Ingested);
    assert_eq!((rss.items, rss.new_items), (3, 1), "{rss:#?}");
    assert_eq!(item_count(&t.app), 7);
    assert!(
        items_of(&t.app, "2026-05-18")
            .iter()
            .any(|i| i.summary.contains("57亿元"))
    );
    let metrics = t.app.metrics.render(0);
    assert!(
        metrics.contains("ecobrief_items_ingested_total{source=\"rss\"} 4"),
        "only new or changed items count: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_is_not_polled_again_before_its_interval() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![feed(&base, "/rss.xml", "rss", quick())]);
    poll(&t.app, false).await;
    let report = poll(&t.app, false).await;
    assert_eq!(source(&report, "rss").outcome, Outcome::Skipped);
    assert_eq!(server.hits("/rss.xml"), 1);
    // `/ingest` forces it.
    poll(&t.app, true).await;
    assert_eq!(server.hits("/rss.xml"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_and_last_modified_give_a_304_that_does_no_work() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![feed(&base, "/etag.xml", "etag", quick())]);
    let first = poll(&t.app, true).await;
    assert_eq!(source(&first, "etag").outcome, Outcome::Ingested);
    let count = item_count(&t.app);

    let second = poll(&t.app, true).await;
    let s = source(&second, "etag");
    assert_eq!(s.outcome, Outcome::NotModified, "{s:#?}");
    assert_eq!(s.new_items, 0);
    assert_eq!(item_count(&t.app), count);
    let seen = server.conditional.lock().unwrap().clone();
    assert_eq!(seen[0], (None, None), "the first request is unconditional");
    assert_eq!(
        seen[1],
        (
            Some("\"v1\"".to_string()),
            Some("Mon, 18 May 2026 08:00:00 GMT".to_string())
        )
    );
    // A 304 is a success, and keeps the validators for the next poll.
    let state = t.store().source_state("etag").unwrap().unwrap();
    assert_eq!(state.etag.as_deref(), Some("\"v1\""));
    assert_eq!(state.consecutive_failures, 0);
    poll(&t.app, true).await;
    assert_eq!(
        server.conditional.lock().unwrap()[2].0.as_deref(),
        Some("\"v1\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_hear_once_when_a_source_fails_and_once_when_it_recovers() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![feed(&base, "/flaky.xml", "flaky", quick())]);
    let (notifier, mut notices) = Notifier::channel(true);
    server.failing.store(true, Ordering::SeqCst);

    let first = poll_and_notify(&t.app, &notifier, true, None).await;
    let error = error_of(&first, "flaky");
    assert!(
        error.contains("source flaky") && error.contains("HTTP 500"),
        "{error}"
    );
    let s = source(&first, "flaky");
    assert!(s.became_failing && !s.recovered);
    assert!(s.admin_notice().unwrap().contains("flaky"));
    let told = drain(&mut notices);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("flaky") && told[0].contains("HTTP 500"),
        "{told:?}"
    );

    let second = poll_and_notify(&t.app, &notifier, true, None).await;
    let s = source(&second, "flaky");
    assert_eq!(s.outcome, Outcome::Failed);
    assert!(!s.became_failing, "told once, not on every poll");
    assert_eq!(s.admin_notice(), None);
    assert_eq!(drain(&mut notices), Vec::<String>::new(), "told once");
    let state = t.store().source_state("flaky").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 2);
    assert!(state.last_error.unwrap().contains("HTTP 500"));
    assert_eq!(item_count(&t.app), 0);

    server.failing.store(false, Ordering::SeqCst);
    let third = poll_and_notify(&t.app, &notifier, true, None).await;
    let s = source(&third, "flaky");
    assert_eq!(s.outcome, Outcome::Ingested);
    assert!(s.recovered && !s.became_failing);
    assert_eq!(s.previous_failures, 2);
    assert!(s.admin_notice().unwrap().contains("恢复"));
    let told = drain(&mut notices);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("flaky") && told[0].contains("恢复"),
        "{told:?}"
    );
    assert_eq!(item_count(&t.app), 3);

    let fourth = poll_and_notify(&t.app, &notifier, true, None).await;
    assert!(!source(&fourth, "flaky").recovered, "recovery told once");
    assert_eq!(
        drain(&mut notices),
        Vec::<String>::new(),
        "recovery told once"
    );
    let state = t.store().source_state("flaky").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 0);
    assert!(state.last_success.is_some());
    let metrics = t.app.metrics.render(0);
    assert!(
        metrics.contains("ecobrief_source_fetch_errors_total{source=\"flaky\"} 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let retrying = FetchConfig {
        retries: 2,
        ..quick()
    };
    let t = app_with(vec![
        feed(&base, "/once.xml", "once", retrying.clone()),
        feed(&base, "/missing.xml", "missing", retrying),
    ]);
    server.fail_next.store(1, Ordering::SeqCst);
    let report = poll(&t.app, true).await;
    assert_eq!(source(&report, "once").outcome, Outcome::Ingested);
    assert_eq!(server.hits("/once.xml"), 2, "a 503 is retried");
    let error = error_of(&report, "missing");
    assert!(
        error.contains("HTTP 404") && error.contains("check the URL"),
        "{error}"
    );
    assert_eq!(server.hits("/missing.xml"), 1, "a 404 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_remote_input_fails_its_source_only() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let small = FetchConfig {
        max_bytes: 4096,
        ..quick()
    };
    let slow = FetchConfig {
        timeout_seconds: 1,
        ..quick()
    };
    let t = app_with(vec![
        feed(&base, "/rss.xml", "good", quick()),
        feed(&base, "/slow.xml", "slow", slow),
        feed(&base, "/big.xml", "big", small.clone()),
        feed(&base, "/big-declared.xml", "declared", small),
        feed(&base, "/bad.xml", "malformed", quick()),
        feed(&base, "/page.html", "html", quick()),
        feed(&base, "/page-as-xml.xml", "html2", quick()),
    ]);
    let started = std::time::Instant::now();
    let report = poll(&t.app, true).await;
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "the slow source was cut at its timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(source(&report, "good").outcome, Outcome::Ingested);
    assert_eq!(
        item_count(&t.app),
        3,
        "the good feed is stored, nothing else"
    );

    let slow = error_of(&report, "slow");
    assert!(
        slow.contains("no complete answer within 1 s") && slow.contains("/slow.xml"),
        "{slow}"
    );
    for name in ["big", "declared"] {
        let big = error_of(&report, name);
        assert!(big.contains("larger than the 4096-byte limit"), "{big}");
    }
    let malformed = error_of(&report, "malformed");
    assert!(
        malformed.contains("is not a valid feed") && malformed.contains("unable to parse"),
        "{malformed}"
    );
    for name in ["html", "html2"] {
        let html = error_of(&report, name);
        assert!(
            html.contains("expected a feed, got an HTML page"),
            "{name}: {html}"
        );
    }

    // A later poll where the good feed answers the same: stored items stay as they were.
    let again = poll(&t.app, true).await;
    assert_eq!(again.failed(), 6);
    assert_eq!(item_count(&t.app), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_source_ingests_a_brief_document() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![
        SourceConfig::Url {
            url: format!("{base}/daily/brief-2026-05-21.md?from=pipeline"),
            name: Some("pipeline".to_string()),
            fetch: quick(),
        },
        SourceConfig::Url {
            url: format!("{base}/logo.png"),
            name: Some("image".to_string()),
            fetch: quick(),
        },
        SourceConfig::Url {
            url: format!("{base}/page.html"),
            name: Some("page".to_string()),
            fetch: quick(),
        },
    ]);
    let report = poll(&t.app, true).await;
    let s = source(&report, "pipeline");
    assert_eq!(s.outcome, Outcome::Ingested, "{s:#?}");
    assert_eq!(s.items, 2);
    let brief = t
        .store()
        .brief_document(day("2026-05-21"))
        .unwrap()
        .expect("the brief is stored");
    assert_eq!(brief.title, "测试简报：流动性宽松延续，科技股反弹");
    assert_eq!(items_of(&t.app, "2026-05-21").len(), 2);

    let image = error_of(&report, "image");
    assert!(image.contains("content type \"image/png\""), "{image}");
    let page = error_of(&report, "page");
    assert!(page.contains("got an HTML page"), "{page}");

    // The same document again: recognised by its hash, not parsed again.
    let again = poll(&t.app, true).await;
    assert_eq!(source(&again, "pipeline").outcome, Outcome::Unchanged);
    assert_eq!(items_of(&t.app, "2026-05-21").len(), 2);
}

fn line_for<'r>(report: &'r SourceReport, file: &str) -> &'r str {
    report
        .lines
        .iter()
        .find(|l| l.contains(file))
        .unwrap_or_else(|| panic!("no line for {file}: {:#?}", report.lines))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_source_skips_unchanged_files_and_rereads_changed_ones() {
    let (t, inbox) = inbox_core();
    let write = |name: &str, text: &str| std::fs::write(inbox.join(name), text).unwrap();
    write("a-2026-05-22.txt", "第一条评论：出口增速放缓。正文内容。\n");
    write("b-2026-05-22.txt", "第二条评论：消费温和复苏。正文内容。\n");

    let first = poll(&t.app, false).await;
    let s = source(&first, "inbox");
    assert_eq!(s.outcome, Outcome::Ingested, "{s:#?}");
    assert_eq!((s.items, s.new_items), (2, 2));

    // b is edited (new size); a is left alone.
    write(
        "b-2026-05-22.txt",
        "第二条评论（更新）：消费复苏好于预期。正文内容。\n",
    );
    let second = poll(&t.app, false).await;
    let s = source(&second, "inbox");
    assert_eq!(s.outcome, Outcome::Ingested);
    assert!(
        line_for(s, "a-2026-05-22.txt").contains("(1 items, unchanged)"),
        "{:#?}",
        s.lines
    );
    let b = line_for(s, "b-2026-05-22.txt");
    assert!(b.starts_with("ok") && !b.contains("unchanged"), "{b}");
    assert_eq!(s.new_items, 1);
    let titles: Vec<String> = items_of(&t.app, "2026-05-22")
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.iter().any(|t| t.contains("更新")), "{titles:?}");

    // Touched but not changed: read and hashed, not parsed, still unchanged.
    let a = std::fs::File::options()
        .write(true)
        .open(inbox.join("a-2026-05-22.txt"))
        .unwrap();
    a.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let third = poll(&t.app, false).await;
    let s = source(&third, "inbox");
    assert_eq!(s.outcome, Outcome::Unchanged, "{:#?}", s.lines);
    assert_eq!(s.new_items, 0);

    // The sync path the CLI and `preview` use sees the same thing.
    let report = t.app.ingest_folders().unwrap();
    assert!(report.lines().iter().all(|l| l.contains("unchanged")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_folder_is_a_failing_source() {
    let t = app_with(vec![SourceConfig::Dir {
        path: Path::new("/nonexistent/ecobrief-inbox").to_path_buf(),
        name: Some("gone".to_string()),
    }]);
    let report = poll(&t.app, false).await;
    let error = error_of(&report, "gone");
    assert!(
        error.contains("source gone: cannot read the folder /nonexistent/ecobrief-inbox"),
        "{error}"
    );
    assert!(source(&report, "gone").became_failing);
    // The sync path reports it as a line rather than failing the whole ingest.
    let lines = t.app.ingest_folders().unwrap().lines();
    assert!(lines[0].starts_with("error"), "{lines:?}");
}

/// A publish waits at most its deadline for the network, but always reads folders whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_cuts_slow_feeds_and_never_folders() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let t = app_with(vec![
        feed(&base, "/slow.xml", "slow", quick()),
        SourceConfig::Dir {
            path: common::repo_path("samples"),
            name: Some("samples".to_string()),
        },
    ]);
    // A deadline already passed: only what cannot wait is cut.
    let deadline = tokio::time::Instant::now();
    let report = poll_all(&t.app, true, Some(deadline)).await;
    assert_eq!(source(&report, "slow").outcome, Outcome::Late);
    let samples = source(&report, "samples");
    assert_eq!(samples.outcome, Outcome::Ingested, "{:?}", samples.error);
    assert!(samples.items > 0);
    // The late feed finishes on its own and is stored.
    let start = std::time::Instant::now();
    while item_count(&t.app) <= samples.items {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the late feed never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Feeds read as a feed reader reads them.

const TZ: chrono_tz::Tz = chrono_tz::Tz::Asia__Shanghai;

/// The fetch time the tests' feeds are read at.
fn fetched_at() -> chrono::DateTime<chrono::Utc> {
    common::at("2026-03-12T04:00:00Z")
}

fn read_feed(bytes: &[u8], content_type: Option<&str>) -> FeedDocuments {
    parse_served_feed(
        bytes,
        content_type,
        "https://feeds.example.com/feed.xml",
        "测试源",
        TZ,
        fetched_at(),
    )
    .unwrap_or_else(|e| panic!("the feed parses: {e}"))
}

fn read_fixture(name: &str) -> FeedDocuments {
    read_feed(&fixture(name), None)
}

fn item_titled<'d>(feed: &'d FeedDocuments, title: &str) -> &'d Item {
    feed.documents
        .iter()
        .flat_map(|d| &d.items)
        .find(|i| i.title == title)
        .unwrap_or_else(|| {
            let titles: Vec<_> = feed
                .documents
                .iter()
                .flat_map(|d| &d.items)
                .map(|i| &i.title)
                .collect();
            panic!("no item {title:?} in {titles:?}")
        })
}

fn published(item: &Item) -> String {
    item.published_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "undated".to_string())
}

fn notes_with<'f>(feed: &'f FeedDocuments, text: &str) -> Vec<&'f String> {
    feed.notes.iter().filter(|n| n.contains(text)).collect()
}

#[test]
fn bare_ampersands_and_html_entities_do_not_fail_the_feed() {
    let bytes = fixture("bare-ampersands.xml");
    // Positive control: as it is, the XML is refused.
    assert!(feed_rs::parser::parse(&bytes[..]).is_err());

    let feed = read_fixture("bare-ampersands.xml");
    assert_eq!(
        feed.documents.len(),
        3,
        "every entry is kept: {:?}",
        feed.notes
    );
    let app = item_titled(&feed, "某记账应用：功能齐全&免费&无广告");
    assert_eq!(
        app.source_url.as_deref(),
        Some("https://apps.example.cn/app?id=101&from=rss")
    );
    assert_eq!(app.summary, "支持多账本&预算提醒•云同步 ♥");
    assert_eq!(app.source_name.as_deref(), Some("应用推荐&更新"));
    let att = item_titled(&feed, "AT&T 一季度营收超预期");
    // CDATA is left alone by the repair; its HTML's entities are decoded as text.
    assert_eq!(att.body, "AT&T 股价 & 成交量 双双 上涨… 气温 30°C Café•♥");
    let qa = item_titled(&feed, "Q&A：温度 25°C 与 中文 &#xZZ; 还有 &unknownthing;");
    assert_eq!(qa.categories, vec!["科技&互联网"]);
    assert_eq!(qa.body, "Café & bar 开业 ∳ 尾");
    // One line per kind of repair, once for the feed.
    assert_eq!(
        notes_with(&feed, "bare &"),
        ["repaired 9 bare & in the XML (read as &amp;)"]
    );
    assert_eq!(
        notes_with(&feed, "HTML entities").len(),
        1,
        "{:?}",
        feed.notes
    );
    assert!(
        notes_with(&feed, "HTML entities")[0].starts_with("replaced 7 HTML entities"),
        "{:?}",
        feed.notes
    );
}

/// The Chinese fixture in traditional characters, for Big5.
fn charset_fixture(name: &str, declaration: &str) -> String {
    String::from_utf8(fixture(name))
        .unwrap()
        .replace("@DECL@", declaration)
}

fn encoded(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "the fixture is all {}", encoding.name());
    bytes.into_owned()
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mark: [u8; 2] = if big_endian {
        [0xfe, 0xff]
    } else {
        [0xff, 0xfe]
    };
    let units = text.encode_utf16().flat_map(move |u| {
        if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        }
    });
    mark.into_iter().chain(units).collect()
}

fn utf32(text: &str, big_endian: bool) -> Vec<u8> {
    let mark: [u8; 4] = if big_endian {
        [0, 0, 0xfe, 0xff]
    } else {
        [0xff, 0xfe, 0, 0]
    };
    let units = text.chars().flat_map(move |c| {
        if big_endian {
            u32::from(c).to_be_bytes()
        } else {
            u32::from(c).to_le_bytes()
        }
    });
    mark.into_iter().chain(units).collect()
}

#[test]
fn a_utf16be_feed_is_read_where_feed_rs_alone_panicked() {
    let text = charset_fixture("charset-zh.xml", " encoding=\"UTF-16\"");
    let bytes = utf16(&text, true);
    // Positive control: feed-rs 3.0 on the raw bytes panics inside the XML reader.
    let raw = std::panic::catch_unwind(|| feed_rs::parser::parse(&bytes[..]));
    assert!(raw.is_err(), "feed-rs alone no longer panics: {raw:?}");

    let feed = read_feed(&bytes, Some("application/rss+xml"));
    let item = item_titled(&feed, "人民币中间价上调58个基点");
    assert_eq!(item.source_name.as_deref(), Some("人民币汇率快讯"));
    assert!(feed.notes.is_empty(), "{:?}", feed.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charsets_come_from_the_mark_the_declaration_or_the_header() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let zh = |declaration: &str| charset_fixture("charset-zh.xml", declaration);
    let tw = charset_fixture("charset-tw.xml", "");
    let latin = charset_fixture("charset-latin.xml", "");
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        // The header names the charset the XML does not declare.
        (
            "gb2312-header",
            "application/rss+xml; charset=GB2312",
            encoded(encoding_rs::GBK, &zh("")),
            "人民币中间价上调58个基点",
        ),
        (
            "gb18030-header",
            "text/xml; charset=\"gb18030\"",
            encoded(encoding_rs::GB18030, &zh("")),
            "人民币中间价上调58个基点",
        ),
        (
            "big5-header",
            "application/xml; charset=big5",
            encoded(encoding_rs::BIG5, &tw),
            "新臺幣匯率收盤升值",
        ),
        // iso-8859-1 is read as windows-1252, as browsers do: ’ – € are 0x92 0x96 0x80.
        (
            "latin-header",
            "application/rss+xml; charset=ISO-8859-1",
            encoded(encoding_rs::WINDOWS_1252, &latin),
            "Café, blé et cacao : les cours s’envolent – 3 €/kg",
        ),
        // The declaration wins over the header.
        (
            "gbk-declared",
            "application/rss+xml; charset=utf-8",
            encoded(encoding_rs::GBK, &zh(" encoding=\"GBK\"")),
            "人民币中间价上调58个基点",
        ),
        // A byte order mark wins over both.
        (
            "utf16le-mark",
            "application/rss+xml; charset=big5",
            utf16(&zh(" encoding=\"GBK\""), false),
            "人民币中间价上调58个基点",
        ),
        (
            "utf32be-mark",
            "application/rss+xml",
            utf32(&zh(" encoding=\"UTF-32\""), true),
            "人民币中间价上调58个基点",
        ),
        (
            "utf32le-mark",
            "application/rss+xml",
            utf32(&zh(""), false),
            "人民币中间价上调58个基点",
        ),
        // An unknown label: UTF-8, said in a note.
        (
            "unknown-label",
            "application/rss+xml; charset=x-made-up",
            zh("").into_bytes(),
            "人民币中间价上调58个基点",
        ),
    ];
    let mut sources = Vec::new();
    for (name, content_type, body, _) in &cases {
        let path = format!("/charset/{name}.xml");
        server.serve_body(&path, content_type, body.clone());
        sources.push(feed(&base, &path, name, quick()));
    }
    let t = app_with(sources);
    let report = poll(&t.app, true).await;
    for (name, _, _, title) in &cases {
        let s = source(&report, name);
        assert_eq!(s.outcome, Outcome::Ingested, "{name}: {s:#?}");
        assert_eq!(s.items, 1, "{name}");
        let day = "2026-05-20";
        assert!(
            items_of(&t.app, day).iter().any(|i| i.title == *title),
            "{name}: {:#?}",
            items_of(&t.app, day)
        );
    }
    let lines = |name: &str| source(&report, name).lines.join("\n");
    assert!(lines("gbk-declared").contains("HTTP Content-Type says \"utf-8\""));
    assert!(lines("utf16le-mark").contains("the byte order mark says UTF-16LE"));
    assert!(lines("unknown-label").contains("unknown charset \"x-made-up\""));
    assert_eq!(lines("gb2312-header"), "", "nothing to say");
    let tw = items_of(&t.app, "2026-05-20")
        .into_iter()
        .find(|i| i.title == "新臺幣匯率收盤升值")
        .unwrap();
    assert_eq!(tw.summary, "外資匯入，新臺幣終場收在三十二元。");
}

#[test]
fn dates_without_a_zone_are_read_in_the_configured_timezone() {
    let bytes = fixture("zoneless-dates.xml");
    // Positive control: feed-rs's own reader drops the zone-less dates.
    let raw = feed_rs::parser::parse(&bytes[..]).unwrap();
    assert_eq!(
        raw.entries.iter().filter(|e| e.published.is_some()).count(),
        1,
        "only the zoned date"
    );

    let feed = read_fixture("zoneless-dates.xml");
    assert_eq!(feed.documents.len(), 7);
    for (title, expected) in [
        ("空格分隔的日期时间", "2015-03-02T08:12:54+00:00"),
        ("RFC 822 形式但没有时区", "2016-10-26T13:53:13+00:00"),
        ("月日年加上午下午", "2023-12-16T06:02:33+00:00"),
        ("ISO 形式但没有时区", "2016-10-26T13:53:13+00:00"),
        ("带时区的 RFC 822", "2026-05-18T01:20:00+00:00"),
    ] {
        let item = item_titled(&feed, title);
        assert_eq!(published(item), expected, "{title}");
        let local_day = item.published_at.unwrap().with_timezone(&TZ).date_naive();
        assert_eq!(item.brief_date, local_day, "{title}");
    }
    // No date, and a date that cannot be read: the fetch day, said in the notes.
    for title in ["完全没有日期", "读不懂的日期"] {
        let item = item_titled(&feed, title);
        assert_eq!(item.published_at, None, "{title}");
        assert_eq!(item.brief_date, day("2026-03-12"), "{title}");
    }
    assert_eq!(
        notes_with(&feed, "no date"),
        ["1 entry has no date: dated by the fetch time (2026-03-12)"]
    );
    assert_eq!(
        notes_with(&feed, "could not be read"),
        [
            "1 entry has a date that could not be read (\"昨天下午\"): dated by the fetch time (2026-03-12)"
        ]
    );
}

#[test]
fn atom_0_3_keeps_its_entries_and_dates() {
    let bytes = fixture("atom03.xml");
    // Positive control: feed-rs alone reads no entry of it (or refuses it).
    let raw = feed_rs::parser::parse(&bytes[..]);
    assert!(
        raw.as_ref().map_or(true, |f| f.entries.is_empty()),
        "{raw:?}"
    );

    let feed = read_fixture("atom03.xml");
    assert_eq!(feed.documents.len(), 3, "{:?}", feed.notes);
    let omo = item_titled(&feed, "央行公开市场净投放1200亿元");
    assert_eq!(published(omo), "2026-05-21T01:30:00+00:00", "issued");
    assert_eq!(omo.summary, "逆回购操作净投放。");
    assert_eq!(omo.body, "今日开展7天期逆回购操作。\n中标利率持平。");
    assert_eq!(
        omo.source_url.as_deref(),
        Some("https://old.example.org/2026/05/21/omo")
    );
    let hsi = item_titled(&feed, "港股恒指收涨1.2%");
    assert_eq!(
        published(hsi),
        "2026-05-21T08:05:00+00:00",
        "created, no issued"
    );
    assert_eq!(
        hsi.body,
        "恒生指数收涨1.2%，成交额1500亿港元。\n科技股领涨。"
    );
    let modified = item_titled(&feed, "只有修改时间的条目");
    assert_eq!(published(modified), "2026-05-21T10:00:00+00:00", "modified");
    assert_eq!(modified.body, "收盘点评");
    assert_eq!(
        item_titled(&feed, "央行公开市场净投放1200亿元")
            .source_name
            .as_deref(),
        Some("旧版 Atom 测试源")
    );
    assert_eq!(
        notes_with(&feed, "read as Atom 0.3").len(),
        1,
        "{:?}",
        feed.notes
    );
    assert_eq!(notes_with(&feed, "base64").len(), 1, "{:?}", feed.notes);
}

#[test]
fn dc_title_and_xhtml_body_are_read_in_rss_items() {
    let bytes = fixture("rss-old-elements.xml");
    // Positive control: feed-rs alone leaves the first item without a title and the
    // second without content.
    let raw = feed_rs::parser::parse(&bytes[..]).unwrap();
    assert!(raw.entries[0].title.is_none());
    assert!(raw.entries[1].content.is_none());

    let feed = read_fixture("rss-old-elements.xml");
    assert_eq!(feed.documents.len(), 3);
    let dc = item_titled(&feed, "只有 dc:title 的条目");
    assert_eq!(published(dc), "2026-05-22T00:00:00+00:00", "dc:date");
    let body = item_titled(&feed, "正文在 xhtml:body 里");
    assert_eq!(body.body, "第一段：出口增长&进口回落。\n第二段。");
    // RSS's own title wins over dc:title.
    item_titled(&feed, "两种标题都有");
    assert_eq!(
        notes_with(&feed, "dc:title"),
        ["took the title of 1 item from dc:title"]
    );
    assert_eq!(notes_with(&feed, "xhtml:body").len(), 1);
}

#[test]
fn base64_atom_content_is_decoded_and_binary_content_left_out() {
    let bytes = fixture("atom-base64.xml");
    // Positive control: feed-rs hands on the base64 text as it is.
    let raw = feed_rs::parser::parse(&bytes[..]).unwrap();
    let body = raw.entries[0]
        .content
        .as_ref()
        .unwrap()
        .body
        .clone()
        .unwrap();
    assert!(body.starts_with("PHA+"), "{body}");

    let feed = read_fixture("atom-base64.xml");
    let text = item_titled(&feed, "内容是 base64 编码的 HTML");
    assert_eq!(text.body, "解码后的正文：债市走强。");
    let image = item_titled(&feed, "内容是一张图片");
    assert_eq!(image.body, "图片说明文字。", "the summary, not the image");
    assert_eq!(
        notes_with(&feed, "binary content").len(),
        1,
        "{:?}",
        feed.notes
    );
}

#[test]
fn rss_1_0_with_dc_date_keeps_its_dates() {
    let feed = read_fixture("rss1.xml");
    let item = item_titled(&feed, "日银维持利率不变");
    assert_eq!(published(item), "2026-05-24T03:30:00+00:00");
    assert_eq!(item.source_name.as_deref(), Some("RSS 1.0 测试源"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_feeds_are_healthy_sources_with_no_entries() {
    // Positive control: feed-rs alone calls an RSS document without a channel no feed.
    let raw = feed_rs::parser::parse(&fixture("rss-no-channel.xml")[..]);
    assert!(
        raw.as_ref()
            .is_err_and(|e| e.to_string().contains("no root element")),
        "{raw:?}"
    );
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let empties = [
        ("no-channel", "rss-no-channel.xml", RSS),
        ("empty-channel", "rss-empty-channel.xml", RSS),
        ("empty-atom", "atom-empty.xml", "application/atom+xml"),
        ("empty-json", "feed-empty.json", "application/feed+json"),
    ];
    let mut sources = Vec::new();
    for (name, file, content_type) in empties {
        let path = format!("/empty/{file}");
        server.serve_body(&path, content_type, fixture(file));
        sources.push(feed(&base, &path, name, quick()));
    }
    // Positive control for the health record: a broken feed in the same poll is failing.
    sources.push(feed(&base, "/bad.xml", "malformed", quick()));
    let t = app_with(sources);
    let (notifier, mut notices) = Notifier::channel(true);
    let report = poll_and_notify(&t.app, &notifier, true, None).await;
    for (name, _, _) in empties {
        let s = source(&report, name);
        assert_eq!(s.outcome, Outcome::Ingested, "{name}: {s:#?}");
        assert_eq!((s.items, s.error.as_deref()), (0, None), "{name}");
        assert!(!s.became_failing, "{name}");
        let state = t.store().source_state(name).unwrap().unwrap();
        assert_eq!(state.consecutive_failures, 0, "{name}");
        assert!(
            state.last_success.is_some() && state.last_error.is_none(),
            "{name}"
        );
    }
    assert!(
        source(&report, "no-channel")
            .lines
            .iter()
            .any(|l| l.contains("no channel")),
        "{:?}",
        source(&report, "no-channel").lines
    );
    assert!(source(&report, "malformed").became_failing);
    let state = t.store().source_state("malformed").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 1);
    let told = drain(&mut notices);
    assert_eq!(told.len(), 1, "only the broken feed is told: {told:?}");
    assert!(told[0].contains("malformed"), "{told:?}");
}

/// Polls `count` feed sources on one host, each held 400 ms by the server, with the
/// given limits; returns the most requests the server had in flight at once.
async fn most_in_flight(count: usize, global: u64, per_host: u64) -> u32 {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let sources = (0..count)
        .map(|i| {
            feed(
                &base,
                &format!("/held/{i}.xml"),
                &format!("held-{i}"),
                quick(),
            )
        })
        .collect();
    let t = common::spawn_core_with(|c| {
        c.sources = sources;
        c.ingest.max_concurrent_fetches = global;
        c.ingest.max_fetches_per_host = per_host;
    });
    let report = poll(&t.app, true).await;
    assert_eq!(report.failed(), 0, "{report:#?}");
    assert_eq!(server.in_flight.load(Ordering::SeqCst), 0);
    server.max_in_flight.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_to_one_host_are_limited() {
    assert_eq!(most_in_flight(8, 8, 2).await, 2, "per host");
    // Positive control: a higher limit lets more through at once.
    assert_eq!(most_in_flight(8, 8, 5).await, 5, "a higher per-host limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_over_all_hosts_are_limited() {
    assert_eq!(most_in_flight(8, 3, 8).await, 3, "global");
    assert_eq!(most_in_flight(8, 6, 8).await, 6, "a higher global limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_folder_poll_keeps_its_counts_every_problem_up_to_a_bound_and_few_ok_lines() {
    let (t, inbox) = inbox_core();
    for i in 0..260 {
        std::fs::write(
            inbox.join(format!("c{i:03}-2026-05-23.txt")),
            format!("第{i}条评论：市场平稳。正文内容{i}。\n"),
        )
        .unwrap();
    }
    // Twelve files whose front matter cannot be read: each fails on its own line.
    for i in 0..12 {
        std::fs::write(
            inbox.join(format!("z{i:02}-bad.md")),
            "---\ntitle: 坏\ntags: [a, b\n---\n正文\n",
        )
        .unwrap();
    }
    let report = poll(&t.app, false).await;
    let s = source(&report, "inbox");
    assert_eq!(
        (s.items, s.new_items),
        (260, 260),
        "the counts are of every file"
    );
    let ok_lines = s.lines.iter().filter(|l| l.starts_with("ok  ")).count();
    let errors = s.lines.iter().filter(|l| l.starts_with("error")).count();
    assert_eq!(
        errors, 12,
        "every problem line, after 260 ok files: {:#?}",
        s.lines
    );
    assert!(
        s.lines
            .iter()
            .any(|l| l == "ok     160 more files read (lines not kept)"),
        "{:#?}",
        &s.lines[s.lines.len() - 3..]
    );
    assert_eq!(ok_lines, 100 + 1, "100 kept and the count");
    assert_eq!(items_of(&t.app, "2026-05-23").len(), 260);
}
