//! The rich edition (Bot API 10.1 `sendRichMessage`): the brief as rich HTML, checked by
//! our own reader against the tags we use and the limits the Bot API documents (section
//! "Rich messages" → "Rich Message Limits") before anything is sent.
//!
//! The reader is one forward pass: each `<` is read up to the next `>` and the scan goes
//! on from there, and each `&` looks at most a few bytes ahead.

use super::text::HtmlError;

/// The limits of one rich message, as the Bot API documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RichLimits {
    /// Characters of text (markup not counted).
    pub max_chars: usize,
    /// Blocks, counting every list item and table row.
    pub max_blocks: usize,
    /// Nesting depth of blocks and formatting.
    pub max_depth: usize,
    /// Media in all blocks.
    pub max_media: usize,
    /// Columns of a table.
    pub max_columns: usize,
}

impl RichLimits {
    pub const TELEGRAM: RichLimits = RichLimits {
        max_chars: 32_768,
        max_blocks: 500,
        max_depth: 16,
        max_media: 50,
        max_columns: 20,
    };
}

/// What a piece of rich HTML measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RichStats {
    pub chars: usize,
    pub blocks: usize,
    pub depth: usize,
    pub media: usize,
    pub columns: usize,
}

impl RichStats {
    /// Two fragments one after the other.
    pub fn plus(self, other: RichStats) -> RichStats {
        RichStats {
            chars: self.chars + other.chars,
            blocks: self.blocks + other.blocks,
            depth: self.depth.max(other.depth),
            media: self.media + other.media,
            columns: self.columns.max(other.columns),
        }
    }

    /// The first limit this exceeds, said in words.
    pub fn exceeds(&self, limits: &RichLimits) -> Option<String> {
        if self.chars > limits.max_chars {
            Some(format!(
                "{} characters of text (at most {})",
                self.chars, limits.max_chars
            ))
        } else if self.blocks > limits.max_blocks {
            Some(format!(
                "{} blocks, list items and table rows (at most {})",
                self.blocks, limits.max_blocks
            ))
        } else if self.depth > limits.max_depth {
            Some(format!(
                "nesting depth {} (at most {})",
                self.depth, limits.max_depth
            ))
        } else if self.media > limits.max_media {
            Some(format!(
                "{} media (at most {})",
                self.media, limits.max_media
            ))
        } else if self.columns > limits.max_columns {
            Some(format!(
                "a table of {} columns (at most {})",
                self.columns, limits.max_columns
            ))
        } else {
            None
        }
    }
}

/// Block-level tags: each one counts against the block limit (list items and table rows
/// included, as the docs say).
const BLOCK_TAGS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "footer",
    "hr",
    "ul",
    "ol",
    "li",
    "blockquote",
    "aside",
    "table",
    "tr",
    "details",
];

/// Formatting and table-cell tags, not blocks.
const INLINE_TAGS: &[&str] = &[
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "sub", "sup", "mark",
    "summary", "th", "td", "br",
];

/// Tags without a closing tag.
const VOID_TAGS: &[&str] = &["hr", "br", "img"];

/// The one media tag: a photo block (`InputRichBlockPhoto` is "the HTML tag `<img>`"),
/// whose `src` names a photo of the message's media.
const PHOTO_TAG: &str = "img";

/// The rich tags ecobrief's checker accepts: the rich blocks and formatting of the Bot
/// API's rich HTML that the rich edition uses or an operator may reasonably add. The
/// only media is the cover photo, which ecobrief adds itself, so templates may not
/// write `<img>`.
pub fn is_rich_tag(name: &str) -> bool {
    BLOCK_TAGS.contains(&name) || INLINE_TAGS.contains(&name)
}

/// The media id of a photo block's `src`: `tg://photo?id=` and 1–64 of `A-Za-z0-9_-`
/// (`InputRichMessageMedia.id`).
pub fn photo_id(src: &str) -> Option<&str> {
    let id = src.strip_prefix("tg://photo?id=")?;
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then_some(id)
}

fn unsupported_rich(name: &str, line: usize) -> HtmlError {
    HtmlError {
        line,
        message: format!(
            "tag <{name}> is not in the rich message tags ecobrief accepts; use one of {}",
            BLOCK_TAGS
                .iter()
                .chain(INLINE_TAGS)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The template-source check for the rich templates (at load).
pub fn check_rich_template_tags(source: &str) -> Result<(), HtmlError> {
    super::text::check_template_tags_with(source, &|name, line| {
        if is_rich_tag(name) {
            Ok(())
        } else {
            Err(unsupported_rich(name, line))
        }
    })
}

/// One piece of rich HTML, as the reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Open {
        name: &'a str,
        attrs: Vec<(&'a str, String)>,
    },
    Close(&'a str),
    /// Text with its character references decoded.
    Text(String),
}

fn error(line: usize, message: impl Into<String>) -> HtmlError {
    HtmlError {
        line,
        message: message.into(),
    }
}

/// Decodes the references minijinja's escaping writes (`&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, numeric). Anything else after a `&` is refused: the API would read it
/// differently from us.
fn decode(text: &str, line: usize, out: &mut String) -> Result<(), HtmlError> {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        // A reference is short: look at most 12 bytes ahead, so the scan stays linear.
        let window = &after.as_bytes()[..after.len().min(12)];
        let semi = window
            .iter()
            .position(|b| *b == b';')
            .ok_or_else(|| error(line, "a bare & in rich HTML; escape it as &amp;"))?;
        let name = &after[..semi];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            _ => {
                let number = name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>));
                match number {
                    Some(Ok(n)) => char::from_u32(n)
                        .ok_or_else(|| error(line, format!("&{name}; is not a character")))?,
                    _ => return Err(error(line, format!("unknown reference &{name};"))),
                }
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(())
}

fn parse_attrs(text: &str, line: usize) -> Result<Vec<(&str, String)>, HtmlError> {
    let mut attrs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        if name_len == 0 {
            return Err(error(line, format!("cannot read the attributes {text:?}")));
        }
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let quote = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| error(line, format!("attribute {name} needs a quoted value")))?;
            let body = &after[1..];
            let end = body
                .find(quote)
                .ok_or_else(|| error(line, format!("attribute {name} is not closed")))?;
            decode(&body[..end], line, &mut value)?;
            rest = body[end + 1..].trim_start();
        }
        attrs.push((name, value));
    }
    Ok(attrs)
}

/// Reads rich HTML into tokens, in one pass.
fn tokenize(html: &str) -> Result<Vec<Token<'_>>, HtmlError> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            let mut text = String::new();
            decode(rest, line, &mut text)?;
            tokens.push(Token::Text(text));
            break;
        };
        if lt > 0 {
            let mut text = String::new();
            decode(&rest[..lt], line, &mut text)?;
            line += rest[..lt].matches('\n').count();
            tokens.push(Token::Text(text));
        }
        let after = &rest[lt + 1..];
        let gt = after
            .find('>')
            .ok_or_else(|| error(line, "a < that opens no tag; escape it as &lt;"))?;
        let inside = &after[..gt];
        if inside.contains('<') {
            return Err(error(line, "a < inside a tag"));
        }
        line += inside.matches('\n').count();
        if let Some(name) = inside.strip_prefix('/') {
            tokens.push(Token::Close(name.trim()));
        } else {
            let inside = inside.strip_suffix('/').unwrap_or(inside);
            let name_len = inside
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .count();
            let name = &inside[..name_len];
            if name.is_empty() {
                return Err(error(line, format!("cannot read the tag <{inside}>")));
            }
            tokens.push(Token::Open {
                name,
                attrs: parse_attrs(&inside[name_len..], line)?,
            });
        }
        rest = &after[gt + 1..];
    }
    Ok(tokens)
}

/// The attributes a tag may carry.
fn allowed_attr(tag: &str, attr: &str) -> bool {
    matches!(
        (tag, attr),
        ("a", "href") | ("details", "open") | ("ol", "start")
    )
}

/// The parent a tag needs, if any.
fn required_parent(tag: &str) -> Option<&'static [&'static str]> {
    match tag {
        "li" => Some(&["ul", "ol"]),
        "tr" => Some(&["table"]),
        "th" | "td" => Some(&["tr"]),
        "summary" => Some(&["details"]),
        _ => None,
    }
}

/// Checks rich HTML against the tags ecobrief accepts, their nesting and attributes, and
/// measures it. Whitespace between blocks is not text.
pub fn check_rich_html(html: &str) -> Result<RichStats, HtmlError> {
    let mut stats = RichStats::default();
    let mut stack: Vec<&str> = Vec::new();
    let mut cells = 0;
    for token in tokenize(html)? {
        match token {
            Token::Open { name, attrs } if name == PHOTO_TAG => {
                let src = attrs.iter().find(|(a, _)| *a == "src").map(|(_, v)| v);
                if attrs.len() != 1 || src.and_then(|v| photo_id(v)).is_none() {
                    return Err(error(
                        0,
                        "<img> takes only src=\"tg://photo?id=…\" naming a photo of the message's media",
                    ));
                }
                if !stack.is_empty() {
                    return Err(error(0, "<img> is a block of its own, not inside another"));
                }
                stats.blocks += 1;
                stats.media += 1;
                stats.depth = stats.depth.max(1);
            }
            Token::Open { name, attrs } => {
                if !is_rich_tag(name) {
                    return Err(unsupported_rich(name, 0));
                }
                for (attr, _) in &attrs {
                    if !allowed_attr(name, attr) {
                        return Err(error(0, format!("<{name}> may not carry {attr}")));
                    }
                }
                if name == "a" && !attrs.iter().any(|(a, v)| *a == "href" && !v.is_empty()) {
                    return Err(error(0, "<a> needs an href"));
                }
                if let Some(parents) = required_parent(name)
                    && !stack.last().is_some_and(|p| parents.contains(p))
                {
                    return Err(error(
                        0,
                        format!("<{name}> must be inside <{}>", parents.join("> or <")),
                    ));
                }
                if BLOCK_TAGS.contains(&name) {
                    stats.blocks += 1;
                }
                match name {
                    "tr" => cells = 0,
                    "th" | "td" => {
                        cells += 1;
                        stats.columns = stats.columns.max(cells);
                    }
                    _ => {}
                }
                if VOID_TAGS.contains(&name) {
                    stats.depth = stats.depth.max(stack.len() + 1);
                } else {
                    stack.push(name);
                    stats.depth = stats.depth.max(stack.len());
                }
            }
            Token::Close(name) => match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => {
                    return Err(error(0, format!("</{name}> closes <{open}>")));
                }
                None => return Err(error(0, format!("</{name}> closes nothing"))),
            },
            Token::Text(text) => {
                if !text.trim().is_empty() {
                    stats.chars += text.chars().count();
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(error(0, format!("<{open}> is not closed")));
    }
    Ok(stats)
}

/// Rich HTML as readable plain text (for `preview --format text`): one line per block,
/// list items with `•`, table cells with ` | `, a details block's summary with `▸`.
pub fn rich_to_readable(html: &str) -> String {
    let Ok(tokens) = tokenize(html) else {
        return html.to_string();
    };
    let mut out = String::new();
    let new_line = |out: &mut String| {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    };
    let mut first_cell = false;
    for token in tokens {
        match token {
            Token::Open { name, .. } => match name {
                "li" => {
                    new_line(&mut out);
                    out.push_str("• ");
                }
                "tr" => {
                    new_line(&mut out);
                    first_cell = true;
                }
                "th" | "td" => {
                    if !first_cell {
                        out.push_str(" | ");
                    }
                    first_cell = false;
                }
                "summary" => {
                    new_line(&mut out);
                    out.push_str("▸ ");
                }
                "hr" => {
                    new_line(&mut out);
                    out.push_str("——\n");
                }
                "br" => out.push('\n'),
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    new_line(&mut out);
                    if !out.is_empty() {
                        out.push('\n');
                    }
                }
                n if BLOCK_TAGS.contains(&n) => new_line(&mut out),
                _ => {}
            },
            Token::Close(name) => {
                if BLOCK_TAGS.contains(&name) || name == "summary" {
                    new_line(&mut out);
                }
            }
            Token::Text(text) => {
                if !text.trim().is_empty() {
                    out.push_str(&text);
                }
            }
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_blocks_items_rows_and_text() {
        let stats = check_rich_html(
            "<h1>标题</h1>\n<ul><li>a</li><li>b &amp; c</li></ul>\
             <table><tr><th>x</th><th>y</th></tr><tr><td>1</td><td>2</td></tr></table>\
             <details><summary>s</summary><p>t</p></details>",
        )
        .unwrap();
        // h1, ul, 2 li, table, 2 tr, details, p
        assert_eq!(stats.blocks, 9);
        assert_eq!(stats.columns, 2);
        assert_eq!(stats.chars, "标题ab & cxy12st".chars().count());
        assert_eq!(stats.depth, 3);
    }

    #[test]
    fn refuses_what_the_api_would_read_otherwise() {
        for bad in [
            "<script>x</script>",
            "<p>x",
            "<p>x</b>",
            "<li>x</li>",
            "<td>x</td>",
            "a < b",
            "AT&T",
            "<p onclick=\"x\">y</p>",
            "<a>no href</a>",
            "<img src=\"x\">",
        ] {
            assert!(check_rich_html(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_said_in_words() {
        let stats = RichStats {
            blocks: 501,
            ..RichStats::default()
        };
        assert!(
            stats
                .exceeds(&RichLimits::TELEGRAM)
                .unwrap()
                .contains("501")
        );
        let wide = RichStats {
            columns: 21,
            ..RichStats::default()
        };
        assert!(wide.exceeds(&RichLimits::TELEGRAM).is_some());
        assert!(
            RichStats::default()
                .exceeds(&RichLimits::TELEGRAM)
                .is_none()
        );
    }

    #[test]
    fn a_long_run_of_markup_characters_is_read_in_one_pass() {
        let many = "&".repeat(200_000);
        assert!(check_rich_html(&many).is_err());
        let many = "<".repeat(200_000);
        assert!(check_rich_html(&many).is_err());
        let text = "&amp;".repeat(100_000);
        assert_eq!(check_rich_html(&text).unwrap().chars, 100_000);
    }

    #[test]
    fn readable_text_keeps_every_word() {
        let text = rich_to_readable(
            "<h2>▍宏观</h2><ul><li>甲</li></ul><table><tr><th>a</th><th>b</th></tr></table>\
             <details><summary>深度解读</summary><p>乙 &lt;x&gt;</p></details>",
        );
        assert_eq!(text, "▍宏观\n• 甲\na | b\n▸ 深度解读\n乙 <x>");
    }
}
