//! Assembling a hub from its settings, serving it, and shutting it down cleanly.

use crate::api::{AppState, Limits, app};
use crate::config::Settings;
use crate::ingest::{Writer, WriterOutputs};
use crate::registry::Registry;
use yiqi_store::{KvStore, SledStore, StorageError};
use crate::store::HubStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        Hub::with_store(Arc::new(kv), admin_token, settings.limits.clone()).map_err(|e| e.to_string())
    }

    /// A hub over any [`KvStore`] (tests use the in-memory one).
    pub fn with_store(
        kv: Arc<dyn KvStore>,
        admin_token: String,
        limits: Limits,
    ) -> Result<Hub, StorageError> {
        let store = HubStore::new(kv);
        let registry = Arc::new(Registry::load(store.clone())?);
        let (last_seq_tx, last_seq) = watch::channel(store.last_seq()?);
        let outputs = WriterOutputs {
            last_seq: last_seq_tx,
            committed: None,
        };
        let (writer, _thread) = Writer::spawn(store.clone(), registry.clone(), outputs)?;
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
        });
        Ok(Hub { state, shutdown })
    }

    /// Serves until `signal` completes, then stops accepting, lets in-flight requests finish
    /// (long-polls return at once), and flushes the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        let stop = async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
            shutdown.send_replace(true);
        };
        axum::serve(listener, app(self.state.clone()))
            .with_graceful_shutdown(stop)
            .await?;
        let store = self.state.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
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
