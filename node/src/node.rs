//! [`Node`]: one region's node, its folder, store, key and hub client, with every operation the
//! command line offers available as a library call (the hub's demo runs nodes in-process).

use crate::config::{Config, Folder};
use crate::db::Db;
use crate::error::NodeError;
use crate::serve::LiveIndex;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;
use yiqi_schema::keys::{SecretKey, public_key_text};
use yiqi_store::{KvStore, MemoryStore, SledStore};

/// A regional node. Cloning is cheap and clones share the store.
#[derive(Clone)]
pub struct Node {
    pub(crate) config: Arc<Config>,
    pub(crate) key: Arc<SecretKey>,
    pub(crate) db: Arc<Db>,
    pub(crate) http: reqwest::Client,
    /// The node folder (import reports, the status snapshot); `None` for an in-memory node.
    pub(crate) folder: Option<Folder>,
    /// Woken when an import adds to the outbox, so a running publisher sends at once.
    pub(crate) outbox_filled: Arc<Notify>,
    /// Imports allocate outbox sequence numbers; two at once in one process would collide.
    pub(crate) import_lock: Arc<Mutex<()>>,
    /// The search index, once this node serves: sync hands it what each page applied.
    pub(crate) live_index: Arc<OnceLock<Arc<LiveIndex>>>,
}

/// What `init` created.
pub struct Created {
    pub config: Config,
    pub public_key: String,
}

impl Node {
    /// Creates a node folder (config, key, reports); refuses an existing node.
    pub fn init(
        dir: &Path,
        region: &str,
        hub: &str,
        name: Option<&str>,
    ) -> Result<Created, NodeError> {
        let config = Config::new(region, hub, name)?;
        let key = Folder::new(dir).create(&config)?;
        Ok(Created {
            public_key: public_key_text(&key.verifying_key()),
            config,
        })
    }

    /// Gives the node a new signing key (the old one moves to `keys-retired/`). Refused while
    /// another process uses the folder. Returns the old and the new public key.
    pub fn rotate_key(dir: &Path) -> Result<(String, String), NodeError> {
        // Opening takes the store's lock: no running node keeps signing with the old key.
        let node = Node::open(dir)?;
        let (old, fresh) = Folder::new(dir).rotate_key()?;
        drop(node);
        Ok((
            public_key_text(&old.verifying_key()),
            public_key_text(&fresh.verifying_key()),
        ))
    }

    /// Opens a node folder. One process per folder: a second one gets a clear error.
    pub fn open(dir: &Path) -> Result<Node, NodeError> {
        let folder = Folder::new(dir);
        let (config, key) = folder.load()?;
        let store = SledStore::open(&folder.store(), config.cache_capacity_mb << 20)
            .map_err(|e| in_use_or(e.0, dir))?;
        Ok(Node::assemble(config, key, Arc::new(store), Some(folder)))
    }

    /// A node on a given store (e.g. [`MemoryStore`]) without a folder: import reports are not
    /// written, everything else behaves as with [`Node::open`].
    pub fn with_store(config: Config, key: SecretKey, store: Arc<dyn KvStore>) -> Node {
        Node::assemble(config, key, store, None)
    }

    /// An in-memory node, for tests and demos.
    pub fn in_memory(config: Config, key: SecretKey) -> Node {
        Node::with_store(config, key, Arc::new(MemoryStore::new()))
    }

    fn assemble(
        config: Config,
        key: SecretKey,
        store: Arc<dyn KvStore>,
        folder: Option<Folder>,
    ) -> Node {
        Node {
            config: Arc::new(config),
            key: Arc::new(key),
            db: Arc::new(Db::new(store)),
            http: http_client(),
            folder,
            outbox_filled: Arc::new(Notify::new()),
            import_lock: Arc::new(Mutex::new(())),
            live_index: Arc::new(OnceLock::new()),
        }
    }

    /// The same node talking to another hub for the life of this value; `config.toml` is left as
    /// it is (the demo restarts its hub on a new address without rewriting its nodes' files).
    pub fn with_hub(mut self, hub: &str) -> Result<Node, NodeError> {
        let config = Config::new(&self.config.region, hub, Some(&self.config.name))?;
        self.config = Arc::new(Config {
            hub: config.hub,
            ..Config::clone(&self.config)
        });
        Ok(self)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The node's public key, base64url.
    pub fn public_key(&self) -> String {
        public_key_text(&self.key.verifying_key())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.hub)
    }
}

/// sled refuses a second opener with a lock error; say what that means for the operator.
fn in_use_or(message: String, dir: &Path) -> NodeError {
    if message.contains("lock") {
        NodeError::InUse(format!(
            "the node folder {} is in use by another yiqi-node process (stop `yiqi-node run` \
             before importing or publishing by hand): {message}",
            dir.display()
        ))
    } else {
        NodeError::Usage(message)
    }
}

/// The HTTP client every hub call uses; per-request timeouts are set by each caller.
fn http_client() -> reqwest::Client {
    // reqwest is built without a default crypto provider; a second install is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("yiqi-node/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Now as the protocol writes timestamps: RFC 3339, UTC, millisecond precision, `Z`.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let millis = now.replace_nanosecond(u32::from(now.millisecond()) * 1_000_000);
    millis
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
