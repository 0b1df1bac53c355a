//! Probe latency under ingest: the real application (the same `Application` builder
//! `ecobrief run` uses) is started against a minimal fake Bot API, a folder source of
//! 10,000 small articles is ingested through the job runner (`/ingest` does the same),
//! and while it runs `GET /healthz` is requested over loopback a few milliseconds apart.
//! Prints p50/p99/max latency, the number of requests answered during the ingest and the
//! ingest's wall time; then the same for `GET /readyz` (which takes a database write) on
//! a fresh application and database. An idle baseline of each probe is printed too.
//!
//! Target: `/healthz` p99 ≤ 50 ms while the ingest runs (a liveness probe that stalls
//! behind an ingest gets the process restarted). `/readyz` is reported, not judged: it
//! waits for the database's write lock by design.
//!
//! A plain `main`, not criterion: one ingest is one sample of thousands of requests.
//! Bounded: at most [`MAX_REQUESTS`] requests or [`MAX_PROBE_TIME`] per phase.
//!
//!     cargo bench --bench healthz
//!     ECOBRIEF_BENCH_DOCUMENTS=2000 cargo bench --bench healthz   # quick check
//!     RUST_LOG=ecobrief=info cargo bench --bench healthz          # with the app's log
//!
//! Exits with status 1 when the `/healthz` target is missed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use ecobrief::application::{Application, Purpose, StartError, StartOptions};
use ecobrief::config::{Config, SourceConfig, TargetConfig};
use ecobrief::runner::JobQueue;
use ecobrief::settings::Settings;
use ecobrief::sources::{Outcome, SourcesReport};

#[path = "support/synth.rs"]
mod synth;
use synth::Synth;

const DOCUMENTS_VAR: &str = "ECOBRIEF_BENCH_DOCUMENTS";
const DEFAULT_DOCUMENTS: usize = 10_000;
const TOKEN: &str = "123456:BENCH-token";
/// The folder source's name (its id in reports and metrics).
const SOURCE: &str = "bench";

/// How long the fake holds a getUpdates before answering that there is nothing.
const LONG_POLL: Duration = Duration::from_secs(1);
/// Pause between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(3);
/// Upper bounds of one phase of probing, whatever the ingest does.
const MAX_REQUESTS: usize = 20_000;
const MAX_PROBE_TIME: Duration = Duration::from_secs(300);
/// Probes of the idle application, for comparison.
const BASELINE_REQUESTS: usize = 300;
/// A single probe slower than this counts as failed (and ends the phase's wait for it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const TARGET_HEALTHZ_P99: Duration = Duration::from_millis(50);

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn document_count() -> usize {
    match std::env::var(DOCUMENTS_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{DOCUMENTS_VAR}={value:?} is not a whole number")),
        Err(_) => DEFAULT_DOCUMENTS,
    }
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let documents = document_count();
    // The application gets a runtime of its own, as in production; the fake Bot API and
    // the prober are another machine: their timing must not depend on how busy the
    // application's workers are, or a stalled server would also stall its own clock.
    let app_runtime = Runtime::new().expect("tokio runtime for the application");
    let client_runtime = Runtime::new().expect("tokio runtime for the fake and the prober");
    let api_url = client_runtime.block_on(start_fake_bot_api());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");

    let mut results = Vec::new();
    for path in ["/healthz", "/readyz"] {
        println!();
        println!("== GET {path} during an ingest of {documents} documents ==");
        results.push(probe_during_ingest(
            &app_runtime,
            &client_runtime,
            &client,
            &api_url,
            path,
            documents,
        ));
    }

    println!();
    println!("== summary ==");
    for run in &results {
        println!("{:<8} idle:   {}", run.path, run.baseline.line());
        println!(
            "{:<8} ingest: {}; ingest of {} documents ({} items) took {:.2} s",
            run.path,
            run.during.line(),
            run.documents,
            run.items,
            run.ingest_time.as_secs_f64()
        );
    }
    let healthz = results
        .iter()
        .find(|r| r.path == "/healthz")
        .expect("the /healthz run");
    let met = healthz.during.failed == 0
        && healthz.during.count() > 0
        && healthz.during.percentile(99.0) <= TARGET_HEALTHZ_P99;
    println!(
        "{} /healthz p99 ≤ {} ms during the ingest, every probe answered 200",
        if met { "met   " } else { "MISSED" },
        TARGET_HEALTHZ_P99.as_millis()
    );
    drop(client_runtime);
    app_runtime.shutdown_timeout(Duration::from_secs(5));
    if !met {
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// The fake Bot API
// ---------------------------------------------------------------------------------------

/// Answers every method: getMe with a bot, getUpdates (after [`LONG_POLL`]) with nothing,
/// getWebhookInfo with no webhook, anything else with `true`.
async fn bot_api(uri: Uri) -> Response {
    // `/bot<token>/<method>`; teloxide spells methods PascalCase (GetUpdates) or
    // camelCase depending on the request, the Bot API docs camelCase.
    let method = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let result = match method.as_str() {
        // teloxide's dispatcher decodes getMe into its `Me`, whose flags are required.
        "getme" => json!({
            "id": 1, "is_bot": true, "first_name": "b", "username": "b",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        }),
        "getupdates" => {
            tokio::time::sleep(LONG_POLL).await;
            json!([])
        }
        "getwebhookinfo" => json!({
            "url": "", "has_custom_certificate": false, "pending_update_count": 0
        }),
        _ => Value::Bool(true),
    };
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

/// Starts the fake on a free loopback port; returns its base URL.
async fn start_fake_bot_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port for the fake Bot API");
    let address = listener.local_addr().expect("the fake's address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(bot_api)).await;
    });
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

/// Words the generator strings together.
const WORDS: &str = "\
    央行 流动性 利率 降准 国债 收益率 信贷 社融 货币 汇率 \
    出口 订单 航运 运价 港口 集装箱 制造业 景气 需求 产能 \
    消费 零售 假期 出行 餐饮 地产 销售 成交 库存 土地 \
    光伏 储能 电池 芯片 算力 半导体 设备 软件 平台 估值 \
    原油 铜价 铝价 煤炭 钢材 农产品 期货 现货 升水 贴水 \
    投资者 机构 分析师 公司 行业 板块 资金 情绪 预期 数据 \
    回升 走弱 企稳 放量 缩量 分化 修复 承压 提振 扰动 \
    同比 环比 季度 年内 短期 中期 总体 结构 边际 明显";

const TARGETS: &[&str] = &["A股", "债市", "大宗商品", "人民币", "港股", "出口链"];
const STANCES: &[&str] = &["利多", "利空", "中性", "中性偏多", "短期利空"];
const CATEGORIES: &[&str] = &[
    "bench_macro",
    "bench_markets",
    "bench_industry",
    "bench_global",
];

/// Two or three sentences.
fn paragraph(synth: &mut Synth) -> String {
    let sentences = 2 + synth.below(2);
    synth.paragraph(sentences)
}

/// Article `n` in one of the two front-matter shapes of `samples/` (block lists and a
/// quoted local time, or flow lists and an RFC 3339 time), with a title unique through
/// `n`, three paragraphs, an 影响 list every third article and a source link.
fn article(synth: &mut Synth, n: usize) -> String {
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid day")
        + chrono::Days::new((n % 400) as u64);
    let (hour, minute) = (6 + n % 15, n % 60);
    let title = format!("{}（{n}）", synth.clause(16));
    let category = CATEGORIES[n % CATEGORIES.len()];
    let lead = paragraph(synth);
    let mut doc = String::new();
    doc.push_str("---\n");
    doc.push_str(&format!("title: \"{title}\"\n"));
    if n.is_multiple_of(2) {
        doc.push_str(&format!("date: \"{day} {hour:02}:{minute:02}:00\"\n"));
        doc.push_str(&format!(
            "summary: \"{}...\"\n",
            lead.chars().take(40).collect::<String>()
        ));
        doc.push_str(&format!("categories:\n  - \"{category}\"\n"));
        doc.push_str("lang:\n  - \"zh-CN\"\n");
        doc.push_str(&format!("tags:\n  - \"{category}\"\n"));
        doc.push_str("toc: false\nsidebar: \"right\"\n");
    } else {
        doc.push_str(&format!("date: {day}T{hour:02}:{minute:02}:00+08:00\n"));
        doc.push_str(&format!(
            "summary: \"{}...\"\n",
            lead.chars().take(40).collect::<String>()
        ));
        doc.push_str(&format!("categories: [\"{category}\"]\n"));
        doc.push_str("lang: [\"zh-CN\"]\n");
        doc.push_str(&format!("tags: [\"{category}\"]\n"));
    }
    doc.push_str("---\n\n");
    doc.push_str(&lead);
    for _ in 0..2 {
        doc.push_str("\n\n");
        doc.push_str(&paragraph(synth));
    }
    if n.is_multiple_of(3) {
        doc.push_str("\n\n**影响：**\n");
        for _ in 0..2 {
            doc.push_str(&format!(
                "- 对{}：{}。{}\n",
                synth.pick(TARGETS),
                synth.pick(STANCES),
                synth.clause(18)
            ));
        }
    }
    doc.push_str(&format!(
        "\n\n[合成财经](https://news.example.com/{day}/bench-{n:05}.html)\n"
    ));
    doc
}

/// Writes `count` articles into `folder`, in subfolders of 1,000.
fn write_corpus(folder: &Path, count: usize) {
    let mut synth = Synth::new(7, WORDS);
    for n in 0..count {
        let sub = folder.join(format!("batch-{:02}", n / 1000));
        if n % 1000 == 0 {
            std::fs::create_dir_all(&sub).expect("create a corpus folder");
        }
        std::fs::write(
            sub.join(format!("article-{n:05}.md")),
            article(&mut synth, n),
        )
        .expect("write a corpus document");
    }
}

// ---------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------

/// The config `TestAppBuilder::settings` makes, with `source` as the one folder source:
/// schedule off, no admins (no notices), the server on a free port.
fn bench_config(dir: &Path, api_url: &str, source: &Path) -> Config {
    let mut config = Config {
        database: dir.join("bench.db"),
        topics_file: repo_path("config/topics.toml"),
        sources: vec![SourceConfig::Dir {
            path: source.to_path_buf(),
            name: Some(SOURCE.to_string()),
        }],
        ..Config::default()
    };
    config.render.templates_dir = repo_path("templates");
    config.telegram.api_url = api_url.to_string();
    config.telegram.targets = vec![TargetConfig {
        chat: "-1001000".to_string(),
        thread_id: None,
        disable_notification: false,
        link_preview: false,
        edition: ecobrief::message::Edition::Text,
        pin: false,
    }];
    config.telegram.admins = Vec::new();
    config.telegram.request_timeout_seconds = 5;
    config.telegram.poll_timeout_seconds = LONG_POLL.as_secs() as u32;
    config.schedule.enabled = false;
    // The ingest job is answered when the folder is read, not at the refresh deadline.
    config.schedule.refresh_deadline_seconds = 3600;
    config.server.listen = "127.0.0.1:0".to_string();
    config
}

struct Running {
    jobs: JobQueue,
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

/// Builds and starts the application as `TestAppBuilder::try_start` does; returns once
/// its start-up (resume, first read of the sources) is over.
async fn start_application(settings: Settings) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port for the HTTP server");
    let (stop, stopping) = watch::channel(false);
    let mut options = StartOptions::new(Purpose::Serve, Some(TOKEN.to_string()));
    options.listener = Some(listener);
    let application = Application::build(settings, options, stopping)
        .await
        .expect("the application starts");
    let jobs = application.jobs();
    let address = application
        .server_address()
        .expect("the HTTP server is enabled");
    let task = tokio::spawn(application.run_until_stopped());
    // Jobs run after the start-up: this one's answer means it is over.
    jobs.ingest(false)
        .await
        .expect("the job runner answers after its start-up");
    Running {
        jobs,
        address,
        stop,
        task,
    }
}

async fn stop_application(running: Running) {
    let _ = running.stop.send(true);
    match tokio::time::timeout(Duration::from_secs(30), running.task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("the application ended with an error: {e}"),
        Ok(Err(e)) => eprintln!("the application task failed: {e}"),
        Err(_) => eprintln!("the application did not stop within 30 s"),
    }
}

// ---------------------------------------------------------------------------------------
// Probing
// ---------------------------------------------------------------------------------------

/// Latencies of the probes of one phase, and the probes that failed.
#[derive(Default)]
struct Latencies {
    sorted: Vec<Duration>,
    failed: usize,
    first_failure: Option<String>,
}

impl Latencies {
    fn count(&self) -> usize {
        self.sorted.len()
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }

    fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut line = format!(
            "{} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failed {}",
            self.count(),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.max()),
            self.failed
        );
        if let Some(first) = &self.first_failure {
            line.push_str(&format!(" (first: {first})"));
        }
        line
    }
}

/// Requests `url` every [`PROBE_INTERVAL`] until `done` says stop, [`MAX_REQUESTS`] were
/// made or [`MAX_PROBE_TIME`] passed; records each latency.
async fn probe(
    client: &reqwest::Client,
    url: &str,
    max_requests: usize,
    done: impl Fn() -> bool,
) -> Latencies {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut result = Latencies::default();
    while !done()
        && times.len() + result.failed < max_requests
        && started.elapsed() < MAX_PROBE_TIME
    {
        let sent = Instant::now();
        let answer = client.get(url).send().await;
        let answer = match answer {
            Ok(response) => {
                let status = response.status();
                // The whole body is part of the answer's latency.
                match response.text().await {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => Err(format!("{status}: {}", body.trim())),
                    Err(e) => Err(format!("reading the body: {e}")),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let elapsed = sent.elapsed();
        match answer {
            Ok(()) => times.push(elapsed),
            Err(e) => {
                result.failed += 1;
                result.first_failure.get_or_insert(e);
            }
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    times.sort_unstable();
    result.sorted = times;
    result
}

struct Run {
    path: &'static str,
    documents: usize,
    items: usize,
    baseline: Latencies,
    during: Latencies,
    ingest_time: Duration,
}

/// One phase: a fresh application and database, an idle baseline of `path`, then `path`
/// probed while the job runner ingests `documents` new files.
fn probe_during_ingest(
    app_runtime: &Runtime,
    client_runtime: &Runtime,
    client: &reqwest::Client,
    api_url: &str,
    path: &'static str,
    documents: usize,
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("source");
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&source).expect("create the source folder");
    let started = Instant::now();
    write_corpus(&staging, documents);
    println!(
        "wrote {documents} articles in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let settings = Settings::from_config(bench_config(dir.path(), api_url, &source))
        .expect("bench settings parse");
    let running = app_runtime.block_on(start_application(settings));
    let url = format!("http://{}{path}", running.address);
    println!("application started; probing {url}");

    let baseline = client_runtime.block_on(probe(client, &url, BASELINE_REQUESTS, || false));
    println!("idle:   {}", baseline.line());

    // The corpus appears in the source at once: a rename, so the ingest finds all of it.
    std::fs::rename(&staging, source.join("articles")).expect("move the corpus into the source");
    let jobs = running.jobs.clone();
    let ingest = app_runtime.spawn(async move {
        let started = Instant::now();
        let report = jobs.ingest(true).await;
        (report, started.elapsed())
    });
    let during =
        client_runtime.block_on(probe(client, &url, MAX_REQUESTS, || ingest.is_finished()));
    let (report, ingest_time) = app_runtime
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(600), ingest)
                .await
                .expect("the ingest ends within 10 minutes")
        })
        .expect("the ingest task");
    let report = report.expect("the job runner answers the ingest");
    let items = check_ingest(&report, documents);
    println!(
        "ingest: {items} items in {:.2} s",
        ingest_time.as_secs_f64()
    );
    println!("during: {}", during.line());

    app_runtime.block_on(stop_application(running));
    Run {
        path,
        documents,
        items,
        baseline,
        during,
        ingest_time,
    }
}

/// Checks that the ingest read the whole corpus; returns the items it stored.
fn check_ingest(report: &SourcesReport, documents: usize) -> usize {
    let source = report
        .get(SOURCE)
        .unwrap_or_else(|| panic!("the ingest report has no source {SOURCE:?}"));
    assert_eq!(
        source.outcome,
        Outcome::Ingested,
        "the folder was not ingested in full: {:?}",
        source.error
    );
    let failed: Vec<&String> = source
        .lines
        .iter()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert!(failed.is_empty(), "files failed: {failed:?}");
    assert_eq!(
        source.new_items,
        documents,
        "one new item per article (report lines: {:?})",
        source.lines.iter().take(5).collect::<Vec<_>>()
    );
    source.new_items
}
