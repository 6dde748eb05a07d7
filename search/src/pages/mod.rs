//! Server-rendered HTML pages (maud): search, instrument, statistics. Chinese first with English
//! labels, usable without JavaScript, CSS inline.

mod instrument;
pub mod labels;
mod layout;
mod search;
mod stats;
mod utilisation;

use maud::{Markup, html};

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

#[cfg(test)]
mod tests;
