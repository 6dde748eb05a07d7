//! A collector counting matching documents and their values of the facet fields (region,
//! top-level category, sharing mode, province) from the fast string columns.

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::fields::FACET_FIELDS;

/// Per facet field, value → number of matching documents; and the number of matches.
#[derive(Debug, Default)]
pub struct FacetCounts {
    pub total: u64,
    pub counts: [BTreeMap<String, u64>; FACET_FIELDS.len()],
}

/// Counts every matching document into [`FacetCounts`].
pub struct FacetCollector;

pub struct SegmentFacets {
    total: u64,
    columns: Vec<Option<(StrColumn, Vec<u64>)>>,
}

impl Collector for FacetCollector {
    type Fruit = FacetCounts;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let mut columns = Vec::with_capacity(FACET_FIELDS.len());
        for name in FACET_FIELDS {
            let column = reader.fast_fields().str(name)?;
            columns.push(column.map(|c| {
                let counts = vec![0; c.num_terms()];
                (c, counts)
            }));
        }
        Ok(SegmentFacets { total: 0, columns })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetCounts>) -> tantivy::Result<FacetCounts> {
        let mut merged = FacetCounts::default();
        for fruit in fruits {
            merged.total += fruit.total;
            for (into, from) in merged.counts.iter_mut().zip(fruit.counts) {
                for (key, n) in from {
                    *into.entry(key).or_default() += n;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = FacetCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.total += 1;
        for (column, counts) in self.columns.iter_mut().flatten() {
            if let Some(ord) = column.ords().first(doc)
                && let Some(count) = counts.get_mut(ord as usize)
            {
                *count += 1;
            }
        }
    }

    fn harvest(self) -> FacetCounts {
        let mut fruit = FacetCounts {
            total: self.total,
            ..FacetCounts::default()
        };
        for (into, column) in fruit.counts.iter_mut().zip(self.columns) {
            let Some((column, counts)) = column else {
                continue;
            };
            let mut key = String::new();
            for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                if column.ord_to_str(ord as u64, &mut key).unwrap_or(false) {
                    into.insert(key.clone(), n);
                }
            }
        }
        fruit
    }
}
