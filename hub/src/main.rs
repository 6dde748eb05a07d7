//! The `yiqi-hub` command line.

use clap::{Parser, Subcommand};

// glibc's allocator spends a quarter of ingest's CPU in malloc/free under many threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use yiqi_hub::config::{ServeArgs, Settings};
use yiqi_hub::log;
use yiqi_hub::server::Hub;

#[derive(Parser)]
#[command(name = "yiqi-hub", version, about = "The national yiqi hub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Serve the hub's HTTP API.
    Serve(ServeArgs),
    /// Print the transparency log's verifier key (`origin+keyid+base64`), the value nodes pin.
    /// Makes the log key if the data folder has none yet; works while the hub runs.
    LogKey(LogKeyArgs),
}

#[derive(clap::Args)]
struct LogKeyArgs {
    /// Data folder (holds `log-key.pem`).
    #[arg(long, env = "YIQI_DATA")]
    data: Option<PathBuf>,
    /// A TOML file with `data` and `log_origin`.
    #[arg(long, env = "YIQI_CONFIG")]
    config: Option<PathBuf>,
    /// The log origin, used until the hub has signed a checkpoint (then the origin in use is
    /// read from the data folder's `log-checkpoint`).
    #[arg(long, env = "YIQI_LOG_ORIGIN")]
    log_origin: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = "info,tantivy=warn";
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::LogKey(args) => log_key(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("yiqi-hub: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = Settings::resolve(args)?;
    let hub = Hub::open(&settings)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", settings.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, data = %settings.data.display(), "hub listening");
    // The exact line end-to-end tests and scripts wait for.
    println!("yiqi-hub listening on http://{address}");
    hub.serve(listener, yiqi_hub::server::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn log_key(args: LogKeyArgs) -> Result<(), String> {
    let settings = Settings::resolve(ServeArgs {
        data: args.data,
        config: args.config,
        log_origin: args.log_origin,
        ..ServeArgs::default()
    })?;
    std::fs::create_dir_all(&settings.data)
        .map_err(|e| format!("{}: {e}", settings.data.display()))?;
    let key = log::load_or_create_key(&settings.data)?;
    let origin = log::origin_in_use(&settings.data, &settings.log_origin)?;
    println!("{}", log::verifier_key(&origin, key)?);
    Ok(())
}
