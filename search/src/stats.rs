//! The inventory statistics: an exact in-memory table of the current records (one compact row
//! per instrument), grouped on request.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;
use yiqi_schema::protocol::labels::{CARRIER_TYPE, Enumeration, SHARING_MODE, STATUS};
use yiqi_schema::spreadsheet::{UTF8_BOM, push_text_field};
use yiqi_schema::{classification, regions};

use super::fields::{small, text};
use super::params::{GroupBy, StatsQuery};
use super::slots::SlotRows;

/// An instrument is idle when its reported yearly run hours (`usage.run_hours`) are below this.
pub const IDLE_RUN_HOURS: u32 = 200;

/// The key of records without a value for the grouping (no carrier, status or usage year).
pub const UNKNOWN_KEY: &str = "unknown";
const UNKNOWN: u32 = u32::MAX;
/// The schema position of `sharing.mode` external (a test checks it against the labels).
const EXTERNAL: u32 = 0;

/// The figures of one group (or of all records).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Figures {
    pub instruments: u64,
    /// Sum of `original_value_cny`; u128, so a million values near 2^53 add up exactly.
    pub original_value_cny: u128,
    /// Distinct institution names.
    pub institutions: u64,
    /// Distinct carrier names (records without a carrier name are not counted).
    pub carriers: u64,
    /// Records with `sharing.mode` external.
    pub externally_shared: u64,
    pub run_hours: u64,
    pub external_service_hours: u64,
    /// Records whose `usage.run_hours` is below [`IDLE_RUN_HOURS`]; records without are not idle.
    pub idle: u64,
    /// Records without `original_value_cny`.
    pub value_unknown: u64,
}

/// Column names of the figures, in JSON and CSV order.
pub const FIGURE_NAMES: [&str; 9] = [
    "instruments",
    "original_value_cny",
    "institutions",
    "carriers",
    "externally_shared",
    "run_hours",
    "external_service_hours",
    "idle",
    "value_unknown",
];

/// Column headings of the figures for people (tables and CSV), in [`FIGURE_NAMES`] order.
pub const FIGURE_LABELS: [&str; 9] = [
    "仪器数 Instruments",
    "原值（元） Original value (CNY)",
    "单位数 Institutions",
    "载体数 Carriers",
    "对外共享 Shared externally",
    "年运行机时 Run hours",
    "年对外服务机时 External service hours",
    "年运行不足200小时 Under 200 run hours",
    "原值未填 Value unknown",
];

impl Figures {
    /// The figures in [`FIGURE_NAMES`] order.
    pub fn values(&self) -> [u128; 9] {
        [
            self.instruments.into(),
            self.original_value_cny,
            self.institutions.into(),
            self.carriers.into(),
            self.externally_shared.into(),
            self.run_hours.into(),
            self.external_service_hours.into(),
            self.idle.into(),
            self.value_unknown.into(),
        ]
    }

    fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (name, value) in FIGURE_NAMES.iter().zip(self.values()) {
            map.serialize_entry(name, &value)?;
        }
        Ok(())
    }
}

impl Serialize for Figures {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(FIGURE_NAMES.len()))?;
        self.serialize_entries(&mut map)?;
        map.end()
    }
}

/// One group of `/v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    pub key: String,
    pub label: String,
    pub figures: Figures,
}

impl Serialize for StatsRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(FIGURE_NAMES.len() + 2))?;
        map.serialize_entry("key", &self.key)?;
        map.serialize_entry("label", &self.label)?;
        self.figures.serialize_entries(&mut map)?;
        map.end()
    }
}

/// The answer of `/v1/stats`. Sums are u128 JSON integers: serialize with `serde_json::to_vec`
/// (as `axum::Json` does), not through `serde_json::Value`, which cannot hold them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StatsResponse {
    pub group_by: &'static str,
    /// One per group: `key`, `label` and the figures (`instruments`, `original_value_cny`, …).
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<StatsRow>,
    /// The figures over all groups.
    #[schema(value_type = Object)]
    pub total: Figures,
}

impl StatsResponse {
    /// RFC 4180 CSV for spreadsheets (a UTF-8 byte-order mark, text cells neutralised, headings
    /// in Chinese and English): a header, one line per row, then the total (key `total`).
    pub fn to_csv(&self) -> String {
        let mut out = format!("{UTF8_BOM}代码 Code,名称 Name");
        for heading in FIGURE_LABELS {
            out.push(',');
            out.push_str(heading);
        }
        out.push_str("\r\n");
        for row in &self.rows {
            csv_line(&mut out, &row.key, &row.label, &row.figures);
        }
        csv_line(&mut out, "total", "合计 Total", &self.total);
        out
    }
}

fn csv_line(out: &mut String, key: &str, label: &str, figures: &Figures) {
    push_text_field(out, key);
    out.push(',');
    push_text_field(out, label);
    for value in figures.values() {
        out.push(',');
        out.push_str(&value.to_string());
    }
    out.push_str("\r\n");
}

/// Strings seen in records (institution, carrier and province names), as small integers.
#[derive(Default)]
pub(crate) struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    pub(crate) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(UNKNOWN);
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or(UNKNOWN_KEY, |n| n)
    }

    /// Every id handed out is below this.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// A code (schema position, index, year) narrowed to a byte or two, [`UNKNOWN`] as the type's
/// maximum: the tables keep millions of rows, so every byte of a row counts.
pub(crate) trait Compact: Copy + Eq + TryFrom<u32> + Into<u32> {
    const NONE: Self;
}

impl Compact for u8 {
    const NONE: u8 = u8::MAX;
}

impl Compact for u16 {
    const NONE: u16 = u16::MAX;
}

/// `code` in a compact type; [`UNKNOWN`] (and any code too large, which the schema excludes)
/// becomes `C::NONE`.
pub(crate) fn narrow<C: Compact>(code: u32) -> C {
    C::try_from(code).unwrap_or(C::NONE)
}

/// The code of a compact `code`, [`UNKNOWN`] for `C::NONE`.
pub(crate) fn widen<C: Compact>(code: C) -> u32 {
    if code == C::NONE {
        UNKNOWN
    } else {
        code.into()
    }
}

/// `original_value_cny` absent: the schema caps values at 2^53 − 1, far below.
pub(crate) const NO_VALUE: u64 = u64::MAX;

/// One current instrument in 40 bytes: enumerations as schema positions in a byte, classes
/// and the year in two bytes, names interned, absent values as [`Compact::NONE`] and
/// [`NO_VALUE`].
#[derive(Debug, Clone, Copy)]
struct Row {
    value: u64,
    province: u32,
    institution: u32,
    carrier: u32,
    run_hours: u32,
    external_hours: u32,
    /// The position of the record's class in the classification (any level).
    class: u16,
    top_category: u16,
    year: u16,
    region: u8,
    carrier_type: u8,
    sharing: u8,
    status: u8,
    /// Whether `usage.run_hours` is given (a bool also gives `Option<Row>` its tag for free).
    reports_run_hours: bool,
}

impl Row {
    fn value(&self) -> Option<u64> {
        (self.value != NO_VALUE).then_some(self.value)
    }

    fn run_hours(&self) -> Option<u32> {
        self.reports_run_hours.then_some(self.run_hours)
    }
}

/// The current instruments, one row each, kept by the slots the utilisation table gives their
/// ids ([`crate::tables`]).
#[derive(Default)]
pub struct StatsTable {
    /// Counts changes, including those outside the log's order: an answer computed on one
    /// version holds until the next.
    version: u64,
    rows: SlotRows<Row>,
    names: Interner,
}

/// The schema position of an enumerated value, [`UNKNOWN`] when absent or not a code.
fn position(enumeration: &Enumeration, value: Option<&str>) -> u32 {
    value
        .and_then(|v| enumeration.position(v))
        .map_or(UNKNOWN, |i| i as u32)
}

fn region_index(code: Option<&str>) -> u32 {
    regions::REGIONS
        .iter()
        .position(|r| Some(r.0) == code)
        .map_or(UNKNOWN, |i| i as u32)
}

fn top_index(code: Option<&str>) -> u32 {
    let top = code.and_then(classification::top_level);
    top.and_then(|t| classification::all().iter().position(|c| c.code == t.code))
        .map_or(UNKNOWN, |i| i as u32)
}

fn class_index(code: Option<&str>) -> u32 {
    code.and_then(|code| classification::all().iter().position(|c| c.code == code))
        .map_or(UNKNOWN, |i| i as u32)
}

/// Which classes (by position in the classification) lie at or under `code`.
fn classes_under(code: &str) -> Vec<bool> {
    classification::all()
        .iter()
        .map(|class| super::fields::category_path(class.code).contains(&code))
        .collect()
}

impl StatsTable {
    /// Moves on with every change to the rows.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Makes `record` the current version of the instrument in `slot`: its row, or none when
    /// the record is not a current instrument (a tombstone, a service under the id). `slot` is
    /// `None` for an id that never was an instrument, which has no row to change.
    pub fn put(&mut self, slot: Option<u32>, record: &Json) {
        let Some(slot) = slot else {
            return;
        };
        self.version += 1;
        let row = crate::is_current_instrument(record)
            .then(|| self.row(region_index(text(record, "/region")), record));
        self.rows.set(slot, row);
    }

    fn row(&mut self, region: u32, record: &Json) -> Row {
        let mut name = |pointer: &str| text(record, pointer).map_or(UNKNOWN, |n| self.names.id(n));
        let province = name("/location/province");
        let institution = name("/institution/name");
        let carrier = name("/carrier/name");
        let run_hours = small(record, "/usage/run_hours");
        Row {
            value: record
                .get("original_value_cny")
                .and_then(Json::as_u64)
                .unwrap_or(NO_VALUE),
            province,
            institution,
            carrier,
            run_hours: run_hours.unwrap_or(0),
            external_hours: small(record, "/usage/external_service_hours").unwrap_or(0),
            class: narrow(class_index(text(record, "/category"))),
            top_category: narrow(top_index(text(record, "/category"))),
            year: narrow(small(record, "/usage/year").unwrap_or(UNKNOWN)),
            region: narrow(region),
            carrier_type: narrow(position(&CARRIER_TYPE, text(record, "/carrier/type"))),
            sharing: narrow(position(&SHARING_MODE, text(record, "/sharing/mode"))),
            status: narrow(position(&STATUS, text(record, "/status"))),
            reports_run_hours: run_hours.is_some(),
        }
    }

    /// The statistics for a query: rows by instruments (descending), then key.
    pub fn query(&self, query: &StatsQuery) -> StatsResponse {
        let region = query.region.as_deref().map(|r| region_index(Some(r)));
        let classes = query.category.as_deref().map(classes_under);
        let in_category = |row: &Row| {
            classes.as_ref().is_none_or(|under| {
                under
                    .get(widen(row.class) as usize)
                    .copied()
                    .unwrap_or(false)
            })
        };
        let ids = self.names.len();
        let mut groups: IdMap<Accumulator> = IdMap::default();
        let mut total = Accumulator::new(ids);
        for row in self
            .rows
            .rows()
            .filter(|r| region.is_none_or(|g| widen(r.region) == g) && in_category(r))
        {
            groups
                .entry(group_key(query.group_by, row))
                .or_insert_with(|| Accumulator::new(ids))
                .add(row);
            total.add(row);
        }
        let mut rows: Vec<StatsRow> = groups
            .into_iter()
            .map(|(key, acc)| {
                let (key, label) = self.key_label(query.group_by, key);
                StatsRow {
                    key,
                    label,
                    figures: acc.finish(),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.figures
                .instruments
                .cmp(&a.figures.instruments)
                .then_with(|| a.key.cmp(&b.key))
        });
        StatsResponse {
            group_by: query.group_by.as_str(),
            rows,
            total: total.finish(),
        }
    }

    fn key_label(&self, group_by: GroupBy, key: u32) -> (String, String) {
        let i = key as usize;
        let pair: Option<(&str, &str)> = match group_by {
            GroupBy::Region => regions::REGIONS.get(i).map(|r| (r.0, r.1)),
            GroupBy::Category => classification::all().get(i).map(|c| (c.code, c.name_zh)),
            GroupBy::CarrierType => code_label(&CARRIER_TYPE, i),
            GroupBy::Sharing => code_label(&SHARING_MODE, i),
            GroupBy::Status => code_label(&STATUS, i),
            GroupBy::Year if key != UNKNOWN => return (key.to_string(), key.to_string()),
            GroupBy::Province | GroupBy::Institution if key != UNKNOWN => {
                let name = self.names.name(key);
                return (name.to_string(), name.to_string());
            }
            GroupBy::Year | GroupBy::Province | GroupBy::Institution => None,
        };
        let (key, label) = pair.unwrap_or((UNKNOWN_KEY, "未知"));
        (key.to_string(), label.to_string())
    }
}

/// The code and Chinese label of the value at schema position `i`.
fn code_label(enumeration: &Enumeration, i: usize) -> Option<(&'static str, &'static str)> {
    enumeration.values.get(i).map(|l| (l.code, l.zh))
}

fn group_key(group_by: GroupBy, row: &Row) -> u32 {
    match group_by {
        GroupBy::Region => widen(row.region),
        GroupBy::Province => row.province,
        GroupBy::Category => widen(row.top_category),
        GroupBy::Institution => row.institution,
        GroupBy::CarrierType => widen(row.carrier_type),
        GroupBy::Sharing => widen(row.sharing),
        GroupBy::Status => widen(row.status),
        GroupBy::Year => widen(row.year),
    }
}

/// A multiplicative hash for the small integer ids of the grouping (SipHash is 5× slower here).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.write_u64(u64::from(id));
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0.rotate_left(5) ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdSet = HashSet<u32, BuildHasherDefault<IdHasher>>;
type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

struct Accumulator {
    figures: Figures,
    institutions: DistinctIds,
    carriers: DistinctIds,
}

impl Accumulator {
    /// An empty group over interned ids below `ids`.
    fn new(ids: usize) -> Accumulator {
        Accumulator {
            figures: Figures::default(),
            institutions: DistinctIds::new(ids),
            carriers: DistinctIds::new(ids),
        }
    }

    fn add(&mut self, row: &Row) {
        let f = &mut self.figures;
        f.instruments += 1;
        match row.value() {
            Some(value) => f.original_value_cny += u128::from(value),
            None => f.value_unknown += 1,
        }
        f.externally_shared += u64::from(widen(row.sharing) == EXTERNAL);
        f.run_hours += u64::from(row.run_hours().unwrap_or(0));
        f.external_service_hours += u64::from(row.external_hours);
        f.idle += u64::from(row.run_hours().is_some_and(|h| h < IDLE_RUN_HOURS));
        if row.institution != UNKNOWN {
            self.institutions.insert(row.institution);
        }
        if row.carrier != UNKNOWN {
            self.carriers.insert(row.carrier);
        }
    }

    fn finish(self) -> Figures {
        Figures {
            institutions: self.institutions.count(),
            carriers: self.carriers.count(),
            ..self.figures
        }
    }
}

/// The distinct interned ids (institutions, carriers) one group has seen. A group starts with a
/// hash set and turns into a bitset over every interned id once the set would be the larger: a
/// nation-wide group sees tens of thousands of ids, where setting a bit costs a tenth of hashing
/// (a whole-nation `/v1/stats` over 10M records spent most of its 250–500 ms in these sets),
/// while the thousands of small groups of `group_by=institution` stay a few ids each.
enum DistinctIds {
    Few { ids: IdSet, universe: usize },
    Many { bits: Vec<u64>, count: u64 },
}

impl DistinctIds {
    fn new(universe: usize) -> DistinctIds {
        DistinctIds::Few {
            ids: IdSet::default(),
            universe,
        }
    }

    fn insert(&mut self, id: u32) {
        match self {
            DistinctIds::Few { ids, universe } => {
                ids.insert(id);
                // A set entry costs about 8 bytes with its control byte; a bitset universe / 8.
                if ids.len() * 64 > *universe {
                    *self = DistinctIds::bitset(ids, *universe);
                }
            }
            DistinctIds::Many { bits, count } => {
                let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
                if word >= bits.len() {
                    bits.resize(word + 1, 0);
                }
                *count += u64::from(bits[word] & bit == 0);
                bits[word] |= bit;
            }
        }
    }

    fn bitset(ids: &IdSet, universe: usize) -> DistinctIds {
        let mut many = DistinctIds::Many {
            bits: vec![0; universe.div_ceil(64)],
            count: 0,
        };
        for &id in ids {
            many.insert(id);
        }
        many
    }

    fn count(&self) -> u64 {
        match self {
            DistinctIds::Few { ids, .. } => ids.len() as u64,
            DistinctIds::Many { count, .. } => *count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::StatsFormat;
    use crate::tables::Tables;
    use serde_json::json;
    use yiqi_schema::testing::sample_record;

    #[test]
    fn distinct_ids_count_the_same_as_a_set_and_turn_into_bits() {
        let universe = 1_000;
        let mut distinct = DistinctIds::new(universe);
        let mut expected = std::collections::BTreeSet::new();
        for i in 0..5_000u32 {
            let id = (i * 7_919) % universe as u32;
            distinct.insert(id);
            expected.insert(id);
            assert_eq!(distinct.count(), expected.len() as u64, "after {i} inserts");
        }
        assert!(matches!(distinct, DistinctIds::Many { .. }));
        distinct.insert(5_000); // an id interned after the query began never panics
        assert_eq!(distinct.count(), universe as u64 + 1);
        let mut few = DistinctIds::new(1_000_000);
        few.insert(3);
        few.insert(3);
        assert!(matches!(few, DistinctIds::Few { .. }));
        assert_eq!(few.count(), 1);
    }

    #[test]
    fn a_row_and_its_slot_take_forty_bytes() {
        assert_eq!(std::mem::size_of::<Option<Row>>(), 40);
    }

    #[test]
    fn compact_codes_keep_unknown_apart() {
        assert_eq!(widen(narrow::<u8>(UNKNOWN)), UNKNOWN);
        assert_eq!(widen(narrow::<u16>(UNKNOWN)), UNKNOWN);
        assert_eq!(widen(narrow::<u8>(33)), 33);
        assert_eq!(widen(narrow::<u16>(2100)), 2100);
        assert_eq!(narrow::<u8>(300), u8::MAX);
    }

    #[test]
    fn external_is_the_schema_position_of_external_sharing() {
        assert_eq!(SHARING_MODE.position("external"), Some(EXTERNAL as usize));
    }

    fn record(local_id: &str, patch: Json) -> Json {
        let mut record = sample_record();
        record["local_id"] = json!(local_id);
        for (k, v) in patch.as_object().unwrap() {
            record[k] = v.clone();
        }
        record
    }

    fn by(group_by: GroupBy) -> StatsQuery {
        StatsQuery {
            group_by,
            region: None,
            category: None,
            format: StatsFormat::Json,
        }
    }

    #[test]
    fn sums_near_two_to_the_53_are_exact() {
        let mut tables = Tables::default();
        let max = 9_007_199_254_740_991u64;
        for i in 0..1000u64 {
            tables.apply(
                i + 1,
                &record(&format!("A{i}"), json!({"original_value_cny": max})),
            );
        }
        let stats = tables.stats.query(&by(GroupBy::Region));
        assert_eq!(stats.total.original_value_cny, u128::from(max) * 1000);
        assert_eq!(
            stats.rows[0].figures.original_value_cny,
            u128::from(max) * 1000
        );
        let text = serde_json::to_string(&stats).unwrap();
        assert!(
            text.contains("\"original_value_cny\":9007199254740991000"),
            "{text}"
        );
    }

    #[test]
    fn replacement_tombstone_and_replay_idempotence() {
        let mut tables = Tables::default();
        tables.apply(1, &record("A", json!({"original_value_cny": 10})));
        tables.apply(2, &record("A", json!({"original_value_cny": 30})));
        tables.apply(2, &record("A", json!({"original_value_cny": 99})));
        tables.apply(1, &record("A", json!({"original_value_cny": 99})));
        assert_eq!(
            tables
                .stats
                .query(&by(GroupBy::Region))
                .total
                .original_value_cny,
            30
        );
        let tombstone = json!({"kind": "instrument", "region": "CN-GS", "local_id": "A", "version": 9,
            "updated_at": "2026-03-02T00:00:00Z", "deleted": true});
        tables.apply(3, &tombstone);
        assert_eq!(
            tables.stats.query(&by(GroupBy::Region)).total.instruments,
            0
        );
        assert_eq!(tables.seq(), 3);
        assert!(tables.stats.query(&by(GroupBy::Region)).rows.is_empty());
    }

    #[test]
    fn figures_and_idle_threshold() {
        let mut tables = Tables::default();
        tables.apply(
            1,
            &record(
                "A",
                json!({"usage": {"year": 2025, "run_hours": 199, "external_service_hours": 5}}),
            ),
        );
        tables.apply(
            2,
            &record(
                "B",
                json!({"usage": {"year": 2025, "run_hours": 200}, "institution": {"name": "北大"}}),
            ),
        );
        let mut c = record("C", json!({"sharing": {"mode": "internal"}}));
        c.as_object_mut().unwrap().remove("usage");
        c.as_object_mut().unwrap().remove("original_value_cny");
        c.as_object_mut().unwrap().remove("carrier");
        tables.apply(3, &c);
        let total = tables.stats.query(&by(GroupBy::Region)).total;
        assert_eq!(total.instruments, 3);
        assert_eq!(total.idle, 1);
        assert_eq!(total.run_hours, 399);
        assert_eq!(total.external_service_hours, 5);
        assert_eq!(total.institutions, 2);
        assert_eq!(total.carriers, 1);
        assert_eq!(total.externally_shared, 2);
        assert_eq!(total.value_unknown, 1);
        assert_eq!(total.original_value_cny, 2 * 12_800_000);
        let years = tables.stats.query(&by(GroupBy::Year));
        assert_eq!(years.rows[0].key, "2025");
        assert_eq!(years.rows[1].key, UNKNOWN_KEY);
    }

    #[test]
    fn groupings_labels_order_and_region_filter() {
        let mut tables = Tables::default();
        tables.apply(1, &record("A", json!({})));
        tables.apply(
            2,
            &record("B", json!({"region": "CN-BJ", "category": "020101"})),
        );
        tables.apply(3, &record("C", json!({"region": "CN-BJ"})));
        let regions = tables.stats.query(&by(GroupBy::Region));
        assert_eq!(regions.rows[0].key, "CN-BJ");
        assert_eq!(regions.rows[0].label, "北京市");
        assert_eq!(regions.rows[1].label, "甘肃省");
        let categories = tables.stats.query(&by(GroupBy::Category));
        assert_eq!(
            (
                categories.rows[0].key.as_str(),
                categories.rows[0].label.as_str()
            ),
            ("010000", "分析仪器")
        );
        assert_eq!(categories.rows[1].key, "020000");
        let filtered = tables.stats.query(&StatsQuery {
            region: Some("CN-GS".into()),
            ..by(GroupBy::Category)
        });
        assert_eq!(filtered.total.instruments, 1);
        for (code, instruments) in [("020101", 1), ("020000", 1), ("010000", 2), ("030000", 0)] {
            let in_class = tables.stats.query(&StatsQuery {
                category: Some(code.into()),
                ..by(GroupBy::Region)
            });
            assert_eq!(in_class.total.instruments, instruments, "{code}");
        }
        let beijing_analytical = tables.stats.query(&StatsQuery {
            region: Some("CN-BJ".into()),
            category: Some("010000".into()),
            ..by(GroupBy::Region)
        });
        assert_eq!(beijing_analytical.total.instruments, 1);
        for group_by in crate::params::GROUP_BYS {
            let stats = tables.stats.query(&by(group_by));
            let sum: u64 = stats.rows.iter().map(|r| r.figures.instruments).sum();
            assert_eq!(sum, 3, "{group_by:?}");
            assert!(stats.rows.iter().all(|r| !r.label.is_empty()));
        }
        let carriers = tables.stats.query(&by(GroupBy::CarrierType));
        assert_eq!(carriers.rows[0].key, "instrument_center");
    }

    #[test]
    fn csv_quotes_and_totals() {
        let mut tables = Tables::default();
        tables.apply(
            1,
            &record("A", json!({"institution": {"name": "大学, \"甲\""}})),
        );
        tables.apply(
            2,
            &record("B", json!({"institution": {"name": "=HYPERLINK(\"x\")"}})),
        );
        let csv = tables.stats.query(&by(GroupBy::Institution)).to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("\u{feff}代码 Code,名称 Name,仪器数 Instruments,"));
        assert!(!lines[0].contains("original_value_cny"));
        assert!(lines.contains(
            &"\"'=HYPERLINK(\"\"x\"\")\",\"'=HYPERLINK(\"\"x\"\")\",1,12800000,1,1,1,1620,310,0,0"
        ));
        assert!(
            lines.contains(
                &"\"大学, \"\"甲\"\"\",\"大学, \"\"甲\"\"\",1,12800000,1,1,1,1620,310,0,0"
            )
        );
        assert_eq!(lines[3], "total,合计 Total,2,25600000,2,1,2,3240,620,0,0");
        assert_eq!(lines[4], "");
    }
}
