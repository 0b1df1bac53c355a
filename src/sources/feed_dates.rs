//! Feed dates as feed readers read them. feed-rs's own lenient reader is private and drops
//! dates without a zone, so ours is given to it (`Builder::timestamp_parser`):
//!
//! - RFC 3339, leniently: a space for the `T`, an offset without its colon (`+0800`), no
//!   seconds, a `UTC`/`GMT` word for the zone;
//! - RFC 2822, leniently, read word by word: any weekday (or none, or a wrong one), long
//!   month names, month before day (`Dec 16 2023`), one-digit hours, `24:00`, `AM`/`PM`,
//!   two-digit years, `UT`/`UTC`/`GMT`/`Z`, the US zone names, `+0800` or `+08:00`, a
//!   comment in parentheses;
//! - the same without any zone (`2015-03-02 16:12:54`, `Wed, 26 Oct 2016 21:53:13`,
//!   `2016-10-26T21:53:13`): read in the configured timezone, as documents are;
//! - a day alone (`2026-05-18`, `18 May 2026`): its midnight in the configured timezone.
//!
//! Every form is bounded: a text longer than [`MAX_DATE_TEXT`] is no date.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::ingest::frontmatter::{local_to_utc, parse_doc_date};

/// Longer than any date anyone writes: not read.
pub const MAX_DATE_TEXT: usize = 96;

/// Reads a feed's date text; dates without a zone are in `tz`.
pub fn parse_feed_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_DATE_TEXT {
        return None;
    }
    iso_like(text, tz).or_else(|| rfc2822_like(text, tz))
}

/// RFC 3339 and the ISO-like forms, with or without a zone.
fn iso_like(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // A zone word after the time: `2026-05-18 09:20:00 UTC`.
    let (body, utc_word) = match text.rsplit_once(' ') {
        Some((body, "UTC" | "GMT" | "Z" | "UT")) => (body, true),
        _ => (text, false),
    };
    if utc_word {
        return naive_iso(body).map(|local| Utc.from_utc_datetime(&local));
    }
    // `%#z` takes `+08`, `+0800` and `+08:00`.
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
        "%Y-%m-%d %H:%M:%S%.f %#z",
        "%Y-%m-%d %H:%M %#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Some(stripped) = text.strip_suffix(['Z', 'z'])
        && let Some(local) = naive_iso(stripped)
    {
        return Some(Utc.from_utc_datetime(&local));
    }
    if let Some(local) = naive_iso(text) {
        return local_to_utc(tz, local);
    }
    // The document forms (`2026/05/18 09:20`, `2026年05月18日`), in `tz`.
    let date = parse_doc_date(text, tz)?;
    date.instant
        .or_else(|| local_to_utc(tz, date.day.and_time(NaiveTime::MIN)))
}

/// `2016-10-26T21:53:13`, with a space or a `T`, with or without seconds and fractions.
fn naive_iso(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// The parts of an RFC 2822-like date, as they are found.
#[derive(Default)]
struct Parts {
    day: Option<u32>,
    month: Option<u32>,
    year: Option<i32>,
    time: Option<(u32, u32, u32)>,
    /// `Some(true)` after `PM`, `Some(false)` after `AM`.
    pm: Option<bool>,
    /// Seconds east of UTC.
    offset: Option<i32>,
}

/// RFC 2822 and what feeds make of it, read word by word; a word that is none of a
/// weekday, a month, a number, a time, `AM`/`PM` or a zone makes it no date.
fn rfc2822_like(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let mut parts = Parts::default();
    let mut in_comment = false;
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        if word.is_empty() {
            continue;
        }
        // `(CST)` and other comments after the zone.
        if in_comment || word.starts_with('(') {
            in_comment = !word.ends_with(')');
            continue;
        }
        read_word(word, &mut parts)?;
    }
    let year = parts.year?;
    let date = NaiveDate::from_ymd_opt(year, parts.month?, parts.day?)?;
    let (mut hour, minute, second) = parts.time.unwrap_or((0, 0, 0));
    match parts.pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    // `24:00:00` is the start of that day, as feed-rs reads it.
    if hour == 24 {
        hour = 0;
    }
    let local = date.and_hms_opt(hour, minute, second)?;
    match parts.offset {
        Some(offset) => FixedOffset::east_opt(offset)?
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc)),
        None => local_to_utc(tz, local),
    }
}

fn read_word(word: &str, parts: &mut Parts) -> Option<()> {
    let lower = word.trim_end_matches('.').to_ascii_lowercase();
    if let Some(month) = month_number(&lower) {
        parts.month.get_or_insert(month);
        return Some(());
    }
    if is_weekday(&lower) {
        return Some(());
    }
    match lower.as_str() {
        "am" | "a.m" => {
            parts.pm = Some(false);
            return Some(());
        }
        "pm" | "p.m" => {
            parts.pm = Some(true);
            return Some(());
        }
        _ => {}
    }
    if let Some(offset) = zone_offset(word) {
        parts.offset = Some(offset);
        return Some(());
    }
    if word.contains(':') {
        parts.time = Some(clock(word)?);
        return Some(());
    }
    if word.bytes().all(|b| b.is_ascii_digit()) {
        let value: u32 = word.parse().ok()?;
        match (word.len(), parts.day, parts.year) {
            (4, _, None) => parts.year = Some(i32::try_from(value).ok()?),
            (1 | 2, None, _) => parts.day = Some(value),
            // RFC 822's two-digit years.
            (2, Some(_), None) => {
                parts.year = Some(if value < 50 { 2000 } else { 1900 } + value as i32)
            }
            _ => return None,
        }
        return Some(());
    }
    None
}

/// `9:05`, `16:12:54`, `16:12:54.123` → (hour, minute, second).
fn clock(word: &str) -> Option<(u32, u32, u32)> {
    let mut fields = word.split(':');
    let hour: u32 = fields.next()?.parse().ok()?;
    let minute: u32 = fields.next()?.parse().ok()?;
    let second: u32 = match fields.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if fields.next().is_some() || hour > 24 || minute > 59 || second > 60 {
        return None;
    }
    Some((hour, minute, second.min(59)))
}

fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if word.len() < 3 {
        return None;
    }
    // `Sep`, `Sept`, `September`: a prefix of the name of three letters or more.
    MONTHS
        .iter()
        .position(|m| m.starts_with(word))
        .map(|i| i as u32 + 1)
}

fn is_weekday(word: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    // `Thurs`, `Tues`, `Wed`: feeds write any prefix of three letters or more.
    word.len() >= 3 && DAYS.iter().any(|d| d.starts_with(word))
}

/// A zone word as seconds east of UTC: `+0800`, `-05:00`, `+08`, `Z`, `UT`, `UTC`, `GMT`,
/// `GMT+8`, and RFC 2822's US zones.
fn zone_offset(word: &str) -> Option<i32> {
    let upper = word.to_ascii_uppercase();
    let named = match upper.as_str() {
        "Z" | "UT" | "UTC" | "GMT" => Some(0),
        "EST" => Some(-5),
        "EDT" => Some(-4),
        "CST" => Some(-6),
        "CDT" => Some(-5),
        "MST" => Some(-7),
        "MDT" => Some(-6),
        "PST" => Some(-8),
        "PDT" => Some(-7),
        _ => None,
    };
    if let Some(hours) = named {
        return Some(hours * 3600);
    }
    let signed = ["UTC", "GMT"]
        .iter()
        .find_map(|w| upper.strip_prefix(w))
        .unwrap_or(&upper);
    let (sign, digits) = match signed.as_bytes().first()? {
        b'+' => (1, &signed[1..]),
        b'-' => (-1, &signed[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: Tz = Tz::Asia__Shanghai;

    fn read(text: &str) -> String {
        parse_feed_date(text, TZ)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| format!("unread: {text}"))
    }

    #[test]
    fn dates_without_a_zone_are_in_the_configured_timezone() {
        assert_eq!(read("2015-03-02 16:12:54"), "2015-03-02T08:12:54+00:00");
        assert_eq!(
            read("Wed, 26 Oct 2016 21:53:13"),
            "2016-10-26T13:53:13+00:00"
        );
        assert_eq!(
            read("Sat, Dec 16 2023 02:02:33 PM"),
            "2023-12-16T06:02:33+00:00"
        );
        assert_eq!(read("2016-10-26T21:53:13"), "2016-10-26T13:53:13+00:00");
        assert_eq!(
            read("2016-10-26T21:53:13.250"),
            "2016-10-26T13:53:13.250+00:00"
        );
        assert_eq!(
            read("2026-05-18"),
            "2026-05-17T16:00:00+00:00",
            "local midnight"
        );
        assert_eq!(read("18 May 2026"), "2026-05-17T16:00:00+00:00");
        assert_eq!(read("2026年05月18日 09:20"), "2026-05-18T01:20:00+00:00");
        assert_eq!(
            read("12:30:00 AM Mon, 18 May 2026"),
            "2026-05-17T16:30:00+00:00"
        );
    }

    /// What feed-rs's own reader read must still be read the same.
    #[test]
    fn the_forms_feed_rs_read_are_still_read() {
        for (text, expected) in [
            (
                "Mon, 18 May 2026 09:20:00 +0800",
                "2026-05-18T01:20:00+00:00",
            ),
            ("Mon, 18 May 2026 01:20:00 GMT", "2026-05-18T01:20:00+00:00"),
            ("Mon, 18 May 2026 01:20:00 UTC", "2026-05-18T01:20:00+00:00"),
            (
                "Mon, 18 May 2026 01:20:00 -0000",
                "2026-05-18T01:20:00+00:00",
            ),
            ("Tue, 15 Nov 2022 20:15:04 Z", "2022-11-15T20:15:04+00:00"),
            // A wrong weekday, a long weekday, a long month, month before day.
            ("Wed, 18 May 2026 01:20:00 GMT", "2026-05-18T01:20:00+00:00"),
            (
                "Thurs, 13 Jul 2011 07:38:00 GMT",
                "2011-07-13T07:38:00+00:00",
            ),
            (
                "Mon, 18 September 2023 01:20:00 GMT",
                "2023-09-18T01:20:00+00:00",
            ),
            ("Mon, May 18 2026 01:20:00 GMT", "2026-05-18T01:20:00+00:00"),
            ("18 May 2026 9:05:00 +0000", "2026-05-18T09:05:00+00:00"),
            (
                "Mon, 18 May 2026 24:00:00 +0000",
                "2026-05-18T00:00:00+00:00",
            ),
            ("Mon, 18 May 2026 01:20:00 EST", "2026-05-18T06:20:00+00:00"),
            (
                "Mon, 18 May 2026 09:20:00 +08:00 (CST)",
                "2026-05-18T01:20:00+00:00",
            ),
            ("18 May 26 09:20 +0800", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18T09:20:00+08:00", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18T09:20:00+0800", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18T01:20:00Z", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18T01:20:00.5Z", "2026-05-18T01:20:00.500+00:00"),
            ("2026-05-18 09:20:00 +0800", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18 01:20:00 UTC", "2026-05-18T01:20:00+00:00"),
            ("2026-05-18T01:20Z", "2026-05-18T01:20:00+00:00"),
            ("  2026-05-18T01:20:00Z\n", "2026-05-18T01:20:00+00:00"),
        ] {
            assert_eq!(read(text), expected, "{text}");
        }
    }

    #[test]
    fn what_is_no_date_is_not_read() {
        for text in [
            "",
            "昨天下午",
            "soon",
            "32 May 2026 10:00:00 +0000",
            "Mon, 18 Foo 2026",
            "18 May 2026 25:00:00",
            "2026-13-40",
            &"1".repeat(200),
        ] {
            assert!(parse_feed_date(text, TZ).is_none(), "{text:?}");
        }
    }
}
