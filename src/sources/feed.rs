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
use crate::ingest::html::html_to_text;
use crate::ingest::text::{normalize_space, shorten};
use crate::ingest::{article::clean_summary, content_hash, item_key};
use crate::model::{DatedBy, DocumentMeta, Item, ItemKind, ParsedDocument};

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
    // Bridges and WeChat feeds often repeat the title as the description.
    let summary = clean_summary(
        &crate::ingest::clean::summary_without_title(&title, summary_source),
        SUMMARY_CHARS,
    );
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
            // The key a markdown article with the same link gets, so the two are one
            // (`store::SAME_ITEM_DAYS` relies on it).
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
        dated_by: if published.is_some() {
            DatedBy::Entry
        } else {
            DatedBy::IngestTime
        },
        origin: crate::model::Origin::Feed,
    })
}

/// A feed text construct as plain text. Titles and summaries are often HTML (Atom
/// `type="html"`, RSS descriptions), and plain ones rarely hold anything tag-like, so
/// every text goes through the same tag stripping.
fn text_of(text: &Text) -> String {
    html_to_text(&text.content)
}
