//! `/utilisation`: how much the instruments served in a year, for the national office. Tables
//! with their CSV, the cross-region flow matrix as an SVG heat map (no JavaScript), the most
//! valuable idle instruments, vouchers by client region.

use std::collections::BTreeMap;

use maud::{Markup, html};
use yiqi_schema::regions;

use super::layout::{ServedBy, label, page, percent, thousands, yuan, yuan_short};
use crate::Hit;
use crate::utilisation::{FIGURE_LABELS, FlowsResponse, IDLE_DEFINITION, UtilisationResponse};

const CELL: u32 = 34;
const HEADER: u32 = 64;

/// What the page shows: the year's figures by region, its flows, its top idle instruments, and
/// the years to choose from.
pub struct UtilisationView<'a> {
    pub years: &'a [u16],
    pub by_region: &'a UtilisationResponse,
    pub flows: &'a FlowsResponse,
    pub top_idle: &'a [Hit],
}

pub fn utilisation_page(view: &UtilisationView<'_>, served: &ServedBy) -> Markup {
    let year = view.by_region.year;
    let total = &view.by_region.total;
    let threshold = view.by_region.idle_threshold_hours;
    let body = html! {
        h1 { (label("仪器利用", "Utilisation")) " " (year) }
        form method="get" action="/utilisation" {
            label { "年份 Year " select name="year" {
                @for y in view.years { option value=(y) selected[*y == year] { (y) } }
                @if !view.years.contains(&year) { option value=(year) selected { (year) } }
            } }
            " " button type="submit" { "查看 Show" }
        }
        div.cards {
            (card(label("填报机时的仪器", "Reporting"), format!("{} / {}", thousands(total.reporting.into()), thousands(total.instruments.into()))))
            (card(label("年运行机时", "Run hours"), thousands(total.run_hours.into())))
            (card(label("低于闲置机时线", "Idle by run hours"), format!("{} ({})", thousands(total.idle.into()), percent(total.idle, total.reporting))))
            (card(label("闲置仪器原值", "Idle value"), yuan_short(total.idle_value_cny)))
            (card(label("服务次数", "Services"), thousands(total.services.into())))
            (card(label("跨地区服务", "Cross-region services"), thousands(total.cross_region_services.into())))
            (card(label("创新券", "Vouchers"), yuan_short(total.voucher_amount_cny)))
        }
        p.meta {
            "闲置（按机时）：上报了 " (year) " 年机时、年运行机时低于 " (threshold) " 小时的仪器；不同于平台自报的运行状态“闲置”。"
            " Idle by run hours: " (IDLE_DEFINITION) " (here " (threshold) " h)."
        }
        h2 { (label("按地区", "By region")) }
        (csv_link(&format!("/v1/utilisation?year={year}&group_by=region&format=csv")))
        (figures_table(view.by_region))
        h2 { (label("跨地区服务流向", "Cross-region service flows")) }
        p.meta { "行：服务对象所在地区；列：仪器所属地区；数字为服务次数。 Rows: client region; columns: owner region; numbers are services." }
        (csv_link(&format!("/v1/flows?year={year}&format=csv")))
        (heat_map(view.flows))
        h2 { (label("原值最高的闲置仪器", "Most valuable idle instruments")) }
        p { a href=(format!("/?idle={year}&sort=value_desc")) { "在检索中查看全部 All of them in search" }
            " · " a href=(format!("/v1/search?idle={year}&sort=value_desc&limit=100")) { "JSON" } }
        (idle_table(view.top_idle))
        h2 { (label("创新券（按服务对象地区）", "Vouchers by client region")) }
        (csv_link(&format!("/v1/flows?year={year}&format=csv")))
        (voucher_table(view.flows))
    };
    page("利用 Utilisation", served, body)
}

fn card(title: Markup, value: String) -> Markup {
    html! { div.card { div { (title) } div.v { (value) } } }
}

fn csv_link(href: &str) -> Markup {
    html! { p { a href=(href) download { "下载 CSV Download CSV" } } }
}

/// A table that scrolls inside its box on a narrow screen instead of widening the page.
fn scrolling(table: Markup) -> Markup {
    html! { div style="overflow-x:auto;max-width:100%" { (table) } }
}

fn figures_table(response: &UtilisationResponse) -> Markup {
    let row = |name: Markup, f: &crate::utilisation::Figures| {
        html! { tr {
            td { (name) }
            td { (thousands(f.instruments.into())) } td { (thousands(f.reporting.into())) }
            td { (thousands(f.run_hours.into())) } td { (thousands(f.external_service_hours.into())) }
            td { (thousands(f.idle.into())) } td { (yuan(f.idle_value_cny)) }
            td { (thousands(f.services.into())) } td { (f.service_hours) }
            td { (yuan(f.service_amount_cny)) } td { (thousands(f.external_services.into())) }
            td { (yuan(f.voucher_amount_cny)) } td { (thousands(f.cross_region_services.into())) }
        } }
    };
    scrolling(html! {
        table {
            thead { tr { th { "名称 Name" } @for heading in FIGURE_LABELS { th { (heading) } } } }
            tbody {
                @for r in &response.rows { (row(html! { (r.label) " " span.en { (r.key) } }, &r.figures)) }
                (row(html! { strong { "合计 Total" } }, &response.total))
            }
        }
    })
}

fn region_name(code: Option<&str>) -> &str {
    code.map_or("未知 unknown", |c| regions::name_zh(c).unwrap_or(c))
}

/// The flow matrix as an SVG heat map: a cell's blue deepens with its share of the largest.
fn heat_map(flows: &FlowsResponse) -> Markup {
    let mut clients: Vec<Option<&str>> = flows.rows.iter().map(|r| r.client_region).collect();
    let mut owners: Vec<&str> = flows.rows.iter().map(|r| r.owner_region).collect();
    clients.sort_unstable();
    clients.dedup();
    owners.sort_unstable();
    owners.dedup();
    if flows.rows.is_empty() {
        return html! { p { "本年无服务记录。 No services recorded for this year." } };
    }
    let max = flows
        .rows
        .iter()
        .map(|r| r.services)
        .max()
        .unwrap_or(1)
        .max(1);
    let left = 90;
    let width = left + CELL * owners.len() as u32 + 4;
    let height = HEADER + CELL * clients.len() as u32 + 4;
    let cell = |client: Option<&str>, owner: &str| {
        flows
            .rows
            .iter()
            .find(|r| r.client_region == client && r.owner_region == owner)
    };
    html! {
        figure {
            figcaption { "服务次数 Services: client region → owner region" }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="service flow matrix"
                viewBox=(format!("0 0 {width} {height}")) width="100%" style=(format!("max-width:{width}px")) {
                title { "跨地区服务流向 Cross-region service flows" }
                @for (j, owner) in owners.iter().enumerate() {
                    @let x = left + CELL * j as u32 + CELL / 2;
                    text x=(x) y=(HEADER - 6) text-anchor="start"
                        transform=(format!("rotate(-60 {x} {})", HEADER - 6)) { (region_name(Some(owner))) }
                }
                @for (i, client) in clients.iter().enumerate() {
                    @let y = HEADER + CELL * i as u32;
                    text x=(left - 4) y=(y + CELL / 2 + 4) text-anchor="end" { (region_name(*client)) }
                    @for (j, owner) in owners.iter().enumerate() {
                        @let x = left + CELL * j as u32;
                        @if let Some(row) = cell(*client, owner) {
                            @let share = row.services as f64 / max as f64;
                            rect x=(x) y=(y) width=(CELL - 2) height=(CELL - 2)
                                fill=(format!("rgba(47,127,193,{:.2})", 0.12 + 0.88 * share)) {
                                title { (region_name(*client)) " → " (region_name(Some(owner))) ": " (row.services) " 次 services, " (row.hours) " h" }
                            }
                            text x=(x + CELL / 2 - 1) y=(y + CELL / 2 + 3) text-anchor="middle"
                                style=(if share > 0.5 { "fill:#fff" } else { "fill:#123" }) { (row.services) }
                        } @else {
                            rect x=(x) y=(y) width=(CELL - 2) height=(CELL - 2) fill="#f3f5f7" {}
                        }
                    }
                }
            }
        }
    }
}

fn idle_table(hits: &[Hit]) -> Markup {
    if hits.is_empty() {
        return html! { p { "无闲置仪器。 No idle instruments." } };
    }
    scrolling(html! {
        table {
            thead { tr { th { "仪器 Instrument" } th { "单位 Institution" } th { "地区 Region" } th { "原值 Value" } } }
            tbody {
                @for hit in hits {
                    tr {
                        td { a href=(format!("/instruments/{}/{}", hit.region, urlencoding::encode(&hit.local_id))) { (hit.name) } }
                        td { (hit.institution) }
                        td { (region_name(Some(&hit.region))) }
                        td { (hit.original_value_cny.map_or_else(|| "–".to_string(), |v| yuan(v.into()))) }
                    }
                }
            }
        }
    })
}

fn voucher_table(flows: &FlowsResponse) -> Markup {
    let mut by_client: BTreeMap<Option<&str>, u128> = BTreeMap::new();
    for row in flows.rows.iter().filter(|r| r.voucher_amount_cny > 0) {
        *by_client.entry(row.client_region).or_default() += row.voucher_amount_cny;
    }
    if by_client.is_empty() {
        return html! { p { "本年无创新券服务。 No voucher-paid services this year." } };
    }
    scrolling(html! {
        table {
            thead { tr { th { "服务对象地区 Client region" } th { "创新券金额 Voucher amount" } } }
            tbody {
                @for (client, amount) in &by_client {
                    tr { td { (region_name(*client)) } td { (yuan(*amount)) } }
                }
            }
        }
    })
}
