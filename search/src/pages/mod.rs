//! Server-rendered HTML pages (maud): search, instrument, statistics. Chinese first with English
//! labels, usable without JavaScript, CSS inline.

mod instrument;
pub mod labels;
mod layout;
mod search;
mod stats;
mod utilisation;

use maud::{Markup, html};

use crate::warm_up::Progress;

pub use instrument::{InstrumentView, instrument_page};
pub use layout::ServedBy;
pub use search::search_page;
pub use stats::stats_page;
pub use utilisation::{UtilisationView, utilisation_page};

/// The 404 page: `what` was not found.
pub fn not_found_page(what: &str, served: &ServedBy) -> Markup {
    layout::page(
        "未找到 Not found",
        served,
        html! {
            h1 { (layout::label("未找到", "Not found")) }
            p { "没有找到 " code { (what) } "。" " Nothing was found at this address." }
            p { a href="/" { "← 返回检索 Back to search" } }
        },
    )
}

/// A statistics page while the statistics rebuild after a restart: how far, and to come back.
pub fn warming_up_page(title: &str, progress: &Progress, served: &ServedBy) -> Markup {
    layout::page(
        title,
        served,
        html! {
            h1 { (layout::label("统计数据正在重建", "Statistics are being rebuilt")) }
            p.error role="status" {
                "服务重启后正在重建统计数据：已处理 " (progress.done) " / " (progress.total)
                " 条日志记录，请稍后刷新。检索不受影响。 "
                span.en { (progress.message()) }
            }
            p { a href="/" { "← 检索 Search" } }
        },
    )
}

#[cfg(test)]
mod tests;
