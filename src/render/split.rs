//! Splitting rendered text into messages Telegram accepts: at most `budget` code points
//! and `max_entities` entities each. Cuts fall between blocks (items) first, then at line
//! breaks, then after sentence or clause punctuation, then at a grapheme boundary, so a
//! cut never splits a surrogate pair, a flag or a ZWJ emoji.

use unicode_segmentation::GraphemeCursor;

use crate::render::text::FormattedText;

/// A rendered piece the splitter keeps whole when it can.
#[derive(Debug, Clone)]
pub struct Block {
    pub text: FormattedText,
    /// A section heading: a cut right after it would leave it alone at a message's end.
    pub keep_with_next: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct SplitLimits {
    /// Code points per message, not counting the part number.
    pub budget: usize,
    pub max_entities: usize,
}

/// Joins blocks with a blank line and splits the result. Returns the parts without
/// part numbers; [`number_parts`] adds them.
pub fn split_blocks(blocks: &[Block], limits: SplitLimits) -> Vec<FormattedText> {
    let mut joined = FormattedText::default();
    let mut hints = CutHints::default();
    // End of the previous block's text, if that block was a heading.
    let mut heading_end: Option<usize> = None;
    for block in blocks {
        let text = block.text.trimmed();
        if text.text.is_empty() {
            continue;
        }
        if !joined.text.is_empty() {
            joined.append(&FormattedText::plain("\n\n"));
            match heading_end.take() {
                Some(end) => hints.forbidden.push((end, joined.text.len())),
                None => hints.preferred.push(joined.text.len()),
            }
        }
        joined.append(&text);
        heading_end = block.keep_with_next.then_some(joined.text.len());
    }
    split_text(&joined, &hints, limits)
}

/// Where the splitter should and should not cut, as byte offsets into the joined text.
#[derive(Debug, Clone, Default)]
pub struct CutHints {
    /// Block boundaries: the best places to cut.
    pub preferred: Vec<usize>,
    /// Inclusive ranges no cut may fall in unless nothing else fits (between a section
    /// heading and its first item).
    pub forbidden: Vec<(usize, usize)>,
}

impl CutHints {
    fn allows(&self, cut: usize) -> bool {
        !self.forbidden.iter().any(|&(a, b)| (a..=b).contains(&cut))
    }
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    from + (text.len() - from - text[from..].trim_start().len())
}

/// Byte offset after at most `budget` chars from `start`.
fn advance_chars(text: &str, start: usize, budget: usize) -> usize {
    text[start..]
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(i, _)| start + i)
}

fn is_grapheme_boundary(text: &str, at: usize) -> bool {
    GraphemeCursor::new(at, text.len(), true)
        .is_boundary(text, 0)
        .unwrap_or(false)
}

/// The furthest end for a part starting at `start` that keeps within the entity limit.
fn entity_bound(full: &FormattedText, start: usize, end: usize, max_entities: usize) -> usize {
    let carried = full
        .entities
        .iter()
        .filter(|e| e.start < start && e.end > start)
        .count();
    if carried >= max_entities {
        return end;
    }
    let mut starts: Vec<usize> = full
        .entities
        .iter()
        .filter(|e| e.start >= start && e.start < end && e.end > e.start)
        .map(|e| e.start)
        .collect();
    if carried + starts.len() <= max_entities {
        return end;
    }
    starts.sort_unstable();
    let bound = starts[max_entities - carried];
    if bound > start { bound } else { end }
}

const SENTENCE_END: &[char] = &['。', '！', '？', '；'];
/// Closing marks that belong with the sentence before them: no cut just before one.
const CLOSERS: &str = "”’」』）》】\"')]";
const CLAUSE_END: &[char] = &['，', '、', '：'];
const ASCII_SENTENCE_END: &[char] = &['.', '!', '?', ';', ','];

/// Latest position in `(start, max_end]` after which a cut is allowed by `accept`.
fn latest_cut(
    text: &str,
    hints: &CutHints,
    start: usize,
    max_end: usize,
    accept: impl Fn(char, Option<char>) -> bool,
) -> Option<usize> {
    let mut next_char = text[max_end..].chars().next();
    for (i, c) in text[start..max_end].char_indices().rev() {
        let cut = start + i + c.len_utf8();
        if accept(c, next_char)
            && hints.allows(cut)
            && is_grapheme_boundary(text, cut)
            && !text[start..cut].trim().is_empty()
        {
            return Some(cut);
        }
        next_char = Some(c);
    }
    None
}

fn choose_cut(text: &str, hints: &CutHints, start: usize, max_end: usize) -> usize {
    if let Some(&cut) = hints
        .preferred
        .iter()
        .rev()
        .find(|&&p| p > start && p <= max_end)
    {
        return cut;
    }
    if let Some(cut) = latest_cut(text, hints, start, max_end, |c, _| c == '\n') {
        return cut;
    }
    // A sentence end in the last half of the room beats a later comma.
    let half = start + (max_end - start) / 2;
    let sentence = latest_cut(text, hints, start, max_end, |c, next| {
        (SENTENCE_END.contains(&c) && next.is_none_or(|n| !CLOSERS.contains(n)))
            || (ASCII_SENTENCE_END[..4].contains(&c) && next.is_none_or(char::is_whitespace))
    });
    if let Some(cut) = sentence.filter(|&c| c >= half) {
        return cut;
    }
    let clause = latest_cut(text, hints, start, max_end, |c, next| {
        CLAUSE_END.contains(&c) || (c == ',' && next.is_none_or(char::is_whitespace))
    });
    if let Some(cut) = clause.into_iter().chain(sentence).max() {
        return cut;
    }
    let mut cursor = GraphemeCursor::new(max_end, text.len(), true);
    let mut at = max_end;
    loop {
        if cursor.is_boundary(text, 0).unwrap_or(false) && at > start && hints.allows(at) {
            return at;
        }
        match cursor.prev_boundary(text, 0) {
            Ok(Some(prev)) if prev > start => at = prev,
            // One grapheme longer than a whole message: cut it at a char boundary.
            _ => return max_end,
        }
    }
}

/// Splits `full` into parts within `limits`, preferring the given block boundaries.
pub fn split_text(
    full: &FormattedText,
    hints: &CutHints,
    limits: SplitLimits,
) -> Vec<FormattedText> {
    let text = full.text.as_str();
    let mut parts = Vec::new();
    let mut start = skip_whitespace(text, 0);
    // A zero budget could never make progress.
    let budget = limits.budget.max(1);
    while start < text.len() {
        let by_chars = advance_chars(text, start, budget);
        let max_end = entity_bound(full, start, by_chars, limits.max_entities);
        let cut = if max_end == text.len() {
            text.len()
        } else {
            choose_cut(text, hints, start, max_end)
        };
        let end = start + text[start..cut].trim_end().len();
        parts.push(full.slice(start, end));
        start = skip_whitespace(text, cut);
    }
    parts
}

/// Appends `(i/n)` on its own line to every part when there is more than one.
pub fn number_parts(parts: Vec<FormattedText>) -> Vec<FormattedText> {
    let total = parts.len();
    if total < 2 {
        return parts;
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, mut part)| {
            part.text.push_str(&format!("\n\n({}/{total})", i + 1));
            part
        })
        .collect()
}

/// Room the part number needs, so `budget + PART_NUMBER_RESERVE` stays within Telegram's
/// limit for up to 9999 parts.
pub const PART_NUMBER_RESERVE: usize = 13;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::text::parse_html;

    fn limits(budget: usize) -> SplitLimits {
        SplitLimits {
            budget,
            max_entities: 100,
        }
    }

    #[test]
    fn long_line_cuts_after_punctuation_and_reopens_entities() {
        let t = parse_html("<b>第一句话很长。第二句话也很长，第三句</b>").unwrap();
        let parts = split_text(&t, &CutHints::default(), limits(9));
        assert_eq!(parts[0].text, "第一句话很长。");
        assert_eq!(parts[0].entities.len(), 1);
        assert_eq!(
            parts[1].entities[0].start, 0,
            "bold reopens in the next part"
        );
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, t.text);
    }

    #[test]
    fn never_splits_a_flag_or_zwj_emoji() {
        let t = FormattedText::plain("🇨🇳🇺🇸👨‍👩‍👧‍👦🇯🇵");
        for budget in 1..12 {
            for part in split_text(&t, &CutHints::default(), limits(budget)) {
                assert!(part.char_count() <= budget.max(7), "{budget}: {part:?}");
                assert!(t.text.contains(&part.text));
            }
        }
        let parts = split_text(&t, &CutHints::default(), limits(3));
        assert_eq!(parts[0].text, "🇨🇳");
    }

    #[test]
    fn heading_is_not_left_alone() {
        let block = |s: &str, keep| Block {
            text: FormattedText::plain(s),
            keep_with_next: keep,
        };
        let blocks = vec![
            block("aaaa", false),
            block("HEAD", true),
            block("bbbbbbbbbb", false),
        ];
        let parts = split_blocks(&blocks, limits(18));
        assert_eq!(parts[0].text, "aaaa");
        assert!(parts[1].text.starts_with("HEAD\n\nbbbb"));
    }

    #[test]
    fn entity_limit_forces_a_cut() {
        let html: String = (0..30).map(|i| format!("<b>{i}</b> ")).collect();
        let t = parse_html(&html).unwrap();
        let parts = split_text(
            &t,
            &CutHints::default(),
            SplitLimits {
                budget: 4000,
                max_entities: 10,
            },
        );
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.entities.len() <= 10));
    }
}
