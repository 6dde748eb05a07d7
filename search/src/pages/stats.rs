//! `/stats`: the national dashboard, with server-drawn SVG bar charts.

use maud::{Markup, html};

use super::layout::{ServedBy, label, page, percent, thousands, yuan, yuan_short};
use crate::params::StatsQuery;
use crate::stats::{FIGURE_LABELS, FIGURE_NAMES, IDLE_RUN_HOURS};
use crate::{StatsResponse, StatsRow};
use yiqi_schema::{classification, regions};

const CHART_WIDTH: u32 = 520;
const LABEL_WIDTH: u32 = 130;
const VALUE_WIDTH: u32 = 90;
const ROW_HEIGHT: u32 = 20;

/// The dashboard from the statistics grouped by region and by top-level category, of the
/// records `filter` selects (its `region` and `category`).
pub fn stats_page(
    by_region: &StatsResponse,
    by_category: &StatsResponse,
    filter: &StatsQuery,
    served: &ServedBy,
) -> Markup {
    let total = &by_region.total;
    let instruments = |row: &StatsRow| u128::from(row.figures.instruments);
    let value = |row: &StatsRow| row.figures.original_value_cny;
    let count_text = |v: u128| thousands(v);
    let body = html! {
        h1 { (heading(filter)) }
        (filter_form(filter))
        div.cards {
            (card(label("仪器", "Instruments"), thousands(total.instruments.into())))
            (card(label("原值合计", "Original value"), yuan_short(total.original_value_cny)))
            (card(label("对外共享", "Externally shared"), percent(total.externally_shared, total.instruments)))
            (card(label("年运行不足机时线", "Idle by run hours"), format!("{} ({})", thousands(total.idle.into()), percent(total.idle, total.instruments))))
            (card(label("单位", "Institutions"), thousands(total.institutions.into())))
        }
        p.meta {
            "年运行不足机时线：上报年运行机时低于 " (IDLE_RUN_HOURS) " 小时；未上报机时的仪器不计；不同于平台自报的运行状态“闲置”。"
            " Idle by run hours: reported run hours under " (IDLE_RUN_HOURS) " h/year; instruments without usage are not counted; not the status standby (闲置) a platform reports. "
            a href="/utilisation" { "按年份 By year →" }
        }
        h2 { (label("按地区", "By region")) }
        div.charts {
            (bar_chart("仪器数量 Instruments", &by_region.rows, &instruments, &count_text))
            (bar_chart("原值 Original value", &by_region.rows, &value, &yuan_short))
        }
        (table(by_region, filter))
        h2 { (label("按仪器大类", "By top-level category")) }
        div.charts {
            (bar_chart("仪器数量 Instruments", &by_category.rows, &instruments, &count_text))
            (bar_chart("原值 Original value", &by_category.rows, &value, &yuan_short))
        }
        (table(by_category, filter))
    };
    page("统计 Statistics", served, body)
}

/// "National", or the region and class the dashboard is limited to.
fn heading(filter: &StatsQuery) -> Markup {
    let region = filter
        .region
        .as_deref()
        .and_then(|r| regions::REGIONS.iter().find(|x| x.0 == r));
    let class = filter.category.as_deref().and_then(classification::get);
    if region.is_none() && class.is_none() {
        return label("全国科研仪器统计", "National instrument statistics");
    }
    let zh = [region.map(|r| r.1), class.map(|c| c.name_zh)];
    let en = [region.map(|r| r.2), class.map(|c| c.code)];
    let join =
        |parts: [Option<&str>; 2]| parts.into_iter().flatten().collect::<Vec<_>>().join(" · ");
    html! { (join(zh)) " 科研仪器统计 " span.en { (join(en)) " instrument statistics" } }
}

/// Choose a region and a top-level class; the dashboard, its tables and CSV follow.
fn filter_form(filter: &StatsQuery) -> Markup {
    let tops = classification::all().iter().filter(|c| c.parent.is_none());
    html! {
        form.search method="get" action="/stats" aria-label="筛选 Filter" {
            select name="region" aria-label="地区 Region" {
                option value="" { "全国 All regions" }
                @for (code, zh, en) in regions::REGIONS {
                    option value=(code) selected[filter.region.as_deref() == Some(code)] { (zh) " " (en) }
                }
            }
            select name="category" aria-label="类别 Category" {
                option value="" { "全部类别 All categories" }
                @for class in tops {
                    option value=(class.code) selected[filter.category.as_deref() == Some(class.code)] { (class.code) " " (class.name_zh) }
                }
            }
            button type="submit" { "查看 Show" }
        }
    }
}

fn card(title: Markup, value: String) -> Markup {
    html! { div.card { div { (title) } div.v { (value) } } }
}

/// A horizontal bar chart of one figure per row, as inline SVG.
fn bar_chart(
    title: &str,
    rows: &[StatsRow],
    figure: &dyn Fn(&StatsRow) -> u128,
    text: &dyn Fn(u128) -> String,
) -> Markup {
    let max = rows.iter().map(figure).max().unwrap_or(0).max(1);
    let bar_area = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let height = ROW_HEIGHT * rows.len().max(1) as u32 + 4;
    html! {
        figure {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                viewBox=(format!("0 0 {CHART_WIDTH} {height}")) width="100%" {
                title { (title) }
                @for (i, row) in rows.iter().enumerate() {
                    @let y = i as u32 * ROW_HEIGHT + 2;
                    @let v = figure(row);
                    @let width = ((v as f64 / max as f64) * f64::from(bar_area)).round().max(if v > 0 { 1.0 } else { 0.0 });
                    text x=(LABEL_WIDTH - 6) y=(y + 14) text-anchor="end" { (row.label) }
                    rect.bar x=(LABEL_WIDTH) y=(y + 3) width=(width) height=(ROW_HEIGHT - 6) {}
                    text x=(f64::from(LABEL_WIDTH) + width + 4.0) y=(y + 14) { (text(v)) }
                }
            }
        }
    }
}

fn table(stats: &StatsResponse, filter: &StatsQuery) -> Markup {
    let mut params = vec![("group_by", stats.group_by)];
    params.extend(filter.region.as_deref().map(|r| ("region", r)));
    params.extend(filter.category.as_deref().map(|c| ("category", c)));
    params.push(("format", "csv"));
    let csv = format!(
        "/v1/stats?{}",
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
    );
    html! {
        p { a href=(csv) download { "下载 CSV Download CSV" } }
        div.scroll { table {
            thead { tr { th { "名称 Name" } @for heading in FIGURE_LABELS { th { (heading) } } } }
            tbody {
                @for row in &stats.rows {
                    tr { td { (row.label) " " span.en { (row.key) } } (cells(row.figures.values())) }
                }
                tr { td { strong { "合计 Total" } } (cells(stats.total.values())) }
            }
        } }
    }
}

fn cells(values: [u128; 9]) -> Markup {
    html! {
        @for (i, v) in values.into_iter().enumerate() {
            td { @if FIGURE_NAMES[i] == "original_value_cny" { (yuan(v)) } @else { (thousands(v)) } }
        }
    }
}
