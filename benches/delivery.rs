//! Delivery benchmarks, against the fake Bot API server the tests use:
//!
//! 1. Digest fan-out: N subscribers (default 10,000) follow `gold`; the day's digests go
//!    out through `Publisher::send_digests` while the fake enforces Telegram's overall
//!    30 messages/s (answering 429 above it). Measures messages/s, lost and duplicated
//!    digests and 429s. Targets: ≥ 27 msg/s, nothing lost, nothing duplicated.
//! 2. Idle RSS of `ecobrief run`: the release binary long-polls the fake for ~5 s, then its
//!    VmRSS is read and it is stopped with SIGTERM (it must exit 0 within a few seconds).
//!    Target: ≤ 30 MB.
//!
//! A plain `main`, not criterion: one fan-out of 10,000 takes about six minutes at
//! Telegram's rate, so it is run once and its figures printed. Linux only (/proc, kill).
//!
//!     cargo bench --bench delivery
//!     ECOBRIEF_BENCH_SUBSCRIBERS=300 cargo bench --bench delivery   # quick check
//!
//! Exits with status 1 when a target is missed.

#[path = "../tests/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use tokio::sync::watch;

use ecobrief::app::Core;
use ecobrief::config::{Config, SourceConfig, TelegramConfig};
use ecobrief::publish::Publisher;
use ecobrief::publish::botapi::BotApi;
use ecobrief::settings::Settings;
use fake_telegram::{FakeTelegram, Limits};

const SUBSCRIBERS_VAR: &str = "ECOBRIEF_BENCH_SUBSCRIBERS";
const DEFAULT_SUBSCRIBERS: usize = 10_000;
/// The day of the repo's `samples/`.
const SAMPLE_DAY: (i32, u32, u32) = (2026, 3, 12);
const TOPIC: &str = "gold";
/// Subscriber `i` is user and private chat `FIRST_USER + i` (private chats are positive).
const FIRST_USER: i64 = 1_000_000;
/// Telegram's overall limit, enforced by the fake and paced for by the publisher.
const TELEGRAM_PER_SECOND: usize = 30;

const TARGET_MSG_PER_SECOND: f64 = 27.0;
const TARGET_IDLE_RSS_MB: f64 = 30.0;
/// How long `ecobrief run` idles once it is long-polling before its RSS is read.
const IDLE_FOR: Duration = Duration::from_secs(5);
/// How long `ecobrief run` may take to stop after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(5);

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn sample_day() -> NaiveDate {
    let (year, month, day) = SAMPLE_DAY;
    NaiveDate::from_ymd_opt(year, month, day).expect("valid sample date")
}

fn subscriber_count() -> usize {
    match std::env::var(SUBSCRIBERS_VAR) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SUBSCRIBERS_VAR}={value:?} is not a whole number")),
        Err(_) => DEFAULT_SUBSCRIBERS,
    }
}

fn main() {
    // The fake server gets a runtime of its own, as Telegram is another machine: its
    // timing then does not depend on how busy the publisher's threads are.
    let server = tokio::runtime::Runtime::new().expect("tokio runtime for the fake server");
    let client = tokio::runtime::Runtime::new().expect("tokio runtime for the publisher");
    let subscribers = subscriber_count();
    let fan_out_fake = server.block_on(FakeTelegram::start(Limits {
        per_chat_interval: Duration::ZERO,
        per_group_per_minute: 20,
        global_per_second: TELEGRAM_PER_SECOND,
    }));
    let fan_out = client.block_on(digest_fan_out(&fan_out_fake, subscribers));
    let idle_fake = server.block_on(FakeTelegram::start(Limits::default()));
    let idle = client.block_on(idle_rss(&idle_fake));

    println!();
    println!("== summary ==");
    println!(
        "fan-out: {} digests in {:.1} s = {:.2} msg/s; lost {}; duplicates {}; 429s {}",
        fan_out.delivered,
        fan_out.elapsed.as_secs_f64(),
        fan_out.per_second(),
        fan_out.lost,
        fan_out.duplicates,
        fan_out.rate_limited
    );
    println!(
        "idle run RSS: {:.1} MB (peak {:.1} MB); stopped by SIGTERM in {:.2} s with {}",
        idle.rss_mb,
        idle.peak_mb,
        idle.stopped_in.as_secs_f64(),
        idle.status
    );

    let checks = [
        (
            format!("fan-out ≥ {TARGET_MSG_PER_SECOND} msg/s"),
            fan_out.per_second() >= TARGET_MSG_PER_SECOND,
        ),
        ("fan-out lost 0".to_string(), fan_out.lost == 0),
        ("fan-out duplicates 0".to_string(), fan_out.duplicates == 0),
        (
            format!("idle RSS ≤ {TARGET_IDLE_RSS_MB} MB"),
            idle.rss_mb <= TARGET_IDLE_RSS_MB,
        ),
        (
            format!("run exits 0 within {} s of SIGTERM", STOP_WITHIN.as_secs()),
            idle.status.success() && idle.stopped_in <= STOP_WITHIN,
        ),
    ];
    let mut missed = 0;
    for (target, met) in &checks {
        println!("{} {target}", if *met { "met   " } else { "MISSED" });
        missed += usize::from(!met);
    }
    if missed > 0 {
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// Digest fan-out
// ---------------------------------------------------------------------------------------

struct FanOut {
    /// Digests the fake accepted (one per subscriber when all is well).
    delivered: usize,
    elapsed: Duration,
    /// Subscribers who got no digest.
    lost: usize,
    /// Subscribers who got more than one.
    duplicates: usize,
    rate_limited: usize,
}

impl FanOut {
    fn per_second(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
}

/// Telegram settings for the fan-out: Telegram's overall rate, and generous timeouts so
/// that a slow answer is never mistaken for a lost message.
fn fan_out_telegram(api_url: &str) -> TelegramConfig {
    TelegramConfig {
        api_url: api_url.to_string(),
        admins: Vec::new(),
        global_per_second: TELEGRAM_PER_SECOND as u32,
        // Each subscriber is a chat of its own, so per-chat pacing never comes into play.
        private_interval_ms: 1000,
        request_timeout_seconds: 10,
        ..TelegramConfig::default()
    }
}

async fn digest_fan_out(fake: &FakeTelegram, subscribers: usize) -> FanOut {
    let date = sample_day();
    let dir = tempfile::tempdir().expect("temp dir");
    let telegram = fan_out_telegram(&fake.url);
    let mut config = Config {
        database: dir.path().join("fan-out.db"),
        topics_file: repo_path("config/topics.toml"),
        sources: vec![SourceConfig::Dir {
            path: repo_path("samples"),
            name: None,
        }],
        telegram: telegram.clone(),
        ..Config::default()
    };
    config.render.templates_dir = repo_path("templates");

    let settings = Settings::from_config(config).expect("fan-out settings parse");
    let core = Core::open(settings).expect("core opens on a fresh database");
    let ingest = core.ingest_folders().expect("samples ingest");
    assert_eq!(ingest.failed(), 0, "samples ingest cleanly");
    let probe = [ecobrief::store::delivery::Subscriber {
        user_id: 0,
        chat_id: 0,
        topics: vec![TOPIC.to_string()],
    }];
    let digest = core
        .digests(date, &probe)
        .expect("digest renders")
        .pop()
        .and_then(|(_, message)| message)
        .expect("the samples have gold items on the sample day");
    println!(
        "fan-out: {} items ingested; a {TOPIC} digest is {} characters",
        ingest.items(),
        digest.text.chars().count()
    );

    let started = Instant::now();
    let mut store = core.db.get().expect("a database connection");
    for i in 0..subscribers {
        let user = FIRST_USER + i as i64;
        store
            .subscribe(user, user, TOPIC)
            .expect("subscribe a bench user");
    }
    drop(store);
    println!(
        "fan-out: {subscribers} subscribers added in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let api = BotApi::new(
        &fake.url,
        fake_telegram::TOKEN,
        Duration::from_secs(telegram.request_timeout_seconds),
    )
    .expect("Bot API client");
    // Never stopped: the sender is kept alive so the publisher does not see a shutdown.
    let (_keep_running, running) = watch::channel(false);
    // The pacing and retry settings come from the core's settings (`fan_out_telegram`).
    let publisher = Publisher::new(core, api, running);

    println!(
        "fan-out: sending {subscribers} digests at ≤ {TELEGRAM_PER_SECOND}/s \
         (about {} s)…",
        subscribers / TELEGRAM_PER_SECOND
    );
    let started = Instant::now();
    // send_digests renders every digest before the first send; note when sending began.
    let first_send = tokio::spawn({
        let fake = fake.clone();
        async move {
            while fake.calls("sendMessage").is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            started.elapsed()
        }
    });
    let report = publisher.send_digests(date).await;
    let elapsed = started.elapsed();
    let preparing = if fake.calls("sendMessage").is_empty() {
        first_send.abort();
        elapsed
    } else {
        first_send.await.expect("first-send watcher")
    };
    println!("fan-out: publisher reports {report:?}");
    let sending = elapsed.saturating_sub(preparing);
    println!(
        "fan-out: {:.1} s preparing before the first send, then {:.1} s sending \
         ({:.2} msg/s while sending)",
        preparing.as_secs_f64(),
        sending.as_secs_f64(),
        fake.sent().len() as f64 / sending.as_secs_f64()
    );

    // One pass over everything sent (sent_to per subscriber would copy the log N times).
    let mut per_chat: HashMap<i64, usize> = HashMap::new();
    let sent = fake.sent();
    for message in &sent {
        let chat = message
            .chat_id
            .as_i64()
            .expect("digests go to numeric chat ids");
        *per_chat.entry(chat).or_default() += 1;
    }
    let subscriber_chats = FIRST_USER..FIRST_USER + subscribers as i64;
    let received = |chat: i64| per_chat.get(&chat).copied().unwrap_or(0);
    let lost = subscriber_chats
        .clone()
        .filter(|c| received(*c) == 0)
        .count();
    let duplicates = subscriber_chats
        .clone()
        .filter(|c| received(*c) > 1)
        .count();
    let strays = per_chat
        .keys()
        .filter(|c| !subscriber_chats.contains(c))
        .count();
    assert_eq!(strays, 0, "digests went only to subscribers");

    FanOut {
        delivered: sent.len(),
        elapsed,
        lost,
        duplicates,
        rate_limited: fake.rate_limited(),
    }
}

// ---------------------------------------------------------------------------------------
// Idle RSS of `ecobrief run`
// ---------------------------------------------------------------------------------------

struct Idle {
    rss_mb: f64,
    peak_mb: f64,
    stopped_in: Duration,
    status: ExitStatus,
}

/// The release binary: `cargo bench` builds it with the bench profile (which inherits
/// `release`) and names it here.
fn ecobrief_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ecobrief"))
}

/// A config for `ecobrief run` that only long-polls: one target, no admins, no sources to
/// ingest, and no catch-up post at start. The scheduler stays on, as in production.
fn write_run_config(dir: &Path) -> PathBuf {
    let path = dir.join("ecobrief.toml");
    let repo = repo_path("");
    std::fs::write(
        &path,
        format!(
            r#"database = "{db}"
topics_file = "{repo}/config/topics.toml"
sources = []
[render]
templates_dir = "{repo}/templates"
[telegram]
admins = []
[[telegram.targets]]
chat = "@ecobrief_bench"
[schedule]
catch_up_hours = 0
"#,
            db = dir.join("run.db").display(),
            repo = repo.display(),
        ),
    )
    .expect("write the run config");
    path
}

/// A field of /proc/<pid>/status in kB (`VmRSS`, `VmHWM`), as MB.
fn proc_status_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/<pid>/status of `ecobrief run`");
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    kb / 1024.0
}

fn stderr_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits for `child` to exit, for at most `limit`.
async fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll `ecobrief run`") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn idle_rss(fake: &FakeTelegram) -> Idle {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_run_config(dir.path());
    let log = dir.path().join("run.stderr");
    let binary = ecobrief_binary();
    println!("idle: starting {} run", binary.display());
    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("ECOBRIEF_BOT_TOKEN", fake_telegram::TOKEN)
        .env("ECOBRIEF_API_URL", &fake.url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the run log"))
        .spawn()
        .expect("start `ecobrief run`");
    let pid = child.id();

    // Idle starts once it long-polls; the fake answers getUpdates within a second.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.calls("getUpdates").is_empty() {
        if let Some(status) = child.try_wait().expect("poll `ecobrief run`") {
            panic!(
                "`ecobrief run` exited early with {status}:\n{}",
                stderr_of(&log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "`ecobrief run` never called getUpdates:\n{}",
            stderr_of(&log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(IDLE_FOR).await;
    let polls = fake.calls("getUpdates").len();
    let rss_mb = proc_status_mb(pid, "VmRSS");
    let peak_mb = proc_status_mb(pid, "VmHWM");
    println!(
        "idle: after {} s of long polling ({polls} getUpdates calls): VmRSS {rss_mb:.1} MB, \
         VmHWM {peak_mb:.1} MB",
        IDLE_FOR.as_secs()
    );

    let asked = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run `kill -TERM`");
    assert!(kill.success(), "`kill -TERM {pid}` failed: {kill}");
    // Waited for well past the limit, so a slow stop is measured rather than cut short.
    let status = match wait_for_exit(&mut child, STOP_WITHIN * 4).await {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!(
                "`ecobrief run` ignored SIGTERM for {} s:\n{}",
                (STOP_WITHIN * 4).as_secs(),
                stderr_of(&log)
            );
        }
    };
    let stopped_in = asked.elapsed();
    if !status.success() {
        eprintln!("idle: `ecobrief run` stderr:\n{}", stderr_of(&log));
    }
    Idle {
        rss_mb,
        peak_mb,
        stopped_in,
        status,
    }
}
