//! `yiqi-bench log-dictionary`: trains the zstd dictionary stored envelopes are compressed with
//! (`yiqi_store::compression`), and measures what it saves on entries it was not trained on.
//!
//! Samples are stored log entries exactly as the hub writes them (the feed wrapper around a
//! signed envelope) for generated catalogues of every region, with seeds no other benchmark
//! uses: the benchmarks then never measure the dictionary on its own training text. Real
//! catalogues share the field names and the fixed vocabulary (classification, cities, enums)
//! but not the generator's tables, so they compress somewhat less.

use super::corpus::complete;
use super::{Row, print_table, write_json};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Instant;
use yiqi_gen::{GenerateOptions, generate};
use yiqi_schema::keys::SecretKey;
use yiqi_schema::protocol::feed_entry_bytes;
use yiqi_schema::regions::REGIONS;

pub struct Options {
    /// Training samples per region.
    pub per_region: usize,
    /// The dictionary's size limit in bytes.
    pub size: usize,
    pub out: PathBuf,
    pub json: Option<PathBuf>,
}

/// Seeds far above any the other benchmarks use (they use region position × 10,000 + slice).
const TRAINING_SEED: u64 = 7_000_000_000;
const HELD_OUT_SEED: u64 = 8_000_000_000;
/// Held-out entries per region the savings are measured on.
const HELD_OUT_PER_REGION: usize = 100;

pub fn run(options: &Options) -> Result<(), String> {
    let training = entries(options.per_region, TRAINING_SEED)?;
    let started = Instant::now();
    let dictionary = zstd::dict::from_samples(&training, options.size)
        .map_err(|e| format!("training the dictionary: {e}"))?;
    let training_seconds = started.elapsed().as_secs_f64();
    std::fs::write(&options.out, &dictionary)
        .map_err(|e| format!("{}: {e}", options.out.display()))?;

    let held_out = entries(HELD_OUT_PER_REGION, HELD_OUT_SEED)?;
    let level = yiqi_store::compression::LEVEL;
    let plain = measure(&held_out, level, &[])?;
    let trained = measure(&held_out, level, &dictionary)?;
    let raw = held_out.iter().map(Vec::len).sum::<usize>() as f64 / held_out.len() as f64;
    let rows = [
        row("training entries", training.len() as f64, "entries"),
        row("training time", training_seconds, "s"),
        row("dictionary", dictionary.len() as f64, "bytes"),
        row("held-out entry, stored as is", raw, "bytes"),
        row("compressed alone", plain.bytes, "bytes"),
        row("compressed with the dictionary", trained.bytes, "bytes"),
        row("  ratio to as is", trained.bytes / raw, "×"),
        row(
            "compress with the dictionary",
            trained.compress_micros,
            "µs/entry",
        ),
        row(
            "decompress with the dictionary",
            trained.decompress_micros,
            "µs/entry",
        ),
    ];
    print_table(
        &format!("log dictionary → {}", options.out.display()),
        &rows,
    );
    println!(
        "trained a {} B dictionary on {} entries: a held-out entry stores in {:.0} B instead of {raw:.0} B ({:.0} B compressed alone)",
        dictionary.len(),
        training.len(),
        trained.bytes,
        plain.bytes
    );
    if let Some(path) = &options.json {
        let figures: Map<String, Value> = rows
            .iter()
            .map(|r| (r.what.trim().to_owned(), r.value.into()))
            .collect();
        write_json(path, &figures)?;
    }
    Ok(())
}

fn row(what: &str, value: f64, unit: &'static str) -> Row {
    Row {
        what: what.into(),
        value,
        unit,
    }
}

/// Stored log entries for `per_region` generated records of each region.
fn entries(per_region: usize, seed: u64) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (position, (region, ..)) in REGIONS.iter().enumerate() {
        let key = SecretKey::from_bytes(&[position as u8 + 1; 32]);
        let options = GenerateOptions {
            region: (*region).to_owned(),
            count: per_region,
            seed: seed + position as u64,
            institutions: None,
            carriers: None,
            total_value_cny: None,
        };
        for mut record in generate(&options).map_err(|e| format!("{region}: {e}"))? {
            complete(&mut record);
            let envelope =
                serde_json::to_value(yiqi_schema::sign(record, &key)).expect("an envelope is JSON");
            let canonical = yiqi_schema::canonical::canonical_bytes(&envelope);
            let seq = seed + out.len() as u64;
            out.push(feed_entry_bytes(
                Some((seq % 100_000_000, "2026-12-02T08:00:00.000Z")),
                &canonical,
            ));
        }
    }
    Ok(out)
}

struct Compressed {
    bytes: f64,
    compress_micros: f64,
    decompress_micros: f64,
}

fn measure(entries: &[Vec<u8>], level: i32, dictionary: &[u8]) -> Result<Compressed, String> {
    let failed = |e: std::io::Error| format!("zstd: {e}");
    let mut compressor =
        zstd::bulk::Compressor::with_dictionary(level, dictionary).map_err(failed)?;
    let mut decompressor = zstd::bulk::Decompressor::with_dictionary(dictionary).map_err(failed)?;
    let started = Instant::now();
    let frames = entries
        .iter()
        .map(|entry| compressor.compress(entry))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    let compress_micros = started.elapsed().as_secs_f64() * 1e6 / entries.len() as f64;
    let started = Instant::now();
    for (frame, entry) in frames.iter().zip(entries) {
        let back = decompressor
            .decompress(frame, entry.len())
            .map_err(failed)?;
        if back != *entry {
            return Err("an entry did not decompress to itself".into());
        }
    }
    let decompress_micros = started.elapsed().as_secs_f64() * 1e6 / entries.len() as f64;
    Ok(Compressed {
        bytes: frames.iter().map(Vec::len).sum::<usize>() as f64 / entries.len() as f64,
        compress_micros,
        decompress_micros,
    })
}
