//! The last step every format shares: fill the `--institution` and `--sharing-mode` defaults
//! (instruments only),
//! refuse a second occurrence of a local_id, validate against the schema and sort each row into
//! the good rows or the errors.

use super::{Format, ImportOptions, ImportedRow, ParsedCatalogue, RecordKind, RowError};
use super::{fields, service};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// The fields the node fills in; validation runs with placeholders for them.
const NODE_OWNED: [&str; 4] = ["kind", "region", "version", "updated_at"];

/// A problem found while converting a row, before schema validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl Problem {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// A problem with the value of the field at a dotted path.
    pub fn at_field(path: &str, message: impl Into<String>) -> Problem {
        Problem::new(fields::pointer(path), message)
    }
}

/// Gathers the rows of one file.
pub struct Collector<'a> {
    options: &'a ImportOptions,
    first_row_of: HashMap<String, usize>,
    parsed: ParsedCatalogue,
}

impl<'a> Collector<'a> {
    pub fn new(format: Format, options: &'a ImportOptions) -> Collector<'a> {
        Collector {
            options,
            first_row_of: HashMap::new(),
            parsed: ParsedCatalogue {
                format,
                rows: Vec::new(),
                errors: Vec::new(),
                personal_rows: 0,
            },
        }
    }

    /// Takes one converted row and the problems its conversion found.
    pub fn push(&mut self, row: usize, mut record: Map<String, Value>, mut problems: Vec<Problem>) {
        self.fill_defaults(&mut record);
        let local_id = record
            .get("local_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(id) = &local_id {
            if self.options.kind == RecordKind::Instrument && id.starts_with(service::ID_PREFIX) {
                problems.push(Problem::new(
                    "/local_id",
                    format!(
                        "ids starting with {:?} are service records'; rename the instrument",
                        service::ID_PREFIX
                    ),
                ));
            }
            match self.first_row_of.entry(id.clone()) {
                Entry::Occupied(first) => problems.push(Problem::new(
                    "/local_id",
                    format!("duplicate of row {}", first.get()),
                )),
                Entry::Vacant(slot) => {
                    slot.insert(row);
                }
            }
        }
        let content = self.validate(record, &mut problems);
        if problems.is_empty() {
            self.parsed.rows.push(ImportedRow { row, content });
        } else {
            self.parsed
                .errors
                .extend(problems.into_iter().map(|p| RowError {
                    row,
                    local_id: local_id.clone(),
                    pointer: p.pointer,
                    message: p.message,
                    column: None,
                }));
        }
    }

    /// Reports a row that could not be turned into a record at all.
    pub fn reject(&mut self, row: usize, message: impl Into<String>) {
        self.parsed.errors.push(RowError {
            row,
            local_id: None,
            pointer: String::new(),
            message: message.into(),
            column: None,
        });
    }

    /// Counts a row whose personal columns (applicant, phone, e-mail) were dropped.
    pub fn note_personal_data(&mut self) {
        self.parsed.personal_rows += 1;
    }

    pub fn finish(self) -> ParsedCatalogue {
        self.parsed
    }

    fn fill_defaults(&self, record: &mut Map<String, Value>) {
        if self.options.kind != RecordKind::Instrument {
            return;
        }
        let defaults = [
            ("institution.name", &self.options.institution),
            ("sharing.mode", &self.options.sharing_mode),
        ];
        for (path, default) in defaults {
            if let Some(value) = default
                && fields::get(record, path).is_none()
            {
                // A non-object `institution` or `sharing` is left for the schema to report.
                let _ = fields::insert(record, path, Value::String(value.clone()));
            }
        }
    }

    /// Validates with placeholders for the node-owned fields and adds the schema's violations,
    /// except those at a field whose conversion already failed (it is then absent, and
    /// "required field is missing" would only repeat the first error).
    fn validate(&self, mut record: Map<String, Value>, problems: &mut Vec<Problem>) -> Value {
        let placeholders = [
            Value::from(self.options.kind.as_str()),
            Value::from(self.options.region.as_str()),
            Value::from(1),
            Value::from("2000-01-01T00:00:00Z"),
        ];
        for (name, value) in NODE_OWNED.into_iter().zip(placeholders) {
            record.insert(name.to_owned(), value);
        }
        let mut value = Value::Object(record);
        if let Err(violations) = yiqi_schema::validate_record(&value) {
            let already_reported: Vec<String> =
                problems.iter().map(|p| p.pointer.clone()).collect();
            problems.extend(
                violations
                    .into_iter()
                    .filter(|v| !already_reported.contains(&v.pointer))
                    .map(|v| Problem::new(v.pointer, v.message)),
            );
        }
        if let Value::Object(record) = &mut value {
            for name in NODE_OWNED {
                record.remove(name);
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options() -> ImportOptions {
        ImportOptions::for_tests()
    }

    fn record(id: &str) -> Map<String, Value> {
        let value = json!({"local_id": id, "name": "电镜", "category": "010101",
                           "location": {"province": "甘肃省", "city": "兰州市"}});
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fills_defaults_validates_and_refuses_duplicates() {
        let options = options();
        let mut collector = Collector::new(Format::Native, &options);
        collector.push(2, record("a"), vec![]);
        collector.push(3, record("a"), vec![]);
        let mut bad = record("b");
        bad.insert("categroy".into(), json!("x"));
        collector.push(4, bad, vec![Problem::new("/category", "bad category")]);
        let parsed = collector.finish();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].content["institution"]["name"], "兰州大学");
        assert!(parsed.rows[0].content.get("kind").is_none());
        let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "row 3 (a): /local_id: duplicate of row 2",
                "row 4 (b): /category: bad category",
                "row 4 (b): /categroy: unknown field (platform-specific fields belong in \"ext\")"
            ]
        );
    }

    #[test]
    fn keeps_a_row_s_own_institution() {
        let options = options();
        let mut collector = Collector::new(Format::Native, &options);
        let mut own = record("a");
        own.insert("institution".into(), json!({"name": "兰州理工大学"}));
        collector.push(1, own, vec![]);
        assert_eq!(
            collector.finish().rows[0].content["institution"]["name"],
            "兰州理工大学"
        );
    }
}
