//! Assembling a hub from its settings, serving it, and shutting it down cleanly.

use crate::api::{AppState, Limits, app};
use crate::config::Settings;
use crate::indexer;
use crate::ingest::{Writer, WriterOutputs};
use crate::registry::Registry;
use crate::store::HubStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use yiqi_search::SearchService;
pub use yiqi_search::http::shutdown_signal;
use yiqi_store::{KvStore, SledStore};

/// A hub ready to serve: its state and the handle to tell long-polls to stop.
pub struct Hub {
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
}

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist in tests that embed several hubs; theirs serves too.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl Hub {
    /// Opens the sled store in `settings.data` and starts the writer.
    pub fn open(settings: &Settings) -> Result<Hub, String> {
        std::fs::create_dir_all(&settings.data)
            .map_err(|e| format!("{}: {e}", settings.data.display()))?;
        let kv = SledStore::open(&settings.data.join("store"), settings.cache_capacity_bytes)
            .map_err(|e| format!("{e} (is another hub using this folder?)"))?;
        let admin_token = match &settings.admin_token {
            Some(token) => token.clone(),
            None => stored_admin_token(&settings.data)?,
        };
        Hub::with_store(
            Arc::new(kv),
            &settings.data.join("search"),
            admin_token,
            settings.limits.clone(),
        )
    }

    /// A hub over any [`KvStore`] (tests use the in-memory one), its search index in
    /// `search_dir`.
    pub fn with_store(
        kv: Arc<dyn KvStore>,
        search_dir: &Path,
        admin_token: String,
        limits: Limits,
    ) -> Result<Hub, String> {
        let store = HubStore::new(kv);
        let registry = Arc::new(Registry::load(store.clone()).map_err(|e| e.to_string())?);
        let search = SearchService::open(search_dir).map_err(|e| e.to_string())?;
        let search = Arc::new(search);
        let (last_seq_tx, last_seq) = watch::channel(store.last_seq().map_err(|e| e.to_string())?);
        let (committed, live) = std::sync::mpsc::channel();
        let outputs = WriterOutputs {
            last_seq: last_seq_tx,
            committed: Some(committed),
        };
        let (writer, _thread) =
            Writer::spawn(store.clone(), registry.clone(), outputs).map_err(|e| e.to_string())?;
        indexer::spawn(search.clone(), store.clone(), live);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            store,
            registry,
            writer,
            last_seq,
            shutdown: shutdown_rx,
            admin_token,
            limits,
            metrics: metrics_handle(),
            search,
        });
        Ok(Hub { state, shutdown })
    }

    /// Stops accepting publications (answered 503 `shutting_down`) and ends long-polls at once:
    /// the first step of a graceful shutdown.
    pub fn stop_accepting(&self) {
        self.shutdown.send_replace(true);
    }

    /// Serves until `signal` completes, then stops accepting, lets in-flight requests finish
    /// (long-polls return at once), and flushes the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let hub = Arc::new(self);
        let stopping = hub.clone();
        let stop = async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
            stopping.stop_accepting();
        };
        axum::serve(listener, app(hub.state.clone()))
            .with_graceful_shutdown(stop)
            .await?;
        let (store, search) = (hub.state.store.clone(), hub.state.search.clone());
        tokio::task::spawn_blocking(move || {
            store.flush().map_err(std::io::Error::other)?;
            search.flush().map_err(std::io::Error::other)
        })
        .await
        .map_err(std::io::Error::other)??;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// The admin token kept in the data folder (mode 0600), created on first start.
fn stored_admin_token(data: &Path) -> Result<String, String> {
    let path = data.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
    let token = yiqi_schema::keys::encode_b64(&bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("generated an admin token; it is in {}", path.display());
    Ok(token)
}
