//! `status` and `show`: what the node holds, from counters and point reads only, so both
//! answer at once even with millions of mirrored records.

use crate::catalog::CatalogEntry;
use crate::config::Folder;
use crate::db::{self, N_CATALOG, N_MIRROR, N_OUTBOX, N_QUARANTINED, N_REJECTED, StoredEnvelope};
use crate::error::NodeError;
use crate::log::LogStatus;
use crate::node::Node;
use crate::node::now_rfc3339;
use crate::serve::ServeStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// How many rejected records, quarantined entries and key changes the human form lists.
const LISTED: usize = 20;

/// What `yiqi-node run` last reported of the node's status (`status.json` in the node folder,
/// rewritten every few seconds): the store admits one process, so `status` reads this while `run`
/// holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was taken, RFC 3339.
    pub as_of: String,
    /// The process that took it.
    pub pid: u32,
    pub status: Status,
    /// The human form.
    pub text: String,
}

impl Snapshot {
    /// The snapshot in a node folder, if there is a readable one.
    pub fn read(dir: &Path) -> Option<Snapshot> {
        let bytes = std::fs::read(Folder::new(dir).status_snapshot()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The `status --json` document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub region: String,
    /// Live own records (tombstones excluded).
    pub catalog: u64,
    pub outbox: u64,
    pub rejected: u64,
    /// Live mirrored records per region (tombstones excluded).
    pub mirror: BTreeMap<String, u64>,
    pub quarantined: u64,
    pub cursor: u64,
    pub hub: HubStatus,
    /// The last checkpoint the node verified, its witnesses, finality and any alarm.
    pub log: LogStatus,
    /// While the node serves (`serve`, or `run` with `listen`): where, and the feed cursor its
    /// search index is current to; `null` otherwise.
    #[serde(default)]
    pub serve: Option<ServeStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HubStatus {
    pub url: String,
    pub reachable: bool,
}

impl Node {
    /// The counts, the cursor and whether the hub answers.
    pub async fn status(&self) -> Result<Status, NodeError> {
        Ok(Status {
            region: self.config.region.clone(),
            catalog: self.db.counter(N_CATALOG)?,
            outbox: self.db.counter(N_OUTBOX)?,
            rejected: self.db.counter(N_REJECTED)?,
            mirror: self.db.counters_under(N_MIRROR)?,
            quarantined: self.db.counter(N_QUARANTINED)?,
            cursor: self.db.cursor()?,
            hub: HubStatus {
                url: self.config.hub.clone(),
                reachable: self.hub_reachable().await,
            },
            log: self.log_status()?,
            serve: self.live_index().map(|index| index.status()),
        })
    }

    /// The human form of `status`: the counts, then the rejected records, the quarantined
    /// entries and the key changes.
    pub async fn status_text(&self) -> Result<String, NodeError> {
        let status = self.status().await?;
        self.describe(&status)
    }

    /// Writes the status snapshot `run` leaves for `status` (see [`Snapshot`]): to a temporary
    /// file renamed over the old one, so a reader never sees half of it. A node without a
    /// folder has none.
    pub async fn write_snapshot(&self) -> Result<(), NodeError> {
        let Some(path) = self.folder.as_ref().map(Folder::status_snapshot) else {
            return Ok(());
        };
        let status = self.status().await?;
        let snapshot = Snapshot {
            as_of: now_rfc3339(),
            pid: std::process::id(),
            text: self.describe(&status)?,
            status,
        };
        let bytes =
            serde_json::to_vec_pretty(&snapshot).map_err(|e| NodeError::Usage(e.to_string()))?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, bytes).map_err(|e| NodeError::io(temporary.display(), e))?;
        std::fs::rename(&temporary, &path).map_err(|e| NodeError::io(path.display(), e))
    }

    fn describe(&self, status: &Status) -> Result<String, NodeError> {
        let mut out = String::new();
        let reachable = if status.hub.reachable {
            "reachable"
        } else {
            "NOT reachable"
        };
        let _ = writeln!(out, "region      {} ({})", status.region, self.config.name);
        let _ = writeln!(out, "hub         {} ({reachable})", status.hub.url);
        let _ = writeln!(out, "catalogue   {} records", status.catalog);
        let _ = writeln!(
            out,
            "outbox      {} versions waiting to be published",
            status.outbox
        );
        let _ = writeln!(
            out,
            "rejected    {} versions refused by the hub",
            status.rejected
        );
        let _ = writeln!(
            out,
            "mirror      {} records",
            status.mirror.values().sum::<u64>()
        );
        for (region, count) in &status.mirror {
            let _ = writeln!(out, "  {region}  {count}");
        }
        let _ = writeln!(out, "quarantined {} feed entries", status.quarantined);
        let _ = writeln!(out, "cursor      {}", status.cursor);
        let log = &status.log;
        let finality = if log.is_final {
            "final"
        } else {
            "NOT final yet"
        };
        let _ = writeln!(
            out,
            "log         checkpoint size {} verified {}; {} other regions cosigned ({finality})",
            log.size,
            log.checkpoint_at.as_deref().unwrap_or("never"),
            log.witnesses
        );
        if let Some(alarm) = &log.alarm {
            let _ = writeln!(out, "ALARM       {}: {}", alarm.kind, alarm.detail);
            if let Some(evidence) = &alarm.evidence {
                let _ = writeln!(out, "            evidence in {evidence}");
            }
        }
        if let Some(serve) = &status.serve {
            let _ = writeln!(
                out,
                "serving     http://{} (search index at cursor {})",
                serve.listen, serve.indexed_seq
            );
        }
        if status.rejected > 0 {
            let _ = writeln!(
                out,
                "rejected versions (first {LISTED}; `yiqi-node rejected` lists all and what to do):"
            );
            for r in self.rejected_records(LISTED)? {
                let id = r.id.as_deref().unwrap_or("?");
                let version = r.version.map_or_else(|| "?".into(), |v| v.to_string());
                let held = if crate::held::is_curable(&r.code) {
                    " (held: sent again once the cause is gone)"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {id} v{version}: {}: {}{held}", r.code, r.message);
            }
        }
        if status.quarantined > 0 {
            let _ = writeln!(out, "quarantined feed entries (first {LISTED}):");
            for q in self.quarantined(LISTED)? {
                let seq = q.seq.map_or_else(|| "?".into(), |s| s.to_string());
                let _ = writeln!(out, "  seq {seq}: {}: {}", q.code, q.reason);
            }
        }
        let changes = self.key_changes(LISTED)?;
        if !changes.is_empty() {
            let _ = writeln!(out, "key changes (last {LISTED}):");
            for change in changes {
                let _ = writeln!(out, "  {change}");
            }
        }
        Ok(out)
    }

    /// The stored envelope of `REGION/LOCAL_ID`: the node's own signed version, or the
    /// verified mirror copy. Tombstones are shown too (they are what the region published).
    pub fn show(&self, id: &str) -> Result<Value, NodeError> {
        let (region, local_id) = id.split_once('/').ok_or_else(|| {
            NodeError::Invalid(format!("{id:?}: give REGION/LOCAL_ID, e.g. CN-GS/GS-0001"))
        })?;
        let stored = if region == self.config.region {
            self.catalog_entry(local_id)?
                .map(|entry: CatalogEntry| entry.stored)
        } else {
            self.db
                .get(&db::mirror_key(region, local_id))?
                .map(|bytes| StoredEnvelope::decode(&bytes))
                .transpose()?
        };
        let stored =
            stored.ok_or_else(|| NodeError::Invalid(format!("no record {id} in this node")))?;
        serde_json::from_slice(&stored.envelope)
            .map_err(|_| NodeError::Storage(crate::error::corrupt("envelope")))
    }
}
