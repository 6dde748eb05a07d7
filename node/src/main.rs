//! The `yiqi-node` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use yiqi_node::cli_error::CliError;
use yiqi_node::tools;

#[derive(Parser)]
#[command(name = "yiqi-node", version, about = "A regional platform's yiqi node")]
struct Cli {
    /// The node's data folder.
    #[arg(long, global = true, default_value = "./yiqi-node-data", env = "YIQI_NODE_DATA")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new Ed25519 secret key (PKCS#8 PEM, mode 0600) and print its public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate a record, then print it signed as an envelope.
    Sign {
        #[arg(long)]
        key: PathBuf,
        /// The record (a file, or - for stdin).
        record: PathBuf,
    },
    /// Check an envelope's signature and schema; exit 1 with the reason if either fails.
    Verify {
        /// The envelope (a file, or - for stdin).
        envelope: PathBuf,
        /// Also require this signer (base64url public key).
        #[arg(long)]
        key: Option<String>,
    },
    /// Check a record against the schema; exit 1 listing every violation.
    Validate {
        /// The record (a file, or - for stdin).
        record: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            error.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Keygen { out } => {
            let public = tools::keygen(&out)?;
            println!("wrote {}; public key: {public}", out.display());
        }
        Command::Sign { key, record } => {
            let envelope = tools::sign_file(&key, &record)?;
            println!("{}", serde_json::to_string_pretty(&envelope).expect("JSON"));
        }
        Command::Verify { envelope, key } => println!("{}", tools::verify(&envelope, key.as_deref())?),
        Command::Validate { record } => {
            tools::validate(&record)?;
            println!("ok");
        }
    }
    Ok(())
}
