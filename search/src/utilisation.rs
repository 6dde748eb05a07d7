//! Utilisation: how much the instruments served, per year, for the national office.
//!
//! The table keeps, exactly and in memory, what `/v1/utilisation`, `/v1/flows`, `idle=Y` on
//! `/v1/search` and the `/utilisation` page need, as aggregates rather than copies of records:
//! - per instrument (live or not): its grouping facts while it is live, its usage per year (the
//!   latest version that reported that year wins, so reporting 2025 does not erase 2024), and
//!   its services summed by (year, client region, purpose, client);
//! - per service record: only the few numbers needed to take its contribution back out when a
//!   newer version replaces it or a tombstone deletes it (about 32 bytes behind a 16-byte digest
//!   of its id).
//!
//! Two meanings of "idle" exist and are kept apart: the status `standby` (闲置) is what a platform
//! reports; "idle in year Y" here is an instrument whose reported run hours for Y are under the
//! idle threshold ([`DEFAULT_IDLE_HOURS`] unless the request says `idle_below`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value as Json;
use yiqi_schema::protocol::labels::{CARRIER_TYPE, SERVICE_CLIENT, SERVICE_PURPOSE};
use yiqi_schema::spreadsheet::{UTF8_BOM, push_text_field};
use yiqi_schema::validate::{centi_hours, is_service_record};
use yiqi_schema::{classification, regions};

use crate::fields::{at, small, text};
use crate::params::{self, ParamError, StatsFormat};
use crate::slots::{DigestMap, RecordKey, SlotTable};
use crate::stats::{Compact, Interner, NO_VALUE, UNKNOWN_KEY, narrow, widen};

/// Run hours in a year under which a reporting instrument counts as idle, unless a request sets
/// `idle_below`.
pub const DEFAULT_IDLE_HOURS: u32 = crate::stats::IDLE_RUN_HOURS;
/// The page's year when neither the request, the data nor the clock gives one.
const DEFAULT_YEAR: u16 = 2025;
/// Absent or unknown (no region, no client region, no category…).
const UNKNOWN: u32 = u32::MAX;
/// What the answers say beside the idle figures.
pub const IDLE_DEFINITION: &str = "idle: reporting instruments whose run hours for the year are under idle_threshold_hours; not the status standby (闲置), which a platform reports itself";

/// The utilisation table; the hub and the nodes hold one inside their [`crate::SearchService`].
#[derive(Default)]
pub struct UtilisationTable {
    seq: u64,
    /// Every instrument seen, live or not (its usage and services outlive a tombstone).
    instruments: SlotTable<Instrument>,
    /// The instruments' local ids end to end (`idle=Y` searches by id); each instrument knows
    /// where its own lies. Instruments are never removed, so nothing here goes stale.
    local_ids: String,
    services: DigestMap<Service>,
    names: Interner,
}

/// One instrument in 48 bytes while it reports usage for one year and has no services: what
/// it is grouped and filtered by while it is live (names interned, codes compact, absent as
/// [`Compact::NONE`] and [`NO_VALUE`]), one year's usage inline, and behind a pointer, made
/// only when needed, its other years and its services.
struct Instrument {
    value: u64,
    province: u32,
    institution: u32,
    /// Where its local id starts in [`UtilisationTable::local_ids`].
    local_id_at: u32,
    /// One year's usage; `year` [`NO_YEAR`] when none.
    usage: Usage,
    category: u16,
    top_category: u16,
    region: u8,
    carrier_type: u8,
    local_id_len: u8,
    live: bool,
    more: Option<Box<More>>,
}

/// An instrument's usage beyond its first year, and its services.
#[derive(Default)]
struct More {
    usage: Vec<Usage>,
    services: Vec<Cell>,
}

/// What an instrument is grouped and filtered by, while it is live.
struct Facts {
    category: u16,
    top_category: u16,
    province: u32,
    institution: u32,
    carrier_type: u8,
    value: u64,
}

/// No usage year (the schema's years are 1900–2100).
const NO_YEAR: u16 = 0;

impl Instrument {
    fn new(region: u8, local_id_at: u32, local_id_len: u8) -> Instrument {
        Instrument {
            value: NO_VALUE,
            province: UNKNOWN,
            institution: UNKNOWN,
            local_id_at,
            usage: Usage {
                year: NO_YEAR,
                run_hours: 0,
                external_hours: 0,
            },
            category: u16::NONE,
            top_category: u16::NONE,
            region,
            carrier_type: u8::NONE,
            local_id_len,
            live: false,
            more: None,
        }
    }

    fn set_live(&mut self, facts: Facts) {
        self.value = facts.value;
        self.province = facts.province;
        self.institution = facts.institution;
        self.category = facts.category;
        self.top_category = facts.top_category;
        self.carrier_type = facts.carrier_type;
        self.live = true;
    }

    fn value(&self) -> Option<u64> {
        (self.value != NO_VALUE).then_some(self.value)
    }

    fn region(&self) -> u32 {
        widen(self.region)
    }

    /// Its usage, one per year reported.
    fn usage(&self) -> impl Iterator<Item = &Usage> {
        let first = (self.usage.year != NO_YEAR).then_some(&self.usage);
        let more = self.more.iter().flat_map(|more| more.usage.iter());
        first.into_iter().chain(more)
    }

    /// Makes `usage` its usage for `usage.year`.
    fn report(&mut self, usage: Usage) {
        if self.usage.year == NO_YEAR || self.usage.year == usage.year {
            self.usage = usage;
            return;
        }
        let more = &mut self.more.get_or_insert_with(Box::default).usage;
        more.retain(|u| u.year != usage.year);
        more.push(usage);
    }

    fn services(&self) -> &[Cell] {
        match &self.more {
            Some(more) => &more.services,
            None => &[],
        }
    }

    fn services_mut(&mut self) -> &mut Vec<Cell> {
        &mut self.more.get_or_insert_with(Box::default).services
    }
}

#[derive(Clone, Copy)]
struct Usage {
    year: u16,
    run_hours: u32,
    external_hours: u32,
}

/// The services of one instrument with the same year, client region, purpose and client.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CellKey {
    year: u16,
    client_region: u32,
    purpose: u32,
    client: u32,
}

#[derive(Clone, Copy)]
struct Cell {
    key: CellKey,
    sums: Sums,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Sums {
    services: u64,
    centi_hours: u64,
    amount: u128,
    voucher: u128,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.services += other.services;
        self.centi_hours += other.centi_hours;
        self.amount += other.amount;
        self.voucher += other.voucher;
    }

    fn subtract(&mut self, other: &Sums) {
        self.services -= other.services;
        self.centi_hours -= other.centi_hours;
        self.amount -= other.amount;
        self.voucher -= other.voucher;
    }
}

/// One live service record, reduced to what takes its contribution back out.
#[derive(Clone, Copy)]
struct Service {
    slot: u32,
    year: u16,
    client_region: u8,
    purpose: u8,
    client: u8,
    centi_hours: u32,
    amount: u64,
    voucher: u64,
}

impl Service {
    fn cell_key(&self) -> CellKey {
        CellKey {
            year: self.year,
            client_region: widen(self.client_region),
            purpose: widen(self.purpose),
            client: widen(self.client),
        }
    }

    fn sums(&self) -> Sums {
        Sums {
            services: 1,
            centi_hours: u64::from(self.centi_hours),
            amount: u128::from(self.amount),
            voucher: u128::from(self.voucher),
        }
    }
}

fn region_index(code: Option<&str>) -> u32 {
    code.and_then(|c| regions::REGIONS.iter().position(|r| r.0 == c))
        .map_or(UNKNOWN, |i| i as u32)
}

fn class_index(code: Option<&str>) -> u32 {
    code.and_then(|c| classification::all().iter().position(|k| k.code == c))
        .map_or(UNKNOWN, |i| i as u32)
}

fn enum_index(enumeration: &yiqi_schema::protocol::labels::Enumeration, code: Option<&str>) -> u32 {
    code.and_then(|c| enumeration.position(c))
        .map_or(UNKNOWN, |i| i as u32)
}

/// The year a service started in, in its own offset (the first four digits of `started_at`).
fn start_year(record: &Json) -> Option<u16> {
    text(record, "/started_at")?.get(..4)?.parse().ok()
}

impl UtilisationTable {
    /// The highest seq applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Applies one accepted version in log order; versions at or below the applied seq are
    /// ignored, so a replay never counts anything twice. Returns what [`UtilisationTable::put`]
    /// does (`None` for an ignored version).
    pub fn apply(&mut self, seq: u64, record: &Json) -> Option<u32> {
        if seq <= self.seq {
            return None;
        }
        self.seq = seq;
        self.put(record)
    }

    /// Makes `record` the current version of its id, whatever the applied seq: an instrument
    /// version replaces the instrument's facts and its usage for the year it reports; a service
    /// version replaces the service's contribution; a tombstone (or a record of the other kind
    /// under the same id) takes the id's previous contribution out.
    ///
    /// Returns the slot of the id's instrument, if the id is or ever was one: instruments keep
    /// their slots, so the statistics keep their rows by these slots too ([`crate::tables`]).
    pub fn put(&mut self, record: &Json) -> Option<u32> {
        let (Some(region), Some(local_id)) = (text(record, "/region"), text(record, "/local_id"))
        else {
            return None;
        };
        let deleted = record.get("deleted").and_then(Json::as_bool) == Some(true);
        let key = RecordKey::new(region, local_id);
        if let Some(old) = self.services.remove(&key) {
            self.take_out(&old);
        }
        let known = self.instruments.slot(&key);
        if let Some(instrument) = known.and_then(|slot| self.instruments.at_mut(slot)) {
            instrument.live = false;
        }
        if deleted || yiqi_schema::validate::is_key_record(record) {
            return known;
        }
        if is_service_record(record) {
            if let Some(service) = self.service(region, record) {
                self.put_in(&service);
                self.services.insert(key, service);
            }
            return known;
        }
        let slot = self.slot(region, local_id);
        let facts = self.facts(record);
        if let Some(instrument) = self.instruments.at_mut(slot) {
            instrument.set_live(facts);
            if let Some(usage) = usage(record) {
                instrument.report(usage);
            }
        }
        Some(slot)
    }

    /// The slot of an instrument, made (not live) when it is new.
    fn slot(&mut self, region: &str, local_id: &str) -> u32 {
        let local_ids = &mut self.local_ids;
        self.instruments
            .slot_or_insert_with(RecordKey::new(region, local_id), || {
                // Past 4 GiB of ids (the schema allows 64 bytes each) an id is not found again.
                let at = u32::try_from(local_ids.len()).unwrap_or(u32::MAX);
                local_ids.push_str(local_id);
                Instrument::new(
                    narrow(region_index(Some(region))),
                    at,
                    u8::try_from(local_id.len()).unwrap_or(0),
                )
            })
    }

    /// The local id of `instrument`.
    fn local_id(&self, instrument: &Instrument) -> Option<&str> {
        let at = instrument.local_id_at as usize;
        self.local_ids
            .get(at..at + usize::from(instrument.local_id_len))
            .filter(|id| !id.is_empty())
    }

    fn facts(&mut self, record: &Json) -> Facts {
        let mut name = |pointer: &str| text(record, pointer).map_or(UNKNOWN, |n| self.names.id(n));
        let province = name("/location/province");
        let institution = name("/institution/name");
        let category = text(record, "/category");
        Facts {
            category: narrow(class_index(category)),
            top_category: narrow(class_index(
                category.and_then(classification::top_level).map(|c| c.code),
            )),
            province,
            institution,
            carrier_type: narrow(enum_index(&CARRIER_TYPE, text(record, "/carrier/type"))),
            value: record
                .get("original_value_cny")
                .and_then(Json::as_u64)
                .unwrap_or(NO_VALUE),
        }
    }

    fn service(&mut self, region: &str, record: &Json) -> Option<Service> {
        let instrument = text(record, "/instrument")?;
        let hours = record.get("hours").and_then(Json::as_f64)?;
        let amount = |pointer: &str| at(record, pointer).and_then(Json::as_u64).unwrap_or(0);
        Some(Service {
            slot: self.slot(region, instrument),
            year: start_year(record)?,
            client_region: narrow(region_index(text(record, "/client_institution/region"))),
            purpose: narrow(enum_index(&SERVICE_PURPOSE, text(record, "/purpose"))),
            client: narrow(enum_index(&SERVICE_CLIENT, text(record, "/client"))),
            centi_hours: centi_hours(hours).and_then(|c| u32::try_from(c).ok())?,
            amount: amount("/amount_cny"),
            voucher: amount("/voucher/amount_cny"),
        })
    }

    fn put_in(&mut self, service: &Service) {
        let key = service.cell_key();
        let Some(instrument) = self.instruments.at_mut(service.slot) else {
            return;
        };
        let cells = instrument.services_mut();
        match cells.iter_mut().find(|c| c.key == key) {
            Some(cell) => cell.sums.add(&service.sums()),
            None => cells.push(Cell {
                key,
                sums: service.sums(),
            }),
        }
    }

    fn take_out(&mut self, service: &Service) {
        let key = service.cell_key();
        let Some(instrument) = self.instruments.at_mut(service.slot) else {
            return;
        };
        let cells = instrument.services_mut();
        if let Some(i) = cells.iter().position(|c| c.key == key) {
            cells[i].sums.subtract(&service.sums());
            if cells[i].sums.services == 0 {
                cells.swap_remove(i);
            }
        }
    }

    /// The live instruments.
    fn live(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.rows().filter(|instrument| instrument.live)
    }

    /// `GET /v1/utilisation`: rows by instruments (descending), then key.
    pub fn utilisation(&self, query: &UtilisationQuery) -> UtilisationResponse {
        let region = query.region.as_deref().map(|r| region_index(Some(r)));
        let mut groups: HashMap<u32, Figures> = HashMap::new();
        let mut total = Figures::default();
        let year = query.year;
        for instrument in self.live() {
            if region.is_some_and(|r| r != instrument.region())
                || !within_category(instrument, query.category.as_deref())
            {
                continue;
            }
            let mut figures = Figures::default();
            figures.add_instrument(instrument, year, query.idle_below);
            groups
                .entry(group_key(query.group_by, instrument))
                .or_default()
                .merge(&figures);
            total.merge(&figures);
        }
        let mut rows: Vec<UtilisationRow> = groups
            .into_iter()
            .map(|(key, figures)| {
                let (key, label) = self.key_label(query.group_by, key);
                UtilisationRow {
                    key,
                    label,
                    figures,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.figures
                .instruments
                .cmp(&a.figures.instruments)
                .then_with(|| a.key.cmp(&b.key))
        });
        UtilisationResponse {
            year,
            group_by: query.group_by.as_str(),
            idle_threshold_hours: query.idle_below,
            idle_definition: IDLE_DEFINITION,
            rows,
            total,
        }
    }

    /// `GET /v1/flows`: services of live instruments that started in the year, by client region
    /// and owner region; most services first.
    pub fn flows(&self, year: u16) -> FlowsResponse {
        let mut flows: BTreeMap<(u32, u32), Sums> = BTreeMap::new();
        for instrument in self.live() {
            for cell in instrument.services().iter().filter(|c| c.key.year == year) {
                flows
                    .entry((cell.key.client_region, instrument.region()))
                    .or_default()
                    .add(&cell.sums);
            }
        }
        let code = |i: u32| regions::REGIONS.get(i as usize).map(|r| r.0);
        let mut rows: Vec<FlowRow> = flows
            .into_iter()
            .map(|((client, owner), sums)| FlowRow {
                client_region: code(client),
                owner_region: code(owner).unwrap_or(UNKNOWN_KEY),
                services: sums.services,
                hours: Hours(sums.centi_hours),
                amount_cny: sums.amount,
                voucher_amount_cny: sums.voucher,
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.services));
        FlowsResponse { year, rows }
    }

    /// The years live instruments reported usage or services for, newest first.
    pub fn years(&self) -> Vec<u16> {
        let mut years: Vec<u16> = self
            .live()
            .flat_map(|instrument| {
                let usage = instrument.usage().map(|u| u.year);
                usage.chain(instrument.services().iter().map(|c| c.key.year))
            })
            .collect();
        years.sort_unstable_by(|a, b| b.cmp(a));
        years.dedup();
        years
    }

    /// The ids (`region/local_id`) of the live instruments idle in `year`: reporting run hours
    /// for it under `idle_below`.
    pub fn idle_ids(&self, year: u16, idle_below: u32) -> Vec<String> {
        self.live()
            .filter(|instrument| {
                usage_of(instrument, year).is_some_and(|u| u.run_hours < idle_below)
            })
            .filter_map(|instrument| {
                let code = regions::REGIONS.get(instrument.region() as usize)?.0;
                Some(format!("{code}/{}", self.local_id(instrument)?))
            })
            .collect()
    }

    /// One instrument's usage by year and its services by year, purpose and client (counts and
    /// hours), for its page; `None` when the table knows nothing of it.
    pub fn instrument(&self, region: &str, local_id: &str) -> Option<InstrumentUtilisation> {
        let instrument = self.instruments.get(&RecordKey::new(region, local_id))?;
        let mut usage: Vec<YearUsage> = instrument
            .usage()
            .map(|u| YearUsage {
                year: u.year,
                run_hours: u.run_hours,
                external_service_hours: u.external_hours,
            })
            .collect();
        usage.sort_by_key(|u| std::cmp::Reverse(u.year));
        let mut services: BTreeMap<(std::cmp::Reverse<u16>, &str, &str), Sums> = BTreeMap::new();
        for cell in instrument.services() {
            let label = |e: &yiqi_schema::protocol::labels::Enumeration, i: u32| {
                e.values.get(i as usize).map_or(UNKNOWN_KEY, |l| l.code)
            };
            services
                .entry((
                    std::cmp::Reverse(cell.key.year),
                    label(&SERVICE_PURPOSE, cell.key.purpose),
                    label(&SERVICE_CLIENT, cell.key.client),
                ))
                .or_default()
                .add(&cell.sums);
        }
        let services = services
            .into_iter()
            .map(|((year, purpose, client), sums)| ServiceGroup {
                year: year.0,
                purpose,
                client,
                services: sums.services,
                hours: Hours(sums.centi_hours),
            })
            .collect();
        Some(InstrumentUtilisation { usage, services })
    }

    fn key_label(&self, group_by: UtilisationGroupBy, key: u32) -> (String, String) {
        let i = key as usize;
        let pair: Option<(&str, &str)> = match group_by {
            UtilisationGroupBy::Region => regions::REGIONS.get(i).map(|r| (r.0, r.1)),
            UtilisationGroupBy::Category => {
                classification::all().get(i).map(|c| (c.code, c.name_zh))
            }
            UtilisationGroupBy::CarrierType => CARRIER_TYPE.values.get(i).map(|l| (l.code, l.zh)),
            UtilisationGroupBy::Province | UtilisationGroupBy::Institution if key != UNKNOWN => {
                let name = self.names.name(key);
                return (name.to_string(), name.to_string());
            }
            UtilisationGroupBy::Province | UtilisationGroupBy::Institution => None,
        };
        let (key, label) = pair.unwrap_or((UNKNOWN_KEY, "未知"));
        (key.to_string(), label.to_string())
    }
}

fn usage(record: &Json) -> Option<Usage> {
    Some(Usage {
        year: u16::try_from(small(record, "/usage/year")?)
            .ok()
            .filter(|&year| year != NO_YEAR)?,
        run_hours: small(record, "/usage/run_hours")?,
        external_hours: small(record, "/usage/external_service_hours").unwrap_or(0),
    })
}

fn usage_of(instrument: &Instrument, year: u16) -> Option<&Usage> {
    instrument.usage().find(|u| u.year == year)
}

fn within_category(instrument: &Instrument, category: Option<&str>) -> bool {
    let Some(category) = category else {
        return true;
    };
    classification::all()
        .get(widen(instrument.category) as usize)
        .is_some_and(|c| classification::is_within(c.code, category))
}

fn group_key(group_by: UtilisationGroupBy, instrument: &Instrument) -> u32 {
    match group_by {
        UtilisationGroupBy::Region => instrument.region(),
        UtilisationGroupBy::Province => instrument.province,
        UtilisationGroupBy::Institution => instrument.institution,
        UtilisationGroupBy::Category => widen(instrument.top_category),
        UtilisationGroupBy::CarrierType => widen(instrument.carrier_type),
    }
}

/// Hours kept in hundredths, written as a JSON number (`12.5`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hours(pub u64);

impl Serialize for Hours {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(100) {
            serializer.serialize_u64(self.0 / 100)
        } else {
            serializer.serialize_f64(self.0 as f64 / 100.0)
        }
    }
}

impl std::fmt::Display for Hours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 % 100 {
            0 => write!(f, "{}", self.0 / 100),
            centi if centi % 10 == 0 => write!(f, "{}.{}", self.0 / 100, centi / 10),
            centi => write!(f, "{}.{centi:02}", self.0 / 100),
        }
    }
}

/// The figures of one group of `/v1/utilisation` (or of all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Live instruments.
    pub instruments: u64,
    /// Those with usage reported for the year.
    pub reporting: u64,
    pub run_hours: u64,
    pub external_service_hours: u64,
    /// Reporting instruments with run hours under the idle threshold.
    pub idle: u64,
    /// Sum of their `original_value_cny` (those without a value add nothing).
    pub idle_value_cny: u128,
    /// Live service records that started in the year on a live instrument of the group.
    pub services: u64,
    pub service_hours: Hours,
    pub service_amount_cny: u128,
    /// Those whose client is `external`.
    pub external_services: u64,
    pub voucher_amount_cny: u128,
    /// Those whose client region is known and differs from the instrument owner's.
    pub cross_region_services: u64,
}

/// The column names of [`Figures`], in JSON and CSV order.
pub const FIGURE_NAMES: [&str; 12] = [
    "instruments",
    "reporting",
    "run_hours",
    "external_service_hours",
    "idle",
    "idle_value_cny",
    "services",
    "service_hours",
    "service_amount_cny",
    "external_services",
    "voucher_amount_cny",
    "cross_region_services",
];

/// Headings for people, in [`FIGURE_NAMES`] order.
pub const FIGURE_LABELS: [&str; 12] = [
    "仪器数 Instruments",
    "填报机时的仪器 Reporting",
    "年运行机时 Run hours",
    "年对外服务机时 External service hours",
    "低于闲置机时线 Idle (under threshold)",
    "闲置仪器原值（元） Idle value (CNY)",
    "服务次数 Services",
    "服务机时 Service hours",
    "服务金额（元） Service amount (CNY)",
    "对外服务次数 External services",
    "创新券金额（元） Voucher amount (CNY)",
    "跨地区服务次数 Cross-region services",
];

impl Figures {
    fn add_instrument(&mut self, instrument: &Instrument, year: u16, idle: u32) {
        self.instruments += 1;
        if let Some(usage) = usage_of(instrument, year) {
            self.reporting += 1;
            self.run_hours += u64::from(usage.run_hours);
            self.external_service_hours += u64::from(usage.external_hours);
            if usage.run_hours < idle {
                self.idle += 1;
                self.idle_value_cny += u128::from(instrument.value().unwrap_or(0));
            }
        }
        let external = SERVICE_CLIENT.position("external").map(|i| i as u32);
        for cell in instrument.services().iter().filter(|c| c.key.year == year) {
            let sums = &cell.sums;
            self.services += sums.services;
            self.service_hours.0 += sums.centi_hours;
            self.service_amount_cny += sums.amount;
            self.voucher_amount_cny += sums.voucher;
            if Some(cell.key.client) == external {
                self.external_services += sums.services;
            }
            if cell.key.client_region != UNKNOWN && cell.key.client_region != instrument.region() {
                self.cross_region_services += sums.services;
            }
        }
    }

    fn merge(&mut self, other: &Figures) {
        self.instruments += other.instruments;
        self.reporting += other.reporting;
        self.run_hours += other.run_hours;
        self.external_service_hours += other.external_service_hours;
        self.idle += other.idle;
        self.idle_value_cny += other.idle_value_cny;
        self.services += other.services;
        self.service_hours.0 += other.service_hours.0;
        self.service_amount_cny += other.service_amount_cny;
        self.external_services += other.external_services;
        self.voucher_amount_cny += other.voucher_amount_cny;
        self.cross_region_services += other.cross_region_services;
    }

    /// The figures as CSV cells, in [`FIGURE_NAMES`] order.
    fn cells(&self) -> [String; 12] {
        [
            self.instruments.to_string(),
            self.reporting.to_string(),
            self.run_hours.to_string(),
            self.external_service_hours.to_string(),
            self.idle.to_string(),
            self.idle_value_cny.to_string(),
            self.services.to_string(),
            self.service_hours.to_string(),
            self.service_amount_cny.to_string(),
            self.external_services.to_string(),
            self.voucher_amount_cny.to_string(),
            self.cross_region_services.to_string(),
        ]
    }
}

/// One group of `/v1/utilisation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UtilisationRow {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The answer of `/v1/utilisation`. Sums are u128 JSON integers: serialize with
/// `serde_json::to_vec` (as `axum::Json` does), not through `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UtilisationResponse {
    pub year: u16,
    pub group_by: &'static str,
    pub idle_threshold_hours: u32,
    pub idle_definition: &'static str,
    pub rows: Vec<UtilisationRow>,
    pub total: Figures,
}

impl UtilisationResponse {
    /// CSV for spreadsheets (byte-order mark, cells neutralised, headings in Chinese and
    /// English): a header, one line per row, then the total (key `total`).
    pub fn to_csv(&self) -> String {
        let mut out = format!("{UTF8_BOM}代码 Code,名称 Name");
        for heading in FIGURE_LABELS {
            out.push(',');
            out.push_str(heading);
        }
        out.push_str("\r\n");
        for row in &self.rows {
            csv_line(&mut out, &[&row.key, &row.label], &row.figures.cells());
        }
        csv_line(&mut out, &["total", "合计 Total"], &self.total.cells());
        out
    }
}

fn csv_line(out: &mut String, texts: &[&str], numbers: &[String]) {
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_text_field(out, text);
    }
    for number in numbers {
        out.push(',');
        out.push_str(number);
    }
    out.push_str("\r\n");
}

/// One (client region, owner region) pair of `/v1/flows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRow {
    /// `null` when the client's region is unknown.
    pub client_region: Option<&'static str>,
    pub owner_region: &'static str,
    pub services: u64,
    pub hours: Hours,
    pub amount_cny: u128,
    pub voucher_amount_cny: u128,
}

/// The answer of `/v1/flows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowsResponse {
    pub year: u16,
    pub rows: Vec<FlowRow>,
}

impl FlowsResponse {
    /// CSV for spreadsheets, like [`UtilisationResponse::to_csv`].
    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "{UTF8_BOM}服务对象地区 Client region,仪器所属地区 Owner region,服务次数 Services,服务机时 Hours,服务金额（元） Amount (CNY),创新券金额（元） Voucher amount (CNY)\r\n"
        );
        for row in &self.rows {
            csv_line(
                &mut out,
                &[row.client_region.unwrap_or(UNKNOWN_KEY), row.owner_region],
                &[
                    row.services.to_string(),
                    row.hours.to_string(),
                    row.amount_cny.to_string(),
                    row.voucher_amount_cny.to_string(),
                ],
            );
        }
        out
    }
}

/// An instrument's reported usage for one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct YearUsage {
    pub year: u16,
    pub run_hours: u32,
    pub external_service_hours: u32,
}

/// An instrument's services of one year, purpose and client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceGroup {
    pub year: u16,
    /// A `purpose` code, or `unknown`.
    pub purpose: &'static str,
    /// A `client` code, or `unknown`.
    pub client: &'static str,
    pub services: u64,
    pub hours: Hours,
}

/// What the instrument page shows of one instrument's utilisation (newest year first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentUtilisation {
    pub usage: Vec<YearUsage>,
    pub services: Vec<ServiceGroup>,
}

/// What `/v1/utilisation` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UtilisationGroupBy {
    #[default]
    Region,
    Province,
    Institution,
    /// The top-level class of the national classification.
    Category,
    CarrierType,
}

pub const UTILISATION_GROUP_BYS: [UtilisationGroupBy; 5] = [
    UtilisationGroupBy::Region,
    UtilisationGroupBy::Province,
    UtilisationGroupBy::Institution,
    UtilisationGroupBy::Category,
    UtilisationGroupBy::CarrierType,
];

impl UtilisationGroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            UtilisationGroupBy::Region => "region",
            UtilisationGroupBy::Province => "province",
            UtilisationGroupBy::Institution => "institution",
            UtilisationGroupBy::Category => "category",
            UtilisationGroupBy::CarrierType => "carrier_type",
        }
    }
}

/// A checked `/v1/utilisation` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtilisationQuery {
    pub year: u16,
    pub group_by: UtilisationGroupBy,
    pub region: Option<String>,
    /// A classification code of any level; descendants are included.
    pub category: Option<String>,
    pub idle_below: u32,
    pub format: StatsFormat,
}

impl UtilisationQuery {
    /// The query of `year` by region, with the default idle threshold.
    pub fn year(year: u16) -> UtilisationQuery {
        UtilisationQuery {
            year,
            group_by: UtilisationGroupBy::Region,
            region: None,
            category: None,
            idle_below: DEFAULT_IDLE_HOURS,
            format: StatsFormat::Json,
        }
    }

    /// Checks the query-string parameters of `/v1/utilisation`; `year` is required.
    pub fn from_params(pairs: &[(String, String)]) -> Result<UtilisationQuery, ParamError> {
        let mut query = UtilisationQuery::year(0);
        let mut year = None;
        let mut seen = Vec::new();
        for (name, value) in pairs {
            params::once(&mut seen, name)?;
            match name.as_str() {
                "year" => year = Some(year_param(value)?),
                "group_by" => query.group_by = group_by(value)?,
                "region" => query.region = params::region(value)?,
                "category" => query.category = params::category(value)?,
                "idle_below" => query.idle_below = idle_below(value)?,
                "format" => query.format = params::format(value)?,
                _ => return Err(ParamError::new(name, "unknown parameter")),
            }
        }
        query.year = year.ok_or_else(|| ParamError::new("year", "required, e.g. year=2025"))?;
        Ok(query)
    }
}

/// A checked `/v1/flows` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowsQuery {
    pub year: u16,
    pub format: StatsFormat,
}

impl FlowsQuery {
    /// Checks the query-string parameters of `/v1/flows`; `year` is required.
    pub fn from_params(pairs: &[(String, String)]) -> Result<FlowsQuery, ParamError> {
        let mut year = None;
        let mut format = StatsFormat::Json;
        let mut seen = Vec::new();
        for (name, value) in pairs {
            params::once(&mut seen, name)?;
            match name.as_str() {
                "year" => year = Some(year_param(value)?),
                "format" => format = params::format(value)?,
                _ => return Err(ParamError::new(name, "unknown parameter")),
            }
        }
        let year = year.ok_or_else(|| ParamError::new("year", "required, e.g. year=2025"))?;
        Ok(FlowsQuery { year, format })
    }
}

/// A year as the record schema allows them (1900–2100).
pub fn year_param(value: &str) -> Result<u16, ParamError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|y| (1900..=2100).contains(y))
        .ok_or_else(|| ParamError::new("year", format!("not a year 1900–2100: {value:?}")))
}

/// An idle threshold in run hours a year (0–8784).
pub fn idle_below(value: &str) -> Result<u32, ParamError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|h| *h <= 8784)
        .ok_or_else(|| {
            ParamError::new(
                "idle_below",
                format!("not a number of hours 0–8784: {value:?}"),
            )
        })
}

fn group_by(value: &str) -> Result<UtilisationGroupBy, ParamError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(UtilisationGroupBy::Region);
    }
    UTILISATION_GROUP_BYS
        .into_iter()
        .find(|g| g.as_str() == value)
        .ok_or_else(|| {
            let names: Vec<&str> = UTILISATION_GROUP_BYS.iter().map(|g| g.as_str()).collect();
            ParamError::new("group_by", format!("must be one of {}", names.join(", ")))
        })
}

pub(crate) mod routes;
pub use routes::routes;

#[cfg(test)]
mod tests;
