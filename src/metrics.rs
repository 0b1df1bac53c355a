//! Counters for `GET /metrics` (Prometheus text format). Plain atomics and small maps:
//! a handful of series, updated a few times a minute, need no metrics library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    items_ingested: Mutex<BTreeMap<String, u64>>,
    source_errors: Mutex<BTreeMap<String, u64>>,
    briefs_published: AtomicU64,
    messages_sent: AtomicU64,
    messages_failed: Mutex<BTreeMap<String, u64>>,
    messages_retried: Mutex<BTreeMap<String, u64>>,
    rate_limited: AtomicU64,
    last_publish: AtomicI64,
    /// 1 reachable, 0 not, -1 not checked yet.
    telegram_reachable: AtomicI64,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str, by: u64) {
    let mut map = match map.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    *map.entry(key.to_string()).or_default() += by;
}

fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    match map.lock() {
        Ok(m) => m.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            telegram_reachable: AtomicI64::new(-1),
            ..Metrics::default()
        }
    }

    pub fn items_ingested(&self, source: &str, items: u64) {
        bump(&self.items_ingested, source, items);
    }

    pub fn source_fetch_error(&self, source: &str) {
        bump(&self.source_errors, source, 1);
    }

    pub fn brief_published(&self, at_unix: i64) {
        self.briefs_published.fetch_add(1, Ordering::Relaxed);
        self.last_publish.store(at_unix, Ordering::Relaxed);
    }

    pub fn message_sent(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn message_failed(&self, reason: &str) {
        bump(&self.messages_failed, reason, 1);
    }

    pub fn message_retried(&self, reason: &str) {
        bump(&self.messages_retried, reason, 1);
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
            labelled("source", snapshot(&self.items_ingested)),
        );
        family(
            "ecobrief_source_fetch_errors_total",
            "counter",
            "Failed fetches or reads of each source.",
            labelled("source", snapshot(&self.source_errors)),
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
            labelled("reason", snapshot(&self.messages_failed)),
        );
        family(
            "ecobrief_messages_retried_total",
            "counter",
            "Messages sent again, by reason (429, server, unreachable, ambiguous, migrated).",
            labelled("reason", snapshot(&self.messages_retried)),
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
        let m = Metrics::new();
        m.items_ingested("samples", 3);
        m.message_retried("429");
        m.message_failed("forbidden");
        let text = m.render(2);
        assert!(text.contains("# TYPE ecobrief_items_ingested_total counter"));
        assert!(text.contains("ecobrief_items_ingested_total{source=\"samples\"} 3"));
        assert!(text.contains("ecobrief_telegram_429_total 1"));
        assert!(text.contains("ecobrief_messages_failed_total{reason=\"forbidden\"} 1"));
        assert!(text.contains("ecobrief_subscribers 2"));
        assert_eq!(m.telegram_reachable(), None);
    }
}
