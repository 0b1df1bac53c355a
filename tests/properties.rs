//! Property tests: render + split always yields messages Telegram accepts and that join
//! back to the unsplit text; ingest never panics.

mod common;

use chrono::NaiveDate;
use common::assert_telegram_valid;
use ecobrief::compose::compose;
use ecobrief::config::Config;
use ecobrief::ingest::{IngestOptions, parse_bytes};
use ecobrief::model::{Direction, Impact, Item, ItemKind, Stance};
use ecobrief::render::Renderer;
use ecobrief::render::split::{SplitLimits, split_blocks};
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "黄金",
    "原油",
    "美联储",
    "降息",
    "人民币汇率",
    "。",
    "，",
    "！",
    "；",
    " ",
    "AI",
    "Fed",
    "3.5%",
    "<",
    ">",
    "&",
    "\"",
    "<b>",
    "&amp;",
    "🇨🇳",
    "🇺🇸",
    "👨‍👩‍👧‍👦",
    "😀",
    "👍🏽",
    "e\u{301}",
    "📈",
    ". ",
];

fn text(max_pieces: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..max_pieces).prop_map(|p| p.concat())
}

fn long_line() -> impl Strategy<Value = String> {
    (text(12), 1usize..400).prop_map(|(t, n)| t.repeat(n))
}

fn impact() -> impl Strategy<Value = Impact> {
    (
        text(4),
        prop::sample::select(vec![
            Direction::Bullish,
            Direction::Bearish,
            Direction::Neutral,
            Direction::Unknown,
        ]),
    )
        .prop_map(|(target, direction)| Impact {
            target,
            stance: Stance {
                direction,
                leaning: None,
                horizon: None,
                intensity: None,
            },
            label: if direction == Direction::Unknown {
                String::new()
            } else {
                "利多".into()
            },
            note: "说明".into(),
        })
}

fn item() -> impl Strategy<Value = Item> {
    (
        text(10),
        prop::collection::vec(prop_oneof![text(30), long_line()], 0..4),
        prop::collection::vec(prop_oneof![text(30), long_line()], 0..4),
        prop::collection::vec(impact(), 0..4),
        0u8..4,
    )
        .prop_map(|(title, key_points, insights, impacts, section)| {
            let (kind, section) = if section == 3 {
                (ItemKind::Quick, "更多动态".to_string())
            } else {
                (ItemKind::Brief, format!("板块{section}"))
            };
            let day = NaiveDate::from_ymd_opt(2026, 3, 12).unwrap();
            Item {
                section,
                key_points,
                insights,
                impacts,
                ..Item::new(kind, String::new(), day, title)
            }
        })
}

/// Removes the `(i/n)` line the splitter adds.
fn strip_part_number(text: &str, i: usize, n: usize) -> &str {
    if n < 2 {
        return text;
    }
    text.strip_suffix(&format!("\n\n({}/{n})", i + 1))
        .expect("part number at the end")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn split_messages_are_valid_and_lossless(
        items in prop::collection::vec(item(), 1..25),
        budget in 200usize..4000,
        max_entities in 10usize..=100,
    ) {
        let mut config = Config::default();
        config.render.message_budget = budget;
        config.render.max_entities = max_entities;
        let renderer = Renderer::builtin(&config.render, chrono_tz::Asia::Shanghai).unwrap();
        let settings = ecobrief::settings::Settings::from_config(config).unwrap();
        let pairs = items.into_iter().enumerate().map(|(i, mut item)| {
            item.position = i as u32;
            item.title = format!("{}{i}", item.title);
            ("doc".to_string(), item)
        }).collect();
        let brief = compose(NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(), None, pairs, &settings).unwrap();
        let messages = renderer.brief_messages(&brief, "@group").unwrap();
        assert_telegram_valid(&messages);
        let n = messages.len();
        for m in &messages {
            prop_assert!(m.entities.len() <= max_entities);
        }
        // The unsplit text, then walk it: every part is the next stretch of it, with only
        // whitespace between parts.
        let blocks = renderer.brief_blocks(&brief, "@group").unwrap();
        let whole = split_blocks(&blocks, SplitLimits { budget: usize::MAX, max_entities: usize::MAX });
        prop_assert_eq!(whole.len(), 1);
        let whole = &whole[0].text;
        let mut rest = whole.as_str();
        for (i, m) in messages.iter().enumerate() {
            let body = strip_part_number(&m.text, i, n);
            prop_assert!(body.chars().count() <= budget, "part {} has {} chars", i, body.chars().count());
            let last_line = body.lines().last().unwrap_or("");
            prop_assert!(!last_line.starts_with('▍'), "part {} ends with a section heading", i);
            rest = rest.trim_start();
            prop_assert!(rest.starts_with(body), "part {} is not the next stretch of the text", i);
            rest = &rest[body.len()..];
        }
        prop_assert!(rest.trim().is_empty(), "text left over: {:?}", rest);
    }

    #[test]
    fn ingest_never_panics_on_any_text(
        head in prop::sample::select(vec!["", "---\n", "---\ntitle: x\ndate: 2026-01-01\n---\n", "# t\n"]),
        lines in prop::collection::vec(
            prop_oneof![
                text(8),
                Just("### 标题".to_string()),
                Just("## 板块".to_string()),
                Just("- **时间：** 25:99".to_string()),
                Just("- **核心要点:**".to_string()),
                Just("**影响：**".to_string()),
                Just("- 对：".to_string()),
                Just("<div><div>".to_string()),
                Just("---".to_string()),
                Just("- ".to_string()),
                Just("[x](y)".to_string()),
            ],
            0..30,
        ),
    ) {
        let doc = format!("{head}{}", lines.join("\n"));
        let options = IngestOptions::from_settings(&ecobrief::settings::Settings::from_config(Config::default()).unwrap(), None);
        let _ = parse_bytes("prop.md", doc.as_bytes(), None, &options);
    }

    #[test]
    fn ingest_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let options = IngestOptions::from_settings(&ecobrief::settings::Settings::from_config(Config::default()).unwrap(), None);
        let _ = parse_bytes("bytes.md", &bytes, None, &options);
    }
}
