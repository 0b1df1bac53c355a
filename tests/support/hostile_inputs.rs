//! Hostile inputs shared by `tests/hostile.rs` (is each kept correctly?) and
//! `benches/adversarial.rs` (how long does each take?): 2 MiB payloads made to make a
//! scanner that looks ahead from every `<` or `&` quadratic, and the documents around them.
//! Everything is generated here; nothing is copied from public files.
#![allow(dead_code)]

use ecobrief::config::Config;
use ecobrief::ingest::IngestOptions;
use ecobrief::settings::Settings;

/// Room left for the front matter and the brief around a payload, so that every document
/// stays within `ingest.max_file_bytes` (2 MiB).
pub const PAYLOAD_BYTES: usize = 2 * 1024 * 1024 - 4096;

/// A payload: `unit` repeated to fill [`PAYLOAD_BYTES`], on one line.
pub fn repeat(unit: &str) -> String {
    unit.repeat(PAYLOAD_BYTES / unit.len())
}

/// How deep [`nested_brackets`] goes.
pub const BRACKET_DEPTH: usize = PAYLOAD_BYTES / 5;

/// `<b[` opened many times, then closed: `<b[<b[…]>]>`.
pub fn nested_brackets() -> String {
    format!(
        "{}{}",
        "<b[".repeat(BRACKET_DEPTH),
        "]>".repeat(BRACKET_DEPTH)
    )
}

/// `<b>` opened many times around one character, then closed.
pub fn nested_tags() -> String {
    let depth = PAYLOAD_BYTES / 8;
    format!("{}深{}", "<b>".repeat(depth), "</b>".repeat(depth))
}

/// Ordinary text with a tag, a reference and a link, with no line break for 2 MiB.
pub const LONG_LINE_UNIT: &str = "央行<b>降准</b>0.5个百分点&amp;回购[新浪](https://a.b/c)，";

/// A terminal colour code around each character, as text pasted from a terminal has.
pub const ESCAPE_UNIT: &str = "\u{1b}[1;32m涨\u{1b}[0m";

/// Every shape: a name and its payload.
pub fn payloads() -> Vec<(&'static str, String)> {
    vec![
        ("lt", repeat("<")),
        ("lt1", repeat("<1")),
        ("lt_a", repeat("<a ")),
        ("comment", repeat("<!--")),
        ("amp", repeat("&")),
        ("nested_brackets", nested_brackets()),
        ("nested_tags", nested_tags()),
        ("long_line", repeat(LONG_LINE_UNIT)),
        ("escapes", repeat(ESCAPE_UNIT)),
    ]
}

/// The payload as an article's body.
pub fn article(payload: &str) -> String {
    format!("---\ntitle: 对抗文章\ndate: 2026-03-12\n---\n\n{payload}\n")
}

pub const BRIEF_HEAD: &str = "---\ntitle: 对抗简报\ndate: 2026-03-12\n---\n\n## 宏观\n\n";
pub const BRIEF_TAIL: &str = "### 第二条\n- **时间：** 09:00\n- **核心要点：** 尾\n";

/// A brief whose first item's key point is the payload.
pub fn brief_key_point(payload: &str) -> String {
    format!(
        "{BRIEF_HEAD}### 第一条\n- **时间：** 08:00\n- **核心要点：** {payload}\n\n{BRIEF_TAIL}"
    )
}

/// A brief with a raw HTML line (`<div>` and the payload) to drop before its items.
pub fn brief_html(payload: &str) -> String {
    format!(
        "{BRIEF_HEAD}<div>{payload}\n\n### 第一条\n- **时间：** 08:00\n- **核心要点：** 正常\n\n{BRIEF_TAIL}"
    )
}

/// An RSS feed of one entry whose description is the payload.
pub fn rss(payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>对抗源</title><link>https://example.com/</link><description>x</description>\
         <item><title>条目</title><link>https://example.com/a</link><guid>a1</guid>\
         <description><![CDATA[{payload}]]></description></item></channel></rss>"
    )
}

/// The default ingest options (the configured zone, the 2 MiB limit).
pub fn options() -> IngestOptions {
    IngestOptions::from_settings(
        &Settings::from_config(Config::default()).expect("default settings"),
        None,
    )
}
