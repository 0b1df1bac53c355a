//! Keeping secrets out of every output. A [`Redactor`] knows the process's secrets (the
//! bot token, the API token, the webhook secret) and removes them, raw and
//! percent-encoded, from any text before it is logged, stored or sent; [`one_line`] turns
//! an upstream answer (an HTML error page from a proxy) into one short line. Imports
//! nothing of ours.

use std::sync::Arc;

/// What a secret is replaced by.
const HIDDEN: &str = "[redacted]";

/// Secrets shorter than this are not scrubbed: a two-letter "secret" would mangle text.
const MIN_SECRET_CHARS: usize = 6;

/// Removes known secrets from text. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Each secret and its percent-encoded form, longest first.
    needles: Arc<Vec<String>>,
}

/// Percent-encodes every byte outside `A-Z a-z 0-9 - _ . ~`, as a URL path or query
/// would carry it (`123:ABC` → `123%3AABC`).
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Redactor {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut needles = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref().trim();
            if secret.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            let encoded = percent_encoded(secret);
            for needle in [secret.to_string(), encoded.clone(), encoded.to_lowercase()] {
                if !needles.contains(&needle) {
                    needles.push(needle);
                }
            }
        }
        // Longest first, so a secret that contains another is removed whole.
        needles.sort_by_key(|n: &String| std::cmp::Reverse(n.len()));
        Redactor {
            needles: Arc::new(needles),
        }
    }

    /// `text` without any of the secrets.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in self.needles.iter() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), HIDDEN);
            }
        }
        out
    }

    /// Whether `text` holds a secret (for checks before storing).
    pub fn reveals(&self, text: &str) -> bool {
        self.needles.iter().any(|n| text.contains(n.as_str()))
    }
}

/// An upstream text as one line of at most `max_chars`: an HTML page becomes its title
/// (or its text without tags), runs of whitespace become one space.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let lower = text.to_ascii_lowercase();
    let looks_html =
        lower.contains("<html") || lower.contains("<!doctype") || lower.contains("<body");
    let title = looks_html
        .then(|| {
            let start = lower.find("<title>")? + "<title>".len();
            let end = start + lower[start..].find("</title>")?;
            text.get(start..end)
        })
        .flatten();
    let source = match title {
        Some(title) => title.to_string(),
        None if looks_html => strip_tags(text),
        None => text.to_string(),
    };
    let mut out = String::new();
    for word in source.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
    }
    out
}

/// Text without `<…>` tags, in one forward pass.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// A log writer that scrubs every line it writes: the safety net behind scrubbing at the
/// source, for texts we do not produce (a library's own log lines).
#[derive(Clone)]
pub struct RedactingWriter<W> {
    redactor: Redactor,
    make: W,
}

impl<W> RedactingWriter<W> {
    pub fn new(redactor: Redactor, make: W) -> RedactingWriter<W> {
        RedactingWriter { redactor, make }
    }
}

/// One write through a [`RedactingWriter`].
pub struct Scrubbing<W: std::io::Write> {
    redactor: Redactor,
    inner: W,
}

impl<W: std::io::Write> std::io::Write for Scrubbing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if self.redactor.reveals(&text) {
            self.inner
                .write_all(self.redactor.scrub(&text).as_bytes())?;
        } else {
            self.inner.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<'a, W: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for RedactingWriter<W>
{
    type Writer = Scrubbing<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Scrubbing {
            redactor: self.redactor.clone(),
            inner: self.make.make_writer(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_raw_and_percent_encoded() {
        let r = Redactor::new(["123456:ABC-def", "x"]);
        let text = "GET /bot123456:ABC-def/getUpdates and /bot123456%3AABC-def/x and %3aabc";
        let out = r.scrub(text);
        assert!(
            !out.contains("123456:ABC-def") && !out.contains("123456%3AABC-def"),
            "{out}"
        );
        assert!(out.contains("/bot[redacted]/getUpdates"), "{out}");
        assert_eq!(
            r.scrub("x marks"),
            "x marks",
            "short secrets are not scrubbed"
        );
    }

    #[test]
    fn an_html_page_becomes_one_short_line() {
        let page = "<!DOCTYPE html>\n<html><head><title>502 Bad\n Gateway</title></head>\n<body><h1>nginx</h1></body></html>";
        assert_eq!(one_line(page, 200), "502 Bad Gateway");
        let long = "a ".repeat(300);
        assert_eq!(one_line(&long, 10).chars().count(), 10);
        assert_eq!(
            one_line("<html><body>oops\n<b>down</b></body>", 50),
            "oops down"
        );
    }
}
