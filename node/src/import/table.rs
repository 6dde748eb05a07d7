//! Reading a CSV text or a spreadsheet into numbered rows of cells, the common input of the NRII
//! template and the mapped formats.

use super::{ImportError, compound_file};
use calamine::{Data, DataRef, Reader, Sheets, Xlsx, open_workbook_auto_from_rs};
use std::io::Cursor;

/// One cell, keeping what a spreadsheet knows about it (a number, a date) for the converters.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// A numeric cell, written as its shortest exact decimal (12.34, 20190618).
    Number(String),
    /// A date-formatted numeric cell: days in Excel's 1900 date system.
    DateSerial(f64),
    Bool(bool),
    /// A formula error such as `#N/A`.
    Error(String),
}

impl Cell {
    /// The cell as the file shows it, trimmed; no check that it is a valid value.
    pub fn raw_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.trim().to_owned(),
            Cell::Number(digits) => digits.clone(),
            Cell::DateSerial(serial) => serial.to_string(),
            Cell::Bool(flag) => flag.to_string(),
            Cell::Error(error) => error.clone(),
        }
    }

    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }
}

/// A row and where it is in the file: the line number of a CSV record (where it starts, for a
/// record with quoted line breaks) or the 1-based spreadsheet row.
#[derive(Debug, Clone)]
pub struct TableRow {
    pub number: usize,
    pub cells: Vec<Cell>,
}

impl TableRow {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_blank)
    }

    /// The cell in `column`; a short CSV row has no cell there.
    pub fn cell(&self, column: usize) -> &Cell {
        self.cells.get(column).unwrap_or(&Cell::Empty)
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const COMPOUND_FILE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Whether the bytes are a workbook: XLSX (and ODS, XLSB, refused later) are ZIP archives, XLS
/// is an OLE2 compound file.
pub fn is_spreadsheet(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(COMPOUND_FILE_MAGIC)
}

/// Splits CSV text into rows. Lines that hold nothing are skipped by the CSV reader; rows of
/// differing length are kept as they are, for the formats to report.
pub fn csv_rows(text: &str, delimiter: u8) -> Result<Vec<TableRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ImportError::Csv {
            line: e.position().map_or(0, |p| p.line() as usize),
            message: e.to_string(),
        })?;
        let number = record.position().map_or(0, |p| {
            start_line(text, p.byte() as usize, p.line() as usize)
        });
        let cells = record.iter().map(text_cell).collect();
        rows.push(TableRow { number, cells });
    }
    Ok(rows)
}

/// The line a record starts on. The CSV reader reports the position where it began reading,
/// which is before any empty lines it skipped on the way to the record.
fn start_line(text: &str, byte: usize, line: usize) -> usize {
    let skipped_newlines = text
        .as_bytes()
        .get(byte..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    line + skipped_newlines
}

fn text_cell(text: &str) -> Cell {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text.to_owned())
    }
}

/// Reads the rows of the sheet named `preferred_sheet` if the workbook has one, else of its
/// first sheet.
pub fn sheet_rows(bytes: &[u8], preferred_sheet: &str) -> Result<Vec<TableRow>, ImportError> {
    // calamine 0.30 can panic on a damaged workbook (slice arithmetic in its XLS container
    // reader); a broken upload must be a one-line import error, not a crashed node or a
    // backtrace.
    let mut reading = None;
    super::guard::quietly(|| read_sheet(bytes, preferred_sheet, &mut reading)).unwrap_or_else(
        |()| {
            let place = reading.map_or_else(String::new, |sheet| format!(" in sheet {sheet}"));
            Err(ImportError::Spreadsheet(format!(
                "the workbook is damaged{place}: the spreadsheet reader could not read it; open \
                 it in Excel or WPS, save it again as .xlsx and import that"
            )))
        },
    )
}

/// Reads the chosen sheet; `reading` names it as soon as it is chosen (for the error when the
/// reader panics).
fn read_sheet(
    bytes: &[u8],
    preferred_sheet: &str,
    reading: &mut Option<String>,
) -> Result<Vec<TableRow>, ImportError> {
    if bytes.starts_with(COMPOUND_FILE_MAGIC) {
        compound_file::check(bytes)
            .map_err(|why| ImportError::Spreadsheet(format!("a damaged .xls file: {why}")))?;
    }
    // calamine clones the reader for each format it tries: a cursor over a slice clones cheaply.
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| ImportError::Spreadsheet(e.to_string()))?;
    let sheet = choose_sheet(&workbook.sheet_names(), preferred_sheet)?;
    *reading = Some(sheet.clone());
    match &mut workbook {
        Sheets::Xlsx(xlsx) => check_xlsx_extent(xlsx, &sheet)?,
        // The .xls cells were measured by compound_file::check.
        Sheets::Xls(_) => {}
        Sheets::Xlsb(_) | Sheets::Ods(_) => {
            return Err(ImportError::Spreadsheet(
                "only XLSX and XLS workbooks are read; save the file as one of them".into(),
            ));
        }
    }
    let range = workbook
        .worksheet_range(&sheet)
        .map_err(|e| ImportError::Spreadsheet(format!("sheet {sheet}: {e}")))?;
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_column = range.start().map_or(0, |(_, column)| column as usize);
    let rows = range
        .rows()
        .enumerate()
        .map(|(index, cells)| TableRow {
            number: first_row + index + 1,
            // Columns left of the used range are empty; keep positions as the sheet shows them.
            cells: std::iter::repeat_n(Cell::Empty, first_column)
                .chain(cells.iter().map(spreadsheet_cell))
                .collect(),
        })
        .collect();
    Ok(rows)
}

fn choose_sheet(names: &[String], preferred_sheet: &str) -> Result<String, ImportError> {
    names
        .iter()
        .find(|name| name.as_str() == preferred_sheet)
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| ImportError::Spreadsheet("the workbook has no sheets".into()))
}

/// Streams the sheet's cells once to measure them before calamine builds the dense range.
fn check_xlsx_extent(xlsx: &mut Xlsx<Cursor<&[u8]>>, sheet: &str) -> Result<(), ImportError> {
    let unreadable =
        |e: calamine::XlsxError| ImportError::Spreadsheet(format!("sheet {sheet}: {e}"));
    let mut cells = xlsx.worksheet_cells_reader(sheet).map_err(unreadable)?;
    let mut extent = Extent::default();
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        if !matches!(cell.get_value(), DataRef::Empty) {
            extent.include(cell.get_position());
        }
    }
    extent.check().map_err(ImportError::Spreadsheet)
}

/// The rectangle a sheet's cells span. calamine holds a sheet as one dense rows × columns
/// array, so a stray value in a far corner (or a damaged coordinate) would make it allocate
/// gigabytes and abort the process; such sheets are refused instead.
#[derive(Debug, Default)]
pub struct Extent {
    corners: Option<((u32, u32), (u32, u32))>,
}

/// The most cells a sheet's rectangle may hold: 100,000 rows of 100 columns.
pub const MAX_SHEET_CELLS: u64 = 10_000_000;

impl Extent {
    pub fn include(&mut self, (row, column): (u32, u32)) {
        let ((top, left), (bottom, right)) = self.corners.unwrap_or(((row, column), (row, column)));
        self.corners = Some((
            (top.min(row), left.min(column)),
            (bottom.max(row), right.max(column)),
        ));
    }

    pub fn check(&self) -> Result<(), String> {
        let Some(((top, left), (bottom, right))) = self.corners else {
            return Ok(());
        };
        let rows = u64::from(bottom - top) + 1;
        let columns = u64::from(right - left) + 1;
        if rows * columns > MAX_SHEET_CELLS {
            return Err(format!(
                "the sheet's values span {rows} rows × {columns} columns (from row {} column {} \
                 to row {} column {}); at most {MAX_SHEET_CELLS} cells are read",
                top + 1,
                left + 1,
                bottom + 1,
                right + 1
            ));
        }
        Ok(())
    }
}

fn spreadsheet_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text_cell(text),
        Data::Int(value) => Cell::Number(value.to_string()),
        // Rust prints the shortest decimal that reads back as the same double, which is what
        // the user typed for any value with up to 15 significant digits.
        Data::Float(value) => Cell::Number(value.to_string()),
        Data::DateTime(value) => Cell::DateSerial(value.as_f64()),
        Data::Bool(value) => Cell::Bool(*value),
        Data::Error(error) => Cell::Error(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_line_numbers() {
        let rows = csv_rows("a,b\n\n1,\"x\ny\"\n2,z\n\r\n\n3\n", b',').unwrap();
        let numbers: Vec<usize> = rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 3, 5, 8]);
        assert_eq!(rows[1].cells[1], Cell::Text("x\ny".into()));
        assert_eq!(rows[2].cell(7), &Cell::Empty);
    }

    #[test]
    fn refuses_sheets_too_large_to_hold() {
        let mut extent = Extent::default();
        assert_eq!(extent.check(), Ok(()));
        extent.include((0, 0));
        extent.include((99_999, 99));
        assert_eq!(extent.check(), Ok(()));
        extent.include((5, 16_383));
        assert!(extent.check().unwrap_err().contains("16384 columns"));
    }

    #[test]
    fn recognises_workbooks_by_their_magic_bytes() {
        assert!(is_spreadsheet(b"PK\x03\x04rest"));
        assert!(is_spreadsheet(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest"));
        assert!(!is_spreadsheet(b"a,b\n"));
    }
}
