//! Sources against a local HTTP server started by each test: feeds in the three shapes,
//! conditional GET, failures and recovery, slow, oversized and malformed answers, a url
//! source, and a folder source whose unchanged files are skipped.

mod common;

use std::collections::HashMap;
use std::path::Path;
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
use ecobrief::settings::Settings;
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
}

impl Server {
    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
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
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let write = |name: &str, text: &str| std::fs::write(inbox.join(name), text).unwrap();
    write("a-2026-05-22.txt", "第一条评论：出口增速放缓。正文内容。\n");
    write("b-2026-05-22.txt", "第二条评论：消费温和复苏。正文内容。\n");
    let mut config = common::test_config(dir.path());
    config.sources = vec![SourceConfig::Dir {
        path: inbox.clone(),
        name: Some("inbox".to_string()),
    }];
    let t = TestCore {
        dir,
        app: Core::open(Settings::from_config(config).unwrap()).unwrap(),
    };

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
