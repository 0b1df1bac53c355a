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

use ecobrief::ingest::html::html_to_text;
use ecobrief::ingest::parse_bytes;
use ecobrief::sources::feed::parse_feed;

#[path = "../tests/support/hostile_inputs.rs"]
mod inputs;
use inputs::{PAYLOAD_BYTES, article, brief_html, brief_key_point, options, payloads, rss};

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

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
}

fn adversarial(c: &mut Criterion) {
    let options = options();
    let now = Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap();
    for (name, payload) in payloads() {
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
