//! Service records (服务记录): the national platform's service-record export, as CSV or workbook,
//! and native service rows. `docs/nrii-import.md` lists the mapping of every column.
//!
//! The header row is the first row holding both 所在单位仪器编号 and 服务记录内部编号; the
//! annotation rows real exports carry (a title, notes) may stand above it, and a row below it
//! with a single value outside the two id columns is a note, skipped. A cell holding `--` (or
//! `—`) is empty. Times are written `Y/m/d H` (or with minutes and seconds) in China's time and
//! become RFC 3339 with `+08:00`.
//!
//! Three things tie a row to the node:
//! - Its id: the service's local_id is `service.` + 服务记录内部编号, so services never collide
//!   with the instruments of the same region (they share one id space).
//! - Its instrument: 所在单位仪器编号 must be the local_id or the asset number
//!   (`ext.asset_number`) of a live instrument of the node's catalogue ([`Links`]); an unknown
//!   one is an error for that row.
//! - Its client's region: the 申请人单位所在地区 column when the file has one; else the region of
//!   an institution of another region in the node's national mirror with the same unified social
//!   credit code, else with exactly the same name; else left out (unknown).
//!
//! The applicant's name, phone and e-mail are personal data: they are dropped and only counted
//! ([`ParsedCatalogue::personal_rows`]).

use super::collect::{Collector, Problem};
use super::convert::{ColumnRule, ValueMap, cell_text};
use super::fields::{self, ValueKind};
use super::nrii::normalise_header;
use super::table::{Cell, TableRow};
use super::{Format, ImportError, ImportOptions, ParsedCatalogue};
use serde_json::{Map, Value};
use std::collections::HashMap;
use yiqi_schema::protocol::labels::{self, Enumeration};
use yiqi_schema::regions;

/// What every service's local_id starts with.
pub const ID_PREFIX: &str = "service.";

/// The columns that identify the header row.
const KEY_HEADERS: [&str; 2] = ["所在单位仪器编号", "服务记录内部编号"];

/// The applicant's personal columns: never read into a record.
const PERSONAL_HEADERS: [&str; 3] = ["申请人", "申请人电话", "申请人电子邮箱"];

/// 记录编号 (the export's row number) and 仪器名称 (the instrument's name, which the record
/// takes from the linked instrument) carry nothing a service record keeps.
const IGNORED_HEADERS: [&str; 2] = ["记录编号", "仪器名称"];

/// Where the client-region column puts its value; read apart because it takes a region code or
/// the province's Chinese name.
const CLIENT_REGION: &str = "client_institution.region";

/// How one column of the export fills the record.
enum Target {
    /// A field converted by its kind, through the enumeration's Chinese labels when it has one.
    Field(&'static str, ValueKind),
    /// A field filled from a fixed map of the export's words.
    Mapped(
        &'static str,
        ValueKind,
        &'static [(&'static str, &'static str)],
    ),
    /// A time `Y/m/d H` in China's time.
    Time(&'static str),
    /// 服务记录内部编号, prefixed into the local_id.
    LocalId,
    /// 所在单位仪器编号, resolved through [`Links`].
    Instrument,
    ClientRegion,
    Personal,
    Ignored,
}

const ON_SITE: &[(&str, &str)] = &[("单位内使用", "true"), ("单位外使用", "false")];

/// The export's columns (the optional client columns last); headers as [`normalise_header`]
/// leaves them.
fn target(header: &str) -> Option<Target> {
    use Target::*;
    Some(match header {
        "服务记录内部编号" => LocalId,
        "所在单位仪器编号" => Instrument,
        "服务金额" => Field("amount_cny", ValueKind::Yuan),
        "服务开始时间" => Time("started_at"),
        "服务结束时间" => Time("ended_at"),
        "实际服务内容" => Field("content", ValueKind::Text),
        "服务方式" => Field("modes", ValueKind::TextList),
        "服务对象" => Field("client", ValueKind::Text),
        "服务类型" => Field("purpose", ValueKind::Text),
        "补税记录" => Field("ext.duty_back_payment", ValueKind::Text),
        "服务机时" => Field("hours", ValueKind::Number),
        "服务名称" => Field("project", ValueKind::Text),
        "服务经费来源" => Field("funding", ValueKind::TextList),
        "课题主要科学领域" => Field("subjects", ValueKind::TextList),
        "本次服务是否签订协议" => Field("ext.agreement_signed", ValueKind::Text),
        "是否在单位内使用" => Mapped("on_site", ValueKind::Boolean, ON_SITE),
        "对外服务地址" => Field("ext.off_site_address", ValueKind::Text),
        "非适用简易程序海关《通知书》编号" => {
            Field("ext.customs_notice_no", ValueKind::Text)
        }
        "申请人单位" => Field("client_institution.name", ValueKind::Text),
        "用户评价及意见" => Field("rating", ValueKind::Text),
        "申请人单位统一社会信用代码" => {
            Field("client_institution.code", ValueKind::Text)
        }
        "申请人单位类型" => Field("client_institution.type", ValueKind::Text),
        "申请人单位所在地区" => ClientRegion,
        "创新券名称" => Field("voucher.program", ValueKind::Text),
        "创新券编号" => Field("voucher.id", ValueKind::Text),
        "创新券金额" => Field("voucher.amount_cny", ValueKind::Yuan),
        h if PERSONAL_HEADERS.contains(&h) => Personal,
        h if IGNORED_HEADERS.contains(&h) => Ignored,
        _ => return None,
    })
}

/// What the node knows that a service row refers to.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// Local_id and asset number of each live own instrument → its local_id.
    pub instruments: HashMap<String, String>,
    /// Unified social credit code → region, for institutions of other regions in the mirror.
    pub regions_by_code: HashMap<String, String>,
    /// Exact institution name → region, likewise.
    pub regions_by_name: HashMap<String, String>,
}

impl Links {
    /// Adds one instrument record of the node's own catalogue.
    pub fn add_own_instrument(&mut self, record: &Value) {
        let Some(local_id) = record["local_id"].as_str() else {
            return;
        };
        if let Some(asset) = record.pointer("/ext/asset_number").and_then(Value::as_str) {
            self.instruments
                .insert(asset.to_owned(), local_id.to_owned());
        }
        self.instruments
            .insert(local_id.to_owned(), local_id.to_owned());
    }

    /// Adds the institution of one record of another region from the national mirror.
    pub fn add_mirrored_institution(&mut self, record: &Value) {
        let Some(region) = record["region"].as_str() else {
            return;
        };
        let institution = &record["institution"];
        if let Some(code) = institution["code"].as_str() {
            self.regions_by_code
                .insert(code.to_owned(), region.to_owned());
        }
        if let Some(name) = institution["name"].as_str() {
            self.regions_by_name
                .insert(name.to_owned(), region.to_owned());
        }
    }

    fn client_region(&self, institution: &Map<String, Value>) -> Option<&String> {
        let key = |member: &str| institution.get(member).and_then(Value::as_str);
        key("code")
            .and_then(|code| self.regions_by_code.get(code))
            .or_else(|| key("name").and_then(|name| self.regions_by_name.get(name)))
    }
}

/// Reads the rows of a national service-record export.
pub fn read(rows: Vec<TableRow>, options: &ImportOptions) -> Result<ParsedCatalogue, ImportError> {
    let mut rows = rows.into_iter().filter(|row| !row.is_blank());
    let header = find_header(&mut rows)?;
    let layout = layout(&header)?;
    let id_columns: Vec<usize> = layout
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t, Some((_, Target::LocalId | Target::Instrument))))
        .map(|(i, _)| i)
        .collect();
    let mut collector = Collector::new(Format::ServiceExport, options);
    for row in rows {
        if is_note(&row, &id_columns) {
            continue;
        }
        let (mut record, mut problems, personal) = convert_row(&row, &layout);
        if personal {
            collector.note_personal_data();
        }
        link(&mut record, options, &mut problems);
        collector.push(row.number, record, problems);
    }
    Ok(collector.finish())
}

/// Links a native service row: its local_id gets the service prefix (unless it has it), its
/// instrument must be one of the node's, its client's region is looked up when missing.
pub fn link_native(
    record: &mut Map<String, Value>,
    options: &ImportOptions,
    problems: &mut Vec<Problem>,
) {
    if let Some(Value::String(id)) = record.get_mut("local_id")
        && !id.starts_with(ID_PREFIX)
    {
        *id = format!("{ID_PREFIX}{id}");
    }
    link(record, options, problems);
}

fn link(record: &mut Map<String, Value>, options: &ImportOptions, problems: &mut Vec<Problem>) {
    let links = options.links.as_deref();
    if let Some(Value::String(number)) = record.get_mut("instrument") {
        match links.and_then(|l| l.instruments.get(number.as_str())) {
            Some(local_id) => *number = local_id.clone(),
            None => {
                problems.push(Problem::new(
                    "/instrument",
                    format!(
                        "所在单位仪器编号 {number:?} is no instrument of this node's catalogue \
                         (neither a local_id nor an asset number); import the instrument first"
                    ),
                ));
                record.remove("instrument");
            }
        }
    }
    let Some(links) = links else { return };
    if let Some(Value::Object(client)) = record.get_mut("client_institution")
        && !client.contains_key("region")
        && let Some(region) = links.client_region(client)
    {
        client.insert("region".into(), Value::String(region.clone()));
    }
}

fn find_header(rows: &mut impl Iterator<Item = TableRow>) -> Result<TableRow, ImportError> {
    let mut first = None;
    for row in rows.by_ref() {
        let names: Vec<String> = row.cells.iter().map(header_text).collect();
        if KEY_HEADERS.iter().all(|key| names.iter().any(|n| n == key)) {
            return Ok(row);
        }
        first.get_or_insert(row.number);
    }
    Err(ImportError::UnrecognisedHeader(format!(
        "no header row of the national service-record export (with the columns {} and {}){}",
        KEY_HEADERS[0],
        KEY_HEADERS[1],
        first.map_or(String::new(), |n| format!(
            " from row {n} on; for instruments leave out --kind service"
        ))
    )))
}

fn header_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Number(text) => normalise_header(text),
        _ => String::new(),
    }
}

type Layout = Vec<Option<(String, Target)>>;

/// The target of each column (with its header as written, for messages); a column we do not
/// know is an error for the file, as in the instrument template.
fn layout(header: &TableRow) -> Result<Layout, ImportError> {
    let mut layout = Vec::new();
    let mut unknown = Vec::new();
    for (index, cell) in header.cells.iter().enumerate() {
        let name = header_text(cell);
        if name.is_empty() {
            layout.push(None);
            continue;
        }
        match target(&name) {
            Some(target) => layout.push(Some((name, target))),
            None => {
                unknown.push(format!("{name:?} (column {})", index + 1));
                layout.push(None);
            }
        }
    }
    if unknown.is_empty() {
        Ok(layout)
    } else {
        Err(ImportError::UnrecognisedHeader(format!(
            "row {}: columns the service-record export does not have: {}",
            header.number,
            unknown.join(", ")
        )))
    }
}

/// A note below the header: one value, outside the id columns.
fn is_note(row: &TableRow, id_columns: &[usize]) -> bool {
    let filled: Vec<usize> = (0..row.cells.len())
        .filter(|&i| !is_empty(row.cell(i)))
        .collect();
    filled.len() == 1 && !id_columns.contains(&filled[0])
}

/// Empty, or the `--` exports write for "nothing".
fn is_empty(cell: &Cell) -> bool {
    match cell {
        Cell::Text(text) => matches!(text.trim(), "" | "--" | "—" | "——" | "-"),
        other => other.is_blank(),
    }
}

fn convert_row(row: &TableRow, layout: &Layout) -> (Map<String, Value>, Vec<Problem>, bool) {
    let mut record = Map::new();
    let mut problems = Vec::new();
    let mut personal = false;
    for (index, cell) in row.cells.iter().enumerate() {
        if is_empty(cell) {
            continue;
        }
        let Some(Some((header, target))) = layout.get(index) else {
            problems.push(Problem::new(
                "",
                format!("column {} holds a value but has no header", index + 1),
            ));
            continue;
        };
        let (field, converted) = match target {
            Target::Personal => {
                personal = true;
                continue;
            }
            Target::Ignored => continue,
            Target::LocalId => ("local_id", service_id(cell)),
            Target::Instrument => ("instrument", text_value(cell)),
            Target::ClientRegion => (CLIENT_REGION, client_region(cell)),
            Target::Time(field) => (*field, time(cell)),
            Target::Field(field, kind) => (*field, rule(field, *kind, &[]).convert(cell)),
            Target::Mapped(field, kind, words) => (*field, rule(field, *kind, words).convert(cell)),
        };
        match converted {
            Ok(Some(value)) => {
                if let Err(message) = fields::insert(&mut record, field, value) {
                    problems.push(Problem::at_field(field, message));
                }
            }
            Ok(None) => {}
            Err(message) => problems.push(Problem::at_field(field, format!("{header}: {message}"))),
        }
    }
    (record, problems, personal)
}

/// The rule of a column: through `words` when given, else through the Chinese labels of the
/// field's service enumeration, else by kind alone.
fn rule(field: &str, kind: ValueKind, words: &[(&str, &str)]) -> ColumnRule {
    let values: Option<ValueMap> = if words.is_empty() {
        service_enumeration(field).map(|e| {
            e.values
                .iter()
                .map(|l| (l.zh.to_owned(), l.code.to_owned()))
                .collect()
        })
    } else {
        Some(
            words
                .iter()
                .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()))
                .collect(),
        )
    };
    ColumnRule {
        field: field.to_owned(),
        kind,
        values,
    }
}

fn service_enumeration(field: &str) -> Option<&'static Enumeration> {
    labels::SERVICE_ENUMERATIONS
        .into_iter()
        .find(|e| e.fields.contains(&field))
}

fn text_value(cell: &Cell) -> Result<Option<Value>, String> {
    Ok(cell_text(cell)?.map(Value::String))
}

fn service_id(cell: &Cell) -> Result<Option<Value>, String> {
    Ok(cell_text(cell)?.map(|id| Value::String(format!("{ID_PREFIX}{id}"))))
}

/// A region code (CN-TJ) or the province's Chinese name (天津市).
fn client_region(cell: &Cell) -> Result<Option<Value>, String> {
    let Some(text) = cell_text(cell)? else {
        return Ok(None);
    };
    if regions::is_region(&text) {
        return Ok(Some(Value::String(text)));
    }
    regions::REGIONS
        .iter()
        .find(|(_, zh, _)| *zh == text)
        .map(|(code, _, _)| Some(Value::String((*code).to_owned())))
        .ok_or_else(|| format!("{text:?} is neither a region code (CN-TJ) nor a province's name"))
}

/// `Y/m/d H`, `Y/m/d H:M`, `Y-m-d H:M:S` (and a spreadsheet's date-time serial) in China's
/// time, as RFC 3339 with `+08:00`.
fn time(cell: &Cell) -> Result<Option<Value>, String> {
    let text = match cell {
        Cell::DateSerial(serial) => return serial_time(*serial).map(|t| Some(Value::String(t))),
        other => match cell_text(other)? {
            Some(text) => text,
            None => return Ok(None),
        },
    };
    let invalid = || format!("{text:?} is not a time like 2025/3/4 9 (Y/m/d H, China's time)");
    let (day, clock) = text.split_once([' ', 'T']).ok_or_else(invalid)?;
    let day: Vec<u32> = numbers(day, &['/', '-', '.']).ok_or_else(invalid)?;
    let clock: Vec<u32> = numbers(clock.trim(), &[':']).ok_or_else(invalid)?;
    let ([year, month, dom], [hour, rest @ ..]) = (day.as_slice(), clock.as_slice()) else {
        return Err(invalid());
    };
    let (minute, second) = match rest {
        [] => (0, 0),
        [m] => (*m, 0),
        [m, s] => (*m, *s),
        _ => return Err(invalid()),
    };
    let month = u8::try_from(*month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    let valid = month
        .and_then(|m| {
            time::Date::from_calendar_date(i32::try_from(*year).ok()?, m, u8::try_from(*dom).ok()?)
                .ok()
        })
        .is_some()
        && (1000..=9999).contains(year)
        && *hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return Err(invalid());
    }
    Ok(Some(Value::String(format!(
        "{year:04}-{:02}-{dom:02}T{hour:02}:{minute:02}:{second:02}+08:00",
        day[1]
    ))))
}

fn numbers(text: &str, separators: &[char]) -> Option<Vec<u32>> {
    text.split(separators)
        .map(|part| {
            (!part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        })
        .collect()
}

/// A spreadsheet date-time serial (days since 1899-12-30), to the second.
fn serial_time(serial: f64) -> Result<String, String> {
    let epoch = time::macros::datetime!(1899-12-30 0:00);
    let seconds = (serial * 86_400.0).round();
    if !(0.0..=1e12).contains(&seconds) {
        return Err(format!("{serial} is not a date-time"));
    }
    let at = epoch + time::Duration::seconds(seconds as i64);
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+08:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::table::csv_rows;
    use serde_json::json;
    use std::sync::Arc;

    const HEADER: &str = "记录编号,仪器名称,所在单位仪器编号,服务记录内部编号,服务金额(元),\
        服务开始时间,服务结束时间,实际服务内容,服务方式,服务对象,服务类型,补税记录,服务机时,\
        服务名称,服务经费来源,课题主要科学领域,本次服务是否签订协议,是否在单位内使用,对外服务地址,\
        非适用简易程序海关《通知书》编号,申请人,申请人电话,申请人电子邮箱,申请人单位,用户评价及意见";

    fn options() -> ImportOptions {
        let mut links = Links::default();
        links.add_own_instrument(&json!({"local_id": "BJ-1", "ext": {"asset_number": "资产-001"}}));
        links.add_mirrored_institution(
            &json!({"region": "CN-TJ", "institution": {"name": "天津大学", "code": "12100000401359321Q"}}),
        );
        links.add_mirrored_institution(
            &json!({"region": "CN-HE", "institution": {"name": "河北大学"}}),
        );
        ImportOptions {
            kind: super::super::RecordKind::Service,
            links: Some(Arc::new(links)),
            ..ImportOptions::new("CN-BJ")
        }
    }

    fn read_text(text: &str) -> ParsedCatalogue {
        read(csv_rows(text, b',').unwrap(), &options()).unwrap()
    }

    #[test]
    fn reads_the_national_export_and_drops_personal_data() {
        let text = format!(
            "大型科研仪器服务记录导出,,,\n{HEADER}\n\
             1,电镜,资产-001,FW001,2400,2025/3/4 9,2025/3/4 17,测试,\"委托共享,技术共享\",外部用户,科学研究,--,8,课题,国家自然科学基金,材料科学,是,单位内使用,--,--,张三,13800000000,z@x.cn,天津大学,非常满意\n\
             注：金额单位为元\n\
             2,电镜,BJ-1,FW002,--,2025/12/31 23:30,2026/1/1 1,--,占用共享,内部用户,教学,--,1.5,--,--,--,--,单位外使用,某地,--,--,--,--,河北大学,--\n"
        );
        let parsed = read_text(&text);
        assert_eq!(parsed.errors, []);
        assert_eq!(parsed.personal_rows, 1);
        let first = &parsed.rows[0].content;
        assert_eq!(
            *first,
            json!({"local_id": "service.FW001", "instrument": "BJ-1", "amount_cny": 2400,
                "started_at": "2025-03-04T09:00:00+08:00", "ended_at": "2025-03-04T17:00:00+08:00",
                "content": "测试", "modes": ["commissioned", "technical"], "client": "external",
                "purpose": "research", "hours": 8.0, "project": "课题", "funding": ["nsfc"],
                "subjects": ["材料科学"], "ext": {"agreement_signed": "是"}, "on_site": true,
                "client_institution": {"name": "天津大学", "region": "CN-TJ"},
                "rating": "very_satisfied"})
        );
        let second = &parsed.rows[1].content;
        assert_eq!(second["started_at"], "2025-12-31T23:30:00+08:00");
        assert_eq!(second["on_site"], false);
        assert_eq!(second["client_institution"]["region"], "CN-HE");
        let all =
            serde_json::to_string(&parsed.rows.iter().map(|r| &r.content).collect::<Vec<_>>());
        assert!(!all.unwrap().contains("张三"));
    }

    #[test]
    fn a_region_column_wins_and_unknown_stays_unknown() {
        let text = "所在单位仪器编号,服务记录内部编号,服务开始时间,服务结束时间,服务机时,服务对象,申请人单位,申请人单位所在地区\n\
            BJ-1,A,2025/1/2 9,2025/1/2 10,1,外部用户,天津大学,河北省\n\
            BJ-1,B,2025/1/2 9,2025/1/2 10,1,外部用户,某公司,--\n";
        let parsed = read_text(text);
        assert_eq!(parsed.errors, []);
        assert_eq!(
            parsed.rows[0].content["client_institution"]["region"],
            "CN-HE"
        );
        assert_eq!(
            parsed.rows[1].content["client_institution"],
            json!({"name": "某公司"})
        );
    }

    #[test]
    fn row_errors_name_the_row_field_and_column() {
        let text = "所在单位仪器编号,服务记录内部编号,服务开始时间,服务结束时间,服务机时,服务对象,服务方式\n\
            无此仪器,A,2025/1/2 9,2025/1/2 10,1,外部用户,委托共享\n\
            BJ-1,B,2025/13/2 9,2025/1/2 10,1,外部用户,包场\n\
            BJ-1,C,2025/1/2 9,2025/1/2 10,5,内部用户,委托共享\n";
        let parsed = read_text(text);
        assert!(parsed.rows.is_empty());
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert!(
            errors[0].starts_with("row 2 (service.A): /instrument: 所在单位仪器编号 \"无此仪器\""),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e
                    .starts_with("row 3 (service.B): /started_at: 服务开始时间: \"2025/13/2 9\"")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("row 3 (service.B): /modes: 服务方式: \"包场\"")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("row 4 (service.C): /hours")),
            "{errors:?}"
        );
    }

    #[test]
    fn refuses_a_file_without_the_export_s_header() {
        let rows = csv_rows("仪器编号,仪器设备名称\n1,x\n", b',').unwrap();
        let error = read(rows, &options()).unwrap_err().to_string();
        assert!(error.contains("leave out --kind service"), "{error}");
        let rows = csv_rows("所在单位仪器编号,服务记录内部编号,备注\n", b',').unwrap();
        let error = read(rows, &options()).unwrap_err().to_string();
        assert!(error.contains("\"备注\" (column 3)"), "{error}");
    }

    #[test]
    fn times_are_china_s_time() {
        let at = |text: &str| time(&Cell::Text(text.into()));
        assert_eq!(
            at("2025/3/4 9").unwrap(),
            Some(json!("2025-03-04T09:00:00+08:00"))
        );
        assert_eq!(
            at("2025-03-04 09:05:06").unwrap(),
            Some(json!("2025-03-04T09:05:06+08:00"))
        );
        assert!(at("2025/2/30 9").is_err());
        assert!(at("2025/3/4").is_err());
        assert!(at("2025/3/4 24").is_err());
        assert_eq!(
            time(&Cell::DateSerial(45720.375)).unwrap(),
            Some(json!("2025-03-04T09:00:00+08:00"))
        );
    }

    #[test]
    fn native_rows_get_the_service_prefix_once() {
        let mut problems = Vec::new();
        let mut record = json!({"local_id": "X", "instrument": "资产-001"})
            .as_object()
            .cloned()
            .unwrap();
        link_native(&mut record, &options(), &mut problems);
        assert_eq!(record["local_id"], "service.X");
        assert_eq!(record["instrument"], "BJ-1");
        link_native(&mut record, &options(), &mut problems);
        assert_eq!(record["local_id"], "service.X");
        assert!(problems.is_empty());
    }
}
