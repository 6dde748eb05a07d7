//! `yiqi-bench`: the benchmarks. Each prints a table with the achieved figure, the limit
//! measured in the same run and their ratio, and writes the same figures as JSON with `--json`.
//!
//! Build the hub first: `cargo build --release -p yiqi-hub -p yiqi-tests`, then
//! `target/release/yiqi-bench ingest`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use yiqi_tests::bench::ingest;

#[derive(Parser)]
#[command(name = "yiqi-bench", about = "yiqi benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish records over loopback from concurrent publishers; compare with the pipeline limit.
    Ingest {
        #[arg(long, default_value_t = 200_000)]
        records: usize,
        #[arg(long, default_value_t = 2)]
        publishers: usize,
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest {
            records,
            publishers,
            batch,
            json,
        } => ingest::run(&ingest::Options {
            records,
            publishers,
            batch,
            json,
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
