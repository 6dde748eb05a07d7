//! Reading a platform's catalogue files (native JSON/NDJSON, the NRII template, mapped CSV).
//!
//! [`read_catalogue`] detects the format, converts every row into a record without the four
//! fields the node owns (`kind`, `region`, `version`, `updated_at`), fills the `--institution`
//! and `--sharing-mode` defaults and validates each row against the schema with placeholders for
//! the node-owned fields. Good rows come back in [`ParsedCatalogue::rows`], every problem of a
//! bad row in [`ParsedCatalogue::errors`]; whole-file failures are an [`ImportError`].
//!
//! Detection: a workbook (XLSX or XLS, recognised by its magic bytes) or a CSV text is read
//! through `--mapping` when one is given, else as the NRII template, recognised by its header
//! row (`nrii.rs`); a text whose first non-blank character is `[` is a JSON array of records and
//! one starting with `{` is NDJSON (`native.rs`). A workbook is read from its sheet 大型科研仪器,
//! or its first sheet when it has none by that name. With `--kind service` a workbook or CSV is
//! the national service-record export (`service.rs`).
//!
//! Nothing is dropped, truncated or guessed: a value that does not fit its field is an error for
//! that row, a column the format does not know is an error for the file, a local_id seen twice is
//! an error for the second row ("duplicate of row N"). Only rows with no value in any cell are
//! skipped, and leading and trailing white space of a cell is trimmed.

mod collect;
mod compound_file;
mod convert;
mod fields;
mod guard;
mod mapped;
mod native;
mod nrii;
mod service;
mod table;
mod text;

pub use service::{ID_PREFIX as SERVICE_ID_PREFIX, Links};
pub use text::Encoding;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use yiqi_schema::protocol::labels::SHARING_MODE;
use yiqi_schema::regions;

/// What the `import` command passes to the reader.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The node's region (ISO 3166-2:CN code).
    pub region: String,
    /// A mapping file describing a CSV (or workbook) in some other layout.
    pub mapping: Option<PathBuf>,
    pub encoding: Encoding,
    /// Fills `institution.name` in rows that have none.
    pub institution: Option<String>,
    /// Fills `sharing.mode` in rows that have none: external, internal or none.
    pub sharing_mode: Option<String>,
    /// What the file holds: instruments (the default) or service records.
    pub kind: RecordKind,
    /// The node's instruments and the mirror's institutions a service row refers to; without
    /// them every service row's instrument is unknown.
    pub links: Option<Arc<Links>>,
}

/// The kind of record an import reads (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordKind {
    #[default]
    Instrument,
    Service,
}

impl RecordKind {
    /// The record's `kind` member.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Instrument => "instrument",
            RecordKind::Service => "service",
        }
    }
}

impl FromStr for RecordKind {
    type Err = String;

    fn from_str(text: &str) -> Result<RecordKind, String> {
        match text {
            "instrument" => Ok(RecordKind::Instrument),
            "service" => Ok(RecordKind::Service),
            other => Err(format!("{other:?}: use instrument or service")),
        }
    }
}

impl ImportOptions {
    /// Reading for `region`: automatic encoding, no mapping, no defaults for missing fields.
    pub fn new(region: &str) -> ImportOptions {
        ImportOptions {
            region: region.to_owned(),
            mapping: None,
            encoding: Encoding::Auto,
            institution: None,
            sharing_mode: None,
            kind: RecordKind::Instrument,
            links: None,
        }
    }

    /// Gansu, filling the two fields the NRII template lacks: the options most unit tests use.
    #[cfg(test)]
    pub(crate) fn for_tests() -> ImportOptions {
        ImportOptions {
            institution: Some("兰州大学".into()),
            sharing_mode: Some("external".into()),
            ..ImportOptions::new("CN-GS")
        }
    }
}

/// The layout a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of records, or NDJSON.
    Native,
    /// The national platform's report template (国家科技资源共享服务平台 大型科研仪器).
    Nrii,
    /// A CSV or workbook read through a mapping file.
    Mapped,
    /// The national platform's service-record export (服务记录).
    ServiceExport,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Native => "native records",
            Format::Nrii => "NRII report template",
            Format::Mapped => "mapped columns",
            Format::ServiceExport => "national service-record export",
        })
    }
}

/// A row that converted and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRow {
    /// The line (CSV, NDJSON), spreadsheet row or 1-based array index (JSON array).
    pub row: usize,
    /// The record without `kind`, `region`, `version` and `updated_at`.
    pub content: serde_json::Value,
}

/// One problem of one row. A bad row may have several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub local_id: Option<String>,
    /// JSON Pointer of the field; empty for the whole row.
    pub pointer: String,
    pub message: String,
    /// The column the field came from, as the file's header spells it (tables only).
    pub column: Option<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(id) = &self.local_id {
            write!(f, " ({id})")?;
        }
        let pointer = if self.pointer.is_empty() {
            "(record)"
        } else {
            &self.pointer
        };
        write!(f, ": {pointer}: {}", self.message)
    }
}

/// `(Chinese, English)` label of the field at a JSON Pointer (of its nearest labelled parent
/// for a list item or an `ext` member); `None` for the whole row.
pub fn field_label(pointer: &str) -> Option<(&'static str, &'static str)> {
    let mut path: Vec<&str> = pointer.split('/').skip(1).collect();
    while !path.is_empty() {
        let dotted = path.join(".");
        if let Some((_, zh, en)) = yiqi_search::pages::labels::FIELDS
            .iter()
            .find(|(field, _, _)| *field == dotted)
        {
            return Some((zh, en));
        }
        path.pop();
    }
    None
}

/// The JSON Pointer of a dotted field path (`location.city` → `/location/city`).
fn pointer_of(field: &str) -> String {
    format!("/{}", field.replace('.', "/"))
}

/// Everything read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCatalogue {
    pub format: Format,
    pub rows: Vec<ImportedRow>,
    pub errors: Vec<RowError>,
    /// Rows whose personal columns (applicant's name, phone, e-mail) were dropped.
    pub personal_rows: usize,
}

impl ParsedCatalogue {
    /// Names in each error the column its field came from: `columns` holds `(dotted field,
    /// header as the file spells it)` for every column of the table.
    pub(crate) fn name_columns<'a>(&mut self, columns: impl Iterator<Item = (&'a str, String)>) {
        let columns: Vec<(String, String)> = columns
            .map(|(field, header)| (pointer_of(field), header))
            .collect();
        for error in &mut self.errors {
            let column = columns.iter().find(|(pointer, _)| {
                error.pointer == *pointer || error.pointer.starts_with(&format!("{pointer}/"))
            });
            error.column = column.map(|(_, header)| header.clone());
        }
    }
}

/// Why a whole file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {message}")]
    Undecodable { line: usize, message: String },
    #[error("line {line}: not valid CSV: {message}")]
    Csv { line: usize, message: String },
    #[error("line {line}, column {column}: not valid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not a readable workbook: {0}")]
    Spreadsheet(String),
    #[error("{0}")]
    UnrecognisedHeader(String),
    #[error("mapping {}: {message}", path.display())]
    Mapping { path: PathBuf, message: String },
    #[error("{0}")]
    InvalidOption(String),
}

/// Reads a catalogue file in any of the supported formats.
pub fn read_catalogue(
    path: &Path,
    options: &ImportOptions,
) -> Result<ParsedCatalogue, ImportError> {
    check_options(options)?;
    let mapping = options
        .mapping
        .as_deref()
        .map(mapped::Mapping::load)
        .transpose()?;
    let bytes = std::fs::read(path).map_err(|source| ImportError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    if table::is_spreadsheet(&bytes) {
        let rows = table::sheet_rows(&bytes, nrii::SHEET_NAME)?;
        return match (&mapping, options.kind) {
            (_, RecordKind::Service) => service::read(rows, options),
            (Some(mapping), _) => mapping.read(rows, options),
            (None, _) => nrii::read(rows, options),
        };
    }
    let encoding = match (&mapping, options.encoding) {
        (Some(mapping), Encoding::Auto) => mapping.encoding(),
        (_, chosen) => chosen,
    };
    let text = match text::decode(&bytes, encoding) {
        Ok(text) => text,
        Err(undecodable) if mapping.is_none() => {
            // A file in a layout the node does not know would otherwise be reported as an
            // encoding problem, sending the operator after the wrong fix.
            recognise_layout(&bytes)?;
            return Err(undecodable);
        }
        Err(undecodable) => return Err(undecodable),
    };
    if let Some(mapping) = &mapping {
        return mapping.read(table::csv_rows(&text, mapping.delimiter())?, options);
    }
    match (text.trim_start().chars().next(), options.kind) {
        (Some('[' | '{'), _) => native::read(&text, options),
        (_, RecordKind::Service) => service::read(table::csv_rows(&text, b',')?, options),
        _ => nrii::read(table::csv_rows(&text, b',')?, options),
    }
}

/// Whether text that does not decode cleanly still looks like a layout read without a mapping
/// (native JSON, or the NRII header in UTF-8 or GB18030); else the error saying it is neither.
fn recognise_layout(bytes: &[u8]) -> Result<(), ImportError> {
    let readings = [
        String::from_utf8_lossy(bytes).into_owned(),
        encoding_rs::GB18030.decode(bytes).0.into_owned(),
    ];
    let mut verdict = Ok(());
    for text in readings {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim_start().starts_with(['[', '{']) {
            return Ok(());
        }
        verdict = table::csv_rows(text, b',').and_then(nrii::recognise);
        if verdict.is_ok() {
            return Ok(());
        }
    }
    verdict.map_err(|why| {
        ImportError::UnrecognisedHeader(format!(
            "not a layout yiqi-node reads without a mapping (native JSON/NDJSON or the NRII \
             template): {why}"
        ))
    })
}

fn check_options(options: &ImportOptions) -> Result<(), ImportError> {
    if !regions::is_region(&options.region) {
        return Err(ImportError::InvalidOption(format!(
            "{:?} is not a region code (CN-BJ … CN-TW)",
            options.region
        )));
    }
    if options.kind == RecordKind::Service && options.mapping.is_some() {
        return Err(ImportError::InvalidOption(
            "--mapping reads instruments; a service file is read in the national export's \
             layout or as native records"
                .into(),
        ));
    }
    if let Some(mode) = &options.sharing_mode
        && !SHARING_MODE.contains(mode)
    {
        let codes: Vec<&str> = SHARING_MODE.codes().collect();
        return Err(ImportError::InvalidOption(format!(
            "--sharing-mode {mode:?}: use one of {}",
            codes.join(", ")
        )));
    }
    if options
        .institution
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        return Err(ImportError::InvalidOption("--institution is empty".into()));
    }
    Ok(())
}
