//! YAML front matter (`---` … `---`) and the date formats documents use.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use yaml_rust2::{Yaml, YamlLoader};

/// A parsed front matter block and where the markdown body starts.
#[derive(Debug)]
pub struct FrontMatter {
    map: yaml_rust2::yaml::Hash,
    /// The raw YAML lines, to find the line of a key for error messages.
    raw: String,
    /// 1-based line number of the first YAML line.
    first_line: usize,
}

/// Why a front matter block could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontMatterError {
    NotClosed { opened_at: usize },
    InvalidYaml { line: usize, message: String },
    NotAMapping { line: usize },
}

impl std::fmt::Display for FrontMatterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrontMatterError::NotClosed { opened_at } => write!(
                f,
                "line {opened_at}: front matter is opened with --- but never closed; add a --- line after it"
            ),
            FrontMatterError::InvalidYaml { line, message } => {
                write!(f, "line {line}: invalid YAML in front matter: {message}")
            }
            FrontMatterError::NotAMapping { line } => write!(
                f,
                "line {line}: front matter must be `key: value` lines (a YAML mapping)"
            ),
        }
    }
}

/// Splits off front matter. Returns `(front matter, body, 1-based line where body starts)`;
/// text without an opening `---` line has no front matter.
pub fn split_front_matter(
    text: &str,
) -> Result<(Option<FrontMatter>, &str, usize), FrontMatterError> {
    let mut offset = 0;
    let mut line_no = 1;
    // Blank lines before the opening fence are tolerated.
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            offset += line.len();
            line_no += 1;
        } else {
            break;
        }
    }
    let rest = &text[offset..];
    let first = rest.split_inclusive('\n').next().unwrap_or("");
    if first.trim_end() != "---" {
        return Ok((None, text, 1));
    }
    let opened_at = line_no;
    let yaml_start = offset + first.len();
    let mut pos = yaml_start;
    for (current_line, line) in (opened_at + 1..).zip(text[yaml_start..].split_inclusive('\n')) {
        let fence = line.trim_end();
        if fence == "---" || fence == "..." {
            let raw = &text[yaml_start..pos];
            let body = &text[pos + line.len()..];
            let fm = parse_yaml(raw, opened_at + 1)?;
            return Ok((Some(fm), body, current_line + 1));
        }
        pos += line.len();
    }
    Err(FrontMatterError::NotClosed { opened_at })
}

/// Refuses YAML aliases before the document is built: each alias is expanded into a full
/// copy, so a few hundred bytes of nested aliases would exhaust memory. Front matter never
/// needs them.
fn refuse_aliases(raw: &str, first_line: usize) -> Result<(), FrontMatterError> {
    let mut parser = yaml_rust2::parser::Parser::new_from_str(raw);
    loop {
        match parser.next_token() {
            Ok((yaml_rust2::Event::StreamEnd, _)) => return Ok(()),
            Ok((yaml_rust2::Event::Alias(_), mark)) => {
                return Err(FrontMatterError::InvalidYaml {
                    line: first_line + mark.line().saturating_sub(1),
                    message: "YAML aliases (*name) are not allowed in front matter".to_string(),
                });
            }
            Ok(_) => {}
            Err(e) => {
                return Err(FrontMatterError::InvalidYaml {
                    line: first_line + e.marker().line().saturating_sub(1),
                    message: e.info().to_string(),
                });
            }
        }
    }
}

fn parse_yaml(raw: &str, first_line: usize) -> Result<FrontMatter, FrontMatterError> {
    refuse_aliases(raw, first_line)?;
    let docs = YamlLoader::load_from_str(raw).map_err(|e| FrontMatterError::InvalidYaml {
        line: first_line + e.marker().line().saturating_sub(1),
        message: e.info().to_string(),
    })?;
    let map = match docs.into_iter().next() {
        None | Some(Yaml::Null) => yaml_rust2::yaml::Hash::new(),
        Some(Yaml::Hash(map)) => map,
        Some(_) => return Err(FrontMatterError::NotAMapping { line: first_line }),
    };
    Ok(FrontMatter {
        map,
        raw: raw.to_string(),
        first_line,
    })
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.trim().to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

impl FrontMatter {
    fn get(&self, key: &str) -> Option<&Yaml> {
        self.map.get(&Yaml::String(key.to_string()))
    }

    /// A scalar value as text; `None` when absent, empty or not a scalar.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key)
            .and_then(scalar_text)
            .filter(|s| !s.is_empty())
    }

    /// Whether `key` is present with a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !matches!(v, Yaml::Null))
    }

    /// A list of scalars; a single scalar counts as a one-element list.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Yaml::Array(values)) => values
                .iter()
                .filter_map(scalar_text)
                .filter(|s| !s.is_empty())
                .collect(),
            Some(other) => scalar_text(other)
                .filter(|s| !s.is_empty())
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    }

    /// 1-based line number of `key:` in the file, for error messages.
    pub fn line_of(&self, key: &str) -> usize {
        self.raw
            .lines()
            .position(|l| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            })
            .map_or(self.first_line, |i| self.first_line + i)
    }
}

/// A date as documents write it: the day it belongs to (in the configured zone) and, when
/// a time of day is given, the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocDate {
    pub day: NaiveDate,
    pub instant: Option<DateTime<Utc>>,
}

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"];
const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M",
];

/// The instant of a local time: the earlier one when a DST change repeats it, and an
/// hour later when a DST gap skips it (zones without DST, like Asia/Shanghai, have neither).
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Parses the date formats found in front matter and `时间` fields. Dates without a zone
/// are in `tz`.
pub fn parse_doc_date(text: &str, tz: Tz) -> Option<DocDate> {
    let text = text.trim().trim_matches('"').trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let instant = t.with_timezone(&Utc);
        return Some(DocDate {
            day: instant.with_timezone(&tz).date_naive(),
            instant: Some(instant),
        });
    }
    for format in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            let instant = t.with_timezone(&Utc);
            return Some(DocDate {
                day: instant.with_timezone(&tz).date_naive(),
                instant: Some(instant),
            });
        }
    }
    for format in DATETIME_FORMATS {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Some(DocDate {
                day: local.date(),
                instant: local_to_utc(tz, local),
            });
        }
    }
    for format in DATE_FORMATS {
        if let Ok(day) = NaiveDate::parse_from_str(text, format) {
            return Some(DocDate { day, instant: None });
        }
    }
    None
}

/// What an item's `时间` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemTime {
    At(DateTime<Utc>),
    /// A date without a time of day: nothing to show as a time, and nothing made up.
    DayOnly,
}

/// Parses an item's `时间`: a full date-time, a date, or a bare `HH:MM` on the brief's day.
pub fn parse_item_time(text: &str, day: NaiveDate, tz: Tz) -> Option<ItemTime> {
    let text = text.trim();
    if let Some(date) = parse_doc_date(text, tz) {
        return Some(date.instant.map_or(ItemTime::DayOnly, ItemTime::At));
    }
    ["%H:%M", "%H:%M:%S", "%H点%M分"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(text, f).ok())
        .and_then(|t| local_to_utc(tz, day.and_time(t)))
        .map(ItemTime::At)
}

/// The date a file name carries, as blogs and exporters write it: `2024-08-31-slug.md`,
/// Jekyll's unpadded `2024-8-31-slug.md`, `2024_08_31`, `2024.8.31`, compact `20260216`,
/// and `20260216_090008` or `20260216-0900` with a time of day (read in `tz`). The first
/// run of digits that makes a real date wins; digits glued to more digits (`120260216`,
/// an id) do not count. One pass over the name.
pub fn date_in_file_name(name: &str, tz: Tz) -> Option<DocDate> {
    date_starts(name.as_bytes())
        .find_map(|at| date_at(name.as_bytes(), at, DateWriting::FileName, tz))
}

/// A date that opens or closes a title line, the way daily posts are titled:
/// `# 2026年2月14日 早盘点评`, `2026-02-14 市场综述`, `市场点评（2026/2/14）`. A date in the
/// middle (`回顾2008年9月15日雷曼倒闭`) is history, not the document's day.
pub fn date_in_title(line: &str, tz: Tz) -> Option<NaiveDate> {
    let line = line.trim_start_matches('#').trim();
    let bytes = line.as_bytes();
    let opening = |c: char| c.is_whitespace() || "（(【[「《".contains(c);
    let closing = |c: char| c.is_whitespace() || "）)】]」》：:，,。".contains(c);
    // Where the title's words begin and end: a date opening the line starts at or before
    // the first, one closing it ends at or after the last. Found once, so that trying
    // each run of digits stays linear.
    let words_start = line.find(|c: char| !opening(c)).unwrap_or(line.len());
    let words_end = line
        .char_indices()
        .rev()
        .find(|&(_, c)| !closing(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    date_starts(bytes).find_map(|at| {
        let (date, end) = date_span(bytes, at, DateWriting::Text, tz)?;
        (at <= words_start || end >= words_end).then_some(date.day)
    })
}

/// The offsets where a run of ASCII digits starts.
fn date_starts(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..bytes.len())
        .filter(move |&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
}

/// Where a date is written: file names use `-`, `_`, `.` or no separator at all, and may
/// add a time; titles use `-`, `/`, `.` or `年`/`月`/`日`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateWriting {
    FileName,
    Text,
}

/// The length of the run of ASCII digits at `at`.
fn digits_at(bytes: &[u8], at: usize) -> usize {
    bytes.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

fn number(bytes: &[u8], at: usize, len: usize) -> Option<u32> {
    std::str::from_utf8(bytes.get(at..at + len)?)
        .ok()?
        .parse()
        .ok()
}

/// Years a written date may have: anything else is more likely an id or a size.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;

fn date_at(bytes: &[u8], at: usize, writing: DateWriting, tz: Tz) -> Option<DocDate> {
    date_span(bytes, at, writing, tz).map(|(date, _)| date)
}

/// A date starting at `at` (the first digit of a run of digits) and the offset just past it.
fn date_span(bytes: &[u8], at: usize, writing: DateWriting, tz: Tz) -> Option<(DocDate, usize)> {
    let run = digits_at(bytes, at);
    let year = |y: u32| {
        i32::try_from(y)
            .ok()
            .filter(|y| PLAUSIBLE_YEARS.contains(y))
    };
    if run == 4 {
        // `YYYY-M-D`: the same separator twice, or 年 then 月 (then an optional 日 or 号).
        let year = year(number(bytes, at, 4)?)?;
        let (first, second): (&[u8], &[u8]) = match (bytes.get(at + 4)?, writing) {
            (b'-', _) => (b"-", b"-"),
            (b'.', _) => (b".", b"."),
            (b'_', DateWriting::FileName) => (b"_", b"_"),
            (b'/', DateWriting::Text) => (b"/", b"/"),
            (0xe5, DateWriting::Text) => ("年".as_bytes(), "月".as_bytes()),
            _ => return None,
        };
        if !bytes[at + 4..].starts_with(first) {
            return None;
        }
        let month_at = at + 4 + first.len();
        let month_len = digits_at(bytes, month_at);
        if !(1..=2).contains(&month_len) || !bytes[month_at + month_len..].starts_with(second) {
            return None;
        }
        let day_at = month_at + month_len + second.len();
        let day_len = digits_at(bytes, day_at);
        if !(1..=2).contains(&day_len) {
            return None;
        }
        let day = NaiveDate::from_ymd_opt(
            year,
            number(bytes, month_at, month_len)?,
            number(bytes, day_at, day_len)?,
        )?;
        let mut end = day_at + day_len;
        if first != b"-" && first != b"." && first != b"_" && first != b"/" {
            for mark in ["日", "号"] {
                if bytes[end..].starts_with(mark.as_bytes()) {
                    end += mark.len();
                }
            }
        }
        return Some((DocDate { day, instant: None }, end));
    }
    if run != 8 || writing != DateWriting::FileName {
        return None;
    }
    // `YYYYMMDD`, maybe followed by `_HHMMSS`, `-HHMM` or `THHMMSS`.
    let day = NaiveDate::from_ymd_opt(
        year(number(bytes, at, 4)?)?,
        number(bytes, at + 4, 2)?,
        number(bytes, at + 6, 2)?,
    )?;
    let time_at = at + 9;
    let time_len = bytes
        .get(at + 8)
        .filter(|b| matches!(b, b'_' | b'-' | b'T'))
        .map_or(0, |_| digits_at(bytes, time_at));
    let time = match time_len {
        4 => NaiveTime::from_hms_opt(
            number(bytes, time_at, 2)?,
            number(bytes, time_at + 2, 2)?,
            0,
        ),
        6 => NaiveTime::from_hms_opt(
            number(bytes, time_at, 2)?,
            number(bytes, time_at + 2, 2)?,
            number(bytes, time_at + 4, 2)?,
        ),
        _ => None,
    };
    let end = if time.is_some() {
        time_at + time_len
    } else {
        at + 8
    };
    Some((
        DocDate {
            day,
            instant: time.and_then(|t| local_to_utc(tz, day.and_time(t))),
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: Tz = Tz::Asia__Shanghai;

    #[test]
    fn dates_in_every_written_form() {
        let d = parse_doc_date("2025-02-13 17:25:58", TZ).unwrap();
        assert_eq!(d.day.to_string(), "2025-02-13");
        assert_eq!(d.instant.unwrap().to_rfc3339(), "2025-02-13T09:25:58+00:00");
        let d = parse_doc_date("2026-04-02T21:05:00Z", TZ).unwrap();
        assert_eq!(
            d.day.to_string(),
            "2026-04-03",
            "21:05 UTC is the next morning in Shanghai"
        );
        assert_eq!(parse_doc_date("2026-02-05", TZ).unwrap().instant, None);
        assert!(parse_doc_date("yesterday", TZ).is_none());
    }

    #[test]
    fn bare_time_falls_on_the_brief_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 12).unwrap();
        let Some(ItemTime::At(t)) = parse_item_time("06:30", day, TZ) else {
            panic!("a time");
        };
        assert_eq!(t.to_rfc3339(), "2026-03-11T22:30:00+00:00");
        assert_eq!(
            parse_item_time("2026-03-11", day, TZ),
            Some(ItemTime::DayOnly)
        );
        assert_eq!(parse_item_time("昨晚", day, TZ), None);
    }

    #[test]
    fn front_matter_errors_name_the_line() {
        let err = split_front_matter("---\ntitle: x\nbody\n").unwrap_err();
        assert_eq!(err, FrontMatterError::NotClosed { opened_at: 1 });
        let bomb = "---\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n---\nbody";
        let err = split_front_matter(bomb).unwrap_err();
        assert!(
            matches!(&err, FrontMatterError::InvalidYaml { line: 3, message } if message.contains("aliases")),
            "{err:?}"
        );
        let err = split_front_matter("---\ntitle: x\ntags: [a, b\n---\nbody").unwrap_err();
        assert!(
            matches!(err, FrontMatterError::InvalidYaml { .. }),
            "{err:?}"
        );
        let (fm, body, line) =
            split_front_matter("---\ntitle: x\ndate: 2026-01-02\n---\nbody").unwrap();
        let fm = fm.unwrap();
        assert_eq!(fm.text("title").as_deref(), Some("x"));
        assert_eq!(fm.line_of("date"), 3);
        assert_eq!((body, line), ("body", 5));
    }

    fn name_day(name: &str) -> Option<String> {
        date_in_file_name(name, TZ).map(|d| d.day.to_string())
    }

    #[test]
    fn file_name_dates_in_every_written_form() {
        for (name, day) in [
            ("commentary-2026-03-12.txt", "2026-03-12"),
            ("2024-8-31-some-slug.md", "2024-08-31"),
            ("2024-08-31-some-slug.md", "2024-08-31"),
            ("2024-12-1-slug.md", "2024-12-01"),
            ("post_2024_8_31.md", "2024-08-31"),
            ("daily.2024.8.31.txt", "2024-08-31"),
            ("20260216.md", "2026-02-16"),
            ("brief_20260216_090008.md", "2026-02-16"),
            ("v2-2026-02-16.md", "2026-02-16"),
        ] {
            assert_eq!(name_day(name).as_deref(), Some(day), "{name}");
        }
        let at = date_in_file_name("brief_20260216_090008.md", TZ).unwrap();
        assert_eq!(
            at.instant.unwrap().to_rfc3339(),
            "2026-02-16T01:00:08+00:00"
        );
        assert_eq!(
            date_in_file_name("x-20260216-0930.md", TZ)
                .unwrap()
                .instant
                .unwrap()
                .to_rfc3339(),
            "2026-02-16T01:30:00+00:00"
        );
        for name in [
            "notes.txt",
            "2026-13-01.md",
            "2026-02-30.md",
            "2026-8_31.md",
            "id-120260216.md",
            "20261399.md",
            "report-1234-5-6.md",
            "2026-02.md",
        ] {
            assert_eq!(name_day(name), None, "{name}");
        }
        // A non-date run first, the date after it.
        assert_eq!(name_day("0001-2026-3-9.md").as_deref(), Some("2026-03-09"));
    }

    #[test]
    fn title_dates_open_or_close_the_line() {
        let day = |line: &str| date_in_title(line, TZ).map(|d| d.to_string());
        for (line, want) in [
            ("# 2026年2月14日 早盘点评", "2026-02-14"),
            ("## 2026年02月14日早盘点评", "2026-02-14"),
            ("2026-02-14 市场综述", "2026-02-14"),
            ("市场点评（2026/2/14）", "2026-02-14"),
            ("每日复盘 2026.2.14", "2026-02-14"),
            ("【2026年2月14号】晨报", "2026-02-14"),
        ] {
            assert_eq!(day(line).as_deref(), Some(want), "{line}");
        }
        for line in [
            "回顾2008年9月15日雷曼倒闭",
            "2026年GDP目标",
            "2026年13月1日 不是日期",
            "编号20260214的公告",
        ] {
            assert_eq!(day(line), None, "{line}");
        }
        // Many candidate dates, none opening or closing the line: one pass.
        let hostile = format!("标题{}尾", "2026-1-1x".repeat(100_000));
        assert_eq!(day(&hostile), None);
    }
}
