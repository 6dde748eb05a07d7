//! `yiqi-bench`: the benchmarks. Each prints a table with the achieved figure, the limit
//! measured in the same run and their ratio, and writes the same figures as JSON with `--json`.
//!
//! Build the hub first: `cargo build --release -p yiqi-hub -p yiqi-tests`, then
//! `target/release/yiqi-bench ingest`.

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use yiqi_store::Backend;
use yiqi_tests::bench::{
    catalogue, dictionary, ingest, profile, quality, scale, search, soak, sync, utilisation,
};

#[derive(Parser)]
#[command(name = "yiqi-bench", about = "yiqi benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the zstd dictionary stored log entries are compressed with, and measure what it
    /// saves on entries it was not trained on.
    LogDictionary {
        /// Training entries per region.
        #[arg(long, default_value_t = 1_000)]
        per_region: usize,
        /// The dictionary's size limit in bytes.
        #[arg(long, default_value_t = 32_768)]
        size: usize,
        /// Where to write it. Never over `store/src/entry-dictionary-v1.zdict`: stored entries
        /// can only be read with the dictionary they were compressed with.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Publish records over loopback from concurrent publishers; compare with the pipeline limit.
    Ingest {
        #[arg(long, default_value_t = 200_000)]
        records: usize,
        #[arg(long, default_value_t = 2)]
        publishers: usize,
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// The hub's storage backend (`redb` or `sled`); the store step of the limit uses it too.
        #[arg(long, default_value = "redb")]
        storage_backend: Backend,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// National search at scale against SQLite FTS5 on the same corpus and queries.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// The steady query rate latencies are measured at.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Seconds of each load phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The cost of each benchmark query inside the search service (no HTTP), for profiling.
    SearchProfile {
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// The index folder, reused when it holds the same number of records.
        #[arg(long)]
        index: PathBuf,
        /// Timed runs of each query.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// A query to profile instead of the benchmark's, as a URL query string (repeatable).
        #[arg(long = "query")]
        queries: Vec<String>,
    },
    /// Precision and recall of search on the query set of docs/search.md, in process.
    SearchQuality {
        #[arg(long, default_value_t = 20_000)]
        records: usize,
    },
    /// Arrival latency between regions' mirrors, and a new node's catch-up against verification.
    Sync {
        /// Records in the national feed the new node catches up.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Records per second published during the arrival measurement.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds of the arrival measurement.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The storage backend of the hub and of the nodes (`redb` or `sled`).
        #[arg(long, default_value = "redb")]
        storage_backend: Backend,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Three nodes publishing and syncing, searches, and the hub SIGKILLed every few minutes:
    /// nothing acknowledged lost, the feed gapless, every mirror equal to the hub, memory flat.
    Soak {
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Minutes between SIGKILLs of the hub.
        #[arg(long, default_value_t = 5.0)]
        kill_every: f64,
        /// Records per second the three nodes import and publish together.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 50.0)]
        search_rate: f64,
        /// Seconds between a node's syncs.
        #[arg(long, default_value_t = 5)]
        sync_every: u64,
        /// Minutes of new records; edits only after, so the catalogue is steady while memory
        /// is watched (default: up to the last 20 minutes, the memory window).
        #[arg(long)]
        new_records_minutes: Option<f64>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Utilisation at scale: service records ingested against the pipeline limit,
    /// `/v1/utilisation` and `/v1/flows` latency, the hub's memory per service.
    Utilisation {
        #[arg(long, default_value_t = 200_000)]
        instruments: usize,
        #[arg(long, default_value_t = 2_000_000)]
        services: usize,
        /// The steady query rate latencies are measured at.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Ten times the nation on one hub: load, then search, statistics, disk, memory, restart
    /// and a new node's catch-up measured on the full hub.
    Scale {
        #[arg(long, default_value_t = 10_000_000)]
        records: usize,
        /// The steady search rate latencies are measured at.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// The steady `/v1/stats` rate its latencies are measured at.
        #[arg(long, default_value_t = 20.0)]
        stats_rate: f64,
        /// Seconds of each load phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The hub's storage backend (`redb` or `sled`).
        #[arg(long, default_value = "redb")]
        storage_backend: Backend,
        /// Keep the hub's folder here; a later run on a loaded folder measures it again.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Stop once the records are loaded and indexed (measure the kept folder later).
        #[arg(long)]
        load_only: bool,
        /// Stop the new node's catch-up after this many seconds (default: the whole log).
        #[arg(long)]
        catch_up_seconds: Option<u64>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// A node's catalogue work without the network: generating catalogues, reading an NRII CSV.
    Catalogue {
        /// Rows of the NRII CSV read.
        #[arg(long, default_value_t = 50_000)]
        rows: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // The node that `sync`, `scale` and `soak` run in this process, set up as `yiqi-node` is.
    yiqi_node::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest {
            records,
            publishers,
            batch,
            storage_backend,
            json,
        } => ingest::run(&ingest::Options {
            records,
            publishers,
            batch,
            backend: storage_backend,
            json,
        }),
        Command::Search {
            records,
            rate,
            seconds,
            json,
        } => search::run(&search::Options {
            records,
            rate,
            seconds,
            json,
        }),
        Command::SearchProfile {
            records,
            index,
            rounds,
            queries,
        } => profile::run(&profile::Options {
            records,
            index,
            rounds,
            queries,
        }),
        Command::SearchQuality { records } => quality::run(&quality::Options { records }),
        Command::Sync {
            records,
            rate,
            seconds,
            storage_backend,
            json,
        } => sync::run(&sync::Options {
            records,
            rate,
            seconds,
            backend: storage_backend,
            json,
        }),
        Command::Utilisation {
            instruments,
            services,
            rate,
            seconds,
            json,
        } => utilisation::run(&utilisation::Options {
            instruments,
            services,
            rate,
            seconds,
            json,
        }),
        Command::Scale {
            records,
            rate,
            stats_rate,
            seconds,
            storage_backend,
            data,
            load_only,
            catch_up_seconds,
            json,
        } => scale::run(&scale::Options {
            records,
            rate,
            stats_rate,
            seconds,
            backend: storage_backend,
            data,
            load_only,
            catch_up_budget: catch_up_seconds.map(Duration::from_secs),
            json,
        }),
        Command::LogDictionary {
            per_region,
            size,
            out,
            json,
        } => dictionary::run(&dictionary::Options {
            per_region,
            size,
            out,
            json,
        }),
        Command::Catalogue { rows, json } => catalogue::run(&catalogue::Options { rows, json }),
        Command::Soak {
            minutes,
            kill_every,
            rate,
            search_rate,
            sync_every,
            new_records_minutes,
            json,
        } => soak::run(&soak::Options {
            duration: Duration::from_secs_f64(minutes * 60.0),
            kill_every: Duration::from_secs_f64(kill_every * 60.0),
            rate,
            search_rate,
            sync_every: Duration::from_secs(sync_every),
            steady_after: new_records_minutes
                .or(Some(minutes - soak::MEMORY_WINDOW.as_secs_f64() / 60.0))
                .filter(|m| *m > 0.0)
                .map(|m| Duration::from_secs_f64(m * 60.0)),
            json,
        })
        .and_then(|outcome| match outcome.sound() {
            true => Ok(()),
            false => Err(format!("the soak found faults: {outcome:?}")),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("yiqi-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
