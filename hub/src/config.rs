//! Settings: command-line flags, then `YIQI_*` environment variables (clap reads both), then the
//! TOML file given with `--config`, then defaults.

use crate::api::Limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use yiqi_search::oai::OaiSettings;

/// What a `--config` TOML file may set (all optional; unknown keys are an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_batch_records: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub cache_capacity_mb: Option<u64>,
    pub storage_backend: Option<String>,
    pub log_origin: Option<String>,
    pub root_key: Option<String>,
    pub oai_repository_id: Option<String>,
    pub oai_admin_email: Option<String>,
}

/// Values given on the command line or in the environment (they win over the file).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// The federation's root public key (base64url): key records must chain to it. Required.
    #[arg(long = "root", env = "YIQI_ROOT_KEY", allow_hyphen_values = true)]
    pub root_key: Option<String>,
    /// Data folder (sled store, search index).
    #[arg(long, env = "YIQI_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "YIQI_LISTEN")]
    pub listen: Option<String>,
    /// A TOML file with any of these settings.
    #[arg(long, env = "YIQI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Largest request body, in bytes (default 16 MiB).
    #[arg(long, env = "YIQI_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most records in one batch (default 1000).
    #[arg(long, env = "YIQI_MAX_BATCH_RECORDS")]
    pub max_batch_records: Option<usize>,
    /// Longest a request may take, in seconds (default 60).
    #[arg(long, env = "YIQI_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Most connections open at once (default 8192, lowered to fit the open-file limit);
    /// beyond it a new connection is answered 503 `overloaded` and closed.
    #[arg(long, env = "YIQI_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's head, counted from connecting or from
    /// the previous answer (so also the idle keep-alive timeout; default 10).
    #[arg(long, env = "YIQI_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// The store's page cache, in MiB (default 256; sled or redb).
    #[arg(long, env = "YIQI_CACHE_CAPACITY_MB")]
    pub cache_capacity_mb: Option<u64>,
    /// The embedded store: `redb` or `sled`. Unset, the hub keeps the one its data folder holds
    /// and creates a new folder with the default (see docs/operations.md). Fixed for the life
    /// of a data folder (the hub refuses a folder that holds the other one).
    #[arg(long, env = "YIQI_STORAGE_BACKEND")]
    pub storage_backend: Option<String>,
    /// The transparency log's origin, also its key's name (default `yiqi-hub/log`; set it to
    /// e.g. `hub.example.org/yiqi-log`). Fixed for the life of the log.
    #[arg(long, env = "YIQI_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// Start a new log origin (`<log_origin>/<UTC time>`) over the stored log, after the hub
    /// refused a data folder whose log no longer matches what it signed. Every node must then
    /// be re-pinned to the new log key. A one-time action: flag only, never from the
    /// environment or the file.
    #[arg(long)]
    pub new_log_origin: bool,
    /// The OAI-PMH repository identifier, the `{repository}` in item identifiers
    /// `oai:{repository}:{region}/{local_id}` (default `yiqi`; e.g. `hub.example.org`). Keep it
    /// fixed: harvesters key their copies by identifier.
    #[arg(long, env = "YIQI_OAI_REPOSITORY_ID")]
    pub oai_repository_id: Option<String>,
    /// The address OAI-PMH `Identify` gives harvesters to write to.
    #[arg(long, env = "YIQI_OAI_ADMIN_EMAIL")]
    pub oai_admin_email: Option<String>,
}

/// The resolved settings the hub runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// The root public key, base64url (a checked Ed25519 point).
    pub root_key: String,
    pub limits: Limits,
    pub cache_capacity_bytes: u64,
    /// The configured backend; `None` keeps the folder's own (see [`yiqi_store::Backend::for_folder`]).
    pub storage_backend: Option<yiqi_store::Backend>,
    pub log_origin: String,
    pub new_log_origin: bool,
    pub oai: OaiSettings,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Limits::default();
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:7800".into());
        Ok(Settings {
            data: args
                .data
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from("./yiqi-hub-data")),
            listen: listen
                .parse()
                .map_err(|e| format!("listen address {listen:?}: {e}"))?,
            root_key: root_key(args.root_key.or(file.root_key))?,
            limits: Limits {
                max_body_bytes: args
                    .max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(defaults.max_body_bytes),
                max_batch_records: args
                    .max_batch_records
                    .or(file.max_batch_records)
                    .unwrap_or(defaults.max_batch_records),
                request_timeout: args
                    .request_timeout_secs
                    .or(file.request_timeout_secs)
                    .map_or(defaults.request_timeout, Duration::from_secs),
                max_connections: args
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(defaults.max_connections),
                header_read_timeout: args
                    .header_read_timeout_secs
                    .or(file.header_read_timeout_secs)
                    .map_or(defaults.header_read_timeout, Duration::from_secs),
            },
            cache_capacity_bytes: args
                .cache_capacity_mb
                .or(file.cache_capacity_mb)
                .unwrap_or(256)
                << 20,
            storage_backend: args
                .storage_backend
                .or(file.storage_backend)
                .map(|name| name.parse())
                .transpose()?,
            log_origin: args
                .log_origin
                .or(file.log_origin)
                .unwrap_or_else(|| crate::log::DEFAULT_LOG_ORIGIN.into()),
            new_log_origin: args.new_log_origin,
            oai: OaiSettings::configured(
                args.oai_repository_id.or(file.oai_repository_id),
                args.oai_admin_email.or(file.oai_admin_email),
            )?,
        })
    }
}

/// The root key the hub needs, checked; without one the hub cannot admit any region key.
fn root_key(given: Option<String>) -> Result<String, String> {
    let key = given.filter(|k| !k.trim().is_empty()).ok_or_else(|| {
        "no root key: pass --root KEY (or YIQI_ROOT_KEY, or root_key in the config file). The \
         root is the federation's key that signs each region's first key record; make it off \
         this machine with `yiqi-node keygen --out root.pem`, which prints its public key \
         (docs/operations.md, \"The root key\")"
            .to_owned()
    })?;
    let key = key.trim();
    yiqi_schema::keys::parse_public_key(key).map_err(|e| format!("root key {key:?}: {e}"))?;
    Ok(key.to_owned())
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One base64url key in 64 starts with `-`; it is a value, not a flag.
    #[test]
    fn a_root_key_that_starts_with_a_hyphen_is_a_value() {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        let key = "-W".to_owned() + &"A".repeat(41);
        let serve = <Serve as clap::Parser>::try_parse_from(["serve", "--root", &key]).unwrap();
        assert_eq!(serve.args.root_key, Some(key));
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_batch_records = 10\nlog_origin = \"a.example/log\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            max_batch_records: Some(20),
            root_key: Some(root()),
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(args).unwrap();
        assert_eq!(settings.listen.port(), 9000);
        assert_eq!(settings.limits.max_batch_records, 20);
        assert_eq!(settings.limits.max_body_bytes, 16 << 20);
        assert_eq!(settings.log_origin, "a.example/log");
        assert_eq!(settings.oai, OaiSettings::default());
        std::fs::write(&path, "listne = \"x\"\n").unwrap();
        let typo = ServeArgs {
            config: Some(path),
            root_key: Some(root()),
            ..ServeArgs::default()
        };
        assert!(Settings::resolve(typo).unwrap_err().contains("listne"));
    }

    fn root() -> String {
        yiqi_schema::keys::public_key_text(&yiqi_schema::keys::generate().verifying_key())
    }

    #[test]
    fn a_hub_without_a_root_key_is_refused_with_how_to_make_one() {
        let missing = Settings::resolve(ServeArgs::default()).unwrap_err();
        assert!(
            missing.contains("--root") && missing.contains("yiqi-node keygen"),
            "{missing}"
        );
        let bad = ServeArgs {
            root_key: Some("not-a-key".into()),
            ..ServeArgs::default()
        };
        assert!(Settings::resolve(bad).unwrap_err().starts_with("root key"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        let key = root();
        std::fs::write(&path, format!("root_key = \"{key}\"\n")).unwrap();
        let from_file = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        assert_eq!(Settings::resolve(from_file).unwrap().root_key, key);
    }
}
