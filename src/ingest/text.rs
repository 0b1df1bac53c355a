//! Small text helpers shared by the parsers: colons in both widths, markdown emphasis,
//! bullets and whitespace as real documents write them.

/// Splits `label：value` or `label: value` at the first colon of either width. An ASCII
/// colon between digits (`16:00`) is part of a time, not a separator.
pub fn split_colon(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let wide = text.find('：');
    let before_wide = &text[..wide.unwrap_or(text.len())];
    let mut narrow = None;
    for i in ascii_positions(before_wide, b':') {
        let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
        let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(digit_before && digit_after) {
            narrow = Some(i);
            break;
        }
    }
    let idx = narrow.or(wide)?;
    let colon_len = if narrow.is_some() {
        1
    } else {
        '：'.len_utf8()
    };
    Some((&text[..idx], &text[idx + colon_len..]))
}

/// The lower-cased name of the tag whose text starts right after a `<` (`/Div class=…>`
/// → `div`); empty when no tag name follows.
pub fn tag_name(after_lt: &str) -> String {
    raw_tag_name(after_lt).to_ascii_lowercase()
}

/// The tag name after a `<` as written (`/Div class=…>` → `Div`), without allocating:
/// compare it with [`is_tag_in`].
pub fn raw_tag_name(after_lt: &str) -> &str {
    let name = after_lt.trim_start_matches('/');
    let len = name
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
        .count();
    &name[..len]
}

/// Whether a tag name (any case) is one of the lower-case `names`.
pub fn is_tag_in(name: &str, names: &[&str]) -> bool {
    let Some(first) = name.bytes().next().map(|b| b.to_ascii_lowercase()) else {
        return false;
    };
    names.iter().any(|n| {
        n.len() == name.len()
            && n.as_bytes().first() == Some(&first)
            && n.eq_ignore_ascii_case(name)
    })
}

/// The offsets of an ASCII `byte` in `text`, in one pass. Quicker than a `str` search when
/// the byte is dense (`<<<<`, `&&&&`): that one restarts for every match.
pub fn ascii_positions(text: &str, byte: u8) -> impl Iterator<Item = usize> + '_ {
    debug_assert!(byte.is_ascii());
    text.bytes()
        .enumerate()
        .filter_map(move |(i, b)| (b == byte).then_some(i))
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
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // `text[copied..]` is still to be copied to `out`.
    let mut copied = 0;
    for lt in ascii_positions(text, b'<') {
        let from = lt + 1;
        // Inside a tag just removed; or no name that could be inline (they all start with
        // a letter, after an optional `/`).
        if lt < copied
            || !bytes
                .get(from)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'/')
        {
            continue;
        }
        let after = &text[from..];
        if !is_tag_in(raw_tag_name(after), INLINE_TAGS) {
            continue;
        }
        // A tag ends at the first `>`, and only if no `<` comes before it: the search stops
        // at whichever comes first, so it never runs past the next `<` (searching on to the
        // end for a `>` from every `<` would be quadratic on text with no `>`).
        if let Some(gt) = after
            .bytes()
            .position(|b| b == b'<' || b == b'>')
            .filter(|&i| after.as_bytes()[i] == b'>')
        {
            out.push_str(&text[copied..lt]);
            copied = from + gt + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Removes markdown bold/italic markers and surrounding whitespace (`**时间：**` → `时间：`).
pub fn strip_emphasis(text: &str) -> String {
    if !text.contains('*') && !text.contains("__") {
        return normalize_space(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // `text[copied..]` is still to be copied to `out`.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let marker = match bytes[i] {
            b'*' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            _ => 0,
        };
        if marker > 0 {
            out.push_str(&text[copied..i]);
            copied = i + marker;
        }
        i += marker.max(1);
    }
    out.push_str(&text[copied..]);
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
    let len = text.len();
    let mut out = String::with_capacity(len);
    // `text[copied..]` is still to be copied to `out`. A single ASCII space between two
    // words is copied with them, so ordinary text is copied in a few long pieces.
    let mut copied = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    // A byte that is surely no space, nor the start of one (see `space_at`).
    let plain = |b: u8| b > b' ' && !matches!(b, 0xc2 | 0xe1..=0xe3);
    while i < len {
        if plain(bytes[i]) {
            i += 1;
            continue;
        }
        // A lone space between words (what comes before a space here is never one) stays
        // in the piece being copied.
        if bytes[i] == b' ' && i > 0 && bytes.get(i + 1).is_some_and(|&b| plain(b)) {
            i += 2;
            continue;
        }
        let Some(first) = space_at(text, i) else {
            i += 1;
            continue;
        };
        let start = i;
        i += first;
        while let Some(next) = space_at(text, i) {
            i += next;
        }
        if start == 0 {
            copied = i;
        } else if i == len {
            out.push_str(&text[copied..start]);
            copied = len;
        } else if !(i - start == 1 && bytes[start] == b' ') {
            out.push_str(&text[copied..start]);
            out.push(' ');
            copied = i;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of the whitespace character (including full-width spaces) at byte `i`, if
/// one is there. Read byte by byte: only these lead bytes can start a non-ASCII space
/// (U+0085, U+00A0, U+1680, U+2000…U+205F, U+3000); any other byte is not one.
fn space_at(text: &str, i: usize) -> Option<usize> {
    match text.as_bytes().get(i)? {
        b' ' | b'\t'..=b'\r' => Some(1),
        0xc2 | 0xe1..=0xe3 => text[i..]
            .chars()
            .next()
            .filter(|c| c.is_whitespace() || *c == '\u{3000}' || *c == '\u{a0}')
            .map(char::len_utf8),
        _ => None,
    }
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

/// The longest reference name [`decode_entities`] reads, without `&` and `;`: the longest
/// name in the HTML table (`CounterClockwiseContourIntegral`, 31 bytes; the table's
/// length counts the `&` and the `;` too). `#x10FFFF` and ten-digit decimals fit as well.
pub const MAX_ENTITY_NAME: usize = htmlize::ENTITY_MAX_LENGTH - 2;

/// Decodes HTML character references (`&lt;`, `&#x2f;`, `&nbsp;`, `&bull;`, `&eacute;`…,
/// the whole HTML table) as feeds and our own templates write them; an unknown one is
/// left as written. A reference needs its `;` (`&copy 2024` stays as written).
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // `text[copied..]` is still to be copied to `out`.
    let mut copied = 0;
    for amp in ascii_positions(text, b'&') {
        // Nothing to decode unless a name (a letter) or a number (`#`) follows.
        if amp < copied
            || !bytes
                .get(amp + 1)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'#')
        {
            continue;
        }
        let after = &text[amp + 1..];
        // A reference is at most MAX_ENTITY_NAME bytes before its `;`: look no further
        // (searching to the end for a `;` from every `&` would be quadratic on text with
        // no `;`).
        let decoded = after
            .bytes()
            .take(MAX_ENTITY_NAME + 1)
            .position(|b| b == b';')
            .and_then(|semi| decode_entity(&after[..semi]).map(|c| (c, semi)));
        if let Some((c, semi)) = decoded {
            out.push_str(&text[copied..amp]);
            out.push_str(&c);
            copied = amp + 1 + semi + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The text of one reference, given what stands between `&` and `;`: a number (`#38`,
/// `#x26`) or a name from the HTML table (`amp`, `nbsp`, `NotEqualTilde`, which is two
/// code points). Numbers are read as browsers read them: 0, surrogates and numbers past
/// U+10FFFF are U+FFFD, and 128–159 are the windows-1252 characters old pages meant
/// (`&#150;` is `–`).
pub fn decode_entity(name: &str) -> Option<std::borrow::Cow<'static, str>> {
    use std::borrow::Cow;
    if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        // Too many digits for any code point: the replacement character, as a browser.
        let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        return Some(Cow::Owned(numeric_reference(code).to_string()));
    }
    if name.is_empty() || name.len() > MAX_ENTITY_NAME {
        return None;
    }
    // The table's keys are written `&name;`.
    let mut key = [0u8; htmlize::ENTITY_MAX_LENGTH];
    key[0] = b'&';
    key[1..=name.len()].copy_from_slice(name.as_bytes());
    key[name.len() + 1] = b';';
    let glyph = htmlize::ENTITIES.get(&key[..name.len() + 2])?;
    std::str::from_utf8(glyph).ok().map(Cow::Borrowed)
}

/// The character a numeric reference stands for, as HTML reads it.
fn numeric_reference(code: u32) -> char {
    if (0x80..=0x9f).contains(&code) {
        // The C1 range means windows-1252 bytes in practice (HTML's own rule).
        let byte = [code as u8];
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
        return text.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
    }
    match code {
        0 => char::REPLACEMENT_CHARACTER,
        _ => char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// Test inputs built from `tokens`: every sequence of up to `max_tokens` of them, then
/// `random` sequences of up to `random_tokens` (a fixed seed, so every run checks the
/// same). Used to check a linear scanner against the quadratic one it replaced.
#[cfg(test)]
pub(crate) fn token_strings(
    tokens: &[&str],
    max_tokens: usize,
    random: usize,
    random_tokens: usize,
) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max_tokens {
        layer = layer
            .iter()
            .flat_map(|s| tokens.iter().map(move |t| format!("{s}{t}")))
            .collect();
        out.extend(layer.iter().cloned());
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    for _ in 0..random {
        let len = next(random_tokens + 1);
        out.push((0..len).map(|_| tokens[next(tokens.len())]).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `strip_inline_tags` as it was before it was made linear.
    fn quadratic_strip_inline_tags(text: &str) -> String {
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

    /// `decode_entities` as it was before it was made linear.
    fn quadratic_decode_entities(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            let decoded = after
                .find(';')
                .filter(|semi| *semi <= MAX_ENTITY_NAME)
                .and_then(|semi| decode_entity(&after[..semi]).map(|c| (c, semi)));
            match decoded {
                Some((c, semi)) => {
                    out.push_str(&c);
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

    #[test]
    fn linear_scanners_give_what_the_quadratic_ones_gave() {
        let tags = ["<", ">", "/", "b", "B", "r", "span", "p", " ", "重", "x"];
        for s in token_strings(&tags, 5, 20_000, 40) {
            assert_eq!(
                strip_inline_tags(&s),
                quadratic_strip_inline_tags(&s),
                "{s:?}"
            );
        }
        let refs = [
            "&",
            ";",
            "amp",
            "a",
            "#",
            "x",
            "X",
            "2f",
            "1",
            "12345",
            "thinsp",
            "重",
            " ",
            "CounterClockwiseContourIntegral",
            "NotEqualTilde",
        ];
        for s in token_strings(&refs, 4, 20_000, 40) {
            assert_eq!(decode_entities(&s), quadratic_decode_entities(&s), "{s:?}");
        }
    }

    /// `normalize_space` as it was before it copied whole words.
    fn char_by_char_normalize_space(text: &str) -> String {
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

    /// `split_colon`'s colon as it was found before.
    fn char_by_char_colon(text: &str) -> Option<usize> {
        let bytes = text.as_bytes();
        text.char_indices().find_map(|(i, c)| match c {
            '：' => Some(i),
            ':' => {
                let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
                let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                (!(digit_before && digit_after)).then_some(i)
            }
            _ => None,
        })
    }

    #[test]
    fn faster_whitespace_and_colon_scans_give_what_they_gave() {
        let tokens = [
            " ", "\u{3000}", "\u{a0}", "\u{85}", "\u{2028}", "\u{1680}", "\t", "\x0b", "\n",
            "\x1c", "a", "重", "é", "\u{2030}", ":", "：", "1",
        ];
        for s in token_strings(&tokens, 4, 20_000, 30) {
            assert_eq!(
                normalize_space(&s),
                char_by_char_normalize_space(&s),
                "{s:?}"
            );
            let colon = char_by_char_colon(&s);
            assert_eq!(split_colon(&s).map(|(head, _)| head.len()), colon, "{s:?}");
        }
    }

    /// `strip_emphasis` as it was before it copied the text between markers.
    fn char_by_char_strip_emphasis(text: &str) -> String {
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
        char_by_char_normalize_space(&out)
    }

    #[test]
    fn faster_emphasis_stripping_gives_what_it_gave() {
        let tokens = ["*", "_", "__", " ", "a", "重", "\u{3000}"];
        for s in token_strings(&tokens, 5, 20_000, 30) {
            assert_eq!(strip_emphasis(&s), char_by_char_strip_emphasis(&s), "{s:?}");
        }
    }

    #[test]
    fn tag_names_read_without_allocating_match_tag_name() {
        for s in [
            "/Div class=x>",
            "b>",
            "//B",
            "",
            "1<",
            "tg-spoiler>",
            "重>",
            "!--",
        ] {
            assert_eq!(raw_tag_name(s).to_ascii_lowercase(), tag_name(s), "{s:?}");
        }
        assert!(is_tag_in("SPAN", INLINE_TAGS));
        assert!(!is_tag_in("", INLINE_TAGS));
    }

    #[test]
    fn the_whole_html_entity_table_is_decoded() {
        assert_eq!(
            decode_entities("&bull; 25&deg;C Caf&eacute;&nbsp;&hearts; &lt;b&gt; &amp;"),
            "• 25°C Café\u{a0}♥ <b> &"
        );
        // The longest name, and one that is two code points.
        assert_eq!(decode_entities("&CounterClockwiseContourIntegral;"), "∳");
        assert_eq!(decode_entities("&NotEqualTilde;"), "\u{2242}\u{338}");
        // Numbers as a browser reads them.
        assert_eq!(
            decode_entities("&#x4E2D;&#25991;&#150;&#0;&#xD800;"),
            "中文–\u{fffd}\u{fffd}"
        );
        assert_eq!(decode_entities("&#99999999999;"), "\u{fffd}");
        // Unknown names, names without `;` and empty numbers stay as written.
        for kept in ["&unknownthing;", "&copy 2024", "&#;", "&#x;", "AT&T", "&;"] {
            assert_eq!(decode_entities(kept), kept);
        }
        // A name longer than any in the table is not looked up.
        let long = format!("&{};", "a".repeat(MAX_ENTITY_NAME + 1));
        assert_eq!(decode_entities(&long), long);
    }

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
