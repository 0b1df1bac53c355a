//! Compose: chooses and groups the items of one day into a [`Brief`].
//!
//! The day's structured brief document, if any, is the backbone (its sections, its order);
//! articles and commentary of the same day join the section their category maps to, and
//! a title seen twice is shown once.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};

use crate::ingest::text::normalize_title;
use crate::model::{Direction, DocumentMeta, Item, ItemKind};
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub struct Brief {
    pub date: NaiveDate,
    pub title: String,
    pub summary: Vec<String>,
    /// Kept for the publisher (a photo before the text).
    pub cover_image: Option<String>,
    pub overview: ImpactOverview,
    pub sections: Vec<BriefSection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BriefSection {
    pub name: String,
    /// The closing list of one-line items.
    pub is_quick_list: bool,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImpactOverview {
    pub bullish: usize,
    pub bearish: usize,
    pub neutral: usize,
    pub unknown: usize,
    /// Most-mentioned impact targets, most first.
    pub top_targets: Vec<TargetCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetCount {
    pub target: String,
    pub count: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("no items for {0}; ingest documents dated that day first")]
    NoItems(NaiveDate),
}

impl Brief {
    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }
}

/// `2026年3月12日 星期四`
pub fn chinese_date(date: NaiveDate) -> String {
    let weekday = match date.weekday() {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    };
    format!(
        "{}年{}月{}日 {weekday}",
        date.year(),
        date.month(),
        date.day()
    )
}

/// Builds the brief of `date` from the day's backbone document (if any) and items
/// (each with the key of the document it came from).
pub fn compose(
    date: NaiveDate,
    backbone: Option<&DocumentMeta>,
    mut items: Vec<(String, Item)>,
    config: &Settings,
) -> Result<Brief, ComposeError> {
    let quick = config.brief.quick_section.as_str();
    let backbone_key = backbone.map(|d| d.key.as_str());
    // The backbone's items first, in their own order; then the items of other structured
    // (brief-shaped) documents, each document in its own order, documents by their first
    // time; then the rest by time, undated last.
    let mut first_time: HashMap<String, (bool, Option<chrono::DateTime<chrono::Utc>>)> =
        HashMap::new();
    for (doc, item) in &items {
        let time = (item.published_at.is_none(), item.published_at);
        first_time
            .entry(doc.clone())
            .and_modify(|t| *t = (*t).min(time))
            .or_insert(time);
    }
    let rank = |doc: &str, item: &Item| {
        if Some(doc) == backbone_key {
            0
        } else if matches!(item.kind, ItemKind::Brief | ItemKind::Quick) {
            1
        } else {
            2
        }
    };
    items.sort_by(|(a_doc, a), (b_doc, b)| {
        let (a_rank, b_rank) = (rank(a_doc, a), rank(b_doc, b));
        a_rank.cmp(&b_rank).then_with(|| match a_rank {
            0 => a.position.cmp(&b.position),
            1 => first_time
                .get(a_doc)
                .cmp(&first_time.get(b_doc))
                .then_with(|| a_doc.cmp(b_doc))
                .then_with(|| a.position.cmp(&b.position)),
            _ => (a.published_at.is_none(), a.published_at)
                .cmp(&(b.published_at.is_none(), b.published_at))
                .then_with(|| a.title.cmp(&b.title)),
        })
    });

    let mut order: Vec<String> = backbone
        .map(|d| {
            d.sections
                .iter()
                .filter(|s| s.as_str() != quick)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // The names in `order`, so that many sections are not quadratic.
    let mut ordered: std::collections::HashSet<String> = order.iter().cloned().collect();
    let mut by_section: HashMap<String, Vec<Item>> = HashMap::new();
    // Normalised title → the document that showed it first. The same news from a second
    // document is dropped; two items of one document are both kept. A commentary's title
    // is only its first sentence, so commentaries are told apart by their key (their text).
    let mut seen: HashMap<String, String> = HashMap::new();
    for (doc_key, item) in items {
        let title_key = match item.kind {
            ItemKind::Commentary => item.key.clone(),
            _ => normalize_title(&item.title),
        };
        if !title_key.is_empty() {
            match seen.get(&title_key) {
                Some(first_doc) if *first_doc != doc_key => continue,
                Some(_) => {}
                None => {
                    seen.insert(title_key, doc_key.clone());
                }
            }
        }
        let section = match item.kind {
            ItemKind::Article => config.section_for_categories(&item.categories),
            _ if item.section.is_empty() => quick.to_string(),
            _ => item.section.clone(),
        };
        if section != quick && ordered.insert(section.clone()) {
            order.push(section.clone());
        }
        by_section.entry(section).or_default().push(item);
    }
    order.push(quick.to_string());

    let sections: Vec<BriefSection> = order
        .into_iter()
        .filter_map(|name| {
            let items = by_section.remove(&name)?;
            Some(BriefSection {
                is_quick_list: name == quick,
                name,
                items,
            })
        })
        .collect();
    let brief = Brief {
        date,
        title: backbone
            .map(|d| d.title.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| config.brief.default_title.clone()),
        summary: backbone.map(|d| d.summary.clone()).unwrap_or_default(),
        cover_image: backbone.and_then(|d| d.cover_image.clone()),
        overview: ImpactOverview::default(),
        sections,
    };
    if brief.item_count() == 0 {
        return Err(ComposeError::NoItems(date));
    }
    let overview = overview(brief.items(), config.brief.overview_targets);
    Ok(Brief { overview, ..brief })
}

fn overview<'a>(items: impl Iterator<Item = &'a Item>, top: usize) -> ImpactOverview {
    let mut out = ImpactOverview::default();
    let mut targets: Vec<TargetCount> = Vec::new();
    for impact in items.flat_map(|i| i.impacts.iter()) {
        match impact.stance.direction {
            Direction::Bullish => out.bullish += 1,
            Direction::Bearish => out.bearish += 1,
            Direction::Neutral => out.neutral += 1,
            Direction::Unknown => out.unknown += 1,
        }
        match targets.iter_mut().find(|t| t.target == impact.target) {
            Some(t) => t.count += 1,
            None => targets.push(TargetCount {
                target: impact.target.clone(),
                count: 1,
            }),
        }
    }
    // Stable sort: equal counts keep the order the brief mentions them in.
    targets.sort_by_key(|t| std::cmp::Reverse(t.count));
    targets.truncate(top);
    out.top_targets = targets;
    out
}
