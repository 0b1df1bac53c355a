//! A fetched feed's bytes → UTF-8 text, before any parser sees them.
//!
//! Which charset, in this order (the first that speaks wins):
//! 1. a byte order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE): the bytes cannot lie about it;
//! 2. the XML declaration's `encoding` (`<?xml version="1.0" encoding="GB2312"?>`);
//! 3. the `charset` of the HTTP `Content-Type`;
//! 4. UTF-8, XML's default.
//!
//! UTF-16 and UTF-32 without a mark are recognised from how `<?` is written, as XML's
//! appendix F describes. Charset labels are read as browsers read them (WHATWG, through
//! `encoding_rs`): `gb2312` is GBK, `iso-8859-1` is windows-1252. An unknown label falls
//! back to UTF-8 with replacement characters, and says so.
//!
//! The text is handed on as UTF-8 and the declaration loses its `encoding`, so the XML
//! reader never decodes a second time (feed-rs would otherwise trust the declaration and
//! read the UTF-8 text as, say, GBK — or panic on UTF-16).

use encoding_rs::Encoding;

/// Where the charset came from, for notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetOrigin {
    ByteOrderMark,
    /// UTF-16/32 recognised from the first bytes (`<?` written in 2 or 4 bytes).
    FirstBytes,
    XmlDeclaration,
    HttpHeader,
    Default,
}

impl CharsetOrigin {
    fn describe(self) -> &'static str {
        match self {
            CharsetOrigin::ByteOrderMark => "the byte order mark",
            CharsetOrigin::FirstBytes => "the first bytes",
            CharsetOrigin::XmlDeclaration => "the XML declaration",
            CharsetOrigin::HttpHeader => "the HTTP Content-Type",
            CharsetOrigin::Default => "XML's default",
        }
    }
}

/// The text of a feed, and what was done to get it.
#[derive(Debug)]
pub struct DecodedFeed {
    /// UTF-8, without a byte order mark; an XML declaration has no `encoding` any more.
    pub text: String,
    /// The charset the bytes were read in (`UTF-8`, `GBK`, `UTF-32LE`…).
    pub charset: &'static str,
    pub origin: CharsetOrigin,
    /// One line for each thing worth telling (an unknown label, a conflict, bad bytes).
    pub notes: Vec<String>,
}

/// The charsets we decode: `encoding_rs`'s, and UTF-32, which it leaves out (the WHATWG
/// standard does) and which is four bytes per code point, so it is read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Known(&'static Encoding),
    Utf32 { big_endian: bool },
}

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Charset::Known(encoding) => encoding.name(),
            Charset::Utf32 { big_endian: true } => "UTF-32BE",
            Charset::Utf32 { big_endian: false } => "UTF-32LE",
        }
    }

    /// Whether ASCII text reads the same in it (so a declaration readable as ASCII can
    /// be true).
    fn is_ascii_compatible(self) -> bool {
        match self {
            Charset::Known(encoding) => encoding.is_ascii_compatible(),
            Charset::Utf32 { .. } => false,
        }
    }
}

/// How far into the body the XML declaration is looked for: it must come first, and is
/// short.
const DECLARATION_WINDOW: usize = 1024;

/// Decodes `bytes`, served with `content_type`, to UTF-8 (see the module's order).
pub fn decode_feed(bytes: &[u8], content_type: Option<&str>) -> DecodedFeed {
    let mut notes = Vec::new();
    let declared = declared_label(bytes);
    let header = content_type.and_then(header_charset);
    let (charset, origin, body) = if let Some((charset, mark_len)) = byte_order_mark(bytes) {
        (charset, CharsetOrigin::ByteOrderMark, &bytes[mark_len..])
    } else if let Some(charset) = markless_wide(bytes) {
        (charset, CharsetOrigin::FirstBytes, bytes)
    } else {
        let (label, origin) = match (&declared, &header) {
            (Some(label), _) => (Some(label.as_str()), CharsetOrigin::XmlDeclaration),
            (None, Some(label)) => (Some(label.as_str()), CharsetOrigin::HttpHeader),
            (None, None) => (None, CharsetOrigin::Default),
        };
        let charset = match label {
            None => Charset::Known(encoding_rs::UTF_8),
            Some(label) => match resolve(label) {
                // The declaration was read as ASCII, and the bytes have no mark: they
                // cannot be UTF-16 or UTF-32, whatever the label says.
                Some(c) if c.is_ascii_compatible() => c,
                Some(c) => {
                    notes.push(format!(
                        "{} says {label:?}, but the bytes are not {}; read as UTF-8",
                        origin.describe(),
                        c.name()
                    ));
                    Charset::Known(encoding_rs::UTF_8)
                }
                None => {
                    notes.push(format!(
                        "unknown charset {label:?} in {}; read as UTF-8, unreadable bytes replaced by U+FFFD",
                        origin.describe()
                    ));
                    Charset::Known(encoding_rs::UTF_8)
                }
            },
        };
        if origin == CharsetOrigin::XmlDeclaration
            && let Some(header_label) = &header
            && resolve(header_label).is_some_and(|c| c != charset)
        {
            notes.push(format!(
                "the HTTP Content-Type says {header_label:?} but the XML declaration says {:?}; read as {}",
                declared.as_deref().unwrap_or_default(),
                charset.name()
            ));
        }
        (charset, origin, bytes)
    };
    let (text, had_errors) = decode(charset, body);
    // The marks win over a declaration, which can only be read once decoded (in UTF-16 it
    // is not ASCII). `UTF-16` declared in UTF-16BE agrees well enough (the label says
    // nothing of byte order); any other difference is said.
    let both_wide = |c: Charset| !c.is_ascii_compatible() && !charset.is_ascii_compatible();
    if matches!(
        origin,
        CharsetOrigin::ByteOrderMark | CharsetOrigin::FirstBytes
    ) && let Some(label) = declared_label(text.as_bytes())
        && resolve(&label).is_none_or(|c| c != charset && !both_wide(c))
    {
        notes.push(format!(
            "the XML declaration says {label:?} but {} says {}; read as {}",
            origin.describe(),
            charset.name(),
            charset.name()
        ));
    }
    if had_errors {
        notes.push(format!(
            "some bytes are not valid {} and were replaced by U+FFFD",
            charset.name()
        ));
    }
    DecodedFeed {
        text: without_declared_encoding(text),
        charset: charset.name(),
        origin,
        notes,
    }
}

/// A label (`GB2312`, `utf-16`, `UTF-32BE`) as a charset, if it names one we read.
fn resolve(label: &str) -> Option<Charset> {
    let label = label.trim();
    // encoding_rs follows WHATWG, which has no UTF-32 labels.
    match label.to_ascii_lowercase().as_str() {
        "utf-32" | "utf32" | "ucs-4" | "iso-10646-ucs-4" | "utf-32be" => {
            return Some(Charset::Utf32 { big_endian: true });
        }
        "utf-32le" => return Some(Charset::Utf32 { big_endian: false }),
        _ => {}
    }
    let encoding = Encoding::for_label(label.as_bytes())?;
    // The "replacement" encoding (labels such as iso-2022-kr) turns everything into
    // U+FFFD; for a feed that is no reading at all.
    (encoding != encoding_rs::REPLACEMENT).then_some(Charset::Known(encoding))
}

/// The charset a byte order mark names, and the mark's length.
fn byte_order_mark(bytes: &[u8]) -> Option<(Charset, usize)> {
    // UTF-32LE's mark starts with UTF-16LE's: look for it first.
    Some(match bytes {
        [0xff, 0xfe, 0, 0, ..] => (Charset::Utf32 { big_endian: false }, 4),
        [0, 0, 0xfe, 0xff, ..] => (Charset::Utf32 { big_endian: true }, 4),
        [0xef, 0xbb, 0xbf, ..] => (Charset::Known(encoding_rs::UTF_8), 3),
        [0xff, 0xfe, ..] => (Charset::Known(encoding_rs::UTF_16LE), 2),
        [0xfe, 0xff, ..] => (Charset::Known(encoding_rs::UTF_16BE), 2),
        _ => return None,
    })
}

/// UTF-16 or UTF-32 without a mark, from how the first `<` (and `?`) is written.
fn markless_wide(bytes: &[u8]) -> Option<Charset> {
    Some(match bytes {
        [0, 0, 0, b'<', ..] => Charset::Utf32 { big_endian: true },
        [b'<', 0, 0, 0, ..] => Charset::Utf32 { big_endian: false },
        [0, b'<', 0, b'?', ..] => Charset::Known(encoding_rs::UTF_16BE),
        [b'<', 0, b'?', 0, ..] => Charset::Known(encoding_rs::UTF_16LE),
        _ => return None,
    })
}

/// `charset` of a Content-Type (`text/xml; charset="gb2312"` → `gb2312`).
fn header_charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// The XML declaration at the start of `bytes`, read as ASCII, if there is one.
fn declaration(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(DECLARATION_WINDOW)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    std::str::from_utf8(&head[..end + 2]).ok()
}

/// The `encoding` the XML declaration names, if any.
fn declared_label(bytes: &[u8]) -> Option<String> {
    pseudo_attribute(declaration(bytes)?, "encoding").map(str::to_string)
}

/// A pseudo-attribute's value in a declaration (`encoding="GBK"` → `GBK`).
fn pseudo_attribute<'d>(declaration: &'d str, name: &str) -> Option<&'d str> {
    let mut rest = declaration;
    while let Some(at) = rest.find(name) {
        let after = rest[at + name.len()..].trim_start();
        // `name` must stand alone (not the end of a longer word) and be followed by `=`.
        let standalone = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_ascii_whitespace());
        if let Some(value) = after.strip_prefix('=').filter(|_| standalone) {
            let value = value.trim_start();
            let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let inner = &value[1..];
            return inner.find(quote).map(|end| &inner[..end]);
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// `text` with its XML declaration rewritten without `encoding`: the text is UTF-8 now,
/// and a reader that trusted the old label would decode it a second time.
fn without_declared_encoding(text: String) -> String {
    let Some(declaration) = declaration(text.as_bytes()) else {
        return text;
    };
    if pseudo_attribute(declaration, "encoding").is_none() {
        return text;
    }
    let version = pseudo_attribute(declaration, "version").unwrap_or("1.0");
    let standalone = pseudo_attribute(declaration, "standalone")
        .map(|s| format!(" standalone=\"{s}\""))
        .unwrap_or_default();
    let rest = &text[declaration.len()..];
    format!("<?xml version=\"{version}\"{standalone}?>{rest}")
}

/// Decodes `bytes` (without their mark) as `charset`; whether some were not valid.
fn decode(charset: Charset, bytes: &[u8]) -> (String, bool) {
    match charset {
        Charset::Known(encoding) => {
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            (text.into_owned(), had_errors)
        }
        Charset::Utf32 { big_endian } => decode_utf32(bytes, big_endian),
    }
}

/// UTF-32: each code point is four bytes. A value that is no code point (a surrogate,
/// past U+10FFFF) and a cut-off last group become U+FFFD.
fn decode_utf32(bytes: &[u8], big_endian: bool) -> (String, bool) {
    let mut text = String::with_capacity(bytes.len() / 4);
    let mut had_errors = false;
    let mut groups = bytes.chunks_exact(4);
    for group in &mut groups {
        let quad = [group[0], group[1], group[2], group[3]];
        let code = if big_endian {
            u32::from_be_bytes(quad)
        } else {
            u32::from_le_bytes(quad)
        };
        text.push(char::from_u32(code).unwrap_or_else(|| {
            had_errors = true;
            char::REPLACEMENT_CHARACTER
        }));
    }
    if !groups.remainder().is_empty() {
        had_errors = true;
        text.push(char::REPLACEMENT_CHARACTER);
    }
    (text, had_errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf32(text: &str, big_endian: bool) -> Vec<u8> {
        text.chars()
            .flat_map(|c| {
                if big_endian {
                    u32::from(c).to_be_bytes()
                } else {
                    u32::from(c).to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn the_header_is_used_when_the_declaration_names_no_charset() {
        let (gbk, _, _) = encoding_rs::GBK.encode("<?xml version=\"1.0\"?><rss>人民币</rss>");
        let decoded = decode_feed(&gbk, Some("application/rss+xml; charset=\"GB2312\""));
        assert_eq!(decoded.text, "<?xml version=\"1.0\"?><rss>人民币</rss>");
        assert_eq!(
            (decoded.charset, decoded.origin),
            ("GBK", CharsetOrigin::HttpHeader)
        );
        assert!(decoded.notes.is_empty(), "{:?}", decoded.notes);
    }

    #[test]
    fn the_declaration_wins_over_the_header_and_loses_its_encoding() {
        let (big5, _, _) = encoding_rs::BIG5
            .encode("<?xml version=\"1.0\" encoding='big5' standalone=\"yes\"?><rss>臺灣</rss>");
        let decoded = decode_feed(&big5, Some("text/xml; charset=utf-8"));
        assert_eq!(
            decoded.text,
            "<?xml version=\"1.0\" standalone=\"yes\"?><rss>臺灣</rss>"
        );
        assert_eq!(decoded.origin, CharsetOrigin::XmlDeclaration);
        assert!(
            decoded.notes[0].contains("HTTP Content-Type says"),
            "{:?}",
            decoded.notes
        );
    }

    #[test]
    fn a_byte_order_mark_wins_over_both() {
        let text = "<?xml version=\"1.0\" encoding=\"GBK\"?><rss>汇率</rss>";
        let mut bytes = vec![0xfe, 0xff];
        bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let decoded = decode_feed(&bytes, Some("text/xml; charset=big5"));
        assert_eq!(decoded.text, "<?xml version=\"1.0\"?><rss>汇率</rss>");
        assert_eq!(
            (decoded.charset, decoded.origin),
            ("UTF-16BE", CharsetOrigin::ByteOrderMark)
        );
        assert!(decoded.notes[0].contains("byte order mark says UTF-16BE"));
        for big_endian in [true, false] {
            let mark = if big_endian {
                vec![0, 0, 0xfe, 0xff]
            } else {
                vec![0xff, 0xfe, 0, 0]
            };
            let bytes = [mark, utf32("<rss>汇率😀</rss>", big_endian)].concat();
            let decoded = decode_feed(&bytes, None);
            assert_eq!(decoded.text, "<rss>汇率😀</rss>");
            assert!(decoded.charset.starts_with("UTF-32"));
        }
    }

    #[test]
    fn wide_charsets_without_a_mark_are_recognised_and_a_lying_label_is_not_believed() {
        let text = "<?xml version=\"1.0\"?><rss>美元</rss>";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode_feed(&le, None).text, text);
        assert_eq!(decode_feed(&utf32(text, true), None).text, text);
        // Readable as ASCII, so not UTF-16 whatever it says.
        let decoded = decode_feed(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss>美元</rss>".as_bytes(),
            None,
        );
        assert_eq!(decoded.text, text);
        assert!(
            decoded.notes[0].contains("not UTF-16"),
            "{:?}",
            decoded.notes
        );
    }

    #[test]
    fn an_unknown_label_falls_back_to_utf8_with_a_note() {
        let decoded = decode_feed(
            b"<?xml version=\"1.0\" encoding=\"x-klingon\"?><rss>ok \xff</rss>",
            None,
        );
        assert_eq!(
            decoded.text,
            "<?xml version=\"1.0\"?><rss>ok \u{fffd}</rss>"
        );
        assert_eq!(decoded.notes.len(), 2, "{:?}", decoded.notes);
        assert!(decoded.notes[0].contains("unknown charset \"x-klingon\""));
        let decoded = decode_feed(b"{\"items\": []}", Some("application/json; charset=nope"));
        assert!(
            decoded.notes[0].contains("HTTP Content-Type"),
            "{:?}",
            decoded.notes
        );
        // A cut-off UTF-32 group is replaced, not dropped.
        let (text, bad) = decode_utf32(&[0x3c, 0, 0, 0, 0x41], false);
        assert_eq!((text.as_str(), bad), ("<\u{fffd}", true));
    }
}
