//! The exact in-memory tables, the statistics and the utilisation, kept together under one lock.
//!
//! Both follow the same records in the same order, and at 10M records the map from a record's
//! digest to its row is the largest allocation after the rows themselves (about 340 MB), so
//! they share one: the utilisation table's, which gives every id that ever was an instrument a
//! slot for good; the statistics keep their rows by those slots.

use serde_json::Value as Json;

use crate::stats::StatsTable;
use crate::utilisation::UtilisationTable;

#[derive(Default)]
pub(crate) struct Tables {
    pub(crate) stats: StatsTable,
    pub(crate) utilisation: UtilisationTable,
}

impl Tables {
    /// The highest seq applied.
    pub(crate) fn seq(&self) -> u64 {
        self.utilisation.seq()
    }

    /// Applies one accepted version in log order; versions at or below the applied seq are
    /// ignored, so a replay never counts a record twice.
    pub(crate) fn apply(&mut self, seq: u64, record: &Json) {
        if seq > self.seq() {
            let slot = self.utilisation.apply(seq, record);
            self.stats.put(slot, record);
        }
    }

    /// Makes `record` the current version of its id whatever the applied seq: for records that
    /// change outside the log's order (see [`crate::SearchService::apply_unsequenced`]).
    pub(crate) fn put(&mut self, record: &Json) {
        let slot = self.utilisation.put(record);
        self.stats.put(slot, record);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use yiqi_schema::testing::sample_record;

    use super::*;
    use crate::params::{GroupBy, StatsFormat, StatsQuery};

    fn instrument(local_id: &str) -> Json {
        let mut record = sample_record();
        record["local_id"] = json!(local_id);
        record
    }

    fn service(local_id: &str) -> Json {
        json!({"kind": "service", "region": "CN-GS", "local_id": local_id, "version": 2,
            "updated_at": "2026-01-01T00:00:00Z", "instrument": "A",
            "started_at": "2025-03-01T09:00:00+08:00", "ended_at": "2025-03-01T11:00:00+08:00",
            "hours": 2.0, "client": "internal", "purpose": "research"})
    }

    fn tombstone(local_id: &str) -> Json {
        json!({"kind": "instrument", "region": "CN-GS", "local_id": local_id, "version": 3,
            "updated_at": "2026-01-01T00:00:00Z", "deleted": true})
    }

    fn instruments(tables: &Tables) -> u64 {
        let query = StatsQuery {
            group_by: GroupBy::Region,
            region: None,
            category: None,
            format: StatsFormat::Json,
        };
        tables.stats.query(&query).total.instruments
    }

    #[test]
    fn statistics_rows_follow_their_ids_through_the_shared_slots() {
        let mut tables = Tables::default();
        tables.apply(1, &instrument("A"));
        tables.apply(2, &instrument("B"));
        tables.apply(3, &service("S"));
        tables.apply(4, &tombstone("never-seen"));
        assert_eq!((instruments(&tables), tables.seq()), (2, 4));
        tables.apply(5, &service("A"));
        assert_eq!(
            instruments(&tables),
            1,
            "a service under an instrument's id replaces it"
        );
        tables.apply(6, &instrument("A"));
        tables.apply(6, &tombstone("A"));
        assert_eq!(instruments(&tables), 2, "a seq already applied is ignored");
        tables.apply(7, &tombstone("B"));
        assert_eq!(instruments(&tables), 1);
        tables.put(&instrument("B"));
        tables.put(&instrument("C"));
        assert_eq!((instruments(&tables), tables.seq()), (3, 7));
        tables.put(&tombstone("C"));
        assert_eq!(instruments(&tables), 2);
    }
}
