//! [`Node`]: one region's node, its folder, store, key and hub client, with every operation the
//! command line offers available as a library call (the hub's demo runs nodes in-process).

use crate::config::{Config, Folder};
use crate::control;
use crate::db::Db;
use crate::error::NodeError;
use crate::serve::LiveIndex;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use yiqi_schema::keys::{SecretKey, public_key_text};
use yiqi_schema::protocol::keys::{KeyStatus, key_record};
use yiqi_schema::sign;
use yiqi_store::{Backend, KvStore, MemoryStore, StorageError};

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
    /// Runs other processes' commands while `run` or `serve` holds the folder (the binary sets
    /// it: see [`crate::control`]).
    pub(crate) control: Option<control::Handler>,
}

/// What `init` created.
pub struct Created {
    pub config: Config,
    pub public_key: String,
}

impl Node {
    /// Creates a node folder (config pinning `root_key`, key, reports); refuses an existing node.
    pub fn init(
        dir: &Path,
        region: &str,
        hub: &str,
        name: Option<&str>,
        root_key: &str,
    ) -> Result<Created, NodeError> {
        Node::create(dir, Config::new(region, hub, name, root_key)?)
    }

    /// Creates a node folder with a configuration built by the caller (e.g. with the root and
    /// log keys pinned).
    pub fn create(dir: &Path, config: Config) -> Result<Created, NodeError> {
        let key = Folder::new(dir).create(&config)?;
        Ok(Created {
            public_key: public_key_text(&key.verifying_key()),
            config,
        })
    }

    /// Gives the node a new signing key (the old one moves to `keys-retired/`) and puts into the
    /// outbox, in this order, the key record adding the new key (signed by the old one) and the
    /// one revoking the old key (signed by the new one). Outbox entries signed by the old key
    /// that precede them are published before the revocation; anything the hub refuses later as
    /// signed by the old key is signed again at publish. Refused while another process uses the
    /// folder. Returns the old and the new public key.
    pub fn rotate_key(dir: &Path) -> Result<(String, String), NodeError> {
        // Opening takes the store's lock: no running node keeps signing with the old key.
        let node = Node::open(dir)?;
        let (old, fresh) = Folder::new(dir).rotate_key()?;
        let (old_text, new_text) = (
            public_key_text(&old.verifying_key()),
            public_key_text(&fresh.verifying_key()),
        );
        let now = now_rfc3339();
        let (region, name) = (node.region(), Some(node.config.name.as_str()));
        let add = key_record(region, &new_text, KeyStatus::Active, name, &now);
        let revoke = key_record(region, &old_text, KeyStatus::Revoked, None, &now);
        node.queue(&[sign(add, &old), sign(revoke, &fresh)])?;
        Ok((old_text, new_text))
    }

    /// Opens a node folder. One process per folder: a second one gets a clear error.
    pub fn open(dir: &Path) -> Result<Node, NodeError> {
        let folder = Folder::new(dir);
        let (config, key) = folder.load()?;
        let store = Backend::for_folder(config.backend()?, &folder.store())
            .open(&folder.store(), config.cache_capacity_mb << 20)
            .map_err(|e| in_use_or(e, dir))?;
        Ok(Node::assemble(config, key, store, Some(folder)))
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
            control: None,
        }
    }

    /// The same node talking to another hub for the life of this value; `config.toml` is left as
    /// it is (the demo restarts its hub on a new address without rewriting its nodes' files).
    pub fn with_hub(mut self, hub: &str) -> Result<Node, NodeError> {
        let config = Config::new(
            &self.config.region,
            hub,
            Some(&self.config.name),
            &self.config.root_key,
        )?;
        self.config = Arc::new(Config {
            hub: config.hub,
            ..Config::clone(&self.config)
        });
        Ok(self)
    }

    /// The same node answering other processes' commands with `handler` while it runs or
    /// serves (over `DIR/control.sock`; see [`crate::control`]).
    pub fn accepting_commands(mut self, handler: control::Handler) -> Node {
        self.control = Some(handler);
        self
    }

    /// Serves the control socket until stopped, when the node has a folder and a handler.
    pub(crate) async fn control_loop(
        &self,
        stopped: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        match (&self.control, &self.folder) {
            (Some(handler), Some(folder)) => {
                control::listen(self.clone(), handler.clone(), folder.root.clone(), stopped).await
            }
            _ => Ok(()),
        }
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

/// Another process holds the folder's store: say what that means for the operator.
fn in_use_or(error: StorageError, dir: &Path) -> NodeError {
    match error {
        StorageError::Locked { .. } => NodeError::InUse(format!(
            "the node folder {} is in use by another yiqi-node process: stop `yiqi-node run` \
             (or `serve`) for this command; import, delete, show, export, rejected and \
             republish run through it",
            dir.display()
        )),
        other => NodeError::Storage(other),
    }
}

/// The HTTP client every hub call uses; per-request timeouts are set by each caller.
pub(crate) fn http_client() -> reqwest::Client {
    // reqwest is built without a default crypto provider; a second install is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("yiqi-node/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

pub use yiqi_schema::protocol::time::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;
    use yiqi_schema::check_envelope_with;
    use yiqi_schema::protocol::keys::{KeyBook, KeyRecord, LogPosition};

    #[test]
    fn rotate_key_queues_the_add_signed_by_the_old_key_then_the_revoke_signed_by_the_new() {
        let dir = tempfile::tempdir().unwrap();
        let root = public_key_text(&yiqi_schema::keys::generate().verifying_key());
        let created = Node::init(dir.path(), "CN-GS", "http://127.0.0.1:9", None, &root).unwrap();
        let (old, new) = Node::rotate_key(dir.path()).unwrap();
        assert_eq!(old, created.public_key);
        let node = Node::open(dir.path()).unwrap();
        assert_eq!(node.public_key(), new);
        let outbox = node.db.scan_prefix(db::OUTBOX, None, 10).unwrap();
        assert_eq!(outbox.len(), 2);
        // Applied in outbox order to a book where only the old key is active, each is valid.
        let mut book = KeyBook::new(&root);
        let first = KeyRecord {
            region: "CN-GS".into(),
            key: old.clone(),
            status: KeyStatus::Active,
            name: None,
        };
        book.apply(
            &first,
            &LogPosition {
                seq: 1,
                received_at: String::new(),
            },
        );
        let mut signers = Vec::new();
        for (seq, (_, bytes)) in (2..).zip(&outbox) {
            let verified = check_envelope_with(bytes, |r, k| book.may_sign(r, k)).unwrap();
            signers.push(verified.envelope.signature.key.clone());
            let record = KeyRecord::read(&verified.envelope.record).unwrap();
            book.apply(
                &record,
                &LogPosition {
                    seq,
                    received_at: String::new(),
                },
            );
        }
        assert_eq!(signers, [old.clone(), new.clone()]);
        assert!(book.is_active("CN-GS", &new) && !book.is_active("CN-GS", &old));
        assert_eq!(node.db.counter(db::N_OUTBOX).unwrap(), 2);
    }
}
