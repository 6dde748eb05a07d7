//! The node folder: `config.toml`, `key.pem`, `store/` and `reports/`.
//!
//! `init` creates it once; every other command opens it. The secret key never leaves
//! `key.pem` (mode 0600, PKCS#8 PEM as `openssl genpkey -algorithm ed25519` writes it).

use crate::error::NodeError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use yiqi_schema::keys::{self, SecretKey};
use yiqi_schema::regions;

/// Default and largest number of records per `POST /v1/records` (the hub's batch limit).
pub const DEFAULT_BATCH_SIZE: usize = 500;
pub const MAX_BATCH_SIZE: usize = 1_000;
const DEFAULT_CACHE_MB: u64 = 64;

/// `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The region this node publishes for (ISO 3166-2:CN).
    pub region: String,
    /// The platform's name, as registered on the hub.
    pub name: String,
    /// The hub's base URL, without a trailing slash.
    pub hub: String,
    /// The federation's root public key (base64url): region keys are trusted only through key
    /// records that chain to it.
    pub root_key: String,
    /// Records per publish request (1 to 1000).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// The store's page cache in MiB (sled or redb).
    #[serde(default = "default_cache_mb")]
    pub cache_capacity_mb: u64,
    /// The hub's log verifier key (C2SP vkey `origin+keyid+base64`). Pinned at `init --log-key`;
    /// without it the first sync pins the key the hub serves, with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
    /// Cosignatures of other regions' witnesses a checkpoint needs to be final (default: more
    /// than half of the other regions with an active key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<usize>,
    /// `HOST:PORT` on which `run` also serves search, statistics, records and pages (none by
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The OAI-PMH repository identifier this node answers `/oai` with when it serves (default
    /// `yiqi`, the hub's default, so that an item has one identifier wherever it is harvested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oai_repository_id: Option<String>,
    /// The address OAI-PMH `Identify` gives harvesters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oai_admin_email: Option<String>,
    /// The embedded store under `store/`: `redb` or `sled`. Unset, the node keeps the one its
    /// folder holds and creates a new store with the default; a folder holding one is refused
    /// by the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_backend: Option<String>,
}

fn default_batch_size() -> usize {
    DEFAULT_BATCH_SIZE
}

fn default_cache_mb() -> u64 {
    DEFAULT_CACHE_MB
}

impl Config {
    /// A checked configuration for a new node.
    pub fn new(
        region: &str,
        hub: &str,
        name: Option<&str>,
        root_key: &str,
    ) -> Result<Config, NodeError> {
        let zh_name = regions::name_zh(region).ok_or_else(|| {
            NodeError::Usage(format!("{region:?} is not a region code (CN-BJ … CN-TW)"))
        })?;
        let config = Config {
            region: region.to_owned(),
            name: name.unwrap_or(zh_name).to_owned(),
            hub: hub.trim_end_matches('/').to_owned(),
            root_key: root_key.trim().to_owned(),
            batch_size: DEFAULT_BATCH_SIZE,
            cache_capacity_mb: DEFAULT_CACHE_MB,
            log_key: None,
            witness_quorum: None,
            listen: None,
            oai_repository_id: None,
            oai_admin_email: None,
            storage_backend: None,
        };
        config.check()?;
        Ok(config)
    }

    /// The configured storage backend, if any.
    pub fn backend(&self) -> Result<Option<yiqi_store::Backend>, NodeError> {
        self.storage_backend
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| NodeError::Usage(format!("storage_backend in config.toml: {e}")))
    }

    fn check(&self) -> Result<(), NodeError> {
        self.backend()?;
        if !regions::is_region(&self.region) {
            return Err(NodeError::Usage(format!(
                "region {:?} is not a region code",
                self.region
            )));
        }
        let url = reqwest::Url::parse(&self.hub)
            .map_err(|e| NodeError::Usage(format!("hub URL {:?}: {e}", self.hub)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NodeError::Usage(format!(
                "hub URL {:?} must be http or https",
                self.hub
            )));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(NodeError::Usage(format!(
                "batch_size {} must be between 1 and {MAX_BATCH_SIZE}",
                self.batch_size
            )));
        }
        keys::parse_public_key(&self.root_key)
            .map_err(|e| NodeError::Usage(format!("root_key {:?}: {e}", self.root_key)))?;
        if let Some(listen) = &self.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(NodeError::Usage(format!(
                "listen {listen:?} must be an IP address and port, e.g. \"127.0.0.1:8080\""
            )));
        }
        yiqi_search::oai::OaiSettings::configured(
            self.oai_repository_id.clone(),
            self.oai_admin_email.clone(),
        )
        .map_err(NodeError::Usage)?;
        if self.name.trim().is_empty() {
            return Err(NodeError::Usage("the platform name is empty".into()));
        }
        if let Some(vkey) = &self.log_key {
            yiqi_tlog::LogVerifier::from_vkey(vkey)
                .map_err(|e| NodeError::Usage(format!("log_key {vkey:?}: {e}")))?;
        }
        Ok(())
    }
}

/// The paths inside a node folder.
#[derive(Debug, Clone)]
pub struct Folder {
    pub root: PathBuf,
}

impl Folder {
    pub fn new(root: &Path) -> Folder {
        Folder {
            root: root.to_owned(),
        }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn key(&self) -> PathBuf {
        self.root.join("key.pem")
    }

    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// The search index a serving node keeps (derived from the store; rebuilt when missing).
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }

    /// What `run` last reported of the node's status, for `status` while `run` holds the store.
    pub fn status_snapshot(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// Where the evidence of a broken log promise is kept (`evidence/{time}-{kind}/`).
    pub fn evidence(&self) -> PathBuf {
        self.root.join("evidence")
    }

    /// Creates the folder, its config and its key; refuses a folder that already holds a node.
    pub fn create(&self, config: &Config) -> Result<SecretKey, NodeError> {
        config.check()?;
        if self.config().exists() || self.key().exists() || self.store().exists() {
            return Err(NodeError::Usage(format!(
                "{} already holds a node; refusing to overwrite it",
                self.root.display()
            )));
        }
        let io =
            |path: &Path, e: std::io::Error| NodeError::Usage(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(self.reports()).map_err(|e| io(&self.reports(), e))?;
        let key = keys::generate();
        keys::write_secret_key(&self.key(), &key).map_err(|e| NodeError::Usage(e.to_string()))?;
        let text = toml::to_string(config).map_err(|e| NodeError::Usage(e.to_string()))?;
        std::fs::write(self.config(), text).map_err(|e| io(&self.config(), e))?;
        Ok(key)
    }

    /// Where retired keys are kept (`keys-retired/{public key}.pem`), for audit and recovery.
    pub fn retired_keys(&self) -> PathBuf {
        self.root.join("keys-retired")
    }

    /// Replaces `key.pem` with a fresh key, moving the old one to [`Folder::retired_keys`].
    /// Returns (old, new). The new key is written and synced before anything is renamed, so an
    /// interruption leaves either the old key in place or the new one.
    pub fn rotate_key(&self) -> Result<(SecretKey, SecretKey), NodeError> {
        let usage = |e: String| NodeError::Usage(e);
        let old = keys::read_secret_key(&self.key()).map_err(|e| usage(e.to_string()))?;
        let fresh = keys::generate();
        let staged = self.root.join("key.pem.new");
        let _ = std::fs::remove_file(&staged);
        keys::write_secret_key(&staged, &fresh).map_err(|e| usage(e.to_string()))?;
        let retired_dir = self.retired_keys();
        std::fs::create_dir_all(&retired_dir)
            .map_err(|e| usage(format!("{}: {e}", retired_dir.display())))?;
        let retired = retired_dir.join(format!(
            "{}.pem",
            keys::public_key_text(&old.verifying_key())
        ));
        std::fs::rename(self.key(), &retired)
            .and_then(|()| std::fs::rename(&staged, self.key()))
            .map_err(|e| usage(format!("rotating {}: {e}", self.key().display())))?;
        Ok((old, fresh))
    }

    /// Reads `config.toml` and `key.pem`.
    pub fn load(&self) -> Result<(Config, SecretKey), NodeError> {
        let path = self.config();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            NodeError::Usage(format!(
                "{}: {e} (is {} a node folder? create one with `yiqi-node init`)",
                path.display(),
                self.root.display()
            ))
        })?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| NodeError::Usage(format!("{}: {e}", path.display())))?;
        config.check()?;
        let key =
            keys::read_secret_key(&self.key()).map_err(|e| NodeError::Usage(e.to_string()))?;
        Ok((config, key))
    }
}

/// The command the root key's holder runs to admit this node's key: it signs the region's key
/// record with the root and posts it to the hub.
pub fn first_key_command(config: &Config, public_key: &str) -> String {
    format!(
        "yiqi-node key-record --signer root.pem --region {} --add {public_key} --name '{}' --hub {}",
        config.region,
        config.name.replace('\'', "'\\''"),
        config.hub
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_and_refuse_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(&dir.path().join("node"));
        let config = Config::new("CN-GS", "http://127.0.0.1:7800/", None, &root()).unwrap();
        assert_eq!(
            (config.name.as_str(), config.hub.as_str()),
            ("甘肃省", "http://127.0.0.1:7800")
        );
        let key = folder.create(&config).unwrap();
        let (loaded, loaded_key) = folder.load().unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded_key.to_bytes(), key.to_bytes());
        assert!(matches!(folder.create(&config), Err(NodeError::Usage(_))));
        assert!(Config::new("CN-XX", "http://h", None, &root()).is_err());
        assert!(Config::new("CN-GS", "ftp://h", None, &root()).is_err());
        assert!(Config::new("CN-GS", "http://h", None, "not-a-key").is_err());
    }

    #[test]
    fn an_unknown_storage_backend_in_config_toml_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(&dir.path().join("node"));
        let config = Config::new("CN-GS", "http://127.0.0.1:7800/", None, &root()).unwrap();
        folder.create(&config).unwrap();
        let text = std::fs::read_to_string(folder.config()).unwrap();
        std::fs::write(
            folder.config(),
            format!("storage_backend = \"rocksdb\"\n{text}"),
        )
        .unwrap();
        let Err(NodeError::Usage(message)) = folder.load() else {
            panic!("a node folder naming an unknown backend loaded");
        };
        assert!(
            message.starts_with("storage_backend in config.toml:"),
            "{message}"
        );
        assert!(
            message.contains("redb"),
            "the refusal names the choices: {message}"
        );
    }

    fn root() -> String {
        keys::public_key_text(&keys::generate().verifying_key())
    }

    #[test]
    fn first_key_command_names_region_key_and_hub() {
        let config = Config::new("CN-GS", "http://hub", Some("O'Brien 平台"), &root()).unwrap();
        let command = first_key_command(&config, "KEY");
        assert_eq!(
            command,
            "yiqi-node key-record --signer root.pem --region CN-GS --add KEY \
             --name 'O'\\''Brien 平台' --hub http://hub"
        );
    }
}
