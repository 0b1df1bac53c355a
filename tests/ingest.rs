//! Ingest: the three shapes, messy documents, impact lines as data, bad files.

mod common;

use chrono::NaiveDate;
use common::{fixture, repo_path, spawn_core};
use ecobrief::config::Config;
use ecobrief::ingest::{IngestOptions, read_document};
use ecobrief::model::{Direction, Horizon, Intensity, ItemKind, Leaning, ParsedDocument};

fn options() -> IngestOptions {
    IngestOptions::from_settings(
        &ecobrief::settings::Settings::from_config(Config::default()).unwrap(),
        None,
    )
}

fn read(path: std::path::PathBuf) -> ParsedDocument {
    read_document(&path, &options()).unwrap_or_else(|e| panic!("{e}"))
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn messy_brief_keeps_every_item_in_its_section() {
    let doc = read(fixture("brief-messy.md"));
    assert_eq!(doc.meta.brief_date, day("2026-04-02"));
    assert_eq!(
        doc.meta.title,
        "避险情绪升温推动金价走高，央行下调逆回购利率"
    );
    assert_eq!(doc.meta.summary.len(), 3);
    let items: Vec<_> = doc
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Brief)
        .collect();
    let table = [
        (
            "金融市场与宏观经济",
            "避险情绪升温，金价盘中突破5400美元",
            3,
            2,
            2,
        ),
        (
            "金融市场与宏观经济",
            "美国公布新一轮关税清单，美股期货走低",
            2,
            0,
            2,
        ),
        (
            "中国国内动态",
            "国务院常务会议研究促进服务消费举措",
            0,
            0,
            0,
        ),
        ("中国国内动态", "央行下调7天逆回购操作利率10个基点", 3, 3, 2),
    ];
    assert_eq!(items.len(), table.len());
    for (item, (section, title, points, insights, impacts)) in items.iter().zip(table) {
        assert_eq!(item.section, section);
        assert_eq!(item.title, title);
        assert_eq!(
            item.key_points.len(),
            points,
            "{title}: {:?}",
            item.key_points
        );
        assert_eq!(
            item.insights.len(),
            insights,
            "{title}: {:?}",
            item.insights
        );
        assert_eq!(item.impacts.len(), impacts, "{title}: {:?}", item.impacts);
    }
    // The key point that lost its indentation stays with its item, in order.
    assert_eq!(items[3].key_points[1], "操作利率由1.30%下调至1.20%");
    // A bare HH:MM is on the brief's day, in Asia/Shanghai.
    let t = items[3].published_at.expect("time");
    assert_eq!(t.to_rfc3339(), "2026-04-02T01:40:00+00:00");
    let quick: Vec<_> = doc
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Quick)
        .collect();
    assert_eq!(quick.len(), 2);
    assert!(quick.iter().all(|i| i.section == "更多动态"));
    // The HTML card is dropped, not turned into items or text.
    for item in &doc.items {
        let all = format!("{} {:?} {:?}", item.title, item.key_points, item.insights);
        assert!(!all.contains('<') && !all.contains("t.me"), "{all}");
    }
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
}

type Row = (
    &'static str,
    &'static str,
    Direction,
    Option<Leaning>,
    Option<Horizon>,
    Option<Intensity>,
);

fn check_impacts(doc: &ParsedDocument, table: &[Row]) {
    let impacts: Vec<_> = doc.items.iter().flat_map(|i| i.impacts.iter()).collect();
    assert_eq!(impacts.len(), table.len(), "{impacts:#?}");
    for (impact, (target, label, direction, leaning, horizon, intensity)) in
        impacts.iter().zip(table)
    {
        assert_eq!(impact.target, *target);
        assert_eq!(impact.label, *label, "{target}");
        assert_eq!(impact.stance.direction, *direction, "{target}");
        assert_eq!(impact.stance.leaning, *leaning, "{target}");
        assert_eq!(impact.stance.horizon, *horizon, "{target}");
        assert_eq!(impact.stance.intensity, *intensity, "{target}");
        assert!(!impact.note.is_empty(), "{target}: note kept");
    }
}

use Direction::{Bearish as Down, Bullish as Up, Neutral as Flat, Unknown as NoStance};

#[test]
fn messy_brief_impacts() {
    let doc = read(fixture("brief-messy.md"));
    check_impacts(
        &doc,
        &[
            ("黄金", "利多", Up, None, None, None),
            ("美元", "中性偏空", Flat, Some(Leaning::Bearish), None, None),
            ("美股", "短期利空", Down, None, Some(Horizon::Short), None),
            (
                "出口企业",
                "中性偏空",
                Flat,
                Some(Leaning::Bearish),
                None,
                None,
            ),
            ("利率", "中性偏鸽", Flat, Some(Leaning::Dovish), None, None),
            ("中小企业", "", NoStance, None, None, None),
        ],
    );
}

#[test]
fn sample_brief_every_impact_line() {
    let doc = read(repo_path("samples/brief-2026-03-12.md"));
    let mild = Some(Intensity::Mild);
    let short = Some(Horizon::Short);
    check_impacts(
        &doc,
        &[
            (
                "新能源汽车出口",
                "中性偏多",
                Flat,
                Some(Leaning::Bullish),
                None,
                None,
            ),
            ("欧元", "中性", Flat, None, None, None),
            ("原油", "中性偏空", Flat, Some(Leaning::Bearish), None, None),
            ("航运股", "利空", Down, None, None, None),
            ("美股", "短期利空", Down, None, short, None),
            ("科技股", "中性", Flat, None, None, None),
            ("利率", "中性偏鹰", Flat, Some(Leaning::Hawkish), None, None),
            ("美债", "温和利空", Down, None, None, mild),
            ("黄金", "短期利空", Down, None, short, None),
            ("黄金", "中性偏高", Flat, Some(Leaning::Bullish), None, None),
            ("投资者", "", NoStance, None, None, None),
            ("原油", "短期利多", Up, None, short, None),
            ("航空股", "温和利空", Down, None, None, mild),
            ("人民币资产", "利好", Up, None, None, None),
            ("出口企业", "", NoStance, None, None, None),
            ("加密货币", "短期利空", Down, None, short, None),
            ("半导体", "长期利好", Up, None, Some(Horizon::Long), None),
            ("算力产业链", "利多", Up, None, None, None),
            ("铜", "利多", Up, None, None, None),
            ("下游线缆企业", "", NoStance, None, None, None),
            ("利率", "中性偏鸽", Flat, Some(Leaning::Dovish), None, None),
            ("国债", "利多", Up, None, None, None),
            ("A股", "中性偏多", Flat, Some(Leaning::Bullish), None, None),
            ("港股", "利好", Up, None, None, None),
        ],
    );
    // 投资启示 is advice, not an impact.
    let advice: Vec<_> = doc.items.iter().flat_map(|i| i.advice.iter()).collect();
    assert_eq!(advice.len(), 1);
    assert!(advice[0].starts_with("关注有真实订单"));
}

/// Every form of impact line in the real daily brief this project started from (targets
/// and stance words as there; notes are our own).
#[test]
fn seed_brief_impact_forms() {
    use ecobrief::ingest::impact::{ImpactLine, parse_impact_line};
    let cases: &[(&str, &str, &str, Direction)] = &[
        ("对股市：利多。情绪回暖", "股市", "利多", Up),
        ("对科技股：中性偏多。限制或放宽", "科技股", "中性偏多", Flat),
        ("对原油：中性偏空。缓和预期", "原油", "中性偏空", Flat),
        ("对黄金：中性。溢价消退", "黄金", "中性", Flat),
        ("对科技股：利空。保持谨慎", "科技股", "利空", Down),
        (
            "对芯片股：短期利空，但长期看需求",
            "芯片股",
            "短期利空",
            Down,
        ),
        ("对黄金：中性偏高。长期支撑", "黄金", "中性偏高", Flat),
        ("对投资者：在波动市中分散配置", "投资者", "", NoStance),
        ("对原油：短期利多。库存下降", "原油", "短期利多", Up),
        ("对通胀：温和利空。推高物价", "通胀", "温和利空", Down),
        ("对利率：中性偏鸽。数据疲软", "利率", "中性偏鸽", Flat),
        ("对股市：中性。相互抵消", "股市", "中性", Flat),
        (
            "对大宗商品：长期利好关键矿产价格，成本抬高",
            "大宗商品",
            "长期利好",
            Up,
        ),
        (
            "对中国资源企业：短期压力较大，寻找替代",
            "中国资源企业",
            "",
            NoStance,
        ),
        (
            "对新能源行业：成本上升可能推高终端价格",
            "新能源行业",
            "",
            NoStance,
        ),
    ];
    for (line, target, label, direction) in cases {
        let Some(ImpactLine::Impact(impact)) = parse_impact_line(line) else {
            panic!("{line} is an impact");
        };
        assert_eq!(
            (impact.target.as_str(), impact.label.as_str()),
            (*target, *label),
            "{line}"
        );
        assert_eq!(impact.stance.direction, *direction, "{line}");
    }
    let i = match parse_impact_line("对大宗商品：长期利好关键矿产价格，成本抬高")
    {
        Some(ImpactLine::Impact(i)) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(i.note, "关键矿产价格，成本抬高");
    assert!(matches!(
        parse_impact_line("投资启示：区分受益者"),
        Some(ImpactLine::Advice(_))
    ));
}

#[test]
fn items_without_impacts_get_none_invented() {
    let doc = read(repo_path("samples/brief-2026-03-12.md"));
    let lithium = doc
        .items
        .iter()
        .find(|i| i.title.starts_with("碳酸锂"))
        .unwrap();
    assert!(lithium.impacts.is_empty());
    assert!(!lithium.insights.is_empty());
}

#[test]
fn article_keeps_title_time_summary_source_and_tags() {
    let doc = read(repo_path("samples/article-2026-03-12-copper.md"));
    assert_eq!(doc.items.len(), 1);
    let a = &doc.items[0];
    assert_eq!(a.kind, ItemKind::Article);
    assert_eq!(a.brief_date, day("2026-03-12"));
    assert_eq!(
        a.published_at.unwrap().to_rfc3339(),
        "2026-03-12T02:05:00+00:00"
    );
    assert!(a.title.starts_with("铜价再创历史新高"));
    assert!(a.summary.ends_with('…'), "{}", a.summary);
    assert_eq!(a.source_name.as_deref(), Some("新浪财经"));
    assert_eq!(
        a.source_url.as_deref(),
        Some("https://finance.example.com/2026-03-12/doc-copper.shtml")
    );
    assert_eq!(a.categories, vec!["sina_commodity"]);
    assert!(!a.tags.is_empty());
    assert!(!a.body.contains("!["), "images dropped");
    assert!(!a.body.contains("](http"), "source link not in body");
    assert!(a.body.lines().count() >= 8);
}

#[test]
fn rfc3339_article_date_lands_on_the_local_day() {
    let doc = read(fixture("article-rfc3339.md"));
    // 21:05 UTC on 2 April is 05:05 on 3 April in Asia/Shanghai.
    assert_eq!(doc.items[0].brief_date, day("2026-04-03"));
    assert!(doc.items[0].source_url.is_some());
}

#[test]
fn commentary_title_is_its_first_sentence_shortened() {
    let doc = read(repo_path("samples/commentary-2026-03-12.txt"));
    let c = &doc.items[0];
    assert_eq!(c.kind, ItemKind::Commentary);
    assert_eq!(c.section, "观点");
    assert_eq!(c.brief_date, day("2026-03-12"), "date from the file name");
    assert!(c.title.chars().count() <= 32, "{}", c.title);
    assert!(!c.title.contains('\n'));
    let text = std::fs::read_to_string(repo_path("samples/commentary-2026-03-12.txt")).unwrap();
    let first: String = c.title.trim_end_matches('…').to_string();
    assert!(text.starts_with(&first), "{first}");

    let overridden = read_document(
        &repo_path("samples/commentary-2026-03-12.txt"),
        &IngestOptions::from_settings(
            &ecobrief::settings::Settings::from_config(Config::default()).unwrap(),
            Some(day("2026-05-01")),
        ),
    )
    .unwrap();
    assert_eq!(
        overridden.items[0].brief_date,
        day("2026-05-01"),
        "--date wins"
    );
}

#[test]
fn undated_commentary_takes_the_file_modification_day() {
    let t = spawn_core();
    let path = t.write("note.txt", "今天市场情绪明显好转。成交放大。\n");
    let doc = read(path.clone());
    let modified: chrono::DateTime<chrono::Utc> =
        std::fs::metadata(&path).unwrap().modified().unwrap().into();
    let local = modified
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    assert_eq!(doc.items[0].brief_date, local);
    assert_eq!(doc.items[0].title, "今天市场情绪明显好转");
}

#[test]
fn each_bad_file_gets_one_clear_line_and_the_rest_is_ingested() {
    let t = spawn_app_limit(1024);
    let dir = t.dir.path().join("inbox");
    let bad: &[(&str, &[u8], &str)] = &[
        (
            "a-latin1.md",
            b"---\ntitle: caf\xe9\n---\nbody\n",
            "not UTF-8 (invalid byte at line 2)",
        ),
        ("b-binary.md", b"PK\x03\x04\x00\x00", "binary file"),
        ("c-empty.md", b"  \n\n", "file is empty"),
        (
            "d-open.md",
            "---\ntitle: 未闭合\ndate: 2026-03-12\n正文\n".as_bytes(),
            "line 1: front matter is opened with --- but never closed",
        ),
        (
            "e-yaml.md",
            "---\ntitle: 好\ntags: [a, b\n---\n正文\n".as_bytes(),
            "invalid YAML in front matter",
        ),
        (
            "f-date.md",
            "---\ntitle: 日期\nsummary: x\ndate: 明天早上\n---\n正文\n".as_bytes(),
            "line 4: date \"明天早上\" is not a date",
        ),
        (
            "g-large.md",
            &[b'a'; 2048],
            "larger than the 1024-byte limit",
        ),
    ];
    for (name, bytes, _) in bad {
        t.write(&format!("inbox/{name}"), bytes);
    }
    t.write("inbox/h-good.txt", "一条正常的评论。内容在这里。\n");
    let report = t.app.ingest_paths(&[dir], Some(day("2026-03-12"))).unwrap();
    assert_eq!(report.failed(), bad.len());
    assert_eq!(report.items(), 1);
    let lines = report.lines();
    for (name, _, reason) in bad {
        let line = lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}: {lines:#?}"));
        assert!(line.starts_with("error"), "{line}");
        assert!(line.contains(reason), "{name}: {line}");
    }
    assert_eq!(
        t.store().item_count().unwrap(),
        1,
        "failed files write nothing"
    );
}

fn spawn_app_limit(limit: u64) -> common::TestCore {
    common::spawn_core_with(|c| c.ingest.max_file_bytes = limit)
}

#[test]
fn ingesting_twice_updates_and_never_duplicates() {
    let t = spawn_core();
    let first = t.app.ingest_folders().unwrap();
    assert_eq!(first.failed(), 0, "{:?}", first.lines());
    let count = t.store().item_count().unwrap();
    assert!(count >= 20, "{count}");
    let again = t.app.ingest_folders().unwrap();
    assert_eq!(t.store().item_count().unwrap(), count);
    assert!(
        again.lines().iter().all(|l| l.contains("unchanged")),
        "{:?}",
        again.lines()
    );

    // An edited copy of the brief replaces the stored one: one item fewer, a point changed.
    let original = std::fs::read_to_string(repo_path("samples/brief-2026-03-12.md")).unwrap();
    let start = original.find("### 比特币").unwrap();
    let end = start + original[start..].find("## 行业趋势").unwrap();
    let edited = format!("{}{}", &original[..start], &original[end..])
        .replace("LME三个月期铜收涨2.7%", "LME三个月期铜收涨2.9%");
    let path = t.write("brief-2026-03-12.md", edited);
    let report = t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(report.failed(), 0);
    assert_eq!(t.store().item_count().unwrap(), count - 1);
    let items = t.store().items_for_date(day("2026-03-12")).unwrap();
    assert!(items.iter().all(|(_, i)| !i.title.starts_with("比特币")));
    assert!(
        items
            .iter()
            .any(|(_, i)| i.key_points.iter().any(|p| p.contains("收涨2.9%")))
    );
}

#[test]
fn same_title_twice_in_one_document_keeps_both() {
    let t = spawn_core();
    let doc = "---\ntitle: t\ndate: 2026-06-01\n---\n## 甲\n### 市场综述\n- **时间：** 08:00\n- **核心要点：**\n  - 一\n### 市场综述\n- **时间：** 09:00\n- **核心要点：**\n  - 二\n";
    let path = t.write("dup.md", doc);
    t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(t.store().item_count().unwrap(), 2);
    let brief = t.app.compose(day("2026-06-01")).unwrap();
    assert_eq!(
        brief.item_count(),
        2,
        "both shown: they come from one document"
    );
}

#[test]
fn topics_are_linked_at_ingest_and_queried_newest_first() {
    let t = spawn_core();
    t.app.ingest_folders().unwrap();
    let gold = t.store().items_for_topic("gold", 10, 0).unwrap();
    assert!(gold.iter().any(|i| i.title.starts_with("现货黄金")));
    let times: Vec<_> = gold.iter().map(|i| i.published_at).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(t.store().count_for_topic("gold").unwrap(), gold.len());
    let page2 = t.store().items_for_topic("gold", 1, 1).unwrap();
    assert_eq!(page2[0].key, gold[1].key);
    let crypto = t.store().items_for_topic("crypto", 10, 0).unwrap();
    assert!(crypto.iter().all(|i| !i.title.contains("黄金")));
    assert!(crypto.iter().any(|i| i.title.starts_with("比特币")));
    // A brief's front-matter tags describe the day, so they do not tag every item.
    let commodities = t.store().count_for_topic("commodities").unwrap();
    assert!(commodities < 10, "{commodities}");
}

#[test]
fn html_comments_code_fences_and_inline_tags_lose_nothing() {
    let t = spawn_core();
    // One full item: a brief only because its front matter says so.
    let doc = "---\ntitle: 杂项\ndate: 2026-06-02\ntype: brief\n---\n## 甲\n<!-- 草稿\n### 草稿条目\n-->\n### 正式条目\n- **时间：** 2026-06-02\n- **核心要点：**\n  - <b>重要</b>：央行降准\n  - 政策解读：利率下行\n<details>\n<summary>未闭合\n\n## 乙\n### 乙条目\n```\n- 围栏里的要点\n```\n## 更多动态\n- [带链接的快讯](https://example.com/q)\n";
    let path = t.write("misc.md", doc);
    let report = t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(report.failed(), 0);
    let items = t.store().items_for_date(day("2026-06-02")).unwrap();
    let titles: Vec<_> = items.iter().map(|(_, i)| i.title.as_str()).collect();
    assert!(!titles.contains(&"草稿条目"), "commented out: {titles:?}");
    let main = &items.iter().find(|(_, i)| i.title == "正式条目").unwrap().1;
    assert_eq!(
        main.key_points,
        vec!["重要：央行降准", "政策解读：利率下行"]
    );
    assert_eq!(
        main.published_at, None,
        "a date without a time makes no time up"
    );
    let fenced = &items
        .iter()
        .find(|(_, i)| i.title == "乙条目")
        .expect("unclosed <details> ends at a blank line")
        .1;
    assert_eq!(fenced.key_points, vec!["围栏里的要点"]);
    let quick = &items
        .iter()
        .find(|(_, i)| i.title == "带链接的快讯")
        .unwrap()
        .1;
    assert_eq!(quick.source_url.as_deref(), Some("https://example.com/q"));
}

#[test]
fn a_second_brief_shaped_document_does_not_wipe_the_days_brief() {
    let t = spawn_core();
    t.app.ingest_folders().unwrap();
    let before = t.store().items_for_date(day("2026-03-12")).unwrap().len();
    let other =
        "---\ntitle: 另一份稿件\ndate: 2026-03-12\n---\n### 小标题\n- **核心要点：**\n  - 内容\n";
    let path = t.write("other.md", other);
    t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(
        t.store().items_for_date(day("2026-03-12")).unwrap().len(),
        before + 1
    );
}

#[test]
fn a_file_edited_to_a_new_key_replaces_its_old_document() {
    let t = spawn_core();
    let path = t.write("c.txt", "第一句标题。正文。\n");
    t.app
        .ingest_paths(std::slice::from_ref(&path), Some(day("2026-06-03")))
        .unwrap();
    std::fs::write(&path, "改过的标题。正文。\n").unwrap();
    t.app
        .ingest_paths(std::slice::from_ref(&path), Some(day("2026-06-03")))
        .unwrap();
    let items = t.store().items_for_date(day("2026-06-03")).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1.title, "改过的标题");
}

#[test]
fn aliases_and_non_scalar_dates_are_refused_with_their_line() {
    let t = spawn_core();
    let bomb = t.write("bomb.md", "---\na: &a [x, x]\nb: [*a, *a]\n---\n正文\n");
    let list_date = t.write(
        "list-date.md",
        "---\ntitle: x\ndate: [2026-01-02]\n---\n正文\n",
    );
    let report = t.app.ingest_paths(&[bomb, list_date], None).unwrap();
    let lines = report.lines().join("\n");
    assert_eq!(report.failed(), 2, "{lines}");
    assert!(
        lines.contains("bomb.md: line 3: invalid YAML in front matter: YAML aliases"),
        "{lines}"
    );
    assert!(lines.contains("list-date.md: line 3: date"), "{lines}");
}

#[test]
fn a_notice_with_one_heading_and_a_time_line_is_not_a_brief() {
    let t = spawn_core();
    let notice = "---\ntitle: 期末家长会通知\ndate: 2026-06-05\n---\n### 会议安排\n- **时间：** 2026-06-05 19:00\n- 地点：学校礼堂\n\n请各位家长准时参加。\n";
    let path = t.write("notice.md", notice);
    let report = t.app.ingest_paths(&[path], None).unwrap();
    assert_eq!(report.failed(), 0);
    let store = t.store();
    assert!(
        store.brief_document(day("2026-06-05")).unwrap().is_none(),
        "a notice does not take over the day's header"
    );
    let items = store.items_for_date(day("2026-06-05")).unwrap();
    assert_eq!(items.len(), 1, "one article, its heading part of its body");
    assert_eq!(items[0].1.kind, ecobrief::model::ItemKind::Article);
    // Positive control: two full items make a brief.
    let brief = "---\ntitle: 简报\ndate: 2026-06-06\n---\n## 市场\n### 一\n- **时间：** 09:00\n- **核心要点：**\n  - 甲\n### 二\n- **时间：** 10:00\n- **影响：**\n  - 对股市：利多\n";
    let path = t.write("brief.md", brief);
    t.app.ingest_paths(&[path], None).unwrap();
    assert!(store.brief_document(day("2026-06-06")).unwrap().is_some());
}

/// A structured brief of `items` items on `date`.
fn brief_of(date: &str, items: usize) -> String {
    let mut doc = format!("---\ntitle: 简报{date}\ndate: {date}\n---\n## 宏观\n");
    for n in 0..items {
        doc.push_str(&format!(
            "### 条目{n}\n- **时间：** 08:00\n- **核心要点：**\n  - 要点{n}\n"
        ));
    }
    doc
}

#[test]
fn a_folder_is_written_in_batches_bounded_by_items_not_only_by_files() {
    let t = spawn_core();
    // Three files of 300 items: the first batch ends once it holds 500 items or more,
    // so it is the first two files; the third is read and written after their commit.
    for (name, date) in [
        ("a.md", "2026-06-01"),
        ("b.md", "2026-06-02"),
        ("c.md", "2026-06-03"),
    ] {
        t.write(&format!("big/{name}"), brief_of(date, 300));
    }
    let mut stored_when_reported = Vec::new();
    let tally = t
        .app
        .ingest_paths_each(&[t.dir.path().join("big")], None, |file| {
            assert!(file.result.is_ok(), "{:?}", file.lines());
            stored_when_reported.push(t.store().item_count().unwrap());
        })
        .unwrap();
    assert_eq!(tally.files, 3);
    assert_eq!(tally.items, 900);
    // Each file is reported once its batch is committed: the first two together, before
    // the third was stored; the third (the positive control) once everything is.
    assert_eq!(stored_when_reported, vec![600, 600, 900]);
}
