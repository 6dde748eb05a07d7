//! Native records: a JSON array of records, or NDJSON (one record per line, blank lines ignored).
//!
//! Each record is parsed on its own with the strict I-JSON parser, so a duplicate member name or
//! an unsafe integer spoils only its own row. The four node-owned fields are handled so that a
//! record never carries a value the node would silently replace:
//! - `region`, if present, must be the node's region (else an error at `/region`); it is then
//!   removed, as the node fills it in.
//! - `kind`, if present, must be the kind being imported (`--kind`, default `"instrument"`;
//!   else an error at `/kind`), and is removed. Service rows are linked as `service.rs` says.
//! - `version` and `updated_at` are removed without complaint: the node assigns both when it
//!   publishes a change, and a catalogue exported from another yiqi installation carries them
//!   legitimately. Their values never reach the record, so nothing depends on them.
//! - `deleted` is an error at `/deleted`: an import lists instruments, and an instrument is
//!   deleted by leaving it out of a `--snapshot` import.

use super::collect::{Collector, Problem};
use super::{Format, ImportError, ImportOptions, ParsedCatalogue, RecordKind, service};
use serde_json::Value;
use serde_json::value::RawValue;
use yiqi_schema::ijson;

pub fn read(text: &str, options: &ImportOptions) -> Result<ParsedCatalogue, ImportError> {
    let mut collector = Collector::new(Format::Native, options);
    if text.trim_start().starts_with('[') {
        read_array(text, &mut collector, options)?;
    } else {
        read_lines(text, &mut collector, options)?;
    }
    Ok(collector.finish())
}

fn read_array(
    text: &str,
    collector: &mut Collector,
    options: &ImportOptions,
) -> Result<(), ImportError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| ImportError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    for (index, item) in items.iter().enumerate() {
        take_record(index + 1, item.get(), collector, options);
    }
    Ok(())
}

fn read_lines(
    text: &str,
    collector: &mut Collector,
    options: &ImportOptions,
) -> Result<(), ImportError> {
    refuse_a_multi_line_object(text)?;
    for (index, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            take_record(index + 1, line, collector, options);
        }
    }
    Ok(())
}

/// A pretty-printed object would otherwise come back as one error per line.
fn refuse_a_multi_line_object(text: &str) -> Result<(), ImportError> {
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let first_line_is_json = serde_json::from_str::<serde::de::IgnoredAny>(first_line).is_ok();
    if !first_line_is_json && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return Err(ImportError::Json {
            line: 1,
            column: 1,
            message: "one JSON object over several lines; give an array of records or one \
                      record per line (NDJSON)"
                .into(),
        });
    }
    Ok(())
}

fn take_record(row: usize, json: &str, collector: &mut Collector, options: &ImportOptions) {
    let mut record = match ijson::parse(json.as_bytes()) {
        Ok(Value::Object(record)) => record,
        Ok(_) => return collector.reject(row, "a record must be a JSON object"),
        Err(e) => return collector.reject(row, format!("not I-JSON: {e}")),
    };
    let mut problems = Vec::new();
    let expected_kind = options.kind.as_str();
    if let Some(kind) = record.remove("kind")
        && kind != expected_kind
    {
        problems.push(Problem::new(
            "/kind",
            format!("kind is {kind}; this import reads {expected_kind:?} records (--kind)"),
        ));
    }
    if let Some(region) = record.remove("region")
        && region != options.region.as_str()
    {
        problems.push(Problem::new(
            "/region",
            format!(
                "the record is for region {region}; this node publishes {}",
                options.region
            ),
        ));
    }
    if record.remove("deleted").is_some() {
        problems.push(Problem::new(
            "/deleted",
            "an import lists instruments; delete one by leaving it out of a --snapshot import",
        ));
    }
    record.remove("version");
    record.remove("updated_at");
    if options.kind == RecordKind::Service {
        service::link_native(&mut record, options, &mut problems);
    }
    collector.push(row, record, problems);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ImportOptions {
        ImportOptions::new("CN-GS")
    }

    const GOOD: &str = r#"{"local_id":"a","name":"电镜","category":"010101","institution":{"name":"兰州大学"},"location":{"province":"甘肃省","city":"兰州市"},"sharing":{"mode":"external"}}"#;

    fn errors(parsed: &ParsedCatalogue) -> Vec<String> {
        parsed.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_ndjson_by_line_number() {
        let text = format!(
            "{GOOD}\n\n{}\n[1]\n{{\"a\":1,\"a\":2}}\n",
            GOOD.replace("\"a\"", "\"b\"")
        );
        let parsed = read(&text, &options()).unwrap();
        let rows: Vec<usize> = parsed.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [1, 3]);
        let errors = errors(&parsed);
        assert_eq!(errors[0], "row 4: (record): a record must be a JSON object");
        assert!(errors[1].starts_with("row 5: (record): not I-JSON: duplicate member name"));
    }

    #[test]
    fn reads_an_array_by_index_and_checks_the_node_owned_fields() {
        let other_region = GOOD.replace(
            "{\"local_id\":\"a\"",
            "{\"local_id\":\"b\",\"region\":\"CN-BJ\"",
        );
        let own_fields = GOOD.replace(
            "{\"local_id\":\"a\"",
            "{\"local_id\":\"c\",\"region\":\"CN-GS\",\"kind\":\"instrument\",\"version\":7,\"updated_at\":\"x\"",
        );
        let text = format!("[{GOOD},{other_region},{own_fields},{GOOD}]");
        let parsed = read(&text, &options()).unwrap();
        let rows: Vec<usize> = parsed.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [1, 3]);
        assert!(parsed.rows[1].content.get("version").is_none());
        assert_eq!(
            errors(&parsed),
            [
                "row 2 (b): /region: the record is for region \"CN-BJ\"; this node publishes CN-GS",
                "row 4 (a): /local_id: duplicate of row 1"
            ]
        );
    }

    #[test]
    fn refuses_broken_json_and_a_pretty_printed_object() {
        assert!(matches!(
            read("[{]", &options()),
            Err(ImportError::Json { .. })
        ));
        assert!(matches!(
            read("{\n\"a\": 1\n}\n", &options()),
            Err(ImportError::Json { .. })
        ));
    }

    #[test]
    fn tombstones_are_not_imported() {
        let parsed = read(r#"[{"local_id":"a","deleted":true}]"#, &options()).unwrap();
        assert_eq!(parsed.errors[0].pointer, "/deleted");
    }
}
