//! Turns `对股市：利多。理由…` lines into [`Impact`] data.
//!
//! The stance must open the value (`短期利空，但…`, `中性偏多。…`): a stance word later in
//! the sentence (`成本上升可能推高…`) is commentary, not a call, so such lines keep an
//! unknown stance with the whole value as their note.

use crate::ingest::text::{split_colon, strip_emphasis};
use crate::model::{Direction, Horizon, Impact, Intensity, Leaning, Stance};

/// What one line of an `影响` list turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImpactLine {
    Impact(Impact),
    /// `投资启示：…` and similar: advice, kept but not counted as an impact.
    Advice(String),
}

const ADVICE_LABELS: &[&str] = &["投资启示", "投资建议", "操作建议", "风险提示"];

/// Targets longer than this are sentences that happen to start with `对`, not targets.
const MAX_TARGET_CHARS: usize = 16;

const HORIZONS: &[(&str, Horizon)] = &[
    ("中长期", Horizon::Long),
    ("短期", Horizon::Short),
    ("短线", Horizon::Short),
    ("近期", Horizon::Short),
    ("中期", Horizon::Medium),
    ("长期", Horizon::Long),
    ("长线", Horizon::Long),
];

const INTENSITIES: &[(&str, Intensity)] = &[
    ("温和", Intensity::Mild),
    ("小幅", Intensity::Mild),
    ("轻微", Intensity::Mild),
    ("略微", Intensity::Mild),
    ("边际", Intensity::Mild),
    ("显著", Intensity::Strong),
    ("大幅", Intensity::Strong),
    ("明显", Intensity::Strong),
    ("重大", Intensity::Strong),
    ("强烈", Intensity::Strong),
];

/// Words that state a direction by themselves.
/// Longer phrases come first: `利好出尽` (good news priced in) is a bearish call.
const CORES: &[(&str, Direction, Option<Leaning>, Option<Intensity>)] = &[
    ("利好出尽", Direction::Bearish, None, None),
    ("利空出尽", Direction::Bullish, None, None),
    ("利多出尽", Direction::Bearish, None, None),
    ("利多", Direction::Bullish, None, None),
    ("利好", Direction::Bullish, None, None),
    ("看多", Direction::Bullish, None, None),
    ("看涨", Direction::Bullish, None, None),
    ("正面", Direction::Bullish, None, None),
    ("积极", Direction::Bullish, None, None),
    ("偏多", Direction::Bullish, None, Some(Intensity::Mild)),
    ("偏强", Direction::Bullish, None, Some(Intensity::Mild)),
    ("偏高", Direction::Bullish, None, Some(Intensity::Mild)),
    ("利空", Direction::Bearish, None, None),
    ("利淡", Direction::Bearish, None, None),
    ("看空", Direction::Bearish, None, None),
    ("看跌", Direction::Bearish, None, None),
    ("负面", Direction::Bearish, None, None),
    ("消极", Direction::Bearish, None, None),
    ("承压", Direction::Bearish, None, None),
    ("偏空", Direction::Bearish, None, Some(Intensity::Mild)),
    ("偏弱", Direction::Bearish, None, Some(Intensity::Mild)),
    ("偏低", Direction::Bearish, None, Some(Intensity::Mild)),
    ("中性", Direction::Neutral, None, None),
    ("中立", Direction::Neutral, None, None),
    ("多空交织", Direction::Neutral, None, None),
    ("喜忧参半", Direction::Neutral, None, None),
    ("偏鸽", Direction::Neutral, Some(Leaning::Dovish), None),
    ("鸽派", Direction::Neutral, Some(Leaning::Dovish), None),
    ("偏鹰", Direction::Neutral, Some(Leaning::Hawkish), None),
    ("鹰派", Direction::Neutral, Some(Leaning::Hawkish), None),
];

/// Leanings that may follow `中性`.
const LEANINGS: &[(&str, Leaning)] = &[
    ("偏多", Leaning::Bullish),
    ("偏高", Leaning::Bullish),
    ("偏强", Leaning::Bullish),
    ("偏乐观", Leaning::Bullish),
    ("偏涨", Leaning::Bullish),
    ("偏空", Leaning::Bearish),
    ("偏低", Leaning::Bearish),
    ("偏弱", Leaning::Bearish),
    ("偏悲观", Leaning::Bearish),
    ("偏跌", Leaning::Bearish),
    ("偏鸽", Leaning::Dovish),
    ("偏鹰", Leaning::Hawkish),
];

/// Reads one line of an `影响` list (bullet marker already removed). `None` when the line
/// is neither an impact nor advice.
pub fn parse_impact_line(line: &str) -> Option<ImpactLine> {
    let clean = strip_emphasis(line);
    let (head, value) = split_colon(&clean)?;
    let head = head.trim();
    let value = value.trim();
    if ADVICE_LABELS.contains(&head) {
        return Some(ImpactLine::Advice(value.to_string()));
    }
    let target = head
        .strip_prefix("对于")
        .or_else(|| head.strip_prefix('对'))?
        .trim();
    let target = target.strip_suffix("的影响").unwrap_or(target).trim();
    if target.is_empty() || target.chars().count() > MAX_TARGET_CHARS {
        return None;
    }
    let (stance, label_len) = parse_stance(value);
    let (label, note) = if stance.direction == Direction::Unknown {
        (String::new(), value.to_string())
    } else {
        let note = value[label_len..]
            .trim_start_matches(|c: char| "。，,.;；:： ".contains(c) || c.is_whitespace());
        (value[..label_len].to_string(), note.trim().to_string())
    };
    Some(ImpactLine::Impact(Impact {
        target: target.to_string(),
        stance,
        label,
        note,
    }))
}

fn take_prefix<'a, T: Copy>(text: &'a str, table: &[(&str, T)]) -> Option<(&'a str, T)> {
    table
        .iter()
        .find_map(|(word, value)| text.strip_prefix(word).map(|rest| (rest, *value)))
}

/// Reads the stance words that open `value`; returns the stance and how many bytes they took.
/// A value that opens with no stance word gives [`Stance::UNKNOWN`] and 0.
pub fn parse_stance(value: &str) -> (Stance, usize) {
    let mut rest = value;
    let mut horizon = None;
    let mut intensity = None;
    loop {
        if let Some((r, h)) = take_prefix(rest, HORIZONS) {
            horizon.get_or_insert(h);
            rest = r;
        } else if let Some((r, i)) = take_prefix(rest, INTENSITIES) {
            intensity.get_or_insert(i);
            rest = r;
        } else {
            break;
        }
    }
    let Some((direction, mut leaning, core_intensity)) =
        CORES.iter().find_map(|(word, d, l, i)| {
            rest.strip_prefix(word).map(|r| {
                rest = r;
                (*d, *l, *i)
            })
        })
    else {
        return (Stance::UNKNOWN, 0);
    };
    if direction == Direction::Neutral
        && leaning.is_none()
        && let Some((r, l)) = take_prefix(rest, LEANINGS)
    {
        leaning = Some(l);
        rest = r;
    }
    let stance = Stance {
        direction,
        leaning,
        horizon,
        intensity: intensity.or(core_intensity),
    };
    (stance, value.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impact(line: &str) -> Impact {
        match parse_impact_line(line) {
            Some(ImpactLine::Impact(i)) => i,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn plain_stance_with_note() {
        let i = impact("对股市：利多。情绪改善");
        assert_eq!(i.target, "股市");
        assert_eq!(i.label, "利多");
        assert_eq!(i.stance.direction, Direction::Bullish);
        assert_eq!(i.note, "情绪改善");
    }

    #[test]
    fn qualifiers_and_leanings() {
        let i = impact("对芯片股：短期利空，但长期看需求");
        assert_eq!(
            (i.label.as_str(), i.stance.horizon),
            ("短期利空", Some(Horizon::Short))
        );
        assert_eq!(i.note, "但长期看需求");
        let i = impact("对利率：中性偏鸽。");
        assert_eq!(i.stance.leaning, Some(Leaning::Dovish));
        assert_eq!(i.note, "");
        let i = impact("对通胀: 温和利空");
        assert_eq!(i.stance.intensity, Some(Intensity::Mild));
    }

    #[test]
    fn stance_word_later_in_the_sentence_is_not_a_stance() {
        let i = impact("对新能源行业：成本上升可能推高终端产品价格");
        assert_eq!(i.stance, Stance::UNKNOWN);
        assert_eq!(i.label, "");
        assert_eq!(i.note, "成本上升可能推高终端产品价格");
        let i = impact("对资源企业：短期压力较大");
        assert_eq!(i.stance.direction, Direction::Unknown);
        let i = impact("对股市：利好出尽，或回调");
        assert_eq!(
            (i.label.as_str(), i.stance.direction),
            ("利好出尽", Direction::Bearish)
        );
        let i = impact("对美股（16:00收盘）：偏高");
        assert_eq!(
            (i.target.as_str(), i.stance.direction),
            ("美股（16:00收盘）", Direction::Bullish)
        );
    }

    #[test]
    fn advice_and_non_impacts() {
        assert_eq!(
            parse_impact_line("投资启示：分散配置"),
            Some(ImpactLine::Advice("分散配置".into()))
        );
        assert_eq!(parse_impact_line("市场整体承压"), None);
    }
}
