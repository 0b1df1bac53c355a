//! Splitting rendered text into messages Telegram accepts: at most `budget` code points
//! and `max_entities` entities each. Cuts fall between blocks (items) first, then at line
//! breaks, then after sentence or clause punctuation, then at a grapheme boundary, so a
//! cut never splits a surrogate pair, a flag or a ZWJ emoji.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unicode_segmentation::GraphemeCursor;

use crate::render::text::{Entity, FormattedText};

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

/// [`CutHints`] with their order checked once: in order (as [`split_blocks`] makes them),
/// each look-up is a binary search rather than a scan of every block for every part.
struct Cuts<'a> {
    hints: &'a CutHints,
    preferred_sorted: bool,
    /// Sorted, and no range overlaps the next.
    forbidden_sorted: bool,
}

impl<'a> Cuts<'a> {
    fn new(hints: &'a CutHints) -> Self {
        Cuts {
            hints,
            preferred_sorted: hints.preferred.is_sorted(),
            forbidden_sorted: hints.forbidden.iter().all(|&(a, b)| a <= b)
                && hints.forbidden.is_sorted_by(|x, y| x.1 < y.0),
        }
    }

    fn allows(&self, cut: usize) -> bool {
        if !self.forbidden_sorted {
            return self.hints.allows(cut);
        }
        // The only range that can hold `cut`: the last one starting at or before it.
        let forbidden = &self.hints.forbidden;
        let after = forbidden.partition_point(|&(a, _)| a <= cut);
        after == 0 || forbidden[after - 1].1 < cut
    }

    /// The last preferred cut in `(start, max_end]`.
    fn preferred(&self, start: usize, max_end: usize) -> Option<usize> {
        let preferred = &self.hints.preferred;
        if !self.preferred_sorted {
            return preferred
                .iter()
                .rev()
                .find(|&&p| p > start && p <= max_end)
                .copied();
        }
        let after = preferred.partition_point(|&p| p <= max_end);
        preferred[..after].last().copied().filter(|&p| p > start)
    }
}

/// The entities of the text to split, walked part by part: sorted by start once, with
/// those still open at the current part's start kept aside, so that a part looks only at
/// the entities it holds rather than at every entity of the text (which is quadratic in
/// a long brief, cut every `max_entities` entities).
struct Entities<'a> {
    all: &'a [Entity],
    /// Indices of the non-empty entities, ordered by start.
    by_start: Vec<usize>,
    /// How many of `by_start` start before the current part.
    passed: usize,
    /// Of those, the ones that end inside or after the part: `(end, index)`, soonest end
    /// on top.
    open: BinaryHeap<Reverse<(usize, usize)>>,
}

impl<'a> Entities<'a> {
    fn new(all: &'a [Entity]) -> Self {
        let mut by_start: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].end > all[i].start)
            .collect();
        by_start.sort_by_key(|&i| all[i].start);
        Entities {
            all,
            by_start,
            passed: 0,
            open: BinaryHeap::new(),
        }
    }

    /// Moves on to the part starting at `start`, which is after the previous one's.
    fn advance(&mut self, start: usize) {
        while let Some(&i) = self.by_start.get(self.passed)
            && self.all[i].start < start
        {
            self.open.push(Reverse((self.all[i].end, i)));
            self.passed += 1;
        }
        while self
            .open
            .peek()
            .is_some_and(|Reverse((end, _))| *end <= start)
        {
            self.open.pop();
        }
    }

    /// The entities that start in `[start, end)`, as a range of `by_start`.
    fn starting_before(&self, end: usize) -> std::ops::Range<usize> {
        let from = self.passed;
        from..from + self.by_start[from..].partition_point(|&i| self.all[i].start < end)
    }

    /// The furthest end for the part starting at `start` that keeps within the entity
    /// limit.
    fn bound(&self, start: usize, end: usize, max_entities: usize) -> usize {
        let carried = self.open.len();
        if carried >= max_entities {
            return end;
        }
        let starting = self.starting_before(end);
        if carried + starting.len() <= max_entities {
            return end;
        }
        let bound = self.all[self.by_start[starting.start + max_entities - carried]].start;
        if bound > start { bound } else { end }
    }

    /// The part `[start, end)` of `full` (as [`FormattedText::slice`] cuts it).
    fn slice(&self, full: &FormattedText, start: usize, end: usize) -> FormattedText {
        let mut held: Vec<usize> = self
            .open
            .iter()
            .map(|Reverse((_, i))| *i)
            .chain(self.by_start[self.starting_before(end)].iter().copied())
            .collect();
        // In the text's own order, as a slice of the whole keeps them.
        held.sort_unstable();
        let entities = held
            .into_iter()
            .filter_map(|i| self.all[i].clipped(start, end))
            .collect();
        FormattedText {
            text: full.text[start..end].to_string(),
            entities,
        }
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

const SENTENCE_END: &[char] = &['。', '！', '？', '；'];
/// Closing marks that belong with the sentence before them: no cut just before one.
const CLOSERS: &str = "”’」』）》】\"')]";
const CLAUSE_END: &[char] = &['，', '、', '：'];
const ASCII_SENTENCE_END: &[char] = &['.', '!', '?', ';', ','];

/// Latest position in `(start, max_end]` after which a cut is allowed by `accept`.
fn latest_cut(
    text: &str,
    cuts: &Cuts,
    start: usize,
    max_end: usize,
    accept: impl Fn(char, Option<char>) -> bool,
) -> Option<usize> {
    let mut next_char = text[max_end..].chars().next();
    for (i, c) in text[start..max_end].char_indices().rev() {
        let cut = start + i + c.len_utf8();
        if accept(c, next_char)
            && cuts.allows(cut)
            && is_grapheme_boundary(text, cut)
            && !text[start..cut].trim().is_empty()
        {
            return Some(cut);
        }
        next_char = Some(c);
    }
    None
}

fn choose_cut(text: &str, cuts: &Cuts, start: usize, max_end: usize) -> usize {
    if let Some(cut) = cuts.preferred(start, max_end) {
        return cut;
    }
    if let Some(cut) = latest_cut(text, cuts, start, max_end, |c, _| c == '\n') {
        return cut;
    }
    // A sentence end in the last half of the room beats a later comma.
    let half = start + (max_end - start) / 2;
    let sentence = latest_cut(text, cuts, start, max_end, |c, next| {
        (SENTENCE_END.contains(&c) && next.is_none_or(|n| !CLOSERS.contains(n)))
            || (ASCII_SENTENCE_END[..4].contains(&c) && next.is_none_or(char::is_whitespace))
    });
    if let Some(cut) = sentence.filter(|&c| c >= half) {
        return cut;
    }
    let clause = latest_cut(text, cuts, start, max_end, |c, next| {
        CLAUSE_END.contains(&c) || (c == ',' && next.is_none_or(char::is_whitespace))
    });
    if let Some(cut) = clause.into_iter().chain(sentence).max() {
        return cut;
    }
    let mut cursor = GraphemeCursor::new(max_end, text.len(), true);
    let mut at = max_end;
    loop {
        if cursor.is_boundary(text, 0).unwrap_or(false) && at > start && cuts.allows(at) {
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
    let cuts = Cuts::new(hints);
    let mut entities = Entities::new(&full.entities);
    while start < text.len() {
        entities.advance(start);
        let by_chars = advance_chars(text, start, budget);
        let max_end = entities.bound(start, by_chars, limits.max_entities);
        let cut = if max_end == text.len() {
            text.len()
        } else {
            choose_cut(text, &cuts, start, max_end)
        };
        let end = start + text[start..cut].trim_end().len();
        parts.push(entities.slice(full, start, end));
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
    use crate::render::text::{EntityKind, parse_html};

    /// `entity_bound` as it was: every entity looked at for every part.
    fn scanning_entity_bound(
        full: &FormattedText,
        start: usize,
        end: usize,
        max_entities: usize,
    ) -> usize {
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

    /// `split_text` as it was: every entity and every hint looked at for every part.
    fn scanning_split_text(
        full: &FormattedText,
        hints: &CutHints,
        limits: SplitLimits,
    ) -> Vec<FormattedText> {
        let text = full.text.as_str();
        let cuts = Cuts {
            hints,
            preferred_sorted: false,
            forbidden_sorted: false,
        };
        let mut parts = Vec::new();
        let mut start = skip_whitespace(text, 0);
        let budget = limits.budget.max(1);
        while start < text.len() {
            let by_chars = advance_chars(text, start, budget);
            let max_end = scanning_entity_bound(full, start, by_chars, limits.max_entities);
            let cut = if max_end == text.len() {
                text.len()
            } else {
                choose_cut(text, &cuts, start, max_end)
            };
            let end = start + text[start..cut].trim_end().len();
            parts.push(full.slice(start, end));
            start = skip_whitespace(text, cut);
        }
        parts
    }

    fn limits(budget: usize) -> SplitLimits {
        SplitLimits {
            budget,
            max_entities: 100,
        }
    }

    /// A fixed-seed generator, so every run checks the same cases.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize % n.max(1)
        }

        fn pick(&mut self, from: &[usize], count: usize) -> Vec<usize> {
            (0..count).map(|_| from[self.below(from.len())]).collect()
        }
    }

    #[test]
    fn part_by_part_split_gives_what_the_scanning_one_gave() {
        let tokens = [
            "a",
            "重",
            "。",
            "，",
            "\n",
            " ",
            "🇨🇳",
            "👨\u{200d}👩",
            ".",
            "x y",
            "\n\n",
        ];
        let mut rng = Lcg(0x2545_f491_4f6c_dd1d);
        for _ in 0..5_000 {
            let text: String = (0..rng.below(40))
                .map(|_| tokens[rng.below(tokens.len())])
                .collect();
            let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            bounds.push(text.len());
            let entities = (0..rng.below(9))
                .map(|k| {
                    let mut ends = rng.pick(&bounds, 2);
                    ends.sort_unstable();
                    let kind = if k % 2 == 0 {
                        EntityKind::Bold
                    } else {
                        EntityKind::Italic
                    };
                    Entity {
                        kind,
                        start: ends[0],
                        end: ends[1],
                    }
                })
                .collect();
            let full = FormattedText { text, entities };
            // Mostly in order, as `split_blocks` makes them; sometimes not.
            let count = rng.below(6);
            let mut preferred = rng.pick(&bounds, count);
            if rng.below(4) > 0 {
                preferred.sort_unstable();
            }
            let count = 2 * rng.below(4);
            let mut points = rng.pick(&bounds, count);
            if rng.below(4) > 0 {
                points.sort_unstable();
                points.dedup();
            }
            let forbidden = points.chunks_exact(2).map(|p| (p[0], p[1])).collect();
            let hints = CutHints {
                preferred,
                forbidden,
            };
            let limits = SplitLimits {
                budget: 1 + rng.below(15),
                max_entities: 1 + rng.below(4),
            };
            assert_eq!(
                split_text(&full, &hints, limits),
                scanning_split_text(&full, &hints, limits),
                "{full:?} {hints:?} {limits:?}"
            );
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
