//! Counters for `GET /metrics` (Prometheus text format). Plain atomics only: every label
//! is known at start (the configured sources, the push API, the fixed set of delivery
//! reasons), so counting never takes a lock and never waits.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The `source` label of items pushed to the HTTP API.
pub const API_SOURCE: &str = "api";

/// Why a message was retried or given up on: every `reason` label there is.
pub const REASONS: &[&str] = &[
    "429",
    "migrated",
    "forbidden",
    "unauthorized",
    "chat_not_found",
    "bad_request",
    "server",
    "unreachable",
    "ambiguous",
    "decode",
    "stopped",
    "not_recorded",
];

/// One counter per label fixed at start; a label not among them counts as `other`.
#[derive(Debug, Default)]
struct LabelledCounters {
    labels: Vec<String>,
    values: Vec<AtomicU64>,
    other: AtomicU64,
}

impl LabelledCounters {
    fn new(labels: impl IntoIterator<Item = String>) -> LabelledCounters {
        let mut unique: Vec<String> = Vec::new();
        for label in labels {
            if !unique.contains(&label) {
                unique.push(label);
            }
        }
        LabelledCounters {
            values: unique.iter().map(|_| AtomicU64::new(0)).collect(),
            labels: unique,
            other: AtomicU64::new(0),
        }
    }

    fn add(&self, key: &str, by: u64) {
        let counter = match self.labels.iter().position(|l| l == key) {
            Some(i) => &self.values[i],
            None => &self.other,
        };
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// The labels counted so far, sorted.
    fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = self
            .labels
            .iter()
            .zip(&self.values)
            .map(|(l, v)| (l.clone(), v.load(Ordering::Relaxed)))
            .filter(|(_, v)| *v > 0)
            .collect();
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            out.insert("other".to_string(), other);
        }
        out
    }
}

#[derive(Debug)]
pub struct Metrics {
    items_ingested: LabelledCounters,
    source_errors: LabelledCounters,
    briefs_published: AtomicU64,
    messages_sent: AtomicU64,
    messages_failed: LabelledCounters,
    messages_retried: LabelledCounters,
    rate_limited: AtomicU64,
    last_publish: AtomicI64,
    /// 1 reachable, 0 not, -1 not checked yet.
    telegram_reachable: AtomicI64,
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counters for the sources with these ids (and the push API).
    pub fn new<'a>(sources: impl IntoIterator<Item = &'a str>) -> Metrics {
        let sources: Vec<String> = sources
            .into_iter()
            .chain([API_SOURCE])
            .map(str::to_string)
            .collect();
        let reasons = || REASONS.iter().map(|r| r.to_string());
        Metrics {
            items_ingested: LabelledCounters::new(sources.clone()),
            source_errors: LabelledCounters::new(sources),
            briefs_published: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            messages_failed: LabelledCounters::new(reasons()),
            messages_retried: LabelledCounters::new(reasons()),
            rate_limited: AtomicU64::new(0),
            last_publish: AtomicI64::new(0),
            telegram_reachable: AtomicI64::new(-1),
        }
    }

    pub fn items_ingested(&self, source: &str, items: u64) {
        self.items_ingested.add(source, items);
    }

    pub fn source_fetch_error(&self, source: &str) {
        self.source_errors.add(source, 1);
    }

    pub fn brief_published(&self, at_unix: i64) {
        self.briefs_published.fetch_add(1, Ordering::Relaxed);
        self.last_publish.store(at_unix, Ordering::Relaxed);
    }

    pub fn message_sent(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn message_failed(&self, reason: &str) {
        self.messages_failed.add(reason, 1);
    }

    pub fn message_retried(&self, reason: &str) {
        self.messages_retried.add(reason, 1);
        if reason == "429" {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn set_telegram_reachable(&self, reachable: bool) {
        self.telegram_reachable
            .store(i64::from(reachable), Ordering::Relaxed);
    }

    /// `None` until the first request to Telegram.
    pub fn telegram_reachable(&self) -> Option<bool> {
        match self.telegram_reachable.load(Ordering::Relaxed) {
            -1 => None,
            v => Some(v == 1),
        }
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self, subscribers: usize) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, series: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let labelled = |key: &str, map: BTreeMap<String, u64>| -> Vec<(String, u64)> {
            map.into_iter()
                .map(|(k, v)| (format!("{{{key}=\"{}\"}}", label(&k)), v))
                .collect()
        };
        family(
            "ecobrief_items_ingested_total",
            "counter",
            "Items stored from each source.",
            labelled("source", self.items_ingested.snapshot()),
        );
        family(
            "ecobrief_source_fetch_errors_total",
            "counter",
            "Failed fetches or reads of each source.",
            labelled("source", self.source_errors.snapshot()),
        );
        family(
            "ecobrief_briefs_published_total",
            "counter",
            "Briefs posted completely to every target.",
            vec![(String::new(), self.briefs_published.load(Ordering::Relaxed))],
        );
        family(
            "ecobrief_messages_sent_total",
            "counter",
            "Messages Telegram confirmed.",
            vec![(String::new(), self.messages_sent.load(Ordering::Relaxed))],
        );
        family(
            "ecobrief_messages_failed_total",
            "counter",
            "Messages given up on, by reason.",
            labelled("reason", self.messages_failed.snapshot()),
        );
        family(
            "ecobrief_messages_retried_total",
            "counter",
            "Messages sent again, by reason (429, server, unreachable, ambiguous, migrated).",
            labelled("reason", self.messages_retried.snapshot()),
        );
        family(
            "ecobrief_telegram_429_total",
            "counter",
            "Rate-limit answers from Telegram.",
            vec![(String::new(), self.rate_limited.load(Ordering::Relaxed))],
        );
        let last = self.last_publish.load(Ordering::Relaxed).max(0) as u64;
        family(
            "ecobrief_last_publish_timestamp_seconds",
            "gauge",
            "When the last brief was posted completely (Unix time; 0 if never).",
            vec![(String::new(), last)],
        );
        family(
            "ecobrief_subscribers",
            "gauge",
            "Active subscribers.",
            vec![(String::new(), subscribers as u64)],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new(["samples"]);
        m.items_ingested("samples", 3);
        m.items_ingested("unknown", 1);
        m.message_retried("429");
        m.message_failed("forbidden");
        let text = m.render(2);
        assert!(text.contains("# TYPE ecobrief_items_ingested_total counter"));
        assert!(text.contains("ecobrief_items_ingested_total{source=\"samples\"} 3"));
        assert!(text.contains("ecobrief_items_ingested_total{source=\"other\"} 1"));
        for reason in REASONS {
            m.message_retried(reason);
        }
        assert!(
            !m.render(0).contains("reason=\"other\""),
            "every reason has its label"
        );
        assert!(text.contains("ecobrief_telegram_429_total 1"));
        assert!(text.contains("ecobrief_messages_failed_total{reason=\"forbidden\"} 1"));
        assert!(text.contains("ecobrief_subscribers 2"));
        assert_eq!(m.telegram_reachable(), None);
    }
}
