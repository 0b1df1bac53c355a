//! The structured daily brief: `##` sections, `###` items with 时间 / 核心要点 /
//! 深度解读 & 洞察 / 影响 fields, a closing list of one-line items, and HTML to drop.
//!
//! The parser is a line state machine that never fails on the body: a key point that lost
//! its indentation still lands in the field it follows, and text it cannot place becomes a
//! warning with its line number.

use crate::ingest::frontmatter::{ItemTime, parse_item_time};
use crate::ingest::impact::{ImpactLine, parse_impact_line};
use crate::ingest::table::{TableBuilder, row_text, table_cells};
use crate::ingest::text::{
    ascii_positions, bullet_content, is_tag_in, raw_tag_name, split_colon, strip_emphasis,
    strip_markdown_inline,
};
use crate::ingest::{DocContext, item_key};
use crate::model::{Item, ItemKind, Table};

/// A table's delimiter row (`|---|:--:|`), which carries no data.
fn is_delimiter_text(line: &str) -> bool {
    line.bytes()
        .all(|b| matches!(b, b'|' | b'-' | b':' | b' ' | b'\t'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Time,
    KeyPoints,
    Insights,
    Impacts,
}

/// Recognises a field label line (`- **时间：** 08:00`, `**影响:**`) and returns the field
/// and the text after the colon.
pub fn field_label(line: &str) -> Option<(Field, String)> {
    let content = bullet_content(line).unwrap_or(line.trim());
    let clean = strip_emphasis(content);
    let (head, value) = split_colon(&clean)?;
    let head: String = head.chars().filter(|c| !c.is_whitespace()).collect();
    if head.chars().count() > 12 {
        return None;
    }
    let field = match head.as_str() {
        "时间" | "发布时间" | "时间点" => Field::Time,
        "核心要点" | "要点" | "核心内容" | "内容要点" => Field::KeyPoints,
        "影响" | "市场影响" | "影响分析" => Field::Impacts,
        "深度解读&洞察"
        | "深度解读与洞察"
        | "深度解读和洞察"
        | "深度解读"
        | "解读"
        | "洞察"
        | "深度分析" => Field::Insights,
        _ => return None,
    };
    Some((field, value.trim().to_string()))
}

/// Title of an item whose `###` heading is empty.
pub const UNTITLED: &str = "（无标题）";

/// The URL of the first markdown link in `text`, if it is a web address.
fn first_link(text: &str) -> Option<String> {
    let start = text.find("](")? + 2;
    let end = start + text[start..].find(')')?;
    let url = text[start..end].trim();
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_string())
}

/// Does the body have the brief's shape: at least two `###` items, each carrying at least
/// two of the fields 时间 / 核心要点 / 深度解读 / 影响? One heading and a `时间：` line (a
/// school notice, an article with a timetable) is not enough: such a document would take
/// over the day's header.
pub fn looks_like_brief(body: &str) -> bool {
    const NEEDED_ITEMS: usize = 2;
    const NEEDED_FIELDS: usize = 2;
    let mut items = 0;
    // Fields seen in the current item, as a bit set over `Field`.
    let mut fields: Option<u8> = None;
    let mut close = |fields: Option<u8>| {
        if fields.is_some_and(|f| f.count_ones() as usize >= NEEDED_FIELDS) {
            items += 1;
        }
    };
    for line in body.lines() {
        if line.starts_with("### ") || line.trim_end() == "###" {
            close(fields.take());
            fields = Some(0);
        } else if line.starts_with("## ") || line.starts_with("# ") {
            close(fields.take());
        } else if let Some(seen) = fields.as_mut()
            && let Some((field, _)) = field_label(line)
        {
            // (A line outside an item counts for nothing: it is not read as a label.)
            *seen |= 1 << field as u8;
        }
    }
    close(fields);
    items >= NEEDED_ITEMS
}

struct ItemBuilder {
    title: String,
    section: String,
    time_text: Option<(String, usize)>,
    key_points: Vec<String>,
    insights: Vec<String>,
    impacts: Vec<crate::model::Impact>,
    advice: Vec<String>,
    tables: Vec<Table>,
    /// The table whose lines are being read.
    table: TableBuilder,
    field: Option<Field>,
}

impl ItemBuilder {
    fn new(title: String, section: String) -> Self {
        ItemBuilder {
            title,
            section,
            time_text: None,
            key_points: Vec::new(),
            insights: Vec::new(),
            impacts: Vec::new(),
            advice: Vec::new(),
            tables: Vec::new(),
            table: TableBuilder::default(),
            field: None,
        }
    }

    fn push(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        match self.field {
            Some(Field::Impacts) => match parse_impact_line(&text) {
                Some(ImpactLine::Impact(impact)) => self.impacts.push(impact),
                Some(ImpactLine::Advice(advice)) => self.advice.push(advice),
                // An 影响 bullet that names no target is still analysis worth keeping.
                None => self.insights.push(text),
            },
            Some(Field::Insights) => match parse_impact_line(&text) {
                Some(ImpactLine::Advice(advice)) => self.advice.push(advice),
                _ => self.insights.push(text),
            },
            Some(Field::KeyPoints | Field::Time) | None => self.key_points.push(text),
        }
    }
}

/// What a brief body parses into, before document-level facts are attached.
pub struct BriefBody {
    pub h1: Option<String>,
    pub sections: Vec<String>,
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
}

/// Counts how much HTML nesting a line opens (positive) or closes (negative).
fn html_depth_delta(line: &str) -> i32 {
    const VOID: &[&str] = &["img", "br", "hr", "meta", "link", "input", "source", "wbr"];
    let mut delta = 0;
    // Where the tag after a `<` ends: the first `>` at or after it, found once per `>`
    // rather than once per `<` (which is quadratic on a line of `<` without `>`). `None`
    // once no `>` is left; `Some(0)` until the first search.
    let mut next_gt = Some(0);
    for lt in ascii_positions(line, b'<') {
        let pos = lt + 1;
        let rest = &line[pos..];
        let closing = rest.starts_with('/');
        let name = raw_tag_name(rest);
        if name.is_empty() || is_tag_in(name, VOID) {
            continue;
        }
        if next_gt.is_some_and(|gt| gt < pos) {
            next_gt = rest.find('>').map(|gt| pos + gt);
        }
        let end = next_gt.unwrap_or(line.len());
        if line[pos..end].ends_with('/') {
            continue;
        }
        delta += if closing { -1 } else { 1 };
    }
    delta
}

/// Block-level tags that open raw HTML to drop (cards, tables, embeds). A line that opens
/// with an inline tag such as `<b>` is text and is kept.
const HTML_BLOCK_TAGS: &[&str] = &[
    "div",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "nav",
    "table",
    "figure",
    "p",
    "details",
    "summary",
    "center",
    "img",
    "iframe",
    "script",
    "style",
    "video",
    "audio",
    "picture",
    "form",
    "ul",
    "ol",
    "dl",
    "hr",
    "br",
    "blockquote",
    "pre",
    "html",
    "body",
];

fn starts_html_block(trimmed: &str) -> bool {
    let Some(rest) = trimmed.strip_prefix('<') else {
        return false;
    };
    is_tag_in(raw_tag_name(rest), HTML_BLOCK_TAGS)
}

fn heading(line: &str) -> Option<(usize, String)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((hashes, strip_emphasis(rest.trim().trim_end_matches('#'))))
}

/// Parses the markdown body of a brief dated `ctx.day`.
pub fn parse_body(body: &str, first_line: usize, ctx: &DocContext) -> BriefBody {
    let mut out = BriefBody {
        h1: None,
        sections: Vec::new(),
        items: Vec::new(),
        warnings: Vec::new(),
    };
    let mut section = String::new();
    // The names in `out.sections`, so that a document of many sections is not quadratic.
    let mut seen_sections = std::collections::HashSet::new();
    let mut current: Option<ItemBuilder> = None;
    // Inside raw HTML: its nesting depth. The block also ends at a blank line, as in
    // CommonMark, so an unclosed tag cannot swallow the rest of the document.
    let mut html_depth: i32 = 0;
    let mut in_comment = false;
    let mut position: u32 = 0;

    let finish = |mut builder: ItemBuilder, out: &mut BriefBody, position: &mut u32| {
        builder.tables.extend(builder.table.finish());
        let published_at = match &builder.time_text {
            Some((text, line)) => match parse_item_time(text, ctx.day, ctx.tz) {
                Some(ItemTime::At(t)) => Some(t),
                Some(ItemTime::DayOnly) => None,
                None => {
                    out.warnings.push(format!(
                            "line {line}: 时间 {text:?} is not a date or time; item {:?} kept without a time",
                            builder.title
                        ));
                    None
                }
            },
            None => None,
        };
        let key = item_key(None, &builder.title, ctx.day);
        out.items.push(Item {
            published_at,
            section: builder.section,
            position: *position,
            key_points: builder.key_points,
            insights: builder.insights,
            impacts: builder.impacts,
            advice: builder.advice,
            tables: builder.tables,
            ..Item::new(ItemKind::Brief, key, ctx.day, builder.title)
        });
        *position += 1;
    };

    for (index, line) in body.lines().enumerate() {
        let line_no = first_line + index;
        let trimmed = line.trim();
        if in_comment || trimmed.starts_with("<!--") {
            in_comment = !trimmed.contains("-->");
            continue;
        }
        if html_depth > 0 {
            html_depth = if trimmed.is_empty() {
                0
            } else {
                html_depth + html_depth_delta(trimmed)
            };
            continue;
        }
        // Fence markers go; what they enclose is read like any other line.
        if trimmed.is_empty() || trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            continue;
        }
        if starts_html_block(trimmed) {
            html_depth = html_depth_delta(trimmed).max(0);
            continue;
        }
        if trimmed.chars().all(|c| c == '-' || c == '*' || c == '_') && trimmed.len() >= 3 {
            continue;
        }
        if let Some((level, text)) = heading(trimmed) {
            if level == 1 {
                out.h1.get_or_insert(text);
                continue;
            }
            if let Some(builder) = current.take() {
                finish(builder, &mut out, &mut position);
            }
            if level == 2 {
                if seen_sections.insert(text.clone()) {
                    out.sections.push(text.clone());
                }
                section = text;
            } else {
                let item_section = if section.is_empty() {
                    ctx.quick_section.clone()
                } else {
                    section.clone()
                };
                let title = if text.is_empty() {
                    out.warnings.push(format!(
                        "line {line_no}: item heading has no title; shown as {UNTITLED:?}"
                    ));
                    UNTITLED.to_string()
                } else {
                    text
                };
                current = Some(ItemBuilder::new(title, item_section));
            }
            continue;
        }
        if let Some(builder) = current.as_mut() {
            if builder.table.push_line(trimmed) {
                continue;
            }
            builder.tables.extend(builder.table.finish());
            if let Some((field, value)) = field_label(trimmed) {
                builder.field = Some(field);
                if field == Field::Time {
                    if !value.is_empty() {
                        builder.time_text = Some((value, line_no));
                    }
                } else {
                    builder.push(strip_markdown_inline(&value));
                }
            } else {
                let text = bullet_content(trimmed).unwrap_or(trimmed);
                builder.push(strip_markdown_inline(text));
            }
            continue;
        }
        // Outside any `###` item: a bullet under a section is a one-line item, and so is
        // each row of a table there.
        if let Some(cells) = table_cells(trimmed) {
            let text = row_text(&cells);
            if section.is_empty() || text.is_empty() || is_delimiter_text(trimmed) {
                continue;
            }
            let key = item_key(None, &text, ctx.day);
            out.items.push(Item {
                section: section.clone(),
                position,
                ..Item::new(ItemKind::Quick, key, ctx.day, text)
            });
            position += 1;
            continue;
        }
        let raw = bullet_content(trimmed).unwrap_or(trimmed);
        let text = strip_markdown_inline(raw);
        if section.is_empty() {
            out.warnings.push(format!(
                "line {line_no}: text before the first section is not part of any item: {:?}",
                crate::ingest::text::shorten(&text, 30)
            ));
            continue;
        }
        if text.is_empty() {
            continue;
        }
        let key = item_key(None, &text, ctx.day);
        out.items.push(Item {
            section: section.clone(),
            position,
            source_url: first_link(raw),
            ..Item::new(ItemKind::Quick, key, ctx.day, text)
        });
        position += 1;
    }
    if let Some(builder) = current.take() {
        finish(builder, &mut out, &mut position);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::text::{tag_name, token_strings};

    /// `html_depth_delta` as it was before it was made linear.
    fn quadratic_html_depth_delta(line: &str) -> i32 {
        const VOID: &[&str] = &["img", "br", "hr", "meta", "link", "input", "source", "wbr"];
        let mut delta = 0;
        let mut rest = line;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let closing = rest.starts_with('/');
            let name = tag_name(rest);
            let end = rest.find('>').unwrap_or(rest.len());
            let self_closing = rest[..end].ends_with('/');
            if name.is_empty() || VOID.contains(&name.as_str()) || self_closing {
                continue;
            }
            delta += if closing { -1 } else { 1 };
        }
        delta
    }

    #[test]
    fn linear_depth_scan_gives_what_the_quadratic_one_gave() {
        let tokens = ["<", ">", "/", "div", "DIV", "br", "a", " ", "!--", "重"];
        for s in token_strings(&tokens, 5, 20_000, 40) {
            assert_eq!(
                html_depth_delta(&s),
                quadratic_html_depth_delta(&s),
                "{s:?}"
            );
        }
    }
}
