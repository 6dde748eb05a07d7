//! The embedded alternative the search benchmark compares with: SQLite FTS5 with the trigram
//! tokenizer over the same records, answering the same queries (top 20 by rank and the total).

use rusqlite::{Connection, params_from_iter};
use serde_json::Value;
use std::path::Path;

/// The text columns, in the order of [`text_columns`].
const TEXT_COLUMNS: [&str; 12] = [
    "name",
    "name_en",
    "specs",
    "functions",
    "service_content",
    "manufacturer",
    "model",
    "institution",
    "carrier",
    "city",
    "keywords",
    "category_name",
];

/// Creates the FTS5 table at `path` and loads the records (parsed envelopes' `record`s).
pub fn build(path: &Path, records: impl Iterator<Item = Value>) -> rusqlite::Result<u64> {
    let mut connection = Connection::open(path)?;
    connection.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE VIRTUAL TABLE docs USING fts5(
           name, name_en, specs, functions, service_content, manufacturer, model, institution,
           carrier, city, keywords, category_name,
           region UNINDEXED, category UNINDEXED, sharing UNINDEXED, province UNINDEXED,
           value UNINDEXED, tokenize = 'trigram');",
    )?;
    let transaction = connection.transaction()?;
    let mut count = 0;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO docs VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
        )?;
        for record in records {
            let mut row: Vec<rusqlite::types::Value> =
                text_columns(&record).into_iter().map(Into::into).collect();
            for pointer in [
                "/region",
                "/category",
                "/sharing/mode",
                "/location/province",
            ] {
                row.push(text(&record, pointer).into());
            }
            row.push(record["original_value_cny"].as_i64().unwrap_or(-1).into());
            insert.execute(params_from_iter(row))?;
            count += 1;
        }
    }
    transaction.commit()?;
    Ok(count)
}

fn text(record: &Value, pointer: &str) -> String {
    record
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn text_columns(record: &Value) -> Vec<String> {
    let category_name = yiqi_schema::classification::get(&text(record, "/category"))
        .map(|c| c.name_zh.to_owned())
        .unwrap_or_default();
    let keywords = record["keywords"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut columns: Vec<String> = [
        "/name",
        "/name_en",
        "/specs",
        "/functions",
        "/service_content",
        "/manufacturer",
        "/model",
        "/institution/name",
        "/carrier/name",
        "/location/city",
    ]
    .iter()
    .map(|p| text(record, p))
    .collect();
    columns.push(keywords);
    columns.push(category_name);
    debug_assert_eq!(columns.len(), TEXT_COLUMNS.len());
    columns
}

/// One benchmark query: words and filters, as the hub's `/v1/search` takes them.
#[derive(Debug, Clone)]
pub struct Query {
    pub q: String,
    pub filters: Vec<(&'static str, String)>,
}

/// Answers a query the way an FTS5 user would: words of three or more characters through the
/// trigram index (MATCH), shorter ones with LIKE on the names (trigram cannot index them),
/// filters as WHERE clauses; the top 20 by rank and the total.
pub fn search(connection: &Connection, query: &Query) -> rusqlite::Result<(u64, usize)> {
    let mut clauses = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let (long, short): (Vec<&str>, Vec<&str>) = query
        .q
        .split_whitespace()
        .partition(|w| w.chars().count() >= 3);
    if !long.is_empty() {
        clauses.push("docs MATCH ?".to_owned());
        args.push(
            long.iter()
                .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" AND "),
        );
    }
    for word in short {
        clauses.push("(name LIKE ? OR name_en LIKE ?)".to_owned());
        args.push(format!("%{word}%"));
        args.push(format!("%{word}%"));
    }
    for (name, value) in &query.filters {
        match *name {
            "category" => {
                clauses.push("category LIKE ?".to_owned());
                args.push(format!("{}%", value.trim_end_matches("00")));
            }
            "min_value" => {
                clauses.push("value >= CAST(? AS INTEGER)".to_owned());
                args.push(value.clone());
            }
            "sharing" | "region" | "province" => {
                clauses.push(format!("{name} = ?"));
                args.push(value.clone());
            }
            _ => {}
        }
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let order = if query.q.trim().is_empty() {
        ""
    } else {
        "ORDER BY rank"
    };
    let mut top = connection.prepare_cached(&format!(
        "SELECT rowid, name FROM docs {filter} {order} LIMIT 20"
    ))?;
    let hits = top
        .query_map(params_from_iter(args.iter()), |row| row.get::<_, i64>(0))?
        .count();
    let mut count = connection.prepare_cached(&format!("SELECT count(*) FROM docs {filter}"))?;
    let total: u64 = count.query_row(params_from_iter(args.iter()), |row| row.get(0))?;
    Ok((total, hits))
}
