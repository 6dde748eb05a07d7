//! Assembling a hub from its settings, serving it, and shutting it down cleanly.

use crate::api::{AppState, Limits, app};
use crate::config::Settings;
use crate::indexer;
use crate::ingest::{Writer, WriterOutputs};
use crate::log::{self, Log, LogSettings};
use crate::registry::Registry;
use crate::store::HubStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use yiqi_search::SearchService;
use yiqi_search::connections;
pub use yiqi_search::http::shutdown_signal;
use yiqi_search::oai::OaiSettings;
use yiqi_store::{KvStore, StorageError};

/// A hub ready to serve: its state and the handle to tell long-polls to stop.
pub struct Hub {
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    /// Set by the log scrub when it finds an altered log entry: the hub then stops.
    altered: watch::Receiver<Option<String>>,
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
        let store_dir = settings.data.join("store");
        let kv = yiqi_store::Backend::for_folder(settings.storage_backend, &store_dir)
            .open(&store_dir, settings.cache_capacity_bytes)
            .map_err(|e| match e {
                StorageError::Locked { .. } => format!("{e}: stop the other yiqi-hub first"),
                other => other.to_string(),
            })?;
        let log = LogSettings {
            key: log::load_or_create_key(&settings.data)?,
            origin: settings.log_origin.clone(),
            checkpoint_file: settings.data.join(log::CHECKPOINT_FILE),
            new_origin: settings.new_log_origin,
        };
        Hub::with_store(
            kv,
            &settings.data.join("search"),
            &settings.root_key,
            settings.limits.clone(),
            log,
            settings.oai.clone(),
        )
    }

    /// A hub over any [`KvStore`] (tests use the in-memory one), its search index in
    /// `search_dir`, trusting key records that chain to `root_key` (base64url). Refuses a store
    /// whose log no longer matches the checkpoints it signed (see [`Log::open`]). Needs a tokio
    /// runtime (the checkpoint signer is a task).
    pub fn with_store(
        kv: Arc<dyn KvStore>,
        search_dir: &Path,
        root_key: &str,
        limits: Limits,
        log: LogSettings,
        oai: OaiSettings,
    ) -> Result<Hub, String> {
        let store = HubStore::new(kv);
        let registry = Arc::new(Registry::load(&store, root_key).map_err(|e| e.to_string())?);
        let log = Arc::new(Log::open(store.clone(), registry.clone(), log)?);
        let search = SearchService::open(search_dir).map_err(|e| e.to_string())?;
        let search = Arc::new(search);
        let (last_seq_tx, last_seq) = watch::channel(store.last_seq().map_err(|e| e.to_string())?);
        let (committed, live) = std::sync::mpsc::sync_channel(indexer::LIVE_BACKLOG_GROUPS);
        let outputs = WriterOutputs {
            last_seq: last_seq_tx,
            committed: Some(committed),
        };
        let (writer, _thread) =
            Writer::spawn(store.clone(), registry.clone(), outputs).map_err(|e| e.to_string())?;
        indexer::spawn(search.clone(), store.clone(), live)?;
        Log::spawn_signer(log.clone(), last_seq.clone());
        let (report_altered, altered) = watch::channel(None);
        Log::spawn_scrub(log.clone(), move |refusal| {
            report_altered.send_replace(Some(refusal));
        })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            store,
            registry,
            writer,
            last_seq,
            shutdown: shutdown_rx,
            limits,
            metrics: metrics_handle(),
            search,
            log,
            oai,
        });
        Ok(Hub {
            state,
            shutdown,
            altered,
        })
    }

    /// Stops accepting publications (answered 503 `shutting_down`) and ends long-polls at once:
    /// the first step of a graceful shutdown.
    pub fn stop_accepting(&self) {
        self.shutdown.send_replace(true);
    }

    /// Serves until `signal` completes or the log scrub finds an altered log entry, then stops
    /// accepting, lets in-flight requests finish (long-polls return at once), and flushes the
    /// store. Fails with the scrub's refusal when the log was altered.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let hub = Arc::new(self);
        let stopping = hub.clone();
        let mut altered = hub.altered.clone();
        let stop = async move {
            tokio::select! {
                () = signal => {}
                () = found_altered(&mut altered) => {}
            }
            tracing::info!("shutting down: finishing in-flight requests");
            stopping.stop_accepting();
        };
        let connections = hub.state.limits.connections();
        tracing::info!(
            max_connections = connections.max_connections,
            header_read_timeout_secs = connections.header_read_timeout.as_secs(),
            "connection limits"
        );
        connections::serve(listener, app(hub.state.clone()), &connections, stop).await?;
        let (store, search) = (hub.state.store.clone(), hub.state.search.clone());
        tokio::task::spawn_blocking(move || {
            store.flush().map_err(std::io::Error::other)?;
            search.flush().map_err(std::io::Error::other)
        })
        .await
        .map_err(std::io::Error::other)??;
        if let Some(refusal) = hub.altered.borrow().clone() {
            return Err(std::io::Error::other(refusal));
        }
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Completes when the log scrub reports an altered log entry; never when it finds none.
async fn found_altered(altered: &mut watch::Receiver<Option<String>>) {
    if altered.wait_for(Option::is_some).await.is_err() {
        // The scrub ended without finding anything.
        std::future::pending::<()>().await;
    }
}
