//! News articles: Hugo-style front matter and a markdown body that ends with a source link.

use crate::ingest::brief::{Field, field_label};
use crate::ingest::impact::{ImpactLine, parse_impact_line};
use crate::ingest::table::TableBuilder;
use crate::ingest::text::{bullet_content, normalize_space, shorten, strip_markdown_inline};

/// The parts of an article body the brief needs.
#[derive(Debug, Default)]
pub struct ArticleBody {
    pub heading: Option<String>,
    pub paragraphs: Vec<String>,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
    pub impacts: Vec<crate::model::Impact>,
    pub advice: Vec<String>,
    pub tables: Vec<crate::model::Table>,
}

/// A markdown heading (`#` to `######`, then a space): its level and text.
pub fn heading_text(line: &str) -> Option<(usize, String)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    let rest = line.get(hashes..)?;
    if !(1..=6).contains(&hashes) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((
        hashes,
        strip_markdown_inline(rest.trim().trim_end_matches('#').trim()),
    ))
}

/// `[name](https://…)` alone on a line.
fn source_link(line: &str) -> Option<(String, String)> {
    let inner = line.trim().strip_prefix('[')?.strip_suffix(')')?;
    let (name, url) = inner.split_once("](")?;
    let url = url.trim();
    let url = if let Some(rest) = url.strip_prefix("//") {
        format!("https://{rest}")
    } else {
        url.to_string()
    };
    (url.starts_with("http://") || url.starts_with("https://"))
        .then(|| (strip_markdown_inline(name), url))
}

pub fn parse_body(body: &str) -> ArticleBody {
    let mut out = ArticleBody::default();
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut end = lines.len();
    if let Some(last) = lines.last()
        && let Some((name, url)) = source_link(last)
    {
        out.source_name = Some(name).filter(|n| !n.is_empty());
        out.source_url = Some(url);
        end -= 1;
    }
    let mut in_impacts = false;
    let mut table = TableBuilder::default();
    for line in &lines[..end] {
        if table.push_line(line) {
            continue;
        }
        out.tables.extend(table.finish());
        if let Some((_, text)) = heading_text(line) {
            // The first heading, before any text, is the title (whatever its level).
            if out.heading.is_none() && out.paragraphs.is_empty() && out.tables.is_empty() {
                out.heading = Some(text).filter(|t| !t.is_empty());
            } else if !text.is_empty() {
                out.paragraphs.push(text);
            }
            continue;
        }
        if let Some((field, value)) = field_label(line) {
            in_impacts = field == Field::Impacts;
            if !in_impacts {
                // `时间：…` or `要点：…` in an article is just a sentence of the body.
                out.paragraphs
                    .push(normalize_space(&strip_markdown_inline(line)));
            } else if !value.is_empty() {
                match parse_impact_line(&value) {
                    Some(ImpactLine::Impact(i)) => out.impacts.push(i),
                    Some(ImpactLine::Advice(a)) => out.advice.push(a),
                    None => out
                        .paragraphs
                        .push(normalize_space(&strip_markdown_inline(line))),
                }
            }
            continue;
        }
        if in_impacts && let Some(content) = bullet_content(line) {
            match parse_impact_line(content) {
                Some(ImpactLine::Impact(i)) => out.impacts.push(i),
                Some(ImpactLine::Advice(a)) => out.advice.push(a),
                None => out.paragraphs.push(strip_markdown_inline(content)),
            }
            continue;
        }
        in_impacts = false;
        let text = normalize_space(&strip_markdown_inline(line));
        if !text.is_empty() {
            out.paragraphs.push(text);
        }
    }
    out.tables.extend(table.finish());
    out
}

/// A feed-style summary (`今日，俄罗斯股市开盘后…`) tidied: whitespace folded, the
/// trailing ellipsis that feeds add kept as one `…`.
pub fn clean_summary(summary: &str, max_chars: usize) -> String {
    let text = normalize_space(summary);
    let text = text
        .trim_end_matches("...")
        .trim_end_matches('…')
        .trim_end()
        .to_string();
    let cut = shorten(&text, max_chars);
    if cut != text || summary.trim_end().ends_with("...") || summary.trim_end().ends_with('…') {
        format!("{}…", cut.trim_end_matches('…'))
    } else {
        cut
    }
}
