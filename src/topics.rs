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

/// The topics and a matcher over all their keywords.
#[derive(Debug, Clone)]
pub struct TopicCatalog {
    topics: Vec<Topic>,
    matcher: AhoCorasick,
    /// For each matcher pattern: the topics that list it, and whether it is ASCII (ASCII
    /// keywords must stand as whole words: `AI` is not in `RAIN`).
    patterns: Vec<(Vec<usize>, bool)>,
    /// Lower-cased id, name and aliases → topic index.
    lookup: HashMap<String, usize>,
    /// Changes whenever the topics change, so stored links can be rebuilt.
    pub fingerprint: String,
}

/// Longest topic id: it travels in a button's callback data, which Telegram caps at 64
/// bytes.
pub const MAX_ID_LEN: usize = 40;

fn fold(text: &str) -> String {
    text.trim().trim_start_matches('#').trim().to_lowercase()
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
        TopicCatalog::new(file.topic, crate::ingest::content_hash(text))
    }

    pub fn new(topics: Vec<Topic>, fingerprint: String) -> Result<TopicCatalog, String> {
        if topics.is_empty() {
            return Err("no [[topic]] entries; add at least one".to_string());
        }
        let mut lookup: HashMap<String, usize> = HashMap::new();
        let mut keyword_topics: Vec<(String, Vec<usize>)> = Vec::new();
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
            if topic.keywords.iter().all(|k| k.trim().is_empty()) {
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
            for keyword in topic
                .keywords
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
            {
                match keyword_topics
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
                {
                    Some((_, owners)) if !owners.contains(&index) => owners.push(index),
                    Some(_) => {}
                    None => keyword_topics.push((keyword.to_string(), vec![index])),
                }
            }
        }
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(keyword_topics.iter().map(|(k, _)| k.as_str()))
            .map_err(|e| format!("cannot build the keyword matcher: {e}"))?;
        let patterns = keyword_topics
            .into_iter()
            .map(|(k, owners)| (owners, k.is_ascii()))
            .collect();
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

    /// Topic ids (in catalog order) whose keywords occur in `text`.
    pub fn match_text(&self, text: &str) -> Vec<&str> {
        let mut hit = vec![false; self.topics.len()];
        let bytes = text.as_bytes();
        for m in self.matcher.find_iter(text) {
            let (owners, ascii) = &self.patterns[m.pattern().as_usize()];
            if *ascii {
                let before = m.start().checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(m.end()).copied();
                let is_word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
                if is_word(before) || is_word(after) {
                    continue;
                }
            }
            for &owner in owners {
                hit[owner] = true;
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
