//! Ingest: documents in three shapes → [`ParsedDocument`]s.
//!
//! Every file either parses completely or fails with one [`IngestError`] that names the
//! file and the reason; no input panics. Text the parser cannot place is reported as a
//! warning with its line number rather than dropped.

pub mod article;
pub mod brief;
pub mod commentary;
pub mod frontmatter;
pub mod impact;
pub mod text;

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

use crate::model::{DocumentMeta, Item, ItemKind, ParsedDocument};
use crate::settings::Settings;
use frontmatter::{
    FrontMatter, FrontMatterError, date_in_file_name, parse_doc_date, split_front_matter,
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
    let file_name = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Undated documents: --date, else a date in the file name, else the file's mtime.
    let fallback_day = options
        .date_override
        .or_else(|| date_in_file_name(&file_name))
        .or_else(|| mtime.map(|t| t.with_timezone(&options.tz).date_naive()))
        .unwrap_or_else(|| Utc::now().with_timezone(&options.tz).date_naive());

    let (front, body, body_line) =
        split_front_matter(&text).map_err(IngestErrorKind::FrontMatter)?;
    let mut ctx = DocContext {
        tz: options.tz,
        day: fallback_day,
        quick_section: options.quick_section.clone(),
        commentary_section: options.commentary_section.clone(),
        source_path: name.to_string(),
    };
    let mut instant = None;
    if let Some(fm) = &front
        && fm.has("date")
    {
        // A list or a mapping under `date` is as unreadable as a bad string.
        let value = fm
            .text("date")
            .unwrap_or_else(|| "(not a single value)".to_string());
        let date = parse_doc_date(&value, options.tz).ok_or_else(|| IngestErrorKind::BadDate {
            line: fm.line_of("date"),
            value: value.clone(),
        })?;
        ctx.day = date.day;
        instant = date.instant;
    }
    let hash = content_hash(&text);
    // A brief by its shape, or because its front matter says so.
    let declared_brief = front
        .as_ref()
        .and_then(|fm| fm.text("type"))
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("brief"));
    let mut doc = if declared_brief || brief::looks_like_brief(body) {
        parse_brief(front.as_ref(), body, body_line, &ctx)
    } else if let Some(fm) = &front {
        parse_article(fm, body, instant, &ctx)?
    } else {
        parse_commentary(body, &ctx)?
    };
    doc.meta.content_hash = hash;
    make_keys_unique(&mut doc.items);
    Ok(doc)
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
    let title = fm
        .text("title")
        .map(|t| normalize_space(&t))
        .or(parsed.heading.clone())
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
    let key = item_key(source_url.as_deref(), &title, ctx.day);
    let item = Item {
        published_at: instant,
        impacts: parsed.impacts,
        advice: parsed.advice,
        summary,
        body: parsed.paragraphs.join("\n"),
        source_name: parsed.source_name,
        source_url,
        categories,
        tags,
        ..Item::new(ItemKind::Article, key.clone(), ctx.day, title.clone())
    };
    Ok(ParsedDocument {
        meta: DocumentMeta {
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
    })
}

fn parse_commentary(body: &str, ctx: &DocContext) -> Result<ParsedDocument, IngestErrorKind> {
    let (title, summary, body) = commentary::parse(body);
    if title.is_empty() {
        return Err(IngestErrorKind::NoText);
    }
    let key = item_key(None, &title, ctx.day);
    let item = Item {
        section: ctx.commentary_section.clone(),
        summary,
        body,
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
