//! `delete`: tombstoning single instruments of the own catalogue, the way a snapshot import
//! tombstones the records missing from its file (same [`Change::Delete`], same signing and
//! outbox), without needing the whole catalogue.
//!
//! A tombstone carries exactly the six fields the schema allows, so the operator's reason cannot
//! travel with it: it is kept in the node folder's report (`reports/delete-<time>.txt`).

use crate::catalog::Change;
use crate::error::NodeError;
use crate::node::{Node, now_rfc3339};
use indicatif::ProgressBar;
use std::fmt;
use std::path::PathBuf;

/// What a `delete` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deletion {
    /// Local ids tombstoned now.
    pub deleted: Vec<String>,
    /// Local ids that were already tombstones (nothing to do).
    pub already_deleted: Vec<String>,
    /// The report keeping the reason.
    pub report: Option<PathBuf>,
}

impl fmt::Display for Deletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deleted {} records ({} already deleted); the tombstones are in the outbox",
            self.deleted.len(),
            self.already_deleted.len()
        )
    }
}

impl Node {
    /// Tombstones the named own records (`LOCAL_ID` or `REGION/LOCAL_ID`). An id the catalogue
    /// does not hold is an error, and then nothing is deleted.
    pub fn delete(&self, ids: &[String], reason: Option<&str>) -> Result<Deletion, NodeError> {
        let mut deletion = Deletion::default();
        let mut changes = Vec::new();
        let mut unknown = Vec::new();
        for id in ids {
            let local_id = self.own_local_id(id)?;
            match self.catalog_entry(local_id)? {
                None => unknown.push(id.as_str()),
                Some(entry) if entry.stored.deleted => {
                    deletion.already_deleted.push(local_id.to_owned());
                }
                Some(entry) => {
                    changes.push(Change::Delete {
                        local_id: local_id.to_owned(),
                        version: entry.stored.version + 1,
                    });
                    deletion.deleted.push(local_id.to_owned());
                }
            }
        }
        if !unknown.is_empty() {
            return Err(NodeError::Invalid(format!(
                "not in the {} catalogue: {}; nothing was deleted (`yiqi-node export` lists the \
                 records)",
                self.config.region,
                unknown.join(", ")
            )));
        }
        let _one_import = self
            .import_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.apply(changes, &ProgressBar::hidden())?;
        tracing::info!(deleted = ?deletion.deleted, reason, "records deleted");
        if !deletion.deleted.is_empty() {
            let text = format!(
                "{} deleted {} at {}\nreason: {}\n",
                self.config.region,
                deletion.deleted.join(", "),
                now_rfc3339(),
                reason.unwrap_or("(none given)")
            );
            deletion.report = self.write_report_file("delete", &text)?;
        }
        Ok(deletion)
    }

    /// The local id in `id`: `LOCAL_ID`, or `REGION/LOCAL_ID` of the node's own region.
    fn own_local_id<'a>(&self, id: &'a str) -> Result<&'a str, NodeError> {
        match id.split_once('/') {
            None => Ok(id),
            Some((region, local_id)) if region == self.config.region => Ok(local_id),
            Some((region, _)) => Err(NodeError::Invalid(format!(
                "{id}: only records of {} can be deleted here, not of {region}",
                self.config.region
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ImportRequest;
    use crate::db::{N_CATALOG, N_OUTBOX};
    use crate::testing::{ndjson, node, row};

    #[test]
    fn delete_tombstones_named_records_and_refuses_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let node = node("CN-GS");
        let file = ndjson(dir.path(), "f", &[row("a", "一"), row("b", "二")]);
        node.import(&ImportRequest::new(file), &ProgressBar::hidden())
            .unwrap();
        let refused = node.delete(&["a".into(), "zz".into()], None).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("not in the CN-GS catalogue: zz")
        );
        assert_eq!(node.db.counter(N_CATALOG).unwrap(), 2, "nothing deleted");
        let done = node.delete(&["CN-GS/a".into()], Some("scrapped")).unwrap();
        assert_eq!(done.deleted, ["a"]);
        let entry = node.catalog_entry("a").unwrap().unwrap();
        assert!(entry.stored.deleted && entry.stored.version == 2);
        let envelope: serde_json::Value = serde_json::from_slice(&entry.stored.envelope).unwrap();
        assert_eq!(
            envelope["record"],
            crate::catalog::tombstone(
                "CN-GS",
                "a",
                2,
                envelope["record"]["updated_at"].as_str().unwrap()
            )
        );
        yiqi_schema::check_envelope(&entry.stored.envelope, |_, key| key == node.public_key())
            .unwrap();
        assert_eq!(node.db.counter(N_CATALOG).unwrap(), 1);
        assert_eq!(node.db.counter(N_OUTBOX).unwrap(), 3);
        let again = node.delete(&["a".into()], None).unwrap();
        assert_eq!((again.deleted.len(), again.already_deleted.len()), (0, 1));
        assert!(node.delete(&["CN-BJ/x".into()], None).is_err());
    }
}
