//! Tests of the service: index, queries, filters, sorting, paging, replacement, restart.

use super::*;
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use yiqi_schema::testing::sample_record;

fn rec(region: &str, local_id: &str, name: &str, category: &str) -> Json {
    json!({
        "kind": "instrument", "region": region, "local_id": local_id, "version": 1,
        "updated_at": "2026-01-01T00:00:00Z", "name": name, "category": category,
        "institution": {"name": format!("{region} 研究所")},
        "location": {"province": "北京市", "city": "北京市"},
        "sharing": {"mode": "external"}
    })
}

fn with(mut record: Json, patch: Json) -> Json {
    for (k, v) in patch.as_object().unwrap() {
        record[k] = v.clone();
    }
    record
}

fn entry(seq: u64, record: Json) -> IndexEntry {
    IndexEntry {
        seq,
        received_at: "2026-03-01T08:00:01Z".into(),
        key: "k".into(),
        record,
    }
}

/// Six instruments; only the sample record mentions TEM in Latin letters.
fn sample_records() -> Vec<Json> {
    vec![
        sample_record(),
        with(
            rec("CN-BJ", "BJ-1", "透射电子显微镜", "990000"),
            json!({"original_value_cny": 5_000_000,
            "updated_at": "2026-02-01T00:00:00Z", "status": "normal"}),
        ),
        with(
            rec("CN-SH", "SH-1", "扫描电子显微镜", "990000"),
            json!({"original_value_cny": 3_000_000,
            "sharing": {"mode": "internal"}, "location": {"province": "上海市", "city": "上海市"},
            "updated_at": "2026-04-01T00:00:00Z"}),
        ),
        with(
            rec("CN-GD", "GD-1", "流式细胞仪", "990000"),
            json!({"sharing": {"mode": "none"},
            "location": {"province": "广东省", "city": "广州市"}}),
        ),
        with(
            rec("CN-JS", "JS-1", "核磁共振波谱仪", "010601"),
            json!({"original_value_cny": 9_000_000,
            "status": "standby", "name_en": "NMR spectrometer"}),
        ),
        with(
            rec("CN-BJ", "BJ-2", "样品制备系统", "120000"),
            json!({"original_value_cny": 100,
            "specs": "适用于透射电子显微镜样品"}),
        ),
    ]
}

fn service_with(records: Vec<Json>) -> (tempfile::TempDir, SearchService) {
    let dir = tempfile::tempdir().unwrap();
    let service = SearchService::open(dir.path()).unwrap();
    let entries: Vec<IndexEntry> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| entry(i as u64 + 1, r))
        .collect();
    service.apply(&entries).unwrap();
    service.flush().unwrap();
    (dir, service)
}

fn sample_service() -> (tempfile::TempDir, SearchService) {
    service_with(sample_records())
}

fn query(pairs: &[(&str, &str)]) -> SearchQuery {
    let params: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SearchQuery::from_params(&params).unwrap()
}

fn ids(service: &SearchService, pairs: &[(&str, &str)]) -> Vec<String> {
    let response = service.search(&query(pairs)).unwrap();
    response.hits.iter().map(|h| h.local_id.clone()).collect()
}

#[test]
fn required_queries_find_their_instruments() {
    let (_dir, service) = sample_service();
    let cases = [
        ("透射电镜", "BJ-1"),
        ("TEM", "BJ-1"),
        ("tem", "GS-0001"),
        ("flow cytometer", "GD-1"),
        ("流式", "GD-1"),
        ("扫描电镜", "SH-1"),
        ("SEM", "SH-1"),
        ("NMR", "JS-1"),
        ("核磁", "JS-1"),
        ("transmission electron microscope", "BJ-1"),
        ("兰州大学", "GS-0001"),
        ("Talos", "GS-0001"),
        ("显微镜", "SH-1"),
    ];
    for (q, expected) in cases {
        let found = ids(&service, &[("q", q)]);
        assert!(
            found.contains(&expected.to_string()),
            "{q:?} should find {expected}, found {found:?}"
        );
    }
}

#[test]
fn unrelated_queries_find_nothing() {
    let (_dir, service) = sample_service();
    assert!(ids(&service, &[("q", "离心机")]).is_empty());
    assert!(ids(&service, &[("q", "。，")]).is_empty());
    assert_eq!(ids(&service, &[("q", "SEM")]), ["SH-1"]);
}

#[test]
fn name_matches_rank_above_specs_matches() {
    let (_dir, service) = sample_service();
    let found = ids(&service, &[("q", "透射电子显微镜")]);
    assert!(found.len() >= 3, "{found:?}");
    assert_eq!(found.last().unwrap(), "BJ-2", "{found:?}");
    assert_eq!(found[0], "BJ-1", "exact name first: {found:?}");
}

#[test]
fn abbreviations_match_through_the_character_fallback_known_words_as_words() {
    let (_dir, service) = service_with(vec![
        rec("CN-BJ", "PSA", "激光粒度分析仪", "990000"),
        rec("CN-BJ", "WORD", "体视显微镜", "990000"),
        rec("CN-BJ", "SCATTERED", "显示器与微型镜头", "990000"),
    ]);
    assert_eq!(ids(&service, &[("q", "激光粒度仪")]), ["PSA"]);
    assert_eq!(ids(&service, &[("q", "显微镜")]), ["WORD"]);
}

#[test]
fn exact_phrase_beats_the_character_fallback() {
    let (_dir, service) = service_with(vec![
        rec("CN-BJ", "SCATTERED", "组件与显微镜头", "990000"),
        rec("CN-BJ", "EXACT", "显微组件", "990000"),
    ]);
    assert_eq!(ids(&service, &[("q", "显微组件")]), ["EXACT", "SCATTERED"]);
}

#[test]
fn hits_carry_the_record_summary_and_highlight() {
    let (_dir, service) = sample_service();
    let response = service
        .search(&query(&[("q", "透射电镜"), ("region", "CN-GS")]))
        .unwrap();
    assert_eq!(response.total, 1);
    let hit = &response.hits[0];
    assert_eq!(hit.name, "场发射透射电子显微镜");
    assert_eq!(
        hit.name_en.as_deref(),
        Some("Field emission transmission electron microscope")
    );
    assert_eq!(
        (hit.category.as_str(), hit.category_name.as_str()),
        ("010101", "透射电镜")
    );
    assert_eq!(
        (hit.institution.as_str(), hit.city.as_str()),
        ("兰州大学", "兰州市")
    );
    assert_eq!(
        (hit.original_value_cny, hit.sharing.as_str()),
        (Some(12_800_000), "external")
    );
    assert!(hit.highlight.contains("<em>"), "{}", hit.highlight);
    let all = service.search(&SearchQuery::default()).unwrap();
    assert!(all.hits.iter().all(|h| h.highlight.is_empty()));
    let json = serde_json::to_value(&response).unwrap();
    for key in ["total", "took_ms", "hits", "facets"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert!(json["facets"]["province"].is_object());
}

#[test]
fn every_filter() {
    let (_dir, service) = sample_service();
    let count = |pairs: &[(&str, &str)]| service.search(&query(pairs)).unwrap().total;
    assert_eq!(count(&[]), 6);
    assert_eq!(count(&[("region", "CN-BJ")]), 2);
    assert_eq!(count(&[("province", "上海市")]), 1);
    assert_eq!(count(&[("city", "广州市")]), 1);
    assert_eq!(count(&[("sharing", "external")]), 4);
    assert_eq!(count(&[("sharing", "none")]), 1);
    assert_eq!(count(&[("status", "standby")]), 1);
    assert_eq!(count(&[("min_value", "5000000")]), 3);
    assert_eq!(count(&[("max_value", "5000000")]), 3);
    assert_eq!(
        count(&[("min_value", "3000000"), ("max_value", "9000000")]),
        3
    );
    assert_eq!(count(&[("q", "显微镜"), ("region", "CN-BJ")]), 2);
    assert_eq!(
        count(&[("q", "显微镜"), ("region", "CN-BJ"), ("max_value", "1000")]),
        1
    );
}

#[test]
fn category_filter_includes_descendants() {
    let (_dir, service) = sample_service();
    let count = |code: &str| service.search(&query(&[("category", code)])).unwrap().total;
    assert_eq!(count("010000"), 2);
    assert_eq!(count("010100"), 1);
    assert_eq!(count("010101"), 1);
    assert_eq!(count("010600"), 1);
    assert_eq!(count("010102"), 0);
    assert_eq!(count("990000"), 3);
}

#[test]
fn facets_count_all_matches_by_top_level_class() {
    let (_dir, service) = sample_service();
    let response = service.search(&query(&[("limit", "1")])).unwrap();
    assert_eq!(response.hits.len(), 1);
    let facets = &response.facets;
    assert_eq!(facets.region["CN-BJ"], 2);
    assert_eq!(facets.category["010000"], 2);
    assert_eq!(facets.category["990000"], 3);
    assert!(!facets.category.contains_key("010101"));
    assert_eq!(facets.sharing["external"], 4);
    assert_eq!(facets.province["北京市"], 3);
    let zero = service.search(&query(&[("limit", "0")])).unwrap();
    assert!(zero.hits.is_empty());
    assert_eq!(zero.total, 6);
}

#[test]
fn facets_are_the_same_counted_one_by_one_or_in_blocks() {
    let (_dir, service) = sample_service();
    // Ranked by relevance, matches reach the facets one at a time with their scores; sorted by
    // a fast field, in blocks without scores.
    let scored = service.search(&query(&[("q", "显微镜")])).unwrap();
    let blocks = service
        .search(&query(&[("q", "显微镜"), ("sort", "value_desc")]))
        .unwrap();
    assert!(scored.total >= 3, "{}", scored.total);
    assert_eq!(scored.total, blocks.total);
    assert_eq!(
        format!("{:?}", scored.facets),
        format!("{:?}", blocks.facets)
    );
}

#[test]
fn sorting() {
    let (_dir, service) = sample_service();
    assert_eq!(
        ids(&service, &[("sort", "value_desc")]),
        ["GS-0001", "JS-1", "BJ-1", "SH-1", "BJ-2", "GD-1"]
    );
    let by_update = ids(&service, &[("sort", "updated_desc")]);
    assert_eq!(&by_update[..3], ["SH-1", "GS-0001", "BJ-1"]);
    assert_eq!(
        ids(&service, &[]),
        by_update,
        "empty q: most recently updated first"
    );
}

/// Equally relevant hits from two regions, alike but for their ids.
fn equally_relevant_records() -> Vec<Json> {
    let mut records = Vec::new();
    for i in 0..15 {
        records.push(rec(
            "CN-SC",
            &format!("SC-{i:02}"),
            "透射电子显微镜",
            "990000",
        ));
        records.push(rec(
            "CN-BJ",
            &format!("BJ-{i:02}"),
            "透射电子显微镜",
            "990000",
        ));
    }
    records
}

#[test]
fn a_page_of_equally_relevant_hits_mixes_regions() {
    let (_dir, service) = service_with(equally_relevant_records());
    for sort in ["relevance", "updated_desc"] {
        let page = service
            .search(&query(&[("q", "TEM"), ("sort", sort), ("limit", "10")]))
            .unwrap();
        assert_eq!(page.total, 30);
        let regions: BTreeSet<&str> = page.hits.iter().map(|h| h.region.as_str()).collect();
        assert_eq!(
            regions.len(),
            2,
            "{sort}: one region's page: {:?}",
            page.hits
        );
    }
}

#[test]
fn ties_put_bookable_shared_and_recently_used_instruments_first() {
    let mut records = equally_relevant_records();
    let best = json!({"sharing": {"mode": "external", "booking_url": "https://example.org/b"},
        "contact": {"name": "王老师"}, "usage": {"year": 2025, "run_hours": 900}});
    records.push(with(
        rec("CN-GS", "GS-BEST", "透射电子显微镜", "990000"),
        best,
    ));
    let (_dir, service) = service_with(records);
    assert_eq!(ids(&service, &[("q", "TEM")])[0], "GS-BEST");
    let plain = rec("CN-GS", "X", "x", "990000");
    assert_eq!(fields::quality(&plain), 1, "externally shared");
    let stale = with(
        plain.clone(),
        json!({"usage": {"year": 2023, "run_hours": 900}}),
    );
    assert_eq!(
        fields::quality(&stale),
        1,
        "usage two years before the update is not recent"
    );
    assert_eq!(
        fields::tie_rank("CN-GS/X", &plain),
        fields::tie_rank("CN-GS/X", &plain),
        "stable"
    );
}

#[test]
fn paging() {
    let (_dir, service) = sample_service();
    let all = ids(&service, &[("sort", "value_desc")]);
    let mut paged = Vec::new();
    for offset in ["0", "2", "4"] {
        paged.extend(ids(
            &service,
            &[("sort", "value_desc"), ("offset", offset), ("limit", "2")],
        ));
    }
    assert_eq!(paged, all);
    assert!(ids(&service, &[("offset", "9990"), ("limit", "10")]).is_empty());
}

#[test]
fn newer_version_replaces_and_tombstone_deletes() {
    let (_dir, service) = sample_service();
    let renamed = with(
        sample_record(),
        json!({"version": 4, "name": "冷冻透射电子显微镜"}),
    );
    service.apply(&[entry(7, renamed)]).unwrap();
    service.flush().unwrap();
    let response = service.search(&query(&[("region", "CN-GS")])).unwrap();
    assert_eq!(response.total, 1);
    assert_eq!(response.hits[0].name, "冷冻透射电子显微镜");
    let tombstone = json!({"kind": "instrument", "region": "CN-GS", "local_id": "GS-0001", "version": 5,
        "updated_at": "2026-03-02T00:00:00Z", "deleted": true});
    service.apply(&[entry(8, tombstone)]).unwrap();
    service.flush().unwrap();
    assert_eq!(
        service
            .search(&query(&[("region", "CN-GS")]))
            .unwrap()
            .total,
        0
    );
    let stats = service.stats(&StatsQuery::default()).unwrap();
    assert_eq!(stats.total.instruments, 5);
    assert_eq!(service.indexed_seq(), 8);
}

#[test]
fn a_repeated_search_gives_the_same_answer_until_the_index_changes() {
    let (_dir, service) = sample_service();
    let microscopes = query(&[("q", "显微镜")]);
    let first = service.search(&microscopes).unwrap();
    let again = service.search(&microscopes).unwrap();
    assert_eq!(
        serde_json::to_value(SearchResponse {
            took_ms: 0,
            ..first.clone()
        })
        .unwrap(),
        serde_json::to_value(SearchResponse {
            took_ms: 0,
            ..again
        })
        .unwrap()
    );
    let another = rec("CN-SC", "SC-9", "体视显微镜", "990000");
    service.apply(&[entry(7, another)]).unwrap();
    service.flush().unwrap();
    let after = service.search(&microscopes).unwrap();
    assert_eq!(after.total, first.total + 1);
    assert_eq!(after.facets.region.get("CN-SC"), Some(&1));
}

#[test]
fn a_repeated_statistics_question_gives_the_same_answer_until_a_record_changes() {
    let (_dir, service) = sample_service();
    let by_region = StatsQuery::default();
    let first = service.stats(&by_region).unwrap();
    assert_eq!(service.stats(&by_region).unwrap(), first);
    service
        .apply_unsequenced(&[entry(0, rec("CN-SC", "SC-9", "体视显微镜", "990000"))])
        .unwrap();
    let after = service.stats(&by_region).unwrap();
    assert_eq!(after.total.instruments, first.total.instruments + 1);
}

#[test]
fn applied_entries_become_searchable_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let service = SearchService::open(dir.path()).unwrap();
    service.apply(&[entry(1, sample_record())]).unwrap();
    // A deadline for the wait only: how soon a record becomes searchable is measured by
    // `yiqi-bench search`, not asserted here.
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.search(&SearchQuery::default()).unwrap().total == 0 {
        assert!(
            Instant::now() < deadline,
            "never searchable without a flush"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reopen_keeps_the_index_and_replay_rebuilds_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<IndexEntry> = sample_records()
        .into_iter()
        .enumerate()
        .map(|(i, r)| entry(i as u64 + 1, r))
        .collect();
    {
        let service = SearchService::open(dir.path()).unwrap();
        assert_eq!((service.indexed_seq(), service.persisted_seq()), (0, 0));
        service.apply(&entries).unwrap();
        service.flush().unwrap();
        assert_eq!((service.indexed_seq(), service.persisted_seq()), (6, 6));
    }
    let service = SearchService::open(dir.path()).unwrap();
    assert_eq!(service.persisted_seq(), 6);
    assert_eq!(
        service.indexed_seq(),
        0,
        "statistics are rebuilt by a replay"
    );
    assert_eq!(service.search(&SearchQuery::default()).unwrap().total, 6);
    service.apply(&entries).unwrap();
    service.flush().unwrap();
    assert_eq!(service.indexed_seq(), 6);
    assert_eq!(service.search(&SearchQuery::default()).unwrap().total, 6);
    assert_eq!(
        service
            .stats(&StatsQuery::default())
            .unwrap()
            .total
            .instruments,
        6
    );
}

#[test]
fn damaged_index_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.json"), b"{ not json").unwrap();
    let service = SearchService::open(dir.path()).unwrap();
    assert_eq!(service.persisted_seq(), 0);
    service.apply(&[entry(1, sample_record())]).unwrap();
    service.flush().unwrap();
    assert_eq!(service.search(&SearchQuery::default()).unwrap().total, 1);
}

#[test]
fn index_built_with_another_thesaurus_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let service = SearchService::open(dir.path()).unwrap();
        service.apply(&[entry(1, sample_record())]).unwrap();
        service.flush().unwrap();
    }
    let meta = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let fingerprint = analysis_fingerprint();
    assert!(text.contains(fingerprint), "{text}");
    std::fs::write(
        &meta,
        text.replace(fingerprint, "analysis-1-0000000000000000"),
    )
    .unwrap();
    let service = SearchService::open(dir.path()).unwrap();
    assert_eq!(service.persisted_seq(), 0);
    assert_eq!(service.search(&SearchQuery::default()).unwrap().total, 0);
}

/// Searching keeps the caller's priority; indexing runs lowered (Linux thread nice values).
#[cfg(target_os = "linux")]
#[test]
fn search_threads_keep_their_priority_and_index_threads_yield() {
    let (_dir, _service) = sample_service();
    let nice_of = |prefix: &str| -> Vec<i32> {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().flatten();
        tasks
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.starts_with(prefix))
            })
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                // Fields after the parenthesised name: state is field 3, nice field 19.
                let after_name = &stat[stat.rfind(')')? + 2..];
                after_name.split(' ').nth(16)?.parse().ok()
            })
            .collect()
    };
    // SAFETY: getpriority on our own thread id reads this thread's nice value.
    let own_nice =
        || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
    let (caller, lowered) = (own_nice(), priority::run_lowered(own_nice));
    let search = nice_of("tantivy-search");
    let indexing = nice_of("thrd-tantivy");
    assert!(!search.is_empty() && !indexing.is_empty());
    assert!(
        search.iter().all(|&n| n == caller),
        "search threads: {search:?}, caller {caller}"
    );
    assert!(
        indexing.iter().all(|&n| n == lowered),
        "indexing threads: {indexing:?}, lowered {lowered}"
    );
}

#[test]
fn service_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SearchService>();
}

fn shared_sample_service() -> &'static SearchService {
    static SERVICE: OnceLock<(tempfile::TempDir, SearchService)> = OnceLock::new();
    &SERVICE.get_or_init(sample_service).1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_parameters_never_fail_except_as_param_errors(
        pairs in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "q", "region", "category", "province", "city", "sharing", "status", "min_value",
                    "max_value", "sort", "offset", "limit", "x",
                ]),
                "\\PC{0,12}|[0-9]{1,6}|CN-[A-Z]{2}|0[1-9]0[0-9]0[0-9]",
            ),
            0..6,
        )
    ) {
        let params: Vec<(String, String)> =
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Ok(query) = SearchQuery::from_params(&params) {
            prop_assert!(shared_sample_service().search(&query).is_ok());
        }
        let _ = StatsQuery::from_params(&params);
    }

    #[test]
    fn arbitrary_queries_never_fail(q in "\\PC{0,60}", ascii in "[ -~]{0,40}") {
        let service = shared_sample_service();
        for text in [q, ascii] {
            let params = vec![("q".to_string(), text)];
            if let Ok(query) = SearchQuery::from_params(&params) {
                prop_assert!(service.search(&query).is_ok());
            }
        }
    }
}

#[test]
fn export_streams_every_match_in_chunks() {
    let records: Vec<Json> = (0..150)
        .map(|i| rec("CN-SC", &format!("SC-{i:03}"), "=透射电子显微镜", "990000"))
        .chain([rec("CN-BJ", "BJ-X", "核磁共振波谱仪", "990000")])
        .collect();
    let (_dir, service) = service_with(records);
    let tem = query(&[("q", "TEM")]);
    let mut rows = Vec::new();
    assert_eq!(
        service
            .export(&tem, |row| {
                rows.push(row);
                true
            })
            .unwrap(),
        150
    );
    assert!(
        rows.iter()
            .all(|r| r.region == "CN-SC" && r.page.starts_with("/instruments/CN-SC/"))
    );
    let mut seen = 0;
    assert_eq!(
        service
            .export(&tem, |_| {
                seen += 1;
                seen < 10
            })
            .unwrap(),
        9,
        "the consumer stops it"
    );

    let mut csv = Vec::new();
    export::write_chunks(&service, &tem, export::ExportFormat::Csv, |chunk| {
        csv.extend(chunk);
        true
    })
    .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("\u{feff}地区 Region,本地编号 Local ID,仪器名称 Name"));
    assert_eq!(csv.lines().count(), 151);
    assert!(csv.contains(",'=透射电子显微镜,"), "formulas neutralised");

    let mut ndjson = Vec::new();
    let json_query = query(&[("region", "CN-BJ")]);
    export::write_chunks(
        &service,
        &json_query,
        export::ExportFormat::Ndjson,
        |chunk| {
            ndjson.extend(chunk);
            true
        },
    )
    .unwrap();
    let line: Json = serde_json::from_slice(ndjson.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(line["local_id"], "BJ-X");
    assert_eq!(line["province"], "北京市");
}

#[test]
fn city_filter_matches_a_prefix() {
    let (_dir, service) = sample_service();
    assert_eq!(ids(&service, &[("city", "兰州")]), ["GS-0001"]);
    assert_eq!(ids(&service, &[("city", "兰州市")]), ["GS-0001"]);
    assert!(ids(&service, &[("city", "州")]).is_empty());
}

#[test]
fn numbers_find_their_record_exactly() {
    let (_dir, service) = sample_service();
    for number in ["GS-0001", "gs-0001", "CN-GS/GS-0001", "GS-2019-018"] {
        assert_eq!(ids(&service, &[("q", number)]), ["GS-0001"], "{number}");
    }
    assert!(ids(&service, &[("q", "GS-0002")]).is_empty());
}

#[test]
fn english_and_pinyin_place_names_match() {
    let (_dir, service) = sample_service();
    assert_eq!(ids(&service, &[("q", "Lanzhou")]), ["GS-0001"]);
    assert_eq!(ids(&service, &[("q", "Gansu TEM")]), ["GS-0001"]);
    let beijing = ids(&service, &[("q", "TEM Beijing")]);
    assert_eq!(
        beijing,
        ["BJ-1", "BJ-2"],
        "the TEM in Beijing first, then the preparation system for TEM samples"
    );
    let mut in_beijing = ids(&service, &[("q", "Beijing")]);
    in_beijing.sort();
    assert_eq!(in_beijing, ["BJ-1", "BJ-2", "JS-1"]);
}

#[test]
fn a_query_that_finds_nothing_suggests_close_spellings() {
    let (_dir, service) = sample_service();
    let typo = service
        .search(&query(&[("q", "NMR spectrometre")]))
        .unwrap();
    assert_eq!(typo.total, 0);
    assert_eq!(typo.suggestions[0], "nmr spectrometer");
    let corrected = service
        .search(&query(&[("q", &typo.suggestions[0])]))
        .unwrap();
    assert_eq!(corrected.hits[0].local_id, "JS-1");
    let chinese = service.search(&query(&[("q", "流式细胞议")])).unwrap();
    assert!(
        chinese.suggestions.contains(&"流式细胞仪".to_string()),
        "{:?}",
        chinese.suggestions
    );
    let found = service.search(&query(&[("q", "NMR")])).unwrap();
    assert!(found.suggestions.is_empty());
    assert!(
        service
            .search(&query(&[("q", "qqqqqqqqqq")]))
            .unwrap()
            .suggestions
            .is_empty()
    );
}
