//! The benchmark programs behind `yiqi-bench`, and the table/JSON report they share.

pub mod catalogue;
pub mod corpus;
pub mod dictionary;
pub mod fts5;
pub mod ingest;
pub mod load;
pub mod profile;
pub mod quality;
pub mod scale;
pub mod search;
pub mod soak;
pub mod sync;
pub mod utilisation;

use serde_json::{Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// One line of a benchmark table.
pub struct Row {
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
}

/// Prints the rows as an aligned table.
pub fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    let width = rows
        .iter()
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(10);
    for row in rows {
        println!("  {:<width$}  {:>14.2}  {}", row.what, row.value, row.unit);
    }
}

/// Writes `figures` as a JSON object to `path`.
pub fn write_json(path: &Path, figures: &Map<String, Value>) -> Result<(), String> {
    let text = serde_json::to_string_pretty(figures).expect("figures are JSON");
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs `work` over `items` on the current thread and returns items per second (the best of
/// three passes, [`best_of_passes`]).
pub fn rate_per_second<T>(items: &[T], mut work: impl FnMut(&T)) -> f64 {
    best_of_passes(|| {
        let started = Instant::now();
        for item in items {
            work(item);
        }
        items.len() as f64 / started.elapsed().max(Duration::from_nanos(1)).as_secs_f64()
    })
}

/// The fastest of three passes of a rate measurement. A limit is a ceiling, and whatever else
/// the machine does (the hub's background work, the kernel) only ever slows a pass down, so the
/// fastest pass is the closest measure of it: single passes moved by a fifth from run to run,
/// and every ratio with them.
pub fn best_of_passes(mut pass: impl FnMut() -> f64) -> f64 {
    (0..3).map(|_| pass()).fold(0.0, f64::max)
}

/// Total size of the files under `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The number of CPU cores this machine offers.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A process's resident memory (Linux `/proc/PID/status`), split as the kernel counts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resident {
    /// All resident pages (`VmRSS`).
    pub total: u64,
    /// Heap and other private memory (`RssAnon`): what the process itself holds.
    pub anonymous: u64,
    /// Pages of mapped files (`RssFile`, e.g. the search index): the kernel's cache, which it
    /// takes back under pressure.
    pub file_backed: u64,
}

impl Resident {
    /// The resident memory of process `pid`, in bytes; `None` when it cannot be read.
    pub fn of(pid: u32) -> Option<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        };
        Some(Resident {
            total: kib("VmRSS:")?,
            anonymous: kib("RssAnon:")?,
            file_backed: kib("RssFile:")?,
        })
    }
}
