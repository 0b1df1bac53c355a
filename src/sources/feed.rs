//! Feed entries (RSS 2.0 and 1.0, Atom 1.0 and 0.3, JSON Feed, read by feed-rs) → article
//! documents.
//!
//! Each entry becomes one document holding one article item. The item key is the stable
//! key of its link (else its guid/id), so the same entry fetched again, or reached through
//! another feed or a markdown article with the same link, is one item.
//!
//! Before feed-rs sees a body it is made what feed-rs can read, as a feed reader would
//! read it: decoded to UTF-8 in the charset its mark, declaration or HTTP header names
//! ([`super::charset`]), and repaired where it is not well-formed XML or in an older shape
//! ([`super::feed_repair`]). Dates are read by our own reader ([`super::feed_dates`]).
//! Every repair is said in one note line of the feed.

use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use feed_rs::model::{Content, Entry, Feed, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};

use super::charset::decode_feed;
use super::feed_dates::parse_feed_date;
use super::feed_repair::repair_xml;
use crate::ingest::text::{is_tag_in, normalize_space, raw_tag_name, shorten};
use crate::ingest::{article::clean_summary, content_hash, item_key};
use crate::model::{DocumentMeta, Item, ItemKind, ParsedDocument};

/// How long an entry's summary may be when shown in the brief (as for markdown articles).
const SUMMARY_CHARS: usize = 160;

/// How many unreadable date texts a note quotes.
const QUOTED_DATES: usize = 3;

/// The documents of one fetched feed, and notes on what was repaired or left out.
#[derive(Debug, Default)]
pub struct FeedDocuments {
    pub documents: Vec<ParsedDocument>,
    pub notes: Vec<String>,
}

/// Parses a feed body with no HTTP header to go by (see [`parse_served_feed`]).
pub fn parse_feed(
    bytes: &[u8],
    feed_url: &str,
    fallback_name: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<FeedDocuments, ParseFeedError> {
    parse_served_feed(bytes, None, feed_url, fallback_name, tz, now)
}

/// Parses a feed body served with `content_type` (whose `charset` is used when the body
/// names none). `feed_url` resolves relative links; `fallback_name` names the source of
/// items when the feed has no title; `now` is the day of undated entries; dates without
/// a zone are in `tz`.
pub fn parse_served_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    feed_url: &str,
    fallback_name: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<FeedDocuments, ParseFeedError> {
    let decoded = decode_feed(bytes, content_type);
    let mut notes = decoded.notes;
    let is_json = decoded.text.trim_start().starts_with('{');
    let (text, repairs) = if is_json {
        (decoded.text, None)
    } else {
        let (xml, repairs) = repair_xml(&decoded.text);
        notes.extend(repairs.notes());
        (xml, Some(repairs))
    };
    let dates = DateBook::default();
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        .timestamp_parser(dates.reader(tz))
        .build();
    // feed-rs has panicked on input it did not expect (UTF-16 before we decoded it): a
    // panic there is that feed's failure, said as such, not a lost poll.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(text.as_bytes())
    }))
    .unwrap_or_else(|_| {
        Err(ParseFeedError::IoError(std::io::Error::other(
            "the feed reader (feed-rs) failed on this input",
        )))
    });
    let feed = match parsed {
        Ok(feed) => feed,
        // `<rss version="2.0"></rss>`: what bridges answer when they have nothing. A feed
        // with no entries, not a broken one.
        Err(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot))
            if repairs
                .as_ref()
                .is_some_and(|r| r.root.as_deref() == Some("rss") && !r.has_channel) =>
        {
            notes.push("the RSS document has no channel: no entries".to_string());
            return Ok(FeedDocuments {
                documents: Vec::new(),
                notes,
            });
        }
        Err(e) => return Err(e),
    };
    let mut out = documents(&feed, fallback_name, tz, now, &dates);
    notes.append(&mut out.notes);
    out.notes = notes;
    Ok(out)
}

/// The date texts our reader could not read, so that an entry dated by the fetch time
/// can say why. feed-rs keeps only what the reader returns, so an unread text is returned
/// as a stand-in instant in the first seconds of chrono's calendar, whose offset from its
/// start is the text's place in this book: no feed dates anything then.
#[derive(Default, Clone)]
struct DateBook {
    unread: Arc<Mutex<Vec<String>>>,
}

/// Stand-ins are the first this many seconds of chrono's calendar.
const STAND_IN_SPAN: i64 = 1 << 40;

impl DateBook {
    /// The reader feed-rs calls for each date text.
    fn reader(&self, tz: Tz) -> impl Fn(&str) -> Option<DateTime<Utc>> + Send + Sync + 'static {
        let book = self.clone();
        move |text: &str| {
            parse_feed_date(text, tz).or_else(|| {
                let mut unread = book.unread.lock().unwrap_or_else(|e| e.into_inner());
                let place = i64::try_from(unread.len()).ok()?;
                // Quoted in a note: the first few dozen characters are enough.
                unread.push(text.trim().chars().take(60).collect());
                DateTime::<Utc>::MIN_UTC.checked_add_signed(chrono::Duration::seconds(place))
            })
        }
    }

    /// The text behind a stand-in instant, or `None` for a real date.
    fn unread_text(&self, at: DateTime<Utc>) -> Option<String> {
        let place = (at - DateTime::<Utc>::MIN_UTC).num_seconds();
        if !(0..STAND_IN_SPAN).contains(&place) {
            return None;
        }
        let unread = self.unread.lock().unwrap_or_else(|e| e.into_inner());
        unread.get(usize::try_from(place).ok()?).cloned()
    }
}

/// How an entry got its day.
enum Dated {
    /// From its own date.
    Own,
    /// It has none: the fetch day.
    Undated,
    /// Its date text could not be read (this text): the fetch day.
    Unread(String),
}

fn documents(
    feed: &Feed,
    fallback_name: &str,
    tz: Tz,
    now: DateTime<Utc>,
    dates: &DateBook,
) -> FeedDocuments {
    let source_name = feed
        .title
        .as_ref()
        .map(text_of)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| fallback_name.to_string());
    let mut out = FeedDocuments::default();
    let mut undated = 0;
    let mut unread = Vec::new();
    let mut binary_contents = 0;
    for (index, entry) in feed.entries.iter().enumerate() {
        let (published, dated) = entry_date(entry, dates);
        let content = entry.content.as_ref().map(content_text);
        if matches!(content, Some(ContentText::Binary)) {
            binary_contents += 1;
        }
        let content = match content {
            Some(ContentText::Html(html)) => html_to_text(&html),
            _ => String::new(),
        };
        match entry_document(entry, &source_name, tz, now, published, content) {
            Some(doc) => {
                match dated {
                    Dated::Own => {}
                    Dated::Undated => undated += 1,
                    Dated::Unread(text) => unread.push(text),
                }
                out.documents.push(doc);
            }
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
    let fetch_day = now.with_timezone(&tz).date_naive();
    let entries = |count: usize| match count {
        1 => "1 entry has".to_string(),
        n => format!("{n} entries have"),
    };
    if undated > 0 {
        out.notes.push(format!(
            "{} no date: dated by the fetch time ({fetch_day})",
            entries(undated)
        ));
    }
    if !unread.is_empty() {
        let quoted: Vec<String> = unread
            .iter()
            .take(QUOTED_DATES)
            .map(|t| format!("{t:?}"))
            .collect();
        out.notes.push(format!(
            "{} a date that could not be read ({}{}): dated by the fetch time ({fetch_day})",
            entries(unread.len()),
            quoted.join(", "),
            if unread.len() > QUOTED_DATES {
                ", …"
            } else {
                ""
            }
        ));
    }
    if binary_contents > 0 {
        out.notes.push(format!(
            "{} binary content (an image, a file): left out, the summary is used",
            entries(binary_contents)
        ));
    }
    out
}

/// The entry's own date (published, else updated), and how it was found.
fn entry_date(entry: &Entry, dates: &DateBook) -> (Option<DateTime<Utc>>, Dated) {
    let candidates = [entry.published, entry.updated];
    if let Some(own) = candidates
        .iter()
        .flatten()
        .find(|t| dates.unread_text(**t).is_none())
    {
        return (Some(*own), Dated::Own);
    }
    match candidates
        .iter()
        .flatten()
        .find_map(|t| dates.unread_text(*t))
    {
        Some(text) => (None, Dated::Unread(text)),
        None => (None, Dated::Undated),
    }
}

/// An entry's content as HTML to read, or what it is when it is not text.
enum ContentText {
    Html(String),
    Binary,
    Empty,
}

/// Atom content of a media type that is neither text nor XML is base64 (RFC 4287
/// 4.1.3.3); feed-rs hands it on as it is written. Decoded, it is read as HTML when it is
/// UTF-8 text, and left out when it is binary (an image).
fn content_text(content: &Content) -> ContentText {
    let Some(body) = content.body.as_deref() else {
        return ContentText::Empty;
    };
    let media = content.content_type.to_string().to_ascii_lowercase();
    let essence = media.split(';').next().unwrap_or_default().trim();
    let is_text = essence.starts_with("text/")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence == "application/xhtml";
    if is_text {
        return ContentText::Html(body.to_string());
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| !text.chars().any(|c| c.is_control() && !c.is_whitespace()));
    match decoded {
        Some(text) => ContentText::Html(text),
        None => ContentText::Binary,
    }
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
    published: Option<DateTime<Utc>>,
    content_text: String,
) -> Option<ParsedDocument> {
    let link = entry_link(entry);
    let summary_text = entry.summary.as_ref().map(text_of).unwrap_or_default();
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
