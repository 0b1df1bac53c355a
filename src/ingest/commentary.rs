//! Plain commentary: no front matter, no title. The first sentence, shortened, is the title.

use crate::ingest::article::heading_text;
use crate::ingest::table::TableBuilder;
use crate::ingest::text::{normalize_space, shorten};
use crate::model::Table;

/// Longest title taken from a first sentence; longer ones are cut at a clause mark.
pub const TITLE_MAX_CHARS: usize = 32;
/// Longest excerpt shown under the title.
pub const SUMMARY_MAX_CHARS: usize = 140;

const SENTENCE_END: &[char] = &['。', '！', '？', '!', '?', '；', ';'];

/// What a plain commentary gives.
#[derive(Debug, Default)]
pub struct Commentary {
    pub title: String,
    pub summary: String,
    pub body: String,
    pub tables: Vec<Table>,
}

/// Reads a plain-text (or heading-led markdown) commentary. A leading heading of any level
/// is the title; otherwise the first sentence, shortened, is. When the first paragraph is
/// nothing but that sentence, the summary and body start after it, so the reader does not
/// get the same sentence twice.
pub fn parse(text: &str) -> Commentary {
    let mut tables = Vec::new();
    let mut table = TableBuilder::default();
    let mut paragraphs: Vec<String> = Vec::new();
    for line in text.lines() {
        if table.push_line(line) {
            continue;
        }
        tables.extend(table.finish());
        let line = normalize_space(line);
        if !line.is_empty() {
            paragraphs.push(line);
        }
    }
    tables.extend(table.finish());
    let first = paragraphs.first().cloned().unwrap_or_default();
    let first_heading = heading_text(&first).map(|(_, text)| text);
    let (sentence, whole_paragraph) = match &first_heading {
        Some(h) => (h.clone(), true),
        None => match first.find(SENTENCE_END) {
            Some(i) => {
                let end = i + first[i..].chars().next().map_or(0, char::len_utf8);
                (first[..i].to_string(), first[end..].trim().is_empty())
            }
            None => (first.clone(), true),
        },
    };
    let title = shorten(
        sentence.trim_matches(|c: char| c == '"' || c == '“' || c == '”'),
        TITLE_MAX_CHARS,
    );
    // The first paragraph is the title (a heading, or a lone sentence shown whole as the
    // title): the text proper starts after it.
    let skip = usize::from(whole_paragraph && !title.ends_with('…') && paragraphs.len() > 1);
    let body_paragraphs = &paragraphs[skip.min(paragraphs.len())..];
    let summary = body_paragraphs
        .first()
        .map(|p| shorten(p, SUMMARY_MAX_CHARS))
        .unwrap_or_default();
    Commentary {
        title,
        summary,
        body: body_paragraphs.join("\n"),
        tables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_becomes_a_short_title() {
        let Commentary {
            title,
            summary,
            body,
            ..
        } = parse(
            "美元指数连续三周走弱,人民币汇率随之走强,市场开始重新评估全年的汇率路径。后文\n第二段",
        );
        assert!(title.chars().count() <= TITLE_MAX_CHARS, "{title}");
        assert!(title.starts_with("美元指数连续三周走弱"));
        assert!(summary.starts_with("美元指数"));
        assert!(body.ends_with("第二段"));
    }

    #[test]
    fn a_title_sentence_paragraph_is_not_shown_twice() {
        let c = parse(
            "美联储按兵不动。\n\n会后声明删去了“进一步加息”的措辞，市场解读为转向信号。\n第三段",
        );
        assert_eq!(c.title, "美联储按兵不动");
        assert!(c.summary.starts_with("会后声明"), "{}", c.summary);
        assert!(!c.body.contains("美联储按兵不动"), "{}", c.body);
        for heading in [
            "## 周评：铜价新高",
            "###### 周评：铜价新高",
            "# 周评：铜价新高",
        ] {
            let c = parse(&format!("{heading}\n\n铜价本周创出新高。"));
            assert_eq!(c.title, "周评：铜价新高", "{heading}");
            assert_eq!(c.summary, "铜价本周创出新高。");
        }
        // A long first sentence is shortened as the title, so its paragraph stays.
        let c = parse(
            "美元指数连续三周走弱，人民币汇率随之走强，市场开始重新评估全年的汇率路径。\n第二段",
        );
        assert!(c.summary.starts_with("美元指数"));
    }
}
