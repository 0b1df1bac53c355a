//! The data that flows through the pipeline: items parsed from documents, their impacts,
//! and the documents they came from.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Which of the three document shapes an item came from (quick items are the one-line
/// bullets of a brief's closing list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Brief,
    Quick,
    Article,
    Commentary,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Brief => "brief",
            ItemKind::Quick => "quick",
            ItemKind::Article => "article",
            ItemKind::Commentary => "commentary",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "brief" => Some(ItemKind::Brief),
            "quick" => Some(ItemKind::Quick),
            "article" => Some(ItemKind::Article),
            "commentary" => Some(ItemKind::Commentary),
            _ => None,
        }
    }
}

/// Market direction of an impact line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Bullish,
    Bearish,
    Neutral,
    /// The line names a target but its value carries no stance word.
    Unknown,
}

/// Which way a neutral (or mild) stance leans. Rates talk leans dovish or hawkish rather
/// than up or down, so those are kept as they are instead of being forced onto a price axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Leaning {
    Bullish,
    Bearish,
    Dovish,
    Hawkish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Horizon {
    Short,
    Medium,
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Intensity {
    Mild,
    Strong,
}

/// The normalised reading of a stance label such as `中性偏多` or `短期利空`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Stance {
    pub direction: Direction,
    pub leaning: Option<Leaning>,
    pub horizon: Option<Horizon>,
    pub intensity: Option<Intensity>,
}

impl Stance {
    pub const UNKNOWN: Stance = Stance {
        direction: Direction::Unknown,
        leaning: None,
        horizon: None,
        intensity: None,
    };
}

/// One `对X：Y。note` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    /// What the line is about, e.g. `股市`.
    pub target: String,
    pub stance: Stance,
    /// The stance words as written, e.g. `中性偏多`; empty when the stance is unknown.
    pub label: String,
    /// The rest of the line; for an unknown stance, the whole value.
    pub note: String,
}

/// A piece of news as the brief shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// SHA-256 (hex) of the source URL, else of the normalised title and the brief date.
    pub key: String,
    pub kind: ItemKind,
    /// The day whose brief the item belongs to, in the configured timezone.
    pub brief_date: NaiveDate,
    /// When the news happened, if the document says.
    pub published_at: Option<DateTime<Utc>>,
    /// Section heading the item sits under (`金融市场与宏观经济`, `更多动态`, `观点`…).
    pub section: String,
    /// Order inside its document, so a brief keeps its own order.
    pub position: u32,
    pub title: String,
    pub key_points: Vec<String>,
    pub insights: Vec<String>,
    pub impacts: Vec<Impact>,
    /// `投资启示` lines: advice, not impacts.
    pub advice: Vec<String>,
    pub summary: String,
    pub body: String,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    /// Markdown tables of the item, in document order.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// A markdown table: its header row and its body rows, each a list of cell texts. Rows
/// may have fewer or more cells than the header (documents are not always tidy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Item {
    /// An item with only its identity and title; the parsers fill in what their shape has.
    pub fn new(kind: ItemKind, key: String, brief_date: NaiveDate, title: String) -> Item {
        Item {
            key,
            kind,
            brief_date,
            published_at: None,
            section: String::new(),
            position: 0,
            title,
            key_points: Vec::new(),
            insights: Vec::new(),
            impacts: Vec::new(),
            advice: Vec::new(),
            summary: String::new(),
            body: String::new(),
            source_name: None,
            source_url: None,
            categories: Vec::new(),
            tags: Vec::new(),
            tables: Vec::new(),
        }
    }
}

/// Document-level facts a brief needs beyond its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// Stable identity of the document, so re-ingesting it replaces its items.
    pub key: String,
    pub kind: ItemKind,
    pub brief_date: NaiveDate,
    pub title: String,
    pub summary: Vec<String>,
    pub cover_image: Option<String>,
    /// Section headings in document order (for a structured brief).
    pub sections: Vec<String>,
    pub source_path: String,
    /// SHA-256 of the text, so an unchanged file is recognised.
    pub content_hash: String,
}

/// What ingesting one file produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedDocument {
    pub meta: DocumentMeta,
    pub items: Vec<Item>,
    /// Lines the parser could not place, with their line numbers: reported, never dropped silently.
    pub warnings: Vec<String>,
    /// Which rule gave the document its day.
    #[serde(default)]
    pub dated_by: DatedBy,
    /// Where the document came from, which decides how long it is kept.
    #[serde(default)]
    pub origin: Origin,
}

/// Where a document came from. Feed, url and pushed documents are pruned after
/// `store.keep_days`; folders' documents (the structured briefs) are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A file: a folder source, or `ecobrief ingest`.
    #[default]
    Folder,
    Feed,
    Url,
    /// The HTTP push API.
    Push,
}

impl Origin {
    pub const ALL: [Origin; 4] = [Origin::Folder, Origin::Feed, Origin::Url, Origin::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Folder => "folder",
            Origin::Feed => "feed",
            Origin::Url => "url",
            Origin::Push => "push",
        }
    }

    pub fn parse(text: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Whether documents of this origin are pruned after `store.keep_days`.
    pub fn is_pruned(self) -> bool {
        self != Origin::Folder
    }
}

/// Which rule gave a document its day, in the order they are tried (README, "How a date is
/// found"). The ingest line names it, and the last two are warned about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatedBy {
    /// `date:` in front matter.
    #[default]
    FrontMatter,
    /// A date opening or closing the title line (`# 2026年2月14日 早盘点评`).
    Title,
    /// A feed entry's own date.
    Entry,
    /// `--date` on the command line.
    DateOption,
    /// A date in the file name (`2024-8-31-slug.md`, `20260216_090008.md`).
    FileName,
    /// Nothing in the document: the file's modification time.
    ModifiedTime,
    /// Nothing in the document nor its name: when it was ingested or fetched.
    IngestTime,
}

impl DatedBy {
    /// How the ingest line names the rule.
    pub fn describe(self) -> &'static str {
        match self {
            DatedBy::FrontMatter => "front matter date",
            DatedBy::Title => "date in the title",
            DatedBy::Entry => "entry date",
            DatedBy::DateOption => "--date",
            DatedBy::FileName => "date in the file name",
            DatedBy::ModifiedTime => "the file's modification time",
            DatedBy::IngestTime => "the time it was ingested",
        }
    }

    /// Whether the day is a guess rather than something the document or its name says.
    pub fn is_fallback(self) -> bool {
        matches!(self, DatedBy::ModifiedTime | DatedBy::IngestTime)
    }
}
