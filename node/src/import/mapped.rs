//! Any other CSV (or workbook), read through a mapping file (`--mapping MAP.toml`): which column
//! fills which field, value maps, constants, fallbacks and how `local_id` is derived when no
//! column holds one. The format is documented in `node/mappings/README.md`.
//!
//! A mapping is checked completely before the first row is read: every field must exist, no two
//! sources may fill the same field, constants must convert. Every column of the file must be
//! mapped, used for the derived id or listed in `ignore`, so no column is dropped unnoticed.

use super::collect::{Collector, Problem};
use super::convert::{self, ColumnRule, ValueMap};
use super::fields::{self, ValueKind};
use super::table::{Cell, TableRow};
use super::{Encoding, Format, ImportError, ImportOptions, ParsedCatalogue};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Separates the values hashed into a derived id, so ("ab", "c") and ("a", "bc") differ.
const HASH_SEPARATOR: &str = "\u{1f}";

/// Hex digits of the SHA-256 kept in a derived id.
const HASH_HEX_DIGITS: usize = 16;

/// Longest prefix of a derived id, leaving room for the hash in the 64 characters of local_id.
const MAX_PREFIX_CHARS: usize = 64 - HASH_HEX_DIGITS;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    encoding: Option<String>,
    delimiter: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    local_id: Option<DerivedIdFile>,
    #[serde(default)]
    columns: BTreeMap<String, ColumnFile>,
    #[serde(default)]
    constants: BTreeMap<String, toml::Value>,
    #[serde(default)]
    fallbacks: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ColumnFile {
    Field(String),
    Detailed(DetailedColumnFile),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailedColumnFile {
    field: String,
    values: Option<ValueMap>,
    unit: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DerivedIdFile {
    hash: Vec<String>,
    #[serde(default)]
    prefix: String,
}

/// A checked mapping file.
#[derive(Debug)]
pub struct Mapping {
    path: PathBuf,
    encoding: Encoding,
    delimiter: u8,
    ignored: HashSet<String>,
    columns: HashMap<String, ColumnRule>,
    constants: Vec<(String, Value)>,
    fallbacks: Vec<(String, String)>,
    derived_id: Option<DerivedId>,
}

#[derive(Debug)]
struct DerivedId {
    columns: Vec<String>,
    prefix: String,
}

/// What each column of a file does under a mapping.
enum Slot<'m> {
    Fill(&'m ColumnRule),
    /// Ignored, or only read for the derived id.
    Skip,
    /// A column without a header: it must be empty.
    Unnamed,
}

struct Layout<'m> {
    slots: Vec<Slot<'m>>,
    /// Where the derived id's columns are, when no column holds local_id.
    hash_columns: Option<Vec<usize>>,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, ImportError> {
        let fail = |message: String| ImportError::Mapping {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: MappingFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        Mapping::check(file, path).map_err(fail)
    }

    fn check(file: MappingFile, path: &Path) -> Result<Mapping, String> {
        let encoding = match &file.encoding {
            Some(name) => name.parse::<Encoding>().map_err(|e| e.to_string())?,
            None => Encoding::Auto,
        };
        let delimiter = match file.delimiter.as_deref() {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some(d) => return Err(format!("delimiter {d:?} must be one ASCII character")),
        };
        let columns = file
            .columns
            .into_iter()
            .map(|(name, spec)| Ok((name.trim().to_owned(), column_rule(&name, spec)?)))
            .collect::<Result<HashMap<_, _>, String>>()?;
        let constants = file
            .constants
            .into_iter()
            .map(|(field, value)| Ok((field.clone(), constant(&field, &value)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let fallbacks = check_fallbacks(file.fallbacks)?;
        check_targets(&columns, &constants)?;
        let ignored: HashSet<String> = file.ignore.iter().map(|c| c.trim().to_owned()).collect();
        if let Some(both) = ignored.iter().find(|c| columns.contains_key(*c)) {
            return Err(format!("column {both:?} is both mapped and ignored"));
        }
        let derived_id = file.local_id.map(derived_id).transpose()?;
        Ok(Mapping {
            path: path.to_owned(),
            encoding,
            delimiter,
            ignored,
            columns,
            constants,
            fallbacks,
            derived_id,
        })
    }

    /// The encoding the mapping names, used when `--encoding` is left at auto.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Reads the rows of a file: the first non-blank row is its header.
    pub fn read(
        &self,
        rows: Vec<TableRow>,
        options: &ImportOptions,
    ) -> Result<ParsedCatalogue, ImportError> {
        let mut rows = rows.into_iter().filter(|row| !row.is_blank());
        let header = rows
            .next()
            .ok_or_else(|| ImportError::UnrecognisedHeader("the file is empty".into()))?;
        let layout = self.layout(&header)?;
        let mut collector = Collector::new(Format::Mapped, options);
        for row in rows {
            let (record, problems) = self.convert_row(&row, &layout);
            collector.push(row.number, record, problems);
        }
        let mut parsed = collector.finish();
        parsed.name_columns(
            header
                .cells
                .iter()
                .zip(&layout.slots)
                .filter_map(|(cell, slot)| match slot {
                    Slot::Fill(rule) => Some((rule.field.as_str(), header_name(cell))),
                    _ => None,
                }),
        );
        Ok(parsed)
    }

    fn layout(&self, header: &TableRow) -> Result<Layout<'_>, ImportError> {
        let names: Vec<String> = header.cells.iter().map(header_name).collect();
        let slots = self.slots(&names)?;
        let holds_local_id = slots
            .iter()
            .any(|slot| matches!(slot, Slot::Fill(rule) if rule.field == "local_id"));
        let hash_columns = if holds_local_id {
            None
        } else {
            Some(self.hash_columns(&names)?)
        };
        Ok(Layout {
            slots,
            hash_columns,
        })
    }

    /// What each named column does; every name must be mapped, hashed or ignored.
    fn slots(&self, names: &[String]) -> Result<Vec<Slot<'_>>, ImportError> {
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        let mut slots = Vec::new();
        for name in names {
            if name.is_empty() {
                slots.push(Slot::Unnamed);
                continue;
            }
            if !seen.insert(name.as_str()) {
                return Err(self.error(format!("the file has two columns named {name:?}")));
            }
            let hashed = self
                .derived_id
                .as_ref()
                .is_some_and(|id| id.columns.contains(name));
            match self.columns.get(name) {
                Some(rule) => slots.push(Slot::Fill(rule)),
                None if hashed || self.ignored.contains(name) => slots.push(Slot::Skip),
                None => {
                    unknown.push(format!("{name:?}"));
                    slots.push(Slot::Skip);
                }
            }
        }
        if unknown.is_empty() {
            Ok(slots)
        } else {
            Err(self.error(format!(
                "the file's columns {} are neither mapped nor ignored",
                unknown.join(", ")
            )))
        }
    }

    /// Where the columns of the derived id are, for a file without a local_id column.
    fn hash_columns(&self, names: &[String]) -> Result<Vec<usize>, ImportError> {
        let id = self.derived_id.as_ref().ok_or_else(|| {
            self.error(
                "no column of the file gives local_id and the mapping has no \
                 local_id = { hash = [...] }"
                    .into(),
            )
        })?;
        id.columns
            .iter()
            .map(|column| {
                names.iter().position(|n| n == column).ok_or_else(|| {
                    self.error(format!(
                        "local_id is hashed from column {column:?}, which the file lacks"
                    ))
                })
            })
            .collect()
    }

    fn error(&self, message: String) -> ImportError {
        ImportError::Mapping {
            path: self.path.clone(),
            message,
        }
    }

    fn convert_row(&self, row: &TableRow, layout: &Layout) -> (Map<String, Value>, Vec<Problem>) {
        let mut record = Map::new();
        let mut problems = Vec::new();
        for (index, cell) in row.cells.iter().enumerate() {
            match layout.slots.get(index) {
                Some(Slot::Fill(rule)) => fill(&mut record, &mut problems, rule, cell),
                Some(Slot::Skip) => {}
                Some(Slot::Unnamed) | None => {
                    if !cell.is_blank() {
                        problems.push(Problem::new(
                            "",
                            format!("column {} holds a value but has no header", index + 1),
                        ));
                    }
                }
            }
        }
        if let (Some(columns), Some(id)) = (&layout.hash_columns, &self.derived_id) {
            record.insert(
                "local_id".into(),
                Value::String(derive_id(row, columns, &id.prefix)),
            );
        }
        for (field, value) in &self.constants {
            insert(&mut record, &mut problems, field, value.clone());
        }
        for (field, source) in &self.fallbacks {
            if fields::get(&record, field).is_none()
                && let Some(value) = fields::get(&record, source).cloned()
            {
                insert(&mut record, &mut problems, field, value);
            }
        }
        (record, problems)
    }
}

fn header_name(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) | Cell::Number(text) => text.trim().to_owned(),
        _ => String::new(),
    }
}

fn fill(
    record: &mut Map<String, Value>,
    problems: &mut Vec<Problem>,
    rule: &ColumnRule,
    cell: &Cell,
) {
    match rule.convert(cell) {
        Ok(Some(value)) => insert(record, problems, &rule.field, value),
        Ok(None) => {}
        Err(message) => problems.push(Problem::at_field(&rule.field, message)),
    }
}

fn insert(record: &mut Map<String, Value>, problems: &mut Vec<Problem>, field: &str, value: Value) {
    if let Err(message) = fields::insert(record, field, value) {
        problems.push(Problem::at_field(field, message));
    }
}

/// `prefix` and the first 16 hex digits of the SHA-256 of the cells' text (trimmed, as the file
/// has it, even where the text is not a valid value: the id only has to be stable), joined by
/// U+001F.
fn derive_id(row: &TableRow, columns: &[usize], prefix: &str) -> String {
    let values: Vec<String> = columns.iter().map(|&c| row.cell(c).raw_text()).collect();
    let digest = Sha256::digest(values.join(HASH_SEPARATOR).as_bytes());
    format!("{prefix}{}", &hex::encode(digest)[..HASH_HEX_DIGITS])
}

fn column_rule(column: &str, spec: ColumnFile) -> Result<ColumnRule, String> {
    let detailed = match spec {
        ColumnFile::Field(field) => DetailedColumnFile {
            field,
            values: None,
            unit: None,
            kind: None,
        },
        ColumnFile::Detailed(detailed) => detailed,
    };
    let field = detailed.field;
    let context = |message: String| format!("column {column:?}: {message}");
    let mut kind = known_field(&field).map_err(context)?;
    if let Some(unit) = &detailed.unit {
        kind = match (field.as_str(), unit.as_str()) {
            ("original_value_cny", "yuan") => ValueKind::Yuan,
            ("original_value_cny", "wan-yuan") => ValueKind::WanYuan,
            ("original_value_cny", _) => {
                return Err(context(format!(
                    "unit {unit:?}: use \"yuan\" or \"wan-yuan\""
                )));
            }
            _ => return Err(context("only original_value_cny takes a unit".into())),
        };
    }
    if let Some(name) = &detailed.kind {
        if !fields::is_extension(&field) {
            return Err(context(format!(
                "{field} has a fixed type; only ext.* fields take one"
            )));
        }
        kind = extension_kind(name).map_err(context)?;
    }
    Ok(ColumnRule {
        field,
        kind,
        values: detailed.values,
    })
}

fn known_field(field: &str) -> Result<ValueKind, String> {
    fields::kind_of(field).ok_or_else(|| {
        format!("{field:?} is not a field a column can fill (see node/mappings/README.md)")
    })
}

fn extension_kind(name: &str) -> Result<ValueKind, String> {
    match name {
        "text" => Ok(ValueKind::Text),
        "date" => Ok(ValueKind::Date),
        "integer" => Ok(ValueKind::Integer),
        "number" => Ok(ValueKind::Number),
        "boolean" => Ok(ValueKind::Boolean),
        "list" => Ok(ValueKind::TextList),
        _ => Err(format!(
            "type {name:?}: use text, date, integer, number, boolean or list"
        )),
    }
}

/// A constant as its JSON value: a string goes through the field's conversion (so a class name
/// becomes its code, a date is normalised); numbers, booleans and arrays are taken as written.
fn constant(field: &str, value: &toml::Value) -> Result<Value, String> {
    let context = |message: String| format!("constant {field}: {message}");
    let kind = known_field(field).map_err(context)?;
    if kind == ValueKind::LocalId {
        return Err(context("every row would have the same local_id".into()));
    }
    match value {
        toml::Value::String(text) => convert::convert_cell(&Cell::Text(text.clone()), kind)
            .map_err(context)?
            .ok_or_else(|| context("is empty".into())),
        other => toml_to_json(other).map_err(context),
    }
}

fn toml_to_json(value: &toml::Value) -> Result<Value, String> {
    match value {
        toml::Value::String(text) => Ok(Value::String(text.clone())),
        toml::Value::Integer(number) => Ok(Value::from(*number)),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .ok_or_else(|| format!("{number} is not a JSON number")),
        toml::Value::Boolean(flag) => Ok(Value::Bool(*flag)),
        toml::Value::Array(items) => items
            .iter()
            .map(toml_to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        toml::Value::Datetime(_) => Err("write dates as strings (\"2019-06-18\")".into()),
        toml::Value::Table(_) => {
            Err("give each field of a table as its own dotted constant".into())
        }
    }
}

fn check_fallbacks(fallbacks: BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    fallbacks
        .into_iter()
        .map(|(field, source)| {
            known_field(&field)?;
            known_field(&source)?;
            if field == "local_id" {
                return Err(
                    "local_id cannot fall back; derive it with local_id = { hash = [...] }".into(),
                );
            }
            Ok((field, source))
        })
        .collect()
}

/// No field may be filled from two places (two columns, or a column and a constant), and no
/// field may sit inside another (`ext.a` and `ext.a.b`).
fn check_targets(
    columns: &HashMap<String, ColumnRule>,
    constants: &[(String, Value)],
) -> Result<(), String> {
    let mut targets: Vec<(String, &str)> = columns
        .iter()
        .map(|(column, rule)| (format!("column {column:?}"), rule.field.as_str()))
        .chain(
            constants
                .iter()
                .map(|(field, _)| (format!("constant {field}"), field.as_str())),
        )
        .collect();
    targets.sort();
    for (index, (source, field)) in targets.iter().enumerate() {
        if let Some((other, other_field)) = targets
            .iter()
            .skip(index + 1)
            .find(|(_, other_field)| fields::overlaps(field, other_field))
        {
            return Err(format!(
                "{source} ({field}) and {other} ({other_field}) fill the same field"
            ));
        }
    }
    Ok(())
}

fn derived_id(file: DerivedIdFile) -> Result<DerivedId, String> {
    if file.hash.is_empty() {
        return Err("local_id.hash lists no columns".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
    if file.prefix.chars().count() > MAX_PREFIX_CHARS || !file.prefix.chars().all(allowed) {
        return Err(format!(
            "local_id.prefix {:?}: at most {MAX_PREFIX_CHARS} ASCII letters, digits and . _ ~ -",
            file.prefix
        ));
    }
    Ok(DerivedId {
        columns: file.hash.iter().map(|c| c.trim().to_owned()).collect(),
        prefix: file.prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::table::csv_rows;

    fn mapping(toml_text: &str) -> Result<Mapping, String> {
        let file: MappingFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        Mapping::check(file, Path::new("test.toml"))
    }

    fn options() -> ImportOptions {
        ImportOptions::for_tests()
    }

    const BASIC: &str = r#"
        ignore = ["Notes"]
        local_id = { hash = ["Name", "Room"], prefix = "u-" }
        [columns]
        "Name" = "name"
        "Room" = "location.address"
        "Cost" = { field = "original_value_cny", unit = "wan-yuan" }
        "Access" = { field = "sharing.mode", values = { "Open" = "external", "Staff" = "internal" } }
        "Bought" = { field = "ext.bought", type = "date" }
        [constants]
        category = "分析仪器"
        "location.province" = "甘肃省"
        "location.city" = "兰州市"
        [fallbacks]
        "ext.label" = "name"
    "#;

    #[test]
    fn maps_columns_constants_values_and_derived_ids() {
        let mapping = mapping(BASIC).unwrap();
        let text = "Name,Room,Cost,Access,Bought,Notes\n\
                    TEM,101,12.5,Open,2019/6/18,x\n\
                    SEM,102,,Staff,,\n\
                    TEM,101,,,,\n\
                    NMR,103,1.23456,Guests,,\n";
        let parsed = mapping
            .read(csv_rows(text, b',').unwrap(), &options())
            .unwrap();
        assert_eq!(parsed.format, Format::Mapped);
        assert_eq!(parsed.rows.len(), 2);
        let first = &parsed.rows[0].content;
        assert_eq!(first["category"], "010000");
        assert_eq!(first["original_value_cny"], 125_000);
        assert_eq!(
            first["ext"],
            serde_json::json!({"bought": "2019-06-18", "label": "TEM"})
        );
        let expected_id = format!("u-{}", &hex::encode(Sha256::digest("TEM\u{1f}101"))[..16]);
        assert_eq!(first["local_id"], expected_id.as_str());
        assert_eq!(parsed.rows[1].content["sharing"]["mode"], "internal");
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors[0],
            format!("row 4 ({expected_id}): /local_id: duplicate of row 2")
        );
        assert!(errors[1].contains("/original_value_cny"), "{errors:?}");
        assert!(
            errors[2].contains("/sharing/mode: \"Guests\" is not one of Open, Staff"),
            "{errors:?}"
        );
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn every_column_must_be_accounted_for() {
        let mapping = mapping(BASIC).unwrap();
        let error = mapping
            .read(csv_rows("Name,Room,Colour\n", b',').unwrap(), &options())
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"Colour\" are neither mapped nor ignored"),
            "{error}"
        );
        let error = mapping
            .read(csv_rows("Name,Cost\n", b',').unwrap(), &options())
            .unwrap_err();
        assert!(
            error.to_string().contains("\"Room\", which the file lacks"),
            "{error}"
        );
    }

    #[test]
    fn refuses_bad_mappings() {
        let bad = [
            ("[columns]\n\"A\" = \"colour\"", "not a field"),
            (
                "[columns]\n\"A\" = \"name\"\n\"B\" = \"name\"",
                "fill the same field",
            ),
            (
                "[columns]\n\"A\" = \"ext.a\"\n[constants]\n\"ext.a.b\" = \"x\"",
                "fill the same field",
            ),
            (
                "[columns]\n\"A\" = { field = \"name\", unit = \"yuan\" }",
                "only original_value_cny",
            ),
            (
                "[columns]\n\"A\" = { field = \"name\", type = \"date\" }",
                "fixed type",
            ),
            ("[constants]\ncategory = \"999999\"", "constant category"),
            ("[constants]\nlocal_id = \"a\"", "same local_id"),
            ("local_id = { hash = [], prefix = \"u-\" }", "no columns"),
            ("local_id = { hash = [\"A\"], prefix = \"u/\" }", "prefix"),
            ("encoding = \"latin9\"", "unknown encoding"),
            ("delimiter = \";;\"", "one ASCII character"),
            (
                "ignore = [\"A\"]\n[columns]\n\"A\" = \"name\"",
                "both mapped and ignored",
            ),
        ];
        for (text, expected) in bad {
            let error = mapping(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn a_file_without_any_local_id_source_is_refused() {
        let mapping = mapping("[columns]\n\"Name\" = \"name\"").unwrap();
        let error = mapping
            .read(csv_rows("Name\nTEM\n", b',').unwrap(), &options())
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no column of the file gives local_id"),
            "{error}"
        );
    }
}
