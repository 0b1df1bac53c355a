//! Feed entries (RSS 2.0, Atom, JSON Feed, read by feed-rs) → article documents.
//!
//! Each entry becomes one document holding one article item. The item key is the stable
//! key of its link (else its guid/id), so the same entry fetched again, or reached through
//! another feed or a markdown article with the same link, is one item.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use feed_rs::model::{Entry, Feed, Text};

use crate::ingest::html::html_to_text;
use crate::ingest::text::{normalize_space, shorten};
use crate::ingest::{article::clean_summary, content_hash, item_key};
use crate::model::{DatedBy, DocumentMeta, Item, ItemKind, ParsedDocument};

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
        dated_by: if published.is_some() {
            DatedBy::Entry
        } else {
            DatedBy::IngestTime
        },
    })
}

/// A feed text construct as plain text. Titles and summaries are often HTML (Atom
/// `type="html"`, RSS descriptions), and plain ones rarely hold anything tag-like, so
/// every text goes through the same tag stripping.
fn text_of(text: &Text) -> String {
    html_to_text(&text.content)
}
