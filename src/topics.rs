//! Topics (`config/topics.toml`): what members ask for with `/topic`, and the keyword
//! matcher that tags items at ingest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::model::Item;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub keywords: Vec<String>,
    /// Compounds that contain a keyword but are not about the topic (`黄金周` for gold):
    /// a keyword occurrence inside one of them does not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    #[serde(default)]
    topic: Vec<Topic>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("cannot read topics file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("topics file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// What a matcher pattern is to one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// Sorted first: at the same start, an exclusion is seen before the keyword it masks.
    Exclude,
    Keyword,
}

/// One matcher pattern: the topics that list it (and as what), and whether it is ASCII
/// (ASCII patterns must stand as whole words: `AI` is not in `RAIN`).
#[derive(Debug, Clone)]
struct Pattern {
    owners: Vec<(usize, Role)>,
    ascii: bool,
}

/// The topics and a matcher over all their keywords and exclusions.
#[derive(Debug, Clone)]
pub struct TopicCatalog {
    topics: Vec<Topic>,
    matcher: AhoCorasick,
    patterns: Vec<Pattern>,
    /// Lower-cased id, name and aliases → topic index.
    lookup: HashMap<String, usize>,
    /// Changes whenever the topics (or the way they are matched) change, so stored links
    /// can be rebuilt.
    pub fingerprint: String,
}

/// Longest topic id: it travels in a button's callback data, which Telegram caps at 64
/// bytes.
pub const MAX_ID_LEN: usize = 40;

/// Part of the fingerprint: bump it when matching changes meaning, so that links made by
/// an older matcher are rebuilt even when `topics.toml` is unchanged. 2: every
/// occurrence counts (overlapping search), and `exclude` masks compounds.
const MATCHER_VERSION: &str = "matcher 2";

fn fold(text: &str) -> String {
    text.trim().trim_start_matches('#').trim().to_lowercase()
}

/// How a name typed after `/topic` is compared with stored impact targets: trimmed,
/// without a leading `#`, ASCII letters in lower case (as SQLite's `lower` does).
pub fn fold_target(text: &str) -> String {
    text.trim()
        .trim_start_matches('#')
        .trim()
        .to_ascii_lowercase()
}

impl TopicCatalog {
    pub fn load(path: &Path) -> Result<TopicCatalog, TopicsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopicsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TopicCatalog::from_toml(&text).map_err(|message| TopicsError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<TopicCatalog, String> {
        let file: TopicsFile =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        TopicCatalog::new(
            file.topic,
            crate::ingest::content_hash(&format!("{MATCHER_VERSION}\n{text}")),
        )
    }

    pub fn new(topics: Vec<Topic>, fingerprint: String) -> Result<TopicCatalog, String> {
        if topics.is_empty() {
            return Err("no [[topic]] entries; add at least one".to_string());
        }
        let mut lookup: HashMap<String, usize> = HashMap::new();
        // Pattern text (ASCII lower-cased, as the matcher compares it) → its index.
        let mut pattern_index: HashMap<String, usize> = HashMap::new();
        let mut pattern_texts: Vec<String> = Vec::new();
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut add_pattern = |text: &str, owner: usize, role: Role| {
            let key = text.to_ascii_lowercase();
            let index = *pattern_index.entry(key).or_insert_with(|| {
                pattern_texts.push(text.to_string());
                patterns.push(Pattern {
                    owners: Vec::new(),
                    ascii: text.is_ascii(),
                });
                patterns.len() - 1
            });
            let owners = &mut patterns[index].owners;
            if !owners.contains(&(owner, role)) {
                owners.push((owner, role));
            }
        };
        for (index, topic) in topics.iter().enumerate() {
            let n = index + 1;
            if topic.id.is_empty()
                || topic.id.len() > MAX_ID_LEN
                || !topic
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(format!(
                    "topic #{n}: id {:?} must be 1 to {MAX_ID_LEN} lowercase ASCII letters, digits and '-'",
                    topic.id
                ));
            }
            if topic.name.trim().is_empty() {
                return Err(format!("topic {:?}: name is empty", topic.id));
            }
            let keywords: Vec<&str> = topic
                .keywords
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .collect();
            if keywords.is_empty() {
                return Err(format!(
                    "topic {:?}: keywords is empty; add at least one",
                    topic.id
                ));
            }
            for name in std::iter::once(&topic.id)
                .chain(std::iter::once(&topic.name))
                .chain(&topic.aliases)
            {
                let key = fold(name);
                if key.is_empty() {
                    continue;
                }
                if let Some(&other) = lookup.get(&key)
                    && other != index
                {
                    return Err(format!(
                        "topic {:?}: name or alias {name:?} is already used by topic {:?}",
                        topic.id, topics[other].id
                    ));
                }
                lookup.insert(key, index);
            }
            for keyword in &keywords {
                add_pattern(keyword, index, Role::Keyword);
            }
            for (i, phrase) in topic.exclude.iter().enumerate() {
                let phrase = phrase.trim();
                check_exclude(topic, i, phrase, &keywords)?;
                add_pattern(phrase, index, Role::Exclude);
            }
        }
        // Standard semantics, searched for every (overlapping) occurrence: an exclusion
        // and the keyword inside it are both seen, so the keyword can be masked exactly
        // there and still count anywhere else.
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&pattern_texts)
            .map_err(|e| format!("cannot build the keyword matcher: {e}"))?;
        Ok(TopicCatalog {
            topics,
            matcher,
            patterns,
            lookup,
            fingerprint,
        })
    }

    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    pub fn get(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }

    /// Finds a topic by id, Chinese name or alias, ignoring case and a leading `#`.
    pub fn resolve(&self, name: &str) -> Option<&Topic> {
        self.lookup.get(&fold(name)).map(|&i| &self.topics[i])
    }

    /// Up to `limit` topics whose names look like `name`, best first: for "no such topic"
    /// replies.
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<&Topic> {
        let query: Vec<char> = fold(name).chars().collect();
        if query.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(usize, usize)> = self
            .lookup
            .iter()
            .filter_map(|(candidate, &index)| {
                let shared = query.iter().filter(|c| candidate.contains(**c)).count();
                let contains =
                    candidate.contains(&fold(name)) || fold(name).contains(candidate.as_str());
                let score = shared * 2 + if contains { 5 } else { 0 };
                (score >= 2).then_some((score, index))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<&Topic> = Vec::new();
        for (_, index) in scored {
            if !out.iter().any(|t| t.id == self.topics[index].id) {
                out.push(&self.topics[index]);
            }
            if out.len() == limit {
                break;
            }
        }
        out
    }

    /// Topic ids (in catalog order) with a keyword occurrence in `text` that no
    /// exclusion of that topic covers.
    ///
    /// One pass of the automaton over the text; the occurrences it reports (at most a
    /// few per byte, fixed by the patterns) are then sorted once and swept per topic.
    pub fn match_text(&self, text: &str) -> Vec<&str> {
        let bytes = text.as_bytes();
        let is_word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        // (topic, start, role, end) of every occurrence that counts for a topic.
        let mut spans: Vec<(usize, usize, Role, usize)> = Vec::new();
        for m in self.matcher.find_overlapping_iter(text) {
            let pattern = &self.patterns[m.pattern().as_usize()];
            if pattern.ascii {
                let before = m.start().checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(m.end()).copied();
                if is_word(before) || is_word(after) {
                    continue;
                }
            }
            for &(owner, role) in &pattern.owners {
                spans.push((owner, m.start(), role, m.end()));
            }
        }
        spans.sort_unstable();
        let mut hit = vec![false; self.topics.len()];
        let mut current = usize::MAX;
        // The furthest end of the exclusions of `current` that start at or before the
        // occurrence at hand: a keyword ending there or before lies inside one of them.
        let mut masked_to: Option<usize> = None;
        for (owner, _start, role, end) in spans {
            if owner != current {
                current = owner;
                masked_to = None;
            }
            match role {
                Role::Exclude => masked_to = Some(masked_to.map_or(end, |m| m.max(end))),
                Role::Keyword => {
                    if masked_to.is_none_or(|m| end > m) {
                        hit[owner] = true;
                    }
                }
            }
        }
        self.topics
            .iter()
            .zip(hit)
            .filter(|(_, h)| *h)
            .map(|(t, _)| t.id.as_str())
            .collect()
    }

    /// The topics of an item: matched in its title, key points, summary, impact targets
    /// and tags (not the long body or insights, which mention too much in passing).
    pub fn topics_for(&self, item: &Item) -> Vec<&str> {
        let mut text = String::with_capacity(256);
        let mut add = |s: &str| {
            text.push_str(s);
            text.push('\n');
        };
        add(&item.title);
        item.key_points.iter().for_each(|p| add(p));
        add(&item.summary);
        item.impacts.iter().for_each(|i| add(&i.target));
        item.tags.iter().for_each(|t| add(t));
        item.categories.iter().for_each(|c| add(c));
        self.match_text(&text)
    }
}

/// An exclusion must be a compound around one of the topic's own keywords: anything else
/// could never mask a match, and is a typo or a phrase put under the wrong topic.
fn check_exclude(
    topic: &Topic,
    index: usize,
    phrase: &str,
    keywords: &[&str],
) -> Result<(), String> {
    let at = format!("topic {:?}: exclude[{index}]", topic.id);
    if phrase.is_empty() {
        return Err(format!("{at} is empty; remove it"));
    }
    let folded = phrase.to_ascii_lowercase();
    if let Some(same) = keywords.iter().find(|k| k.to_ascii_lowercase() == folded) {
        return Err(format!(
            "{at} {phrase:?} is also one of its keywords, so it would mask every occurrence of {same:?}; remove {same:?} from keywords instead"
        ));
    }
    if !keywords
        .iter()
        .any(|k| folded.contains(&k.to_ascii_lowercase()))
    {
        return Err(format!(
            "{at} {phrase:?} contains none of its keywords ({}), so it can never mask a match; write the whole compound around a keyword (as \"黄金周\" for \"黄金\"), or move it to the topic whose keyword it contains",
            keywords.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: &str = r#"
[[topic]]
id = "gold"
name = "黄金"
aliases = ["金价", "Gold"]
keywords = ["黄金", "金价"]

[[topic]]
id = "tech"
name = "科技"
aliases = ["ai"]
keywords = ["芯片", "AI", "人工智能"]
"#;

    #[test]
    fn resolves_by_id_name_alias_in_any_case() {
        let c = TopicCatalog::from_toml(TOPICS).unwrap();
        for name in ["gold", "GOLD", "黄金", "金价", " #Gold "] {
            assert_eq!(
                c.resolve(name).map(|t| t.id.as_str()),
                Some("gold"),
                "{name}"
            );
        }
        assert!(c.resolve("白银").is_none());
    }

    #[test]
    fn ascii_keywords_match_whole_words_only() {
        let c = TopicCatalog::from_toml(TOPICS).unwrap();
        assert_eq!(c.match_text("AI芯片热潮"), vec!["tech"]);
        assert_eq!(c.match_text("ai 应用"), vec!["tech"]);
        assert!(c.match_text("RAIN and PAID").is_empty());
        assert_eq!(c.match_text("金价与AI"), vec!["gold", "tech"]);
    }

    const GOLD_AND_TRAVEL: &str = r#"
[[topic]]
id = "gold"
name = "黄金"
keywords = ["黄金", "金价", "黄金期货"]
exclude = ["黄金周", "黄金时代", "黄金期", "黄金档"]

[[topic]]
id = "travel"
name = "出行"
keywords = ["黄金周", "假期"]
"#;

    #[test]
    fn excluded_compounds_mask_only_their_own_span() {
        let c = TopicCatalog::from_toml(GOLD_AND_TRAVEL).unwrap();
        let gold = |text: &str| c.match_text(text).contains(&"gold");
        for text in ["黄金时代来临", "国庆黄金周", "发展黄金期", "黄金档电视剧"]
        {
            assert!(!gold(text), "{text}");
        }
        // Another keyword, or another (unmasked) occurrence of the same one.
        assert!(gold("黄金周消费火爆，金价上涨"));
        assert!(gold("黄金周后黄金大涨"));
        assert!(gold("黄金大涨，黄金周临近"));
        // A keyword longer than the exclusion is not inside it.
        assert!(gold("黄金期货大涨"));
        // The exclusion is the gold topic's: another topic may still have it as a keyword.
        assert_eq!(c.match_text("黄金周出游人数"), vec!["travel"]);
        assert_eq!(c.match_text("黄金周金价"), vec!["gold", "travel"]);
    }

    #[test]
    fn exclusions_without_a_keyword_are_refused_with_the_topic_and_phrase() {
        let with = |exclude: &str| {
            TopicCatalog::from_toml(&format!(
                "[[topic]]\nid = \"gold\"\nname = \"黄金\"\nkeywords = [\"黄金\", \"金价\"]\nexclude = [{exclude}]"
            ))
        };
        let err = with("\"黄金周\", \"周末\"").unwrap_err();
        assert!(
            err.contains("\"gold\"") && err.contains("exclude[1]") && err.contains("周末"),
            "{err}"
        );
        assert!(err.contains("contains none of its keywords"), "{err}");
        let same = with("\"黄金\"").unwrap_err();
        assert!(same.contains("remove \"黄金\" from keywords"), "{same}");
        assert!(with("\" \"").unwrap_err().contains("is empty"));
        assert!(with("\"黄金周\"").is_ok());
    }

    #[test]
    fn the_fingerprint_follows_the_file() {
        let a = TopicCatalog::from_toml(GOLD_AND_TRAVEL).unwrap();
        let b = TopicCatalog::from_toml(
            &GOLD_AND_TRAVEL.replace("\"黄金档\"", "\"黄金档\", \"黄金坑\""),
        )
        .unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.fingerprint,
            TopicCatalog::from_toml(GOLD_AND_TRAVEL)
                .unwrap()
                .fingerprint
        );
    }

    #[test]
    fn the_shipped_topics_know_common_compounds() {
        let text = include_str!("../config/topics.toml");
        let c = TopicCatalog::from_toml(text).unwrap();
        let has = |text: &str, id: &str| c.match_text(text).contains(&id);
        for text in [
            "国庆黄金周消费数据亮眼",
            "迎来发展黄金期",
            "资金价格维持低位",
            "公司公告采购金额",
            "A股进入黄金时代？",
        ] {
            assert!(!has(text, "gold"), "{text}");
        }
        assert!(has("黄金周后金价大涨", "gold"));
        assert!(has("黄金期货合约", "gold"));
        assert!(!has("欧洲央行维持利率不变", "china-macro"));
        assert!(has("欧洲央行之后，中国央行降准", "china-macro"));
        assert!(!has("为民营经济保驾护航", "geopolitics"));
        assert!(!has("燃油车销量下滑", "oil"));
        assert!(has("燃油车销量下滑，油价走低", "oil"));
        for (name, id) in [
            ("科技股", "tech"),
            ("芯片股", "tech"),
            ("美元", "fx"),
            ("A股", "a-shares"),
            ("铜", "commodities"),
        ] {
            assert_eq!(c.resolve(name).map(|t| t.id.as_str()), Some(id), "{name}");
        }
        // Targets with no topic of their own are left to the impact lookup.
        assert!(c.resolve("股市").is_none() && c.resolve("通胀").is_none());
    }

    #[test]
    fn bad_topics_are_named() {
        let err =
            TopicCatalog::from_toml("[[topic]]\nid = \"Gold!\"\nname = \"x\"\nkeywords = [\"x\"]")
                .unwrap_err();
        assert!(err.contains("Gold!"), "{err}");
        let dup = "[[topic]]\nid = \"a\"\nname = \"甲\"\nkeywords = [\"x\"]\n[[topic]]\nid = \"b\"\nname = \"甲\"\nkeywords = [\"y\"]";
        assert!(
            TopicCatalog::from_toml(dup)
                .unwrap_err()
                .contains("already used")
        );
    }
}
