//! Generated documents of the shipped shapes, shared by the benchmarks: brief, article
//! and commentary texts (written as files to ingest), and items built directly (to fill
//! a store fast). Everything comes from a [`Synth`] with a fixed seed, so every run
//! measures the same input.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Days, NaiveDate, Utc};

use ecobrief::config::{Config, RenderConfig};
use ecobrief::ingest::{content_hash, item_key};
use ecobrief::model::{
    DatedBy, Direction, DocumentMeta, Impact, Item, ItemKind, Leaning, Origin, ParsedDocument,
    Stance,
};

use ecobrief::settings::Settings;

use crate::synth::Synth;

/// Settings with the shipped topics and templates (found from the manifest, not the
/// working directory) and no source folders.
pub fn bench_settings(database: PathBuf) -> Settings {
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

pub fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid calendar date")
}

pub fn days_after(start: NaiveDate, days: usize) -> NaiveDate {
    start + Days::new(days as u64)
}

// ---------------------------------------------------------------------------------------
// Synthetic text
// ---------------------------------------------------------------------------------------

/// Words the generator strings together. None contains 金 or 银, so that only the items
/// built to be about gold match the `gold` topic (`金价` could otherwise form by accident).
pub const WORDS: &str = "\
    市场 政策 预期 增长 企业 投资 需求 供给 价格 数据 \
    经济 行业 产能 消费 出口 进口 库存 信心 风险 监管 \
    改革 结构 转型 制造业 服务业 订单 利润 成本 估值 \
    融资 信贷 财政 地方 基建 项目 平台 龙头 板块 指数 \
    波动 回落 上行 放缓 改善 扩张 收缩 稳定 调整 复苏 \
    压力 空间 节奏 趋势 分化 提速 落地 推进 部署 季度 \
    同比 环比 机构 分析人士 数据显示 总体来看 与此同时 \
    值得注意的是 短期内 中长期 进一步 明显 持续";

pub const IMPACT_TARGETS: &[&str] = &[
    "股市",
    "债市",
    "大宗商品",
    "人民币",
    "港股",
    "科技股",
    "出口企业",
    "航运股",
];

pub const STANCES: &[&str] = &[
    "利多",
    "利空",
    "中性",
    "中性偏多",
    "中性偏空",
    "短期利空",
    "温和利多",
];

/// One impact line: `- 对{target}：{stance}。{reason}`.
pub fn impact_line(synth: &mut Synth) -> String {
    format!(
        "- 对{}：{}。{}",
        synth.pick(IMPACT_TARGETS),
        synth.pick(STANCES),
        synth.clause(20)
    )
}

/// A text document assembled line by line.
#[derive(Default)]
pub struct TextDoc(pub String);

impl TextDoc {
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.0.push_str(text.as_ref());
        self.0.push('\n');
    }
}

pub const BRIEF_SECTIONS: &[&str] = &["宏观经济", "金融市场", "产业动态", "国际视野", "政策观察"];

/// A structured brief for `day`: front matter, `##` sections, `###` items with time,
/// 3-4 key points, 3 insights and 2 impact lines each. `id` keeps titles unique.
pub fn brief_text(
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
pub fn article_text(synth: &mut Synth, n: usize, day: NaiveDate) -> String {
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
pub fn commentary_text(synth: &mut Synth, n: usize) -> String {
    let mut doc = TextDoc::default();
    doc.line(format!("评论{n:05}{}", synth.paragraph(2)));
    for _ in 0..4 {
        doc.line(synth.paragraph(3));
    }
    doc.0
}

// ---------------------------------------------------------------------------------------
// Files to ingest
// ---------------------------------------------------------------------------------------

/// Counts of the corpus written by [`write_ingest_corpus`].
pub struct Corpus {
    pub files: usize,
    pub items: usize,
    /// Bytes of all the files written.
    pub bytes: u64,
}

/// Writes `count` documents of the mix: every tenth a 3-item brief (each on its own day),
/// two in ten plain commentary dated by file name, the rest articles with unique URLs.
/// Documents are numbered from `first`: corpora of other ranges (and another `seed`) hold
/// none of these titles, URLs or brief days, so they are new to a database of those.
pub fn write_ingest_corpus(root: &Path, seed: u64, first: usize, count: usize) -> Corpus {
    write_ingest_corpus_from(root, seed, first, count, date(2024, 1, 1))
}

/// [`write_ingest_corpus`] with the articles and commentaries dated from `first_day` (500
/// and 365 days of them); briefs are dated by their number, from 2023-01-01.
pub fn write_ingest_corpus_from(
    root: &Path,
    seed: u64,
    first: usize,
    count: usize,
    first_day: NaiveDate,
) -> Corpus {
    let mut synth = Synth::new(seed, WORDS);
    let folders = ["articles", "commentary", "briefs"].map(|f| root.join(f));
    for folder in &folders {
        std::fs::create_dir_all(folder).expect("create corpus folder");
    }
    let [articles, commentary, briefs] = &folders;
    let mut items = 0;
    let mut bytes = 0;
    for n in first..first + count {
        let (path, text, item_count) = match n % 10 {
            0 => {
                let day = days_after(date(2023, 1, 1), n / 10);
                let text = brief_text(&mut synth, day, &BRIEF_SECTIONS[..1], 3, n);
                (briefs.join(format!("brief-{day}.md")), text, 3)
            }
            1 | 2 => {
                let day = days_after(first_day, n % 365);
                let text = commentary_text(&mut synth, n);
                (
                    commentary.join(format!("commentary-{day}-{n:05}.txt")),
                    text,
                    1,
                )
            }
            _ => {
                let day = days_after(first_day, n % 500);
                let text = article_text(&mut synth, n, day);
                (articles.join(format!("article-{n:05}.md")), text, 1)
            }
        };
        std::fs::write(&path, &text).expect("write corpus document");
        bytes += text.len() as u64;
        items += item_count;
    }
    Corpus {
        files: count,
        items,
        bytes,
    }
}

// ---------------------------------------------------------------------------------------
// Items built directly
// ---------------------------------------------------------------------------------------

/// One item in this many is about gold: 3,125 of 100,000.
pub const GOLD_EVERY: usize = 32;

/// Keywords of other topics, so the topic index holds many topics, as in real use.
pub const OTHER_THEMES: &[&str] = &[
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

pub fn impact(target: &str, direction: Direction, label: &str, note: String) -> Impact {
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

/// Item `n` of a synthetic stream of `span` single articles: one in [`GOLD_EVERY`] about
/// gold, the rest spread over other topics' keywords; published in a permutation of the
/// stream (7919 is a prime, so coprime with any `span` that is not its multiple), so
/// insertion order is not time order, spread evenly over two years from 2024-01-01.
pub fn article_item(synth: &mut Synth, n: usize, span: usize) -> Item {
    let theme = if n.is_multiple_of(GOLD_EVERY) {
        "黄金"
    } else {
        OTHER_THEMES[n % OTHER_THEMES.len()]
    };
    let slot = (n * 7919 % span) as i64;
    let spacing = (2 * 365 * 86_400 / span.max(1) as i64).max(1);
    let published_at = DateTime::<Utc>::from_timestamp(1_704_067_200 + slot * spacing, 0)
        .expect("timestamp in range");
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
    Item {
        key: item_key(Some(&url), &title, day),
        kind: ItemKind::Article,
        brief_date: day,
        published_at: Some(published_at),
        section: String::new(),
        position: 0,
        title,
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
    }
}

/// One single-item article (item `n` of `span`), built directly: parsing 100,000 texts
/// would only slow setup.
pub fn query_document(synth: &mut Synth, n: usize, span: usize) -> ParsedDocument {
    let item = article_item(synth, n, span);
    ParsedDocument {
        meta: DocumentMeta {
            key: content_hash(&format!("article\u{1f}{}", item.key)),
            kind: ItemKind::Article,
            brief_date: item.brief_date,
            title: item.title.clone(),
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: format!("q-{n:06}.md"),
            content_hash: content_hash(&format!("{}\n{}", item.title, item.body)),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: DatedBy::Entry,
        origin: Origin::Feed,
    }
}

/// Items `first..first + count` of the stream of [`article_item`] as one feed document
/// (what a fetch of a busy feed page gives): a store fills far faster with many items per
/// document, and each item is stored and indexed as a single article's would be.
pub fn feed_page(synth: &mut Synth, first: usize, count: usize, span: usize) -> ParsedDocument {
    let items: Vec<Item> = (first..first + count)
        .enumerate()
        .map(|(position, n)| {
            let mut item = article_item(synth, n, span);
            item.position = position as u32;
            item
        })
        .collect();
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    ParsedDocument {
        meta: DocumentMeta {
            key: content_hash(&format!("feed-page\u{1f}{first}")),
            kind: ItemKind::Article,
            brief_date: items[0].brief_date,
            title: format!("合成财经 {first}"),
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: format!("https://news.example.com/feed.xml#page-{first:07}"),
            content_hash: content_hash(&titles.join("\n")),
        },
        items,
        warnings: Vec::new(),
        dated_by: DatedBy::Entry,
        origin: Origin::Feed,
    }
}
