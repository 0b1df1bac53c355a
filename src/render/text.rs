//! Telegram text: plain text plus entities, and the parser that turns our templates'
//! HTML into it. We send text + entities, so Telegram never parses our markup; this parser
//! accepts exactly the tags Telegram's HTML mode knows and rejects the rest by name.

use crate::ingest::text::decode_entities;
use crate::message::{MessageEntity, OutgoingMessage};

/// One formatting span. Offsets are byte offsets into [`FormattedText::text`] while we
/// work; they become UTF-16 code units only in [`FormattedText::to_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    pub start: usize,
    pub end: usize,
}

impl Entity {
    /// This entity within `[start, end)`, shifted to start there; `None` when it does not
    /// overlap that range.
    pub fn clipped(&self, start: usize, end: usize) -> Option<Entity> {
        let (from, to) = (self.start.max(start), self.end.min(end));
        (self.start < end && self.end > start && to > from).then(|| Entity {
            kind: self.kind.clone(),
            start: from - start,
            end: to - start,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityKind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre {
        language: Option<String>,
    },
    TextLink {
        url: String,
    },
    Blockquote,
    ExpandableBlockquote,
    /// Bot API 9.5 `date_time`: the client shows `unix` in the reader's own zone, formatted
    /// by `format`; the text is what clients without it show.
    DateTime {
        unix: i64,
        format: String,
    },
}

impl EntityKind {
    /// The Bot API `MessageEntity.type`.
    pub fn api_name(&self) -> &'static str {
        match self {
            EntityKind::Bold => "bold",
            EntityKind::Italic => "italic",
            EntityKind::Underline => "underline",
            EntityKind::Strikethrough => "strikethrough",
            EntityKind::Spoiler => "spoiler",
            EntityKind::Code => "code",
            EntityKind::Pre { .. } => "pre",
            EntityKind::TextLink { .. } => "text_link",
            EntityKind::Blockquote => "blockquote",
            EntityKind::ExpandableBlockquote => "expandable_blockquote",
            EntityKind::DateTime { .. } => "date_time",
        }
    }
}

/// Text with entities, as Telegram stores a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormattedText {
    pub text: String,
    pub entities: Vec<Entity>,
}

impl FormattedText {
    pub fn plain(text: &str) -> FormattedText {
        FormattedText {
            text: text.to_string(),
            entities: Vec::new(),
        }
    }

    /// Appends `other`, shifting its entities.
    pub fn append(&mut self, other: &FormattedText) {
        let shift = self.text.len();
        self.text.push_str(&other.text);
        self.entities.extend(other.entities.iter().map(|e| Entity {
            kind: e.kind.clone(),
            start: e.start + shift,
            end: e.end + shift,
        }));
    }

    /// The part `[start, end)` (byte offsets on char boundaries), with the entities that
    /// overlap it clipped to it: an entity cut here is closed, and reopened by the next part.
    pub fn slice(&self, start: usize, end: usize) -> FormattedText {
        let entities = self
            .entities
            .iter()
            .filter_map(|e| e.clipped(start, end))
            .collect();
        FormattedText {
            text: self.text[start..end].to_string(),
            entities,
        }
    }

    /// Removes leading and trailing whitespace, keeping entities aligned.
    pub fn trimmed(&self) -> FormattedText {
        let start = self.text.len() - self.text.trim_start().len();
        let end = self.text.trim_end().len().max(start);
        self.slice(start, end)
    }

    pub fn char_count(&self) -> usize {
        self.text.chars().count()
    }

    /// Converts to the Bot API shape with UTF-16 offsets.
    pub fn to_message(&self) -> OutgoingMessage {
        let mut utf16_at = vec![0usize; self.text.len() + 1];
        let mut units = 0;
        for (i, c) in self.text.char_indices() {
            utf16_at[i] = units;
            units += c.len_utf16();
        }
        utf16_at[self.text.len()] = units;
        let mut entities: Vec<&Entity> = self.entities.iter().collect();
        // Outer entities first: Telegram expects entities sorted by offset.
        entities.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        OutgoingMessage {
            text: self.text.clone(),
            entities: entities
                .into_iter()
                .map(|e| {
                    let offset = utf16_at[e.start];
                    MessageEntity {
                        kind: e.kind.api_name().to_string(),
                        offset,
                        length: utf16_at[e.end] - offset,
                        url: match &e.kind {
                            EntityKind::TextLink { url } => Some(url.clone()),
                            _ => None,
                        },
                        language: match &e.kind {
                            EntityKind::Pre { language } => language.clone(),
                            _ => None,
                        },
                        unix_time: match &e.kind {
                            EntityKind::DateTime { unix, .. } => Some(*unix),
                            _ => None,
                        },
                        date_time_format: match &e.kind {
                            EntityKind::DateTime { format, .. } => Some(format.clone()),
                            _ => None,
                        },
                    }
                })
                .collect(),
        }
    }
}

/// Tags Telegram's HTML mode knows.
pub const SUPPORTED_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "tg-spoiler",
    "span",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-time",
];

/// Whether `format` is a date-time format Telegram accepts: the Bot API's formatting
/// options give the regular expression `r|w?[dD]?[tT]?` (empty shows the text as written).
pub fn is_date_time_format(format: &str) -> bool {
    if format == "r" {
        return true;
    }
    let mut rest = format.as_bytes();
    for allowed in [&b"w"[..], b"dD", b"tT"] {
        if let Some((first, tail)) = rest.split_first()
            && allowed.contains(first)
        {
            rest = tail;
        }
    }
    rest.is_empty()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct HtmlError {
    pub line: usize,
    pub message: String,
}

fn unsupported(name: &str, line: usize) -> HtmlError {
    HtmlError {
        line,
        message: format!(
            "tag <{name}> is not supported by Telegram; use one of b, i, u, s, tg-spoiler, a, code, pre, blockquote (and a plain newline instead of <br> or <p>)"
        ),
    }
}

/// Decodes character references into `out` (see [`decode_entities`]).
fn push_decoded(out: &mut String, text: &str) {
    out.push_str(&decode_entities(text));
}

struct OpenTag {
    name: String,
    kind: Option<EntityKind>,
    start: usize,
    line: usize,
}

fn parse_attributes(text: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        rest = rest[name_len..].trim_start();
        let mut value = String::new();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            let (raw, remaining) = match after_eq.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after_eq[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                    (&after_eq[..end], &after_eq[end..])
                }
            };
            push_decoded(&mut value, raw);
            rest = remaining.trim_start();
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
    attrs
}

/// Parses Telegram-flavoured HTML into text and entities.
pub fn parse_html(html: &str) -> Result<FormattedText, HtmlError> {
    let mut out = FormattedText::default();
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut line = 1;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        line += text.matches('\n').count();
        push_decoded(&mut out.text, text);
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            return Err(HtmlError {
                line,
                message:
                    "'<' starts a tag that is never closed with '>'; write &lt; for a literal <"
                        .to_string(),
            });
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            let Some(open) = stack.pop() else {
                return Err(HtmlError {
                    line,
                    message: format!("closing tag </{name}> has no opening tag"),
                });
            };
            if open.name != name {
                return Err(HtmlError {
                    line,
                    message: format!(
                        "closing tag </{name}> does not match <{}> opened at line {}",
                        open.name, open.line
                    ),
                });
            }
            if let Some(kind) = open.kind
                && out.text.len() > open.start
            {
                out.entities.push(Entity {
                    kind,
                    start: open.start,
                    end: out.text.len(),
                });
            }
            line += tag.matches('\n').count();
            continue;
        }
        let name_len = tag
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tag.len());
        let name = tag[..name_len].to_ascii_lowercase();
        if name.is_empty() {
            return Err(HtmlError {
                line,
                message: format!("<{tag}> is not a tag; write &lt; for a literal <"),
            });
        }
        let attrs = parse_attributes(&tag[name_len..]);
        let attr = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let kind = match name.as_str() {
            "b" | "strong" => Some(EntityKind::Bold),
            "i" | "em" => Some(EntityKind::Italic),
            "u" | "ins" => Some(EntityKind::Underline),
            "s" | "strike" | "del" => Some(EntityKind::Strikethrough),
            "tg-spoiler" => Some(EntityKind::Spoiler),
            "span" if attr("class").as_deref() == Some("tg-spoiler") => Some(EntityKind::Spoiler),
            "span" => {
                return Err(HtmlError {
                    line,
                    message: "<span> is supported only as <span class=\"tg-spoiler\">".to_string(),
                });
            }
            "a" => match attr("href").filter(|h| !h.trim().is_empty()) {
                Some(url) => Some(EntityKind::TextLink {
                    url: url.trim().to_string(),
                }),
                None => {
                    return Err(HtmlError {
                        line,
                        message: "<a> needs an href".to_string(),
                    });
                }
            },
            "code" => {
                let language =
                    attr("class").and_then(|c| c.strip_prefix("language-").map(str::to_string));
                match stack.last_mut() {
                    // <pre><code class="language-x"> is one pre entity with a language.
                    Some(OpenTag {
                        kind:
                            Some(EntityKind::Pre {
                                language: pre_language,
                            }),
                        ..
                    }) => {
                        if language.is_some() {
                            *pre_language = language;
                        }
                        None
                    }
                    _ => Some(EntityKind::Code),
                }
            }
            "pre" => Some(EntityKind::Pre { language: None }),
            "tg-time" => {
                let unix = attr("unix").and_then(|u| u.trim().parse::<i64>().ok());
                let format = attr("format").unwrap_or_default();
                match unix {
                    Some(unix) if unix >= 0 && is_date_time_format(&format) => {
                        Some(EntityKind::DateTime { unix, format })
                    }
                    Some(_) => {
                        return Err(HtmlError {
                            line,
                            message: format!(
                                "<tg-time> format {format:?} is not one Telegram accepts (r, or w, then d or D, then t or T)"
                            ),
                        });
                    }
                    None => {
                        return Err(HtmlError {
                            line,
                            message: "<tg-time> needs unix=\"SECONDS\" (a Unix time)".to_string(),
                        });
                    }
                }
            }
            "blockquote" => Some(if attrs.iter().any(|(k, _)| k == "expandable") {
                EntityKind::ExpandableBlockquote
            } else {
                EntityKind::Blockquote
            }),
            other => return Err(unsupported(other, line)),
        };
        stack.push(OpenTag {
            name,
            kind,
            start: out.text.len(),
            line,
        });
        line += tag.matches('\n').count();
    }
    push_decoded(&mut out.text, rest);
    if let Some(open) = stack.pop() {
        return Err(HtmlError {
            line: open.line,
            message: format!("tag <{}> is never closed", open.name),
        });
    }
    Ok(out)
}

/// Checks a template's literal tags (outside `{{ }}`, `{% %}` and `{# #}`) against the
/// tags Telegram supports, so a bad template is refused when it is loaded.
pub fn check_template_tags(source: &str) -> Result<(), HtmlError> {
    check_template_tags_with(source, &|name, line| {
        if SUPPORTED_TAGS.contains(&name) {
            Ok(())
        } else {
            Err(unsupported(name, line))
        }
    })
}

/// [`check_template_tags`] with another tag set: `check` accepts a tag name or says why
/// not (the rich edition's templates use the rich messages' tags).
pub fn check_template_tags_with(
    source: &str,
    check: &dyn Fn(&str, usize) -> Result<(), HtmlError>,
) -> Result<(), HtmlError> {
    let mut line = 1;
    let mut rest = source;
    // The next `{{`/`{%`/`{#` and the next `<`, as offsets into `source`: each is searched
    // for again only once passed, not from every tag (which is quadratic).
    let mut code_at = find_code(source, 0);
    let mut tag_at = source.find('<');
    while !rest.is_empty() {
        let pos = source.len() - rest.len();
        if code_at.is_some_and(|at| at < pos) {
            code_at = find_code(source, pos);
        }
        if tag_at.is_some_and(|at| at < pos) {
            tag_at = source[pos..].find('<').map(|at| pos + at);
        }
        let next_code = code_at.map(|at| at - pos);
        let next_tag = tag_at.map(|at| at - pos);
        match (next_code, next_tag) {
            (Some(code), tag) if tag.is_none_or(|t| code < t) => {
                let close = match &rest[code..code + 2] {
                    "{{" => "}}",
                    "{%" => "%}",
                    _ => "#}",
                };
                line += rest[..code].matches('\n').count();
                let body = &rest[code + 2..];
                let end = body.find(close).map_or(body.len(), |e| e + 2);
                line += body[..end.min(body.len())].matches('\n').count();
                rest = &body[end.min(body.len())..];
            }
            (_, Some(tag)) => {
                line += rest[..tag].matches('\n').count();
                let name = crate::ingest::text::tag_name(&rest[tag + 1..]);
                if !name.is_empty() {
                    check(&name, line)?;
                }
                rest = &rest[tag + 1..];
            }
            _ => break,
        }
    }
    Ok(())
}

/// The first `{{`, `{%` or `{#` at or after `from`.
fn find_code(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    (from..bytes.len().saturating_sub(1))
        .find(|&i| bytes[i] == b'{' && matches!(bytes[i + 1], b'{' | b'%' | b'#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check_template_tags` as it was before the next code block and tag were remembered.
    fn quadratic_check_template_tags(source: &str) -> Result<(), HtmlError> {
        let mut line = 1;
        let mut rest = source;
        while !rest.is_empty() {
            let next_code = rest
                .find("{{")
                .into_iter()
                .chain(rest.find("{%"))
                .chain(rest.find("{#"))
                .min();
            let next_tag = rest.find('<');
            match (next_code, next_tag) {
                (Some(code), tag) if tag.is_none_or(|t| code < t) => {
                    let close = match &rest[code..code + 2] {
                        "{{" => "}}",
                        "{%" => "%}",
                        _ => "#}",
                    };
                    line += rest[..code].matches('\n').count();
                    let body = &rest[code + 2..];
                    let end = body.find(close).map_or(body.len(), |e| e + 2);
                    line += body[..end.min(body.len())].matches('\n').count();
                    rest = &body[end.min(body.len())..];
                }
                (_, Some(tag)) => {
                    line += rest[..tag].matches('\n').count();
                    let name = crate::ingest::text::tag_name(&rest[tag + 1..]);
                    if !name.is_empty() && !SUPPORTED_TAGS.contains(&name.as_str()) {
                        return Err(unsupported(&name, line));
                    }
                    rest = &rest[tag + 1..];
                }
                _ => break,
            }
        }
        Ok(())
    }

    #[test]
    fn linear_template_check_gives_what_the_quadratic_one_gave() {
        let tokens = [
            "<", "b", "p", ">", "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "\n", "/", "重",
        ];
        for s in crate::ingest::text::token_strings(&tokens, 4, 20_000, 40) {
            assert_eq!(
                check_template_tags(&s),
                quadratic_check_template_tags(&s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn nested_tags_become_entities_with_utf16_offsets() {
        let t =
            parse_html("😀<b>黄金 <i>利多</i></b>\n<a href=\"https://x.y/?a=1&amp;b=2\">链接</a>")
                .unwrap();
        assert_eq!(t.text, "😀黄金 利多\n链接");
        let m = t.to_message();
        assert_eq!(m.entities[0].kind, "bold");
        assert_eq!((m.entities[0].offset, m.entities[0].length), (2, 5));
        assert_eq!(m.entities[1].kind, "italic");
        assert_eq!((m.entities[1].offset, m.entities[1].length), (5, 2));
        assert_eq!(m.entities[2].url.as_deref(), Some("https://x.y/?a=1&b=2"));
    }

    #[test]
    fn escapes_decode_to_literal_text() {
        let t = parse_html("&lt;script&gt; &amp; &#x27;x&#x2f; R&D").unwrap();
        assert_eq!(t.text, "<script> & 'x/ R&D");
        assert!(t.entities.is_empty());
    }

    #[test]
    fn unsupported_and_broken_markup_is_refused() {
        assert!(parse_html("a<br>b").unwrap_err().message.contains("<br>"));
        assert!(parse_html("<b>x</i>").is_err());
        assert!(parse_html("<b>x").is_err());
        assert!(parse_html("1 < 2").is_err());
        let pre = parse_html("<pre><code class=\"language-rust\">fn</code></pre>").unwrap();
        assert_eq!(pre.entities.len(), 1);
        assert_eq!(
            pre.entities[0].kind,
            EntityKind::Pre {
                language: Some("rust".into())
            }
        );
        let q = parse_html("<blockquote expandable>x</blockquote>").unwrap();
        assert_eq!(q.entities[0].kind, EntityKind::ExpandableBlockquote);
    }

    #[test]
    fn tg_time_becomes_a_date_time_entity() {
        let t = parse_html("🕘 <tg-time unix=\"1773274500\" format=\"dt\">3月11日 08:15</tg-time>")
            .unwrap();
        let m = t.to_message();
        assert_eq!(m.entities.len(), 1);
        let e = &m.entities[0];
        assert_eq!(e.kind, "date_time");
        assert_eq!((e.offset, e.length), (3, 11));
        assert_eq!(e.unix_time, Some(1_773_274_500));
        assert_eq!(e.date_time_format.as_deref(), Some("dt"));
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["unix_time"], 1_773_274_500);
        assert_eq!(json["date_time_format"], "dt");
        assert!(parse_html("<tg-time>x</tg-time>").is_err());
        assert!(parse_html("<tg-time unix=\"1\" format=\"tr\">x</tg-time>").is_err());
        // Other entities carry neither field.
        let bold = serde_json::to_value(&parse_html("<b>x</b>").unwrap().to_message().entities[0])
            .unwrap();
        assert!(bold.get("unix_time").is_none() && bold.get("date_time_format").is_none());
    }

    #[test]
    fn date_time_formats_follow_the_documented_pattern() {
        for ok in [
            "", "r", "w", "d", "D", "t", "T", "wd", "wDT", "dt", "Dt", "wT",
        ] {
            assert!(is_date_time_format(ok), "{ok:?}");
        }
        for bad in ["rt", "td", "dd", "x", "wr", "tT", "dD", "Tw"] {
            assert!(!is_date_time_format(bad), "{bad:?}");
        }
    }

    #[test]
    fn template_tags_are_checked_outside_code() {
        assert!(check_template_tags("<b>{{ a < b }}</b>{% if x<y %}{% endif %}").is_ok());
        let err = check_template_tags("ok\n<p>{{ x }}</p>").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
