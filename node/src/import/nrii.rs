//! The national platform's bulk-import template for large instruments (国家科技资源共享服务平台,
//! sheet 大型科研仪器), as CSV or workbook. `docs/nrii-import.md` lists the mapping of every
//! column.
//!
//! The header row is recognised by its columns: it must hold 仪器编号 and 仪器设备名称. Headers
//! are compared without their annotations in brackets (`原值（单位万元、保留小数点后两位）` is
//! `原值`), white space and required-field asterisks. Above the header there may be the template's
//! group row (仪器基本信息 / 联系人信息 / 海关管理) and nothing else. Every named column must be
//! one the template (or the optional 所属单位, 统一社会信用代码, 共享模式, 运行状态) defines: a
//! column we do not know would otherwise be dropped without a word.

use super::collect::{Collector, Problem};
use super::convert::{ColumnRule, ValueMap};
use super::fields::{self, ValueKind};
use super::table::{Cell, TableRow};
use super::{Format, ImportError, ImportOptions, ParsedCatalogue};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use yiqi_schema::protocol::labels;

/// The template's sheet; other workbooks are read from their first sheet.
pub const SHEET_NAME: &str = "大型科研仪器";

/// The labels of the template's group row above the headers.
const GROUP_LABELS: [&str; 3] = ["仪器基本信息", "联系人信息", "海关管理"];

/// The two columns that identify the header row.
const KEY_HEADERS: [&str; 2] = ["仪器编号", "仪器设备名称"];

/// One column of the template: its header (then accepted aliases), field, kind and the
/// template's own spellings of the field's enumerated values.
///
/// A column of an enumerated field ([`labels::of_field`]) accepts the template's spellings
/// (`aliases`) and, for every code they do not name, the code's canonical Chinese label: the
/// template writes 闲置 as we do, but 外部共享 where we write 对外共享.
struct Column {
    headers: &'static [&'static str],
    field: &'static str,
    kind: ValueKind,
    aliases: &'static [(&'static str, &'static str)],
}

const fn column(headers: &'static [&'static str], field: &'static str, kind: ValueKind) -> Column {
    Column {
        headers,
        field,
        kind,
        aliases: &[],
    }
}

const fn enumerated(
    headers: &'static [&'static str],
    field: &'static str,
    kind: ValueKind,
    aliases: &'static [(&'static str, &'static str)],
) -> Column {
    Column {
        headers,
        field,
        kind,
        aliases,
    }
}

const CARRIER_TYPES: &[(&str, &str)] = &[
    ("附属于重大科研基础设施", "facility"),
    ("重大科研基础设施", "facility"),
    ("附属于科学仪器中心", "instrument_center"),
    ("科学仪器中心", "instrument_center"),
    ("附属于国家重点实验室", "state_key_lab"),
    ("国家重点实验室", "state_key_lab"),
    ("附属于国家工程技术研究中心", "engineering_center"),
    ("国家工程技术研究中心", "engineering_center"),
    ("附属于生物种质资源库馆", "biobank"),
    ("生物种质资源库馆", "biobank"),
    ("其他", "other"),
];

/// 捐赠 is our label of `donated`, accepted beside the template's 赠送.
const SOURCES: &[(&str, &str)] = &[("赠送", "donated"), ("捐赠", "donated")];

const FUNDING: &[(&str, &str)] = &[
    ("中央财政资金", "central"),
    ("地方财政资金", "local"),
    ("单位自有资金", "own"),
    ("其他资金", "other"),
    ("其他", "other"),
];

const SHARING_MODES: &[(&str, &str)] = &[("外部共享", "external")];

/// The 40 template columns in template order, then the optional ones.
const COLUMNS: &[Column] = &[
    column(&["仪器编号"], "local_id", ValueKind::LocalId),
    column(&["所在单位仪器编号"], "ext.asset_number", ValueKind::Text),
    column(&["仪器设备名称", "仪器名称"], "name", ValueKind::Text),
    column(&["英文名称"], "name_en", ValueKind::Text),
    enumerated(
        &["所属资源载体类型"],
        "carrier.type",
        ValueKind::Text,
        CARRIER_TYPES,
    ),
    column(&["所属资源载体内部编号"], "carrier.name", ValueKind::Text),
    column(
        &["所属单位内部门"],
        "institution.department",
        ValueKind::Text,
    ),
    column(
        &["仪器分类编码", "仪器分类", "分类编码"],
        "category",
        ValueKind::Category,
    ),
    enumerated(
        &["设备仪器来源", "仪器来源", "来源"],
        "source",
        ValueKind::Text,
        SOURCES,
    ),
    column(
        &["是否在海关监管年限内"],
        "customs_supervised",
        ValueKind::Boolean,
    ),
    column(&["原值"], "original_value_cny", ValueKind::WanYuan),
    column(&["产地国别"], "country_of_origin", ValueKind::Country),
    column(&["生产制造商"], "manufacturer", ValueKind::Text),
    column(&["建账日期"], "commissioned_on", ValueKind::Date),
    column(&["仪器设备类别"], "instrument_type", ValueKind::Text),
    column(&["规格型号"], "model", ValueKind::Text),
    column(&["主要技术指标"], "specs", ValueKind::Text),
    column(&["主要功能"], "functions", ValueKind::Text),
    column(&["主要学科领域"], "subjects", ValueKind::TextList),
    enumerated(
        &["主要购置经费来源"],
        "funding",
        ValueKind::TextList,
        FUNDING,
    ),
    column(&["服务内容"], "service_content", ValueKind::Text),
    column(&["图片"], "image_url", ValueKind::ImageReference),
    column(&["年运行机时"], "usage.run_hours", ValueKind::Integer),
    column(&["用户须知"], "user_notice", ValueKind::Text),
    column(&["参考收费标准"], "fee", ValueKind::Text),
    column(&["预约服务网址"], "sharing.booking_url", ValueKind::Text),
    column(&["安放地址-省"], "location.province", ValueKind::Text),
    column(&["安放地址-市"], "location.city", ValueKind::Text),
    column(&["安放地址-区县"], "location.district", ValueKind::Text),
    column(&["安放地址-街道"], "location.address", ValueKind::Text),
    column(
        &["年对外服务机时"],
        "usage.external_service_hours",
        ValueKind::Integer,
    ),
    column(&["联系人"], "contact.name", ValueKind::Text),
    column(&["电话"], "contact.phone", ValueKind::Text),
    column(&["电子邮箱"], "contact.email", ValueKind::Text),
    column(&["通讯地址"], "contact.address", ValueKind::Text),
    column(&["邮政编码"], "contact.postcode", ValueKind::Text),
    column(
        &["进口报关单编号"],
        "ext.customs_declaration_no",
        ValueKind::Text,
    ),
    column(
        &["进口报关单项号"],
        "ext.customs_declaration_item",
        ValueKind::Text,
    ),
    column(
        &["海关放行日期"],
        "ext.customs_release_date",
        ValueKind::Date,
    ),
    column(
        &["仪器设备在进口报关单上的名称"],
        "ext.customs_declared_name",
        ValueKind::Text,
    ),
    column(&["所属单位"], "institution.name", ValueKind::Text),
    column(
        &["统一社会信用代码", "所属单位统一社会信用代码"],
        "institution.code",
        ValueKind::Text,
    ),
    enumerated(
        &["共享模式"],
        "sharing.mode",
        ValueKind::Text,
        SHARING_MODES,
    ),
    column(&["运行状态"], "status", ValueKind::Text),
];

/// Where the picture column puts a bare file name (the template asks for one; it is no URL).
const IMAGE_FILE_FIELD: &str = "ext.image_file";

/// The conversion rules, built once, by normalised header.
fn rules_by_header() -> &'static HashMap<&'static str, ColumnRule> {
    static RULES: OnceLock<HashMap<&'static str, ColumnRule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = HashMap::new();
        for column in COLUMNS {
            let rule = ColumnRule {
                field: column.field.to_owned(),
                kind: column.kind,
                values: value_map(column),
            };
            for header in column.headers {
                rules.insert(*header, rule.clone());
            }
        }
        rules
    })
}

/// The spellings a column of an enumerated field accepts, and the code of each (see [`Column`]).
fn value_map(column: &Column) -> Option<ValueMap> {
    let enumeration = labels::of_field(column.field)?;
    let aliased = |code: &str| column.aliases.iter().any(|(_, to)| *to == code);
    let canonical = enumeration
        .values
        .iter()
        .filter(|label| !aliased(label.code))
        .map(|label| (label.zh, label.code));
    let spellings = column.aliases.iter().copied().chain(canonical);
    Some(
        spellings
            .map(|(from, to)| (from.to_owned(), to.to_owned()))
            .collect(),
    )
}

/// A header without annotations in (full-width or ASCII) brackets, nested or not, white space
/// and asterisks, with the dash variants of 安放地址-省 unified.
pub fn normalise_header(raw: &str) -> String {
    let mut depth = 0usize;
    let mut name = String::new();
    for c in raw.chars() {
        match c {
            '（' | '(' => depth += 1,
            '）' | ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '*' | '＊' => {}
            '－' | '—' | '–' => name.push('-'),
            c if c.is_whitespace() => {}
            c => name.push(c),
        }
    }
    name
}

/// Reads the rows of an NRII template export.
pub fn read(rows: Vec<TableRow>, options: &ImportOptions) -> Result<ParsedCatalogue, ImportError> {
    let mut rows = rows.into_iter().filter(|row| !row.is_blank());
    let header = find_header(&mut rows)?;
    let layout = layout(&header)?;
    let mut collector = Collector::new(Format::Nrii, options);
    for row in rows {
        let (record, problems) = convert_row(&row, &layout);
        collector.push(row.number, record, problems);
    }
    let mut parsed = collector.finish();
    parsed.name_columns(header.cells.iter().zip(&layout).filter_map(|(cell, rule)| {
        rule.map(|rule| (rule.field.as_str(), header_text(cell).trim().to_owned()))
    }));
    Ok(parsed)
}

/// Whether `rows` start like the NRII template (its header, after the group row if any); the
/// error says what was found instead.
pub fn recognise(rows: Vec<TableRow>) -> Result<(), ImportError> {
    let mut rows = rows.into_iter().filter(|row| !row.is_blank());
    layout(&find_header(&mut rows)?).map(|_| ())
}

/// Skips the group row, if any, and returns the header row.
fn find_header(rows: &mut impl Iterator<Item = TableRow>) -> Result<TableRow, ImportError> {
    for row in rows.by_ref() {
        if is_header(&row) {
            return Ok(row);
        }
        if !is_group_row(&row) {
            return Err(unrecognised(&row));
        }
    }
    Err(ImportError::UnrecognisedHeader(
        "the file has no header row (and no data)".into(),
    ))
}

fn is_header(row: &TableRow) -> bool {
    let names: Vec<String> = row
        .cells
        .iter()
        .map(header_text)
        .map(|h| normalise_header(&h))
        .collect();
    KEY_HEADERS
        .iter()
        .all(|key| names.iter().any(|name| name == key))
}

fn is_group_row(row: &TableRow) -> bool {
    row.cells.iter().all(|cell| {
        header_text(cell)
            .split_whitespace()
            .all(|label| GROUP_LABELS.contains(&label))
    })
}

fn header_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Number(text) => text.clone(),
        _ => String::new(),
    }
}

fn unrecognised(row: &TableRow) -> ImportError {
    let found: Vec<String> = row
        .cells
        .iter()
        .map(header_text)
        .filter(|h| !h.trim().is_empty())
        .take(4)
        .collect();
    ImportError::UnrecognisedHeader(format!(
        "row {}: not the NRII template's header (it starts 仪器编号, 所在单位仪器编号, \
         仪器设备名称, …; found {}); for another layout give --mapping",
        row.number,
        found.join(", ")
    ))
}

/// The rule of each column of the header; `None` for a column without a header.
fn layout(header: &TableRow) -> Result<Vec<Option<&'static ColumnRule>>, ImportError> {
    let rules = rules_by_header();
    let mut layout = Vec::new();
    let mut unknown = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, cell) in header.cells.iter().enumerate() {
        let raw = header_text(cell);
        let name = normalise_header(&raw);
        if name.is_empty() {
            layout.push(None);
            continue;
        }
        let Some(rule) = rules.get(name.as_str()) else {
            unknown.push(format!("{:?} (column {})", raw.trim(), index + 1));
            layout.push(None);
            continue;
        };
        if let Some(first) = seen.insert(rule.field.as_str(), index + 1) {
            return Err(ImportError::UnrecognisedHeader(format!(
                "columns {first} and {} both hold {}",
                index + 1,
                rule.field
            )));
        }
        layout.push(Some(rule));
    }
    if unknown.is_empty() {
        Ok(layout)
    } else {
        Err(ImportError::UnrecognisedHeader(format!(
            "row {}: columns the NRII template does not have: {}",
            header.number,
            unknown.join(", ")
        )))
    }
}

fn convert_row(
    row: &TableRow,
    layout: &[Option<&ColumnRule>],
) -> (Map<String, Value>, Vec<Problem>) {
    let mut record = Map::new();
    let mut problems = Vec::new();
    for (index, cell) in row.cells.iter().enumerate() {
        let Some(Some(rule)) = layout.get(index) else {
            if !cell.is_blank() {
                problems.push(Problem::new(
                    "",
                    format!("column {} holds a value but has no header", index + 1),
                ));
            }
            continue;
        };
        match rule.convert(cell) {
            Ok(Some(value)) => {
                let path = target_field(rule, &value);
                if let Err(message) = fields::insert(&mut record, path, value) {
                    problems.push(Problem::at_field(path, message));
                }
            }
            Ok(None) => {}
            Err(message) => problems.push(Problem::at_field(&rule.field, message)),
        }
    }
    (record, problems)
}

fn target_field<'a>(rule: &'a ColumnRule, value: &Value) -> &'a str {
    let is_url = |text: &str| text.starts_with("http://") || text.starts_with("https://");
    match value {
        Value::String(text) if rule.kind == ValueKind::ImageReference && !is_url(text) => {
            IMAGE_FILE_FIELD
        }
        _ => &rule.field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::table::csv_rows;

    fn options() -> ImportOptions {
        ImportOptions::for_tests()
    }

    #[test]
    fn strips_annotations_from_headers() {
        assert_eq!(
            normalise_header("原值（单位万元、保留小数点后两位）"),
            "原值"
        );
        assert_eq!(
            normalise_header("仪器编号（（必填，管理系统中的关联仪器编号））"),
            "仪器编号"
        );
        assert_eq!(
            normalise_header("服务内容（分析测试项目等）（最多200字）"),
            "服务内容"
        );
        assert_eq!(normalise_header("安放地址－街道（乡镇）"), "安放地址-街道");
        assert_eq!(normalise_header(" *年运行机时(小时) "), "年运行机时");
    }

    #[test]
    fn every_column_fills_a_known_field_and_headers_are_unique() {
        let mut headers = std::collections::HashSet::new();
        for column in COLUMNS {
            assert!(fields::kind_of(column.field).is_some(), "{}", column.field);
            for header in column.headers {
                assert!(headers.insert(*header), "{header}");
                assert_eq!(normalise_header(header), *header);
            }
        }
        assert_eq!(COLUMNS.len(), 44);
    }

    #[test]
    fn every_template_spelling_names_a_code_of_its_field() {
        for column in COLUMNS.iter().filter(|c| !c.aliases.is_empty()) {
            let enumeration = labels::of_field(column.field).expect(column.field);
            for (spelling, code) in column.aliases {
                assert!(enumeration.contains(code), "{spelling} → {code}");
            }
        }
    }

    #[test]
    fn every_code_of_an_enumerated_column_has_a_spelling() {
        let rules = rules_by_header();
        for enumeration in labels::ENUMERATIONS {
            for field in enumeration.fields {
                let column = COLUMNS.iter().find(|c| c.field == *field).expect(field);
                let values = rules[column.headers[0]].values.as_ref().expect(field);
                for code in enumeration.codes() {
                    assert!(values.values().any(|to| to == code), "{field}: {code}");
                }
            }
        }
        let sharing = rules["共享模式"].values.as_ref().unwrap();
        assert_eq!(
            sharing.keys().collect::<Vec<_>>(),
            ["不共享", "内部共享", "外部共享"]
        );
    }

    #[test]
    fn recognises_the_header_with_or_without_the_group_row() {
        let with_group = "仪器基本信息,,联系人信息\n仪器编号（必填）,仪器设备名称\nA1,电镜\n";
        let without = "仪器编号,仪器设备名称\nA1,电镜\n";
        for text in [with_group, without] {
            let rows = csv_rows(text, b',').unwrap();
            let parsed = read(rows, &options()).unwrap();
            let pointers: Vec<&str> = parsed.errors.iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(pointers, ["/category", "/location"]);
        }
        let error = read(csv_rows("名称,型号\n", b',').unwrap(), &options()).unwrap_err();
        assert!(error.to_string().contains("--mapping"), "{error}");
        let error = read(
            csv_rows("仪器编号,仪器设备名称,备注\n", b',').unwrap(),
            &options(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("\"备注\" (column 3)"), "{error}");
        let error = read(
            csv_rows("仪器编号,仪器设备名称,仪器名称\n", b',').unwrap(),
            &options(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("both hold name"), "{error}");
    }

    #[test]
    fn converts_a_full_row() {
        let text = "仪器编号,仪器设备名称,仪器分类编码,原值（万元）,安放地址-省,安放地址-市,设备仪器来源,\
                    建账日期,主要购置经费来源,图片,共享模式,运行状态,,\n\
                    GS-1,电镜,010101,12.34,甘肃省,兰州市,购置,2019/6/18,\"中央财政资金,单位自有资金\",tem.jpg,内部共享,闲置,,\n\
                    GS-2,电镜,010101,12.345678,甘肃省,兰州市,外购,2019-02-30,,https://x.cn/a.jpg,,,,x\n";
        let parsed = read(csv_rows(text, b',').unwrap(), &options()).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        let content = &parsed.rows[0].content;
        assert_eq!(parsed.rows[0].row, 2);
        assert_eq!(content["original_value_cny"], 123_400);
        assert_eq!(content["source"], "purchased");
        assert_eq!(content["commissioned_on"], "2019-06-18");
        assert_eq!(content["funding"], serde_json::json!(["central", "own"]));
        assert_eq!(content["ext"]["image_file"], "tem.jpg");
        assert_eq!(content["sharing"]["mode"], "internal");
        assert_eq!(content["status"], "standby");
        assert_eq!(content["institution"]["name"], "兰州大学");
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("row 3 (GS-2): /original_value_cny: "));
        assert!(errors[1].starts_with("row 3 (GS-2): /source: \"外购\" is not one of"));
        assert!(errors[2].starts_with("row 3 (GS-2): /commissioned_on: "));
        assert_eq!(
            errors[3],
            "row 3 (GS-2): (record): column 14 holds a value but has no header"
        );
    }
}
