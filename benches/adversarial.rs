//! Hostile input benchmarks: 2 MiB documents and feed texts made to make a scanner that
//! looks ahead from every `<` or `&` quadratic (`<`×N, `<1`×N, `<a `×N, `<!--`×N, `&`×N,
//! deeply nested brackets and tags, one 2 MiB line, a brief of many sections). Each shape
//! is parsed as an article, as a brief (a key point and a raw HTML line), as plain
//! commentary, and as feed text (`html_to_text` and a whole RSS feed). Target: ≤ 50 ms each.
//!
//! Run with `cargo bench --bench adversarial`. All input is generated here; correctness on
//! the same shapes is checked by `tests/hostile.rs`.

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use ecobrief::config::Config;
use ecobrief::ingest::{IngestOptions, parse_bytes};
use ecobrief::settings::Settings;
use ecobrief::sources::feed::{html_to_text, parse_feed};

/// Room left for the front matter and the brief around a payload, so that every document
/// stays within `ingest.max_file_bytes` (2 MiB).
const PAYLOAD_BYTES: usize = 2 * 1024 * 1024 - 4096;

fn repeat(unit: &str) -> String {
    unit.repeat(PAYLOAD_BYTES / unit.len())
}

/// The shapes: a name and a one-line payload of about 2 MiB.
fn shapes() -> Vec<(&'static str, String)> {
    let brackets = PAYLOAD_BYTES / 5;
    let tags = PAYLOAD_BYTES / 8;
    vec![
        ("lt", repeat("<")),
        ("lt1", repeat("<1")),
        ("lt_a", repeat("<a ")),
        ("comment", repeat("<!--")),
        ("amp", repeat("&")),
        (
            "nested_brackets",
            format!("{}{}", "<b[".repeat(brackets), "]>".repeat(brackets)),
        ),
        (
            "nested_tags",
            format!("{}深{}", "<b>".repeat(tags), "</b>".repeat(tags)),
        ),
        (
            "long_line",
            repeat("央行<b>降准</b>0.5个百分点&amp;回购[新浪](https://a.b/c)，"),
        ),
    ]
}

fn article(payload: &str) -> String {
    format!("---\ntitle: 对抗文章\ndate: 2026-03-12\n---\n\n{payload}\n")
}

const BRIEF_HEAD: &str = "---\ntitle: 对抗简报\ndate: 2026-03-12\n---\n\n## 宏观\n\n";
const BRIEF_TAIL: &str = "### 第二条\n- **时间：** 09:00\n- **核心要点：** 尾\n";

fn brief_key_point(payload: &str) -> String {
    format!(
        "{BRIEF_HEAD}### 第一条\n- **时间：** 08:00\n- **核心要点：** {payload}\n\n{BRIEF_TAIL}"
    )
}

fn brief_html(payload: &str) -> String {
    format!(
        "{BRIEF_HEAD}<div>{payload}\n\n### 第一条\n- **时间：** 08:00\n- **核心要点：** 正常\n\n{BRIEF_TAIL}"
    )
}

fn rss(payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>对抗源</title><link>https://example.com/</link><description>x</description>\
         <item><title>条目</title><link>https://example.com/a</link><guid>a1</guid>\
         <description><![CDATA[{payload}]]></description></item></channel></rss>"
    )
}

/// A brief of two items followed by as many distinct `##` sections as fit in 2 MiB.
fn many_sections() -> String {
    let mut text = brief_key_point("正常");
    let mut i = 0;
    while text.len() < PAYLOAD_BYTES {
        text.push_str(&format!("## s{i}\n"));
        i += 1;
    }
    text
}

fn options() -> IngestOptions {
    IngestOptions::from_settings(
        &Settings::from_config(Config::default()).expect("default settings"),
        None,
    )
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
}

fn adversarial(c: &mut Criterion) {
    let options = options();
    let now = Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap();
    for (name, payload) in shapes() {
        let mut group = c.benchmark_group(name);
        configure(&mut group);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        let documents = [
            ("article", format!("{name}.md"), article(&payload)),
            (
                "brief_key_point",
                format!("{name}.md"),
                brief_key_point(&payload),
            ),
            ("brief_html", format!("{name}.md"), brief_html(&payload)),
            ("commentary", format!("{name}.txt"), payload.clone()),
        ];
        for (kind, file, text) in &documents {
            assert!(text.len() <= 2 * 1024 * 1024, "{name} {kind}");
            group.bench_function(*kind, |b| {
                b.iter(|| {
                    parse_bytes(file, black_box(text.as_bytes()), None, &options)
                        .expect("the document parses")
                })
            });
        }
        group.bench_function("html_to_text", |b| {
            b.iter(|| html_to_text(black_box(&payload)))
        });
        let feed = rss(&payload);
        group.bench_function("parse_feed", |b| {
            b.iter(|| {
                parse_feed(
                    black_box(feed.as_bytes()),
                    "https://example.com/feed.xml",
                    "对抗源",
                    Tz::Asia__Shanghai,
                    now,
                )
                .expect("the feed parses")
            })
        });
        group.finish();
    }

    let text = many_sections();
    let mut group = c.benchmark_group("many_sections");
    configure(&mut group);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("brief", |b| {
        b.iter(|| {
            parse_bytes("sections.md", black_box(text.as_bytes()), None, &options)
                .expect("the brief parses")
        })
    });
    group.finish();
}

criterion_group!(benches, adversarial);
criterion_main!(benches);
