//! Control characters and terminal escape sequences, removed at ingest.
//!
//! Text copied from a terminal or a log (`ESC[32m上涨ESC[0m`) carries colour codes that
//! Telegram would show as boxes or raw `[32m`, and stray C0/C1 controls (a form feed, a
//! backspace) that mean nothing in a message. Tabs and line breaks stay.

use std::borrow::Cow;

const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';
/// The one-character form of `ESC [` (C1 CSI).
const C1_CSI: char = '\u{9b}';
/// The one-character form of `ESC ]` (C1 OSC).
const C1_OSC: char = '\u{9d}';

/// Whether `c` is a control character that text keeps: tab and line feed.
fn kept_control(c: char) -> bool {
    c == '\t' || c == '\n'
}

fn is_removed_control(c: char) -> bool {
    (c.is_control() && !kept_control(c)) || c == '\u{7f}'
}

/// What the scanner is inside of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// Right after an ESC: the next character says what sequence this is.
    Escape,
    /// A control sequence (`ESC [ 3 2 m`): parameters and intermediates until a final byte.
    Csi,
    /// An operating system command (`ESC ] 0 ; title BEL`): until BEL, `ESC \` or a line end.
    Osc,
    /// Inside an OSC, right after an ESC (the `ESC \` terminator).
    OscEscape,
}

/// `text` without terminal escape sequences and control characters (but tabs and line
/// breaks). One pass; borrowed when there is nothing to remove. A sequence left open at a
/// line end ends there, so an unterminated one cannot swallow the rest of the document.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_removed_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Text;
    for c in text.chars() {
        state = match (state, c) {
            (_, '\n') => {
                out.push('\n');
                State::Text
            }
            (State::Text, ESC) => State::Escape,
            (State::Text, C1_CSI) => State::Csi,
            (State::Text, C1_OSC) => State::Osc,
            (State::Text, c) if is_removed_control(c) => State::Text,
            (State::Text, c) => {
                out.push(c);
                State::Text
            }
            (State::Escape, '[') => State::Csi,
            (State::Escape, ']') => State::Osc,
            (State::Escape, ESC) => State::Escape,
            // Any other two-character escape (`ESC c`, `ESC (B`'s first half, `ESC 7`).
            (State::Escape, _) => State::Text,
            // Parameter and intermediate bytes go on; a final byte (`@`…`~`) ends it.
            (State::Csi, ESC) => State::Escape,
            (State::Csi, '\u{20}'..='\u{3f}') => State::Csi,
            (State::Csi, '\u{40}'..='\u{7e}') => State::Text,
            // Not a well-formed sequence: it ends here, and the character is text again.
            (State::Csi, c) => {
                if !is_removed_control(c) {
                    out.push(c);
                }
                State::Text
            }
            (State::Osc, BEL) => State::Text,
            (State::Osc, ESC) => State::OscEscape,
            (State::Osc, _) => State::Osc,
            (State::OscEscape, '\\') => State::Text,
            (State::OscEscape, _) => State::Osc,
        };
    }
    Cow::Owned(out)
}

/// A summary with the title taken off its front: feeds and bridges often repeat the title
/// as the description, and a commentary's summary opens with its title sentence. Empty when
/// the summary is the title and nothing more. Titles and summaries are compared as
/// [`normalize_title`](crate::ingest::text::normalize_title) compares titles: letters and
/// digits only, any case, so spacing and punctuation differences do not matter.
pub fn summary_without_title(title: &str, summary: &str) -> String {
    let wanted: Vec<char> = title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if wanted.is_empty() {
        return summary.to_string();
    }
    let mut matched = 0;
    let mut end = None;
    for (at, c) in summary.char_indices() {
        if !c.is_alphanumeric() {
            continue;
        }
        for lower in c.to_lowercase() {
            if wanted.get(matched) != Some(&lower) {
                return summary.to_string();
            }
            matched += 1;
        }
        if matched == wanted.len() {
            end = Some(at + c.len_utf8());
            break;
        }
    }
    let Some(end) = end else {
        return summary.to_string();
    };
    summary[end..]
        .trim_start_matches(|c: char| {
            c.is_whitespace()
                || c.is_ascii_punctuation()
                || "，。：；！？、—…·｜“”‘’（）【】".contains(c)
        })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_repeating_the_title_is_not_shown_twice() {
        assert_eq!(summary_without_title("央行宣布降准", "央行宣布降准"), "");
        assert_eq!(summary_without_title("央行宣布降准", " 央行宣布降准！"), "");
        assert_eq!(
            summary_without_title("央行宣布降准", "央行宣布降准：下调0.5个百分点"),
            "下调0.5个百分点"
        );
        assert_eq!(
            summary_without_title("Fed holds", "FED HOLDS — rates unchanged"),
            "rates unchanged"
        );
        assert_eq!(
            summary_without_title("央行宣布降准", "市场预期央行宣布降准"),
            "市场预期央行宣布降准"
        );
        assert_eq!(
            summary_without_title("央行宣布降准", "央行宣布"),
            "央行宣布"
        );
        assert_eq!(summary_without_title("", "正文"), "正文");
    }

    #[test]
    fn colour_codes_and_controls_go_tabs_and_lines_stay() {
        assert_eq!(
            strip_controls("\u{1b}[32m上涨\u{1b}[0m 3%\u{1b}[1;31m!\u{1b}[m"),
            "上涨 3%!"
        );
        assert_eq!(strip_controls("a\u{8}b\u{c}c\u{7f}d\u{85}e"), "abcde");
        assert_eq!(strip_controls("列1\t列2\n下一行"), "列1\t列2\n下一行");
        assert_eq!(
            strip_controls("\u{1b}]0;窗口标题\u{7}正文\u{1b}]8;;https://x\u{1b}\\链接"),
            "正文链接"
        );
        assert_eq!(strip_controls("\u{9b}33m黄\u{1b}c金"), "黄金");
        // An OSC left open ends at the line end, not at the end of the document.
        assert_eq!(strip_controls("\u{1b}]0;open\n第二行"), "\n第二行");
        assert!(matches!(strip_controls("普通文字"), Cow::Borrowed(_)));
    }

    #[test]
    fn hostile_runs_are_read_in_one_pass() {
        let esc = "\u{1b}[".repeat(200_000);
        assert_eq!(strip_controls(&esc), "");
        let osc = "\u{1b}]".repeat(200_000);
        assert_eq!(strip_controls(&osc), "");
    }
}
