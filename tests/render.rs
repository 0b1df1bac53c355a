//! Compose, render and split: what the group receives.

mod common;

use chrono::NaiveDate;
use common::{assert_telegram_valid, entity_text, spawn_core, spawn_core_with};
use ecobrief::app::AppError;
use ecobrief::compose::ComposeError;
use ecobrief::config::InsightsMode;
use ecobrief::render::Renderer;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn body(text: &str) -> &str {
    // Strip the "(i/n)" part number line.
    match text.rfind("\n\n(") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    }
}

#[test]
fn sample_day_is_split_into_valid_numbered_messages() {
    let t = spawn_core();
    t.app.ingest_folders().unwrap();
    let (brief, messages) = t.app.brief_messages(day("2026-03-12")).unwrap();
    assert!(
        messages.len() >= 2,
        "the sample day needs more than one message"
    );
    assert_telegram_valid(&messages);
    let n = messages.len();
    for (i, m) in messages.iter().enumerate() {
        assert!(
            m.text.ends_with(&format!("({}/{n})", i + 1)),
            "part number on {i}"
        );
        // A section heading is never the last thing in a message.
        let last_line = body(&m.text).lines().last().unwrap();
        assert!(
            !last_line.starts_with('▍'),
            "heading left alone at the end of message {i}"
        );
    }
    let all: String = messages.iter().map(|m| m.text.as_str()).collect();
    // Header: title, date with weekday, headline bullets, impact overview.
    assert!(
        messages[0]
            .text
            .starts_with("📰 美国通胀超预期压制降息前景")
    );
    assert!(all.contains("2026年3月12日 星期四"));
    assert!(all.contains("• 沪指重返4000点"));
    assert!(all.contains(&format!("📈 利多 {}", brief.overview.bullish)));
    // Every item, impact tags, quick items, the article and the commentary.
    for item in brief.items() {
        assert!(all.contains(&item.title), "{}", item.title);
    }
    assert!(all.contains("📉 美股 短期利空 · ➖ 科技股 中性"));
    assert!(all.contains("💬 投资者：建议分批布局"));
    assert!(all.contains("• 澳大利亚3月消费者信心指数回落至89.5"));
    assert!(all.contains("▍观点"));
    assert!(all.contains("🔗 新浪财经"));
    // HTML-special characters show literally; the HTML card is gone.
    assert!(all.contains("标普500 & 纳指：\"AI泡沫\"<讨论>升温"));
    assert!(!all.contains("<div") && !all.contains("立即加入"));
    assert!(all.contains("@ecodailyreport"));
    assert_eq!(
        brief
            .cover_image
            .as_deref()
            .map(|u| u.starts_with("https://")),
        Some(true)
    );
    // The first entity is the bold title, at UTF-16 offset 0.
    let title = &messages[0].entities[0];
    assert_eq!(title.kind, "bold");
    assert_eq!(
        entity_text(&messages[0], title.offset, title.length),
        format!("📰 {}", brief.title)
    );
}

#[test]
fn articles_join_their_mapped_section_and_duplicates_collapse() {
    let t = spawn_core_with(|c| {
        c.brief.category_sections.clear();
    });
    t.app.ingest_folders().unwrap();
    let dup = "---\ntitle: \"OPEC+ 意外暂停4月增产计划\"\ndate: 2026-03-12 11:00\ncategories: [\"x\"]\n---\n正文。\n";
    let path = t.write("dup-article.md", dup);
    t.app.ingest_paths(&[path], None).unwrap();
    let brief = t.app.compose(day("2026-03-12")).unwrap();
    let quick = brief
        .sections
        .iter()
        .find(|s| s.name == "更多动态")
        .unwrap();
    assert!(quick.is_quick_list);
    assert!(
        quick
            .items
            .iter()
            .any(|i| i.title.starts_with("铜价再创历史新高")),
        "unmapped category → 更多动态"
    );
    let opec = brief
        .items()
        .filter(|i| i.title.contains("暂停4月增产计划"))
        .count();
    assert_eq!(opec, 1, "same title (spacing aside) shown once");
    let names: Vec<_> = brief.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.first(), Some(&"国际外交与地缘政治"), "backbone order");
    assert_eq!(names.last(), Some(&"更多动态"));
}

#[test]
fn an_empty_day_is_a_clear_error() {
    let t = spawn_core();
    t.app.ingest_folders().unwrap();
    match t.app.brief_messages(day("2026-03-13")) {
        Err(AppError::Compose(e @ ComposeError::NoItems(_))) => {
            assert!(e.to_string().contains("no items for 2026-03-13"));
        }
        other => panic!("{other:?}"),
    }
}

/// A brief by its front matter: these tests hold one item, which alone is not the shape.
fn brief_doc(items: &str) -> String {
    format!("---\ntitle: 测试\ndate: 2026-07-01\ntype: brief\n---\n## 板块\n{items}")
}

#[test]
fn an_item_longer_than_a_message_is_cut_with_entities_reopened() {
    let t = spawn_core();
    let long_point: String = "美元指数回落，人民币走强。".repeat(400);
    let insights: String = (0..40)
        .map(|i| format!("- 第{i}条解读：{}\n", "细节".repeat(40)))
        .collect();
    let doc = brief_doc(&format!(
        "### 超长条目\n- **时间：** 08:00\n- **核心要点：**\n  - {long_point}\n**深度解读 & 洞察：**\n{insights}**影响：**\n- 对股市：利多。\n"
    ));
    let path = t.write("long.md", doc);
    t.app.ingest_paths(&[path], None).unwrap();
    let (_, messages) = t.app.brief_messages(day("2026-07-01")).unwrap();
    assert!(messages.len() >= 3, "{}", messages.len());
    assert_telegram_valid(&messages);
    for m in &messages {
        assert!(body(&m.text).chars().count() <= 4000);
    }
    // The long line was cut after sentence punctuation, not mid-sentence.
    let cut = messages
        .iter()
        .find(|m| m.text.contains("美元指数回落"))
        .unwrap();
    let tail: String = body(&cut.text)
        .chars()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(body(&cut.text).ends_with('。'), "{tail}");
    // The expandable blockquote crosses a cut: it is closed and reopened.
    let quotes = messages
        .iter()
        .filter(|m| m.entities.iter().any(|e| e.kind == "expandable_blockquote"))
        .count();
    assert!(quotes >= 2, "blockquote reopened in the next message");
}

#[test]
fn emoji_and_cjk_at_cut_points_are_never_split() {
    let t = spawn_core();
    let line: String = "🇨🇳👨‍👩‍👧‍👦黄金😀".repeat(900);
    let path = t.write(
        "emoji.md",
        brief_doc(&format!("### 表情\n- **核心要点：**\n  - {line}\n")),
    );
    t.app.ingest_paths(&[path], None).unwrap();
    let (_, messages) = t.app.brief_messages(day("2026-07-01")).unwrap();
    assert!(messages.len() >= 2);
    assert_telegram_valid(&messages);
    let joined: String = messages
        .iter()
        .map(|m| body(&m.text))
        .collect::<Vec<_>>()
        .join("");
    assert!(
        joined.contains(&line[..line.len() / 2])
            || joined.replace('\n', "").contains("🇨🇳👨‍👩‍👧‍👦黄金😀🇨🇳")
    );
    for m in &messages {
        let text = body(&m.text);
        let first = text.chars().next().unwrap();
        assert_ne!(first, '\u{200d}', "no part starts inside a ZWJ sequence");
        // Flags are pairs of regional indicators: each part holds whole pairs.
        let lone = text
            .chars()
            .filter(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(c))
            .count();
        assert_eq!(lone % 2, 0, "a flag was split");
    }
}

#[test]
fn entity_limit_is_respected() {
    let t = spawn_core();
    let items: String = (0..80)
        .map(|i| format!("### 条目{i}\n- **时间：** 08:{:02}\n- **核心要点：**\n  - 要点\n**影响：**\n- 对股市：利多。\n", i % 60))
        .collect();
    let path = t.write("many.md", brief_doc(&items));
    t.app.ingest_paths(&[path], None).unwrap();
    let (_, messages) = t.app.brief_messages(day("2026-07-01")).unwrap();
    assert_telegram_valid(&messages);
    assert!(
        messages.len() >= 2,
        "80 items × 2 entities need two messages"
    );
}

#[test]
fn insights_mode_controls_the_blockquote() {
    for (mode, expected) in [
        (InsightsMode::Collapsed, Some("expandable_blockquote")),
        (InsightsMode::Expanded, Some("blockquote")),
        (InsightsMode::Omitted, None),
    ] {
        let t = spawn_core_with(|c| c.render.insights = mode);
        t.app.ingest_folders().unwrap();
        let (_, messages) = t.app.brief_messages(day("2026-03-12")).unwrap();
        let kinds: Vec<_> = messages
            .iter()
            .flat_map(|m| m.entities.iter().map(|e| e.kind.as_str()))
            .collect();
        let all: String = messages.iter().map(|m| m.text.as_str()).collect();
        match expected {
            Some(kind) => assert!(kinds.contains(&kind), "{mode:?}"),
            None => {
                assert!(!kinds.iter().any(|k| k.contains("blockquote")));
                assert!(
                    !all.contains("供给侧扰动叠加低库存"),
                    "insight text omitted"
                );
            }
        }
    }
}

#[test]
fn a_template_with_an_unsupported_tag_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("item.html"),
        "<b>{{ item.title }}</b><br>\n",
    )
    .unwrap();
    let mut config = ecobrief::config::Config::default();
    config.render.templates_dir = dir.path().to_path_buf();
    let err = Renderer::load(&config.render, chrono_tz::Asia::Shanghai)
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("item.html") && text.contains("<br>"),
        "{text}"
    );
}

#[test]
fn topic_reply_lists_newest_items_with_tags() {
    let t = spawn_core();
    t.app.ingest_folders().unwrap();
    let page = t.app.topic_reply("金价", 5, 0).unwrap();
    assert_eq!(
        page.subject,
        ecobrief::app::TopicSubject::Topic { id: "gold".into() }
    );
    assert_eq!(page.next_offset, None, "two gold items fit on one page");
    let reply = page.message;
    assert_telegram_valid(std::slice::from_ref(&reply));
    assert!(reply.text.starts_with("🔎 黄金"));
    assert!(reply.text.contains("现货黄金刷新历史高位"));
    assert!(reply.text.contains("➖ 黄金 中性偏高"));
    let newest = reply.text.find("现货黄金").unwrap();
    let older = reply.text.find("美国2月CPI超预期").unwrap();
    assert!(newest < older, "newest first");
    let first = t.app.topic_reply("commodities", 1, 0).unwrap();
    assert_eq!(first.next_offset, Some(1), "one per page: a next page");
    match t.app.topic_reply("goldd", 5, 0) {
        Err(e @ AppError::UnknownTopic { .. }) => assert!(e.to_string().contains("gold"), "{e}"),
        other => panic!("{other:?}"),
    }
    let empty = t.app.topic_reply("crypto", 5, 10).unwrap().message;
    assert!(empty.text.contains("暂无相关内容"));
}
