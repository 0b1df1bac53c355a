//! Small text helpers shared by the parsers: colons in both widths, markdown emphasis,
//! bullets and whitespace as real documents write them.

/// Splits `label：value` or `label: value` at the first colon of either width. An ASCII
/// colon between digits (`16:00`) is part of a time, not a separator.
pub fn split_colon(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let idx = text.char_indices().find_map(|(i, c)| match c {
        '：' => Some(i),
        ':' => {
            let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
            let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            (!(digit_before && digit_after)).then_some(i)
        }
        _ => None,
    })?;
    let colon_len = text[idx..].chars().next().map_or(1, char::len_utf8);
    Some((&text[..idx], &text[idx + colon_len..]))
}

/// The lower-cased name of the tag whose text starts right after a `<` (`/Div class=…>`
/// → `div`); empty when no tag name follows.
pub fn tag_name(after_lt: &str) -> String {
    after_lt
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Inline HTML tags that documents sometimes carry in text; they are removed, their
/// content kept. Anything else that looks like a tag stays as literal text.
const INLINE_TAGS: &[&str] = &[
    "b", "strong", "i", "em", "u", "s", "del", "span", "font", "a", "br", "sup", "sub", "mark",
    "small", "code",
];

/// Removes [`INLINE_TAGS`] (`<b>重要</b>` → `重要`).
pub fn strip_inline_tags(text: &str) -> String {
    if !text.contains('<') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        let name = tag_name(after);
        match after.find('>') {
            Some(gt) if INLINE_TAGS.contains(&name.as_str()) && !after[..gt].contains('<') => {
                rest = &after[gt + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes markdown bold/italic markers and surrounding whitespace (`**时间：**` → `时间：`).
pub fn strip_emphasis(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
            }
            _ => out.push(c),
        }
    }
    normalize_space(&out)
}

/// If the line is a list bullet (`-`, `*`, `+`, `•`, `1.`), returns its content.
pub fn bullet_content(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    for marker in ["- ", "* ", "+ ", "• ", "· "] {
        if let Some(rest) = trimmed.strip_prefix(marker) {
            return Some(rest.trim());
        }
    }
    if trimmed == "-" || trimmed == "*" || trimmed == "•" {
        return Some("");
    }
    // Ordered lists: digits then `.` or `、` or `)`.
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        let rest = &trimmed[digits..];
        for marker in [". ", "、", ") ", "）"] {
            if let Some(content) = rest.strip_prefix(marker) {
                return Some(content.trim());
            }
        }
    }
    None
}

/// Collapses runs of whitespace (including full-width spaces) into one ASCII space and trims.
pub fn normalize_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c == '\u{3000}' || c == '\u{a0}' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Lower-cased text with whitespace and punctuation removed: two titles that differ only in
/// spacing, quotes or punctuation width are the same news.
pub fn normalize_title(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Shortens `text` to at most `max_chars` characters, preferring to stop after a clause
/// mark, and adds `…` when something was cut.
pub fn shorten(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let limit = max_chars.saturating_sub(1);
    let head: String = text.chars().take(limit).collect();
    // Cut after the last clause mark if it keeps at least half the room.
    let cut = head
        .char_indices()
        .filter(|(_, c)| "，,；;：:、 ".contains(*c))
        .map(|(i, _)| i)
        .rfind(|&i| head[..i].chars().count() >= limit / 2);
    let kept = match cut {
        Some(i) => head[..i].trim_end(),
        None => head.trim_end(),
    };
    format!("{kept}…")
}

/// Drops markdown link and image syntax: `![](x)` → ``, `[text](url)` → `text`.
pub fn strip_markdown_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let is_image = rest[..open].ends_with('!');
        let before = if is_image {
            &rest[..open - 1]
        } else {
            &rest[..open]
        };
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find("](") else {
            break;
        };
        let label = &after_open[..close];
        let after_paren = &after_open[close + 2..];
        let Some(end) = after_paren.find(')') else {
            break;
        };
        if label.contains('[') {
            break;
        }
        out.push_str(before);
        if !is_image {
            out.push_str(label);
        }
        rest = &after_paren[end + 1..];
    }
    out.push_str(rest);
    strip_emphasis(&strip_inline_tags(&out))
}

/// Decodes HTML character references (`&lt;`, `&#x2f;`, `&nbsp;`…) as feeds and our own
/// templates write them; an unknown one is left as written.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after
            .find(';')
            .filter(|semi| *semi <= 10)
            .and_then(|semi| decode_entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ensp" | "emsp" | "thinsp" => ' ',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "ldquo" => '“',
        "rdquo" => '”',
        "lsquo" => '‘',
        "rsquo" => '’',
        "middot" => '·',
        "yen" => '¥',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_of_either_width_splits() {
        assert_eq!(split_colon("时间：12:00"), Some(("时间", "12:00")));
        assert_eq!(split_colon("时间: 12:00"), Some(("时间", " 12:00")));
        assert_eq!(split_colon("没有冒号"), None);
        assert_eq!(
            split_colon("对美股（16:00收盘）：利多"),
            Some(("对美股（16:00收盘）", "利多"))
        );
    }

    #[test]
    fn emphasis_and_bullets_are_removed() {
        assert_eq!(strip_emphasis("**时间：** 08:00"), "时间： 08:00");
        assert_eq!(bullet_content("  - 要点"), Some("要点"));
        assert_eq!(bullet_content("2. 第二"), Some("第二"));
        assert_eq!(bullet_content("普通文字"), None);
    }

    #[test]
    fn shorten_cuts_after_a_clause_mark() {
        let s = shorten("一二三四五，六七八九十一二三四五六七八九十", 12);
        assert_eq!(s, "一二三四五…");
        assert_eq!(shorten("短", 5), "短");
    }

    #[test]
    fn inline_tags_go_and_other_angle_brackets_stay() {
        assert_eq!(strip_inline_tags("<b>重要</b>：降准<br>"), "重要：降准");
        assert_eq!(strip_inline_tags("a <script> b < c"), "a <script> b < c");
    }

    #[test]
    fn links_keep_their_text_and_images_vanish() {
        assert_eq!(
            strip_markdown_inline("看![](//x.png)这里[新浪](https://a.b/c)完"),
            "看这里新浪完"
        );
    }
}
