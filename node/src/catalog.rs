//! The node's own catalogue: importing a platform's file into versioned, signed records.
//!
//! An import is planned first (what is new, changed, unchanged, deleted) and then applied in
//! batches. Each batch writes its catalogue entries together with their signed outbox entries in
//! one atomic commit, so a crash leaves every record either fully imported (catalogue and outbox)
//! or untouched; running the same import again finds the done rows unchanged and completes the
//! rest.
//!
//! Whether a row changed is decided on the RFC 8785 bytes of its content without the node-owned
//! fields (`kind`, `region`, `version`, `updated_at`), so re-importing an unchanged file publishes
//! nothing.

use crate::config::Folder;
use crate::db::{self, Deltas, N_CATALOG, N_OUTBOX, N_OUTBOX_SEQ, StoredEnvelope};
use crate::error::{NodeError, corrupt};
use crate::export::record_of;
use crate::import::{
    self, ImportOptions, ImportedRow, Links, ParsedCatalogue, RecordKind, RowError,
    SERVICE_ID_PREFIX,
};
use crate::node::{Node, now_rfc3339};
use crate::row_report;
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use yiqi_schema::canonical::canonical_bytes;
use yiqi_schema::{Envelope, sign};
use yiqi_store::{StorageError, WriteBatch};

/// Records signed and committed per atomic batch.
const COMMIT_BATCH: usize = 500;
/// A snapshot may delete at most this share of the live catalogue without `--allow-mass-delete`.
const MASS_DELETE_PERCENT: u64 = 20;

/// One `import` invocation.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub path: PathBuf,
    /// Reader options; the region is always the node's own.
    pub options: ImportOptions,
    /// The file is the whole catalogue: records missing from it become tombstones.
    pub snapshot: bool,
    pub allow_mass_delete: bool,
    /// Plan and report only; write nothing.
    pub dry_run: bool,
}

impl ImportRequest {
    /// A plain import of `path`: automatic encoding, no mapping, no defaults, not a snapshot.
    pub fn new(path: impl Into<PathBuf>) -> ImportRequest {
        ImportRequest {
            path: path.into(),
            options: ImportOptions::new(""),
            snapshot: false,
            allow_mass_delete: false,
            dry_run: false,
        }
    }
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub file: String,
    pub format: String,
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Rows refused, each listed in `errors` (a row may have several errors).
    pub rejected: usize,
    /// Service rows whose applicant's name, phone or e-mail were dropped (never published).
    pub personal_rows: usize,
    pub errors: Vec<RowError>,
    /// The report files written for the rejected rows: text, and CSV beside it.
    pub report: Option<PathBuf>,
    pub report_csv: Option<PathBuf>,
}

impl ImportSummary {
    /// Rows were refused and none was good: nothing of the file could be used.
    pub fn nothing_imported(&self) -> bool {
        self.rejected > 0 && self.new + self.changed + self.unchanged == 0
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} ({}): {} new, {} changed, {} unchanged, {} deleted, {} rejected",
            self.file,
            self.format,
            self.new,
            self.changed,
            self.unchanged,
            self.deleted,
            self.rejected
        )?;
        if self.personal_rows > 0 {
            write!(
                f,
                "; personal data (applicant, phone, e-mail) dropped from {} rows",
                self.personal_rows
            )?;
        }
        Ok(())
    }
}

/// A catalogue entry: the content hash that decides "changed", and the signed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub content_hash: [u8; 32],
    pub stored: StoredEnvelope,
}

impl CatalogEntry {
    fn encode(&self) -> Vec<u8> {
        [&self.content_hash[..], &self.stored.encode()].concat()
    }

    pub fn decode(bytes: &[u8]) -> Result<CatalogEntry, StorageError> {
        let content_hash = bytes
            .get(..32)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| corrupt("catalogue"))?;
        Ok(CatalogEntry {
            content_hash,
            stored: StoredEnvelope::decode(&bytes[32..])?,
        })
    }
}

/// What happens to one record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// New or changed content, to be signed at `version`.
    Write {
        local_id: String,
        content: Map<String, Value>,
        hash: [u8; 32],
        version: u64,
        new: bool,
    },
    Unchanged,
    Delete {
        local_id: String,
        version: u64,
    },
}

struct Plan {
    changes: Vec<Change>,
    summary: ImportSummary,
}

fn content_hash(content: &Map<String, Value>) -> [u8; 32] {
    Sha256::digest(canonical_bytes(&Value::Object(content.clone()))).into()
}

impl Node {
    /// Imports a catalogue file. Row errors are returned in the summary (and written to a
    /// report file); a file that cannot be read at all, or a snapshot that would delete too
    /// much, is an error and writes nothing.
    pub fn import(
        &self,
        request: &ImportRequest,
        progress: &ProgressBar,
    ) -> Result<ImportSummary, NodeError> {
        if request.options.kind == RecordKind::Service && request.snapshot {
            return Err(NodeError::Invalid(
                "--snapshot applies to the instrument catalogue; a service import adds and \
                 updates services (leave out --snapshot)"
                    .into(),
            ));
        }
        let links = match request.options.kind {
            RecordKind::Service => Some(Arc::new(self.service_links()?)),
            RecordKind::Instrument => None,
        };
        let options = ImportOptions {
            region: self.config.region.clone(),
            links,
            ..request.options.clone()
        };
        let parsed = import::read_catalogue(&request.path, &options)
            .map_err(|e| NodeError::Invalid(format!("{}: {e}", request.path.display())))?;
        self.import_parsed(parsed, request, progress)
    }

    /// Imports rows already read (e.g. a generated catalogue), as [`Node::import`] does after
    /// reading `request.path`; the path only names the source in the summary and messages.
    pub fn import_parsed(
        &self,
        parsed: ParsedCatalogue,
        request: &ImportRequest,
        progress: &ProgressBar,
    ) -> Result<ImportSummary, NodeError> {
        if parsed.rows.is_empty() && parsed.errors.is_empty() {
            // Exit 0 with "0 new" would look like success; a snapshot would delete everything.
            return Err(NodeError::Invalid(format!(
                "{} ({}) has no data rows: nothing was imported. Fill in the rows below the \
                 header (or check that this is the right file)",
                request.path.display(),
                parsed.format
            )));
        }
        let _one_import = self.import_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut plan = self.plan(parsed.rows, parsed.errors, request.snapshot)?;
        plan.summary.file = request.path.display().to_string();
        plan.summary.format = parsed.format.to_string();
        plan.summary.personal_rows = parsed.personal_rows;
        self.refuse_mass_delete(&plan.summary, request)?;
        if !request.dry_run {
            progress.set_length(plan.changes.len() as u64);
            self.apply(plan.changes, progress)?;
            self.write_reports(&mut plan.summary)?;
        }
        Ok(plan.summary)
    }

    fn plan(
        &self,
        rows: Vec<ImportedRow>,
        mut errors: Vec<RowError>,
        snapshot: bool,
    ) -> Result<Plan, NodeError> {
        let mut changes = Vec::with_capacity(rows.len());
        let mut seen = HashSet::with_capacity(rows.len());
        for row in rows {
            match row_content(row) {
                Ok((local_id, content)) => {
                    changes.push(self.change_for(&local_id, content)?);
                    seen.insert(local_id);
                }
                Err(error) => errors.push(error),
            }
        }
        // A row that failed validation is still part of the platform's catalogue: deleting it
        // because of a typo would be worse than keeping its last good version.
        seen.extend(errors.iter().filter_map(|e| e.local_id.clone()));
        let nothing_good = changes.is_empty() && !errors.is_empty();
        if snapshot && !nothing_good {
            changes.extend(self.deletions(&seen)?);
        }
        let mut summary = ImportSummary {
            rejected: errors.iter().map(|e| e.row).collect::<HashSet<_>>().len(),
            errors,
            ..ImportSummary::default()
        };
        for change in &changes {
            match change {
                Change::Write { new: true, .. } => summary.new += 1,
                Change::Write { new: false, .. } => summary.changed += 1,
                Change::Unchanged => summary.unchanged += 1,
                Change::Delete { .. } => summary.deleted += 1,
            }
        }
        Ok(Plan { changes, summary })
    }

    fn change_for(&self, local_id: &str, content: Map<String, Value>) -> Result<Change, NodeError> {
        let hash = content_hash(&content);
        let stored = self.catalog_entry(local_id)?;
        let (version, new) = match stored {
            None => (1, true),
            Some(entry) if entry.stored.deleted => (entry.stored.version + 1, true),
            Some(entry) if entry.content_hash == hash => return Ok(Change::Unchanged),
            Some(entry) => (entry.stored.version + 1, false),
        };
        Ok(Change::Write {
            local_id: local_id.to_owned(),
            content,
            hash,
            version,
            new,
        })
    }

    /// Tombstones for every live record whose id is not in `keep`.
    fn deletions(&self, keep: &HashSet<String>) -> Result<Vec<Change>, NodeError> {
        let mut deletions = Vec::new();
        self.db.for_each(db::CATALOG, 1_000, |key, value| {
            let local_id = String::from_utf8_lossy(&key[db::CATALOG.len()..]);
            let (version, deleted) =
                StoredEnvelope::decode_header(value.get(32..).unwrap_or_default())?;
            // Services are not part of the instrument catalogue a snapshot lists.
            let service = local_id.starts_with(SERVICE_ID_PREFIX);
            if !deleted && !service && !keep.contains(local_id.as_ref()) {
                deletions.push(Change::Delete {
                    local_id: local_id.into_owned(),
                    version: version + 1,
                });
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(deletions)
    }

    fn refuse_mass_delete(
        &self,
        summary: &ImportSummary,
        request: &ImportRequest,
    ) -> Result<(), NodeError> {
        let live = self.db.counter(N_CATALOG)?;
        let deleted = summary.deleted as u64;
        if request.allow_mass_delete || deleted * 100 <= live * MASS_DELETE_PERCENT {
            return Ok(());
        }
        Err(NodeError::Invalid(format!(
            "this snapshot would delete {deleted} of the {live} records in the catalogue (more than \
             {MASS_DELETE_PERCENT}%); nothing was imported. Check that {} is the whole catalogue, or \
             pass --allow-mass-delete",
            request.path.display()
        )))
    }

    /// The live own instruments and the mirror's institutions of other regions, which service
    /// rows refer to.
    fn service_links(&self) -> Result<Links, NodeError> {
        let mut links = Links::default();
        let own_region = self.config.region.clone();
        self.db.for_each(db::CATALOG, 1_000, |_, value| {
            let stored = StoredEnvelope::decode(value.get(32..).unwrap_or_default())?;
            if !stored.deleted {
                let record = record_of(&stored)?;
                if record["kind"] == "instrument" {
                    links.add_own_instrument(&record);
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        self.db.for_each(db::MIRROR, 1_000, |_, value| {
            let stored = StoredEnvelope::decode(value)?;
            if !stored.deleted {
                let record = record_of(&stored)?;
                if record["kind"] == "instrument" && record["region"] != own_region.as_str() {
                    links.add_mirrored_institution(&record);
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(links)
    }

    /// The catalogue entry of one own record.
    pub fn catalog_entry(&self, local_id: &str) -> Result<Option<CatalogEntry>, StorageError> {
        self.db
            .get(&db::catalog_key(local_id))?
            .map(|bytes| CatalogEntry::decode(&bytes))
            .transpose()
    }

    /// Signs and commits the planned changes in atomic batches, then flushes.
    pub(crate) fn apply(
        &self,
        changes: Vec<Change>,
        progress: &ProgressBar,
    ) -> Result<(), NodeError> {
        let mut next_seq = self.db.counter(N_OUTBOX_SEQ)? + 1;
        let mut wrote_any = false;
        for chunk in changes.chunks(COMMIT_BATCH) {
            // Signing dominates an import's CPU time; the order of the outbox stays the plan's.
            let signed: Vec<Option<(String, CatalogEntry)>> = chunk
                .par_iter()
                .map(|change| self.signed_entry(change))
                .collect::<Result<_, _>>()?;
            let mut batch = WriteBatch::default();
            let mut deltas = Deltas::default();
            for (change, entry) in chunk.iter().zip(signed) {
                if let Some(entry) = entry {
                    stage(&mut batch, &mut deltas, change, &entry, next_seq);
                    next_seq += 1;
                }
            }
            wrote_any |= !batch.is_empty();
            self.db.commit(batch, &deltas)?;
            progress.inc(chunk.len() as u64);
            tracing::debug!(records = chunk.len(), "import batch committed");
        }
        self.db.flush()?;
        if wrote_any {
            self.outbox_filled.notify_one();
        }
        Ok(())
    }

    /// The signed catalogue entry a change writes (`None` for unchanged records).
    fn signed_entry(&self, change: &Change) -> Result<Option<(String, CatalogEntry)>, NodeError> {
        let now = now_rfc3339();
        let region = &self.config.region;
        let (local_id, record, content_hash) = match change {
            Change::Unchanged => return Ok(None),
            Change::Write {
                local_id,
                content,
                hash,
                version,
                ..
            } => {
                let mut record = content.clone();
                record.insert("kind".into(), json!(kind_of(local_id)));
                record.insert("region".into(), json!(region));
                record.insert("version".into(), json!(version));
                record.insert("updated_at".into(), json!(now));
                (local_id, Value::Object(record), *hash)
            }
            Change::Delete { local_id, version } => {
                let tombstone = tombstone(region, local_id, *version, &now);
                (local_id, tombstone, [0; 32])
            }
        };
        let version = record["version"].as_u64().unwrap_or_default();
        let deleted = record.get("deleted").is_some();
        let envelope = serde_json::to_value(sign(record, &self.key))
            .map_err(|e| NodeError::Invalid(format!("{local_id}: {e}")))?;
        let stored = StoredEnvelope {
            version,
            deleted,
            envelope: canonical_bytes(&envelope),
        };
        Ok(Some((
            local_id.clone(),
            CatalogEntry {
                content_hash,
                stored,
            },
        )))
    }

    /// Writes `reports/import-<timestamp>.txt` and `.csv` beside it when rows were rejected.
    fn write_reports(&self, summary: &mut ImportSummary) -> Result<(), NodeError> {
        if summary.errors.is_empty() {
            return Ok(());
        }
        let text = row_report::text(&summary.to_string(), &summary.errors);
        summary.report = self.write_report_file("import", &text)?;
        if let Some(path) = &summary.report {
            let csv_path = path.with_extension("csv");
            std::fs::write(&csv_path, row_report::csv(&summary.errors))
                .map_err(|e| NodeError::io(csv_path.display(), e))?;
            summary.report_csv = Some(csv_path);
        }
        Ok(())
    }

    /// Writes `reports/{what}-<timestamp>.txt` in the node folder (nothing for an in-memory
    /// node); its path.
    pub(crate) fn write_report_file(
        &self,
        what: &str,
        text: &str,
    ) -> Result<Option<PathBuf>, NodeError> {
        let Some(dir) = self.folder.as_ref().map(Folder::reports) else {
            return Ok(None);
        };
        let stamp = now_rfc3339().replace([':', '-'], "");
        let path = unused_path(&dir, &format!("{what}-{stamp}"));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| NodeError::Usage(format!("{}: {e}", path.display())))?;
        Ok(Some(path))
    }
}

impl Node {
    /// Appends signed envelopes that are not catalogue entries (key records) to the outbox, in
    /// order, in one atomic batch; then flushes and wakes a running publisher.
    pub(crate) fn queue(&self, envelopes: &[Envelope]) -> Result<(), NodeError> {
        let _guard = self
            .import_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first = self.db.counter(N_OUTBOX_SEQ)? + 1;
        let mut batch = WriteBatch::default();
        let mut deltas = Deltas::default();
        for (seq, envelope) in (first..).zip(envelopes) {
            let value = serde_json::to_value(envelope).expect("an envelope is JSON");
            stage_outbox(&mut batch, &mut deltas, seq, canonical_bytes(&value));
        }
        self.db.commit(batch, &deltas)?;
        self.db.flush()?;
        self.outbox_filled.notify_one();
        Ok(())
    }
}

/// Adds one signed envelope to the outbox at `seq`, with its counters.
pub(crate) fn stage_outbox(
    batch: &mut WriteBatch,
    deltas: &mut Deltas,
    seq: u64,
    envelope: Vec<u8>,
) {
    batch.put(db::seq_key(db::OUTBOX, seq), envelope);
    deltas.add(N_OUTBOX, 1);
    deltas.add(N_OUTBOX_SEQ, 1);
}

/// Adds one signed change to the batch: its catalogue entry, its outbox entry, the counters.
fn stage(
    batch: &mut WriteBatch,
    deltas: &mut Deltas,
    change: &Change,
    entry: &(String, CatalogEntry),
    seq: u64,
) {
    let (local_id, entry) = entry;
    batch.put(db::catalog_key(local_id), entry.encode());
    stage_outbox(batch, deltas, seq, entry.stored.envelope.clone());
    match change {
        Change::Write { new: true, .. } => deltas.add(N_CATALOG, 1),
        Change::Delete { .. } => deltas.add(N_CATALOG, -1),
        _ => {}
    }
}

/// The kind of an own record: services are told by their id ([`SERVICE_ID_PREFIX`]).
fn kind_of(local_id: &str) -> &'static str {
    if local_id.starts_with(SERVICE_ID_PREFIX) {
        RecordKind::Service.as_str()
    } else {
        RecordKind::Instrument.as_str()
    }
}

/// The tombstone of a deleted record: exactly the six fields the schema allows.
pub fn tombstone(region: &str, local_id: &str, version: u64, updated_at: &str) -> Value {
    json!({"kind": kind_of(local_id), "region": region, "local_id": local_id, "version": version,
           "updated_at": updated_at, "deleted": true})
}

/// `DIR/NAME.txt`, or `DIR/NAME-2.txt`, … when two imports end in the same millisecond.
fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let mut path = dir.join(format!("{name}.txt"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{name}-{n}.txt"));
        n += 1;
    }
    path
}

/// The local_id and content of a converted row (the reader guarantees both; a row without
/// them is reported rather than trusted).
fn row_content(row: ImportedRow) -> Result<(String, Map<String, Value>), RowError> {
    let missing = |message: &str| RowError {
        row: row.row,
        local_id: None,
        pointer: "/local_id".into(),
        message: message.into(),
        column: None,
    };
    let Value::Object(content) = row.content else {
        return Err(missing("the row did not convert to a record object"));
    };
    match content.get("local_id").and_then(Value::as_str) {
        Some(local_id) => Ok((local_id.to_owned(), content)),
        None => Err(missing("required field is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ndjson, node, row};

    fn request(path: PathBuf, snapshot: bool) -> ImportRequest {
        ImportRequest {
            snapshot,
            ..ImportRequest::new(path)
        }
    }

    fn import(node: &Node, path: PathBuf, snapshot: bool) -> Result<ImportSummary, NodeError> {
        node.import(&request(path, snapshot), &ProgressBar::hidden())
    }

    fn counts(s: &ImportSummary) -> [usize; 5] {
        [s.new, s.changed, s.unchanged, s.deleted, s.rejected]
    }

    fn record(node: &Node, local_id: &str) -> Value {
        let entry = node.catalog_entry(local_id).unwrap().unwrap();
        let envelope: Value = serde_json::from_slice(&entry.stored.envelope).unwrap();
        envelope["record"].clone()
    }

    #[test]
    fn versions_follow_content_changes_only() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let first = import(
            &node,
            ndjson(dir.path(), "1", &[row("a", "一"), row("b", "二")]),
            false,
        )
        .unwrap();
        assert_eq!(counts(&first), [2, 0, 0, 0, 0]);
        assert_eq!(
            first.to_string(),
            format!(
                "imported {} (native records): 2 new, 0 changed, 0 unchanged, 0 deleted, 0 rejected",
                first.file
            )
        );
        let v1 = record(&node, "a");
        assert_eq!(
            (
                v1["version"].as_u64(),
                v1["kind"].as_str(),
                v1["region"].as_str()
            ),
            (Some(1), Some("instrument"), Some("CN-GS"))
        );
        let again = import(
            &node,
            ndjson(dir.path(), "2", &[row("a", "一"), row("b", "二改")]),
            false,
        )
        .unwrap();
        assert_eq!(counts(&again), [0, 1, 1, 0, 0]);
        assert_eq!(
            record(&node, "a"),
            v1,
            "unchanged keeps version and updated_at"
        );
        assert_eq!(record(&node, "b")["version"], 2);
        assert!(
            record(&node, "b")["updated_at"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert_eq!(
            node.db.counter(N_OUTBOX).unwrap(),
            3,
            "three versions signed into the outbox"
        );
        assert_eq!(node.db.counter(N_CATALOG).unwrap(), 2);
        let envelope = node.catalog_entry("b").unwrap().unwrap().stored.envelope;
        yiqi_schema::check_envelope(&envelope, |_, key| key == node.public_key()).unwrap();
    }

    #[test]
    fn bad_rows_are_reported_and_good_rows_go_in() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let mut bad = row("c", "坏");
        bad["category"] = json!("999999");
        let summary = import(
            &node,
            ndjson(dir.path(), "f", &[row("a", "一"), bad]),
            false,
        )
        .unwrap();
        assert_eq!(counts(&summary), [1, 0, 0, 0, 1]);
        assert_eq!(
            (summary.errors[0].row, summary.errors[0].pointer.as_str()),
            (2, "/category")
        );
        assert!(!summary.nothing_imported());
        let mut only_bad = row("d", "坏");
        only_bad["category"] = json!("1");
        assert!(
            import(&node, ndjson(dir.path(), "g", &[only_bad]), false)
                .unwrap()
                .nothing_imported()
        );
    }

    #[test]
    fn snapshots_tombstone_missing_records_within_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let rows: Vec<Value> = (0..10).map(|i| row(&format!("r{i}"), "仪器")).collect();
        import(&node, ndjson(dir.path(), "all", &rows), false).unwrap();
        let three_gone = ndjson(dir.path(), "seven", &rows[3..]);
        let refused = import(&node, three_gone.clone(), true).unwrap_err();
        assert!(
            matches!(&refused, NodeError::Invalid(m) if m.contains("delete 3 of the 10")),
            "{refused}"
        );
        assert_eq!(
            node.db.counter(N_CATALOG).unwrap(),
            10,
            "a refused snapshot writes nothing"
        );
        let mut dry = request(three_gone, true);
        dry.allow_mass_delete = true;
        dry.dry_run = true;
        assert_eq!(
            counts(&node.import(&dry, &ProgressBar::hidden()).unwrap()),
            [0, 0, 7, 3, 0]
        );
        assert_eq!(
            node.db.counter(N_CATALOG).unwrap(),
            10,
            "a dry run writes nothing"
        );
        let two_gone = import(&node, ndjson(dir.path(), "eight", &rows[2..]), true).unwrap();
        assert_eq!(counts(&two_gone), [0, 0, 8, 2, 0]);
        let tombstone = record(&node, "r0");
        let mut fields: Vec<&String> = tombstone.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "deleted",
                "kind",
                "local_id",
                "region",
                "updated_at",
                "version"
            ]
        );
        assert_eq!(
            (
                tombstone["version"].as_u64(),
                tombstone["deleted"].as_bool()
            ),
            (Some(2), Some(true))
        );
        assert_eq!(node.db.counter(N_CATALOG).unwrap(), 8);
        let revived = import(&node, ndjson(dir.path(), "back", &rows[..1]), false).unwrap();
        assert_eq!(counts(&revived), [1, 0, 0, 0, 0]);
        assert_eq!(record(&node, "r0")["version"], 3);
    }

    #[test]
    fn a_file_without_data_rows_is_an_error_and_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        import(&node, ndjson(dir.path(), "one", &[row("a", "一")]), false).unwrap();
        let template = dir.path().join("empty.csv");
        std::fs::write(&template, "仪器编号,仪器设备名称\n").unwrap();
        let error = import(&node, template, true).unwrap_err();
        assert!(
            matches!(&error, NodeError::Invalid(m) if m.contains("NRII report template) has no data rows")),
            "{error}"
        );
        assert_eq!(node.db.counter(N_CATALOG).unwrap(), 1);
    }

    #[test]
    fn a_rejected_row_is_not_deleted_by_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let rows: Vec<Value> = (0..10).map(|i| row(&format!("r{i}"), "仪器")).collect();
        import(&node, ndjson(dir.path(), "all", &rows), false).unwrap();
        let mut broken = rows;
        broken[0]["category"] = json!("nonsense");
        let summary = import(&node, ndjson(dir.path(), "broken", &broken), true).unwrap();
        assert_eq!(counts(&summary), [0, 0, 9, 0, 1]);
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::testing::{ndjson, node, row};

    fn services(node: &Node, path: PathBuf, snapshot: bool) -> Result<ImportSummary, NodeError> {
        let mut request = ImportRequest {
            snapshot,
            ..ImportRequest::new(path)
        };
        request.options.kind = RecordKind::Service;
        node.import(&request, &ProgressBar::hidden())
    }

    #[test]
    fn services_link_to_instruments_and_survive_instrument_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let instruments: Vec<Value> = (0..5).map(|i| row(&format!("r{i}"), "仪器")).collect();
        node.import(
            &ImportRequest::new(ndjson(dir.path(), "i", &instruments)),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let csv = dir.path().join("fw.csv");
        std::fs::write(
            &csv,
            "所在单位仪器编号,服务记录内部编号,服务开始时间,服务结束时间,服务机时,服务对象,申请人电话\n\
             r1,1,2025/1/2 9,2025/1/2 11,2,外部用户,13800000000\n\
             nope,2,2025/1/2 9,2025/1/2 11,2,外部用户,--\n",
        )
        .unwrap();
        assert!(matches!(
            services(&node, csv.clone(), true),
            Err(NodeError::Invalid(_))
        ));
        let summary = services(&node, csv, false).unwrap();
        assert_eq!(
            (summary.new, summary.rejected, summary.personal_rows),
            (1, 1, 1)
        );
        assert!(
            summary.to_string().ends_with("dropped from 1 rows"),
            "{summary}"
        );
        let entry = node.catalog_entry("service.1").unwrap().unwrap();
        let envelope: Value = serde_json::from_slice(&entry.stored.envelope).unwrap();
        assert_eq!(envelope["record"]["kind"], "service");
        assert_eq!(envelope["record"]["instrument"], "r1");
        assert!(!String::from_utf8_lossy(&entry.stored.envelope).contains("13800000000"));
        // The NDJSON export carries the service; the CSV's instrument columns do not.
        let exported = |format| {
            let mut out = Vec::new();
            let count = node.export(None, format, &mut out).unwrap();
            (count, String::from_utf8(out).unwrap())
        };
        let (count, lines) = exported(crate::export::ExportFormat::Ndjson);
        assert!(count == 6 && lines.contains("service.1"), "{lines}");
        let (count, csv) = exported(crate::export::ExportFormat::Csv);
        assert!(count == 5 && !csv.contains("service.1"), "{csv}");
        // An instrument snapshot lists instruments only: the service stays.
        let snapshot = ImportRequest {
            snapshot: true,
            ..ImportRequest::new(ndjson(dir.path(), "all", &instruments))
        };
        let summary = node.import(&snapshot, &ProgressBar::hidden()).unwrap();
        assert_eq!(summary.deleted, 0);
        let mut stolen = row("service.9", "仪器");
        stolen["local_id"] = json!("service.9");
        let refused = node
            .import(
                &ImportRequest::new(ndjson(dir.path(), "s", &[stolen])),
                &ProgressBar::hidden(),
            )
            .unwrap();
        assert_eq!(refused.errors[0].pointer, "/local_id");
    }
}
