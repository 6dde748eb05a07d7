//! Converting one cell into the JSON value of a field. Every converter either returns exactly
//! what the cell says in the schema's terms or an error for that row: amounts are decimal strings
//! scaled without floating point, dates are checked against the calendar, and a value that is
//! not in a value map is an error rather than a guess.

use super::fields::ValueKind;
use super::table::Cell;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use time::{Date, Duration, Month};
use yiqi_schema::classification;
use yiqi_schema::ijson::MAX_SAFE_INTEGER;

/// Source values and the values they stand for (e.g. 购置 → purchased).
pub type ValueMap = BTreeMap<String, String>;

/// How one column fills one field.
#[derive(Debug, Clone)]
pub struct ColumnRule {
    pub field: String,
    pub kind: ValueKind,
    /// When present, every non-empty value must be one of its keys (each item, for lists).
    pub values: Option<ValueMap>,
}

impl ColumnRule {
    /// The field's value for this cell; `None` for an empty cell.
    pub fn convert(&self, cell: &Cell) -> Result<Option<Value>, String> {
        let Some(map) = &self.values else {
            return convert_cell(cell, self.kind);
        };
        let Some(text) = cell_text(cell)? else {
            return Ok(None);
        };
        if self.kind == ValueKind::TextList {
            let mut items = Vec::new();
            for item in split_list(&text) {
                let translated = translate(map, item)?;
                // A word mapped to "" stands for "absent", in a list as in a single value.
                if !translated.is_empty() {
                    items.push(Value::String(translated));
                }
            }
            return Ok((!items.is_empty()).then_some(Value::Array(items)));
        }
        let translated = translate(map, &text)?;
        convert_cell(&Cell::Text(translated), self.kind)
    }
}

fn translate(map: &ValueMap, value: &str) -> Result<String, String> {
    map.get(value).cloned().ok_or_else(|| {
        let allowed: Vec<&str> = map.keys().map(String::as_str).take(12).collect();
        let more = if map.len() > allowed.len() {
            ", …"
        } else {
            ""
        };
        format!("{value:?} is not one of {}{more}", allowed.join(", "))
    })
}

/// Converts a cell by the kind of its field.
pub fn convert_cell(cell: &Cell, kind: ValueKind) -> Result<Option<Value>, String> {
    match kind {
        ValueKind::Date => Ok(date(cell)?.map(Value::String)),
        ValueKind::Category => Ok(category(cell)?.map(Value::String)),
        _ => match cell_text(cell)? {
            None => Ok(None),
            Some(text) => convert_text(&text, kind),
        },
    }
}

fn convert_text(text: &str, kind: ValueKind) -> Result<Option<Value>, String> {
    let value = match kind {
        ValueKind::LocalId => Value::String(local_id(text)?),
        ValueKind::Yuan => Value::from(amount(text, 0)?),
        ValueKind::WanYuan => Value::from(amount(text, 4)?),
        ValueKind::Country => Value::String(country(text)?),
        ValueKind::Integer => Value::from(integer(text)?),
        ValueKind::Number => number(text)?,
        ValueKind::Boolean => Value::Bool(boolean(text)?),
        ValueKind::TextList => Value::Array(
            split_list(text)
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        ValueKind::Date => Value::String(date_text(text)?),
        ValueKind::Category => Value::String(category_text(text)?),
        ValueKind::Text | ValueKind::ImageReference => Value::String(text.to_owned()),
    };
    Ok(Some(value))
}

/// A cell as trimmed text; `None` when empty. Control characters (other than tab and line
/// breaks) are an error: in exported registers they are debris of a broken encoding.
pub fn cell_text(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(text) => {
            let text = text.trim();
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                return Err(format!(
                    "contains the control character U+{:04X}",
                    u32::from(c)
                ));
            }
            Ok((!text.is_empty()).then(|| text.to_owned()))
        }
        Cell::Number(digits) => Ok(Some(digits.clone())),
        Cell::DateSerial(serial) => excel_serial_date(*serial).map(Some),
        Cell::Bool(b) => Ok(Some(b.to_string())),
        Cell::Error(error) => Err(format!("the cell holds the spreadsheet error {error}")),
    }
}

fn local_id(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
    if text.chars().count() <= 64 && text.chars().all(allowed) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a usable id: 1 to 64 ASCII letters, digits and . _ ~ -"
        ))
    }
}

/// A non-negative decimal amount scaled by 10^`scale` into an integer, exactly: "12.34" 万元
/// is 123,400 yuan. Digits beyond the scale must be zeros, since they would be cut off.
pub fn amount(text: &str, scale: u32) -> Result<u64, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || text.ends_with('.') {
        return Err(format!(
            "{text:?} is not a plain decimal amount (digits, at most one point)"
        ));
    }
    let scale_digits = scale as usize;
    let (kept, cut) = fraction.split_at(fraction.len().min(scale_digits));
    if cut.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{text:?} has more than {scale} decimal places; the value would be cut off"
        ));
    }
    let too_large = || format!("{text:?} is too large");
    let whole: u64 = whole.parse().map_err(|_| too_large())?;
    let kept_value: u64 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| too_large())?
    };
    let padding = 10u64.pow(scale - kept.len() as u32);
    whole
        .checked_mul(10u64.pow(scale))
        .and_then(|w| w.checked_add(kept_value * padding))
        .filter(|&v| v <= MAX_SAFE_INTEGER)
        .ok_or_else(too_large)
}

fn integer(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|v| v.unsigned_abs() <= MAX_SAFE_INTEGER)
        .ok_or_else(|| format!("{text:?} is not a whole number"))
}

fn number(text: &str) -> Result<Value, String> {
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("{text:?} is not a number"))
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.to_lowercase().as_str() {
        "是" | "true" | "yes" | "y" | "1" => Ok(true),
        "否" | "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("{text:?} is not 是/否 (yes/no)")),
    }
}

/// The items of a list cell; separators are ASCII and full-width commas and semicolons and 、.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '，', '、', ';', '；'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// Chinese country names as NRII exports write them, with their ISO 3166 alpha-2 codes.
const COUNTRIES: &[(&str, &str)] = &[
    ("中国", "CN"),
    ("中华人民共和国", "CN"),
    ("中国香港", "HK"),
    ("香港", "HK"),
    ("中国澳门", "MO"),
    ("澳门", "MO"),
    ("中国台湾", "TW"),
    ("台湾", "TW"),
    ("美国", "US"),
    ("日本", "JP"),
    ("德国", "DE"),
    ("英国", "GB"),
    ("法国", "FR"),
    ("瑞士", "CH"),
    ("荷兰", "NL"),
    ("意大利", "IT"),
    ("瑞典", "SE"),
    ("奥地利", "AT"),
    ("比利时", "BE"),
    ("丹麦", "DK"),
    ("芬兰", "FI"),
    ("挪威", "NO"),
    ("爱尔兰", "IE"),
    ("西班牙", "ES"),
    ("葡萄牙", "PT"),
    ("希腊", "GR"),
    ("波兰", "PL"),
    ("捷克", "CZ"),
    ("斯洛伐克", "SK"),
    ("斯洛文尼亚", "SI"),
    ("匈牙利", "HU"),
    ("罗马尼亚", "RO"),
    ("保加利亚", "BG"),
    ("立陶宛", "LT"),
    ("拉脱维亚", "LV"),
    ("爱沙尼亚", "EE"),
    ("卢森堡", "LU"),
    ("列支敦士登", "LI"),
    ("冰岛", "IS"),
    ("俄罗斯", "RU"),
    ("乌克兰", "UA"),
    ("白俄罗斯", "BY"),
    ("土耳其", "TR"),
    ("以色列", "IL"),
    ("加拿大", "CA"),
    ("墨西哥", "MX"),
    ("巴西", "BR"),
    ("阿根廷", "AR"),
    ("智利", "CL"),
    ("澳大利亚", "AU"),
    ("新西兰", "NZ"),
    ("韩国", "KR"),
    ("新加坡", "SG"),
    ("印度", "IN"),
    ("马来西亚", "MY"),
    ("泰国", "TH"),
    ("越南", "VN"),
    ("印度尼西亚", "ID"),
    ("菲律宾", "PH"),
    ("伊朗", "IR"),
    ("沙特阿拉伯", "SA"),
    ("阿联酋", "AE"),
    ("南非", "ZA"),
    ("埃及", "EG"),
];

fn country(text: &str) -> Result<String, String> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(text.to_owned());
    }
    COUNTRIES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, code)| (*code).to_owned())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a country this importer knows: use its ISO 3166 code (e.g. US)"
            )
        })
}

/// A date cell as `YYYY-MM-DD`: text in one of the usual spellings, an 8-digit number
/// (20190618) or, from a spreadsheet, a date-formatted serial.
pub fn date(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::DateSerial(serial) => excel_serial_date(*serial).map(Some),
        Cell::Number(digits) if digits.len() == 8 => date_text(digits).map(Some),
        Cell::Number(digits) => Err(format!(
            "{digits} is a plain number, not a date (write 2019-06-18 or format the cell as a date)"
        )),
        other => cell_text(other)?.map(|text| date_text(&text)).transpose(),
    }
}

/// Parses 2019-06-18, 2019/6/18, 2019.6.18, 2019年6月18日 and 20190618; a time of exactly
/// midnight (as database exports add) is accepted, any other time is not silently dropped.
pub fn date_text(text: &str) -> Result<String, String> {
    let invalid = || format!("{text:?} is not a date like 2019-06-18");
    let day_part = ["T00:00:00", " 00:00:00", " 00:00", " 0:00:00", " 0:00"]
        .iter()
        .find_map(|midnight| text.strip_suffix(midnight))
        .unwrap_or(text)
        .trim();
    let parts: Vec<&str> = if day_part.len() == 8 && day_part.bytes().all(|b| b.is_ascii_digit()) {
        vec![&day_part[..4], &day_part[4..6], &day_part[6..]]
    } else {
        day_part
            .trim_end_matches('日')
            .split(['-', '/', '.', '年', '月'])
            .collect()
    };
    let [year, month, day] = parts.as_slice() else {
        return Err(invalid());
    };
    let well_formed = year.len() == 4
        && (1..=2).contains(&month.len())
        && (1..=2).contains(&day.len())
        && [year, month, day]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(invalid());
    }
    let (year, month, day) = (
        year.parse::<i32>().map_err(|_| invalid())?,
        month.parse::<u8>().map_err(|_| invalid())?,
        day.parse::<u8>().map_err(|_| invalid())?,
    );
    let date = Month::try_from(month)
        .ok()
        .and_then(|m| Date::from_calendar_date(year, m, day).ok())
        .ok_or_else(|| format!("{text:?} is not a day of the calendar"))?;
    Ok(iso_date(date))
}

fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// An Excel serial date in the 1900 date system (the default; workbooks in the Mac 1904 system
/// are not detected). Serials before 1 March 1900 count from 31 December 1899 because Excel
/// treats 1900 as a leap year; its phantom 29 February 1900 (serial 60) is refused.
fn excel_serial_date(serial: f64) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("spreadsheet date {serial} {why}"));
    if serial.fract() != 0.0 {
        return refuse("has a time of day; only a date is expected");
    }
    if !(1.0..=2_958_465.0).contains(&serial) {
        return refuse("is outside the years 1900–9999");
    }
    if serial == 60.0 {
        return refuse("is 29 February 1900, which does not exist");
    }
    let (epoch, days) = if serial < 60.0 {
        (Date::from_calendar_date(1899, Month::December, 31), serial)
    } else {
        (Date::from_calendar_date(1899, Month::December, 30), serial)
    };
    epoch
        .ok()
        .and_then(|e| e.checked_add(Duration::days(days as i64)))
        .map(iso_date)
        .ok_or_else(|| format!("spreadsheet date {serial} is out of range"))
}

/// A category cell: a 6-digit code of the classification, "code name" with the matching name,
/// or the exact Chinese name of exactly one class. A numeric spreadsheet cell has lost the
/// code's leading zeros (10101 for 010101), which are restored.
pub fn category(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Number(digits) if digits.len() < 6 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            category_text(&format!("{digits:0>6}")).map(Some)
        }
        other => cell_text(other)?
            .map(|text| category_text(&text))
            .transpose(),
    }
}

fn category_text(text: &str) -> Result<String, String> {
    let code_length = text.bytes().take_while(u8::is_ascii_digit).count();
    if code_length == 0 {
        return category_by_name(text);
    }
    let (code, rest) = text.split_at(code_length);
    let class = classification::get(code)
        .filter(|_| code_length == 6)
        .ok_or_else(|| {
            format!("{code:?} is not a code of the national instrument classification")
        })?;
    let name = rest.trim_start_matches([' ', '\u{3000}', '-', '_']).trim();
    if name.is_empty() || name == class.name_zh {
        Ok(class.code.to_owned())
    } else {
        Err(format!(
            "code {code} is {:?} in the classification, not {name:?}",
            class.name_zh
        ))
    }
}

fn category_by_name(name: &str) -> Result<String, String> {
    static BY_NAME: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let index = BY_NAME.get_or_init(|| {
        let mut index: HashMap<&str, Vec<&str>> = HashMap::new();
        for class in classification::all() {
            index.entry(class.name_zh).or_default().push(class.code);
        }
        index
    });
    match index.get(name).map(Vec::as_slice) {
        Some([code]) => Ok((*code).to_owned()),
        Some(codes) => Err(format!(
            "{} classes are named {name:?} ({}); give the code",
            codes.len(),
            codes.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        )),
        None => Err(format!(
            "{name:?} is neither a code nor a class name of the national instrument classification"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    #[test]
    fn wan_yuan_becomes_integer_yuan_exactly() {
        assert_eq!(amount("12.34", 4), Ok(123_400));
        assert_eq!(amount("1280", 4), Ok(12_800_000));
        assert_eq!(amount("0.0001", 4), Ok(1));
        assert_eq!(amount("0.1", 4), Ok(1_000));
        assert_eq!(amount("12.340000", 4), Ok(123_400));
        assert_eq!(amount("1200.00", 0), Ok(1_200));
        for bad in [
            "12.34567", "-1", "1,280", "1e3", ".5", "5.", "", "12.3.4", " 1",
        ] {
            assert!(amount(bad, 4).is_err(), "{bad}");
        }
        assert!(amount("1200.5", 0).is_err());
        assert!(amount("900719925474.0992", 4).is_err());
        assert!(amount("99999999999999999999999", 4).is_err());
    }

    #[test]
    fn dates_in_the_usual_spellings() {
        for spelling in [
            "2019-06-18",
            "2019/6/18",
            "20190618",
            "2019.6.18",
            "2019年6月18日",
            "2019-06-18 00:00:00",
        ] {
            assert_eq!(
                date_text(spelling).as_deref(),
                Ok("2019-06-18"),
                "{spelling}"
            );
        }
        for bad in [
            "2019-02-30",
            "18/06/2019",
            "2019-6",
            "2019-06-18 12:30:00",
            "June 2019",
            "19-6-18",
        ] {
            assert!(date_text(bad).is_err(), "{bad}");
        }
        assert_eq!(
            date(&Cell::Number("20190618".into())).unwrap().as_deref(),
            Some("2019-06-18")
        );
        assert!(date(&Cell::Number("43634".into())).is_err());
        assert_eq!(date(&Cell::Empty), Ok(None));
    }

    #[test]
    fn excel_serial_dates() {
        assert_eq!(excel_serial_date(43634.0).as_deref(), Ok("2019-06-18"));
        assert_eq!(excel_serial_date(61.0).as_deref(), Ok("1900-03-01"));
        assert_eq!(excel_serial_date(59.0).as_deref(), Ok("1900-02-28"));
        assert_eq!(excel_serial_date(1.0).as_deref(), Ok("1900-01-01"));
        assert!(excel_serial_date(60.0).is_err());
        assert!(excel_serial_date(43634.5).is_err());
        assert!(excel_serial_date(0.0).is_err());
        assert!(excel_serial_date(f64::NAN).is_err());
    }

    #[test]
    fn categories_by_code_code_and_name_or_unique_name() {
        assert_eq!(
            category(&text("010101")).unwrap().as_deref(),
            Some("010101")
        );
        let name = classification::get("010000").unwrap().name_zh;
        assert_eq!(
            category(&text(&format!("010000 {name}")))
                .unwrap()
                .as_deref(),
            Some("010000")
        );
        assert_eq!(category(&text(name)).unwrap().as_deref(), Some("010000"));
        assert_eq!(
            category(&Cell::Number("10101".into())).unwrap().as_deref(),
            Some("010101")
        );
        assert!(
            category(&text("010000 计量仪器"))
                .unwrap_err()
                .contains("分析仪器")
        );
        assert!(category(&text("999999")).is_err());
        assert!(category(&text("10101")).is_err());
        assert!(
            category(&text("其他"))
                .unwrap_err()
                .contains("give the code")
        );
        assert!(category(&text("显微镜之类")).is_err());
    }

    #[test]
    fn value_maps_are_strict() {
        let rule = ColumnRule {
            field: "source".into(),
            kind: ValueKind::Text,
            values: Some(ValueMap::from([("购置".into(), "purchased".into())])),
        };
        assert_eq!(
            rule.convert(&text(" 购置 ")).unwrap(),
            Some(Value::from("purchased"))
        );
        assert!(rule.convert(&text("外购")).unwrap_err().contains("购置"));
        assert_eq!(rule.convert(&Cell::Empty).unwrap(), None);
        let funding = ColumnRule {
            field: "funding".into(),
            kind: ValueKind::TextList,
            values: Some(ValueMap::from([
                ("中央财政资金".into(), "central".into()),
                ("单位自有资金".into(), "own".into()),
                ("无".into(), String::new()),
            ])),
        };
        assert_eq!(funding.convert(&text("无")).unwrap(), None);
        assert_eq!(
            funding.convert(&text("无、单位自有资金")).unwrap(),
            Some(serde_json::json!(["own"]))
        );
        assert_eq!(
            funding
                .convert(&text("中央财政资金，单位自有资金"))
                .unwrap(),
            Some(serde_json::json!(["central", "own"]))
        );
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            convert_cell(&text("US"), ValueKind::Country).unwrap(),
            Some("US".into())
        );
        assert_eq!(
            convert_cell(&text("德国"), ValueKind::Country).unwrap(),
            Some("DE".into())
        );
        assert!(convert_cell(&text("Germany"), ValueKind::Country).is_err());
        assert_eq!(
            convert_cell(&text("1620"), ValueKind::Integer).unwrap(),
            Some(1620.into())
        );
        assert!(convert_cell(&text("16.5"), ValueKind::Integer).is_err());
        assert_eq!(
            convert_cell(&text("是"), ValueKind::Boolean).unwrap(),
            Some(true.into())
        );
        assert!(convert_cell(&text("maybe"), ValueKind::Boolean).is_err());
        assert!(convert_cell(&text("NaN"), ValueKind::Number).is_err());
        assert!(convert_cell(&text("ab c"), ValueKind::LocalId).is_err());
        assert!(
            convert_cell(&text("Zoom \u{16}"), ValueKind::Text)
                .unwrap_err()
                .contains("U+0016")
        );
        assert_eq!(convert_cell(&text("   "), ValueKind::Text).unwrap(), None);
        assert!(convert_cell(&Cell::Error("#N/A".into()), ValueKind::Text).is_err());
    }
}
