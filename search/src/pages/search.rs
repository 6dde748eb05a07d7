//! `/` and `/?q=…`: the search form, facet filters, hits with highlights and paging.

use std::collections::BTreeMap;

use maud::{Markup, PreEscaped, html};
use yiqi_schema::protocol::labels::{SHARING_MODE, STATUS};
use yiqi_schema::{classification, regions};

use super::layout::{ServedBy, label, page, query_string, yuan};
use crate::export::{ExportFormat, ExportQuery};
use crate::params::{SearchQuery, Sort};
use crate::{Hit, ParamError, SearchResponse};

/// The filters of a search: the form carries them so a new `q` keeps the chosen ones.
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

/// Filters the form shows as fields of their own; the others (chosen from facets) travel hidden.
const FORM_FIELDS: [&str; 5] = ["category", "city", "status", "min_value", "max_value"];

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
            @for (name, value) in query.to_params().iter().filter(|(k, _)| FILTERS.contains(&k.as_str()) && !FORM_FIELDS.contains(&k.as_str())) {
                input type="hidden" name=(name) value=(value);
            }
            select name="sort" aria-label="排序 Sort" {
                @for (sort, text) in sorts {
                    option value=(sort.as_str()) selected[query.sort == sort] { (text) }
                }
            }
            button type="submit" { "检索 Search" }
            (filter_fields(query))
        }
    }
}

/// Category, city (a prefix: 兰州 finds 兰州市), status and value range, as form fields.
fn filter_fields(query: &SearchQuery) -> Markup {
    let value = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let selected = query.category.as_deref();
    // A deeper class chosen from a link stays selectable beside the top-level ones.
    let deeper = selected
        .and_then(classification::get)
        .filter(|class| class.parent.is_some());
    html! {
        div.fields {
            select name="category" aria-label="类别 Category" {
                option value="" { "全部类别 All categories" }
                @if let Some(class) = deeper {
                    option value=(class.code) selected { (class.code) " " (class.name_zh) }
                }
                @for class in classification::all().iter().filter(|c| c.parent.is_none()) {
                    option value=(class.code) selected[selected == Some(class.code)] { (class.code) " " (class.name_zh) }
                }
            }
            input type="text" name="city" value=(query.city.clone().unwrap_or_default()) placeholder="城市 City，如 兰州" aria-label="城市 City" size="10";
            select name="status" aria-label="运行状态 Status" {
                option value="" { "全部状态 Any status" }
                @for status in STATUS.values {
                    option value=(status.code) selected[query.status.as_deref() == Some(status.code)] { (status.zh) " " (status.code) }
                }
            }
            input type="number" name="min_value" min="0" value=(value(query.min_value)) placeholder="原值下限 Min ¥" aria-label="原值下限（元） Minimum value (CNY)";
            input type="number" name="max_value" min="0" value=(value(query.max_value)) placeholder="原值上限 Max ¥" aria-label="原值上限（元） Maximum value (CNY)";
        }
    }
}

fn results(current: &[(String, String)], query: &SearchQuery, response: &SearchResponse) -> Markup {
    html! {
        (active_filters(current))
        div.layout {
            aside {
                details.facets {
                    summary { "筛选 Filter results" }
                    (facets(current, response))
                }
            }
            section {
                p.meta {
                    "共 " strong { (response.total) } " 台 instruments · " (response.took_ms) " ms"
                    @if response.total > 0 {
                        " · " a.export href=(ExportQuery::link(query, ExportFormat::Csv)) download { "导出全部 CSV Export all (CSV)" }
                        " · " a href=(ExportQuery::link(query, ExportFormat::Ndjson)) download { "NDJSON" }
                    }
                }
                @if response.hits.is_empty() {
                    p { "没有找到匹配的仪器。No instruments found." }
                }
                @if !response.suggestions.is_empty() {
                    p.suggestions {
                        "您是不是要找 Did you mean: "
                        @for (i, suggestion) in response.suggestions.iter().enumerate() {
                            @if i > 0 { " · " }
                            a href=(link_with(current, "q", Some(suggestion))) { (suggestion) }
                        }
                    }
                }
                ol.hits { @for hit in &response.hits { (hit_item(hit, current)) } }
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
        @if !region_is_province(f) {
            (facet(current, "region", label("地区", "Region"), &f.region, &region_name))
        }
        (facet(current, "category", label("类别", "Category"), &f.category, &class_name))
        (facet(current, "sharing", label("共享方式", "Sharing"), &f.sharing, &|v: &str| SHARING_MODE.zh(v).to_string()))
        (facet(current, "province", label("省份", "Province"), &f.province, &|v: &str| v.to_string()))
    }
}

/// Whether the region facet would list what the province facet lists (each region's records
/// lie in its own province, as they do on most pages): then only the province is shown.
fn region_is_province(facets: &crate::Facets) -> bool {
    facets.region.len() == facets.province.len()
        && facets.region.iter().all(|(code, n)| {
            regions::name_zh(code).is_some_and(|name| facets.province.get(name) == Some(n))
        })
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

/// A hit; its link carries the search's parameters, so the instrument page leads back to them.
fn hit_item(hit: &Hit, current: &[(String, String)]) -> Markup {
    let href = format!(
        "/instruments/{}/{}{}",
        urlencoding::encode(&hit.region),
        urlencoding::encode(&hit.local_id),
        query_string(current)
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
