//! HTML → plain text, for feed entries and for documents whose body is HTML.

use crate::ingest::text::{is_tag_in, normalize_space, raw_tag_name};

/// Whether a document body is HTML rather than markdown or plain text: its first line
/// opens a block element (`<p>`, `<div>`, `<h2>`…) or is a doctype. Inline tags (`<b>`)
/// in a markdown line do not count.
pub fn is_html_body(body: &str) -> bool {
    let Some(first) = body.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    let Some(after) = first.strip_prefix('<') else {
        return false;
    };
    // Compared as bytes: slicing the text at 8 may cut a character in two.
    if after
        .as_bytes()
        .get(..8)
        .is_some_and(|b| b.eq_ignore_ascii_case(b"!doctype"))
    {
        return true;
    }
    const OPENERS: &[&str] = &[
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "article",
        "section",
        "body",
        "html",
        "ul",
        "ol",
        "table",
        "blockquote",
        "header",
        "main",
    ];
    !after.starts_with('/') && is_tag_in(raw_tag_name(after), OPENERS)
}

/// Elements whose content is not text to show.
const SKIPPED_ELEMENTS: &[&str] = &["script", "style", "head", "template"];
/// Elements that start a new line of text.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "section",
    "article",
    "hr",
    "pre",
];

/// HTML → plain text: tags removed (block elements become line breaks), script and style
/// content dropped, character references decoded, whitespace folded per line. A `<` that
/// does not start a tag (`市盈率<10倍`) is kept.
pub fn html_to_text(html: &str) -> String {
    use crate::ingest::text::decode_entities;
    // Feeds carry terminal colour codes and stray controls as often as files do.
    let html = &*crate::ingest::clean::strip_controls(html);
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    // `html[text_from..]` is text not yet decoded into `out`: a `<` that starts no tag
    // stays in it. (No character reference holds a `<`, so decoding the text around such
    // a `<` in one piece is the same as decoding each side.)
    let mut text_from = 0;
    for lt in crate::ingest::text::ascii_positions(html, b'<') {
        if lt < text_from {
            continue;
        }
        let starts_tag = bytes
            .get(lt + 1)
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?'));
        // Checked before looking for a `>`: searching to the end from every `<` that
        // starts no tag (`<<<<`, `<1<1`) would be quadratic.
        if !starts_tag {
            continue;
        }
        let after = &html[lt + 1..];
        let Some(gt) = after.find('>') else {
            // No `>` anywhere after: no later `<` can close a tag either, so the rest is
            // text. (Rescanning from each `<` would be quadratic on hostile input.)
            break;
        };
        if lt > text_from {
            out.push_str(&decode_entities(&html[text_from..lt]));
        }
        let tag = &after[..gt];
        let mut rest = &after[gt + 1..];
        if let Some(comment) = tag.strip_prefix("!--") {
            // `<!-- a > b -->`: the comment ends at `-->`, not at the first `>`.
            if !comment.ends_with("--") {
                rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            }
        } else {
            let name = raw_tag_name(tag);
            if is_tag_in(name, SKIPPED_ELEMENTS) && !tag.starts_with('/') {
                let close = format!("</{}", name.to_ascii_lowercase());
                rest = find_ascii_ci(rest, &close)
                    .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                    .unwrap_or("");
            } else if is_tag_in(name, BLOCK_ELEMENTS) {
                out.push('\n');
            }
        }
        text_from = html.len() - rest.len();
    }
    out.push_str(&decode_entities(&html[text_from..]));
    out.lines()
        .map(normalize_space)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `html_to_text` as it was before every `<` was checked before looking for a `>`.
    fn quadratic_html_to_text(html: &str) -> String {
        let mut out = String::with_capacity(html.len());
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            out.push_str(&crate::ingest::text::decode_entities(&rest[..lt]));
            let after = &rest[lt + 1..];
            let starts_tag = after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
            let Some(gt) = after.find('>').filter(|_| starts_tag) else {
                if starts_tag {
                    out.push('<');
                    out.push_str(&crate::ingest::text::decode_entities(after));
                    rest = "";
                    break;
                }
                out.push('<');
                rest = after;
                continue;
            };
            let tag = &after[..gt];
            rest = &after[gt + 1..];
            if let Some(comment) = tag.strip_prefix("!--") {
                if !comment.ends_with("--") {
                    rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
                }
                continue;
            }
            let name = crate::ingest::text::tag_name(tag);
            if SKIPPED_ELEMENTS.contains(&name.as_str()) && !tag.starts_with('/') {
                let close = format!("</{name}");
                rest = find_ascii_ci(rest, &close)
                    .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                    .unwrap_or("");
                continue;
            }
            if BLOCK_ELEMENTS.contains(&name.as_str()) {
                out.push('\n');
            }
        }
        out.push_str(&crate::ingest::text::decode_entities(rest));
        out.lines()
            .map(normalize_space)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn linear_html_to_text_gives_what_the_quadratic_one_gave() {
        let tokens = [
            "<", ">", "/", "p", "P", "1", "!--", "--", "script", "SCRIPT", "&amp;", "&", " ", "\n",
            "重",
        ];
        for s in crate::ingest::text::token_strings(&tokens, 4, 20_000, 40) {
            assert_eq!(html_to_text(&s), quadratic_html_to_text(&s), "{s:?}");
        }
    }

    #[test]
    fn html_becomes_plain_text() {
        let html = "<p>央行&nbsp;<b>降准</b>0.5个百分点</p><script>var x = '<p>';</script><p>市盈率<10倍 &amp; 回购&#x2F;增持</p><!-- a > b -->尾";
        assert_eq!(
            html_to_text(html),
            "央行 降准0.5个百分点\n市盈率<10倍 & 回购/增持\n尾"
        );
        assert_eq!(html_to_text("A &unknown; B"), "A &unknown; B");
    }

    #[test]
    fn html_bodies_are_told_from_markdown_whatever_follows_the_lt() {
        assert!(is_html_body("\n<p>央行</p>"));
        assert!(is_html_body("<!DOCTYPE html><html>"));
        assert!(
            !is_html_body("<b>；🇺🇸"),
            "a character cut at byte 8 is no panic"
        );
        assert!(!is_html_body("<b>重要</b>：降准"));
        assert!(!is_html_body("</p>"));
        assert!(!is_html_body("正文"));
    }
}
