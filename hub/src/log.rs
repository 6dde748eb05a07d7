//! The transparency log, hub side: the log key and origin, the start-up check of the stored tree
//! against the log and the checkpoints already signed, the checkpoint signer, and witness
//! cosignatures.
//!
//! Every accepted version is leaf `seq − 1` of one RFC 6962 tree; the leaf data is the envelope
//! bytes exactly as the feed serves them. The writer ([`crate::ingest`]) stores each group's
//! tree hashes in the same atomic batch as its log entries ([`HubStore::commit`]); this module
//! signs checkpoints of the committed tree with the log key (`log-key.pem` in the data folder,
//! never the federation's root key) and keeps the latest one also as a file beside the store
//! (`log-checkpoint`), so that a store restored from an older copy is caught at start: nodes
//! that saw the newer checkpoint would detect the rollback, so the hub refuses to serve it.

use crate::registry::Registry;
use crate::store::{HubStore, envelope_bytes, tree_error};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use yiqi_schema::keys::{SecretKey, parse_public_key, read_secret_key, write_secret_key};
use yiqi_schema::protocol::keys::KeyStatus;
use yiqi_schema::protocol::log::witness_verifier;
use yiqi_schema::protocol::time::now_rfc3339;
use yiqi_store::StorageError;
use yiqi_tlog::{
    Checkpoint, CheckpointError, HashBatch, LogSigner, LogVerifier, WitnessVerifier,
    attach_signatures, leaf_hash, open_checkpoint, split_note, tree_hash, verify_cosignature,
};

/// The log origin (and log key name) when the configuration names none. Operators set
/// `log_origin` to their hub's host name, e.g. `hub.example.org/yiqi-log`.
pub const DEFAULT_LOG_ORIGIN: &str = "yiqi-hub/log";
/// The log key's file in the data folder.
pub const LOG_KEY_FILE: &str = "log-key.pem";
/// The latest signed checkpoint, kept beside the store.
pub const CHECKPOINT_FILE: &str = "log-checkpoint";
/// Checkpoints are signed at most this often, and promptly after a commit.
const MIN_SIGNING_INTERVAL: Duration = Duration::from_millis(200);
/// Log entries hashed per batch when the start-up check or the scrub reads the log.
const CHECK_CHUNK: usize = 4_096;
/// The scrub logs its progress every this many log entries.
const SCRUB_PROGRESS_EVERY: u64 = 1_000_000;

/// How the hub's log is set up.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The log key (see [`load_or_create_key`]).
    pub key: SecretKey,
    /// The configured origin (`log_origin`).
    pub origin: String,
    /// Where the latest signed checkpoint is kept as a file.
    pub checkpoint_file: PathBuf,
    /// `--new-log-origin`: start a new log origin instead of continuing the stored one.
    pub new_origin: bool,
}

/// A checkpoint the hub signed: its tree size and the note with the log's signature.
#[derive(Debug, Clone)]
struct Signed {
    size: u64,
    note: String,
}

/// The hub's transparency log.
pub struct Log {
    store: HubStore,
    registry: Arc<Registry>,
    signer: LogSigner,
    checkpoint_file: PathBuf,
    latest: RwLock<Signed>,
    /// The leaves that had stored hashes at start: the scrub checks their log entries.
    hashed_at_start: u64,
}

/// Why a cosignature was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CosignatureError {
    #[error("the hub never signed a checkpoint of size {0}")]
    NoCheckpoint(u64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Reads the log key from `data/log-key.pem`, creating it (mode 0600) on first use.
pub fn load_or_create_key(data: &Path) -> Result<SecretKey, String> {
    let path = data.join(LOG_KEY_FILE);
    if path.exists() {
        return read_secret_key(&path).map_err(|e| e.to_string());
    }
    let key = yiqi_schema::keys::generate();
    write_secret_key(&path, &key).map_err(|e| e.to_string())?;
    eprintln!("generated the log key; it is in {}", path.display());
    Ok(key)
}

/// The origin of the log kept in `data`: the one its latest checkpoint file names, else
/// `configured` (a hub that has not started yet will use it).
pub fn origin_in_use(data: &Path, configured: &str) -> Result<String, String> {
    match read_checkpoint_file(&data.join(CHECKPOINT_FILE))? {
        Some(note) => note
            .lines()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: empty checkpoint file", data.display())),
        None => Ok(configured.to_owned()),
    }
}

/// The verifier key of `key` as the log named `origin`: `origin+keyid+base64`.
pub fn verifier_key(origin: &str, key: SecretKey) -> Result<String, String> {
    let signer = LogSigner::new(origin, key).map_err(|e| format!("log_origin: {e}"))?;
    Ok(signer.verifier_key())
}

impl Log {
    /// Opens the log over `store`: settles the origin, hashes the log entries the stored tree
    /// lacks (all of them for a log written before the tree existed), checks the stored tree
    /// against the last checkpoints signed (a few hash reads, whatever the log's size), and
    /// signs the current tree if it has not been signed. Refuses, naming the problem, when the
    /// store no longer matches what was signed. The log entries already hashed are checked
    /// against the stored tree afterwards, in the background ([`Log::spawn_scrub`]).
    pub fn open(
        store: HubStore,
        registry: Arc<Registry>,
        settings: LogSettings,
    ) -> Result<Log, String> {
        // The configured origin must be a valid key name before anything is stored under it.
        LogSigner::new(&settings.origin, settings.key.clone())
            .map_err(|e| format!("log_origin: {e}"))?;
        let origin = settle_origin(&store, &settings)?;
        let signer =
            LogSigner::new(&origin, settings.key).map_err(|e| format!("log_origin: {e}"))?;
        let mut log = Log {
            store,
            registry,
            signer,
            checkpoint_file: settings.checkpoint_file,
            latest: RwLock::new(Signed {
                size: 0,
                note: String::new(),
            }),
            hashed_at_start: 0,
        };
        let (hashed, size) = hash_tail(&log.store).map_err(|problem| log.refusal(&problem))?;
        log.hashed_at_start = hashed;
        let latest = log
            .check_checkpoints(size)
            .map_err(|problem| log.refusal(&problem))?;
        match latest {
            Some(signed) if signed.size == size => *log.latest.write().expect("lock") = signed,
            _ => log.sign(size).map_err(|e| e.to_string())?,
        }
        Ok(log)
    }

    /// The log's verifier key, `origin+keyid+base64`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The size of the latest signed checkpoint.
    pub fn signed_size(&self) -> u64 {
        self.latest.read().expect("lock").size
    }

    /// The checkpoint signed at `size` (the latest when `None`) with every cosignature held
    /// for it; `None` if the hub never signed that size.
    pub fn checkpoint(&self, size: Option<u64>) -> Result<Option<String>, StorageError> {
        let signed = match size {
            None => Some(self.latest.read().expect("lock").clone()),
            Some(size) => self
                .store
                .checkpoint(size)?
                .map(|note| Signed { size, note }),
        };
        let Some(signed) = signed else {
            return Ok(None);
        };
        let lines: Vec<String> = self
            .store
            .cosignatures(signed.size)?
            .into_iter()
            .map(|(_, line)| line)
            .collect();
        attach_signatures(&signed.note, &lines)
            .map(Some)
            .map_err(|e| {
                StorageError::Corrupt(format!("stored cosignatures of size {}: {e}", signed.size))
            })
    }

    /// Signs the tree of `size` leaves (all committed), stores the note, then replaces the
    /// checkpoint file.
    pub fn sign(&self, size: u64) -> Result<(), StorageError> {
        let root = tree_hash(size, &self.store).map_err(tree_error)?;
        let checkpoint = Checkpoint::new(self.origin(), size, root)
            .and_then(|checkpoint| self.signer.sign(&checkpoint))
            .map_err(|e| {
                StorageError::Other(format!("signing the checkpoint of size {size}: {e}"))
            })?;
        self.store.put_checkpoint(size, &checkpoint)?;
        write_file_atomically(&self.checkpoint_file, &checkpoint)?;
        *self.latest.write().expect("lock") = Signed {
            size,
            note: checkpoint,
        };
        Ok(())
    }

    /// Checks a witness's cosignature line on the checkpoint signed at `size` against the
    /// witness keys of every active region key, keeps it, and returns the number of distinct
    /// witnesses held for that size.
    pub fn add_cosignature(&self, size: u64, line: &str) -> Result<usize, CosignatureError> {
        let note = self
            .store
            .checkpoint(size)?
            .ok_or(CosignatureError::NoCheckpoint(size))?;
        let (body, _) = split_note(&note)
            .map_err(|e| StorageError::Corrupt(format!("stored checkpoint of size {size}: {e}")))?;
        let witness = self.cosigner(line, body)?;
        self.store
            .put_cosignature(size, witness.name(), witness.key_id(), line)?;
        let mut names: Vec<String> = self
            .store
            .cosignatures(size)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        names.dedup();
        Ok(names.len())
    }

    /// The active region key whose witness signed `line` over `body`.
    fn cosigner(&self, line: &str, body: &str) -> Result<WitnessVerifier, CosignatureError> {
        let mut problem = None;
        for witness in self.active_witnesses() {
            match verify_cosignature(line, body, &witness) {
                Ok(_) => return Ok(witness),
                Err(CheckpointError::WrongSigner { found, .. }) => {
                    problem.get_or_insert(format!(
                        "{found} is not the witness (yiqi-witness/<region>) of an active region key"
                    ));
                }
                Err(e) => problem = Some(e.to_string()),
            }
        }
        Err(CosignatureError::Invalid(problem.unwrap_or_else(|| {
            "no region has an active key, so there is no witness".into()
        })))
    }

    /// Every active region key as its region's witness.
    fn active_witnesses(&self) -> Vec<WitnessVerifier> {
        let mut witnesses = Vec::new();
        for region in self.registry.list() {
            for key in &region.keys {
                if key.status != KeyStatus::Active {
                    continue;
                }
                let witness = parse_public_key(&key.public_key)
                    .ok()
                    .and_then(|key| witness_verifier(&region.region, key).ok());
                witnesses.extend(witness);
            }
        }
        witnesses
    }

    /// Signs whenever the committed tree has grown, at most every [`MIN_SIGNING_INTERVAL`]:
    /// promptly after a commit, and at least once a second while the tree grows. Stops when
    /// the writer does. Needs a tokio runtime.
    pub fn spawn_signer(log: Arc<Log>, mut tree_size: watch::Receiver<u64>) {
        tokio::spawn(async move {
            loop {
                let size = *tree_size.borrow_and_update();
                if size != log.signed_size() {
                    let signing = log.clone();
                    match tokio::task::spawn_blocking(move || signing.sign(size)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!(size, error = %e, "signing a checkpoint failed");
                        }
                        Err(e) => tracing::error!(size, error = %e, "the signing task failed"),
                    }
                    // Also retries a failure; growth meanwhile is signed next time round.
                    tokio::time::sleep(MIN_SIGNING_INTERVAL).await;
                    continue;
                }
                if tree_size.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Re-reads the log entries hashed before this start on a low-priority thread and checks
    /// them against the stored tree, logging progress and a one-line summary. When one was
    /// altered, logs the refusal and hands it to `altered`: a hub must not keep serving a log
    /// it knows to be altered.
    pub fn spawn_scrub(
        log: Arc<Log>,
        altered: impl FnOnce(String) + Send + 'static,
    ) -> Result<(), String> {
        let size = log.hashed_at_start;
        std::thread::Builder::new()
            .name("yiqi-log-scrub".into())
            .spawn(move || {
                yiqi_search::priority::lower_current_thread();
                let started = std::time::Instant::now();
                match scrub(&log.store, size) {
                    Ok(()) => tracing::info!(
                        entries = size,
                        seconds = started.elapsed().as_secs_f64(),
                        "log scrub done: every log entry matches the stored tree"
                    ),
                    Err(problem) => {
                        let refusal = log.refusal(&problem);
                        tracing::error!("log scrub: {refusal}");
                        altered(refusal);
                    }
                }
            })
            .map(drop)
            .map_err(|e| format!("starting the log scrub: {e}"))
    }

    /// Checks the latest checkpoint in the store and the one in the file against the stored
    /// tree of `size` leaves, and returns the latest.
    fn check_checkpoints(&self, size: u64) -> Result<Option<Signed>, String> {
        let stored = self.store.latest_checkpoint().map_err(|e| e.to_string())?;
        let file = read_checkpoint_file(&self.checkpoint_file)?;
        let stored = stored
            .map(|(_, note)| self.check_signed(&note, "the store's latest checkpoint", size))
            .transpose()?;
        let file_label = format!("the checkpoint file {}", self.checkpoint_file.display());
        let file = file
            .map(|note| self.check_signed(&note, &file_label, size))
            .transpose()?;
        match (stored, file) {
            (stored, Some(file)) if stored.as_ref().is_none_or(|s| s.size < file.size) => {
                Err(format!(
                    "{file_label} is of size {}, newer than any checkpoint in the store (latest: {}): \
                     the store is an older copy than the log this hub has published",
                    file.size,
                    stored.map_or_else(|| "none".to_owned(), |s| s.size.to_string()),
                ))
            }
            (stored, _) => Ok(stored),
        }
    }

    /// Opens a checkpoint the hub signed and checks it against the tree of `size` leaves.
    fn check_signed(&self, note: &str, source: &str, size: u64) -> Result<Signed, String> {
        let verifier = LogVerifier::from_vkey(&self.verifier_key()).map_err(|e| e.to_string())?;
        let (checkpoint, _) = open_checkpoint(note, &verifier)
            .map_err(|e| format!("{source} does not open with the log key {verifier}: {e}"))?;
        if checkpoint.size() > size {
            return Err(format!(
                "{source} is of size {}, but the log has only {size} entries: entries were \
                 removed, or the store is an older copy",
                checkpoint.size()
            ));
        }
        let root =
            tree_hash(checkpoint.size(), &self.store).map_err(|e| tree_error(e).to_string())?;
        if root != checkpoint.root() {
            return Err(format!(
                "the log's first {} entries hash to {root}, but {source} says {}: the log was \
                 altered after it was signed",
                checkpoint.size(),
                checkpoint.root()
            ));
        }
        Ok(Signed {
            size: checkpoint.size(),
            note: note.to_owned(),
        })
    }

    /// The message a refused start gives.
    fn refusal(&self, problem: &str) -> String {
        format!(
            "refusing to serve: the transparency log {} does not match what this hub signed: \
             {problem}. Nodes that verified the signed checkpoints would reject this log. \
             Put back the data folder that belongs with {}, or start a new log with \
             `yiqi-hub serve --new-log-origin` (every node must then be re-pinned to the new \
             log key; see docs/operations.md)",
            self.origin(),
            self.checkpoint_file.display()
        )
    }
}

/// The origin to run with: the stored one, the configured one on first start, or a new one
/// (`<log_origin>/<UTC time>`) with `--new-log-origin`, which also drops the stored tree,
/// checkpoints and cosignatures (the tree is rebuilt from the log) and the checkpoint file.
fn settle_origin(store: &HubStore, settings: &LogSettings) -> Result<String, String> {
    let configured = &settings.origin;
    if settings.new_origin {
        let origin = format!("{configured}/{}", compact_utc_now());
        store.start_new_log(&origin).map_err(|e| e.to_string())?;
        remove_if_present(&settings.checkpoint_file)?;
        tracing::warn!(%origin, "started a new log origin; nodes must be re-pinned to the new log key");
        return Ok(origin);
    }
    match store.log_origin().map_err(|e| e.to_string())? {
        None => {
            store
                .set_log_origin(configured)
                .map_err(|e| e.to_string())?;
            Ok(configured.clone())
        }
        Some(stored) if stored == *configured || stored.starts_with(&format!("{configured}/")) => {
            Ok(stored)
        }
        Some(stored) => Err(format!(
            "refusing to serve: the log's origin is {stored:?} but log_origin is {configured:?}; \
             a log's origin never changes. Set log_origin back, or start a new log with \
             `yiqi-hub serve --new-log-origin` (every node must then be re-pinned)"
        )),
    }
}

/// Now as `20261127T130000Z`, for new origins.
fn compact_utc_now() -> String {
    let now = now_rfc3339();
    let seconds = now.split('.').next().unwrap_or(&now);
    let mut stamp: String = seconds
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    stamp.push('Z');
    stamp
}

/// Brings the stored tree up to the log without reading what is already hashed: hashes the log
/// entries after the last leaf with stored hashes (a log written before the tree existed, or a
/// build interrupted), and returns the number of leaves hashed before and the tree size (the
/// number of log entries). The stored hashes themselves are checked against the signed
/// checkpoints ([`Log::open`]) and against the log entries by the background [`scrub`].
fn hash_tail(store: &HubStore) -> Result<(u64, u64), String> {
    let size = store.last_seq().map_err(|e| e.to_string())?;
    let count = store
        .last_tree_index()
        .map_err(|e| e.to_string())?
        .map_or(0, |last| last + 1);
    let hashed = yiqi_tlog::stored_tree_size(count).ok_or_else(|| {
        format!(
            "the stored tree ends part-way through a leaf's hashes (at index {count}): the \
             store is damaged"
        )
    })?;
    if hashed > size {
        return Err(format!(
            "the stored tree has hashes for more leaves than the log's {size} entries: log \
             entries were removed"
        ));
    }
    let checked = check_entries(store, hashed, size, |_| {})?;
    if checked != size {
        return Err(gap(checked, size));
    }
    Ok((hashed, size))
}

/// Re-reads the first `size` log entries and checks each against the stored tree (leaf hashes
/// recomputed from the envelope bytes), reporting progress every [`SCRUB_PROGRESS_EVERY`]
/// entries. Returns the problem when an entry was altered, removed, or added in a gap.
pub fn scrub(store: &HubStore, size: u64) -> Result<(), String> {
    let mut next_report = SCRUB_PROGRESS_EVERY;
    let checked = check_entries(store, 0, size, |done| {
        if done >= next_report {
            tracing::info!(done, of = size, "log scrub in progress");
            next_report = done + SCRUB_PROGRESS_EVERY;
        }
    })?;
    if checked != size {
        return Err(gap(checked, size));
    }
    Ok(())
}

fn gap(checked: u64, size: u64) -> String {
    format!(
        "log entries {}..={size} are missing: log entries were removed",
        checked + 1
    )
}

/// Hashes log entries `from + 1..=until` (leaves `from..until`) and compares their stored tree
/// hashes with the recomputed ones, writing those that are missing. Returns the number of
/// leaves checked (less than `until` when the log ends early); `progress` gets it after each
/// chunk.
fn check_entries(
    store: &HubStore,
    from: u64,
    until: u64,
    mut progress: impl FnMut(u64),
) -> Result<u64, String> {
    let mut size = from;
    while size < until {
        let mut entries = store
            .log_after(size, CHECK_CHUNK)
            .map_err(|e| e.to_string())?;
        entries.retain(|entry| entry.seq <= until);
        if entries.is_empty() {
            break;
        }
        let mut tree = HashBatch::new(store, size).map_err(|e| tree_error(e).to_string())?;
        for entry in &entries {
            if entry.seq != tree.size() + 1 {
                return Err(format!(
                    "log entry {} is missing (the next entry is {}): the log has a gap",
                    tree.size() + 1,
                    entry.seq
                ));
            }
            let data = envelope_bytes(&entry.json)
                .ok_or_else(|| format!("log entry {} has no envelope", entry.seq))?;
            tree.append(leaf_hash(data))
                .map_err(|e| tree_error(e).to_string())?;
        }
        compare_or_store(store, &tree, size)?;
        size = tree.size();
        progress(size);
    }
    Ok(size)
}

/// Compares the hashes `tree` (built on the stored tree of `from` leaves) computed with the
/// stored ones, or stores them when none are.
fn compare_or_store(
    store: &HubStore,
    tree: &HashBatch<'_, HubStore>,
    from: u64,
) -> Result<(), String> {
    let expected: Vec<_> = tree.hashes().collect();
    let Some(&(first, _)) = expected.first() else {
        return Ok(());
    };
    let end = first + expected.len() as u64;
    let stored = store.tree_hashes(first, end).map_err(|e| e.to_string())?;
    if stored.is_empty() {
        return store.put_tree_hashes(&expected).map_err(|e| e.to_string());
    }
    if stored != expected {
        let index = expected
            .iter()
            .zip(&stored)
            .find(|(want, got)| want != got)
            .map_or(first + stored.len() as u64, |(want, _)| want.0);
        return Err(format!(
            "the stored tree hash {index} does not match log entries {}..={}: the log was \
             altered after it was hashed",
            from + 1,
            tree.size()
        ));
    }
    Ok(())
}

fn read_checkpoint_file(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(note) => Ok(Some(note)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("{}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Replaces `path` with `text` so that a crash leaves the old or the new file, never a mix.
fn write_file_atomically(path: &Path, text: &str) -> Result<(), StorageError> {
    let temporary = path.with_extension("tmp");
    let io = |e: std::io::Error| StorageError::Io {
        what: path.display().to_string(),
        source: std::sync::Arc::new(e),
    };
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewVersion, feed_entry_json, test_version, tree_key};
    use yiqi_store::{KvStore, MemoryStore, WriteBatch};
    use yiqi_tlog::{Frontier, Hash};

    fn store() -> (HubStore, Arc<MemoryStore>) {
        let kv = Arc::new(MemoryStore::new());
        (HubStore::new(kv.clone()), kv)
    }

    /// A stand-in envelope for leaf `seq − 1`: the tree treats leaves as opaque bytes.
    fn envelope(seq: u64) -> Vec<u8> {
        format!(r#"{{"record":{{"n":{seq}}},"signature":{{"alg":"Ed25519"}}}}"#).into_bytes()
    }

    fn version(seq: u64) -> NewVersion {
        test_version(format!("CN-GS/R{seq}"), seq, &envelope(seq))
    }

    /// Commits groups of the given sizes, as the writer does, and returns the log size.
    fn commit_groups(store: &HubStore, sizes: &[u64]) -> u64 {
        let mut seq = store.last_seq().unwrap();
        for &size in sizes {
            let group: Vec<NewVersion> = (seq + 1..=seq + size).map(version).collect();
            store.commit(&group, &[]).unwrap();
            seq += size;
        }
        seq
    }

    /// Every stored tree hash, and what a fresh computation from the leaves gives.
    /// `(stored-hash index, hash)` pairs.
    type Hashes = Vec<(u64, Hash)>;

    fn stored_and_recomputed(store: &HubStore, size: u64) -> (Hashes, Hashes) {
        let (empty, _) = self::store();
        let mut fresh = HashBatch::new(&empty, 0).unwrap();
        for seq in 1..=size {
            fresh.append(leaf_hash(&envelope(seq))).unwrap();
        }
        let stored = store.tree_hashes(0, u64::MAX).unwrap();
        (stored, fresh.hashes().collect())
    }

    #[test]
    fn the_stored_tree_is_the_tree_of_the_log_after_group_commits() {
        let (store, _) = store();
        let mut frontier = Frontier::new();
        let mut size = 0;
        for groups in [&[1, 2, 5][..], &[1, 300], &[7, 256, 1]] {
            size = commit_groups(&store, groups);
            let (stored, recomputed) = stored_and_recomputed(&store, size);
            assert_eq!(stored, recomputed);
            assert_eq!(hash_tail(&store), Ok((size, size)));
            assert_eq!(scrub(&store, size), Ok(()));
            while frontier.size() < size {
                frontier
                    .append(leaf_hash(&envelope(frontier.size() + 1)))
                    .unwrap();
            }
            assert_eq!(tree_hash(size, &store).unwrap(), frontier.root());
        }
        assert_eq!(size, 573);
    }

    #[test]
    fn a_log_without_a_tree_gets_one_and_the_scrub_names_an_altered_entry() {
        let (store, kv) = store();
        let size = commit_groups(&store, &[10, 5000]);
        let mut batch = WriteBatch::default();
        for (index, _) in store.tree_hashes(0, u64::MAX).unwrap() {
            batch.delete(tree_key(index));
        }
        kv.apply(batch).unwrap();
        assert_eq!(
            hash_tail(&store),
            Ok((0, size)),
            "an older data folder is hashed"
        );
        let (stored, recomputed) = stored_and_recomputed(&store, size);
        assert_eq!(stored, recomputed);

        let mut batch = WriteBatch::default();
        let other = feed_entry_json(7, "2026-01-01T00:00:00.000Z", &envelope(70));
        batch.put(
            crate::store::log_key(7),
            [&[5u8][..], b"CN-GS", &other].concat(),
        );
        kv.apply(batch).unwrap();
        assert_eq!(
            hash_tail(&store),
            Ok((size, size)),
            "the start does not read hashed entries"
        );
        let problem = scrub(&store, size).unwrap_err();
        assert!(problem.contains("log entries 1..=4096"), "{problem}");
        assert!(problem.contains("altered after it was hashed"), "{problem}");

        let mut batch = WriteBatch::default();
        batch.delete(crate::store::log_key(7));
        kv.apply(batch).unwrap();
        let problem = scrub(&store, size).unwrap_err();
        assert!(problem.contains("log entry 7 is missing"), "{problem}");

        let (store, kv) = self::store();
        let size = commit_groups(&store, &[3]);
        let mut batch = WriteBatch::default();
        batch.delete(crate::store::log_key(size));
        kv.apply(batch).unwrap();
        let problem = hash_tail(&store).unwrap_err();
        assert!(problem.contains("entries were removed"), "{problem}");
    }

    #[test]
    fn a_start_hashes_only_the_tail_and_checks_the_stored_tree_against_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let key = yiqi_schema::keys::generate();
        let (store, kv) = store();
        let size = commit_groups(&store, &[5, 5]);
        open(&store, settings(dir.path(), &key, false)).unwrap();

        // The last group's hashes are lost (as in a store written before the tree existed):
        // the start hashes those entries only.
        let first_of_tail =
            yiqi_tlog::stored_hashes(5, leaf_hash(&envelope(6)), &store).unwrap()[0].0;
        let mut batch = WriteBatch::default();
        for (index, _) in store.tree_hashes(first_of_tail, u64::MAX).unwrap() {
            batch.delete(tree_key(index));
        }
        kv.apply(batch).unwrap();
        let log = open(&store, settings(dir.path(), &key, false)).unwrap();
        assert_eq!((log.hashed_at_start, log.signed_size()), (5, size));
        let (stored, recomputed) = stored_and_recomputed(&store, size);
        assert_eq!(stored, recomputed);

        // A leaf hash under the signed checkpoint changed: the start reads only the hashes the
        // root is made of, so the scrub finds it.
        let mut batch = WriteBatch::default();
        batch.put(tree_key(0), vec![7u8; 32]);
        kv.apply(batch).unwrap();
        let problem = scrub(&store, size).unwrap_err();
        assert!(
            problem.contains("stored tree hash 0 does not match"),
            "{problem}"
        );

        // The root of leaves 0..8 (the last hash leaf 7 stores) changed: the checkpoint's root
        // no longer matches at start.
        let root_of_eight =
            yiqi_tlog::stored_hashes(8, leaf_hash(&envelope(9)), &store).unwrap()[0].0 - 1;
        let mut batch = WriteBatch::default();
        batch.put(tree_key(root_of_eight), vec![7u8; 32]);
        kv.apply(batch).unwrap();
        let refusal = open(&store, settings(dir.path(), &key, false))
            .err()
            .unwrap();
        assert!(refusal.starts_with("refusing to serve"), "{refusal}");
        assert!(refusal.contains("altered after it was signed"), "{refusal}");
    }

    /// docs/protocol.md §9.6 quotes tlog/WORKED-EXAMPLE.md; the values are recomputed here
    /// with the hub's own code (stored tree, proofs, wire types, signer) and must appear in the
    /// doc exactly, each also in the file.
    #[test]
    fn the_protocol_worked_example_is_the_codes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let protocol = std::fs::read_to_string(root.join("docs/protocol.md")).unwrap();
        let file = std::fs::read_to_string(root.join("tlog/WORKED-EXAMPLE.md")).unwrap();
        let start = protocol.find("<!-- worked-example:start -->").unwrap();
        let end = protocol.find("<!-- worked-example:end -->").unwrap();
        let doc = &protocol[start..end];

        let (store, _) = store();
        let leaves = [b"leaf-0", b"leaf-1", b"leaf-2"].map(|leaf| leaf_hash(leaf));
        let mut tree = HashBatch::new(&store, 0).unwrap();
        for leaf in leaves {
            tree.append(leaf).unwrap();
        }
        let hashes: Vec<_> = tree.hashes().collect();
        store.put_tree_hashes(&hashes).unwrap();
        let secret =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap();
        let key = SecretKey::from_bytes(&secret.try_into().unwrap());
        let signer = LogSigner::new("example.org/yiqi-log", key).unwrap();
        let root3 = tree_hash(3, &store).unwrap();
        let note = signer
            .sign(&Checkpoint::new("example.org/yiqi-log", 3, root3).unwrap())
            .unwrap();
        let inclusion = yiqi_schema::protocol::log::InclusionProof {
            index: 1,
            size: 3,
            leaf_hash: leaves[1],
            hashes: yiqi_tlog::inclusion_proof(1, 3, &store).unwrap(),
        };
        let consistency = yiqi_schema::protocol::log::ConsistencyProof {
            from: 2,
            size: 3,
            hashes: yiqi_tlog::consistency_proof(2, 3, &store).unwrap(),
        };

        let mut quoted: Vec<String> = leaves
            .iter()
            .chain(&[tree_hash(2, &store).unwrap(), root3])
            .map(|hash| format!("`{hash}`"))
            .collect();
        quoted.push(format!("```\n{}\n```", signer.verifier_key()));
        quoted.push(format!("```\n{note}```"));
        for value in &quoted {
            assert!(
                doc.contains(value.as_str()),
                "docs/protocol.md lacks {value}"
            );
            let bare = value.trim_matches('`').trim_matches('\n');
            assert!(file.contains(bare), "tlog/WORKED-EXAMPLE.md lacks {bare}");
        }
        for json in [
            serde_json::to_string(&inclusion).unwrap(),
            serde_json::to_string(&consistency).unwrap(),
        ] {
            assert!(
                doc.contains(&format!("```json\n{json}\n```")),
                "docs/protocol.md lacks {json}"
            );
        }
    }

    fn settings(dir: &Path, key: &SecretKey, new_origin: bool) -> LogSettings {
        LogSettings {
            key: key.clone(),
            origin: "test.example/log".into(),
            checkpoint_file: dir.join(CHECKPOINT_FILE),
            new_origin,
        }
    }

    fn open(store: &HubStore, settings: LogSettings) -> Result<Log, String> {
        let root =
            yiqi_schema::keys::public_key_text(&yiqi_schema::keys::generate().verifying_key());
        let registry = Arc::new(Registry::load(store, &root).unwrap());
        Log::open(store.clone(), registry, settings)
    }

    #[test]
    fn a_store_behind_its_checkpoint_file_is_refused_until_a_new_origin() {
        let dir = tempfile::tempdir().unwrap();
        let key = yiqi_schema::keys::generate();
        let (newer, _) = store();
        commit_groups(&newer, &[3]);
        let log = open(&newer, settings(dir.path(), &key, false)).unwrap();
        assert_eq!(log.signed_size(), 3);
        assert_eq!(
            origin_in_use(dir.path(), "other/log").unwrap(),
            "test.example/log"
        );

        let (older, _) = store();
        commit_groups(&older, &[2]);
        let refusal = open(&older, settings(dir.path(), &key, false))
            .err()
            .unwrap();
        assert!(refusal.starts_with("refusing to serve"), "{refusal}");
        assert!(refusal.contains("only 2 entries"), "{refusal}");
        assert!(refusal.contains("--new-log-origin"), "{refusal}");

        let log = open(&older, settings(dir.path(), &key, true)).unwrap();
        assert!(
            log.origin().starts_with("test.example/log/"),
            "{}",
            log.origin()
        );
        assert_eq!(log.signed_size(), 2);
        let reopened = open(&older, settings(dir.path(), &key, false)).unwrap();
        assert_eq!(reopened.origin(), log.origin(), "the new origin is kept");

        let mut invalid = settings(dir.path(), &key, false);
        invalid.origin = "two words".into();
        let refusal = open(&older, invalid).err().unwrap();
        assert!(
            refusal.starts_with("log_origin: invalid key name"),
            "{refusal}"
        );
        let mut other = settings(dir.path(), &key, false);
        other.origin = "elsewhere.example/log".into();
        let refusal = open(&older, other).err().unwrap();
        assert!(refusal.contains("never changes"), "{refusal}");
    }
}
