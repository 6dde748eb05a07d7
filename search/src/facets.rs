//! A collector counting matching documents and their facet values: region, top-level category
//! and sharing mode from one packed fast u64 ([`fields::facet_codes`]), province from its fast
//! string column. Two column reads per matching document.

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};
use yiqi_schema::protocol::labels::SHARING_MODE;
use yiqi_schema::regions;

use super::Facets;
use super::fields::{self, FACET_CODES, NO_CODE, PROVINCE};

/// The facets of all matches and their number.
#[derive(Debug, Default)]
pub struct FacetCounts {
    pub total: u64,
    pub facets: Facets,
}

/// Counts every matching document into [`FacetCounts`].
pub struct FacetCollector;

pub struct SegmentFacets {
    total: u64,
    codes: Option<Column<u64>>,
    /// Per byte of the packed code: region, top-level class, sharing mode.
    counts: [[u64; 256]; 3],
    province: Option<(StrColumn, Vec<u64>)>,
    /// Column values of a block of documents (reused).
    block: Vec<Option<u64>>,
}

impl Collector for FacetCollector {
    type Fruit = FacetCounts;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let codes = reader.fast_fields().column_opt::<u64>(FACET_CODES)?;
        let province = reader.fast_fields().str(PROVINCE)?.map(|column| {
            let counts = vec![0; column.num_terms()];
            (column, counts)
        });
        Ok(SegmentFacets {
            total: 0,
            codes,
            counts: [[0; 256]; 3],
            province,
            block: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetCounts>) -> tantivy::Result<FacetCounts> {
        let mut merged = FacetCounts::default();
        for fruit in fruits {
            merged.total += fruit.total;
            let into = &mut merged.facets;
            let from = fruit.facets;
            for (into, from) in [
                (&mut into.region, from.region),
                (&mut into.category, from.category),
                (&mut into.sharing, from.sharing),
                (&mut into.province, from.province),
            ] {
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
        if let Some(code) = self.codes.as_ref().and_then(|c| c.first(doc)) {
            count_code(&mut self.counts, code);
        }
        if let Some((column, counts)) = &mut self.province
            && let Some(ord) = column.ords().first(doc)
        {
            count_province(counts, ord);
        }
    }

    /// Matches without scores come in blocks: one batched column read per block and column.
    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        self.block.clear();
        self.block.resize(docs.len(), None);
        if let Some(codes) = &self.codes {
            codes.first_vals(docs, &mut self.block);
            for code in self.block.iter().flatten() {
                count_code(&mut self.counts, *code);
            }
        }
        if let Some((column, counts)) = &mut self.province {
            self.block.fill(None);
            column.ords().first_vals(docs, &mut self.block);
            for ord in self.block.iter().flatten() {
                count_province(counts, *ord);
            }
        }
    }

    fn harvest(self) -> FacetCounts {
        let [regions, tops, sharing] = &self.counts;
        let region_codes: Vec<&str> = regions::REGIONS.iter().map(|r| r.0).collect();
        let sharing_codes: Vec<&str> = SHARING_MODE.codes().collect();
        let facets = Facets {
            region: named(regions, &region_codes),
            category: named(tops, fields::top_level_codes()),
            sharing: named(sharing, &sharing_codes),
            province: self.province.map(provinces).unwrap_or_default(),
        };
        FacetCounts {
            total: self.total,
            facets,
        }
    }
}

/// Counts each byte of a packed facet code ([`fields::facet_codes`]).
fn count_code(counts: &mut [[u64; 256]; 3], code: u64) {
    for (byte, counts) in counts.iter_mut().enumerate() {
        counts[((code >> (8 * byte)) & 0xFF) as usize] += 1;
    }
}

fn count_province(counts: &mut [u64], ord: u64) {
    if let Some(count) = counts.get_mut(ord as usize) {
        *count += 1;
    }
}

/// Non-zero counts keyed by the name of their index.
fn named(counts: &[u64; 256], names: &[&str]) -> BTreeMap<String, u64> {
    counts
        .iter()
        .enumerate()
        .filter(|&(i, n)| *n > 0 && i as u64 != NO_CODE)
        .filter_map(|(i, n)| names.get(i).map(|name| (name.to_string(), *n)))
        .collect()
}

fn provinces((column, counts): (StrColumn, Vec<u64>)) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut key = String::new();
    for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
        if column.ord_to_str(ord as u64, &mut key).unwrap_or(false) {
            out.insert(key.clone(), n);
        }
    }
    out
}
