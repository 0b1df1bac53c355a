//! Ingest: documents in three shapes → [`ParsedDocument`]s.
//!
//! Every file either parses completely or fails with one [`IngestError`] that names the
//! file and the reason; no input panics. Text the parser cannot place is reported as a
//! warning with its line number rather than dropped.

pub mod article;
pub mod brief;
pub mod clean;
pub mod commentary;
pub mod frontmatter;
pub mod html;
pub mod impact;
pub mod table;
pub mod text;

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::model::{DatedBy, DocumentMeta, Item, ItemKind, ParsedDocument};
use crate::settings::Settings;
use frontmatter::{
    DocDate, FrontMatter, FrontMatterError, date_in_file_name, date_in_title, parse_doc_date,
    split_front_matter,
};
use text::{normalize_space, normalize_title};

/// Why one file could not be ingested. Displayed as `path: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct IngestError {
    pub path: String,
    pub kind: IngestErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestErrorKind {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is {size} bytes, larger than the {limit}-byte limit (ingest.max_file_bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("file is empty")]
    Empty,
    #[error("binary file (NUL byte at offset {offset}); expected a UTF-8 text document")]
    Binary { offset: usize },
    #[error("not UTF-8 (invalid byte at line {line}); save the file as UTF-8")]
    NotUtf8 { line: usize },
    #[error("{0}")]
    FrontMatter(FrontMatterError),
    #[error(
        "line {line}: date {value:?} is not a date; write it as YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or RFC 3339"
    )]
    BadDate { line: usize, value: String },
    #[error("no document shape found: the file has no text")]
    NoText,
}

/// What the parsers need to know beyond the text.
#[derive(Debug, Clone)]
pub struct DocContext {
    pub tz: Tz,
    /// The document's day (from front matter, `--date`, the file name or its mtime).
    pub day: NaiveDate,
    pub quick_section: String,
    pub commentary_section: String,
    pub source_path: String,
}

/// Options for one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub tz: Tz,
    pub max_file_bytes: u64,
    /// `--date`: the day of documents that carry no date of their own.
    pub date_override: Option<NaiveDate>,
    pub quick_section: String,
    pub commentary_section: String,
    pub extensions: Vec<String>,
}

impl IngestOptions {
    pub fn from_settings(config: &Settings, date_override: Option<NaiveDate>) -> Self {
        IngestOptions {
            tz: config.tz,
            max_file_bytes: config.ingest.max_file_bytes,
            date_override,
            quick_section: config.brief.quick_section.clone(),
            commentary_section: config.brief.commentary_section.clone(),
            extensions: config.ingest.extensions.clone(),
        }
    }
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stable key of an item: SHA-256 of its source URL, else of its normalised title and day.
/// A key either hashes the item's day or is a link's (whose document is keyed by it): the
/// store looks a moved item up near its day only (`store::SAME_ITEM_DAYS`).
pub fn item_key(source_url: Option<&str>, title: &str, day: NaiveDate) -> String {
    match source_url {
        Some(url) if !url.trim().is_empty() => sha256_hex(&[url.trim()]),
        _ => sha256_hex(&[&normalize_title(title), &day.to_string()]),
    }
}

/// Hash of a file's content, so unchanged files can be recognised.
pub fn content_hash(text: &str) -> String {
    sha256_hex(&[text])
}

/// Reads and parses one file. `mtime` is used for the day of undated commentary.
pub fn read_document(path: &Path, options: &IngestOptions) -> Result<ParsedDocument, IngestError> {
    let display = path.display().to_string();
    let fail = |kind: IngestErrorKind| IngestError {
        path: display.clone(),
        kind,
    };
    let metadata = std::fs::metadata(path).map_err(|e| fail(e.into()))?;
    let bytes = read_limited(path, options.max_file_bytes).map_err(fail)?;
    let mtime = metadata.modified().ok().map(DateTime::<Utc>::from);
    parse_bytes(&display, &bytes, mtime, options).map_err(fail)
}

/// Reads at most `limit` bytes: a larger file is refused before it is read whole, even
/// one that grows while it is read.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, IngestErrorKind> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(IngestErrorKind::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(IngestErrorKind::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Parses a document held in memory (used by `read_document` and by callers that receive
/// documents from elsewhere). `name` is used for messages and for a date in the file name.
pub fn parse_bytes(
    name: &str,
    bytes: &[u8],
    mtime: Option<DateTime<Utc>>,
    options: &IngestOptions,
) -> Result<ParsedDocument, IngestErrorKind> {
    if bytes.is_empty() {
        return Err(IngestErrorKind::Empty);
    }
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(IngestErrorKind::Binary { offset });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| IngestErrorKind::NotUtf8 {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if text.trim().is_empty() {
        return Err(IngestErrorKind::Empty);
    }
    // Colour codes and control characters mean nothing in a message.
    let text = match clean::strip_controls(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(cleaned) => std::borrow::Cow::Owned(cleaned),
    };
    let file_name = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (front, body, body_line) =
        split_front_matter(&text).map_err(IngestErrorKind::FrontMatter)?;
    let front_date = match &front {
        Some(fm) if fm.has("date") => {
            // A list or a mapping under `date` is as unreadable as a bad string.
            let value = fm
                .text("date")
                .unwrap_or_else(|| "(not a single value)".to_string());
            Some(
                parse_doc_date(&value, options.tz).ok_or_else(|| IngestErrorKind::BadDate {
                    line: fm.line_of("date"),
                    value: value.clone(),
                })?,
            )
        }
        _ => None,
    };
    let title_line = front
        .as_ref()
        .and_then(|fm| fm.text("title"))
        .or_else(|| {
            body.lines()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (date, dated_by) = date_of(front_date, &title_line, &file_name, mtime, options);
    let ctx = DocContext {
        tz: options.tz,
        day: date.day,
        quick_section: options.quick_section.clone(),
        commentary_section: options.commentary_section.clone(),
        source_path: name.to_string(),
    };
    let hash = content_hash(&text);
    // A brief by its shape, or because its front matter says so.
    let declared_brief = front
        .as_ref()
        .and_then(|fm| fm.text("type"))
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("brief"));
    let mut doc = if declared_brief || brief::looks_like_brief(body) {
        parse_brief(front.as_ref(), body, body_line, &ctx)
    } else {
        // Documents saved from web pages may hold HTML paragraphs rather than markdown.
        let body = if html::is_html_body(body) {
            std::borrow::Cow::Owned(html::html_to_text(body))
        } else {
            std::borrow::Cow::Borrowed(body)
        };
        match &front {
            Some(fm) => parse_article(fm, &body, date.instant, &ctx)?,
            None => parse_commentary(&body, date.instant, &ctx)?,
        }
    };
    doc.meta.content_hash = hash;
    doc.dated_by = dated_by;
    if dated_by.is_fallback() {
        doc.warnings.push(format!(
            "no date in front matter, title or file name: dated {} by {}; add a `date:` line to the front matter or a date to the file name",
            date.day,
            dated_by.describe()
        ));
    }
    make_keys_unique(&mut doc.items);
    Ok(doc)
}

/// The document's day and, when known, its instant, by the first rule that gives one:
/// front matter `date`, a date opening or closing the title line, `--date`, a date in the
/// file name, the file's modification time, and last the time of ingest.
fn date_of(
    front_date: Option<DocDate>,
    title_line: &str,
    file_name: &str,
    mtime: Option<DateTime<Utc>>,
    options: &IngestOptions,
) -> (DocDate, DatedBy) {
    let day_only = |day: NaiveDate| DocDate { day, instant: None };
    if let Some(date) = front_date {
        return (date, DatedBy::FrontMatter);
    }
    if let Some(day) = date_in_title(title_line, options.tz) {
        return (day_only(day), DatedBy::Title);
    }
    if let Some(day) = options.date_override {
        return (day_only(day), DatedBy::DateOption);
    }
    if let Some(date) = date_in_file_name(file_name, options.tz) {
        return (date, DatedBy::FileName);
    }
    match mtime {
        Some(t) => (
            day_only(t.with_timezone(&options.tz).date_naive()),
            DatedBy::ModifiedTime,
        ),
        None => (
            day_only(Utc::now().with_timezone(&options.tz).date_naive()),
            DatedBy::IngestTime,
        ),
    }
}

/// Two items of one document with the same title would share a key and one would
/// overwrite the other; the later ones get a key derived from their position instead.
fn make_keys_unique(items: &mut [Item]) {
    let mut seen = std::collections::HashSet::new();
    for item in items {
        if !seen.insert(item.key.clone()) {
            item.key = sha256_hex(&[&item.key, &item.position.to_string()]);
            seen.insert(item.key.clone());
        }
    }
}

fn summary_lines(fm: &FrontMatter) -> Vec<String> {
    let raw = fm.list("summary");
    raw.iter()
        .flat_map(|s| s.lines())
        .map(|l| text::bullet_content(l).unwrap_or(l.trim()))
        .map(normalize_space)
        .filter(|l| !l.is_empty())
        .collect()
}

fn cover_image(fm: &FrontMatter) -> Option<String> {
    ["coverImage", "cover_image", "cover", "image", "thumbnail"]
        .iter()
        .find_map(|k| fm.text(k))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
}

fn parse_brief(
    front: Option<&FrontMatter>,
    body: &str,
    body_line: usize,
    ctx: &DocContext,
) -> ParsedDocument {
    let parsed = brief::parse_body(body, body_line, ctx);
    let title = front
        .and_then(|fm| fm.text("title"))
        .or(parsed.h1)
        .unwrap_or_default();
    // Front-matter tags of a brief describe the whole day (经济日报, 宏观经济), not each
    // item, so they are not copied onto items: they would tag every item with every topic.
    let items = parsed.items;
    ParsedDocument {
        meta: DocumentMeta {
            // Day and title: the same brief from another path replaces it, while a second,
            // different brief-shaped document of the day cannot wipe it out.
            key: sha256_hex(&["brief", &ctx.day.to_string(), &normalize_title(&title)]),
            kind: ItemKind::Brief,
            brief_date: ctx.day,
            title,
            summary: front.map(summary_lines).unwrap_or_default(),
            cover_image: front.and_then(cover_image),
            sections: parsed.sections,
            source_path: ctx.source_path.clone(),
            content_hash: String::new(),
        },
        items,
        warnings: parsed.warnings,
        dated_by: DatedBy::default(),
        origin: crate::model::Origin::Folder,
    }
}

/// How long an article's summary may be when shown in the brief.
const ARTICLE_SUMMARY_CHARS: usize = 160;

fn parse_article(
    fm: &FrontMatter,
    body: &str,
    instant: Option<DateTime<Utc>>,
    ctx: &DocContext,
) -> Result<ParsedDocument, IngestErrorKind> {
    let parsed = article::parse_body(body);
    let source_url = parsed
        .source_url
        .clone()
        .or_else(|| {
            ["source_url", "link", "url", "source"]
                .iter()
                .find_map(|k| fm.text(k))
        })
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let named = fm
        .text("title")
        .map(|t| normalize_space(&t))
        .or(parsed.heading.clone());
    let title_is_named = named.is_some();
    let title = named
        .or_else(|| {
            parsed
                .paragraphs
                .first()
                .map(|p| text::shorten(p, commentary::TITLE_MAX_CHARS))
        })
        .ok_or(IngestErrorKind::NoText)?;
    let summary = match fm.text("summary").or_else(|| fm.text("description")) {
        Some(s) => article::clean_summary(&s, ARTICLE_SUMMARY_CHARS),
        None => parsed
            .paragraphs
            .first()
            .map(|p| text::shorten(p, ARTICLE_SUMMARY_CHARS))
            .unwrap_or_default(),
    };
    let categories = fm.list("categories");
    let tags = fm.list("tags");
    let body = parsed.paragraphs.join("\n");
    // A title made from the first sentence says little about identity: two notes opening
    // alike are two documents, told apart by their text.
    let key = match (&source_url, title_is_named) {
        (None, false) => text_key(&body, ctx.day),
        _ => item_key(source_url.as_deref(), &title, ctx.day),
    };
    let item = Item {
        published_at: instant,
        impacts: parsed.impacts,
        advice: parsed.advice,
        summary: clean::summary_without_title(&title, &summary),
        body,
        tables: parsed.tables,
        source_name: parsed.source_name,
        source_url,
        categories,
        tags,
        ..Item::new(ItemKind::Article, key.clone(), ctx.day, title.clone())
    };
    Ok(ParsedDocument {
        meta: DocumentMeta {
            // Made from the item's key, as feeds and pushes make it: a link's item is in
            // this one document whatever its day (`store::SAME_ITEM_DAYS` relies on it).
            key: sha256_hex(&["article", &key]),
            kind: ItemKind::Article,
            brief_date: ctx.day,
            title,
            summary: Vec::new(),
            cover_image: cover_image(fm),
            sections: Vec::new(),
            source_path: ctx.source_path.clone(),
            content_hash: String::new(),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: DatedBy::default(),
        origin: crate::model::Origin::Folder,
    })
}

/// The key of an item known by its text rather than a URL or a title of its own: two
/// commentaries opening with the same sentence on one day are still two.
fn text_key(text: &str, day: NaiveDate) -> String {
    sha256_hex(&["text", &normalize_title(text), &day.to_string()])
}

fn parse_commentary(
    body: &str,
    instant: Option<DateTime<Utc>>,
    ctx: &DocContext,
) -> Result<ParsedDocument, IngestErrorKind> {
    let commentary::Commentary {
        title,
        summary,
        body,
        tables,
    } = commentary::parse(body);
    if title.is_empty() {
        return Err(IngestErrorKind::NoText);
    }
    let key = text_key(&format!("{title}\n{body}"), ctx.day);
    let item = Item {
        section: ctx.commentary_section.clone(),
        published_at: instant,
        summary: clean::summary_without_title(&title, &summary),
        body,
        tables,
        ..Item::new(ItemKind::Commentary, key.clone(), ctx.day, title.clone())
    };
    Ok(ParsedDocument {
        meta: DocumentMeta {
            key: sha256_hex(&["commentary", &key]),
            kind: ItemKind::Commentary,
            brief_date: ctx.day,
            title,
            summary: Vec::new(),
            cover_image: None,
            sections: Vec::new(),
            source_path: ctx.source_path.clone(),
            content_hash: String::new(),
        },
        items: vec![item],
        warnings: Vec::new(),
        dated_by: DatedBy::default(),
        origin: crate::model::Origin::Folder,
    })
}

/// Expands files and folders into the document files to read, sorted for a stable order.
/// Folders are walked recursively; only files with a configured extension are taken from
/// them, while a file named directly is always taken.
pub fn collect_files(
    paths: &[PathBuf],
    extensions: &[String],
) -> Result<Vec<PathBuf>, IngestError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| IngestError {
            path: path.display().to_string(),
            kind: e.into(),
        })?;
        if meta.is_dir() {
            walk(path, extensions, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, extensions: &[String], out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io_err = |e: std::io::Error| IngestError {
        path: dir.display().to_string(),
        kind: e.into(),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, extensions, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
        {
            out.push(path);
        }
    }
    Ok(())
}
