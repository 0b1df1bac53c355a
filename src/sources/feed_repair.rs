//! A pass over a feed's XML before feed-rs reads it: what a feed reader forgives, made
//! into well-formed XML, in one linear scan.
//!
//! - A `&` that starts no XML reference (`功能齐全&免费`, `AT&T`, `&#xZZ;`, `&unknown;`)
//!   becomes `&amp;`: quick-xml stops at the first one, and the whole feed would be lost.
//! - An HTML entity XML does not define (`&nbsp;`, `&bull;`, `&eacute;`) becomes numeric
//!   references to its characters, which XML reads anywhere.
//! - A numeric reference to a character XML forbids (`&#0;`, `&#xD800;`) becomes U+FFFD.
//! - A `<` that starts no markup (`市盈率<10倍`) becomes `&lt;`.
//! - CDATA sections, comments, processing instructions and the DOCTYPE are copied as they
//!   are.
//!
//! Older shapes that feed-rs does not read are rewritten into the ones it does:
//! - Atom 0.3 (`http://purl.org/atom/ns#`): the namespace becomes Atom 1.0's; `issued` is
//!   `published`, `modified` is `updated`, `created` is `published` when there is no
//!   `issued`; `tagline` is `subtitle`, `copyright` is `rights`; `mode="escaped"` text is
//!   read as what it is, and `mode="base64"` text is decoded here.
//! - In any Atom feed, text constructs typed with MIME types (`text/plain`, `text/html`,
//!   `application/xhtml+xml`, inline `…/xml`) get Atom 1.0's `text`/`html`/`xhtml`
//!   (feed-rs refuses the whole feed over such a `type`).
//! - An RSS item whose only title is `dc:title` gets it as its `title`; an item whose
//!   content is `xhtml:body` (and has no `content:encoded`) gets it as `content:encoded`.
//!
//! Each scan is linear: every byte is looked at a bounded number of times (a reference is
//! looked ahead at most [`MAX_REFERENCE`] bytes; an item is rebuilt at most once, when it
//! closes).

use std::collections::HashSet;

use base64::Engine;

use crate::ingest::text::{MAX_ENTITY_NAME, decode_entity};

/// The longest `&…;` looked at, without `&` and `;`.
const MAX_REFERENCE: usize = MAX_ENTITY_NAME;

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";
const DUBLIN_CORE: &str = "http://purl.org/dc/elements/1.1/";
const XHTML: &str = "http://www.w3.org/1999/xhtml";
/// What an `xhtml:body` becomes: RSS's content module element, bound to its namespace
/// on the spot (feed-rs matches the namespace, not the prefix), with the body as HTML.
const CONTENT_START: &str =
    "<content:encoded xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><![CDATA[";

/// What the pass changed, counted for the feed's notes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    pub bare_ampersands: usize,
    pub html_entities: usize,
    /// The first HTML entity replaced (`&nbsp;`), to name in the note.
    pub first_html_entity: Option<String>,
    pub bad_char_refs: usize,
    pub bare_less_thans: usize,
    pub atom_03: bool,
    pub mime_typed_texts: usize,
    pub base64_texts: usize,
    pub dc_titles: usize,
    pub xhtml_bodies: usize,
    /// The root element's local name (`rss`, `feed`, `RDF`).
    pub root: Option<String>,
    /// An RSS root whose `version` feed-rs does not know (none, `2.0.1`), read as 2.0.
    pub rss_version_read_as_2: Option<String>,
    /// Whether a `<channel>` start tag was seen (an `<rss>` without one has no entries).
    pub has_channel: bool,
}

impl Repairs {
    /// One line per kind of repair, for the feed's notes.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let note = |notes: &mut Vec<String>, count: usize, text: String| {
            if count > 0 {
                notes.push(text);
            }
        };
        note(
            &mut notes,
            self.bare_ampersands,
            format!(
                "repaired {} bare & in the XML (read as &amp;)",
                self.bare_ampersands
            ),
        );
        note(
            &mut notes,
            self.html_entities,
            format!(
                "replaced {} HTML entities that XML does not define ({}…) by their characters",
                self.html_entities,
                self.first_html_entity.as_deref().unwrap_or_default()
            ),
        );
        note(
            &mut notes,
            self.bad_char_refs,
            format!(
                "replaced {} references to characters XML forbids by U+FFFD",
                self.bad_char_refs
            ),
        );
        note(
            &mut notes,
            self.bare_less_thans,
            format!(
                "repaired {} bare < in the XML text (read as &lt;)",
                self.bare_less_thans
            ),
        );
        note(
            &mut notes,
            usize::from(self.atom_03),
            "read as Atom 0.3 (issued, modified and created as Atom 1.0 dates)".to_string(),
        );
        note(
            &mut notes,
            self.mime_typed_texts,
            format!(
                "read {} Atom texts typed as MIME types (text/html…) as Atom 1.0 types",
                self.mime_typed_texts
            ),
        );
        note(
            &mut notes,
            self.base64_texts,
            format!("decoded {} base64 Atom 0.3 contents", self.base64_texts),
        );
        if let Some(version) = &self.rss_version_read_as_2 {
            notes.push(format!(
                "read an RSS document of version {version:?} as RSS 2.0"
            ));
        }
        note(
            &mut notes,
            self.dc_titles,
            format!("took the title of {} from dc:title", items(self.dc_titles)),
        );
        note(
            &mut notes,
            self.xhtml_bodies,
            format!(
                "took the content of {} from xhtml:body",
                items(self.xhtml_bodies)
            ),
        );
        notes
    }
}

/// `1 item`, `2 items`.
fn items(count: usize) -> String {
    if count == 1 {
        "1 item".to_string()
    } else {
        format!("{count} items")
    }
}

/// The repaired XML, and what was repaired.
pub fn repair_xml(xml: &str) -> (String, Repairs) {
    let mut pass = Pass {
        xml,
        out: String::with_capacity(xml.len() + xml.len() / 32),
        repairs: Repairs::default(),
        names: Namespaces::default(),
        entry: None,
        in_base64: false,
    };
    pass.run();
    (pass.out, pass.repairs)
}

/// Prefixes bound to the namespaces the pass cares about, as seen so far. Feeds bind them
/// once on the root, so one set for the document is enough. Sets, so that a document
/// declaring many prefixes costs no more per tag than one declaring a few.
#[derive(Default)]
struct Namespaces {
    atom_03: bool,
    atom: bool,
    dc: HashSet<String>,
    xhtml: HashSet<String>,
}

/// What is known about the item or entry being read, and the tags to rename when it ends
/// (only then is it known whether it has a `title`, an `issued`, a `content:encoded`).
struct Entry {
    /// Where the item starts in the output.
    start: usize,
    has_title: bool,
    has_issued: bool,
    has_encoded_content: bool,
    /// The `xhtml:body` being read (its raw name), while it is open.
    open_body: Option<String>,
    patches: Vec<Patch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    DcTitleStart,
    DcTitleEnd,
    CreatedStart,
    CreatedEnd,
    BodyStart,
    BodyEnd,
}

/// A tag in the output (`out[at..at + len]`) that may be replaced when its item ends.
struct Patch {
    at: usize,
    len: usize,
    kind: PatchKind,
}

struct Pass<'x> {
    xml: &'x str,
    out: String,
    repairs: Repairs,
    names: Namespaces,
    entry: Option<Entry>,
    /// Inside an Atom 0.3 `mode="base64"` element: its text is decoded, not copied.
    in_base64: bool,
}

/// A start or end tag, as written.
struct Tag<'x> {
    end: bool,
    self_closing: bool,
    /// The qualified name (`dc:title`).
    name: &'x str,
    /// (name, raw value) pairs.
    attributes: Vec<(&'x str, &'x str)>,
}

impl<'x> Tag<'x> {
    fn local(&self) -> &'x str {
        self.name.rsplit(':').next().unwrap_or(self.name)
    }

    fn prefix(&self) -> Option<&'x str> {
        self.name.split_once(':').map(|(p, _)| p)
    }

    fn attribute(&self, name: &str) -> Option<&'x str> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

impl<'x> Pass<'x> {
    fn run(&mut self) {
        let xml = self.xml;
        let bytes = xml.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let Some(lt) = bytes[i..].iter().position(|&b| b == b'<').map(|p| i + p) else {
                self.push_text(&xml[i..]);
                break;
            };
            if self.in_base64 {
                self.push_base64(&xml[i..lt]);
            } else {
                self.push_text(&xml[i..lt]);
            }
            i = self.markup(lt);
        }
        if let Some(entry) = self.entry.take() {
            self.close_entry(entry);
        }
    }

    /// Handles the markup at `lt`; returns where the scan goes on.
    fn markup(&mut self, lt: usize) -> usize {
        let xml = self.xml;
        let rest = &xml[lt..];
        // Sections copied as they are, to their end (or to the end of the text).
        for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")] {
            if let Some(inside) = rest.strip_prefix(open) {
                let end = inside
                    .find(close)
                    .map_or(xml.len(), |at| lt + open.len() + at + close.len());
                self.out.push_str(&xml[lt..end]);
                return end;
            }
        }
        if rest.starts_with("<!") {
            return self.copy_doctype(lt);
        }
        let starts_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || matches!(c, '_' | ':' | '/'));
        if !starts_tag {
            self.repairs.bare_less_thans += 1;
            self.out.push_str("&lt;");
            return lt + 1;
        }
        let Some(len) = tag_length(rest) else {
            // Another `<` (or the end) before any `>`: this one opens no tag (`价格<某某
            // <b>…`), so it is text.
            self.repairs.bare_less_thans += 1;
            self.out.push_str("&lt;");
            return lt + 1;
        };
        let raw = &rest[..len];
        self.tag(raw);
        lt + len
    }

    /// `<!DOCTYPE …>`, with an internal subset in `[…]` if there is one.
    fn copy_doctype(&mut self, lt: usize) -> usize {
        let xml = self.xml;
        let rest = &xml[lt..];
        // The `[` is looked for only before the first `>`, so each `<!` looks no further
        // than its own end (or, once, to the end of the text).
        let end = match rest.find('>') {
            Some(g) => match rest[..g].find('[') {
                Some(b) => rest[b..]
                    .find(']')
                    .and_then(|close| rest[b + close..].find('>').map(|g| b + close + g + 1)),
                None => Some(g + 1),
            },
            None => None,
        }
        .map_or(xml.len(), |e| lt + e);
        self.out.push_str(&xml[lt..end]);
        end
    }

    /// A start or end tag (`raw` is `<…>`): copied with its attribute values repaired,
    /// or rewritten into the shape feed-rs reads.
    fn tag(&mut self, raw: &'x str) {
        let Some(tag) = parse_tag(raw) else {
            self.push_tag_verbatim(raw);
            return;
        };
        if !tag.end {
            self.learn_namespaces(&tag);
        }
        let local = tag.local();
        if !tag.end && local == "channel" {
            self.repairs.has_channel = true;
        }
        if !tag.end && self.repairs.root.is_none() {
            self.repairs.root = Some(local.to_string());
            if local == "rss" && tag.prefix().is_none() {
                let version = tag.attribute("version");
                // feed-rs reads these; any other (or none) would lose the whole feed.
                if !matches!(version, Some("2.0" | "0.91" | "0.92" | "")) {
                    self.repairs.rss_version_read_as_2 =
                        Some(version.unwrap_or("(none)").to_string());
                    let mut root = tag_text("rss", &tag, &["version"]);
                    root.insert_str(root.len() - 1, " version=\"2.0\"");
                    if tag.self_closing {
                        root.insert(root.len() - 1, '/');
                    }
                    self.push_tag_verbatim(&root);
                    return;
                }
            }
        }
        if matches!(local, "item" | "entry") {
            if tag.end {
                self.push_tag_verbatim(raw);
                if let Some(entry) = self.entry.take() {
                    self.close_entry(entry);
                }
            } else {
                if let Some(entry) = self.entry.take() {
                    self.close_entry(entry);
                }
                self.push_tag_verbatim(raw);
                if !tag.self_closing {
                    self.entry = Some(Entry {
                        start: self.out.len(),
                        has_title: false,
                        has_issued: false,
                        has_encoded_content: false,
                        open_body: None,
                        patches: Vec::new(),
                    });
                }
            }
            return;
        }
        if self.names.atom_03 && tag.prefix().is_none() {
            self.atom_03_tag(raw, &tag);
            return;
        }
        if self.names.atom
            && tag.prefix().is_none()
            && !tag.end
            && let Some(rewritten) = self.atom_text_type(&tag, false)
        {
            self.out.push_str(&rewritten);
            return;
        }
        self.rss_tag(raw, &tag);
    }

    /// Tags in an RSS item: `dc:title`, `xhtml:body`, and what tells whether they are
    /// needed.
    fn rss_tag(&mut self, raw: &'x str, tag: &Tag<'x>) {
        let at = self.out.len();
        let is_dc = tag.prefix().is_some_and(|p| self.names.dc.contains(p));
        let is_xhtml_body = tag.local() == "body"
            && (tag.prefix().is_some_and(|p| self.names.xhtml.contains(p))
                || tag.attribute("xmlns") == Some(XHTML));
        self.push_tag_verbatim(raw);
        let len = self.out.len() - at;
        let Some(entry) = self.entry.as_mut() else {
            return;
        };
        match (tag.prefix(), tag.local()) {
            (None, "title") => entry.has_title = true,
            (Some(_), "encoded") => entry.has_encoded_content = true,
            (Some(_), "title") if is_dc && !tag.self_closing => entry.patches.push(Patch {
                at,
                len,
                kind: if tag.end {
                    PatchKind::DcTitleEnd
                } else {
                    PatchKind::DcTitleStart
                },
            }),
            _ => {}
        }
        if tag.end && entry.open_body.as_deref() == Some(tag.name) {
            entry.open_body = None;
            entry.patches.push(Patch {
                at,
                len,
                kind: PatchKind::BodyEnd,
            });
        } else if is_xhtml_body && !tag.end && !tag.self_closing && entry.open_body.is_none() {
            entry.open_body = Some(tag.name.to_string());
            entry.patches.push(Patch {
                at,
                len,
                kind: PatchKind::BodyStart,
            });
        }
    }

    /// A tag of an Atom 0.3 document (in its default namespace), renamed to Atom 1.0.
    fn atom_03_tag(&mut self, raw: &'x str, tag: &Tag<'x>) {
        let renamed = match tag.local() {
            "issued" => Some("published"),
            "modified" => Some("updated"),
            "tagline" => Some("subtitle"),
            "copyright" => Some("rights"),
            _ => None,
        };
        if tag.local() == "issued"
            && !tag.end
            && let Some(entry) = self.entry.as_mut()
        {
            entry.has_issued = true;
        }
        if tag.local() == "created" && !tag.self_closing {
            let at = self.out.len();
            self.push_tag_verbatim(raw);
            if let Some(entry) = self.entry.as_mut() {
                entry.patches.push(Patch {
                    at,
                    len: self.out.len() - at,
                    kind: if tag.end {
                        PatchKind::CreatedEnd
                    } else {
                        PatchKind::CreatedStart
                    },
                });
            }
            return;
        }
        if tag.end {
            self.in_base64 = false;
            match renamed {
                Some(name) => {
                    self.out.push_str("</");
                    self.out.push_str(name);
                    self.out.push('>');
                }
                None => self.push_tag_verbatim(raw),
            }
            return;
        }
        if let Some(rewritten) = self.atom_text_type(tag, true) {
            self.out.push_str(&rewritten);
            return;
        }
        match renamed {
            Some(name) => {
                // Dates and renamed texts: the attributes (a `type`) go with the name.
                let mut copy = tag_text(name, tag, &[]);
                if tag.self_closing {
                    copy.insert(copy.len() - 1, '/');
                }
                self.push_tag_verbatim(&copy);
            }
            None => self.push_tag_verbatim(raw),
        }
    }

    /// An Atom text construct whose `type` (or Atom 0.3 `mode`) feed-rs would refuse or
    /// misread, rewritten with Atom 1.0's type; `None` when it needs nothing.
    fn atom_text_type(&mut self, tag: &Tag<'x>, atom_03: bool) -> Option<String> {
        let name = match tag.local() {
            "tagline" if atom_03 => "subtitle",
            "copyright" if atom_03 => "rights",
            other @ ("title" | "subtitle" | "summary" | "content" | "rights" | "info") => other,
            _ => return None,
        };
        let declared = tag.attribute("type");
        let mode = if atom_03 { tag.attribute("mode") } else { None };
        let mapped = match declared.map(str::to_ascii_lowercase).as_deref() {
            Some("text/plain") => Some("text"),
            Some("text/html") => Some("html"),
            Some("application/xhtml+xml") => Some("xhtml"),
            Some(t) if t.ends_with("/xml") || t.ends_with("+xml") => Some("xhtml"),
            // Atom 0.3's default type is text/plain.
            None if atom_03 => Some("text"),
            _ => None,
        };
        if mapped.is_none() && mode.is_none() && name == tag.local() {
            return None;
        }
        // Inline (`mode="xml"`, the default) HTML is markup in the feed: XHTML to feed-rs.
        let mapped = match (mapped, mode) {
            (Some("html"), None | Some("xml")) if atom_03 => Some("xhtml"),
            (m, _) => m,
        };
        if mode == Some("base64") {
            self.in_base64 = !tag.self_closing;
            self.repairs.base64_texts += 1;
        }
        if declared.is_some() && mapped.is_some() {
            self.repairs.mime_typed_texts += 1;
        }
        let kept_type = mapped.or(declared);
        let mut text = tag_text(name, tag, &["type", "mode"]);
        if let Some(kind) = kept_type {
            text.insert_str(text.len() - 1, &format!(" type=\"{kind}\""));
        }
        if tag.self_closing {
            text.insert(text.len() - 1, '/');
        }
        Some(text)
    }

    /// Notes the namespaces a start tag declares; Atom 0.3's is rewritten to Atom 1.0's
    /// as the tag is copied (see [`Pass::push_tag_verbatim`]).
    fn learn_namespaces(&mut self, tag: &Tag<'x>) {
        for (name, value) in &tag.attributes {
            let prefix = match *name {
                "xmlns" => None,
                other => match other.strip_prefix("xmlns:") {
                    Some(p) => Some(p),
                    None => continue,
                },
            };
            match (*value, prefix) {
                (ATOM_03, None) => {
                    self.names.atom_03 = true;
                    self.names.atom = true;
                    self.repairs.atom_03 = true;
                }
                (ATOM_10, None) => self.names.atom = true,
                (DUBLIN_CORE, Some(p)) => {
                    self.names.dc.insert(p.to_string());
                }
                (XHTML, Some(p)) => {
                    self.names.xhtml.insert(p.to_string());
                }
                _ => {}
            }
        }
    }

    /// Decides the item's deferred renames and rebuilds its output once.
    fn close_entry(&mut self, entry: Entry) {
        let applies = |kind: PatchKind| match kind {
            PatchKind::DcTitleStart | PatchKind::DcTitleEnd => !entry.has_title,
            PatchKind::CreatedStart | PatchKind::CreatedEnd => !entry.has_issued,
            PatchKind::BodyStart | PatchKind::BodyEnd => !entry.has_encoded_content,
        };
        let patches: Vec<&Patch> = entry.patches.iter().filter(|p| applies(p.kind)).collect();
        // A body must be closed to be wrapped.
        let body_closed = patches.iter().any(|p| p.kind == PatchKind::BodyEnd);
        if patches.is_empty() {
            return;
        }
        let item = self.out.split_off(entry.start);
        let mut rebuilt = String::with_capacity(item.len() + 128);
        let mut copied = 0;
        let mut in_body = false;
        let mut dc_title_taken = false;
        for patch in patches {
            let at = patch.at - entry.start;
            let before = &item[copied..at];
            if in_body {
                push_as_cdata_html(&mut rebuilt, before);
            } else {
                rebuilt.push_str(before);
            }
            let original = &item[at..at + patch.len];
            let replacement = match patch.kind {
                PatchKind::DcTitleStart if !dc_title_taken => {
                    self.repairs.dc_titles += 1;
                    "<title>"
                }
                PatchKind::DcTitleEnd if !dc_title_taken => {
                    dc_title_taken = true;
                    "</title>"
                }
                PatchKind::CreatedStart => "<published>",
                PatchKind::CreatedEnd => "</published>",
                PatchKind::BodyStart if body_closed => {
                    in_body = true;
                    self.repairs.xhtml_bodies += 1;
                    CONTENT_START
                }
                PatchKind::BodyEnd if in_body => {
                    in_body = false;
                    "]]></content:encoded>"
                }
                _ => original,
            };
            rebuilt.push_str(replacement);
            copied = at + patch.len;
        }
        rebuilt.push_str(&item[copied..]);
        self.out.push_str(&rebuilt);
    }

    /// Text between markup, with its references repaired.
    fn push_text(&mut self, text: &str) {
        push_repaired(&mut self.out, text, &mut self.repairs);
    }

    /// A tag copied as written, apart from its attribute values' references (and Atom
    /// 0.3's namespace, which becomes Atom 1.0's).
    fn push_tag_verbatim(&mut self, raw: &str) {
        if self.names.atom_03 && raw.contains(ATOM_03) {
            let replaced = raw.replace(ATOM_03, ATOM_10);
            push_repaired(&mut self.out, &replaced, &mut self.repairs);
        } else {
            push_repaired(&mut self.out, raw, &mut self.repairs);
        }
    }

    /// Atom 0.3 base64 text, decoded and escaped as XML text. Whitespace (line breaks in
    /// the encoding) is ignored; what does not decode to UTF-8 text is dropped.
    fn push_base64(&mut self, text: &str) {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if compact.is_empty() {
            return;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some(decoded) = decoded {
            for c in decoded.chars() {
                match c {
                    '&' => self.out.push_str("&amp;"),
                    '<' => self.out.push_str("&lt;"),
                    '>' => self.out.push_str("&gt;"),
                    c => self.out.push(c),
                }
            }
        }
    }
}

/// `<name a="v"…>` rebuilt from a parsed tag, leaving out the attributes in `skip`.
fn tag_text(name: &str, tag: &Tag<'_>, skip: &[&str]) -> String {
    let mut text = format!("<{name}");
    for (attribute, value) in &tag.attributes {
        if skip.contains(attribute) {
            continue;
        }
        let quote = if value.contains('"') { '\'' } else { '"' };
        text.push_str(&format!(" {attribute}={quote}{value}{quote}"));
    }
    text.push('>');
    text
}

/// The inside of an `xhtml:body`, as HTML text in a CDATA section: `]]>` cannot end the
/// section early, and XHTML prefixes go (`<xhtml:p>` → `<p>`) so the HTML reader knows
/// the tags.
fn push_as_cdata_html(out: &mut String, xml: &str) {
    let mut rest = xml;
    while let Some(at) = rest.find(['<', ']']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("]]>") {
            out.push_str("]]]]><![CDATA[>");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("</xhtml:") {
            out.push_str("</");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("<xhtml:") {
            out.push('<');
            rest = after;
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
}

/// The length of the tag at the start of `text` (through its `>`; a `>` in a quoted
/// value does not end it). `None` when another `<` comes first: XML allows no `<` in a
/// tag, not even in a value, and stopping there keeps the scan linear (each look-ahead
/// ends at the next `<`).
fn tag_length(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.bytes().enumerate().skip(1) {
        match (quote, b) {
            (_, b'<') => return None,
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Reads `<name attr="v" …>` or `</name>`; `None` if it is not shaped like a tag.
fn parse_tag(raw: &str) -> Option<Tag<'_>> {
    let inner = raw.strip_prefix('<')?.strip_suffix('>')?;
    let (end, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let (self_closing, inner) = match inner.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name_len = inner
        .find(|c: char| c.is_whitespace())
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    if name.is_empty() {
        return None;
    }
    let mut attributes = Vec::new();
    let mut rest = inner[name_len..].trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let attribute = rest[..eq].trim();
        let value_part = rest[eq + 1..].trim_start();
        let quote = value_part
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')?;
        let close = value_part[1..].find(quote)?;
        attributes.push((attribute, &value_part[1..1 + close]));
        rest = value_part[close + 2..].trim_start();
    }
    Some(Tag {
        end,
        self_closing,
        name,
        attributes,
    })
}

/// Copies `text` to `out` with every `&` made a valid XML reference (see the module).
fn push_repaired(out: &mut String, text: &str, repairs: &mut Repairs) {
    let mut copied = 0;
    for amp in crate::ingest::text::ascii_positions(text, b'&') {
        out.push_str(&text[copied..amp]);
        copied = amp + 1;
        let after = &text[amp + 1..];
        // A reference is letters, digits and `#` up to its `;`: the look-ahead stops at
        // the first other byte, and after at most MAX_REFERENCE bytes.
        let semi = after
            .bytes()
            .take(MAX_REFERENCE + 1)
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'#'))
            .filter(|&end| end > 0 && after.as_bytes()[end] == b';');
        let Some(semi) = semi else {
            repairs.bare_ampersands += 1;
            out.push_str("&amp;");
            continue;
        };
        let name = &after[..semi];
        match reference(name) {
            Reference::Xml => {
                out.push('&');
                out.push_str(name);
                out.push(';');
            }
            Reference::Html(glyph) => {
                repairs.html_entities += 1;
                if repairs.first_html_entity.is_none() {
                    repairs.first_html_entity = Some(format!("&{name};"));
                }
                for c in glyph.chars() {
                    out.push_str(&format!("&#x{:X};", u32::from(c)));
                }
            }
            Reference::Forbidden => {
                repairs.bad_char_refs += 1;
                out.push_str("&#xFFFD;");
            }
            Reference::None => {
                repairs.bare_ampersands += 1;
                out.push_str("&amp;");
                continue;
            }
        }
        copied = amp + 1 + semi + 1;
    }
    out.push_str(&text[copied..]);
}

enum Reference {
    /// One XML reads as it is: the five XML entities or a number for an allowed character.
    Xml,
    /// An HTML entity XML does not define, and its text.
    Html(std::borrow::Cow<'static, str>),
    /// A number for a character XML forbids (`&#0;`).
    Forbidden,
    /// Not a reference at all: the `&` is bare.
    None,
}

fn reference(name: &str) -> Reference {
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        return Reference::Xml;
    }
    if let Some(number) = name.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
            return Reference::None;
        }
        let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        let allowed =
            matches!(code, 0x9 | 0xa | 0xd | 0x20..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff);
        return if allowed {
            Reference::Xml
        } else {
            Reference::Forbidden
        };
    }
    match decode_entity(name) {
        Some(glyph) => Reference::Html(glyph),
        None => Reference::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ampersands_and_html_entities_become_xml() {
        let (xml, repairs) = repair_xml(
            "<t a=\"x&y\">功能齐全&免费&amp;&nbsp;&#x4E2D;&#0;&#xZZ;&bogus;<![CDATA[&raw]]><!-- & --> 1<2</t>",
        );
        assert_eq!(
            xml,
            "<t a=\"x&amp;y\">功能齐全&amp;免费&amp;&#xA0;&#x4E2D;&#xFFFD;&amp;#xZZ;&amp;bogus;<![CDATA[&raw]]><!-- & --> 1&lt;2</t>"
        );
        assert_eq!(repairs.bare_ampersands, 4);
        assert_eq!(repairs.html_entities, 1);
        assert_eq!(repairs.bad_char_refs, 1);
        assert_eq!(repairs.bare_less_thans, 1);
        assert_eq!(repairs.first_html_entity.as_deref(), Some("&nbsp;"));
    }

    /// The pass as a quadratic reference would do it for text without markup: each `&`
    /// looked at against everything after it.
    fn quadratic_repair(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            match after.find(';').filter(|s| *s > 0 && *s <= MAX_REFERENCE) {
                Some(semi) => match reference(&after[..semi]) {
                    Reference::Xml => {
                        out.push_str(&rest[amp..amp + semi + 2]);
                        rest = &after[semi + 1..];
                    }
                    Reference::Html(g) => {
                        for c in g.chars() {
                            out.push_str(&format!("&#x{:X};", u32::from(c)));
                        }
                        rest = &after[semi + 1..];
                    }
                    Reference::Forbidden => {
                        out.push_str("&#xFFFD;");
                        rest = &after[semi + 1..];
                    }
                    Reference::None => {
                        out.push_str("&amp;");
                        rest = after;
                    }
                },
                None => {
                    out.push_str("&amp;");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn the_linear_repair_matches_a_quadratic_reference() {
        let tokens = ["&", ";", "amp", "nbsp", "#", "x", "26", "0", "重", " ", "a"];
        for s in crate::ingest::text::token_strings(&tokens, 4, 20_000, 40) {
            let (xml, _) = repair_xml(&s);
            assert_eq!(xml, quadratic_repair(&s), "{s:?}");
        }
    }

    fn read(xml: &str) -> crate::sources::feed::FeedDocuments {
        crate::sources::feed::parse_feed(
            xml.as_bytes(),
            "https://example.com/feed.xml",
            "测试",
            chrono_tz::Tz::Asia__Shanghai,
            chrono::Utc::now(),
        )
        .unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    #[test]
    fn an_rss_root_without_a_known_version_and_mime_typed_atom_texts_are_read() {
        for root in ["<rss>", "<rss version=\"2.0.1\">"] {
            let feed = read(&format!(
                "{root}<channel><title>源</title><item><title>条目</title><guid>g</guid></item></channel></rss>"
            ));
            assert_eq!(feed.documents.len(), 1, "{root}");
            assert!(feed.notes[0].contains("as RSS 2.0"), "{:?}", feed.notes);
        }
        // feed-rs refuses the whole feed over `type="text/plain"` and inline XML content.
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text/plain\">源</title>\
            <entry><id>e1</id><title type=\"text/html\">&lt;b&gt;粗&lt;/b&gt;体</title>\
            <content type=\"application/xhtml+xml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>正文</p></div></content>\
            </entry></feed>";
        assert!(
            feed_rs::parser::parse(atom.as_bytes()).is_err(),
            "positive control"
        );
        let feed = read(atom);
        let item = &feed.documents[0].items[0];
        assert_eq!((item.title.as_str(), item.body.as_str()), ("粗体", "正文"));
    }

    #[test]
    fn a_long_run_of_ampersands_is_repaired_in_linear_time() {
        let text = format!("<t>{}</t>", "&".repeat(2 * 1024 * 1024));
        let started = std::time::Instant::now();
        let (xml, repairs) = repair_xml(&text);
        assert_eq!(repairs.bare_ampersands, 2 * 1024 * 1024);
        assert_eq!(xml.len(), text.len() + 4 * 2 * 1024 * 1024);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
