//! `/` and `/?q=…`: the search form, facet filters, hits with highlights and paging.

use std::collections::BTreeMap;

use maud::{Markup, PreEscaped, html};
use yiqi_schema::protocol::labels::{SHARING_MODE, STATUS};
use yiqi_schema::{classification, regions};

use super::layout::{ServedBy, label, page, query_string, yuan};
use crate::params::{SearchQuery, Sort};
use crate::{Hit, ParamError, SearchResponse};

/// Parameters the form carries as hidden fields so a new `q` keeps the chosen filters.
const FILTERS: [&str; 8] = [
    "region",
    "category",
    "province",
    "city",
    "sharing",
    "status",
    "min_value",
    "max_value",
];

/// The search page for the request's parameters and the search result (or the parameter error).
pub fn search_page(
    params: &[(String, String)],
    result: Result<SearchResponse, ParamError>,
    served: &ServedBy,
) -> Markup {
    let query = SearchQuery::from_params(params).unwrap_or_default();
    let current = query.to_params();
    let title = if query.q.is_empty() {
        "检索 Search".to_string()
    } else {
        format!("{} – 检索", query.q)
    };
    let body = html! {
        h1 { (label("科研仪器检索", "Search research instruments")) }
        (form(params, &query))
        @match &result {
            Err(error) => p.error { "参数错误 Bad parameter " code { (error.parameter) } ": " (error.message) },
            Ok(response) => (results(&current, &query, response)),
        }
    };
    page(&title, served, body)
}

fn form(params: &[(String, String)], query: &SearchQuery) -> Markup {
    let raw_q = params
        .iter()
        .find(|(k, _)| k == "q")
        .map_or("", |(_, v)| v.as_str());
    let sorts = [
        (Sort::Relevance, "相关度 Relevance"),
        (Sort::ValueDesc, "原值 Value"),
        (Sort::UpdatedDesc, "更新时间 Updated"),
    ];
    html! {
        form.search method="get" action="/" role="search" {
            input type="search" name="q" value=(raw_q) placeholder="仪器名称、型号、单位… e.g. 透射电镜, TEM, 流式" aria-label="检索 Search";
            @for (name, value) in query.to_params().iter().filter(|(k, _)| FILTERS.contains(&k.as_str())) {
                input type="hidden" name=(name) value=(value);
            }
            select name="sort" aria-label="排序 Sort" {
                @for (sort, text) in sorts {
                    option value=(sort.as_str()) selected[query.sort == sort] { (text) }
                }
            }
            button type="submit" { "检索 Search" }
        }
    }
}

fn results(current: &[(String, String)], query: &SearchQuery, response: &SearchResponse) -> Markup {
    html! {
        (active_filters(current))
        div.layout {
            aside { (facets(current, response)) }
            section {
                p.meta { "共 " strong { (response.total) } " 台 instruments · " (response.took_ms) " ms" }
                @if response.hits.is_empty() {
                    p { "没有找到匹配的仪器。No instruments found." }
                }
                ol.hits { @for hit in &response.hits { (hit_item(hit)) } }
                (pager(current, query, response.total))
            }
        }
    }
}

/// The link to these parameters with `name` set to `value` (or removed) and paging reset.
fn link_with(current: &[(String, String)], name: &str, value: Option<&str>) -> String {
    let mut params: Vec<(String, String)> = current
        .iter()
        .filter(|(k, _)| k != name && k != "offset")
        .cloned()
        .collect();
    if let Some(value) = value {
        params.push((name.to_string(), value.to_string()));
    }
    format!("/{}", query_string(&params))
}

fn active_filters(current: &[(String, String)]) -> Markup {
    let active: Vec<&(String, String)> = current
        .iter()
        .filter(|(k, _)| FILTERS.contains(&k.as_str()))
        .collect();
    html! {
        @if !active.is_empty() {
            p.filters {
                "筛选 Filters: "
                @for (name, value) in active {
                    span { (filter_value_label(name, value)) " " a href=(link_with(current, name, None)) title="移除 Remove" { "×" } }
                }
            }
        }
    }
}

fn filter_value_label(name: &str, value: &str) -> String {
    match name {
        "region" => regions::name_zh(value).unwrap_or(value).to_string(),
        "category" => classification::get(value)
            .map_or(value.to_string(), |c| format!("{} {}", c.code, c.name_zh)),
        "sharing" => SHARING_MODE.zh(value).to_string(),
        "status" => STATUS.zh(value).to_string(),
        "min_value" => format!("原值 ≥ {}", yuan(value.parse().unwrap_or(0))),
        "max_value" => format!("原值 ≤ {}", yuan(value.parse().unwrap_or(0))),
        _ => value.to_string(),
    }
}

fn facets(current: &[(String, String)], response: &SearchResponse) -> Markup {
    let f = &response.facets;
    let region_name = |code: &str| regions::name_zh(code).unwrap_or(code).to_string();
    let class_name =
        |code: &str| classification::get(code).map_or(code.to_string(), |c| c.name_zh.to_string());
    html! {
        (facet(current, "region", label("地区", "Region"), &f.region, &region_name))
        (facet(current, "category", label("类别", "Category"), &f.category, &class_name))
        (facet(current, "sharing", label("共享方式", "Sharing"), &f.sharing, &|v: &str| SHARING_MODE.zh(v).to_string()))
        (facet(current, "province", label("省份", "Province"), &f.province, &|v: &str| v.to_string()))
    }
}

fn facet(
    current: &[(String, String)],
    name: &str,
    heading: Markup,
    counts: &BTreeMap<String, u64>,
    text: &dyn Fn(&str) -> String,
) -> Markup {
    let mut values: Vec<(&String, &u64)> = counts.iter().collect();
    values.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let selected = current
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    html! {
        @if !values.is_empty() {
            h3 { (heading) }
            ul {
                @for (value, n) in values {
                    li.active[selected == Some(value.as_str())] {
                        a href=(link_with(current, name, Some(value))) { (text(value)) }
                        " " span.n { "(" (n) ")" }
                    }
                }
            }
        }
    }
}

fn hit_item(hit: &Hit) -> Markup {
    let href = format!(
        "/instruments/{}/{}",
        urlencoding::encode(&hit.region),
        urlencoding::encode(&hit.local_id)
    );
    html! {
        li {
            a.title href=(href) { (hit.name) }
            @if let Some(en) = &hit.name_en { " " span.en { (en) } }
            @if !hit.highlight.is_empty() {
                p.snippet { (PreEscaped(&hit.highlight)) }
            }
            p.meta {
                (hit.institution) " · " (hit.city) " · " (regions::name_zh(&hit.region).unwrap_or(&hit.region))
                " · " (hit.category_name) " · " (SHARING_MODE.zh(&hit.sharing))
                @if let Some(value) = hit.original_value_cny { " · 原值 " (yuan(value.into())) }
            }
        }
    }
}

fn pager(current: &[(String, String)], query: &SearchQuery, total: u64) -> Markup {
    let link = |offset: usize| {
        let mut params: Vec<(String, String)> = current
            .iter()
            .filter(|(k, _)| k != "offset")
            .cloned()
            .collect();
        if offset > 0 {
            params.push(("offset".into(), offset.to_string()));
        }
        format!("/{}", query_string(&params))
    };
    let limit = query.limit.max(1);
    let end = query.offset + query.limit;
    let has_next = (end as u64) < total && end + limit <= crate::params::MAX_WINDOW;
    html! {
        nav.pager aria-label="分页 Pages" {
            @if query.offset > 0 {
                a rel="prev" href=(link(query.offset.saturating_sub(limit))) { "← 上一页 Previous" }
            }
            @if query.limit > 0 && total > 0 {
                span.meta { "第 " (query.offset / limit + 1) " 页 page" }
            }
            @if has_next {
                a rel="next" href=(link(end)) { "下一页 Next →" }
            }
        }
    }
}
