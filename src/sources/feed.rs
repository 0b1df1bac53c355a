//! Feed entries (RSS 2.0, Atom, JSON Feed, read by feed-rs) → article documents.
//!
//! Each entry becomes one document holding one article item. The item key is the stable
//! key of its link (else its guid/id), so the same entry fetched again, or reached through
//! another feed or a markdown article with the same link, is one item.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use feed_rs::model::{Entry, Feed, Text};

use crate::ingest::text::{is_tag_in, normalize_space, raw_tag_name, shorten};
use crate::ingest::{article::clean_summary, content_hash, item_key};
use crate::model::{DocumentMeta, Item, ItemKind, ParsedDocument};

/// How long an entry's summary may be when shown in the brief (as for markdown articles).
const SUMMARY_CHARS: usize = 160;

/// The documents of one fetched feed, and notes on entries that were left out.
#[derive(Debug, Default)]
pub struct FeedDocuments {
    pub documents: Vec<ParsedDocument>,
    pub notes: Vec<String>,
}

/// Parses a feed body. `feed_url` resolves relative links; `fallback_name` names the
/// source of items when the feed has no title; `now` is the day of undated entries.
pub fn parse_feed(
    bytes: &[u8],
    feed_url: &str,
    fallback_name: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<FeedDocuments, feed_rs::parser::ParseFeedError> {
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        .build()
        .parse(bytes)?;
    Ok(documents(&feed, fallback_name, tz, now))
}

fn documents(feed: &Feed, fallback_name: &str, tz: Tz, now: DateTime<Utc>) -> FeedDocuments {
    let source_name = feed
        .title
        .as_ref()
        .map(text_of)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| fallback_name.to_string());
    let mut out = FeedDocuments::default();
    for (index, entry) in feed.entries.iter().enumerate() {
        match entry_document(entry, &source_name, tz, now) {
            Some(doc) => out.documents.push(doc),
            None => out.notes.push(format!(
                "entry {} ({}) left out: it has neither a title nor any text",
                index + 1,
                if entry.id.is_empty() {
                    "no id"
                } else {
                    &entry.id
                }
            )),
        }
    }
    out
}

/// The entry's web page: its alternate link, else its first link.
fn entry_link(entry: &Entry) -> Option<String> {
    entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| entry.links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|h| h.starts_with("http://") || h.starts_with("https://"))
}

fn entry_document(
    entry: &Entry,
    source_name: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<ParsedDocument> {
    let link = entry_link(entry);
    let summary_text = entry.summary.as_ref().map(text_of).unwrap_or_default();
    let content_text = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .map(html_to_text)
        .unwrap_or_default();
    let body = if content_text.is_empty() {
        summary_text.clone()
    } else {
        content_text
    };
    let summary_source = if summary_text.is_empty() {
        &body
    } else {
        &summary_text
    };
    let title = entry
        .title
        .as_ref()
        .map(|t| normalize_space(&text_of(t)))
        .filter(|t| !t.is_empty())
        .or_else(|| {
            let first = summary_source.lines().next().unwrap_or_default();
            (!first.trim().is_empty()).then(|| shorten(first.trim(), 40))
        })?;
    let published = entry.published.or(entry.updated);
    // An undated entry belongs to the day it was first seen; no time is made up for it.
    // The day is not part of the content hash, so fetching it again tomorrow does not
    // move it (its key comes from its link or id, never from the day).
    let day = published.unwrap_or(now).with_timezone(&tz).date_naive();
    let identity = link
        .clone()
        .or_else(|| (!entry.id.trim().is_empty()).then(|| entry.id.trim().to_string()));
    let key = item_key(identity.as_deref(), &title, day);
    let categories: Vec<String> = entry
        .categories
        .iter()
        .map(|c| c.term.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let summary = clean_summary(summary_source, SUMMARY_CHARS);
    let hash = content_hash(
        &[
            identity.as_deref().unwrap_or_default(),
            &title,
            &summary,
            &body,
            &published.map(|t| t.to_rfc3339()).unwrap_or_default(),
            &categories.join("\u{1e}"),
            source_name,
        ]
        .join("\u{1f}"),
    );
    let item = Item {
        published_at: published,
        summary,
        body,
        source_name: Some(source_name.to_string()),
        source_url: link,
        categories,
        ..Item::new(ItemKind::Article, key.clone(), day, title.clone())
    };
    Some(ParsedDocument {
        meta: DocumentMeta {
            // The key a markdown article with the same link gets, so the two are one.
            key: content_hash(&format!("article\u{1f}{key}")),
            kind: ItemKind::Article,
            brief_date: day,
            title,
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            // Unique per entry: saving a document removes other documents with its
            // source path, so entries of one feed must not share one.
            source_path: identity.unwrap_or_else(|| format!("feed-entry:{key}")),
            content_hash: hash,
        },
        items: vec![item],
        warnings: Vec::new(),
    })
}

/// A feed text construct as plain text. Titles and summaries are often HTML (Atom
/// `type="html"`, RSS descriptions), and plain ones rarely hold anything tag-like, so
/// every text goes through the same tag stripping.
fn text_of(text: &Text) -> String {
    html_to_text(&text.content)
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
}
