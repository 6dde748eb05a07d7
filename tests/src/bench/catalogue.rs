//! `yiqi-bench catalogue`: the node's work on a catalogue before anything reaches the network:
//! generating the demo catalogues (`yiqi-node generate`) and reading an NRII CSV export
//! (`yiqi-node import`). The goal for reading is 50,000 NRII rows in under 2 s (release build).

use super::{Row, print_table, write_json};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::time::Instant;
use yiqi_gen::{GenerateOptions, generate};
use yiqi_node::import::{ImportOptions, read_catalogue};

pub struct Options {
    /// Rows of the NRII CSV read.
    pub rows: usize,
    pub json: Option<PathBuf>,
}

pub fn run(options: &Options) -> Result<(), String> {
    let (generated, generate_s) = generate_beijing()?;
    let read_s = read_nrii_csv(options.rows)?;
    let rows = vec![
        Row {
            what: format!("generate the Beijing demo ({generated} records)"),
            value: generated as f64 / generate_s,
            unit: "records/s",
        },
        Row {
            what: format!("read an NRII CSV ({} rows)", options.rows),
            value: read_s,
            unit: "s",
        },
        Row {
            what: "read an NRII CSV".into(),
            value: options.rows as f64 / read_s,
            unit: "rows/s",
        },
    ];
    print_table("catalogue work on one node (no network)", &rows);
    if let Some(path) = &options.json {
        let figures: Map<String, Value> = serde_json::from_value(json!({
            "generate_records_per_s": generated as f64 / generate_s,
            "nrii_csv_rows": options.rows,
            "nrii_csv_read_s": read_s,
        }))
        .expect("an object");
        write_json(path, &figures)?;
    }
    Ok(())
}

/// Generates the Beijing demo catalogue (exact carriers and total); the count and the seconds.
fn generate_beijing() -> Result<(usize, f64), String> {
    let beijing = GenerateOptions {
        region: "CN-BJ".into(),
        count: 42_800,
        seed: 2026,
        institutions: None,
        carriers: Some(908),
        total_value_cny: Some(26_300_000_000),
    };
    let started = Instant::now();
    let records = generate(&beijing).map_err(|e| e.to_string())?;
    Ok((records.len(), started.elapsed().as_secs_f64()))
}

/// Writes an NRII CSV of `rows` rows and reads it as `yiqi-node import` does; the seconds the
/// read took. Every row must be read without error, or the figure would be meaningless.
fn read_nrii_csv(rows: usize) -> Result<f64, String> {
    let mut text = String::from(
        "仪器编号,仪器设备名称,仪器分类编码,原值（万元）,建账日期,安放地址-省,安放地址-市,联系人,电子邮箱,主要学科领域\n",
    );
    for i in 0..rows {
        text.push_str(&format!(
            "GS-{i:06},透射电子显微镜 {i},010101,{}.{:02},2019-06-18,甘肃省,兰州市,王老师,tem{i}@lzu.edu.cn,材料科学、化学\n",
            i % 5000,
            i % 100
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("nrii.csv");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    let options = ImportOptions {
        institution: Some("兰州大学".into()),
        sharing_mode: Some("external".into()),
        ..ImportOptions::new("CN-GS")
    };
    let started = Instant::now();
    let parsed = read_catalogue(&path, &options).map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    if parsed.rows.len() != rows || !parsed.errors.is_empty() {
        return Err(format!(
            "read {} of {rows} rows, {} errors",
            parsed.rows.len(),
            parsed.errors.len()
        ));
    }
    Ok(seconds)
}
