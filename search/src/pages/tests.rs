use super::*;
use crate::params::{ParamError, SearchQuery, StatsQuery};
use crate::{Facets, Figures, Hit, SearchResponse, StatsResponse, StatsRow};
use serde_json::json;
use yiqi_schema::testing::sample_record;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hit(local_id: &str) -> Hit {
    Hit {
        region: "CN-GS".into(),
        local_id: local_id.into(),
        name: "透射电子显微镜 <x>".into(),
        name_en: Some("TEM".into()),
        category: "010101".into(),
        category_name: "透射电镜".into(),
        institution: "兰州大学".into(),
        city: "兰州市".into(),
        original_value_cny: Some(12_800_000),
        sharing: "external".into(),
        highlight: "<em>透射</em>电子显微镜 &lt;x&gt;".into(),
    }
}

fn response(n: usize, total: u64) -> SearchResponse {
    let mut facets = Facets::default();
    facets.region.insert("CN-GS".into(), total);
    facets.category.insert("010000".into(), total);
    facets.sharing.insert("external".into(), total);
    facets.province.insert("甘肃省".into(), total);
    SearchResponse {
        total,
        took_ms: 1,
        hits: (0..n).map(|i| hit(&format!("GS-{i}"))).collect(),
        facets,
        suggestions: Vec::new(),
    }
}

#[test]
fn search_page_has_the_form_hits_facets_and_paging() {
    let p = params(&[("q", "透射"), ("region", "CN-GS"), ("limit", "2")]);
    let html = search_page(&p, Ok(response(2, 5)), &ServedBy::Hub).into_string();
    assert!(
        html.contains(r#"<form class="search" method="get" action="/""#),
        "{html}"
    );
    assert!(html.contains(r#"name="q" value="透射""#));
    assert!(html.contains(r#"<input type="hidden" name="region" value="CN-GS">"#));
    let back = "?q=%E9%80%8F%E5%B0%84&amp;region=CN-GS&amp;limit=2";
    assert!(
        html.contains(&format!(r#"href="/instruments/CN-GS/GS-0{back}""#)),
        "hits carry the search: {html}"
    );
    assert!(html.contains(&format!(r#"href="/instruments/CN-GS/GS-1{back}""#)));
    assert!(
        html.contains(
            r#"href="/v1/search/export?q=%E9%80%8F%E5%B0%84&amp;region=CN-GS&amp;format=csv""#
        ),
        "the export link: every match of the search"
    );
    for field in [
        r#"name="category""#,
        r#"name="city""#,
        r#"name="status""#,
        r#"name="min_value""#,
        r#"name="max_value""#,
    ] {
        assert!(html.contains(field), "{field} in the form");
    }
    assert!(
        html.contains(r#"<details class="facets"><summary>"#),
        "facets fold"
    );
    assert!(
        !html.contains("<h3>地区"),
        "the region facet repeats the province facet"
    );
    assert!(html.contains("<h3>省份"));
    assert!(
        html.contains("<em>透射</em>电子显微镜 &lt;x&gt;"),
        "highlight rendered as HTML"
    );
    assert!(
        html.contains("透射电子显微镜 &lt;x&gt;</a>"),
        "names escaped"
    );
    assert!(html.contains("甘肃省"));
    assert!(html.contains("分析仪器"));
    assert!(html.contains("offset=2"), "next page link");
    assert!(html.contains("检索 Search"));
}

#[test]
fn region_facet_stays_when_it_differs_from_province_and_suggestions_link() {
    let mut result = response(0, 0);
    result.facets.region.insert("CN-BJ".into(), 1);
    result.suggestions = vec!["spectrometer".into()];
    let p = params(&[("q", "spectrometre")]);
    let html = search_page(&p, Ok(result), &ServedBy::Hub).into_string();
    assert!(html.contains("<h3>地区"), "{html}");
    assert!(html.contains("Did you mean"));
    assert!(html.contains(r#"href="/?q=spectrometer""#), "{html}");
}

#[test]
fn stats_page_for_one_region_and_class() {
    let stats = StatsResponse {
        group_by: "region",
        rows: vec![],
        total: Figures::default(),
    };
    let filter = StatsQuery {
        region: Some("CN-GS".into()),
        category: Some("010000".into()),
        ..StatsQuery::default()
    };
    let html = stats_page(&stats, &stats, &filter, &ServedBy::Hub).into_string();
    assert!(html.contains("甘肃省 · 分析仪器 科研仪器统计"), "{html}");
    assert!(html.contains(r#"<option value="CN-GS" selected>"#));
    assert!(
        html.contains(
            "/v1/stats?group_by=region&amp;region=CN-GS&amp;category=010000&amp;format=csv"
        )
    );
    assert!(
        html.contains(r#"<div class="scroll"><table>"#),
        "tables scroll in their box"
    );
}

#[test]
fn search_page_shows_parameter_errors() {
    let p = params(&[("q", "x"), ("sort", "bad")]);
    let error = ParamError::new("sort", "must be relevance, value_desc or updated_desc");
    let html = search_page(&p, Err(error), &ServedBy::Hub).into_string();
    assert!(html.contains("<code>sort</code>"));
    assert!(html.contains(r#"name="q""#));
}

#[test]
fn instrument_page_shows_every_field_and_provenance() {
    let view = InstrumentView {
        envelope: json!({"record": sample_record(), "signature": {"alg": "Ed25519", "key": "KEY-b64url", "value": "SIG"}}),
        seq: Some(42),
        received_at: Some("2026-03-01T08:00:01Z".into()),
        utilisation: Some(crate::utilisation::InstrumentUtilisation {
            usage: vec![crate::utilisation::YearUsage {
                year: 2024,
                run_hours: 1234,
                external_service_hours: 56,
            }],
            services: vec![crate::utilisation::ServiceGroup {
                year: 2025,
                purpose: "teaching",
                client: "external",
                services: 7,
                hours: crate::utilisation::Hours(1250),
            }],
        }),
    };
    let from = SearchQuery {
        q: "透射 电镜".into(),
        region: Some("CN-GS".into()),
        offset: 20,
        ..SearchQuery::default()
    };
    let html = instrument_page(&view, &from, &ServedBy::Hub).into_string();
    assert!(
        html.contains(r#"class="back" href="/?q=%E9%80%8F%E5%B0%84%20%E7%94%B5%E9%95%9C&amp;region=CN-GS&amp;offset=20""#),
        "the back link keeps the search"
    );
    for text in ["历年运行机时", "1,234", "教学", "外部用户", "12.5"] {
        assert!(html.contains(text), "{text} missing");
    }
    for text in [
        "场发射透射电子显微镜",
        "Talos F200X",
        "Thermo Fisher Scientific",
        "¥12,800,000",
        "12100000438000985M",
        "电镜中心",
        "分析测试中心",
        "天水南路222号",
        "点分辨率 0.25 nm",
        "需提前三天预约",
        "500 元/小时",
        "材料科学",
        "对外共享",
        "正常",
        "1,620 h",
        "王老师",
        "0931-8912345",
        "mailto:tem@lzu.edu.cn",
        "中央财政",
        "GS-2019-018",
        "https://yiqi.lzu.edu.cn/book/GS-0001",
        "KEY-b64url",
        "Ed25519",
        "2026-03-01T08:00:01Z",
        "42",
        "甘肃省",
        "CN-GS",
        "GS-0001",
        "010101 透射电镜",
        "购置",
        "通用",
        "US",
        "2019-06-18",
        "730000",
    ] {
        assert!(html.contains(text), "missing {text}");
    }
    assert!(html.contains("仪器名称 <span class=\"en\">Name</span>"));
    assert!(html.contains("签名公钥"));
}

#[test]
fn not_found_page_names_what() {
    let html = not_found_page("/instruments/CN-GS/<x>", &ServedBy::Hub).into_string();
    assert!(html.contains("/instruments/CN-GS/&lt;x&gt;"));
    assert!(html.contains("未找到"));
}

#[test]
fn stats_page_draws_svg_charts_and_links_csv() {
    let figures = Figures {
        instruments: 3,
        original_value_cny: 1 << 60,
        externally_shared: 2,
        idle: 1,
        ..Figures::default()
    };
    let row = |key: &str, label: &str| StatsRow {
        key: key.into(),
        label: label.into(),
        figures: figures.clone(),
    };
    let by_region = StatsResponse {
        group_by: "region",
        rows: vec![row("CN-GS", "甘肃省"), row("CN-BJ", "北京市")],
        total: figures.clone(),
    };
    let by_category = StatsResponse {
        group_by: "category",
        rows: vec![row("010000", "分析仪器")],
        total: figures.clone(),
    };
    let html = stats_page(
        &by_region,
        &by_category,
        &StatsQuery::default(),
        &ServedBy::Hub,
    )
    .into_string();
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.contains("<rect class=\"bar\""));
    assert!(html.contains("/v1/stats?group_by=region&amp;format=csv"));
    assert!(html.contains("甘肃省") && html.contains("分析仪器"));
    assert!(html.contains("66.7%"));
    let empty = StatsResponse {
        group_by: "region",
        rows: vec![],
        total: Figures::default(),
    };
    assert!(
        stats_page(&empty, &empty, &StatsQuery::default(), &ServedBy::Hub)
            .into_string()
            .contains("<svg")
    );
}

#[test]
fn pages_say_who_serves_them_and_how_fresh() {
    let hub = not_found_page("x", &ServedBy::Hub);
    assert!(
        hub.into_string()
            .contains("国家枢纽 <span class=\"en\">National hub</span>")
    );
    let node = ServedBy::Node {
        region: "CN-GS".into(),
        name: "甘肃省".into(),
        mirror_seq: 812,
        synced_secs_ago: Some(3),
    };
    let html = not_found_page("x", &node).into_string();
    for text in [
        "由 甘肃省 (CN-GS) 平台提供",
        "Served by CN-GS",
        "镜像截至 seq 812，3 秒前",
        "mirror as of seq 812, 3 s ago",
    ] {
        assert!(html.contains(text), "{text} missing from {html}");
    }
    let idle = ServedBy::Node {
        region: "CN-GS".into(),
        name: "甘肃省".into(),
        mirror_seq: 812,
        synced_secs_ago: None,
    };
    assert!(
        not_found_page("x", &idle)
            .into_string()
            .contains("not synced by this process")
    );
}
