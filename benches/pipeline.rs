//! Pipeline benchmarks: rendering a large brief, ingesting a folder of 10,000 documents,
//! and paging a topic over 100,000 stored items.
//!
//! Run with `cargo bench --bench pipeline`. All content is synthetic and generated here
//! from a fixed seed, so every run measures the same input.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

use ecobrief::app::Core;
use ecobrief::compose::compose;
use ecobrief::config::{Config, RenderConfig, TELEGRAM_MAX_CODE_POINTS, TELEGRAM_MAX_ENTITIES};
use ecobrief::ingest::{IngestOptions, content_hash, item_key, parse_bytes};
use ecobrief::message::OutgoingMessage;
use ecobrief::model::{
    Direction, DocumentMeta, Impact, Item, ItemKind, Leaning, ParsedDocument, Stance,
};
use ecobrief::render::Renderer;
use ecobrief::settings::Settings;
use ecobrief::store::Store;
use ecobrief::topics::TopicCatalog;

#[path = "support/synth.rs"]
mod synth;
use synth::Synth;

const GROUP: &str = "@ecodailyreport";

/// Settings with the shipped topics and templates (found from the manifest, not the
/// working directory) and no source folders.
fn bench_settings(database: PathBuf) -> Settings {
    Settings::from_config(Config {
        database,
        topics_file: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config/topics.toml")),
        sources: Vec::new(),
        render: RenderConfig {
            templates_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")),
            ..RenderConfig::default()
        },
        ..Config::default()
    })
    .expect("bench settings parse")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid calendar date")
}

fn days_after(start: NaiveDate, days: usize) -> NaiveDate {
    start + Days::new(days as u64)
}

// ---------------------------------------------------------------------------------------
// Synthetic text
// ---------------------------------------------------------------------------------------

/// Words the generator strings together. None contains 金 or 银, so that only the items
/// built to be about gold match the `gold` topic (`金价` could otherwise form by accident).
const WORDS: &str = "\
    市场 政策 预期 增长 企业 投资 需求 供给 价格 数据 \
    经济 行业 产能 消费 出口 进口 库存 信心 风险 监管 \
    改革 结构 转型 制造业 服务业 订单 利润 成本 估值 \
    融资 信贷 财政 地方 基建 项目 平台 龙头 板块 指数 \
    波动 回落 上行 放缓 改善 扩张 收缩 稳定 调整 复苏 \
    压力 空间 节奏 趋势 分化 提速 落地 推进 部署 季度 \
    同比 环比 机构 分析人士 数据显示 总体来看 与此同时 \
    值得注意的是 短期内 中长期 进一步 明显 持续";

const IMPACT_TARGETS: &[&str] = &[
    "股市",
    "债市",
    "大宗商品",
    "人民币",
    "港股",
    "科技股",
    "出口企业",
    "航运股",
];

const STANCES: &[&str] = &[
    "利多",
    "利空",
    "中性",
    "中性偏多",
    "中性偏空",
    "短期利空",
    "温和利多",
];

/// One impact line: `- 对{target}：{stance}。{reason}`.
fn impact_line(synth: &mut Synth) -> String {
    format!(
        "- 对{}：{}。{}",
        synth.pick(IMPACT_TARGETS),
        synth.pick(STANCES),
        synth.clause(20)
    )
}

/// A text document assembled line by line.
#[derive(Default)]
struct TextDoc(String);

impl TextDoc {
    fn line(&mut self, text: impl AsRef<str>) {
        self.0.push_str(text.as_ref());
        self.0.push('\n');
    }
}

const BRIEF_SECTIONS: &[&str] = &["宏观经济", "金融市场", "产业动态", "国际视野", "政策观察"];

/// A structured brief for `day`: front matter, `##` sections, `###` items with time,
/// 3-4 key points, 3 insights and 2 impact lines each. `id` keeps titles unique.
fn brief_text(
    synth: &mut Synth,
    day: NaiveDate,
    sections: &[&str],
    items_per_section: usize,
    id: usize,
) -> String {
    let mut doc = TextDoc::default();
    let title = format!("合成经济简报{id}：{}", synth.clause(16));
    doc.line("---");
    doc.line(format!("title: \"{title}\""));
    doc.line(format!("date: {day}"));
    let summary: Vec<String> = (0..4).map(|_| format!("- {}", synth.clause(30))).collect();
    doc.line(format!("summary: \"{}\"", summary.join("\\n")));
    doc.line("---");
    doc.line(format!("# {title}"));
    let mut number = 0;
    for section in sections {
        doc.line("");
        doc.line(format!("## {section}"));
        for _ in 0..items_per_section {
            number += 1;
            // Minutes since 06:00, seven apart, so items spread over the day.
            let minutes = 6 * 60 + number * 7;
            doc.line("");
            doc.line(format!("### {}（{id}-{number}）", synth.clause(18)));
            doc.line("");
            doc.line(format!(
                "- **时间：** {day} {:02}:{:02}",
                (minutes / 60) % 24,
                minutes % 60
            ));
            doc.line("- **核心要点：**");
            for _ in 0..3 + synth.below(2) {
                doc.line(format!("  - {}", synth.clause(40)));
            }
            doc.line("");
            doc.line("**深度解读 & 洞察：**");
            for _ in 0..3 {
                doc.line(format!("- {}", synth.sentence(40)));
            }
            doc.line("");
            doc.line("**影响：**");
            for _ in 0..2 {
                doc.line(impact_line(synth));
            }
        }
    }
    doc.0
}

/// A news article with front matter, three paragraphs, sometimes an 影响 list, and the
/// source link on its last line.
fn article_text(synth: &mut Synth, n: usize, day: NaiveDate) -> String {
    const CATEGORIES: &[&str] = &["bench_macro", "bench_markets", "bench_industry"];
    let mut doc = TextDoc::default();
    doc.line("---");
    doc.line(format!("title: \"{}（{n}）\"", synth.clause(18)));
    doc.line(format!(
        "date: \"{day} {:02}:{:02}:00\"",
        6 + n % 16,
        n % 60
    ));
    doc.line(format!("summary: \"{}...\"", synth.clause(70)));
    doc.line("categories:");
    doc.line(format!("  - \"{}\"", CATEGORIES[n % CATEGORIES.len()]));
    doc.line("tags:");
    doc.line(format!("  - \"{}\"", synth.pick(IMPACT_TARGETS)));
    doc.line("---");
    for _ in 0..3 {
        doc.line("");
        doc.line(synth.paragraph(3));
    }
    if n.is_multiple_of(2) {
        doc.line("");
        doc.line("**影响：**");
        doc.line(impact_line(synth));
        doc.line(impact_line(synth));
    }
    doc.line("");
    doc.line(format!(
        "[合成财经](https://news.example.com/{day}/article-{n:05}.html)"
    ));
    doc.0
}

/// Plain commentary: no front matter; the first sentence (unique through `n`) is the title.
fn commentary_text(synth: &mut Synth, n: usize) -> String {
    let mut doc = TextDoc::default();
    doc.line(format!("评论{n:05}{}", synth.paragraph(2)));
    for _ in 0..4 {
        doc.line(synth.paragraph(3));
    }
    doc.0
}

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

/// Counts of the corpus written by [`write_ingest_corpus`].
struct Corpus {
    files: usize,
    items: usize,
}

/// Writes the mix: every tenth document a 3-item brief (each on its own day), two in ten
/// plain commentary dated by file name, the rest articles with unique URLs.
fn write_ingest_corpus(root: &Path) -> Corpus {
    let mut synth = Synth::new(2, WORDS);
    let folders = ["articles", "commentary", "briefs"].map(|f| root.join(f));
    for folder in &folders {
        std::fs::create_dir_all(folder).expect("create corpus folder");
    }
    let [articles, commentary, briefs] = &folders;
    let mut items = 0;
    for n in 0..INGEST_DOCUMENTS {
        let (path, text, count) = match n % 10 {
            0 => {
                let day = days_after(date(2023, 1, 1), n / 10);
                let text = brief_text(&mut synth, day, &BRIEF_SECTIONS[..1], 3, n);
                (briefs.join(format!("brief-{day}.md")), text, 3)
            }
            1 | 2 => {
                let day = days_after(date(2024, 1, 1), n % 365);
                let text = commentary_text(&mut synth, n);
                (
                    commentary.join(format!("commentary-{day}-{n:05}.txt")),
                    text,
                    1,
                )
            }
            _ => {
                let day = days_after(date(2024, 1, 1), n % 500);
                let text = article_text(&mut synth, n, day);
                (articles.join(format!("article-{n:05}.md")), text, 1)
            }
        };
        std::fs::write(&path, text).expect("write corpus document");
        items += count;
    }
    Corpus {
        files: INGEST_DOCUMENTS,
        items,
    }
}

fn ingest_10000_documents(c: &mut Criterion) {
    let corpus_dir = tempfile::tempdir().expect("temp dir for the corpus");
    let corpus = write_ingest_corpus(corpus_dir.path());
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
/// One item in this many is about gold: 3,125 of 100,000.
const GOLD_EVERY: usize = 32;

/// Keywords of other topics, so the topic index holds many topics, as in real use.
const OTHER_THEMES: &[&str] = &[
    "原油",
    "美股",
    "A股",
    "港股",
    "芯片",
    "美联储",
    "人民币",
    "国债",
    "铜价",
    "关税",
    "央行",
    "比特币",
    "",
    "",
];

fn impact(target: &str, direction: Direction, label: &str, note: String) -> Impact {
    Impact {
        target: target.to_string(),
        stance: Stance {
            direction,
            leaning: (direction == Direction::Neutral).then_some(Leaning::Bullish),
            horizon: None,
            intensity: None,
        },
        label: label.to_string(),
        note,
    }
}

/// One single-item article, built directly (parsing 100,000 texts would only slow setup).
fn query_document(synth: &mut Synth, n: usize) -> ParsedDocument {
    let theme = if n.is_multiple_of(GOLD_EVERY) {
        "黄金"
    } else {
        OTHER_THEMES[n % OTHER_THEMES.len()]
    };
    // A permutation of 0..QUERY_ITEMS (7919 is coprime with 100,000), so insertion order
    // is not time order; about ten minutes apart, two years in all.
    let slot = (n * 7919 % QUERY_ITEMS) as i64;
    let published_at =
        DateTime::<Utc>::from_timestamp(1_704_067_200 + slot * 617, 0).expect("timestamp in range");
    let day = published_at.date_naive();
    let title = format!("{theme}{}（{n}）", synth.clause(16));
    let url = format!("https://news.example.com/{day}/q-{n:06}.html");
    let body = (0..3)
        .map(|_| synth.paragraph(3))
        .collect::<Vec<_>>()
        .join("\n");
    let impacts = match n % 3 {
        0 => Vec::new(),
        1 => vec![impact("股市", Direction::Bullish, "利多", synth.clause(20))],
        _ => vec![
            impact("债市", Direction::Bearish, "利空", synth.clause(20)),
            impact("人民币", Direction::Neutral, "中性偏多", synth.clause(20)),
        ],
    };
    let key = item_key(Some(&url), &title, day);
    let item = Item {
        key: key.clone(),
        kind: ItemKind::Article,
        brief_date: day,
        published_at: Some(published_at),
        section: String::new(),
        position: 0,
        title: title.clone(),
        key_points: Vec::new(),
        insights: Vec::new(),
        impacts,
        advice: Vec::new(),
        summary: synth.clause(70),
        body,
        source_name: Some("合成财经".to_string()),
        source_url: Some(url),
        categories: vec!["bench_markets".to_string()],
        tags: Vec::new(),
        tables: Vec::new(),
    };
    ParsedDocument {
        meta: DocumentMeta {
            key: content_hash(&format!("article\u{1f}{key}")),
            kind: ItemKind::Article,
            brief_date: day,
            title: title.clone(),
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: format!("q-{n:06}.md"),
            content_hash: content_hash(&format!("{title}\n{}", item.body)),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: ecobrief::model::DatedBy::Entry,
        origin: ecobrief::model::Origin::Feed,
    }
}

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
            .save(&query_document(&mut synth, n), &topics)
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
