//! Real-world documents: the right day, the right shape, nothing lost or mangled. Every
//! fixture here is written for the test, in the shapes found in public markdown and text
//! (Jekyll posts, machine-written briefs, pages saved as markdown, commentaries).

mod common;

use common::{day, spawn_core};
use ecobrief::model::{DatedBy, ItemKind};

fn text_of(messages: &[ecobrief::message::OutgoingMessage]) -> String {
    messages
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn jekyll_and_exported_file_names_date_their_documents() {
    let t = spawn_core();
    // A month of daily posts with no date in their front matter: each on its own day.
    let mut paths = Vec::new();
    for d in 1..=12 {
        paths.push(t.write(
            &format!("posts/2024-8-{d}-daily-market.md"),
            format!("---\ntitle: 8月{d}日市场回顾第{d}期\n---\n沪指收涨，成交放量。\n"),
        ));
    }
    paths.push(t.write(
        "posts/2024-08-31-padded.md",
        "---\ntitle: 月末回顾\n---\n正文。\n",
    ));
    paths.push(t.write(
        "exports/20260216_090008-note.txt",
        "早盘两市小幅高开，券商板块领涨。\n",
    ));
    paths.push(t.write("exports/brief20260217.md", "---\ntitle: 晨报\n---\n正文\n"));
    let report = t.app.ingest_paths(&paths, None).unwrap();
    let lines = report.lines().join("\n");
    assert_eq!(report.failed(), 0, "{lines}");
    let store = t.store();
    for d in 1..=12 {
        let items = store
            .items_for_date(day(&format!("2024-08-{d:02}")))
            .unwrap();
        assert_eq!(items.len(), 1, "2024-08-{d:02}: {lines}");
    }
    assert_eq!(store.items_for_date(day("2024-08-31")).unwrap().len(), 1);
    let note = store.items_for_date(day("2026-02-16")).unwrap();
    assert_eq!(note.len(), 1, "{lines}");
    assert_eq!(
        note[0].1.published_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-02-16T01:00:08+00:00"),
        "the time in the name, read in Asia/Shanghai"
    );
    assert_eq!(store.items_for_date(day("2026-02-17")).unwrap().len(), 1);
    // Each file says which rule dated it, in its one line.
    assert!(
        lines.contains("2024-8-31-")
            || lines.contains(
                "2024-8-9-daily-market.md (1 items, article of 2024-08-09 by date in the file name)"
            ),
        "{lines}"
    );
    assert_eq!(
        report
            .lines()
            .iter()
            .filter(|l| l.starts_with("ok "))
            .count(),
        15,
        "one line per file: {lines}"
    );
    assert!(!lines.contains("warn"), "nothing fell back: {lines}");
}

#[test]
fn front_matter_and_title_dates_in_every_written_form() {
    let t = spawn_core();
    let cases = [
        (
            "a.md",
            "---\ntitle: 甲\ndate: 2026年02月14日\n---\n正文\n",
            "2026-02-14",
        ),
        (
            "b.md",
            "---\ntitle: 乙\ndate: 2026-02-14 09:00\n---\n正文\n",
            "2026-02-14",
        ),
        (
            "c.md",
            "---\ntitle: 丙\ndate: 2026/2/14\n---\n正文\n",
            "2026-02-14",
        ),
        (
            "d.md",
            "# 2026年2月15日 早盘点评\n\n今日两市震荡。\n",
            "2026-02-15",
        ),
        (
            "e.md",
            "---\ntitle: 市场周评（2026/2/16）\n---\n正文\n",
            "2026-02-16",
        ),
    ];
    for (name, text, want) in cases {
        let path = t.write(name, text);
        let report = t.app.ingest_paths(&[path], None).unwrap();
        assert_eq!(report.failed(), 0, "{name}: {:?}", report.lines());
        let items = t.store().items_for_date(day(want)).unwrap();
        assert!(
            items.iter().any(|(_, i)| i.title.contains(&name[..0])),
            "{name} on {want}"
        );
    }
    assert_eq!(
        t.store().items_for_date(day("2026-02-14")).unwrap().len(),
        3
    );
    // A history date inside the title is not the document's day.
    let doc = ecobrief::ingest::parse_bytes(
        "history.md",
        "# 回顾2008年9月15日雷曼倒闭\n\n十八年后再看。\n".as_bytes(),
        Some(common::at("2026-03-01T02:00:00Z")),
        &t.app.options(None),
    )
    .unwrap();
    assert_eq!(doc.meta.brief_date, day("2026-03-01"));
    assert_eq!(doc.dated_by, DatedBy::ModifiedTime);
}

#[test]
fn an_undated_document_gets_the_fallback_and_a_warning_naming_the_rule() {
    let t = spawn_core();
    let path = t.write("notes.txt", "美元走弱，人民币走强。\n");
    let report = t
        .app
        .ingest_paths(std::slice::from_ref(&path), None)
        .unwrap();
    let lines = report.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("by the file's modification time"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("warn")
            && lines[1].contains("no date in front matter, title or file name"),
        "{lines:?}"
    );
    // With --date, that is the rule, and nothing is warned about.
    let report = t
        .app
        .ingest_paths(&[path], Some(day("2026-03-12")))
        .unwrap();
    let lines = report.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("of 2026-03-12 by --date"), "{lines:?}");
}

#[test]
fn notices_with_headings_and_time_lines_stay_articles() {
    let t = spawn_core();
    // No front matter, three `###` sessions, each with only a time: not a brief.
    let notice = "# 2026年6月5日 培训通知\n\n### 上午场\n- 时间：09:00\n- 地点：一号楼\n\n### 下午场\n- 时间：14:00\n- 地点：二号楼\n\n### 晚场\n时间：19:00\n\n请准时参加。\n";
    let path = t.write("training.md", notice);
    let report = t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.lines());
    let store = t.store();
    assert!(store.brief_document(day("2026-06-05")).unwrap().is_none());
    let items = store.items_for_date(day("2026-06-05")).unwrap();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].1.kind, ItemKind::Commentary);
    assert_eq!(items[0].1.title, "2026年6月5日 培训通知");
    assert!(
        items[0].1.body.contains("上午场"),
        "headings are part of its body"
    );
}

fn brief_doc(title: &str, date: &str, sections: &[(&str, &[&str])]) -> String {
    let mut text = format!("---\ntitle: {title}\ndate: {date}\n---\n");
    for (section, items) in sections {
        text.push_str(&format!("## {section}\n\n"));
        for item in *items {
            text.push_str(&format!(
                "### {item}\n- **时间：** 09:00\n- **核心要点：**\n  - {item}的要点\n\n"
            ));
        }
    }
    text
}

#[test]
fn a_second_brief_keeps_its_sections_and_items_in_document_order() {
    let t = spawn_core();
    let first = brief_doc("早报", "2026-03-20", &[("宏观", &["甲", "乙"])]);
    let second = brief_doc(
        "晚报",
        "2026-03-20",
        &[
            ("一、市场", &["一", "三", "二"]),
            ("三、海外", &["天"]),
            ("二、商品", &["地"]),
        ],
    );
    let paths = [t.write("am.md", first), t.write("pm.md", second)];
    t.app.ingest_paths(&paths, None).unwrap();
    let brief = t.app.compose(day("2026-03-20")).unwrap();
    let sections: Vec<&str> = brief.sections.iter().map(|s| s.name.as_str()).collect();
    let items: Vec<&str> = brief.items().map(|i| i.title.as_str()).collect();
    // One of the two is the day's backbone; the other follows it in its own order.
    let (backbone, other): (&[&str], &[&str]) = match brief.title.as_str() {
        "早报" => (&["宏观"], &["一、市场", "三、海外", "二、商品"]),
        _ => (&["一、市场", "三、海外", "二、商品"], &["宏观"]),
    };
    assert_eq!(sections, [backbone, other].concat(), "{items:?}");
    let pm: Vec<&str> = items
        .iter()
        .copied()
        .filter(|t| !matches!(*t, "甲" | "乙"))
        .collect();
    assert_eq!(pm, ["一", "三", "二", "天", "地"], "{items:?}");
}

#[test]
fn heading_led_and_html_documents_read_as_text_with_a_real_title() {
    let t = spawn_core();
    let cases = [
        (
            "h2.md",
            "## 周评：铜价新高\n\n铜价本周创出新高，库存下降。\n",
        ),
        (
            "h4.md",
            "#### 周评：铜价新高\n铜价本周创出新高，库存下降。\n",
        ),
    ];
    for (name, text) in cases {
        let doc = ecobrief::ingest::parse_bytes(
            name,
            text.as_bytes(),
            None,
            &t.app.options(Some(day("2026-03-12"))),
        )
        .unwrap();
        assert_eq!(doc.items[0].title, "周评：铜价新高", "{name}");
        assert_eq!(
            doc.items[0].summary, "铜价本周创出新高，库存下降。",
            "{name}"
        );
    }
    let html = "---\ntitle: 央行公开市场操作\ndate: 2026-03-12\n---\n<p>央行今日开展&nbsp;<b>1000亿元</b>逆回购操作。</p>\n<p>中标利率持平。</p>\n";
    let doc = ecobrief::ingest::parse_bytes("page.md", html.as_bytes(), None, &t.app.options(None))
        .unwrap();
    let item = &doc.items[0];
    assert_eq!(item.summary, "央行今日开展 1000亿元逆回购操作。");
    assert_eq!(
        item.body,
        "央行今日开展 1000亿元逆回购操作。\n中标利率持平。"
    );
    assert!(!item.body.contains('<'));
    // The summary is not a copy of the title: a page whose first paragraph is its title.
    let echo = "---\ntitle: 央行宣布降准\ndate: 2026-03-12\n---\n央行宣布降准\n\n下调0.5个百分点，释放长期资金约1万亿元。\n";
    let doc = ecobrief::ingest::parse_bytes("echo.md", echo.as_bytes(), None, &t.app.options(None))
        .unwrap();
    assert_eq!(doc.items[0].summary, "");
    let summary_echo = "---\ntitle: 央行宣布降准\nsummary: 央行宣布降准：下调0.5个百分点\ndate: 2026-03-12\n---\n正文\n";
    let doc = ecobrief::ingest::parse_bytes(
        "echo2.md",
        summary_echo.as_bytes(),
        None,
        &t.app.options(None),
    )
    .unwrap();
    assert_eq!(doc.items[0].summary, "下调0.5个百分点");
}

#[test]
fn markdown_tables_are_rows_and_cells_and_read_as_lines() {
    let t = spawn_core();
    let brief = "---\ntitle: 数据日\ndate: 2026-03-21\n---\n## 数据\n\n### 2月物价数据出炉\n- **时间：** 09:30\n- **核心要点：**\n  - 物价温和回升\n\n| 指标 | 数值 | 前值 |\n|:---|---:|---:|\n| CPI同比 | 0.7% | 0.5% |\n| PPI同比 | -2.2% | -2.3% |\n\n- **影响：**\n  - 对股市：中性\n\n### 第二条\n- **时间：** 10:00\n- **核心要点：**\n  - 乙\n";
    let path = t.write("data.md", brief);
    let report = t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.lines());
    let items = t.store().items_for_date(day("2026-03-21")).unwrap();
    let item = &items
        .iter()
        .find(|(_, i)| i.title == "2月物价数据出炉")
        .unwrap()
        .1;
    assert_eq!(item.tables.len(), 1, "{item:#?}");
    assert_eq!(item.tables[0].header, ["指标", "数值", "前值"]);
    assert_eq!(item.tables[0].rows[1], ["PPI同比", "-2.2%", "-2.3%"]);
    assert_eq!(
        item.key_points,
        ["物价温和回升"],
        "no table line became a key point"
    );
    assert_eq!(
        item.impacts.len(),
        1,
        "the field after the table is still read"
    );
    let (_, messages) = t.app.brief_messages(day("2026-03-21")).unwrap();
    common::assert_telegram_valid(&messages);
    let text = text_of(&messages);
    assert!(text.contains("指标 · 数值 · 前值"), "{text}");
    assert!(text.contains("CPI同比 · 0.7% · 0.5%"), "{text}");
    assert!(!text.contains('|') && !text.contains("---"), "{text}");
}

#[test]
fn terminal_colour_codes_and_control_characters_are_removed() {
    let t = spawn_core();
    let text = "---\ntitle: \u{1b}[1;32m沪指收涨\u{1b}[0m\ndate: 2026-03-22\n---\n成交\u{8}额放大\u{c}，\u{1b}[31m北向资金\u{1b}[m净流入。\n";
    let path = t.write("colour.md", text);
    t.app.ingest_paths(&[path], None).unwrap();
    let items = t.store().items_for_date(day("2026-03-22")).unwrap();
    let item = &items[0].1;
    assert_eq!(item.title, "沪指收涨");
    assert_eq!(item.body, "成交额放大，北向资金净流入。");
}

#[test]
fn commentaries_opening_alike_are_two_documents_and_replacements_are_said() {
    let t = spawn_core();
    let opening = "今日市场情绪偏谨慎。";
    let mut paths = Vec::new();
    for n in 1..=3 {
        paths.push(t.write(
            &format!("notes/commentary-{n}-2026-03-23.txt"),
            format!("{opening}\n\n第{n}位作者认为，资金面仍然宽松，回调是机会。\n"),
        ));
    }
    let report = t.app.ingest_paths(&paths, None).unwrap();
    let lines = report.lines().join("\n");
    let items = t.store().items_for_date(day("2026-03-23")).unwrap();
    assert_eq!(items.len(), 3, "{lines}");
    let brief = t.app.compose(day("2026-03-23")).unwrap();
    assert_eq!(brief.item_count(), 3, "all three are shown");
    for (_, item) in &items {
        assert_eq!(item.title, "今日市场情绪偏谨慎");
        assert!(item.summary.contains("位作者认为"), "{item:#?}");
    }
    assert!(!lines.contains("replaces"), "{lines}");

    // The same bytes in another file: a duplicate of the first, not "unchanged".
    let copy = t.write(
        "copies/commentary-copy-2026-03-23.txt",
        std::fs::read(&paths[0]).unwrap(),
    );
    let report = t.app.ingest_paths(&[copy], None).unwrap();
    let lines = report.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("dup "), "{lines:?}");
    assert!(
        lines[0].contains("same text as") && lines[0].contains("commentary-1-2026-03-23.txt"),
        "{lines:?}"
    );
    assert_eq!(
        t.store().items_for_date(day("2026-03-23")).unwrap().len(),
        3
    );

    // An article with the same link in another file takes the item over, and says so.
    let article = |summary: &str| {
        format!(
            "---\ntitle: 铜价创新高\ndate: 2026-03-23\nsource_url: https://news.example.com/copper\nsummary: {summary}\n---\n正文\n"
        )
    };
    let a = t.write("a/copper.md", article("第一版"));
    let b = t.write("b/copper.md", article("第二版"));
    t.app.ingest_paths(&[a], None).unwrap();
    let report = t.app.ingest_paths(&[b], None).unwrap();
    let lines = report.lines();
    assert!(
        lines[0].contains("replaces what") && lines[0].contains("a/copper.md"),
        "{lines:?}"
    );
}

#[test]
fn a_folder_ingest_prints_one_truthful_line_per_file() {
    let t = spawn_core();
    let dir = t.dir.path().join("mixed");
    t.write("mixed/2024-8-31-post.md", "---\ntitle: 月末\n---\n正文\n");
    t.write(
        "mixed/brief-2026-03-24.md",
        brief_doc("晨报", "2026-03-24", &[("市场", &["一", "二"])]),
    );
    t.write("mixed/copy-of-post.md", "---\ntitle: 月末\n---\n正文\n");
    t.write("mixed/broken.md", "---\ntitle: x\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ecobrief"))
        .args(["--db"])
        .arg(t.dir.path().join("cli.db"))
        .arg("ingest")
        .arg(&dir)
        .env("ECOBRIEF_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "one line per file, then the totals: {stdout}"
    );
    assert_eq!(lines[4], "4 files, 3 items, 1 failed", "{stdout}");
    assert!(
        lines[0].contains(
            "2024-8-31-post.md (1 items, article of 2024-08-31 by date in the file name)"
        ),
        "{stdout}"
    );
    assert!(
        lines[1]
            .contains("brief-2026-03-24.md (2 items, brief of 2026-03-24 by front matter date)"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("error") && lines[2].contains("broken.md"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("dup ")
            && lines[3].contains("copy-of-post.md: same text as")
            && lines[3].contains("2024-8-31-post.md"),
        "{stdout}"
    );
}

#[test]
fn a_feed_description_repeating_the_title_is_shown_once() {
    let t = spawn_core();
    let feed = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>公众号桥</title>\
        <item><title>黄金价格再创新高</title><link>https://mp.example.com/s/1</link>\
        <description>黄金价格再创新高</description><pubDate>Mon, 23 Mar 2026 08:00:00 +0800</pubDate></item>\
        <item><title>央行开展逆回购</title><link>https://mp.example.com/s/2</link>\
        <description>央行开展逆回购：操作规模1000亿元</description><pubDate>Mon, 23 Mar 2026 09:00:00 +0800</pubDate></item>\
        </channel></rss>";
    let parsed = ecobrief::sources::feed::parse_feed(
        feed.as_bytes(),
        "https://bridge.example.com/feed",
        "bridge",
        chrono_tz::Tz::Asia__Shanghai,
        common::at("2026-03-23T02:00:00Z"),
    )
    .unwrap();
    let summaries: Vec<&str> = parsed
        .documents
        .iter()
        .map(|d| d.items[0].summary.as_str())
        .collect();
    assert_eq!(summaries, ["", "操作规模1000亿元"]);
    t.app.store_documents(&parsed.documents, "bridge").unwrap();
    let gold = t.app.topic_reply("黄金", 5, 0).unwrap();
    let text = gold.message.text;
    assert_eq!(text.matches("黄金价格再创新高").count(), 1, "{text}");
    // Positive control: a summary that says more than the title is shown.
    let china = t.app.topic_reply("央行", 5, 0).unwrap().message.text;
    assert_eq!(china.matches("央行开展逆回购").count(), 1, "{china}");
    assert!(china.contains("操作规模1000亿元"), "{china}");
}
