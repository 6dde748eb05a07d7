//! The `yiqi-hub` command line.

use clap::{Parser, Subcommand};

// glibc's allocator spends a quarter of ingest's CPU in malloc/free under many threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use yiqi_hub::config::{ServeArgs, Settings};
use yiqi_hub::server::Hub;

#[derive(Parser)]
#[command(name = "yiqi-hub", version, about = "The national yiqi hub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the hub's HTTP API.
    Serve(ServeArgs),
    /// The federation demo: a hub and three regional nodes (CN-BJ, CN-GS, CN-SC) at the size of
    /// their platforms' reports, loaded through the hub's HTTP API; then serve until Ctrl-C.
    Demo {
        /// Folder for the hub, the nodes and the generated catalogues (reused on the next start).
        #[arg(long, default_value = "./yiqi-demo-data")]
        data: PathBuf,
        /// Address the hub listens on.
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo talks to a newcomer: its own lines, warnings only from the machinery.
    let default_filter = match cli.command {
        Command::Demo { .. } => "warn",
        Command::Serve(_) => "info,tantivy=warn",
    };
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
        Command::Demo { data, listen } => runtime.block_on(demo(data, listen)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("yiqi-hub: {message}");
            ExitCode::from(2)
        }
    }
}

async fn demo(data: PathBuf, listen: String) -> Result<(), String> {
    let settings = Settings::resolve(ServeArgs {
        listen: Some(listen),
        ..ServeArgs::default()
    })?;
    yiqi_hub::demo::run(&data, settings).await
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
