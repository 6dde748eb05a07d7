//! The frame every page shares: head, inline CSS, navigation; and small formatting helpers.

use maud::{DOCTYPE, Markup, PreEscaped, html};

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.55 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1d2733;background:#f6f7f9}
header{background:#123a5c;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:baseline;flex-wrap:wrap}
header .brand{font-weight:700;font-size:1.1rem;color:#fff;text-decoration:none}
header nav a{color:#cfe3f5;margin-right:1rem;text-decoration:none}
header nav a:hover{color:#fff}
main{max-width:1100px;margin:0 auto;padding:1rem 1.2rem 3rem;overflow-wrap:break-word}
@media(max-width:600px){main{padding:.6rem .7rem 2rem}header{padding:.5rem .7rem;gap:.3rem 1rem}}
a{color:#0b5cad}
h1{font-size:1.5rem;margin:.6rem 0}
h2{font-size:1.15rem;margin:1.4rem 0 .5rem}
.en{color:#667;font-weight:normal;font-size:.9em}
form.search{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0 1rem}
form.search input[name=q]{flex:1 1 20rem;padding:.5rem .7rem;font-size:1rem;border:1px solid #aab;border-radius:4px}
form.search button,form.search select{padding:.45rem .8rem;font-size:.95rem;border:1px solid #aab;border-radius:4px;background:#fff}
form.search button{background:#0b5cad;color:#fff;border-color:#0b5cad}
form.search .fields{display:flex;gap:.5rem;flex-wrap:wrap;flex-basis:100%}
form.search .fields>*{flex:1 1 8rem;min-width:0;padding:.4rem .6rem;font-size:.9rem;border:1px solid #aab;border-radius:4px;background:#fff}
form.search select{max-width:100%}
.layout{display:grid;grid-template-columns:230px 1fr;gap:1.5rem}
.layout>*{min-width:0}
@media(max-width:760px){.layout{grid-template-columns:1fr}}
details.facets summary{cursor:pointer;display:inline-block;padding:.35rem .8rem;border:1px solid #aab;border-radius:4px;background:#fff}
@media(min-width:761px){details.facets summary{display:none}details.facets::details-content{content-visibility:visible;display:block}}
aside h3{font-size:.95rem;margin:1rem 0 .3rem}
aside ul{list-style:none;margin:0;padding:0;max-height:16rem;overflow:auto}
aside li{font-size:.9rem;padding:.05rem 0}
aside .n{color:#778}
.active a{font-weight:700}
.error{background:#fde8e8;border:1px solid #e3a1a1;padding:.6rem .9rem;border-radius:4px}
.filters span{display:inline-block;background:#e4edf6;border-radius:3px;padding:.1rem .5rem;margin:0 .3rem .3rem 0;font-size:.9rem}
ol.hits{list-style:none;padding:0;margin:0}
ol.hits li{background:#fff;border:1px solid #e1e4e8;border-radius:5px;padding:.7rem .9rem;margin-bottom:.6rem}
ol.hits .title{font-size:1.05rem;font-weight:600}
.meta{color:#556;font-size:.88rem}
.snippet{margin:.25rem 0;font-size:.92rem}
em{font-style:normal;background:#fff1a8;padding:0 1px}
.pager{display:flex;gap:1rem;margin-top:1rem}
dl.record{display:grid;grid-template-columns:minmax(10rem,16rem) 1fr;gap:.35rem 1rem;background:#fff;border:1px solid #e1e4e8;border-radius:5px;padding:1rem}
dl.record dt{color:#445;font-weight:600}
dl.record dd{margin:0}
@media(max-width:600px){dl.record{grid-template-columns:1fr;gap:.1rem;padding:.7rem}dl.record dd{margin-bottom:.5rem}}
code{font-size:.85em;word-break:break-all}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:5px;padding:.7rem 1rem;min-width:11rem}
.card .v{font-size:1.35rem;font-weight:700}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
@media(max-width:900px){.charts{grid-template-columns:1fr}}
figure{margin:0;background:#fff;border:1px solid #e1e4e8;border-radius:5px;padding:.6rem}
figcaption{font-weight:600;margin-bottom:.3rem}
svg text{font-size:11px;fill:#334}
svg rect.bar{fill:#2f7fc1}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;background:#fff;font-size:.88rem;width:100%}
th{white-space:nowrap}
th,td{border:1px solid #e1e4e8;padding:.3rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.served{color:#556;font-size:.85rem;margin:.2rem 0 .6rem}
footer{color:#889;font-size:.8rem;text-align:center;padding:1rem}
"#;

/// Who serves a page, and how fresh its data is: every page says it under the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedBy {
    /// The national hub, which answers from its own log.
    Hub,
    /// A regional node, which answers from its verified mirror and its own catalogue.
    Node {
        region: String,
        /// The platform's name, e.g. 甘肃省.
        name: String,
        /// The feed position the mirror holds everything up to.
        mirror_seq: u64,
        /// Seconds since the last completed sync; `None` when this process has not synced.
        synced_secs_ago: Option<u64>,
    },
}

/// The "served by" line.
fn served_by_line(served: &ServedBy) -> Markup {
    match served {
        ServedBy::Hub => html! { p.served { "国家枢纽 " span.en { "National hub" } } },
        ServedBy::Node {
            region,
            name,
            mirror_seq,
            synced_secs_ago,
        } => html! {
            p.served {
                "由 " (name) " (" (region) ") 平台提供 · " span.en { "Served by " (region) }
                " · 镜像截至 seq " (mirror_seq)
                @match synced_secs_ago {
                    Some(secs) => { "，" (secs) " 秒前 " span.en { "mirror as of seq " (mirror_seq) ", " (secs) " s ago" } }
                    None => { "，本进程未同步 " span.en { "mirror as of seq " (mirror_seq) ", not synced by this process" } }
                }
            }
        },
    }
}

/// A complete page.
pub fn page(title: &str, served: &ServedBy, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 全国科研仪器共享 yiqi" }
                link rel="api-catalog" href=(crate::discovery::API_CATALOG_PATH);
                @for interface in crate::discovery::interfaces(served) {
                    link rel="alternate" type=(interface.media_type) title=(interface.title) href=(interface.path);
                }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href="/" { "全国科研仪器共享 " span.en { "yiqi" } }
                    nav {
                        a href="/" { "检索 Search" }
                        a href="/stats" { "统计 Statistics" }
                        a href="/utilisation" { "利用 Utilisation" }
                    }
                }
                main { (served_by_line(served)) (body) }
                footer { "各地区平台签名发布，国家枢纽验证汇总 · Records signed by regional platforms, verified by the national hub" }
            }
        }
    }
}

/// A bilingual label: Chinese, then English in grey.
pub fn label(zh: &str, en: &str) -> Markup {
    html! { (zh) " " span.en { (en) } }
}

/// `?name=value&…`, percent-encoded; "" for no parameters.
pub fn query_string(params: &[(String, String)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// An integer with thousands separators.
pub fn thousands(value: u128) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Yuan as ¥ with separators.
pub fn yuan(value: u128) -> String {
    format!("¥{}", thousands(value))
}

/// Yuan in 亿元 or 万元 for charts and cards.
pub fn yuan_short(value: u128) -> String {
    const YI: u128 = 100_000_000;
    const WAN: u128 = 10_000;
    if value >= YI {
        format!("{:.2} 亿元", value as f64 / YI as f64)
    } else if value >= WAN {
        format!("{:.1} 万元", value as f64 / WAN as f64)
    } else {
        format!("{value} 元")
    }
}

/// A share as a percentage with one decimal; "–" of nothing.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(123), "123");
        assert_eq!(yuan(12_800_000), "¥12,800,000");
        assert_eq!(yuan_short(1_280_000_000), "12.80 亿元");
        assert_eq!(yuan_short(12_800), "1.3 万元");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "–");
        let q = query_string(&[
            ("q".into(), "透射 电镜&".into()),
            ("region".into(), "CN-GS".into()),
        ]);
        assert_eq!(
            q,
            "?q=%E9%80%8F%E5%B0%84%20%E7%94%B5%E9%95%9C%26&region=CN-GS"
        );
    }
}
