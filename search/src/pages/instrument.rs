//! `/instruments/{region}/{local_id}`: every field of a record, contact and booking, provenance.

use maud::{Markup, html};
use serde_json::Value as Json;
use yiqi_schema::{classification, regions};

use super::labels::{FIELDS, enum_label};
use super::layout::{ServedBy, label, page, query_string, thousands, yuan};
use crate::params::SearchQuery;
use crate::utilisation::InstrumentUtilisation;
use yiqi_schema::protocol::labels::{SERVICE_CLIENT, SERVICE_PURPOSE};

/// A current record as it is stored: the entry `GET /v1/records/{region}/{local_id}` answers.
pub struct InstrumentView {
    /// `{"record", "signature": {"alg", "key", "value"}}`.
    pub envelope: Json,
    /// The feed position; `None` for a node's own record, which it holds before any feed.
    pub seq: Option<u64>,
    pub received_at: Option<String>,
    /// Its usage by year and services, when the statistics know any.
    pub utilisation: Option<InstrumentUtilisation>,
}

/// The page of one instrument; its back link returns to the search `from` (the parameters the
/// hit's link carried).
pub fn instrument_page(view: &InstrumentView, from: &SearchQuery, served: &ServedBy) -> Markup {
    let record = &view.envelope["record"];
    let name = record
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("仪器 Instrument");
    let deleted = record.get("deleted").and_then(Json::as_bool) == Some(true);
    let body = html! {
        p { a.back href=(format!("/{}", query_string(&from.to_params()))) { "← 返回检索 Back to search" } }
        h1 { (name) @if let Some(en) = record.get("name_en").and_then(Json::as_str) { " " span.en { (en) } } }
        @if deleted { p.error { "此仪器已由发布地区删除。This instrument was deleted by its region." } }
        (contact(record))
        h2 { (label("仪器信息", "Record")) }
        dl.record {
            @for (path, value) in flatten(record) {
                dt { (field_label(&path)) }
                dd { (render_value(&path, value)) }
            }
        }
        @if let Some(utilisation) = &view.utilisation { (utilisation_section(utilisation)) }
        h2 { (label("来源与签名", "Provenance")) }
        (provenance(view))
    };
    page(name, served, body)
}

/// Run hours per year and services by purpose and client (counts and hours only: nothing of a
/// service's client is shown beyond its kind).
fn utilisation_section(utilisation: &InstrumentUtilisation) -> Markup {
    html! {
        @if !utilisation.usage.is_empty() {
            h2 { (label("历年运行机时", "Run hours by year")) }
            div style="overflow-x:auto" { table {
                thead { tr { th { "年份 Year" } th { "年运行机时 Run hours" } th { "年对外服务机时 External service hours" } } }
                tbody { @for u in &utilisation.usage {
                    tr { td { (u.year) } td { (thousands(u.run_hours.into())) } td { (thousands(u.external_service_hours.into())) } }
                } }
            } }
        }
        @if !utilisation.services.is_empty() {
            h2 { (label("服务记录", "Services")) }
            div style="overflow-x:auto" { table {
                thead { tr { th { "年份 Year" } th { "服务类型 Purpose" } th { "服务对象 Client" } th { "次数 Services" } th { "机时 Hours" } } }
                tbody { @for g in &utilisation.services {
                    tr { td { (g.year) } td { (SERVICE_PURPOSE.zh(g.purpose)) } td { (SERVICE_CLIENT.zh(g.client)) }
                         td { (thousands(g.services.into())) } td { (g.hours) } }
                } }
            } }
        }
    }
}

fn field_label(path: &str) -> Markup {
    match FIELDS.iter().find(|f| f.0 == path) {
        Some((_, zh, en)) => label(zh, en),
        None => html! { code { (path) } },
    }
}

/// The record's leaves as `(path, value)` in display order; nested objects (except `ext`)
/// become `parent.child` paths, unknown paths go last.
fn flatten(record: &Json) -> Vec<(String, &Json)> {
    let mut out = Vec::new();
    for (key, value) in record.as_object().into_iter().flatten() {
        match value.as_object() {
            Some(members) if key != "ext" => {
                out.extend(members.iter().map(|(sub, v)| (format!("{key}.{sub}"), v)));
            }
            _ => out.push((key.clone(), value)),
        }
    }
    let rank = |path: &str| {
        FIELDS
            .iter()
            .position(|f| f.0 == path)
            .unwrap_or(FIELDS.len())
    };
    out.sort_by_key(|(path, _)| rank(path));
    out
}

fn render_value(path: &str, value: &Json) -> Markup {
    match (path, value) {
        ("category", Json::String(code)) => {
            let name = classification::get(code).map_or("", |c| c.name_zh);
            html! { (code) " " (name) }
        }
        ("region", Json::String(code)) => {
            html! { (code) " " (regions::name_zh(code).unwrap_or("")) }
        }
        ("original_value_cny", Json::Number(n)) => {
            html! { (n.as_u64().map_or(n.to_string(), |v| yuan(v.into()))) }
        }
        ("usage.run_hours" | "usage.external_service_hours", Json::Number(n)) => {
            html! { (n.as_u64().map_or(n.to_string(), |v| thousands(v.into()))) " h" }
        }
        ("contact.email", Json::String(email)) => {
            html! { a href=(format!("mailto:{email}")) { (email) } }
        }
        (_, Json::String(url)) if path.ends_with("url") && is_web_url(url) => {
            html! { a href=(url) rel="nofollow" { (url) } }
        }
        (_, Json::String(text)) => html! { (enum_label(path, text)) },
        (_, Json::Bool(flag)) => html! { @if *flag { "是 yes" } @else { "否 no" } },
        (_, Json::Array(items)) => html! {
            @for (i, item) in items.iter().enumerate() {
                @if i > 0 { "、" }
                (item.as_str().map_or_else(|| item.to_string(), |s| enum_label(path, s).to_string()))
            }
        },
        (_, Json::Object(_)) => html! { code { (value.to_string()) } },
        (_, other) => html! { (other.to_string()) },
    }
}

fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn contact(record: &Json) -> Markup {
    let text = |pointer: &str| record.pointer(pointer).and_then(Json::as_str);
    let booking = text("/sharing/booking_url").filter(|u| is_web_url(u));
    html! {
        @if booking.is_some() || record.get("contact").is_some() {
            div.cards {
                @if let Some(url) = booking {
                    div.card { div { (label("在线预约", "Book")) } a.v href=(url) rel="nofollow" { "预约 Book →" } }
                }
                @if let Some(name) = text("/contact/name") {
                    div.card {
                        div { (label("联系人", "Contact")) }
                        div.v { (name) }
                        @if let Some(phone) = text("/contact/phone") { div { "☎ " (phone) } }
                        @if let Some(email) = text("/contact/email") { div { a href=(format!("mailto:{email}")) { (email) } } }
                    }
                }
            }
        }
    }
}

/// What a node shows for the feed position of its own record, which it holds from its catalogue.
const OWN_RECORD: &str = "本平台目录 Own catalogue";

fn provenance(view: &InstrumentView) -> Markup {
    let record = &view.envelope["record"];
    let signature = &view.envelope["signature"];
    let text = |value: &Json| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string)
    };
    let region = record["region"].as_str().unwrap_or_default();
    html! {
        dl.record {
            dt { (label("发布地区", "Region")) } dd { (region) " " (regions::name_zh(region).unwrap_or("")) }
            dt { (label("版本", "Version")) } dd { (text(&record["version"])) }
            dt { (label("签名算法", "Signature algorithm")) } dd { (text(&signature["alg"])) }
            dt { (label("签名公钥", "Signing key")) } dd { code { (text(&signature["key"])) } }
            dt { (label("签名", "Signature")) } dd { code { (text(&signature["value"])) } }
            dt { (label("接收时间", "Received at")) } dd { (view.received_at.as_deref().unwrap_or(OWN_RECORD)) }
            dt { (label("序号", "Sequence")) } dd { (view.seq.map_or_else(|| OWN_RECORD.to_owned(), |seq| seq.to_string())) }
        }
    }
}
