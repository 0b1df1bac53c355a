//! Hostile input: documents and feed texts of 2 MiB made to make a scanner that looks ahead
//! from every `<` or `&` quadratic. Each must ingest, with its text kept as the parser
//! keeps it on normal input. These are correctness tests; the time they take is measured
//! by `cargo bench --bench adversarial`.

mod common;
#[path = "support/hostile_inputs.rs"]
mod inputs;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::spawn_core;
use ecobrief::ingest::html::html_to_text;
use ecobrief::ingest::parse_bytes;
use ecobrief::model::{ItemKind, ParsedDocument};
use ecobrief::sources::feed::parse_feed;
use inputs::{
    BRACKET_DEPTH, ESCAPE_UNIT, LONG_LINE_UNIT, PAYLOAD_BYTES, article, brief_html,
    brief_key_point, nested_brackets, nested_tags, options, repeat, rss,
};

/// One shape of hostile text and what each parser makes of it.
struct Shape {
    name: &'static str,
    payload: String,
    /// The text of a markdown line holding the payload (article body, brief key point).
    markdown: String,
    /// The payload as HTML turned into text (feed entries).
    html: String,
}

/// A payload every parser keeps as it is written (apart from trailing whitespace).
fn literal(name: &'static str, unit: &str) -> Shape {
    let payload = repeat(unit);
    let kept = payload.trim_end().to_string();
    Shape {
        name,
        payload,
        markdown: kept.clone(),
        html: kept,
    }
}

fn shape(name: &'static str) -> Shape {
    match name {
        "lt" => literal(name, "<"),
        "lt1" => literal(name, "<1"),
        "lt_a" => literal(name, "<a "),
        "comment" => literal(name, "<!--"),
        "amp" => literal(name, "&"),
        "nested_brackets" => Shape {
            name,
            payload: nested_brackets(),
            // Only the innermost `<b[]>` closes before another `<` opens: it is a tag.
            markdown: format!(
                "{}{}",
                "<b[".repeat(BRACKET_DEPTH - 1),
                "]>".repeat(BRACKET_DEPTH - 1)
            ),
            // The first tag runs from the first `<b` to the first `>`.
            html: "]>".repeat(BRACKET_DEPTH - 1),
        },
        "nested_tags" => Shape {
            name,
            payload: nested_tags(),
            markdown: "深".to_string(),
            html: "深".to_string(),
        },
        "long_line" => {
            let long = repeat(LONG_LINE_UNIT);
            let untagged = long.replace("<b>", "").replace("</b>", "");
            Shape {
                name,
                // Markdown keeps a link's text and drops inline tags; it decodes no
                // references.
                markdown: untagged.replace("[新浪](https://a.b/c)", "新浪"),
                html: untagged.replace("&amp;", "&"),
                payload: long,
            }
        }
        "escapes" => {
            let kept = repeat(ESCAPE_UNIT)
                .replace("\u{1b}[1;32m", "")
                .replace("\u{1b}[0m", "");
            Shape {
                name,
                payload: repeat(ESCAPE_UNIT),
                markdown: kept.clone(),
                html: kept,
            }
        }
        _ => panic!("no shape {name}"),
    }
}

const TZ: Tz = Tz::Asia__Shanghai;

fn parse(name: &str, text: &str) -> ParsedDocument {
    assert!(
        text.len() <= 2 * 1024 * 1024,
        "{name}: {} bytes",
        text.len()
    );
    parse_bytes(name, text.as_bytes(), None, &options()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The payload as an article body, and as a raw HTML line of a brief (dropped, with the
/// brief's items around it kept).
fn check_documents(shape: &Shape) {
    let name = shape.name;
    let doc = parse(&format!("{name}-article.md"), &article(&shape.payload));
    assert_eq!(doc.items.len(), 1, "{name}");
    assert_eq!(doc.items[0].kind, ItemKind::Article, "{name}");
    assert_eq!(doc.items[0].body, shape.markdown, "{name}: article body");

    let doc = parse(&format!("{name}-html.md"), &brief_html(&shape.payload));
    let titles: Vec<_> = doc.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        ["第一条", "第二条"],
        "{name}: the HTML line is dropped"
    );
    assert_eq!(doc.items[0].key_points, ["正常"], "{name}");
    assert_eq!(doc.items[1].key_points, ["尾"], "{name}");
    assert_eq!(doc.meta.sections, ["宏观"], "{name}");
}

/// The payload as a key point of a brief item.
fn check_key_point(shape: &Shape) {
    let name = shape.name;
    let doc = parse(
        &format!("{name}-brief.md"),
        &brief_key_point(&shape.payload),
    );
    let points: Vec<_> = doc.items.iter().map(|i| i.key_points.clone()).collect();
    assert_eq!(points.len(), 2, "{name}: brief items");
    assert_eq!(
        points[0],
        std::slice::from_ref(&shape.markdown),
        "{name}: key point"
    );
    assert_eq!(points[1], ["尾"], "{name}");
}

/// The payload as plain text: commentary, kept as written.
fn check_commentary(shape: &Shape) {
    let name = shape.name;
    let doc = parse(&format!("{name}.txt"), &shape.payload);
    assert_eq!(doc.items[0].kind, ItemKind::Commentary, "{name}");
    assert_eq!(doc.items[0].body, shape.payload.trim_end(), "{name}");
    assert!(!doc.items[0].title.is_empty(), "{name}");
}

/// The payload as the HTML description of a feed entry.
fn check_feed(shape: &Shape) {
    let name = shape.name;
    let now = Utc.with_ymd_and_hms(2026, 3, 12, 0, 0, 0).unwrap();
    let feed = parse_feed(
        rss(&shape.payload).as_bytes(),
        "https://example.com/feed.xml",
        "对抗源",
        TZ,
        now,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(feed.documents.len(), 1, "{name}: {:?}", feed.notes);
    let item = &feed.documents[0].items[0];
    assert_eq!(item.title, "条目", "{name}");
    assert_eq!(item.body, shape.html, "{name}: feed entry body");
}

fn check(name: &'static str) {
    let shape = shape(name);
    check_documents(&shape);
    check_feed(&shape);
}

#[test]
fn a_body_of_lt_ingests() {
    check("lt");
}

#[test]
fn a_body_of_lt_digit_ingests() {
    check("lt1");
}

#[test]
fn a_body_of_unclosed_tags_ingests() {
    check("lt_a");
}

#[test]
fn a_body_of_unclosed_comments_ingests() {
    check("comment");
}

#[test]
fn a_body_of_ampersands_ingests() {
    check("amp");
}

#[test]
fn deeply_nested_brackets_ingest() {
    check("nested_brackets");
}

#[test]
fn deeply_nested_tags_ingest() {
    check("nested_tags");
}

#[test]
fn one_line_of_two_mebibytes_ingests() {
    let shape = shape("long_line");
    check_documents(&shape);
    check_key_point(&shape);
    check_feed(&shape);
    assert_eq!(html_to_text(&shape.payload), shape.html);
}

#[test]
fn a_body_of_colour_codes_ingests() {
    let shape = shape("escapes");
    check(shape.name);
    check_key_point(&shape);
}

/// A table line of 2 MiB: one row of many cells, read in one pass.
#[test]
fn a_table_line_of_two_mebibytes_ingests() {
    let doc = parse("table.md", &article(&repeat("|重")));
    let tables = &doc.items[0].tables;
    assert_eq!(tables.len(), 1);
    assert!(tables[0].header.is_empty());
    assert_eq!(tables[0].rows[0].len(), PAYLOAD_BYTES / "|重".len());
    let doc = parse("pipes.md", &article(&repeat("|")));
    assert!(
        doc.items[0].tables.is_empty(),
        "a table with no text is no table"
    );
}

#[test]
fn hostile_key_points_and_plain_text_ingest() {
    for name in ["lt", "amp"] {
        let shape = shape(name);
        check_key_point(&shape);
        check_commentary(&shape);
    }
}

/// Through the whole pipeline (read from disk, parse, save), within the size limit: each
/// file is one stored article, none fails.
#[test]
fn hostile_files_ingest_from_disk() {
    let t = spawn_core();
    let paths: Vec<_> = ["lt_a", "comment"]
        .into_iter()
        .map(shape)
        .map(|s| t.write(&format!("{}.md", s.name), article(&s.payload)))
        .collect();
    let report = t.app.ingest_paths(&paths, None).unwrap();
    assert_eq!(report.failed(), 0, "{}", report.lines().join("\n"));
    assert_eq!(report.items(), paths.len());
}

/// A brief of many sections: each is listed once, in order.
#[test]
fn a_brief_of_many_sections_lists_each_once() {
    let sections = 150_000;
    let mut text = brief_key_point("正常");
    for i in 0..sections {
        text.push_str(&format!("## s{i}\n"));
    }
    text.push_str("## s0\n");
    let doc = parse("sections.md", &text);
    assert_eq!(doc.meta.sections.len(), sections + 1);
    assert_eq!(doc.meta.sections[1], "s0");
    assert_eq!(doc.meta.sections[sections], format!("s{}", sections - 1));
    assert_eq!(doc.items.len(), 2);
}
