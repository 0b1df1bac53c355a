//! The real daily brief this project started from (in ../shared/seeds, beside the repo):
//! `ingest` then `preview` must show every item title, key point and impact target.
//! Skipped, with a note, where the seeds are not present.

mod common;

use std::path::PathBuf;

use common::{assert_telegram_valid, spawn_core};

fn seeds() -> Option<PathBuf> {
    let dir = common::repo_path("../shared/seeds");
    dir.join("brief-2026-02-05.md").exists().then_some(dir)
}

/// What the seed brief contains, read with simple line rules independent of the parser.
fn expected(doc: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut titles = Vec::new();
    let mut points = Vec::new();
    let mut targets = Vec::new();
    let mut in_points = false;
    for line in doc.lines() {
        let t = line.trim();
        if let Some(title) = t.strip_prefix("### ") {
            titles.push(title.to_string());
            in_points = false;
        } else if t.contains("核心要点") {
            in_points = true;
        } else if t.starts_with("**") || t.starts_with("## ") {
            in_points = false;
        } else if let Some(bullet) = t.strip_prefix("- ") {
            if in_points {
                points.push(bullet.to_string());
            }
            if let Some(rest) = bullet.strip_prefix('对')
                && let Some(end) = rest.find('：')
            {
                targets.push(rest[..end].to_string());
            }
        }
    }
    (titles, points, targets)
}

#[test]
fn seed_brief_preview_shows_every_title_key_point_and_impact_target() {
    let Some(dir) = seeds() else {
        eprintln!("skipped: ../shared/seeds not present");
        return;
    };
    let t = spawn_core();
    let report = t
        .app
        .ingest_paths(std::slice::from_ref(&dir), None)
        .unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.lines());
    let (_, messages) = t.app.brief_messages("2026-02-05".parse().unwrap()).unwrap();
    assert_telegram_valid(&messages);
    let all: String = messages
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let doc = std::fs::read_to_string(dir.join("brief-2026-02-05.md")).unwrap();
    let (titles, points, targets) = expected(&doc);
    assert!(titles.len() >= 15 && points.len() >= 50 && targets.len() >= 15);
    for title in &titles {
        assert!(all.contains(title.as_str()), "title missing: {title}");
    }
    for point in &points {
        assert!(all.contains(point.as_str()), "key point missing: {point}");
    }
    for target in &targets {
        assert!(
            all.contains(target.as_str()),
            "impact target missing: {target}"
        );
    }
    assert!(!all.contains("telegram-card"));
}
