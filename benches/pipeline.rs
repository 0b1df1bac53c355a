//! Pipeline benchmarks: rendering a large brief, ingesting a folder of 10,000 documents,
//! and paging a topic over 100,000 stored items.
//!
//! Run with `cargo bench --bench pipeline`. All content is synthetic and generated here
//! from a fixed seed, so every run measures the same input.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

use ecobrief::app::Core;
use ecobrief::compose::compose;
use ecobrief::config::{TELEGRAM_MAX_CODE_POINTS, TELEGRAM_MAX_ENTITIES};
use ecobrief::ingest::{IngestOptions, parse_bytes};
use ecobrief::message::OutgoingMessage;
use ecobrief::model::ItemKind;
use ecobrief::render::Renderer;
use ecobrief::store::Store;
use ecobrief::topics::TopicCatalog;

#[path = "support/synth.rs"]
mod synth;
use synth::Synth;
#[path = "support/corpus.rs"]
mod corpus;
use corpus::{
    BRIEF_SECTIONS, GOLD_EVERY, WORDS, bench_settings, brief_text, date, query_document,
    write_ingest_corpus,
};

const GROUP: &str = "@ecodailyreport";

// ---------------------------------------------------------------------------------------
// 1. Rendering and splitting a 60-item brief
// ---------------------------------------------------------------------------------------

fn assert_telegram_limits(messages: &[OutgoingMessage]) {
    assert!(!messages.is_empty(), "the brief rendered no messages");
    for (index, message) in messages.iter().enumerate() {
        let chars = message.text.chars().count();
        assert!(
            chars <= TELEGRAM_MAX_CODE_POINTS,
            "message {index} has {chars} chars, over Telegram's {TELEGRAM_MAX_CODE_POINTS}"
        );
        assert!(
            message.entities.len() <= TELEGRAM_MAX_ENTITIES,
            "message {index} has {} entities, over Telegram's {TELEGRAM_MAX_ENTITIES}",
            message.entities.len()
        );
    }
}

/// The rich edition of the same 60-item day: rich templates → rich HTML checked against
/// the Bot API's limits → packed into messages, with each message's text fallback.
fn render_rich_60_items(c: &mut Criterion) {
    let settings = bench_settings(PathBuf::from("unused.db"));
    let renderer = Renderer::load(&settings.render, settings.tz).expect("templates load");
    let brief = sixty_item_day(&settings);
    let parts = renderer
        .brief_rich(&brief, GROUP, None)
        .expect("rich edition renders");
    eprintln!(
        "render_rich_60_items: {} rich messages, at most {} characters of HTML each",
        parts.len(),
        parts
            .iter()
            .map(|p| p.message.html.chars().count())
            .max()
            .unwrap_or(0)
    );
    let mut group = c.benchmark_group("render_rich_60_items");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    group.bench_function("brief_rich", |b| {
        b.iter(|| {
            renderer
                .brief_rich(black_box(&brief), GROUP, None)
                .expect("rich edition renders")
        })
    });
    group.finish();
}

/// The synthetic 60-item day (5 sections of 12) both render benchmarks use.
fn sixty_item_day(settings: &ecobrief::settings::Settings) -> ecobrief::compose::Brief {
    let day = date(2026, 3, 12);
    let text = brief_text(&mut Synth::new(1, WORDS), day, BRIEF_SECTIONS, 12, 1);
    let options = IngestOptions::from_settings(settings, None);
    let doc = parse_bytes("brief-2026-03-12.md", text.as_bytes(), None, &options)
        .expect("synthetic brief parses");
    assert_eq!(doc.items.len(), 60);
    let items = doc
        .items
        .iter()
        .map(|item| (doc.meta.key.clone(), item.clone()))
        .collect();
    compose(day, Some(&doc.meta), items, settings).expect("brief composes")
}

fn render_split_60_items(c: &mut Criterion) {
    let settings = bench_settings(PathBuf::from("unused.db"));
    let renderer = Renderer::load(&settings.render, settings.tz).expect("templates load");
    let day = date(2026, 3, 12);
    let text = brief_text(&mut Synth::new(1, WORDS), day, BRIEF_SECTIONS, 12, 1);
    let options = IngestOptions::from_settings(&settings, None);
    let doc = parse_bytes("brief-2026-03-12.md", text.as_bytes(), None, &options)
        .expect("synthetic brief parses");
    assert!(
        doc.warnings.is_empty(),
        "parse warnings: {:?}",
        doc.warnings
    );
    assert_eq!(doc.meta.kind, ItemKind::Brief);
    assert_eq!(doc.items.len(), 60);
    let items = doc
        .items
        .iter()
        .map(|item| (doc.meta.key.clone(), item.clone()))
        .collect();
    let brief = compose(day, Some(&doc.meta), items, &settings).expect("brief composes");
    assert_eq!(brief.item_count(), 60);

    // Checked once outside the timing: the measured call produces the same messages.
    let messages = renderer
        .brief_messages(&brief, GROUP)
        .expect("brief renders");
    assert!(messages.len() > 1, "60 items should need several messages");
    assert_telegram_limits(&messages);
    eprintln!(
        "render_split_60_items: {} messages, at most {} chars and {} entities each",
        messages.len(),
        messages
            .iter()
            .map(|m| m.text.chars().count())
            .max()
            .unwrap_or(0),
        messages.iter().map(|m| m.entities.len()).max().unwrap_or(0)
    );

    let mut group = c.benchmark_group("render_split_60_items");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    group.bench_function("brief_messages", |b| {
        b.iter(|| {
            renderer
                .brief_messages(black_box(&brief), GROUP)
                .expect("brief renders")
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// 2. Ingesting a folder of 10,000 documents
// ---------------------------------------------------------------------------------------

const INGEST_DOCUMENTS: usize = 10_000;

fn ingest_10000_documents(c: &mut Criterion) {
    let corpus_dir = tempfile::tempdir().expect("temp dir for the corpus");
    let corpus = write_ingest_corpus(corpus_dir.path(), 2, 0, INGEST_DOCUMENTS);
    let paths = [corpus_dir.path().to_path_buf()];

    let mut group = c.benchmark_group("ingest_10000_documents");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(INGEST_DOCUMENTS as u64));
    group.bench_function("ingest_paths", |b| {
        // iter_custom: opening a fresh Core on an empty database is setup, not timed.
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let db_dir = tempfile::tempdir().expect("temp dir for the database");
                let core = Core::open(bench_settings(db_dir.path().join("ingest.db")))
                    .expect("core opens");
                let start = Instant::now();
                let report = core
                    .ingest_paths(black_box(&paths), None)
                    .expect("ingest runs");
                timed += start.elapsed();
                // Every timed run must have done the full work.
                assert_eq!(report.files.len(), corpus.files);
                assert_eq!(report.failed(), 0, "failures: {:?}", report.lines());
                assert_eq!(report.items(), corpus.items);
                let stored = core
                    .db
                    .with(|store| store.item_count())
                    .expect("count items");
                assert_eq!(stored, corpus.items);
            }
            timed
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// 3. Paging a topic over 100,000 stored items
// ---------------------------------------------------------------------------------------

const QUERY_ITEMS: usize = 100_000;

/// A store with [`QUERY_ITEMS`] items saved in one transaction.
fn build_query_store(path: &Path) -> Store {
    let settings = bench_settings(path.to_path_buf());
    let topics = TopicCatalog::load(&settings.topics_file).expect("topics load");
    let mut store = Store::open(path).expect("store opens");
    store.sync_topics(&topics).expect("topics sync");
    let mut synth = Synth::new(3, WORDS);
    let mut batch = store.batch().expect("batch starts");
    for n in 0..QUERY_ITEMS {
        batch
            .save(&query_document(&mut synth, n, QUERY_ITEMS), &topics)
            .expect("document saves");
    }
    batch.commit().expect("batch commits");
    store
}

fn topic_query_100k_items(c: &mut Criterion) {
    let db_dir = tempfile::tempdir().expect("temp dir for the database");
    let started = Instant::now();
    let store = build_query_store(&db_dir.path().join("topics.db"));
    eprintln!(
        "topic_query_100k_items: setup stored {QUERY_ITEMS} items in {:.1?}",
        started.elapsed()
    );
    assert_eq!(store.item_count().expect("count items"), QUERY_ITEMS);
    assert_eq!(
        store.count_for_topic("gold").expect("count gold"),
        QUERY_ITEMS.div_ceil(GOLD_EVERY)
    );

    let mut group = c.benchmark_group("topic_query_100k_items");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for offset in [0, 100] {
        // Checked once outside the timing: five gold items, newest first.
        let page = store
            .items_for_topic("gold", 5, offset)
            .expect("topic query");
        assert_eq!(page.len(), 5);
        assert!(page.iter().all(|item| item.title.starts_with("黄金")));
        assert!(
            page.windows(2)
                .all(|pair| pair[0].published_at >= pair[1].published_at)
        );

        group.bench_with_input(
            BenchmarkId::new("gold_limit_5", format!("offset_{offset}")),
            &offset,
            |b, &offset| {
                b.iter(|| {
                    store
                        .items_for_topic(black_box("gold"), 5, offset)
                        .expect("topic query")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    render_split_60_items,
    render_rich_60_items,
    ingest_10000_documents,
    topic_query_100k_items
);
criterion_main!(benches);
