//! Render: minijinja templates → Telegram HTML → text + entities → messages.
//!
//! Templates live in `templates/` (override folder from config) with built-in copies
//! compiled in, so the binary works from any directory. Every value is HTML-escaped by
//! the template engine, then our own parser ([`text::parse_html`]) turns the markup into
//! entities, so a title containing `<script>` is shown literally.

pub mod rich;
pub mod split;
pub mod text;

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use serde::Serialize;

use crate::compose::{Brief, ImpactOverview, chinese_date};
use crate::config::{InsightsMode, RenderConfig};
use crate::message::{OutgoingMessage, RichMessage};
use crate::model::{Direction, Item};
use crate::topics::Topic;
use split::{Block, SplitLimits, number_parts, split_blocks};
use text::{FormattedText, check_template_tags, parse_html};

/// Every template ecobrief renders, with its built-in source.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("header.html", include_str!("../../templates/header.html")),
    ("section.html", include_str!("../../templates/section.html")),
    ("item.html", include_str!("../../templates/item.html")),
    ("cover.html", include_str!("../../templates/cover.html")),
    (
        "quick_items.html",
        include_str!("../../templates/quick_items.html"),
    ),
    ("footer.html", include_str!("../../templates/footer.html")),
    (
        "topic_reply.html",
        include_str!("../../templates/topic_reply.html"),
    ),
    ("help.html", include_str!("../../templates/help.html")),
    ("digest.html", include_str!("../../templates/digest.html")),
    ("topics.html", include_str!("../../templates/topics.html")),
    ("tags.html", include_str!("../../templates/tags.html")),
];

/// The rich edition's templates (rich HTML for `sendRichMessage`), beside the text ones.
pub const RICH_TEMPLATES: &[(&str, &str)] = &[
    (
        "rich_header.html",
        include_str!("../../templates/rich_header.html"),
    ),
    (
        "rich_section.html",
        include_str!("../../templates/rich_section.html"),
    ),
    (
        "rich_item.html",
        include_str!("../../templates/rich_item.html"),
    ),
    (
        "rich_quick_items.html",
        include_str!("../../templates/rich_quick_items.html"),
    ),
    (
        "rich_footer.html",
        include_str!("../../templates/rich_footer.html"),
    ),
];

/// Targets the rich overview table lists at most; the rest are counted (each is still in
/// its items' impact tags).
const RICH_OVERVIEW_ROWS: usize = 40;
/// The id of the cover photo in a rich message's media (1–64 of `A-Za-z0-9_-`).
pub const COVER_MEDIA_ID: &str = "cover";

/// One message of the rich edition, and the same content as text messages (unnumbered),
/// sent instead if the Bot API refuses the rich message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RichPart {
    pub message: RichMessage,
    pub fallback: Vec<OutgoingMessage>,
}

/// A target's row in the rich overview table.
#[derive(Debug, Serialize)]
struct TargetRow {
    target: String,
    bullish: usize,
    bearish: usize,
    neutral: usize,
    #[serde(skip)]
    total: usize,
}

/// A table as the rich edition shows it: cells, at most the API's column limit (cells
/// past it are joined into the last column, so no text is lost).
#[derive(Debug, Serialize)]
struct RichTableView {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn capped_cells(cells: &[String], max: usize) -> Vec<String> {
    if cells.len() <= max {
        return cells.to_vec();
    }
    let mut out = cells[..max - 1].to_vec();
    out.push(cells[max - 1..].join(" · "));
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    /// A piece of the rich edition exceeds the Bot API's limits on its own.
    #[error("rich message {part} exceeds the Bot API's limits: {reason}")]
    RichTooLarge { part: usize, reason: String },
    #[error("cannot read template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

fn template_error(name: &str, e: impl std::fmt::Display) -> RenderError {
    RenderError::Template {
        name: name.to_string(),
        message: e.to_string(),
    }
}

/// An impact as templates see it.
#[derive(Debug, Serialize)]
pub struct ImpactView {
    pub target: String,
    pub label: String,
    pub direction: &'static str,
    pub leaning: Option<String>,
    pub horizon: Option<String>,
    pub note: String,
}

/// An item as templates see it.
#[derive(Debug, Serialize)]
pub struct ItemView {
    pub kind: &'static str,
    pub title: String,
    /// `08:15`, or `3月11日 22:10` when the news is from another day than the brief.
    pub time: Option<String>,
    /// The same instant as a Unix time, for a `<tg-time>` entity (`render.local_times`).
    pub unix: Option<i64>,
    /// The entity's format: `t` (short time) on the brief's day, `dt` (short date and
    /// time) on another day, as the text shows the date then too.
    pub time_format: &'static str,
    /// Always with the date: `3月12日 08:15` (for topic replies).
    pub date_time: String,
    pub key_points: Vec<String>,
    pub insights: Vec<String>,
    /// Impacts with a stance, for the compact tag line.
    pub tags: Vec<ImpactView>,
    /// Impacts whose value carries no stance word: shown with their note.
    pub notes: Vec<ImpactView>,
    pub advice: Vec<String>,
    /// The summary without a repeat of the title at its front.
    pub summary: String,
    pub tables: Vec<TableView>,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
}

/// A table as the text renderer shows it: one line per row, cells joined by ` · `.
#[derive(Debug, Serialize)]
pub struct TableView {
    pub header: String,
    pub rows: Vec<String>,
}

fn enum_name<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

impl ItemView {
    pub fn new(item: &Item, tz: Tz) -> ItemView {
        let local = item
            .published_at
            .map(|t: DateTime<Utc>| t.with_timezone(&tz));
        let same_day = local.is_none_or(|t| t.date_naive() == item.brief_date);
        let time = local.map(|t| {
            if t.date_naive() == item.brief_date {
                t.format("%H:%M").to_string()
            } else {
                format!("{} {}", month_day(t.date_naive()), t.format("%H:%M"))
            }
        });
        let date_time = match local {
            Some(t) => format!("{} {}", month_day(t.date_naive()), t.format("%H:%M")),
            None => month_day(item.brief_date),
        };
        let (known, unknown): (Vec<_>, Vec<_>) = item
            .impacts
            .iter()
            .partition(|i| i.stance.direction != Direction::Unknown);
        let view = |i: &crate::model::Impact| ImpactView {
            target: i.target.clone(),
            label: i.label.clone(),
            direction: match i.stance.direction {
                Direction::Bullish => "bullish",
                Direction::Bearish => "bearish",
                Direction::Neutral => "neutral",
                Direction::Unknown => "unknown",
            },
            leaning: i.stance.leaning.as_ref().and_then(enum_name),
            horizon: i.stance.horizon.as_ref().and_then(enum_name),
            note: i.note.clone(),
        };
        ItemView {
            kind: item.kind.as_str(),
            title: item.title.clone(),
            time,
            unix: item.published_at.map(|t| t.timestamp()),
            time_format: if same_day { "t" } else { "dt" },
            date_time,
            key_points: item.key_points.clone(),
            insights: item.insights.clone(),
            tags: known.into_iter().map(view).collect(),
            notes: unknown.into_iter().map(view).collect(),
            advice: item.advice.clone(),
            summary: crate::ingest::clean::summary_without_title(&item.title, &item.summary),
            tables: item
                .tables
                .iter()
                .map(|t| TableView {
                    header: crate::ingest::table::row_text(&t.header),
                    rows: t
                        .rows
                        .iter()
                        .map(|r| crate::ingest::table::row_text(r))
                        .collect(),
                })
                .collect(),
            source_name: item.source_name.clone(),
            source_url: item.source_url.clone(),
        }
    }
}

/// sendPhoto's caption: "0-1024 characters after entities parsing" (Bot API, sendPhoto).
pub const CAPTION_MAX_CODE_POINTS: usize = 1024;

/// `text` within `max` code points: cut at the last grapheme boundary that leaves room for
/// `…`, entities clipped to what is kept.
fn cut_caption(text: FormattedText, max: usize) -> FormattedText {
    if text.char_count() <= max {
        return text;
    }
    use unicode_segmentation::UnicodeSegmentation;
    let mut end = 0;
    let mut kept = 0;
    for (at, grapheme) in text.text.grapheme_indices(true) {
        let n = grapheme.chars().count();
        if kept + n > max.saturating_sub(1) {
            break;
        }
        kept += n;
        end = at + grapheme.len();
    }
    let mut cut = text.slice(0, end);
    cut.text.push('…');
    cut
}

fn month_day(date: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}月{}日", date.month(), date.day())
}

/// The templates, ready to render.
pub struct Renderer {
    env: Environment<'static>,
    config: RenderConfig,
    tz: Tz,
}

fn insights_mode_name(mode: InsightsMode) -> &'static str {
    match mode {
        InsightsMode::Collapsed => "collapsed",
        InsightsMode::Expanded => "expanded",
        InsightsMode::Omitted => "omitted",
    }
}

impl Renderer {
    /// Loads templates from `config.templates_dir`, each falling back to its built-in copy
    /// when the file is absent. Tags Telegram does not support are refused here.
    pub fn load(config: &RenderConfig, tz: Tz) -> Result<Renderer, RenderError> {
        let mut sources = Vec::new();
        for (name, builtin) in TEMPLATES.iter().chain(RICH_TEMPLATES) {
            let path = config.templates_dir.join(name);
            let source = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => builtin.to_string(),
                Err(source) => {
                    return Err(RenderError::Read {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            sources.push((name.to_string(), source, path));
        }
        Renderer::from_sources(sources, config, tz)
    }

    /// The built-in templates only.
    pub fn builtin(config: &RenderConfig, tz: Tz) -> Result<Renderer, RenderError> {
        let sources = TEMPLATES
            .iter()
            .chain(RICH_TEMPLATES)
            .map(|(n, s)| (n.to_string(), s.to_string(), Path::new(n).to_path_buf()))
            .collect();
        Renderer::from_sources(sources, config, tz)
    }

    fn from_sources(
        sources: Vec<(String, String, std::path::PathBuf)>,
        config: &RenderConfig,
        tz: Tz,
    ) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source, path) in sources {
            if name.starts_with("rich_") {
                rich::check_rich_template_tags(&source)
            } else {
                check_template_tags(&source)
            }
            .map_err(|e| template_error(&path.display().to_string(), e))?;
            env.add_template_owned(name, source)
                .map_err(|e| template_error(&path.display().to_string(), e))?;
        }
        Ok(Renderer {
            env,
            config: config.clone(),
            tz,
        })
    }

    fn limits(&self) -> SplitLimits {
        SplitLimits {
            budget: self.config.message_budget,
            max_entities: self.config.max_entities,
        }
    }

    /// Renders one template to formatted text, trimmed.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<FormattedText, RenderError> {
        let html = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(name, e))?;
        let parsed = parse_html(html.trim())
            .map_err(|e| template_error(name, format!("rendered output {e}")))?;
        Ok(parsed.trimmed())
    }

    /// The brief as blocks: header, then per section a heading and its items (or the
    /// one-line list), then the footer.
    pub fn brief_blocks(&self, brief: &Brief, group: &str) -> Result<Vec<Block>, RenderError> {
        let insights = insights_mode_name(self.config.insights);
        let mut blocks = Vec::new();
        let block = |text, keep_with_next| Block {
            text,
            keep_with_next,
        };
        blocks.push(block(
            self.render(
                "header.html",
                context! {
                    title => &brief.title,
                    date => brief.date.to_string(),
                    date_label => chinese_date(brief.date),
                    summary => &brief.summary,
                    overview => &brief.overview,
                    item_count => brief.item_count(),
                },
            )?,
            false,
        ));
        for section in &brief.sections {
            let items: Vec<ItemView> = section
                .items
                .iter()
                .map(|i| ItemView::new(i, self.tz))
                .collect();
            if section.is_quick_list {
                blocks.push(block(
                    self.render(
                        "quick_items.html",
                        context! { name => &section.name, items => &items },
                    )?,
                    false,
                ));
                continue;
            }
            blocks.push(block(
                self.render(
                    "section.html",
                    context! { name => &section.name, count => items.len() },
                )?,
                true,
            ));
            for item in &items {
                blocks.push(block(
                    self.render(
                        "item.html",
                        context! {
                            item => item,
                            insights_mode => insights,
                            local_times => self.config.local_times,
                        },
                    )?,
                    false,
                ));
            }
        }
        blocks.push(block(
            self.render(
                "footer.html",
                context! { group => group, date => brief.date.to_string() },
            )?,
            false,
        ));
        Ok(blocks)
    }

    /// The brief as Telegram messages, numbered `(1/n)` when there is more than one.
    pub fn brief_messages(
        &self,
        brief: &Brief,
        group: &str,
    ) -> Result<Vec<OutgoingMessage>, RenderError> {
        let blocks = self.brief_blocks(brief, group)?;
        Ok(number_parts(split_blocks(&blocks, self.limits()))
            .iter()
            .map(FormattedText::to_message)
            .collect())
    }

    /// Renders one rich template and checks the result: the tags, their nesting and what
    /// it measures.
    fn render_rich(
        &self,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<(String, rich::RichStats), RenderError> {
        let html = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(name, e))?;
        let html = html.trim().to_string();
        let stats = rich::check_rich_html(&html)
            .map_err(|e| template_error(name, format!("rendered rich HTML: {}", e.message)))?;
        Ok((html, stats))
    }

    /// The brief's rich fragments, one for each of [`Renderer::brief_blocks`]'s blocks, in
    /// the same order: header (with the impact overview table), section headings, items,
    /// the quick list, the footer. `bool`: keep with the next fragment.
    fn rich_fragments(
        &self,
        brief: &Brief,
        group: &str,
    ) -> Result<Vec<(String, rich::RichStats, bool)>, RenderError> {
        let insights = insights_mode_name(self.config.insights);
        let max_columns = rich::RichLimits::TELEGRAM.max_columns;
        let mut rows: Vec<TargetRow> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for impact in brief.items().flat_map(|i| i.impacts.iter()) {
            if impact.stance.direction == Direction::Unknown {
                continue;
            }
            let at = *index.entry(impact.target.as_str()).or_insert_with(|| {
                rows.push(TargetRow {
                    target: impact.target.clone(),
                    bullish: 0,
                    bearish: 0,
                    neutral: 0,
                    total: 0,
                });
                rows.len() - 1
            });
            let row = &mut rows[at];
            row.total += 1;
            match impact.stance.direction {
                Direction::Bullish => row.bullish += 1,
                Direction::Bearish => row.bearish += 1,
                _ => row.neutral += 1,
            }
        }
        // Stable: equal counts keep the order the brief mentions them in.
        rows.sort_by_key(|r| std::cmp::Reverse(r.total));
        let more_targets = rows.len().saturating_sub(RICH_OVERVIEW_ROWS);
        rows.truncate(RICH_OVERVIEW_ROWS);
        let mut out = Vec::new();
        let (html, stats) = self.render_rich(
            "rich_header.html",
            context! {
                title => &brief.title,
                date => brief.date.to_string(),
                date_label => chinese_date(brief.date),
                summary => &brief.summary,
                overview => &brief.overview,
                targets => &rows,
                more_targets => more_targets,
                item_count => brief.item_count(),
            },
        )?;
        out.push((html, stats, false));
        for section in &brief.sections {
            let items: Vec<ItemView> = section
                .items
                .iter()
                .map(|i| ItemView::new(i, self.tz))
                .collect();
            if section.is_quick_list {
                let (html, stats) = self.render_rich(
                    "rich_quick_items.html",
                    context! { name => &section.name, items => &items },
                )?;
                out.push((html, stats, false));
                continue;
            }
            let (html, stats) = self.render_rich(
                "rich_section.html",
                context! { name => &section.name, count => items.len() },
            )?;
            out.push((html, stats, true));
            for (item, view) in section.items.iter().zip(&items) {
                let tables: Vec<RichTableView> = item
                    .tables
                    .iter()
                    .map(|t| RichTableView {
                        header: capped_cells(&t.header, max_columns),
                        rows: t
                            .rows
                            .iter()
                            .map(|r| capped_cells(r, max_columns))
                            .collect(),
                    })
                    .collect();
                let (html, stats) = self.render_rich(
                    "rich_item.html",
                    context! { item => view, tables => &tables, insights_mode => insights },
                )?;
                out.push((html, stats, false));
            }
        }
        let (html, stats) = self.render_rich(
            "rich_footer.html",
            context! { group => group, date => brief.date.to_string() },
        )?;
        out.push((html, stats, false));
        Ok(out)
    }

    /// The brief's rich edition: one message when it fits the documented limits, else the
    /// fragments packed greedily, in order, into as few messages as fit (a section heading
    /// stays with its first item), numbered `(i/n)`. Each message is checked again as a
    /// whole. Each carries the text edition of the same fragments for the fallback.
    ///
    /// `cover` (an http(s) URL) opens the first message as a photo block, `<img>` of the
    /// message's media (Bot API 10.2 `InputRichMessage.media`).
    pub fn brief_rich(
        &self,
        brief: &Brief,
        group: &str,
        cover: Option<&str>,
    ) -> Result<Vec<RichPart>, RenderError> {
        let limits = rich::RichLimits::TELEGRAM;
        let cover_room = usize::from(cover.is_some());
        // Room for the part number paragraph, and for the cover's block in every message
        // (simpler than packing the first one apart, and one block is little).
        let packing = rich::RichLimits {
            max_chars: limits.max_chars - 16,
            max_blocks: limits.max_blocks - 1 - cover_room,
            max_media: limits.max_media - cover_room,
            ..limits
        };
        let fragments = self.rich_fragments(brief, group)?;
        let blocks = self.brief_blocks(brief, group)?;
        debug_assert_eq!(fragments.len(), blocks.len());
        // Ranges of fragment indices, one per message.
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        let mut total = rich::RichStats::default();
        for (i, (_, stats, _)) in fragments.iter().enumerate() {
            let with = total.plus(*stats);
            if i > start && with.exceeds(&packing).is_some() {
                // Never end a message on a section heading: it moves to the next one.
                let mut end = i;
                while end > start + 1 && fragments[end - 1].2 {
                    end -= 1;
                }
                ranges.push(start..end);
                start = end;
                total = fragments[start..=i]
                    .iter()
                    .fold(rich::RichStats::default(), |t, f| t.plus(f.1));
            } else {
                total = with;
            }
        }
        ranges.push(start..fragments.len());
        let count = ranges.len();
        let mut parts = Vec::with_capacity(count);
        for (n, range) in ranges.into_iter().enumerate() {
            let mut html = fragments[range.clone()]
                .iter()
                .map(|f| f.0.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            if count > 1 {
                html.push_str(&format!("\n<p>({}/{count})</p>", n + 1));
            }
            let mut media = Vec::new();
            if let Some(url) = cover.filter(|_| n == 0) {
                html.insert_str(0, &crate::message::photo_tag(COVER_MEDIA_ID));
                media.push(crate::message::RichPhoto {
                    id: COVER_MEDIA_ID.to_string(),
                    url: url.to_string(),
                });
            }
            let stats = rich::check_rich_html(&html)
                .map_err(|e| template_error("rich edition", format!("message {}: {e}", n + 1)))?;
            if let Some(over) = stats.exceeds(&limits) {
                return Err(RenderError::RichTooLarge {
                    part: n + 1,
                    reason: over,
                });
            }
            let fallback = split_blocks(&blocks[range], self.limits())
                .iter()
                .map(FormattedText::to_message)
                .collect();
            parts.push(RichPart {
                message: RichMessage { html, media },
                fallback,
            });
        }
        Ok(parts)
    }

    /// The caption of the cover photo: the title and date, within Telegram's 1024 code
    /// points for a caption (cut at a grapheme boundary, with `…`, when longer).
    pub fn cover_caption(&self, brief: &Brief) -> Result<OutgoingMessage, RenderError> {
        let caption = self.render(
            "cover.html",
            context! {
                title => &brief.title,
                date => brief.date.to_string(),
                date_label => chinese_date(brief.date),
            },
        )?;
        Ok(cut_caption(caption, CAPTION_MAX_CODE_POINTS).to_message())
    }

    /// Plain text (a command's report) as messages Telegram accepts: cut by the same
    /// splitter as the brief, numbered `(1/n)` when it takes more than one.
    pub fn plain_messages(&self, text: &str) -> Vec<OutgoingMessage> {
        let block = Block {
            text: FormattedText::plain(text),
            keep_with_next: false,
        };
        number_parts(split_blocks(&[block], self.limits()))
            .iter()
            .map(FormattedText::to_message)
            .collect()
    }

    /// The reply to `/topic NAME`: one message, and how many items it shows. Items that do
    /// not fit are left to the next page rather than cut.
    pub fn topic_reply(
        &self,
        topic: &Topic,
        items: &[Item],
        total: usize,
        offset: usize,
    ) -> Result<(OutgoingMessage, usize), RenderError> {
        let views: Vec<ItemView> = items.iter().map(|i| ItemView::new(i, self.tz)).collect();
        let mut shown = views.len();
        loop {
            let text = self.render(
                "topic_reply.html",
                context! {
                    topic => topic,
                    items => &views[..shown],
                    total => total,
                    first => offset.saturating_add(1),
                    last => offset.saturating_add(shown),
                },
            )?;
            let fits = text.char_count() <= self.config.message_budget
                && text.entities.len() <= self.config.max_entities;
            if fits || shown <= 1 {
                let parts = split_blocks(
                    &[Block {
                        text,
                        keep_with_next: false,
                    }],
                    self.limits(),
                );
                return Ok((
                    parts.first().cloned().unwrap_or_default().to_message(),
                    shown,
                ));
            }
            shown -= 1;
        }
    }

    /// A subscriber's daily digest: one message; items that do not fit are counted, not cut.
    pub fn digest(
        &self,
        date: NaiveDate,
        topic_names: &[String],
        items: &[Item],
    ) -> Result<OutgoingMessage, RenderError> {
        let views: Vec<ItemView> = items.iter().map(|i| ItemView::new(i, self.tz)).collect();
        let mut shown = views.len();
        loop {
            let text = self.render(
                "digest.html",
                context! {
                    date_label => chinese_date(date),
                    topics => topic_names,
                    items => &views[..shown],
                    more => views.len() - shown,
                },
            )?;
            if (text.char_count() <= self.config.message_budget
                && text.entities.len() <= self.config.max_entities)
                || shown <= 1
            {
                let parts = split_blocks(
                    &[Block {
                        text,
                        keep_with_next: false,
                    }],
                    self.limits(),
                );
                return Ok(parts.first().cloned().unwrap_or_default().to_message());
            }
            shown -= 1;
        }
    }

    /// The `/help` text; admins also see the admin commands.
    pub fn help(&self, group: &str, admin: bool) -> Result<OutgoingMessage, RenderError> {
        Ok(self
            .render("help.html", context! { group => group, admin => admin })?
            .to_message())
    }

    /// The `/topics` list: each topic with its item count.
    pub fn topic_list(
        &self,
        topics: &[(Topic, usize)],
        days: u32,
    ) -> Result<OutgoingMessage, RenderError> {
        let rows: Vec<minijinja::Value> = topics
            .iter()
            .map(|(t, n)| context! { id => &t.id, name => &t.name, count => n })
            .collect();
        Ok(self
            .render("topics.html", context! { topics => rows, days => days })?
            .to_message())
    }

    /// Renders every template with sample data, so that `check-config` finds errors
    /// that only show when a template runs.
    pub fn self_check(&self) -> Result<(), RenderError> {
        let sample = crate::model::Item {
            section: "示例".into(),
            key_points: vec!["要点".into()],
            insights: vec!["解读".into()],
            impacts: vec![crate::model::Impact {
                target: "股市".into(),
                stance: crate::model::Stance {
                    direction: Direction::Bullish,
                    ..crate::model::Stance::UNKNOWN
                },
                label: "利多".into(),
                note: String::new(),
            }],
            advice: vec!["建议".into()],
            summary: "摘要".into(),
            source_name: Some("来源".into()),
            source_url: Some("https://example.com/a?b=1&c=2".into()),
            ..crate::model::Item::new(
                crate::model::ItemKind::Brief,
                String::new(),
                NaiveDate::MIN,
                "示例 <标题> & 引号\"".into(),
            )
        };
        let brief = Brief {
            date: NaiveDate::MIN,
            title: "示例".into(),
            summary: vec!["摘要".into()],
            cover_image: None,
            overview: ImpactOverview::default(),
            sections: vec![
                crate::compose::BriefSection {
                    name: "示例".into(),
                    is_quick_list: false,
                    items: vec![sample.clone()],
                },
                crate::compose::BriefSection {
                    name: "更多".into(),
                    is_quick_list: true,
                    items: vec![sample.clone()],
                },
            ],
        };
        self.brief_messages(&brief, "@group")?;
        self.brief_rich(&brief, "@group", Some("https://example.com/cover.jpg"))?;
        self.cover_caption(&brief)?;
        let topic = Topic {
            id: "sample".into(),
            name: "示例".into(),
            aliases: Vec::new(),
            keywords: vec!["示例".into()],
            exclude: Vec::new(),
        };
        self.topic_reply(&topic, std::slice::from_ref(&sample), 1, 0)?;
        self.topic_reply(&topic, &[], 0, 0)?;
        self.help("@group", true)?;
        let topic_row = (topic.clone(), 3);
        self.topic_list(std::slice::from_ref(&topic_row), 7)?;
        self.digest(
            NaiveDate::MIN,
            &["示例".to_string()],
            std::slice::from_ref(&sample),
        )?;
        Ok(())
    }
}
