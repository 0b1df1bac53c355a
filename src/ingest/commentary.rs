//! Plain commentary: no front matter, no title. The first sentence, shortened, is the title.

use crate::ingest::text::{normalize_space, shorten};

/// Longest title taken from a first sentence; longer ones are cut at a clause mark.
pub const TITLE_MAX_CHARS: usize = 32;
/// Longest excerpt shown under the title.
pub const SUMMARY_MAX_CHARS: usize = 140;

const SENTENCE_END: &[char] = &['。', '！', '？', '!', '?', '；', ';'];

/// Returns (title, summary, body) of a plain-text commentary.
pub fn parse(text: &str) -> (String, String, String) {
    let paragraphs: Vec<String> = text
        .lines()
        .map(normalize_space)
        .filter(|l| !l.is_empty())
        .collect();
    let first = paragraphs.first().cloned().unwrap_or_default();
    let first_heading = first.strip_prefix("# ").map(str::to_string);
    let sentence = match &first_heading {
        Some(h) => h.clone(),
        None => match first.find(SENTENCE_END) {
            Some(i) => first[..i].to_string(),
            None => first.clone(),
        },
    };
    let title = shorten(
        sentence.trim_matches(|c: char| c == '"' || c == '“' || c == '”'),
        TITLE_MAX_CHARS,
    );
    let body_paragraphs: Vec<&String> = paragraphs
        .iter()
        .skip(usize::from(first_heading.is_some()))
        .collect();
    let summary = body_paragraphs
        .first()
        .map(|p| shorten(p, SUMMARY_MAX_CHARS))
        .unwrap_or_default();
    let body = body_paragraphs
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    (title, summary, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_becomes_a_short_title() {
        let (title, summary, body) = parse(
            "美元指数连续三周走弱,人民币汇率随之走强,市场开始重新评估全年的汇率路径。后文\n第二段",
        );
        assert!(title.chars().count() <= TITLE_MAX_CHARS, "{title}");
        assert!(title.starts_with("美元指数连续三周走弱"));
        assert!(summary.starts_with("美元指数"));
        assert!(body.ends_with("第二段"));
    }
}
