//! `export`: the live records of the catalogue or of one mirrored region, as NDJSON or CSV, for
//! the platform's own website.
//!
//! The CSV columns are fixed by the schema: `region, local_id, version, updated_at, name`, then
//! every other field with nested objects flattened to dotted names (`location.city`), in
//! alphabetical order; arrays are joined with `; `, and `ext` is its JSON text.

use crate::db::{self, StoredEnvelope};
use crate::error::{NodeError, corrupt};
use crate::node::Node;
use serde_json::{Map, Value};
use std::io::Write;
use std::ops::ControlFlow;
use std::str::FromStr;
use yiqi_schema::spreadsheet::{UTF8_BOM, neutralise};
use yiqi_store::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "ndjson" => Ok(ExportFormat::Ndjson),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(format!("unknown format {text:?}: use ndjson or csv")),
        }
    }
}

/// Columns that identify a record come first; `kind` is left out (always "instrument").
const LEADING: [&str; 5] = ["region", "local_id", "version", "updated_at", "name"];

/// The CSV columns: the identifying ones, then every other leaf field of the instrument schema
/// as a dotted name, in alphabetical order.
pub fn csv_columns() -> Vec<String> {
    let schema = yiqi_schema::validate::schema_value();
    let mut fields = Vec::new();
    if let Some(properties) = schema["$defs"]["instrument"]["properties"].as_object() {
        leaf_fields(&schema, properties, "", &mut fields);
    }
    fields.retain(|f| f != "kind" && !LEADING.contains(&f.as_str()));
    fields.sort();
    LEADING
        .iter()
        .map(|f| (*f).to_owned())
        .chain(fields)
        .collect()
}

fn leaf_fields(
    schema: &Value,
    properties: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for (name, definition) in properties {
        let definition = resolve(schema, definition);
        match definition.get("properties").and_then(Value::as_object) {
            Some(nested) => leaf_fields(schema, nested, &format!("{prefix}{name}."), out),
            None => out.push(format!("{prefix}{name}")),
        }
    }
}

/// Follows a local `$ref` (`#/$defs/…`) one level.
fn resolve<'a>(schema: &'a Value, definition: &'a Value) -> &'a Value {
    definition
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| schema["$defs"].get(name))
        .unwrap_or(definition)
}

/// One CSV cell: text neutralised for spreadsheets, arrays joined, objects (ext) as JSON, numbers
/// as they are (a negative number is not a formula).
fn cell(record: &Value, column: &str) -> String {
    let value = column.split('.').try_fold(record, |v, part| v.get(part));
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => neutralise(text).into_owned(),
        Some(Value::Array(items)) => neutralise(
            &items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .into_owned(),
        Some(other) => other.to_string(),
    }
}

/// Where exported records go, in the chosen format.
enum Sink<'a> {
    Ndjson(&'a mut dyn Write),
    Csv(Box<csv::Writer<&'a mut dyn Write>>, Vec<String>),
}

impl<'a> Sink<'a> {
    fn new(format: ExportFormat, out: &'a mut dyn Write) -> Result<Sink<'a>, NodeError> {
        Ok(match format {
            ExportFormat::Ndjson => Sink::Ndjson(out),
            ExportFormat::Csv => {
                let columns = csv_columns();
                out.write_all(UTF8_BOM.as_bytes()).map_err(io_error)?;
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(&columns).map_err(csv_error)?;
                Sink::Csv(Box::new(writer), columns)
            }
        })
    }

    /// Whether the record belongs in this export: the CSV's columns are the instrument's, so
    /// services are only in the NDJSON export.
    fn takes(&self, record: &Value) -> bool {
        matches!(self, Sink::Ndjson(_)) || record["kind"] == "instrument"
    }

    fn write(&mut self, record: &Value) -> Result<(), NodeError> {
        match self {
            Sink::Ndjson(out) => serde_json::to_writer(&mut **out, record)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(io_error),
            Sink::Csv(writer, columns) => {
                let row: Vec<String> = columns.iter().map(|c| cell(record, c)).collect();
                writer.write_record(&row).map_err(csv_error)
            }
        }
    }

    fn finish(self) -> Result<(), NodeError> {
        match self {
            Sink::Ndjson(out) => out.flush().map_err(io_error),
            Sink::Csv(mut writer, _) => writer.flush().map_err(io_error),
        }
    }
}

fn io_error(e: std::io::Error) -> NodeError {
    NodeError::Usage(format!("writing the export: {e}"))
}

fn csv_error(e: csv::Error) -> NodeError {
    NodeError::Usage(format!("writing the export: {e}"))
}

impl Node {
    /// Writes the live records of the own catalogue (`region` None or the own region) or of a
    /// mirrored region; returns how many were written.
    pub fn export(
        &self,
        region: Option<&str>,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<usize, NodeError> {
        let own = region.is_none_or(|r| r == self.config.region);
        let prefix = if own {
            db::CATALOG.to_vec()
        } else {
            [db::MIRROR, region.unwrap_or_default().as_bytes(), b"/"].concat()
        };
        // Catalogue values carry the 32-byte content hash before the stored envelope.
        let skip = if own { 32 } else { 0 };
        let mut sink = Sink::new(format, out)?;
        let mut count = 0;
        let mut failure = None;
        self.db.for_each(&prefix, 1_000, |_, value| {
            let stored = StoredEnvelope::decode(value.get(skip..).unwrap_or_default())?;
            if stored.deleted {
                return Ok(ControlFlow::Continue(()));
            }
            let record = record_of(&stored)?;
            if !sink.takes(&record) {
                return Ok(ControlFlow::Continue(()));
            }
            match sink.write(&record) {
                Ok(()) => {
                    count += 1;
                    Ok(ControlFlow::Continue(()))
                }
                Err(e) => {
                    failure = Some(e);
                    Ok(ControlFlow::Break(()))
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => sink.finish().map(|()| count),
        }
    }
}

pub(crate) fn record_of(stored: &StoredEnvelope) -> Result<Value, StorageError> {
    let mut envelope: Value =
        serde_json::from_slice(&stored.envelope).map_err(|_| corrupt("envelope"))?;
    Ok(envelope["record"].take())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_fixed_by_the_schema_and_cells_flatten() {
        let columns = csv_columns();
        assert_eq!(columns[..5], LEADING);
        assert!(
            columns.iter().any(|c| c == "location.city") && !columns.iter().any(|c| c == "kind")
        );
        assert!(
            !columns.iter().any(|c| c == "location"),
            "objects are flattened"
        );
        let record = json!({"location": {"city": "兰州市"}, "keywords": ["TEM", "电镜"], "ext": {"a": 1},
                            "original_value_cny": 12});
        assert_eq!(cell(&record, "location.city"), "兰州市");
        assert_eq!(cell(&record, "keywords"), "TEM; 电镜");
        assert_eq!(cell(&record, "ext"), "{\"a\":1}");
        assert_eq!(cell(&record, "original_value_cny"), "12");
        assert_eq!(cell(&record, "contact.email"), "");
    }
}
